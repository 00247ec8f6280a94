/* penalties.c: the discretion tiers (自由裁量权阶次) and the departments' own hearing
 * thresholds (听证标准), and the penalty rules of seed 002 item 11: the fine filed before the
 * decision with the office its amount calls for (filing.c, shared with fees), no fine for a
 * first minor violation (首次轻微违法不罚款, judged from the party's earlier penalties in a
 * window), a hearing notice for a large fine, confiscation, licence revocation or closure
 * (行政处罚法 §63; 河南省行政处罚听证办法 §4), the amount within its tier, and the tier's
 * floor in minor cases (罚款从低). Each penalty.decided is judged on its own, under its id. */
#include "filing.h"

#include <stdarg.h>
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
	PARAM_FILING_GRACE_DAYS,
	PARAM_FIRST_OFFENCE_WINDOW_DAYS,
	PARAM_HEARING_CITIZEN_YUAN,
	PARAM_HEARING_ORGANISATION_YUAN,
};

static const struct param_def params[] = {
	/* Working days after the decision or collection a filing is still on time; 0: before
	 * it, as the seed says (拟罚款、收费). Read by fees.c too, through filing.c. */
	[PARAM_FILING_GRACE_DAYS] = { "filing_grace_days", 0, 0, 3650 },
	[PARAM_FIRST_OFFENCE_WINDOW_DAYS] = { "first_offence_window_days", 365, 1, 3650 },
	/* 河南省行政处罚听证办法 (省政府令第204号) §4: 5,000 yuan for a citizen, 50,000 for a legal
	 * person or other organisation. Whole yuan: 10^9 yuan in fen fits easily in an int64. */
	[PARAM_HEARING_CITIZEN_YUAN] = { "hearing_citizen_yuan", 5000, 1, 1000000000 },
	[PARAM_HEARING_ORGANISATION_YUAN] = { "hearing_organisation_yuan", 50000, 1, 1000000000 },
};

const struct param_def *const param_first_offence_window_days = &params[PARAM_FIRST_OFFENCE_WINDOW_DAYS];
const struct param_def *const param_filing_grace_days = &params[PARAM_FILING_GRACE_DAYS];

static const char *const tier_columns[] = {
	"violation", "severity", "min_amount", "max_amount", "description",
};

static const char *const hearing_columns[] = { "dept", "party_kind", "min_amount", "basis" };

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

static const char *const party_kind_names[] = {
	[PARTY_CITIZEN] = "a citizen", [PARTY_ORGANISATION] = "an organisation",
};

static int cmp_hearing(const void *a, const void *b)
{
	const struct hearing_threshold *x = a, *y = b;
	int c = strcmp(x->dept, y->dept);

	return c != 0 ? c : (int)x->kind - (int)y->kind;
}

static bool hearing_row(const struct csv_row *row, void *out, struct mon_error *err)
{
	struct hearing_threshold *t = out;
	const char *kind = row->fields[1];

	memset(t, 0, sizeof(*t));
	if (!ref_code(row, 0, "dept", "_-", t->dept, err))
		return false;
	if (strcmp(kind, "citizen") == 0) {
		t->kind = PARTY_CITIZEN;
	} else if (strcmp(kind, "organisation") == 0) {
		t->kind = PARTY_ORGANISATION;
	} else {
		csv_error(err, row, "party_kind", "citizen or organisation", kind);
		return false;
	}
	if (!ref_money(row, 2, "min_amount", false, &t->min_fen, err) ||
			!ref_name(row, 3, "basis", false, t->basis, err))
		return false;
	if (t->min_fen == 0) {
		csv_error(err, row, "min_amount", "above 0.00 (every penalty would need a notice)",
			row->fields[2]);
		return false;
	}
	return true;
}

const struct table_def hearing_thresholds_def = {
	.name = "hearing_thresholds",
	.columns = hearing_columns,
	.column_count = sizeof(hearing_columns) / sizeof(hearing_columns[0]),
	.row_size = sizeof(struct hearing_threshold),
	.rows_max = 10000,
	.row = hearing_row,
	.cmp = cmp_hearing,
	.unique = "each (dept, party_kind) at most once",
	.check = NULL,
};

const struct hearing_threshold *hearing_threshold_find(const struct mon_ruleset *rs,
		const char *dept, enum party_kind kind)
{
	struct hearing_threshold key;

	if (strlen(dept) > MON_CODE_MAX)
		return NULL;
	memcpy(key.dept, dept, strlen(dept) + 1);
	key.kind = kind;
	return table_find(rs, TABLE_HEARING_THRESHOLDS, &key);
}

/* The facts of one penalty.decided. */
struct penalty {
	const struct mon_case_event *ce;
	int64_t fen;
	enum penalty_severity severity;
	const char *violation;
	char subject[32];
	/* A `uscc` makes the party an organisation (法人或者其他组织), an `id` a citizen (公民).
	 * The validator takes exactly one; were both there, the uscc would win: the credit
	 * code names the organisation that is the party, the id at most its representative. */
	enum party_kind kind;
	bool enterprise;             /* the fine is 涉企: filed (seed 002 item 11) */
	struct filing_duty duty;
};

static bool penalty_read(const struct mon_case_event *ce, struct penalty *p)
{
	const json_t *party = json_object_get(ce->event->body, "party");

	p->ce = ce;
	p->violation = event_string(ce, "violation");
	if (!mon_event_subject(ce->event, p->subject, sizeof(p->subject)))
		p->subject[0] = '\0';
	p->enterprise = filing_party_is_enterprise(party);
	p->kind = p->enterprise ? PARTY_ORGANISATION : PARTY_CITIZEN;
	if (!event_money(ce, "amount", &p->fen) || p->violation == NULL ||
			!penalty_severity_parse(event_string(ce, "severity"), &p->severity))
		return false;
	p->duty = (struct filing_duty){ .ce = ce, .fen = p->fen, .what = "罚款",
		.act = "decision", .done = "decided" };
	return true;
}

