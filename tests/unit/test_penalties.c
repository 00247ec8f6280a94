/* test_penalties.c: the penalty rules at their boundaries: the filing offices at 2,999.99 /
 * 3,000.00 / 9,999.99 / 10,000.00 yuan (the seed's defaults and a loaded table), filing
 * within 5 working days (the second before, at and after the deadline), the hearing
 * threshold, the first-offence window's first and last day read from other cases'
 * context events, and the discretion tiers. Dates are worked out by hand from the 2026
 * calendar in the comments. */
#include "case_fixture.h"
#include "mon_eval.h"

static const char tiers[] =
	"violation,severity,min_amount,max_amount,description\n"
	"HB-05,minor,1000.00,5000.00,危险废物识别标志（轻微）\n"
	"HB-05,general,5000.00,20000.00,危险废物识别标志\n"
	"ZR-21,general,1000.00,30000.00,临时用地期满未恢复\n";

static int setup(void **state)
{
	struct fx *fx = fx_create();

	fx_load(fx, "penalty_tiers", tiers);
	*state = fx;
	return 0;
}

#define PARTY_A "91410311MA47R2TD0Y"
#define PARTY_B "91410300MA9LD7HU5K"

/* penalty.decided `id` of case `case_no` against `party`; `extra` more members. */
static void decide(struct fx *fx, bool context, const char *id, const char *case_no,
		const char *at, const char *party, const char *violation, const char *severity,
		const char *amount, const char *extra)
{
	fx_add_event(fx, context, "{\"id\":\"%s\",\"dept\":\"LY-HBJ\",\"type\":\"penalty.decided\","
		"\"at\":\"%s\",\"case\":\"%s\",\"party\":{\"uscc\":\"%s\"},\"violation\":\"%s\","
		"\"severity\":\"%s\",\"amount\":\"%s\"%s}", id, at, case_no, party, violation, severity,
		amount, extra);
}

static void file(struct fx *fx, const char *id, const char *at, const char *office)
{
	fx_add(fx, "{\"id\":\"%s\",\"dept\":\"LY-HBJ\",\"type\":\"penalty.filed\",\"at\":\"%s\","
		"\"case\":\"CF-1\",\"filing\":{\"office\":\"%s\",\"ref\":\"BA-1\"}}", id, at, office);
}

/* One general HB-05 decision of `amount` filed with `office` on the decision itself. */
static const char *office_verdict(struct fx *fx, const char *amount, const char *office)
{
	char extra[128];

	fx_clear(fx);
	snprintf(extra, sizeof(extra), ",\"hearing_notice\":true,\"filing\":{\"office\":\"%s\","
		"\"ref\":\"BA-1\"}", office);
	decide(fx, false, "p1", "CF-1", "2026-03-25T16:00:00+08:00", PARTY_A, "ZR-21", "general",
		amount, extra);
	fx_eval(fx, "2026-04-30T12:00:00+08:00");
	return fx->rules;
}

/* Seed 002 item 11: 1万元 (含) 以上 city, 3千元 (含) to 1万元 youhuaban, below 3千 jianfuban. */
static void test_default_offices(void **state)
{
	struct fx *fx = *state;

	assert_string_equal(office_verdict(fx, "2999.99", "jianfuban"), "");
	assert_string_equal(office_verdict(fx, "2999.99", "youhuaban"), "PEN-FILING-OFFICE");
	assert_string_equal(office_verdict(fx, "3000.00", "youhuaban"), "");
	assert_string_equal(office_verdict(fx, "3000.00", "jianfuban"), "PEN-FILING-OFFICE");
	assert_string_equal(office_verdict(fx, "9999.99", "youhuaban"), "");
	assert_string_equal(office_verdict(fx, "9999.99", "city"), "PEN-FILING-OFFICE");
	assert_string_equal(office_verdict(fx, "10000.00", "city"), "");
	assert_string_equal(office_verdict(fx, "10000.00", "youhuaban"), "PEN-FILING-OFFICE");
	assert_non_null(strstr(fx_cond(fx, "PEN-FILING-OFFICE")->message, "due with city"));
	assert_string_equal(office_verdict(fx, "10000.00", "nowhere"), "PEN-FILING-OFFICE");
	assert_non_null(strstr(fx_cond(fx, "PEN-FILING-OFFICE")->message, "no such office"));
}

#define OFFICES "office,min_amount,max_amount,name\n"

