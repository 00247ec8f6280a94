/* test_facts.c: the case facts statistics read (struct mon_case_facts) at their boundaries:
 * decided on the last allowed day is on time and a second later is not, for the committed
 * and the statutory limit, with a suspension and with an extension, always agreeing with
 * the ladder's yellow and red; results, refusal reports, supplements and the applicant; a
 * complaint answered and closed on its deadline and a second after; late and out-of-order
 * events re-deriving the facts; and their JSON. Dates are worked out by hand from the 2026
 * calendar (March 2026 has no holiday). */
#include "case_fixture.h"

/* T-10: 10 committed / 20 statutory working days; T-3: 3 / 5. */
static const char items_csv[] =
	"code,dept,name,statutory_days,committed_days,unit,warn_days,step_days\n"
	"T-10,LY-TEST,ten working days,20,10,working,,\n"
	"T-3,LY-TEST,three working days,5,3,working,,\n";

#define USCC "91410300MA44ABCD1R"

static int setup(void **state)
{
	struct fx *fx = fx_create();

	fx_load(fx, "items", items_csv);
	*state = fx;
	return 0;
}

static void event(struct fx *fx, const char *id, const char *type, const char *at,
		const char *extra)
{
	fx_add(fx, "{\"id\":\"%s\",\"dept\":\"LY-TEST\",\"type\":\"%s\",\"at\":\"%s\","
		"\"case\":\"C-1\"%s}", id, type, at, extra);
}

static void accepted(struct fx *fx, const char *at, const char *item)
{
	char extra[128];

	snprintf(extra, sizeof(extra), ",\"item\":\"%s\",\"applicant\":{\"uscc\":\"%s\"}", item,
		USCC);
	event(fx, "a", "approval.accepted", at, extra);
}

static void decided(struct fx *fx, const char *at, const char *result)
{
	char extra[64];

	snprintf(extra, sizeof(extra), ",\"result\":\"%s\",\"reason\":\"r\",\"report\":\"B-1\"",
		result);
	event(fx, "d", "approval.decided", at, extra);
}

/* Replaces the last event (the decision) by one at another time. */
static void redecide(struct fx *fx, const char *at)
{
	mon_event_finish(&fx->events[--fx->count]);
	decided(fx, at, "approved");
}

static bool has_rule(const struct fx *fx, const char *rule)
{
	return strstr(fx->rules, rule) != NULL;
}

/* T-10 accepted Monday 03-02: committed 10 working days 03-03..06, 09..13, 16: last day
 * 03-16; statutory 20: 17..20, 23..27, 30: last day 03-30. Decided at 03-16 24:00 is on
 * time, one second later is not (and the ladder shows yellow); the same for 03-30 and red
 * (督办 is set long, so that red can come from the statutory limit alone). */
static void test_decided_on_the_last_day(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	fx_param(fx, "supervise_days", 30);
	accepted(fx, "2026-03-02T10:00:00+08:00", "T-10");
	decided(fx, "2026-03-17T00:00:00+08:00", "approved");
	st = fx_eval(fx, "2026-04-30T12:00:00+08:00");
	assert_int_equal(st->committed_day, D("2026-03-16"));
	assert_int_equal(st->statutory_day, D("2026-03-30"));
	assert_int_equal(st->facts.kind, MON_KIND_APPROVAL);
	assert_int_equal(st->facts.result, MON_RESULT_APPROVED);
	assert_int_equal(st->facts.accepted_at, T("2026-03-02T10:00:00+08:00"));
	assert_int_equal(st->facts.closed_at, T("2026-03-17T00:00:00+08:00"));
	assert_true(st->facts.received_at == MON_TIME_NONE);
	assert_int_equal(st->facts.on_time_committed, MON_TRI_TRUE);
	assert_int_equal(st->facts.on_time_statutory, MON_TRI_TRUE);
	assert_int_equal(st->facts.reported, MON_TRI_NULL);   /* approved: no refusal */
	assert_string_equal(st->facts.applicant, USCC);
	assert_false(has_rule(fx, "APR-DEADLINE-YELLOW"));

	redecide(fx, "2026-03-17T00:00:01+08:00");
	st = fx_eval(fx, "2026-04-30T12:00:00+08:00");
	assert_int_equal(st->facts.on_time_committed, MON_TRI_FALSE);
	assert_int_equal(st->facts.on_time_statutory, MON_TRI_TRUE);
	assert_true(has_rule(fx, "APR-DEADLINE-YELLOW"));

	redecide(fx, "2026-03-30T23:59:59+08:00");
	st = fx_eval(fx, "2026-04-30T12:00:00+08:00");
	assert_int_equal(st->facts.on_time_statutory, MON_TRI_TRUE);
	assert_false(has_rule(fx, "APR-DEADLINE-RED"));

	redecide(fx, "2026-03-31T09:00:00+08:00");
	st = fx_eval(fx, "2026-04-30T12:00:00+08:00");
	assert_int_equal(st->facts.on_time_committed, MON_TRI_FALSE);
	assert_int_equal(st->facts.on_time_statutory, MON_TRI_FALSE);
	assert_true(has_rule(fx, "APR-DEADLINE-RED"));
}

