/* api_alerts.c: GET /v1/alerts (filters, newest first, cursor paging by id), GET
 * /v1/alerts/{id} (with its actions and evidence events) and POST /v1/alerts/{id}/{action}
 * (esup_alert_act_as: the database decides who may do what from which state). Everything is
 * read on d->reader, one statement per query, in the principal's scope (alert.h); an alert
 * outside it gets the same 404 as one that does not exist. Caseless alerts (fees, evaluations)
 * are alerts like any other. */
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

#define ALERTS_LIMIT_DEFAULT 100
#define ALERTS_LIMIT_MAX 500
#define ALERTS_NOTE_MAX 2000      /* bytes of an action's note */
#define ALERTS_ID_DIGITS 18       /* a bigint id, without overflow */

/* The list: scope $1-$3, then the filters, the cursor and the page size (one row more, to
 * know whether there is a next page). */
static const char alerts_list_sql[] =
	"SELECT a.id, " ALERT_JSON_SQL "::text FROM alerts a"
	" WHERE " ALERT_SCOPE_SQL("$1", "$2", "$3")
	" AND ($4::text IS NULL OR a.dept = $4::text)"
	" AND ($5::text IS NULL OR left(a.region, length($5::text)) = $5::text)"
	" AND ($6::text IS NULL OR a.severity = ANY (string_to_array($6::text, ',')))"
	" AND ($7::text IS NULL OR a.status = ANY (string_to_array($7::text, ',')))"
	" AND ($8::text IS NULL OR a.rule = $8::text)"
	" AND ($9::text IS NULL OR a.case_no = $9::text)"
	" AND ($10::text IS NULL OR a.item = $10::text)"
	" AND ($11::text IS NULL OR a.raised_at >= $11::text::timestamptz)"
	" AND ($12::text IS NULL OR a.raised_at < $12::text::timestamptz)"
	" AND ($13::text IS NULL OR a.id < $13::text::bigint)"
	" ORDER BY a.id DESC LIMIT $14::text::int";

/* The actions principal $5 (its fingerprint) may take on alert `a` now, as decided by the
 * function that applies them (schema/019): [{"action","to","note_required"}, ...]. */
#define ALERTS_ALLOWED_SQL \
	"coalesce((SELECT json_agg(json_build_object('action', w.action, 'to', w.to_state," \
	" 'note_required', w.note_required) ORDER BY w.n)" \
	" FROM esup_alert_allowed_as($5, a.id) WITH ORDINALITY w(action, to_state, note_required, n))," \
	" '[]'::json)"

/* One alert with its actions, the events its evidence names and what $5 may do to it. */
static const char alerts_show_sql[] =
	"SELECT json_build_object(" ALERT_JSON_FIELDS ", 'allowed', " ALERTS_ALLOWED_SQL ","
	" 'actions', coalesce((SELECT json_agg(" ALERT_ACTION_JSON_SQL " ORDER BY x.id)"
	"   FROM alert_actions x WHERE x.alert_id = a.id), '[]'::json),"
	" 'events', coalesce((SELECT json_agg(e.body ORDER BY e.at, e.seq)"
	"   FROM event_ids i JOIN events e ON e.seq = i.seq AND e.received_at = i.received_at"
	"   WHERE i.dept = a.dept AND i.event_id = ANY (ARRAY(SELECT jsonb_array_elements_text("
	"     CASE jsonb_typeof(a.evidence) WHEN 'array' THEN a.evidence ELSE '[]' END)))),"
	"   '[]'::json))::text"
	" FROM alerts a WHERE a.id = $4::text::bigint AND " ALERT_SCOPE_SQL("$1", "$2", "$3");

/* The alert as it is now, after an action, with what $5 may do next. */
static const char alerts_one_sql[] =
	"SELECT json_build_object(" ALERT_JSON_FIELDS ", 'allowed', " ALERTS_ALLOWED_SQL ")::text"
	" FROM alerts a"
	" WHERE a.id = $4::text::bigint AND " ALERT_SCOPE_SQL("$1", "$2", "$3");

/* The outcome, then what the log line names: rule, department, case, subject (the alert row
 * as before the action: none of these change). */
static const char alerts_act_sql[] =
	"SELECT r.outcome, r.status, a.rule, a.dept, coalesce(a.case_no, ''), "
	ALERT_SUBJECT_SQL("a.case_no", "a.dedup_key")
	" FROM esup_alert_act_as($1, $2::text::bigint, $3, $4,"
	"  to_timestamp($5::text::double precision)) AS r"
	" LEFT JOIN alerts a ON a.id = $2::text::bigint";

