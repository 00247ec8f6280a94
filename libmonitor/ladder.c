/* ladder.c: the time-limit ladder of one case (预警 notice, 黄牌 yellow, 红牌 red) and the
 * watch on each special procedure (§45), plus the case's clock figures and the next
 * instant at which time alone changes anything. Every condition is a function of the
 * history and `now`, so the sweeper can re-evaluate at any time and get the same keys. */
#include "engine.h"

#include <stdio.h>

enum {
	RULE_DEADLINE_NOTICE,
	RULE_DEADLINE_YELLOW,
	RULE_DEADLINE_RED,
	RULE_SPECIAL_NOTICE,
	RULE_SPECIAL_OVERRUN,
	RULE_SPECIAL_RED,
};

static const struct rule_def rules[] = {
	[RULE_DEADLINE_NOTICE] = { "APR-DEADLINE-NOTICE", MON_SEVERITY_NOTICE },
	[RULE_DEADLINE_YELLOW] = { "APR-DEADLINE-YELLOW", MON_SEVERITY_YELLOW },
	[RULE_DEADLINE_RED] = { "APR-DEADLINE-RED", MON_SEVERITY_RED },
	[RULE_SPECIAL_NOTICE] = { "APR-SPECIAL-NOTICE", MON_SEVERITY_NOTICE },
	[RULE_SPECIAL_OVERRUN] = { "APR-SPECIAL-OVERRUN", MON_SEVERITY_YELLOW },
	[RULE_SPECIAL_RED] = { "APR-SPECIAL-RED", MON_SEVERITY_RED },
};

enum {
	PARAM_WARN_DAYS,
	PARAM_SUPERVISE_DAYS,
};

static const struct param_def params[] = {
	[PARAM_WARN_DAYS] = { "warn_days", 2, 0, 3650 },
	[PARAM_SUPERVISE_DAYS] = { "supervise_days", 3, 1, 3650 },
};

const struct param_def *const param_warn_days = &params[PARAM_WARN_DAYS];

struct deadline {
	int limit;                   /* days, effective extensions included */
	int32_t day;                 /* the last day allowed, -1 while unknown */
	int64_t end;                 /* its 24:00; NEVER while unknown */
};

struct ladder {
	struct deadline committed;
	struct deadline statutory;
	int64_t notice_start;        /* the notice holds after this instant */
	int64_t supervise_end;       /* 督办: a yellow still open after it turns red */
};

/* The 督办 period: the item's own (items.csv column supervise_days), else the parameter. */
static int supervise_days(const struct mon_ruleset *rs, const struct item *item)
{
	if (item != NULL && item->supervise_days >= 0)
		return item->supervise_days;
	return ruleset_param(rs, &params[PARAM_SUPERVISE_DAYS]);
}

static void deadline_set(struct deadline *d, int limit, int32_t day)
{
	d->limit = limit;
	d->day = day;
	d->end = day >= 0 ? mon_day_end(day) : NEVER;
}

static void ladder_compute(const struct history *h, struct ladder *l)
{
	const struct item *item = h->item;
	struct clock c, working;
	int32_t from, day;
	int warn;

	deadline_set(&l->committed, item != NULL ? item->committed_days + h->ext_days_committed : 0, -1);
	deadline_set(&l->statutory, item != NULL ? item->statutory_days + h->ext_days : 0, -1);
	l->notice_start = NEVER;
	l->supervise_end = NEVER;
	if (h->clock_from == NULL || item == NULL)
		return;
	clock_init(&c, h, true);
	from = mon_day_of(h->clock_from->event->at);
	deadline_set(&l->committed, l->committed.limit, clock_nth(&c, from, l->committed.limit));
	deadline_set(&l->statutory, l->statutory.limit, clock_nth(&c, from, l->statutory.limit));
	if (l->committed.day < 0)
		return;
	warn = ruleset_warn_days(h->rs, item);
	day = clock_nth(&c, from, l->committed.limit - warn);
	if (warn > 0 && day >= 0)
		l->notice_start = mon_day_end(day);
	/* 督办 runs in working days whatever the item's unit, and a suspension does not stop it:
	 * the department was told to put an overdue case right. */
	clock_init_working(&working, h->rs);
	day = clock_nth(&working, l->committed.day, supervise_days(h->rs, item));
	if (day >= 0)
		l->supervise_end = mon_day_end(day);
}

