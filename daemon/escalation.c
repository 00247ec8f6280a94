/* escalation.c: the 督办 escalation job: plans each changed alert's next deadline, then
 * escalates the alerts whose deadline has come, one compare-and-set each. */
#include "escalation.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "config.h"
#include "db.h"
#include "jobs.h"
#include "log.h"
#include "mon_value.h"

#define DONE_ACK 1u
#define DONE_RESOLVE 2u

static const char esc_pending_sql[] =
	"SELECT id, escalate_gen, severity, status,"
	" floor(extract(epoch FROM coalesce(issued_at, raised_at)))::bigint,"
	" floor(extract(epoch FROM acknowledged_at))::bigint, escalated_for"
	" FROM alerts WHERE escalate_pending ORDER BY id LIMIT $1";
static const char esc_plan_sql[] =
	"SELECT esup_escalation_plan($1::bigint[], $2::bigint[], $3::timestamptz[], $4::text[])";
static const char esc_due_sql[] =
	"SELECT id, escalate_deadline, escalation_level,"
	" floor(extract(epoch FROM coalesce(issued_at, raised_at)))::bigint,"
	" floor(extract(epoch FROM escalate_at))::bigint, severity"
	" FROM alerts WHERE escalate_at <= $1::timestamptz ORDER BY escalate_at, id LIMIT $2";
/* The outcome, then what the log line names: rule, department, case, subject (the alert row
 * as before the step: none of these change). */
static const char esc_act_sql[] =
	"SELECT r.outcome, r.status, r.action_id, a.rule, a.dept, coalesce(a.case_no, ''), "
	ALERT_SUBJECT_SQL("a.case_no", "a.dedup_key")
	" FROM esup_escalate_due($1::bigint, $2, $3, $4::timestamptz, $5::int) AS r"
	" LEFT JOIN alerts a ON a.id = $1::bigint";

enum esc_step { ESC_REPLAN, ESC_PENDING, ESC_PLAN, ESC_DUE, ESC_ACT };

/* One due alert, copied out of its result (which lives only during the callback). */
struct esc_due {
	char id[24];
	char deadline[8];
	long level;
	int64_t issued_at, due_at;
	enum mon_severity severity;
};

struct escalation {
	bool replan;             /* plan every live alert again before the next round */
	enum esc_step step;
	struct job *job;
	bool more;               /* a full batch was taken: go on at once */
	struct esc_due *due;
	size_t due_count, due_next;
	char fingerprint[40];    /* of the settings and calendar a replan computes with */
};

static void esc_issue(struct escalation *e);

static bool
esc_severity(const char *name, enum mon_severity *sev)
{
	static const enum mon_severity all[] = {
		MON_SEVERITY_NOTICE, MON_SEVERITY_YELLOW, MON_SEVERITY_RED,
	};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (strcmp(mon_severity_name(all[i]), name) == 0) {
			*sev = all[i];
			return true;
		}
	}
	return false;
}

int64_t
escalation_next(const struct config *cfg, const struct mon_ruleset *rs, enum mon_severity sev,
		const char *status, int64_t issued_at, int64_t acknowledged_at, unsigned done,
		const char **deadline)
{
	int64_t best = INT64_MAX;

	*deadline = NULL;
	if (!(done & DONE_ACK) && cfg->ack_hours[sev] > 0) {
		int64_t a = mon_working_hours_after(rs, cfg->work_start_s, cfg->work_end_s,
			issued_at, (int)cfg->ack_hours[sev]);
		/* acknowledged only after its deadline, while no daemon was watching: still late */
		bool late = strcmp(status, "open") == 0 ||
			(acknowledged_at != INT64_MAX && acknowledged_at > a);

		if (late && a < best) {
			best = a;
			*deadline = "ack";
		}
	}
	if (!(done & DONE_RESOLVE) && cfg->resolve_days[sev] > 0) {
		int64_t r = mon_working_days_after(rs, issued_at, (int)cfg->resolve_days[sev]);

		if (r < best) {
			best = r;
			*deadline = "resolve";
		}
	}
	if (best == INT64_MAX)
		*deadline = NULL;
	return best;
}

/* Appends one element to a PostgreSQL array literal being built in buf ("{a,b"); the
 * buffer is sized for the batch, so nothing is cut. */
static void
esc_array_add(char *buf, size_t size, size_t *len, const char *element)
{
	int n = snprintf(buf + *len, size - *len, "%s%s", *len > 1 ? "," : "", element);

	if (n > 0 && (size_t)n < size - *len)
		*len += (size_t)n;
}

