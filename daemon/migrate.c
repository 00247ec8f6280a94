/* migrate.c: `esupd --migrate`: applies the embedded schema migrations in order.
 *
 * Runs before any event loop exists, so it uses plain blocking libpq. Each migration runs
 * in its own transaction together with the schema_migrations row that records it, so a
 * failure leaves the database at the previous version, and a rerun picks up from there. */
#include "migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "log.h"

/* Session lock held for the whole run: a second esupd --migrate waits instead of racing. */
#define MIGRATE_LOCK_SQL "SELECT pg_advisory_lock(7310264190117520000)"

/* The schema's owner: NOLOGIN, so migrations log in as a member of it (esup_admin, made by
 * `esup-dbsetup init`) and act as it, and everything they create belongs to it. */
#define MIGRATE_OWNER_ROLE "esup_owner"

int
migrate_expected_version(void)
{
	return migrations_count > 0 ? migrations[migrations_count - 1].version : 0;
}

/* Server NOTICEs (IF NOT EXISTS skips) are noise; WARNINGs (a partition that could not be
 * created) need an operator. */
static void
migrate_notice(void *arg, const PGresult *res)
{
	const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	(void)arg;
	if (msg == NULL)
		return;
	if (severity != NULL && strcmp(severity, "WARNING") == 0)
		log_warnx("migrate: server warning: %s", msg);
	else
		log_debug("migrate: server %s: %s", severity ? severity : "notice", msg);
}

static void
migrate_log_error(const PGresult *res, const char *what)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);

	log_warnx("migrate: %s failed: SQLSTATE %s: %s%s%s", what, state ? state : "?",
		msg ? msg : PQresStatus(PQresultStatus(res)), detail ? "; " : "", detail ? detail : "");
}

/* libpq's messages end in a newline and may span lines; the log wants one line. */
static const char *
migrate_conn_error(const PGconn *conn, char *buf, size_t size)
{
	size_t n;

	snprintf(buf, size, "%s", conn ? PQerrorMessage(conn) : "out of memory");
	for (n = 0; buf[n] != '\0'; n++)
		if (buf[n] == '\n' || buf[n] == '\t')
			buf[n] = ' ';
	while (n > 0 && buf[n - 1] == ' ')
		buf[--n] = '\0';
	return buf;
}

/* Runs one statement (or, without parameters, a script of several) and checks that it
 * completed. Returns the result for the caller to read, or NULL after logging. */
static PGresult *
migrate_exec(PGconn *conn, const char *sql, int nparams, const char *const *values,
		const char *what)
{
	PGresult *res = nparams > 0 ? PQexecParams(conn, sql, nparams, NULL, values, NULL, NULL, 0)
		: PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);
	char err[512];

	if (res == NULL) {
		log_warnx("migrate: %s failed: %s", what, migrate_conn_error(conn, err, sizeof(err)));
		return NULL;
	}
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		migrate_log_error(res, what);
		PQclear(res);
		return NULL;
	}
	return res;
}

static bool
migrate_exec_ok(PGconn *conn, const char *sql, const char *what)
{
	PGresult *res = migrate_exec(conn, sql, 0, NULL, what);

	PQclear(res);
	return res != NULL;
}

/* The newest version recorded in the database, 0 for a fresh one. */
static bool
migrate_current_version(PGconn *conn, int *version)
{
	PGresult *res = migrate_exec(conn,
		"SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL,
		"reading schema_migrations");
	long v;
	char *end;

	if (res == NULL)
		return false;
	v = strtol(PQgetvalue(res, 0, 0), &end, 10);
	bool trailing = *end != '\0';   /* end points into res: look before freeing it */
	PQclear(res);
	if (trailing || v < 0 || v > 1000000) {
		log_warnx("migrate: schema_migrations holds an unusable version");
		return false;
	}
	*version = (int)v;
	return true;
}

