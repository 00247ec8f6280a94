/* test_stats.c: the statistical rules (mon_stats.h) at their boundaries: exactly at each
 * threshold versus one over, the minimum counts, zero and negative baselines; the windows,
 * keys, since and the department an enterprise's alert goes to; switched-off rules and
 * parameters; input refused out of range. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mon_rules.h"
#include "mon_stats.h"
#include "mon_value.h"

static int64_t T(const char *rfc3339)
{
	int64_t epoch = 0;
	int offset;

	if (!mon_time_parse(rfc3339, &epoch, &offset))
		fail_msg("bad test time %s", rfc3339);
	return epoch;
}

static int32_t D(const char *ymd)
{
	char stamp[40];

	snprintf(stamp, sizeof(stamp), "%sT12:00:00+08:00", ymd);
	return mon_day_of(T(stamp));
}

#define NOW "2026-03-15T10:00:00+08:00"

struct sx {
	struct mon_ruleset *rs;
	struct mon_stats_dept dept;
	struct mon_stats_dealing dealings[4];
	size_t dealing_count;
	struct mon_stats_result out;
	char rules[256];
};

static int setup(void **state)
{
	struct sx *sx = test_calloc(1, sizeof(*sx));

	sx->rs = mon_ruleset_create();
	assert_non_null(sx->rs);
	snprintf(sx->dept.dept, sizeof(sx->dept.dept), "LY-SCJGJ");
	*state = sx;
	return 0;
}

static int teardown(void **state)
{
	struct sx *sx = *state;

	mon_stats_result_finish(&sx->out);
	mon_ruleset_destroy(sx->rs);
	test_free(sx);
	return 0;
}

static void param(struct sx *sx, const char *name, long long value)
{
	struct mon_error err;

	if (!mon_ruleset_set_param(sx->rs, name, value, &err))
		fail_msg("%s=%lld refused: %s", name, value, err.expected);
}

/* Judges sx's department (and dealings) as of NOW; the rules raised, comma-separated. */
static const char *judge(struct sx *sx)
{
	struct mon_stats_input in = { &sx->dept, 1, sx->dealings, sx->dealing_count };
	struct mon_error err;

	mon_stats_result_finish(&sx->out);
	if (!mon_stats_evaluate(sx->rs, &in, T(NOW), &sx->out, &err))
		fail_msg("refused: %s: %s", err.field, err.expected);
	sx->rules[0] = '\0';
	for (size_t i = 0; i < sx->out.count; i++)
		snprintf(sx->rules + strlen(sx->rules), sizeof(sx->rules) - strlen(sx->rules), "%s%s",
			i ? "," : "", sx->out.items[i].condition.rule);
	return sx->rules;
}

static const struct mon_stats_condition *cond(const struct sx *sx, const char *rule)
{
	for (size_t i = 0; i < sx->out.count; i++)
		if (strcmp(sx->out.items[i].condition.rule, rule) == 0)
			return &sx->out.items[i];
	fail_msg("no %s", rule);
	return NULL;
}

static void test_windows(void **state)
{
	struct sx *sx = *state;
	struct mon_stats_windows w;

	/* The last complete day is the one before now's; 30 days back to 02-13 inclusive. */
	mon_stats_windows(sx->rs, T(NOW), &w);
	assert_int_equal(w.last, D("2026-03-14"));
	assert_int_equal(w.first, D("2026-02-13"));
	assert_int_equal(w.baseline_first, D("2026-02-13") - 90);
	/* The dealing window is the year's: 365 days back would reach into 2025, whose days
	 * were judged under 2025's key (found by an audit: the same days raised 2026's and then
	 * 2027's alert). From 01-01 of the last day's year, or 365 days when that is shorter. */
	assert_int_equal(w.dealing_first, D("2026-01-01"));
	mon_stats_windows(sx->rs, T("2027-01-01T10:00:00+08:00"), &w);
	assert_int_equal(w.last, D("2026-12-31"));
	assert_int_equal(w.dealing_first, D("2026-01-01"));
	mon_stats_windows(sx->rs, T("2027-01-02T10:00:00+08:00"), &w);
	assert_int_equal(w.dealing_first, D("2027-01-01"));
	param(sx, "dealing_window_days", 30);
	mon_stats_windows(sx->rs, T(NOW), &w);
	assert_int_equal(w.dealing_first, D("2026-03-14") - 29);
	/* 00:00:00 on the 15th in Shanghai is already the 15th (16:00 UTC the day before). */
	param(sx, "dealing_window_days", 365);
	mon_stats_windows(sx->rs, T("2026-03-14T16:00:00Z"), &w);
	assert_int_equal(w.last, D("2026-03-14"));
	mon_stats_windows(sx->rs, T("2026-03-14T15:59:59Z"), &w);
	assert_int_equal(w.last, D("2026-03-13"));
	param(sx, "stat_window_days", 7);
	param(sx, "baseline_windows", 1);
	mon_stats_windows(sx->rs, T(NOW), &w);
	assert_int_equal(w.first, D("2026-03-08"));
	assert_int_equal(w.baseline_first, D("2026-03-01"));
}