/* The plan of one pending row into the four arrays; false on a row that makes no sense. */
static bool
esc_plan_row(struct escalation *e, const PGresult *res, int i, char **arr, size_t *len,
		size_t size)
{
	int64_t issued, acked = INT64_MAX, done, at;
	enum mon_severity sev;
	const char *deadline;
	char when[40] = "NULL";

	if (!esc_severity(PQgetvalue(res, i, 2), &sev) ||
	    !db_value_i64(PQgetvalue(res, i, 4), &issued) ||
	    (!PQgetisnull(res, i, 5) && !db_value_i64(PQgetvalue(res, i, 5), &acked)) ||
	    !db_value_i64(PQgetvalue(res, i, 6), &done))
		return false;
	at = escalation_next(job_config(e->job), job_rules(e->job), sev, PQgetvalue(res, i, 3),
		issued, acked, (unsigned)done, &deadline);
	if (at != INT64_MAX)
		mon_time_format(at, 0, when, sizeof(when));
	esc_array_add(arr[0], size, &len[0], PQgetvalue(res, i, 0));
	esc_array_add(arr[1], size, &len[1], PQgetvalue(res, i, 1));
	esc_array_add(arr[2], size, &len[2], when);
	esc_array_add(arr[3], size, &len[3], deadline ? deadline : "NULL");
	return true;
}

static void esc_on_result(const PGresult *res, void *arg);

/* Plans the pending alerts of res and sends the plans; false when nothing was sent. */
static bool
esc_send_plans(struct escalation *e, const PGresult *res)
{
	int n = PQntuples(res);
	size_t size = (size_t)n * 48 + 8, len[4] = { 1, 1, 1, 1 };
	char *arr[4] = { malloc(size), malloc(size), malloc(size), malloc(size) };
	const char *values[4];
	bool sent = false;

	if (arr[0] && arr[1] && arr[2] && arr[3]) {
		for (int k = 0; k < 4; k++)
			memcpy(arr[k], "{", 2);
		for (int i = 0; i < n; i++)
			if (!esc_plan_row(e, res, i, arr, len, size))
				log_warnx("escalation: alert %s: unreadable row, not planned",
					PQgetvalue(res, i, 0));
		for (int k = 0; k < 4; k++) {
			memcpy(arr[k] + len[k], "}", 2);
			values[k] = arr[k];
		}
		e->step = ESC_PLAN;
		sent = db_query(job_db(e->job), esc_plan_sql, 4, values, esc_on_result, e);
	}
	for (int k = 0; k < 4; k++)
		free(arr[k]);
	return sent;
}

/* Copies the due alerts out of res. */
static bool
esc_take_due(struct escalation *e, const PGresult *res)
{
	int n = PQntuples(res);

	free(e->due);
	e->due_count = e->due_next = 0;
	e->due = calloc(n > 0 ? (size_t)n : 1, sizeof(*e->due));
	if (e->due == NULL)
		return false;
	for (int i = 0; i < n; i++) {
		struct esc_due *d = &e->due[e->due_count];
		int64_t level;

		snprintf(d->id, sizeof(d->id), "%s", PQgetvalue(res, i, 0));
		snprintf(d->deadline, sizeof(d->deadline), "%s", PQgetvalue(res, i, 1));
		if (!db_value_i64(PQgetvalue(res, i, 2), &level) || level < 0 || level > 1000 ||
		    !db_value_i64(PQgetvalue(res, i, 3), &d->issued_at) ||
		    !db_value_i64(PQgetvalue(res, i, 4), &d->due_at) ||
		    !esc_severity(PQgetvalue(res, i, 5), &d->severity)) {
			log_warnx("escalation: alert %s: unreadable row, not escalated", d->id);
			continue;
		}
		d->level = (long)level;
		e->due_count++;
	}
	return true;
}

/* The action's note: which deadline was missed, and when it fell. */
static void
esc_note(struct escalation *e, const struct esc_due *d, char *buf, size_t size)
{
	const struct config *cfg = job_config(e->job);
	char issued[40], due[40];

	mon_time_format(d->issued_at, MON_SHANGHAI_OFFSET_MIN, issued, sizeof(issued));
	mon_time_format(d->due_at, MON_SHANGHAI_OFFSET_MIN, due, sizeof(due));
	if (strcmp(d->deadline, "ack") == 0)
		snprintf(buf, size, "督办: not acknowledged within %u working hours of issue "
			"(issued %s, ack deadline %s)", cfg->ack_hours[d->severity], issued, due);
	else
		snprintf(buf, size, "督办: not resolved within %u working days of issue "
			"(issued %s, resolve deadline %s)", cfg->resolve_days[d->severity], issued, due);
}

