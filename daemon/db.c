/* db.c: one asynchronous PostgreSQL connection on the libevent loop.
 *
 * Nothing here blocks: connecting is PQconnectStart + PQconnectPoll driven by socket
 * events. The session runs in libpq's pipeline mode: queries go out with PQsendQueryParams
 * (or PQsendPrepare once per session and PQsendQueryPrepared, for a named statement) as
 * soon as they are queued, without waiting for the answers of those before them, each
 * followed by a Sync (PQpipelineSync) unless the next one is chained to it; results come
 * back in order through PQconsumeInput/PQisBusy/PQgetResult. So a module that knows its
 * next statements queues them together and pays one round trip, not one each; one that
 * queues a statement at a time behaves as without a pipeline. The Sync after each query
 * keeps each query's fate its own, as one at a time would: an error aborts only its own
 * segment (and the queries chained to it). A lost connection fails every queued query
 * (callback with NULL) and reconnects from a timer with exponential backoff. libpq resolves
 * host names synchronously: use IP addresses or a Unix socket directory in conninfo for a
 * loop that never stalls. */
#include "db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event_struct.h>

#include "log.h"

#define DB_MAX_PARAMS 65535        /* the protocol's limit per statement */
#define DB_CONNECT_STEP_TIMEOUT_S 10  /* libpq's connect_timeout is ours to enforce */

/* Where a sent query's answer stands: the results of its Parse (a named statement the
 * session prepares with it), of its execution, then the Sync that ends its segment. */
enum db_phase { DB_PHASE_PREPARE, DB_PHASE_EXEC, DB_PHASE_SYNC };

struct db_query {
	struct db_query *next;
	char *name;       /* a named prepared statement, or NULL for an unnamed one */
	bool chained;     /* in the segment of the query before it: runs only if that succeeded */
	bool synced;      /* sent with a Sync after it */
	bool prep_failed; /* its Parse was refused: that is its answer, the execution's is not */
	enum db_phase phase;
	char *sql;
	int nparams;
	char **values;
	db_result_cb *cb;
	void *arg;
};

/* A statement prepared in the current session. */
struct db_stmt {
	struct db_stmt *next;
	char *name;
	char *sql;
};

struct db_listener {
	struct db_listener *next;
	char *channel;
	db_notify_cb *cb;
	void *arg;
};

enum db_state {
	DB_STOPPED,     /* created; db_start not called yet */
	DB_CONNECTING,  /* PQconnectPoll in progress */
	DB_SETUP,       /* connected; on-connect queries running */
	DB_UP,
	DB_WAITING,     /* lost; the reconnect timer is armed */
};

struct db {
	struct event_base *base;
	char *name;
	char *conninfo;
	unsigned backoff_min_ms, backoff_max_ms, backoff_ms;
	db_state_cb *state_cb;
	void *state_arg;

	enum db_state state;
	bool outage_logged;   /* the current outage was logged once; retries log at debug */
	bool privileged;      /* the session's login role is a superuser or bypasses RLS */
	char privileges[64];  /* which of those, for the warning */
	bool broken;          /* a send failed outside an event handler; ev_kick tears down */
	bool flushing;        /* PQflush returned 1: output still buffered */
	unsigned setup_left;  /* on-connect queries not yet answered */
	PGconn *conn;
	/* The socket may change across reconnects, so the I/O events are re-assigned for
	 * each connection. */
	struct event ev_connect, ev_read, ev_write, ev_retry, ev_kick, ev_send;

	/* head..unsent (exclusive) are sent and wait for their answers, oldest first;
	 * unsent..tail are queued and go out together on the next turn of the loop (ev_send),
	 * so that queries queued one after another in one callback share a round trip. */
	struct db_query *head, *tail, *unsent;
	PGresult *last;                 /* latest result of the query at head */
	struct db_listener *listeners;
	struct db_stmt *prepared;       /* in this session; forgotten when it ends */
	unsigned long losses;           /* times the connection went down after being up */
};

static void db_pump(struct db *db);

/* libpq messages end in a newline and may span lines; the log wants one line, with
 * each run of white space and control characters as one space. */
