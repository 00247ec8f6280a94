/* cases.h: re-deriving cases inside a transaction: lock their rows (fixed order), load their
 * whole history, evaluate it with libmonitor, and apply the result (case row, alerts raised,
 * resolved, superseded, NOTIFY esup_alert). Ingest runs it between its INSERT and COMMIT; the
 * sweeper runs it on the cases whose next check has come. */
#ifndef ESUP_CASES_H
#define ESUP_CASES_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "mon_rules.h"

struct db;
struct metrics;
struct refdata;

struct case_key {
	char dept[MON_CODE_MAX + 1];
	char case_no[MON_CODE_MAX + 1];
};

enum cases_outcome {
	CASES_DONE,     /* applied (or left due for the sweeper when no rules are loaded yet) */
	CASES_FAILED,   /* the server refused a statement: error holds its result */
	CASES_LOST,     /* the connection was lost */
};

typedef void cases_done_cb(enum cases_outcome outcome, const PGresult *error, void *arg);

/* The job has queued its last statement on db (its answer not yet in): a caller that ends
 * the transaction queues its COMMIT now, to go out in the same round trip. Called at most
 * once, before done; not at all when the job ends before it applies anything (then done
 * comes first, and the caller issues its COMMIT after it). A COMMIT queued here must be
 * checked: after a statement of the job that failed it answers ROLLBACK. */
typedef void cases_queued_cb(void *arg);

/* Runs inside the caller's open transaction on db; done is called exactly once (before this
 * returns only when the connection is down or memory ran out). keys need not be sorted or
 * unique. With lock_from (not 0: the earliest receipt time of the events the transaction
 * stored), the case rows are created if missing and locked first, their lower bound of the
 * case's receipt times lowered to it (schema/027), and marked due so that, should evaluation
 * be impossible now, the sweeper picks them up; with 0 the caller already holds their locks. loose are events
 * without a case (fees), judged one by one; they must stay alive until done. metrics (may be
 * NULL) counts the alerts the evaluation raises. dry_run: the caller will roll the
 * transaction back (ingest's dry runs), so the alert steps are neither logged nor counted.
 * queued (may be NULL): see cases_queued_cb. */
void cases_evaluate(struct db *db, const struct refdata *rd, struct metrics *metrics,
		const struct case_key *keys, size_t count, const struct mon_case_event *loose,
		size_t loose_count, int64_t now, int64_t lock_from, bool dry_run,
		cases_queued_cb *queued, cases_done_cb *done, void *arg);

#endif