/* Local days 1990-01-01 .. 2099-12-31: every deadline a live alert can have lies within. */
#define FP_FIRST_DAY 7305
#define FP_LAST_DAY 47481

static uint64_t
esc_fnv(uint64_t h, uint64_t v)
{
	for (int i = 0; i < 8; i++) {
		h ^= (v >> (i * 8)) & 0xff;
		h *= 1099511628211ULL;
	}
	return h;
}

/* A fingerprint of what the deadlines are computed from: [escalation] and the working days of
 * the calendar. Equal fingerprints give equal deadlines. */
static void
esc_fingerprint(const struct config *cfg, const struct mon_ruleset *rs, char *buf, size_t size)
{
	uint64_t h = 14695981039346656037ULL;

	for (int i = 0; i < 3; i++) {
		h = esc_fnv(h, cfg->ack_hours[i]);
		h = esc_fnv(h, cfg->resolve_days[i]);
	}
	h = esc_fnv(h, (uint64_t)cfg->work_start_s);
	h = esc_fnv(h, (uint64_t)cfg->work_end_s);
	for (int32_t day = FP_FIRST_DAY; day <= FP_LAST_DAY; day++)
		if (mon_ruleset_is_working_day(rs, day))
			h = esc_fnv(h, (uint64_t)day);
	snprintf(buf, size, "v1-%016llx", (unsigned long long)h);
}

static const char *
esc_step_name(enum esc_step step)
{
	switch (step) {
	case ESC_REPLAN: return "planning every live alert again";
	case ESC_PENDING: return "reading the alerts to plan";
	case ESC_PLAN: return "writing the plans";
	case ESC_DUE: return "reading the due alerts";
	case ESC_ACT: return "escalating";
	}
	return "?";
}

/* Escalates the next due alert, or ends the round. */
static void
esc_act_next(struct escalation *e)
{
	char note[512], level[24];
	const char *values[5];
	const struct esc_due *d;

	if (e->due_next >= e->due_count) {
		job_done(e->job, e->more, NULL, NULL);
		return;
	}
	d = &e->due[e->due_next];
	esc_note(e, d, note, sizeof(note));
	snprintf(level, sizeof(level), "%ld", d->level);
	values[0] = d->id;
	values[1] = d->deadline;
	values[2] = note;
	values[3] = job_now_text(e->job);
	values[4] = level;
	e->step = ESC_ACT;
	if (!db_query(job_db(e->job), esc_act_sql, 5, values, esc_on_result, e))
		job_done(e->job, false, esc_step_name(e->step), NULL);
}

static void
esc_acted(struct escalation *e, const PGresult *res)
{
	const struct esc_due *d = &e->due[e->due_next++];
	bool row = PQntuples(res) == 1;
	const char *outcome = row ? PQgetvalue(res, 0, 0) : "(no row)";
	const char *status = row ? PQgetvalue(res, 0, 1) : "";
	const struct log_fields f = {
		.alert_id = d->id, .rule = row ? PQgetvalue(res, 0, 3) : "",
		.department = row ? PQgetvalue(res, 0, 4) : "", .case_no = row ? PQgetvalue(res, 0, 5) : "",
		.subject = row ? PQgetvalue(res, 0, 6) : "",
	};
	char subject[384], about[448] = "";

	if (row)   /* ": RULE DEPT/CASE" or ": RULE DEPT SUBJECT" */
		snprintf(about, sizeof(about), ": %s %s", f.rule, alert_subject_text(subject,
			sizeof(subject), f.department, f.case_no, f.subject));
	if (strcmp(outcome, "done") == 0)
		log_alert(LOG_LEVEL_INFO, &f, "escalation: alert %s escalated to level %ld: %s deadline "
			"missed (action %s)%s", d->id, d->level + 1, d->deadline, PQgetvalue(res, 0, 2), about);
	else if (strcmp(outcome, "top") == 0)
		log_alert(LOG_LEVEL_INFO, &f, "escalation: alert %s missed its %s deadline in the top "
			"region: nothing above%s", d->id, d->deadline, about);
	else if (strcmp(outcome, "stale") == 0 || strcmp(outcome, "busy") == 0)
		log_alert(LOG_LEVEL_DEBUG, &f, "escalation: alert %s: %s (another daemon or a change "
			"came first)%s", d->id, outcome, about);
	else
		log_alert(LOG_LEVEL_WARNING, &f, "escalation: alert %s: %s deadline not escalated: %s "
			"(status %s)%s", d->id, d->deadline, outcome, status, about);
	esc_act_next(e);
}