static void test_loaded_offices(void **state)
{
	struct fx *fx = *state;

	/* A county's own scheme, with a gap below 500 (such amounts file nowhere). */
	fx_load(fx, "filing_offices", OFFICES "county,500.00,5000.00,县优化办\n"
		"city,5000.00,,市委市政府\n");
	assert_string_equal(office_verdict(fx, "4999.99", "county"), "");
	assert_string_equal(office_verdict(fx, "5000.00", "county"), "PEN-FILING-OFFICE");
	assert_string_equal(office_verdict(fx, "1000.00", "youhuaban"), "PEN-FILING-OFFICE");
	assert_string_equal(office_verdict(fx, "499.99", "anyone"), "PEN-TIER-OUTSIDE");
	fx_refused(fx, "filing_offices", OFFICES "a,0,5000,A\nb,4999.99,,B\n", "min_amount");
	fx_refused(fx, "filing_offices", OFFICES "a,0,,A\nb,5000,,B\n", "min_amount");
	fx_refused(fx, "filing_offices", OFFICES "a,0,100,A\na,100,200,A\n", "office");
	fx_refused(fx, "filing_offices", OFFICES "a,100,100,A\n", "line 2, column max_amount");
	fx_refused(fx, "filing_offices", OFFICES "a,0,100,\n", "line 2, column name");
	/* No rows: the seed's offices again. */
	fx_load(fx, "filing_offices", OFFICES);
	assert_string_equal(office_verdict(fx, "3000.00", "youhuaban"), "");
}

/* Seed 002 item 11 files the proposed (拟) fine: by default (filing_grace_days 0) the filing
 * is due at the decision's instant. Decided Wednesday 2026-03-25 16:00. */
static void test_filing_before_decision(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;
	const struct mon_condition *c;

	decide(fx, false, "p1", "CF-1", "2026-03-25T16:00:00+08:00", PARTY_A, "HB-05", "general",
		"8000.00", "");
	st = fx_eval(fx, "2026-03-25T16:00:00+08:00");
	assert_rules(fx, "");
	assert_int_equal(st->next_check, T("2026-03-25T16:00:01+08:00"));
	fx_eval(fx, "2026-03-25T16:00:01+08:00");
	assert_rules(fx, "PEN-FILING-MISSING");
	c = fx_cond(fx, "PEN-FILING-MISSING");
	assert_int_equal(c->since, T("2026-03-25T16:00:01+08:00"));
	assert_string_equal(c->message, "黄牌: 罚款未备案 (not filed before the decision at "
		"2026-03-25T16:00:00+08:00)");
	/* A penalty.filed at the decision's instant is in time, a second later it is late. */
	file(fx, "f1", "2026-03-25T16:00:00+08:00", "youhuaban");
	fx_eval(fx, "2026-04-10T00:00:00+08:00");
	assert_rules(fx, "");
	fx_clear(fx);
	decide(fx, false, "p1", "CF-1", "2026-03-25T16:00:00+08:00", PARTY_A, "HB-05", "general",
		"8000.00", "");
	file(fx, "f1", "2026-03-25T16:00:01+08:00", "youhuaban");
	fx_eval(fx, "2026-04-10T00:00:00+08:00");
	assert_rules(fx, "PEN-FILING-MISSING");
	assert_string_equal(fx_cond(fx, "PEN-FILING-MISSING")->message, "黄牌: 罚款逾期备案 (filed "
		"2026-03-25T16:00:01+08:00, after the decision at 2026-03-25T16:00:00+08:00)");
	assert_int_equal(fx_cond(fx, "PEN-FILING-MISSING")->evidence_count, 2);
	/* The decision's own filing: at the decision unless filed_at says otherwise. */
	fx_clear(fx);
	decide(fx, false, "p1", "CF-1", "2026-03-25T16:00:00+08:00", PARTY_A, "HB-05", "general",
		"8000.00", ",\"filing\":{\"office\":\"youhuaban\",\"ref\":\"B\",\"filed_at\":"
		"\"2026-03-26T09:00:00+08:00\"}");
	fx_eval(fx, "2026-04-10T00:00:00+08:00");
	assert_rules(fx, "PEN-FILING-MISSING");
	assert_int_equal(fx_cond(fx, "PEN-FILING-MISSING")->evidence_count, 1);
	fx_param(fx, "filing_grace_days", 1);
	fx_eval(fx, "2026-04-10T00:00:00+08:00");
	assert_rules(fx, "");
	/* A citizen's fine is no 涉企 fine: nothing to file. */
	fx_clear(fx);
	fx_param(fx, "filing_grace_days", 0);
	fx_add(fx, "{\"id\":\"p1\",\"dept\":\"LY-HBJ\",\"type\":\"penalty.decided\",\"at\":"
		"\"2026-03-25T16:00:00+08:00\",\"case\":\"CF-1\",\"party\":{\"id\":\"11010519491231002X\"},"
		"\"violation\":\"HB-05\",\"severity\":\"general\",\"amount\":\"8000.00\","
		"\"hearing_notice\":true}");
	fx_eval(fx, "2026-04-10T00:00:00+08:00");
	assert_rules(fx, "");
}

/* With filing_grace_days 5 (the rule before issue 11): decided Wednesday 2026-03-25, the 5
 * working days are 03-26, 03-27, 03-30, 03-31 and 04-01, so the filing is due by 04-01 24:00. */