/* 备案 (seed 002 item 11): an enterprise's fine is filed before the decision (or within
 * filing_grace_days working days), by the decision's own filing or a penalty.filed of the
 * case, with the office its amount calls for (the larger of the proposed and the decided). */
static void check_filing(const struct history *h, struct conditions *list,
		const struct penalty *p, const struct mon_case_event *const *filed, size_t n,
		int64_t *next)
{
	if (!p->enterprise)
		return;
	filing_check_time(h, list, &rules[RULE_PEN_FILING_MISSING], &p->duty, filed, n, next);
	filing_check_office(h, list, &rules[RULE_PEN_FILING_OFFICE], &p->duty, p->ce);
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

/* 行政处罚法 §63 (三)(四) and 河南省行政处罚听证办法 §4: the measures that need a hearing
 * notice whatever their value. */
static const char *const notice_measures[] = {
	"licence_revocation", "production_stop", "closure", "qualification_downgrade",
	"practice_restriction",
};

static bool measure_listed(const struct mon_case_event *ce, const char *measure)
{
	const json_t *list = json_object_get(ce->event->body, "measures");

	for (size_t i = 0; i < json_array_size(list); i++) {
		const char *m = json_string_value(json_array_get(list, i));
		if (m != NULL && strcmp(m, measure) == 0)
			return true;
	}
	return false;
}

__attribute__((format(printf, 3, 4)))
static void why_add(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used + 2 >= len)
		return;
	if (used > 0) {
		buf[used++] = ',';
		buf[used++] = ' ';
		buf[used] = '\0';
	}
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

/* 听证告知: a fine, or a confiscated value, at or above the party's threshold (the
 * department's own standard where hearing_thresholds has one: a State Council department's
 * standard prevails; else the province's, hearing_citizen_yuan or hearing_organisation_yuan),
 * or a revocation, stop, closure, downgrade or restriction, needs the notice. A hearing held
 * at or before the decision shows the party was told of the right to one; one held after it
 * does not (§63-64: the notice, and the hearing, come before the decision). */
static void check_hearing(const struct history *h, struct conditions *list,
		const struct penalty *p)
{
	const struct hearing_threshold *own = hearing_threshold_find(h->rs, p->ce->event->dept,
		p->kind);
	const struct param_def *param = &params[p->kind == PARTY_CITIZEN ?
		PARAM_HEARING_CITIZEN_YUAN : PARAM_HEARING_ORGANISATION_YUAN];
	int64_t threshold = own != NULL ? own->min_fen : (int64_t)ruleset_param(h->rs, param) * 100;
	int64_t value;
	struct mon_condition *c;
	char why[256] = "", amount[24], limit[24];

	if (event_true(p->ce, "hearing_notice"))
		return;
	for (size_t i = 0; i < h->count; i++) {
		if (h->events[i]->event->type == MON_EV_PENALTY_HEARING_HELD &&
				h->events[i]->event->at <= p->ce->event->at)
			return;
	}
	if (p->fen >= threshold) {
		mon_money_format(p->fen, amount, sizeof(amount));
		why_add(why, sizeof(why), "fine %s yuan", amount);
	}
	if (measure_listed(p->ce, "confiscation") && event_money(p->ce, "confiscated_value", &value) &&
			value >= threshold) {
		mon_money_format(value, amount, sizeof(amount));
		why_add(why, sizeof(why), "confiscation of %s yuan", amount);
	}
	for (size_t i = 0; i < sizeof(notice_measures) / sizeof(notice_measures[0]); i++) {
		if (measure_listed(p->ce, notice_measures[i]))
			why_add(why, sizeof(why), "%s", notice_measures[i]);
	}
	if (why[0] == '\0')
		return;
	c = conditions_add(list, h, &rules[RULE_PEN_NO_HEARING], p->ce->event->id, p->ce->event->at);
	if (c == NULL)
		return;
	mon_money_format(threshold, limit, sizeof(limit));
	condition_message(c, "红牌: 未告知听证权利 (%s; %s's threshold %s yuan, %s%s%s)", why,
		party_kind_names[p->kind], limit, own != NULL ? p->ce->event->dept : param->name,
		own != NULL ? ": " : "", own != NULL ? own->basis : "");
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
	const struct mon_case_event **filed = calloc(h->count > 0 ? h->count : 1, sizeof(*filed));
	size_t n = 0, nf = 0;

	if (ps == NULL || filed == NULL) {
		free(ps);
		free(filed);
		list->failed = true;
		return;
	}
	for (size_t i = 0; i < h->count; i++) {
		if (h->events[i]->event->type == MON_EV_PENALTY_DECIDED &&
				penalty_read(h->events[i], &ps[n]))
			n++;
		else if (h->events[i]->event->type == MON_EV_PENALTY_FILED)
			filed[nf++] = h->events[i];
	}
	for (size_t i = 0; i < n; i++) {
		check_filing(h, list, &ps[i], filed, nf, next);
		check_first_minor(h, list, &ps[i]);
		check_hearing(h, list, &ps[i]);
		check_tier(h, list, &ps[i]);
	}
	for (size_t i = 0; i < nf && n > 0; i++) {
		const struct penalty *p = decision_of(ps, n, filed[i]);
		filing_check_office(h, list, &rules[RULE_PEN_FILING_OFFICE], &p->duty, filed[i]);
	}
	free(filed);
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
