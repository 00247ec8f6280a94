/* db.h: one asynchronous PostgreSQL connection driven by the event loop.
 *
 * Connects with PQconnectStart/PQconnectPoll and runs the session in pipeline mode: queries
 * run in the order queued, and those queued in one turn of the loop go out together (each
 * with its own Sync, so each succeeds or fails on its own, as if sent one at a time) and
 * come back in one round trip. Named statements are prepared once per session. Results are
 * read with PQconsumeInput/PQisBusy/PQgetResult; a lost connection reconnects with
 * exponential backoff from a timer. Nothing here blocks the loop. The session runs with
 * synchronous_commit on and JIT off. */
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
 * while another user is between BEGIN and COMMIT runs inside that transaction. It is sent
 * on the next turn of the loop with whatever else was queued by then, without waiting for
 * the answers of the queries before it: a caller that knows its next statements queues
 * them at once and waits one round trip for all (inside a transaction, a statement after
 * one that failed fails too, 25P02, and a COMMIT after it answers ROLLBACK). */
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

/* db_query_ex's flags. DB_CHAINED: the query joins the pipeline segment of the one queued
 * just before it, in the same turn of the loop (refused otherwise), and runs only if that
 * one succeeded; if not, its result is PGRES_PIPELINE_ABORTED. For a statement that must
 * not run on its own (an INSERT queued with the BEGIN before it), or one that should leave
 * in the same write: libpq 15 writes to the socket at every Sync (PQpipelineSync flushes). */
#define DB_CHAINED 0x1u

/* db_query (name NULL) or db_query_named, with flags. */
bool db_query_ex(struct db *db, const char *name, const char *sql, int nparams,
		const char *const *values, unsigned flags, db_result_cb *cb, void *arg)
		__attribute__((warn_unused_result));

/* A result value that is a whole decimal number (an integer column, or an epoch as text);
 * false for anything else, out of range included. */
bool db_value_i64(const char *text, int64_t *out) __attribute__((warn_unused_result));

#endif