int64_t ladder_committed_end(const struct history *h)
{
	struct ladder l;

	ladder_compute(h, &l);
	return l.committed.end;
}

static void ladder_evidence(struct mon_condition *c, const struct history *h)
{
	condition_evidence(c, h->clock_from);
	for (size_t i = 0; i < h->ext_count; i++) {
		if (h->ext[i].effective)
			condition_evidence(c, h->ext[i].ev);
	}
	condition_evidence(c, h->closed);
}

static void emit_red(const struct history *h, const struct ladder *l, struct conditions *list,
		int64_t end)
{
	bool statutory = l->statutory.end != NEVER && end > l->statutory.end;
	int64_t since = statutory ? l->statutory.end + 1 : l->supervise_end + 1;
	struct mon_condition *c;
	char date[16];

	/* When both hold, the reason given is the one that came first. */
	if (statutory && l->supervise_end != NEVER && end > l->supervise_end &&
			l->supervise_end < l->statutory.end)
		statutory = false, since = l->supervise_end + 1;
	c = conditions_add(list, h, &rules[RULE_DEADLINE_RED], NULL, since);
	if (c == NULL)
		return;
	condition_supersedes(c, &rules[RULE_DEADLINE_YELLOW]);
	if (statutory) {
		mon_day_format(l->statutory.day, date, sizeof(date));
		condition_message(c, h->closed == NULL ? "红牌: 超过法定时限 (statutory deadline %s "
			"passed)" : "红牌: 超过法定时限办结 (closed after the statutory deadline %s)",
			date);
	} else {
		mon_day_format(mon_day_of(l->supervise_end - 1), date, sizeof(date));
		condition_message(c, "红牌: 黄牌督办逾期未整改 (yellow card not rectified by %s)", date);
	}
	ladder_evidence(c, h);
}

static void emit_yellow(const struct history *h, const struct ladder *l, struct conditions *list)
{
	struct mon_condition *c;
	char date[16];

	c = conditions_add(list, h, &rules[RULE_DEADLINE_YELLOW], NULL, l->committed.end + 1);
	if (c == NULL)
		return;
	condition_supersedes(c, &rules[RULE_DEADLINE_NOTICE]);
	mon_day_format(l->committed.day, date, sizeof(date));
	condition_message(c, h->closed == NULL ? "黄牌: 超过承诺时限 (committed deadline %s passed)"
		: "黄牌: 超过承诺时限办结 (closed after the committed deadline %s)", date);
	ladder_evidence(c, h);
}

static void emit_notice(const struct history *h, const struct ladder *l, struct conditions *list)
{
	struct mon_condition *c;
	char date[16];

	c = conditions_add(list, h, &rules[RULE_DEADLINE_NOTICE], NULL, l->notice_start + 1);
	if (c == NULL)
		return;
	mon_day_format(l->committed.day, date, sizeof(date));
	condition_message(c, "预警: 承诺时限将至 (committed deadline %s, %d %s days)", date,
		l->committed.limit, unit_word(h->unit));
	ladder_evidence(c, h);
}

/* Which rungs hold at the case's end (the closing event, or now while open). */
struct rungs {
	bool notice;
	bool yellow;
	bool red;
};

static void ladder_rungs(const struct history *h, const struct ladder *l, struct rungs *r)
{
	int64_t end = history_end(h);

	r->yellow = l->committed.end != NEVER && end > l->committed.end;
	r->red = (l->statutory.end != NEVER && end > l->statutory.end) ||
		(r->yellow && l->supervise_end != NEVER && end > l->supervise_end);
	r->notice = h->closed == NULL && l->notice_start != NEVER && h->now > l->notice_start;
}

