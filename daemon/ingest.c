/* ingest.c: the batching writer.
 *
 * Requests queue and are gathered, whole, into one transaction at a time on the writer
 * connection, up to batch_max_events. Principals take turns: a batch is led by the oldest
 * request of the principal served least recently, takes the oldest request of every other
 * principal that fits, then fills up in arrival order; so a small request behind another
 * department's heavy ones waits about one bounded transaction, not for all of them. The
 * transaction: BEGIN; one INSERT of every event (idempotent on (dept, id) through
 * event_ids), which also creates and locks the rows of the cases it stored events of; the
 * cases' evaluation; COMMIT (the session runs with synchronous_commit on: db.c). Requests hear back only after the COMMIT returned. A batch that the server refuses
 * is rolled back and each of its requests retried alone once, so one poison request cannot
 * block the others. The transaction is an explicit state machine (enum ingest_step,
 * ingest_issue) over the writer's pipeline: the BEGIN and the INSERT go out together (the
 * INSERT chained to the BEGIN, so it never runs outside the transaction) with the read of
 * the histories of every case the INSERT may store events of behind them (cases_read_ahead:
 * a case whose events all turn out stored already is dropped from it, and the read is
 * chained to the INSERT), and the COMMIT goes out chained to the evaluation's last statement
 * (cases_evaluate's queued callback); a COMMIT skipped behind a statement that failed
 * (PGRES_PIPELINE_ABORTED) leaves the transaction aborted, and a ROLLBACK follows. A
 * one-event batch is two round trips, each one segment (one write): BEGIN, INSERT and the
 * case's history; its apply (and the defer, should the case not be evaluated) and the
 * COMMIT.
 *
 * A dry run takes the same path to the same answers: the same queue and limits, the same
 * dedup, INSERT (with the database's own checks) and case evaluation. It always forms a batch
 * alone, so no real request shares its transaction, and the transaction ends in ROLLBACK
 * (STEP_DISCARD) where a real one COMMITs. What the batch does outside the database is kept
 * from it: its evaluation neither logs nor counts alerts (cases_evaluate's dry_run), and the
 * commit and batch metrics are not observed. The only in-memory state a batch moves is the
 * principals' turns, taken when the batch is formed: a dry run spends its principal's turn as
 * a real request would. */
#include "ingest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event_struct.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "cases.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "mon_eval.h"
#include "mon_value.h"

#define INGEST_MAINT_INTERVAL_S 3600   /* esup_ensure_partitions: hourly is plenty */
#define INGEST_MAINT_FAILED_S 60       /* after a failure: retry without flooding the log */
#define INGEST_MAINT_WAIT_S 1          /* database down or busy: look again soon */
#define INGEST_TURNS 64                /* principals remembered for taking turns */
#define INGEST_PRINCIPAL_MAX 128       /* compared up to this length (fingerprints: 64) */
#define INGEST_BUSY_MAX 256            /* departments in flight told apart; beyond, all wait */

/* One statement does the whole insert. input takes a sequence value per event; ok keeps the
 * events that may be stored: all but an event.corrected whose `of` names no event of its
 * department and case stored before (target) or earlier in the batch and itself ok, or that
 * replaces a correction (a void may target one: a void of a void restores), unless its own
 * (dept, id) is stored already (then it is a duplicate, as any resend); fresh keeps the
 * (dept, id) keys nobody stored before (in a fixed order, so that concurrent writers wait on
 * each other instead of deadlocking), stored inserts their events, and the result names the
 * input ordinals that were stored (why null) and those refused (why: "missing" or
 * "correction"); all others are duplicates. Events go in by department too: each row locks
 * its department's chain head (migration 012), so two writers take the heads in one order
 * and never deadlock. locked creates the rows of the cases the stored events belong to and
 * locks them, in (dept, case) order for the same reason; a new row is due at $2 (the batch's
 * business clock) until evaluated. An existing row is only locked (ON CONFLICT DO UPDATE
 * locks the rows its WHERE passes over), not written: a new version of the row would insert
 * into each of cases' five indexes, and the evaluation's apply writes the row in the same
 * transaction anyway. A case whose evaluation fails is made due within the hour by the defer
 * (cases.c), in this transaction too. Its events_from (schema/027) on a new row is the
 * earliest receipt time among the case's stored events, and an existing row's is lowered to
 * it (a concurrent writer that stored the case's later events first: the one update left
 * here), so that no event of the case was received before it; a row without one (older than
 * 027) stays without. The case rows are written after the events (a CTE reading stored runs
 * once stored is complete), as before the lock was part of this statement. */
static const char ingest_insert_sql[] =
	"WITH RECURSIVE input AS ("
	" SELECT r.o, r.d, r.i, r.t, r.a, r.c, r.m, r.p, r.b, r.r, nextval('events_seq') AS seq"
	" FROM jsonb_to_recordset($1::jsonb) AS r(o int, d text, i text, t text, a timestamptz,"
	"  c text, m text, p text, b jsonb, r timestamptz)"
	"), target AS ("
	" SELECT x.o, e.type FROM input x"
	" JOIN event_ids k ON k.dept = x.d AND k.event_id = x.b->>'of'"
	" JOIN events e ON e.seq = k.seq AND e.received_at = k.received_at"
	" WHERE x.t = 'event.corrected' AND e.case_no IS NOT DISTINCT FROM x.c"
	"), ok AS ("
	" SELECT x.o FROM input x WHERE x.t <> 'event.corrected'"
	"  OR EXISTS (SELECT 1 FROM event_ids k WHERE k.dept = x.d AND k.event_id = x.i)"
	"  OR EXISTS (SELECT 1 FROM target g WHERE g.o = x.o"
	"   AND (x.b->>'action' = 'void' OR g.type <> 'event.corrected'))"
	" UNION"
	" SELECT x.o FROM ok JOIN input y ON y.o = ok.o"
	"  JOIN input x ON x.d = y.d AND x.b->>'of' = y.i AND y.o < x.o"
	" WHERE x.t = 'event.corrected' AND x.c IS NOT DISTINCT FROM y.c"
	"  AND (x.b->>'action' = 'void' OR y.t <> 'event.corrected')"
	"), refused AS ("
	" SELECT x.o, CASE WHEN x.b->>'action' = 'replace' AND (EXISTS (SELECT 1 FROM target g"
	"   WHERE g.o = x.o) OR EXISTS (SELECT 1 FROM input y WHERE y.d = x.d AND y.i = x.b->>'of'"
	"   AND y.o < x.o AND y.c IS NOT DISTINCT FROM x.c AND y.o IN (SELECT o FROM ok)))"
	"  THEN 'correction' ELSE 'missing' END AS why"
	" FROM input x WHERE x.o NOT IN (SELECT o FROM ok)"
	"), fresh AS ("
	" INSERT INTO event_ids (dept, event_id, seq, received_at)"
	" SELECT d, i, seq, r FROM input WHERE o IN (SELECT o FROM ok) ORDER BY d, i"
	" ON CONFLICT DO NOTHING RETURNING seq"
	"), stored AS ("
	" INSERT INTO events (seq, received_at, dept, event_id, type, at, case_no, item, principal, body)"
	" OVERRIDING SYSTEM VALUE"
	" SELECT i.seq, i.r, i.d, i.i, i.t, i.a, i.c, i.m, i.p, i.b"
	" FROM input i JOIN fresh f USING (seq) ORDER BY i.d, i.seq"
	" RETURNING seq, dept, case_no, received_at"
	"), locked AS ("
	" INSERT INTO cases AS k (dept, case_no, next_check_at, events_from)"
	" SELECT s.dept, s.case_no, $2::timestamptz, min(s.received_at) FROM stored s"
	" WHERE s.case_no IS NOT NULL GROUP BY s.dept, s.case_no ORDER BY s.dept, s.case_no"
	" ON CONFLICT (dept, case_no) DO UPDATE SET events_from = EXCLUDED.events_from"
	"  WHERE EXCLUDED.events_from < k.events_from"
	") SELECT i.o, NULL::text FROM stored s JOIN input i USING (seq)"
	" UNION ALL SELECT o, why FROM refused";

