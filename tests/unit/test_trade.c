/* test_trade.c: public resource trading at its boundaries: 20 days (by local date) from
 * issuing the tender documents to the bid deadline, bids opened a second before and at
 * the deadline (also after an amended announcement) and at and past the tolerance after it,
 * and 3 days of award publicity. */
#include "case_fixture.h"

static void announce(struct fx *fx, const char *id, const char *at, const char *issued,
		const char *deadline)
{
	fx_add(fx, "{\"id\":\"%s\",\"dept\":\"LY-GGZY\",\"type\":\"trade.announced\",\"at\":\"%s\","
		"\"case\":\"JY-1\",\"documents_issued\":\"%s\",\"bid_deadline\":\"%s\"}", id, at,
		issued, deadline);
}

static const char *period_verdict(struct fx *fx, const char *issued, const char *deadline)
{
	fx_clear(fx);
	announce(fx, "a1", issued, issued, deadline);
	fx_eval(fx, "2026-06-01T00:00:00+08:00");
	return fx->rules;
}

/* §24: at least 20 days; the issuing day is not one of them, so 03-04 to 03-24 is 20. A
 * deadline at 03-24 00:00:00 is 03-23 24:00 (民法典 §203): 19 days, like 03-23 23:59:59. */
static void test_bid_period(void **state)
{
	struct fx *fx = *state;
	const struct mon_condition *c;

	assert_string_equal(period_verdict(fx, "2026-03-04T09:00:00+08:00",
		"2026-03-24T00:00:01+08:00"), "");
	assert_string_equal(period_verdict(fx, "2026-03-04T09:00:00+08:00",
		"2026-03-23T23:59:59+08:00"), "TRD-BID-PERIOD");
	c = fx_cond(fx, "TRD-BID-PERIOD");
	assert_string_equal(c->key, "TRD-BID-PERIOD|LY-GGZY|JY-1|a1");
	assert_int_equal(c->severity, MON_SEVERITY_YELLOW);
	assert_non_null(strstr(c->message, "19 days"));
	assert_string_equal(period_verdict(fx, "2026-03-04T09:00:00+08:00",
		"2026-03-24T00:00:00+08:00"), "TRD-BID-PERIOD");
	assert_non_null(strstr(fx_cond(fx, "TRD-BID-PERIOD")->message,
		"(2026-03-04 to 2026-03-23: 19 days)"));
	/* Dates are Luoyang's: 16:30 UTC on the 23rd is already the 24th. */
	assert_string_equal(period_verdict(fx, "2026-03-04T09:00:00+08:00",
		"2026-03-23T16:30:00Z"), "");
	/* A deadline before the documents is no period at all. */
	assert_string_equal(period_verdict(fx, "2026-03-04T09:00:00+08:00",
		"2026-03-01T09:00:00+08:00"), "TRD-BID-PERIOD");
	fx_param(fx, "bid_min_days", 15);
	assert_string_equal(period_verdict(fx, "2026-03-16T09:00:00+08:00",
		"2026-03-31T09:30:00+08:00"), "");
}

static const char *opening_verdict(struct fx *fx, const char *opened)
{
	fx_add(fx, "{\"id\":\"o1\",\"dept\":\"LY-GGZY\",\"type\":\"trade.bids_opened\",\"at\":\"%s\","
		"\"case\":\"JY-1\"}", opened);
	fx_eval(fx, "2026-06-01T00:00:00+08:00");
	return fx->rules;
}

