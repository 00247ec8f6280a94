/* test_event.c: event validation: every type accepted with its minimal fields and
 * refused with each required field missing; then the precise errors (path, expected,
 * got) for each field kind, and the safety of what is echoed back; last the warnings
 * for unknown fields (path, type, nearest known name) and their bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mon_event.h"

#define ENVELOPE "\"id\":\"ev-1\",\"dept\":\"LY-SCJGJ\",\"at\":\"2026-03-02T09:15:00+08:00\""
#define CASE_NO "\"case\":\"LY-SCJGJ-2026-000123\""
#define USCC_OK "91410300MA44ABCD1R"
#define PARTY "{\"uscc\":\"" USCC_OK "\"}"
#define FILING "{\"office\":\"city\",\"ref\":\"BA-2026-031\"}"

/* Each type with the smallest body it accepts, and the fields that body cannot lose. */
struct minimal {
	const char *type;
	const char *fields;
	const char *required[6];
};

static const struct minimal minimals[] = {
	{ "approval.received", CASE_NO ",\"item\":\"SCJG-001\"", { "case", "item" } },
	{ "approval.supplement_requested", CASE_NO, { "case" } },
	{ "approval.supplement_received", CASE_NO, { "case" } },
	{ "approval.accepted", CASE_NO ",\"item\":\"SCJG-001\"", { "case", "item" } },
	{ "approval.refused_intake", CASE_NO, { "case" } },
	{ "approval.step", CASE_NO ",\"step\":\"review-1\"", { "case", "step" } },
	{ "approval.suspended", CASE_NO ",\"kind\":\"expert_review\",\"days\":10",
		{ "case", "kind", "days" } },
	{ "approval.resumed", CASE_NO, { "case" } },
	{ "approval.extended", CASE_NO ",\"days\":20", { "case", "days" } },
	{ "approval.decided", CASE_NO ",\"result\":\"approved\"", { "case", "result" } },
	{ "approval.withdrawn", CASE_NO, { "case" } },
	{ "fee.collected", "\"fee_item\":\"ZJ-017\",\"amount\":\"1200.00\",\"payer\":" PARTY,
		{ "fee_item", "amount", "payer" } },
	{ "fee.refunded", "\"fee_item\":\"ZJ-017\",\"amount\":12", { "fee_item", "amount" } },
	{ "penalty.decided", CASE_NO ",\"party\":" PARTY ",\"violation\":\"HB-12\","
		"\"severity\":\"general\",\"amount\":\"15000\"",
		{ "case", "party", "violation", "severity", "amount" } },
	{ "penalty.filed", CASE_NO ",\"filing\":" FILING, { "case", "filing" } },
	{ "penalty.hearing_held", CASE_NO, { "case" } },
	{ "inspection.started", CASE_NO ",\"enterprise\":" PARTY ",\"officers\":"
		"[{\"id\":\"P0012\",\"certificate\":\"ZF-41-0012\"}]",
		{ "case", "enterprise", "officers" } },
	{ "inspection.ended", CASE_NO, { "case" } },
	{ "complaint.received", CASE_NO, { "case" } },
	{ "complaint.replied", CASE_NO, { "case" } },
	{ "complaint.closed", CASE_NO, { "case" } },
	{ "evaluation.received", "\"satisfied\":false", { "satisfied" } },
	{ "evaluation.rectified", CASE_NO, { "case" } },
	{ "inquiry.received", CASE_NO, { "case" } },
	{ "inquiry.answered", CASE_NO, { "case" } },
	{ "trade.announced", CASE_NO ",\"documents_issued\":\"2026-03-02T09:00:00+08:00\","
		"\"bid_deadline\":\"2026-03-23T09:00:00+08:00\"",
		{ "case", "documents_issued", "bid_deadline" } },
	{ "trade.bids_opened", CASE_NO, { "case" } },
	{ "trade.awarded", CASE_NO ",\"publicity_start\":\"2026-03-24T09:00:00+08:00\","
		"\"publicity_end\":\"2026-03-27T09:00:00+08:00\"",
		{ "case", "publicity_start", "publicity_end" } },
	{ "event.corrected", "\"of\":\"ev-0\",\"action\":\"void\",\"reason\":\"sent twice\"",
		{ "of", "action", "reason" } },
	{ "fee.filed", CASE_NO ",\"filing\":" FILING, { "case", "filing" } },
	{ "approval.delay_reported", CASE_NO ",\"by\":\"section\",\"report_to\":\"deputy_head\","
		"\"reason\":\"待专家评审意见\"", { "case", "by", "report_to", "reason" } },
};

static json_t *load(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, 0, &jerr);

	if (v == NULL)
		fail_msg("test JSON does not parse: %s: %s", jerr.text, text);
	return v;
}

/* Envelope + the given fields, as an object. */
static json_t *event_with(const char *type, const char *fields)
{
	char text[2048];

	int n = snprintf(text, sizeof(text), "{" ENVELOPE ",\"type\":\"%s\"%s%s}", type,
		fields[0] != '\0' ? "," : "", fields);

	assert_true(n > 0 && (size_t)n < sizeof(text));   /* a test's event is never cut */
	return load(text);
}

/* Validates and returns the error (zeroed when the event was accepted). */
static bool validate(json_t *obj, struct mon_error *err)
{
	struct mon_event ev;
	bool ok = mon_event_from_json(obj, &ev, err);

	if (ok)
		mon_event_finish(&ev);
	else
		assert_null(ev.body);
	json_decref(obj);
	return ok;
}

static void assert_refused(json_t *obj, const char *field, const char *got)
{
	struct mon_error err;

	if (validate(obj, &err))
		fail_msg("accepted, expected an error on %s", field);
	assert_string_equal(err.field, field);
	assert_true(err.expected[0] != '\0');
	if (got != NULL)
		assert_string_equal(err.got, got);
}

static void assert_accepted(json_t *obj)
{
	struct mon_error err;

	if (!validate(obj, &err))
		fail_msg("refused: field '%s' expected '%s' got '%s'", err.field, err.expected, err.got);
}

static void test_every_type_minimal(void **state)
{
	(void)state;
	assert_int_equal(sizeof(minimals) / sizeof(minimals[0]), MON_EV__COUNT);
	for (size_t i = 0; i < MON_EV__COUNT; i++)
		assert_accepted(event_with(minimals[i].type, minimals[i].fields));
}

