/* api_events.c: POST /v1/events and GET /v1/schema. Parse and validate (libmonitor), check each event's
 * department against the principal, hand the valid ones to the writer, and answer with one
 * status per input event only after the writer reports the transaction committed.
 * POST /v1/events?dry_run=1 takes the very same path (ingest_submit's dry run: its own
 * transaction, rolled back) and answers the same, with "dry_run": true added. */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "health.h"
#include "http.h"
#include "ingest.h"
#include "log.h"
#include "metrics.h"
#include "tls.h"

struct events_request {
	struct esupd *d;
	struct evhttp_request *req;
	struct mon_batch batch;
	char principal[TLS_FINGERPRINT_LEN + 1];
	char dept[MON_CODE_MAX + 1];   /* the principal's: a label of esup_events_total */
	bool dry_run;                  /* ?dry_run=1: judged, nothing stored */
	struct timespec started;       /* esup_request_duration_seconds */
};

static bool
content_type_format(const char *value, enum mon_body_format *format)
{
	size_t len;

	if (value == NULL)
		return false;
	len = strcspn(value, "; \t");
	if (len == strlen("application/json") && strncasecmp(value, "application/json", len) == 0)
		*format = MON_BODY_JSON;
	else if (len == strlen("application/x-ndjson") && strncasecmp(value, "application/x-ndjson", len) == 0)
		*format = MON_BODY_NDJSON;
	else
		return false;
	return true;
}

/* No Content-Encoding, or only "identity". */
static bool
content_encoding_identity(const char *value)
{
	if (value == NULL)
		return true;
	value += strspn(value, " \t");
	size_t len = strcspn(value, " \t");
	return len == strlen("identity") && strncasecmp(value, "identity", len) == 0 &&
		value[len + strspn(value + len, " \t")] == '\0';
}

static json_t *
error_json(const struct mon_error *err)
{
	return json_pack("{s:s, s:s, s:s}", "field", err->field, "expected", err->expected,
		"got", err->got);
}

/* A refused item's event is empty but for its warnings, as libmonitor leaves it. */
static void
event_forget_keeping_warnings(struct mon_event *ev)
{
	struct mon_error warnings[MON_WARNINGS_MAX];
	size_t count = ev->warning_count;

	memcpy(warnings, ev->warnings, sizeof(warnings));
	mon_event_finish(ev);
	ev->warning_count = count;
	memcpy(ev->warnings, warnings, sizeof(warnings));
}

/* An event may only be sent by its own department; its warnings stay with it. */
static void
batch_check_departments(struct mon_batch *batch, const char *dept)
{
	for (size_t i = 0; i < batch->count; i++) {
		struct mon_item *item = &batch->items[i];

		if (!item->valid || strcmp(item->event.dept, dept) == 0)
			continue;
		item->valid = false;
		snprintf(item->error.field, sizeof(item->error.field), "dept");
		snprintf(item->error.expected, sizeof(item->error.expected),
			"this certificate's department \"%s\"", dept);
		snprintf(item->error.got, sizeof(item->error.got), "\"%s\"", item->event.dept);
		event_forget_keeping_warnings(&item->event);
	}
}

/* The unknown fields of one event (libmonitor's warnings), or NULL when there are none:
 * [{"field": "aprover", "message": "not a field of approval.extended", "nearest": "approver"}],
 * nearest null when no known name is close. */
static json_t *
warnings_json(const struct mon_event *ev)
{
	json_t *list;

	if (ev->warning_count == 0)
		return NULL;
	list = json_array();
	for (size_t i = 0; i < ev->warning_count; i++) {
		const struct mon_error *w = &ev->warnings[i];

		json_array_append_new(list, json_pack("{s:s, s:s, s:o}", "field", w->field,
			"message", w->expected, "nearest",
			w->got[0] != '\0' ? json_string(w->got) : json_null()));
	}
	return list;
}

