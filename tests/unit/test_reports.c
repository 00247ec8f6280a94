/* test_reports.c: the refusal report (不批准报告制度, seed 002 item 14) at its boundaries:
 * reason and report of a denial and an intake refusal; the report to the level right above
 * each of the four levels that can refuse, and to a wrong one; the top level; a feed
 * without levels; a refusal by the 主要领导 with and without its 市优化办 filing, and filed
 * elsewhere; the proposed solution; delay reports (缓批报告) and the report due by the
 * committed deadline — the second before, at and after it, on an open and a closed case,
 * moved by an extension, unknown during a suspension. Dates are worked out by hand from
 * the 2026 calendar in the comments. */
#include "case_fixture.h"

/* T-10: 10 committed / 20 statutory working days. */
static const char items_csv[] =
	"code,dept,name,statutory_days,committed_days,unit\n"
	"T-10,LY-TEST,ten working days,20,10,working\n";

static int setup(void **state)
{
	struct fx *fx = fx_create();

	fx_load(fx, "items", items_csv);
	*state = fx;
	return 0;
}

/* Event e<N> of case C-1; `extra` more JSON members, starting with a comma. */
static void add(struct fx *fx, const char *type, const char *at, const char *extra)
{
	fx_add(fx, "{\"id\":\"e%zu\",\"dept\":\"LY-TEST\",\"type\":\"%s\",\"at\":\"%s\","
		"\"case\":\"C-1\"%s}", fx->count + 1, type, at, extra);
}

/* T-10 accepted Monday 2026-03-02 09:15: working days 03-03..06 (1-4), 09..13 (5-9), 16
 * (10): committed deadline 2026-03-16 24:00, i.e. 2026-03-17T00:00:00+08:00. */
static void accept(struct fx *fx)
{
	add(fx, "approval.accepted", "2026-03-02T09:15:00+08:00", ",\"item\":\"T-10\"");
}

/* A denial on 03-05 (in time) with `extra`; the rules it raises as of 03-06. */
static const char *denial(struct fx *fx, const char *extra)
{
	char fields[512];

	fx_clear(fx);
	accept(fx);
	snprintf(fields, sizeof(fields), ",\"result\":\"denied\",\"reason\":\"不符合条件\","
		"\"report\":\"BPZ-1\"%s", extra);
	add(fx, "approval.decided", "2026-03-05T10:00:00+08:00", fields);
	fx_eval(fx, "2026-03-06T12:00:00+08:00");
	return fx->rules;
}

#define SOLUTION ",\"solution\":\"补充材料后重新申请\""
#define FILED ",\"filing\":{\"office\":\"youhuaban\",\"ref\":\"YHB-2026-011\"}"

