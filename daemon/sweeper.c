/* sweeper.c: the periodic transaction that re-derives due cases. */
#include "sweeper.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event_struct.h>
#include <libpq-fe.h>

#include "cases.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "mon_value.h"
#include "refdata.h"

/* The due cases, and the cases whose cross-case context changed (case_wakes, migration 036:
 * another case's penalty or inspection of the same subject was stored or corrected), at most
 * $2 of each, locked and skipped when locked as a batch holds its cases; the wakes taken are
 * dropped with this transaction (kept if it rolls back), those of a locked case stay for the
 * next sweep. */
static const char sweeper_due_sql[] =
	"WITH woke AS (SELECT c.dept, c.case_no FROM cases c"
	"   WHERE (c.dept, c.case_no) IN (SELECT w.dept, w.case_no FROM case_wakes w)"
	"   ORDER BY c.dept, c.case_no LIMIT $2 FOR UPDATE OF c SKIP LOCKED),"
	" taken AS (DELETE FROM case_wakes w USING woke"
	"   WHERE w.dept = woke.dept AND w.case_no = woke.case_no)"
	" SELECT dept, case_no FROM woke"
	" UNION"
	" SELECT dept, case_no FROM (SELECT dept, case_no FROM cases"
	"   WHERE next_check_at <= $1::timestamptz"
	"   ORDER BY next_check_at LIMIT $2 FOR UPDATE SKIP LOCKED) due";

/* Closed cases keep what they were; open ones are looked at again under the new rules, but
 * only when the rules are not those the open cases were last re-derived under: $2 is the
 * loaded rules' digest (refdata_digest), recorded in rules_applied (migration 025), so a start,
 * a reconnect or a SIGHUP that loads the same rules marks nothing, and of two esupd loading new
 * rules the first starts the re-derivation and the second (blocked on the row until the first
 * committed) finds them applied. A new digest only starts the marking (migration 032): the open
 * cases are marked due by sweeper_mark_sql, a step at a time. Answers one row: whether the
 * digest was new, the open cases there are to re-derive (counted only then), and whether a
 * marking under this digest is unfinished (a new one, or one a restart or another daemon left
 * half done: this daemon takes it up). */
static const char sweeper_rederive_sql[] =
	"WITH applied AS ("
	"  INSERT INTO rules_applied AS r (one, digest, applied_at, marking, marked_dept, marked_case)"
	"  VALUES (true, $2, $1::timestamptz, true, '', '')"
	"  ON CONFLICT (one) DO UPDATE SET digest = EXCLUDED.digest, applied_at = EXCLUDED.applied_at,"
	"   marking = true, marked_dept = '', marked_case = ''"
	"  WHERE r.digest IS DISTINCT FROM EXCLUDED.digest RETURNING 1)"
	" SELECT (SELECT count(*) FROM applied),"
	"  (SELECT count(*) FROM cases WHERE status NOT IN ('decided', 'refused', 'withdrawn')"
	"    AND EXISTS (SELECT 1 FROM applied)),"
	"  EXISTS (SELECT 1 FROM applied)"
	"   OR EXISTS (SELECT 1 FROM rules_applied WHERE one AND marking AND digest = $2)";

/* One step of the marking, a transaction of its own: the next $3 open cases after the cursor,
 * locked in (dept, case) order as a batch locks its cases (cases.c; in table order, marking and
 * a batch of another esupd, or of this one's writer, each held a case the other waited for), so
 * a department's event waits for at most one step's cases, never for all open cases. */
static const char sweeper_mark_sql[] =
	"SELECT marked, more FROM esup_rederive_step($1::timestamptz, $2, $3::integer)";

enum sweep_step { SWEEP_IDLE, SWEEP_REDERIVE, SWEEP_MARK, SWEEP_BEGIN, SWEEP_DUE, SWEEP_EVALUATE, SWEEP_COMMIT };

struct sweeper {
	struct event_base *base;
	struct db *db;
	const struct refdata *rd;
	sweeper_clock *clock;
	void *clock_arg;
	struct event tick;
	struct timeval interval;
	size_t batch;
	size_t mark_batch;         /* open cases a marking step marks */
	enum sweep_step step;
	bool rederive_pending, stopped;
	bool marking;              /* open cases are still to be marked due under the new rules */
	char announce[24];         /* the open cases of new rules, said when marked; "" if none */
	int64_t now;
	char now_text[40];
	size_t taken;          /* cases in this sweep */
	struct metrics *metrics;   /* may be NULL */
	struct metrics *pending;   /* alerts raised by the sweep in flight, until COMMIT */
	void (*drained)(void *arg);   /* sweeper_drain: told once stopped and idle */
	void *drained_arg;
};

static void sweeper_issue(struct sweeper *sw);

/* Logs how many open cases the new rules this daemon applied re-derive, once their marking is
 * over; false when it applied none since it last said so. */
