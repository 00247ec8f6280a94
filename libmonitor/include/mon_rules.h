/* mon_rules.h: the case engine: working-day calendar, catalogue items and the supervision
 * reference tables, and the evaluation of one case's history into its clock and its active
 * alert conditions.
 *
 * Evaluation is a pure function of (ruleset, the case's events, now). The caller keeps the
 * events; conditions come out with stable dedup keys, so the caller raises a new alert for a
 * key it has not seen, and resolves an open alert whose key no longer comes out (a late event
 * cleared it). A ruleset is immutable once loaded: a reload builds a new one and swaps it. */
#ifndef MON_RULES_H
#define MON_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mon_event.h"

#define MON_RULE_MAX 32
/* RULE|dept|case|qualifier at their longest (29 + 3 * 64 + 3 separators) fits. */
#define MON_KEY_MAX 256
#define MON_EVIDENCE_MAX 8
#define MON_CASE_EVENTS_MAX 10000   /* events one evaluation takes; a real case has dozens */

enum mon_unit { MON_UNIT_WORKING, MON_UNIT_CALENDAR };
enum mon_severity { MON_SEVERITY_NOTICE, MON_SEVERITY_YELLOW, MON_SEVERITY_RED };

/* Local days in Asia/Shanghai (UTC+8 all year; no DST since 1991): day 0 is 1970-01-01. */
int32_t mon_day_of(int64_t epoch);
/* The epoch second at which local day `day` ends (its 24:00). */
int64_t mon_day_end(int32_t day);
/* "YYYY-MM-DD" of a local day; buf >= 11. */
void mon_day_format(int32_t day, char *buf, size_t len);

struct mon_ruleset;

struct mon_ruleset *mon_ruleset_create(void);
void mon_ruleset_destroy(struct mon_ruleset *rs);

/* calendar.csv: header `date,kind,name`; kind `holiday` (a day off) or `workday` (a weekend
 * day that is worked). Replaces the ruleset's calendar. */
bool mon_ruleset_load_calendar(struct mon_ruleset *rs, const char *csv, size_t len,
		struct mon_error *err) __attribute__((warn_unused_result));
/* items.csv: header starting `code,dept,name,statutory_days,committed_days,unit`, optional
 * further columns `warn_days`, `supervise_days`, `step_days` ("step=days;step=days").
 * Replaces the catalogue. */
bool mon_ruleset_load_items(struct mon_ruleset *rs, const char *csv, size_t len,
		struct mon_error *err) __attribute__((warn_unused_result));
/* The reference tables, by name: "calendar", "items", then the supervision tables
 * "fee_items", "penalty_tiers", "filing_offices", "officers", "enterprises", "regions",
 * "hearing_thresholds".
 * Index 0..count-1. */
size_t mon_refdata_count(void);
const char *mon_refdata_name(size_t i);
/* Loads one table from its CSV (header row first; for the supervision tables the header is
 * exactly the table's columns, in order, see docs/rules.md). Replaces that table whole; on
 * failure *err names the line and column, and the ruleset keeps what it had. */
bool mon_ruleset_load(struct mon_ruleset *rs, const char *table, const char *csv, size_t len,
		struct mon_error *err) __attribute__((warn_unused_result));
/* Global parameters by name (see docs/rules.md), e.g. "warn_days", "supervise_days". */
bool mon_ruleset_set_param(struct mon_ruleset *rs, const char *name, long long value,
		struct mon_error *err) __attribute__((warn_unused_result));
/* The value of a global parameter by name, as set or by default; false for an unknown name. */
bool mon_ruleset_get_param(const struct mon_ruleset *rs, const char *name, long long *value)
	__attribute__((warn_unused_result));
/* A rule can be switched off by code. */
bool mon_ruleset_disable_rule(struct mon_ruleset *rs, const char *code,
		struct mon_error *err) __attribute__((warn_unused_result));
bool mon_ruleset_is_working_day(const struct mon_ruleset *rs, int32_t day);

/* Working time for 督办 deadlines (worktime.c). The working hours of a working day run from
 * start_s to end_s seconds after local midnight (09:00-17:00 is 32400, 61200); valid when
 * 0 <= start_s < end_s <= 86400. */
bool mon_work_hours_valid(int start_s, int end_s);
/* The instant at which `hours` working hours have passed since t: only the working hours of
 * working days count (a weekend, a holiday and the night do not; a 调休 weekend day does).
 * Time before the day's start counts from the start; ending exactly at end_s gives end_s
 * itself. hours 0 gives t; INT64_MAX when out of reach or on bad arguments. */
int64_t mon_working_hours_after(const struct mon_ruleset *rs, int start_s, int end_s,
		int64_t t, int hours);
/* The end (24:00) of the days-th working day after t's own local day (t's day does not
 * count, as for the other working-day limits). days 0 gives t; INT64_MAX when out of reach. */
int64_t mon_working_days_after(const struct mon_ruleset *rs, int64_t t, int days);

