/* cases.c: lock, load, evaluate, apply. One small state machine per job on the caller's
 * connection. Statements whose successor needs nothing from their answer go out with it in
 * one round trip (the connection's pipeline, db.c): the lock with the history's read, the
 * apply with the defer (and, through the queued callback, the caller's COMMIT). */
#include "cases.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alert.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "mon_eval.h"
#include "mon_rules.h"
#include "mon_value.h"
#include "refdata.h"

/* Creates missing case rows and locks them all, in (dept, case) order so that concurrent
 * writers wait on each other instead of deadlocking; due now until evaluated. $3: the earliest
 * receipt time of the events the transaction stored, the case's events_from on a new row and
 * the least of the two on one that has it (a concurrent writer that stored the case's later
 * events first), so that no event of the case was received before it (schema/027); a row
 * without one (older than 027) stays without. */
static const char cases_lock_sql[] =
	"INSERT INTO cases AS k (dept, case_no, next_check_at, events_from)"
	" SELECT r.d, r.c, $2::timestamptz, $3::timestamptz"
	" FROM jsonb_to_recordset($1::jsonb) AS r(d text, c text)"
	" ORDER BY r.d, r.c"
	" ON CONFLICT (dept, case_no) DO UPDATE SET next_check_at = EXCLUDED.next_check_at,"
	"  events_from = CASE WHEN k.events_from IS NOT NULL"
	"   THEN least(k.events_from, EXCLUDED.events_from) END";

/* The cases' events, read from the partitions their events_from leaves (esup_case_events,
 * schema/027; one generic plan per session). $2 is the number of keys in $1 (without
 * repeats): the LIMIT that gives the planner their number (a set-returning function counts as
 * 100 rows), so that a batch of a few cases probes each partition's case index for them. */
static const char cases_load_sql[] =
	"SELECT e.dept, e.case_no, e.body, e.received FROM esup_case_events($1::jsonb, $2::bigint) e"
	" ORDER BY e.dept, e.case_no, e.seq";

/* Other cases' events about the parties and enterprises of the loaded cases: what the
 * cross-case rules judge by, and no more, so that a case costs the same whatever the party's
 * history. Each entry of $1 is one event of case group g: for a penalty ("p") the latest
 * penalty.decided against the party before it within the first-offence window (the rule asks
 * only whether one exists: esup_latest_penalty, schema/007); for an inspection ("i") the
 * enterprise's inspections within the context days around it (bursts are judged among
 * them). The case's own events are loaded already and left out, and so is an event its
 * department voided (esup_event_voided, schema/021). Rows come by group, each event once per
 * group. */
static const char cases_context_sql[] =
	"SELECT DISTINCT ON (s.g, e.seq) s.g, e.dept, e.case_no, e.body::text,"
	"  floor(extract(epoch FROM e.received_at))::bigint"
	" FROM jsonb_to_recordset($1::jsonb)"
	"  AS s(g int, k text, s text, d text, c text, lo timestamptz, hi timestamptz)"
	" CROSS JOIN LATERAL ("
	"  SELECT p.seq, p.dept, p.case_no, p.body, p.received_at"
	"   FROM esup_latest_penalty(s.s, s.lo, s.hi, s.d, s.c) p WHERE s.k = 'p'"
	"  UNION ALL"
	"  SELECT i.seq, i.dept, i.case_no, i.body, i.received_at FROM events i"
	"   WHERE s.k = 'i' AND esup_event_subject(i.type, i.body) = s.s"
	"    AND i.type IN ('penalty.decided', 'inspection.started') AND i.type = 'inspection.started'"
	"    AND i.at BETWEEN s.lo AND s.hi AND (i.dept, i.case_no) IS DISTINCT FROM (s.d, s.c)"
	"    AND NOT esup_event_voided(i.dept, i.event_id)"
	" ) e"
	" ORDER BY s.g, e.seq";

