/* test_corrections.c: the department's event.corrected applied by the evaluation: a void
 * takes an event out (the double APR-EXTENSION-EXCESS), a replace puts its
 * replacement in (its own at, the correction's id and receipt), a void of a void restores,
 * the latest correction wins, a future one is not yet in effect, a replace of a correction
 * is ignored, corrections are never judged, and an event without a case is judged with its
 * corrections. */
#include "case_fixture.h"

#define CASE_NO "LY-ZJJ-2026-000221"
#define ENV(id, at) "\"id\":\"" id "\",\"dept\":\"LY-ZJJ\",\"at\":\"" at "\",\"case\":\"" CASE_NO "\""

static int setup(void **state)
{
	struct fx *fx = fx_create();

	fx_load(fx, "items", "code,dept,name,statutory_days,committed_days,unit\n"
		"ZJ-001,LY-ZJJ,建筑工程施工许可,15,7,working\n");
	/* the ladder is test_case.c's, the delay report test_reports.c's: here only what the
	 * corrections change */
	for (size_t i = 0; i < 4; i++) {
		static const char *const ladder[] = { "APR-DEADLINE-NOTICE", "APR-DEADLINE-YELLOW",
			"APR-DEADLINE-RED", "APR-DELAY-UNREPORTED" };
		struct mon_error err;

		if (!mon_ruleset_disable_rule(fx->rs, ladder[i], &err))
			fail_msg("%s: %s", ladder[i], err.expected);
	}
	*state = fx;
	return 0;
}

/* Accepted 03-02; extended 6 days on 03-09 and the same extension sent again on 03-16. */
static void extended_twice(struct fx *fx)
{
	fx_clear(fx);
	fx_add(fx, "{" ENV("zj-1", "2026-03-02T10:20:00+08:00") ",\"type\":\"approval.accepted\","
		"\"item\":\"ZJ-001\"}");
	fx_add(fx, "{" ENV("zj-2", "2026-03-09T09:00:00+08:00") ",\"type\":\"approval.extended\","
		"\"days\":6,\"approver\":\"P0401\"}");
	fx_add(fx, "{" ENV("zj-3", "2026-03-16T09:00:00+08:00") ",\"type\":\"approval.extended\","
		"\"days\":6,\"approver\":\"P0401\"}");
}

static void void_of(struct fx *fx, const char *id, const char *of, const char *at)
{
	fx_add(fx, "{\"id\":\"%s\",\"dept\":\"LY-ZJJ\",\"at\":\"%s\",\"case\":\"" CASE_NO "\","
		"\"type\":\"event.corrected\",\"of\":\"%s\",\"action\":\"void\","
		"\"reason\":\"sent twice\"}", id, at, of);
}

static void assert_corrected(struct fx *fx, const char *ids)
{
	char got[256] = "";
	size_t used = 0;

	for (size_t i = 0; i < fx->ev.corrected_count; i++)
		used += (size_t)snprintf(got + used, sizeof(got) - used, "%s%s", i ? "," : "",
			fx->ev.corrected[i]);
	assert_string_equal(got, ids);
}

/* The issue: without the correction both extensions count; voided, the second does not. */
static void test_void(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	extended_twice(fx);
	st = fx_eval(fx, "2026-03-20T12:00:00+08:00");
	assert_rules(fx, "APR-EXTENSION-EXCESS");
	assert_int_equal(st->committed_days, 7 + 10);   /* §42's 10 at most move the deadlines */
	assert_int_equal(fx->ev.corrected_count, 0);

	void_of(fx, "zj-4", "zj-3", "2026-03-17T09:00:00+08:00");
	st = fx_eval(fx, "2026-03-20T12:00:00+08:00");
	assert_rules(fx, "");
	assert_int_equal(st->committed_days, 7 + 6);
	assert_int_equal(st->status, MON_CASE_ACCEPTED);   /* the correction changes no status */
	assert_corrected(fx, "zj-3");
}

/* A replace puts the corrected event in: its own at, the correction's id. */
static void test_replace(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	extended_twice(fx);
	fx_add(fx, "{" ENV("zj-4", "2026-03-17T09:00:00+08:00") ",\"type\":\"event.corrected\","
		"\"of\":\"zj-3\",\"action\":\"replace\",\"reason\":\"2 days, not 6\","
		"\"replacement\":{\"type\":\"approval.extended\",\"at\":\"2026-03-16T09:00:00+08:00\","
		"\"days\":2,\"approver\":\"P0401\"}}");
	st = fx_eval(fx, "2026-03-20T12:00:00+08:00");
	assert_rules(fx, "");
	assert_int_equal(st->committed_days, 7 + 8);
	assert_corrected(fx, "zj-3");

	/* replaced by an unapproved one of 5 days: 11 days in all, one unapproved */
	fx_clear(fx);
	extended_twice(fx);
	fx_add(fx, "{" ENV("zj-4", "2026-03-17T09:00:00+08:00") ",\"type\":\"event.corrected\","
		"\"of\":\"zj-3\",\"action\":\"replace\",\"reason\":\"5 days, no approver\","
		"\"replacement\":{\"type\":\"approval.extended\",\"at\":\"2026-03-16T09:00:00+08:00\","
		"\"days\":5}}");
	fx_eval(fx, "2026-03-20T12:00:00+08:00");
	assert_rules(fx, "APR-EXTENSION-EXCESS,APR-EXTENSION-UNAPPROVED");
	assert_string_equal(fx_cond(fx, "APR-EXTENSION-UNAPPROVED")->evidence[0], "zj-4");
	assert_int_equal(fx_cond(fx, "APR-EXTENSION-UNAPPROVED")->since,
		T("2026-03-16T09:00:00+08:00"));
}

