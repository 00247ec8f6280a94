/* cases.h: re-deriving cases inside a transaction: load their history (from the partitions
 * their events_from leaves), evaluate it with libmonitor, and apply the result (case row, alerts raised,
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
 * the transaction queues its COMMIT now, chained to it (DB_CHAINED), to go out in the same
 * write. Called at most once, before done; not at all when the job ends before it applies
 * anything (then done comes first, and the caller issues its COMMIT after it). After a
 * statement of the job that failed, a COMMIT chained here answers PGRES_PIPELINE_ABORTED
 * (it did not run: the transaction is still open, aborted, and the caller rolls it back); an
 * unchained one answers ROLLBACK. */
typedef void cases_queued_cb(void *arg);

/* Runs inside the caller's open transaction on db; done is called exactly once (before this
 * returns only when the connection is down or memory ran out). The caller holds the case
 * rows' locks: ingest's INSERT creates and locks the rows of the cases it stored events of
 * (and keeps their events_from, schema/027), the sweeper selects its cases FOR UPDATE. keys
 * need not be sorted or unique. loose are events without a case (fees), judged one by one;
 * they must stay alive until done. metrics (may be NULL) counts the alerts the evaluation
 * raises. dry_run: the caller will roll the transaction back (ingest's dry runs), so the
 * alert steps are neither logged nor counted. queued (may be NULL): see cases_queued_cb. */
void cases_evaluate(struct db *db, const struct refdata *rd, struct metrics *metrics,
		const struct case_key *keys, size_t count, const struct mon_case_event *loose,
		size_t loose_count, int64_t now, bool dry_run,
		cases_queued_cb *queued, cases_done_cb *done, void *arg);

struct cases_job;

/* Ingest's read ahead: queues the histories' read of keys at once, chained to the statement
 * the caller queued just before in this turn of the loop (its INSERT, which stores and locks:
 * the read runs only if it succeeds), so that both go out in one write. keys are every case
 * whose events that statement may store. Returns the job, which waits for cases_resume, or
 * NULL when nothing was queued (no keys, the connection is down, or out of memory): the
 * caller then uses cases_evaluate. The caller must resume or drop the job in the callback of
 * its own statement, which answers before the read. */
struct cases_job *cases_read_ahead(struct db *db, const struct refdata *rd,
		const struct case_key *keys, size_t count, int64_t now);

/* Continues a job read ahead as cases_evaluate would with these arguments (and the keys' time
 * given to cases_read_ahead): keys are the cases whose events were stored, among those read
 * ahead; the other cases' rows are dropped unread. done is called exactly once, never before
 * this returns unless memory ran out. */
void cases_resume(struct cases_job *job, struct metrics *metrics, const struct case_key *keys,
		size_t count, const struct mon_case_event *loose, size_t loose_count, bool dry_run,
		cases_queued_cb *queued, cases_done_cb *done, void *arg);

/* Gives up a job read ahead (the statement before it failed or stored nothing to evaluate):
 * freed when its read answers. NULL is ignored. */
void cases_drop(struct cases_job *job);

#endif
