/* ingest.h: the batching writer. Valid events from every connection are queued, gathered
 * into PostgreSQL transactions (bounded by count and delay; one at a time on each writer
 * connection, one department in one at a time), inserted idempotently on (dept, id), and
 * reported back only after COMMIT returned. A dry run goes the same way in a
 * transaction of its own that ends in ROLLBACK: the same answers, nothing stored. */
#ifndef ESUP_INGEST_H
#define ESUP_INGEST_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "mon_batch.h"

struct db;
struct ingest;
struct metrics;
struct refdata;

struct ingest_limits {
	size_t batch_max_events;      /* events in one transaction */
	unsigned batch_max_delay_ms;  /* how long a lone request may wait for company */
	size_t queue_max_events;      /* events queued and in flight; beyond: busy */
};

enum ingest_outcome {
	INGEST_COMMITTED,     /* statuses are final and durable (a dry run's: rolled back) */
	INGEST_BUSY,          /* queue full: answer 429, nothing stored */
	INGEST_UNAVAILABLE,   /* database down or transaction failed: answer 503, nothing acknowledged */
};

enum ingest_status { INGEST_ACCEPTED, INGEST_DUPLICATE, INGEST_REJECTED };

/* statuses and errors have batch->count entries (invalid items are INGEST_REJECTED), or are
 * NULL when the outcome is not INGEST_COMMITTED. errors[i] says why a valid item was
 * rejected by the database (an event.corrected whose `of` names no earlier event of its
 * department and case); it is empty for the others (an invalid item's reason is its own). */
typedef void ingest_done_cb(enum ingest_outcome outcome, const enum ingest_status *statuses,
		const struct mon_error *errors, void *arg);

/* The writer connections, at most this many. */
#define INGEST_WRITERS_MAX 8

/* dbs (ndbs of them, 1..INGEST_WRITERS_MAX) must be dedicated to this ingest: its
 * transactions span several queries, and any other user's query would run inside them. Each
 * carries one batch at a time; a department's requests go to one batch at a time (in order),
 * so the batches in flight at once are of different departments and never wait for each
 * other's locks. The ingest also keeps the monthly event partitions ahead of time on the
 * first (SELECT esup_ensure_partitions(), hourly, between batches). NULL when out of memory
 * or ndbs is out of range. */
struct ingest *ingest_create(struct event_base *base, struct db *const *dbs, size_t ndbs,
		const struct ingest_limits *limits);
/* For exit, once the loop has stopped: requests still queued or in flight are freed
 * without their done callbacks (the connections they would answer are gone too). */
void ingest_destroy(struct ingest *ingest);
void ingest_set_limits(struct ingest *ingest, const struct ingest_limits *limits);
/* The rules that re-derive the cases a batch touches, inside its transaction. */
void ingest_set_refdata(struct ingest *ingest, const struct refdata *refdata);

/* Submits a parsed request. The batch stays owned by the caller and must stay alive until
 * done is called; done is always called exactly once (unless ingest_destroy comes first),
 * possibly before this returns (busy, unavailable, or nothing valid to store - the last
 * is answered committed with every item rejected even when the database is down).
 * principal names the submitting certificate; received_at is when the request arrived
 * (seconds since the epoch).
 *
 * A dry run (dry_run true) is queued, refused busy or unavailable, inserted and evaluated
 * exactly as a real request, so its statuses and errors are those the same request would
 * get; but it runs alone, in a transaction that no real request shares, which ends in
 * ROLLBACK instead of COMMIT. Nothing of it stays: no row, no NOTIFY (PostgreSQL delivers
 * none from a rolled-back transaction), no alert log line, no esup_alerts_raised_total, no
 * commit or batch metric; only sequence values are spent. */
void ingest_submit(struct ingest *ingest, const struct mon_batch *batch,
		const char *principal, int64_t received_at, bool dry_run, ingest_done_cb *done,
		void *arg);

/* Each committed transaction's duration and size go to metrics (esup_commit_duration_seconds,
 * esup_batch_events), and the alerts its evaluation raised once it committed; metrics
 * outlives the ingest. False when out of memory. */
bool ingest_set_metrics(struct ingest *ingest, struct metrics *metrics)
	__attribute__((warn_unused_result));
/* Events queued or in flight. */
size_t ingest_queued(const struct ingest *ingest);

/* Calls drained once nothing is queued or in flight (at once if already so). */
void ingest_drain(struct ingest *ingest, void (*drained)(void *arg), void *arg);

#endif