/* One stored event of the case and when it reached us. */
struct mon_case_event {
	const struct mon_event *event;
	int64_t received_at;
	bool context;   /* another case's event, supplied for cross-case rules (a party's earlier
	                 * penalties, an enterprise's other inspections): read, never judged */
};

/* The subject of an event (mon_event_subject) and the choice of context: mon_eval.h. */
/* How many days before and after a case's events its context matters (largest window). */
int mon_ruleset_context_days(const struct mon_ruleset *rs);
/* How many days before a penalty.decided an earlier penalty against the same party can
 * matter (first_offence_window_days plus the day local dates add). Only the existence of one
 * such penalty counts: of the other cases' penalties, the latest before the decision within
 * these days gives the same result as all of them. */
int mon_ruleset_penalty_context_days(const struct mon_ruleset *rs);

/* One active condition: the caller's alert. */
struct mon_condition {
	char rule[MON_RULE_MAX];          /* stable code, e.g. "APR-DEADLINE-YELLOW" */
	enum mon_severity severity;
	char key[MON_KEY_MAX];            /* dedup key: one condition, one alert */
	char supersedes[MON_RULE_MAX];    /* rule code on the same case this one replaces, or "" */
	int64_t since;                    /* business time the condition began */
	char message[256];
	size_t evidence_count;
	char evidence[MON_EVIDENCE_MAX][MON_ID_MAX + 1];  /* event ids */
};

enum mon_case_status {
	MON_CASE_RECEIVED,     /* application received, not yet accepted */
	MON_CASE_ACCEPTED,     /* the clock runs */
	MON_CASE_SUSPENDED,    /* a special procedure stops the clock */
	MON_CASE_DECIDED,
	MON_CASE_REFUSED,      /* refused at intake */
	MON_CASE_WITHDRAWN,
};

/* What statistics need to know of a case (schema/013_case_facts.sql), derived with the rest
 * of its state, so that a late event re-derives them too. */
#define MON_TIME_NONE INT64_MIN    /* an instant that has not come (or does not apply) */
#define MON_USCC_LEN 18

enum mon_case_kind {
	MON_KIND_APPROVAL,     /* the case has approval.* events */
	MON_KIND_COMPLAINT,    /* it has a complaint.received (and no approval event) */
	MON_KIND_OTHER,
};

enum mon_case_result {
	MON_RESULT_NONE,       /* open, or not a case that ends in a result */
	MON_RESULT_APPROVED,
	MON_RESULT_DENIED,
	MON_RESULT_REFUSED_INTAKE,
	MON_RESULT_WITHDRAWN,
	MON_RESULT_CLOSED,     /* a complaint closed */
};

/* A yes/no fact that may not apply, or not be known yet (SQL NULL). */
enum mon_tristate { MON_TRI_NULL, MON_TRI_FALSE, MON_TRI_TRUE };

struct mon_case_facts {
	enum mon_case_kind kind;
	int64_t received_at;       /* approval.received, or complaint.received; MON_TIME_NONE */
	int64_t accepted_at;       /* approval.accepted */
	int64_t closed_at;         /* decided, refused_intake or withdrawn; complaint.closed */
	enum mon_case_result result;
	enum mon_tristate reported;          /* denied or refused_intake: a refusal report given */
	int supplements;                     /* approval.supplement_requested events */
	/* Approved or denied within the committed / statutory limit, as the ladder judges it
	 * (APR-DEADLINE-YELLOW / -RED by the statutory deadline): decided by the end of the
	 * limit's last day, suspensions and effective extensions included. NULL when the case
	 * is not decided, was never accepted, or its item (so its limits) is unknown. */
	enum mon_tristate on_time_committed;
	enum mon_tristate on_time_statutory;
	/* Complaints: answered (the first complaint.replied, or the closure when it came
	 * first) and closed within complaint_reply_days / complaint_close_days working days, as
	 * CMP-REPLY-LATE and CMP-CLOSE-LATE judge them: true when done in time, false when done
	 * late or the limit passed undone, NULL while still in time. */
	int64_t replied_at;
	enum mon_tristate reply_on_time;
	enum mon_tristate close_on_time;
	char applicant[MON_USCC_LEN + 1];    /* the applicant's USCC (an enterprise), or "" */
};

struct mon_case_state {
	char dept[MON_CODE_MAX + 1];
	char case_no[MON_CODE_MAX + 1];
	char item[MON_CODE_MAX + 1];
	enum mon_case_status status;
	enum mon_unit unit;
	int committed_days;        /* limits, extensions included */
	int statutory_days;
	int counted_days;          /* days counted as of now (or as of the decision) */
	int suspended_days;        /* days not counted because the case was suspended */
	int32_t committed_day;     /* last local day allowed, -1 when not running (not accepted, suspended) */
	int32_t statutory_day;
	int64_t next_check;        /* when time alone may change the conditions; INT64_MAX never */
	bool has_level;
	enum mon_severity level;   /* highest active condition */
	struct mon_case_facts facts;
};