/* The corrected events without a case, for the corrections without a case handed in: for
 * each entry of $1 (group g: department d, the correction's id i), the event it corrects at
 * the root of its chain and every correction of it, and of those (esup_loose_group,
 * schema/021), so that the event is judged again with all its corrections. */
static const char cases_loose_sql[] =
	"SELECT s.g, e.dept, '', e.body::text, floor(extract(epoch FROM e.received_at))::bigint"
	" FROM jsonb_to_recordset($1::jsonb) AS s(g int, d text, i text)"
	" CROSS JOIN LATERAL esup_loose_group(s.d, s.i) e"
	" ORDER BY s.g, e.seq";

/* Each alert step of the evaluations, with the alert's subject for its log line
 * (ALERT_SUBJECT_SQL) from the key of the condition the step is about. A step whose condition
 * is gone (resolved, corrected, superseded) has no key here: its line names the case, or for a
 * caseless alert only the department and the alert's id. */
static const char cases_apply_sql[] =
	"SELECT r.alert_id, r.action, r.rule, r.severity, x->>'dept', x->>'case', r.message, "
	ALERT_SUBJECT_SQL("x->>'case'",
	"(SELECT c->>'key' FROM jsonb_array_elements(x->'conditions') c"
	"  WHERE c->>'rule' = r.rule AND c->>'message' = r.message LIMIT 1)")
	" FROM jsonb_array_elements($1::jsonb) AS x,"
	"  LATERAL esup_apply_evaluation(x, $2::timestamptz) AS r";

/* An evaluated case's next check lies in the future (or nowhere): one still due was not
 * evaluated (a refused history, or no event left to load). It is looked at again in an hour,
 * not at every sweep, where it would hold back the cases behind it. $3: the keys' number, as
 * in cases_load_sql. */
static const char cases_defer_sql[] =
	"UPDATE cases SET next_check_at = $2::timestamptz + interval '1 hour'"
	" WHERE (dept, case_no) IN (SELECT r.d, r.c FROM jsonb_to_recordset($1::jsonb) AS r(d text, c text)"
	"  LIMIT $3::bigint)"
	" AND next_check_at <= $2::timestamptz";

/* Events read back from the database (or handed in by ingest), in libmonitor's model. */
struct loaded_event {
	struct mon_event event;
	int64_t received_at;
	size_t group;                     /* the case it is (cases) or was loaded for (context) */
};

struct event_pool {
	size_t count;
	struct loaded_event *items;
};

enum cases_step { CASES_LOOSE, CASES_LOCK, CASES_LOAD, CASES_CONTEXT, CASES_APPLY, CASES_DEFER };

struct cases_job {
	struct db *db;
	const struct refdata *rd;
	enum cases_step step;
	bool dry_run;        /* the transaction will be rolled back: log and count nothing */
	int64_t now;
	char now_text[40];
	char from_text[40];  /* CASES_LOCK's events_from (cases_evaluate's lock_from) */
	char *keys;          /* jsonb [{"d","c"}] */
	char *subjects;      /* jsonb [{"g","k","s","d","c","lo","hi"}]: what the context query looks for */
	size_t nkeys;
	char unique_text[24];  /* how many keys are in keys (without repeats): the LIMIT that
	                        * gives the planner their number (cases_load_sql) */
	char *evaluations;   /* jsonb [evaluation] */
	struct event_pool cases;     /* the cases' own events, grouped by case */
	struct event_pool context;   /* other cases' events about the same parties, by group */
	struct mon_case_event *loose;  /* events without a case, owned by the caller */
	size_t loose_count;
	char *corrections;   /* jsonb [{"g","d","i"}]: the loose corrections, for CASES_LOOSE */
	struct event_pool groups;    /* corrected events without a case with their corrections,
	                              * by group */
	enum cases_step after_loose; /* CASES_LOCK or CASES_LOAD; CASES_APPLY when no keys */
	cases_queued_cb *queued;     /* may be NULL */
	cases_done_cb *done;
	void *arg;
	struct metrics *metrics;     /* esup_alerts_raised_total; may be NULL */
	enum cases_step inflight[4]; /* the steps sent and not yet answered, oldest first */
	size_t ninflight;
	bool reported;               /* done was called: freed once nothing is in flight */
};

