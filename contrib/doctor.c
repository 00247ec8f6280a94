/* doctor.c: `esupctl doctor`. See doctor.h. The configuration checks are daemon/check.c's,
 * the same code `esupd -n` runs; the database checks below are the doctor's own. */
#include "doctor.h"

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "check.h"
#include "config.h"
#include "log.h"
#include "migrate.h"

/* The calendar must know the holidays of every year from the business day to this many days
 * after it: a year with no row has not been loaded (every year has holidays). */
#define DOCTOR_CALENDAR_AHEAD_DAYS 60

/* The roles `esup-dbsetup init` makes (docs/operations.md, "Database"). */
static const char *const doctor_roles[] = {
	"esup_owner", "esup_admin", "esupd", "esup_writer", "esup_supervisor", "esup_auditor",
};

static const char *const level_words[] = { "ok", "warn", "FAIL" };

/* One line per check: "ok|warn|FAIL NAME: DETAIL", the file and line first when it has one. */
static void
doctor_print(void *arg, enum check_level level, const char *where, const char *name,
		const char *message)
{
	(void)arg;
	printf("%s %s: %s%s%s\n", level_words[level], name, where, where[0] ? ": " : "", message);
	fflush(stdout);
}

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: esupctl doctor [-c FILE]\n"
		"  -c, --config FILE  esupd's configuration (default /etc/esup/esupd.conf)\n"
		"\n"
		"Runs every check of esupd -n, then, with [database] conninfo (as [server] user when\n"
		"run as root), the database: reachable, schema version, roles, principals, reference\n"
		"data (calendar, items, fee items, regions of the departments). One line per check:\n"
		"ok|warn|FAIL NAME: DETAIL, then a summary; exit status 1 when any check failed.\n");
}

/* Run as root, the database checks run as the daemon user, as esupd does after dropping its
 * privileges (peer authentication maps that OS user to its database role). */
static bool
doctor_become_daemon_user(const struct config *cfg, struct check_report *r)
{
	struct passwd *pw;

	if (geteuid() != 0 || cfg->user[0] == '\0')
		return true;
	if ((pw = getpwnam(cfg->user)) == NULL)
		return false;   /* check_config said so */
	if (setgroups(0, NULL) != 0 || initgroups(pw->pw_name, pw->pw_gid) != 0 ||
	    setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
		check_say(r, CHECK_FAIL, cfg, NULL, "database", "cannot become user %s to connect as "
			"esupd does: %s", cfg->user, strerror(errno));
		return false;
	}
	return true;
}

/* A query's result, or NULL with a FAIL line named name. */
static PGresult *
doctor_query(PGconn *conn, const char *sql, int n, const char *const *values,
		const struct config *cfg, const char *name, struct check_report *r)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, values, NULL, NULL, 0);

	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		return res;
	check_say(r, CHECK_FAIL, cfg, NULL, name, "%s", strtok(PQresultErrorMessage(res), "\n"));
	PQclear(res);
	return NULL;
}

/* The schema version; -1 (and a FAIL line) when unusable. A database never migrated has no
 * schema_migrations: version 0. */
static int
doctor_schema(PGconn *conn, const struct config *cfg, struct check_report *r)
{
	PGresult *res = doctor_query(conn, "SELECT CASE WHEN to_regclass('schema_migrations') IS "
		"NULL THEN -1 ELSE 0 END", 0, NULL, cfg, "schema", r);
	int version = -1, want = migrate_expected_version();

	if (res == NULL)
		return -1;
	if (strcmp(PQgetvalue(res, 0, 0), "0") == 0) {
		PQclear(res);
		if ((res = doctor_query(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations",
				0, NULL, cfg, "schema", r)) == NULL)
			return -1;
		version = atoi(PQgetvalue(res, 0, 0));
	} else
		version = 0;
	PQclear(res);
	if (version < want)
		check_say(r, CHECK_FAIL, cfg, NULL, "schema", "database schema is at version %d, this "
			"esupd needs %d: run esupd --migrate%s", version, want,
			version == 0 ? " (the database was never migrated)" : "");
	else
		check_say(r, CHECK_OK, cfg, NULL, "schema", "version %d%s", version,
			version > want ? " (newer than this build: upgrade it)" : "");
	return version < want ? -1 : version;
}

