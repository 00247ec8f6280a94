/* test_event.c: event validation: every type accepted with its minimal fields and
 * refused with each required field missing; then the precise errors (path, expected,
 * got) for each field kind, and the safety of what is echoed back. */
#include <setjmp.h>
#include <stdarg.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_type_minimal),
		cmocka_unit_test(test_every_required_field_missing),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_fields_copied),
		cmocka_unit_test(test_optional_case_and_item),
		cmocka_unit_test(test_envelope_errors),
		cmocka_unit_test(test_party_errors),
		cmocka_unit_test(test_officers_and_filing),
		cmocka_unit_test(test_scalar_kinds),
		cmocka_unit_test(test_report_levels),
		cmocka_unit_test(test_text_kinds),
		cmocka_unit_test(test_got_is_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
