/* ruleset.c: the immutable-once-loaded configuration of the engine: the rule table
 * (stable codes and severities, approval and supervision), global parameters with their
 * defaults and bounds, and the switched-off rules. The daemon builds a new ruleset on reload and swaps it whole. */
#include "engine.h"
#include "refdata.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

struct rule_def {
	const char *code;
	enum mon_severity severity;
};

static const struct rule_def rules[RULE__COUNT] = {
	[RULE_DEADLINE_NOTICE] = { "APR-DEADLINE-NOTICE", MON_SEVERITY_NOTICE },
	[RULE_DEADLINE_YELLOW] = { "APR-DEADLINE-YELLOW", MON_SEVERITY_YELLOW },
	[RULE_DEADLINE_RED] = { "APR-DEADLINE-RED", MON_SEVERITY_RED },
	[RULE_SPECIAL_NOTICE] = { "APR-SPECIAL-NOTICE", MON_SEVERITY_NOTICE },
	[RULE_SPECIAL_OVERRUN] = { "APR-SPECIAL-OVERRUN", MON_SEVERITY_YELLOW },
	[RULE_SUPPLEMENT_LATE] = { "APR-SUPPLEMENT-LATE", MON_SEVERITY_YELLOW },
	[RULE_SUPPLEMENT_REPEAT] = { "APR-SUPPLEMENT-REPEAT", MON_SEVERITY_YELLOW },
	[RULE_EXTENSION_UNAPPROVED] = { "APR-EXTENSION-UNAPPROVED", MON_SEVERITY_YELLOW },
	[RULE_EXTENSION_EXCESS] = { "APR-EXTENSION-EXCESS", MON_SEVERITY_YELLOW },
	[RULE_REFUSAL_NO_REASON] = { "APR-REFUSAL-NO-REASON", MON_SEVERITY_YELLOW },
	[RULE_REFUSAL_NO_REPORT] = { "APR-REFUSAL-NO-REPORT", MON_SEVERITY_YELLOW },
	[RULE_ORDER_DECIDED_UNACCEPTED] = { "APR-ORDER-DECIDED-UNACCEPTED", MON_SEVERITY_YELLOW },
	[RULE_ORDER_STEP_AFTER_DECISION] = { "APR-ORDER-STEP-AFTER-DECISION", MON_SEVERITY_YELLOW },
	[RULE_ORDER_RESUME_UNSUSPENDED] = { "APR-ORDER-RESUME-UNSUSPENDED", MON_SEVERITY_YELLOW },
	[RULE_STEP_LIMIT] = { "APR-STEP-LIMIT", MON_SEVERITY_YELLOW },
	[RULE_LATE_REPORT] = { "APR-LATE-REPORT", MON_SEVERITY_NOTICE },
	[RULE_ITEM_UNKNOWN] = { "APR-ITEM-UNKNOWN", MON_SEVERITY_NOTICE },
	[RULE_FEE_ITEM_UNKNOWN] = { "FEE-ITEM-UNKNOWN", MON_SEVERITY_YELLOW },
	[RULE_FEE_ITEM_ABOLISHED] = { "FEE-ITEM-ABOLISHED", MON_SEVERITY_RED },
	[RULE_FEE_OVER_STANDARD] = { "FEE-OVER-STANDARD", MON_SEVERITY_YELLOW },
	[RULE_FEE_NO_REVIEW] = { "FEE-NO-REVIEW", MON_SEVERITY_YELLOW },
	[RULE_FEE_FREE_ITEM] = { "FEE-FREE-ITEM", MON_SEVERITY_RED },
	[RULE_FEE_REFUND] = { "FEE-REFUND", MON_SEVERITY_NOTICE },
	[RULE_PEN_FILING_MISSING] = { "PEN-FILING-MISSING", MON_SEVERITY_YELLOW },
	[RULE_PEN_FILING_OFFICE] = { "PEN-FILING-OFFICE", MON_SEVERITY_YELLOW },
	[RULE_PEN_FIRST_MINOR] = { "PEN-FIRST-MINOR", MON_SEVERITY_YELLOW },
	[RULE_PEN_NO_HEARING] = { "PEN-NO-HEARING", MON_SEVERITY_RED },
	[RULE_PEN_TIER_OUTSIDE] = { "PEN-TIER-OUTSIDE", MON_SEVERITY_YELLOW },
	[RULE_PEN_TIER_UNKNOWN] = { "PEN-TIER-UNKNOWN", MON_SEVERITY_NOTICE },
	[RULE_PEN_NOT_LOWEST] = { "PEN-NOT-LOWEST", MON_SEVERITY_NOTICE },
	[RULE_ENF_QUIET_DAY] = { "ENF-QUIET-DAY", MON_SEVERITY_YELLOW },
	[RULE_ENF_REPEAT] = { "ENF-REPEAT", MON_SEVERITY_YELLOW },
	[RULE_ENF_MULTI_DEPT] = { "ENF-MULTI-DEPT", MON_SEVERITY_YELLOW },
	[RULE_ENF_NO_FILING] = { "ENF-NO-FILING", MON_SEVERITY_YELLOW },
	[RULE_ENF_NO_CERT] = { "ENF-NO-CERT", MON_SEVERITY_RED },
	[RULE_CMP_DEADLINE_NOTICE] = { "CMP-DEADLINE-NOTICE", MON_SEVERITY_NOTICE },
	[RULE_CMP_REPLY_LATE] = { "CMP-REPLY-LATE", MON_SEVERITY_YELLOW },
	[RULE_CMP_CLOSE_LATE] = { "CMP-CLOSE-LATE", MON_SEVERITY_RED },
	[RULE_CMP_INQUIRY_LATE] = { "CMP-INQUIRY-LATE", MON_SEVERITY_YELLOW },
	[RULE_CMP_UNSATISFIED] = { "CMP-UNSATISFIED", MON_SEVERITY_NOTICE },
	[RULE_CMP_RECTIFY_LATE] = { "CMP-RECTIFY-LATE", MON_SEVERITY_YELLOW },
	[RULE_TRD_BID_PERIOD] = { "TRD-BID-PERIOD", MON_SEVERITY_YELLOW },
	[RULE_TRD_EARLY_OPENING] = { "TRD-EARLY-OPENING", MON_SEVERITY_RED },
	[RULE_TRD_PUBLICITY_SHORT] = { "TRD-PUBLICITY-SHORT", MON_SEVERITY_YELLOW },
	[RULE_STA_ONTIME_LOW] = { "STA-ONTIME-LOW", MON_SEVERITY_YELLOW },
	[RULE_STA_ALERTS_SPIKE] = { "STA-ALERTS-SPIKE", MON_SEVERITY_NOTICE },
	[RULE_STA_FEES_SPIKE] = { "STA-FEES-SPIKE", MON_SEVERITY_YELLOW },
	[RULE_STA_DEALING_DAYS] = { "STA-DEALING-DAYS", MON_SEVERITY_YELLOW },
	[RULE_STA_LATE_REPORTING] = { "STA-LATE-REPORTING", MON_SEVERITY_NOTICE },
};

