/* refdata.c: loading the reference tables into a libmonitor ruleset. */
#include "refdata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "log.h"
#include "metrics.h"

/* The tables a ruleset is built from are libmonitor's (mon_refdata_name), each exported by
 * esup_refdata_csv() from the table of the same name. */
struct refdata {
	struct db *db;
	struct mon_ruleset *rules;
	const struct config *cfg;
	refdata_loaded_cb *loaded;
	void *loaded_arg;
	bool loading, again;
	char error[512];  /* why the last load did not swap; "" after a good one */
	char sql[512];   /* one query for all tables: one consistent snapshot */
	struct timespec started;          /* monotonic: when the load in flight was sent */
	double last_duration_s;
	unsigned long loads[REFDATA_RESULTS];
};

const char *const refdata_result_names[REFDATA_RESULTS] = { "ok", "refused", "lost" };

static struct mon_ruleset *
refdata_build(struct refdata *rd, const PGresult *res)
{
	struct mon_ruleset *rs = mon_ruleset_create();
	struct mon_error err;

	if (rs == NULL)
		return NULL;
	for (size_t i = 0; i < mon_refdata_count(); i++) {
		const char *csv = PQgetvalue(res, 0, (int)i);

		if (!mon_ruleset_load(rs, mon_refdata_name(i), csv, strlen(csv), &err)) {
			snprintf(rd->error, sizeof(rd->error), "reference table %s refused: %s: "
				"expected %s, got %s", mon_refdata_name(i), err.field, err.expected, err.got);
			log_warnx("%s; keeping the running rules", rd->error);
			mon_ruleset_destroy(rs);
			return NULL;
		}
	}
	if (!config_apply_rules(rd->cfg, rs, &err)) {
		snprintf(rd->error, sizeof(rd->error), "[rules] %s: expected %s, got %s", err.field,
			err.expected, err.got);
		log_warnx("%s; keeping the running rules", rd->error);
		mon_ruleset_destroy(rs);
		return NULL;
	}
	return rs;
}

static void
refdata_on_result(const PGresult *res, void *arg)
{
	struct refdata *rd = arg;
	struct mon_ruleset *rs = NULL;

	rd->loading = false;
	rd->last_duration_s = metrics_since(&rd->started);
	if (res == NULL) {
		log_info("reference data not loaded: connection lost; retried on reconnect");
	} else if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
		 PQnfields(res) != (int)mon_refdata_count()) {
		snprintf(rd->error, sizeof(rd->error), "reference data not readable: %s",
			PQresultErrorMessage(res));
		rd->error[strcspn(rd->error, "\n")] = '\0';
		log_warnx("%s", rd->error);
	} else {
		rs = refdata_build(rd, res);
	}
	rd->loads[rs != NULL ? REFDATA_OK : res == NULL ? REFDATA_LOST : REFDATA_REFUSED]++;
	if (rs != NULL) {
		mon_ruleset_destroy(rd->rules);
		rd->rules = rs;
		rd->error[0] = '\0';
		log_info("rules loaded from %zu reference tables", mon_refdata_count());
	}
	rd->loaded(rs != NULL, rd->loaded_arg);
	if (rd->again) {
		rd->again = false;
		refdata_reload(rd, rd->cfg);
	}
}

static void
refdata_notified(const char *channel, const char *payload, void *arg)
{
	struct refdata *rd = arg;

	(void)channel;
	if (rd->cfg == NULL)
		return;
	log_info("reference table %s changed; reloading rules", payload);
	refdata_reload(rd, rd->cfg);
}

void
refdata_reload(struct refdata *rd, const struct config *cfg)
{
	rd->cfg = cfg;
	if (rd->loading) {
		rd->again = true;
		return;
	}
	metrics_clock(&rd->started);
	if (!db_query(rd->db, rd->sql, 0, NULL, refdata_on_result, rd)) {
		log_debug("reference data load deferred: database down");
		return;
	}
	rd->loading = true;
}

struct refdata *
refdata_create(struct db *reader, refdata_loaded_cb *loaded, void *arg)
{
	struct refdata *rd = calloc(1, sizeof(*rd));

	if (rd == NULL)
		return NULL;
	size_t len = snprintf(rd->sql, sizeof(rd->sql), "SELECT");
	for (size_t i = 0; i < mon_refdata_count() && len < sizeof(rd->sql); i++)
		len += snprintf(rd->sql + len, sizeof(rd->sql) - len, "%s esup_refdata_csv('%s')",
			i ? "," : "", mon_refdata_name(i));
	rd->db = reader;
	rd->loaded = loaded;
	rd->loaded_arg = arg;
	db_listen(reader, "esup_refdata", refdata_notified, rd);
	return rd;
}

void
refdata_destroy(struct refdata *rd)
{
	if (rd == NULL)
		return;
	mon_ruleset_destroy(rd->rules);
	free(rd);
}

const struct mon_ruleset *
refdata_rules(const struct refdata *rd)
{
	return rd->rules;
}

const char *
refdata_error(const struct refdata *rd)
{
	return rd->error;
}

unsigned long
refdata_loads(const struct refdata *rd, enum refdata_result result)
{
	return rd->loads[result];
}

double
refdata_last_duration_s(const struct refdata *rd)
{
	return rd->last_duration_s;
}