static const char *
db_conn_error(const struct db *db, char *buf, size_t size)
{
	const char *in = db->conn ? PQerrorMessage(db->conn) : "out of memory";
	size_t n = 0;

	for (; *in != '\0' && n + 1 < size; in++) {
		bool blank = (unsigned char)*in <= ' ';

		if (!blank)
			buf[n++] = *in;
		else if (n > 0 && buf[n - 1] != ' ')
			buf[n++] = ' ';
	}
	while (n > 0 && buf[n - 1] == ' ')
		n--;
	buf[n] = '\0';
	if (n == 0)
		snprintf(buf, size, "connection closed");
	return buf;
}

/* Server notices would otherwise go to stderr, which a daemon has closed. */
static void
db_notice(void *arg, const PGresult *res)
{
	const struct db *db = arg;
	const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	if (msg == NULL)
		return;
	if (severity != NULL && strcmp(severity, "WARNING") == 0)
		log_warnx("database %s: server warning: %s", db->name, msg);
	else
		log_debug("database %s: server %s: %s", db->name, severity ? severity : "notice", msg);
}

static void
db_query_free(struct db_query *q)
{
	if (q == NULL)
		return;
	for (int i = 0; i < q->nparams; i++)
		free(q->values[i]);
	free(q->values);
	free(q->sql);
	free(q->name);
	free(q);
}

static struct db_query *
db_query_create(const char *name, const char *sql, int nparams, const char *const *values,
		db_result_cb *cb, void *arg)
{
	struct db_query *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return NULL;
	q->cb = cb;
	q->arg = arg;
	if ((q->sql = strdup(sql)) == NULL || (name != NULL && (q->name = strdup(name)) == NULL))
		goto fail;
	if (nparams > 0 && (q->values = calloc((size_t)nparams, sizeof(char *))) == NULL)
		goto fail;
	for (; q->nparams < nparams; q->nparams++) {
		const char *v = values[q->nparams];

		if (v != NULL && (q->values[q->nparams] = strdup(v)) == NULL)
			goto fail;
	}
	return q;
fail:
	db_query_free(q);
	return NULL;
}

static void
db_event_stop(struct event *ev)
{
	if (event_initialized(ev))
		event_del(ev);
}

/* Marks the connection for teardown from a place where calling back into users would
 * be unsafe (inside db_query); ev_kick does it on the next loop turn. */
static void
db_break(struct db *db)
{
	if (db->broken)
		return;
	db->broken = true;
	event_active(&db->ev_kick, EV_TIMEOUT, 0);
}

static void
db_flush(struct db *db)
{
	int r = PQflush(db->conn);

	if (r < 0) {
		db_break(db);
		return;
	}
	db->flushing = r > 0;
	if (db->flushing)
		event_add(&db->ev_write, NULL);
}

static const struct db_stmt *
db_stmt_find(const struct db *db, const char *name)
{
	for (const struct db_stmt *st = db->prepared; st != NULL; st = st->next)
		if (strcmp(st->name, name) == 0)
			return st;
	return NULL;
}

static void
db_stmts_forget(struct db *db)
{
	struct db_stmt *st, *next;

	for (st = db->prepared; st != NULL; st = next) {
		next = st->next;
		free(st->name);
		free(st->sql);
		free(st);
	}
	db->prepared = NULL;
}

/* The session does not have name prepared after all (its Parse was refused). */
static void
db_stmt_forget(struct db *db, const char *name)
{
	for (struct db_stmt **p = &db->prepared; *p != NULL; p = &(*p)->next) {
		struct db_stmt *st = *p;

		if (strcmp(st->name, name) == 0) {
			*p = st->next;
			free(st->name);
			free(st->sql);
			free(st);
			return;
		}
	}
}

/* The session now has q's statement prepared. Out of memory only costs a Parse refused as a
 * duplicate later, which reconnects (db_collect). */
static void
db_stmt_remember(struct db *db, const struct db_query *q)
{
	struct db_stmt *st = calloc(1, sizeof(*st));

	if (st == NULL || (st->name = strdup(q->name)) == NULL || (st->sql = strdup(q->sql)) == NULL) {
		if (st != NULL)
			free(st->name);
		free(st);
		log_warnx("database %s: out of memory recording prepared statement %s", db->name,
			q->name);
		return;
	}
	st->next = db->prepared;
	db->prepared = st;
}

