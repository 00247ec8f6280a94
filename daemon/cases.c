/* cases.c: lock, load, evaluate, apply. One small state machine per job, one statement at a
 * time on the caller's connection. */
#include "cases.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "db.h"
#include "log.h"
#include "mon_rules.h"
#include "mon_value.h"
#include "refdata.h"

/* Creates missing case rows and locks them all, in (dept, case) order so that concurrent
 * writers wait on each other instead of deadlocking; due now until evaluated. */
static const char cases_lock_sql[] =
	"INSERT INTO cases AS k (dept, case_no, next_check_at)"
	" SELECT r.d, r.c, $2::timestamptz FROM jsonb_to_recordset($1::jsonb) AS r(d text, c text)"
	" ORDER BY r.d, r.c"
	" ON CONFLICT (dept, case_no) DO UPDATE SET next_check_at = EXCLUDED.next_check_at";

static const char cases_load_sql[] =
	"SELECT e.dept, e.case_no, e.body::text, floor(extract(epoch FROM e.received_at))::bigint"
	" FROM events e JOIN jsonb_to_recordset($1::jsonb) AS r(d text, c text)"
	"  ON e.dept = r.d AND e.case_no = r.c"
	" ORDER BY e.dept, e.case_no, e.seq";

static const char cases_apply_sql[] =
	"SELECT r.alert_id, r.action, r.rule, r.severity, x->>'dept', x->>'case', r.message"
	" FROM jsonb_array_elements($1::jsonb) AS x,"
	"  LATERAL esup_apply_evaluation(x, $2::timestamptz) AS r";

/* A case that could not be evaluated is looked at again later, not at every sweep. */
static const char cases_defer_sql[] =
	"UPDATE cases SET next_check_at = $2::timestamptz + interval '1 hour'"
	" WHERE (dept, case_no) IN (SELECT r.d, r.c FROM jsonb_to_recordset($1::jsonb) AS r(d text, c text))";

enum cases_step { CASES_LOCK, CASES_LOAD, CASES_APPLY, CASES_DEFER };

struct cases_job {
	struct db *db;
	const struct refdata *rd;
	enum cases_step step;
	int64_t now;
	char now_text[40];
	char *keys;          /* jsonb [{"d","c"}] */
	char *evaluations;   /* jsonb [evaluation] */
	char *deferred;      /* jsonb [{"d","c"}] of cases that could not be evaluated */
	cases_done_cb *done;
	void *arg;
};

static int
case_key_compare(const void *a, const void *b)
{
	const struct case_key *x = a, *y = b;
	int c = strcmp(x->dept, y->dept);

	return c ? c : strcmp(x->case_no, y->case_no);
}

static char *
keys_json(const struct case_key *keys, size_t count)
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
	}
	json_decref(arr);
	free(sorted);
	return text;
}

static void
cases_job_finish(struct cases_job *job, enum cases_outcome outcome, const PGresult *error)
{
	cases_done_cb *done = job->done;
	void *arg = job->arg;

	free(job->keys);
	free(job->evaluations);
	free(job->deferred);
	free(job);
	done(outcome, error, arg);
}

static json_t *
day_json(int32_t day)
{
	char buf[16];

	if (day < 0)
		return json_null();
	mon_day_format(day, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *
time_json(int64_t t)
{
	char buf[40];

	if (t == INT64_MAX)
		return json_null();
	mon_time_format(t, 0, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *
condition_json(const struct mon_condition *c)
{
	json_t *evidence = json_array();

	for (size_t i = 0; i < c->evidence_count; i++)
		json_array_append_new(evidence, json_string(c->evidence[i]));
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:o}", "rule", c->rule,
		"severity", mon_severity_name(c->severity), "key", c->key, "supersedes", c->supersedes,
		"since", time_json(c->since), "message", c->message, "evidence", evidence);
}

/* The evaluation in the shape esup_apply_evaluation() reads. */
static json_t *
evaluation_json(const struct mon_evaluation *ev)
{
	const struct mon_case_state *s = &ev->state;
	json_t *conditions = json_array();

	for (size_t i = 0; i < ev->count; i++)
		json_array_append_new(conditions, condition_json(&ev->conditions[i]));
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:o, s:o, s:o, s:o, s:o}",
		"dept", s->dept, "case", s->case_no, "item", s->item,
		"status", mon_case_status_name(s->status),
		"unit", s->unit == MON_UNIT_CALENDAR ? "calendar" : "working",
		"committed_days", s->committed_days, "statutory_days", s->statutory_days,
		"counted_days", s->counted_days, "suspended_days", s->suspended_days,
		"committed_day", day_json(s->committed_day), "statutory_day", day_json(s->statutory_day),
		"level", s->has_level ? json_string(mon_severity_name(s->level)) : json_null(),
		"next_check", time_json(s->next_check), "conditions", conditions);
}

/* The stored events of one case, parsed back into libmonitor's model. */
struct case_history {
	size_t count;
	struct mon_event *events;
	struct mon_case_event *items;
};

static void
case_history_finish(struct case_history *h)
{
	for (size_t i = 0; i < h->count; i++)
		mon_event_finish(&h->events[i]);
	free(h->events);
	free(h->items);
}