static int
case_key_compare(const void *a, const void *b)
{
	const struct case_key *x = a, *y = b;
	int c = strcmp(x->dept, y->dept);

	return c ? c : strcmp(x->case_no, y->case_no);
}

/* The keys, sorted and without repeats, as jsonb [{"d","c"}]; *unique: how many. */
static char *
keys_json(const struct case_key *keys, size_t count, size_t *unique)
{
	struct case_key *sorted = malloc((count ? count : 1) * sizeof(*sorted));
	json_t *arr = json_array();
	char *text = NULL;

	if (sorted != NULL && arr != NULL) {
		memcpy(sorted, keys, count * sizeof(*sorted));
		qsort(sorted, count, sizeof(*sorted), case_key_compare);
		for (size_t i = 0; i < count; i++) {
			if (i > 0 && case_key_compare(&sorted[i - 1], &sorted[i]) == 0)
				continue;
			json_array_append_new(arr, json_pack("{s:s, s:s}", "d", sorted[i].dept,
				"c", sorted[i].case_no));
		}
		text = json_dumps(arr, JSON_COMPACT);
		*unique = json_array_size(arr);
	}
	json_decref(arr);
	free(sorted);
	return text;
}

static void event_pool_finish(struct event_pool *pool);

static void
cases_job_free(struct cases_job *job)
{
	free(job->keys);
	free(job->subjects);
	free(job->evaluations);
	free(job->corrections);
	event_pool_finish(&job->groups);
	event_pool_finish(&job->cases);
	event_pool_finish(&job->context);
	free(job->loose);
	free(job);
}

/* Tells the caller, once. A job with statements still in flight (sent ahead of an answer
 * that ended it) is freed when the last of them answers. */
static void
cases_job_finish(struct cases_job *job, enum cases_outcome outcome, const PGresult *error)
{
	cases_done_cb *done = job->done;
	void *arg = job->arg;

	job->reported = true;
	if (job->ninflight == 0)
		cases_job_free(job);
	done(outcome, error, arg);
}

/* The rules switched off in esupd.conf ([rules] disable), as a JSON array of codes. Their
 * conditions never come out, so esup_apply_evaluation() must not take a live alert of theirs
 * for a condition that stopped holding: it suppresses it instead of resolving it. */
static json_t *
disabled_json(const struct mon_ruleset *rs)
{
	json_t *codes = json_array();

	for (size_t i = 0; codes != NULL && i < mon_rule_count(); i++)
		if (!mon_ruleset_rule_enabled(rs, i) &&
		    json_array_append_new(codes, json_string(mon_rule_code(i))) != 0) {
			json_decref(codes);
			return NULL;
		}
	return codes;
}

/* The evaluation in the shape esup_apply_evaluation() reads: libmonitor's one writer (as
 * `esupctl eval` prints it), instants in UTC, and the rules switched off (borrowed). */