/* Sends q: for a named statement the session has not seen, its Parse first, in the same
 * segment, so that a refused Parse skips the execution. The statement counts as prepared
 * from here on, for the queries queued behind it; a refused Parse forgets it again. */
static bool
db_send(struct db *db, struct db_query *q)
{
	const struct db_stmt *st;

	q->phase = DB_PHASE_EXEC;
	if (q->name != NULL && (st = db_stmt_find(db, q->name)) != NULL && strcmp(st->sql, q->sql) != 0) {
		/* A programming error: one name for two statements. Unnamed, it still runs. */
		log_warnx("database %s: statement %s names two texts; running it unprepared",
			db->name, q->name);
		free(q->name);
		q->name = NULL;
	}
	if (q->name == NULL)
		return PQsendQueryParams(db->conn, q->sql, q->nparams, NULL,
			(const char *const *)q->values, NULL, NULL, 0);
	if (db_stmt_find(db, q->name) == NULL) {
		if (!PQsendPrepare(db->conn, q->name, q->sql, q->nparams, NULL))
			return false;
		db_stmt_remember(db, q);
		q->phase = DB_PHASE_PREPARE;
	}
	return PQsendQueryPrepared(db->conn, q->name, q->nparams, (const char *const *)q->values,
		NULL, NULL, 0);
}

/* Sends every query queued since the last time, each followed by a Sync unless the next
 * one is chained to it (the last one always has its Sync: the server answers a segment only
 * at its end). */
static void
db_pump(struct db *db)
{
	struct db_query *q;

	if (db->unsent == NULL || db->conn == NULL || db->broken)
		return;
	for (q = db->unsent; q != NULL; q = q->next) {
		q->synced = q->next == NULL || !q->next->chained;
		if (!db_send(db, q) || (q->synced && !PQpipelineSync(db->conn))) {
			db_break(db);
			return;
		}
	}
	db->unsent = NULL;
	db_flush(db);
}

static void
db_on_send(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	db_pump(arg);
}

static bool
db_enqueue(struct db *db, const char *name, const char *sql, int nparams,
		const char *const *values, bool chained, db_result_cb *cb, void *arg)
{
	struct db_query *q = db_query_create(name, sql, nparams, values, cb, arg);

	if (q == NULL) {
		log_warnx("database %s: out of memory queueing a query", db->name);
		return false;
	}
	q->chained = chained;
	if (db->tail)
		db->tail->next = q;
	else
		db->head = q;
	db->tail = q;
	if (db->unsent == NULL) {
		db->unsent = q;
		event_active(&db->ev_send, EV_TIMEOUT, 0);
	}
	return true;
}

/* Fails every queued and in-flight query, oldest first. The queue is detached before the
 * callbacks run, so a callback that queues again sees a down connection. */
static void
db_fail_queue(struct db *db)
{
	struct db_query *q = db->head, *next;

	db->head = db->tail = db->unsent = NULL;
	PQclear(db->last);
	db->last = NULL;
	for (; q != NULL; q = next) {
		next = q->next;
		if (q->cb)
			q->cb(NULL, q->arg);
		db_query_free(q);
	}
}

static void
db_log_loss(struct db *db, bool was_up)
{
	char err[512];

	db_conn_error(db, err, sizeof(err));
	if (was_up)
		log_warnx("database %s: connection lost: %s; reconnecting", db->name, err);
	else if (!db->outage_logged)
		log_warnx("database %s: cannot connect: %s; will keep retrying", db->name, err);
	else
		log_debug("database %s: connection attempt failed: %s; retry in %u ms", db->name,
			err, db->backoff_ms);
	db->outage_logged = true;
}

/* The connection is gone (or never came up): tear down, fail queries, tell the owner,
 * and schedule the next attempt. Only called from event handlers and db_start. */