static json_t *
results_json(const struct mon_batch *batch, const enum ingest_status *statuses,
		const struct mon_error *errors)
{
	static const char *const names[] = { "accepted", "duplicate", "rejected" };
	size_t counts[3] = { 0 };
	json_t *results = json_array();

	for (size_t i = 0; i < batch->count; i++) {
		const struct mon_item *item = &batch->items[i];
		json_t *r = json_pack("{s:I, s:s, s:s}", "index", (json_int_t)i, "id", item->id,
			"status", names[statuses[i]]);
		json_t *warnings = warnings_json(&item->event);

		counts[statuses[i]]++;
		if (!item->valid)
			json_object_set_new(r, "error", error_json(&item->error));
		else if (statuses[i] == INGEST_REJECTED)   /* refused by the database */
			json_object_set_new(r, "error", error_json(&errors[i]));
		if (warnings != NULL)
			json_object_set_new(r, "warnings", warnings);
		json_array_append_new(results, r);
	}
	return json_pack("{s:I, s:I, s:I, s:o}", "accepted", (json_int_t)counts[INGEST_ACCEPTED],
		"duplicate", (json_int_t)counts[INGEST_DUPLICATE], "rejected",
		(json_int_t)counts[INGEST_REJECTED], "results", results);
}

/* esup_events_total: the department is the principal's (registered principals only), the type
 * libmonitor's name for it, "invalid" for an item that did not validate as an event. Counted
 * per request first, so a large request costs the registry one update per type and result. */
static void
events_count(struct events_request *er, const enum ingest_status *statuses)
{
	static const char *const names[] = { "accepted", "duplicate", "rejected" };
	size_t counts[MON_EV__COUNT + 1][3] = { { 0 } };   /* [MON_EV__COUNT]: invalid */

	for (size_t i = 0; i < er->batch.count; i++) {
		const struct mon_item *item = &er->batch.items[i];
		size_t type = item->valid && item->event.type < MON_EV__COUNT ?
			(size_t)item->event.type : MON_EV__COUNT;

		counts[type][statuses[i]]++;
	}
	for (size_t t = 0; t <= MON_EV__COUNT; t++) {
		const char *type = t < MON_EV__COUNT ? mon_event_type_name((enum mon_event_type)t) : NULL;

		for (size_t r = 0; r < 3; r++)
			if (counts[t][r] > 0)
				metrics_add(er->d->metrics, METRIC_EVENTS, (const char *const[]){ er->dept,
					type ? type : "invalid", names[r] }, (double)counts[t][r]);
	}
}

/* esup_dry_run_events_total: by the principal's department and the result only. */
static void
dry_run_count(struct events_request *er, const enum ingest_status *statuses)
{
	static const char *const names[] = { "accepted", "duplicate", "rejected" };
	size_t counts[3] = { 0 };

	for (size_t i = 0; i < er->batch.count; i++)
		counts[statuses[i]]++;
	for (size_t r = 0; r < 3; r++)
		if (counts[r] > 0)
			metrics_add(er->d->metrics, METRIC_DRY_RUN_EVENTS,
				(const char *const[]){ er->dept, names[r] }, (double)counts[r]);
}

static void
events_request_destroy(struct events_request *er)
{
	mon_batch_finish(&er->batch);
	free(er);
}

static void
events_committed(enum ingest_outcome outcome, const enum ingest_status *statuses,
		const struct mon_error *errors, void *arg)
{
	struct events_request *er = arg;
	unsigned retry = er->d->cfg->retry_after_s;

	switch (outcome) {
	case INGEST_COMMITTED: {
		json_t *body = results_json(&er->batch, statuses, errors);

		if (er->dry_run) {
			json_object_set_new(body, "dry_run", json_true());
			dry_run_count(er, statuses);
		} else {
			events_count(er, statuses);
		}
		http_reply_json(er->req, 200, body);
		break;
	}
	case INGEST_BUSY:
		http_reply_retry(er->req, 429, retry, "writer queue is full; nothing was stored, resend later");
		break;
	case INGEST_UNAVAILABLE:
		http_reply_retry(er->req, 503, retry, "database unavailable; nothing was acknowledged, resend later");
		break;
	}
	metrics_observe(er->d->metrics, METRIC_REQUEST_DURATION, NULL, metrics_since(&er->started));
	events_request_destroy(er);
}

static bool
events_parse(struct events_request *er, enum mon_body_format format)
{
	const struct config *cfg = er->d->cfg;
	struct mon_limits limits = {
		.max_line = cfg->max_line_bytes,
		.max_depth = cfg->max_json_depth,
		.max_events = cfg->max_events_per_request,
	};
	struct evbuffer *in = evhttp_request_get_input_buffer(er->req);
	size_t len = evbuffer_get_length(in);
	const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
	struct mon_error err;

	if (len > 0 && body == NULL) {
		http_reply_error(er->req, 500, "out of memory");
		return false;
	}
	if (!mon_batch_parse(body, len, format, &limits, &er->batch, &err)) {
		int code = er->batch.too_large ? 413 : 400;

		http_reply_json(er->req, code, json_pack("{s:o}", "error", error_json(&err)));
		return false;
	}
	return true;
}