static void test_every_required_field_missing(void **state)
{
	static const char *const envelope[] = { "id", "dept", "type", "at" };

	(void)state;
	for (size_t i = 0; i < MON_EV__COUNT; i++) {
		const struct minimal *m = &minimals[i];
		for (size_t r = 0; r < 6 && m->required[r] != NULL; r++) {
			json_t *obj = event_with(m->type, m->fields);
			json_object_del(obj, m->required[r]);
			assert_refused(obj, m->required[r], "(missing)");
		}
		for (size_t r = 0; r < 4; r++) {
			json_t *obj = event_with(m->type, m->fields);
			json_object_del(obj, envelope[r]);
			assert_refused(obj, envelope[r], "(missing)");
		}
	}
}

static void test_type_names(void **state)
{
	enum mon_event_type t;

	(void)state;
	for (int i = 0; i < MON_EV__COUNT; i++) {
		assert_true(mon_event_type_from_name(mon_event_type_name((enum mon_event_type)i), &t));
		assert_int_equal(t, i);
		assert_string_equal(mon_event_type_name((enum mon_event_type)i), minimals[i].type);
	}
	assert_false(mon_event_type_from_name("approval.bogus", &t));
	assert_false(mon_event_type_from_name("APPROVAL.RECEIVED", &t));
	assert_false(mon_event_type_from_name("", &t));
	assert_false(mon_event_type_from_name(NULL, &t));
	assert_string_equal(mon_event_type_name(MON_EV__COUNT), "unknown");
}

static void test_fields_copied(void **state)
{
	struct mon_event ev;
	struct mon_error err;
	json_t *obj = load("{\"id\":\"sj-000123-1\",\"dept\":\"LY-SCJGJ\",\"type\":"
		"\"approval.accepted\",\"at\":\"2026-03-02T09:15:00+08:00\",\"case\":"
		"\"LY-SCJGJ-2026-000123\",\"item\":\"SCJG-001\",\"applicant\":{\"uscc\":\""
		USCC_OK "\",\"name\":\"洛阳某某有限公司\"},\"extra\":{\"anything\":[1,2]}}");

	(void)state;
	assert_true(mon_event_from_json(obj, &ev, &err));
	assert_int_equal(ev.type, MON_EV_APPROVAL_ACCEPTED);
	assert_string_equal(ev.id, "sj-000123-1");
	assert_string_equal(ev.dept, "LY-SCJGJ");
	assert_string_equal(ev.case_no, "LY-SCJGJ-2026-000123");
	assert_string_equal(ev.item, "SCJG-001");
	assert_int_equal(ev.at, 1772414100);
	assert_int_equal(ev.at_offset_min, 480);
	assert_ptr_equal(ev.body, obj);
	assert_int_equal(obj->refcount, 2);
	mon_event_finish(&ev);
	assert_int_equal(obj->refcount, 1);
	assert_null(ev.body);
	mon_event_finish(&ev);
	mon_event_finish(NULL);
	json_decref(obj);
}

static void test_optional_case_and_item(void **state)
{
	struct mon_event ev;
	struct mon_error err;
	json_t *obj = event_with("evaluation.received", "\"satisfied\":true");

	(void)state;
	assert_true(mon_event_from_json(obj, &ev, &err));
	assert_string_equal(ev.case_no, "");
	assert_string_equal(ev.item, "");
	mon_event_finish(&ev);
	json_decref(obj);
	assert_accepted(event_with("evaluation.received",
		"\"satisfied\":true,\"case\":\"C-1\",\"item\":\"I-1\",\"window\":\"3号窗口\""));
	/* Present optional envelope fields are still checked. */
	assert_refused(event_with("fee.refunded", "\"fee_item\":\"Z\",\"amount\":1,\"case\":\"a b\""),
		"case", "\"a b\"");
	assert_refused(event_with("evaluation.received", "\"satisfied\":true,\"item\":\"a/b\""),
		"item", "\"a/b\"");
}

static void test_envelope_errors(void **state)
{
	struct mon_error err;
	char id64[65], id65[66];

	(void)state;
	memset(id64, 'a', 64), id64[64] = '\0';
	memset(id65, 'a', 65), id65[65] = '\0';
	json_t *obj = event_with("approval.resumed", CASE_NO);
	json_object_set_new(obj, "id", json_string(id64));
	assert_accepted(obj);
	obj = event_with("approval.resumed", CASE_NO);
	json_object_set_new(obj, "id", json_string(id65));
	assert_refused(obj, "id", NULL);
	obj = event_with("approval.resumed", CASE_NO);
	json_object_set_new(obj, "id", json_stringn("ab\0c", 4));
	assert_refused(obj, "id", "\"ab\\u0000c\"");
	obj = event_with("approval.resumed", CASE_NO);
	json_object_set_new(obj, "id", json_integer(7));
	assert_refused(obj, "id", "7");
	obj = event_with("approval.resumed", CASE_NO);
	json_object_set_new(obj, "dept", json_string("LY.SCJGJ"));
	assert_refused(obj, "dept", "\"LY.SCJGJ\"");
	obj = event_with("approval.resumed", "\"case\":\"LY:1\"");
	assert_refused(obj, "case", "\"LY:1\"");
	obj = event_with("approval.resumed", CASE_NO);
	json_object_set_new(obj, "at", json_string("2026-03-02T09:15:00"));
	assert_refused(obj, "at", "\"2026-03-02T09:15:00\"");

	assert_false(validate(event_with("approval.bogus", CASE_NO), &err));
	assert_string_equal(err.field, "type");
	assert_string_equal(err.expected, "a known event type such as approval.accepted");
	assert_string_equal(err.got, "\"approval.bogus\"");

	assert_false(validate(json_array(), &err));
	assert_string_equal(err.field, "");
	assert_string_equal(err.expected, "a JSON object");
	assert_string_equal(err.got, "[]");
}

