/* api_silences.c: the switches supervisors have over alerting: silences (GET/POST
 * /v1/silences, POST /v1/silences/{id}/expire) and rule modes (GET /v1/rules, POST
 * /v1/rules/{code}/mode: issue, hold for confirmation (待发), off). The database functions
 * (esup_silence_add_as, esup_silence_expire_as, esup_rule_mode_as) check the principal and
 * record the author; a change is answered with the row as it is afterwards. */
#include "api.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mon_value.h>

#include "alert.h"
#include "db.h"
#include "http.h"
#include "log.h"

#define SILENCES_REASON_MAX 2000
#define SILENCES_LIST_MAX 500
#define SILENCES_FOR_MAX (366 * 86400)   /* for_s: at most a year and a day */

#define SILENCE_JSON_SQL \
	"json_build_object('id', s.id, 'origin', s.origin, 'rule', s.rule, 'dept', s.dept," \
	" 'item', s.item, 'region', s.region, 'starts_at', " ALERT_TIME("s.starts_at") "," \
	" 'ends_at', " ALERT_TIME("s.ends_at") ", 'author', s.author, 'reason', s.reason," \
	" 'created_at', " ALERT_TIME("s.created_at") ", 'expired_at', " ALERT_TIME("s.expired_at") ")"

/* Silences in the reader's region ($1, a prefix as in alert.h; those for every region too),
 * newest first. */
static const char silences_list_sql[] =
	"SELECT coalesce(json_agg(j ORDER BY id DESC), '[]'::json)::text FROM ("
	" SELECT s.id, " SILENCE_JSON_SQL " AS j FROM silences s"
	" WHERE $1::text = '' OR coalesce(s.region, '') = ''"
	"  OR left(s.region, length($1::text)) = $1::text"
	" ORDER BY s.id DESC LIMIT " "500" ") x";
static const char silences_one_sql[] =
	"SELECT " SILENCE_JSON_SQL "::text FROM silences s WHERE s.id = $1::text::bigint";
static const char silences_add_sql[] =
	"SELECT esup_silence_add_as($1, $2, $3, $4, $5,"
	" to_timestamp($6::text::double precision), to_timestamp($7::text::double precision), $8)";
static const char silences_expire_sql[] =
	"SELECT esup_silence_expire_as($1, $2::text::bigint,"
	" to_timestamp($3::text::double precision))::text";

#define RULE_JSON_SQL "json_build_object('code', r.code, 'severity', r.severity, 'mode', r.mode)"
static const char rules_list_sql[] =
	"SELECT json_build_object('rules', coalesce(json_agg(" RULE_JSON_SQL " ORDER BY r.code),"
	" '[]'::json))::text FROM rules r";
static const char rules_one_sql[] =
	"SELECT " RULE_JSON_SQL "::text FROM rules r WHERE r.code = $1";
static const char rules_mode_sql[] =
	"SELECT outcome, rule_mode FROM esup_rule_mode_as($1, $2, $3, $4,"
	" to_timestamp($5::text::double precision))";

/* One change in flight: the function call, then the row read back. */
struct switch_request {
	struct evhttp_request *req;
	struct esupd *d;
	int code;                      /* the status of the answer: 200, or 201 for a new silence */
	const char *load_sql;          /* reads the row back by key */
	char key[API_PARAM_MAX + 1];   /* silence id or rule code; "" until the function gave it */
	const char *what;              /* for the log */
	bool outcome;                  /* the function answers an outcome (alert.h), not a key */
};

static struct switch_request *
switch_request_create(const struct api_request *r, const char *load_sql, const char *what)
{
	struct switch_request *sr = calloc(1, sizeof(*sr));

	if (sr == NULL) {
		http_reply_error(r->req, 500, "out of memory");
		return NULL;
	}
	sr->req = r->req;
	sr->d = r->d;
	sr->code = 200;
	sr->load_sql = load_sql;
	sr->what = what;
	return sr;
}

/* A statement that failed: 503 when the connection went, else the SQLSTATE says whose fault it
 * was (a refused principal, an unknown row, a bad value), else 500 (logged). */