/* The reason and the report (the first two rules, moved here from checks.c unchanged). */
static void test_reason_and_report(void **state)
{
	struct fx *fx = *state;

	accept(fx);
	add(fx, "approval.decided", "2026-03-05T10:00:00+08:00", ",\"result\":\"denied\"");
	fx_eval(fx, "2026-03-06T12:00:00+08:00");
	assert_rules(fx, "APR-REFUSAL-NO-REASON,APR-REFUSAL-NO-REPORT,APR-REPORT-NO-SOLUTION");
	assert_string_equal(fx_cond(fx, "APR-REFUSAL-NO-REASON")->message,
		"黄牌: 不予许可未说明理由 (denial without reason)");
	assert_string_equal(fx_cond(fx, "APR-REFUSAL-NO-REPORT")->key,
		"APR-REFUSAL-NO-REPORT|LY-TEST|C-1");
	assert_string_equal(fx_cond(fx, "APR-REPORT-NO-SOLUTION")->key,
		"APR-REPORT-NO-SOLUTION|LY-TEST|C-1");
	assert_string_equal(fx_cond(fx, "APR-REPORT-NO-SOLUTION")->message,
		"黄牌: 未提出可行性解决建议 (denial without a proposed solution)");
	assert_int_equal(fx_cond(fx, "APR-REPORT-NO-SOLUTION")->since, T("2026-03-05T10:00:00+08:00"));
	assert_string_equal(fx_cond(fx, "APR-REPORT-NO-SOLUTION")->evidence[0], "e2");

	assert_string_equal(denial(fx, ""), "APR-REPORT-NO-SOLUTION");
	assert_string_equal(denial(fx, SOLUTION), "");
	/* An approval needs none of it. */
	fx_clear(fx);
	accept(fx);
	add(fx, "approval.decided", "2026-03-05T10:00:00+08:00", ",\"result\":\"approved\"");
	fx_eval(fx, "2026-03-06T12:00:00+08:00");
	assert_rules(fx, "");
	/* An intake refusal is held to the same rules. */
	fx_clear(fx);
	add(fx, "approval.received", "2026-03-02T09:00:00+08:00", ",\"item\":\"T-10\"");
	add(fx, "approval.refused_intake", "2026-03-03T09:00:00+08:00", ",\"reason\":\"不属于本机关\"");
	fx_eval(fx, "2026-03-06T12:00:00+08:00");
	assert_rules(fx, "APR-REFUSAL-NO-REPORT,APR-REPORT-NO-SOLUTION");
	assert_string_equal(fx_cond(fx, "APR-REPORT-NO-SOLUTION")->message,
		"黄牌: 未提出可行性解决建议 (intake refusal without a proposed solution)");
	assert_int_equal(fx->ev.state.status, MON_CASE_REFUSED);
}

/* Each level that can refuse reports to the one right above it. */
static void test_right_level(void **state)
{
	static const char *const right[][2] = {
		{ "section", "deputy_head" },
		{ "deputy_head", "head" },
		{ "head", "superior" },
		{ "superior", "party_government" },
	};
	struct fx *fx = *state;
	char extra[256];

	for (size_t i = 0; i < sizeof(right) / sizeof(right[0]); i++) {
		snprintf(extra, sizeof(extra), SOLUTION FILED ",\"refused_by\":\"%s\","
			"\"report_to\":\"%s\"", right[i][0], right[i][1]);
		assert_string_equal(denial(fx, extra), "");
	}
}

/* Skipping a level, staying on it, going down: each is the wrong level. */
static void test_wrong_level(void **state)
{
	static const char *const wrong[][3] = {
		{ "section", "head", "deputy_head" },
		{ "section", "section", "deputy_head" },
		{ "deputy_head", "superior", "head" },
		{ "deputy_head", "deputy_head", "head" },
		{ "head", "deputy_head", "superior" },
		{ "head", "party_government", "superior" },
		{ "superior", "head", "party_government" },
		{ "superior", "superior", "party_government" },
	};
	struct fx *fx = *state;
	char extra[256], message[256];

	for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		snprintf(extra, sizeof(extra), SOLUTION FILED ",\"refused_by\":\"%s\","
			"\"report_to\":\"%s\"", wrong[i][0], wrong[i][1]);
		assert_string_equal(denial(fx, extra), "APR-REPORT-WRONG-LEVEL");
		snprintf(message, sizeof(message), "黄牌: 未向上一级报告 (denial by %s reported to %s, "
			"due to %s)", wrong[i][0], wrong[i][1], wrong[i][2]);
		assert_string_equal(fx_cond(fx, "APR-REPORT-WRONG-LEVEL")->message, message);
		assert_string_equal(fx_cond(fx, "APR-REPORT-WRONG-LEVEL")->key,
			"APR-REPORT-WRONG-LEVEL|LY-TEST|C-1");
		assert_int_equal(fx_cond(fx, "APR-REPORT-WRONG-LEVEL")->since,
			T("2026-03-05T10:00:00+08:00"));
		assert_int_equal(fx_cond(fx, "APR-REPORT-WRONG-LEVEL")->severity, MON_SEVERITY_YELLOW);
	}
}

/* Nothing is above the 党委、政府主要领导: no level to judge (its refusal is still recorded
 * by its report). A feed without the levels has nothing to judge either. */