static void test_party_errors(void **state)
{
	struct mon_error err;

	(void)state;
	assert_false(validate(event_with("approval.received", CASE_NO ",\"item\":\"I\","
		"\"applicant\":{\"uscc\":\"91410300MA44ABCD1S\"}"), &err));
	assert_string_equal(err.field, "applicant.uscc");
	assert_string_equal(err.expected,
		"18-character unified social credit code with a valid check digit");
	assert_string_equal(err.got, "\"91410300MA44ABCD1S\"");

	assert_refused(event_with("approval.received", CASE_NO ",\"item\":\"I\","
		"\"applicant\":{\"id\":\"11010519491231002x\"}"), "applicant.id", NULL);
	assert_accepted(event_with("approval.received", CASE_NO ",\"item\":\"I\","
		"\"applicant\":{\"id\":\"11010519491231002X\",\"name\":\"张三\"}"));
	assert_refused(event_with("fee.collected", "\"fee_item\":\"Z\",\"amount\":1,"
		"\"payer\":{\"name\":\"nobody\"}"), "payer", "{\"name\":\"nobody\"}");
	assert_refused(event_with("fee.collected", "\"fee_item\":\"Z\",\"amount\":1,"
		"\"payer\":{\"uscc\":\"" USCC_OK "\",\"id\":\"11010519491231002X\"}"), "payer", NULL);
	assert_refused(event_with("fee.collected", "\"fee_item\":\"Z\",\"amount\":1,"
		"\"payer\":\"" USCC_OK "\""), "payer", "\"" USCC_OK "\"");
	assert_refused(event_with("fee.collected", "\"fee_item\":\"Z\",\"amount\":1,"
		"\"payer\":{\"uscc\":\"" USCC_OK "\",\"name\":\"\"}"), "payer.name", "\"\"");
}

#define DECIDED CASE_NO ",\"party\":" PARTY ",\"violation\":\"HB-12\",\"severity\":" \
	"\"general\",\"amount\":0"

/* penalty.decided's measures (distinct, known, non-empty) and the confiscated value that goes
 * with a confiscation; a fine's or fee's filing with the proposed amount and when. */
static void test_measures_and_money_filing(void **state)
{
	struct mon_error err;

	(void)state;
	assert_accepted(event_with("penalty.decided", DECIDED ",\"measures\":[\"licence_revocation\","
		"\"production_stop\",\"closure\",\"qualification_downgrade\",\"practice_restriction\","
		"\"fine\"]"));
	assert_accepted(event_with("penalty.decided", DECIDED ",\"measures\":[\"confiscation\"],"
		"\"confiscated_value\":\"50000.00\""));
	assert_refused(event_with("penalty.decided", DECIDED ",\"measures\":[\"confiscation\"]"),
		"confiscated_value", "(missing)");
	assert_refused(event_with("penalty.decided", DECIDED ",\"confiscated_value\":1"),
		"confiscated_value", "1");
	assert_refused(event_with("penalty.decided", DECIDED ",\"measures\":[\"fine\"],"
		"\"confiscated_value\":1"), "confiscated_value", "1");
	assert_refused(event_with("penalty.decided", DECIDED ",\"measures\":[\"confiscation\"],"
		"\"confiscated_value\":\"1.001\""), "confiscated_value", "\"1.001\"");
	assert_refused(event_with("penalty.decided", DECIDED ",\"measures\":[]"), "measures", "[]");
	assert_refused(event_with("penalty.decided", DECIDED ",\"measures\":\"closure\""),
		"measures", "\"closure\"");
	assert_refused(event_with("penalty.decided", DECIDED ",\"measures\":[\"closure\","
		"\"closure\"]"), "measures", NULL);
	assert_false(validate(event_with("penalty.decided", DECIDED ",\"measures\":[\"detention\"]"),
		&err));
	assert_string_equal(err.field, "measures");
	assert_non_null(strstr(err.expected, "distinct measures from fine, confiscation, "
		"licence_revocation, production_stop, closure, qualification_downgrade, "
		"practice_restriction"));

	assert_accepted(event_with("penalty.decided", DECIDED ",\"filing\":{\"office\":\"city\","
		"\"ref\":\"B\",\"amount\":\"12000.00\",\"filed_at\":\"2026-03-02T09:00:00+08:00\"}"));
	assert_refused(event_with("penalty.filed", CASE_NO ",\"filing\":{\"office\":\"city\","
		"\"ref\":\"B\",\"amount\":\"-1\"}"), "filing.amount", "\"-1\"");
	assert_refused(event_with("fee.collected", "\"fee_item\":\"ZJ-017\",\"amount\":1,\"payer\":"
		PARTY ",\"filing\":{\"office\":\"city\",\"ref\":\"B\",\"filed_at\":\"2026-03-02\"}"),
		"filing.filed_at", "\"2026-03-02\"");
	assert_accepted(event_with("fee.collected", "\"fee_item\":\"ZJ-017\",\"amount\":1,\"payer\":"
		PARTY ",\"filing\":{\"office\":\"jianfuban\",\"ref\":\"J-1\"}"));
	assert_accepted(event_with("fee.filed", CASE_NO ",\"fee_item\":\"ZJ-017\",\"filing\":"
		"{\"office\":\"jianfuban\",\"ref\":\"J-1\",\"amount\":\"2999.99\"}"));
	assert_refused(event_with("fee.filed", "\"filing\":" FILING), "case", "(missing)");
}

static void test_officers_and_filing(void **state)
{
	char officers[4096];
	size_t used = 0;

	(void)state;
	assert_refused(event_with("inspection.started", CASE_NO ",\"enterprise\":" PARTY
		",\"officers\":[]"), "officers", "[]");
	assert_refused(event_with("inspection.started", CASE_NO ",\"enterprise\":" PARTY
		",\"officers\":[{\"id\":\"P1\",\"certificate\":\"C1\"},{\"id\":\"P2\"}]"),
		"officers[1].certificate", "(missing)");
	assert_refused(event_with("inspection.started", CASE_NO ",\"enterprise\":" PARTY
		",\"officers\":[\"P1\"]"), "officers[0]", "\"P1\"");
	used += (size_t)snprintf(officers, sizeof(officers), CASE_NO ",\"enterprise\":" PARTY
		",\"officers\":[");
	for (int i = 0; i < 51; i++)
		used += (size_t)snprintf(officers + used, sizeof(officers) - used,
			"%s{\"id\":\"P%d\",\"certificate\":\"C%d\"}", i ? "," : "", i, i);
	snprintf(officers + used, sizeof(officers) - used, "]");
	assert_refused(event_with("inspection.started", officers), "officers", NULL);
	/* The 51st officer is the one too many: 50 are fine. */
	char *last = strstr(officers, ",{\"id\":\"P50\"");
	assert_non_null(last);
	snprintf(last, sizeof(officers) - (size_t)(last - officers), "]");
	assert_accepted(event_with("inspection.started", officers));

	assert_refused(event_with("penalty.filed", CASE_NO ",\"filing\":{\"office\":\"市 委\","
		"\"ref\":\"BA-1\"}"), "filing.office", "\"市 委\"");
	assert_refused(event_with("penalty.filed", CASE_NO ",\"filing\":{\"office\":\"city\"}"),
		"filing.ref", "(missing)");
	assert_refused(event_with("penalty.filed", CASE_NO ",\"filing\":\"BA-1\""),
		"filing", "\"BA-1\"");
}

