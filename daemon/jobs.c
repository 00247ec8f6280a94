/* jobs.c: the table of periodic jobs and the timer that runs each. */
#include "jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "check.h"
#include "config.h"
#include "db.h"
#include "escalation.h"
#include "esupd.h"
#include "log.h"
#include "mon_rules.h"
#include "mon_value.h"
#include "refdata.h"
#include "stat_rules.h"
#include "scores.h"
#include "tls.h"

/* Silence lift: suppressed alerts that no silence covers any more (and whose rule is not off)
 * are issued again (esup_silences_lift, migration 008), as of the business clock. */
static void
silences_on_result(const PGresult *res, void *arg)
{
	struct job *job = arg;

	if (!job_result_ok(res)) {
		job_done(job, false, "lifting silences", res);
		return;
	}
	if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "0") != 0)
		log_info("silences over: %s suppressed alerts issued again", PQgetvalue(res, 0, 0));
	job_done(job, false, NULL, NULL);
}

static void
silences_run(struct job *job)
{
	const char *values[1] = { job_now_text(job) };

	if (!db_query(job_db(job), "SELECT esup_silences_lift($1::timestamptz)", 1, values,
			silences_on_result, job))
		job_done(job, false, "lifting silences", NULL);
}

/* Daily chain head (migration 012): once per Shanghai day, as of the business clock, each
 * department's event-chain head goes into event_chain_daily and into the log, so that an owner
 * who rebuilds the chain afterwards cannot make it match what was published. The first round
 * of a day publishes; later rounds that day return nothing (or only new departments). */
static void
chain_on_result(const PGresult *res, void *arg)
{
	struct job *job = arg;

	if (!job_result_ok(res)) {
		job_done(job, false, "publishing the daily chain heads", res);
		return;
	}
	for (int i = 0; i < PQntuples(res); i++)
		log_info("event chain head %s: dept %s seq %s hash %s", PQgetvalue(res, i, 0),
			PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), PQgetvalue(res, i, 3));
	job_done(job, false, NULL, NULL);
}

static void
chain_run(struct job *job)
{
	const char *values[1] = { job_now_text(job) };

	if (!db_query(job_db(job), "SELECT day, dept, seq, hash FROM esup_chain_publish($1::timestamptz)",
			1, values, chain_on_result, job))
		job_done(job, false, "publishing the daily chain heads", NULL);
}

/* Statistics settings (migration 014): the rollup triggers count an event as late reported by
 * stat_settings.late_report_hours, which is [rules] late_report_hours (the same threshold
 * APR-LATE-REPORT judges by). Written at start and after each reload, then only when the
 * loaded rules carry another value; a round with nothing to write sends nothing. */
struct stat_settings {
	long long written;      /* the value this daemon last wrote; -1: none yet */
	long long sending;
};

static void *
stat_settings_create(void)
{
	struct stat_settings *st = calloc(1, sizeof(*st));

	if (st != NULL)
		st->written = -1;
	return st;
}

static void
stat_settings_destroy(void *state)
{
	free(state);
}

static void
stat_settings_changed(void *state)
{
	struct stat_settings *st = state;

	st->written = -1;    /* another daemon or an operator may have written since */
}

static void
stat_settings_on_result(const PGresult *res, void *arg)
{
	struct job *job = arg;
	struct stat_settings *st = job_state(job);

	if (!job_result_ok(res)) {
		job_done(job, false, "writing the statistics settings", res);
		return;
	}
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		log_info("statistics: late_report_hours is now %lld (was %s)", st->sending,
			PQgetvalue(res, 0, 0));
	st->written = st->sending;
	job_done(job, false, NULL, NULL);
}