static json_t *
evaluation_json(const struct mon_evaluation *ev, json_t *disabled)
{
	json_t *obj = mon_evaluation_json(ev, 0);

	if (obj != NULL && json_object_set(obj, "disabled", disabled) != 0) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

static void
event_pool_finish(struct event_pool *pool)
{
	for (size_t i = 0; i < pool->count; i++)
		mon_event_finish(&pool->items[i].event);
	free(pool->items);
	pool->items = NULL;
	pool->count = 0;
}

/* Rows (dept, case_no, body, received epoch), after a leading group column when `grouped`:
 * stored events were valid when stored; one a stricter build refuses is logged and left out
 * rather than blocking its case. */
static bool
event_pool_load(struct event_pool *pool, const PGresult *res, bool grouped)
{
	int rows = PQntuples(res), c = grouped ? 1 : 0;

	pool->items = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*pool->items));
	if (pool->items == NULL)
		return false;
	for (int row = 0; row < rows; row++) {
		struct loaded_event *le = &pool->items[pool->count];
		json_error_t jerr;
		struct mon_error err;
		json_t *body = json_loads(PQgetvalue(res, row, c + 2), JSON_REJECT_DUPLICATES, &jerr);
		bool ok = body != NULL && mon_event_from_json(body, &le->event, &err);

		json_decref(body);
		if (!ok) {
			log_warnx("case %s/%s: a stored event is no longer valid; left out",
				PQgetvalue(res, row, c), PQgetvalue(res, row, c + 1));
			continue;
		}
		le->received_at = strtoll(PQgetvalue(res, row, c + 3), NULL, 10);
		le->group = grouped ? strtoul(PQgetvalue(res, row, 0), NULL, 10) : 0;
		pool->count++;
	}
	return true;
}

static bool
same_case(const struct mon_event *a, const struct mon_event *b)
{
	return strcmp(a->dept, b->dept) == 0 && strcmp(a->case_no, b->case_no) == 0;
}

/* Numbers the cases of the loaded events (grouped by the load's ORDER BY): 0, 1, ... */
static void
event_pool_number_cases(struct event_pool *cases)
{
	for (size_t i = 1; i < cases->count; i++)
		cases->items[i].group = cases->items[i - 1].group +
			!same_case(&cases->items[i - 1].event, &cases->items[i].event);
}

static bool
append_evaluation(const struct mon_ruleset *rs, const struct mon_case_event *items, size_t n,
		int64_t now, json_t *disabled, json_t *evaluations)
{
	struct mon_evaluation ev;
	struct mon_error err = { .field = "" };
	const struct mon_event *first = items[0].event;
	bool ok;

	if (mon_case_evaluate(rs, items, n, now, &ev, &err)) {
		ok = json_array_append_new(evaluations, evaluation_json(&ev, disabled)) == 0;
		mon_evaluation_finish(&ev);
		return ok;
	}
	log_warnx("case %s/%s not evaluated: %s: expected %s; deferred", first->dept,
		first->case_no, err.field, err.expected);
	return true;
}

/* Evaluates the case whose events are cases->items[first, end), with what libmonitor keeps
 * (mon_context_select) of the rows the context query returned for it,
 * context.items[cfirst, cend). */
static bool
evaluate_case(const struct cases_job *job, const struct mon_ruleset *rs, size_t first,
		size_t end, size_t cfirst, size_t cend, json_t *disabled, json_t *evaluations)
{
	const struct event_pool *cases = &job->cases, *ctx = &job->context;
	size_t own = end - first, nc = cend - cfirst, n = own;
	struct mon_case_event *items = calloc(own + nc, sizeof(*items));
	bool *keep = calloc(nc > 0 ? nc : 1, sizeof(*keep));
	bool ok = items != NULL && keep != NULL;

	for (size_t i = 0; ok && i < own; i++)
		items[i] = (struct mon_case_event){ &cases->items[first + i].event,
			cases->items[first + i].received_at, false };
	for (size_t i = 0; ok && i < nc; i++)
		items[own + i] = (struct mon_case_event){ &ctx->items[cfirst + i].event,
			ctx->items[cfirst + i].received_at, true };
	ok = ok && mon_context_select(rs, items, own, items + own, nc, keep);
	for (size_t i = 0; ok && i < nc; i++) {
		if (keep[i])
			items[n++] = items[own + i];
	}
	ok = ok && append_evaluation(rs, items, n, job->now, disabled, evaluations);
	free(items);
	free(keep);
	return ok;
}

/* True when a loose event is in a loaded group, or is a correction (judged only there). */
static bool
in_group(const struct event_pool *groups, const struct mon_event *ev)
{
	if (ev->type == MON_EV_EVENT_CORRECTED)
		return true;
	for (size_t i = 0; i < groups->count; i++)
		if (strcmp(groups->items[i].event.id, ev->id) == 0 &&
		    strcmp(groups->items[i].event.dept, ev->dept) == 0)
			return true;
	return false;
}