_Static_assert(sizeof("APR-ORDER-STEP-AFTER-DECISION") <= MON_RULE_MAX,
	"the longest rule code fits struct mon_condition");

struct param_def {
	const char *name;
	long long def, lo, hi;
};

static const struct param_def params[PARAM__COUNT] = {
	[PARAM_WARN_DAYS] = { "warn_days", 2, 0, 3650 },
	[PARAM_SUPERVISE_DAYS] = { "supervise_days", 3, 1, 3650 },
	[PARAM_SUPPLEMENT_DAYS] = { "supplement_days", 5, 1, 3650 },
	[PARAM_EXTENSION_MAX_DAYS] = { "extension_max_days", 10, 0, 3650 },
	[PARAM_LATE_REPORT_HOURS] = { "late_report_hours", 24, 1, 87600 },
	[PARAM_FILING_DAYS] = { "filing_days", 5, 1, 3650 },
	[PARAM_FIRST_OFFENCE_WINDOW_DAYS] = { "first_offence_window_days", 365, 1, 3650 },
	/* Yuan, whole: 1,000,000,000 yuan in fen still fits easily in an int64. */
	[PARAM_HEARING_THRESHOLD] = { "hearing_threshold", 10000, 1, 1000000000 },
	[PARAM_REPEAT_COUNT] = { "repeat_count", 2, 2, 1000 },
	[PARAM_REPEAT_WINDOW_DAYS] = { "repeat_window_days", 30, 1, 3650 },
	[PARAM_MULTI_DEPARTMENTS] = { "multi_departments", 3, 2, 1000 },
	[PARAM_MULTI_WINDOW_DAYS] = { "multi_window_days", 30, 1, 3650 },
	[PARAM_COMPLAINT_REPLY_DAYS] = { "complaint_reply_days", 5, 1, 3650 },
	[PARAM_COMPLAINT_CLOSE_DAYS] = { "complaint_close_days", 15, 1, 3650 },
	[PARAM_INQUIRY_DAYS] = { "inquiry_days", 1, 1, 3650 },
	[PARAM_RECTIFY_DAYS] = { "rectify_days", 15, 1, 3650 },
	[PARAM_BID_MIN_DAYS] = { "bid_min_days", 20, 1, 3650 },
	[PARAM_PUBLICITY_MIN_DAYS] = { "publicity_min_days", 3, 1, 3650 },
	/* The statistical rules (stats.c); rates and factors in whole percent. */
	[PARAM_STAT_WINDOW_DAYS] = { "stat_window_days", 30, 1, 366 },
	[PARAM_STAT_MIN_CASES] = { "stat_min_cases", 10, 1, 1000000 },
	[PARAM_ONTIME_TARGET_PCT] = { "ontime_target_pct", 90, 1, 100 },
	[PARAM_BASELINE_WINDOWS] = { "baseline_windows", 3, 1, 12 },
	[PARAM_SPIKE_FACTOR_PCT] = { "spike_factor_pct", 200, 100, 10000 },
	[PARAM_SPIKE_MIN] = { "spike_min", 5, 1, 1000000 },
	[PARAM_DEALING_DAYS_TARGET] = { "dealing_days_target", 10, 1, 3650 },
	[PARAM_DEALING_WINDOW_DAYS] = { "dealing_window_days", 365, 1, 3660 },
	[PARAM_LATE_RATE_MAX_PCT] = { "late_rate_max_pct", 5, 0, 100 },
};