static void
stat_settings_run(struct job *job)
{
	struct stat_settings *st = job_state(job);
	char hours[24];
	const char *values[1] = { hours };

	if (!mon_ruleset_get_param(job_rules(job), "late_report_hours", &st->sending)) {
		log_warnx("statistics: libmonitor has no late_report_hours parameter");
		job_done(job, false, NULL, NULL);
		return;
	}
	if (st->sending == st->written) {
		job_done(job, false, NULL, NULL);
		return;
	}
	snprintf(hours, sizeof(hours), "%lld", st->sending);
	if (!db_query(job_db(job), "SELECT esup_stat_settings_set($1::int)", 1, values,
			stat_settings_on_result, job))
		job_done(job, false, "writing the statistics settings", NULL);
}

/* TLS expiry: the server certificate, the CA and the CRL in force, against the thresholds of
 * esupd -n (check.h). One warning each when a round first finds it close (at start, and after a
 * reload that loaded the TLS material again: a new context) and then once a day, so an operator
 * who reads only the log is told before clients are refused. Wall clock, not the business clock:
 * certificates expire in real time. No query; it waits for the database like every job. */
struct tls_expiry {
	const SSL_CTX *ctx;  /* the context last looked at: a reload makes a new one */
	time_t warned[3];    /* when each was last warned about; 0: not for this context */
};

static const SSL_CTX *job_tls(const struct job *job);

static void *tls_expiry_create(void) { return calloc(1, sizeof(struct tls_expiry)); }
static void tls_expiry_destroy(void *state) { free(state); }

static void
tls_expiry_run(struct job *job)
{
	static const char *const what[] = { "the server certificate ([tls] certificate)",
		"a CA certificate ([tls] ca)", "the CRL ([tls] crl, its nextUpdate)" };
	static const double warn_s[] = { CHECK_CERT_WARN_S, CHECK_CERT_WARN_S, CHECK_CRL_WARN_S };
	struct tls_expiry *te = job_state(job);
	const SSL_CTX *ctx = job_tls(job);
	time_t now = time(NULL);
	double s;

	if (ctx != te->ctx) {   /* the old context is freed only after the new one is made */
		te->ctx = ctx;
		memset(te->warned, 0, sizeof(te->warned));
	}
	for (int i = 0; i < 3; i++) {
		if (ctx == NULL || !tls_expiry(ctx, i, now, &s) || s >= warn_s[i]) {
			te->warned[i] = 0;
			continue;
		}
		if (te->warned[i] != 0 && now - te->warned[i] < 86400)
			continue;
		te->warned[i] = now;
		if (s > 0)
			log_warnx("tls: %s expires in %.0f hours (warned %.0f days before): renew it and "
				"reload esupd (SIGHUP)", what[i], s / 3600, warn_s[i] / 86400);
		else
			log_warnx("tls: %s expired %.0f hours ago: renew it and reload esupd (SIGHUP)",
				what[i], -s / 3600);
	}
	job_done(job, false, NULL, NULL);
}

/* The jobs. Another periodic job adds its row here. */
static const struct job_entry job_table[] = {
	{ "escalation", 0, 9, escalation_create, escalation_destroy, escalation_changed, escalation_run },
	{ "silence-lift", 0, 8, NULL, NULL, NULL, silences_run },
	{ "chain-daily", 0, 12, NULL, NULL, NULL, chain_run },
	{ "stat-rules", 0, 17, stat_rules_create, stat_rules_destroy, stat_rules_changed, stat_rules_run },
	{ "stat-settings", 0, 14, stat_settings_create, stat_settings_destroy, stat_settings_changed,
	  stat_settings_run },
	{ "score-weights", 0, 16, scores_create, scores_destroy, scores_changed, scores_run },
	{ "tls-expiry", 0, 0, tls_expiry_create, tls_expiry_destroy, NULL, tls_expiry_run },
};
#define N_JOBS (sizeof(job_table) / sizeof(job_table[0]))

struct job {
	struct jobs *js;
	const struct job_entry *entry;
	void *state;
	struct event tick;
	struct timeval interval;
	bool running;
	int64_t now;
	char now_text[40];
	struct log_limit failures;
};

struct jobs {
	struct esupd *d;
	bool stopped;
	struct job jobs[N_JOBS];
};

