/* filing.c: 罚款收费备案 (seed 002 item 11) for fines and fees alike: the filing offices by
 * amount (the filing_offices table, else the seed's bands), and the two checks both families
 * make of a fine or fee: filed before it (or within filing_grace_days working days), and
 * filed with the office its amount calls for (the larger of the proposed and the decided or
 * collected). The rules themselves (codes,
 * severities) stay with their families: PEN-FILING-* in penalties.c, FEE-FILING-* in fees.c. */
#include "filing.h"

#include <stdio.h>
#include <string.h>

#include "mon_value.h"
#include "text.h"

static const char *const office_columns[] = { "office", "min_amount", "max_amount", "name" };

/* Offices sort by the bottom of their range, so one walk finds an amount's office. */
static int cmp_office(const void *a, const void *b)
{
	const struct filing_office *x = a, *y = b;

	if (x->min_fen != y->min_fen)
		return x->min_fen < y->min_fen ? -1 : 1;
	return strcmp(x->office, y->office);
}

static bool office_row(const struct csv_row *row, void *out, struct mon_error *err)
{
	struct filing_office *o = out;

	memset(o, 0, sizeof(*o));
	if (!ref_code(row, 0, "office", "._-", o->office, err) ||
			!ref_money(row, 1, "min_amount", false, &o->min_fen, err) ||
			!ref_money(row, 2, "max_amount", true, &o->max_fen, err) ||
			!ref_name(row, 3, "name", false, o->name, err))
		return false;
	if (o->max_fen != NO_CAP && o->max_fen <= o->min_fen) {
		csv_error(err, row, "max_amount", "empty, or above min_amount", row->fields[2]);
		return false;
	}
	return true;
}

/* Every amount has at most one office: ranges may leave gaps, never overlap. */
static bool offices_check(const struct table *t, struct mon_error *err)
{
	const struct filing_office *o = t->rows;

	for (size_t i = 1; i < t->count; i++) {
		if (o[i - 1].max_fen == NO_CAP || o[i - 1].max_fen > o[i].min_fen) {
			mon_error_set_text(err, "min_amount", "amount ranges that do not overlap",
				o[i].office);
			return false;
		}
	}
	for (size_t i = 0; i < t->count; i++) {
		for (size_t j = i + 1; j < t->count; j++) {
			if (strcmp(o[i].office, o[j].office) == 0) {
				mon_error_set_text(err, "office", "each office at most once",
					o[j].office);
				return false;
			}
		}
	}
	return true;
}

const struct table_def filing_offices_def = {
	.name = "filing_offices",
	.columns = office_columns,
	.column_count = sizeof(office_columns) / sizeof(office_columns[0]),
	.row_size = sizeof(struct filing_office),
	.rows_max = 100,
	.row = office_row,
	.cmp = cmp_office,
	.unique = "each office and range at most once",
	.check = offices_check,
};

/* Seed 002 item 11: 1万元 (含) 以上 the city party committee and government, 3千元 (含) to
 * 1万元 the 优化办, below 3千元 the 减负办. Used while the table has no rows. */
static const struct filing_office default_offices[] = {
	{ "jianfuban", 0, 300000, "市减负办" },
	{ "youhuaban", 300000, 1000000, "市优化办" },
	{ "city", 1000000, NO_CAP, "市委市政府" },
};

static const struct filing_office *offices(const struct mon_ruleset *rs, size_t *n)
{
	if (!table_has_rows(rs, TABLE_FILING_OFFICES)) {
		*n = sizeof(default_offices) / sizeof(default_offices[0]);
		return default_offices;
	}
	*n = rs->tables[TABLE_FILING_OFFICES].count;
	return rs->tables[TABLE_FILING_OFFICES].rows;
}

const struct filing_office *filing_office_for(const struct mon_ruleset *rs, int64_t fen)
{
	size_t n;
	const struct filing_office *o = offices(rs, &n);

	for (size_t i = 0; i < n; i++) {
		if (fen >= o[i].min_fen && (o[i].max_fen == NO_CAP || fen < o[i].max_fen))
			return &o[i];
	}
	return NULL;
}

const struct filing_office *filing_office_find(const struct mon_ruleset *rs,
		const char *office)
{
	size_t n;
	const struct filing_office *o = offices(rs, &n);

	for (size_t i = 0; i < n; i++) {
		if (strcmp(o[i].office, office) == 0)
			return &o[i];
	}
	return NULL;
}

bool filing_party_is_enterprise(const json_t *party)
{
	return json_string_value(json_object_get(party, "uscc")) != NULL;
}

static const json_t *filing_of(const struct mon_case_event *ce)
{
	return json_object_get(ce->event->body, "filing");
}

bool filing_carried(const struct mon_case_event *ce)
{
	return json_is_object(filing_of(ce));
}

const char *filing_office_named(const struct mon_case_event *carrier)
{
	return json_string_value(json_object_get(filing_of(carrier), "office"));
}

/* When the carrier's filing was made: its filed_at, else the carrier's own time. */
static int64_t filed_when(const struct mon_case_event *carrier)
{
	const char *s = json_string_value(json_object_get(filing_of(carrier), "filed_at"));
	int64_t t;
	int offset;

	if (s != NULL && mon_time_parse(s, &t, &offset))
		return t;
	return carrier->event->at;
}

