/* test_fees.c: the fee rules at their boundaries (a fee at its standard and one fen above,
 * collected on the last day before its abolition and on that day, at another offset; free
 * items; review), refunds, events without a case evaluated one at a time, fee filing (the
 * office at 2,999.99 / 3,000.00, before collection or within filing_grace_days, by the fee's
 * own filing or a fee.filed of its case), and the generic reference-table loader (exact
 * headers, money, dates, booleans, duplicates). The catalogue tests switch the filing rules
 * off, so each judges one thing; the filing tests have them on. */
#include "case_fixture.h"

/* ZJ-021: up to 3,000.00; ZJ-009: abolished 2026-01-01; ZJ-030: free; ZR-F004: fixed 550.00;
 * ZR-F003: no ceiling, no review required. */
static const char fee_items[] =
	"code,dept,name,min_amount,max_amount,basis,abolished_on,review_required,free\n"
	"ZJ-021,LY-ZJJ,城市道路占用挖掘修复费,0.00,3000.00,\"条例,第三十七条\",,true,false\n"
	"ZJ-009,LY-ZJJ,白蚁防治费,0,,,2026-01-01,true,false\n"
	"ZJ-030,LY-ZJJ,施工图设计文件审查,0.00,0.00,,,false,true\n"
	"ZR-F004,LY-ZRZYJ,不动产登记费（非住宅）,550.00,550.00,,,true,false\n"
	"ZR-F003,LY-ZRZYJ,土地复垦费,0.00,,,,false,false\n";

static int setup_filing(void **state)
{
	struct fx *fx = fx_create();

	fx_load(fx, "fee_items", fee_items);
	*state = fx;
	return 0;
}

static int setup(void **state)
{
	struct mon_error err;

	setup_filing(state);
	if (!mon_ruleset_disable_rule(((struct fx *)*state)->rs, "FEE-FILING-MISSING", &err) ||
			!mon_ruleset_disable_rule(((struct fx *)*state)->rs, "FEE-FILING-OFFICE", &err))
		fail_msg("%s", err.expected);
	return 0;
}

/* One fee.collected without a case, evaluated alone, as the daemon does. */
static void collect(struct fx *fx, const char *dept, const char *at, const char *item,
		const char *amount, const char *extra, const char *now)
{
	fx_clear(fx);
	fx_add(fx, "{\"id\":\"cw-1\",\"dept\":\"%s\",\"type\":\"fee.collected\",\"at\":\"%s\","
		"\"fee_item\":\"%s\",\"amount\":\"%s\",\"payer\":{\"uscc\":\"91410311MA47R2TD0Y\"}%s}",
		dept, at, item, amount, extra);
	fx_eval(fx, now);
}

#define REVIEWED ",\"reviewer\":\"P0456\""

static void test_over_standard_boundary(void **state)
{
	struct fx *fx = *state;
	const struct mon_condition *c;

	collect(fx, "LY-ZJJ", "2026-03-12T11:30:00+08:00", "ZJ-021", "3000.00", REVIEWED,
		"2026-03-31T12:00:00+08:00");
	assert_rules(fx, "");
	collect(fx, "LY-ZJJ", "2026-03-12T11:30:00+08:00", "ZJ-021", "3000.01", REVIEWED,
		"2026-03-31T12:00:00+08:00");
	assert_rules(fx, "FEE-OVER-STANDARD");
	c = fx_cond(fx, "FEE-OVER-STANDARD");
	assert_string_equal(c->key, "FEE-OVER-STANDARD|LY-ZJJ||cw-1");
	assert_int_equal(c->severity, MON_SEVERITY_YELLOW);
	assert_int_equal(c->since, T("2026-03-12T11:30:00+08:00"));
	assert_int_equal(c->evidence_count, 1);
	assert_string_equal(c->evidence[0], "cw-1");
	assert_non_null(strstr(c->message, "3000.01"));
	/* A fixed fee: its one amount is also its ceiling. */
	collect(fx, "LY-ZRZYJ", "2026-03-12T11:30:00+08:00", "ZR-F004", "550.00", REVIEWED,
		"2026-03-31T12:00:00+08:00");
	assert_rules(fx, "");
	collect(fx, "LY-ZRZYJ", "2026-03-12T11:30:00+08:00", "ZR-F004", "550.01", REVIEWED,
		"2026-03-31T12:00:00+08:00");
	assert_rules(fx, "FEE-OVER-STANDARD");
	/* No ceiling: nothing is above it. */
	collect(fx, "LY-ZRZYJ", "2026-03-12T11:30:00+08:00", "ZR-F003", "99999999.99", "",
		"2026-03-31T12:00:00+08:00");
	assert_rules(fx, "");
}