static bool
sweeper_announce(struct sweeper *sw)
{
	if (sw->announce[0] == '\0')
		return false;
	log_info("rules changed: %s open cases to re-derive", sw->announce);
	sw->announce[0] = '\0';
	return true;
}

static void
sweeper_arm(struct sweeper *sw, bool at_once)
{
	struct timeval zero = { 0, 0 };
	void (*drained)(void *) = sw->drained;

	if (!sw->stopped) {
		evtimer_add(&sw->tick, at_once ? &zero : &sw->interval);
	} else if (drained != NULL && sw->step == SWEEP_IDLE) {
		sw->drained = NULL;
		drained(sw->drained_arg);
	}
}

static void
sweeper_abandon(struct sweeper *sw, const char *what, const PGresult *res)
{
	if (res != NULL) {
		log_warnx("sweeper: %s failed: %s", what, PQresultErrorMessage(res));
		if (!db_query(sw->db, "ROLLBACK", 0, NULL, NULL, NULL))
			log_debug("sweeper: ROLLBACK not sent: connection down");
	} else {
		log_debug("sweeper: connection lost during %s", what);
	}
	sw->step = SWEEP_IDLE;
	sweeper_arm(sw, false);
}

static void
sweeper_cases_done(enum cases_outcome outcome, const PGresult *error, void *arg)
{
	struct sweeper *sw = arg;

	if (outcome != CASES_DONE) {
		sweeper_abandon(sw, "case evaluation", outcome == CASES_FAILED ? error : NULL);
		return;
	}
	sw->step = SWEEP_COMMIT;
	sweeper_issue(sw);
}

static void
sweeper_evaluate(struct sweeper *sw, const PGresult *res)
{
	size_t n = (size_t)PQntuples(res);
	struct case_key *keys = calloc(n ? n : 1, sizeof(*keys));

	sw->taken = n;
	if (keys == NULL) {
		sweeper_abandon(sw, "listing due cases", res);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(keys[i].dept, sizeof(keys[i].dept), "%s", PQgetvalue(res, (int)i, 0));
		snprintf(keys[i].case_no, sizeof(keys[i].case_no), "%s", PQgetvalue(res, (int)i, 1));
	}
	sw->step = SWEEP_EVALUATE;
	cases_evaluate(sw->db, sw->rd, sw->pending, keys, n, NULL, 0, sw->now, false,
		NULL, sweeper_cases_done, sw);
	free(keys);
}

static void
sweeper_on_result(const PGresult *res, void *arg)
{
	struct sweeper *sw = arg;
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	if (res == NULL || (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)) {
		sweeper_abandon(sw, sw->step == SWEEP_REDERIVE ? "re-deriving open cases" :
			sw->step == SWEEP_MARK ? "marking open cases to re-derive" : "sweep", res);
		return;
	}
	switch (sw->step) {
	case SWEEP_REDERIVE:
		sw->rederive_pending = false;
		if (PQntuples(res) != 1) {
			sw->step = SWEEP_BEGIN;
			break;
		}
		sw->marking = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
		if (strcmp(PQgetvalue(res, 0, 0), "0") != 0) {
			/* said once the marking is finished: a test or an operator that reads
			 * it finds every open case due */
			snprintf(sw->announce, sizeof(sw->announce), "%s", PQgetvalue(res, 0, 1));
		} else if (!sw->marking) {
			sweeper_announce(sw);
			log_info("rules unchanged since the open cases were last re-derived: "
				"none to re-derive");
		} else if (sw->announce[0] == '\0') {
			log_info("rules unchanged since the open cases were last re-derived: "
				"taking up the unfinished marking of open cases");
		}
		sw->step = sw->marking ? SWEEP_MARK : SWEEP_BEGIN;
		break;
	case SWEEP_MARK:
		/* one step, then a sweep: the cases just marked are re-derived while the
		 * marking goes on, and neither waits for the other to finish */
		sw->marking = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 1), "t") == 0;
		if (!sw->marking && !sweeper_announce(sw))
			log_info("open cases marked to re-derive under the rules applied");
		sw->step = SWEEP_BEGIN;
		break;
	case SWEEP_BEGIN:
		metrics_clear(sw->pending, METRIC_ALERTS_RAISED);   /* an abandoned sweep raised none */
		sw->step = SWEEP_DUE;
		break;
	case SWEEP_DUE:
		if (PQntuples(res) > 0) {
			sweeper_evaluate(sw, res);
			return;
		}
		sw->taken = 0;
		sw->step = SWEEP_COMMIT;
		break;
	case SWEEP_COMMIT:
		/* COMMIT of an aborted transaction answers ROLLBACK, without an error */
		if (strcmp(PQcmdStatus((PGresult *)res), "COMMIT") == 0)
			metrics_move(sw->metrics, sw->pending, METRIC_ALERTS_RAISED);
		if (sw->taken > 0)
			log_debug("sweeper: %zu cases re-derived", sw->taken);
		sw->step = SWEEP_IDLE;
		/* a full batch means more may be due: go on at once */
		sweeper_arm(sw, sw->taken >= sw->batch || sw->rederive_pending || sw->marking);
		return;
	case SWEEP_IDLE:
	case SWEEP_EVALUATE:
		return;
	}
	sweeper_issue(sw);
}

