/* clock.c: counting days the way 行政许可法 §82 and the design's Time section do: the
 * starting day does not count; a later day counts when it is a working day (or any day,
 * for limits in calendar days) and the case is not suspended at its end (24:00). Every
 * walk is bounded, so hostile dates cost at most a few hundred thousand steps. The
 * supervision limits (filing, replies, rectification) count plain working days. */
#include "engine.h"

/* No limit plus its extensions reaches this far; a walk that does has no answer. */
#define WALK_MAX_DAYS 200000

void clock_init(struct clock *c, const struct history *h, bool with_suspensions)
{
	c->rs = h->rs;
	c->unit = h->unit;
	c->susp = with_suspensions ? h->susp : NULL;
	c->susp_count = with_suspensions ? h->susp_count : 0;
}

void clock_init_working(struct clock *c, const struct mon_ruleset *rs)
{
	c->rs = rs;
	c->unit = MON_UNIT_WORKING;
	c->susp = NULL;
	c->susp_count = 0;
}

/* Walks forward over days in increasing order; the suspensions are sorted and disjoint,
 * so one cursor moving forward answers "suspended at this instant?" in amortised O(1). */
struct cursor {
	const struct clock *c;
	size_t next;
};

/* 1: suspended at x, 0: not, -1: suspended at x and for ever after (an open suspension). */
static int suspended_at(struct cursor *cur, int64_t x)
{
	const struct clock *c = cur->c;

	while (cur->next < c->susp_count && c->susp[cur->next].end <= x)
		cur->next++;
	if (cur->next == c->susp_count || c->susp[cur->next].start > x)
		return 0;
	return c->susp[cur->next].end == NEVER ? -1 : 1;
}

int32_t clock_nth(const struct clock *c, int32_t from, int n)
{
	struct cursor cur = { .c = c, .next = 0 };
	int counted = 0;

	if (n <= 0)
		return from;
	for (int32_t day = from + 1; day - from <= WALK_MAX_DAYS; day++) {
		int s = suspended_at(&cur, mon_day_end(day));
		if (s < 0)
			return -1;
		if (s == 0 && calendar_counts(c->rs, c->unit, day) && ++counted == n)
			return day;
	}
	return -1;
}

void clock_count(const struct clock *c, int32_t from, int32_t to, int *counted, int *suspended)
{
	struct cursor cur = { .c = c, .next = 0 };

	*counted = 0;
	*suspended = 0;
	if (to - from > WALK_MAX_DAYS)
		to = from + WALK_MAX_DAYS;
	for (int32_t day = from + 1; day <= to; day++) {
		if (!calendar_counts(c->rs, c->unit, day))
			continue;
		if (suspended_at(&cur, mon_day_end(day)) != 0)
			(*suspended)++;
		else
			(*counted)++;
	}
}

int64_t working_deadline(const struct mon_ruleset *rs, int64_t t, int n)
{
	struct clock c;
	int32_t day;

	clock_init_working(&c, rs);
	day = clock_nth(&c, mon_day_of(t), n);
	return day >= 0 ? mon_day_end(day) : NEVER;
}

int64_t working_notice_start(const struct mon_ruleset *rs, int64_t t, int n, int warn)
{
	struct clock c;
	int32_t day;

	if (warn <= 0)
		return NEVER;
	clock_init_working(&c, rs);
	/* A notice lead as long as the limit itself holds from the end of the starting day. */
	day = clock_nth(&c, mon_day_of(t), n - warn);
	return day >= 0 ? mon_day_end(day) : NEVER;
}
