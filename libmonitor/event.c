/* event.c: the event model: wire names of the event types, and validation of one event
 * object: the envelope, then the fields of its type. The type fields are described by
 * one table per type and checked by one generic checker, so adding a field or a type is
 * a table edit. Unknown fields are allowed (departments send context) but each is a
 * warning naming the nearest known field, found from the same tables; known ones are
 * always type-checked, and the first violation is reported with its path. */
#include "mon_event.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mon_value.h"
#include "text.h"

#define SHORT_MAX 256      /* characters */
#define TEXT_MAX 2000      /* characters: reasons and lists of materials */
#define DAYS_MAX 3650
#define OFFICERS_MAX 50
#define PATH_MAX_LEN sizeof(((struct mon_error *)0)->field)

/* What a field holds. */
enum field_kind {
	K_SHORT,       /* 1..SHORT_MAX characters, no control characters */
	K_TEXT,        /* 1..TEXT_MAX characters; line breaks and tabs allowed */
	K_CODE,        /* 1..MON_CODE_MAX of A-Z a-z 0-9 . _ - */
	K_DAYS,        /* integer 1..DAYS_MAX */
	K_ENUM,        /* one of spec->values */
	K_BOOL,
	K_MONEY,       /* mon_money_parse */
	K_DATETIME,    /* mon_time_parse */
	K_USCC,
	K_CITIZEN_ID,
	K_PARTY,       /* {uscc | id, name} */
	K_FILING,      /* {office, ref} */
	K_FILING_MONEY, /* {office, ref, amount?, filed_at?}: the filing of a fine or fee */
	K_MEASURES,    /* non-empty array of distinct values (penalty measures[]) */
	K_OFFICERS,    /* [{id, certificate}, ...] */
	K_ID,          /* an event id: 1..MON_ID_MAX of A-Z a-z 0-9 . _ : / - */
	K_REPLACEMENT, /* an event.corrected's replacement: checked by check_correction */
};

struct field_spec {
	const char *name;              /* NULL ends a table */
	enum field_kind kind;
	bool required;
	const char *const *values;     /* K_ENUM: NULL-terminated */
};

struct type_spec {
	const char *name;              /* on the wire and in the database */
	bool case_required;
	bool item_required;
	const struct field_spec *fields;
	/* Optional: what one field cannot say alone, checked after the fields. */
	bool (*check)(const json_t *obj, struct mon_error *err);
	/* Optional: the same rule (check, or check_correction) as JSON Schema keywords added to
	 * the type's schema by mon_event_schema; a new reference the caller owns. */
	json_t *(*check_schema)(void);
};

#define REQ(n, k) { .name = (n), .kind = (k), .required = true }
#define OPT(n, k) { .name = (n), .kind = (k), .required = false }
#define REQ_ENUM(n, v) { .name = (n), .kind = K_ENUM, .required = true, .values = (v) }
#define OPT_LIST(n, k, v) { .name = (n), .kind = (k), .required = false, .values = (v) }
#define OPT_ENUM(n, v) { .name = (n), .kind = K_ENUM, .required = false, .values = (v) }
#define END { .name = NULL }

static const char *const suspend_kinds[] = { "hearing", "testing", "expert_review",
	"public_notice", "bidding", "quarantine", "appraisal", "site_inspection", NULL };
static const char *const decision_results[] = { "approved", "denied", NULL };
static const char *const severities[] = { "minor", "general", "serious", NULL };
static const char *const correction_actions[] = { "void", "replace", NULL };
/* The kinds of penalty a decision imposes (行政处罚法 §9, §63; docs/rules.md PEN-NO-HEARING):
 * 罚款, 没收违法所得/非法财物, 吊销许可证件, 责令停产停业, 责令关闭, 降低资质等级, 限制从业. */
static const char *const measures[] = { "fine", "confiscation", "licence_revocation",
	"production_stop", "closure", "qualification_downgrade", "practice_restriction", NULL };
#define MEASURES_MAX 7
/* 不批准报告制度 (seed 002 item 14): who refused and to whom the report went, from the
 * bottom up; libmonitor/reports.c judges the step from one to the next. */
static const char *const report_levels[] = { "section", "deputy_head", "head", "superior",
	"party_government", NULL };

static const struct field_spec party_fields[] = {
	OPT("uscc", K_USCC), OPT("id", K_CITIZEN_ID), OPT("name", K_SHORT), END };
static const struct field_spec filing_fields[] = {
	REQ("office", K_CODE), REQ("ref", K_SHORT), END };
/* A fine's or fee's filing (seed 002 item 11) also says what was filed: the proposed (拟)
 * amount, and when, if not at the event that carries it. */
static const struct field_spec money_filing_fields[] = {
	REQ("office", K_CODE), REQ("ref", K_SHORT), OPT("amount", K_MONEY),
	OPT("filed_at", K_DATETIME), END };
static const struct field_spec officer_fields[] = {
	REQ("id", K_CODE), REQ("certificate", K_SHORT), END };

static const struct field_spec no_fields[] = { END };
static const struct field_spec f_received[] = {
	OPT("applicant", K_PARTY), END };
static const struct field_spec f_supplement_requested[] = {
	OPT("materials", K_TEXT), END };
static const struct field_spec f_refused_intake[] = {
	OPT("reason", K_TEXT), OPT("report", K_SHORT), OPT_ENUM("refused_by", report_levels),
	OPT_ENUM("report_to", report_levels), OPT("solution", K_TEXT), OPT("filing", K_FILING),
	END };
static const struct field_spec f_step[] = {
	REQ("step", K_CODE), OPT("handler", K_SHORT), END };
static const struct field_spec f_suspended[] = {
	REQ_ENUM("kind", suspend_kinds), REQ("days", K_DAYS), OPT("approver", K_SHORT), END };
static const struct field_spec f_extended[] = {
	REQ("days", K_DAYS), OPT("approver", K_SHORT), END };
static const struct field_spec f_decided[] = {
	REQ_ENUM("result", decision_results), OPT("reason", K_TEXT), OPT("report", K_SHORT),
	OPT_ENUM("refused_by", report_levels), OPT_ENUM("report_to", report_levels),
	OPT("solution", K_TEXT), OPT("filing", K_FILING), END };
static const struct field_spec f_delay_reported[] = {
	REQ_ENUM("by", report_levels), REQ_ENUM("report_to", report_levels),
	REQ("reason", K_TEXT), OPT("solution", K_TEXT), OPT("report", K_SHORT), END };
static const struct field_spec f_fee_collected[] = {
	REQ("fee_item", K_CODE), REQ("amount", K_MONEY), REQ("payer", K_PARTY),
	OPT("reviewer", K_SHORT), OPT("filing", K_FILING_MONEY), END };
static const struct field_spec f_fee_filed[] = {
	REQ("filing", K_FILING_MONEY), OPT("fee_item", K_CODE), END };
static const struct field_spec f_fee_refunded[] = {
	REQ("fee_item", K_CODE), REQ("amount", K_MONEY), OPT("payer", K_PARTY),
	OPT("of", K_SHORT), END };
static const struct field_spec f_penalty_decided[] = {
	REQ("party", K_PARTY), REQ("violation", K_CODE), REQ_ENUM("severity", severities),
	REQ("amount", K_MONEY), OPT("hearing_notice", K_BOOL), OPT("first_offence", K_BOOL),
	OPT("filing", K_FILING_MONEY), OPT_LIST("measures", K_MEASURES, measures),
	OPT("confiscated_value", K_MONEY), END };