/* A void of the void restores the event; a void of that restores the void. */
static void test_void_of_void(void **state)
{
	struct fx *fx = *state;

	extended_twice(fx);
	void_of(fx, "zj-4", "zj-3", "2026-03-17T09:00:00+08:00");
	void_of(fx, "zj-5", "zj-4", "2026-03-18T09:00:00+08:00");
	fx_eval(fx, "2026-03-20T12:00:00+08:00");
	assert_rules(fx, "APR-EXTENSION-EXCESS");
	assert_corrected(fx, "zj-4");
	void_of(fx, "zj-6", "zj-5", "2026-03-19T09:00:00+08:00");
	fx_eval(fx, "2026-03-20T12:00:00+08:00");
	assert_rules(fx, "");
	assert_corrected(fx, "zj-3,zj-5");
}

/* Of two corrections of one event the latest wins, whatever the input order. */
static void test_latest_wins(void **state)
{
	struct fx *fx = *state;

	extended_twice(fx);
	fx_add(fx, "{" ENV("zj-5", "2026-03-18T09:00:00+08:00") ",\"type\":\"event.corrected\","
		"\"of\":\"zj-3\",\"action\":\"replace\",\"reason\":\"9 days after all\","
		"\"replacement\":{\"type\":\"approval.extended\",\"at\":\"2026-03-16T09:00:00+08:00\","
		"\"days\":9,\"approver\":\"P0401\"}}");
	void_of(fx, "zj-4", "zj-3", "2026-03-17T09:00:00+08:00");
	fx_eval(fx, "2026-03-20T12:00:00+08:00");
	/* 6 + 9: the replace is the later. Its replacement (dated 03-16 09:00) reached us with
	 * the correction, 48 hours on, but the event it corrects was reported on time: the
	 * replacement keeps the original's receipt and is no late report (issue 11: a mistake
	 * corrected without a second card). */
	assert_rules(fx, "APR-EXTENSION-EXCESS");
	assert_corrected(fx, "zj-3");
	/* the same instant: the later receipt wins */
	fx->ces[4].received_at = fx->ces[3].received_at = T("2026-03-18T09:00:00+08:00");
	fx->events[4].at = fx->events[3].at;
	fx->ces[4].received_at += 1;
	fx_eval(fx, "2026-03-20T12:00:00+08:00");
	assert_rules(fx, "");   /* the void came last */
}

/* A correction dated after now is not yet in effect, and wakes the case. */
static void test_future_correction(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	extended_twice(fx);
	void_of(fx, "zj-4", "zj-3", "2026-03-21T09:00:00+08:00");
	st = fx_eval(fx, "2026-03-20T12:00:00+08:00");
	assert_rules(fx, "APR-EXTENSION-EXCESS");
	assert_int_equal(fx->ev.corrected_count, 0);
	assert_true(st->next_check <= T("2026-03-21T09:00:00+08:00"));
	fx_eval(fx, "2026-03-21T09:00:00+08:00");
	assert_rules(fx, "");
}

/* A replace of a correction is ignored (the daemon refuses it at ingest); a correction of
 * an event not given, of another department or of another case changes nothing. */
static void test_ignored(void **state)
{
	struct fx *fx = *state;

	extended_twice(fx);
	void_of(fx, "zj-4", "zj-3", "2026-03-17T09:00:00+08:00");
	fx_add(fx, "{" ENV("zj-5", "2026-03-18T09:00:00+08:00") ",\"type\":\"event.corrected\","
		"\"of\":\"zj-4\",\"action\":\"replace\",\"reason\":\"x\",\"replacement\":"
		"{\"type\":\"approval.resumed\",\"at\":\"2026-03-18T09:00:00+08:00\"}}");
	void_of(fx, "zj-6", "zj-404", "2026-03-18T09:00:00+08:00");
	fx_eval(fx, "2026-03-20T12:00:00+08:00");
	assert_rules(fx, "");
	assert_corrected(fx, "zj-3");

	extended_twice(fx);
	fx_add(fx, "{\"id\":\"zj-4\",\"dept\":\"LY-HBJ\",\"at\":\"2026-03-17T09:00:00+08:00\","
		"\"case\":\"LY-HBJ-1\",\"type\":\"event.corrected\",\"of\":\"zj-3\","
		"\"action\":\"void\",\"reason\":\"not ours\"}");
	fx->ces[3].context = true;   /* another department's case, as context */
	fx_eval(fx, "2026-03-20T12:00:00+08:00");
	assert_rules(fx, "APR-EXTENSION-EXCESS");
}