/* esup_escalation_replan's row (none: nothing to do). The live alerts another transaction
 * held are marked by the next rounds, one after the other, until none is left. */
static void
esc_replanned(struct escalation *e, const PGresult *res)
{
	const char *marked, *left;

	if (PQntuples(res) != 1)
		return;
	marked = PQgetvalue(res, 0, 1);
	left = PQgetvalue(res, 0, 2);
	if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
		log_info("escalation: settings or calendar changed (%s): %s live alerts to plan "
			"again, %s held by other transactions for a later round", e->fingerprint,
			marked, left);
	else
		log_debug("escalation: %s more live alerts to plan again, %s still held", marked, left);
	if (strcmp(left, "0") != 0)
		e->replan = true;
}

static void
esc_issue(struct escalation *e)
{
	char limit[24];
	const char *values[2] = { limit, NULL };
	const char *sql;
	int nparams = 1;

	snprintf(limit, sizeof(limit), "%zu", job_config(e->job)->jobs_batch);
	switch (e->step) {
	case ESC_REPLAN:
		sql = "SELECT changed, marked, remaining FROM esup_escalation_replan($1)";
		esc_fingerprint(job_config(e->job), job_rules(e->job), e->fingerprint,
			sizeof(e->fingerprint));
		values[0] = e->fingerprint;
		break;
	case ESC_PENDING:
		sql = esc_pending_sql;
		break;
	case ESC_DUE:
		sql = esc_due_sql;
		values[0] = job_now_text(e->job);
		values[1] = limit;
		nparams = 2;
		break;
	case ESC_PLAN:
	case ESC_ACT:
	default:
		return;
	}
	if (!db_query(job_db(e->job), sql, nparams, nparams ? values : NULL, esc_on_result, e))
		job_done(e->job, false, esc_step_name(e->step), NULL);
}

static void
esc_on_result(const PGresult *res, void *arg)
{
	struct escalation *e = arg;
	size_t batch = job_config(e->job)->jobs_batch;

	if (!job_result_ok(res)) {
		if (e->step == ESC_REPLAN)
			e->replan = true;    /* the next round tries again */
		job_done(e->job, false, esc_step_name(e->step), res);
		return;
	}
	switch (e->step) {
	case ESC_REPLAN:
		esc_replanned(e, res);
		e->step = ESC_PENDING;
		break;
	case ESC_PENDING:
		if (PQntuples(res) == 0) {
			e->step = ESC_DUE;
			break;
		}
		e->more = (size_t)PQntuples(res) >= batch;
		if (!esc_send_plans(e, res))
			job_done(e->job, false, esc_step_name(ESC_PLAN), NULL);
		return;
	case ESC_PLAN:
		e->step = ESC_DUE;
		break;
	case ESC_DUE:
		if ((size_t)PQntuples(res) >= batch)
			e->more = true;
		if (!esc_take_due(e, res)) {
			log_warnx("escalation: out of memory for %d due alerts", PQntuples(res));
			job_done(e->job, false, NULL, NULL);
			return;
		}
		esc_act_next(e);
		return;
	case ESC_ACT:
		esc_acted(e, res);
		return;
	}
	esc_issue(e);
}

void
escalation_run(struct job *job)
{
	struct escalation *e = job_state(job);

	e->job = job;
	e->more = false;
	e->step = e->replan ? ESC_REPLAN : ESC_PENDING;
	e->replan = false;    /* a change during this round asks for the next one */
	esc_issue(e);
}

void *
escalation_create(void)
{
	struct escalation *e = calloc(1, sizeof(*e));

	/* the settings may have changed while no daemon ran */
	if (e != NULL)
		e->replan = true;
	return e;
}

void
escalation_changed(void *state)
{
	struct escalation *e = state;

	e->replan = true;
}

void
escalation_destroy(void *state)
{
	struct escalation *e = state;

	if (e == NULL)
		return;
	free(e->due);
	free(e);
}