static const struct field_spec f_penalty_filed[] = {
	REQ("filing", K_FILING_MONEY), END };
static const struct field_spec f_inspection_started[] = {
	REQ("enterprise", K_PARTY), REQ("officers", K_OFFICERS), OPT("filing", K_FILING), END };
static const struct field_spec f_complaint_received[] = {
	OPT("subject", K_SHORT), OPT("against", K_CODE), END };
static const struct field_spec f_evaluation[] = {
	REQ("satisfied", K_BOOL), OPT("window", K_SHORT), END };
static const struct field_spec f_rectified[] = {
	OPT("note", K_TEXT), END };
static const struct field_spec f_trade_announced[] = {
	REQ("documents_issued", K_DATETIME), REQ("bid_deadline", K_DATETIME), END };
/* `replacement` is checked by check_correction: it is an event of its own type. */
static const struct field_spec f_corrected[] = {
	REQ("of", K_ID), REQ_ENUM("action", correction_actions), REQ("reason", K_TEXT),
	OPT("replacement", K_REPLACEMENT), END };
static const struct field_spec f_trade_awarded[] = {
	REQ("publicity_start", K_DATETIME), REQ("publicity_end", K_DATETIME), END };

static bool lists_measure(const json_t *obj, const char *measure)
{
	const json_t *list = json_object_get(obj, "measures");

	for (size_t i = 0; i < json_array_size(list); i++) {
		if (strcmp(json_string_value(json_array_get(list, i)), measure) == 0)
			return true;
	}
	return false;
}

/* A confiscation (没收) is judged by its value, so it names one; a value without a
 * confiscation listed is a contradiction, not a detail. */
static bool check_confiscation(const json_t *obj, struct mon_error *err)
{
	const json_t *value = json_object_get(obj, "confiscated_value");
	bool listed = lists_measure(obj, "confiscation");

	if (listed && value == NULL) {
		mon_error_set(err, "confiscated_value", "the value confiscated, in yuan, when "
			"measures lists confiscation", NULL);
		return false;
	}
	if (!listed && value != NULL) {
		mon_error_set(err, "confiscated_value", "absent unless measures lists confiscation",
			value);
		return false;
	}
	return true;
}

/* check_confiscation as a schema: confiscated_value exactly when measures lists
 * confiscation. */
static json_t *confiscation_schema(void)
{
	return json_pack("{s:{s:[s], s:{s:{s:{s:s}}}}, s:{s:[s]}, s:{s:{s:[s]}}}",
		"if", "required", "measures", "properties", "measures", "contains", "const",
		"confiscation",
		"then", "required", "confiscated_value",
		"else", "not", "required", "confiscated_value");
}

static json_t *correction_schema(void);

/* Case events carry the case number; fee and evaluation events may. */
#define CASE(n, f) { .name = (n), .case_required = true, .fields = (f) }
#define CASE_CHECKED(n, f, c, cs) { .name = (n), .case_required = true, .fields = (f), \
	.check = (c), .check_schema = (cs) }
#define FREE(n, f) { .name = (n), .case_required = false, .fields = (f) }
#define ITEM(n, f) { .name = (n), .case_required = true, .item_required = true, .fields = (f) }

static const struct type_spec types[] = {
	[MON_EV_APPROVAL_RECEIVED] = ITEM("approval.received", f_received),
	[MON_EV_APPROVAL_SUPPLEMENT_REQUESTED] =
		CASE("approval.supplement_requested", f_supplement_requested),
	[MON_EV_APPROVAL_SUPPLEMENT_RECEIVED] = CASE("approval.supplement_received", no_fields),
	[MON_EV_APPROVAL_ACCEPTED] = ITEM("approval.accepted", f_received),
	[MON_EV_APPROVAL_REFUSED_INTAKE] = CASE("approval.refused_intake", f_refused_intake),
	[MON_EV_APPROVAL_STEP] = CASE("approval.step", f_step),
	[MON_EV_APPROVAL_SUSPENDED] = CASE("approval.suspended", f_suspended),
	[MON_EV_APPROVAL_RESUMED] = CASE("approval.resumed", no_fields),
	[MON_EV_APPROVAL_EXTENDED] = CASE("approval.extended", f_extended),
	[MON_EV_APPROVAL_DECIDED] = CASE("approval.decided", f_decided),
	[MON_EV_APPROVAL_WITHDRAWN] = CASE("approval.withdrawn", no_fields),
	[MON_EV_FEE_COLLECTED] = FREE("fee.collected", f_fee_collected),
	[MON_EV_FEE_REFUNDED] = FREE("fee.refunded", f_fee_refunded),
	[MON_EV_PENALTY_DECIDED] = CASE_CHECKED("penalty.decided", f_penalty_decided,
		check_confiscation, confiscation_schema),
	[MON_EV_PENALTY_FILED] = CASE("penalty.filed", f_penalty_filed),
	[MON_EV_PENALTY_HEARING_HELD] = CASE("penalty.hearing_held", no_fields),
	[MON_EV_INSPECTION_STARTED] = CASE("inspection.started", f_inspection_started),
	[MON_EV_INSPECTION_ENDED] = CASE("inspection.ended", no_fields),
	[MON_EV_COMPLAINT_RECEIVED] = CASE("complaint.received", f_complaint_received),
	[MON_EV_COMPLAINT_REPLIED] = CASE("complaint.replied", no_fields),
	[MON_EV_COMPLAINT_CLOSED] = CASE("complaint.closed", no_fields),
	[MON_EV_EVALUATION_RECEIVED] = FREE("evaluation.received", f_evaluation),
	[MON_EV_EVALUATION_RECTIFIED] = CASE("evaluation.rectified", f_rectified),
	[MON_EV_INQUIRY_RECEIVED] = CASE("inquiry.received", no_fields),
	[MON_EV_INQUIRY_ANSWERED] = CASE("inquiry.answered", no_fields),
	[MON_EV_TRADE_ANNOUNCED] = CASE("trade.announced", f_trade_announced),
	[MON_EV_TRADE_BIDS_OPENED] = CASE("trade.bids_opened", no_fields),
	[MON_EV_TRADE_AWARDED] = CASE("trade.awarded", f_trade_awarded),
	/* check_correction is called by mon_event_from_json itself: it fills ev->replacement. */
	[MON_EV_EVENT_CORRECTED] = { .name = "event.corrected", .case_required = false,
		.fields = f_corrected, .check_schema = correction_schema },
	[MON_EV_FEE_FILED] = CASE("fee.filed", f_fee_filed),
	[MON_EV_APPROVAL_DELAY_REPORTED] = CASE("approval.delay_reported", f_delay_reported),
};

_Static_assert(sizeof(types) / sizeof(types[0]) == MON_EV__COUNT,
	"every event type needs its spec");