static void test_top_and_absent_levels(void **state)
{
	struct fx *fx = *state;

	assert_string_equal(denial(fx, SOLUTION ",\"refused_by\":\"party_government\","
		"\"report_to\":\"superior\""), "");
	fx_clear(fx);
	accept(fx);
	add(fx, "approval.decided", "2026-03-05T10:00:00+08:00", ",\"result\":\"denied\","
		"\"reason\":\"r\"" SOLUTION ",\"refused_by\":\"party_government\"");
	fx_eval(fx, "2026-03-06T12:00:00+08:00");
	assert_rules(fx, "APR-REFUSAL-NO-REPORT");
	assert_string_equal(denial(fx, SOLUTION ",\"report_to\":\"head\""), "");
	assert_string_equal(denial(fx, SOLUTION ",\"refused_by\":\"section\""), "");
	/* A head refusal is known only by its refused_by. */
	assert_string_equal(denial(fx, SOLUTION ",\"report_to\":\"superior\""), "");
}

/* 主要领导不批准的事项，要向市优化办予以备案. */
static void test_head_filing(void **state)
{
	struct fx *fx = *state;

	assert_string_equal(denial(fx, SOLUTION ",\"refused_by\":\"head\",\"report_to\":\"superior\""),
		"APR-REPORT-NOT-FILED");
	assert_string_equal(fx_cond(fx, "APR-REPORT-NOT-FILED")->message,
		"黄牌: 主要领导不批准未向市优化办备案 (denial by head not filed with youhuaban 市优化办)");
	assert_string_equal(fx_cond(fx, "APR-REPORT-NOT-FILED")->key,
		"APR-REPORT-NOT-FILED|LY-TEST|C-1");
	assert_string_equal(fx_cond(fx, "APR-REPORT-NOT-FILED")->evidence[0], "e2");
	assert_string_equal(denial(fx, SOLUTION FILED ",\"refused_by\":\"head\","
		"\"report_to\":\"superior\""), "");
	assert_string_equal(denial(fx, SOLUTION ",\"refused_by\":\"head\",\"report_to\":\"superior\","
		"\"filing\":{\"office\":\"city\",\"ref\":\"BA-1\"}"), "APR-REPORT-NOT-FILED");
	assert_string_equal(fx_cond(fx, "APR-REPORT-NOT-FILED")->message,
		"黄牌: 主要领导不批准未向市优化办备案 (denial by head filed with city, due with "
		"youhuaban 市优化办)");
	/* Only the head's refusals are filed. */
	assert_string_equal(denial(fx, SOLUTION ",\"refused_by\":\"deputy_head\","
		"\"report_to\":\"head\""), "");
	assert_string_equal(denial(fx, SOLUTION ",\"refused_by\":\"superior\","
		"\"report_to\":\"party_government\""), "");
	/* The office's name comes from the loaded table. */
	fx_load(fx, "filing_offices", "office,min_amount,max_amount,name\n"
		"youhuaban,3000.00,10000.00,洛阳市优化经济发展环境工作办公室（市优化办）\n");
	denial(fx, SOLUTION ",\"refused_by\":\"head\",\"report_to\":\"superior\"");
	assert_string_equal(fx_cond(fx, "APR-REPORT-NOT-FILED")->message,
		"黄牌: 主要领导不批准未向市优化办备案 (denial by head not filed with youhuaban "
		"洛阳市优化经济发展环境工作办公室（市优化办）)");
}

/* An intake refusal by the head, reported to the wrong level, without solution or filing. */
static void test_intake_refusal_levels(void **state)
{
	struct fx *fx = *state;

	add(fx, "approval.received", "2026-03-02T09:00:00+08:00", ",\"item\":\"T-10\"");
	add(fx, "approval.refused_intake", "2026-03-03T09:00:00+08:00", ",\"reason\":\"r\","
		"\"report\":\"BSL-1\",\"refused_by\":\"head\",\"report_to\":\"party_government\"");
	fx_eval(fx, "2026-03-06T12:00:00+08:00");
	assert_rules(fx, "APR-REPORT-NO-SOLUTION,APR-REPORT-NOT-FILED,APR-REPORT-WRONG-LEVEL");
	assert_string_equal(fx_cond(fx, "APR-REPORT-WRONG-LEVEL")->message,
		"黄牌: 未向上一级报告 (intake refusal by head reported to party_government, due to "
		"superior)");
	assert_string_equal(fx_cond(fx, "APR-REPORT-NOT-FILED")->message,
		"黄牌: 主要领导不批准未向市优化办备案 (intake refusal by head not filed with youhuaban "
		"市优化办)");
}