/* Each corrected event without a case with its corrections (rows come by group); a group
 * whose chain ends in the same event as an earlier group's is judged once. */
static bool
evaluate_groups(const struct cases_job *job, const struct mon_ruleset *rs, json_t *disabled,
		json_t *evaluations)
{
	const struct event_pool *g = &job->groups;
	struct mon_case_event *items = calloc(g->count ? g->count : 1, sizeof(*items));
	size_t n = 0;

	if (items == NULL)
		return false;
	for (size_t i = 0; i < g->count; i++) {
		bool repeat = false;

		items[n++] = (struct mon_case_event){ &g->items[i].event, g->items[i].received_at, false };
		if (i + 1 < g->count && g->items[i + 1].group == g->items[i].group)
			continue;
		for (size_t j = 0; j + n <= i && !repeat; j++)   /* an earlier group, same events */
			repeat = strcmp(g->items[j].event.id, items[0].event->id) == 0 &&
				strcmp(g->items[j].event.dept, items[0].event->dept) == 0;
		if (!repeat)
			append_evaluation(rs, items, n, job->now, disabled, evaluations);
		n = 0;
	}
	free(items);
	return true;
}

static bool
cases_evaluate_all(struct cases_job *job)
{
	const struct mon_ruleset *rs = refdata_rules(job->rd);
	json_t *evaluations = json_array(), *disabled = disabled_json(rs);
	const struct event_pool *cases = &job->cases, *ctx = &job->context;
	size_t cfirst = 0, cend = 0;
	bool ok = evaluations != NULL && disabled != NULL;

	for (size_t first = 0, i = 1; ok && first < cases->count; i++) {
		size_t group = cases->items[first].group;

		if (i < cases->count && cases->items[i].group == group)
			continue;
		/* The context rows come ordered by group, as the cases do. */
		for (cfirst = cend; cfirst < ctx->count && ctx->items[cfirst].group < group; cfirst++)
			;
		for (cend = cfirst; cend < ctx->count && ctx->items[cend].group == group; cend++)
			;
		ok = evaluate_case(job, rs, first, i, cfirst, cend, disabled, evaluations);
		first = i;
	}
	/* Events without a case are judged one by one; a corrected one with its corrections. */
	ok = ok && evaluate_groups(job, rs, disabled, evaluations);
	for (size_t i = 0; ok && i < job->loose_count; i++)
		if (!in_group(&job->groups, job->loose[i].event))
			ok = append_evaluation(rs, &job->loose[i], 1, job->now, disabled, evaluations);
	job->evaluations = ok ? json_dumps(evaluations, JSON_COMPACT) : NULL;
	json_decref(evaluations);
	json_decref(disabled);
	return job->evaluations != NULL;
}

/* Adds the context query's entries for the case cases->items[first, end): one per window
 * libmonitor names (mon_context_windows), so the query fetches at least what
 * mon_context_select then keeps. */
static bool
context_entries(const struct mon_ruleset *rs, const struct event_pool *cases, size_t first,
		size_t end, json_t *arr)
{
	size_t n = end - first, nw;
	struct mon_case_event *own = calloc(n, sizeof(*own));
	struct mon_context_window *w = calloc(n, sizeof(*w));
	bool ok = own != NULL && w != NULL;
	char lo[40], hi[40];

	for (size_t i = 0; ok && i < n; i++)
		own[i] = (struct mon_case_event){ &cases->items[first + i].event, 0, false };
	nw = ok ? mon_context_windows(rs, own, n, w) : 0;
	for (size_t k = 0; ok && k < nw; k++) {
		mon_time_format(w[k].lo, 0, lo, sizeof(lo));
		mon_time_format(w[k].hi, 0, hi, sizeof(hi));
		ok = json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s}",
			"g", (json_int_t)cases->items[first].group,
			"k", w[k].kind == MON_CONTEXT_PENALTY ? "p" : "i", "s", w[k].subject,
			"d", w[k].event->dept, "c", w[k].event->case_no, "lo", lo, "hi", hi)) == 0;
	}
	free(own);
	free(w);
	return ok;
}