/* The filters of GET /v1/alerts, in the order of alerts_list_sql's $4.. */
enum alerts_filter {
	F_DEPT, F_REGION, F_SEVERITY, F_STATUS, F_RULE, F_CASE, F_ITEM, F_SINCE, F_UNTIL,
	F_CURSOR, F_LIMIT, F_COUNT
};
static const char *const alerts_filters[] = {
	"dept", "region", "severity", "status", "rule", "case", "item", "since", "until",
	"cursor", "limit", NULL
};

struct alerts_request {
	struct evhttp_request *req;
	struct esupd *d;
	struct alert_scope scope;
	char id[ALERTS_ID_DIGITS + 1];
	char action[16];
	char fingerprint[TLS_FINGERPRINT_LEN + 1];   /* the principal's, for "allowed" */
	char *note;            /* the action's, NULL when none */
	long limit;            /* alerts per page */
};

static struct alerts_request *
alerts_request_create(const struct api_request *r)
{
	struct alerts_request *ar = calloc(1, sizeof(*ar));

	if (ar == NULL) {
		http_reply_error(r->req, 500, "out of memory");
		return NULL;
	}
	ar->req = r->req;
	ar->d = r->d;
	memcpy(ar->fingerprint, r->fingerprint, sizeof(ar->fingerprint));
	alert_scope_init(&ar->scope, r->principal);
	return ar;
}

static void
alerts_request_destroy(struct alerts_request *ar)
{
	if (ar != NULL)
		free(ar->note);
	free(ar);
}

/* A failed query: the connection went (503, resend) or the statement failed (500, logged). */
static void
alerts_reply_failed(struct alerts_request *ar, const PGresult *res, const char *what)
{
	if (res == NULL) {
		http_reply_retry(ar->req, 503, ar->d->cfg->retry_after_s, "database unavailable");
		return;
	}
	log_warnx("%s: %s", what, PQresultErrorMessage(res));
	http_reply_error(ar->req, 500, "the database refused the query; see the daemon's log");
}

/* A decimal id of a bigint, without sign or leading zero. */
static bool
alerts_id_valid(const char *s)
{
	size_t len = strspn(s, "0123456789");

	return len > 0 && len <= ALERTS_ID_DIGITS && s[len] == '\0' && s[0] != '0';
}

/* ---------------------------------------------------------------- GET /v1/alerts */

typedef bool alerts_check(char **value);

static bool
alerts_code_valid(char **value)
{
	return (*value)[0] != '\0' && strlen(*value) <= API_PARAM_MAX;
}

/* "a,b,c" where each name is known to known(). */
static bool
alerts_names_valid(const char *s, bool (*known)(const char *, size_t))
{
	do {
		size_t len = strcspn(s, ",");

		if (!known(s, len))
			return false;
		s += len;
	} while (*s++ == ',');
	return true;
}

static bool
alerts_severity_known(const char *s, size_t len)
{
	return (len == 6 && strncmp(s, "notice", 6) == 0) ||
		(len == 6 && strncmp(s, "yellow", 6) == 0) || (len == 3 && strncmp(s, "red", 3) == 0);
}

static bool
alerts_severities_valid(char **value)
{
	return alerts_names_valid(*value, alerts_severity_known);
}

static bool
alerts_states_valid(char **value)
{
	return alerts_names_valid(*value, alert_state_known);
}

/* An RFC 3339 time, left as it is for the statement's ::timestamptz, which keeps its
 * fractional seconds to the microsecond (whole epoch seconds made since=12:05:03.5 take in an
 * alert raised at 12:05:03.000). mon_time_parse decides what is valid: PostgreSQL reads only
 * times it accepted, each with its offset. A query string's "+" reads as a space:
 * "2026-03-02T09:15:00 08:00" is taken for the +08:00 it was sent as. */
static bool
alerts_time_valid(char **value)
{
	int64_t epoch;
	int offset;
	char *space = strchr(*value, ' ');

	if (space != NULL && space > *value && strchr(space + 1, ' ') == NULL &&
	    strlen(space) == strlen(" 08:00"))
		*space = '+';
	return mon_time_parse(*value, &epoch, &offset);
}

/* A region code, rewritten as the prefix it covers: 410300 -> "4103". */
static bool
alerts_region_valid(char **value)
{
	char *v = *value;
	size_t len = strlen(v);

	if (len != 6 || strspn(v, "0123456789") != 6)
		return false;
	while (len >= 2 && v[len - 1] == '0' && v[len - 2] == '0')
		v[len -= 2] = '\0';
	return true;
}

static bool
alerts_cursor_valid(char **value)
{
	return alerts_id_valid(*value);
}

static bool
alerts_limit_valid(char **value)
{
	size_t len = strlen(*value);

	long n;

	if (len == 0 || len > 3 || strspn(*value, "0123456789") != len)
		return false;
	n = strtol(*value, NULL, 10);
	return n >= 1 && n <= ALERTS_LIMIT_MAX;
}