/* ?dry_run=1 or ?dry_run=0 (the default), nothing else: false after a 400 reply naming the
 * parameter (an unknown or repeated one too, as api_query_parse refuses them). */
static bool
events_query(const struct api_request *r, bool *dry_run)
{
	static const char *const known[] = { "dry_run", NULL };
	struct api_query q;
	const char *v;
	bool ok = true;

	if (!api_query_parse(r, known, &q))
		return false;
	v = q.values[0];
	*dry_run = v != NULL && strcmp(v, "1") == 0;
	if (v != NULL && strcmp(v, "1") != 0 && strcmp(v, "0") != 0) {
		api_reply_invalid(r->req, "dry_run",
			"1 (judge the events as they would be, store nothing) or 0 (store them)", v);
		ok = false;
	}
	api_query_free(&q);
	return ok;
}

static void
api_events_post(const struct api_request *r)
{
	struct esupd *d = r->d;
	struct evhttp_request *req = r->req;
	struct events_request *er;
	enum mon_body_format format;
	struct timespec started;
	bool dry_run;

	metrics_clock(&started);
	if (!events_query(r, &dry_run)) {
		metrics_observe(d->metrics, METRIC_REQUEST_DURATION, NULL, metrics_since(&started));
		return;
	}
	/* Events are judged in the transaction that stores them: no rules (or no schema, no
	 * database), no ingest. The reason names what is missing. */
	if (!health_ready(d)) {
		char missing[512];

		http_reply_retry(req, 503, d->cfg->retry_after_s,
			health_missing(d, missing, sizeof(missing)));
		metrics_observe(d->metrics, METRIC_REQUEST_DURATION, NULL, metrics_since(&started));
		return;
	}
	if (!content_type_format(evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type"), &format)) {
		http_reply_error(req, 415, "Content-Type must be application/json or application/x-ndjson");
		metrics_observe(d->metrics, METRIC_REQUEST_DURATION, NULL, metrics_since(&started));
		return;
	}
	/* A coded body (gzip, ...) is not what would be parsed: refuse it rather than read it as
	 * plain text (RFC 9110 8.4.1). */
	if (!content_encoding_identity(evhttp_find_header(evhttp_request_get_input_headers(req),
			"Content-Encoding"))) {
		http_reply_error(req, 415, "Content-Encoding is not supported: send the body uncompressed");
		metrics_observe(d->metrics, METRIC_REQUEST_DURATION, NULL, metrics_since(&started));
		return;
	}
	er = calloc(1, sizeof(*er));
	if (er == NULL) {
		http_reply_error(req, 500, "out of memory");
		return;
	}
	er->d = d;
	er->req = req;
	er->started = started;
	er->dry_run = dry_run;
	memcpy(er->principal, r->fingerprint, sizeof(er->principal));
	snprintf(er->dept, sizeof(er->dept), "%s", r->principal->dept);
	if (!events_parse(er, format)) {
		metrics_observe(d->metrics, METRIC_REQUEST_DURATION, NULL, metrics_since(&er->started));
		free(er);
		return;
	}
	batch_check_departments(&er->batch, r->principal->dept);
	ingest_submit(d->ingest, &er->batch, er->principal, esupd_now(d), er->dry_run,
		events_committed, er);
}

/* GET /v1/schema: the JSON Schema of an event, built by libmonitor from the validator's
 * tables (the same document as `esupctl schema`). */
static void
api_schema_get(const struct api_request *r)
{
	json_t *schema = mon_event_schema();

	if (schema == NULL) {
		http_reply_error(r->req, 500, "out of memory");
		return;
	}
	http_reply_json_as(r->req, 200, schema, "application/schema+json");
}

/* Any authenticated principal may read the schema: it is the protocol, not data. */
#define SCHEMA_READERS (API_ROLES_READERS | 1u << ROLE_MONITOR)

const struct api_route api_events_routes[] = {
	{ EVHTTP_REQ_POST, "/v1/events", 1u << ROLE_DEPARTMENT, 0, NULL, api_events_post },
	{ EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "/v1/schema", SCHEMA_READERS, 0, NULL, api_schema_get },
	{ 0 },
};
