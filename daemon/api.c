/* api.c: what handlers share: query strings read against a list of known fields, request
 * bodies as JSON objects, 400 answers that name the field, what was expected and what came
 * (as POST /v1/events does), and replies that are one JSON value built by one statement
 * (api_reply_query: the board, the statistics). */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "db.h"
#include "http.h"
#include "log.h"

#define API_GOT_MAX 80   /* bytes of an offending value quoted back */

/* value as a JSON string of at most API_GOT_MAX bytes, cut at a character boundary; bytes
 * that are not UTF-8 are not quoted back. */
static json_t *
api_got(const char *value)
{
	size_t len = value ? strlen(value) : 0;
	json_t *got;

	if (value == NULL)
		return json_string("(none)");
	if (len > API_GOT_MAX) {
		len = API_GOT_MAX;
		while (len > 0 && ((unsigned char)value[len] & 0xc0) == 0x80)
			len--;
	}
	got = json_stringn(value, len);
	return got != NULL ? got : json_string("(not UTF-8)");
}

void
api_reply_invalid(struct evhttp_request *req, const char *field, const char *expected,
		const char *got)
{
	http_reply_json(req, 400, json_pack("{s:{s:s, s:s, s:o}}", "error", "field", field,
		"expected", expected, "got", api_got(got)));
}

bool
api_query_parse(const struct api_request *r, const char *const *known, struct api_query *q)
{
	struct evkeyvalq pairs;
	const struct evkeyval *kv;
	char expected[256];
	size_t i, len = 0;

	memset(q, 0, sizeof(*q));
	TAILQ_INIT(&pairs);
	if (r->query != NULL && evhttp_parse_query_str(r->query, &pairs) != 0) {
		api_reply_invalid(r->req, "query", "name=value pairs joined by &", r->query);
		evhttp_clear_headers(&pairs);
		return false;
	}
	TAILQ_FOREACH(kv, &pairs, next) {
		for (i = 0; known[i] != NULL && strcmp(known[i], kv->key) != 0; i++)
			continue;
		if (known[i] == NULL || i >= API_QUERY_MAX || q->values[i] != NULL) {
			for (size_t k = 0; known[k] != NULL && len < sizeof(expected); k++)
				len += (size_t)snprintf(expected + len, sizeof(expected) - len, "%s%s",
					k ? ", " : "each at most once, one of ", known[k]);
			api_reply_invalid(r->req, kv->key, expected, kv->value);
			api_query_free(q);
			evhttp_clear_headers(&pairs);
			return false;
		}
		q->values[i] = strdup(kv->value);
	}
	evhttp_clear_headers(&pairs);
	return true;
}

void
api_query_free(struct api_query *q)
{
	for (size_t i = 0; i < API_QUERY_MAX; i++) {
		free(q->values[i]);
		q->values[i] = NULL;
	}
}

json_t *
api_body_object(const struct api_request *r)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	size_t len = evbuffer_get_length(in);
	const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "{}";
	json_error_t err;
	json_t *obj;

	if (len == 0)
		len = 2;
	if (body == NULL) {
		http_reply_error(r->req, 500, "out of memory");
		return NULL;
	}
	obj = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err);
	if (obj == NULL || !json_is_object(obj)) {
		json_decref(obj);
		api_reply_invalid(r->req, "body", "a JSON object", obj ? "another JSON value" : err.text);
		return NULL;
	}
	return obj;
}

bool
api_body_string(const struct api_request *r, json_t *body, const char *field, size_t max,
		const char **value)
{
	json_t *v = json_object_get(body, field);
	char expected[64];

	*value = NULL;
	if (v == NULL || json_is_null(v))
		return true;
	if (json_is_string(v) && json_string_length(v) <= max &&
	    strlen(json_string_value(v)) == json_string_length(v)) {
		*value = json_string_value(v);
		return true;
	}
	snprintf(expected, sizeof(expected), "a string of at most %zu bytes", max);
	api_reply_invalid(r->req, field, expected, json_is_string(v) ? json_string_value(v) :
		"another JSON value");
	return false;
}

/* ---------------------------------------------------------------- one-row JSON queries */

struct api_query_reply {
	struct evhttp_request *req;
	unsigned retry_after_s;
	const char *what;
	const char *not_found;
};

static void
api_query_replied(const PGresult *res, void *arg)
{
	struct api_query_reply *qr = arg;
	json_t *body;

	if (res == NULL) {
		http_reply_retry(qr->req, 503, qr->retry_after_s, "database unavailable");
	} else if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_warnx("%s: %s", qr->what, PQresultErrorMessage(res));
		http_reply_error(qr->req, 500, "the database refused the query; see the daemon's log");
	} else if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
		http_reply_error(qr->req, 404, qr->not_found);
	} else if ((body = json_loads(PQgetvalue(res, 0, 0), 0, NULL)) == NULL) {
		http_reply_error(qr->req, 500, "out of memory");
	} else {
		http_reply_json(qr->req, 200, body);
	}
	free(qr);
}

void
api_reply_query(const struct api_request *r, const char *what, const char *sql, int nparams,
		const char *const *values, const char *not_found)
{
	struct api_query_reply *qr = calloc(1, sizeof(*qr));

	if (qr == NULL) {
		http_reply_error(r->req, 500, "out of memory");
		return;
	}
	qr->req = r->req;
	qr->retry_after_s = r->d->cfg->retry_after_s;
	qr->what = what;
	qr->not_found = not_found;
	if (!db_query(r->d->reader, sql, nparams, values, api_query_replied, qr)) {
		free(qr);
		http_reply_retry(r->req, 503, r->d->cfg->retry_after_s, "database unavailable");
	}
}