struct ingest_req {
	struct ingest_req *next;
	const struct mon_batch *batch;
	char *principal;
	int64_t received_at;
	ingest_done_cb *done;
	void *arg;
	enum ingest_status *statuses;   /* batch->count entries */
	struct mon_error *errors;       /* batch->count entries: why a valid event was refused */
	size_t nvalid;
	int64_t queued_ms;              /* monotonic */
	char dept[MON_CODE_MAX + 1];    /* of its valid events (a request is one department's) */
	bool retried;                   /* failed in a batch; now runs alone, once */
	bool dry_run;                   /* runs alone, ends in ROLLBACK (ingest_submit) */
	size_t turn;                    /* its principal's ingest_turn, if still its own */
};

/* The statements of one batch, in order. */
enum ingest_step {
	STEP_BEGIN,
	STEP_INSERT,
	STEP_CASES,      /* re-derive the cases the fresh events belong to (cases.c) */
	STEP_COMMIT,
	STEP_DISCARD,    /* a dry run's end instead of STEP_COMMIT: ROLLBACK, and answer */
	STEP_ROLLBACK,   /* after a server error, from any step */
};

static const char *const ingest_step_names[] = {
	[STEP_BEGIN] = "BEGIN",
	[STEP_INSERT] = "INSERT",
	[STEP_CASES] = "case evaluation",
	[STEP_COMMIT] = "COMMIT",
	[STEP_DISCARD] = "ROLLBACK of a dry run",
	[STEP_ROLLBACK] = "ROLLBACK",
};

/* An event sent to the database; its index is the ordinal "o" of the INSERT. */
struct ingest_slot {
	struct ingest_req *req;
	size_t item;
};

struct ingest_batch {
	struct ingest *ingest;
	struct ingest_lane *lane;
	struct ingest_req *reqs;
	size_t nreqs, nevents;
	enum ingest_step step;          /* the step whose answer is awaited */
	enum ingest_step failed_step;   /* where the server refused, for the log */
	unsigned outstanding;           /* its statements queued and not yet answered */
	bool finished;                  /* answered: freed when the last statement is */
	bool begin_failed;              /* the BEGIN was refused: the INSERT was not run */
	bool end_queued;                /* its COMMIT (or dry run's ROLLBACK) is queued */
	bool dry_run;                   /* its one request is a dry run: ends in STEP_DISCARD */
	struct ingest_slot *slots;
	size_t nslots;
	char *rows;                     /* the INSERT's jsonb parameter */
	char now_text[40];              /* its business clock (the INSERT's $2) */
	struct cases_job *ahead;        /* the histories' read sent behind the INSERT
	                                 * (cases_read_ahead): resumed or dropped at its answer */
	char sqlstate[6];
	char error[256];
	struct timespec begun;          /* monotonic: when its BEGIN was sent */
};

/* When a principal last had a request in a batch. */
struct ingest_turn {
	char principal[INGEST_PRINCIPAL_MAX + 1];
	uint64_t served;                 /* batch number; 0: never */
};

/* One writer connection and the batch in flight on it. */
struct ingest_lane {
	struct ingest *ingest;
	struct db *db;
	struct ingest_batch *batch;      /* the one in flight, or NULL */
	int64_t idle_since_ms;           /* monotonic: when its last batch ended (0: none yet) */
	struct metrics *pending;         /* alerts raised by its batch in flight, until COMMIT */
};

struct ingest {
	struct event_base *base;
	struct ingest_lane lanes[INGEST_WRITERS_MAX];
	size_t nlanes;
	struct ingest_limits limits;
	struct ingest_req *head, *tail;  /* waiting for a batch */
	size_t queued_events;            /* valid events in head..tail */
	const struct refdata *refdata;   /* rules for case evaluation; NULL: none */
	bool maint_due, maint_running;   /* partition upkeep: on the first lane, between batches */
	bool draining;
	void (*drained)(void *arg);
	void *drained_arg;
	struct event ev_delay, ev_maint;
	struct ingest_turn turns[INGEST_TURNS];
	size_t nturns;
	uint64_t batches;                /* batches taken so far */
	struct metrics *metrics;         /* may be NULL */
};

static void ingest_schedule(struct ingest *ingest);

static int64_t
ingest_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
ingest_req_free(struct ingest_req *r)
{
	if (r == NULL)
		return;
	free(r->statuses);
	free(r->errors);
	free(r->principal);
	free(r);
}

static void
ingest_req_done(struct ingest_req *r, enum ingest_outcome outcome)
{
	r->done(outcome, outcome == INGEST_COMMITTED ? r->statuses : NULL,
		outcome == INGEST_COMMITTED ? r->errors : NULL, r->arg);
	ingest_req_free(r);
}

static void
ingest_batch_free(struct ingest_batch *b)
{
	if (b == NULL)
		return;
	if (b->outstanding > 0) {   /* its statements' callbacks still hold it */
		b->finished = true;
		return;
	}
	free(b->slots);
	free(b->rows);
	free(b);
}

static bool
ingest_in_flight(const struct ingest *ingest)
{
	for (size_t i = 0; i < ingest->nlanes; i++)
		if (ingest->lanes[i].batch != NULL)
			return true;
	return false;
}

