/* stats.c: the statistical rules (mon_stats.h): windowed judgments over per-department
 * aggregates and per-enterprise dealing days. Only integer arithmetic: a rate is compared as
 * part * 100 against pct * whole, a spike as current * 100 * windows against factor_pct *
 * baseline sum, so "exactly at the threshold" is never a rounding question. */
#include "engine.h"
#include "mon_stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mon_value.h"
#include "text.h"

enum {
	RULE_STA_ONTIME_LOW,
	RULE_STA_ALERTS_SPIKE,
	RULE_STA_FEES_SPIKE,
	RULE_STA_DEALING_DAYS,
	RULE_STA_LATE_REPORTING,
};

static const struct rule_def rules[] = {
	[RULE_STA_ONTIME_LOW] = { "STA-ONTIME-LOW", MON_SEVERITY_YELLOW },
	[RULE_STA_ALERTS_SPIKE] = { "STA-ALERTS-SPIKE", MON_SEVERITY_NOTICE },
	[RULE_STA_FEES_SPIKE] = { "STA-FEES-SPIKE", MON_SEVERITY_YELLOW },
	[RULE_STA_DEALING_DAYS] = { "STA-DEALING-DAYS", MON_SEVERITY_YELLOW },
	[RULE_STA_LATE_REPORTING] = { "STA-LATE-REPORTING", MON_SEVERITY_NOTICE },
};

enum {
	PARAM_STAT_WINDOW_DAYS,
	PARAM_STAT_MIN_CASES,
	PARAM_ONTIME_TARGET_PCT,
	PARAM_BASELINE_WINDOWS,
	PARAM_SPIKE_FACTOR_PCT,
	PARAM_SPIKE_MIN,
	PARAM_DEALING_DAYS_TARGET,
	PARAM_DEALING_WINDOW_DAYS,
	PARAM_LATE_RATE_MAX_PCT,
};