/* Each delay report is judged on its own, keyed by its id. */
static void test_delay_report_fields(void **state)
{
	struct fx *fx = *state;

	accept(fx);
	add(fx, "approval.delay_reported", "2026-03-12T10:00:00+08:00", ",\"by\":\"section\","
		"\"report_to\":\"deputy_head\",\"reason\":\"待专家意见\"" SOLUTION);
	fx_eval(fx, "2026-03-13T12:00:00+08:00");
	assert_rules(fx, "APR-DEADLINE-NOTICE");
	add(fx, "approval.delay_reported", "2026-03-13T10:00:00+08:00", ",\"by\":\"section\","
		"\"report_to\":\"head\",\"reason\":\"待专家意见\"");
	fx_eval(fx, "2026-03-13T12:00:00+08:00");
	assert_rules(fx, "APR-DEADLINE-NOTICE,APR-REPORT-NO-SOLUTION,APR-REPORT-WRONG-LEVEL");
	assert_string_equal(fx_cond(fx, "APR-REPORT-WRONG-LEVEL")->key,
		"APR-REPORT-WRONG-LEVEL|LY-TEST|C-1|e3");
	assert_string_equal(fx_cond(fx, "APR-REPORT-WRONG-LEVEL")->message,
		"黄牌: 未向上一级报告 (delay report by section reported to head, due to deputy_head)");
	assert_string_equal(fx_cond(fx, "APR-REPORT-NO-SOLUTION")->key,
		"APR-REPORT-NO-SOLUTION|LY-TEST|C-1|e3");
	assert_string_equal(fx_cond(fx, "APR-REPORT-NO-SOLUTION")->message,
		"黄牌: 未提出可行性解决建议 (delay report without a proposed solution)");
	assert_int_equal(fx_cond(fx, "APR-REPORT-NO-SOLUTION")->since, T("2026-03-13T10:00:00+08:00"));
	assert_string_equal(fx_cond(fx, "APR-REPORT-NO-SOLUTION")->evidence[0], "e3");
	/* A delay report is an approval event: late reporting measures it too. */
	fx->ces[2].received_at = T("2026-03-16T10:00:00+08:00");
	fx_eval(fx, "2026-03-16T12:00:00+08:00");
	assert_non_null(strstr(fx->rules, "APR-LATE-REPORT"));
}

/* The report due by the committed deadline (03-16 24:00), with none sent. */
static void test_delay_unreported_open(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	accept(fx);
	st = fx_eval(fx, "2026-03-17T00:00:00+08:00");
	assert_rules(fx, "APR-DEADLINE-NOTICE");
	assert_int_equal(st->next_check, T("2026-03-17T00:00:01+08:00"));
	fx_eval(fx, "2026-03-17T00:00:01+08:00");
	assert_rules(fx, "APR-DEADLINE-YELLOW,APR-DELAY-UNREPORTED");
	assert_int_equal(fx_cond(fx, "APR-DELAY-UNREPORTED")->since, T("2026-03-17T00:00:01+08:00"));
	assert_string_equal(fx_cond(fx, "APR-DELAY-UNREPORTED")->key,
		"APR-DELAY-UNREPORTED|LY-TEST|C-1");
	assert_string_equal(fx_cond(fx, "APR-DELAY-UNREPORTED")->message,
		"黄牌: 不能按时办结未按时报告 (committed deadline 2026-03-16 passed without a delay "
		"report)");
	assert_int_equal(fx_cond(fx, "APR-DELAY-UNREPORTED")->evidence_count, 1);
	assert_string_equal(fx_cond(fx, "APR-DELAY-UNREPORTED")->evidence[0], "e1");
	assert_string_equal(fx_cond(fx, "APR-DELAY-UNREPORTED")->supersedes, "");
	/* It stays when the case turns red. */
	fx_eval(fx, "2026-03-20T00:00:01+08:00");
	assert_rules(fx, "APR-DEADLINE-RED,APR-DELAY-UNREPORTED");
}