/* ZJ-009 may be collected up to 2025-12-31 24:00 Luoyang time, and not from 2026-01-01. */
static void test_abolished_boundary(void **state)
{
	struct fx *fx = *state;

	collect(fx, "LY-ZJJ", "2025-12-31T23:59:59+08:00", "ZJ-009", "860.00", REVIEWED,
		"2026-03-31T12:00:00+08:00");
	assert_rules(fx, "");
	collect(fx, "LY-ZJJ", "2026-01-01T00:00:00+08:00", "ZJ-009", "860.00", REVIEWED,
		"2026-03-31T12:00:00+08:00");
	assert_rules(fx, "FEE-ITEM-ABOLISHED");
	assert_int_equal(fx_cond(fx, "FEE-ITEM-ABOLISHED")->severity, MON_SEVERITY_RED);
	assert_non_null(strstr(fx_cond(fx, "FEE-ITEM-ABOLISHED")->message, "2026-01-01"));
	/* 16:30 UTC on the 31st is 00:30 on New Year's Day in Luoyang. */
	collect(fx, "LY-ZJJ", "2025-12-31T16:30:00Z", "ZJ-009", "860.00", REVIEWED,
		"2026-03-31T12:00:00+08:00");
	assert_rules(fx, "FEE-ITEM-ABOLISHED");
	/* Without a reviewer it is both. */
	collect(fx, "LY-ZJJ", "2026-02-01T10:00:00+08:00", "ZJ-009", "860.00", "",
		"2026-03-31T12:00:00+08:00");
	assert_rules(fx, "FEE-ITEM-ABOLISHED,FEE-NO-REVIEW");
}

static void test_free_item(void **state)
{
	struct fx *fx = *state;

	collect(fx, "LY-ZJJ", "2026-03-26T15:20:00+08:00", "ZJ-030", "0", "",
		"2026-03-31T12:00:00+08:00");
	assert_rules(fx, "");
	/* One fen is already too much, and it is the free-item rule, not the standard's. */
	collect(fx, "LY-ZJJ", "2026-03-26T15:20:00+08:00", "ZJ-030", "0.01", "",
		"2026-03-31T12:00:00+08:00");
	assert_rules(fx, "FEE-FREE-ITEM");
	assert_int_equal(fx_cond(fx, "FEE-FREE-ITEM")->severity, MON_SEVERITY_RED);
}

static void test_review(void **state)
{
	struct fx *fx = *state;

	collect(fx, "LY-ZRZYJ", "2026-03-27T16:00:00+08:00", "ZR-F004", "550.00", "",
		"2026-03-31T12:00:00+08:00");
	assert_rules(fx, "FEE-NO-REVIEW");
	assert_string_equal(fx_cond(fx, "FEE-NO-REVIEW")->key, "FEE-NO-REVIEW|LY-ZRZYJ||cw-1");
	collect(fx, "LY-ZRZYJ", "2026-03-27T16:00:00+08:00", "ZR-F004", "550.00",
		",\"reviewer\":\"P0820\"", "2026-03-31T12:00:00+08:00");
	assert_rules(fx, "");
	/* ZR-F003 needs no review. */
	collect(fx, "LY-ZRZYJ", "2026-03-27T16:00:00+08:00", "ZR-F003", "8650.00", "",
		"2026-03-31T12:00:00+08:00");
	assert_rules(fx, "");
}