static void
doctor_roles_exist(PGconn *conn, const struct config *cfg, struct check_report *r)
{
	for (size_t i = 0; i < sizeof(doctor_roles) / sizeof(doctor_roles[0]); i++) {
		const char *values[1] = { doctor_roles[i] };
		char name[64];
		PGresult *res;

		snprintf(name, sizeof(name), "role %s", doctor_roles[i]);
		res = doctor_query(conn, "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls"
			" FROM pg_roles WHERE rolname = $1", 1, values, cfg, name, r);
		if (res == NULL)
			continue;
		if (PQntuples(res) == 0)
			check_say(r, CHECK_FAIL, cfg, NULL, name, "missing: run esup-dbsetup init as the "
				"PostgreSQL superuser");
		else if (strcmp(PQgetvalue(res, 0, 0), "t") == 0)
			check_say(r, CHECK_FAIL, cfg, NULL, name, "is a superuser or may create roles or "
				"databases or bypass row security: run esup-dbsetup init to remove that");
		else
			check_say(r, CHECK_OK, cfg, NULL, name, "exists");
		PQclear(res);
	}
}

/* The role [database] conninfo logs in as: esupd's own (esup-dbsetup init's `esupd`, or one
 * like it), a member of esup_writer and of nothing else, not a superuser, without role
 * attributes, owning no table of the schema (docs/reliability.md, "Database privileges").
 * The six roles above are judged by name; this is the one esupd really uses. */
static void
doctor_login_role(PGconn *conn, const struct config *cfg, struct check_report *r)
{
	static const char *const attributes[] = {
		"a superuser", "bypasses row security", "may create roles", "may create databases",
		"may replicate",
	};
	PGresult *res = doctor_query(conn, "SELECT r.rolsuper, r.rolbypassrls, r.rolcreaterole,"
		" r.rolcreatedb, r.rolreplication,"
		" (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
		" WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
		" AND pg_has_role(r.oid, c.relowner, 'MEMBER')),"
		" CASE WHEN r.rolsuper THEN '' ELSE coalesce((SELECT string_agg(g.rolname, ', '"
		" ORDER BY g.rolname) FROM pg_roles g WHERE g.oid <> r.oid AND g.rolname <> 'esup_writer'"
		" AND pg_has_role(r.oid, g.oid, 'MEMBER')), '') END,"
		" EXISTS (SELECT 1 FROM pg_roles w WHERE w.rolname = 'esup_writer'"
		" AND pg_has_role(r.oid, w.oid, 'MEMBER'))"
		" FROM pg_roles r WHERE r.rolname = current_user", 0, NULL, cfg, "login role", r);
	const char *user = PQuser(conn);
	char has[512];
	size_t len = 0;

	if (res == NULL)
		return;
	has[0] = '\0';
	if (PQntuples(res) != 1) {
		check_say(r, CHECK_FAIL, cfg, NULL, "login role", "%s: not in pg_roles", user);
		PQclear(res);
		return;
	}
	for (size_t i = 0; i < sizeof(attributes) / sizeof(attributes[0]); i++)
		if (strcmp(PQgetvalue(res, 0, (int)i), "t") == 0 && len < sizeof(has))
			len += (size_t)snprintf(has + len, sizeof(has) - len, "%s%s", len ? ", " : "",
				attributes[i]);
	if (strcmp(PQgetvalue(res, 0, 5), "0") != 0 && len < sizeof(has))
		len += (size_t)snprintf(has + len, sizeof(has) - len, "%sowns %s tables of the schema "
			"(or is a member of their owner)", len ? ", " : "", PQgetvalue(res, 0, 5));
	if (PQgetvalue(res, 0, 6)[0] != '\0' && len < sizeof(has))
		len += (size_t)snprintf(has + len, sizeof(has) - len, "%sa member of %s",
			len ? ", " : "", PQgetvalue(res, 0, 6));
	if (strcmp(PQgetvalue(res, 0, 7), "t") != 0 && len < sizeof(has))
		len += (size_t)snprintf(has + len, sizeof(has) - len, "%snot a member of esup_writer",
			len ? ", " : "");
	if (len > 0)
		check_say(r, CHECK_FAIL, cfg, NULL, "login role", "[database] conninfo logs in as %s: "
			"%s; esupd should log in as its own role (esupd, made by esup-dbsetup init), a "
			"member of esup_writer only: set user= in the conninfo", user, has);
	else
		check_say(r, CHECK_OK, cfg, NULL, "login role", "%s: a member of esup_writer only, no "
			"superuser or other role attribute, owns no table", user);
	PQclear(res);
}

