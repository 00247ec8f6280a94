/* stat_rules.c: the statistical rules' job: rollups in, libmonitor's judgment, alerts out. */
#include "stat_rules.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "alert.h"
#include "config.h"
#include "db.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "mon_stats.h"
#include "mon_value.h"

#define RETRY_S 60   /* after a failed round */

/* Per department over the window [$1, $2] and the baseline [$3, $1): decisions and those on
 * time, events and the late-reported, valid alerts (the statistical rules' own left out, so a
 * finding does not feed the next), net fees. */
static const char stat_depts_sql[] =
	"WITH c AS (SELECT dept, sum(decided) AS decided, sum(on_time_committed) AS on_time"
	"  FROM stat_case_day WHERE day BETWEEN $1::date AND $2::date GROUP BY dept),"
	" e AS (SELECT dept,"
	"  sum(events) FILTER (WHERE day >= $1::date) AS events,"
	"  sum(late_reported) FILTER (WHERE day >= $1::date) AS late,"
	"  sum(fees_collected_fen - fees_refunded_fen) FILTER (WHERE day >= $1::date) AS fees,"
	"  sum(fees_collected_fen - fees_refunded_fen) FILTER (WHERE day < $1::date) AS fees_base"
	"  FROM stat_event_day WHERE day BETWEEN $3::date AND $2::date GROUP BY dept),"
	" a AS (SELECT dept,"
	"  sum(valid) FILTER (WHERE day >= $1::date) AS alerts,"
	"  sum(valid) FILTER (WHERE day < $1::date) AS alerts_base"
	"  FROM stat_alert_day WHERE day BETWEEN $3::date AND $2::date AND rule NOT LIKE 'STA-%'"
	"  GROUP BY dept)"
	" SELECT dept, coalesce(c.decided, 0), coalesce(c.on_time, 0), coalesce(e.events, 0),"
	"  coalesce(e.late, 0), coalesce(a.alerts, 0), coalesce(a.alerts_base, 0),"
	"  coalesce(e.fees, 0), coalesce(e.fees_base, 0)"
	" FROM c FULL JOIN e USING (dept) FULL JOIN a USING (dept) ORDER BY dept";

/* Per enterprise and department over the dealing window [$1, $2]: working days of decided
 * cases plus inspections. Only enterprises whose total is above the target ($3) are read: the
 * others cannot be over it, and a city has many enterprises. One pass (the total is a window
 * sum over the grouped rows). */
static const char stat_dealings_sql[] =
	"SELECT applicant, dept, days FROM ("
	"  SELECT applicant, dept, sum(days_used_sum + inspections) AS days,"
	"   sum(sum(days_used_sum + inspections)) OVER (PARTITION BY applicant) AS total"
	"  FROM stat_enterprise_day WHERE day BETWEEN $1::date AND $2::date"
	"  GROUP BY applicant, dept) s"
	" WHERE total > $3::bigint ORDER BY applicant, dept";

/* Up to 8 events of the finding's department that illustrate it, latest first, for each
 * entry of $1 (i: the finding's index, r: rule, d: dept, a: applicant, lo/hi: the window as
 * instants, hi exclusive, h: late_report_hours). */
