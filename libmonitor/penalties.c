/* penalties.c: the discretion tiers (自由裁量权阶次) and filing offices (备案机关 by amount),
 * and the penalty rules of seed 002 item 11: filing within its time and with the office
 * the amount calls for, no fine for a first minor violation (首次轻微违法不罚款, judged
 * from the party's earlier penalties in a window), a hearing notice for a large fine
 * (较大数额罚款听证), the amount within its tier, and the tier's floor in minor cases
 * (罚款从低). Each penalty.decided is judged on its own, under its event id. */
#include "refdata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mon_value.h"
#include "text.h"

enum {
	RULE_PEN_FILING_MISSING,
	RULE_PEN_FILING_OFFICE,
	RULE_PEN_FIRST_MINOR,
	RULE_PEN_NO_HEARING,
	RULE_PEN_TIER_OUTSIDE,
	RULE_PEN_TIER_UNKNOWN,
	RULE_PEN_NOT_LOWEST,
};

static const struct rule_def rules[] = {
	[RULE_PEN_FILING_MISSING] = { "PEN-FILING-MISSING", MON_SEVERITY_YELLOW },
	[RULE_PEN_FILING_OFFICE] = { "PEN-FILING-OFFICE", MON_SEVERITY_YELLOW },
	[RULE_PEN_FIRST_MINOR] = { "PEN-FIRST-MINOR", MON_SEVERITY_YELLOW },
	[RULE_PEN_NO_HEARING] = { "PEN-NO-HEARING", MON_SEVERITY_RED },
	[RULE_PEN_TIER_OUTSIDE] = { "PEN-TIER-OUTSIDE", MON_SEVERITY_YELLOW },
	[RULE_PEN_TIER_UNKNOWN] = { "PEN-TIER-UNKNOWN", MON_SEVERITY_NOTICE },
	[RULE_PEN_NOT_LOWEST] = { "PEN-NOT-LOWEST", MON_SEVERITY_NOTICE },
};

enum {
	PARAM_FILING_DAYS,
	PARAM_FIRST_OFFENCE_WINDOW_DAYS,
	PARAM_HEARING_THRESHOLD,
};

static const struct param_def params[] = {
	[PARAM_FILING_DAYS] = { "filing_days", 5, 1, 3650 },
	[PARAM_FIRST_OFFENCE_WINDOW_DAYS] = { "first_offence_window_days", 365, 1, 3650 },
	/* Yuan, whole: 1,000,000,000 yuan in fen still fits easily in an int64. */
	[PARAM_HEARING_THRESHOLD] = { "hearing_threshold", 10000, 1, 1000000000 },
};

const struct param_def *const param_first_offence_window_days = &params[PARAM_FIRST_OFFENCE_WINDOW_DAYS];

static const char *const tier_columns[] = {
	"violation", "severity", "min_amount", "max_amount", "description",
};

static const char *const office_columns[] = { "office", "min_amount", "max_amount", "name" };

static int cmp_tier(const void *a, const void *b)
{
	const struct penalty_tier *x = a, *y = b;
	int c = strcmp(x->violation, y->violation);

	return c != 0 ? c : (int)x->severity - (int)y->severity;
}

static bool tier_row(const struct csv_row *row, void *out, struct mon_error *err)
{
	struct penalty_tier *t = out;

	memset(t, 0, sizeof(*t));
	if (!ref_code(row, 0, "violation", "._-", t->violation, err))
		return false;
	if (!penalty_severity_parse(row->fields[1], &t->severity)) {
		csv_error(err, row, "severity", "minor, general or serious", row->fields[1]);
		return false;
	}
	if (!ref_money(row, 2, "min_amount", false, &t->min_fen, err) ||
			!ref_money(row, 3, "max_amount", false, &t->max_fen, err) ||
			!ref_name(row, 4, "description", true, t->description, err))
		return false;
	if (t->max_fen < t->min_fen) {
		csv_error(err, row, "max_amount", "at least min_amount", row->fields[3]);
		return false;
	}
	return true;
}