/* A check by one query returning one row: (problem count, what is wrong, total). A count
 * other than "0" says `problem` with the count and what; else `fine` with the total. */
struct doctor_count {
	const char *name;
	enum check_level level;   /* of a problem */
	const char *sql;          /* $1: the business day (YYYY-MM-DD), $2: days ahead */
	const char *problem;      /* printf: count, what */
	const char *fine;         /* printf: total */
};

static const struct doctor_count doctor_counts[] = {
	{ "principals", CHECK_FAIL,
	  "SELECT (count(*) = 0)::int, '', count(*) FROM principals WHERE enabled",
	  "no enabled principal%.0s%s: no client can connect; register the departments' "
	  "certificates (docs/operations.md, \"Certificates and principals\")", "%s enabled" },
	{ "principal subjects", CHECK_WARN,
	  "SELECT count(*), string_agg(fingerprint, ', ' ORDER BY fingerprint), 0 FROM principals"
	  " WHERE enabled AND subject !~ '^[A-Za-z]+=.'",
	  "%s enabled principals without a subject (CN=...): %s", "every one names its subject" },
	{ "principal departments", CHECK_WARN,
	  "SELECT count(*), string_agg(p.subject || ' (' || p.dept || ')', ', '), 0 FROM principals p"
	  " WHERE p.enabled AND p.role = 'department' AND NOT EXISTS (SELECT 1 FROM departments d"
	  " WHERE d.code = p.dept)",
	  "%s department principals of a department not in departments (no region, no name on "
	  "the board): %s", "every department principal's department exists" },
	{ "calendar", CHECK_FAIL,
	  "SELECT count(*), string_agg(y::text, ', ' ORDER BY y), 0 FROM generate_series("
	  "extract(year FROM $1::date)::int, extract(year FROM $1::date + $2::int)::int) y"
	  " WHERE NOT EXISTS (SELECT 1 FROM calendar WHERE date >= make_date(y, 1, 1)"
	  " AND date < make_date(y + 1, 1, 1))",
	  "%s years without holidays from today to 60 days ahead: %s; load the calendar "
	  "(esup-dbsetup load calendar FILE)", "knows the holidays from today to 60 days ahead" },
	{ "items", CHECK_FAIL, "SELECT (count(*) = 0)::int, '', count(*) FROM items",
	  "the item catalogue is empty%.0s%s: load it (esup-dbsetup load items FILE)", "%s items" },
	{ "fee items", CHECK_WARN, "SELECT (count(*) = 0)::int, '', count(*) FROM fee_items",
	  "no fee items%.0s%s: the fee rules see every fee as unknown", "%s fee items" },
	/* Ingest inserts into these indexes all over their tables: with a pool smaller than
	 * them, most insertions read and write back a page through the kernel, and ingest is as
	 * fast as its cache and disk are that day (docs/operations.md, "Sizing PostgreSQL").
	 * The largest month's partition stands for the current one. */
	{ "buffer pool", CHECK_WARN,
	  "SELECT (i.bytes > b.bytes)::int, pg_size_pretty(i.bytes) || ' against shared_buffers '"
	  " || pg_size_pretty(b.bytes), pg_size_pretty(i.bytes) || ' of ' || pg_size_pretty(b.bytes)"
	  " FROM (SELECT coalesce(sum(pg_relation_size(x.indexrelid)), 0) AS bytes FROM pg_index x"
	  " WHERE x.indrelid IN ('cases'::regclass, 'event_ids'::regclass, (SELECT h.inhrelid"
	  " FROM pg_inherits h WHERE h.inhparent = 'events'::regclass"
	  " ORDER BY pg_relation_size(h.inhrelid) DESC LIMIT 1))) i,"
	  " (SELECT pg_size_bytes(current_setting('shared_buffers')) AS bytes) b",
	  "%.0sthe indexes ingest writes (cases, event_ids, a month of events) take %s: ingest "
	  "may slow as they grow; raise shared_buffers above them (docs/operations.md, \"Sizing "
	  "PostgreSQL\")", "the indexes ingest writes fit in shared_buffers: %s" },
	{ "regions", CHECK_FAIL,
	  "SELECT count(*), string_agg(d.code || ' (region ''' || d.region || ''')', ', ' ORDER BY"
	  " d.code), 0 FROM departments d WHERE NOT EXISTS (SELECT 1 FROM regions g WHERE g.code ="
	  " d.region)",
	  "%s departments whose region is not in regions: %s", "every department's region is in regions" },
};