static const char stat_evidence_sql[] =
	"SELECT x.i, v.id FROM jsonb_to_recordset($1::jsonb)"
	"  AS x(i int, r text, d text, a text, lo timestamptz, hi timestamptz, h int)"
	" CROSS JOIN LATERAL ("
	"  SELECT e.event_id AS id, e.at FROM cases k JOIN events e"
	"   ON e.dept = k.dept AND e.case_no = k.case_no AND e.type = 'approval.decided'"
	"   WHERE x.r = 'STA-ONTIME-LOW' AND k.dept = x.d AND k.closed_at >= x.lo"
	"    AND k.closed_at < x.hi AND k.result IN ('approved', 'denied')"
	"    AND k.on_time_committed IS FALSE"
	"  UNION ALL"
	"  SELECT a.evidence->>0, a.raised_at FROM alerts a"
	"   WHERE x.r = 'STA-ALERTS-SPIKE' AND a.dept = x.d AND a.raised_at >= x.lo"
	"    AND a.raised_at < x.hi AND a.rule NOT LIKE 'STA-%' AND a.issued_at IS NOT NULL"
	"    AND a.status NOT IN ('revoked', 'dismissed', 'cancelled')"
	"    AND EXISTS (SELECT 1 FROM event_ids i WHERE i.dept = x.d AND i.event_id = a.evidence->>0)"
	"  UNION ALL"
	"  SELECT e.event_id, e.at FROM events e"
	"   WHERE x.r = 'STA-FEES-SPIKE' AND e.dept = x.d AND e.at >= x.lo AND e.at < x.hi"
	"    AND e.type = 'fee.collected'"
	"  UNION ALL"
	"  SELECT e.event_id, e.at FROM events e"
	"   WHERE x.r = 'STA-LATE-REPORTING' AND e.dept = x.d AND e.at >= x.lo AND e.at < x.hi"
	"    AND e.received_at - e.at > make_interval(hours => x.h)"
	"  UNION ALL"
	"  SELECT e.event_id, e.at FROM cases k JOIN events e"
	"   ON e.dept = k.dept AND e.case_no = k.case_no AND e.type = 'approval.decided'"
	"   WHERE x.r = 'STA-DEALING-DAYS' AND k.applicant = x.a AND k.dept = x.d"
	"    AND k.closed_at >= x.lo AND k.closed_at < x.hi AND k.result IN ('approved', 'denied')"
	"  UNION ALL"
	"  SELECT e.event_id, e.at FROM events e"
	"   WHERE x.r = 'STA-DEALING-DAYS' AND e.dept = x.d AND e.type = 'inspection.started'"
	"    AND esup_event_subject(e.type, e.body) = x.a AND e.at >= x.lo AND e.at < x.hi"
	"  ORDER BY 2 DESC LIMIT 8"
	" ) v ORDER BY x.i";

/* Each alert step, with the alert's subject for its log line (ALERT_SUBJECT_SQL; the key as
 * in daemon/cases.c's cases_apply_sql). */
static const char stat_apply_sql[] =
	"SELECT r.alert_id, r.action, r.rule, r.severity, x->>'dept', r.message, "
	ALERT_SUBJECT_SQL("''",
	"(SELECT c->>'key' FROM jsonb_array_elements(x->'conditions') c"
	"  WHERE c->>'rule' = r.rule AND c->>'message' = r.message LIMIT 1)")
	" FROM jsonb_array_elements($1::jsonb) AS x,"
	"  LATERAL esup_apply_evaluation(x, $2::timestamptz) AS r";

struct stat_rules {
	int64_t next_ms;              /* monotonic ms of the next round; 0: at the next tick */
	bool changed;                 /* the rules changed during the round: judge again */
	struct job *job;              /* the round in progress */
	struct mon_stats_windows w;
	char first[11], last[11], baseline_first[11], dealing_first[11];
	struct mon_stats_dept *depts;
	size_t dept_count;
	struct mon_stats_dealing *dealings;
	size_t dealing_count;
	struct mon_stats_result result;
	char *query;                  /* the evidence query's or the apply's JSON */
};

static int64_t
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
round_clear(struct stat_rules *st)
{
	free(st->depts);
	free(st->dealings);
	free(st->query);
	mon_stats_result_finish(&st->result);
	st->depts = NULL;
	st->dealings = NULL;
	st->query = NULL;
	st->dept_count = st->dealing_count = 0;
}

/* Ends the round; a failed one is tried again within a minute. */
static void
round_end(struct stat_rules *st, const char *failure, const PGresult *res)
{
	struct job *job = st->job;
	unsigned interval = job_config(job)->stat_interval_s;

	if (failure != NULL && interval > RETRY_S)
		interval = RETRY_S;
	st->next_ms = st->changed ? 0 : monotonic_ms() + (int64_t)interval * 1000;
	st->changed = false;
	round_clear(st);
	st->job = NULL;
	job_done(job, false, failure, res);
}

