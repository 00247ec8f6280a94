/* cases.c: load, evaluate, apply, on rows the caller locked. One small state machine per
 * job on the caller's connection. Statements whose successor needs nothing from their answer
 * go out with it in one round trip (the connection's pipeline, db.c): ingest's INSERT with
 * the history's read (cases_read_ahead), the apply with the defer (and, through the queued
 * callback, the caller's COMMIT). */
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

/* The evaluations applied in one call (esup_apply_evaluations, schema/029: the quiet cases
 * set-based, the others one by one); each alert step, in the order it was taken, with the
 * evaluation it comes from and the alert's subject for its log line (ALERT_SUBJECT_SQL) from
 * the key of the condition the step is about. A step whose condition is gone (resolved,
 * corrected, superseded) has no key here: its line names the case, or for a caseless alert
 * only the department and the alert's id. */
static const char cases_apply_sql[] =
	"SELECT r.alert_id, r.action, r.rule, r.severity, x->>'dept', x->>'case', r.message, "
	ALERT_SUBJECT_SQL("x->>'case'",
	"(SELECT c->>'key' FROM jsonb_array_elements(x->'conditions') c"
	"  WHERE c->>'rule' = r.rule AND c->>'message' = r.message LIMIT 1)")
	" FROM esup_apply_evaluations($1::jsonb, $2::timestamptz) WITH ORDINALITY"
	"  AS r (n, alert_id, action, rule, severity, message, step)"
	" JOIN jsonb_array_elements($1::jsonb) WITH ORDINALITY AS v (x, n) ON v.n = r.n"
	" ORDER BY r.step";

/* The cases that were not evaluated (a refused history, or no event left to load; $1, $3
 * their number as in cases_load_sql) are looked at again in an hour: not at every sweep, where
 * they would hold back the cases behind them, and not only at their last next check, which
 * judged fewer events (ingest's lock leaves an existing row's next check as it was). Every
 * such case is due or has events just stored (the sweeper's and ingest's keys). An evaluated
 * case's next check is written by the apply, so the defer is sent only when a case was not
 * evaluated (cases_deferred_json). */
static const char cases_defer_sql[] =
	"UPDATE cases SET next_check_at = $2::timestamptz + interval '1 hour'"
	" WHERE (dept, case_no) IN (SELECT r.d, r.c FROM jsonb_to_recordset($1::jsonb) AS r(d text, c text)"
	"  LIMIT $3::bigint)";

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

/* The steps in the order they run: the cases' histories, the cross-case context when a rule
 * needs one, the corrected events without a case, then the apply and the defer. */
enum cases_step { CASES_LOAD, CASES_CONTEXT, CASES_LOOSE, CASES_APPLY, CASES_DEFER };

