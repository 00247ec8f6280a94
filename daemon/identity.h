/* identity.h: who a client certificate is. The principals table is held in memory, sorted
 * by fingerprint, reloaded when the database (re)connects, on NOTIFY esup_principals, and on
 * SIGHUP. */
#ifndef ESUP_IDENTITY_H
#define ESUP_IDENTITY_H

#include <stdbool.h>

struct db;

enum principal_role { ROLE_DEPARTMENT, ROLE_SUPERVISOR, ROLE_AUDITOR, ROLE_MONITOR };

struct principal {
	char *fingerprint;
	char *subject;
	enum principal_role role;
	char *dept;     /* "" unless a department */
	char *region;   /* "" when unscoped */
};

struct identity;

/* The role as the principals table spells it: "department", "supervisor", ... */
const char *identity_role_name(enum principal_role role);

/* Told after each successful load (a new set is in place). */
typedef void identity_loaded_cb(void *arg);

struct identity *identity_create(struct db *db, identity_loaded_cb *loaded, void *arg);
void identity_destroy(struct identity *id);
/* Asks the database for the current principals; the old set serves until they arrive. */
void identity_reload(struct identity *id);
/* True once a principals set has been loaded at least once. */
bool identity_ready(const struct identity *id);
/* NULL when unknown or disabled. Valid until the next reload completes: copy what you keep. */
const struct principal *identity_find(const struct identity *id, const char *fingerprint);

#endif