/* The amount the carrier's filing is judged by: the larger of its own amount (拟), where it
 * states one, and the duty's (decided or collected), so a fine or fee that lands in a higher
 * band than the one proposed is filed again with that band's office. *proposed: the filing
 * states an amount, there. */
static int64_t filed_amount(const struct mon_case_event *carrier, const struct filing_duty *d,
		bool *proposed, int64_t *fen)
{
	*proposed = mon_money_parse(json_object_get(filing_of(carrier), "amount"), fen);
	if (!*proposed)
		*fen = d->fen;
	return *fen > d->fen ? *fen : d->fen;
}

void filing_check_office(const struct history *h, struct conditions *list,
		const struct rule_def *rule, const struct filing_duty *d,
		const struct mon_case_event *carrier)
{
	const char *office = filing_office_named(carrier);
	bool proposed;
	int64_t stated;
	int64_t fen = filed_amount(carrier, d, &proposed, &stated);
	const struct filing_office *want = filing_office_for(h->rs, fen);
	struct mon_condition *c;
	char amount[96], plan[24], done[24];

	if (office == NULL || want == NULL || strcmp(office, want->office) == 0)
		return;
	c = conditions_add(list, h, rule, carrier->event->id, carrier->event->at);
	if (c == NULL)
		return;
	mon_money_format(stated, plan, sizeof(plan));
	mon_money_format(d->fen, done, sizeof(done));
	if (!proposed)
		snprintf(amount, sizeof(amount), "%s yuan", done);
	else if (stated == d->fen)
		snprintf(amount, sizeof(amount), "proposed %s yuan", plan);
	else if (stated > d->fen)
		snprintf(amount, sizeof(amount), "proposed %s yuan, %s %s", plan, done, d->done);
	else
		snprintf(amount, sizeof(amount), "%s yuan %s, proposed %s", done, d->done, plan);
	condition_message(c, "黄牌: 备案机关错误 (%s: filed with %s%s, due with %s %s)", amount,
		office, filing_office_find(h->rs, office) != NULL ? "" : " (no such office)",
		want->office, want->name);
	condition_evidence(c, d->ce);
	if (carrier != d->ce)
		condition_evidence(c, carrier);
}

/* The instant the duty must be filed by: the decision or collection itself, or the end of the
 * filing_grace_days-th working day after its day; NEVER when out of reach. */
static int64_t filing_due(const struct history *h, const struct filing_duty *d, int *grace)
{
	*grace = ruleset_param(h->rs, param_filing_grace_days);
	if (*grace == 0)
		return d->ce->event->at;
	return working_deadline(h->rs, d->ce->event->at, *grace);
}

static void time_message(struct mon_condition *c, const struct filing_duty *d, int grace,
		int64_t due, int64_t filed)
{
	char when[32], by[32], at[32];

	mon_time_format(d->ce->event->at, 480, at, sizeof(at));
	mon_time_format(filed, 480, when, sizeof(when));
	if (grace == 0 && filed == NEVER)
		condition_message(c, "黄牌: %s未备案 (not filed before the %s at %s)", d->what,
			d->act, at);
	else if (grace == 0)
		condition_message(c, "黄牌: %s逾期备案 (filed %s, after the %s at %s)", d->what,
			when, d->act, at);
	else {
		mon_day_format(mon_day_of(due - 1), by, sizeof(by));
		if (filed == NEVER)
			condition_message(c, "黄牌: %s未备案 (not filed; due by %s, %d working "
				"day%s after the %s)", d->what, by, grace, grace == 1 ? "" : "s",
				d->act);
		else
			condition_message(c, "黄牌: %s逾期备案 (filed %s; due by %s, %d working "
				"day%s after the %s)", d->what, when, by, grace, grace == 1 ? "" : "s",
				d->act);
	}
}

void filing_check_time(const struct history *h, struct conditions *list,
		const struct rule_def *rule, const struct filing_duty *d,
		const struct mon_case_event *const *filings, size_t n, int64_t *next)
{
	int grace;
	int64_t due = filing_due(h, d, &grace), first = NEVER, since = due + 1;
	const struct mon_case_event *first_ce = NULL;
	struct mon_condition *c;

	if (d->fen == 0 || due == NEVER)
		return;
	if (filing_carried(d->ce)) {
		first = filed_when(d->ce);
		first_ce = d->ce;
	}
	for (size_t i = 0; i < n; i++) {
		int64_t t = filed_when(filings[i]);
		if (t < first) {
			first = t;
			first_ce = filings[i];
		}
	}
	if (first <= due)
		return;
	/* An event without a case is judged once, as it arrives, and only it can carry its
	 * filing (a fee.filed belongs to a case): unfiled, it is so from its own instant. */
	if (first_ce == NULL && h->case_no[0] == '\0')
		since = d->ce->event->at;
	else if (first_ce == NULL && h->now <= due) {
		next_check_offer(next, h->now, due + 1);
		return;
	}
	c = conditions_add(list, h, rule, d->ce->event->id, since);
	if (c == NULL)
		return;
	time_message(c, d, grace, due, first);
	condition_evidence(c, d->ce);
	if (first_ce != NULL && first_ce != d->ce)
		condition_evidence(c, first_ce);
}