static void
db_lost(struct db *db)
{
	bool was_up = db->state == DB_UP;
	struct timeval tv = { db->backoff_ms / 1000, (db->backoff_ms % 1000) * 1000 };

	db_log_loss(db, was_up);
	if (was_up)
		db->losses++;
	db_event_stop(&db->ev_connect);
	db_event_stop(&db->ev_read);
	db_event_stop(&db->ev_write);
	db_event_stop(&db->ev_kick);
	db_event_stop(&db->ev_send);
	PQfinish(db->conn);
	db->conn = NULL;
	db_stmts_forget(db);
	db->broken = db->flushing = false;
	db->state = DB_WAITING;
	db_fail_queue(db);
	if (was_up && db->state_cb)
		db->state_cb(db, false, db->state_arg);
	evtimer_add(&db->ev_retry, &tv);
	db->backoff_ms = db->backoff_ms > db->backoff_max_ms / 2 ? db->backoff_max_ms
		: db->backoff_ms * 2;
}

static void
db_dispatch_notifies(struct db *db)
{
	PGnotify *n;

	while (db->conn != NULL && (n = PQnotifies(db->conn)) != NULL) {
		for (struct db_listener *l = db->listeners; l != NULL; l = l->next)
			if (strcmp(l->channel, n->relname) == 0)
				l->cb(n->relname, n->extra, l->arg);
		PQfreemem(n);
	}
}

/* A session whose prepared statements no longer match the server is started afresh, after
 * the statement's owner had its answer: a plan cached before a migration changed a result
 * type (0A000, "cached plan must not change result type"), or a name the session already
 * holds but this side lost track of (42P05). */
static void
db_stmt_check(struct db *db, const struct db_query *q, const PGresult *res)
{
	const char *state;

	if (q->name == NULL || res == NULL || PQresultStatus(res) != PGRES_FATAL_ERROR)
		return;
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (state == NULL || (strcmp(state, "0A000") != 0 && strcmp(state, "42P05") != 0))
		return;
	log_warnx("database %s: prepared statement %s: %s; reconnecting", db->name, q->name,
		PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
	db_break(db);
}

/* Reads every finished answer, oldest query first. A query's answer ends where
 * PQgetResult returns NULL (and, when it was synced, at the Sync's PGRES_PIPELINE_SYNC
 * after it); its callback then gets the last non-NULL result, so an error that follows a
 * command completion (at COMMIT) is what the caller sees. A query chained to one that
 * failed gets PGRES_PIPELINE_ABORTED. Queries the callbacks queue go out on the next turn
 * of the loop. */
static bool
db_collect(struct db *db)
{
	while (db->head != NULL && db->head != db->unsent && !db->broken && !PQisBusy(db->conn)) {
		struct db_query *q = db->head;
		PGresult *res = PQgetResult(db->conn);

		switch (q->phase) {
		case DB_PHASE_PREPARE:
			if (res != NULL) {
				if (PQresultStatus(res) == PGRES_COMMAND_OK)
					PQclear(res);
				else {
					q->prep_failed = true;
					PQclear(db->last);
					db->last = res;
				}
				continue;
			}
			if (PQstatus(db->conn) == CONNECTION_BAD)
				return false;
			if (q->prep_failed)
				db_stmt_forget(db, q->name);
			q->phase = DB_PHASE_EXEC;
			continue;
		case DB_PHASE_EXEC:
			if (res != NULL) {
				if (q->prep_failed)
					PQclear(res);
				else {
					PQclear(db->last);
					db->last = res;
				}
				continue;
			}
			/* libpq reports a dropped connection as an error result; callers must
			 * see it as a loss (NULL), not as a server refusing their statement. */
			if (PQstatus(db->conn) == CONNECTION_BAD)
				return false;
			if (q->synced) {
				q->phase = DB_PHASE_SYNC;
				continue;
			}
			break;
		case DB_PHASE_SYNC:
			if (res == NULL)
				return PQstatus(db->conn) != CONNECTION_BAD;
			if (PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
				log_warnx("database %s: pipeline out of step: %s where its Sync was due; "
					"reconnecting", db->name, PQresStatus(PQresultStatus(res)));
				PQclear(res);
				db_break(db);
				return false;
			}
			PQclear(res);
			break;
		}
		db->head = q->next;
		if (db->head == NULL)
			db->tail = NULL;
		res = db->last;
		db->last = NULL;
		if (q->cb)
			q->cb(res, q->arg);
		db_stmt_check(db, q, res);
		PQclear(res);
		db_query_free(q);
	}
	return !db->broken;
}

static void
db_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct db *db = arg;

	(void)fd;
	(void)what;
	if (!PQconsumeInput(db->conn) || PQstatus(db->conn) == CONNECTION_BAD) {
		db_lost(db);
		return;
	}
	db_dispatch_notifies(db);
	if (db->flushing)
		db_flush(db);
	if (!db_collect(db)) {
		db_lost(db);
		return;
	}
	/* A notification behind a query's results is parsed only by PQgetResult: without
	 * this it would wait for the next unrelated read. */
	db_dispatch_notifies(db);
}