/* Only the highest rung that holds (and is switched on) comes out: it supersedes the rest. */
static void ladder_conditions(const struct history *h, const struct ladder *l,
		const struct rungs *r, struct conditions *list)
{
	if (r->red && rule_enabled(h->rs, &rules[RULE_DEADLINE_RED]))
		emit_red(h, l, list, history_end(h));
	else if (r->yellow && rule_enabled(h->rs, &rules[RULE_DEADLINE_YELLOW]))
		emit_yellow(h, l, list);
	else if (r->notice)
		emit_notice(h, l, list);
}

static int64_t after(int64_t t)
{
	return t == NEVER ? NEVER : t + 1;
}

/* The instants at which an open case climbs a rung; once red, nothing more can change. */
static void ladder_next_check(const struct history *h, const struct ladder *l,
		const struct rungs *r, int64_t *next)
{
	if (h->closed != NULL || r->red)
		return;
	next_check_offer(next, h->now, after(h->answer_due));   /* §32: deemed accepted then */
	next_check_offer(next, h->now, after(l->notice_start));
	next_check_offer(next, h->now, after(l->committed.end));
	next_check_offer(next, h->now, after(l->statutory.end));
	next_check_offer(next, h->now, after(l->supervise_end));
}

static void emit_special(const struct history *h, const struct suspension *s, int32_t end_day,
		bool overrun, int64_t since, struct conditions *list)
{
	struct mon_condition *c;
	char date[16], ended[16];

	c = conditions_add(list, h, &rules[overrun ? RULE_SPECIAL_OVERRUN : RULE_SPECIAL_NOTICE],
		s->start_ev->event->id, since);
	if (c == NULL)
		return;
	mon_day_format(end_day, date, sizeof(date));
	if (!overrun) {
		condition_message(c, "预警: 特别程序即将到期 (%s approved for %d %s days, until %s)",
			s->kind, s->days, unit_word(h->unit), date);
	} else if (s->end == NEVER) {
		condition_message(c, "黄牌: 特别程序超期 (%s approved until %s, still running)",
			s->kind, date);
	} else {
		mon_day_format(mon_day_of(s->end), ended, sizeof(ended));
		condition_message(c, "黄牌: 特别程序超期 (%s approved until %s, ended %s)", s->kind,
			date, ended);
	}
	if (overrun)
		condition_supersedes(c, &rules[RULE_SPECIAL_NOTICE]);
	condition_evidence(c, s->start_ev);
	condition_evidence(c, s->end_ev);
}

/* 红牌: an overrun (yellow) not put right within the 督办 period after the approved end: the
 * procedure still running then, or ended only after it. */
static void emit_special_red(const struct history *h, const struct suspension *s,
		int32_t end_day, int32_t supervise_day, struct conditions *list)
{
	struct mon_condition *c;
	char date[16], by[16], ended[16];

	c = conditions_add(list, h, &rules[RULE_SPECIAL_RED], s->start_ev->event->id,
		mon_day_end(supervise_day) + 1);
	if (c == NULL)
		return;
	mon_day_format(end_day, date, sizeof(date));
	mon_day_format(supervise_day, by, sizeof(by));
	if (s->end == NEVER) {
		condition_message(c, "红牌: 特别程序超期督办逾期未整改 (%s approved until %s, still "
			"running after %s)", s->kind, date, by);
	} else {
		mon_day_format(mon_day_of(s->end), ended, sizeof(ended));
		condition_message(c, "红牌: 特别程序超期督办逾期未整改 (%s approved until %s, ended "
			"%s, after %s)", s->kind, date, ended, by);
	}
	condition_supersedes(c, &rules[RULE_SPECIAL_OVERRUN]);
	condition_evidence(c, s->start_ev);
	condition_evidence(c, s->end_ev);
}

/* A special procedure runs for its approved days, counted in the item's unit from the day
 * it began (that day not counting); notice before its end, yellow once past it, red when the
 * overrun is not put right within the 督办 period (supervise_days working days, as for the
 * case's own yellow card): a department cannot park a case in a procedure for good. */