static void
switch_reply_failed(struct evhttp_request *req, struct esupd *d, const PGresult *res,
		const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *message = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (res == NULL) {
		http_reply_retry(req, 503, d->cfg->retry_after_s, "database unavailable");
	} else if (state != NULL && strcmp(state, "42501") == 0) {
		http_reply_error(req, 403, message ? message : "not allowed");
	} else if (state != NULL && (strcmp(state, "P0002") == 0 || strcmp(state, "02000") == 0)) {
		http_reply_error(req, 404, message ? message : "not found");
	} else if (state != NULL && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)) {
		http_reply_error(req, 400, message ? message : "refused");
	} else {
		log_warnx("%s: %s", what, PQresultErrorMessage(res));
		http_reply_error(req, 500, "the database refused the query; see the daemon's log");
	}
}

static void
switch_loaded(const PGresult *res, void *arg)
{
	struct switch_request *sr = arg;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
		switch_reply_failed(sr->req, sr->d, res, sr->what);
	else if (PQntuples(res) == 0)
		http_reply_error(sr->req, 404, "not found");
	else
		http_reply_json(sr->req, sr->code, json_loads(PQgetvalue(res, 0, 0), 0, NULL));
	free(sr);
}

/* What an outcome other than done says; true when it said something. */
static bool
switch_reply_outcome(struct switch_request *sr, const char *text)
{
	enum alert_outcome outcome;

	if (!alert_outcome_parse(text, &outcome))
		return false;
	switch (outcome) {
	case ALERT_DONE:
		return false;
	case ALERT_ILLEGAL:
		http_reply_json(sr->req, 409, json_pack("{s:s, s:s}", "error",
			"already ended or expired", "status", "expired"));
		break;
	case ALERT_FORBIDDEN:
		http_reply_error(sr->req, 403, "this principal may not do that here");
		break;
	case ALERT_NOT_FOUND:
		http_reply_error(sr->req, 404, "not found");
		break;
	case ALERT_BAD_REQUEST:
		http_reply_error(sr->req, 400, "refused: see the fields this resource takes");
		break;
	}
	return true;
}

/* The function ran: read the row back (the new silence's id is the function's answer). */
static void
switch_done(const PGresult *res, void *arg)
{
	struct switch_request *sr = arg;
	const char *values[1] = { sr->key };

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		switch_reply_failed(sr->req, sr->d, res, sr->what);
		free(sr);
		return;
	}
	if (sr->outcome && (PQgetisnull(res, 0, 0) ||
	    switch_reply_outcome(sr, PQgetvalue(res, 0, 0)))) {
		if (PQgetisnull(res, 0, 0))
			http_reply_error(sr->req, 404, "not found");
		free(sr);
		return;
	}
	if (sr->key[0] == '\0')
		snprintf(sr->key, sizeof(sr->key), "%s", PQgetvalue(res, 0, 0));
	log_info("%s: %s", sr->what, sr->key);
	if (!db_query(sr->d->reader, sr->load_sql, 1, values, switch_loaded, sr)) {
		http_reply_retry(sr->req, 503, sr->d->cfg->retry_after_s, "database unavailable");
		free(sr);
	}
}

/* Runs sql (the change) with values, then answers with the row; takes sr. */
static void
switch_run(struct switch_request *sr, const char *sql, int n, const char *const *values)
{
	if (!db_query(sr->d->reader, sql, n, values, switch_done, sr)) {
		http_reply_retry(sr->req, 503, sr->d->cfg->retry_after_s, "database unavailable");
		free(sr);
	}
}

/* Answers GET queries whose one row is the whole JSON body. */
static void
switch_listed(const PGresult *res, void *arg)
{
	struct switch_request *sr = arg;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		switch_reply_failed(sr->req, sr->d, res, sr->what);
	else
		http_reply_json(sr->req, 200, json_loads(PQgetvalue(res, 0, 0), 0, NULL));
	free(sr);
}