const struct table_def penalty_tiers_def = {
	.name = "penalty_tiers",
	.columns = tier_columns,
	.column_count = sizeof(tier_columns) / sizeof(tier_columns[0]),
	.row_size = sizeof(struct penalty_tier),
	.rows_max = 100000,
	.row = tier_row,
	.cmp = cmp_tier,
	.unique = "each (violation, severity) at most once",
	.check = NULL,
};

const struct penalty_tier *penalty_tier_find(const struct mon_ruleset *rs,
		const char *violation, enum penalty_severity severity)
{
	struct penalty_tier key;

	if (strlen(violation) > MON_CODE_MAX)
		return NULL;
	memcpy(key.violation, violation, strlen(violation) + 1);
	key.severity = severity;
	return table_find(rs, TABLE_PENALTY_TIERS, &key);
}

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

/* The facts of one penalty.decided. */
struct penalty {
	const struct mon_case_event *ce;
	int64_t fen;
	enum penalty_severity severity;
	const char *violation;
	char subject[32];
};

static bool penalty_read(const struct mon_case_event *ce, struct penalty *p)
{
	p->ce = ce;
	p->violation = event_string(ce, "violation");
	if (!mon_event_subject(ce->event, p->subject, sizeof(p->subject)))
		p->subject[0] = '\0';
	return event_money(ce, "amount", &p->fen) && p->violation != NULL &&
		penalty_severity_parse(event_string(ce, "severity"), &p->severity);
}

static const char *filing_office_of(const struct mon_case_event *ce)
{
	return json_string_value(json_object_get(json_object_get(ce->event->body, "filing"),
		"office"));
}

/* A penalty.filed, or the decision's own filing, names the office the amount calls for. */
static void check_office(const struct history *h, struct conditions *list,
		const struct penalty *p, const struct mon_case_event *filing)
{
	const char *office = filing_office_of(filing);
	const struct filing_office *want = filing_office_for(h->rs, p->fen);
	struct mon_condition *c;
	char amount[24];

	if (office == NULL || want == NULL || strcmp(office, want->office) == 0)
		return;
	c = conditions_add(list, h, &rules[RULE_PEN_FILING_OFFICE], filing->event->id, filing->event->at);
	if (c == NULL)
		return;
	mon_money_format(p->fen, amount, sizeof(amount));
	condition_message(c, "黄牌: 备案机关错误 (%s yuan: filed with %s%s, due with %s %s)", amount,
		office, filing_office_find(h->rs, office) != NULL ? "" : " (no such office)",
		want->office, want->name);
	condition_evidence(c, p->ce);
	condition_evidence(c, filing);
}

/* 备案: the decision carries its filing, or a penalty.filed (before it, for the proposed
 * fine, or after) comes within filing_days working days of it. */
static void check_filing(const struct history *h, struct conditions *list,
		const struct penalty *p, int64_t *next)
{
	int days = ruleset_param(h->rs, &params[PARAM_FILING_DAYS]);
	int64_t due = working_deadline(h->rs, p->ce->event->at, days);
	const struct mon_case_event *late = NULL;
	struct mon_condition *c;
	char date[16];

	/* A warning without a fine (0 yuan) is no 罚款 to file. */
	if (p->fen == 0 || json_object_get(p->ce->event->body, "filing") != NULL || due == NEVER)
		return;
	for (size_t i = 0; i < h->count; i++) {
		const struct mon_case_event *ce = h->events[i];
		if (ce->event->type != MON_EV_PENALTY_FILED)
			continue;
		if (ce->event->at <= due)
			return;
		if (late == NULL)
			late = ce;
	}
	if (late == NULL && h->now <= due) {
		next_check_offer(next, h->now, due + 1);
		return;
	}
	c = conditions_add(list, h, &rules[RULE_PEN_FILING_MISSING], p->ce->event->id, due + 1);
	if (c == NULL)
		return;
	mon_day_format(mon_day_of(due - 1), date, sizeof(date));
	condition_message(c, late == NULL ? "黄牌: 罚款未备案 (not filed; due by %s, %d working "
		"days)" : "黄牌: 罚款逾期备案 (filed late; due by %s, %d working days)", date, days);
	condition_evidence(c, p->ce);
	condition_evidence(c, late);
}