static void special_watch(const struct history *h, const struct suspension *s,
		struct conditions *list, int64_t *next)
{
	struct clock c, working;
	int32_t from = mon_day_of(s->start), end_day, notice_day, supervise_day;
	int warn = ruleset_warn_days(h->rs, h->item);
	int64_t end, notice_start = NEVER, supervise_end = NEVER;
	bool running = s->end == NEVER;

	clock_init(&c, h, false);
	end_day = clock_nth(&c, from, s->days);
	if (end_day < 0 || s->days <= 0)
		return;
	end = mon_day_end(end_day);
	clock_init_working(&working, h->rs);
	supervise_day = clock_nth(&working, end_day, supervise_days(h->rs, h->item));
	if (supervise_day >= 0)
		supervise_end = mon_day_end(supervise_day);
	if (supervise_end != NEVER && rule_enabled(h->rs, &rules[RULE_SPECIAL_RED]) &&
			((running && h->now > supervise_end) || (!running && s->end > supervise_end))) {
		emit_special_red(h, s, end_day, supervise_day, list);
		return;
	}
	notice_day = clock_nth(&c, from, s->days - warn);
	if (warn > 0 && notice_day >= 0)
		notice_start = mon_day_end(notice_day);
	if ((running && h->now > end) || (!running && s->end > end)) {
		if (rule_enabled(h->rs, &rules[RULE_SPECIAL_OVERRUN])) {
			emit_special(h, s, end_day, true, end + 1, list);
			return;
		}
	}
	if (running && notice_start != NEVER && h->now > notice_start && h->now <= end)
		emit_special(h, s, end_day, false, notice_start + 1, list);
	if (running) {
		next_check_offer(next, h->now, after(notice_start));
		next_check_offer(next, h->now, after(end));
		next_check_offer(next, h->now, after(supervise_end));
	}
}

static void state_clock(const struct history *h, const struct ladder *l,
		struct mon_case_state *st)
{
	struct clock c;

	st->committed_days = l->committed.limit;
	st->statutory_days = l->statutory.limit;
	st->committed_day = l->committed.day;
	st->statutory_day = l->statutory.day;
	if (h->clock_from == NULL)
		return;
	clock_init(&c, h, true);
	clock_count(&c, mon_day_of(h->clock_from->event->at), mon_day_of(history_end(h)),
		&st->counted_days, &st->suspended_days);
}

/* Decided in time: by the end of the limit's last day, the very test by which the ladder
 * shows yellow (committed) or red (statutory) on a closed case; unknown when no deadline
 * is (no acceptance or no catalogued item). */
static void state_on_time(const struct history *h, const struct ladder *l,
		struct mon_case_facts *f)
{
	int64_t at;

	if (f->result != MON_RESULT_APPROVED && f->result != MON_RESULT_DENIED)
		return;
	at = h->closed->event->at;
	f->on_time_committed = tristate(l->committed.end != NEVER, at <= l->committed.end);
	f->on_time_statutory = tristate(l->statutory.end != NEVER, at <= l->statutory.end);
}

static void ladder_evaluate(const struct history *h, struct conditions *list,
		struct mon_case_state *state)
{
	struct ladder l;
	struct rungs r;

	ladder_compute(h, &l);
	ladder_rungs(h, &l, &r);
	state_clock(h, &l, state);
	state_on_time(h, &l, &state->facts);
	ladder_conditions(h, &l, &r, list);
	ladder_next_check(h, &l, &r, &state->next_check);
	for (size_t i = 0; i < h->susp_count; i++)
		special_watch(h, &h->susp[i], list, &state->next_check);
}

const struct rule_family ladder_family = {
	.name = "approval deadlines",
	.rules = rules,
	.rule_count = sizeof(rules) / sizeof(rules[0]),
	.params = params,
	.param_count = sizeof(params) / sizeof(params[0]),
	.evaluate = ladder_evaluate,
};