struct cases_job {
	struct db *db;
	const struct refdata *rd;
	enum cases_step step;
	bool dry_run;        /* the transaction will be rolled back: log and count nothing */
	int64_t now;
	char now_text[40];
	char *keys;          /* jsonb [{"d","c"}] */
	struct case_key *sorted;  /* the keys, sorted and without repeats: unique_text of them */
	char *subjects;      /* jsonb [{"g","k","s","d","c","lo","hi"}]: what the context query looks for */
	size_t nkeys;
	char unique_text[24];  /* how many keys are in keys (without repeats): the LIMIT that
	                        * gives the planner their number (cases_load_sql) */
	char *evaluations;   /* jsonb [evaluation] */
	char *deferred;      /* jsonb [{"d","c"}]: the keys not evaluated, for CASES_DEFER; NULL
	                      * when every case was */
	char deferred_text[24];  /* how many */
	struct event_pool cases;     /* the cases' own events, grouped by case */
	struct event_pool context;   /* other cases' events about the same parties, by group */
	struct mon_case_event *loose;  /* events without a case, owned by the caller */
	size_t loose_count;
	char *corrections;   /* jsonb [{"g","d","i"}]: the loose corrections, for CASES_LOOSE */
	struct event_pool groups;    /* corrected events without a case with their corrections,
	                              * by group */
	bool ahead;                  /* read ahead (cases_read_ahead): the history's read went out
	                              * for more keys than are evaluated; their rows are dropped */
	cases_queued_cb *queued;     /* may be NULL */
	cases_done_cb *done;         /* NULL until a read-ahead job is resumed */
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

/* Sets the job's keys: sorted and without repeats (job->sorted), and as jsonb [{"d","c"}]
 * (job->keys) with their number (nkeys, unique_text). False when out of memory. */
static bool
cases_job_keys(struct cases_job *job, const struct case_key *keys, size_t count)
{
	struct case_key *sorted = malloc((count ? count : 1) * sizeof(*sorted));
	json_t *arr = json_array();
	size_t n = 0;

	free(job->keys);
	free(job->sorted);
	job->keys = NULL;
	job->sorted = sorted;
	if (sorted != NULL && arr != NULL) {
		memcpy(sorted, keys, count * sizeof(*sorted));
		qsort(sorted, count, sizeof(*sorted), case_key_compare);
		for (size_t i = 0; i < count; i++) {
			if (n > 0 && case_key_compare(&sorted[n - 1], &sorted[i]) == 0)
				continue;
			sorted[n++] = sorted[i];
			json_array_append_new(arr, json_pack("{s:s, s:s}", "d", sorted[i].dept,
				"c", sorted[i].case_no));
		}
		if (json_array_size(arr) == n)
			job->keys = json_dumps(arr, JSON_COMPACT);
	}
	json_decref(arr);
	job->nkeys = n;
	snprintf(job->unique_text, sizeof(job->unique_text), "%zu", n);
	return job->keys != NULL;
}

static void event_pool_finish(struct event_pool *pool);

static void
cases_job_free(struct cases_job *job)
{
	free(job->keys);
	free(job->sorted);
	free(job->subjects);
	free(job->evaluations);
	free(job->deferred);
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
 * `esupctl eval` prints it), instants at +08:00 (the raise step's note shows the condition's
 * `since` as it comes: Asia/Shanghai, as people read times), and the rules switched off
 * (borrowed). */
static json_t *
evaluation_json(const struct mon_evaluation *ev, json_t *disabled)
{
	json_t *obj = mon_evaluation_json(ev, MON_SHANGHAI_OFFSET_MIN);

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

/* The index of ev's case among the job's sorted keys; SIZE_MAX when it is not one of them. */
static size_t
cases_job_key_index(const struct cases_job *job, const struct mon_event *ev)
{
	struct case_key key;
	const struct case_key *found;

	memcpy(key.dept, ev->dept, sizeof(key.dept));
	memcpy(key.case_no, ev->case_no, sizeof(key.case_no));
	found = bsearch(&key, job->sorted, job->nkeys, sizeof(key), case_key_compare);
	return found != NULL ? (size_t)(found - job->sorted) : SIZE_MAX;
}

/* Drops the rows of cases not among the job's keys: a history read ahead for a case whose
 * events turned out to be stored already (cases_read_ahead). */
static void
event_pool_keep_cases(struct event_pool *pool, const struct cases_job *job)
{
	size_t n = 0;

	for (size_t i = 0; i < pool->count; i++) {
		if (cases_job_key_index(job, &pool->items[i].event) == SIZE_MAX)
			mon_event_finish(&pool->items[i].event);
		else
			pool->items[n++] = pool->items[i];
	}
	pool->count = n;
}

/* Appends the evaluation of items (one case, or an event without a case) to evaluations;
 * one libmonitor cannot evaluate is logged and left out (its case deferred). False when out
 * of memory; *evaluated (may be NULL) tells whether it went in. */
static bool
append_evaluation(const struct mon_ruleset *rs, const struct mon_case_event *items, size_t n,
		int64_t now, json_t *disabled, json_t *evaluations, bool *evaluated)
{
	struct mon_evaluation ev;
	struct mon_error err = { .field = "" };
	const struct mon_event *first = items[0].event;
	bool ok;

	if (mon_case_evaluate(rs, items, n, now, &ev, &err)) {
		ok = json_array_append_new(evaluations, evaluation_json(&ev, disabled)) == 0;
		mon_evaluation_finish(&ev);
		if (evaluated != NULL)
			*evaluated = ok;
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
		size_t end, size_t cfirst, size_t cend, json_t *disabled, json_t *evaluations,
		bool *evaluated)
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
	ok = ok && append_evaluation(rs, items, n, job->now, disabled, evaluations, evaluated);
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
			append_evaluation(rs, items, n, job->now, disabled, evaluations, NULL);
		n = 0;
	}
	free(items);
	return true;
}

/* The keys of the cases that were not evaluated (no event left to load, or libmonitor
 * refused the history), as the defer's parameter; job->deferred stays NULL when every case
 * was. False when out of memory. */
static bool
cases_deferred_json(struct cases_job *job, const bool *evaluated)
{
	json_t *arr = json_array();
	size_t n = 0;

	for (size_t i = 0; arr != NULL && i < job->nkeys; i++) {
		if (evaluated[i])
			continue;
		if (json_array_append_new(arr, json_pack("{s:s, s:s}", "d", job->sorted[i].dept,
				"c", job->sorted[i].case_no)) != 0) {
			json_decref(arr);
			arr = NULL;
		}
		n++;
	}
	if (arr != NULL && n > 0) {
		job->deferred = json_dumps(arr, JSON_COMPACT);
		snprintf(job->deferred_text, sizeof(job->deferred_text), "%zu", n);
	}
	json_decref(arr);
	return arr != NULL && (n == 0 || job->deferred != NULL);
}

static bool
cases_evaluate_all(struct cases_job *job)
{
	const struct mon_ruleset *rs = refdata_rules(job->rd);
	json_t *evaluations = json_array(), *disabled = disabled_json(rs);
	const struct event_pool *cases = &job->cases, *ctx = &job->context;
	size_t cfirst = 0, cend = 0;
	bool *evaluated = calloc(job->nkeys ? job->nkeys : 1, sizeof(*evaluated));
	bool ok = evaluations != NULL && disabled != NULL && evaluated != NULL;

	for (size_t first = 0, i = 1; ok && first < cases->count; i++) {
		size_t group = cases->items[first].group;
		size_t k;
		bool done = false;

		if (i < cases->count && cases->items[i].group == group)
			continue;
		/* The context rows come ordered by group, as the cases do. */
		for (cfirst = cend; cfirst < ctx->count && ctx->items[cfirst].group < group; cfirst++)
			;
		for (cend = cfirst; cend < ctx->count && ctx->items[cend].group == group; cend++)
			;
		ok = evaluate_case(job, rs, first, i, cfirst, cend, disabled, evaluations, &done);
		k = cases_job_key_index(job, &cases->items[first].event);
		if (k != SIZE_MAX && done)
			evaluated[k] = true;
		first = i;
	}
	ok = ok && cases_deferred_json(job, evaluated);
	free(evaluated);
	/* Events without a case are judged one by one; a corrected one with its corrections. */
	ok = ok && evaluate_groups(job, rs, disabled, evaluations);
	for (size_t i = 0; ok && i < job->loose_count; i++)
		if (!in_group(&job->groups, job->loose[i].event))
			ok = append_evaluation(rs, &job->loose[i], 1, job->now, disabled, evaluations,
				NULL);
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

/* Queues step's statement; flags as db_query_ex's (DB_CHAINED: in the segment of the
 * statement queued just before, run only if that one succeeds). */
static bool
cases_send(struct cases_job *job, enum cases_step step, unsigned flags)
{
	static const char *const sql[] = {
		[CASES_LOAD] = cases_load_sql, [CASES_CONTEXT] = cases_context_sql,
		[CASES_LOOSE] = cases_loose_sql, [CASES_APPLY] = cases_apply_sql,
		[CASES_DEFER] = cases_defer_sql,
	};
	/* Prepared once per session (db_query_named): the steps whose plan is the same whatever
	 * the tables hold (the history's read is a call of esup_case_events, which keeps its own
	 * plan). The context's read of events and the defer's UPDATE of cases stay unnamed and
	 * are planned at each run: a generic plan made while a partition was small (a hash join
	 * over sequential scans) was kept until autovacuum analyzed it, reading the whole
	 * partition for every batch meanwhile. */
	static const char *const name[CASES_DEFER + 1] = {
		[CASES_LOAD] = "cases_load", [CASES_APPLY] = "cases_apply",
	};
	const char *values[3] = { job->keys, job->now_text, job->unique_text };
	int nparams = 2;

	switch (step) {
	case CASES_LOAD:
		values[1] = job->unique_text;
		break;
	case CASES_CONTEXT:
		values[0] = job->subjects;
		nparams = 1;
		break;
	case CASES_LOOSE:
		values[0] = job->corrections;
		nparams = 1;
		break;
	case CASES_APPLY:
		values[0] = job->evaluations;
		break;
	case CASES_DEFER:
		values[0] = job->deferred;   /* the time; the keys' number, like CASES_LOAD */
		values[2] = job->deferred_text;
		nparams = 3;
		break;
	}
	if (job->ninflight == sizeof(job->inflight) / sizeof(job->inflight[0]) ||
	    !db_query_ex(job->db, name[step], sql[step], nparams, values, flags, cases_on_result,
		    job))
		return false;
	job->inflight[job->ninflight++] = step;
	return true;
}

/* Issues the job's current step; the defer, when a case was not evaluated, goes out with
 * the apply, chained to it (it needs only the apply done; after an apply that failed it does
 * not run). Once the job's last statement is queued, the caller hears it (queued) and may
 * chain its own behind it: one segment, one write to the server (libpq flushes at each
 * segment's Sync, and the server, woken by the first write, would otherwise run the first
 * statement while the second waits for this process to be scheduled again). */
static void
cases_issue(struct cases_job *job)
{
	enum cases_step step = job->step;
	bool defer = step == CASES_APPLY && job->deferred != NULL;

	if (!cases_send(job, step, 0) || (defer && !cases_send(job, CASES_DEFER, DB_CHAINED))) {
		cases_job_finish(job, CASES_LOST, NULL);
		return;
	}
	if (job->queued != NULL && step == CASES_APPLY)
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

/* After the cases' own events and their context: the corrected events without a case, or
 * the evaluation. */
static bool
cases_after_cases(struct cases_job *job)
{
	if (job->corrections != NULL) {
		job->step = CASES_LOOSE;
		return true;
	}
	return cases_ready(job);
}

/* What follows a step that succeeded; false when the job is complete. */
static bool
cases_advance(struct cases_job *job, const PGresult *res)
{
	bool failed;

	switch (job->step) {
	case CASES_LOAD:
		if (refdata_rules(job->rd) == NULL) {
			log_debug("no rules loaded yet: %d events left for the sweeper", PQntuples(res));
			return false;
		}
		if (!event_pool_load(&job->cases, res, false))
			return false;
		if (job->ahead)
			event_pool_keep_cases(&job->cases, job);
		event_pool_number_cases(&job->cases);
		if ((job->subjects = context_query_json(job, &failed)) != NULL) {
			job->step = CASES_CONTEXT;
			return true;
		}
		return !failed && cases_after_cases(job);
	case CASES_CONTEXT:
		return event_pool_load(&job->context, res, true) && cases_after_cases(job);
	case CASES_LOOSE:
		if (refdata_rules(job->rd) == NULL || !event_pool_load(&job->groups, res, true))
			return false;
		return cases_ready(job);
	case CASES_APPLY:
		if (!job->dry_run) {   /* rolled back: no alert of it is ever seen */
			cases_log_alerts(res);
			cases_count_alerts(job, res);
		}
		if (job->deferred == NULL)
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
	if (job->reported || job->done == NULL) {
		/* sent ahead of an answer that ended the job, or read ahead for a caller that
		 * never resumed it (cases_resume must come first: a bug, but no leak) */
		if (job->done == NULL && !job->reported)
			log_warnx("cases: a history read ahead was neither resumed nor dropped");
		job->reported = true;
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
	/* else the defer went out with the apply: its answer follows */
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

static struct cases_job *
cases_job_new(struct db *db, const struct refdata *rd, const struct case_key *keys,
		size_t count, int64_t now)
{
	struct cases_job *job = calloc(1, sizeof(*job));

	if (job == NULL)
		return NULL;
	if (!cases_job_keys(job, keys, count)) {
		cases_job_free(job);
		return NULL;
	}
	job->db = db;
	job->rd = rd;
	job->now = now;
	mon_time_format(now, 0, job->now_text, sizeof(job->now_text));
	return job;
}

/* Hands the job its caller (done is set even when this fails); false when out of memory. */
static bool
cases_job_caller(struct cases_job *job, struct metrics *metrics,
		const struct mon_case_event *loose, size_t loose_count, bool dry_run,
		cases_queued_cb *queued, cases_done_cb *done, void *arg)
{
	job->metrics = metrics;
	job->dry_run = dry_run;
	job->queued = queued;
	job->done = done;
	job->arg = arg;
	if (loose_count > 0) {
		if ((job->loose = malloc(loose_count * sizeof(*loose))) == NULL)
			return false;
		memcpy(job->loose, loose, loose_count * sizeof(*loose));
	}
	job->loose_count = loose_count;
	return loose_corrections_json(job);
}

void
cases_evaluate(struct db *db, const struct refdata *rd, struct metrics *metrics,
		const struct case_key *keys, size_t count, const struct mon_case_event *loose,
		size_t loose_count, int64_t now, bool dry_run,
		cases_queued_cb *queued, cases_done_cb *done, void *arg)
{
	struct cases_job *job = cases_job_new(db, rd, keys, count, now);

	if (job == NULL || !cases_job_caller(job, metrics, loose, loose_count, dry_run,
			queued, done, arg)) {
		if (job != NULL)
			cases_job_free(job);
		log_warnx("cases: out of memory");
		done(CASES_LOST, NULL, arg);
		return;
	}
	if (job->nkeys > 0) {
		job->step = CASES_LOAD;
	} else if (job->corrections != NULL) {
		/* no case: the corrected events without a case, with their corrections */
		job->step = CASES_LOOSE;
	} else if (refdata_rules(rd) == NULL || !cases_ready(job)) {
		/* nothing to load: judge the loose events and apply */
		cases_job_finish(job, CASES_DONE, NULL);
		return;
	}
	cases_issue(job);
}

struct cases_job *
cases_read_ahead(struct db *db, const struct refdata *rd, const struct case_key *keys,
		size_t count, int64_t now)
{
	struct cases_job *job = count > 0 ? cases_job_new(db, rd, keys, count, now) : NULL;

	if (job == NULL)
		return NULL;
	job->ahead = true;
	if (!cases_send(job, CASES_LOAD, DB_CHAINED)) {
		cases_job_free(job);
		return NULL;
	}
	return job;
}

void
cases_resume(struct cases_job *job, struct metrics *metrics, const struct case_key *keys,
		size_t count, const struct mon_case_event *loose, size_t loose_count, bool dry_run,
		cases_queued_cb *queued, cases_done_cb *done, void *arg)
{
	/* the caller hears of a failure through done, once its read has answered */
	bool ok = cases_job_caller(job, metrics, loose, loose_count, dry_run, queued, done, arg);

	if (!ok || !cases_job_keys(job, keys, count)) {
		log_warnx("cases: out of memory");
		job->queued = NULL;
		cases_job_finish(job, CASES_LOST, NULL);
	}
	/* the read's answer continues the job (cases_on_result) */
}

void
cases_drop(struct cases_job *job)
{
	if (job == NULL)
		return;
	job->reported = true;
	if (job->ninflight == 0)
		cases_job_free(job);
}