static void test_ontime_boundary(void **state)
{
	struct sx *sx = *state;
	const struct mon_stats_condition *c;

	/* 90% exactly is on target; one fewer on time is below it. */
	sx->dept.decided = 20;
	sx->dept.on_time = 18;
	assert_string_equal(judge(sx), "");
	sx->dept.on_time = 17;
	assert_string_equal(judge(sx), "STA-ONTIME-LOW");
	c = cond(sx, "STA-ONTIME-LOW");
	assert_string_equal(c->dept, "LY-SCJGJ");
	assert_string_equal(c->condition.key, "STA-ONTIME-LOW|LY-SCJGJ||2026-03");
	assert_int_equal(c->condition.severity, MON_SEVERITY_YELLOW);
	assert_int_equal(c->condition.since, T("2026-03-01T00:00:00+08:00"));
	assert_int_equal(c->condition.evidence_count, 0);
	assert_non_null(strstr(c->condition.message, "85.0%"));
	assert_non_null(strstr(c->condition.message, "2026-02-13..2026-03-14"));
	/* Fewer decisions than stat_min_cases: not judged, however late. */
	sx->dept.decided = 9;
	sx->dept.on_time = 0;
	assert_string_equal(judge(sx), "");
	sx->dept.decided = 10;
	assert_string_equal(judge(sx), "STA-ONTIME-LOW");
	param(sx, "stat_min_cases", 11);
	assert_string_equal(judge(sx), "");
	/* The target is a parameter: 17 of 20 is 85%, on a target of 85. */
	param(sx, "stat_min_cases", 10);
	param(sx, "ontime_target_pct", 85);
	sx->dept.decided = 20;
	sx->dept.on_time = 17;
	assert_string_equal(judge(sx), "");
}

static void test_alerts_spike_boundary(void **state)
{
	struct sx *sx = *state;
	const struct mon_stats_condition *c;

	/* Baseline 3 windows, 15 alerts: mean 5; twice it is 10, and 10 is not above it. */
	sx->dept.alerts_baseline = 15;
	sx->dept.alerts = 10;
	assert_string_equal(judge(sx), "");
	sx->dept.alerts = 11;
	assert_string_equal(judge(sx), "STA-ALERTS-SPIKE");
	c = cond(sx, "STA-ALERTS-SPIKE");
	assert_string_equal(c->condition.key, "STA-ALERTS-SPIKE|LY-SCJGJ||2026-03");
	assert_int_equal(c->condition.severity, MON_SEVERITY_NOTICE);
	assert_non_null(strstr(c->condition.message, "11 valid alerts"));
	assert_non_null(strstr(c->condition.message, "5.0 a window"));
	/* A mean that is not whole: 16 / 3 = 5.33, twice 10.67: 10 is not above, 11 is. */
	sx->dept.alerts_baseline = 16;
	sx->dept.alerts = 10;
	assert_string_equal(judge(sx), "");
	sx->dept.alerts = 11;
	assert_string_equal(judge(sx), "STA-ALERTS-SPIKE");
	/* A zero baseline: any count from spike_min on is a spike, below it none. */
	sx->dept.alerts_baseline = 0;
	sx->dept.alerts = 4;
	assert_string_equal(judge(sx), "");
	sx->dept.alerts = 5;
	assert_string_equal(judge(sx), "STA-ALERTS-SPIKE");
	param(sx, "spike_min", 6);
	assert_string_equal(judge(sx), "");
	/* spike_min holds even far above the baseline: 1 window of 1 alert, 5 now. */
	param(sx, "baseline_windows", 1);
	sx->dept.alerts_baseline = 1;
	assert_string_equal(judge(sx), "");
}

