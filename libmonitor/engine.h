/* engine.h (private to libmonitor): the insides of the case engine shared by its files:
 * the ruleset's tables (calendar and catalogue here, the supervision tables in refdata.h),
 * the replayed history of one case, and the condition list. */
#ifndef MON_ENGINE_H
#define MON_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mon_eval.h"
#include "mon_rules.h"
#include "rules.h"

/* Internal to libmonitor: never exported, so a host program's own symbols cannot clash. */
#pragma GCC visibility push(hidden)

#define NEVER INT64_MAX
#define ITEM_NAME_MAX 256        /* bytes of an item's name */
#define ITEM_STEPS_MAX 32        /* step limits of one item */
#define CALENDAR_ROWS_MAX 100000
#define ITEMS_ROWS_MAX 100000
#define LIMIT_DAYS_MAX 3650      /* one limit; extensions may add up to the same again */

struct cal_entry {
	int32_t day;
	bool workday;       /* false: a holiday */
};

struct calendar {
	struct cal_entry *entries;   /* sorted by day, unique */
	size_t count;
};

struct step_limit {
	char step[MON_CODE_MAX + 1];
	int days;
};

struct item {
	char code[MON_CODE_MAX + 1];
	char dept[MON_CODE_MAX + 1];
	char name[ITEM_NAME_MAX + 1];
	int statutory_days;
	int committed_days;
	enum mon_unit unit;
	int warn_days;               /* -1: the ruleset's warn_days */
	int supervise_days;          /* -1: the ruleset's supervise_days */
	size_t step_count;
	struct step_limit *steps;    /* owned; step_count entries */
};

struct catalogue {
	struct item *items;          /* sorted by (dept, code), unique */
	size_t count;
};

/* The supervision tables (refdata.h), each a sorted array of its row type. */
enum table_id {
	TABLE_FEE_ITEMS,
	TABLE_PENALTY_TIERS,
	TABLE_FILING_OFFICES,
	TABLE_OFFICERS,
	TABLE_ENTERPRISES,
	TABLE_REGIONS,
	TABLE_HEARING_THRESHOLDS,
	TABLE__COUNT
};

struct table {
	void *rows;
	size_t count;
};

struct mon_ruleset {
	struct calendar calendar;
	struct catalogue catalogue;
	struct table tables[TABLE__COUNT];
	long long params[PARAMS_MAX];    /* by param_index */
	bool disabled[RULES_MAX];        /* by rule_index */
};

/* calendar.c */
void calendar_finish(struct calendar *cal);
/* True when `day` counts for `unit` (every day for calendar days). */
bool calendar_counts(const struct mon_ruleset *rs, enum mon_unit unit, int32_t day);
/* "YYYY-MM-DD" to a local day; false unless it is a real date from 1970 on. */
bool calendar_parse_date(const char *s, int32_t *day);

/* items.c */
void catalogue_finish(struct catalogue *cat);
const struct item *catalogue_find(const struct mon_ruleset *rs, const char *dept,
		const char *code);
int item_step_days(const struct item *item, const char *step);   /* 0: no limit */

/* ruleset.c (rule_enabled and ruleset_param: rules.h) */
int ruleset_warn_days(const struct mon_ruleset *rs, const struct item *item);
/* Strict decimal integer in [lo, hi]: digits only, no sign, no spaces. */
bool parse_bounded(const char *s, long long lo, long long hi, long long *out);

/* A special procedure (§45): from its approval.suspended up to its end. */
struct suspension {
	const struct mon_case_event *start_ev;
	const struct mon_case_event *end_ev;   /* the approval.resumed, or NULL */
	int64_t start;
	int64_t end;                 /* exclusive; NEVER while it runs */
	int days;                    /* approved length */
	char kind[32];
};

struct extension {
	const struct mon_case_event *ev;
	int days;
	bool approved;
	bool effective;              /* granted before the statutory deadline ran out */
};

/* Per-event marks found while replaying. */
enum {
	MARK_AFTER_CLOSE = 1 << 0,   /* a procedural event after the decision/refusal/withdrawal */
	MARK_STRAY_RESUME = 1 << 1,  /* resumed while not suspended */
};

/* corrections.c: the events in effect once the department's corrections are applied. */
struct corrections {
	struct mon_case_event *events;   /* owned: the events in effect, a replacement in place
	                                  * of what it replaces; no correction among them */
	size_t count;
	char (*corrected)[MON_ID_MAX + 1];   /* owned: ids of the case's own events that
	                                      * corrections in effect voided or replaced, sorted */
	size_t corrected_count;
	int64_t future;                  /* the case's earliest correction after now, or NEVER */
};

/* Applies the corrections among events (see corrections.c) as of now; the events stay the
 * caller's and must outlive *out. False when out of memory (*out then empty). */
bool corrections_apply(struct corrections *out, const struct mon_case_event *events,
		size_t count, int64_t now) __attribute__((warn_unused_result));
void corrections_finish(struct corrections *c);

