/* db.h: one asynchronous PostgreSQL connection driven by the event loop.
 *
 * Connects with PQconnectStart/PQconnectPoll, runs queries strictly one at a time from a
 * FIFO with PQsendQueryParams (named statements: prepared once per session), reads results
 * with PQconsumeInput/PQisBusy/PQgetResult, and reconnects with exponential backoff from a
 * timer when the connection is lost. Nothing here blocks the loop. */
#ifndef ESUP_DB_H
#define ESUP_DB_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <libpq-fe.h>

struct db;

/* Called once per query. res is the query's result (the last non-NULL PGresult of the
 * query, owned by db: valid only during the call), or NULL when the connection was lost
 * or the query could not be sent. A query that fails in the server gets its error result
 * (PQresultStatus PGRES_FATAL_ERROR). */
typedef void db_result_cb(const PGresult *res, void *arg);

/* Told when the connection comes up (after the on-connect queries ran) or goes down. */
typedef void db_state_cb(struct db *db, bool up, void *arg);

/* Told for each NOTIFY on a channel this connection LISTENs to. */
typedef void db_notify_cb(const char *channel, const char *payload, void *arg);

struct db *db_create(struct event_base *base, const char *name, const char *conninfo,
		unsigned reconnect_min_ms, unsigned reconnect_max_ms,
		db_state_cb *state_cb, void *state_arg);
/* Frees everything. Queries still queued are dropped without their callbacks, so call it
 * only at exit, when the loop no longer runs, and never from inside a db callback. */
void db_destroy(struct db *db);

/* Starts connecting; later losses reconnect by themselves. */
void db_start(struct db *db);
bool db_is_up(const struct db *db);
/* How many times the connection was lost after having been up (each starts a reconnect). */
unsigned long db_losses(const struct db *db);
/* The name given to db_create ("writer", "reader", "sweeper"). */
const char *db_name(const struct db *db);

/* Issues LISTEN channel on every (re)connect; notifications go to cb. */
void db_listen(struct db *db, const char *channel, db_notify_cb *cb, void *arg);

/* Queues a query (text parameters, NULL for SQL NULL; all are copied). Returns false,
 * without calling cb, when the connection is down (or out of memory, or more than 65535
 * parameters); otherwise cb is called exactly once, never before db_query returns. The SQL
 * must be a single statement. Queries of all users share one session: a query queued
 * while another user is between BEGIN and COMMIT runs inside that transaction. */
bool db_query(struct db *db, const char *sql, int nparams, const char *const *values,
		db_result_cb *cb, void *arg) __attribute__((warn_unused_result));

/* Like db_query, for a statement a module runs often: the session prepares sql once under
 * name (its Parse, then the statement's execution, are one query for cb: the Parse's refusal
 * is its result), and later calls with the same name only execute it, so PostgreSQL
 * neither parses nor, once it settles on a generic plan, plans it again: for statements whose
 * plan does not depend on how much the tables hold (a generic plan made while a table was
 * small is kept until the table is analyzed). A name stands for one text on a connection
 * (modules prefix theirs); a new session prepares again. A session whose prepared plan no
 * longer fits the schema (a migration changed a result type) is reconnected after cb has had
 * that error. */
bool db_query_named(struct db *db, const char *name, const char *sql, int nparams,
		const char *const *values, db_result_cb *cb, void *arg)
		__attribute__((warn_unused_result));

/* A result value that is a whole decimal number (an integer column, or an epoch as text);
 * false for anything else, out of range included. */
bool db_value_i64(const char *text, int64_t *out) __attribute__((warn_unused_result));

#endif
