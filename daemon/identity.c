/* identity.c: the in-memory principals table and its reloads. */
#include "identity.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"

struct principal_set {
	size_t count;
	struct principal *items;
};

struct identity {
	struct db *db;
	struct principal_set set;
	bool ready;
	bool loading;
	bool reload_again;      /* a change arrived while a load was in flight */
	identity_loaded_cb *loaded;
	void *loaded_arg;
};

static const char *const role_names[] = { "department", "supervisor", "auditor", "monitor" };

const char *
identity_role_name(enum principal_role role)
{
	return (size_t)role < sizeof(role_names) / sizeof(role_names[0]) ? role_names[role] : "?";
}

static void
principal_set_finish(struct principal_set *set)
{
	for (size_t i = 0; i < set->count; i++) {
		free(set->items[i].fingerprint);
		free(set->items[i].subject);
		free(set->items[i].dept);
		free(set->items[i].region);
	}
	free(set->items);
	set->items = NULL;
	set->count = 0;
}

static int
principal_compare(const void *a, const void *b)
{
	return strcmp(((const struct principal *)a)->fingerprint, ((const struct principal *)b)->fingerprint);
}

static bool
principal_from_row(const PGresult *res, int row, struct principal *p)
{
	const char *role = PQgetvalue(res, row, 2);
	bool known = false;

	for (size_t r = 0; r < sizeof(role_names) / sizeof(role_names[0]); r++) {
		if (strcmp(role, role_names[r]) == 0) {
			p->role = (enum principal_role)r;
			known = true;
		}
	}
	p->fingerprint = strdup(PQgetvalue(res, row, 0));
	p->subject = strdup(PQgetvalue(res, row, 1));
	p->dept = strdup(PQgetvalue(res, row, 3));
	p->region = strdup(PQgetvalue(res, row, 4));
	return known && p->fingerprint && p->subject && p->dept && p->region;
}

static bool
principal_set_load(struct principal_set *set, const PGresult *res)
{
	int rows = PQntuples(res);

	set->count = 0;
	set->items = calloc(rows > 0 ? (size_t)rows : 1, sizeof(struct principal));
	if (set->items == NULL)
		return false;
	for (int i = 0; i < rows; i++) {
		set->count++;
		if (!principal_from_row(res, i, &set->items[i]))
			return false;
	}
	qsort(set->items, set->count, sizeof(struct principal), principal_compare);
	return true;
}

static void
identity_loaded(const PGresult *res, void *arg)
{
	struct identity *id = arg;
	struct principal_set fresh = { 0 };

	id->loading = false;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_warnx("cannot load principals: %s", res ? PQresultErrorMessage(res) : "connection lost");
		return;
	}
	if (!principal_set_load(&fresh, res)) {
		log_warnx("cannot load principals: out of memory or unknown role");
		principal_set_finish(&fresh);
		return;
	}
	principal_set_finish(&id->set);
	id->set = fresh;
	id->ready = true;
	log_info("loaded %zu principals", fresh.count);
	if (id->reload_again) {
		id->reload_again = false;
		identity_reload(id);
	}
	if (id->loaded != NULL)
		id->loaded(id->loaded_arg);
}

void
identity_reload(struct identity *id)
{
	static const char sql[] =
		"SELECT fingerprint, subject, role, coalesce(dept, ''), coalesce(region, '') "
		"FROM principals WHERE enabled";

	if (id->loading) {
		id->reload_again = true;
		return;
	}
	if (!db_query(id->db, sql, 0, NULL, identity_loaded, id)) {
		log_debug("principals reload deferred: database down");
		return;
	}
	id->loading = true;
}

static void
identity_notified(const char *channel, const char *payload, void *arg)
{
	(void)channel, (void)payload;
	identity_reload(arg);
}

struct identity *
identity_create(struct db *db, identity_loaded_cb *loaded, void *arg)
{
	struct identity *id = calloc(1, sizeof(*id));

	if (id == NULL)
		return NULL;
	id->db = db;
	id->loaded = loaded;
	id->loaded_arg = arg;
	db_listen(db, "esup_principals", identity_notified, id);
	return id;
}

void
identity_destroy(struct identity *id)
{
	if (id == NULL)
		return;
	principal_set_finish(&id->set);
	free(id);
}

bool
identity_ready(const struct identity *id)
{
	return id->ready;
}

const struct principal *
identity_find(const struct identity *id, const char *fingerprint)
{
	struct principal key = { .fingerprint = (char *)fingerprint };

	if (id->set.count == 0)
		return NULL;
	return bsearch(&key, id->set.items, id->set.count, sizeof(struct principal), principal_compare);
}
