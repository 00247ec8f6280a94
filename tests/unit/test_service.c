/* test_service.c: complaints, first inquiries and unsatisfied evaluations at their limits:
 * the second before, at and after each deadline, the notice before it, the ladder (red
 * supersedes yellow supersedes notice), the next check, and what the case shows. Dates are
 * worked out by hand from the 2026 calendar in the comments. */
#include "case_fixture.h"

static void event(struct fx *fx, const char *id, const char *type, const char *at,
		const char *extra)
{
	fx_add(fx, "{\"id\":\"%s\",\"dept\":\"LY-HBJ\",\"type\":\"%s\",\"at\":\"%s\","
		"\"case\":\"TS-1\"%s}", id, type, at, extra);
}

/* Received Monday 2026-03-02 10:00. Reply: 5 working days 03-03..03-06, 03-09: due 03-09
 * 24:00; notice 2 days ahead, from the end of the 3rd day (03-05). Closure: 15 working
 * days, 03-03..03-06, 03-09..03-13, 03-16..03-20, 03-23: due 03-23; notice after 03-19. */
static void test_complaint_ladder(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;
	const struct mon_condition *c;

	event(fx, "c1", "complaint.received", "2026-03-02T10:00:00+08:00", "");
	st = fx_eval(fx, "2026-03-06T00:00:00+08:00");
	assert_rules(fx, "");
	assert_int_equal(st->status, MON_CASE_ACCEPTED);
	assert_int_equal(st->next_check, T("2026-03-06T00:00:01+08:00"));
	assert_int_equal(st->committed_day, D("2026-03-09"));
	assert_int_equal(st->statutory_day, D("2026-03-23"));
	assert_int_equal(st->committed_days, 5);
	assert_int_equal(st->statutory_days, 15);
	assert_int_equal(st->counted_days, 4);   /* 03-03..03-06, today included */

	st = fx_eval(fx, "2026-03-06T00:00:01+08:00");
	assert_rules(fx, "CMP-DEADLINE-NOTICE");
	c = fx_cond(fx, "CMP-DEADLINE-NOTICE");
	assert_string_equal(c->key, "CMP-DEADLINE-NOTICE|LY-HBJ|TS-1|reply");
	assert_int_equal(c->since, T("2026-03-06T00:00:01+08:00"));
	assert_int_equal(st->next_check, T("2026-03-10T00:00:01+08:00"));

	fx_eval(fx, "2026-03-10T00:00:00+08:00");
	assert_rules(fx, "CMP-DEADLINE-NOTICE");
	st = fx_eval(fx, "2026-03-10T00:00:01+08:00");
	assert_rules(fx, "CMP-REPLY-LATE");
	c = fx_cond(fx, "CMP-REPLY-LATE");
	assert_string_equal(c->supersedes, "CMP-DEADLINE-NOTICE");
	assert_string_equal(c->key, "CMP-REPLY-LATE|LY-HBJ|TS-1");
	assert_int_equal(st->level, MON_SEVERITY_YELLOW);
	assert_int_equal(st->next_check, T("2026-03-20T00:00:01+08:00"));

	fx_eval(fx, "2026-03-24T00:00:00+08:00");
	assert_rules(fx, "CMP-REPLY-LATE");
	st = fx_eval(fx, "2026-03-24T00:00:01+08:00");
	assert_rules(fx, "CMP-CLOSE-LATE");
	c = fx_cond(fx, "CMP-CLOSE-LATE");
	assert_string_equal(c->supersedes, "CMP-REPLY-LATE");
	assert_int_equal(c->severity, MON_SEVERITY_RED);
	assert_int_equal(c->since, T("2026-03-24T00:00:01+08:00"));
	assert_int_equal(st->next_check, INT64_MAX);
}

static void test_complaint_in_time(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	event(fx, "c1", "complaint.received", "2026-03-02T10:00:00+08:00", "");
	event(fx, "c2", "complaint.replied", "2026-03-09T23:59:59+08:00", "");
	/* Replied in time: the closure's notice comes next, after 03-19. */
	st = fx_eval(fx, "2026-03-20T00:00:00+08:00");
	assert_rules(fx, "");
	assert_int_equal(st->next_check, T("2026-03-20T00:00:01+08:00"));
	fx_eval(fx, "2026-03-20T00:00:01+08:00");
	assert_rules(fx, "CMP-DEADLINE-NOTICE");
	assert_string_equal(fx->ev.conditions[0].key, "CMP-DEADLINE-NOTICE|LY-HBJ|TS-1|close");
	/* Closed at the last second: clean for good. */
	event(fx, "c3", "complaint.closed", "2026-03-23T23:59:59+08:00", "");
	st = fx_eval(fx, "2026-06-01T00:00:00+08:00");
	assert_rules(fx, "");
	assert_int_equal(st->status, MON_CASE_DECIDED);
	assert_int_equal(st->next_check, INT64_MAX);
	assert_int_equal(st->counted_days, 15);
}