static bool
ingest_up(const struct ingest *ingest)
{
	for (size_t i = 0; i < ingest->nlanes; i++)
		if (db_is_up(ingest->lanes[i].db))
			return true;
	return false;
}

static void
ingest_check_drained(struct ingest *ingest)
{
	void (*drained)(void *arg) = ingest->drained;

	if (drained == NULL || ingest->head != NULL || ingest_in_flight(ingest) ||
	    ingest->maint_running)
		return;
	ingest->drained = NULL;
	drained(ingest->drained_arg);
}

/* Ends the batch: every request hears the outcome. The batch counts as in flight until
 * the last has, so a callback that asks to drain is not told "drained" too early. */
static void
ingest_batch_finish(struct ingest_batch *b, enum ingest_outcome outcome)
{
	struct ingest *ingest = b->ingest;
	struct ingest_req *r = b->reqs, *next;

	cases_drop(b->ahead);   /* its read answers after the batch (a lost connection) */
	b->ahead = NULL;
	b->reqs = NULL;
	for (; r != NULL; r = next) {
		next = r->next;
		ingest_req_done(r, outcome);
	}
	b->lane->batch = NULL;
	b->lane->idle_since_ms = ingest_now_ms();
	ingest_batch_free(b);
	ingest_schedule(ingest);
	ingest_check_drained(ingest);
}

/* Puts the requests of a refused batch back at the front of the queue, each to run
 * alone; a request that already ran alone is answered unavailable instead. */
static void
ingest_batch_retry(struct ingest_batch *b)
{
	struct ingest *ingest = b->ingest;
	struct ingest_req *r = b->reqs, *next, *front = NULL, *front_last = NULL;
	struct ingest_req **failed_tail = &b->reqs;

	for (; r != NULL; r = next) {
		next = r->next;
		r->next = NULL;
		if (r->retried) {
			log_warnx("ingest: request of %zu events from %.16s... failed alone at %s: "
				"SQLSTATE %s: %s; answered unavailable", r->nvalid, r->principal,
				ingest_step_names[b->failed_step], b->sqlstate, b->error);
			*failed_tail = r;
			failed_tail = &r->next;
			continue;
		}
		r->retried = true;
		if (front_last)
			front_last->next = r;
		else
			front = r;
		front_last = r;
		ingest->queued_events += r->nvalid;
	}
	*failed_tail = NULL;
	if (front != NULL) {
		front_last->next = ingest->head;
		if (ingest->head == NULL)
			ingest->tail = front_last;
		ingest->head = front;
	}
	ingest_batch_finish(b, INGEST_UNAVAILABLE);
}

/* Decides which events go to the database: every valid event once per (dept, id) within
 * the batch (mon_events_duplicates, as `esupctl eval` decides). The statuses start as
 * rejected or duplicate; the INSERT's answer turns the stored ones into accepted. */
static bool
ingest_batch_dedup(struct ingest_batch *b)
{
	size_t n = 0, cap = b->nevents ? b->nevents : 1;
	const struct mon_event **evs = calloc(cap, sizeof(*evs));
	struct ingest_slot *where = calloc(cap, sizeof(*where));
	size_t *previous = calloc(cap, sizeof(*previous));
	bool ok;

	b->slots = calloc(cap, sizeof(*b->slots));
	ok = evs != NULL && where != NULL && previous != NULL && b->slots != NULL;
	for (struct ingest_req *r = b->reqs; ok && r != NULL; r = r->next) {
		for (size_t i = 0; i < r->batch->count; i++) {
			const struct mon_item *item = &r->batch->items[i];

			r->statuses[i] = item->valid ? INGEST_DUPLICATE : INGEST_REJECTED;
			memset(&r->errors[i], 0, sizeof(r->errors[i]));
			if (!item->valid || n == cap)   /* n == cap: nevents counts the valid ones */
				continue;
			where[n] = (struct ingest_slot){ r, i };
			evs[n++] = &item->event;
		}
	}
	ok = ok && mon_events_duplicates(evs, n, previous);
	for (size_t k = 0; ok && k < n; k++) {
		if (previous[k] == SIZE_MAX)
			b->slots[b->nslots++] = where[k];
	}
	free(evs);
	free(where);
	free(previous);
	return ok;
}

/* One jsonb_to_recordset row. Times go as RFC 3339 UTC; absent case and item as null. */
static json_t *
ingest_row(size_t ordinal, const struct ingest_req *r, const struct mon_event *ev)
{
	char at[40], received[40];

	mon_time_format(ev->at, 0, at, sizeof(at));
	mon_time_format(r->received_at, 0, received, sizeof(received));
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s, s:O, s:s}",
		"o", (json_int_t)ordinal, "d", ev->dept, "i", ev->id,
		"t", mon_event_type_name(ev->type), "a", at,
		"c", ev->case_no[0] ? ev->case_no : NULL, "m", ev->item[0] ? ev->item : NULL,
		"p", r->principal, "b", ev->body, "r", received);
}

static bool
ingest_batch_rows(struct ingest_batch *b)
{
	json_t *rows = json_array();

	for (size_t o = 0; rows != NULL && o < b->nslots; o++) {
		const struct ingest_slot *s = &b->slots[o];
		json_t *row = ingest_row(o, s->req, &s->req->batch->items[s->item].event);

		if (row == NULL || json_array_append_new(rows, row) != 0) {
			json_decref(rows);
			rows = NULL;
		}
	}
	if (rows == NULL)
		return false;
	b->rows = json_dumps(rows, JSON_COMPACT);
	json_decref(rows);
	return b->rows != NULL;
}

static void ingest_on_result(const PGresult *res, void *arg);

static void ingest_issue(struct ingest_batch *b);
static void ingest_record_error(struct ingest_batch *b, const PGresult *res, const char *fallback);

/* What the events this batch stored (or, attempted, every event it sends) belong to, for
 * STEP_CASES: their cases, and the events without a case, judged alone. */
struct batch_subjects {
	struct case_key *keys;
	size_t nkeys;
	struct mon_case_event *loose;
	size_t nloose;
};

static bool
ingest_batch_subjects(const struct ingest_batch *b, bool attempted, struct batch_subjects *out)
{
	size_t cap = b->nslots ? b->nslots : 1;

	*out = (struct batch_subjects){ calloc(cap, sizeof(*out->keys)), 0,
		calloc(cap, sizeof(*out->loose)), 0 };
	if (out->keys == NULL || out->loose == NULL)
		return false;
	for (size_t o = 0; o < b->nslots; o++) {
		const struct ingest_slot *s = &b->slots[o];
		const struct mon_event *ev = &s->req->batch->items[s->item].event;

		if (!attempted && s->req->statuses[s->item] != INGEST_ACCEPTED)
			continue;
		if (ev->case_no[0] == '\0') {
			out->loose[out->nloose++] = (struct mon_case_event){ ev, s->req->received_at, false };
			continue;
		}
		memcpy(out->keys[out->nkeys].dept, ev->dept, sizeof(out->keys[0].dept));
		memcpy(out->keys[out->nkeys].case_no, ev->case_no, sizeof(out->keys[0].case_no));
		out->nkeys++;
	}
	return true;
}