static void test_unknown_item(void **state)
{
	struct fx *fx = *state;

	collect(fx, "LY-ZRZYJ", "2026-03-25T10:30:00+08:00", "ZR-F009", "300.00", REVIEWED,
		"2026-03-31T12:00:00+08:00");
	assert_rules(fx, "FEE-ITEM-UNKNOWN");
	/* The catalogue is per department: another department's item is not this one's. */
	collect(fx, "LY-ZJJ", "2026-03-25T10:30:00+08:00", "ZR-F003", "300.00", REVIEWED,
		"2026-03-31T12:00:00+08:00");
	assert_rules(fx, "FEE-ITEM-UNKNOWN");
	assert_non_null(strstr(fx_cond(fx, "FEE-ITEM-UNKNOWN")->message, "LY-ZJJ"));
}

/* A refund is recorded as the correction of the collection it names. */
static void test_refund(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;
	const struct mon_condition *c;

	fx_add(fx, "{\"id\":\"cw-95-r1\",\"dept\":\"LY-ZJJ\",\"type\":\"fee.refunded\",\"at\":"
		"\"2026-03-20T14:00:00+08:00\",\"fee_item\":\"ZJ-021\",\"amount\":\"560.50\","
		"\"of\":\"cw-95\"}");
	st = fx_eval(fx, "2026-03-31T12:00:00+08:00");
	assert_rules(fx, "FEE-REFUND");
	c = fx_cond(fx, "FEE-REFUND");
	assert_int_equal(c->severity, MON_SEVERITY_NOTICE);
	assert_string_equal(c->key, "FEE-REFUND|LY-ZJJ||cw-95-r1");
	assert_int_equal(c->evidence_count, 2);
	assert_string_equal(c->evidence[0], "cw-95-r1");
	assert_string_equal(c->evidence[1], "cw-95");
	assert_non_null(strstr(c->message, "560.50"));
	/* An event without a case has nothing left to watch. */
	assert_int_equal(st->next_check, INT64_MAX);
	assert_string_equal(st->case_no, "");
	assert_int_equal(st->status, MON_CASE_DECIDED);
	assert_int_equal(st->level, MON_SEVERITY_NOTICE);
}

/* A fee with a case is judged within it, under the case's key. */
static void test_fee_with_case(void **state)
{
	struct fx *fx = *state;

	fx_add(fx, "{\"id\":\"cw-7\",\"dept\":\"LY-ZJJ\",\"type\":\"fee.collected\",\"at\":"
		"\"2026-03-12T11:30:00+08:00\",\"case\":\"LY-ZJJ-2026-000240\",\"fee_item\":\"ZJ-021\","
		"\"amount\":\"3500\",\"payer\":{\"uscc\":\"91410311MA47R2TD0Y\"}}");
	assert_string_equal(fx_eval(fx, "2026-03-13T12:00:00+08:00")->case_no,
		"LY-ZJJ-2026-000240");
	assert_rules(fx, "FEE-NO-REVIEW,FEE-OVER-STANDARD");
	assert_string_equal(fx_cond(fx, "FEE-OVER-STANDARD")->key,
		"FEE-OVER-STANDARD|LY-ZJJ|LY-ZJJ-2026-000240|cw-7");
}

/* Events without a case go one at a time; two together are refused, as is a batch of
 * context alone. */