static void test_filing_deadline(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;
	const struct mon_condition *c;

	fx_param(fx, "filing_grace_days", 5);
	decide(fx, false, "p1", "CF-1", "2026-03-25T16:00:00+08:00", PARTY_A, "HB-05", "general",
		"8000.00", "");
	st = fx_eval(fx, "2026-04-02T00:00:00+08:00");
	assert_rules(fx, "");
	assert_int_equal(st->next_check, T("2026-04-02T00:00:01+08:00"));
	assert_int_equal(st->status, MON_CASE_DECIDED);
	st = fx_eval(fx, "2026-04-02T00:00:01+08:00");
	assert_rules(fx, "PEN-FILING-MISSING");
	c = fx_cond(fx, "PEN-FILING-MISSING");
	assert_string_equal(c->key, "PEN-FILING-MISSING|LY-HBJ|CF-1|p1");
	assert_int_equal(c->since, T("2026-04-02T00:00:01+08:00"));
	assert_string_equal(c->message, "黄牌: 罚款未备案 (not filed; due by 2026-04-01, 5 working "
		"days after the decision)");
	assert_int_equal(st->next_check, INT64_MAX);
	/* Filed at 24:00 of the last day: in time. */
	file(fx, "f1", "2026-04-02T00:00:00+08:00", "youhuaban");
	fx_eval(fx, "2026-04-10T00:00:00+08:00");
	assert_rules(fx, "");
	/* One second later it is late, and stays so. */
	fx_clear(fx);
	decide(fx, false, "p1", "CF-1", "2026-03-25T16:00:00+08:00", PARTY_A, "HB-05", "general",
		"8000.00", "");
	file(fx, "f1", "2026-04-02T00:00:01+08:00", "youhuaban");
	fx_eval(fx, "2026-04-10T00:00:00+08:00");
	assert_rules(fx, "PEN-FILING-MISSING");
	assert_non_null(strstr(fx_cond(fx, "PEN-FILING-MISSING")->message, "逾期备案 (filed "
		"2026-04-02T00:00:01+08:00; due by 2026-04-01"));
	assert_int_equal(fx_cond(fx, "PEN-FILING-MISSING")->evidence_count, 2);
}

/* penalty.filed f0 of CF-1 with `office`, of a proposed (拟) `amount`. */
static void file_proposed(struct fx *fx, const char *office, const char *amount)
{
	fx_add(fx, "{\"id\":\"f0\",\"dept\":\"LY-HBJ\",\"type\":\"penalty.filed\",\"at\":"
		"\"2026-03-20T10:00:00+08:00\",\"case\":\"CF-1\",\"filing\":{\"office\":\"%s\","
		"\"ref\":\"BA-1\",\"amount\":\"%s\"}}", office, amount);
}

/* The band follows the larger of the proposed (拟) amount a filing states and the amount
 * decided: 9,000 proposed and filed with the 优化办, 10,000 decided, lands in the city's band
 * and is carded; filed with the city it is right, and so is 12,000 proposed with the city,
 * 8,000 decided. The same filing without its amount is judged by the decision alone. */
static void test_filing_proposed_amount(void **state)
{
	struct fx *fx = *state;

	file_proposed(fx, "youhuaban", "9000.00");
	decide(fx, false, "p1", "CF-1", "2026-03-25T16:00:00+08:00", PARTY_A, "HB-05", "general",
		"10000.00", ",\"hearing_notice\":true");
	fx_eval(fx, "2026-04-30T00:00:00+08:00");
	assert_rules(fx, "PEN-FILING-OFFICE");
	assert_string_equal(fx_cond(fx, "PEN-FILING-OFFICE")->message, "黄牌: 备案机关错误 "
		"(10000.00 yuan decided, proposed 9000.00: filed with youhuaban, due with city 市委市政府)");
	fx_clear(fx);
	file_proposed(fx, "city", "9000.00");
	decide(fx, false, "p1", "CF-1", "2026-03-25T16:00:00+08:00", PARTY_A, "HB-05", "general",
		"10000.00", ",\"hearing_notice\":true");
	fx_eval(fx, "2026-04-30T00:00:00+08:00");
	assert_rules(fx, "");
	fx_clear(fx);
	file_proposed(fx, "city", "12000.00");
	decide(fx, false, "p1", "CF-1", "2026-03-25T16:00:00+08:00", PARTY_A, "HB-05", "general",
		"8000.00", "");
	fx_eval(fx, "2026-04-30T00:00:00+08:00");
	assert_rules(fx, "");
	fx_clear(fx);
	file_proposed(fx, "youhuaban", "12000.00");
	decide(fx, false, "p1", "CF-1", "2026-03-25T16:00:00+08:00", PARTY_A, "HB-05", "general",
		"8000.00", "");
	fx_eval(fx, "2026-04-30T00:00:00+08:00");
	assert_rules(fx, "PEN-FILING-OFFICE");
	assert_non_null(strstr(fx_cond(fx, "PEN-FILING-OFFICE")->message, "(proposed 12000.00 yuan, "
		"8000.00 decided: filed with youhuaban, due with city"));
	fx_clear(fx);
	file(fx, "f0", "2026-03-20T10:00:00+08:00", "youhuaban");
	decide(fx, false, "p1", "CF-1", "2026-03-25T16:00:00+08:00", PARTY_A, "HB-05", "general",
		"10000.00", ",\"hearing_notice\":true");
	fx_eval(fx, "2026-04-30T00:00:00+08:00");
	assert_rules(fx, "PEN-FILING-OFFICE");
	assert_non_null(strstr(fx_cond(fx, "PEN-FILING-OFFICE")->message, "(10000.00 yuan: filed "
		"with youhuaban, due with city"));
}