static void
switch_list(const struct api_request *r, const char *sql, int n, const char *const *values,
		const char *what)
{
	struct switch_request *sr;

	if (r->query != NULL && r->query[0] != '\0') {
		api_reply_invalid(r->req, "query", "no query parameters", r->query);
		return;
	}
	if ((sr = switch_request_create(r, NULL, what)) == NULL)
		return;
	if (!db_query(r->d->reader, sql, n, values, switch_listed, sr)) {
		http_reply_retry(r->req, 503, r->d->cfg->retry_after_s, "database unavailable");
		free(sr);
	}
}

/* ---------------------------------------------------------------- silences */

static void
api_silences_list(const struct api_request *r)
{
	struct alert_scope scope;
	const char *values[1];

	alert_scope_init(&scope, r->principal);
	values[0] = scope.prefix;
	switch_list(r, silences_list_sql, 1, values, "GET /v1/silences");
}

/* body's field as an RFC 3339 time, written as seconds since the epoch; fallback when absent
 * (NULL: required). False after a 400 reply. */
static bool
silences_time(const struct api_request *r, json_t *body, const char *field,
		const char *fallback, char *out, size_t len)
{
	const char *text;
	int64_t epoch;
	int offset;

	if (!api_body_string(r, body, field, 40, &text))
		return false;
	if (text == NULL && fallback != NULL) {
		snprintf(out, len, "%s", fallback);
		return true;
	}
	if (text == NULL || !mon_time_parse(text, &epoch, &offset)) {
		api_reply_invalid(r->req, field, "an RFC 3339 time with its offset, e.g. "
			"2026-03-02T09:15:00+08:00", text);
		return false;
	}
	snprintf(out, len, "%" PRId64, epoch);
	return true;
}

/* The end of a new silence, as seconds since the epoch: ends_at, or starts (its start, already
 * written so) plus for_s, a number of seconds, so that a client's duration is counted from the
 * server's business clock and not from its own. Exactly one of the two. False after a 400. */
