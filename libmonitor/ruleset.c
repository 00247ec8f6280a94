/* ruleset.c: the immutable-once-loaded configuration of the engine: the reference data,
 * the parameters' values (the parameters themselves, with their defaults and bounds, and the
 * rules are their families', listed by registry.c) and the switched-off rules. The daemon builds a new ruleset on reload and swaps it whole. */
#include "engine.h"
#include "refdata.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

size_t mon_rule_count(void)
{
	return rule_total();
}

const char *mon_rule_code(size_t i)
{
	const struct rule_def *r = rule_at(i);

	return r != NULL ? r->code : NULL;
}

enum mon_severity mon_rule_severity(size_t i)
{
	const struct rule_def *r = rule_at(i);

	return r != NULL ? r->severity : MON_SEVERITY_NOTICE;
}

bool rule_enabled(const struct mon_ruleset *rs, const struct rule_def *rule)
{
	size_t i = rule_index(rule);

	return i < RULES_MAX && !rs->disabled[i];
}

bool mon_ruleset_rule_enabled(const struct mon_ruleset *rs, size_t i)
{
	return i < rule_total() && !rs->disabled[i];
}

int ruleset_param(const struct mon_ruleset *rs, const struct param_def *param)
{
	size_t i = param_index(param);

	return i < PARAMS_MAX ? (int)rs->params[i] : (int)param->def;
}

int ruleset_warn_days(const struct mon_ruleset *rs, const struct item *item)
{
	if (item != NULL && item->warn_days >= 0)
		return item->warn_days;
	return ruleset_param(rs, param_warn_days);
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

	/* The registry fits the ruleset's arrays (a unit test says so too). */
	if (rs == NULL || rule_total() > RULES_MAX || param_total() > PARAMS_MAX) {
		free(rs);
		return NULL;
	}
	for (size_t i = 0; i < param_total(); i++)
		rs->params[i] = param_at(i)->def;
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

/* Parameters that were renamed or split: a configuration that still sets one is told what
 * replaced it rather than only that the name is unknown. */
static const struct {
	const char *name, *instead;
} retired_params[] = {
	{ "hearing_threshold", "hearing_citizen_yuan and hearing_organisation_yuan (the hearing "
		"threshold is per party kind since issue 11)" },
	{ "filing_days", "filing_grace_days (working days a filing may follow the decision or "
		"collection; 0 by default, since issue 11)" },
};

bool mon_ruleset_set_param(struct mon_ruleset *rs, const char *name, long long value,
		struct mon_error *err)
{
	char expected[64], got[32];

	mon_error_clear(err);
	for (size_t i = 0; i < param_total(); i++) {
		const struct param_def *p = param_at(i);
		if (strcmp(p->name, name) != 0)
			continue;
		if (value < p->lo || value > p->hi) {
			snprintf(expected, sizeof(expected), "a whole number from %lld to %lld",
				p->lo, p->hi);
			snprintf(got, sizeof(got), "%lld", value);
			mon_error_set_text(err, name, expected, got);
			return false;
		}
		rs->params[i] = value;
		return true;
	}
	for (size_t i = 0; i < sizeof(retired_params) / sizeof(retired_params[0]); i++) {
		if (strcmp(retired_params[i].name, name) == 0) {
			mon_error_set_text(err, name, retired_params[i].instead, "a retired name");
			return false;
		}
	}
	mon_error_set_text(err, "", "a parameter of docs/rules.md such as warn_days, "
		"filing_grace_days, hearing_citizen_yuan or repeat_window_days", name);
	return false;
}

bool mon_ruleset_get_param(const struct mon_ruleset *rs, const char *name, long long *value)
{
	for (size_t i = 0; i < param_total(); i++) {
		if (strcmp(param_at(i)->name, name) == 0) {
			*value = rs->params[i];
			return true;
		}
	}
	return false;
}

int mon_ruleset_context_days(const struct mon_ruleset *rs)
{
	int days = ruleset_param(rs, param_first_offence_window_days);

	if (ruleset_param(rs, param_repeat_window_days) > days)
		days = ruleset_param(rs, param_repeat_window_days);
	if (ruleset_param(rs, param_multi_window_days) > days)
		days = ruleset_param(rs, param_multi_window_days);
	/* Windows count local dates: an inspection window is its first day plus `days` days
	 * (民法典 §201), so an event in it lies less than days + 1 whole days from the case's. */
	return days + 1;
}

int mon_ruleset_penalty_context_days(const struct mon_ruleset *rs)
{
	return ruleset_param(rs, param_first_offence_window_days) + 1;
}

bool mon_ruleset_disable_rule(struct mon_ruleset *rs, const char *code, struct mon_error *err)
{
	mon_error_clear(err);
	for (size_t i = 0; i < rule_total(); i++) {
		if (strcmp(rule_at(i)->code, code) == 0) {
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