static void test_scalar_kinds(void **state)
{
	struct mon_error err;

	(void)state;
	assert_refused(event_with("approval.extended", CASE_NO ",\"days\":0"), "days", "0");
	assert_refused(event_with("approval.extended", CASE_NO ",\"days\":3651"), "days", "3651");
	assert_refused(event_with("approval.extended", CASE_NO ",\"days\":\"10\""), "days", NULL);
	assert_refused(event_with("approval.extended", CASE_NO ",\"days\":10.0"), "days", "10.0");
	assert_accepted(event_with("approval.extended", CASE_NO ",\"days\":3650"));
	assert_refused(event_with("approval.extended", CASE_NO ",\"days\":5,\"approver\":null"),
		"approver", "null");

	assert_false(validate(event_with("approval.suspended", CASE_NO
		",\"kind\":\"holiday\",\"days\":3"), &err));
	assert_string_equal(err.field, "kind");
	assert_string_equal(err.expected, "one of hearing, testing, expert_review, public_notice, "
		"bidding, quarantine, appraisal, site_inspection");
	assert_refused(event_with("approval.decided", CASE_NO ",\"result\":\"Approved\""),
		"result", "\"Approved\"");
	assert_refused(event_with("evaluation.received", "\"satisfied\":\"true\""),
		"satisfied", "\"true\"");
	assert_refused(event_with("fee.refunded", "\"fee_item\":\"Z\",\"amount\":\"0.001\""),
		"amount", "\"0.001\"");
	assert_refused(event_with("fee.refunded", "\"fee_item\":\"Z\",\"amount\":-5"),
		"amount", "-5");
	assert_refused(event_with("trade.announced", CASE_NO ",\"documents_issued\":"
		"\"2026-03-02T09:00:00+08:00\",\"bid_deadline\":\"2026-02-30T09:00:00+08:00\""),
		"bid_deadline", "\"2026-02-30T09:00:00+08:00\"");
	assert_refused(event_with("penalty.decided", CASE_NO ",\"party\":" PARTY ",\"violation\""
		":\"HB-12\",\"severity\":\"general\",\"amount\":1,\"hearing_notice\":1"),
		"hearing_notice", "1");
}

/* The refusal report's levels (不批准报告制度) on a denial, an intake refusal and a delay
 * report: five wire names, nothing else; the 优化办 filing is a filing object. */
static void test_report_levels(void **state)
{
	static const char *const levels[] = { "section", "deputy_head", "head", "superior",
		"party_government" };
	struct mon_error err;
	char fields[512];

	(void)state;
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		snprintf(fields, sizeof(fields), CASE_NO ",\"result\":\"denied\",\"refused_by\":"
			"\"%s\",\"report_to\":\"%s\"", levels[i], levels[i]);
		assert_accepted(event_with("approval.decided", fields));
		snprintf(fields, sizeof(fields), CASE_NO ",\"refused_by\":\"%s\"", levels[i]);
		assert_accepted(event_with("approval.refused_intake", fields));
		snprintf(fields, sizeof(fields), CASE_NO ",\"by\":\"%s\",\"report_to\":\"%s\","
			"\"reason\":\"r\"", levels[i], levels[i]);
		assert_accepted(event_with("approval.delay_reported", fields));
	}
	assert_accepted(event_with("approval.decided", CASE_NO ",\"result\":\"denied\","
		"\"refused_by\":\"head\",\"report_to\":\"superior\",\"solution\":\"补充环评后\\n重新申请\","
		"\"filing\":{\"office\":\"youhuaban\",\"ref\":\"YHB-2026-011\"}"));
	assert_false(validate(event_with("approval.decided", CASE_NO ",\"result\":\"denied\","
		"\"refused_by\":\"Head\""), &err));
	assert_string_equal(err.field, "refused_by");
	assert_string_equal(err.expected, "one of section, deputy_head, head, superior, "
		"party_government");
	assert_string_equal(err.got, "\"Head\"");
	assert_refused(event_with("approval.refused_intake", CASE_NO ",\"report_to\":\"mayor\""),
		"report_to", "\"mayor\"");
	assert_refused(event_with("approval.refused_intake", CASE_NO ",\"solution\":\"\""),
		"solution", "\"\"");
	assert_refused(event_with("approval.decided", CASE_NO ",\"result\":\"denied\","
		"\"filing\":{\"office\":\"youhuaban\"}"), "filing.ref", "(missing)");
	assert_refused(event_with("approval.delay_reported", CASE_NO ",\"by\":\"head\","
		"\"report_to\":\"superior\",\"reason\":\"r\",\"report\":7"), "report", "7");
	assert_refused(event_with("approval.delay_reported", CASE_NO ",\"by\":\"deputy\","
		"\"report_to\":\"head\",\"reason\":\"r\""), "by", "\"deputy\"");
}

static void test_text_kinds(void **state)
{
	char text[2600], fields[2700];

	(void)state;
	/* 256 characters of three bytes each fit a short string; 257 do not. */
	text[0] = '\0';
	for (int i = 0; i < 256; i++)
		strncat(text, "审", sizeof(text) - strlen(text) - 1);
	snprintf(fields, sizeof(fields), CASE_NO ",\"step\":\"s\",\"handler\":\"%s\"", text);
	assert_accepted(event_with("approval.step", fields));
	snprintf(fields, sizeof(fields), CASE_NO ",\"step\":\"s\",\"handler\":\"%s审\"", text);
	assert_refused(event_with("approval.step", fields), "handler", NULL);

	assert_refused(event_with("approval.step", CASE_NO ",\"step\":\"s\",\"handler\":\"a\\nb\""),
		"handler", "\"a\\nb\"");
	assert_accepted(event_with("approval.decided", CASE_NO ",\"result\":\"denied\","
		"\"reason\":\"第一条\\n第二条\\t备注\",\"report\":\"洛市监不批〔2026〕7号\""));
	assert_refused(event_with("approval.decided", CASE_NO ",\"result\":\"denied\","
		"\"reason\":\"a\\u0007\""), "reason", "\"a\\u0007\"");
	/* DEL and C1 controls are refused and echoed escaped, never raw. */
	assert_refused(event_with("approval.step", CASE_NO ",\"step\":\"s\",\"handler\":\"a\x7f\""),
		"handler", "\"a\\x7f\"");
	assert_refused(event_with("approval.step", CASE_NO ",\"step\":\"s\",\"handler\":\"\xc2\x85\""),
		"handler", "\"\\xc2\\x85\"");
	assert_refused(event_with("approval.step", CASE_NO ",\"step\":\"s\",\"handler\":\"\""),
		"handler", "\"\"");
}