static void test_caseless_alone(void **state)
{
	struct fx *fx = *state;
	struct mon_evaluation ev;
	struct mon_error err;

	fx_add(fx, "{\"id\":\"a\",\"dept\":\"LY-ZJJ\",\"type\":\"fee.collected\",\"at\":"
		"\"2026-03-12T11:30:00+08:00\",\"fee_item\":\"ZJ-021\",\"amount\":1,"
		"\"payer\":{\"uscc\":\"91410311MA47R2TD0Y\"}}");
	fx_add(fx, "{\"id\":\"b\",\"dept\":\"LY-ZJJ\",\"type\":\"fee.collected\",\"at\":"
		"\"2026-03-12T11:30:00+08:00\",\"fee_item\":\"ZJ-021\",\"amount\":1,"
		"\"payer\":{\"uscc\":\"91410311MA47R2TD0Y\"}}");
	assert_false(mon_case_evaluate(fx->rs, fx->ces, 2, T("2026-03-13T00:00:00+08:00"), &ev,
		&err));
	assert_string_equal(err.field, "case");
	fx->ces[0].context = true;
	fx->ces[1].context = true;
	assert_false(mon_case_evaluate(fx->rs, fx->ces, 2, T("2026-03-13T00:00:00+08:00"), &ev,
		&err));
	assert_string_equal(err.got, "only context events");
	/* One judged, one context: fine, and the context one raises nothing. */
	fx->ces[0].context = false;
	fx_eval(fx, "2026-03-13T00:00:00+08:00");
	assert_rules(fx, "FEE-NO-REVIEW");
	assert_string_equal(fx->ev.conditions[0].key, "FEE-NO-REVIEW|LY-ZJJ||a");
}

/* Without a catalogue, nothing can be judged: no flood of "unknown item". */
static void test_empty_catalogue(void **state)
{
	struct fx *fx = *state;

	fx_load(fx, "fee_items", "code,dept,name,min_amount,max_amount,basis,abolished_on,"
		"review_required,free\n");
	collect(fx, "LY-ZRZYJ", "2026-03-25T10:30:00+08:00", "ZR-F009", "300.00", "",
		"2026-03-31T12:00:00+08:00");
	assert_rules(fx, "");
}

static void test_disabled(void **state)
{
	struct fx *fx = *state;
	struct mon_error err;

	assert_true(mon_ruleset_disable_rule(fx->rs, "FEE-NO-REVIEW", &err));
	collect(fx, "LY-ZRZYJ", "2026-03-27T16:00:00+08:00", "ZR-F004", "600.00", "",
		"2026-03-31T12:00:00+08:00");
	assert_rules(fx, "FEE-OVER-STANDARD");
}

#define HEAD "code,dept,name,min_amount,max_amount,basis,abolished_on,review_required,free\n"

static void test_fee_items_loader(void **state)
{
	struct fx *fx = *state;

	fx_refused(fx, "fee_items", "code,dept,name,min_amount,max_amount,basis,abolished_on,"
		"review_required\n", "line 1");
	fx_refused(fx, "fee_items", "code,dept,name,min_amount,max_amount,basis,abolished_on,"
		"review_required,free,extra\n", "line 1");
	fx_refused(fx, "fee_items", "code,dept,name,max_amount,min_amount,basis,abolished_on,"
		"review_required,free\n", "line 1");
	fx_refused(fx, "fee_items", "", "line 1");
	fx_refused(fx, "fee_items", HEAD "X,LY-ZJJ,x,0,1,,,true\n", "line 2");
	fx_refused(fx, "fee_items", HEAD "X,LY-ZJJ,x,0,1,,,true,false,9\n", "line 2");
	fx_refused(fx, "fee_items", HEAD "X,LY-ZJJ,x,1.005,,,,true,false\n",
		"line 2, column min_amount");
	fx_refused(fx, "fee_items", HEAD "X,LY-ZJJ,x,-1,,,,true,false\n",
		"line 2, column min_amount");
	fx_refused(fx, "fee_items", HEAD "X,LY-ZJJ,x,1e3,,,,true,false\n",
		"line 2, column min_amount");
	fx_refused(fx, "fee_items", HEAD "X,LY-ZJJ,x,100,99.99,,,true,false\n",
		"line 2, column max_amount");
	fx_refused(fx, "fee_items", HEAD "X,LY-ZJJ,x,0,10,,,true,true\n", "line 2, column free");
	fx_refused(fx, "fee_items", HEAD "X,LY-ZJJ,x,0,10,,2026-02-30,true,false\n",
		"line 2, column abolished_on");
	fx_refused(fx, "fee_items", HEAD "X,LY-ZJJ,x,0,10,,,yes,false\n",
		"line 2, column review_required");
	fx_refused(fx, "fee_items", HEAD "X Y,LY-ZJJ,x,0,10,,,true,false\n", "line 2, column code");
	fx_refused(fx, "fee_items", HEAD "X,LY-ZJJ,,0,10,,,true,false\n", "line 2, column name");
	fx_refused(fx, "fee_items", HEAD "X,LY-ZJJ,x,0,10,,,true,false\n"
		"X,LY-ZJJ,y,0,10,,,true,false\n", "code");
	/* The same code in two departments is two items. */
	fx_load(fx, "fee_items", HEAD "X,LY-ZJJ,x,0,10,,,true,false\nX,LY-HBJ,x,0,10,,,true,false\n");
	/* The refusals above left nothing half-loaded; this load replaced the catalogue. */
	collect(fx, "LY-HBJ", "2026-03-25T10:30:00+08:00", "X", "10.01", REVIEWED,
		"2026-03-31T12:00:00+08:00");
	assert_rules(fx, "FEE-OVER-STANDARD");
	collect(fx, "LY-ZJJ", "2026-03-25T10:30:00+08:00", "ZJ-021", "1", REVIEWED,
		"2026-03-31T12:00:00+08:00");
	assert_rules(fx, "FEE-ITEM-UNKNOWN");
}

