/* refdata.c: loading the reference tables into a libmonitor ruleset. */
#define _GNU_SOURCE   /* dladdr */
#include "refdata.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

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
	unsigned char build[32];         /* SHA-256 of this build (refdata_build_digest) */
	char digest[65];                 /* of the rules in use (refdata_digest), hex */
};

const char *const refdata_result_names[REFDATA_RESULTS] = { "ok", "refused", "lost" };

/* 32 bytes no other load or process has: random, or (should OpenSSL's generator fail) this
 * process, the clock and a count. A digest that cannot be computed is replaced by one, so the
 * rules count as new and the open cases are re-derived, as before digests were kept; a fixed
 * replacement would instead make every later load look the same. */
static void
refdata_unique(unsigned char out[32])
{
	static unsigned long count;
	struct timespec ts;

	if (RAND_bytes(out, 32) == 1)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	memset(out, 0, 32);
	snprintf((char *)out, 32, "%ld.%ld.%ld.%lu", (long)getpid(), (long)ts.tv_sec,
		(long)ts.tv_nsec, ++count);
}

/* Adds a file's bytes to md; false when it cannot be read. */
static bool
refdata_hash_file(EVP_MD_CTX *md, const char *path)
{
	FILE *f = fopen(path, "rb");
	char buf[64 * 1024];
	size_t n;
	bool ok;

	if (f == NULL)
		return false;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		if (!EVP_DigestUpdate(md, buf, n))
			break;
	ok = !ferror(f) && feof(f);
	fclose(f);
	return ok;
}

/* What the build brings to the rules: the bytes of the running esupd and of the libmonitor it
 * was linked with (found from one of its functions), so that a new build, which may judge
 * differently, re-derives the open cases once. A build that cannot be read (no /proc) gets
 * random bytes instead: every load is then new, as before digests were kept. */
static void
refdata_build_digest(unsigned char out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	Dl_info lib;
	unsigned int len = 32;
	bool ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
		refdata_hash_file(md, "/proc/self/exe");

	if (ok && dladdr((void *)mon_ruleset_create, &lib) != 0 && lib.dli_fname != NULL &&
	    lib.dli_fname[0] == '/')
		ok = refdata_hash_file(md, lib.dli_fname);
	if (!ok || !EVP_DigestFinal_ex(md, out, &len)) {
		log_info("this build could not be read to tell its rules apart: every load of the "
			"reference data re-derives the open cases");
		refdata_unique(out);
	}
	EVP_MD_CTX_free(md);
}

/* The digest of a ruleset built from res under rd->cfg: the build, every table's text, the
 * [rules] parameters and switched-off rules, and the test clock's offset (moving the business
 * clock must re-evaluate the open cases as new rules do). Each part is length-prefixed. */
static void
refdata_digest_of(struct refdata *rd, const PGresult *res)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char out[32];
	unsigned int len = sizeof(out);
	char num[64];
	bool ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
		EVP_DigestUpdate(md, rd->build, sizeof(rd->build));

#define PART(p, n) do { size_t n_ = (n); \
		ok = ok && EVP_DigestUpdate(md, &n_, sizeof(n_)) && EVP_DigestUpdate(md, (p), n_); \
	} while (0)
	for (size_t i = 0; i < mon_refdata_count(); i++)
		PART(PQgetvalue(res, 0, (int)i), (size_t)PQgetlength(res, 0, (int)i));
	for (size_t i = 0; i < rd->cfg->rule_params_count; i++) {
		const struct config_rule_param *p = &rd->cfg->rule_params[i];

		PART(p->name, strlen(p->name));
		snprintf(num, sizeof(num), "%lld", p->value);
		PART(num, strlen(num));
	}
	const char *off = rd->cfg->rules_disable != NULL ? rd->cfg->rules_disable : "";
	PART(off, strlen(off));
	snprintf(num, sizeof(num), "%lld", rd->cfg->clock_offset_s);
	PART(num, strlen(num));
#undef PART
	if (!ok || !EVP_DigestFinal_ex(md, out, &len))
		refdata_unique(out);
	for (size_t i = 0; i < sizeof(out); i++)
		snprintf(rd->digest + 2 * i, 3, "%02x", out[i]);
	EVP_MD_CTX_free(md);
}

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
		refdata_digest_of(rd, res);
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
	refdata_build_digest(rd->build);
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
refdata_digest(const struct refdata *rd)
{
	return rd->digest;
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