static void test_got_is_truncated(void **state)
{
	struct mon_error err;
	char fields[1200], big[1000];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[10] = ' ';
	snprintf(fields, sizeof(fields), CASE_NO ",\"step\":\"%s\"", big);
	assert_false(validate(event_with("approval.step", fields), &err));
	assert_string_equal(err.field, "step");
	assert_true(strlen(err.got) < sizeof(err.got));
	assert_true(strlen(err.got) > 60);
	assert_memory_equal(err.got, "\"xxxxxxxxxx xxx", 15);
	assert_string_equal(err.got + strlen(err.got) - 3, "...");

	/* Multi-byte text is cut between characters. */
	big[0] = '\0';
	for (int i = 0; i < 60; i++)
		strncat(big, "洛", sizeof(big) - strlen(big) - 1);
	snprintf(fields, sizeof(fields), CASE_NO ",\"step\":\"%s\"", big);
	assert_false(validate(event_with("approval.step", fields), &err));
	size_t n = strlen(err.got);
	assert_string_equal(err.got + n - 3, "...");
	assert_int_equal((n - 4) % 3, 0);   /* the quote, whole characters, the ellipsis */
	assert_memory_equal(err.got + n - 6, "洛", 3);
}

#define CORRECTION CASE_NO ",\"of\":\"ev-0\",\"reason\":\"wrong number of days\""
#define REPLACEMENT "{\"type\":\"approval.extended\",\"at\":\"2026-03-03T10:00:00+08:00\"," \
	"\"days\":10,\"approver\":\"P0012\"}"

/* event.corrected: replace needs a replacement, validated as an event of its type with the
 * correction's id, dept and case; void refuses one. */
static void test_correction(void **state)
{
	struct mon_event ev;
	struct mon_error err;
	json_t *obj = event_with("event.corrected", CORRECTION ",\"action\":\"replace\","
		"\"replacement\":" REPLACEMENT);

	(void)state;
	assert_true(mon_event_from_json(obj, &ev, &err));
	assert_int_equal(ev.type, MON_EV_EVENT_CORRECTED);
	assert_string_equal(mon_correction_of(&ev), "ev-0");
	assert_false(mon_correction_is_void(&ev));
	assert_non_null(ev.replacement);
	assert_int_equal(ev.replacement->type, MON_EV_APPROVAL_EXTENDED);
	assert_string_equal(ev.replacement->id, "ev-1");
	assert_string_equal(ev.replacement->dept, "LY-SCJGJ");
	assert_string_equal(ev.replacement->case_no, "LY-SCJGJ-2026-000123");
	assert_int_equal(ev.replacement->at, ev.at + 86400 + 2700);   /* its own business time */
	assert_int_equal(json_integer_value(json_object_get(ev.replacement->body, "days")), 10);
	assert_null(ev.replacement->replacement);
	mon_event_finish(&ev);
	assert_null(ev.replacement);
	json_decref(obj);

	obj = event_with("event.corrected", CORRECTION ",\"action\":\"void\"");
	assert_true(mon_event_from_json(obj, &ev, &err));
	assert_true(mon_correction_is_void(&ev));
	assert_null(ev.replacement);
	mon_event_finish(&ev);
	json_decref(obj);
	assert_null(mon_correction_of(&ev));   /* finished: no longer a correction */

	assert_refused(event_with("event.corrected", CORRECTION ",\"action\":\"void\","
		"\"replacement\":" REPLACEMENT), "replacement", NULL);
	assert_refused(event_with("event.corrected", CORRECTION ",\"action\":\"replace\""),
		"replacement", "(missing)");
	assert_refused(event_with("event.corrected", CORRECTION ",\"action\":\"undo\""),
		"action", "\"undo\"");
	assert_refused(event_with("event.corrected", CASE_NO ",\"of\":\"ev 0\",\"action\":\"void\","
		"\"reason\":\"x\""), "of", "\"ev 0\"");
	assert_refused(event_with("event.corrected", CORRECTION ",\"action\":\"replace\","
		"\"replacement\":[1]"), "replacement", NULL);
	/* the replacement's own fields, named from the correction */
	assert_refused(event_with("event.corrected", CORRECTION ",\"action\":\"replace\","
		"\"replacement\":{\"type\":\"approval.extended\",\"at\":\"2026-03-03T10:00:00+08:00\","
		"\"days\":0}"), "replacement.days", "0");
	assert_refused(event_with("event.corrected", CORRECTION ",\"action\":\"replace\","
		"\"replacement\":{\"type\":\"approval.bogus\",\"at\":\"2026-03-03T10:00:00+08:00\"}"),
		"replacement.type", "\"approval.bogus\"");
	assert_refused(event_with("event.corrected", CORRECTION ",\"action\":\"replace\","
		"\"replacement\":{\"type\":\"approval.extended\",\"days\":10}"),
		"replacement.at", "(missing)");
	assert_refused(event_with("event.corrected", CORRECTION ",\"action\":\"replace\","
		"\"replacement\":{\"type\":\"event.corrected\",\"at\":\"2026-03-03T10:00:00+08:00\","
		"\"of\":\"ev-0\",\"action\":\"void\",\"reason\":\"x\"}"), "replacement.type", NULL);
	/* id, dept and case are the correction's: absent or equal */
	assert_accepted(event_with("event.corrected", CORRECTION ",\"action\":\"replace\","
		"\"replacement\":{\"id\":\"ev-1\",\"dept\":\"LY-SCJGJ\",\"case\":\"LY-SCJGJ-2026-000123\","
		"\"type\":\"approval.resumed\",\"at\":\"2026-03-03T10:00:00+08:00\"}"));
	assert_refused(event_with("event.corrected", CORRECTION ",\"action\":\"replace\","
		"\"replacement\":{\"id\":\"ev-9\",\"type\":\"approval.resumed\","
		"\"at\":\"2026-03-03T10:00:00+08:00\"}"), "replacement.id", "\"ev-9\"");
	assert_refused(event_with("event.corrected", CORRECTION ",\"action\":\"replace\","
		"\"replacement\":{\"dept\":\"LY-HBJ\",\"type\":\"approval.resumed\","
		"\"at\":\"2026-03-03T10:00:00+08:00\"}"), "replacement.dept", "\"LY-HBJ\"");
	assert_refused(event_with("event.corrected", CORRECTION ",\"action\":\"replace\","
		"\"replacement\":{\"case\":\"OTHER\",\"type\":\"approval.resumed\","
		"\"at\":\"2026-03-03T10:00:00+08:00\"}"), "replacement.case", "\"OTHER\"");
	/* a case type needs the correction's case */
	assert_refused(event_with("event.corrected", "\"of\":\"ev-0\",\"reason\":\"x\","
		"\"action\":\"replace\",\"replacement\":" REPLACEMENT), "replacement.case", "(missing)");
	/* a caseless one goes without */
	assert_accepted(event_with("event.corrected", "\"of\":\"cw-88\",\"reason\":\"amount\","
		"\"action\":\"replace\",\"replacement\":{\"type\":\"fee.collected\","
		"\"at\":\"2026-03-03T10:00:00+08:00\",\"fee_item\":\"ZJ-017\",\"amount\":\"120.00\","
		"\"payer\":" PARTY "}"));
}