static void test_table_names(void **state)
{
	static const char *const names[] = { "calendar", "items", "fee_items", "penalty_tiers",
		"filing_offices", "officers", "enterprises", "regions", "hearing_thresholds" };
	struct fx *fx = *state;
	struct mon_error err;

	assert_int_equal(mon_refdata_count(), 9);
	for (size_t i = 0; i < 9; i++)
		assert_string_equal(mon_refdata_name(i), names[i]);
	assert_null(mon_refdata_name(9));
	assert_false(mon_ruleset_load(fx->rs, "fees", "x\n", 2, &err));
	assert_string_equal(err.got, "fees");
	/* The approval tables go through the same entry point. */
	fx_load(fx, "items", "code,dept,name,statutory_days,committed_days,unit\n"
		"ZJ-002,LY-ZJJ,x,20,10,working\n");
	fx_refused(fx, "calendar", "date,kind\n", "line 1");
}

/* A fee of ZR-F003 (no ceiling, no review) collected in case C-1 on Wednesday 2026-03-25
 * 10:00 by an enterprise (`payer` a uscc) or a citizen; `filing` "" or a member. */
static void collect_filed(struct fx *fx, const char *amount, const char *payer,
		const char *filing)
{
	fx_add(fx, "{\"id\":\"cw-1\",\"dept\":\"LY-ZRZYJ\",\"type\":\"fee.collected\",\"at\":"
		"\"2026-03-25T10:00:00+08:00\",\"case\":\"C-1\",\"fee_item\":\"ZR-F003\",\"amount\":"
		"\"%s\",\"payer\":%s%s}", amount, payer, filing);
}

#define ENTERPRISE "{\"uscc\":\"91410311MA47R2TD0Y\"}"
#define CITIZEN "{\"id\":\"11010519491231002X\"}"

static void fee_filed(struct fx *fx, const char *id, const char *at, const char *item,
		const char *office, const char *amount)
{
	fx_add(fx, "{\"id\":\"%s\",\"dept\":\"LY-ZRZYJ\",\"type\":\"fee.filed\",\"at\":\"%s\","
		"\"case\":\"C-1\"%s%s%s,\"filing\":{\"office\":\"%s\",\"ref\":\"BA-1\"%s%s%s}}", id, at,
		item != NULL ? ",\"fee_item\":\"" : "", item != NULL ? item : "",
		item != NULL ? "\"" : "", office, amount != NULL ? ",\"amount\":\"" : "",
		amount != NULL ? amount : "", amount != NULL ? "\"" : "");
}