static bool
case_history_load(struct case_history *h, const PGresult *res, int first, int end)
{
	size_t n = (size_t)(end - first);

	h->count = 0;
	h->events = calloc(n, sizeof(*h->events));
	h->items = calloc(n, sizeof(*h->items));
	if (h->events == NULL || h->items == NULL)
		return false;
	for (int row = first; row < end; row++) {
		json_error_t jerr;
		struct mon_error err;
		json_t *body = json_loads(PQgetvalue(res, row, 2), JSON_REJECT_DUPLICATES, &jerr);
		bool ok = body != NULL && mon_event_from_json(body, &h->events[h->count], &err);

		json_decref(body);
		if (!ok) {
			/* Stored events were valid when stored; a stricter build may disagree. */
			log_warnx("case %s/%s: stored event no longer valid; left out of the evaluation",
				PQgetvalue(res, row, 0), PQgetvalue(res, row, 1));
			continue;
		}
		h->items[h->count].event = &h->events[h->count];
		h->items[h->count].received_at = strtoll(PQgetvalue(res, row, 3), NULL, 10);
		h->count++;
	}
	return true;
}

/* Evaluates the rows [first, end) of one case; appends to evaluations or to deferred. */
static void
cases_evaluate_one(const struct cases_job *job, const struct mon_ruleset *rs, const PGresult *res,
		int first, int end, json_t *evaluations, json_t *deferred)
{
	struct case_history h;
	struct mon_evaluation ev;
	struct mon_error err = { .field = "" };
	bool ok = case_history_load(&h, res, first, end) && h.count > 0 &&
		mon_case_evaluate(rs, h.items, h.count, job->now, &ev, &err);

	if (ok) {
		json_array_append_new(evaluations, evaluation_json(&ev));
		mon_evaluation_finish(&ev);
	} else {
		log_warnx("case %s/%s not evaluated (%s %s); deferred", PQgetvalue(res, first, 0),
			PQgetvalue(res, first, 1), err.field, err.expected);
		json_array_append_new(deferred, json_pack("{s:s, s:s}", "d", PQgetvalue(res, first, 0),
			"c", PQgetvalue(res, first, 1)));
	}
	case_history_finish(&h);
}

static bool
cases_evaluate_rows(struct cases_job *job, const PGresult *res)
{
	const struct mon_ruleset *rs = refdata_rules(job->rd);
	json_t *evaluations = json_array(), *deferred = json_array();
	int rows = PQntuples(res), first = 0;

	for (int row = 1; row <= rows; row++) {
		if (row < rows && strcmp(PQgetvalue(res, row, 0), PQgetvalue(res, first, 0)) == 0 &&
		    strcmp(PQgetvalue(res, row, 1), PQgetvalue(res, first, 1)) == 0)
			continue;
		if (first < rows)
			cases_evaluate_one(job, rs, res, first, row, evaluations, deferred);
		first = row;
	}
	job->evaluations = json_dumps(evaluations, JSON_COMPACT);
	job->deferred = json_array_size(deferred) ? json_dumps(deferred, JSON_COMPACT) : NULL;
	json_decref(evaluations);
	json_decref(deferred);
	return job->evaluations != NULL;
}

static void
cases_log_alerts(const PGresult *res)
{
	for (int row = 0; row < PQntuples(res); row++)
		log_info("alert %s: #%s %s %s %s/%s: %s", PQgetvalue(res, row, 1),
			PQgetvalue(res, row, 0), PQgetvalue(res, row, 3), PQgetvalue(res, row, 2),
			PQgetvalue(res, row, 4), PQgetvalue(res, row, 5), PQgetvalue(res, row, 6));
}

static void cases_on_result(const PGresult *res, void *arg);

static void
cases_issue(struct cases_job *job)
{
	static const char *const sql[] = {
		[CASES_LOCK] = cases_lock_sql, [CASES_LOAD] = cases_load_sql,
		[CASES_APPLY] = cases_apply_sql, [CASES_DEFER] = cases_defer_sql,
	};
	const char *values[2] = { job->keys, job->now_text };
	int nparams = 2;

	if (job->step == CASES_LOAD)
		nparams = 1;
	else if (job->step == CASES_APPLY)
		values[0] = job->evaluations;
	else if (job->step == CASES_DEFER)
		values[0] = job->deferred;
	if (!db_query(job->db, sql[job->step], nparams, values, cases_on_result, job))
		cases_job_finish(job, CASES_LOST, NULL);
}

/* What follows a step that succeeded; false when the job is complete. */
static bool
cases_advance(struct cases_job *job, const PGresult *res)
{
	switch (job->step) {
	case CASES_LOCK:
		job->step = CASES_LOAD;
		return true;
	case CASES_LOAD:
		if (refdata_rules(job->rd) == NULL) {
			log_debug("no rules loaded yet: %d events left for the sweeper", PQntuples(res));
			return false;
		}
		if (!cases_evaluate_rows(job, res))
			return false;
		job->step = CASES_APPLY;
		return true;
	case CASES_APPLY:
		cases_log_alerts(res);
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

	if (res == NULL) {
		cases_job_finish(job, CASES_LOST, NULL);
		return;
	}
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		cases_job_finish(job, CASES_FAILED, res);
		return;
	}
	if (cases_advance(job, res))
		cases_issue(job);
	else
		cases_job_finish(job, CASES_DONE, NULL);
}

void
cases_evaluate(struct db *db, const struct refdata *rd, const struct case_key *keys,
		size_t count, int64_t now, bool lock, cases_done_cb *done, void *arg)
{
	struct cases_job *job = calloc(1, sizeof(*job));

	if (job == NULL || (job->keys = keys_json(keys, count)) == NULL) {
		free(job);
		log_warnx("cases: out of memory");
		done(CASES_LOST, NULL, arg);
		return;
	}
	job->db = db;
	job->rd = rd;
	job->now = now;
	mon_time_format(now, 0, job->now_text, sizeof(job->now_text));
	job->step = lock ? CASES_LOCK : CASES_LOAD;
	job->done = done;
	job->arg = arg;
	cases_issue(job);
}