/* Validates fields of type (whatever the outcome) and returns the event's warnings in
 * *ev (body released). */
static bool warnings_of(const char *type, const char *fields, struct mon_event *ev,
		struct mon_error *err)
{
	json_t *obj = event_with(type, fields);
	bool ok = mon_event_from_json(obj, ev, err);
	struct mon_event copy = *ev;

	if (ok)
		mon_event_finish(ev);
	assert_null(ev->body);
	/* finishing clears the event: keep the warnings for the caller */
	ev->warning_count = copy.warning_count;
	memcpy(ev->warnings, copy.warnings, sizeof(ev->warnings));
	json_decref(obj);
	return ok;
}

static void assert_warning(const struct mon_event *ev, size_t i, const char *field,
		const char *expected, const char *nearest)
{
	assert_true(i < ev->warning_count);
	assert_string_equal(ev->warnings[i].field, field);
	assert_string_equal(ev->warnings[i].expected, expected);
	assert_string_equal(ev->warnings[i].got, nearest);
}

/* A time in a common wrong form is refused with the corrected example in `expected`, at
 * every place a time can be: the envelope, a type's field, a nested one, a replacement. */
static void assert_time_hint(json_t *obj, const char *field, const char *expected)
{
	struct mon_error err;

	if (validate(obj, &err))
		fail_msg("accepted, expected an error on %s", field);
	assert_string_equal(err.field, field);
	assert_string_equal(err.expected, expected);
}

static void test_time_hints(void **state)
{
	json_t *obj;
	(void)state;
	obj = event_with("approval.resumed", CASE_NO);
	json_object_set_new(obj, "at", json_string("2026-03-02T10:00:00+0800"));
	assert_time_hint(obj, "at", "an RFC 3339 date-time with a colon in the offset, such as "
		"2026-03-02T10:00:00+08:00");
	obj = event_with("approval.resumed", CASE_NO);
	json_object_set_new(obj, "at", json_string("2026-03-02T09:15:00"));
	assert_time_hint(obj, "at", "an RFC 3339 date-time with an offset, such as "
		"2026-03-02T09:15:00+08:00");
	obj = event_with("approval.resumed", CASE_NO);
	json_object_set_new(obj, "at", json_string("2026-03-02 09:15:00"));
	assert_time_hint(obj, "at", "an RFC 3339 date-time with T between date and time and an "
		"offset, such as 2026-03-02T09:15:00+08:00");
	obj = event_with("approval.resumed", CASE_NO);
	json_object_set_new(obj, "at", json_integer(1772414100));
	assert_time_hint(obj, "at", "an RFC 3339 date-time with offset, such as "
		"2026-03-02T09:15:00+08:00");
	obj = event_with("approval.resumed", CASE_NO);
	json_object_set_new(obj, "at", json_string("2026-02-30 09:15:00"));
	assert_time_hint(obj, "at", "a date that exists (no such day: February 2026 has 28 days)");
	/* the right form, but no such date or time: which part, not the form */
	obj = event_with("approval.resumed", CASE_NO);
	json_object_set_new(obj, "at", json_string("2026-02-30T09:15:00+08:00"));
	assert_time_hint(obj, "at", "a date that exists (no such day: February 2026 has 28 days)");
	obj = event_with("approval.resumed", CASE_NO);
	json_object_set_new(obj, "at", json_string("2026-03-02T24:00:00+08:00"));
	assert_time_hint(obj, "at", "a time that exists (no such hour: 24; hours are 00 to 23, "
		"and midnight ending a day is 00:00:00 of the next)");
	obj = event_with("approval.resumed", CASE_NO);
	json_object_set_new(obj, "at", json_string("2026-03-02T09:15:60+08:00"));
	assert_time_hint(obj, "at", "a time that exists (no such second: 60; seconds are 00 to 59, "
		"leap seconds are not sent)");
	/* Java's OffsetDateTime.toString() at zero seconds */
	obj = event_with("approval.resumed", CASE_NO);
	json_object_set_new(obj, "at", json_string("2026-11-20T09:15+08:00"));
	assert_time_hint(obj, "at", "an RFC 3339 date-time: seconds are required, such as "
		"2026-11-20T09:15:00+08:00");
	obj = event_with("approval.resumed", CASE_NO);
	json_object_set_new(obj, "at", json_string("2026/03/02 09:15"));
	assert_time_hint(obj, "at", "an RFC 3339 date-time with offset, such as "
		"2026-03-02T09:15:00+08:00");
	assert_time_hint(event_with("fee.filed", CASE_NO ",\"fee_item\":\"ZJ-017\",\"filing\":"
		"{\"office\":\"city\",\"ref\":\"B\",\"filed_at\":\"2026-03-04 08:30:00+08:00\"}"),
		"filing.filed_at", "an RFC 3339 date-time with T between date and time, such as "
		"2026-03-04T08:30:00+08:00");
	assert_time_hint(event_with("event.corrected", CORRECTION ",\"action\":\"replace\","
		"\"replacement\":{\"type\":\"approval.extended\",\"at\":\"2026-03-03T10:00:00+0800\","
		"\"days\":10}"), "replacement.at", "an RFC 3339 date-time with a colon in the offset, "
		"such as 2026-03-03T10:00:00+08:00");
}