/* What each type means, for the schema's "description" (docs/protocol.md says more). */
static const char *const type_meaning[] = {
	[MON_EV_APPROVAL_RECEIVED] = "an application was received (收件)",
	[MON_EV_APPROVAL_SUPPLEMENT_REQUESTED] = "the applicant was asked for missing materials "
		"(一次性告知补正)",
	[MON_EV_APPROVAL_SUPPLEMENT_RECEIVED] = "the missing materials arrived",
	[MON_EV_APPROVAL_ACCEPTED] = "the application was accepted (受理): the time limit starts",
	[MON_EV_APPROVAL_REFUSED_INTAKE] = "the application was refused at intake (不予受理), with "
		"the refusal report's fields",
	[MON_EV_APPROVAL_STEP] = "an internal step of the case (审查, 审核 ...) was done",
	[MON_EV_APPROVAL_SUSPENDED] = "the clock stops for a reason the law allows (hearing, "
		"expert review ...) for at most days",
	[MON_EV_APPROVAL_RESUMED] = "the clock runs again",
	[MON_EV_APPROVAL_EXTENDED] = "the time limit was extended by days (延期), by an approver",
	[MON_EV_APPROVAL_DECIDED] = "the decision (办结): approved or denied; a denial carries the "
		"refusal report (不批准报告制度)",
	[MON_EV_APPROVAL_WITHDRAWN] = "the applicant withdrew the application",
	[MON_EV_FEE_COLLECTED] = "a fee was collected (收费), from a payer, for a fee item",
	[MON_EV_FEE_REFUNDED] = "a fee was refunded",
	[MON_EV_PENALTY_DECIDED] = "an administrative penalty was decided (行政处罚决定)",
	[MON_EV_PENALTY_FILED] = "a penalty was filed (备案) with the filing office",
	[MON_EV_PENALTY_HEARING_HELD] = "the hearing (听证) of a penalty case was held",
	[MON_EV_INSPECTION_STARTED] = "an inspection of an enterprise began (涉企检查), by "
		"certified officers",
	[MON_EV_INSPECTION_ENDED] = "the inspection ended",
	[MON_EV_COMPLAINT_RECEIVED] = "a complaint was received (投诉)",
	[MON_EV_COMPLAINT_REPLIED] = "the complainant was answered",
	[MON_EV_COMPLAINT_CLOSED] = "the complaint was closed",
	[MON_EV_EVALUATION_RECEIVED] = "a service evaluation (好差评) was received",
	[MON_EV_EVALUATION_RECTIFIED] = "an unsatisfied evaluation of the case was rectified "
		"(整改)",
	[MON_EV_INQUIRY_RECEIVED] = "an inquiry (咨询) was received",
	[MON_EV_INQUIRY_ANSWERED] = "the inquiry was answered",
	[MON_EV_TRADE_ANNOUNCED] = "a public resource trade was announced (招标公告), with the "
		"issue of documents and the bid deadline",
	[MON_EV_TRADE_BIDS_OPENED] = "the bids were opened (开标)",
	[MON_EV_TRADE_AWARDED] = "the award was published (中标公示), for its publicity period",
	[MON_EV_EVENT_CORRECTED] = "an earlier event of the department is voided or replaced",
	[MON_EV_FEE_FILED] = "a fee of the case was filed (备案) before it is collected",
	[MON_EV_APPROVAL_DELAY_REPORTED] = "the case cannot be done within its limit: a delay "
		"report (缓批报告), sent before the deadline",
};

_Static_assert(sizeof(type_meaning) / sizeof(type_meaning[0]) == MON_EV__COUNT,
	"every event type needs its meaning");

/* Envelope token alphabets: letters and digits plus these. */
#define ID_PUNCT "._:/-"
#define DEPT_PUNCT "_-"
#define CASE_PUNCT "._/-"
#define CODE_PUNCT "._-"

#define EXPECT_ID "a string of 1 to 64 characters from A-Z a-z 0-9 . _ : / -"
#define EXPECT_DEPT "a department code of 1 to 64 characters from A-Z a-z 0-9 _ -"
#define EXPECT_CASE "a case number of 1 to 64 characters from A-Z a-z 0-9 . _ / -"
#define EXPECT_CODE "a code of 1 to 64 characters from A-Z a-z 0-9 . _ -"
#define EXPECT_TYPE "a known event type such as approval.accepted"
#define EXPECT_TIME "an RFC 3339 date-time with offset, such as 2026-03-02T09:15:00+08:00"
#define EXPECT_OBJECT "a JSON object"

const char *mon_event_type_name(enum mon_event_type type)
{
	if ((unsigned)type >= MON_EV__COUNT)
		return "unknown";
	return types[type].name;
}

bool mon_event_type_from_name(const char *name, enum mon_event_type *type)
{
	if (name == NULL)
		return false;
	for (size_t i = 0; i < MON_EV__COUNT; i++) {
		if (strcmp(types[i].name, name) == 0) {
			*type = (enum mon_event_type)i;
			return true;
		}
	}
	return false;
}

/* The value as a C string, or NULL when it is not a string or hides a NUL byte. */
static const char *string_of(const json_t *v, size_t *len)
{
	const char *s = json_string_value(v);

	if (s == NULL)
		return NULL;
	*len = json_string_length(v);
	return strlen(s) == *len ? s : NULL;
}

static bool is_token(const json_t *v, const char *punct, size_t max)
{
	size_t len = 0;
	const char *s = string_of(v, &len);

	return mon_text_is_token(s, len, max, punct);
}

/* Free text: well-formed UTF-8 of 1..max characters without control characters (tabs
 * and line breaks allowed only when multiline). */
static bool is_text(const json_t *v, size_t max, bool multiline)
{
	size_t len, chars = 0;
	const char *s = string_of(v, &len);
	uint32_t cp;

	if (s == NULL || len == 0)
		return false;
	for (size_t i = 0; i < len; chars++) {
		size_t n = mon_utf8_next(s + i, len - i, &cp);
		if (n == 0 || chars >= max)
			return false;
		if (mon_is_control(cp) && !(multiline && (cp == '\n' || cp == '\r' || cp == '\t')))
			return false;
		i += n;
	}
	return true;
}

static bool is_days(const json_t *v)
{
	json_int_t d;

	if (!json_is_integer(v))
		return false;
	d = json_integer_value(v);
	return d >= 1 && d <= DAYS_MAX;
}

static bool is_enum(const json_t *v, const char *const *values)
{
	const char *s = json_string_value(v);

	if (s == NULL)
		return false;
	for (; *values != NULL; values++) {
		if (strcmp(*values, s) == 0)
			return true;
	}
	return false;
}

/* A non-empty array of distinct values of the list (so at most one of each). */
static bool is_measures(const json_t *v, const char *const *values)
{
	size_t n = json_array_size(v);

	if (!json_is_array(v) || n == 0 || n > MEASURES_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_enum(json_array_get(v, i), values))
			return false;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(json_string_value(json_array_get(v, i)),
					json_string_value(json_array_get(v, j))) == 0)
				return false;
		}
	}
	return true;
}

/* What each kind expects, for error messages (K_ENUM lists its values instead). */
static const char *const kind_expected[] = {
	[K_SHORT] = "a string of 1 to 256 characters without control characters",
	[K_TEXT] = "a string of 1 to 2000 characters without control characters other than "
		"line breaks and tabs",
	[K_CODE] = EXPECT_CODE,
	[K_DAYS] = "a whole number of days from 1 to 3650",
	[K_ENUM] = "one of",
	[K_BOOL] = "true or false",
	[K_MONEY] = "an amount in yuan, a string or number with at most two decimals such as "
		"\"1234.50\", from 0 to below 10^12",
	[K_DATETIME] = EXPECT_TIME,
	[K_USCC] = "18-character unified social credit code with a valid check digit",
	[K_CITIZEN_ID] = "18-character resident identity number with a valid check digit and "
		"birth date",
	[K_PARTY] = "an object with either \"uscc\" or \"id\" (not both), and optionally \"name\"",
	[K_FILING] = "an object with \"office\" (a code) and \"ref\"",
	[K_FILING_MONEY] = "an object with \"office\" (a code) and \"ref\", optionally "
		"\"amount\" and \"filed_at\"",
	[K_MEASURES] = "a non-empty array of distinct measures from",
	[K_OFFICERS] = "a non-empty array of at most 50 objects with \"id\" and \"certificate\"",
	[K_ID] = EXPECT_ID,
	[K_REPLACEMENT] = "an object: the corrected event's type, at, item and type fields",
};