/* A cycle (only hand-made input has one) puts neither correction in effect. */
static void test_cycle(void **state)
{
	struct fx *fx = *state;

	extended_twice(fx);
	void_of(fx, "zj-4", "zj-5", "2026-03-17T09:00:00+08:00");
	void_of(fx, "zj-5", "zj-4", "2026-03-18T09:00:00+08:00");
	fx_eval(fx, "2026-03-20T12:00:00+08:00");
	assert_rules(fx, "APR-EXTENSION-EXCESS");
	assert_corrected(fx, "");
}

/* An event without a case is judged with its corrections: voided, it raises nothing;
 * replaced, its replacement is judged under the correction's id. */
static void fee_replaced(struct fx *fx, const char *fee_item)
{
	fx_clear(fx);
	fx_add(fx, "{\"id\":\"cw-1\",\"dept\":\"LY-ZJJ\",\"type\":\"fee.collected\","
		"\"at\":\"2026-03-03T10:00:00+08:00\",\"fee_item\":\"ZJ-099\",\"amount\":\"10.00\","
		"\"payer\":{\"uscc\":\"91410311MA47R2TD0Y\"},"
		"\"filing\":{\"office\":\"jianfuban\",\"ref\":\"JFB-1\"}}");
	if (fee_item == NULL)
		return;
	fx_add(fx, "{\"id\":\"cw-2\",\"dept\":\"LY-ZJJ\",\"type\":\"event.corrected\","
		"\"at\":\"2026-03-04T10:00:00+08:00\",\"of\":\"cw-1\",\"action\":\"replace\","
		"\"reason\":\"fee item\",\"replacement\":{\"type\":\"fee.collected\","
		"\"at\":\"2026-03-03T10:00:00+08:00\",\"fee_item\":\"%s\",\"amount\":\"10.00\","
		"\"payer\":{\"uscc\":\"91410311MA47R2TD0Y\"},"
		"\"filing\":{\"office\":\"jianfuban\",\"ref\":\"JFB-1\"}}}", fee_item);
}

static void test_caseless(void **state)
{
	struct fx *fx = *state;

	fx_load(fx, "fee_items", "code,dept,name,min_amount,max_amount,basis,abolished_on,"
		"review_required,free\nZJ-021,LY-ZJJ,城市道路占用挖掘修复费,0.00,3000.00,,,false,false\n");
	fee_replaced(fx, NULL);
	fx_eval(fx, "2026-03-20T12:00:00+08:00");
	assert_rules(fx, "FEE-ITEM-UNKNOWN");
	assert_string_equal(fx->ev.conditions[0].key, "FEE-ITEM-UNKNOWN|LY-ZJJ||cw-1");
	fx_add(fx, "{\"id\":\"cw-2\",\"dept\":\"LY-ZJJ\",\"type\":\"event.corrected\","
		"\"at\":\"2026-03-04T10:00:00+08:00\",\"of\":\"cw-1\",\"action\":\"void\","
		"\"reason\":\"test entry\"}");
	fx_eval(fx, "2026-03-20T12:00:00+08:00");
	assert_rules(fx, "");
	assert_corrected(fx, "cw-1");

	fee_replaced(fx, "ZJ-021");
	fx_eval(fx, "2026-03-20T12:00:00+08:00");
	assert_rules(fx, "");
	assert_corrected(fx, "cw-1");
	fee_replaced(fx, "ZJ-098");
	fx_eval(fx, "2026-03-20T12:00:00+08:00");
	assert_rules(fx, "FEE-ITEM-UNKNOWN");
	assert_string_equal(fx->ev.conditions[0].key, "FEE-ITEM-UNKNOWN|LY-ZJJ||cw-2");
}

/* A correction alone is never judged, and a case of corrections only is still a case. */
static void test_correction_not_judged(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	fx_clear(fx);
	void_of(fx, "zj-4", "zj-3", "2026-03-17T09:00:00+08:00");
	fx->ces[0].received_at += 30 * 86400;   /* late, but not an approval event */
	st = fx_eval(fx, "2026-03-20T12:00:00+08:00");
	assert_rules(fx, "");
	assert_int_equal(st->status, MON_CASE_DECIDED);
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, fx_teardown)

static const struct CMUnitTest tests[] = {
	TEST(test_void),
	TEST(test_replace),
	TEST(test_void_of_void),
	TEST(test_latest_wins),
	TEST(test_future_correction),
	TEST(test_ignored),
	TEST(test_cycle),
	TEST(test_caseless),
	TEST(test_correction_not_judged),
};

FX_MAIN(tests)