/* T-10 accepted Friday 03-06: 09..13, 16..20: last day Friday 03-20. Decided on Saturday
 * 03-21 is late, as the ladder says, though the Saturday does not count and counted_days
 * equals the limit. */
static void test_weekend_decision_after_the_last_day(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	accepted(fx, "2026-03-06T10:00:00+08:00", "T-10");
	decided(fx, "2026-03-21T10:00:00+08:00", "approved");
	st = fx_eval(fx, "2026-04-30T12:00:00+08:00");
	assert_int_equal(st->committed_day, D("2026-03-20"));
	assert_int_equal(st->counted_days, 10);
	assert_int_equal(st->facts.on_time_committed, MON_TRI_FALSE);
	assert_true(has_rule(fx, "APR-DEADLINE-YELLOW"));
}

/* T-10 accepted 03-02, suspended 03-04 10:00, resumed 03-06 00:00: 03-04 does not count,
 * so the committed last day moves from 03-16 to 03-17 (test_case.c works it out). Decided
 * on 03-17 is on time; without the suspension it would not be, and the suspension arriving
 * late (after the decision was stored) puts it right. */
static void test_suspension_moves_the_last_day(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	accepted(fx, "2026-03-02T09:00:00+08:00", "T-10");
	decided(fx, "2026-03-17T16:00:00+08:00", "denied");
	st = fx_eval(fx, "2026-04-30T12:00:00+08:00");
	assert_int_equal(st->facts.on_time_committed, MON_TRI_FALSE);
	assert_int_equal(st->facts.result, MON_RESULT_DENIED);
	assert_int_equal(st->facts.reported, MON_TRI_TRUE);

	/* The suspension reaches us after the decision: the same case, re-derived. */
	fx_clear(fx);
	accepted(fx, "2026-03-02T09:00:00+08:00", "T-10");
	event(fx, "s", "approval.suspended", "2026-03-04T10:00:00+08:00",
		",\"kind\":\"hearing\",\"days\":5,\"approver\":\"P1\"");
	fx->ces[fx->count - 1].received_at = T("2026-03-18T09:00:00+08:00");
	event(fx, "r", "approval.resumed", "2026-03-06T00:00:00+08:00", "");
	fx->ces[fx->count - 1].received_at = T("2026-03-18T09:00:00+08:00");
	decided(fx, "2026-03-17T16:00:00+08:00", "denied");
	st = fx_eval(fx, "2026-04-30T12:00:00+08:00");
	assert_int_equal(st->committed_day, D("2026-03-17"));
	assert_int_equal(st->suspended_days, 1);
	assert_int_equal(st->facts.on_time_committed, MON_TRI_TRUE);
	assert_int_equal(st->facts.on_time_statutory, MON_TRI_TRUE);
	assert_false(has_rule(fx, "APR-DEADLINE-YELLOW"));

	/* One day later is late again. */
	redecide(fx, "2026-03-18T09:00:00+08:00");
	st = fx_eval(fx, "2026-04-30T12:00:00+08:00");
	assert_int_equal(st->facts.on_time_committed, MON_TRI_FALSE);
	assert_true(has_rule(fx, "APR-DEADLINE-YELLOW"));
}

/* T-3 accepted Monday 03-02: 3 days, last day 03-05. An approved extension of 2 days moves
 * it to 03-09 (03-06, then the weekend, then Monday). */
static void test_extension_moves_the_last_day(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	accepted(fx, "2026-03-02T09:00:00+08:00", "T-3");
	event(fx, "x", "approval.extended", "2026-03-04T10:00:00+08:00",
		",\"days\":2,\"approver\":\"H\"");
	decided(fx, "2026-03-09T17:00:00+08:00", "approved");
	st = fx_eval(fx, "2026-04-30T12:00:00+08:00");
	assert_int_equal(st->committed_day, D("2026-03-09"));
	assert_int_equal(st->facts.on_time_committed, MON_TRI_TRUE);
	redecide(fx, "2026-03-10T08:00:00+08:00");
	st = fx_eval(fx, "2026-04-30T12:00:00+08:00");
	assert_int_equal(st->facts.on_time_committed, MON_TRI_FALSE);
	assert_int_equal(st->facts.on_time_statutory, MON_TRI_TRUE);   /* 5 + 2: 03-11 */
}