/* The business clock of the batch: when its latest request arrived (latest), or when its
 * earliest did: no event it stores was received before (the cases' events_from). */
static int64_t
ingest_batch_received(const struct ingest_batch *b, bool latest)
{
	int64_t t = b->reqs != NULL ? b->reqs->received_at : 0;

	for (const struct ingest_req *r = b->reqs; r != NULL; r = r->next)
		if (latest ? r->received_at > t : r->received_at < t)
			t = r->received_at;
	return t;
}

/* The step that ends a batch whose statements all succeeded. */
static enum ingest_step
ingest_end_step(const struct ingest_batch *b)
{
	return b->dry_run ? STEP_DISCARD : STEP_COMMIT;
}

static void
ingest_cases_done(enum cases_outcome outcome, const PGresult *error, void *arg)
{
	struct ingest_batch *b = arg;

	switch (outcome) {
	case CASES_DONE:
		b->step = ingest_end_step(b);
		if (b->end_queued)
			return;   /* its answer ends the batch */
		break;
	case CASES_FAILED:
		ingest_record_error(b, error, "case evaluation refused");
		b->failed_step = STEP_CASES;
		b->step = STEP_ROLLBACK;
		/* The end step chained behind the failed statement did not run: at its answer
		 * the transaction is rolled back (ingest_on_result). */
		if (b->end_queued)
			return;
		break;
	case CASES_LOST:
		log_info("ingest: connection lost during case evaluation; %zu requests answered "
			"unavailable", b->nreqs);
		ingest_batch_finish(b, INGEST_UNAVAILABLE);
		return;
	}
	ingest_issue(b);
}

static bool ingest_send(struct ingest_batch *b, enum ingest_step step, unsigned flags);

/* The evaluation queued its last statement: the end of the transaction goes with it, in
 * the same segment. */
static void
ingest_cases_queued(void *arg)
{
	struct ingest_batch *b = arg;

	if (ingest_send(b, ingest_end_step(b), DB_CHAINED))
		b->end_queued = true;
	/* else: the connection is down (its statements' callbacks end the batch) or memory
	 * ran out (ingest_cases_done issues the end step) */
}

/* Sends the histories' read of every case the INSERT may store events of behind it, in the
 * same round trip (cases_read_ahead); without it, the read waits for the INSERT's answer. */
static void
ingest_read_ahead(struct ingest_batch *b)
{
	struct batch_subjects attempted;

	if (ingest_batch_subjects(b, true, &attempted))
		b->ahead = cases_read_ahead(b->lane->db, b->ingest->refdata, attempted.keys,
			attempted.nkeys, ingest_batch_received(b, true));
	free(attempted.keys);
	free(attempted.loose);
}

static void
ingest_drop_ahead(struct ingest_batch *b)
{
	cases_drop(b->ahead);
	b->ahead = NULL;
}

static void
ingest_issue_cases(struct ingest_batch *b)
{
	struct batch_subjects subjects;
	struct cases_job *ahead = b->ahead;
	bool ok = ingest_batch_subjects(b, false, &subjects);
	struct metrics *pending = b->dry_run ? NULL : b->lane->pending;

	b->ahead = NULL;
	if (!ok) {
		cases_drop(ahead);
		log_warnx("ingest: out of memory listing cases; %zu requests answered unavailable", b->nreqs);
		if (!db_query(b->lane->db, "ROLLBACK", 0, NULL, NULL, NULL))
			log_warnx("ingest: cannot roll back an abandoned batch");
		ingest_batch_finish(b, INGEST_UNAVAILABLE);
	} else if (subjects.nkeys == 0 && subjects.nloose == 0) {
		cases_drop(ahead);
		b->step = ingest_end_step(b);
		ingest_issue(b);
	} else if (ahead != NULL) {
		cases_resume(ahead, pending, subjects.keys, subjects.nkeys, subjects.loose,
			subjects.nloose, b->dry_run, ingest_cases_queued, ingest_cases_done, b);
	} else {
		cases_evaluate(b->lane->db, b->ingest->refdata, pending, subjects.keys,
			subjects.nkeys, subjects.loose, subjects.nloose, ingest_batch_received(b, true),
			b->dry_run, ingest_cases_queued, ingest_cases_done, b);
	}
	free(subjects.keys);
	free(subjects.loose);
}

static void ingest_on_begin(const PGresult *res, void *arg);

/* Queues the statement of step, answered to ingest_on_result (the BEGIN to
 * ingest_on_begin). */
static bool
ingest_send(struct ingest_batch *b, enum ingest_step step, unsigned flags)
{
	static const char *const sql[] = {
		[STEP_BEGIN] = "BEGIN",
		[STEP_INSERT] = ingest_insert_sql,
		[STEP_CASES] = NULL,
		[STEP_COMMIT] = "COMMIT",
		[STEP_DISCARD] = "ROLLBACK",
		[STEP_ROLLBACK] = "ROLLBACK",
	};
	const char *values[2] = { b->rows, b->now_text };
	bool insert = step == STEP_INSERT;

	/* The INSERT is parsed once per session (db_query_named); the others are too short for
	 * it to matter. */
	if (insert)
		mon_time_format(ingest_batch_received(b, true), 0, b->now_text, sizeof(b->now_text));
	if (!db_query_ex(b->lane->db, insert ? "ingest_insert" : NULL, sql[step],
			insert ? 2 : 0, insert ? values : NULL, flags,
			step == STEP_BEGIN ? ingest_on_begin : ingest_on_result, b))
		return false;
	b->outstanding++;
	return true;
}

/* Issues the statement of the batch's current step: the BEGIN with the INSERT chained to
 * it, the evaluation (cases.c), or the end of the transaction. */