static void test_complaint_closed_late(void **state)
{
	struct fx *fx = *state;

	/* Closing answers the complaint: a closure on 03-10 is a late reply, nothing more. */
	event(fx, "c1", "complaint.received", "2026-03-02T10:00:00+08:00", "");
	event(fx, "c3", "complaint.closed", "2026-03-10T00:00:01+08:00", "");
	fx_eval(fx, "2026-06-01T00:00:00+08:00");
	assert_rules(fx, "CMP-REPLY-LATE");
	assert_int_equal(fx_cond(fx, "CMP-REPLY-LATE")->evidence_count, 2);
	/* Closed a second after its limit: red, even with the reply in time. */
	fx_clear(fx);
	event(fx, "c1", "complaint.received", "2026-03-02T10:00:00+08:00", "");
	event(fx, "c2", "complaint.replied", "2026-03-03T10:00:00+08:00", "");
	event(fx, "c3", "complaint.closed", "2026-03-24T00:00:01+08:00", "");
	fx_eval(fx, "2026-06-01T00:00:00+08:00");
	assert_rules(fx, "CMP-CLOSE-LATE");
	assert_non_null(strstr(fx_cond(fx, "CMP-CLOSE-LATE")->message, "closed late"));
	/* The limits are parameters; with yellow switched off the notice stays. */
	fx_clear(fx);
	fx_param(fx, "complaint_reply_days", 1);
	fx_param(fx, "warn_days", 0);
	event(fx, "c1", "complaint.received", "2026-03-02T10:00:00+08:00", "");
	fx_eval(fx, "2026-03-04T00:00:01+08:00");
	assert_rules(fx, "CMP-REPLY-LATE");
	assert_non_null(strstr(fx_cond(fx, "CMP-REPLY-LATE")->message, "2026-03-03"));
}

/* 首问负责: one working day. Received Friday 03-20: due Monday 03-23 24:00. */
static void test_inquiry(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	event(fx, "q1", "inquiry.received", "2026-03-20T16:30:00+08:00", "");
	st = fx_eval(fx, "2026-03-24T00:00:00+08:00");
	assert_rules(fx, "");
	assert_int_equal(st->next_check, T("2026-03-24T00:00:01+08:00"));
	assert_int_equal(st->committed_day, D("2026-03-23"));
	st = fx_eval(fx, "2026-03-24T00:00:01+08:00");
	assert_rules(fx, "CMP-INQUIRY-LATE");
	assert_string_equal(fx_cond(fx, "CMP-INQUIRY-LATE")->key, "CMP-INQUIRY-LATE|LY-HBJ|TS-1");
	assert_int_equal(st->status, MON_CASE_ACCEPTED);
	event(fx, "q2", "inquiry.answered", "2026-03-23T23:59:59+08:00", "");
	st = fx_eval(fx, "2026-03-30T00:00:00+08:00");
	assert_rules(fx, "");
	assert_int_equal(st->status, MON_CASE_DECIDED);
	/* Received on a Saturday: the one working day is Monday. And answered late. */
	fx_clear(fx);
	event(fx, "q1", "inquiry.received", "2026-03-21T10:00:00+08:00", "");
	event(fx, "q2", "inquiry.answered", "2026-03-24T08:00:00+08:00", "");
	fx_eval(fx, "2026-03-30T00:00:00+08:00");
	assert_rules(fx, "CMP-INQUIRY-LATE");
	assert_non_null(strstr(fx_cond(fx, "CMP-INQUIRY-LATE")->message, "answered late"));
	assert_non_null(strstr(fx_cond(fx, "CMP-INQUIRY-LATE")->message, "2026-03-23"));
}

/* An unsatisfied evaluation on Wednesday 03-18: 15 working days are 03-19..03-20,
 * 03-23..03-27, 03-30..04-03, then (04-04..04-06 the Qingming holiday) 04-07..04-09. */