/* Principals and reference data, judged on the business day esupd would use ([testing]
 * clock_offset_s included) in Asia/Shanghai (UTC+8, no daylight saving). */
static void
doctor_contents(PGconn *conn, const struct config *cfg, struct check_report *r)
{
	time_t now = time(NULL) + (time_t)cfg->clock_offset_s + 8 * 3600;
	char today[16], ahead[8];
	const char *values[2] = { today, ahead };
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(today, sizeof(today), "%Y-%m-%d", &tm);
	snprintf(ahead, sizeof(ahead), "%d", DOCTOR_CALENDAR_AHEAD_DAYS);
	for (size_t i = 0; i < sizeof(doctor_counts) / sizeof(doctor_counts[0]); i++) {
		const struct doctor_count *c = &doctor_counts[i];
		int n = strstr(c->sql, "$1") != NULL ? 2 : 0;
		PGresult *res = doctor_query(conn, c->sql, n, values, cfg, c->name, r);

		if (res == NULL)
			continue;
		if (strcmp(PQgetvalue(res, 0, 0), "0") != 0)
			check_say(r, c->level, cfg, NULL, c->name, c->problem, PQgetvalue(res, 0, 0),
				PQgetvalue(res, 0, 1));
		else
			check_say(r, CHECK_OK, cfg, NULL, c->name, c->fine, PQgetvalue(res, 0, 2));
		PQclear(res);
	}
}

static void
doctor_database(const struct config *cfg, struct check_report *r)
{
	PGconn *conn = PQconnectdb(cfg->db_conninfo);

	if (PQstatus(conn) != CONNECTION_OK) {
		check_say(r, CHECK_FAIL, cfg, NULL, "database", "cannot connect with [database] "
			"conninfo: %s", strtok(PQerrorMessage(conn), "\n"));
		PQfinish(conn);
		return;
	}
	check_say(r, CHECK_OK, cfg, NULL, "database", "connected to %s as %s (PostgreSQL %d)",
		PQdb(conn), PQuser(conn), PQserverVersion(conn));
	doctor_login_role(conn, cfg, r);
	doctor_roles_exist(conn, cfg, r);
	if (doctor_schema(conn, cfg, r) >= 0)
		doctor_contents(conn, cfg, r);
	PQfinish(conn);
}

int
doctor_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = "/etc/esup/esupd.conf";
	struct check_report r = { .emit = doctor_print };
	struct config *cfg;
	int ch;

	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init(true, LOG_LEVEL_WARNING, NULL, LOG_TARGET_STDERR);
	if ((cfg = config_load(path)) == NULL) {
		printf("FAIL configuration: %s cannot be used (above)\n", path);
		printf("doctor: 0 ok, 0 warnings, 1 failed\n");
		return 1;
	}
	printf("ok configuration: %s parses\n", path);
	(void)check_config(cfg, time(NULL), &r);
	if (doctor_become_daemon_user(cfg, &r))
		doctor_database(cfg, &r);
	printf("doctor: %u ok, %u warnings, %u failed\n", r.oks, r.warnings, r.failures);
	config_destroy(cfg);
	return r.failures > 0 ? 1 : 0;
}