static void test_fees_spike_boundary(void **state)
{
	struct sx *sx = *state;
	const struct mon_stats_condition *c;

	/* Baseline 3 windows of 1000.00 yuan net: twice the mean is 2000.00 yuan. */
	sx->dept.fees_net_baseline_fen = 300000;
	sx->dept.fees_net_fen = 200000;
	assert_string_equal(judge(sx), "");
	sx->dept.fees_net_fen = 200001;
	assert_string_equal(judge(sx), "STA-FEES-SPIKE");
	c = cond(sx, "STA-FEES-SPIKE");
	assert_string_equal(c->condition.key, "STA-FEES-SPIKE|LY-SCJGJ||2026-03");
	assert_int_equal(c->condition.severity, MON_SEVERITY_YELLOW);
	assert_non_null(strstr(c->condition.message, "2000.01 yuan"));
	assert_non_null(strstr(c->condition.message, "1000.00 yuan a window"));
	/* No baseline (nothing collected, or refunds ate it): no judgment. */
	sx->dept.fees_net_baseline_fen = 0;
	sx->dept.fees_net_fen = 100000000;
	assert_string_equal(judge(sx), "");
	sx->dept.fees_net_baseline_fen = -5000;
	assert_string_equal(judge(sx), "");
	/* Refunds net: a window that refunded more than it collected is no spike. */
	sx->dept.fees_net_baseline_fen = 300000;
	sx->dept.fees_net_fen = -700000;
	assert_string_equal(judge(sx), "");
	/* The factor is a parameter: 150% of 1000.00 is 1500.00. */
	param(sx, "spike_factor_pct", 150);
	sx->dept.fees_net_fen = 150000;
	assert_string_equal(judge(sx), "");
	sx->dept.fees_net_fen = 150001;
	assert_string_equal(judge(sx), "STA-FEES-SPIKE");
}

static void test_late_reporting_boundary(void **state)
{
	struct sx *sx = *state;
	const struct mon_stats_condition *c;

	/* 5% of 100 exactly is allowed; 6 is over. */
	sx->dept.events = 100;
	sx->dept.late_reported = 5;
	assert_string_equal(judge(sx), "");
	sx->dept.late_reported = 6;
	assert_string_equal(judge(sx), "STA-LATE-REPORTING");
	c = cond(sx, "STA-LATE-REPORTING");
	assert_string_equal(c->condition.key, "STA-LATE-REPORTING|LY-SCJGJ||2026-03");
	assert_int_equal(c->condition.severity, MON_SEVERITY_NOTICE);
	assert_non_null(strstr(c->condition.message, "6.0%"));
	assert_non_null(strstr(c->condition.message, "24 hours"));
	/* Fewer events than stat_min_cases: 9 events, all late, are not judged; 10 are. */
	sx->dept.events = 9;
	sx->dept.late_reported = 9;
	assert_string_equal(judge(sx), "");
	sx->dept.events = 10;
	assert_string_equal(judge(sx), "STA-LATE-REPORTING");
	/* late_rate_max_pct 0: a single late event is too many. */
	param(sx, "late_rate_max_pct", 0);
	sx->dept.events = 1000;
	sx->dept.late_reported = 0;
	assert_string_equal(judge(sx), "");
	sx->dept.late_reported = 1;
	assert_string_equal(judge(sx), "STA-LATE-REPORTING");
}

static void dealing(struct sx *sx, const char *uscc, const char *dept, int64_t days)
{
	struct mon_stats_dealing *r = &sx->dealings[sx->dealing_count++];

	snprintf(r->applicant, sizeof(r->applicant), "%s", uscc);
	snprintf(r->dept, sizeof(r->dept), "%s", dept);
	r->days = days;
}

static void test_dealing_days_boundary(void **state)
{
	struct sx *sx = *state;
	const struct mon_stats_condition *c;

	/* 10 days across two departments is the target itself; 11 is over it. */
	dealing(sx, "91410300MA44ABCD1R", "LY-SCJGJ", 4);
	dealing(sx, "91410300MA44ABCD1R", "LY-ZJJ", 6);
	dealing(sx, "91410311MA47R2TD0Y", "LY-ZJJ", 10);
	assert_string_equal(judge(sx), "");
	sx->dealings[0].days = 5;
	assert_string_equal(judge(sx), "STA-DEALING-DAYS");
	c = cond(sx, "STA-DEALING-DAYS");
	/* The department with the most days gets the alert; the key names the enterprise and
	 * the year, not the department. */
	assert_string_equal(c->dept, "LY-ZJJ");
	assert_string_equal(c->condition.key, "STA-DEALING-DAYS|91410300MA44ABCD1R|2026");
	assert_int_equal(c->condition.since, T("2026-01-01T00:00:00+08:00"));
	assert_int_equal(c->condition.severity, MON_SEVERITY_YELLOW);
	assert_non_null(strstr(c->condition.message, "11 days"));
	/* Equal shares: the first department in the input (the daemon orders them by code). */
	sx->dealings[0].days = 6;
	judge(sx);
	assert_string_equal(cond(sx, "STA-DEALING-DAYS")->dept, "LY-SCJGJ");
	param(sx, "dealing_days_target", 12);
	assert_string_equal(judge(sx), "");
}