static const struct {
	alerts_check *check;
	const char *expected;
} alerts_checks[F_COUNT] = {
	[F_DEPT] = { alerts_code_valid, "a department code of 1 to 64 bytes" },
	[F_REGION] = { alerts_region_valid, "a region code of six digits, e.g. 410300" },
	[F_SEVERITY] = { alerts_severities_valid, "notice, yellow or red, or a comma list of them" },
	[F_STATUS] = { alerts_states_valid, "one of held, open, acknowledged, appealed, "
		"suppressed, resolved, dismissed, revoked, cancelled, superseded, or a comma list" },
	[F_RULE] = { alerts_code_valid, "a rule code of 1 to 64 bytes" },
	[F_CASE] = { alerts_code_valid, "a case number of 1 to 64 bytes" },
	[F_ITEM] = { alerts_code_valid, "an item code of 1 to 64 bytes" },
	[F_SINCE] = { alerts_time_valid, "an RFC 3339 time with its offset, e.g. 2026-03-02T09:15:00+08:00" },
	[F_UNTIL] = { alerts_time_valid, "an RFC 3339 time with its offset, e.g. 2026-03-02T09:15:00+08:00" },
	[F_CURSOR] = { alerts_cursor_valid, "the next_cursor of the previous page" },
	[F_LIMIT] = { alerts_limit_valid, "an integer from 1 to 500" },
};

/* Checks (and rewrites) each filter given; false after a 400 naming the first bad one. */
static bool
alerts_filters_valid(const struct api_request *r, struct api_query *q)
{
	for (int f = 0; f < F_COUNT; f++) {
		char *given;

		if (q->values[f] == NULL)
			continue;
		if ((given = strdup(q->values[f])) == NULL) {
			http_reply_error(r->req, 500, "out of memory");
			return false;
		}
		if (!alerts_checks[f].check(&q->values[f])) {
			api_reply_invalid(r->req, alerts_filters[f], alerts_checks[f].expected, given);
			free(given);
			return false;
		}
		free(given);
	}
	return true;
}

static void
alerts_listed(const PGresult *res, void *arg)
{
	struct alerts_request *ar = arg;
	json_t *list = json_array(), *next = json_null();
	int rows;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		json_decref(list);
		alerts_reply_failed(ar, res, "GET /v1/alerts");
		alerts_request_destroy(ar);
		return;
	}
	rows = PQntuples(res);
	for (int i = 0; i < rows && i < ar->limit; i++)
		json_array_append_new(list, json_loads(PQgetvalue(res, i, 1), 0, NULL));
	if (rows > ar->limit) {
		json_decref(next);
		next = json_string(PQgetvalue(res, (int)ar->limit - 1, 0));
	}
	http_reply_json(ar->req, 200, json_pack("{s:o, s:o}", "alerts", list, "next_cursor", next));
	alerts_request_destroy(ar);
}

static void
api_alerts_list(const struct api_request *r)
{
	struct api_query q;
	struct alerts_request *ar;
	const char *values[14];
	char limit[24];

	if (!api_query_parse(r, alerts_filters, &q))
		return;
	if (!alerts_filters_valid(r, &q) || (ar = alerts_request_create(r)) == NULL) {
		api_query_free(&q);
		return;
	}
	ar->limit = q.values[F_LIMIT] ? strtol(q.values[F_LIMIT], NULL, 10) : ALERTS_LIMIT_DEFAULT;
	snprintf(limit, sizeof(limit), "%ld", ar->limit + 1);
	alert_scope_params(&ar->scope, values);
	for (int f = F_DEPT; f <= F_CURSOR; f++)
		values[3 + f] = q.values[f];
	values[13] = limit;
	if (!db_query(r->d->reader, alerts_list_sql, 14, values, alerts_listed, ar)) {
		alerts_reply_failed(ar, NULL, NULL);
		alerts_request_destroy(ar);
	}
	api_query_free(&q);
}

/* ---------------------------------------------------------------- GET /v1/alerts/{id} */

static void
alerts_shown(const PGresult *res, void *arg)
{
	struct alerts_request *ar = arg;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
		alerts_reply_failed(ar, res, "GET /v1/alerts/{id}");
	else if (PQntuples(res) == 0)
		http_reply_error(ar->req, 404, "no such alert");   /* outside the scope: as if absent */
	else
		http_reply_json(ar->req, 200, json_loads(PQgetvalue(res, 0, 0), 0, NULL));
	alerts_request_destroy(ar);
}

/* Queries one alert in ar's scope (sql: alerts_show_sql or alerts_one_sql); the reply follows.
 * Takes ar. */