/* Events in any order give the same facts: the decision first, the receipt last. Received
 * with supplements, refused at intake without a report: no clock, so on time is NULL. */
static void test_refused_intake_out_of_order(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	event(fx, "z", "approval.refused_intake", "2026-03-06T10:00:00+08:00", ",\"reason\":\"r\"");
	event(fx, "s2", "approval.supplement_requested", "2026-03-04T10:00:00+08:00", "");
	event(fx, "s1", "approval.supplement_requested", "2026-03-03T10:00:00+08:00", "");
	event(fx, "q", "approval.received", "2026-03-02T10:00:00+08:00",
		",\"item\":\"T-3\",\"applicant\":{\"uscc\":\"" USCC "\"}");
	st = fx_eval(fx, "2026-04-30T12:00:00+08:00");
	assert_int_equal(st->facts.kind, MON_KIND_APPROVAL);
	assert_int_equal(st->facts.result, MON_RESULT_REFUSED_INTAKE);
	assert_int_equal(st->facts.reported, MON_TRI_FALSE);
	assert_int_equal(st->facts.supplements, 2);
	assert_int_equal(st->facts.received_at, T("2026-03-02T10:00:00+08:00"));
	assert_true(st->facts.accepted_at == MON_TIME_NONE);
	assert_int_equal(st->facts.closed_at, T("2026-03-06T10:00:00+08:00"));
	assert_int_equal(st->facts.on_time_committed, MON_TRI_NULL);
	assert_int_equal(st->facts.on_time_statutory, MON_TRI_NULL);
	assert_string_equal(st->facts.applicant, USCC);
}

/* Open, withdrawn, and decided on an uncatalogued item (no limit: on time unknown). */
static void test_open_withdrawn_and_unknown_item(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	event(fx, "a", "approval.accepted", "2026-03-02T09:00:00+08:00", ",\"item\":\"NOPE\"");
	st = fx_eval(fx, "2026-03-05T12:00:00+08:00");
	assert_int_equal(st->facts.result, MON_RESULT_NONE);
	assert_true(st->facts.closed_at == MON_TIME_NONE);
	assert_string_equal(st->facts.applicant, "");
	decided(fx, "2026-03-05T09:00:00+08:00", "approved");
	st = fx_eval(fx, "2026-03-05T12:00:00+08:00");
	assert_int_equal(st->facts.result, MON_RESULT_APPROVED);
	assert_int_equal(st->facts.on_time_committed, MON_TRI_NULL);
	assert_int_equal(st->facts.on_time_statutory, MON_TRI_NULL);

	fx_clear(fx);
	accepted(fx, "2026-03-02T09:00:00+08:00", "T-3");
	event(fx, "w", "approval.withdrawn", "2026-03-03T09:00:00+08:00", "");
	st = fx_eval(fx, "2026-03-05T12:00:00+08:00");
	assert_int_equal(st->facts.result, MON_RESULT_WITHDRAWN);
	assert_int_equal(st->facts.reported, MON_TRI_NULL);
	assert_int_equal(st->facts.on_time_committed, MON_TRI_NULL);
}

static void complaint(struct fx *fx, const char *id, const char *type, const char *at)
{
	fx_add(fx, "{\"id\":\"%s\",\"dept\":\"LY-TEST\",\"type\":\"%s\",\"at\":\"%s\","
		"\"case\":\"TS-1\"}", id, type, at);
}

/* Received Monday 03-02 10:00: the reply is due by 03-09 24:00 (5 working days), the
 * closure by 03-23 24:00 (15), as test_service.c works out. Replied at the deadline is on
 * time, a second later is not; while in time and unanswered the fact is unknown, once the
 * deadline passed unanswered it is false. */
