/* trade.c: public resource trading (公共资源交易, seed 002 item 16): at least 20 days from
 * issuing the tender documents to the bid deadline (招标投标法 §24), bids opened at that
 * deadline (§34: at the same moment; not before it, nor later than opening_tolerance_minutes
 * after it), and publicity of the winning candidates for
 * at least 3 days (实施条例 §54). Periods count local dates, not instants: the law counts
 * days, and the first day is not one of them (民法典 §201); the last day ends at its 24:00
 * (§203), so an end at 00:00:00 of a day is the end of the day before. */
#include "engine.h"

#include <stdio.h>

#include "mon_value.h"

enum {
	RULE_TRD_BID_PERIOD,
	RULE_TRD_EARLY_OPENING,
	RULE_TRD_OPENING_LATE,
	RULE_TRD_PUBLICITY_SHORT,
};

static const struct rule_def rules[] = {
	[RULE_TRD_BID_PERIOD] = { "TRD-BID-PERIOD", MON_SEVERITY_YELLOW },
	[RULE_TRD_EARLY_OPENING] = { "TRD-EARLY-OPENING", MON_SEVERITY_RED },
	[RULE_TRD_OPENING_LATE] = { "TRD-OPENING-LATE", MON_SEVERITY_YELLOW },
	[RULE_TRD_PUBLICITY_SHORT] = { "TRD-PUBLICITY-SHORT", MON_SEVERITY_YELLOW },
};

enum {
	PARAM_BID_MIN_DAYS,
	PARAM_PUBLICITY_MIN_DAYS,
	PARAM_OPENING_TOLERANCE_MINUTES,
};

static const struct param_def params[] = {
	[PARAM_BID_MIN_DAYS] = { "bid_min_days", 20, 1, 3650 },
	[PARAM_PUBLICITY_MIN_DAYS] = { "publicity_min_days", 3, 1, 3650 },
	/* §34 says "the same time" and names no margin: how long after the deadline an opening
	 * still counts as at it is a deployment's choice (at most a week). */
	[PARAM_OPENING_TOLERANCE_MINUTES] = { "opening_tolerance_minutes", 60, 0, 10080 },
};

/* The last local date a period ending at `end` covers: the date of the second before it, so
 * an end at 00:00:00 of D (24:00 of D-1, as every deadline here) covers D-1, not D. */
static int32_t last_day(int64_t end)
{
	return mon_day_of(end - 1);
}

/* Whole local days from the date of `from` to the last date up to `to` covers (negative when
 * before): the first day does not count (民法典 §201), the last does to its 24:00 (§203). */
static int32_t days_between(int64_t from, int64_t to)
{
	return last_day(to) - mon_day_of(from);
}

/* A period the law sets a minimum for, between two times an event carries. */
struct min_period {
	const char *from, *to;      /* its fields */
	const struct param_def *min;          /* the minimum, in local days */
	const struct rule_def *rule;
	const char *what;           /* the message, before "(from to to: N days)" */
};

static const struct min_period bid_period = {
	"documents_issued", "bid_deadline", &params[PARAM_BID_MIN_DAYS], &rules[RULE_TRD_BID_PERIOD],
	"黄牌: 招标文件发出至投标截止不足%d日",
};
static const struct min_period publicity_period = {
	"publicity_start", "publicity_end", &params[PARAM_PUBLICITY_MIN_DAYS], &rules[RULE_TRD_PUBLICITY_SHORT],
	"黄牌: 中标候选人公示不足%d日",
};

static void check_period(const struct history *h, struct conditions *list,
		const struct mon_case_event *ce, const struct min_period *p)
{
	int min = ruleset_param(h->rs, p->min);
	int64_t start, end;
	struct mon_condition *c;
	char what[96], from[16], to[16];
	int32_t days;

	if (!event_time(ce, p->from, &start) || !event_time(ce, p->to, &end) ||
			(days = days_between(start, end)) >= min ||
			(c = condition_for_event(list, h, p->rule, ce)) == NULL)
		return;
	snprintf(what, sizeof(what), p->what, min);
	mon_day_format(mon_day_of(start), from, sizeof(from));
	mon_day_format(last_day(end), to, sizeof(to));
	condition_message(c, "%s (%s to %s: %d days)", what, from, to, (int)days);
}

/* The announcement in force when the bids were opened: the last one before them. */
static const struct mon_case_event *announcement_before(const struct history *h, int64_t t)
{
	const struct mon_case_event *found = NULL;

	for (size_t i = 0; i < h->count; i++) {
		const struct mon_case_event *ce = h->events[i];
		if (ce->event->type == MON_EV_TRADE_ANNOUNCED && ce->event->at <= t)
			found = ce;
	}
	return found;
}

/* §34: bids are opened at the deadline of the announcement in force: before it is red; more
 * than opening_tolerance_minutes after it, yellow (the message's minutes late are rounded up,
 * so an opening a second past the tolerance reads one minute over it). */
static void check_opened(const struct history *h, struct conditions *list,
		const struct mon_case_event *ce)
{
	const struct mon_case_event *a = announcement_before(h, ce->event->at);
	int64_t tolerance = ruleset_param(h->rs, &params[PARAM_OPENING_TOLERANCE_MINUTES]);
	struct mon_condition *c;
	char opened[40], deadline_text[40];
	int64_t deadline, late;

	if (a == NULL || !event_time(a, "bid_deadline", &deadline))
		return;
	late = ce->event->at - deadline;
	if (late >= 0 && late <= tolerance * 60)
		return;
	c = condition_for_event(list, h, &rules[late < 0 ? RULE_TRD_EARLY_OPENING :
		RULE_TRD_OPENING_LATE], ce);
	if (c == NULL)
		return;
	mon_time_format(ce->event->at, 480, opened, sizeof(opened));
	mon_time_format(deadline, 480, deadline_text, sizeof(deadline_text));
	if (late < 0)
		condition_message(c, "红牌: 投标截止前开标 (opened %.16s, deadline %.16s)", opened,
			deadline_text);
	else
		condition_message(c, "黄牌: 未在投标截止时间开标 (opened %.16s, deadline %.16s: "
			"%lld minute%s late, opening_tolerance_minutes %lld)", opened, deadline_text,
			(long long)((late + 59) / 60), late <= 60 ? "" : "s", (long long)tolerance);
	condition_evidence(c, a);
}

static void trade_evaluate(const struct history *h, struct conditions *list,
		struct mon_case_state *state)
{
	(void)state;   /* no time-based rule here */
	for (size_t i = 0; i < h->count; i++) {
		const struct mon_case_event *ce = h->events[i];
		switch (ce->event->type) {
		case MON_EV_TRADE_ANNOUNCED:
			check_period(h, list, ce, &bid_period);
			break;
		case MON_EV_TRADE_BIDS_OPENED:
			check_opened(h, list, ce);
			break;
		case MON_EV_TRADE_AWARDED:
			check_period(h, list, ce, &publicity_period);
			break;
		default:
			break;
		}
	}
}

const struct rule_family trade_family = {
	.name = "public resource trading",
	.rules = rules,
	.rule_count = sizeof(rules) / sizeof(rules[0]),
	.params = params,
	.param_count = sizeof(params) / sizeof(params[0]),
	.evaluate = trade_evaluate,
};
