/* http.c: evhttp over bufferevent_openssl. Routing is a small table; every /v1 route
 * authenticates through http_authenticate, so no handler can forget to. */
#include "http.h"

#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>

#include "alert_stream.h"
#include "conn.h"
#include "db.h"
#include "health.h"
#include "listener.h"
#include "log.h"
#include "tls.h"

/* A bufferevent that cannot take a socket: evhttp's bufferevent_setfd() fails, so it closes
 * the connection at once. Returning NULL instead would make evhttp serve the socket over a
 * plain bufferevent of its own, without TLS. */
static struct bufferevent *
http_refusing_bufferevent(struct event_base *base)
{
	struct bufferevent *pair[2];

	if (bufferevent_pair_new(base, 0, pair) != 0)
		return NULL;
	bufferevent_free(pair[1]);
	return pair[0];
}

static struct bufferevent *
http_new_connection(struct event_base *base, void *arg)
{
	struct esupd *d = arg;
	struct bufferevent *bev = conn_bufferevent_new(d, base);

	if (bev == NULL) {
		listener_note(d->accept, CAUSE_SETUP, LOG_LEVEL_WARNING,
			"cannot set up a TLS session for a new connection: closing it");
		bev = http_refusing_bufferevent(base);
	}
	return bev;
}

void
http_reply_json(struct evhttp_request *req, int code, json_t *body)
{
	struct evbuffer *out = evbuffer_new();
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	if (out != NULL && text != NULL) {
		evbuffer_add(out, text, strlen(text));
		evbuffer_add(out, "\n", 1);
	}
	evhttp_send_reply(req, code, NULL, out);
	free(text);
	json_decref(body);
	if (out != NULL)
		evbuffer_free(out);
}

void
http_reply_error(struct evhttp_request *req, int code, const char *message)
{
	http_reply_json(req, code, json_pack("{s:s}", "error", message));
}

void
http_reply_retry(struct evhttp_request *req, int code, unsigned retry_after_s, const char *message)
{
	char seconds[16];

	snprintf(seconds, sizeof(seconds), "%u", retry_after_s);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", seconds);
	http_reply_error(req, code, message);
}

static SSL *
http_request_ssl(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;

	return bev ? bufferevent_openssl_get_ssl(bev) : NULL;
}

const struct principal *
http_authenticate(struct esupd *d, struct evhttp_request *req, unsigned roles, char *fingerprint)
{
	SSL *ssl = http_request_ssl(req);
	const char *fp, *subject;
	const struct principal *p;

	switch (ssl ? tls_peer_identity(ssl, d->tls, &fp, &subject) : TLS_PEER_NONE) {
	case TLS_PEER_NONE:
		tls_log_refusal(d->peers, ssl, "401: a request without a client certificate");
		http_reply_error(req, 401, "a client certificate is required");
		return NULL;
	case TLS_PEER_TOO_MANY:
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		http_reply_retry(req, 429, d->cfg->retry_after_s,
			"too many open connections for this certificate; reuse one (keep-alive)");
		return NULL;
	case TLS_PEER_REFUSED:   /* logged by tls.c */
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		http_reply_error(req, 403, "certificate revoked or no longer acceptable");
		return NULL;
	case TLS_PEER_OK:
		break;
	}
	if (!health_can_authenticate(d)) {
		char missing[512];

		http_reply_retry(req, 503, d->cfg->retry_after_s,
			health_missing(d, missing, sizeof(missing)));
		return NULL;
	}
	p = identity_find(d->identity, fp);
	if (p == NULL) {
		tls_log_refusal(d->peers, ssl, "403: certificate %s (%s) is not a registered, enabled "
			"principal", fp, subject);
		http_reply_error(req, 403, "certificate is not registered as a principal");
		return NULL;
	}
	if ((roles & (1u << p->role)) == 0) {
		tls_log_refusal(d->peers, ssl, "403: certificate %s (%s): its role may not use "
			"this resource", fp, subject);
		http_reply_error(req, 403, "this principal's role may not use this resource");
		return NULL;
	}
	memcpy(fingerprint, fp, TLS_FINGERPRINT_LEN + 1);
	return p;
}