/* §34: bids are opened at the deadline, not before. */
static void test_early_opening(void **state)
{
	struct fx *fx = *state;
	const struct mon_condition *c;

	announce(fx, "a1", "2026-03-18T09:00:00+08:00", "2026-03-18T09:00:00+08:00",
		"2026-04-08T09:30:00+08:00");
	assert_string_equal(opening_verdict(fx, "2026-04-08T09:29:59+08:00"), "TRD-EARLY-OPENING");
	c = fx_cond(fx, "TRD-EARLY-OPENING");
	assert_int_equal(c->severity, MON_SEVERITY_RED);
	assert_string_equal(c->key, "TRD-EARLY-OPENING|LY-GGZY|JY-1|o1");
	assert_int_equal(c->evidence_count, 2);
	assert_string_equal(c->evidence[1], "a1");
	fx_clear(fx);
	announce(fx, "a1", "2026-03-18T09:00:00+08:00", "2026-03-18T09:00:00+08:00",
		"2026-04-08T09:30:00+08:00");
	assert_string_equal(opening_verdict(fx, "2026-04-08T01:30:00Z"), "");
	/* An amended announcement moved the deadline a week on: the old one no longer holds. */
	announce(fx, "a2", "2026-04-01T09:00:00+08:00", "2026-03-18T09:00:00+08:00",
		"2026-04-15T09:30:00+08:00");
	fx_eval(fx, "2026-06-01T00:00:00+08:00");
	assert_rules(fx, "TRD-EARLY-OPENING");
	assert_string_equal(fx_cond(fx, "TRD-EARLY-OPENING")->evidence[1], "a2");
	/* Bids opened with no announcement on record: nothing to compare with. */
	fx_clear(fx);
	assert_string_equal(opening_verdict(fx, "2026-04-08T09:00:00+08:00"), "");
}

/* §34 also: opened at the deadline, not an hour (opening_tolerance_minutes) later. */
static void test_late_opening(void **state)
{
	struct fx *fx = *state;
	const struct mon_condition *c;

	announce(fx, "a1", "2026-03-18T09:00:00+08:00", "2026-03-18T09:00:00+08:00",
		"2026-04-08T09:30:00+08:00");
	assert_string_equal(opening_verdict(fx, "2026-04-08T10:30:00+08:00"), "");
	fx_clear(fx);
	announce(fx, "a1", "2026-03-18T09:00:00+08:00", "2026-03-18T09:00:00+08:00",
		"2026-04-08T09:30:00+08:00");
	assert_string_equal(opening_verdict(fx, "2026-04-08T10:30:01+08:00"), "TRD-OPENING-LATE");
	c = fx_cond(fx, "TRD-OPENING-LATE");
	assert_int_equal(c->severity, MON_SEVERITY_YELLOW);
	assert_string_equal(c->key, "TRD-OPENING-LATE|LY-GGZY|JY-1|o1");
	assert_int_equal(c->evidence_count, 2);
	assert_string_equal(c->evidence[0], "o1");
	assert_string_equal(c->evidence[1], "a1");
	assert_string_equal(c->message, "黄牌: 未在投标截止时间开标 (opened 2026-04-08T10:30, "
		"deadline 2026-04-08T09:30: 61 minutes late, opening_tolerance_minutes 60)");
	/* An amended announcement moved the deadline: judged against the new one. */
	announce(fx, "a2", "2026-04-01T09:00:00+08:00", "2026-03-18T09:00:00+08:00",
		"2026-04-08T10:00:00+08:00");
	fx_eval(fx, "2026-06-01T00:00:00+08:00");
	assert_rules(fx, "");
	/* Tolerance 0: a second after the deadline is late; at it, not. */
	fx_param(fx, "opening_tolerance_minutes", 0);
	fx_clear(fx);
	announce(fx, "a1", "2026-03-18T09:00:00+08:00", "2026-03-18T09:00:00+08:00",
		"2026-04-08T09:30:00+08:00");
	assert_string_equal(opening_verdict(fx, "2026-04-08T09:30:00+08:00"), "");
	fx_clear(fx);
	announce(fx, "a1", "2026-03-18T09:00:00+08:00", "2026-03-18T09:00:00+08:00",
		"2026-04-08T09:30:00+08:00");
	assert_string_equal(opening_verdict(fx, "2026-04-08T09:30:01+08:00"), "TRD-OPENING-LATE");
	assert_non_null(strstr(fx_cond(fx, "TRD-OPENING-LATE")->message, "1 minute late, "
		"opening_tolerance_minutes 0"));
	/* A week, the most it takes. */
	fx_param(fx, "opening_tolerance_minutes", 10080);
	fx_clear(fx);
	announce(fx, "a1", "2026-03-18T09:00:00+08:00", "2026-03-18T09:00:00+08:00",
		"2026-04-08T09:30:00+08:00");
	assert_string_equal(opening_verdict(fx, "2026-04-15T09:30:00+08:00"), "");
	fx_clear(fx);
	announce(fx, "a1", "2026-03-18T09:00:00+08:00", "2026-03-18T09:00:00+08:00",
		"2026-04-08T09:30:00+08:00");
	assert_string_equal(opening_verdict(fx, "2026-04-15T09:30:01+08:00"), "TRD-OPENING-LATE");
	/* Bids opened with no announcement on record: nothing to compare with. */
	fx_clear(fx);
	assert_string_equal(opening_verdict(fx, "2026-04-20T09:00:00+08:00"), "");
}