/* A delay report the second before, at and after the deadline's 24:00. */
static void test_delay_report_boundary(void **state)
{
	static const struct { const char *at; const char *rules; } cases[] = {
		{ "2026-03-16T23:59:59+08:00", "APR-DEADLINE-YELLOW" },
		{ "2026-03-17T00:00:00+08:00", "APR-DEADLINE-YELLOW" },
		{ "2026-03-17T00:00:01+08:00", "APR-DEADLINE-YELLOW,APR-DELAY-UNREPORTED" },
	};
	struct fx *fx = *state;
	const struct mon_case_state *st;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fx_clear(fx);
		accept(fx);
		add(fx, "approval.delay_reported", cases[i].at, ",\"by\":\"section\","
			"\"report_to\":\"deputy_head\",\"reason\":\"待检验报告\"" SOLUTION);
		/* It does not stop or move the clock: the yellow card stands beside it. */
		st = fx_eval(fx, "2026-03-18T12:00:00+08:00");
		assert_rules(fx, cases[i].rules);
		assert_int_equal(st->committed_day, D("2026-03-16"));
	}
	assert_string_equal(fx_cond(fx, "APR-DELAY-UNREPORTED")->message,
		"黄牌: 不能按时办结未按时报告 (committed deadline 2026-03-16, the delay report came "
		"after it)");
	assert_int_equal(fx_cond(fx, "APR-DELAY-UNREPORTED")->evidence_count, 2);
	assert_string_equal(fx_cond(fx, "APR-DELAY-UNREPORTED")->evidence[1], "e2");
	/* Sent in time: nothing more to wake up for. */
	fx_clear(fx);
	accept(fx);
	add(fx, "approval.delay_reported", "2026-03-16T10:00:00+08:00", ",\"by\":\"section\","
		"\"report_to\":\"deputy_head\",\"reason\":\"待检验报告\"" SOLUTION);
	st = fx_eval(fx, "2026-03-16T12:00:00+08:00");
	assert_rules(fx, "APR-DEADLINE-NOTICE");
	assert_int_equal(st->next_check, T("2026-03-17T00:00:01+08:00"));   /* the ladder's */
	fx_eval(fx, "2026-03-18T12:00:00+08:00");
	assert_rules(fx, "APR-DEADLINE-YELLOW");
}

/* Closed before, at and after the deadline without a report. */
static void test_delay_unreported_closed(void **state)
{
	static const struct { const char *at; const char *rules; } cases[] = {
		{ "2026-03-16T23:59:59+08:00", "" },
		{ "2026-03-17T00:00:00+08:00", "" },
		{ "2026-03-17T00:00:01+08:00", "APR-DEADLINE-YELLOW,APR-DELAY-UNREPORTED" },
	};
	struct fx *fx = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fx_clear(fx);
		accept(fx);
		add(fx, "approval.decided", cases[i].at, ",\"result\":\"approved\"");
		assert_int_equal(fx_eval(fx, "2026-04-30T12:00:00+08:00")->next_check, INT64_MAX);
		assert_rules(fx, cases[i].rules);
	}
	assert_string_equal(fx_cond(fx, "APR-DELAY-UNREPORTED")->message,
		"黄牌: 不能按时办结未按时报告 (closed after the committed deadline 2026-03-16 without a "
		"delay report)");
	assert_string_equal(fx_cond(fx, "APR-DELAY-UNREPORTED")->evidence[1], "e2");
	/* A withdrawal after the deadline closes it late too. */
	fx_clear(fx);
	accept(fx);
	add(fx, "approval.withdrawn", "2026-03-18T09:00:00+08:00", "");
	fx_eval(fx, "2026-04-30T12:00:00+08:00");
	assert_non_null(strstr(fx->rules, "APR-DELAY-UNREPORTED"));
}