/* What the context query looks for (see cases_context_sql); NULL when no case needs
 * context, or out of memory (*failed then set). */
static char *
context_query_json(const struct cases_job *job, bool *failed)
{
	const struct mon_ruleset *rs = refdata_rules(job->rd);
	const struct event_pool *cases = &job->cases;
	json_t *arr = json_array();
	char *text = NULL;
	bool ok = arr != NULL;

	for (size_t first = 0, i = 1; ok && first < cases->count; i++) {
		if (i < cases->count && cases->items[i].group == cases->items[first].group)
			continue;
		ok = context_entries(rs, cases, first, i, arr);
		first = i;
	}
	if (ok && json_array_size(arr) > 0)
		ok = (text = json_dumps(arr, JSON_COMPACT)) != NULL;
	json_decref(arr);
	*failed = !ok;
	return text;
}

/* Counts the alerts the evaluation raised (issued, or held for confirmation) by rule and
 * severity: the codes of the rules table and the three severities, never client input. The
 * caller's registry holds them until its transaction commits. */
static void
cases_count_alerts(const struct cases_job *job, const PGresult *res)
{
	for (int row = 0; row < PQntuples(res); row++) {
		const char *action = PQgetvalue(res, row, 1);

		if (strcmp(action, "raised") == 0 || strcmp(action, "held") == 0)
			metrics_add(job->metrics, METRIC_ALERTS_RAISED, (const char *const[]){
				PQgetvalue(res, row, 2), PQgetvalue(res, row, 3) }, 1);
	}
}

/* One line per alert step: "alert ACTION: #ID SEVERITY RULE DEPT/CASE: MESSAGE", or for a
 * caseless alert "... DEPT SUBJECT: MESSAGE" (alert_subject_text). */
static void
cases_log_alerts(const PGresult *res)
{
	for (int row = 0; row < PQntuples(res); row++) {
		const char *dept = PQgetvalue(res, row, 4), *case_no = PQgetvalue(res, row, 5);
		const struct log_fields f = {
			.alert_id = PQgetvalue(res, row, 0), .rule = PQgetvalue(res, row, 2),
			.department = dept, .case_no = case_no, .subject = PQgetvalue(res, row, 7),
		};

		char about[384];

		log_alert(LOG_LEVEL_INFO, &f, "alert %s: #%s %s %s %s: %s", PQgetvalue(res, row, 1),
			f.alert_id, PQgetvalue(res, row, 3), f.rule,
			alert_subject_text(about, sizeof(about), dept, case_no, f.subject),
			PQgetvalue(res, row, 6));
	}
}

static void cases_on_result(const PGresult *res, void *arg);

