/* jobs.h: the periodic jobs that are neither ingest nor the sweeper: 督办 escalation
 * (escalation.c), lifting silences, the score weights (scores.c), and whatever else must run
 * every tick. One table lists
 * them (jobs.c); each job runs at most one chain of queries at a time on the reader
 * connection (autocommit, one statement per query). A job is skipped while the database is
 * down, while its schema is older than the job needs, and until the rules are loaded; its
 * failures are logged (rate-limited). Nothing here touches the writer or the sweeper's
 * connection, so no job can make ingest wait on it. */
#ifndef ESUP_JOBS_H
#define ESUP_JOBS_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

struct config;
struct db;
struct esupd;
struct jobs;
struct job;
struct mon_ruleset;

/* One entry of the table. run starts a chain of queries for one round and ends it with
 * job_done, exactly once, from run itself or from a later db callback. create/destroy make
 * and free the job's own state (NULL when it keeps none); changed, when set, is told that the
 * rules or the configuration were replaced (called between rounds or during one). */
struct job_entry {
	const char *name;
	unsigned period_ms;     /* between rounds; 0: [jobs] interval_ms */
	int schema;             /* the schema version its SQL needs: it waits for it */
	void *(*create)(void);
	void (*destroy)(void *state);
	void (*changed)(void *state);
	void (*run)(struct job *job);
};

struct jobs *jobs_create(struct esupd *d);
void jobs_destroy(struct jobs *js);
/* (Re)reads [jobs] from d->cfg and arms the timers; after start-up and each reload. */
void jobs_configure(struct jobs *js);
/* The rules (calendar) or the configuration changed: each job's changed hook is told. */
void jobs_changed(struct jobs *js);
/* No new rounds (shutdown); a chain in flight ends on its own. */
void jobs_stop(struct jobs *js);

/* For the jobs, valid during a round (from run to job_done): */
struct db *job_db(const struct job *job);
const struct config *job_config(const struct job *job);
/* The current ruleset: valid within one callback only (refdata_rules). Never NULL in run. */
const struct mon_ruleset *job_rules(const struct job *job);
int64_t job_now(const struct job *job);           /* business clock at the round's start */
const char *job_now_text(const struct job *job);  /* the same, RFC 3339 UTC, for SQL */
void *job_state(const struct job *job);
/* The daemon's metrics registry (metrics.h), e.g. for the alerts a round raised. */
struct metrics *job_metrics(const struct job *job);
/* Ends the round. failure NULL: it went well; again: work is left, run the next round at
 * once. Otherwise failure says what failed, res (may be NULL: connection lost) why; both are
 * logged, at most once a minute per job. */
void job_done(struct job *job, bool again, const char *failure, const PGresult *res);
/* A query result that is not an error (PGRES_COMMAND_OK or PGRES_TUPLES_OK). */
bool job_result_ok(const PGresult *res);

#endif