void *
stat_rules_create(void)
{
	return calloc(1, sizeof(struct stat_rules));
}

void
stat_rules_destroy(void *state)
{
	struct stat_rules *st = state;

	if (st == NULL)
		return;
	round_clear(st);
	free(st);
}

void
stat_rules_changed(void *state)
{
	struct stat_rules *st = state;

	if (st->job != NULL)
		st->changed = true;
	else
		st->next_ms = 0;
}

static void stat_on_depts(const PGresult *res, void *arg);
static void stat_on_dealings(const PGresult *res, void *arg);
static void stat_on_evidence(const PGresult *res, void *arg);
static void stat_on_apply(const PGresult *res, void *arg);

void
stat_rules_run(struct job *job)
{
	struct stat_rules *st = job_state(job);
	const char *values[3];

	if (st->next_ms != 0 && monotonic_ms() < st->next_ms) {
		job_done(job, false, NULL, NULL);
		return;
	}
	st->job = job;
	mon_stats_windows(job_rules(job), job_now(job), &st->w);
	mon_day_format(st->w.first, st->first, sizeof(st->first));
	mon_day_format(st->w.last, st->last, sizeof(st->last));
	mon_day_format(st->w.baseline_first, st->baseline_first, sizeof(st->baseline_first));
	mon_day_format(st->w.dealing_first, st->dealing_first, sizeof(st->dealing_first));
	values[0] = st->first;
	values[1] = st->last;
	values[2] = st->baseline_first;
	if (!db_query(job_db(job), stat_depts_sql, 3, values, stat_on_depts, st))
		round_end(st, "reading the departments' figures", NULL);
}

/* One row of stat_depts_sql into d; false when a value is unusable. */
static bool
dept_from_row(const PGresult *res, int row, struct mon_stats_dept *d)
{
	int64_t *fields[] = { &d->decided, &d->on_time, &d->events, &d->late_reported, &d->alerts,
		&d->alerts_baseline, &d->fees_net_fen, &d->fees_net_baseline_fen };
	const char *dept = PQgetvalue(res, row, 0);
	struct mon_error err;

	if (strlen(dept) > MON_CODE_MAX)
		return false;
	snprintf(d->dept, sizeof(d->dept), "%s", dept);
	for (int i = 0; i < 8; i++)
		if (!db_value_i64(PQgetvalue(res, row, i + 1), fields[i]))
			return false;
	return mon_stats_dept_valid(d, &err);
}

static void
stat_on_depts(const PGresult *res, void *arg)
{
	struct stat_rules *st = arg;
	int rows = res != NULL ? PQntuples(res) : 0;
	char target[24];
	const char *values[3] = { st->dealing_first, st->last, target };
	long long days = 0;

	if (!job_result_ok(res)) {
		round_end(st, "reading the departments' figures", res);
		return;
	}
	st->depts = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*st->depts));
	if (st->depts == NULL) {
		round_end(st, "reading the departments' figures (out of memory)", NULL);
		return;
	}
	for (int row = 0; row < rows; row++) {
		if (dept_from_row(res, row, &st->depts[st->dept_count]))
			st->dept_count++;
		else
			log_warnx("stat-rules: department %s: unusable figures; left out",
				PQgetvalue(res, row, 0));
	}
	if (!mon_ruleset_get_param(job_rules(st->job), "dealing_days_target", &days))
		days = 0;
	snprintf(target, sizeof(target), "%lld", days);
	if (!db_query(job_db(st->job), stat_dealings_sql, 3, values, stat_on_dealings, st))
		round_end(st, "reading the enterprises' dealing days", NULL);
}