static void test_rectification(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;
	const struct mon_condition *c;

	event(fx, "e1", "evaluation.received", "2026-03-18T09:45:00+08:00", ",\"satisfied\":false");
	st = fx_eval(fx, "2026-03-18T09:45:00+08:00");
	assert_rules(fx, "CMP-UNSATISFIED");
	c = fx_cond(fx, "CMP-UNSATISFIED");
	assert_string_equal(c->key, "CMP-UNSATISFIED|LY-HBJ|TS-1|e1");
	assert_int_equal(c->since, T("2026-03-18T09:45:00+08:00"));
	assert_non_null(strstr(c->message, "2026-04-09"));
	assert_int_equal(st->next_check, T("2026-04-10T00:00:01+08:00"));
	assert_int_equal(st->status, MON_CASE_ACCEPTED);
	fx_eval(fx, "2026-04-10T00:00:00+08:00");
	assert_rules(fx, "CMP-UNSATISFIED");
	st = fx_eval(fx, "2026-04-10T00:00:01+08:00");
	assert_rules(fx, "CMP-RECTIFY-LATE");
	assert_string_equal(fx_cond(fx, "CMP-RECTIFY-LATE")->supersedes, "CMP-UNSATISFIED");
	assert_string_equal(fx_cond(fx, "CMP-RECTIFY-LATE")->key, "CMP-RECTIFY-LATE|LY-HBJ|TS-1|e1");
	assert_int_equal(st->next_check, INT64_MAX);
	/* Rectified at the last second: the notice goes (its alert is resolved), nothing else. */
	event(fx, "e2", "evaluation.rectified", "2026-04-10T00:00:00+08:00", ",\"note\":\"已整改\"");
	st = fx_eval(fx, "2026-04-20T00:00:00+08:00");
	assert_rules(fx, "");
	assert_int_equal(st->status, MON_CASE_DECIDED);
}

static void test_rectification_late_or_stray(void **state)
{
	struct fx *fx = *state;

	/* A rectification dated before the evaluation does not close it. */
	event(fx, "e0", "evaluation.rectified", "2026-03-17T10:00:00+08:00", "");
	event(fx, "e1", "evaluation.received", "2026-03-18T09:45:00+08:00", ",\"satisfied\":false");
	event(fx, "e2", "evaluation.received", "2026-03-18T09:50:00+08:00", ",\"satisfied\":true");
	fx_eval(fx, "2026-03-20T00:00:00+08:00");
	assert_rules(fx, "CMP-UNSATISFIED");
	event(fx, "e3", "evaluation.rectified", "2026-04-10T00:00:01+08:00", "");
	fx_eval(fx, "2026-04-20T00:00:00+08:00");
	assert_rules(fx, "CMP-RECTIFY-LATE");
	assert_non_null(strstr(fx_cond(fx, "CMP-RECTIFY-LATE")->message, "rectified late"));
	/* rectify_days is a parameter. */
	fx_param(fx, "rectify_days", 20);
	fx_eval(fx, "2026-04-20T00:00:00+08:00");
	assert_rules(fx, "");
}

/* Without a case nothing can close the rectification: a notice alone, nothing to wake. */
static void test_evaluation_without_case(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	fx_add(fx, "{\"id\":\"pj-1\",\"dept\":\"LY-ZJJ\",\"type\":\"evaluation.received\",\"at\":"
		"\"2026-11-20T15:00:00+08:00\",\"satisfied\":false,\"window\":\"3号窗口\"}");
	st = fx_eval(fx, "2027-06-01T00:00:00+08:00");
	assert_rules(fx, "CMP-UNSATISFIED");
	assert_string_equal(fx_cond(fx, "CMP-UNSATISFIED")->key, "CMP-UNSATISFIED|LY-ZJJ||pj-1");
	assert_int_equal(st->next_check, INT64_MAX);
	assert_int_equal(st->status, MON_CASE_DECIDED);
}

int main(int argc, char **argv);

#define TEST(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
static const struct CMUnitTest tests[] = {
	TEST(test_complaint_ladder),
	TEST(test_complaint_in_time),
	TEST(test_complaint_closed_late),
	TEST(test_inquiry),
	TEST(test_rectification),
	TEST(test_rectification_late_or_stray),
	TEST(test_evaluation_without_case),
};

FX_MAIN(tests)