_Static_assert(sizeof(measures) / sizeof(measures[0]) == MEASURES_MAX + 1,
	"MEASURES_MAX counts the measures");
_Static_assert(SHORT_MAX == 256 && TEXT_MAX == 2000 && DAYS_MAX == 3650 && OFFICERS_MAX == 50,
	"kind_expected states these limits");

/* The `expected` text of a field spec, also used when the field is missing. */
static void describe(const struct field_spec *f, char *buf, size_t len)
{
	size_t used = (size_t)snprintf(buf, len, "%s", kind_expected[f->kind]);

	if (f->kind != K_ENUM && f->kind != K_MEASURES)
		return;
	for (const char *const *v = f->values; *v != NULL && used < len; v++)
		used += (size_t)snprintf(buf + used, len - used, "%s %s",
			v == f->values ? "" : ",", *v);
}

/* Paths are short by construction ("officers[49].certificate"); one that would not fit
 * is cut, which still names the field's start. */
__attribute__((format(printf, 3, 4)))
static void make_path(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, cap, fmt, ap);
	va_end(ap);
}

/* A refused time: when its date or time does not exist (2026-02-30, 24:00, :60), `expected`
 * says which part; when it is in a common wrong form (Java's +0800, no offset, no seconds,
 * a space for 'T'), it shows the same date and time as it should have been written. */
static bool fail_time(const char *path, const json_t *got, struct mon_error *err)
{
	char expected[sizeof(err->expected)];
	const char *s = json_string_value(got);

	if (s == NULL || (!mon_time_impossible(s, expected, sizeof(expected)) &&
			!mon_time_hint(s, expected, sizeof(expected))))
		snprintf(expected, sizeof(expected), "%s", EXPECT_TIME);
	mon_error_set(err, path, expected, got);
	return false;
}

static bool fail_field(const struct field_spec *f, const char *path, const json_t *got,
		struct mon_error *err)
{
	char expected[sizeof(err->expected)];

	if (f->kind == K_DATETIME)
		return fail_time(path, got, err);
	describe(f, expected, sizeof(expected));
	mon_error_set(err, path, expected, got);
	return false;
}

static bool check_fields(const json_t *obj, const struct field_spec *fields,
		const char *prefix, struct mon_error *err);

/* A party names exactly one identity: a company by its credit code or a person by an
 * identity number, so later rules have one unambiguous key. */
static bool check_party(const json_t *v, const struct field_spec *f, const char *path,
		struct mon_error *err)
{
	bool has_uscc, has_id;

	if (!json_is_object(v))
		return fail_field(f, path, v, err);
	if (!check_fields(v, party_fields, path, err))
		return false;
	has_uscc = json_object_get(v, "uscc") != NULL;
	has_id = json_object_get(v, "id") != NULL;
	if (has_uscc == has_id)
		return fail_field(f, path, v, err);
	return true;
}

static bool check_officers(const json_t *v, const struct field_spec *f, const char *path,
		struct mon_error *err)
{
	char sub[PATH_MAX_LEN];
	size_t n = json_array_size(v);

	if (!json_is_array(v) || n == 0 || n > OFFICERS_MAX)
		return fail_field(f, path, v, err);
	for (size_t i = 0; i < n; i++) {
		const json_t *officer = json_array_get(v, i);
		make_path(sub, sizeof(sub), "%s[%zu]", path, i);
		if (!json_is_object(officer)) {
			mon_error_set(err, sub, "an object with \"id\" and \"certificate\"", officer);
			return false;
		}
		if (!check_fields(officer, officer_fields, sub, err))
			return false;
	}
	return true;
}

/* Scalar kinds: true when v is a well-formed value of the kind. */
static bool scalar_ok(const json_t *v, const struct field_spec *f)
{
	int64_t scratch;
	int offset;

	switch (f->kind) {
	case K_SHORT: return is_text(v, SHORT_MAX, false);
	case K_TEXT: return is_text(v, TEXT_MAX, true);
	case K_CODE: return is_token(v, CODE_PUNCT, MON_CODE_MAX);
	case K_DAYS: return is_days(v);
	case K_ENUM: return is_enum(v, f->values);
	case K_BOOL: return json_is_boolean(v);
	case K_MONEY: return mon_money_parse(v, &scratch);
	case K_DATETIME: return json_is_string(v) &&
		mon_time_parse(json_string_value(v), &scratch, &offset);
	case K_USCC: return json_is_string(v) && mon_uscc_valid(json_string_value(v));
	case K_CITIZEN_ID: return json_is_string(v) && mon_citizen_id_valid(json_string_value(v));
	case K_ID: return is_token(v, ID_PUNCT, MON_ID_MAX);
	case K_PARTY:
	case K_FILING:
	case K_FILING_MONEY:
	case K_MEASURES:
	case K_OFFICERS:
	case K_REPLACEMENT:
		break;
	}
	return false;
}

static bool check_value(const json_t *v, const struct field_spec *f, const char *path,
		struct mon_error *err)
{
	switch (f->kind) {
	case K_PARTY:
		return check_party(v, f, path, err);
	case K_FILING:
		if (!json_is_object(v))
			return fail_field(f, path, v, err);
		return check_fields(v, filing_fields, path, err);
	case K_FILING_MONEY:
		if (!json_is_object(v))
			return fail_field(f, path, v, err);
		return check_fields(v, money_filing_fields, path, err);
	case K_MEASURES:
		return is_measures(v, f->values) ? true : fail_field(f, path, v, err);
	case K_OFFICERS:
		return check_officers(v, f, path, err);
	case K_REPLACEMENT:
		return true;   /* after the other fields, by check_correction */
	default:
		return scalar_ok(v, f) ? true : fail_field(f, path, v, err);
	}
}

/* The one generic checker: every field of the table, in table order. */
static bool check_fields(const json_t *obj, const struct field_spec *fields,
		const char *prefix, struct mon_error *err)
{
	char path[PATH_MAX_LEN];

	for (const struct field_spec *f = fields; f->name != NULL; f++) {
		const json_t *v = json_object_get(obj, f->name);
		if (prefix[0] != '\0')
			make_path(path, sizeof(path), "%s.%s", prefix, f->name);
		else
			make_path(path, sizeof(path), "%s", f->name);
		if (v == NULL) {
			if (f->required)
				return fail_field(f, path, NULL, err);
			continue;
		}
		if (!check_value(v, f, path, err))
			return false;
	}
	return true;
}

/* An envelope token: checked, then copied into out (which holds max + 1 bytes). */
static bool take_token(const json_t *obj, const char *name, const char *punct, size_t max,
		bool required, const char *expected, char *out, struct mon_error *err)
{
	const json_t *v = json_object_get(obj, name);

	out[0] = '\0';
	if (v == NULL && !required)
		return true;
	if (v == NULL || !is_token(v, punct, max)) {
		mon_error_set(err, name, expected, v);
		return false;
	}
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return true;
}