/* Seed 002 item 11 for fees: 3千元（含本数）至1万元 the 优化办, below it the 减负办, by the
 * proposed amount where the filing states one. */
static void test_filing_office_bands(void **state)
{
	struct fx *fx = *state;
	const struct mon_condition *c;

	collect_filed(fx, "2999.99", ENTERPRISE, ",\"filing\":{\"office\":\"jianfuban\","
		"\"ref\":\"J-1\"}");
	fx_eval(fx, "2026-03-31T12:00:00+08:00");
	assert_rules(fx, "");
	fx_clear(fx);
	collect_filed(fx, "3000.00", ENTERPRISE, ",\"filing\":{\"office\":\"jianfuban\","
		"\"ref\":\"J-1\"}");
	fx_eval(fx, "2026-03-31T12:00:00+08:00");
	assert_rules(fx, "FEE-FILING-OFFICE");
	c = fx_cond(fx, "FEE-FILING-OFFICE");
	assert_string_equal(c->key, "FEE-FILING-OFFICE|LY-ZRZYJ|C-1|cw-1");
	assert_int_equal(c->severity, MON_SEVERITY_YELLOW);
	assert_non_null(strstr(c->message, "3000.00 yuan: filed with jianfuban, due with youhuaban"));
	/* The larger of the proposed and the collected amount decides: 3,000.00 proposed,
	 * 2,500.00 collected, is the 优化办's; so is 2,999.99 proposed, 3,000.00 collected. */
	fx_clear(fx);
	collect_filed(fx, "2500.00", ENTERPRISE, ",\"filing\":{\"office\":\"youhuaban\","
		"\"ref\":\"Y-1\",\"amount\":\"3000.00\"}");
	fx_eval(fx, "2026-03-31T12:00:00+08:00");
	assert_rules(fx, "");
	fx_clear(fx);
	collect_filed(fx, "2500.00", ENTERPRISE, ",\"filing\":{\"office\":\"jianfuban\","
		"\"ref\":\"J-1\",\"amount\":\"3000.00\"}");
	fx_eval(fx, "2026-03-31T12:00:00+08:00");
	assert_rules(fx, "FEE-FILING-OFFICE");
	assert_non_null(strstr(fx_cond(fx, "FEE-FILING-OFFICE")->message, "(proposed 3000.00 yuan, "
		"2500.00 collected: filed with jianfuban, due with youhuaban"));
	fx_clear(fx);
	collect_filed(fx, "3000.00", ENTERPRISE, ",\"filing\":{\"office\":\"youhuaban\","
		"\"ref\":\"Y-1\",\"amount\":\"2999.99\"}");
	fx_eval(fx, "2026-03-31T12:00:00+08:00");
	assert_rules(fx, "");
	/* A fee collected above the band its proposal was filed with is carded. */
	fx_clear(fx);
	collect_filed(fx, "3000.00", ENTERPRISE, ",\"filing\":{\"office\":\"jianfuban\","
		"\"ref\":\"J-1\",\"amount\":\"2999.99\"}");
	fx_eval(fx, "2026-03-31T12:00:00+08:00");
	assert_rules(fx, "FEE-FILING-OFFICE");
	assert_non_null(strstr(fx_cond(fx, "FEE-FILING-OFFICE")->message, "(3000.00 yuan collected, "
		"proposed 2999.99: filed with jianfuban, due with youhuaban"));
	/* Equal amounts name the proposal once. */
	fx_clear(fx);
	collect_filed(fx, "3000.00", ENTERPRISE, ",\"filing\":{\"office\":\"jianfuban\","
		"\"ref\":\"J-1\",\"amount\":\"3000.00\"}");
	fx_eval(fx, "2026-03-31T12:00:00+08:00");
	assert_non_null(strstr(fx_cond(fx, "FEE-FILING-OFFICE")->message, "(proposed 3000.00 yuan: "
		"filed with jianfuban"));
}