static void test_no_warnings_for_known_fields(void **state)
{
	struct mon_event ev;
	struct mon_error err;

	(void)state;
	for (size_t i = 0; i < MON_EV__COUNT; i++) {
		assert_true(warnings_of(minimals[i].type, minimals[i].fields, &ev, &err));
		assert_int_equal(ev.warning_count, 0);
	}
	/* every envelope field on every type, and every optional field, is known */
	assert_true(warnings_of("fee.collected", CASE_NO ",\"item\":\"ZJ\",\"fee_item\":\"ZJ-017\","
		"\"amount\":1,\"payer\":{\"uscc\":\"" USCC_OK "\",\"name\":\"n\"},\"reviewer\":\"P1\"",
		&ev, &err));
	assert_int_equal(ev.warning_count, 0);
	assert_true(warnings_of("inspection.started", CASE_NO ",\"enterprise\":" PARTY
		",\"officers\":[{\"id\":\"P1\",\"certificate\":\"C1\"}],\"filing\":" FILING,
		&ev, &err));
	assert_int_equal(ev.warning_count, 0);
}

static void test_misspelled_field_warns(void **state)
{
	struct mon_event ev;
	struct mon_error err;

	(void)state;
	/* the case: accepted, stored, and told */
	assert_true(warnings_of("approval.extended", CASE_NO ",\"days\":20,\"aprover\":\"P0012\"",
		&ev, &err));
	assert_int_equal(ev.warning_count, 1);
	assert_warning(&ev, 0, "aprover", "not a field of approval.extended", "approver");

	/* transposition, case, a prefix either way, an envelope name */
	assert_true(warnings_of("approval.extended", CASE_NO ",\"days\":20,\"apporver\":\"x\","
		"\"Approver\":\"x\",\"approver_id\":\"x\",\"appr\":\"x\",\"itme\":\"x\"", &ev, &err));
	assert_int_equal(ev.warning_count, 5);
	assert_warning(&ev, 0, "apporver", "not a field of approval.extended", "approver");
	assert_warning(&ev, 1, "Approver", "not a field of approval.extended", "approver");
	assert_warning(&ev, 2, "approver_id", "not a field of approval.extended", "approver");
	assert_warning(&ev, 3, "appr", "not a field of approval.extended", "approver");
	assert_warning(&ev, 4, "itme", "not a field of approval.extended", "item");

	/* nothing close: nearest "" ; a field of another type is still not this type's */
	assert_true(warnings_of("approval.step", CASE_NO ",\"step\":\"s\",\"zzqqxx\":1,"
		"\"approver\":\"P1\"", &ev, &err));
	assert_int_equal(ev.warning_count, 2);
	assert_warning(&ev, 0, "zzqqxx", "not a field of approval.step", "");
	assert_warning(&ev, 1, "approver", "not a field of approval.step", "");

	/* a correction's replacement is judged by its own type's fields */
	assert_true(warnings_of("event.corrected", CORRECTION ",\"action\":\"replace\","
		"\"replacement\":{\"type\":\"approval.extended\",\"at\":\"2026-03-03T10:00:00+08:00\","
		"\"days\":10,\"aprover\":\"P0012\"}", &ev, &err));
	assert_int_equal(ev.warning_count, 1);
	assert_warning(&ev, 0, "replacement.aprover", "not a field of approval.extended",
		"approver");
}

/* Short names allow one edit, longer ones two; a prefix needs three characters. */
static void test_nearest_bounds(void **state)
{
	struct mon_event ev;
	struct mon_error err;

	(void)state;
	assert_true(warnings_of("approval.extended", CASE_NO ",\"days\":20,\"ays\":1,\"as\":1,"
		"\"dayss\":1,\"approvr\":1,\"aprovr\":1,\"aproverxyz\":1,\"da\":1", &ev, &err));
	assert_int_equal(ev.warning_count, 7);
	assert_warning(&ev, 0, "ays", "not a field of approval.extended", "days");
	assert_warning(&ev, 1, "as", "not a field of approval.extended", "at");
	assert_warning(&ev, 2, "dayss", "not a field of approval.extended", "days");
	assert_warning(&ev, 3, "approvr", "not a field of approval.extended", "approver");
	assert_warning(&ev, 4, "aprovr", "not a field of approval.extended", "approver");
	assert_warning(&ev, 5, "aproverxyz", "not a field of approval.extended", "");
	assert_warning(&ev, 6, "da", "not a field of approval.extended", "");   /* 2 edits */
}

static void test_nested_unknown_fields(void **state)
{
	struct mon_event ev;
	struct mon_error err;

	(void)state;
	assert_true(warnings_of("approval.received", CASE_NO ",\"item\":\"SCJG-001\","
		"\"applicant\":{\"uscc\":\"" USCC_OK "\",\"nmae\":\"x\"}", &ev, &err));
	assert_int_equal(ev.warning_count, 1);
	assert_warning(&ev, 0, "applicant.nmae", "not a field of applicant in approval.received",
		"name");

	assert_true(warnings_of("inspection.started", CASE_NO ",\"enterprise\":" PARTY
		",\"officers\":[{\"id\":\"P1\",\"certificate\":\"C1\"},{\"id\":\"P2\","
		"\"certificate\":\"C2\",\"cert\":\"C2\"}],\"filing\":{\"office\":\"city\","
		"\"ref\":\"r\",\"offise\":\"x\"},\"enterprize\":1", &ev, &err));
	assert_int_equal(ev.warning_count, 3);
	assert_warning(&ev, 0, "officers[1].cert",
		"not a field of officers[1] in inspection.started", "certificate");
	assert_warning(&ev, 1, "filing.offise", "not a field of filing in inspection.started",
		"office");
	assert_warning(&ev, 2, "enterprize", "not a field of inspection.started", "enterprise");

	/* envelope names are known at the top only */
	assert_true(warnings_of("penalty.filed", CASE_NO ",\"filing\":{\"office\":\"city\","
		"\"ref\":\"r\",\"dept\":\"x\"}", &ev, &err));
	assert_int_equal(ev.warning_count, 1);
	assert_warning(&ev, 0, "filing.dept", "not a field of filing in penalty.filed", "");
}

/* A refused event keeps its warnings: a misspelled required field is why it is refused.
 * Without a known type there is nothing to compare with. */
static void test_rejected_event_warnings(void **state)
{
	struct mon_event ev;
	struct mon_error err;

	(void)state;
	assert_false(warnings_of("approval.extended", CASE_NO ",\"dayz\":20", &ev, &err));
	assert_string_equal(err.field, "days");
	assert_int_equal(ev.warning_count, 1);
	assert_warning(&ev, 0, "dayz", "not a field of approval.extended", "days");
	assert_string_equal(ev.id, "");

	assert_false(warnings_of("approval.extendd", CASE_NO ",\"dayz\":20", &ev, &err));
	assert_string_equal(err.field, "type");
	assert_int_equal(ev.warning_count, 0);

	/* a party of the wrong shape is an error, its keys no warnings */
	assert_false(warnings_of("fee.collected", "\"fee_item\":\"ZJ-017\",\"amount\":1,"
		"\"payer\":[{\"nmae\":1}]", &ev, &err));
	assert_string_equal(err.field, "payer");
	assert_int_equal(ev.warning_count, 0);
}