static void
ingest_issue(struct ingest_batch *b)
{
	enum ingest_step step = b->step;

	if (step == STEP_CASES) {
		ingest_issue_cases(b);
		return;
	}
	if (step == STEP_BEGIN && ingest_send(b, STEP_BEGIN, 0))
		b->step = step = STEP_INSERT;   /* chained to the BEGIN, in the same turn */
	if (step != STEP_BEGIN && ingest_send(b, step, step == STEP_INSERT ? DB_CHAINED : 0)) {
		if (step == STEP_INSERT)
			ingest_read_ahead(b);
		return;
	}
	log_info("ingest: cannot issue %s; %zu requests answered unavailable",
		ingest_step_names[step], b->nreqs);
	/* Still connected (out of memory): do not leave a transaction open for the next
	 * batch to inherit. */
	if (step != STEP_BEGIN && db_is_up(b->lane->db) &&
	    !db_query(b->lane->db, "ROLLBACK", 0, NULL, NULL, NULL))
		log_warnx("ingest: cannot roll back an abandoned batch");
	ingest_batch_finish(b, INGEST_UNAVAILABLE);
}

/* What follows a step that succeeded. New steps go between STEP_INSERT and STEP_COMMIT. */
static enum ingest_step
ingest_next_step(enum ingest_step step)
{
	switch (step) {
	case STEP_BEGIN: return STEP_INSERT;
	case STEP_INSERT: return STEP_CASES;
	case STEP_CASES: return STEP_COMMIT;   /* ingest_cases_done decides, by ingest_end_step */
	case STEP_COMMIT:
	case STEP_DISCARD:
	case STEP_ROLLBACK: break;
	}
	return STEP_ROLLBACK;
}

/* A correction the INSERT refused: its `of` names no earlier event of its department and
 * case ("missing"), or it replaces a correction ("correction"). */
static void
ingest_refuse(struct ingest_slot *s, const char *why)
{
	const struct mon_event *ev = &s->req->batch->items[s->item].event;
	struct mon_error *err = &s->req->errors[s->item];
	const char *of = mon_correction_of(ev);
	bool replaces_correction = strcmp(why, "correction") == 0;

	char expected[320];
	size_t len;

	s->req->statuses[s->item] = INGEST_REJECTED;
	snprintf(err->field, sizeof(err->field), "of");
	snprintf(expected, sizeof(expected), "the id of an earlier event of department %s %s%s%s",
		ev->dept, ev->case_no[0] != '\0' ? "in case " : "without a case", ev->case_no,
		replaces_correction ? " that is not a correction (void it instead)" : "");
	/* codes are ASCII: a cut at the size of expected splits no character */
	len = strlen(expected);
	if (len >= sizeof(err->expected))
		len = sizeof(err->expected) - 1;
	memcpy(err->expected, expected, len);
	err->expected[len] = '\0';
	snprintf(err->got, sizeof(err->got), "\"%.*s\"", (int)sizeof(err->got) - 3,
		of != NULL ? of : "");
}

/* Marks the events the INSERT stored, and those it refused. Anything unexpected in its
 * answer aborts the batch rather than acknowledging on a guess. */
static bool
ingest_mark_stored(struct ingest_batch *b, const PGresult *res)
{
	int n = PQntuples(res);

	if (PQnfields(res) != 2 || n < 0 || (size_t)n > b->nslots)
		return false;
	for (int row = 0; row < n; row++) {
		const char *v = PQgetvalue(res, row, 0);
		char *end;
		unsigned long long o;

		errno = 0;
		o = strtoull(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0' || o >= b->nslots)
			return false;
		if (PQgetisnull(res, row, 1))
			b->slots[o].req->statuses[b->slots[o].item] = INGEST_ACCEPTED;
		else
			ingest_refuse(&b->slots[o], PQgetvalue(res, row, 1));
	}
	return true;
}

static void
ingest_record_error(struct ingest_batch *b, const PGresult *res, const char *fallback)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	snprintf(b->sqlstate, sizeof(b->sqlstate), "%s", state ? state : "-----");
	snprintf(b->error, sizeof(b->error), "%s", msg ? msg : fallback);
}

/* The step's statement completed without a server error: read what it says. */
static bool
ingest_step_ok(struct ingest_batch *b, const PGresult *res)
{
	switch (b->step) {
	case STEP_INSERT:
		if (ingest_mark_stored(b, res))
			return true;
		ingest_record_error(b, res, "unexpected answer to the INSERT");
		return false;
	case STEP_COMMIT:
		/* COMMIT of an aborted transaction answers ROLLBACK, without an error. */
		if (strcmp(PQcmdStatus((PGresult *)res), "COMMIT") == 0)
			return true;
		ingest_record_error(b, res, "COMMIT answered ROLLBACK");
		return false;
	case STEP_DISCARD:
		if (strcmp(PQcmdStatus((PGresult *)res), "ROLLBACK") == 0)
			return true;
		ingest_record_error(b, res, "unexpected answer to the ROLLBACK of a dry run");
		return false;
	default:
		return true;
	}
}

static void
ingest_rolled_back(struct ingest_batch *b)
{
	/* A retry running alone is reported by ingest_batch_retry. */
	if (!b->reqs->retried)
		log_warnx("ingest: batch of %zu requests (%zu events) failed at %s: SQLSTATE %s: "
			"%s; retrying each request alone", b->nreqs, b->nevents,
			ingest_step_names[b->failed_step], b->sqlstate, b->error);
	ingest_batch_retry(b);
}

/* A statement of a batch answered after the batch ended (the connection was lost, which
 * answers every queued statement): only the last frees it. True when b is gone or done. */
static bool
ingest_answered(struct ingest_batch *b)
{
	b->outstanding--;
	if (!b->finished)
		return false;
	if (b->outstanding == 0)
		ingest_batch_free(b);
	return true;
}

/* The BEGIN's answer. A refusal is told at the INSERT chained to it (which did not run). */
static void
ingest_on_begin(const PGresult *res, void *arg)
{
	struct ingest_batch *b = arg;

	if (ingest_answered(b) || res == NULL)
		return;   /* a loss is told at the INSERT too */
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		ingest_record_error(b, res, PQresStatus(PQresultStatus(res)));
		b->begin_failed = true;
	}
}