struct mon_evaluation {
	struct mon_case_state state;
	size_t count;
	struct mon_condition *conditions;   /* owned */
	/* The ids of the case's own events that the department's corrections in effect voided or
	 * replaced (a voided correction included), sorted; owned. An alert whose evidence names
	 * one of them and whose condition no longer comes out was corrected by the department. */
	size_t corrected_count;
	char (*corrected)[MON_ID_MAX + 1];
};

/* Evaluates one case from all its events (any order; sorted inside by business time, then
 * receipt, then id) as of `now`. Events dated after `now` have not happened yet: they are
 * left out, and next_check wakes the case at the first of them. Any family: approval,
 * fee, penalty, inspection, complaint, inquiry, evaluation and trade events are told apart
 * by type. Events marked `context` belong to other cases and are only read by the
 * cross-case rules. An event without a case (case_no "") is evaluated alone: pass it as
 * the only non-context event (with the event.corrected events that correct it, and those
 * that correct them); its conditions are keyed RULE|dept||event-id.
 * The department's corrections (event.corrected) are applied first: an event a correction in
 * effect voids is left out, one it replaces is its replacement (the correction's id and
 * receipt, the replacement's own at); a correction dated after now is not yet in effect
 * (next_check wakes the case at it); of several in effect on one event the latest (at,
 * received, id) wins; a void may target a correction (restoring what it corrected), a replace
 * of a correction is ignored. Corrections themselves are never judged and do not change the
 * status. out->corrected lists what they voided or replaced.
 * False only on bad input (no event of the case, more than MON_CASE_EVENTS_MAX in all,
 * events of different cases, several without a case, out of memory); *err says why. */
bool mon_case_evaluate(const struct mon_ruleset *rs, const struct mon_case_event *events,
		size_t count, int64_t now, struct mon_evaluation *out, struct mon_error *err)
	__attribute__((warn_unused_result));
void mon_evaluation_finish(struct mon_evaluation *ev);

/* A case's clock as spans of time, for showing it (GET /v1/cases/{dept}/{case}'s "clock"):
 * the same replay that mon_case_evaluate counts days from, so the spans and the counted and
 * suspended days cannot disagree. Pure: `now` is the caller's business clock; nothing is read
 * or written elsewhere. */
enum mon_clock_kind {
	MON_CLOCK_SUSPENDED,      /* a special procedure (§45) stopped the clock */
	MON_CLOCK_EXTENDED,       /* an extension (§42) was granted */
};

struct mon_clock_span {
	enum mon_clock_kind kind;
	int64_t from;             /* suspended: its start; extended: when granted */
	int64_t to;               /* suspended: its end, exclusive (the resumption, or the
	                           * decision that ended it); MON_TIME_NONE while it runs.
	                           * extended: MON_TIME_NONE */
	int days;                 /* suspended: the approved length; extended: days granted */
	bool effective;           /* extended: granted in time, so it moved the deadlines;
	                           * suspended: true */
	char procedure[32];       /* suspended: the event's `kind` (hearing, testing, ...); "" */
	char event[MON_ID_MAX + 1];   /* the id of the event that began the span */
};

struct mon_case_clock {
	int counted_days;         /* exactly mon_case_evaluate's state.counted_days */
	int suspended_days;       /* and state.suspended_days */
	size_t count;
	struct mon_clock_span *spans;   /* owned (free with mon_case_clock_finish); suspensions
	                                 * and extensions each in business-time order,
	                                 * suspensions first; NULL when count is 0 */
};

/* The clock of the case whose events are given (as for mon_case_evaluate: context events are
 * ignored, events after `now` have not happened yet). False only on bad input (as
 * mon_case_evaluate) or out of memory; *err says why, and *out is then empty. */
bool mon_case_clock(const struct mon_ruleset *rs, const struct mon_case_event *events,
		size_t count, int64_t now, struct mon_case_clock *out, struct mon_error *err)
	__attribute__((warn_unused_result));
void mon_case_clock_finish(struct mon_case_clock *clock);

/* The rules this engine knows, for listings and configuration checks: index 0..count-1. */
size_t mon_rule_count(void);
const char *mon_rule_code(size_t i);
enum mon_severity mon_rule_severity(size_t i);
/* False when rule i was switched off (mon_ruleset_disable_rule) or does not exist. */
bool mon_ruleset_rule_enabled(const struct mon_ruleset *rs, size_t i);

const char *mon_severity_name(enum mon_severity s);       /* "notice", "yellow", "red" */
const char *mon_case_status_name(enum mon_case_status s); /* "received", "accepted", ... */
const char *mon_case_kind_name(enum mon_case_kind k);     /* "approval", "complaint", "other" */
const char *mon_case_result_name(enum mon_case_result r); /* "approved", ...; NULL for none */

/* The facts as one JSON object, in the shape esup_apply_evaluation() stores (keys named as
 * the columns of `cases`; instants RFC 3339 at offset_min minutes east of UTC, null when
 * absent; tri-states true, false or null). The one writer of this shape: esupd's
 * evaluations and `esupctl eval` both use it. A new reference, NULL when out of memory. */
json_t *mon_case_facts_json(const struct mon_case_facts *f, int offset_min);

#endif