static bool
dealings_load(struct stat_rules *st, const PGresult *res)
{
	int rows = PQntuples(res);

	st->dealings = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*st->dealings));
	if (st->dealings == NULL)
		return false;
	for (int row = 0; row < rows; row++) {
		struct mon_stats_dealing *r = &st->dealings[st->dealing_count];
		const char *applicant = PQgetvalue(res, row, 0), *dept = PQgetvalue(res, row, 1);

		struct mon_error err;

		snprintf(r->applicant, sizeof(r->applicant), "%s", applicant);
		snprintf(r->dept, sizeof(r->dept), "%s", dept);
		if (strlen(applicant) > MON_CODE_MAX || strlen(dept) > MON_CODE_MAX ||
		    !db_value_i64(PQgetvalue(res, row, 2), &r->days) || !mon_stats_dealing_valid(r, &err)) {
			log_warnx("stat-rules: enterprise %s: unusable figures; left out", applicant);
			continue;
		}
		st->dealing_count++;
	}
	return true;
}

static void
round_log(const struct stat_rules *st, int raised)
{
	log_info("stat-rules: as of %s, window %s..%s: %zu departments and %zu enterprises "
		"judged, %zu findings, %d alerts raised", job_now_text(st->job), st->first, st->last,
		st->dept_count, st->dealing_count, st->result.count, raised);
}

static char *
time_text(int64_t t, char *buf, size_t len)
{
	mon_time_format(t, 0, buf, len);
	return buf;
}

/* What the evidence query looks for, one entry per finding (see stat_evidence_sql). */
static char *
evidence_query_json(const struct stat_rules *st, int late_hours)
{
	json_t *arr = json_array();
	char lo[40], dealing_lo[40], hi[40];
	char *text = NULL;

	time_text(mon_day_end(st->w.first - 1), lo, sizeof(lo));
	time_text(mon_day_end(st->w.dealing_first - 1), dealing_lo, sizeof(dealing_lo));
	time_text(mon_day_end(st->w.last), hi, sizeof(hi));
	for (size_t i = 0; arr != NULL && i < st->result.count; i++) {
		const struct mon_stats_condition *c = &st->result.items[i];
		bool dealing = strcmp(c->condition.rule, "STA-DEALING-DAYS") == 0;
		/* The dealing key is RULE|applicant|year. */
		const char *applicant = dealing ? strchr(c->condition.key, '|') + 1 : "";
		char uscc[MON_CODE_MAX + 1];

		snprintf(uscc, sizeof(uscc), "%.*s", (int)strcspn(applicant, "|"), applicant);
		if (json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:i}",
				"i", (json_int_t)i, "r", c->condition.rule, "d", c->dept, "a", uscc,
				"lo", dealing ? dealing_lo : lo, "hi", hi, "h", late_hours)) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	if (arr != NULL)
		text = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	return text;
}

static void
stat_on_dealings(const PGresult *res, void *arg)
{
	struct stat_rules *st = arg;
	const struct mon_ruleset *rs = job_rules(st->job);
	struct mon_stats_input in;
	struct mon_error err;
	long long late_hours;

	if (!job_result_ok(res)) {
		round_end(st, "reading the enterprises' dealing days", res);
		return;
	}
	if (!dealings_load(st, res)) {
		round_end(st, "reading the enterprises' dealing days (out of memory)", NULL);
		return;
	}
	in = (struct mon_stats_input){ st->depts, st->dept_count, st->dealings, st->dealing_count };
	if (!mon_stats_evaluate(rs, &in, job_now(st->job), &st->result, &err)) {
		log_warnx("stat-rules: figures refused: %s: expected %s, got %s", err.field,
			err.expected, err.got);
		round_end(st, "judging the statistical rules", NULL);
		return;
	}
	if (st->result.count == 0) {
		round_log(st, 0);
		round_end(st, NULL, NULL);
		return;
	}
	if (!mon_ruleset_get_param(rs, "late_report_hours", &late_hours))
		late_hours = 24;
	st->query = evidence_query_json(st, (int)late_hours);
	if (st->query == NULL || !db_query(job_db(st->job), stat_evidence_sql, 1,
			(const char *const *)&st->query, stat_on_evidence, st))
		round_end(st, "looking up the findings' evidence", NULL);
}