static void
ingest_on_result(const PGresult *res, void *arg)
{
	struct ingest_batch *b = arg;
	ExecStatusType st;

	if (ingest_answered(b))
		return;
	if (res == NULL) {
		/* Not acknowledged; the client resends, and event_ids makes that safe even if
		 * the COMMIT did land. */
		log_info("ingest: connection lost during a batch; %zu requests answered unavailable",
			b->nreqs);
		ingest_batch_finish(b, INGEST_UNAVAILABLE);
		return;
	}
	if (b->step == STEP_ROLLBACK) {
		/* The COMMIT (or a dry run's ROLLBACK) chained behind the evaluation that
		 * failed was skipped: the transaction is still open, aborted. End it first. */
		if (PQresultStatus(res) == PGRES_PIPELINE_ABORTED && b->end_queued) {
			b->end_queued = false;
			ingest_issue(b);
			return;
		}
		ingest_rolled_back(b);
		return;
	}
	st = PQresultStatus(res);
	if (b->begin_failed)
		b->step = STEP_BEGIN;   /* the INSERT was skipped; the BEGIN's error is recorded */
	else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		ingest_record_error(b, res, PQresStatus(st));
	else if (ingest_step_ok(b, res)) {
		if (b->step == STEP_COMMIT) {
			metrics_observe(b->ingest->metrics, METRIC_COMMIT_DURATION, NULL,
				metrics_since(&b->begun));
			metrics_observe(b->ingest->metrics, METRIC_BATCH_EVENTS, NULL, (double)b->nevents);
			metrics_move(b->ingest->metrics, b->lane->pending, METRIC_ALERTS_RAISED);
			ingest_batch_finish(b, INGEST_COMMITTED);
			return;
		}
		if (b->step == STEP_DISCARD) {   /* the answers are final; nothing stays */
			ingest_batch_finish(b, INGEST_COMMITTED);
			return;
		}
		b->step = ingest_next_step(b->step);
		ingest_issue(b);
		return;
	}
	ingest_drop_ahead(b);   /* the INSERT failed: its read fails too */
	b->failed_step = b->step;
	b->step = STEP_ROLLBACK;
	ingest_issue(b);
}

/* The turn entry of the request's principal; NULL when it has none (never served, or
 * forgotten). The request remembers where it found it, so the queue is walked cheaply. */
static struct ingest_turn *
ingest_turn_find(struct ingest *ingest, struct ingest_req *r)
{
	if (r->turn < ingest->nturns &&
	    strncmp(ingest->turns[r->turn].principal, r->principal, INGEST_PRINCIPAL_MAX) == 0)
		return &ingest->turns[r->turn];
	for (size_t i = 0; i < ingest->nturns; i++) {
		if (strncmp(ingest->turns[i].principal, r->principal, INGEST_PRINCIPAL_MAX) == 0) {
			r->turn = i;
			return &ingest->turns[i];
		}
	}
	return NULL;
}

static uint64_t
ingest_last_served(struct ingest *ingest, struct ingest_req *r)
{
	const struct ingest_turn *t = ingest_turn_find(ingest, r);

	return t != NULL ? t->served : 0;
}

/* Records that the request's principal is served by the current batch. A full table
 * forgets the principal served longest ago: it only comes first again, once. */
static void
ingest_mark_served(struct ingest *ingest, struct ingest_req *r)
{
	struct ingest_turn *t = ingest_turn_find(ingest, r);

	if (t == NULL && ingest->nturns < INGEST_TURNS)
		t = &ingest->turns[ingest->nturns++];
	else if (t == NULL) {
		t = &ingest->turns[0];
		for (size_t i = 1; i < ingest->nturns; i++)
			if (ingest->turns[i].served < t->served)
				t = &ingest->turns[i];
	}
	snprintf(t->principal, sizeof(t->principal), "%s", r->principal);
	t->served = ingest->batches;
}

/* Moves the request after prev (the head when prev is NULL) from the queue to the batch. */
static void
ingest_batch_add(struct ingest_batch *b, struct ingest_req ***tail, struct ingest_req *prev)
{
	struct ingest *ingest = b->ingest;
	struct ingest_req *r = prev != NULL ? prev->next : ingest->head;

	if (prev != NULL)
		prev->next = r->next;
	else
		ingest->head = r->next;
	if (ingest->tail == r)
		ingest->tail = prev;
	r->next = NULL;
	**tail = r;
	*tail = &r->next;
	b->nreqs++;
	b->nevents += r->nvalid;
	ingest->queued_events -= r->nvalid;
	ingest_mark_served(ingest, r);
}

/* The departments in flight on other lanes: a request of one of them waits, so that a
 * department's requests are stored one batch after the other, in order, and two lanes never
 * wait on each other's department chain head (migration 012) or cases. */
struct ingest_busy {
	const char *dept[INGEST_BUSY_MAX];
	size_t count;
	bool all;   /* more departments than fit: every request waits */
};

static void
ingest_busy_collect(const struct ingest *ingest, struct ingest_busy *busy)
{
	busy->count = 0;
	busy->all = false;
	for (size_t i = 0; i < ingest->nlanes; i++) {
		const struct ingest_batch *b = ingest->lanes[i].batch;

		for (const struct ingest_req *r = b != NULL ? b->reqs : NULL; r != NULL; r = r->next) {
			size_t k = 0;

			while (k < busy->count && strcmp(busy->dept[k], r->dept) != 0)
				k++;
			if (k < busy->count)
				continue;
			if (busy->count == INGEST_BUSY_MAX) {
				busy->all = true;
				return;
			}
			busy->dept[busy->count++] = r->dept;
		}
	}
}

static bool
ingest_busy_has(const struct ingest_busy *busy, const struct ingest_req *r)
{
	if (busy->all)
		return true;
	for (size_t k = 0; k < busy->count; k++)
		if (strcmp(busy->dept[k], r->dept) == 0)
			return true;
	return false;
}

/* The request that leads the next batch (*prev: the one before it in the queue, NULL for the
 * head), among those whose department is not in flight: a request being retried first, else
 * the oldest of the principal served least recently. NULL when every waiting request's
 * department is in flight. */
static struct ingest_req *
ingest_batch_leader(struct ingest *ingest, const struct ingest_busy *busy,
		struct ingest_req **prev)
{
	struct ingest_req *best = NULL, *best_prev = NULL;
	uint64_t best_served = UINT64_MAX;

	for (struct ingest_req *p = NULL, *r = ingest->head; r != NULL; p = r, r = r->next) {
		uint64_t served;

		if (ingest_busy_has(busy, r))
			continue;
		if (r->retried) {
			best = r;
			best_prev = p;
			break;
		}
		served = ingest_last_served(ingest, r);
		if (served < best_served) {
			best_served = served;
			best = r;
			best_prev = p;
		}
		if (served == 0)
			break;   /* never served: none comes before it */
	}
	*prev = best_prev;
	return best;
}

/* Adds, in arrival order, the requests that fit beside the leader; in the first pass only
 * one per principal not yet in the batch. A request being retried runs alone, and so does a
 * dry run; a request of a department in flight on another lane waits. */
static void
ingest_batch_fill(struct ingest_batch *b, const struct ingest_busy *busy,
		struct ingest_req ***tail, bool one_each)
{
	struct ingest *ingest = b->ingest;
	struct ingest_req *prev = NULL, *r = ingest->head;