static bool take_type(const json_t *obj, struct mon_event *ev, struct mon_error *err)
{
	const json_t *v = json_object_get(obj, "type");

	if (!mon_event_type_from_name(json_string_value(v), &ev->type)) {
		mon_error_set(err, "type", EXPECT_TYPE, v);
		return false;
	}
	return true;
}

static bool take_time(const json_t *obj, struct mon_event *ev, struct mon_error *err)
{
	const json_t *v = json_object_get(obj, "at");

	if (!json_is_string(v) || !mon_time_parse(json_string_value(v), &ev->at, &ev->at_offset_min))
		return fail_time("at", v, err);
	return true;
}

static bool check_envelope(const json_t *obj, struct mon_event *ev, struct mon_error *err)
{
	const struct type_spec *spec;

	if (!take_token(obj, "id", ID_PUNCT, MON_ID_MAX, true, EXPECT_ID, ev->id, err) ||
			!take_token(obj, "dept", DEPT_PUNCT, MON_CODE_MAX, true, EXPECT_DEPT,
				ev->dept, err) ||
			!take_type(obj, ev, err) || !take_time(obj, ev, err))
		return false;
	spec = &types[ev->type];
	return take_token(obj, "case", CASE_PUNCT, MON_CODE_MAX, spec->case_required,
			EXPECT_CASE, ev->case_no, err) &&
		take_token(obj, "item", CODE_PUNCT, MON_CODE_MAX, spec->item_required,
			EXPECT_CODE, ev->item, err);
}

/* The envelope field `name` of a replacement may be left out (the correction's is taken);
 * when given it must be the correction's own. */
static bool same_envelope(const json_t *rep, const char *name, const char *own,
		struct mon_error *err)
{
	const json_t *v = json_object_get(rep, name);
	char path[PATH_MAX_LEN], expected[sizeof(err->expected)];

	if (v == NULL || (json_is_string(v) && strcmp(json_string_value(v), own) == 0))
		return true;
	make_path(path, sizeof(path), "replacement.%s", name);
	snprintf(expected, sizeof(expected), "absent, or the correction's own %s \"%s\"", name,
		own);
	mon_error_set(err, path, expected, v);
	return false;
}

/* An error found inside the replacement, named from the correction: "replacement.FIELD". */
static void prefix_replacement(struct mon_error *err)
{
	char path[PATH_MAX_LEN];

	make_path(path, sizeof(path), "replacement%s%s", err->field[0] != '\0' ? "." : "",
		err->field);
	memcpy(err->field, path, sizeof(err->field));
}

/* The replacement: an object validated as an event of its own type (not another
 * correction) whose id, dept and case are the correction's. */
static bool take_replacement(const json_t *rep, struct mon_event *ev, struct mon_error *err)
{
	enum mon_event_type type;
	json_t *copy;
	bool ok;

	if (!json_is_object(rep)) {
		mon_error_set(err, "replacement", kind_expected[K_REPLACEMENT], rep);
		return false;
	}
	if (!same_envelope(rep, "id", ev->id, err) || !same_envelope(rep, "dept", ev->dept, err) ||
			!same_envelope(rep, "case", ev->case_no, err))
		return false;
	if (mon_event_type_from_name(json_string_value(json_object_get(rep, "type")), &type) &&
			type == MON_EV_EVENT_CORRECTED) {
		mon_error_set(err, "replacement.type", "an event type other than event.corrected",
			json_object_get(rep, "type"));
		return false;
	}
	ev->replacement = calloc(1, sizeof(*ev->replacement));
	copy = json_copy((json_t *)rep);
	ok = ev->replacement != NULL && copy != NULL &&
		json_object_set_new(copy, "id", json_string(ev->id)) == 0 &&
		json_object_set_new(copy, "dept", json_string(ev->dept)) == 0 &&
		(ev->case_no[0] == '\0' ||
		 json_object_set_new(copy, "case", json_string(ev->case_no)) == 0);
	if (!ok)
		mon_error_set_text(err, "replacement", "memory for the replacement", "out of memory");
	else if (!mon_event_from_json(copy, ev->replacement, err))
		ok = false, prefix_replacement(err);
	json_decref(copy);
	if (!ok) {
		free(ev->replacement);
		ev->replacement = NULL;
	}
	return ok;
}

/* An event.corrected: `replacement` required for replace, refused for void. */
static bool check_correction(const json_t *obj, struct mon_event *ev, struct mon_error *err)
{
	const json_t *rep = json_object_get(obj, "replacement");
	bool replace = strcmp(json_string_value(json_object_get(obj, "action")), "replace") == 0;

	if (!replace && rep != NULL) {
		mon_error_set(err, "replacement", "absent: a void has no replacement", rep);
		return false;
	}
	if (replace && rep == NULL) {
		mon_error_set(err, "replacement", "an object: the corrected event's type, at, item "
			"and type fields (action replace needs one)", NULL);
		return false;
	}
	return !replace || take_replacement(rep, ev, err);
}

/* Unknown fields. A key is known when it is a field of its object's table (or, at the top,
 * an envelope field); every other key is a warning with the nearest known name. The walk
 * follows the table into the objects whose shape it knows (parties, filings, officers), so
 * it is generic over the types: a new type or field needs no code here. */

#define KEY_CONSIDER_MAX 64   /* bytes of an unknown key compared with the known names */
#define PREFIX_MIN 3          /* a prefix match needs this many characters in common */
#define RANK_PREFIX 3         /* a prefix ranks after every edit distance allowed (0..2) */
#define RANK_NONE 4

static const char *const envelope_names[] = { "id", "dept", "type", "at", "case", "item", NULL };

static char fold(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* The optimal string alignment distance (Levenshtein plus transposition of two adjacent
 * characters, "aprover" -> "approver" 1, "dpet" -> "dept" 1), ASCII case folded, of two
 * strings of at most KEY_CONSIDER_MAX bytes. */
static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
	size_t rows[3][KEY_CONSIDER_MAX + 1];
	size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2];

	for (size_t j = 0; j <= lb; j++)
		prev[j] = j;
	for (size_t i = 1; i <= la; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cost = fold(a[i - 1]) == fold(b[j - 1]) ? 0 : 1;
			size_t best = prev[j - 1] + cost;
			if (prev[j] + 1 < best)
				best = prev[j] + 1;
			if (cur[j - 1] + 1 < best)
				best = cur[j - 1] + 1;
			if (i > 1 && j > 1 && fold(a[i - 1]) == fold(b[j - 2]) &&
					fold(a[i - 2]) == fold(b[j - 1]) && prev2[j - 2] + 1 < best)
				best = prev2[j - 2] + 1;
			cur[j] = best;
		}
		size_t *t = prev2;
		prev2 = prev;
		prev = cur;
		cur = t;
	}
	return prev[lb];
}

/* How close key is to name: its edit distance when that is at most 1 (names shorter than
 * 5 characters) or 2 (longer names); RANK_PREFIX when one begins with the other and the
 * shorter has at least PREFIX_MIN characters ("approver_id" -> "approver", "appr" ->
 * "approver"); RANK_NONE otherwise. */
static size_t closeness(const char *key, size_t klen, const char *name)
{
	size_t nlen = strlen(name);
	size_t allowed = nlen < 5 ? 1 : 2;
	size_t shorter = klen < nlen ? klen : nlen;
	size_t d;

	if (nlen <= KEY_CONSIDER_MAX && (klen > nlen ? klen - nlen : nlen - klen) <= allowed) {
		d = edit_distance(key, klen, name, nlen);
		if (d <= allowed)
			return d;
	}
	if (shorter >= PREFIX_MIN) {
		size_t i = 0;
		while (i < shorter && fold(key[i]) == fold(name[i]))
			i++;
		if (i == shorter)
			return RANK_PREFIX;
	}
	return RANK_NONE;
}