/* The parameters issue 11 replaced are refused with the names that replaced them. */
static void test_retired_params(void **state)
{
	struct fx *fx = *state;
	struct mon_error err;

	assert_false(mon_ruleset_set_param(fx->rs, "hearing_threshold", 10000, &err));
	assert_string_equal(err.field, "hearing_threshold");
	assert_non_null(strstr(err.expected, "hearing_citizen_yuan and hearing_organisation_yuan"));
	assert_false(mon_ruleset_set_param(fx->rs, "filing_days", 5, &err));
	assert_non_null(strstr(err.expected, "filing_grace_days"));
	assert_true(mon_ruleset_set_param(fx->rs, "filing_grace_days", 0, &err));
	assert_false(mon_ruleset_set_param(fx->rs, "hearing_citizen_yuan", 0, &err));
}

static void test_filing_other_ways(void **state)
{
	struct fx *fx = *state;

	/* The proposed fine filed before the decision (拟罚款备案) counts. */
	file(fx, "f0", "2026-03-20T10:00:00+08:00", "youhuaban");
	decide(fx, false, "p1", "CF-1", "2026-03-25T16:00:00+08:00", PARTY_A, "HB-05", "general",
		"8000.00", "");
	fx_eval(fx, "2026-04-30T00:00:00+08:00");
	assert_rules(fx, "");
	/* So does a filing on the decision itself; and a warning without a fine files nothing. */
	fx_clear(fx);
	decide(fx, false, "p1", "CF-1", "2026-03-25T16:00:00+08:00", PARTY_A, "HB-05", "general",
		"8000.00", ",\"filing\":{\"office\":\"youhuaban\",\"ref\":\"BA-9\"}");
	decide(fx, false, "p2", "CF-1", "2026-03-25T16:00:00+08:00", PARTY_A, "HB-05", "minor",
		"0", ",\"first_offence\":true");
	fx_eval(fx, "2026-04-30T00:00:00+08:00");
	assert_rules(fx, "");
	/* filing_grace_days moves the deadline: 1 working day after Wednesday is Thursday. */
	fx_clear(fx);
	fx_param(fx, "filing_grace_days", 1);
	decide(fx, false, "p1", "CF-1", "2026-03-25T16:00:00+08:00", PARTY_A, "HB-05", "general",
		"8000.00", "");
	fx_eval(fx, "2026-03-27T00:00:01+08:00");
	assert_rules(fx, "PEN-FILING-MISSING");
}

/* A penalty.filed names the office of the decision it follows (or, filed ahead, the
 * decision that comes): the second decision here raised the amount to the city's range. */
static void test_filed_office_follows_decision(void **state)
{
	struct fx *fx = *state;

	file(fx, "f0", "2026-03-20T10:00:00+08:00", "youhuaban");
	decide(fx, false, "p1", "CF-1", "2026-03-25T16:00:00+08:00", PARTY_A, "HB-05", "general",
		"8000.00", "");
	decide(fx, false, "p2", "CF-1", "2026-03-27T16:00:00+08:00", PARTY_A, "HB-05", "general",
		"12000.00", ",\"hearing_notice\":true");
	file(fx, "f1", "2026-03-28T10:00:00+08:00", "youhuaban");
	fx_eval(fx, "2026-04-30T00:00:00+08:00");
	assert_rules(fx, "PEN-FILING-OFFICE");
	assert_string_equal(fx_cond(fx, "PEN-FILING-OFFICE")->key,
		"PEN-FILING-OFFICE|LY-HBJ|CF-1|f1");
	assert_string_equal(fx_cond(fx, "PEN-FILING-OFFICE")->evidence[0], "p2");
}

#define CITIZEN_ID "11010519491231002X"

/* One general ZR-21 decision on Monday 2026-03-30 against `party` (a JSON object), filed on
 * itself with the office its amount calls for; `extra` more members. */
static const char *hearing_verdict(struct fx *fx, const char *dept, const char *party,
		const char *amount, const char *extra)
{
	int64_t fen = 0;
	json_t *v = json_string(amount);

	if (!mon_money_parse(v, &fen))
		fail_msg("bad amount %s", amount);
	json_decref(v);
	fx_clear(fx);
	fx_add(fx, "{\"id\":\"p1\",\"dept\":\"%s\",\"type\":\"penalty.decided\",\"at\":"
		"\"2026-03-30T15:00:00+08:00\",\"case\":\"CF-1\",\"party\":%s,\"violation\":\"ZR-21\","
		"\"severity\":\"general\",\"amount\":\"%s\",\"filing\":{\"office\":\"%s\",\"ref\":\"B\"}%s}",
		dept, party, amount, fen >= 1000000 ? "city" : fen >= 300000 ? "youhuaban" :
		"jianfuban", extra);
	fx_eval(fx, "2026-04-30T00:00:00+08:00");
	return fx->rules;
}