/* Queues step's statement. */
static bool
cases_send(struct cases_job *job, enum cases_step step)
{
	static const char *const sql[] = {
		[CASES_LOOSE] = cases_loose_sql,
		[CASES_LOCK] = cases_lock_sql, [CASES_LOAD] = cases_load_sql,
		[CASES_CONTEXT] = cases_context_sql, [CASES_APPLY] = cases_apply_sql,
		[CASES_DEFER] = cases_defer_sql,
	};
	/* Prepared once per session (db_query_named): the steps whose plan is the same whatever
	 * the tables hold (the history's read is a call of esup_case_events, which keeps its own
	 * plan). The context's read of events and the defer's UPDATE of cases stay unnamed and
	 * are planned at each run: a generic plan made while a partition was small (a hash join
	 * over sequential scans) was kept until autovacuum analyzed it, reading the whole
	 * partition for every batch meanwhile. */
	static const char *const name[CASES_DEFER + 1] = {
		[CASES_LOCK] = "cases_lock", [CASES_LOAD] = "cases_load",
		[CASES_APPLY] = "cases_apply",
	};
	const char *values[3] = { job->keys, job->now_text, job->unique_text };
	int nparams = 2;

	switch (step) {
	case CASES_LOOSE:
		values[0] = job->corrections;
		nparams = 1;
		break;
	case CASES_LOCK:
		values[2] = job->from_text;
		nparams = 3;
		break;
	case CASES_LOAD:
		values[1] = job->unique_text;
		break;
	case CASES_CONTEXT:
		values[0] = job->subjects;
		nparams = 1;
		break;
	case CASES_APPLY:
		values[0] = job->evaluations;
		break;
	case CASES_DEFER:
		nparams = 3;   /* the keys and the time, like CASES_LOCK; their number, like CASES_LOAD */
		break;
	}
	if (job->ninflight == sizeof(job->inflight) / sizeof(job->inflight[0]) ||
	    !db_query_ex(job->db, name[step], sql[step], nparams, values, 0, cases_on_result, job))
		return false;
	job->inflight[job->ninflight++] = step;
	return true;
}

/* The step that can go out with step, before its answer: the history's read needs only the
 * locks taken, the defer only the apply done (inside the transaction, a statement after one
 * that failed fails too). */
static bool
cases_follower(const struct cases_job *job, enum cases_step step, enum cases_step *next)
{
	if (step == CASES_LOCK)
		*next = CASES_LOAD;
	else if (step == CASES_APPLY && job->nkeys > 0)
		*next = CASES_DEFER;
	else
		return false;
	return true;
}

/* Issues the job's current step (and its follower). Once the job's last statement is
 * queued, the caller hears it (queued) and may queue its own behind it. */
static void
cases_issue(struct cases_job *job)
{
	enum cases_step step = job->step, next = step;
	bool follows = cases_follower(job, step, &next);

	if (!cases_send(job, step) || (follows && !cases_send(job, next))) {
		cases_job_finish(job, CASES_LOST, NULL);
		return;
	}
	/* the apply (the last without keys) or the defer behind it */
	if (job->queued != NULL && (next == CASES_APPLY || next == CASES_DEFER))
		job->queued(job->arg);
}

/* After the histories (and their context) are in memory: evaluate, then apply. */
static bool
cases_ready(struct cases_job *job)
{
	if (!cases_evaluate_all(job))
		return false;
	job->step = CASES_APPLY;
	return true;
}

/* What follows a step that succeeded; false when the job is complete. */
static bool
cases_advance(struct cases_job *job, const PGresult *res)
{
	bool failed;

	switch (job->step) {
	case CASES_LOOSE:
		if (refdata_rules(job->rd) == NULL || !event_pool_load(&job->groups, res, true))
			return false;
		if (job->after_loose == CASES_APPLY)
			return cases_ready(job);
		job->step = job->after_loose;
		return true;
	case CASES_LOCK:
		job->step = CASES_LOAD;
		return true;
	case CASES_LOAD:
		if (refdata_rules(job->rd) == NULL) {
			log_debug("no rules loaded yet: %d events left for the sweeper", PQntuples(res));
			return false;
		}
		if (!event_pool_load(&job->cases, res, false))
			return false;
		event_pool_number_cases(&job->cases);
		if ((job->subjects = context_query_json(job, &failed)) != NULL) {
			job->step = CASES_CONTEXT;
			return true;
		}
		return !failed && cases_ready(job);
	case CASES_CONTEXT:
		return event_pool_load(&job->context, res, true) && cases_ready(job);
	case CASES_APPLY:
		if (!job->dry_run) {   /* rolled back: no alert of it is ever seen */
			cases_log_alerts(res);
			cases_count_alerts(job, res);
		}
		if (job->nkeys == 0)
			return false;
		job->step = CASES_DEFER;
		return true;
	case CASES_DEFER:
		break;
	}
	return false;
}