static void test_disabled_and_order(void **state)
{
	struct sx *sx = *state;
	struct mon_error err;

	sx->dept.decided = 10;
	sx->dept.events = 10;
	sx->dept.late_reported = 10;
	sx->dept.alerts = 5;
	sx->dept.fees_net_fen = 1;
	sx->dept.fees_net_baseline_fen = 1;
	dealing(sx, "91410300MA44ABCD1R", "LY-SCJGJ", 11);
	assert_string_equal(judge(sx), "STA-ONTIME-LOW,STA-ALERTS-SPIKE,STA-FEES-SPIKE,"
		"STA-LATE-REPORTING,STA-DEALING-DAYS");
	assert_true(mon_ruleset_disable_rule(sx->rs, "STA-FEES-SPIKE", &err));
	assert_true(mon_ruleset_disable_rule(sx->rs, "STA-DEALING-DAYS", &err));
	assert_string_equal(judge(sx), "STA-ONTIME-LOW,STA-ALERTS-SPIKE,STA-LATE-REPORTING");
}

static void test_registry_and_params(void **state)
{
	struct sx *sx = *state;
	struct mon_error err;
	const char *want[] = { "STA-ONTIME-LOW", "STA-ALERTS-SPIKE", "STA-FEES-SPIKE",
		"STA-DEALING-DAYS", "STA-LATE-REPORTING" };
	size_t found = 0;

	for (size_t i = 0; i < mon_rule_count(); i++)
		for (size_t j = 0; j < 5; j++)
			found += strcmp(mon_rule_code(i), want[j]) == 0;
	assert_int_equal(found, 5);
	assert_false(mon_ruleset_set_param(sx->rs, "ontime_target_pct", 101, &err));
	assert_false(mon_ruleset_set_param(sx->rs, "spike_factor_pct", 99, &err));
	assert_false(mon_ruleset_set_param(sx->rs, "baseline_windows", 0, &err));
	assert_false(mon_ruleset_set_param(sx->rs, "stat_window_days", 0, &err));
	assert_true(mon_ruleset_set_param(sx->rs, "late_rate_max_pct", 0, &err));
}

static void test_bad_input(void **state)
{
	struct sx *sx = *state;
	struct mon_stats_input in = { &sx->dept, 1, NULL, 0 };
	struct mon_error err;

	sx->dept.decided = 5;
	sx->dept.on_time = 6;   /* more on time than decided */
	assert_false(mon_stats_evaluate(sx->rs, &in, T(NOW), &sx->out, &err));
	assert_string_equal(err.field, "dept");
	assert_false(mon_stats_dept_valid(&sx->dept, &err));   /* what a caller leaves out */
	sx->dept.on_time = 5;
	assert_true(mon_stats_dept_valid(&sx->dept, &err));
	sx->dept.on_time = 0;
	sx->dept.alerts = -1;
	assert_false(mon_stats_evaluate(sx->rs, &in, T(NOW), &sx->out, &err));
	sx->dept.alerts = 0;
	sx->dept.fees_net_fen = MON_STATS_VALUE_MAX + 1;
	assert_false(mon_stats_evaluate(sx->rs, &in, T(NOW), &sx->out, &err));
	/* The largest values allowed compare without overflow. */
	sx->dept.fees_net_fen = MON_STATS_VALUE_MAX;
	sx->dept.fees_net_baseline_fen = MON_STATS_VALUE_MAX;
	param(sx, "spike_factor_pct", 10000);
	param(sx, "baseline_windows", 12);
	assert_true(mon_stats_evaluate(sx->rs, &in, T(NOW), &sx->out, &err));
	assert_int_equal(sx->out.count, 0);   /* 1e14 is not above 100 x (1e14 / 12) */
	sx->dept.fees_net_baseline_fen = 1;
	assert_true(mon_stats_evaluate(sx->rs, &in, T(NOW), &sx->out, &err));
	assert_int_equal(sx->out.count, 1);
	mon_stats_result_finish(&sx->out);
	dealing(sx, "", "LY-SCJGJ", 1);
	in.dealings = sx->dealings;
	in.dealing_count = 1;
	assert_false(mon_stats_evaluate(sx->rs, &in, T(NOW), &sx->out, &err));
	assert_string_equal(err.field, "dealing");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_windows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ontime_boundary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alerts_spike_boundary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fees_spike_boundary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_late_reporting_boundary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dealing_days_boundary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disabled_and_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registry_and_params, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