static void
db_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct db *db = arg;

	(void)fd;
	(void)what;
	db_flush(db);
	if (db->broken)
		db_lost(db);
}

static void
db_on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct db *db = arg;

	(void)fd;
	(void)what;
	if (db->broken)
		db_lost(db);
}

static void
db_setup_done(const PGresult *res, void *arg)
{
	struct db *db = arg;

	if (res == NULL)
		return;   /* lost: db_lost handles it */
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_warnx("database %s: on-connect query failed: %s", db->name,
			PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
		db_break(db);
		return;
	}
	if (--db->setup_left > 0)
		return;
	db->state = DB_UP;
	db->backoff_ms = db->backoff_min_ms;
	db->outage_logged = false;
	log_info("database %s: connected as %s to %s (server %d)", db->name, PQuser(db->conn),
		PQdb(db->conn), PQserverVersion(db->conn));
	if (db->privileged)
		log_warnx("database %s: login role %s is %s: no login role esupd uses may be one; "
			"log in as esupd's own role, a member of esup_writer only (docs/reliability.md, "
			"\"Database privileges\")", db->name, PQuser(db->conn), db->privileges);
	if (db->state_cb)
		db->state_cb(db, true, db->state_arg);
}

/* The on-connect query's row also says whether the login role (session_user: SET ROLE
 * changes nothing here) is a superuser or bypasses row security. esupd runs anyway (a
 * warning, docs/operations.md, "Database"): the contract is no such login role. */
static void
db_session_done(const PGresult *res, void *arg)
{
	struct db *db = arg;

	db->privileged = false;
	db->privileges[0] = '\0';
	if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
	    PQnfields(res) == 5) {
		bool super = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
		bool bypass = strcmp(PQgetvalue(res, 0, 4), "t") == 0;

		db->privileged = super || bypass;
		snprintf(db->privileges, sizeof(db->privileges), "%s%s%s", super ? "a superuser" : "",
			super && bypass ? " and " : "", bypass ? "allowed to bypass row security" : "");
	}
	db_setup_done(res, arg);
}

/* LISTEN takes an identifier, not a parameter: quote it with the connection's rules. */
static bool
db_send_listen(struct db *db, const char *channel, db_result_cb *cb)
{
	char *ident = PQescapeIdentifier(db->conn, channel, strlen(channel));
	size_t len;
	char *sql;
	bool ok;

	if (ident == NULL)
		return false;
	len = strlen(ident) + sizeof("LISTEN ");
	sql = malloc(len);
	if (sql != NULL)
		snprintf(sql, len, "LISTEN %s", ident);
	PQfreemem(ident);
	ok = sql != NULL && db_enqueue(db, NULL, sql, 0, NULL, false, cb, db);
	free(sql);
	return ok;
}

