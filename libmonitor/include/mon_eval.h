/* mon_eval.h: the one path from stored or read events to an evaluation and back out, shared
 * by esupd (daemon/cases.c, daemon/ingest.c) and `esupctl eval` so that they cannot disagree:
 * the subject of an event, the other cases' events (context) a case's cross-case rules read,
 * which events repeat an earlier one, and the evaluation as JSON.
 *
 * Pure like the rest of libmonitor: every result is a function of the arguments; nothing is
 * kept between calls. */
#ifndef MON_EVAL_H
#define MON_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "mon_event.h"
#include "mon_rules.h"

#define MON_SUBJECT_MAX 18   /* a validated uscc or resident id */

/* The party or enterprise an event concerns, for cross-case rules: the uscc, else the id, of
 * penalty.decided's `party` or inspection.started's `enterprise`; false for every other type
 * and when there is none (or it is longer than MON_SUBJECT_MAX or than len - 1). schema/005's
 * esup_event_subject() is the same function in SQL (tests/integration/test_event_subject.py
 * holds them to it for every event type). */
bool mon_event_subject(const struct mon_event *ev, char *out, size_t len);

/* Context: what the cross-case rules read of other cases.
 * - penalty (PEN-FIRST-MINOR asks whether the party was penalised before): for each of the
 *   case's penalty.decided, the latest other case's penalty.decided against the same party
 *   with lo <= at < hi, lo = at - mon_ruleset_penalty_context_days, hi = the decision's at.
 *   Only whether one exists counts, so the latest is as good as all of them.
 * - inspection (ENF-REPEAT, ENF-MULTI-DEPT find bursts): for each of the case's
 *   inspection.started, every other case's inspection.started of the same enterprise with
 *   lo <= at <= hi, at -/+ mon_ruleset_context_days. */
enum mon_context_kind { MON_CONTEXT_PENALTY, MON_CONTEXT_INSPECTION };

struct mon_context_window {
	enum mon_context_kind kind;
	char subject[MON_SUBJECT_MAX + 1];
	int64_t lo, hi;                  /* penalty: [lo, hi); inspection: [lo, hi] */
	const struct mon_event *event;   /* the case's event it is for (borrowed from the input) */
};

/* The windows of the case whose events are own[0..count) (entries marked context are
 * skipped): one per penalty.decided or inspection.started with a subject, in input order.
 * out must have room for count windows; returns how many were written. A caller that looks
 * events up elsewhere (esupd's SQL) fetches at least what these windows name and hands the
 * result to mon_context_select. */
size_t mon_context_windows(const struct mon_ruleset *rs, const struct mon_case_event *own,
		size_t count, struct mon_context_window *out);

/* Of candidates[0..candidate_count) (other events, of any case, in any order), sets keep[i]
 * to whether the case whose events are own[0..own_count) reads candidates[i] as context,
 * exactly as the windows above say; an event of the case itself (same dept and case_no) and
 * an event without a case are never kept, nor is a correction, nor a candidate its department
 * voided: an event.corrected `void` among the candidates names it, and is not voided itself
 * (whatever the dates: as esup_event_voided, schema/021, which esupd's query applies). A
 * penalty window keeps one candidate: the latest by at (of equal ones, the first in candidate
 * order). False only when out of memory (keep is then all false). */
bool mon_context_select(const struct mon_ruleset *rs, const struct mon_case_event *own,
		size_t own_count, const struct mon_case_event *candidates, size_t candidate_count,
		bool *keep) __attribute__((warn_unused_result));

/* Repeats: one department's event id is stored, and evaluated, once. For events[0..count) in
 * input order, previous[i] is the index of the latest earlier event with the same dept and id,
 * or SIZE_MAX for the first of its (dept, id). Linear time. False only when out of memory. */
bool mon_events_duplicates(const struct mon_event *const *events, size_t count,
		size_t *previous) __attribute__((warn_unused_result));

/* The one JSON writer of an evaluation, in the shape esup_apply_evaluation() stores
 * (schema/002, 013): instants RFC 3339 at offset_min minutes east of UTC, null when absent
 * (INT64_MAX, MON_TIME_NONE); days YYYY-MM-DD or null.
 *   {"dept", "case", "item" ("" when none), "status", "unit" ("working" when the item is
 *    unknown), "committed_days", "statutory_days", "counted_days", "suspended_days",
 *    "committed_day", "statutory_day", "level" (null when none), "next_check",
 *    "facts" (mon_case_facts_json), "conditions": [condition],
 *    "corrected": [ids of the case's events that corrections in effect voided or replaced]}
 * A condition: {"rule", "severity", "dept", "case", "key", "since", "message",
 *    "evidence": [event ids], "supersedes" (null when none)}.
 * esupd adds "disabled"; `esupctl eval` prints its lines from these objects. Each function
 * returns a new reference, NULL when out of memory. */
json_t *mon_condition_json(const struct mon_case_state *state, const struct mon_condition *c,
		int offset_min);
json_t *mon_case_state_json(const struct mon_case_state *state, int offset_min);
json_t *mon_evaluation_json(const struct mon_evaluation *ev, int offset_min);

#endif