/* Another penalty.decided against the same party from `from` on, before p. */
static const struct mon_case_event *earlier_penalty(const struct mon_case_event *const *evs,
		size_t n, const struct penalty *p, int32_t from)
{
	char subject[32];

	for (size_t i = 0; i < n; i++) {
		const struct mon_event *ev = evs[i]->event;
		if (evs[i] == p->ce || ev->type != MON_EV_PENALTY_DECIDED || ev->at >= p->ce->event->at ||
				mon_day_of(ev->at) < from ||
				!mon_event_subject(ev, subject, sizeof(subject)) ||
				strcmp(subject, p->subject) != 0)
			continue;
		return evs[i];
	}
	return NULL;
}

/* 首次轻微违法不罚款: a minor violation with no penalty against the party in the window before
 * (from its first day, `window` days before the decision's day) is not fined. */
static void check_first_minor(const struct history *h, struct conditions *list,
		const struct penalty *p)
{
	int window = ruleset_param(h->rs, &params[PARAM_FIRST_OFFENCE_WINDOW_DAYS]);
	int32_t from = mon_day_of(p->ce->event->at) - window;
	bool declared = event_true(p->ce, "first_offence");
	struct mon_condition *c;
	char amount[24], date[16];

	if (p->severity != SEV_MINOR || p->fen == 0 || p->subject[0] == '\0')
		return;
	if (!declared && (earlier_penalty(h->events, h->count, p, from) != NULL ||
			earlier_penalty(h->context, h->context_count, p, from) != NULL))
		return;
	c = conditions_add(list, h, &rules[RULE_PEN_FIRST_MINOR], p->ce->event->id, p->ce->event->at);
	if (c == NULL)
		return;
	mon_money_format(p->fen, amount, sizeof(amount));
	mon_day_format(from, date, sizeof(date));
	if (declared)
		condition_message(c, "黄牌: 首次轻微违法罚款 (%s yuan for a declared first minor "
			"violation %s)", amount, p->violation);
	else
		condition_message(c, "黄牌: 首次轻微违法罚款 (%s yuan for minor violation %s; no "
			"penalty against %s since %s)", amount, p->violation, p->subject, date);
	condition_evidence(c, p->ce);
}

static void check_hearing(const struct history *h, struct conditions *list,
		const struct penalty *p)
{
	int64_t threshold = (int64_t)ruleset_param(h->rs, &params[PARAM_HEARING_THRESHOLD]) * 100;
	struct mon_condition *c;
	char amount[24], limit[24];

	if (p->fen < threshold || event_true(p->ce, "hearing_notice"))
		return;
	/* A hearing held shows the party was told of the right to one. */
	for (size_t i = 0; i < h->count; i++) {
		if (h->events[i]->event->type == MON_EV_PENALTY_HEARING_HELD)
			return;
	}
	c = conditions_add(list, h, &rules[RULE_PEN_NO_HEARING], p->ce->event->id, p->ce->event->at);
	if (c == NULL)
		return;
	mon_money_format(p->fen, amount, sizeof(amount));
	mon_money_format(threshold, limit, sizeof(limit));
	condition_message(c, "红牌: 较大数额罚款未告知听证 (%s yuan, hearing from %s yuan)",
		amount, limit);
	condition_evidence(c, p->ce);
}

/* 自由裁量权阶次: the amount lies in its tier; in a minor case at the tier's floor (罚款从低),
 * and not fining at all (0) is always open to a minor case. */