static void
db_listen_done(const PGresult *res, void *arg)
{
	struct db *db = arg;

	if (res != NULL && PQresultStatus(res) != PGRES_COMMAND_OK)
		log_warnx("database %s: LISTEN failed: %s", db->name,
			PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
}

/* Connected: name the session, LISTEN again (a new session has no subscriptions), and
 * only then report the connection up. */
static void
db_connected(struct db *db)
{
	evutil_socket_t fd = PQsocket(db->conn);
	char appname[128];
	const char *values[1] = { appname };

	if (PQsetnonblocking(db->conn, 1) != 0 || PQenterPipelineMode(db->conn) != 1) {
		db_lost(db);
		return;
	}
	event_assign(&db->ev_read, db->base, fd, EV_READ | EV_PERSIST, db_on_read, db);
	event_assign(&db->ev_write, db->base, fd, EV_WRITE, db_on_write, db);
	event_add(&db->ev_read, NULL);
	db->state = DB_SETUP;
	db->setup_left = 1;
	snprintf(appname, sizeof(appname), "esupd %s", db->name);
	/* JIT off: esupd's statements are short and run once per batch, and compiling one costs
	 * more than running it. The estimate of a set-returning PL/pgSQL call (1,000 rows per
	 * call, 100 calls per jsonb_array_elements) put the one-case evaluation statement over
	 * jit_above_cost: 13 of a one-event request's 22 ms went to LLVM (issue 12).
	 * synchronous_commit on for the whole session, whatever the server's default: an
	 * answer is given after COMMIT returns, and must mean the events are on disk. The login
	 * role's rolsuper and rolbypassrls: a warning when either is set (db_session_done). */
	if (!db_enqueue(db, NULL, "SELECT set_config('application_name', $1, false),"
			" set_config('jit', 'off', false),"
			" set_config('synchronous_commit', 'on', false),"
			" (SELECT rolsuper FROM pg_roles WHERE rolname = session_user),"
			" (SELECT rolbypassrls FROM pg_roles WHERE rolname = session_user)",
			1, values, false, db_session_done, db))
		db_break(db);
	for (struct db_listener *l = db->listeners; l != NULL && !db->broken; l = l->next) {
		if (db_send_listen(db, l->channel, db_setup_done))
			db->setup_left++;
		else
			db_break(db);
	}
}

static void db_on_connect(evutil_socket_t fd, short what, void *arg);

static void
db_connect_wait(struct db *db, PostgresPollingStatusType st)
{
	evutil_socket_t fd = PQsocket(db->conn);
	struct timeval tv = { DB_CONNECT_STEP_TIMEOUT_S, 0 };

	if (fd < 0) {
		db_lost(db);
		return;
	}
	db_event_stop(&db->ev_connect);
	event_assign(&db->ev_connect, db->base, fd,
		st == PGRES_POLLING_READING ? EV_READ : EV_WRITE, db_on_connect, db);
	event_add(&db->ev_connect, &tv);
}

static void
db_on_connect(evutil_socket_t fd, short what, void *arg)
{
	struct db *db = arg;
	PostgresPollingStatusType st;

	(void)fd;
	if (what & EV_TIMEOUT) {
		log_debug("database %s: connection attempt timed out", db->name);
		db_lost(db);
		return;
	}
	st = PQconnectPoll(db->conn);
	if (st == PGRES_POLLING_READING || st == PGRES_POLLING_WRITING)
		db_connect_wait(db, st);
	else if (st == PGRES_POLLING_OK)
		db_connected(db);
	else
		db_lost(db);
}

static void
db_connect(struct db *db)
{
	db->state = DB_CONNECTING;
	db->conn = PQconnectStart(db->conninfo);
	if (db->conn == NULL || PQstatus(db->conn) == CONNECTION_BAD) {
		db_lost(db);
		return;
	}
	PQsetNoticeReceiver(db->conn, db_notice, db);
	db_connect_wait(db, PGRES_POLLING_WRITING);
}

static void
db_on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	db_connect(arg);
}

struct db *
db_create(struct event_base *base, const char *name, const char *conninfo,
		unsigned reconnect_min_ms, unsigned reconnect_max_ms,
		db_state_cb *state_cb, void *state_arg)
{
	struct db *db = calloc(1, sizeof(*db));

	if (db == NULL)
		return NULL;
	db->base = base;
	db->name = strdup(name);
	db->conninfo = strdup(conninfo);
	if (db->name == NULL || db->conninfo == NULL) {
		db_destroy(db);
		return NULL;
	}
	/* A zero minimum would retry in a tight loop. */
	db->backoff_min_ms = reconnect_min_ms > 0 ? reconnect_min_ms : 1;
	db->backoff_max_ms = reconnect_max_ms > db->backoff_min_ms ? reconnect_max_ms
		: db->backoff_min_ms;
	db->backoff_ms = db->backoff_min_ms;
	db->state_cb = state_cb;
	db->state_arg = state_arg;
	evtimer_assign(&db->ev_retry, base, db_on_retry, db);
	event_assign(&db->ev_kick, base, -1, 0, db_on_kick, db);
	event_assign(&db->ev_send, base, -1, 0, db_on_send, db);
	return db;
}