static void
job_arm(struct job *job, bool at_once)
{
	struct timeval zero = { 0, 0 };

	if (!job->js->stopped)
		evtimer_add(&job->tick, at_once ? &zero : &job->interval);
}

static void
job_tick(evutil_socket_t fd, short what, void *arg)
{
	struct job *job = arg;
	struct esupd *d = job->js->d;

	(void)fd, (void)what;
	if (job->js->stopped || job->running)
		return;
	if (!db_is_up(d->reader) || d->schema_version < job->entry->schema ||
	    refdata_rules(d->refdata) == NULL || d->draining) {
		job_arm(job, false);
		return;
	}
	job->running = true;
	job->now = esupd_now(d);
	mon_time_format(job->now, 0, job->now_text, sizeof(job->now_text));
	job->entry->run(job);
}

void
job_done(struct job *job, bool again, const char *failure, const PGresult *res)
{
	job->running = false;
	if (failure != NULL) {
		if (res != NULL)
			log_limited(&job->failures, 60, LOG_LEVEL_WARNING, "job %s: %s failed: %s",
				job->entry->name, failure, PQresultErrorMessage(res));
		else
			log_limited(&job->failures, 60, LOG_LEVEL_WARNING, "job %s: %s failed: "
				"the database connection is down", job->entry->name, failure);
		again = false;
	}
	job_arm(job, again);
}

bool
job_result_ok(const PGresult *res)
{
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

	return res != NULL && (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
}

struct db *job_db(const struct job *job) { return job->js->d->reader; }
const struct config *job_config(const struct job *job) { return job->js->d->cfg; }
const struct mon_ruleset *job_rules(const struct job *job) { return refdata_rules(job->js->d->refdata); }
int64_t job_now(const struct job *job) { return job->now; }
const char *job_now_text(const struct job *job) { return job->now_text; }
void *job_state(const struct job *job) { return job->state; }
struct metrics *job_metrics(const struct job *job) { return job->js->d->metrics; }
static const SSL_CTX *job_tls(const struct job *job) { return job->js->d->tls; }

struct jobs *
jobs_create(struct esupd *d)
{
	struct jobs *js = calloc(1, sizeof(*js));

	if (js == NULL)
		return NULL;
	js->d = d;
	for (size_t i = 0; i < N_JOBS; i++) {
		struct job *job = &js->jobs[i];

		job->js = js;
		job->entry = &job_table[i];
		job->interval.tv_sec = 1;
		evtimer_assign(&job->tick, d->base, job_tick, job);
		if (job->entry->create != NULL && (job->state = job->entry->create()) == NULL) {
			jobs_destroy(js);
			return NULL;
		}
	}
	return js;
}

void
jobs_configure(struct jobs *js)
{
	for (size_t i = 0; i < N_JOBS; i++) {
		struct job *job = &js->jobs[i];
		unsigned ms = job->entry->period_ms;

		if (ms == 0)
			ms = js->d->cfg->jobs_interval_ms;
		job->interval.tv_sec = ms / 1000;
		job->interval.tv_usec = (ms % 1000) * 1000;
		if (!job->running && !evtimer_pending(&job->tick, NULL))
			job_arm(job, false);
	}
}

void
jobs_changed(struct jobs *js)
{
	for (size_t i = 0; i < N_JOBS; i++)
		if (js->jobs[i].entry->changed != NULL)
			js->jobs[i].entry->changed(js->jobs[i].state);
}

void
jobs_stop(struct jobs *js)
{
	js->stopped = true;
	for (size_t i = 0; i < N_JOBS; i++)
		event_del(&js->jobs[i].tick);
}

void
jobs_destroy(struct jobs *js)
{
	if (js == NULL)
		return;
	for (size_t i = 0; i < N_JOBS; i++) {
		struct job *job = &js->jobs[i];

		if (job->entry == NULL)
			continue;
		event_del(&job->tick);
		if (job->entry->destroy != NULL)
			job->entry->destroy(job->state);
	}
	free(js);
}