static const char *publicity_verdict(struct fx *fx, const char *start, const char *end)
{
	fx_clear(fx);
	fx_add(fx, "{\"id\":\"w1\",\"dept\":\"LY-GGZY\",\"type\":\"trade.awarded\",\"at\":\"%s\","
		"\"case\":\"JY-1\",\"publicity_start\":\"%s\",\"publicity_end\":\"%s\"}", start, start,
		end);
	fx_eval(fx, "2026-06-01T00:00:00+08:00");
	return fx->rules;
}

/* 实施条例 §54: publicity of at least 3 days, counted by date from the day after it starts
 * to the day its end closes at 24:00: an end at 03-28 00:00:00 is 03-27 24:00. */
static void test_publicity(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	assert_string_equal(publicity_verdict(fx, "2026-03-25T10:00:00+08:00",
		"2026-03-28T00:00:01+08:00"), "");
	assert_string_equal(publicity_verdict(fx, "2026-03-25T10:00:00+08:00",
		"2026-03-28T00:00:00+08:00"), "TRD-PUBLICITY-SHORT");
	assert_string_equal(publicity_verdict(fx, "2026-03-25T23:59:59+08:00",
		"2026-03-28T00:00:00+08:00"), "TRD-PUBLICITY-SHORT");
	assert_non_null(strstr(fx_cond(fx, "TRD-PUBLICITY-SHORT")->message,
		"(2026-03-25 to 2026-03-27: 2 days)"));
	assert_string_equal(publicity_verdict(fx, "2026-03-25T10:00:00+08:00",
		"2026-03-27T23:59:59+08:00"), "TRD-PUBLICITY-SHORT");
	assert_string_equal(fx_cond(fx, "TRD-PUBLICITY-SHORT")->key,
		"TRD-PUBLICITY-SHORT|LY-GGZY|JY-1|w1");
	assert_non_null(strstr(fx_cond(fx, "TRD-PUBLICITY-SHORT")->message, "2 days"));
	assert_string_equal(publicity_verdict(fx, "2026-03-25T10:00:00+08:00",
		"2026-03-25T09:00:00+08:00"), "TRD-PUBLICITY-SHORT");
	fx_param(fx, "publicity_min_days", 5);
	assert_string_equal(publicity_verdict(fx, "2026-03-26T15:00:00+08:00",
		"2026-03-31T17:30:00+08:00"), "");
	assert_string_equal(publicity_verdict(fx, "2026-03-26T15:00:00+08:00",
		"2026-03-30T17:30:00+08:00"), "TRD-PUBLICITY-SHORT");
	/* An awarded trade is done; an announced one runs. */
	st = fx_eval(fx, "2026-06-01T00:00:00+08:00");
	assert_int_equal(st->status, MON_CASE_DECIDED);
	assert_string_equal(period_verdict(fx, "2026-03-04T09:00:00+08:00",
		"2026-03-24T09:00:00+08:00"), "");
	assert_int_equal(fx->ev.state.status, MON_CASE_ACCEPTED);
	assert_int_equal(fx->ev.state.next_check, INT64_MAX);
}

int main(int argc, char **argv);

#define TEST(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
static const struct CMUnitTest tests[] = {
	TEST(test_bid_period),
	TEST(test_early_opening),
	TEST(test_late_opening),
	TEST(test_publicity),
};

FX_MAIN(tests)