/* The known name closest to key (envelope names first, then the table's, the first of
 * equals winning), or NULL when none is close or the key is longer than KEY_CONSIDER_MAX. */
static const char *nearest_name(const char *key, const char *const *envelope,
		const struct field_spec *fields)
{
	size_t klen = strlen(key);
	size_t best_rank = RANK_NONE;
	const char *best = NULL;

	if (klen == 0 || klen > KEY_CONSIDER_MAX)
		return NULL;
	for (const char *const *e = envelope; e != NULL && *e != NULL; e++) {
		size_t r = closeness(key, klen, *e);
		if (r < best_rank) {
			best_rank = r;
			best = *e;
		}
	}
	for (const struct field_spec *f = fields; f->name != NULL; f++) {
		size_t r = closeness(key, klen, f->name);
		if (r < best_rank) {
			best_rank = r;
			best = f->name;
		}
	}
	return best;
}

static const struct field_spec *field_named(const struct field_spec *fields, const char *key)
{
	for (const struct field_spec *f = fields; f->name != NULL; f++) {
		if (strcmp(f->name, key) == 0)
			return f;
	}
	return NULL;
}

static bool is_listed(const char *const *names, const char *key)
{
	for (; names != NULL && *names != NULL; names++) {
		if (strcmp(*names, key) == 0)
			return true;
	}
	return false;
}

static void warn_object(const json_t *obj, const struct field_spec *fields,
		const char *const *envelope, const char *type_name, const char *prefix,
		struct mon_event *ev);

/* A correction's replacement is an event of its own type: its keys are judged by that
 * type's table ("replacement.aprover": not a field of approval.extended). */
static void warn_replacement(const json_t *v, const char *path, struct mon_event *ev)
{
	enum mon_event_type type;

	if (!json_is_object(v) || !mon_event_type_from_name(json_string_value(
			json_object_get(v, "type")), &type) || type == MON_EV_EVENT_CORRECTED)
		return;
	warn_object(v, types[type].fields, envelope_names, types[type].name, path, ev);
}

/* The objects inside a known field whose shape the tables describe. A value of the wrong
 * shape is the checker's business (an error), not a warning. A field holding a whole event
 * (a correction's replacement) is one more case here: warn_object over the nested type's
 * table, with the envelope names that object may carry and that type's name, and the path
 * as prefix ("replacement.aprover": "not a field of approval.extended"). */
static void warn_nested(const json_t *v, const struct field_spec *f, const char *type_name,
		const char *path, struct mon_event *ev)
{
	char sub[PATH_MAX_LEN];
	size_t n;

	switch (f->kind) {
	case K_PARTY:
		warn_object(v, party_fields, NULL, type_name, path, ev);
		break;
	case K_FILING:
		warn_object(v, filing_fields, NULL, type_name, path, ev);
		break;
	case K_FILING_MONEY:
		warn_object(v, money_filing_fields, NULL, type_name, path, ev);
		break;
	case K_OFFICERS:
		n = json_array_size(v);
		for (size_t i = 0; i < n && i < OFFICERS_MAX; i++) {
			make_path(sub, sizeof(sub), "%s[%zu]", path, i);
			warn_object(json_array_get(v, i), officer_fields, NULL, type_name, sub, ev);
		}
		break;
	case K_REPLACEMENT:
		warn_replacement(v, path, ev);
		break;
	default:
		break;
	}
}

/* Warns about obj's unknown keys, in the order they appear, until MON_WARNINGS_MAX.
 * envelope: the names also known at this level (the top of an event), or NULL; prefix: the
 * path of obj ("" at the top). */
static void warn_object(const json_t *obj, const struct field_spec *fields,
		const char *const *envelope, const char *type_name, const char *prefix,
		struct mon_event *ev)
{
	char path[PATH_MAX_LEN], expected[sizeof(ev->warnings[0].expected)];
	char name[PATH_MAX_LEN];
	const char *key, *nearest;
	json_t *v;

	if (!json_is_object(obj))
		return;
	json_object_foreach((json_t *)obj, key, v) {
		const struct field_spec *f;

		if (ev->warning_count == MON_WARNINGS_MAX)
			return;
		f = field_named(fields, key);
		if (f != NULL || is_listed(envelope, key)) {
			if (f != NULL) {
				make_path(path, sizeof(path), "%s%s%s", prefix,
					prefix[0] != '\0' ? "." : "", key);
				warn_nested(v, f, type_name, path, ev);
			}
			continue;
		}
		mon_text_escape(key, strlen(key), false, name, sizeof(name));
		make_path(path, sizeof(path), "%s%s%s", prefix, prefix[0] != '\0' ? "." : "", name);
		/* an event object (the top, or an event nested in one) is named by its type */
		if (envelope == NULL)
			snprintf(expected, sizeof(expected), "not a field of %s in %s", prefix,
				type_name);
		else
			snprintf(expected, sizeof(expected), "not a field of %s", type_name);
		nearest = nearest_name(key, envelope, fields);
		mon_error_set_text(&ev->warnings[ev->warning_count++], path, expected,
			nearest != NULL ? nearest : "");
	}
}

/* Empties *ev but for its warnings. */
static void forget_event(struct mon_event *ev)
{
	struct mon_error warnings[MON_WARNINGS_MAX];
	size_t count = ev->warning_count;

	memcpy(warnings, ev->warnings, sizeof(warnings));
	memset(ev, 0, sizeof(*ev));
	ev->warning_count = count;
	memcpy(ev->warnings, warnings, sizeof(warnings));
}

bool mon_event_from_json(json_t *obj, struct mon_event *ev, struct mon_error *err)
{
	enum mon_event_type type;

	memset(ev, 0, sizeof(*ev));
	mon_error_clear(err);
	if (!json_is_object(obj)) {
		mon_error_set(err, "", EXPECT_OBJECT, obj);
		return false;
	}
	if (mon_event_type_from_name(json_string_value(json_object_get(obj, "type")), &type))
		warn_object(obj, types[type].fields, envelope_names, types[type].name, "", ev);
	if (!check_envelope(obj, ev, err) || !check_fields(obj, types[ev->type].fields, "", err) ||
			(types[ev->type].check != NULL && !types[ev->type].check(obj, err)) ||
			(ev->type == MON_EV_EVENT_CORRECTED && !check_correction(obj, ev, err))) {
		forget_event(ev);
		return false;
	}
	ev->body = json_incref(obj);
	return true;
}

void mon_event_finish(struct mon_event *ev)
{
	if (ev == NULL)
		return;
	if (ev->replacement != NULL) {
		mon_event_finish(ev->replacement);
		free(ev->replacement);
	}
	json_decref(ev->body);
	memset(ev, 0, sizeof(*ev));
}

const char *mon_correction_of(const struct mon_event *ev)
{
	if (ev->type != MON_EV_EVENT_CORRECTED)
		return NULL;
	return json_string_value(json_object_get(ev->body, "of"));
}

bool mon_correction_is_void(const struct mon_event *ev)
{
	return ev->type == MON_EV_EVENT_CORRECTED &&
		strcmp(json_string_value(json_object_get(ev->body, "action")), "void") == 0;
}

