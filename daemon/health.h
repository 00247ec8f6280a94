/* health.h: is esupd ready to serve, and if not, what is missing.
 *
 * Ready means every dependency a request needs is there: the writer and reader connections
 * are up, the database schema is the version this binary was built for, the principals are
 * loaded, the rules have been built from the reference tables and the certificate revocation
 * list in force is within its validity (an expired one refuses every client). The answer is computed from
 * the modules' own state whenever it is asked for, so it cannot go stale; health_changed() is
 * only the hook that announces the first time it becomes true (sd_notify READY=1 and a log
 * line). Until then /healthz answers 503 naming what is missing, and so does every request
 * that needs what is missing. */
#ifndef ESUP_HEALTH_H
#define ESUP_HEALTH_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "esupd.h"

/* Everything a request may need is there (draining is not counted: see /healthz). */
bool health_ready(const struct esupd *d);
/* Principals loaded and the reader up: enough to authenticate and to read. */
bool health_can_authenticate(const struct esupd *d);
/* What is missing, as one line for a 503 ("" when ready); returns buf. */
const char *health_missing(const struct esupd *d, char *buf, size_t len);
/* The /healthz body: overall status and one entry per dependency. *ok tells 200 from 503. */
json_t *health_json(const struct esupd *d, bool *ok);

/* Asks the reader for the schema version (on every reader (re)connect, and on SIGHUP); the
 * answer arrives later and calls health_changed. A database without schema_migrations (never
 * migrated) is version 0. When the version is current and then_load was asked (by this call or
 * one whose answer is still due), esupd_schema_current loads what depends on the schema. When
 * it is behind before esupd was ever ready, esupd logs "database schema is at version N, this
 * esupd needs M: run esupd --migrate" and leaves its loop with exit status 1; after readiness
 * it stays up and not ready (/healthz 503) until a migration and a SIGHUP. */
void health_check_schema(struct esupd *d, bool then_load);
/* Call after any dependency changed state: announces readiness the first time it holds. */
void health_changed(struct esupd *d);

/* sd_notify(3) when built with libsystemd; nothing otherwise. */
void health_sd_notify(const char *state);

#endif