static json_t *
condition_json(const struct mon_condition *c)
{
	json_t *evidence = json_array();
	char since[40];

	for (size_t i = 0; i < c->evidence_count; i++)
		json_array_append_new(evidence, json_string(c->evidence[i]));
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "rule", c->rule,
		"severity", mon_severity_name(c->severity), "key", c->key, "supersedes", "",
		"since", (mon_time_format(c->since, MON_SHANGHAI_OFFSET_MIN, since, sizeof(since)),
			since), "message", c->message,
		"evidence", evidence);
}

/* The findings as evaluations without a case, one per department, for esup_apply_evaluation. */
static char *
evaluations_json(const struct stat_rules *st)
{
	json_t *arr = json_array();
	char *text = NULL;

	for (size_t i = 0; arr != NULL && i < st->result.count; i++) {
		const struct mon_stats_condition *c = &st->result.items[i];
		json_t *conditions = json_array();

		json_array_append_new(conditions, condition_json(&c->condition));
		if (json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:o, s:[]}", "dept", c->dept,
				"case", "", "item", "", "conditions", conditions, "disabled")) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	if (arr != NULL)
		text = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	return text;
}

static void
stat_on_evidence(const PGresult *res, void *arg)
{
	struct stat_rules *st = arg;
	const char *values[2];

	if (!job_result_ok(res)) {
		round_end(st, "looking up the findings' evidence", res);
		return;
	}
	for (int row = 0; row < PQntuples(res); row++) {
		int64_t i;
		const char *id = PQgetvalue(res, row, 1);
		struct mon_condition *c;

		if (!db_value_i64(PQgetvalue(res, row, 0), &i) || i < 0 ||
		    (size_t)i >= st->result.count || strlen(id) > MON_ID_MAX)
			continue;
		c = &st->result.items[i].condition;
		if (c->evidence_count < MON_EVIDENCE_MAX)
			snprintf(c->evidence[c->evidence_count++], sizeof(c->evidence[0]), "%s", id);
	}
	free(st->query);
	values[0] = st->query = evaluations_json(st);
	values[1] = job_now_text(st->job);
	if (st->query == NULL ||
	    !db_query(job_db(st->job), stat_apply_sql, 2, values, stat_on_apply, st))
		round_end(st, "raising the statistical alerts", NULL);
}

static void
stat_on_apply(const PGresult *res, void *arg)
{
	struct stat_rules *st = arg;
	int raised = 0;

	if (!job_result_ok(res)) {
		round_end(st, "raising the statistical alerts", res);
		return;
	}
	for (int row = 0; row < PQntuples(res); row++) {
		const char *action = PQgetvalue(res, row, 1);
		const struct log_fields f = {
			.alert_id = PQgetvalue(res, row, 0), .rule = PQgetvalue(res, row, 2),
			.department = PQgetvalue(res, row, 4), .subject = PQgetvalue(res, row, 6),
		};

		char about[384];

		log_alert(LOG_LEVEL_INFO, &f, "alert %s: #%s %s %s %s: %s", action,
			f.alert_id, PQgetvalue(res, row, 3), f.rule,
			alert_subject_text(about, sizeof(about), f.department, "", f.subject),
			PQgetvalue(res, row, 5));
		/* one statement, committed by now: counted as cases.c counts a batch's */
		if (strcmp(action, "raised") == 0 || strcmp(action, "held") == 0)
			metrics_add(job_metrics(st->job), METRIC_ALERTS_RAISED, (const char *const[]){
				PQgetvalue(res, row, 2), PQgetvalue(res, row, 3) }, 1);
		raised++;
	}
	round_log(st, raised);
	round_end(st, NULL, NULL);
}