static void
alerts_load(struct alerts_request *ar, const char *sql)
{
	const char *values[5];

	alert_scope_params(&ar->scope, values);
	values[3] = ar->id;
	values[4] = ar->fingerprint;
	if (!db_query(ar->d->reader, sql, 5, values, alerts_shown, ar)) {
		alerts_reply_failed(ar, NULL, NULL);
		alerts_request_destroy(ar);
	}
}

static void
api_alerts_show(const struct api_request *r)
{
	const char *id = api_param(r, "id");
	struct alerts_request *ar;

	if (!alerts_id_valid(id)) {
		http_reply_error(r->req, 404, "no such alert");
		return;
	}
	if ((ar = alerts_request_create(r)) == NULL)
		return;
	snprintf(ar->id, sizeof(ar->id), "%s", id);
	alerts_load(ar, alerts_show_sql);
}

/* ---------------------------------------------------------------- POST /v1/alerts/{id}/{action} */

static void
alerts_acted(const PGresult *res, void *arg)
{
	struct alerts_request *ar = arg;
	enum alert_outcome outcome;
	const char *status;
	char message[96];

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
	    !alert_outcome_parse(PQgetvalue(res, 0, 0), &outcome)) {
		alerts_reply_failed(ar, res, "esup_alert_act_as");
		alerts_request_destroy(ar);
		return;
	}
	status = PQgetvalue(res, 0, 1);
	switch (outcome) {
	case ALERT_DONE: {
		const struct log_fields f = {
			.alert_id = ar->id, .rule = PQgetvalue(res, 0, 2), .department = PQgetvalue(res, 0, 3),
			.case_no = PQgetvalue(res, 0, 4), .subject = PQgetvalue(res, 0, 5),
		};
		char about[384];

		log_alert(LOG_LEVEL_INFO, &f, "alert %s: %s (now %s): %s %s", ar->id, ar->action,
			status, f.rule, alert_subject_text(about, sizeof(about), f.department, f.case_no,
			f.subject));
		alerts_load(ar, alerts_one_sql);
		return;
	}
	case ALERT_ILLEGAL:
		snprintf(message, sizeof(message), "%s is not allowed from %s", ar->action, status);
		http_reply_json(ar->req, 409, json_pack("{s:s, s:s}", "error", message,
			"status", status));
		break;
	case ALERT_FORBIDDEN:
		snprintf(message, sizeof(message), "this principal may not %s this alert", ar->action);
		http_reply_error(ar->req, 403, message);
		break;
	case ALERT_NOT_FOUND:
		http_reply_error(ar->req, 404, "no such alert");
		break;
	case ALERT_BAD_REQUEST:
		api_reply_invalid(ar->req, "note", "a note saying why (ack: the 回告; appeal: the "
			"grounds)", ar->note ? ar->note : "");
		break;
	}
	alerts_request_destroy(ar);
}

static void
api_alerts_act(const struct api_request *r)
{
	const char *id = api_param(r, "id"), *action = api_param(r, "action"), *note;
	const char *values[5];
	struct alerts_request *ar;
	char at[24];
	json_t *body;

	if (!alert_action_known(action)) {
		http_reply_error(r->req, 404, "no such resource");
		return;
	}
	if (!alerts_id_valid(id)) {
		http_reply_error(r->req, 404, "no such alert");
		return;
	}
	if ((body = api_body_object(r)) == NULL)
		return;
	if (!api_body_string(r, body, "note", ALERTS_NOTE_MAX, &note) ||
	    (ar = alerts_request_create(r)) == NULL) {
		json_decref(body);
		return;
	}
	snprintf(ar->id, sizeof(ar->id), "%s", id);
	snprintf(ar->action, sizeof(ar->action), "%s", action);
	ar->note = note ? strdup(note) : NULL;
	json_decref(body);
	snprintf(at, sizeof(at), "%" PRId64, esupd_now(r->d));
	values[0] = r->fingerprint;
	values[1] = ar->id;
	values[2] = ar->action;
	values[3] = ar->note;
	values[4] = at;
	if ((note != NULL && ar->note == NULL) ||
	    !db_query(r->d->reader, alerts_act_sql, 5, values, alerts_acted, ar)) {
		alerts_reply_failed(ar, NULL, NULL);
		alerts_request_destroy(ar);
	}
}

#define ALERTS_ACTORS (1u << ROLE_DEPARTMENT | 1u << ROLE_SUPERVISOR)

const struct api_route api_alerts_routes[] = {
	{ EVHTTP_REQ_GET, "/v1/alerts", API_ROLES_READERS, 0, NULL, api_alerts_list },
	{ EVHTTP_REQ_GET, "/v1/alerts/{id}", API_ROLES_READERS, 0, NULL, api_alerts_show },
	{ EVHTTP_REQ_POST, "/v1/alerts/{id}/{action}", ALERTS_ACTORS, 0, NULL, api_alerts_act },
	{ 0 },
};