/* Filed before collection: the collection's own filing (at its instant, or filed_at), or a
 * fee.filed of the case for its item; after it only within filing_grace_days. */
static void test_filing_time(void **state)
{
	struct fx *fx = *state;
	const struct mon_condition *c;

	/* Not filed at all: yellow from the second after the collection. */
	collect_filed(fx, "100.00", ENTERPRISE, "");
	fx_eval(fx, "2026-03-25T10:00:00+08:00");
	assert_rules(fx, "");
	assert_int_equal(fx->ev.state.next_check, T("2026-03-25T10:00:01+08:00"));
	fx_eval(fx, "2026-03-31T12:00:00+08:00");
	assert_rules(fx, "FEE-FILING-MISSING");
	c = fx_cond(fx, "FEE-FILING-MISSING");
	assert_string_equal(c->key, "FEE-FILING-MISSING|LY-ZRZYJ|C-1|cw-1");
	assert_int_equal(c->since, T("2026-03-25T10:00:01+08:00"));
	assert_non_null(strstr(c->message, "收费未备案"));
	/* A fee.filed the second before, at, and after the collection. */
	fee_filed(fx, "ff", "2026-03-25T10:00:01+08:00", "ZR-F003", "jianfuban", NULL);
	fx_eval(fx, "2026-03-31T12:00:00+08:00");
	assert_rules(fx, "FEE-FILING-MISSING");
	assert_non_null(strstr(fx_cond(fx, "FEE-FILING-MISSING")->message, "收费逾期备案"));
	assert_string_equal(fx_cond(fx, "FEE-FILING-MISSING")->evidence[1], "ff");
	fx_clear(fx);
	collect_filed(fx, "100.00", ENTERPRISE, "");
	fee_filed(fx, "ff", "2026-03-25T10:00:00+08:00", "ZR-F003", "jianfuban", NULL);
	fx_eval(fx, "2026-03-31T12:00:00+08:00");
	assert_rules(fx, "");
	/* A fee.filed of another item files nothing for this one; one without an item does. */
	fx_clear(fx);
	collect_filed(fx, "100.00", ENTERPRISE, "");
	fee_filed(fx, "ff", "2026-03-20T10:00:00+08:00", "ZR-F004", "jianfuban", NULL);
	fx_eval(fx, "2026-03-31T12:00:00+08:00");
	assert_rules(fx, "FEE-FILING-MISSING");
	fee_filed(fx, "fg", "2026-03-20T11:00:00+08:00", NULL, "jianfuban", NULL);
	fx_eval(fx, "2026-03-31T12:00:00+08:00");
	assert_rules(fx, "");
	/* The collection's own filing, filed_at the day after: late; with one working day of
	 * grace (Thursday 03-26 24:00) on time. */
	fx_clear(fx);
	collect_filed(fx, "100.00", ENTERPRISE, ",\"filing\":{\"office\":\"jianfuban\","
		"\"ref\":\"J-1\",\"filed_at\":\"2026-03-26T09:00:00+08:00\"}");
	fx_eval(fx, "2026-03-31T12:00:00+08:00");
	assert_rules(fx, "FEE-FILING-MISSING");
	fx_param(fx, "filing_grace_days", 1);
	fx_eval(fx, "2026-03-31T12:00:00+08:00");
	assert_rules(fx, "");
	/* With grace, nothing filed is yellow from 03-27 00:00:01. */
	fx_clear(fx);
	collect_filed(fx, "100.00", ENTERPRISE, "");
	fx_eval(fx, "2026-03-26T23:59:59+08:00");
	assert_rules(fx, "");
	assert_int_equal(fx->ev.state.next_check, T("2026-03-27T00:00:01+08:00"));
	fx_eval(fx, "2026-03-27T00:00:01+08:00");
	assert_rules(fx, "FEE-FILING-MISSING");
	assert_non_null(strstr(fx_cond(fx, "FEE-FILING-MISSING")->message,
		"due by 2026-03-26, 1 working day after the collection"));
}