#define ORG "{\"uscc\":\"" PARTY_A "\"}"
#define CITIZEN "{\"id\":\"" CITIZEN_ID "\"}"

/* 河南省行政处罚听证办法 §4: a citizen from 5,000 yuan, an organisation from 50,000. */
static void test_hearing_threshold(void **state)
{
	struct fx *fx = *state;
	static const struct {
		const char *party, *amount, *extra, *rules;
	} cases[] = {
		{ CITIZEN, "4999.99", "", "" },
		{ CITIZEN, "5000.00", "", "PEN-NO-HEARING" },
		{ CITIZEN, "5000.00", ",\"hearing_notice\":true", "" },
		{ ORG, "30000.00", "", "" },   /* issue 11: lawful without a notice */
		{ ORG, "49999.99", "", "PEN-TIER-OUTSIDE" },   /* the tier ends at 30,000 */
		{ ORG, "50000.00", "", "PEN-NO-HEARING,PEN-TIER-OUTSIDE" },
		{ ORG, "50000.00", ",\"hearing_notice\":false", "PEN-NO-HEARING,PEN-TIER-OUTSIDE" },
		{ ORG, "50000.00", ",\"hearing_notice\":true", "PEN-TIER-OUTSIDE" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = hearing_verdict(fx, "LY-HBJ", cases[i].party, cases[i].amount,
			cases[i].extra);
		if (strcmp(got, cases[i].rules) != 0)
			fail_msg("case %zu (%s): got \"%s\", expected \"%s\"", i, cases[i].amount, got,
				cases[i].rules);
	}
	assert_string_equal(hearing_verdict(fx, "LY-HBJ", CITIZEN, "5000.00", ""), "PEN-NO-HEARING");
	assert_int_equal(fx_cond(fx, "PEN-NO-HEARING")->severity, MON_SEVERITY_RED);
	assert_string_equal(fx_cond(fx, "PEN-NO-HEARING")->message, "红牌: 未告知听证权利 (fine "
		"5000.00 yuan; a citizen's threshold 5000.00 yuan, hearing_citizen_yuan)");
	/* A hearing held after the decision does not show the party was told before it
	 * (行政处罚法 §63-64); one held at or before the decision does. */
	fx_add(fx, "{\"id\":\"h\",\"dept\":\"LY-HBJ\",\"type\":\"penalty.hearing_held\",\"at\":"
		"\"2026-03-30T15:00:01+08:00\",\"case\":\"CF-1\"}");
	fx_eval(fx, "2026-04-30T00:00:00+08:00");
	assert_rules(fx, "PEN-NO-HEARING");
	hearing_verdict(fx, "LY-HBJ", CITIZEN, "5000.00", "");
	fx_add(fx, "{\"id\":\"h\",\"dept\":\"LY-HBJ\",\"type\":\"penalty.hearing_held\",\"at\":"
		"\"2026-03-30T15:00:00+08:00\",\"case\":\"CF-1\"}");
	fx_eval(fx, "2026-04-30T00:00:00+08:00");
	assert_rules(fx, "");
	/* The thresholds are configurable, in whole yuan. */
	fx_param(fx, "hearing_citizen_yuan", 5001);
	assert_string_equal(hearing_verdict(fx, "LY-HBJ", CITIZEN, "5000.00", ""), "");
	fx_param(fx, "hearing_organisation_yuan", 30000);
	assert_string_equal(hearing_verdict(fx, "LY-HBJ", ORG, "30000.00", ""), "PEN-NO-HEARING");
}

/* §4 also: confiscation of the same value, licence revocation, production stops and
 * closure; 行政处罚法 §63 (三)(四): downgrading a qualification, restricting practice. */
static void test_hearing_measures(void **state)
{
	struct fx *fx = *state;

	assert_string_equal(hearing_verdict(fx, "LY-HBJ", ORG, "0", ",\"measures\":"
		"[\"licence_revocation\"]"), "PEN-NO-HEARING,PEN-TIER-OUTSIDE");
	assert_string_equal(fx_cond(fx, "PEN-NO-HEARING")->message, "红牌: 未告知听证权利 "
		"(licence_revocation; an organisation's threshold 50000.00 yuan, "
		"hearing_organisation_yuan)");
	assert_string_equal(hearing_verdict(fx, "LY-HBJ", ORG, "1000", ",\"measures\":[\"fine\","
		"\"production_stop\",\"closure\",\"qualification_downgrade\",\"practice_restriction\"]"),
		"PEN-NO-HEARING");
	assert_non_null(strstr(fx_cond(fx, "PEN-NO-HEARING")->message, "(production_stop, closure, "
		"qualification_downgrade, practice_restriction;"));
	assert_string_equal(hearing_verdict(fx, "LY-HBJ", ORG, "1000", ",\"measures\":[\"fine\"]"), "");
	/* Confiscation by its value, at the party's threshold. */
	assert_string_equal(hearing_verdict(fx, "LY-HBJ", CITIZEN, "1000", ",\"measures\":"
		"[\"confiscation\"],\"confiscated_value\":\"4999.99\""), "");
	assert_string_equal(hearing_verdict(fx, "LY-HBJ", CITIZEN, "1000", ",\"measures\":"
		"[\"confiscation\"],\"confiscated_value\":\"5000.00\""), "PEN-NO-HEARING");
	assert_non_null(strstr(fx_cond(fx, "PEN-NO-HEARING")->message,
		"(confiscation of 5000.00 yuan; a citizen's"));
	/* Everything at once is said at once; a notice answers it all. */
	assert_string_equal(hearing_verdict(fx, "LY-HBJ", CITIZEN, "6000", ",\"measures\":"
		"[\"confiscation\",\"closure\"],\"confiscated_value\":\"8000\""), "PEN-NO-HEARING");
	assert_non_null(strstr(fx_cond(fx, "PEN-NO-HEARING")->message, "(fine 6000.00 yuan, "
		"confiscation of 8000.00 yuan, closure;"));
	assert_string_equal(hearing_verdict(fx, "LY-HBJ", CITIZEN, "6000", ",\"hearing_notice\":true,"
		"\"measures\":[\"confiscation\",\"closure\"],\"confiscated_value\":\"8000\""), "");
}

#define HEARING "dept,party_kind,min_amount,basis\n"

/* A department's own standard (a ministry's, for a vertically managed office) prevails over
 * the province's, for its party kind only. */
static void test_hearing_department(void **state)
{
	struct fx *fx = *state;

	fx_load(fx, "hearing_thresholds", HEARING "LY-SWJ,organisation,30000.00,"
		"\"税务行政处罚听证实施办法 §3: 法人或者其他组织 1万元以上\"\n"
		"LY-SWJ,citizen,2000,税务行政处罚听证实施办法 §3\n");
	assert_string_equal(hearing_verdict(fx, "LY-SWJ", ORG, "29999.99", ""), "");
	assert_string_equal(hearing_verdict(fx, "LY-SWJ", ORG, "30000.00", ""), "PEN-NO-HEARING");
	assert_non_null(strstr(fx_cond(fx, "PEN-NO-HEARING")->message, "an organisation's threshold "
		"30000.00 yuan, LY-SWJ: 税务行政处罚听证实施办法 §3: 法人或者其他组织 1万元以上)"));
	assert_string_equal(hearing_verdict(fx, "LY-SWJ", CITIZEN, "2000.00", ""), "PEN-NO-HEARING");
	/* Another department keeps the province's. */
	assert_string_equal(hearing_verdict(fx, "LY-HBJ", ORG, "30000.00", ""), "");
	/* The loader: kind, amount above 0, basis required, one row per (dept, kind). */
	fx_refused(fx, "hearing_thresholds", HEARING "LY-SWJ,company,1,x\n", "line 2, column party_kind");
	fx_refused(fx, "hearing_thresholds", HEARING "LY-SWJ,citizen,0,x\n", "line 2, column min_amount");
	fx_refused(fx, "hearing_thresholds", HEARING "LY-SWJ,citizen,1,\n", "line 2, column basis");
	fx_refused(fx, "hearing_thresholds", HEARING "LY SWJ,citizen,1,x\n", "line 2, column dept");
	fx_refused(fx, "hearing_thresholds", HEARING "LY-SWJ,citizen,1,x\nLY-SWJ,citizen,2,y\n", "dept");
	fx_refused(fx, "hearing_thresholds", "dept,party_kind,min_amount\n", "line 1");
	/* The refusals kept the table; an empty one brings back the province's. */
	assert_string_equal(hearing_verdict(fx, "LY-SWJ", ORG, "30000.00", ""), "PEN-NO-HEARING");
	fx_load(fx, "hearing_thresholds", HEARING);
	assert_string_equal(hearing_verdict(fx, "LY-SWJ", ORG, "30000.00", ""), "");
}

/* A minor fine against a party whose earlier penalty (context, another case) was on
 * `earlier`; the fine is on 2026-03-20 10:00. */
static const char *first_minor_verdict(struct fx *fx, const char *earlier, const char *party)
{
	fx_clear(fx);
	if (earlier != NULL)
		decide(fx, true, "p0", "CF-0", earlier, party, "ZR-21", "general", "2000.00", "");
	decide(fx, false, "p1", "CF-1", "2026-03-20T10:00:00+08:00", PARTY_A, "HB-05", "minor",
		"1000.00", ",\"filing\":{\"office\":\"jianfuban\",\"ref\":\"J\"}");
	fx_eval(fx, "2026-04-30T00:00:00+08:00");
	return fx->rules;
}

/* The window is the 365 days before the decision's day, and that day up to the decision:
 * 2025-03-20 is its first day, 2026-03-20 (before 10:00) its last. */
static void test_first_offence_window(void **state)
{
	struct fx *fx = *state;

	assert_string_equal(first_minor_verdict(fx, NULL, PARTY_A), "PEN-FIRST-MINOR");
	assert_non_null(strstr(fx_cond(fx, "PEN-FIRST-MINOR")->message, "since 2025-03-20"));
	assert_string_equal(first_minor_verdict(fx, "2025-03-20T00:00:00+08:00", PARTY_A), "");
	assert_string_equal(first_minor_verdict(fx, "2025-03-19T23:59:59+08:00", PARTY_A),
		"PEN-FIRST-MINOR");
	assert_string_equal(first_minor_verdict(fx, "2026-03-20T09:59:59+08:00", PARTY_A), "");
	/* Later penalties and other parties' do not make this one a repeat. */
	assert_string_equal(first_minor_verdict(fx, "2026-03-20T10:00:01+08:00", PARTY_A),
		"PEN-FIRST-MINOR");
	assert_string_equal(first_minor_verdict(fx, "2026-01-20T10:00:00+08:00", PARTY_B),
		"PEN-FIRST-MINOR");
	/* The context event itself is never judged: its missing filing raises nothing. */
	first_minor_verdict(fx, "2026-03-19T10:00:00+08:00", PARTY_A);
	assert_rules(fx, "");
	fx_param(fx, "first_offence_window_days", 30);
	assert_string_equal(first_minor_verdict(fx, "2026-02-17T23:59:59+08:00", PARTY_A),
		"PEN-FIRST-MINOR");
	assert_string_equal(first_minor_verdict(fx, "2026-02-18T00:00:00+08:00", PARTY_A), "");
	fx_param(fx, "first_offence_window_days", 365);
	assert_int_equal(mon_ruleset_context_days(fx->rs), 366);
}

/* What the daemon loads for the rule: the penalties dated from the decision back by
 * mon_ruleset_penalty_context_days. The window's first local day starts within it. */
static void test_penalty_context_days(void **state)
{
	struct fx *fx = *state;
	int64_t decided, first;
	int offset;

	assert_true(mon_time_parse("2026-03-20T10:00:00+08:00", &decided, &offset));
	assert_true(mon_time_parse("2025-03-20T00:00:00+08:00", &first, &offset));
	assert_int_equal(mon_ruleset_penalty_context_days(fx->rs), 366);
	assert_true(decided - first <= (int64_t)mon_ruleset_penalty_context_days(fx->rs) * 86400);
	fx_param(fx, "first_offence_window_days", 30);
	assert_int_equal(mon_ruleset_penalty_context_days(fx->rs), 31);
	assert_true(mon_time_parse("2026-02-18T00:00:00+08:00", &first, &offset));
	assert_true(decided - first <= (int64_t)mon_ruleset_penalty_context_days(fx->rs) * 86400);
}

static void test_first_offence_declared(void **state)
{
	struct fx *fx = *state;

	/* The department says it is a first offence: then no fine, whatever our records say. */
	decide(fx, true, "p0", "CF-0", "2026-01-20T10:00:00+08:00", PARTY_A, "ZR-21", "general",
		"2000.00", "");
	decide(fx, false, "p1", "CF-1", "2026-03-20T10:00:00+08:00", PARTY_A, "HB-05", "minor",
		"1000.00", ",\"first_offence\":true,\"filing\":{\"office\":\"jianfuban\",\"ref\":\"J\"}");
	fx_eval(fx, "2026-04-30T00:00:00+08:00");
	assert_rules(fx, "PEN-FIRST-MINOR");
	assert_non_null(strstr(fx_cond(fx, "PEN-FIRST-MINOR")->message, "declared"));
	/* Not fining it is right; general severity is not this rule's business. */
	fx_clear(fx);
	decide(fx, false, "p1", "CF-1", "2026-03-20T10:00:00+08:00", PARTY_A, "HB-05", "minor",
		"0", ",\"first_offence\":true");
	decide(fx, false, "p2", "CF-1", "2026-03-20T10:00:00+08:00", PARTY_A, "HB-05", "general",
		"5000", ",\"filing\":{\"office\":\"youhuaban\",\"ref\":\"Y\"}");
	fx_eval(fx, "2026-04-30T00:00:00+08:00");
	assert_rules(fx, "");
}

/* 自由裁量权阶次: outside [min, max] is yellow; a minor case above the floor a notice; a
 * minor case may always go unfined; no tier is a notice. */
static void test_tiers(void **state)
{
	struct fx *fx = *state;
	static const struct {
		const char *violation, *severity, *amount, *rules;
	} cases[] = {
		{ "ZR-21", "general", "1000.00", "" },
		{ "ZR-21", "general", "999.99", "PEN-TIER-OUTSIDE" },
		{ "ZR-21", "general", "30000.00", "" },
		{ "ZR-21", "general", "30000.01", "PEN-TIER-OUTSIDE" },
		{ "HB-05", "minor", "1000.00", "" },
		{ "HB-05", "minor", "1000.01", "PEN-NOT-LOWEST" },
		{ "HB-05", "minor", "5000.01", "PEN-TIER-OUTSIDE" },
		{ "HB-05", "minor", "0", "" },
		{ "HB-05", "serious", "30000", "PEN-TIER-UNKNOWN" },
		{ "HB-99", "general", "3000", "PEN-TIER-UNKNOWN" },
	};

	struct mon_error err;

	/* The filing office "x" is not this test's concern. */
	assert_true(mon_ruleset_disable_rule(fx->rs, "PEN-FILING-OFFICE", &err));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fx_clear(fx);
		/* An earlier penalty, so minor fines are not first offences here. */
		decide(fx, true, "p0", "CF-0", "2026-01-20T10:00:00+08:00", PARTY_A, "ZR-21",
			"general", "2000.00", "");
		decide(fx, false, "p1", "CF-1", "2026-03-20T10:00:00+08:00", PARTY_A,
			cases[i].violation, cases[i].severity, cases[i].amount,
			",\"hearing_notice\":true,\"filing\":{\"office\":\"x\",\"ref\":\"B\"}");
		fx_eval(fx, "2026-04-30T00:00:00+08:00");
		if (strcmp(fx->rules, cases[i].rules) != 0)
			fail_msg("%s %s %s: [%s], expected [%s]", cases[i].violation,
				cases[i].severity, cases[i].amount, fx->rules, cases[i].rules);
	}
	assert_int_equal(fx_cond(fx, "PEN-TIER-UNKNOWN")->severity, MON_SEVERITY_NOTICE);
	/* Without tiers, nothing to judge by. */
	fx_load(fx, "penalty_tiers", "violation,severity,min_amount,max_amount,description\n");
	fx_eval(fx, "2026-04-30T00:00:00+08:00");
	assert_rules(fx, "");
}