/* The deadline is the ladder's: an extension moves it, a suspension short of it hides it. */
static void test_delay_deadline_moves(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	accept(fx);
	/* 5 more days: 03-17..20, 03-23: committed deadline 2026-03-23 24:00. */
	add(fx, "approval.extended", "2026-03-10T10:00:00+08:00", ",\"days\":5,\"approver\":\"P1\"");
	st = fx_eval(fx, "2026-03-24T00:00:00+08:00");
	assert_null(strstr(fx->rules, "APR-DELAY-UNREPORTED"));
	assert_int_equal(st->next_check, T("2026-03-24T00:00:01+08:00"));
	fx_eval(fx, "2026-03-24T00:00:01+08:00");
	assert_int_equal(fx_cond(fx, "APR-DELAY-UNREPORTED")->since, T("2026-03-24T00:00:01+08:00"));
	/* Suspended on 03-12 (day 8 done) and still suspended: the deadline is unknown. */
	fx_clear(fx);
	accept(fx);
	add(fx, "approval.suspended", "2026-03-12T10:00:00+08:00", ",\"kind\":\"testing\",\"days\":30");
	fx_eval(fx, "2026-03-30T12:00:00+08:00");
	assert_null(strstr(fx->rules, "APR-DELAY-UNREPORTED"));
	/* Never accepted (a supplement was asked for in time, so no §32 deemed acceptance
	 * either): no deadline, nothing due. */
	fx_clear(fx);
	add(fx, "approval.received", "2026-03-02T09:00:00+08:00", ",\"item\":\"T-10\"");
	add(fx, "approval.supplement_requested", "2026-03-03T09:00:00+08:00", "");
	fx_eval(fx, "2026-06-30T12:00:00+08:00");
	assert_rules(fx, "");
	/* Deemed accepted by §32 (received, then nothing): the card's evidence is the receipt
	 * the clock runs from — a condition without evidence of its own case is refused by the
	 * database (esup_check_condition), and would hold up the department's ingest. */
	fx_clear(fx);
	add(fx, "approval.received", "2026-03-02T09:00:00+08:00", ",\"item\":\"T-10\"");
	fx_eval(fx, "2026-06-30T12:00:00+08:00");
	assert_int_equal(fx_cond(fx, "APR-DELAY-UNREPORTED")->evidence_count, 1);
	assert_string_equal(fx_cond(fx, "APR-DELAY-UNREPORTED")->evidence[0], "e1");
}

/* The rules can be switched off one by one like any other. */
static void test_switches(void **state)
{
	struct fx *fx = *state;
	struct mon_error err;

	assert_true(mon_ruleset_disable_rule(fx->rs, "APR-REPORT-NO-SOLUTION", &err));
	assert_true(mon_ruleset_disable_rule(fx->rs, "APR-REPORT-WRONG-LEVEL", &err));
	assert_string_equal(denial(fx, ",\"refused_by\":\"head\",\"report_to\":\"head\""),
		"APR-REPORT-NOT-FILED");
	assert_true(mon_ruleset_disable_rule(fx->rs, "APR-REPORT-NOT-FILED", &err));
	assert_string_equal(denial(fx, ",\"refused_by\":\"head\",\"report_to\":\"head\""), "");
}

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, fx_teardown)
static const struct CMUnitTest tests[] = {
	TEST(test_reason_and_report),
	TEST(test_right_level),
	TEST(test_wrong_level),
	TEST(test_top_and_absent_levels),
	TEST(test_head_filing),
	TEST(test_intake_refusal_levels),
	TEST(test_delay_report_fields),
	TEST(test_delay_unreported_open),
	TEST(test_delay_report_boundary),
	TEST(test_delay_unreported_closed),
	TEST(test_delay_deadline_moves),
	TEST(test_switches),
};
#undef TEST

FX_MAIN(tests)