/* The JSON Schema (draft 2020-12) of an event, built from the tables above: the envelope,
 * one $defs entry per event type (its field table, and its check as check_schema), one per
 * kind of value. What a schema cannot say is said in "description" and in docs/protocol.md
 * ("The schema"): check digits, a replacement's envelope being the correction's, a case
 * required of a replacement whose correction has none. Unknown fields are allowed (they are
 * warnings), so no object says additionalProperties. */

#define SCHEMA_DIALECT "https://json-schema.org/draft/2020-12/schema"
/* Every pattern ends so: "$" alone also matches before a final line break in some regex
 * dialects (Python's re), which esupd refuses. */
#define PATTERN_END "$(?!\\n)"
#define DEF_PREFIX "#/$defs/"
/* C0 and C1 control characters and DEL (mon_is_control); K_TEXT allows tab, LF and CR. */
#define CONTROL_CLASS "[\\u0000-\\u001f\\u007f-\\u009f]"
#define TEXT_CONTROL_CLASS "[\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]"
/* mon_time_parse: YYYY-MM-DD, T or t, hh:mm:ss, an optional fraction of 1 to 9 digits,
 * then Z, z or +hh:mm / -hh:mm up to 14:00; years 1970 to 9999, real days (29 February
 * in leap years only). */
#define DATETIME_PATTERN "^(?:" \
	"(?:19[7-9][0-9]|[2-9][0-9]{3})-(?:" \
		"(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|" \
		"(?:0[13-9]|1[0-2])-(?:29|30)|" \
		"(?:0[13578]|1[02])-31)|" \
	"(?:19(?:7[26]|8[048]|9[26])|[2-9][0-9](?:0[48]|[2468][048]|[13579][26])|" \
		"(?:[2468][048]|[3579][26])00)-02-29)" \
	"[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,9})?" \
	"(?:[Zz]|[+-](?:(?:0[0-9]|1[0-3]):[0-5][0-9]|14:00))" PATTERN_END
#define USCC_PATTERN "^[0-9A-HJ-NP-RTUW-Y]{18}" PATTERN_END
#define CITIZEN_ID_PATTERN "^[0-9]{6}(?:19|[2-9][0-9])[0-9]{2}(?:0[1-9]|1[0-2])" \
	"(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9X]" PATTERN_END
#define MONEY_PATTERN "^0*[0-9]{1,12}(?:\\.[0-9]{1,2})?" PATTERN_END

_Static_assert(MON_TIME_YEAR_MIN == 1970 && MON_TIME_YEAR_MAX == 9999 &&
	MON_TIME_OFFSET_MAX_MIN == 14 * 60 && MON_TIME_FRACTION_DIGITS_MAX == 9,
	"DATETIME_PATTERN states these bounds");
_Static_assert(MON_MONEY_YUAN_LIMIT == INT64_C(1000000000000),
	"MONEY_PATTERN allows 12 integer digits");

/* The $defs name of each kind that is referred to rather than written in place. */
static const char *const kind_def[] = {
	[K_SHORT] = "short", [K_TEXT] = "text", [K_CODE] = "code", [K_DAYS] = "days",
	[K_MONEY] = "money", [K_DATETIME] = "datetime", [K_USCC] = "uscc",
	[K_CITIZEN_ID] = "citizen_id", [K_PARTY] = "party", [K_FILING] = "filing",
	[K_FILING_MONEY] = "filing_money", [K_OFFICERS] = "officers", [K_ID] = "event_id",
	[K_REPLACEMENT] = "replacement",
};

/* Sets key to v in obj, taking v's reference (both may be NULL after a failed allocation);
 * on any failure v is freed and *ok becomes false, so a series is checked once at its end.
 * append is the same for an array. */
static void put(json_t *obj, const char *key, json_t *v, bool *ok)
{
	if (v == NULL || obj == NULL || json_object_set_new(obj, key, v) != 0) {
		if (obj == NULL)
			json_decref(v);
		*ok = false;
	}
}

static void append(json_t *array, json_t *v, bool *ok)
{
	if (array == NULL || v == NULL || json_array_append_new(array, v) != 0) {
		if (array == NULL)
			json_decref(v);
		*ok = false;
	}
}