/* One case's history as of `now`, replayed in business-time order. */
struct history {
	const struct mon_ruleset *rs;
	int64_t now;
	const struct mon_case_event **events;   /* the case's own, in effect (at <= now), sorted */
	unsigned char *marks;                    /* one per event */
	size_t count;
	const struct mon_case_event **context;  /* other cases' (read, never judged), at <= now,
	                                         * sorted */
	size_t context_count;
	bool has_approval;           /* some event of the case is an approval.* */
	int64_t future;              /* earliest `at` after now, NEVER if none */
	const char *dept;
	const char *case_no;
	const char *item_code;       /* from the acceptance, else the receipt; "" if none */
	const struct item *item;     /* NULL when not in the catalogue */
	enum mon_unit unit;
	const struct mon_case_event *received;
	const struct mon_case_event *accepted;
	const struct mon_case_event *closed;     /* decided, refused or withdrawn */
	/* The event the approval clock starts from: `accepted`, or `received` once 行政许可法 §32
	 * deems the application accepted (no acceptance, refusal, supplement notice, decision or
	 * withdrawal by the end of the supplement_days-th working day after receipt); NULL while
	 * there is no clock. */
	const struct mon_case_event *clock_from;
	bool deemed;                 /* clock_from is the receipt, by §32 */
	int64_t answer_due;          /* §32 window's end while it runs unanswered, else NEVER */
	struct suspension *susp;     /* sorted, disjoint */
	size_t susp_count;
	struct extension *ext;
	size_t ext_count;
	int ext_days;                /* effective extension days, at most extension_max_days */
	int ext_days_committed;      /* of them, those granted before the committed deadline */
	struct corrections corr;     /* what events and context point into */
};

/* history.c */
bool history_build(struct history *h, const struct mon_ruleset *rs,
		const struct mon_case_event *events, size_t count, int64_t now,
		struct mon_error *err) __attribute__((warn_unused_result));
void history_finish(struct history *h);
bool event_is_approval(const struct mon_event *ev);
/* A string field of the event's body, or NULL. */
const char *event_string(const struct mon_case_event *ce, const char *name);
/* The `days` field (1..3650), or 0. */
int event_days(const struct mon_case_event *ce);
enum mon_case_status history_status(const struct history *h);
/* The event's body field `name` as an amount in fen; false when absent or not money. */
bool event_money(const struct mon_case_event *ce, const char *name, int64_t *fen);
/* The boolean body field `name`: true only when present and true. */
bool event_true(const struct mon_case_event *ce, const char *name);
/* The body field `name` (an RFC 3339 string) as epoch seconds; false when absent. */
bool event_time(const struct mon_case_event *ce, const char *name, int64_t *epoch);
/* The clock's end: the closing event's time, or now while open. */
int64_t history_end(const struct history *h);

/* ladder.c: the committed deadline's 24:00 the ladder judges by (suspensions and effective
 * extensions counted), NEVER while unknown (not accepted, not catalogued, suspended short
 * of it). reports.c reads it for the delay report (缓批报告) due by then. */
int64_t ladder_committed_end(const struct history *h);

/* clock.c: counting days. A day counts when it counts for the unit and, if `suspended`
 * is used, the case is not suspended at its end. */
struct clock {
	const struct mon_ruleset *rs;
	enum mon_unit unit;
	const struct suspension *susp;   /* NULL: ignore suspensions */
	size_t susp_count;
};

void clock_init(struct clock *c, const struct history *h, bool with_suspensions);
void clock_init_working(struct clock *c, const struct mon_ruleset *rs);
/* The nth counted day after `from` (n >= 1; n <= 0 gives `from`), or -1 when the clock
 * stops for good before it (an open suspension) or it lies beyond any sane horizon. */
int32_t clock_nth(const struct clock *c, int32_t from, int n);
/* Counted and suspended days in (from, to]. */
void clock_count(const struct clock *c, int32_t from, int32_t to, int *counted,
		int *suspended);

/* conditions.c */
const char *unit_word(enum mon_unit unit);

/* facts.c: the case's facts that the history holds (kind, instants, result, report,
 * supplements, applicant); the on-time facts are ladder.c's and service.c's. */
void facts_init(const struct history *h, struct mon_case_facts *f);
enum mon_tristate tristate(bool known, bool value);

/* The end (24:00) of the nth working day after the day of `t` (plain working days:
 * weekends and holidays off, suspensions play no part); NEVER when out of reach. */
int64_t working_deadline(const struct mon_ruleset *rs, int64_t t, int n);
/* The instant from which a notice `warn` working days before that deadline holds (its
 * first second is the result + 1), or NEVER when warn is 0. */
int64_t working_notice_start(const struct mon_ruleset *rs, int64_t t, int n, int warn);

/* bursts.c: frequency/timeframe windows (重复/多头检查). Items sorted by (at, dept, id);
 * `dept` is a small index (0..n-1) telling departments apart. */
struct burst_item {
	const struct mon_case_event *ce;
	int32_t day;                 /* local day of `at` */
	size_t dept;
};

struct burst {
	size_t first, last;          /* item indexes, inclusive */
	int64_t since;               /* the item that first made a window qualify */
};

/* A window is an item's local day and the `days` days after it (民法典 §201: the first day
 * is not counted, the period runs from the next day). It qualifies when it holds `need` items (`distinct`: items of `need` different departments). Qualifying
 * windows that share an item form one burst. Fills out (room for n) and returns the
 * number of bursts; false when out of memory. */
bool bursts_find(const struct burst_item *items, size_t n, int days, int need, bool distinct,
		struct burst *out, size_t *count) __attribute__((warn_unused_result));

#pragma GCC visibility pop

#endif