static const struct param_def params[] = {
	/* Rates and factors in whole percent. */
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

#define STATS_CONDITIONS_MAX 100000

/* The list being built, and what every condition of one judgment shares. */
struct stats_run {
	const struct mon_ruleset *rs;
	const struct mon_stats_windows *w;
	struct mon_stats_result *out;
	size_t cap;
	bool failed;
	char month[8];           /* "2026-03": the period of judgment */
	char year[5];
	int64_t month_start, year_start;
	char first[11], last[11], dealing_first[11];
};

void mon_stats_windows(const struct mon_ruleset *rs, int64_t now, struct mon_stats_windows *w)
{
	int32_t days = ruleset_param(rs, &params[PARAM_STAT_WINDOW_DAYS]), year_first;
	char date[11], jan1[11];

	w->last = mon_day_of(now) - 1;
	w->first = w->last - days + 1;
	w->baseline_first = w->first - days * ruleset_param(rs, &params[PARAM_BASELINE_WINDOWS]);
	w->dealing_first = w->last - ruleset_param(rs, &params[PARAM_DEALING_WINDOW_DAYS]) + 1;
	/* The dealing days are a year's (the key names the year of `last`): a window reaching
	 * into the year before would judge days already judged under that year's key again. */
	mon_day_format(w->last, date, sizeof(date));
	snprintf(jan1, sizeof(jan1), "%.4s-01-01", date);
	if (calendar_parse_date(jan1, &year_first) && year_first > w->dealing_first)
		w->dealing_first = year_first;
}

static struct mon_condition *
stats_add(struct stats_run *run, const struct rule_def *rule, const char *dept, const char *key,
		int64_t since)
{
	struct mon_stats_condition *c;

	if (!rule_enabled(run->rs, rule) || run->failed || run->out->count == STATS_CONDITIONS_MAX)
		return NULL;
	if (run->out->count == run->cap) {
		size_t ncap = run->cap == 0 ? 8 : run->cap * 2;
		struct mon_stats_condition *n = realloc(run->out->items, ncap * sizeof(*n));

		if (n == NULL) {
			run->failed = true;
			return NULL;
		}
		run->out->items = n;
		run->cap = ncap;
	}
	c = &run->out->items[run->out->count++];
	memset(c, 0, sizeof(*c));
	snprintf(c->dept, sizeof(c->dept), "%s", dept);
	snprintf(c->condition.rule, sizeof(c->condition.rule), "%s", rule->code);
	c->condition.severity = rule->severity;
	snprintf(c->condition.key, sizeof(c->condition.key), "%s", key);
	c->condition.since = since;
	return &c->condition;
}

/* A department's condition for the month of judgment: RULE|dept||YYYY-MM. */
static struct mon_condition *
stats_add_monthly(struct stats_run *run, const struct rule_def *rule, const char *dept)
{
	char key[MON_KEY_MAX];

	snprintf(key, sizeof(key), "%s|%s||%s", rule->code, dept, run->month);
	return stats_add(run, rule, dept, key, run->month_start);
}

/* "84.6%" of part/whole, rounded down to a tenth. */
static void
format_rate(int64_t part, int64_t whole, char *buf, size_t len)
{
	int64_t tenths = whole > 0 ? part * 1000 / whole : 0;

	snprintf(buf, len, "%lld.%lld%%", (long long)(tenths / 10), (long long)(tenths % 10));
}

static void
format_yuan(int64_t fen, char *buf, size_t len)
{
	char digits[32];

	mon_money_format(fen < 0 ? -fen : fen, digits, sizeof(digits));
	snprintf(buf, len, "%s%s", fen < 0 ? "-" : "", digits);
}

static void
judge_ontime(struct stats_run *run, const struct mon_stats_dept *d)
{
	int64_t target = ruleset_param(run->rs, &params[PARAM_ONTIME_TARGET_PCT]);
	struct mon_condition *c;
	char rate[48];

	if (d->decided < ruleset_param(run->rs, &params[PARAM_STAT_MIN_CASES]) ||
	    d->on_time * 100 >= target * d->decided)
		return;
	if ((c = stats_add_monthly(run, &rules[RULE_STA_ONTIME_LOW], d->dept)) == NULL)
		return;
	format_rate(d->on_time, d->decided, rate, sizeof(rate));
	condition_message(c, "按时办结率低: %s (%lld of %lld decided within the committed limit) "
		"over %s..%s, target %lld%%", rate, (long long)d->on_time, (long long)d->decided,
		run->first, run->last, (long long)target);
}

static void
judge_late(struct stats_run *run, const struct mon_stats_dept *d)
{
	int64_t max = ruleset_param(run->rs, &params[PARAM_LATE_RATE_MAX_PCT]);
	struct mon_condition *c;
	char rate[48];

	if (d->events < ruleset_param(run->rs, &params[PARAM_STAT_MIN_CASES]) ||
	    d->late_reported * 100 <= max * d->events)
		return;
	if ((c = stats_add_monthly(run, &rules[RULE_STA_LATE_REPORTING], d->dept)) == NULL)
		return;
	format_rate(d->late_reported, d->events, rate, sizeof(rate));
	condition_message(c, "迟报率高: %s (%lld of %lld events reported more than %d hours late) "
		"over %s..%s, at most %lld%%", rate, (long long)d->late_reported,
		(long long)d->events, ruleset_param(run->rs, param_late_report_hours), run->first,
		run->last, (long long)max);
}

/* current above factor_pct percent of the baseline's mean per window. */
static bool
spike(const struct stats_run *run, int64_t current, int64_t baseline_sum)
{
	int64_t windows = ruleset_param(run->rs, &params[PARAM_BASELINE_WINDOWS]);

	return current * 100 * windows >
		ruleset_param(run->rs, &params[PARAM_SPIKE_FACTOR_PCT]) * baseline_sum;
}

static void
judge_alerts(struct stats_run *run, const struct mon_stats_dept *d)
{
	int windows = ruleset_param(run->rs, &params[PARAM_BASELINE_WINDOWS]);
	int64_t mean_tenths = d->alerts_baseline * 10 / windows;
	struct mon_condition *c;

	if (d->alerts < ruleset_param(run->rs, &params[PARAM_SPIKE_MIN]) ||
	    !spike(run, d->alerts, d->alerts_baseline))
		return;
	if ((c = stats_add_monthly(run, &rules[RULE_STA_ALERTS_SPIKE], d->dept)) == NULL)
		return;
	condition_message(c, "预警数量异常: %lld valid alerts raised over %s..%s, against %lld.%lld "
		"a window over the %d windows before (factor %d%%)", (long long)d->alerts,
		run->first, run->last, (long long)(mean_tenths / 10), (long long)(mean_tenths % 10),
		windows, ruleset_param(run->rs, &params[PARAM_SPIKE_FACTOR_PCT]));
}

static void
judge_fees(struct stats_run *run, const struct mon_stats_dept *d)
{
	int windows = ruleset_param(run->rs, &params[PARAM_BASELINE_WINDOWS]);
	struct mon_condition *c;
	char now_yuan[40], mean_yuan[40];

	if (d->fees_net_baseline_fen <= 0 || !spike(run, d->fees_net_fen, d->fees_net_baseline_fen))
		return;
	if ((c = stats_add_monthly(run, &rules[RULE_STA_FEES_SPIKE], d->dept)) == NULL)
		return;
	format_yuan(d->fees_net_fen, now_yuan, sizeof(now_yuan));
	format_yuan(d->fees_net_baseline_fen / windows, mean_yuan, sizeof(mean_yuan));
	condition_message(c, "收费异常增长: net fees %s yuan over %s..%s, against %s yuan a window "
		"over the %d windows before (factor %d%%)", now_yuan, run->first, run->last,
		mean_yuan, windows, ruleset_param(run->rs, &params[PARAM_SPIKE_FACTOR_PCT]));
}

/* One enterprise's rows [first, end): its dealing days in all, and the department with the
 * most of them (the first in the input among equals) gets the alert. */
static void
judge_dealing(struct stats_run *run, const struct mon_stats_dealing *rows, size_t n)
{
	int64_t total = 0, target = ruleset_param(run->rs, &params[PARAM_DEALING_DAYS_TARGET]);
	size_t top = 0;
	struct mon_condition *c;
	char key[MON_KEY_MAX];

	for (size_t i = 0; i < n; i++) {
		total += rows[i].days;
		if (rows[i].days > rows[top].days)
			top = i;
	}
	if (total <= target)
		return;
	snprintf(key, sizeof(key), "%s|%s|%s", rules[RULE_STA_DEALING_DAYS].code, rows[0].applicant,
		run->year);
	if ((c = stats_add(run, &rules[RULE_STA_DEALING_DAYS], rows[top].dept, key, run->year_start)) == NULL)
		return;
	condition_message(c, "企业与政府打交道天数超标: enterprise %s dealt %lld days with government "
		"over %s..%s (%lld with %s), target %lld", rows[0].applicant, (long long)total,
		run->dealing_first, run->last, (long long)rows[top].days, rows[top].dept,
		(long long)target);
}

static bool
value_ok(int64_t v, bool may_be_negative)
{
	return v <= MON_STATS_VALUE_MAX && v >= (may_be_negative ? -MON_STATS_VALUE_MAX : 0);
}

bool mon_stats_dept_valid(const struct mon_stats_dept *d, struct mon_error *err)
{
	bool ok = d->dept[0] != '\0' && value_ok(d->decided, false) && value_ok(d->on_time, false) &&
		d->on_time <= d->decided && value_ok(d->events, false) &&
		value_ok(d->late_reported, false) && d->late_reported <= d->events &&
		value_ok(d->alerts, false) && value_ok(d->alerts_baseline, false) &&
		value_ok(d->fees_net_fen, true) && value_ok(d->fees_net_baseline_fen, true);

	if (!ok)
		mon_error_set_text(err, "dept", "a department code and counts from 0 to 1e14, parts "
			"no larger than their wholes", d->dept);
	return ok;
}

bool mon_stats_dealing_valid(const struct mon_stats_dealing *r, struct mon_error *err)
{
	bool ok = r->applicant[0] != '\0' && r->dept[0] != '\0' && value_ok(r->days, false);

	if (!ok)
		mon_error_set_text(err, "dealing", "an applicant, a department and days from 0 to 1e14",
			r->applicant);
	return ok;
}

static void
stats_run_init(struct stats_run *run, const struct mon_ruleset *rs,
		const struct mon_stats_windows *w, int64_t now, struct mon_stats_result *out)
{
	char today[11], first_of[11], last[11];
	int32_t day;

	memset(run, 0, sizeof(*run));
	run->rs = rs;
	run->w = w;
	run->out = out;
	mon_day_format(mon_day_of(now), today, sizeof(today));
	snprintf(run->month, sizeof(run->month), "%.7s", today);
	mon_day_format(w->last, last, sizeof(last));
	snprintf(run->year, sizeof(run->year), "%.4s", last);   /* the dealing window's year */
	snprintf(first_of, sizeof(first_of), "%.8s01", today);
	run->month_start = calendar_parse_date(first_of, &day) ? mon_day_end(day - 1) : now;
	snprintf(first_of, sizeof(first_of), "%.4s-01-01", last);
	run->year_start = calendar_parse_date(first_of, &day) ? mon_day_end(day - 1) : now;
	mon_day_format(w->first, run->first, sizeof(run->first));
	mon_day_format(w->last, run->last, sizeof(run->last));
	mon_day_format(w->dealing_first, run->dealing_first, sizeof(run->dealing_first));
}

static bool
stats_input_valid(const struct mon_stats_input *in, struct mon_error *err)
{
	for (size_t i = 0; i < in->dept_count; i++)
		if (!mon_stats_dept_valid(&in->depts[i], err))
			return false;
	for (size_t i = 0; i < in->dealing_count; i++)
		if (!mon_stats_dealing_valid(&in->dealings[i], err))
			return false;
	return true;
}

bool mon_stats_evaluate(const struct mon_ruleset *rs, const struct mon_stats_input *in,
		int64_t now, struct mon_stats_result *out, struct mon_error *err)
{
	struct mon_stats_windows w;
	struct stats_run run;

	mon_error_clear(err);
	memset(out, 0, sizeof(*out));
	if (!stats_input_valid(in, err))
		return false;
	mon_stats_windows(rs, now, &w);
	stats_run_init(&run, rs, &w, now, out);
	for (size_t i = 0; i < in->dept_count; i++) {
		judge_ontime(&run, &in->depts[i]);
		judge_alerts(&run, &in->depts[i]);
		judge_fees(&run, &in->depts[i]);
		judge_late(&run, &in->depts[i]);
	}
	for (size_t first = 0, i = 1; first < in->dealing_count; i++) {
		if (i < in->dealing_count &&
		    strcmp(in->dealings[i].applicant, in->dealings[first].applicant) == 0)
			continue;
		judge_dealing(&run, &in->dealings[first], i - first);
		first = i;
	}
	if (run.failed) {
		mon_stats_result_finish(out);
		mon_error_set_text(err, "", "memory", "out of memory");
		return false;
	}
	return true;
}

void mon_stats_result_finish(struct mon_stats_result *r)
{
	free(r->items);
	r->items = NULL;
	r->count = 0;
}

const struct rule_family stats_family = {
	.name = "statistical",
	.rules = rules,
	.rule_count = sizeof(rules) / sizeof(rules[0]),
	.params = params,
	.param_count = sizeof(params) / sizeof(params[0]),
	.evaluate = NULL,
};