static void
sweeper_issue(struct sweeper *sw)
{
	char limit[24], mark_limit[24];
	const char *values[2] = { sw->now_text, limit };
	const char *rederive[3] = { sw->now_text, refdata_digest(sw->rd), mark_limit };
	const char *sql = NULL;
	int nparams = 0;

	switch (sw->step) {
	case SWEEP_REDERIVE: sql = sweeper_rederive_sql; nparams = 2; break;
	case SWEEP_MARK: sql = sweeper_mark_sql; nparams = 3; break;
	case SWEEP_BEGIN: sql = "BEGIN"; break;
	case SWEEP_DUE: sql = sweeper_due_sql; nparams = 2; break;
	case SWEEP_COMMIT: sql = "COMMIT"; break;
	case SWEEP_IDLE:
	case SWEEP_EVALUATE: return;
	}
	snprintf(limit, sizeof(limit), "%zu", sw->batch);
	snprintf(mark_limit, sizeof(mark_limit), "%zu", sw->mark_batch);
	if (!db_query(sw->db, sql, nparams, !nparams ? NULL :
			sw->step == SWEEP_REDERIVE || sw->step == SWEEP_MARK ? rederive : values,
			sweeper_on_result, sw)) {
		sw->step = SWEEP_IDLE;
		sweeper_arm(sw, false);
	}
}

static void
sweeper_tick(evutil_socket_t fd, short what, void *arg)
{
	struct sweeper *sw = arg;

	(void)fd, (void)what;
	if (sw->stopped)
		return;
	if (sw->step != SWEEP_IDLE || !db_is_up(sw->db) || refdata_rules(sw->rd) == NULL) {
		sweeper_arm(sw, false);
		return;
	}
	sw->now = sw->clock(sw->clock_arg);
	mon_time_format(sw->now, 0, sw->now_text, sizeof(sw->now_text));
	sw->step = sw->rederive_pending ? SWEEP_REDERIVE : sw->marking ? SWEEP_MARK : SWEEP_BEGIN;
	sweeper_issue(sw);
}

struct sweeper *
sweeper_create(struct event_base *base, struct db *db, const struct refdata *rd,
		sweeper_clock *now, void *now_arg)
{
	struct sweeper *sw = calloc(1, sizeof(*sw));

	if (sw == NULL)
		return NULL;
	sw->base = base;
	sw->db = db;
	sw->rd = rd;
	sw->clock = now;
	sw->clock_arg = now_arg;
	sw->batch = 100;
	sw->mark_batch = 1000;
	sw->interval.tv_sec = 1;
	evtimer_assign(&sw->tick, base, sweeper_tick, sw);
	return sw;
}

void
sweeper_configure(struct sweeper *sw, unsigned interval_ms, size_t batch, size_t mark_batch)
{
	sw->interval.tv_sec = interval_ms / 1000;
	sw->interval.tv_usec = (interval_ms % 1000) * 1000;
	sw->batch = batch;
	sw->mark_batch = mark_batch;
	if (!evtimer_pending(&sw->tick, NULL) && sw->step == SWEEP_IDLE)
		sweeper_arm(sw, false);
}

void
sweeper_rederive(struct sweeper *sw)
{
	sw->rederive_pending = true;
	if (sw->step == SWEEP_IDLE) {
		event_del(&sw->tick);
		sweeper_arm(sw, true);
	}
}

void
sweeper_db_up(struct sweeper *sw)
{
	if ((sw->rederive_pending || sw->marking) && sw->step == SWEEP_IDLE && !sw->stopped) {
		event_del(&sw->tick);
		sweeper_arm(sw, true);
	}
}

void
sweeper_stop(struct sweeper *sw)
{
	sw->stopped = true;
	event_del(&sw->tick);
}

void
sweeper_drain(struct sweeper *sw, void (*drained)(void *arg), void *arg)
{
	sweeper_stop(sw);
	sw->drained = drained;
	sw->drained_arg = arg;
	if (sw->step == SWEEP_IDLE)
		sweeper_arm(sw, false);   /* tells it at once */
	else
		log_info("sweeper: finishing the sweep in flight before exiting");
}

void
sweeper_destroy(struct sweeper *sw)
{
	if (sw == NULL)
		return;
	event_del(&sw->tick);
	metrics_destroy(sw->pending);
	free(sw);
}

bool
sweeper_set_metrics(struct sweeper *sw, struct metrics *metrics)
{
	sw->metrics = metrics;
	if (sw->pending == NULL && (sw->pending = metrics_create()) == NULL)
		return false;
	return true;
}
