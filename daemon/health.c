/* health.c: readiness and /healthz. See health.h. */
#include "health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#if HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "db.h"
#include "identity.h"
#include "log.h"
#include "migrate.h"
#include "refdata.h"
#include "tls.h"

/* First whether the table exists (a database never migrated has none), then its version. */
static const char health_schema_exists_sql[] =
	"SELECT to_regclass('schema_migrations') IS NOT NULL";
static const char health_schema_sql[] =
	"SELECT coalesce(max(version), 0) FROM schema_migrations";

void
health_sd_notify(const char *state)
{
#if HAVE_SYSTEMD
	sd_notify(0, state);
#else
	(void)state;
#endif
}

static bool
health_schema_ok(const struct esupd *d)
{
	return d->schema_version >= migrate_expected_version();
}

bool
health_can_authenticate(const struct esupd *d)
{
	return identity_ready(d->identity) && db_is_up(d->reader);
}

/* The CRL in force can be used now: one past its nextUpdate refuses every client. */
static bool
health_crl_ok(const struct esupd *d, char *why, size_t len)
{
	return d->tls == NULL || tls_crl_status(d->tls, time(NULL), why, len);
}

/* Every writer connection is up (they come and go together with the database). */
static bool
health_writers_up(const struct esupd *d)
{
	for (size_t i = 0; i < d->nwriters; i++)
		if (!db_is_up(d->writers[i]))
			return false;
	return d->nwriters > 0;
}

bool
health_ready(const struct esupd *d)
{
	char why[256];

	return health_writers_up(d) && db_is_up(d->reader) && health_schema_ok(d) &&
		identity_ready(d->identity) && refdata_rules(d->refdata) != NULL &&
		health_crl_ok(d, why, sizeof(why));
}

/* One dependency's state and, when it is not as it should be, why. */
static void
missing_rules(const struct esupd *d, char *buf, size_t len)
{
	const char *why = refdata_error(d->refdata);

	if (why[0] != '\0')
		snprintf(buf, len, "rules not loaded: %s", why);
	else if (!db_is_up(d->reader))
		snprintf(buf, len, "rules not loaded yet: database unavailable");
	else
		snprintf(buf, len, "rules not loaded yet: loading");
}

static void
missing_schema(const struct esupd *d, char *buf, size_t len)
{
	if (d->schema_version < 0)
		snprintf(buf, len, "database schema version not known yet");
	else
		snprintf(buf, len, "database schema is at version %d, this esupd needs %d: run esupd --migrate",
			d->schema_version, migrate_expected_version());
}

const char *
health_missing(const struct esupd *d, char *buf, size_t len)
{
	char why[256];

	buf[0] = '\0';
	if (!health_crl_ok(d, why, sizeof(why)))
		snprintf(buf, len, "certificate revocation list unusable: %s; every client certificate "
			"is refused until a current one is installed (SIGHUP)", why);
	else if (!health_writers_up(d) || !db_is_up(d->reader))
		snprintf(buf, len, "database unavailable (%s connection down)",
			!health_writers_up(d) ? "writer" : "reader");
	else if (!health_schema_ok(d))
		missing_schema(d, buf, len);
	else if (!identity_ready(d->identity))
		snprintf(buf, len, "principals not loaded yet");
	else if (refdata_rules(d->refdata) == NULL)
		missing_rules(d, buf, len);
	return buf;
}

static json_t *
check_json(bool ok, const char *detail)
{
	json_t *o = json_pack("{s:s}", "status", ok ? "ok" : "failing");

	if (detail != NULL && detail[0] != '\0')
		json_object_set_new(o, "detail", json_string(detail));
	return o;
}

