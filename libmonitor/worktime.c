/* worktime.c: working time on the calendar, for 督办 (supervision) deadlines: "the instant N
 * working hours after T" counts only the working hours of working days (weekends and holidays
 * off, 调休 weekend days worked), and "N working days after T" is the end (24:00) of the Nth
 * working day after T's own day, as the other working-day limits count (clock.c). Pure: the
 * calendar and the instant are parameters; every walk is bounded. */
#include "engine.h"

#define DAY 86400
/* No supervision deadline lies years ahead; a walk that gets this far has no answer. */
#define WORKTIME_WALK_MAX_DAYS 20000

bool mon_work_hours_valid(int start_s, int end_s)
{
	return start_s >= 0 && start_s < end_s && end_s <= DAY;
}

int64_t mon_working_hours_after(const struct mon_ruleset *rs, int start_s, int end_s,
		int64_t t, int hours)
{
	int64_t need;
	int32_t day;

	if (hours < 0 || !mon_work_hours_valid(start_s, end_s) || t == NEVER)
		return NEVER;
	need = (int64_t)hours * 3600;
	if (need == 0)
		return t;
	day = mon_day_of(t);
	for (int walked = 0; walked < WORKTIME_WALK_MAX_DAYS; walked++, day++) {
		int64_t midnight = mon_day_end(day) - DAY;
		int64_t from = midnight + start_s, until = midnight + end_s;

		if (!mon_ruleset_is_working_day(rs, day))
			continue;
		if (t > from)
			from = t;
		if (from >= until)
			continue;
		/* The instant the last needed second has passed: 17:00 itself when the
		 * hours run out at the end of a working day. */
		if (until - from >= need)
			return from + need;
		need -= until - from;
	}
	return NEVER;
}

int64_t mon_working_days_after(const struct mon_ruleset *rs, int64_t t, int days)
{
	if (days < 0 || t == NEVER)
		return NEVER;
	if (days == 0)
		return t;
	return working_deadline(rs, t, days);
}