static bool
migrate_is_applied(PGconn *conn, const struct migration *m, bool *applied)
{
	char version[16];
	const char *values[1] = { version };
	PGresult *res;

	snprintf(version, sizeof(version), "%d", m->version);
	res = migrate_exec(conn, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, values,
		"reading schema_migrations");
	if (res == NULL)
		return false;
	*applied = PQntuples(res) > 0;
	PQclear(res);
	return true;
}

static bool
migrate_apply(PGconn *conn, const struct migration *m)
{
	char version[16], what[128];
	const char *values[2] = { version, m->name };
	PGresult *res;

	snprintf(version, sizeof(version), "%d", m->version);
	snprintf(what, sizeof(what), "migration %d (%s)", m->version, m->name);
	if (!migrate_exec_ok(conn, "BEGIN", what))
		return false;
	if (!migrate_exec_ok(conn, m->sql, what))
		goto rollback;
	res = migrate_exec(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
		2, values, what);
	if (res == NULL)
		goto rollback;
	PQclear(res);
	if (!migrate_exec_ok(conn, "COMMIT", what))
		return false;
	log_info("migration %d (%s) applied", m->version, m->name);
	return true;
rollback:
	(void)migrate_exec_ok(conn, "ROLLBACK", what);
	return false;
}

/* The embedded list is generated, but a hand-edited meson.build could still misorder it. */
static bool
migrate_list_valid(void)
{
	for (size_t i = 0; i < migrations_count; i++) {
		if (migrations[i].version <= (i > 0 ? migrations[i - 1].version : 0)) {
			log_warnx("migrate: embedded migrations out of order at %d (%s)",
				migrations[i].version, migrations[i].name);
			return false;
		}
	}
	return true;
}

/* SET ROLE to the owner: refused unless the login is a member of it (or is it). */
static bool
migrate_become_owner(PGconn *conn)
{
	if (migrate_exec_ok(conn, "SET ROLE " MIGRATE_OWNER_ROLE, "acting as " MIGRATE_OWNER_ROLE))
		return true;
	log_warnx("migrate: log in as a member of " MIGRATE_OWNER_ROLE " (esup_admin, made by "
		"`esup-dbsetup init` run as the PostgreSQL superuser)");
	return false;
}

static bool
migrate_all(PGconn *conn)
{
	int current, expected = migrate_expected_version();
	unsigned applied_now = 0;

	if (!migrate_become_owner(conn) ||
	    !migrate_exec_ok(conn, MIGRATE_LOCK_SQL, "taking the migration lock") ||
	    !migrate_exec_ok(conn, "CREATE TABLE IF NOT EXISTS schema_migrations ("
			"version int PRIMARY KEY, name text NOT NULL, "
			"applied_at timestamptz NOT NULL DEFAULT now())", "creating schema_migrations") ||
	    !migrate_current_version(conn, &current))
		return false;
	if (current > expected) {
		log_warnx("database schema is at version %d, newer than this esupd knows (%d); "
			"refusing to migrate", current, expected);
		return false;
	}
	for (size_t i = 0; i < migrations_count; i++) {
		bool applied;

		if (!migrate_is_applied(conn, &migrations[i], &applied))
			return false;
		if (applied)
			continue;
		if (!migrate_apply(conn, &migrations[i]))
			return false;
		applied_now++;
	}
	if (applied_now == 0)
		log_info("schema is up to date at version %d", expected);
	return true;
}

bool
migrate_run(const char *conninfo)
{
	PGconn *conn;
	bool ok;

	if (!migrate_list_valid())
		return false;
	conn = PQconnectdb(conninfo);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
		char err[512];

		log_warnx("migrate: cannot connect: %s", migrate_conn_error(conn, err, sizeof(err)));
		PQfinish(conn);
		return false;
	}
	PQsetNoticeReceiver(conn, migrate_notice, NULL);
	log_info("migrating database %s as %s, acting as " MIGRATE_OWNER_ROLE, PQdb(conn),
		PQuser(conn));
	ok = migrate_all(conn);
	PQfinish(conn);   /* also releases the session's advisory lock */
	return ok;
}