static void
cases_on_result(const PGresult *res, void *arg)
{
	struct cases_job *job = arg;
	ExecStatusType st;

	job->step = job->inflight[0];
	memmove(job->inflight, job->inflight + 1, --job->ninflight * sizeof(job->inflight[0]));
	if (job->reported) {   /* sent ahead of an answer that ended the job */
		if (job->ninflight == 0)
			cases_job_free(job);
		return;
	}
	if (res == NULL) {
		cases_job_finish(job, CASES_LOST, NULL);
		return;
	}
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		cases_job_finish(job, CASES_FAILED, res);
		return;
	}
	if (!cases_advance(job, res))
		cases_job_finish(job, CASES_DONE, NULL);
	else if (job->ninflight == 0)
		cases_issue(job);
	/* else the next step went out with this one (cases_follower): its answer follows */
}

/* The loose corrections as CASES_LOOSE's parameter; job->corrections stays NULL when there
 * is none. False when out of memory. */
static bool
loose_corrections_json(struct cases_job *job)
{
	json_t *arr = json_array();
	size_t g = 0;

	for (size_t i = 0; arr != NULL && i < job->loose_count; i++) {
		const struct mon_event *ev = job->loose[i].event;

		if (ev->type == MON_EV_EVENT_CORRECTED &&
		    json_array_append_new(arr, json_pack("{s:I, s:s, s:s}", "g", (json_int_t)g++,
				"d", ev->dept, "i", ev->id)) != 0) {
			json_decref(arr);
			arr = NULL;
		}
	}
	if (arr != NULL && g > 0)
		job->corrections = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	return arr != NULL && (g == 0 || job->corrections != NULL);
}

void
cases_evaluate(struct db *db, const struct refdata *rd, struct metrics *metrics,
		const struct case_key *keys, size_t count, const struct mon_case_event *loose,
		size_t loose_count, int64_t now, int64_t lock_from, bool dry_run,
		cases_queued_cb *queued, cases_done_cb *done, void *arg)
{
	struct cases_job *job = calloc(1, sizeof(*job));
	size_t unique = 0;

	if (job == NULL || (job->keys = keys_json(keys, count, &unique)) == NULL ||
	    (loose_count > 0 && (job->loose = malloc(loose_count * sizeof(*loose))) == NULL)) {
		if (job != NULL)
			free(job->keys);
		free(job);
		log_warnx("cases: out of memory");
		done(CASES_LOST, NULL, arg);
		return;
	}
	if (loose_count > 0)
		memcpy(job->loose, loose, loose_count * sizeof(*loose));
	job->loose_count = loose_count;
	job->nkeys = count;
	snprintf(job->unique_text, sizeof(job->unique_text), "%zu", unique);
	job->db = db;
	job->rd = rd;
	job->metrics = metrics;
	job->now = now;
	job->dry_run = dry_run;
	mon_time_format(now, 0, job->now_text, sizeof(job->now_text));
	if (lock_from > 0)
		mon_time_format(lock_from, 0, job->from_text, sizeof(job->from_text));
	job->queued = queued;
	job->done = done;
	job->arg = arg;
	job->after_loose = count == 0 ? CASES_APPLY : lock_from > 0 ? CASES_LOCK : CASES_LOAD;
	if (!loose_corrections_json(job)) {
		log_warnx("cases: out of memory");
		cases_job_finish(job, CASES_LOST, NULL);
		return;
	}
	if (job->corrections != NULL) {
		/* first the corrected events without a case, with their corrections */
		job->step = CASES_LOOSE;
	} else if (count == 0) {
		/* nothing to lock or load: judge the loose events and apply */
		if (refdata_rules(rd) == NULL || !cases_ready(job)) {
			cases_job_finish(job, CASES_DONE, NULL);
			return;
		}
	} else {
		job->step = job->after_loose;
	}
	cases_issue(job);
}