/* Queued queries are dropped without their callbacks: this runs at exit, after the loop,
 * when their owners are being torn down too. Must not be called from a db callback. */
void
db_destroy(struct db *db)
{
	struct db_query *q, *qnext;
	struct db_listener *l, *lnext;

	if (db == NULL)
		return;
	db_event_stop(&db->ev_connect);
	db_event_stop(&db->ev_read);
	db_event_stop(&db->ev_write);
	db_event_stop(&db->ev_retry);
	db_event_stop(&db->ev_kick);
	db_event_stop(&db->ev_send);
	PQfinish(db->conn);
	PQclear(db->last);
	db_stmts_forget(db);
	for (q = db->head; q != NULL; q = qnext) {
		qnext = q->next;
		db_query_free(q);
	}
	for (l = db->listeners; l != NULL; l = lnext) {
		lnext = l->next;
		free(l->channel);
		free(l);
	}
	free(db->name);
	free(db->conninfo);
	free(db);
}

void
db_start(struct db *db)
{
	if (db->state == DB_STOPPED)
		db_connect(db);
}

bool
db_is_up(const struct db *db)
{
	return db->state == DB_UP && !db->broken;
}

unsigned long
db_losses(const struct db *db)
{
	return db->losses;
}

const char *
db_name(const struct db *db)
{
	return db->name;
}

void
db_listen(struct db *db, const char *channel, db_notify_cb *cb, void *arg)
{
	struct db_listener *l = calloc(1, sizeof(*l)), **tail;

	if (l == NULL || (l->channel = strdup(channel)) == NULL) {
		log_warnx("database %s: out of memory registering LISTEN %s", db->name, channel);
		free(l);
		return;
	}
	l->cb = cb;
	l->arg = arg;
	for (tail = &db->listeners; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = l;
	/* Not yet connected: db_connected issues it. */
	if ((db->state == DB_UP || db->state == DB_SETUP) && !db->broken &&
	    !db_send_listen(db, channel, db_listen_done))
		db_break(db);
}

bool
db_query_ex(struct db *db, const char *name, const char *sql, int nparams,
		const char *const *values, unsigned flags, db_result_cb *cb, void *arg)
{
	bool chained = (flags & DB_CHAINED) != 0;

	if (!db_is_up(db))
		return false;
	if ((name != NULL && *name == '\0') || sql == NULL || nparams < 0 ||
	    nparams > DB_MAX_PARAMS || (nparams > 0 && values == NULL) ||
	    (flags & ~(unsigned)DB_CHAINED) != 0) {
		log_warnx("database %s: refusing a malformed query", db->name);
		return false;
	}
	/* Chained to a query already sent, it would run in a segment of its own. */
	if (chained && db->unsent == NULL) {
		log_warnx("database %s: refusing a query chained to one already sent", db->name);
		return false;
	}
	return db_enqueue(db, name, sql, nparams, values, chained, cb, arg);
}

bool
db_query(struct db *db, const char *sql, int nparams, const char *const *values,
		db_result_cb *cb, void *arg)
{
	return db_query_ex(db, NULL, sql, nparams, values, 0, cb, arg);
}

bool
db_query_named(struct db *db, const char *name, const char *sql, int nparams,
		const char *const *values, db_result_cb *cb, void *arg)
{
	if (name == NULL) {
		log_warnx("database %s: refusing a malformed query", db->name);
		return false;
	}
	return db_query_ex(db, name, sql, nparams, values, 0, cb, arg);
}

bool
db_value_i64(const char *text, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0')
		return false;
	*out = v;
	return true;
}