/* Hostile keys: at most MON_WARNINGS_MAX warnings, paths escaped and cut, long keys not
 * compared. */
static void test_warnings_bounded(void **state)
{
	struct mon_event ev;
	struct mon_error err;
	char fields[4096], big[1001];
	size_t used;

	(void)state;
	used = (size_t)snprintf(fields, sizeof(fields), CASE_NO ",\"days\":20");
	for (int i = 0; i < 3 * MON_WARNINGS_MAX; i++)
		used += (size_t)snprintf(fields + used, sizeof(fields) - used, ",\"k%02d\":1", i);
	assert_true(warnings_of("approval.extended", fields, &ev, &err));
	assert_int_equal(ev.warning_count, MON_WARNINGS_MAX);
	assert_warning(&ev, 0, "k00", "not a field of approval.extended", "");
	assert_warning(&ev, MON_WARNINGS_MAX - 1, "k07", "not a field of approval.extended", "");

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "approver", 8);
	snprintf(fields, sizeof(fields), CASE_NO ",\"days\":20,\"%s\":1,\"\\u0001aprover\":1",
		big);
	assert_true(warnings_of("approval.extended", fields, &ev, &err));
	assert_int_equal(ev.warning_count, 2);
	assert_true(strlen(ev.warnings[0].field) < sizeof(ev.warnings[0].field));
	assert_string_equal(ev.warnings[0].field + strlen(ev.warnings[0].field) - 3, "...");
	assert_memory_equal(ev.warnings[0].field, "approveraaa", 11);
	assert_string_equal(ev.warnings[0].got, "");   /* longer than 64 bytes: not compared */
	/* the control character is escaped in the path; the key is still compared as sent
	 * (drop it, add a p: two edits) */
	assert_warning(&ev, 1, "\\x01aprover", "not a field of approval.extended", "approver");
}

/* The schema (mon_event_schema) requires of each type what the validator does: the table of
 * minimal bodies above, written by hand, is the reference for both. */
static bool listed_in(const json_t *list, const char *name)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v) {
		if (strcmp(json_string_value(v), name) == 0)
			return true;
	}
	return false;
}

static void test_schema_requires_what_the_validator_does(void **state)
{
	json_t *schema = mon_event_schema();
	json_t *defs = json_object_get(schema, "$defs");
	json_t *names = json_object_get(json_object_get(json_object_get(schema, "properties"),
		"type"), "enum");
	json_t *rep_names = json_object_get(json_object_get(json_object_get(json_object_get(defs,
		"replacement"), "properties"), "type"), "enum");
	json_t *branches = json_object_get(schema, "allOf");

	(void)state;
	assert_non_null(schema);
	assert_string_equal(json_string_value(json_object_get(schema, "$schema")),
		"https://json-schema.org/draft/2020-12/schema");
	assert_int_equal(json_array_size(names), MON_EV__COUNT);
	assert_int_equal(json_array_size(rep_names), MON_EV__COUNT - 1);
	assert_false(listed_in(rep_names, "event.corrected"));
	assert_int_equal(sizeof(minimals) / sizeof(minimals[0]), MON_EV__COUNT);
	for (size_t i = 0; i < MON_EV__COUNT; i++) {
		const struct minimal *m = &minimals[i];
		json_t *def = json_object_get(defs, m->type), *then = NULL, *branch;
		size_t j, want = 0, got;

		assert_string_equal(json_string_value(json_array_get(names, i)),
			mon_event_type_name((enum mon_event_type)i));
		assert_non_null(def);
		json_array_foreach(branches, j, branch) {
			const char *type = json_string_value(json_object_get(json_object_get(
				json_object_get(json_object_get(branch, "if"), "properties"), "type"),
				"const"));
			if (type != NULL && strcmp(type, m->type) == 0)
				then = json_object_get(branch, "then");
		}
		assert_non_null(then);
		got = json_array_size(json_object_get(def, "required")) +
			json_array_size(json_object_get(then, "required"));
		for (; want < 6 && m->required[want] != NULL; want++) {
			const char *f = m->required[want];
			if (!listed_in(json_object_get(def, "required"), f) &&
					!listed_in(json_object_get(then, "required"), f))
				fail_msg("%s: the schema does not require %s", m->type, f);
		}
		assert_int_equal(got, want);
	}
	/* An office's code is reference data: the schema names the seed's three (an audit sent
	 * "jianfu" and only learnt of it from a card). */
	for (size_t i = 0; i < 2; i++) {
		json_t *office = json_object_get(json_object_get(json_object_get(defs,
			i == 0 ? "filing" : "filing_money"), "properties"), "office");
		json_t *examples = json_object_get(office, "examples");

		assert_non_null(strstr(json_string_value(json_object_get(office, "description")),
			"filing_offices"));
		assert_int_equal(json_array_size(examples), 3);
		assert_string_equal(json_string_value(json_array_get(examples, 0)), "jianfuban");
	}
	json_decref(schema);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_type_minimal),
		cmocka_unit_test(test_every_required_field_missing),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_fields_copied),
		cmocka_unit_test(test_optional_case_and_item),
		cmocka_unit_test(test_envelope_errors),
		cmocka_unit_test(test_time_hints),
		cmocka_unit_test(test_party_errors),
		cmocka_unit_test(test_officers_and_filing),
		cmocka_unit_test(test_measures_and_money_filing),
		cmocka_unit_test(test_scalar_kinds),
		cmocka_unit_test(test_report_levels),
		cmocka_unit_test(test_text_kinds),
		cmocka_unit_test(test_got_is_truncated),
		cmocka_unit_test(test_correction),
		cmocka_unit_test(test_no_warnings_for_known_fields),
		cmocka_unit_test(test_misspelled_field_warns),
		cmocka_unit_test(test_nearest_bounds),
		cmocka_unit_test(test_nested_unknown_fields),
		cmocka_unit_test(test_rejected_event_warnings),
		cmocka_unit_test(test_warnings_bounded),
		cmocka_unit_test(test_schema_requires_what_the_validator_does),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