static void test_complaint_on_its_deadlines(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	complaint(fx, "c1", "complaint.received", "2026-03-02T10:00:00+08:00");
	st = fx_eval(fx, "2026-03-10T00:00:00+08:00");
	assert_int_equal(st->facts.kind, MON_KIND_COMPLAINT);
	assert_int_equal(st->facts.received_at, T("2026-03-02T10:00:00+08:00"));
	assert_int_equal(st->facts.reply_on_time, MON_TRI_NULL);
	assert_int_equal(st->facts.close_on_time, MON_TRI_NULL);
	assert_true(st->facts.replied_at == MON_TIME_NONE);
	st = fx_eval(fx, "2026-03-10T00:00:01+08:00");
	assert_int_equal(st->facts.reply_on_time, MON_TRI_FALSE);
	assert_rules(fx, "CMP-REPLY-LATE");

	complaint(fx, "c2", "complaint.replied", "2026-03-10T00:00:01+08:00");
	st = fx_eval(fx, "2026-03-12T00:00:00+08:00");
	assert_int_equal(st->facts.replied_at, T("2026-03-10T00:00:01+08:00"));
	assert_int_equal(st->facts.reply_on_time, MON_TRI_FALSE);
	assert_rules(fx, "CMP-REPLY-LATE");

	mon_event_finish(&fx->events[--fx->count]);
	complaint(fx, "c2", "complaint.replied", "2026-03-10T00:00:00+08:00");
	st = fx_eval(fx, "2026-03-12T00:00:00+08:00");
	assert_int_equal(st->facts.replied_at, T("2026-03-10T00:00:00+08:00"));
	assert_int_equal(st->facts.reply_on_time, MON_TRI_TRUE);
	assert_rules(fx, "");

	complaint(fx, "c3", "complaint.closed", "2026-03-24T00:00:00+08:00");
	st = fx_eval(fx, "2026-04-12T00:00:00+08:00");
	assert_int_equal(st->facts.result, MON_RESULT_CLOSED);
	assert_int_equal(st->facts.closed_at, T("2026-03-24T00:00:00+08:00"));
	assert_int_equal(st->facts.close_on_time, MON_TRI_TRUE);
	assert_int_equal(st->facts.on_time_committed, MON_TRI_NULL);

	mon_event_finish(&fx->events[--fx->count]);
	complaint(fx, "c3", "complaint.closed", "2026-03-24T00:00:01+08:00");
	st = fx_eval(fx, "2026-04-12T00:00:00+08:00");
	assert_int_equal(st->facts.close_on_time, MON_TRI_FALSE);
	assert_rules(fx, "CMP-CLOSE-LATE");
}

/* Closing answers: closed before any reply, the closure is the answer. */
static void test_complaint_closed_without_reply(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	complaint(fx, "c1", "complaint.received", "2026-03-02T10:00:00+08:00");
	complaint(fx, "c3", "complaint.closed", "2026-03-04T10:00:00+08:00");
	complaint(fx, "c2", "complaint.replied", "2026-03-05T10:00:00+08:00");
	st = fx_eval(fx, "2026-04-12T00:00:00+08:00");
	assert_int_equal(st->facts.replied_at, T("2026-03-04T10:00:00+08:00"));
	assert_int_equal(st->facts.reply_on_time, MON_TRI_TRUE);
	assert_int_equal(st->facts.close_on_time, MON_TRI_TRUE);
}

/* Neither approval nor complaint: kind other, nothing else. */
static void test_other_case(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	fx_add(fx, "{\"id\":\"i1\",\"dept\":\"LY-TEST\",\"type\":\"inquiry.received\","
		"\"at\":\"2026-03-02T10:00:00+08:00\",\"case\":\"ZX-1\"}");
	st = fx_eval(fx, "2026-03-02T12:00:00+08:00");
	assert_int_equal(st->facts.kind, MON_KIND_OTHER);
	assert_int_equal(st->facts.result, MON_RESULT_NONE);
	assert_true(st->facts.received_at == MON_TIME_NONE);
	assert_true(st->facts.replied_at == MON_TIME_NONE);
	assert_int_equal(st->facts.reply_on_time, MON_TRI_NULL);
}

static void test_json(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;
	json_t *j;
	char *text;

	accepted(fx, "2026-03-02T10:00:00+08:00", "T-10");
	decided(fx, "2026-03-17T00:00:01+08:00", "denied");
	st = fx_eval(fx, "2026-04-30T12:00:00+08:00");
	j = mon_case_facts_json(&st->facts, 0);
	assert_non_null(j);
	text = json_dumps(j, JSON_COMPACT);
	assert_string_equal(text, "{\"kind\":\"approval\",\"received_at\":null,"
		"\"accepted_at\":\"2026-03-02T02:00:00Z\","
		"\"closed_at\":\"2026-03-16T16:00:01Z\",\"result\":\"denied\","
		"\"reported\":true,\"supplements\":0,\"on_time_committed\":false,"
		"\"on_time_statutory\":true,\"replied_at\":null,\"reply_on_time\":null,"
		"\"close_on_time\":null,\"applicant\":\"" USCC "\"}");
	free(text);
	json_decref(j);
}

#define T_(f) cmocka_unit_test_setup_teardown(f, setup, fx_teardown)

static const struct CMUnitTest tests[] = {
	T_(test_decided_on_the_last_day),
	T_(test_weekend_decision_after_the_last_day),
	T_(test_suspension_moves_the_last_day),
	T_(test_extension_moves_the_last_day),
	T_(test_refused_intake_out_of_order),
	T_(test_open_withdrawn_and_unknown_item),
	T_(test_complaint_on_its_deadlines),
	T_(test_complaint_closed_without_reply),
	T_(test_other_case),
	T_(test_json),
};

FX_MAIN(tests)