	while (r != NULL && b->nevents < ingest->limits.batch_max_events) {
		if (r->retried || r->dry_run || ingest_busy_has(busy, r) ||
		    b->nevents + r->nvalid > ingest->limits.batch_max_events ||
		    (one_each && ingest_last_served(ingest, r) == ingest->batches)) {
			prev = r;
			r = r->next;
			continue;
		}
		ingest_batch_add(b, tail, prev);
		r = prev != NULL ? prev->next : ingest->head;
	}
}

/* Takes whole requests from the queue up to batch_max_events, taking turns between
 * principals; a larger request goes alone, and so do a request being retried and a dry run
 * (whose transaction is rolled back: a real request beside it would be lost). NULL, with
 * *none set, when no waiting request may go now (their departments are in flight); NULL
 * alone when out of memory. */
static struct ingest_batch *
ingest_batch_take(struct ingest_lane *lane, bool *none)
{
	struct ingest *ingest = lane->ingest;
	struct ingest_busy busy;
	struct ingest_batch *b;
	struct ingest_req **tail, *leader_prev, *leader;
	bool alone;

	ingest_busy_collect(ingest, &busy);
	*none = (leader = ingest_batch_leader(ingest, &busy, &leader_prev)) == NULL;
	if (*none || (b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	b->ingest = ingest;
	b->lane = lane;
	tail = &b->reqs;
	ingest->batches++;
	alone = leader->retried || leader->dry_run;
	b->dry_run = leader->dry_run;
	ingest_batch_add(b, &tail, leader_prev);
	if (!alone) {
		ingest_batch_fill(b, &busy, &tail, true);
		ingest_batch_fill(b, &busy, &tail, false);
	}
	return b;
}

enum ingest_start { START_DONE, START_NONE, START_NOMEM };

/* Starts a batch on the idle lane. START_NONE: no waiting request may go now; START_NOMEM:
 * the delay timer is armed to try again shortly. */
static enum ingest_start
ingest_start_batch(struct ingest_lane *lane)
{
	struct ingest *ingest = lane->ingest;
	bool none;
	struct ingest_batch *b = ingest_batch_take(lane, &none);
	struct timeval retry = { 0, 100000 };

	if (b == NULL) {
		if (none)
			return START_NONE;
		log_warnx("ingest: out of memory starting a batch; retrying shortly");
		evtimer_add(&ingest->ev_delay, &retry);
		return START_NOMEM;
	}
	lane->batch = b;
	if (!ingest_batch_dedup(b) || !ingest_batch_rows(b)) {
		log_warnx("ingest: out of memory preparing a batch of %zu events", b->nevents);
		ingest_batch_finish(b, INGEST_UNAVAILABLE);
		return START_DONE;
	}
	b->step = STEP_BEGIN;
	metrics_clock(&b->begun);
	metrics_clear(lane->pending, METRIC_ALERTS_RAISED);   /* a batch rolled back raised none */
	ingest_issue(b);
	return START_DONE;
}

/* Fails everything still waiting: the database went away, and a client that is told at
 * once can resend sooner. */
static void
ingest_fail_queue(struct ingest *ingest)
{
	struct ingest_req *r = ingest->head, *next;

	ingest->head = ingest->tail = NULL;
	ingest->queued_events = 0;
	for (; r != NULL; r = next) {
		next = r->next;
		ingest_req_done(r, INGEST_UNAVAILABLE);
	}
}

static void
ingest_on_maint(const PGresult *res, void *arg)
{
	struct ingest *ingest = arg;
	struct timeval tv = { INGEST_MAINT_INTERVAL_S, 0 };

	ingest->maint_running = false;
	if (res == NULL) {
		ingest->maint_due = true;
		tv.tv_sec = INGEST_MAINT_WAIT_S;
	} else if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_warnx("ingest: esup_ensure_partitions failed: %s",
			PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
		tv.tv_sec = INGEST_MAINT_FAILED_S;
	} else if (strcmp(PQgetvalue(res, 0, 0), "0") != 0) {
		log_info("ingest: created %s monthly event partitions", PQgetvalue(res, 0, 0));
	}
	if (!ingest->draining)
		evtimer_add(&ingest->ev_maint, &tv);
	ingest_schedule(ingest);
	ingest_check_drained(ingest);
}

/* Partition upkeep runs between batches, never inside one, on the first lane's connection. */
static bool
ingest_run_maint(struct ingest *ingest)
{
	struct ingest_lane *lane = &ingest->lanes[0];

	if (!ingest->maint_due || ingest->maint_running || ingest->draining ||
	    lane->batch != NULL || !db_is_up(lane->db))
		return false;
	ingest->maint_due = false;
	if (!db_query(lane->db, "SELECT esup_ensure_partitions()", 0, NULL, ingest_on_maint,
			ingest)) {
		ingest->maint_due = true;
		return false;
	}
	ingest->maint_running = true;
	return true;
}

static void
ingest_on_maint_timer(evutil_socket_t fd, short what, void *arg)
{
	struct ingest *ingest = arg;
	struct timeval tv = { INGEST_MAINT_WAIT_S, 0 };

	(void)fd;
	(void)what;
	if (ingest->maint_running)
		return;   /* its completion re-arms the timer */
	ingest->maint_due = true;
	if (!ingest_run_maint(ingest) && !ingest->draining)
		evtimer_add(&ingest->ev_maint, &tv);
}

/* Starts a batch on each idle lane (the first one only once partition upkeep is done) when
 * either enough events wait, or the oldest request has waited batch_max_delay_ms (0 by
 * default: at once), or the lane has been idle that long already (a quiet writer has no
 * company to wait for); otherwise arms the delay timer. Under load the requests that arrive
 * while every lane is busy form the next batch whatever the delay. */
static void
ingest_schedule(struct ingest *ingest)
{
	int64_t now, waited, delay = ingest->limits.batch_max_delay_ms;
	bool wait = false;

	if (!ingest->maint_running)
		ingest_run_maint(ingest);
	if (ingest->head == NULL) {
		evtimer_del(&ingest->ev_delay);
		return;
	}
	if (!ingest_up(ingest)) {
		evtimer_del(&ingest->ev_delay);
		ingest_fail_queue(ingest);
		return;
	}
	for (size_t i = 0; i < ingest->nlanes && ingest->head != NULL; i++) {
		struct ingest_lane *lane = &ingest->lanes[i];
		enum ingest_start started;

		if (lane->batch != NULL || !db_is_up(lane->db) || (i == 0 && ingest->maint_running))
			continue;
		now = ingest_now_ms();
		waited = now - ingest->head->queued_ms;
		if (!(ingest->draining || ingest->head->retried || waited >= delay ||
		      lane->idle_since_ms == 0 || now - lane->idle_since_ms >= delay + waited ||
		      ingest->queued_events >= ingest->limits.batch_max_events)) {
			wait = true;
			continue;
		}
		if ((started = ingest_start_batch(lane)) == START_NOMEM)
			return;   /* its retry timer is armed */
		if (started == START_NONE)
			break;    /* what waits belongs to departments in flight */
	}
	if (!wait || ingest->head == NULL) {
		evtimer_del(&ingest->ev_delay);
		return;
	}
	waited = ingest_now_ms() - ingest->head->queued_ms;
	if (waited > delay)
		waited = delay;
	struct timeval tv = { (time_t)((delay - waited) / 1000), (long)((delay - waited) % 1000) * 1000 };

	evtimer_add(&ingest->ev_delay, &tv);
}

static void
ingest_on_delay(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	ingest_schedule(arg);
}

static struct ingest_limits
ingest_limits_clamped(const struct ingest_limits *limits)
{
	struct ingest_limits l = *limits;

	if (l.batch_max_events == 0)
		l.batch_max_events = 1;
	return l;
}

struct ingest *
ingest_create(struct event_base *base, struct db *const *dbs, size_t ndbs,
		const struct ingest_limits *limits)
{
	struct ingest *ingest;
	struct timeval tv = { INGEST_MAINT_WAIT_S, 0 };

	if (ndbs == 0 || ndbs > INGEST_WRITERS_MAX || (ingest = calloc(1, sizeof(*ingest))) == NULL)
		return NULL;
	ingest->base = base;
	for (size_t i = 0; i < ndbs; i++)
		ingest->lanes[i] = (struct ingest_lane){ .ingest = ingest, .db = dbs[i] };
	ingest->nlanes = ndbs;
	ingest->limits = ingest_limits_clamped(limits);
	evtimer_assign(&ingest->ev_delay, base, ingest_on_delay, ingest);
	evtimer_assign(&ingest->ev_maint, base, ingest_on_maint_timer, ingest);
	evtimer_add(&ingest->ev_maint, &tv);
	return ingest;
}

/* Requests still queued or in flight are freed without their done callbacks: this runs at
 * exit, after the loop, when the connections they would answer are gone too. */
void
ingest_destroy(struct ingest *ingest)
{
	struct ingest_req *r, *next;

	if (ingest == NULL)
		return;
	evtimer_del(&ingest->ev_delay);
	evtimer_del(&ingest->ev_maint);
	for (r = ingest->head; r != NULL; r = next) {
		next = r->next;
		ingest_req_free(r);
	}
	for (size_t i = 0; i < ingest->nlanes; i++) {
		struct ingest_batch *b = ingest->lanes[i].batch;

		if (b != NULL) {
			for (r = b->reqs; r != NULL; r = next) {
				next = r->next;
				ingest_req_free(r);
			}
			b->outstanding = 0;   /* db_destroy drops its statements uncalled */
			ingest_batch_free(b);
		}
		metrics_destroy(ingest->lanes[i].pending);
	}
	free(ingest);
}

void
ingest_set_limits(struct ingest *ingest, const struct ingest_limits *limits)
{
	ingest->limits = ingest_limits_clamped(limits);
	ingest_schedule(ingest);
}

void
ingest_set_refdata(struct ingest *ingest, const struct refdata *refdata)
{
	ingest->refdata = refdata;
}

static struct ingest_req *
ingest_req_create(const struct mon_batch *batch, const char *principal, int64_t received_at,
		bool dry_run, ingest_done_cb *done, void *arg)
{
	struct ingest_req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->batch = batch;
	r->received_at = received_at;
	r->dry_run = dry_run;
	r->done = done;
	r->arg = arg;
	r->queued_ms = ingest_now_ms();
	r->turn = SIZE_MAX;
	r->statuses = calloc(batch->count ? batch->count : 1, sizeof(*r->statuses));
	r->errors = calloc(batch->count ? batch->count : 1, sizeof(*r->errors));
	r->principal = strdup(principal);
	if (r->statuses == NULL || r->errors == NULL || r->principal == NULL) {
		ingest_req_free(r);
		return NULL;
	}
	for (size_t i = 0; i < batch->count; i++) {
		if (batch->items[i].valid && r->nvalid++ == 0)
			snprintf(r->dept, sizeof(r->dept), "%s", batch->items[i].event.dept);
		r->statuses[i] = INGEST_REJECTED;
	}
	return r;
}

void
ingest_submit(struct ingest *ingest, const struct mon_batch *batch, const char *principal,
		int64_t received_at, bool dry_run, ingest_done_cb *done, void *arg)
{
	struct ingest_req *r = ingest_req_create(batch, principal, received_at, dry_run, done, arg);

	if (r == NULL) {
		log_warnx("ingest: out of memory queueing a request of %zu events", batch->count);
		done(INGEST_UNAVAILABLE, NULL, NULL, arg);
		return;
	}
	/* Nothing to store: the rejections are final whatever the database's state. */
	if (r->nvalid == 0) {
		ingest_req_done(r, INGEST_COMMITTED);
		return;
	}
	if (!ingest_up(ingest)) {
		ingest_req_done(r, INGEST_UNAVAILABLE);
		return;
	}
	if (ingest_queued(ingest) + r->nvalid > ingest->limits.queue_max_events) {
		ingest_req_done(r, INGEST_BUSY);
		return;
	}
	if (ingest->tail)
		ingest->tail->next = r;
	else
		ingest->head = r;
	ingest->tail = r;
	ingest->queued_events += r->nvalid;
	log_debug("ingest: queued %zu events from %.16s...%s (%zu waiting)", r->nvalid, principal,
		dry_run ? " for a dry run" : "", ingest->queued_events);
	ingest_schedule(ingest);
}

size_t
ingest_queued(const struct ingest *ingest)
{
	size_t n = ingest->queued_events;

	for (size_t i = 0; i < ingest->nlanes; i++)
		n += ingest->lanes[i].batch != NULL ? ingest->lanes[i].batch->nevents : 0;
	return n;
}

void
ingest_drain(struct ingest *ingest, void (*drained)(void *arg), void *arg)
{
	ingest->draining = true;
	ingest->drained = drained;
	ingest->drained_arg = arg;
	evtimer_del(&ingest->ev_maint);
	ingest_schedule(ingest);
	ingest_check_drained(ingest);
}

bool
ingest_set_metrics(struct ingest *ingest, struct metrics *metrics)
{
	ingest->metrics = metrics;
	for (size_t i = 0; i < ingest->nlanes; i++)
		if (ingest->lanes[i].pending == NULL &&
		    (ingest->lanes[i].pending = metrics_create()) == NULL)
			return false;
	return true;
}