/* A fee without a case is judged once, as it arrives, and nothing but itself can file it:
 * unfiled, the condition holds from its collection, even at that instant and with grace. */
static void test_filing_caseless(void **state)
{
	struct fx *fx = *state;

	collect(fx, "LY-ZRZYJ", "2026-03-25T10:00:00+08:00", "ZR-F003", "800.00", "",
		"2026-03-25T10:00:00+08:00");
	assert_rules(fx, "FEE-FILING-MISSING");
	assert_int_equal(fx_cond(fx, "FEE-FILING-MISSING")->since, T("2026-03-25T10:00:00+08:00"));
	assert_int_equal(fx->ev.state.next_check, INT64_MAX);
	fx_param(fx, "filing_grace_days", 3);
	collect(fx, "LY-ZRZYJ", "2026-03-25T10:00:00+08:00", "ZR-F003", "800.00", "",
		"2026-03-25T10:00:00+08:00");
	assert_rules(fx, "FEE-FILING-MISSING");
	assert_non_null(strstr(fx_cond(fx, "FEE-FILING-MISSING")->message, "收费未备案 (not filed; "
		"due by 2026-03-30, 3 working days after the collection)"));
	collect(fx, "LY-ZRZYJ", "2026-03-25T10:00:00+08:00", "ZR-F003", "800.00", ",\"filing\":"
		"{\"office\":\"jianfuban\",\"ref\":\"J\"}", "2026-03-25T10:00:00+08:00");
	assert_rules(fx, "");
}

/* The seed's system is 涉企: a citizen's fee, and a fee of 0.00, file nothing. A fee.filed
 * names the office of the fee it files. */
static void test_filing_scope(void **state)
{
	struct fx *fx = *state;

	collect_filed(fx, "100.00", CITIZEN, "");
	fx_eval(fx, "2026-03-31T12:00:00+08:00");
	assert_rules(fx, "");
	fx_clear(fx);
	collect_filed(fx, "0", ENTERPRISE, "");
	fx_eval(fx, "2026-03-31T12:00:00+08:00");
	assert_rules(fx, "");
	fx_clear(fx);
	fee_filed(fx, "ff", "2026-03-24T10:00:00+08:00", "ZR-F003", "jianfuban", "12000.00");
	collect_filed(fx, "12000.00", ENTERPRISE, "");
	fx_eval(fx, "2026-03-31T12:00:00+08:00");
	assert_rules(fx, "FEE-FILING-OFFICE");
	assert_string_equal(fx_cond(fx, "FEE-FILING-OFFICE")->key,
		"FEE-FILING-OFFICE|LY-ZRZYJ|C-1|ff");
	assert_string_equal(fx_cond(fx, "FEE-FILING-OFFICE")->evidence[0], "cw-1");
	assert_string_equal(fx_cond(fx, "FEE-FILING-OFFICE")->evidence[1], "ff");
}

int main(int argc, char **argv);

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, fx_teardown)
static const struct CMUnitTest tests[] = {
	TEST(test_over_standard_boundary),
	TEST(test_abolished_boundary),
	TEST(test_free_item),
	TEST(test_review),
	TEST(test_unknown_item),
	TEST(test_refund),
	TEST(test_fee_with_case),
	TEST(test_caseless_alone),
	TEST(test_empty_catalogue),
	TEST(test_disabled),
	TEST(test_fee_items_loader),
	TEST(test_table_names),
	cmocka_unit_test_setup_teardown(test_filing_office_bands, setup_filing, fx_teardown),
	cmocka_unit_test_setup_teardown(test_filing_time, setup_filing, fx_teardown),
	cmocka_unit_test_setup_teardown(test_filing_scope, setup_filing, fx_teardown),
	cmocka_unit_test_setup_teardown(test_filing_caseless, setup_filing, fx_teardown),
};

FX_MAIN(tests)