/* An object that owns what was put into it, or NULL (freed) when something failed. */
static json_t *finished(json_t *obj, bool ok)
{
	if (!ok) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

static json_t *ref_to(const char *def)
{
	char ref[96];

	snprintf(ref, sizeof(ref), DEF_PREFIX "%s", def);
	return json_pack("{s:s}", "$ref", ref);
}

static json_t *string_list(const char *const *values)
{
	json_t *list = json_array();
	bool ok = true;

	for (; *values != NULL; values++)
		append(list, json_string(*values), &ok);
	return finished(list, ok);
}

/* An envelope token or code: 1..max letters, digits and punct (the take_token alphabets). */
static json_t *token_schema(const char *punct, size_t max, const char *description)
{
	char pattern[96];
	size_t used = (size_t)snprintf(pattern, sizeof(pattern), "^[A-Za-z0-9");

	for (const char *p = punct; *p != '\0' && used + 2 < sizeof(pattern); p++) {
		if (*p == '-')
			pattern[used++] = '\\';   /* a literal '-' inside a class */
		pattern[used++] = *p;
	}
	snprintf(pattern + used, sizeof(pattern) - used, "]{1,%zu}" PATTERN_END, max);
	return json_pack("{s:s, s:s, s:s}", "type", "string", "pattern", pattern,
		"description", description);
}

static json_t *text_schema(size_t max, const char *control_class, const char *description)
{
	return json_pack("{s:s, s:i, s:I, s:{s:s}, s:s}", "type", "string", "minLength", 1,
		"maxLength", (json_int_t)max, "not", "pattern", control_class,
		"description", description);
}

static json_t *field_schema(const struct field_spec *f);

/* An object described by a field table: its fields' schemas and the required ones. */
static json_t *object_schema(const struct field_spec *fields)
{
	json_t *obj = json_pack("{s:s}", "type", "object");
	json_t *props = json_object(), *required = json_array();
	bool ok = true;

	for (const struct field_spec *f = fields; f->name != NULL; f++) {
		put(props, f->name, field_schema(f), &ok);
		if (f->required)
			append(required, json_string(f->name), &ok);
	}
	put(obj, "properties", props, &ok);
	if (json_array_size(required) > 0)
		put(obj, "required", required, &ok);
	else
		json_decref(required);
	return finished(obj, ok);
}

static json_t *field_schema(const struct field_spec *f)
{
	switch (f->kind) {
	case K_ENUM:
		return json_pack("{s:o}", "enum", string_list(f->values));
	case K_MEASURES:
		return json_pack("{s:s, s:i, s:i, s:b, s:{s:o}, s:s}", "type", "array",
			"minItems", 1, "maxItems", MEASURES_MAX, "uniqueItems", 1, "items", "enum",
			string_list(f->values), "description", "distinct measures, at least one");
	case K_BOOL:
		return json_pack("{s:s}", "type", "boolean");
	default:
		return ref_to(kind_def[f->kind]);
	}
}

/* if "type" is name then: the type's fields, and the envelope fields its type requires
 * (a replacement takes its case from the correction: case_required false). */
static json_t *type_branch(const struct type_spec *spec, bool case_required)
{
	json_t *then = ref_to(spec->name), *required = json_array();
	bool ok = true;

	if (case_required && spec->case_required)
		append(required, json_string("case"), &ok);
	if (spec->item_required)
		append(required, json_string("item"), &ok);
	if (json_array_size(required) > 0)
		put(then, "required", required, &ok);
	else
		json_decref(required);
	return json_pack("{s:{s:[s], s:{s:{s:s}}}, s:o}", "if", "required", "type",
		"properties", "type", "const", spec->name, "then", finished(then, ok));
}

/* The envelope's properties and, per type, what the type adds; a replacement is an event
 * of any type but event.corrected, whose id, dept and case may be left out. */
static json_t *event_schema(bool replacement)
{
	json_t *obj = json_pack("{s:s}", "type", "object");
	json_t *props = json_object(), *branches = json_array();
	bool ok = true;

	put(props, "id", ref_to(kind_def[K_ID]), &ok);
	put(props, "dept", ref_to("dept"), &ok);
	json_t *names = json_array();

	for (size_t i = 0; i < MON_EV__COUNT; i++) {
		if (replacement && i == MON_EV_EVENT_CORRECTED)
			continue;
		append(names, json_string(types[i].name), &ok);
		append(branches, type_branch(&types[i], !replacement), &ok);
	}
	put(props, "type", json_pack("{s:o, s:s}", "enum", names, "description", replacement ?
		"the replaced event's type (not event.corrected)" : EXPECT_TYPE), &ok);
	put(props, "at", ref_to(kind_def[K_DATETIME]), &ok);
	put(props, "case", ref_to("case"), &ok);
	put(props, "item", ref_to(kind_def[K_CODE]), &ok);
	put(obj, "required", replacement ? json_pack("[s, s]", "type", "at") :
		json_pack("[s, s, s, s]", "id", "dept", "type", "at"), &ok);
	put(obj, "properties", props, &ok);
	put(obj, "allOf", branches, &ok);
	return finished(obj, ok);
}

static json_t *correction_schema(void)
{
	return json_pack("{s:{s:[s], s:{s:{s:s}}}, s:{s:[s]}, s:{s:{s:[s]}}}",
		"if", "required", "action", "properties", "action", "const", "replace",
		"then", "required", "replacement",
		"else", "not", "required", "replacement");
}

static json_t *kind_schema(enum field_kind kind)
{
	const char *d = kind_expected[kind];
	char description[320];
	json_t *s, *office;
	bool ok = true;

	switch (kind) {
	case K_SHORT: return text_schema(SHORT_MAX, CONTROL_CLASS, d);
	case K_TEXT: return text_schema(TEXT_MAX, TEXT_CONTROL_CLASS, d);
	case K_CODE: return token_schema(CODE_PUNCT, MON_CODE_MAX, d);
	case K_ID: return token_schema(ID_PUNCT, MON_ID_MAX, d);
	case K_DAYS:
		return json_pack("{s:s, s:i, s:i, s:s}", "type", "integer", "minimum", 1,
			"maximum", DAYS_MAX, "description", d);
	case K_MONEY:
		snprintf(description, sizeof(description), "%s; as a number, multipleOf is "
			"decimal (a validator in binary floating point may refuse 0.07)", d);
		return json_pack("{s:[{s:s, s:i, s:s}, {s:s, s:i, s:I, s:f}], s:s}", "anyOf",
			"type", "string", "maxLength", MON_MONEY_TEXT_MAX, "pattern", MONEY_PATTERN,
			"type", "number", "minimum", 0, "exclusiveMaximum",
			(json_int_t)MON_MONEY_YUAN_LIMIT, "multipleOf", 0.01,
			"description", description);
	case K_DATETIME:
		return json_pack("{s:s, s:s, s:s}", "type", "string", "pattern", DATETIME_PATTERN,
			"description", d);
	case K_USCC:
	case K_CITIZEN_ID:
		snprintf(description, sizeof(description), "%s (%s cannot be said in a schema: "
			"esupd checks %s)", d, kind == K_USCC ? "the check digit" :
			"the check character and the exact birth date", kind == K_USCC ? "it" : "them");
		return json_pack("{s:s, s:s, s:s}", "type", "string", "pattern",
			kind == K_USCC ? USCC_PATTERN : CITIZEN_ID_PATTERN, "description", description);
	case K_PARTY:
		s = object_schema(party_fields);
		put(s, "oneOf", json_pack("[{s:[s]}, {s:[s]}]", "required", "uscc", "required", "id"),
			&ok);
		put(s, "description", json_string(d), &ok);
		return finished(s, ok);
	case K_FILING:
	case K_FILING_MONEY:
		s = object_schema(kind == K_FILING ? filing_fields : money_filing_fields);
		put(s, "description", json_string(d), &ok);
		office = s != NULL ? json_object_get(json_object_get(s, "properties"), "office") : NULL;
		if (office != NULL) {
			/* the offices are reference data; the seed's three are the defaults */
			put(office, "description", json_string("the code of the office filed with, from "
				"the deployment's filing_offices table; while it is empty, the seed's: "
				"jianfuban (市减负办), youhuaban (市优化办), city (市委、市政府)"), &ok);
			put(office, "examples", json_pack("[s, s, s]", "jianfuban", "youhuaban", "city"),
				&ok);
		}
		return finished(s, ok);
	case K_OFFICERS:
		return json_pack("{s:s, s:i, s:i, s:o, s:s}", "type", "array", "minItems", 1,
			"maxItems", OFFICERS_MAX, "items", object_schema(officer_fields),
			"description", d);
	case K_REPLACEMENT:
		s = event_schema(true);
		put(s, "description", json_string("the corrected event: an event of its own type "
			"but event.corrected, whose id, dept and case are the correction's (left out, or "
			"equal: a schema cannot compare them; nor can it require a case of a replacement "
			"whose correction has none)"), &ok);
		return finished(s, ok);
	case K_ENUM:
	case K_BOOL:
	case K_MEASURES:
		break;
	}
	return NULL;
}

json_t *mon_event_schema(void)
{
	json_t *schema = event_schema(false), *defs = json_object();
	bool ok = true;

	put(schema, "$schema", json_string(SCHEMA_DIALECT), &ok);
	put(schema, "title", json_string("esup event"), &ok);
	put(schema, "description", json_string("One event as POST /v1/events takes it (one "
		"line of NDJSON, or one element of a JSON array). Generated by libmonitor from the "
		"validator's own tables; fields a type does not know are accepted and warned "
		"about. Check digits and the rules that compare a correction with its "
		"replacement are esupd's alone: see docs/protocol.md, \"The schema\"."), &ok);
	for (size_t k = 0; k < sizeof(kind_def) / sizeof(kind_def[0]); k++) {
		if (kind_def[k] != NULL)
			put(defs, kind_def[k], kind_schema((enum field_kind)k), &ok);
	}
	put(defs, "dept", token_schema(DEPT_PUNCT, MON_CODE_MAX, EXPECT_DEPT), &ok);
	put(defs, "case", token_schema(CASE_PUNCT, MON_CODE_MAX, EXPECT_CASE), &ok);
	for (size_t i = 0; i < MON_EV__COUNT; i++) {
		json_t *t = object_schema(types[i].fields);
		put(t, "description", json_string(type_meaning[i]), &ok);
		if (types[i].check_schema != NULL && t != NULL) {
			json_t *rule = types[i].check_schema();
			if (rule == NULL || json_object_update(t, rule) != 0)
				ok = false;
			json_decref(rule);
		}
		put(defs, types[i].name, t, &ok);
	}
	put(schema, "$defs", defs, &ok);
	return finished(schema, ok);
}