static void check_tier(const struct history *h, struct conditions *list,
		const struct penalty *p)
{
	const struct penalty_tier *t;
	struct mon_condition *c = NULL;
	char amount[24], lo[24], hi[24];
	const char *sev = penalty_severity_name(p->severity);

	if (!table_has_rows(h->rs, TABLE_PENALTY_TIERS))
		return;
	t = penalty_tier_find(h->rs, p->violation, p->severity);
	mon_money_format(p->fen, amount, sizeof(amount));
	if (t == NULL) {
		c = conditions_add(list, h, &rules[RULE_PEN_TIER_UNKNOWN], p->ce->event->id, p->ce->event->at);
		if (c != NULL)
			condition_message(c, "预警: 违法行为无裁量阶次 (violation %s, %s: no tier)",
				p->violation, sev);
	} else if ((p->fen < t->min_fen && !(p->severity == SEV_MINOR && p->fen == 0)) ||
			p->fen > t->max_fen) {
		c = conditions_add(list, h, &rules[RULE_PEN_TIER_OUTSIDE], p->ce->event->id, p->ce->event->at);
		mon_money_format(t->min_fen, lo, sizeof(lo));
		mon_money_format(t->max_fen, hi, sizeof(hi));
		if (c != NULL)
			condition_message(c, "黄牌: 超出裁量阶次 (%s yuan for %s %s, tier %s-%s)",
				amount, p->violation, sev, lo, hi);
	} else if (p->severity == SEV_MINOR && p->fen > t->min_fen) {
		c = conditions_add(list, h, &rules[RULE_PEN_NOT_LOWEST], p->ce->event->id, p->ce->event->at);
		mon_money_format(t->min_fen, lo, sizeof(lo));
		if (c != NULL)
			condition_message(c, "预警: 轻微违法未从低罚款 (%s yuan for minor %s, floor %s)",
				amount, p->violation, lo);
	}
	if (c != NULL)
		condition_evidence(c, p->ce);
}

/* The decision a penalty.filed belongs to: the latest at or before it, else the first. */
static const struct penalty *decision_of(const struct penalty *ps, size_t n,
		const struct mon_case_event *filed)
{
	const struct penalty *best = n > 0 ? &ps[0] : NULL;

	for (size_t i = 0; i < n; i++) {
		if (ps[i].ce->event->at <= filed->event->at)
			best = &ps[i];
	}
	return best;
}

static void penalties_evaluate(const struct history *h, struct conditions *list,
		struct mon_case_state *state)
{
	int64_t *next = &state->next_check;
	struct penalty *ps = calloc(h->count > 0 ? h->count : 1, sizeof(*ps));
	size_t n = 0;

	if (ps == NULL) {
		list->failed = true;
		return;
	}
	for (size_t i = 0; i < h->count; i++) {
		if (h->events[i]->event->type == MON_EV_PENALTY_DECIDED &&
				penalty_read(h->events[i], &ps[n]))
			n++;
	}
	for (size_t i = 0; i < n; i++) {
		check_filing(h, list, &ps[i], next);
		check_office(h, list, &ps[i], ps[i].ce);
		check_first_minor(h, list, &ps[i]);
		check_hearing(h, list, &ps[i]);
		check_tier(h, list, &ps[i]);
	}
	for (size_t i = 0; i < h->count && n > 0; i++) {
		if (h->events[i]->event->type == MON_EV_PENALTY_FILED)
			check_office(h, list, decision_of(ps, n, h->events[i]), h->events[i]);
	}
	free(ps);
}

const struct rule_family penalties_family = {
	.name = "penalties",
	.rules = rules,
	.rule_count = sizeof(rules) / sizeof(rules[0]),
	.params = params,
	.param_count = sizeof(params) / sizeof(params[0]),
	.evaluate = penalties_evaluate,
};