static void
http_healthz(struct esupd *d, struct evhttp_request *req)
{
	bool ok;
	json_t *body = health_json(d, &ok);

	if (!ok)
		evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
	http_reply_json(req, ok ? 200 : 503, body);
}

static void
http_route(struct evhttp_request *req, void *arg)
{
	struct esupd *d = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	const char *refusal;
	unsigned retry_after_s;
	int status;

	if (conn_refusal(req, &status, &refusal, &retry_after_s)) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		if (retry_after_s > 0)
			http_reply_retry(req, status, retry_after_s, refusal);
		else
			http_reply_error(req, status, refusal);
		return;
	}
	if (path == NULL)
		path = "";
	if (strcmp(path, "/healthz") == 0) {
		if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD)
			http_reply_error(req, 405, "use GET");
		else
			http_healthz(d, req);
		return;
	}
	if (d->draining) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		http_reply_retry(req, 503, d->cfg->retry_after_s, "shutting down");
		return;
	}
	if (strcmp(path, "/v1/events") == 0) {
		if (method != EVHTTP_REQ_POST)
			http_reply_error(req, 405, "use POST");
		else
			api_events_post(d, req);
		return;
	}
	/* ROUTE (part "stream", issue 8): to move into the route table at merge. */
	if (strcmp(path, "/v1/alerts/stream") == 0) {
		if (method != EVHTTP_REQ_GET)
			http_reply_error(req, 405, "use GET");
		else
			alert_stream_open(d, req);
		return;
	}
	if (strncmp(path, "/v1/cases/", 10) == 0) {
		if (method != EVHTTP_REQ_GET)
			http_reply_error(req, 405, "use GET");
		else
			api_cases_get(d, req, path);
		return;
	}
	/* Under /v1 nobody learns what exists without a certificate. */
	if (strncmp(path, "/v1/", 4) == 0) {
		char fingerprint[TLS_FINGERPRINT_LEN + 1];

		if (http_authenticate(d, req, ~0u, fingerprint) == NULL)
			return;
	}
	http_reply_error(req, 404, "no such resource");
}

void
http_apply_limits(struct esupd *d)
{
	evhttp_set_max_body_size(d->http, (ev_ssize_t)d->cfg->max_body_bytes);
	evhttp_set_max_headers_size(d->http, (ev_ssize_t)d->cfg->max_header_bytes);
	evhttp_set_timeout(d->http, (int)d->cfg->idle_timeout_s);
	if (d->accept != NULL)
		listener_set_limits(d->accept, d->cfg);
}

bool
http_start(struct esupd *d)
{
	d->http = evhttp_new(d->base);
	if (d->http == NULL)
		return false;
	evhttp_set_allowed_methods(d->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
	evhttp_set_bevcb(d->http, http_new_connection, d);
	evhttp_set_gencb(d->http, http_route, d);
	evhttp_set_default_content_type(d->http, "application/json");
	http_apply_limits(d);
	d->listener = evhttp_bind_socket_with_handle(d->http, d->cfg->listen_address,
		(ev_uint16_t)d->cfg->listen_port);
	if (d->listener == NULL) {
		log_warn("cannot listen on %s:%u", d->cfg->listen_address, d->cfg->listen_port);
		return false;
	}
	d->accept = listener_create(d->base, evhttp_bound_socket_get_listener(d->listener),
		d->fd_limit, d->cfg);
	if (d->accept == NULL) {
		log_warnx("out of memory");
		return false;
	}
	log_info("listening on %s:%u", d->cfg->listen_address, d->cfg->listen_port);
	return true;
}

void
http_stop_accepting(struct esupd *d)
{
	listener_stop(d->accept);
	if (d->listener != NULL) {
		evhttp_del_accept_socket(d->http, d->listener);
		d->listener = NULL;
	}
}
