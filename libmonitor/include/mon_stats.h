/* mon_stats.h: the statistical rules (STA-*): a department's on-time rate, alert count, fee
 * total and late reporting over a rolling window, and an enterprise's dealing days, judged
 * from aggregates the caller reads from its rollups. A pure function of (ruleset, aggregates,
 * now), like mon_case_evaluate; the rules sit in the same registry (mon_rule_code), take
 * their parameters through mon_ruleset_set_param and are switched off the same way.
 *
 * Windows are Asia/Shanghai local days (mon_day_of) and end with the last complete day
 * before now's: mon_stats_windows says which days to add up. Conditions are keyed by the
 * period of judgment (now's Shanghai month; for dealing days its year), so one finding is one
 * alert per period however often it is judged; `since` is the first instant of that period. */
#ifndef MON_STATS_H
#define MON_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mon_event.h"
#include "mon_rules.h"

/* The largest magnitude an aggregate may have (fen or counts); beyond it the input is refused
 * so that no comparison can overflow. */
#define MON_STATS_VALUE_MAX 100000000000000LL   /* 1e14 */

/* Local days, inclusive. */
struct mon_stats_windows {
	int32_t first, last;        /* the window: stat_window_days days, the last one before now's day */
	int32_t baseline_first;     /* the baseline: baseline_windows windows before it, up to first - 1 */
	int32_t dealing_first;      /* dealing days: dealing_window_days days up to `last` */
};

void mon_stats_windows(const struct mon_ruleset *rs, int64_t now, struct mon_stats_windows *w);

/* One department's aggregates over the windows. Counts are >= 0; fees may be negative (more
 * refunded than collected). */
struct mon_stats_dept {
	char dept[MON_CODE_MAX + 1];
	int64_t decided;                 /* approval cases decided (approved or denied) in the window */
	int64_t on_time;                 /* ... of them within the committed limit */
	int64_t events;                  /* events whose business time lies in the window */
	int64_t late_reported;           /* ... of them received more than late_report_hours later */
	int64_t alerts;                  /* valid alerts raised in the window (STA-* left out) */
	int64_t alerts_baseline;         /* the same over the whole baseline (all its windows) */
	int64_t fees_net_fen;            /* collected minus refunded, in the window */
	int64_t fees_net_baseline_fen;   /* the same over the whole baseline */
};

/* One enterprise's dealing days with one department over the dealing window: the working days
 * used by its decided approval cases there plus one per inspection. */
struct mon_stats_dealing {
	char applicant[MON_CODE_MAX + 1];   /* unified social credit code */
	char dept[MON_CODE_MAX + 1];
	int64_t days;
};

struct mon_stats_input {
	const struct mon_stats_dept *depts;
	size_t dept_count;
	const struct mon_stats_dealing *dealings;   /* one applicant's rows next to each other */
	size_t dealing_count;
};

/* A condition and the department its alert belongs to. Evidence is left empty: the caller
 * may add event ids that illustrate it. */
struct mon_stats_condition {
	char dept[MON_CODE_MAX + 1];
	struct mon_condition condition;
};

struct mon_stats_result {
	size_t count;
	struct mon_stats_condition *items;   /* owned */
};

/* What mon_stats_evaluate requires of each row: codes set, values within MON_STATS_VALUE_MAX,
 * counts >= 0, parts no larger than their wholes. A caller may leave out a row that fails
 * rather than have the whole judgment refused. */
bool mon_stats_dept_valid(const struct mon_stats_dept *d, struct mon_error *err)
	__attribute__((warn_unused_result));
bool mon_stats_dealing_valid(const struct mon_stats_dealing *r, struct mon_error *err)
	__attribute__((warn_unused_result));

/* Judges the five rules as of now (rules switched off are skipped). False only on bad input
 * (a value out of range, an empty code, out of memory); *err says which. */
bool mon_stats_evaluate(const struct mon_ruleset *rs, const struct mon_stats_input *in,
		int64_t now, struct mon_stats_result *out, struct mon_error *err)
	__attribute__((warn_unused_result));
void mon_stats_result_finish(struct mon_stats_result *r);

#endif