static json_t *
checks_json(const struct esupd *d)
{
	char buf[512];
	json_t *checks = json_object();
	const char *rules_error = refdata_error(d->refdata);

	json_object_set_new(checks, "writer", check_json(health_writers_up(d), NULL));
	json_object_set_new(checks, "reader", check_json(db_is_up(d->reader), NULL));
	json_object_set_new(checks, "sweeper", check_json(db_is_up(d->sweep_db), NULL));
	missing_schema(d, buf, sizeof(buf));
	json_object_set_new(checks, "schema", check_json(health_schema_ok(d),
		health_schema_ok(d) ? NULL : buf));
	json_object_set_new(json_object_get(checks, "schema"), "version",
		json_integer(d->schema_version));
	json_object_set_new(json_object_get(checks, "schema"), "expected",
		json_integer(migrate_expected_version()));
	bool crl = health_crl_ok(d, buf, sizeof(buf));
	json_object_set_new(checks, "crl", check_json(crl, buf));
	json_object_set_new(checks, "principals", check_json(identity_ready(d->identity),
		identity_ready(d->identity) ? NULL : "not loaded yet"));
	if (refdata_rules(d->refdata) != NULL) {
		/* a refused reload keeps the running rules: still serving, but say so */
		json_object_set_new(checks, "rules", check_json(true, rules_error[0] ?
			"the last reload was refused; the previous rules are running" : NULL));
		if (rules_error[0] != '\0')
			json_object_set_new(json_object_get(checks, "rules"), "last_error",
				json_string(rules_error));
	} else {
		missing_rules(d, buf, sizeof(buf));
		json_object_set_new(checks, "rules", check_json(false, buf));
	}
	return checks;
}

json_t *
health_json(const struct esupd *d, bool *ok)
{
	char missing[512];
	bool ready = health_ready(d);
	const char *status;

	if (d->draining)
		status = "draining";
	else if (ready)
		status = "ok";
	else
		status = d->announced_ready ? "degraded" : "starting";
	*ok = ready && !d->draining;
	json_t *body = json_pack("{s:s, s:b, s:b, s:s, s:o}", "status", status, "ready", ready,
		"draining", d->draining, "database",
		health_writers_up(d) && db_is_up(d->reader) ? "up" : "down",
		"checks", checks_json(d));
	if (!ready)
		json_object_set_new(body, "missing",
			json_string(health_missing(d, missing, sizeof(missing))));
	return body;
}

/* The version is known: load what depends on it, or, before esupd was ever ready, refuse to
 * start with a schema behind (after readiness, /healthz says so and esupd waits for a
 * migration and a SIGHUP). */
static void
health_schema_known(struct esupd *d)
{
	if (health_schema_ok(d)) {
		if (d->schema_load_pending) {
			d->schema_load_pending = false;
			esupd_schema_current(d);
		}
		health_changed(d);
		return;
	}
	log_warnx("database schema is at version %d, this esupd needs %d: run esupd --migrate",
		d->schema_version, migrate_expected_version());
	if (!d->announced_ready && !d->draining) {
		log_warnx("refusing to start on a database schema behind this esupd");
		d->exit_status = 1;
		event_base_loopbreak(d->base);
		return;
	}
	health_changed(d);
}

/* The version query answered (its flag cleared): true when res holds its one row. A lost
 * connection asks again on reconnect; an error leaves esupd not ready, at version 0. */
static bool
health_schema_answered(struct esupd *d, const PGresult *res)
{
	d->schema_checking = false;
	if (res == NULL)
		return false;
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		log_warnx("cannot read the schema version: %s", PQresultErrorMessage(res));
		d->schema_version = 0;
		health_changed(d);
		return false;
	}
	return true;
}

static void
health_schema_result(const PGresult *res, void *arg)
{
	struct esupd *d = arg;
	char *end;
	long v;

	if (!health_schema_answered(d, res))
		return;
	v = strtol(PQgetvalue(res, 0, 0), &end, 10);
	d->schema_version = (*end == '\0' && v >= 0 && v < 1000000) ? (int)v : 0;
	health_schema_known(d);
}

static void
health_schema_exists_result(const PGresult *res, void *arg)
{
	struct esupd *d = arg;

	if (!health_schema_answered(d, res))
		return;
	if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		if (db_query(d->reader, health_schema_sql, 0, NULL, health_schema_result, d))
			d->schema_checking = true;
		return;
	}
	d->schema_version = 0;   /* never migrated */
	health_schema_known(d);
}

void
health_check_schema(struct esupd *d, bool then_load)
{
	d->schema_load_pending |= then_load;
	if (d->schema_checking)
		return;
	if (db_query(d->reader, health_schema_exists_sql, 0, NULL, health_schema_exists_result, d))
		d->schema_checking = true;
}

void
health_changed(struct esupd *d)
{
	char missing[512];

	if (d->announced_ready || d->draining)
		return;
	if (!health_ready(d)) {
		log_debug("not ready yet: %s", health_missing(d, missing, sizeof(missing)));
		return;
	}
	d->announced_ready = true;
	log_info("ready: schema version %d, principals and rules loaded", d->schema_version);
	health_sd_notify("READY=1");
}