size_t mon_rule_count(void)
{
	return RULE__COUNT;
}

const char *mon_rule_code(size_t i)
{
	return i < RULE__COUNT ? rules[i].code : NULL;
}

enum mon_severity mon_rule_severity(size_t i)
{
	return i < RULE__COUNT ? rules[i].severity : MON_SEVERITY_NOTICE;
}

const char *rule_code(enum rule_id rule)
{
	return rules[rule].code;
}

bool rule_enabled(const struct mon_ruleset *rs, enum rule_id rule)
{
	return !rs->disabled[rule];
}

bool mon_ruleset_rule_enabled(const struct mon_ruleset *rs, size_t i)
{
	return i < RULE__COUNT && !rs->disabled[i];
}

int ruleset_param(const struct mon_ruleset *rs, enum param_id param)
{
	return (int)rs->params[param];
}

int ruleset_warn_days(const struct mon_ruleset *rs, const struct item *item)
{
	if (item != NULL && item->warn_days >= 0)
		return item->warn_days;
	return ruleset_param(rs, PARAM_WARN_DAYS);
}

bool parse_bounded(const char *s, long long lo, long long hi, long long *out)
{
	char *end;
	long long v;

	/* strtoll alone would take spaces and signs; reference data must be plain digits. */
	if (s[0] < '0' || s[0] > '9' || strlen(s) > 18)
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

struct mon_ruleset *mon_ruleset_create(void)
{
	struct mon_ruleset *rs = calloc(1, sizeof(*rs));

	if (rs == NULL)
		return NULL;
	for (size_t i = 0; i < PARAM__COUNT; i++)
		rs->params[i] = params[i].def;
	return rs;
}

void mon_ruleset_destroy(struct mon_ruleset *rs)
{
	if (rs == NULL)
		return;
	calendar_finish(&rs->calendar);
	catalogue_finish(&rs->catalogue);
	for (size_t i = 0; i < TABLE__COUNT; i++)
		table_finish(&rs->tables[i]);
	free(rs);
}

bool mon_ruleset_set_param(struct mon_ruleset *rs, const char *name, long long value,
		struct mon_error *err)
{
	char expected[64], got[32];

	mon_error_clear(err);
	for (size_t i = 0; i < PARAM__COUNT; i++) {
		if (strcmp(params[i].name, name) != 0)
			continue;
		if (value < params[i].lo || value > params[i].hi) {
			snprintf(expected, sizeof(expected), "a whole number from %lld to %lld",
				params[i].lo, params[i].hi);
			snprintf(got, sizeof(got), "%lld", value);
			mon_error_set_text(err, name, expected, got);
			return false;
		}
		rs->params[i] = value;
		return true;
	}
	mon_error_set_text(err, "", "a parameter of docs/rules.md such as warn_days, "
		"filing_days, hearing_threshold or repeat_window_days", name);
	return false;
}

bool mon_ruleset_get_param(const struct mon_ruleset *rs, const char *name, long long *value)
{
	for (size_t i = 0; i < PARAM__COUNT; i++) {
		if (strcmp(params[i].name, name) == 0) {
			*value = rs->params[i];
			return true;
		}
	}
	return false;
}

int mon_ruleset_context_days(const struct mon_ruleset *rs)
{
	int days = ruleset_param(rs, PARAM_FIRST_OFFENCE_WINDOW_DAYS);

	if (ruleset_param(rs, PARAM_REPEAT_WINDOW_DAYS) > days)
		days = ruleset_param(rs, PARAM_REPEAT_WINDOW_DAYS);
	if (ruleset_param(rs, PARAM_MULTI_WINDOW_DAYS) > days)
		days = ruleset_param(rs, PARAM_MULTI_WINDOW_DAYS);
	/* Windows count local dates: an event on the window's first day may lie up to a day
	 * further from the case's event than the window's length in whole days. */
	return days + 1;
}

int mon_ruleset_penalty_context_days(const struct mon_ruleset *rs)
{
	return ruleset_param(rs, PARAM_FIRST_OFFENCE_WINDOW_DAYS) + 1;
}

bool mon_ruleset_disable_rule(struct mon_ruleset *rs, const char *code, struct mon_error *err)
{
	mon_error_clear(err);
	for (size_t i = 0; i < RULE__COUNT; i++) {
		if (strcmp(rules[i].code, code) == 0) {
			rs->disabled[i] = true;
			return true;
		}
	}
	mon_error_set_text(err, "", "a rule code such as APR-DEADLINE-YELLOW", code);
	return false;
}

const char *mon_severity_name(enum mon_severity s)
{
	switch (s) {
	case MON_SEVERITY_NOTICE: return "notice";
	case MON_SEVERITY_YELLOW: return "yellow";
	case MON_SEVERITY_RED: return "red";
	}
	return "unknown";
}

const char *mon_case_status_name(enum mon_case_status s)
{
	switch (s) {
	case MON_CASE_RECEIVED: return "received";
	case MON_CASE_ACCEPTED: return "accepted";
	case MON_CASE_SUSPENDED: return "suspended";
	case MON_CASE_DECIDED: return "decided";
	case MON_CASE_REFUSED: return "refused";
	case MON_CASE_WITHDRAWN: return "withdrawn";
	}
	return "unknown";
}