static void test_tiers_loader(void **state)
{
	struct fx *fx = *state;
#define TIERS "violation,severity,min_amount,max_amount,description\n"

	fx_refused(fx, "penalty_tiers", TIERS "HB-1,grave,0,1,\n", "line 2, column severity");
	fx_refused(fx, "penalty_tiers", TIERS "HB-1,minor,10,9.99,\n", "line 2, column max_amount");
	fx_refused(fx, "penalty_tiers", TIERS "HB-1,minor,0,,\n", "line 2, column max_amount");
	fx_refused(fx, "penalty_tiers", TIERS "HB-1,minor,0,1,\nHB-1,minor,0,2,\n", "violation");
	fx_load(fx, "penalty_tiers", TIERS "HB-1,minor,0,1,\nHB-1,general,0,2,\n");
#undef TIERS
}

static void test_subject(void **state)
{
	struct fx *fx = *state;
	char out[32];

	decide(fx, false, "p1", "CF-1", "2026-03-20T10:00:00+08:00", PARTY_A, "HB-05", "minor",
		"0", "");
	assert_true(mon_event_subject(&fx->events[0], out, sizeof(out)));
	assert_string_equal(out, PARTY_A);
	assert_false(mon_event_subject(&fx->events[0], out, 18));   /* no room for the NUL */
	fx_add(fx, "{\"id\":\"p2\",\"dept\":\"LY-HBJ\",\"type\":\"penalty.decided\",\"at\":"
		"\"2026-03-20T10:00:00+08:00\",\"case\":\"CF-1\",\"party\":{\"id\":"
		"\"410303199003081524\"},\"violation\":\"HB-05\",\"severity\":\"minor\",\"amount\":0}");
	assert_true(mon_event_subject(&fx->events[1], out, sizeof(out)));
	assert_string_equal(out, "410303199003081524");
	file(fx, "f1", "2026-03-20T10:00:00+08:00", "city");
	assert_false(mon_event_subject(&fx->events[2], out, sizeof(out)));
}

int main(int argc, char **argv);

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, fx_teardown)
static const struct CMUnitTest tests[] = {
	TEST(test_default_offices),
	TEST(test_loaded_offices),
	TEST(test_filing_before_decision),
	TEST(test_filing_deadline),
	TEST(test_retired_params),
	TEST(test_filing_proposed_amount),
	TEST(test_filing_other_ways),
	TEST(test_filed_office_follows_decision),
	TEST(test_hearing_threshold),
	TEST(test_hearing_measures),
	TEST(test_hearing_department),
	TEST(test_first_offence_window),
	TEST(test_penalty_context_days),
	TEST(test_first_offence_declared),
	TEST(test_tiers),
	TEST(test_tiers_loader),
	TEST(test_subject),
};

FX_MAIN(tests)