static bool
silences_end(const struct api_request *r, json_t *body, const char *starts, char *out,
		size_t len)
{
	json_t *v = json_object_get(body, "for_s");
	json_int_t seconds;
	char got[32];

	if (v == NULL || json_is_null(v))
		return silences_time(r, body, "ends_at", NULL, out, len);
	if (json_object_get(body, "ends_at") != NULL && !json_is_null(json_object_get(body, "ends_at"))) {
		api_reply_invalid(r->req, "for_s", "either ends_at or for_s, not both", NULL);
		return false;
	}
	if (!json_is_integer(v) || (seconds = json_integer_value(v)) < 1 ||
	    seconds > SILENCES_FOR_MAX) {
		if (json_is_integer(v))
			snprintf(got, sizeof(got), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		api_reply_invalid(r->req, "for_s", "a whole number of seconds from 1 to 31622400",
			json_is_integer(v) ? got : json_is_string(v) ? json_string_value(v) :
			"another JSON value");
		return false;
	}
	snprintf(out, len, "%" PRId64, (int64_t)strtoll(starts, NULL, 10) + (int64_t)seconds);
	return true;
}

/* The matchers and the reason of a new silence, values[1..4] and [7]; false after a 400. */
static bool
silences_fields(const struct api_request *r, json_t *body, const char **values)
{
	static const char *const matchers[] = { "rule", "dept", "item", "region" };
	bool any = false;

	for (int i = 0; i < 4; i++) {
		if (!api_body_string(r, body, matchers[i], API_PARAM_MAX, &values[1 + i]))
			return false;
		any = any || values[1 + i] != NULL;
	}
	if (!any) {
		api_reply_invalid(r->req, "rule", "at least one of rule, dept, item and region", NULL);
		return false;
	}
	if (!api_body_string(r, body, "reason", SILENCES_REASON_MAX, &values[7]))
		return false;
	if (values[7] == NULL || values[7][0] == '\0') {
		api_reply_invalid(r->req, "reason", "why the alerts are silenced", values[7]);
		return false;
	}
	return true;
}

static void
api_silences_add(const struct api_request *r)
{
	char now[24], starts[24], ends[24];
	const char *values[8];
	struct switch_request *sr;
	json_t *body;

	if ((body = api_body_object(r)) == NULL)
		return;
	snprintf(now, sizeof(now), "%" PRId64, esupd_now(r->d));
	values[0] = r->fingerprint;
	values[5] = starts;
	values[6] = ends;
	if (silences_fields(r, body, values) &&
	    silences_time(r, body, "starts_at", now, starts, sizeof(starts)) &&
	    silences_end(r, body, starts, ends, sizeof(ends))) {
		if (strtoll(ends, NULL, 10) <= strtoll(starts, NULL, 10))
			api_reply_invalid(r->req, "ends_at", "a time after starts_at",
				json_string_value(json_object_get(body, "ends_at")));
		else if ((sr = switch_request_create(r, silences_one_sql, "silence added")) != NULL) {
			sr->code = 201;
			switch_run(sr, silences_add_sql, 8, values);
		}
	}
	json_decref(body);
}

static void
api_silences_expire(const struct api_request *r)
{
	const char *id = api_param(r, "id");
	char now[24];
	const char *values[3] = { r->fingerprint, id, now };
	struct switch_request *sr;

	if (strspn(id, "0123456789") != strlen(id) || strlen(id) > 18 || id[0] == '0') {
		http_reply_error(r->req, 404, "no such silence");
		return;
	}
	if ((sr = switch_request_create(r, silences_one_sql, "silence expired")) == NULL)
		return;
	sr->outcome = true;
	snprintf(sr->key, sizeof(sr->key), "%s", id);
	snprintf(now, sizeof(now), "%" PRId64, esupd_now(r->d));
	switch_run(sr, silences_expire_sql, 3, values);
}

/* ---------------------------------------------------------------- rules */

static void
api_rules_list(const struct api_request *r)
{
	switch_list(r, rules_list_sql, 0, NULL, "GET /v1/rules");
}

static void
api_rules_mode(const struct api_request *r)
{
	const char *code = api_param(r, "code"), *mode, *reason;
	const char *values[5];
	char now[24];
	struct switch_request *sr;
	json_t *body;

	if ((body = api_body_object(r)) == NULL)
		return;
	if (!api_body_string(r, body, "mode", 8, &mode) ||
	    !api_body_string(r, body, "reason", SILENCES_REASON_MAX, &reason)) {
		json_decref(body);
		return;
	}
	if (mode == NULL || (strcmp(mode, "issue") && strcmp(mode, "hold") && strcmp(mode, "off")))
		api_reply_invalid(r->req, "mode", "issue, hold or off", mode);
	else if (reason == NULL || reason[0] == '\0')
		api_reply_invalid(r->req, "reason", "why the rule's mode changes", reason);
	else if ((sr = switch_request_create(r, rules_one_sql, "rule mode set")) != NULL) {
		snprintf(sr->key, sizeof(sr->key), "%s", code);
		sr->outcome = true;
		values[0] = r->fingerprint;
		values[1] = code;
		values[2] = mode;
		values[3] = reason;
		snprintf(now, sizeof(now), "%" PRId64, esupd_now(r->d));
		values[4] = now;
		switch_run(sr, rules_mode_sql, 5, values);
	}
	json_decref(body);
}

#define SWITCH_READERS (1u << ROLE_SUPERVISOR | 1u << ROLE_AUDITOR)

const struct api_route api_silences_routes[] = {
	{ EVHTTP_REQ_GET, "/v1/silences", SWITCH_READERS, 0, NULL, api_silences_list },
	{ EVHTTP_REQ_POST, "/v1/silences", 1u << ROLE_SUPERVISOR, 0, NULL, api_silences_add },
	{ EVHTTP_REQ_POST, "/v1/silences/{id}/expire", 1u << ROLE_SUPERVISOR, 0, NULL,
	  api_silences_expire },
	{ EVHTTP_REQ_GET, "/v1/rules", API_ROLES_READERS, 0, NULL, api_rules_list },
	{ EVHTTP_REQ_POST, "/v1/rules/{code}/mode", 1u << ROLE_SUPERVISOR, 0, NULL,
	  api_rules_mode },
	{ 0 },
};
