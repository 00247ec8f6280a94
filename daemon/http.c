/* http.c: evhttp over bufferevent_openssl, the route table (api.h) and authentication. A
 * request reaches its handler only after http_authenticate let it in with the route's roles,
 * so no handler can forget to. */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>

#include "api.h"
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
	http_reply_json_as(req, code, body, "application/json");
}

void
http_reply_json_as(struct evhttp_request *req, int code, json_t *body, const char *content_type)
{
	struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
	struct evbuffer *out = evbuffer_new();
	char *text = body ? json_dumps(body, HTTP_JSON_FLAGS) : NULL;
	char length[24];

	evhttp_add_header(headers, "Content-Type", content_type);
	evhttp_add_header(headers, "X-Content-Type-Options", "nosniff");
	if (out != NULL && text != NULL) {
		evbuffer_add(out, text, strlen(text));
		evbuffer_add(out, "\n", 1);
	}
	if (out != NULL && evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		/* evhttp would write the body after a HEAD's headers: say its length, send none. */
		snprintf(length, sizeof(length), "%zu", evbuffer_get_length(out));
		evhttp_add_header(headers, "Content-Length", length);
		evbuffer_drain(out, evbuffer_get_length(out));
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

/* The caller's principal, or NULL after a 401/403/503 reply has been sent. roles is a bit
 * set of (1u << enum principal_role). fingerprint receives a copy (65 bytes). */
static const struct principal *
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
http_healthz(const struct api_request *r)
{
	bool ok;
	json_t *body = health_json(r->d, &ok);

	if (!ok)
		evhttp_add_header(evhttp_request_get_output_headers(r->req), "Retry-After", "1");
	http_reply_json(r->req, ok ? 200 : 503, body);
}

static const struct api_route http_routes[] = {
	{ EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "/healthz", 0, API_OPEN, NULL, http_healthz },
	{ 0 },
};

/* The route table: every set an api_*.c exports. Order does not decide between patterns: a
 * path goes to the pattern that fits it with the most literal segments ("/v1/alerts/stream"
 * before "/v1/alerts/{id}"), and only a tie goes to the earlier entry. */
static const struct api_route *const http_route_sets[] = {
	http_routes,
	api_events_routes,
	api_cases_routes,
	api_alerts_routes,
	api_silences_routes,
	api_stream_routes,      /* GET /v1/alerts/stream (alert_stream.c): a long-lived reply */
	api_console_routes,     /* the console's files (embedded) and GET /v1/me */
	api_board_routes,       /* GET /v1/board, /v1/board/{dept} */
	api_stats_routes,       /* GET /v1/stats/ontime, /v1/stats/cards, /v1/scores */
	api_metrics_routes,     /* GET /metrics (api_metrics.c), for monitors */
	NULL,
};

/* What the table says about one request path. */
struct http_match {
	const struct api_route *fit;     /* the best route whose pattern fits the path */
	const struct api_route *route;   /* the best of those that takes the method */
	unsigned methods;                /* the methods of every route whose pattern fits */
	const struct api_route *owner;   /* no fit: the route owning the path's prefix */
	struct api_param params[API_PARAMS_MAX];
	size_t nparams;
};

/* A path segment as a parameter: percent-decoded, non-empty, at most API_PARAM_MAX bytes,
 * no NUL byte. */
static bool
http_decode_param(const char *segment, size_t len, struct api_param *param)
{
	char raw[3 * API_PARAM_MAX + 1];
	size_t size = 0;
	char *value;
	bool ok;

	if (len == 0 || len >= sizeof(raw))
		return false;
	memcpy(raw, segment, len);
	raw[len] = '\0';
	if ((value = evhttp_uridecode(raw, 0, &size)) == NULL)
		return false;
	ok = size > 0 && size <= API_PARAM_MAX && memchr(value, '\0', size) == NULL;
	if (ok)
		memcpy(param->value, value, size + 1);
	free(value);
	return ok;
}

/* Fits path to pattern segment by segment, filling params. The number of literal segments
 * when it fits (a measure of how specific the pattern is), -1 when it does not. */
static int
http_fit(const char *pattern, const char *path, struct api_param *params, size_t *nparams)
{
	int literal = 0;

	*nparams = 0;
	while (*pattern == '/' && *path == '/') {
		size_t plen = strcspn(++pattern, "/"), slen = strcspn(++path, "/");

		if (plen > 2 && pattern[0] == '{' && pattern[plen - 1] == '}') {
			if (*nparams == API_PARAMS_MAX ||
			    !http_decode_param(path, slen, &params[*nparams]))
				return -1;
			params[*nparams].name = pattern + 1;
			params[(*nparams)++].name_len = plen - 2;
		} else if (plen == slen && strncmp(pattern, path, plen) == 0) {
			literal++;
		} else {
			return -1;
		}
		pattern += plen;
		path += slen;
	}
	return *pattern == '\0' && *path == '\0' ? literal : -1;
}

static bool
http_owns(const struct api_route *route, const char *path)
{
	size_t prefix = strcspn(route->pattern, "{");

	return route->malformed != NULL && strncmp(route->pattern, path, prefix) == 0;
}

static void
http_match(const char *path, unsigned method, struct http_match *m)
{
	int best_fit = -1, best_route = -1;
	struct api_param params[API_PARAMS_MAX];
	size_t nparams;

	memset(m, 0, sizeof(*m));
	for (size_t s = 0; http_route_sets[s] != NULL; s++) {
		for (const struct api_route *rt = http_route_sets[s]; rt->pattern != NULL; rt++) {
			int n = http_fit(rt->pattern, path, params, &nparams);

			if (n < 0) {
				if (m->owner == NULL && http_owns(rt, path))
					m->owner = rt;
				continue;
			}
			m->methods |= rt->methods;
			if (n > best_fit) {
				best_fit = n;
				m->fit = rt;
			}
			if (n > best_route && (rt->methods & method) != 0) {
				best_route = n;
				m->route = rt;
				memcpy(m->params, params, sizeof(params));
				m->nparams = nparams;
			}
		}
	}
}

/* 405 naming the methods the path takes ("use GET"; HEAD goes with GET). */
static void
http_reply_methods(struct evhttp_request *req, unsigned methods)
{
	char message[32];

	snprintf(message, sizeof(message), "use %s%s%s", methods & EVHTTP_REQ_GET ? "GET" : "",
		(methods & EVHTTP_REQ_GET) && (methods & EVHTTP_REQ_POST) ? " or " : "",
		methods & EVHTTP_REQ_POST ? "POST" : "");
	http_reply_error(req, 405, message);
}

const char *
api_param(const struct api_request *r, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < r->nparams; i++)
		if (r->params[i].name_len == len && strncmp(r->params[i].name, name, len) == 0)
			return r->params[i].value;
	return NULL;
}

/* Authenticates for route (unless it is open) and calls its handler. */
static void
http_dispatch(struct esupd *d, struct evhttp_request *req, const struct http_match *m)
{
	struct api_request r = { .d = d, .req = req, .nparams = m->nparams };
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);

	if ((m->route->flags & API_OPEN) == 0) {
		r.principal = http_authenticate(d, req, m->route->roles, r.fingerprint);
		if (r.principal == NULL)
			return;
	}
	memcpy(r.params, m->params, sizeof(r.params));
	r.query = uri ? evhttp_uri_get_query(uri) : NULL;
	m->route->handler(&r);
}

static void
http_route(struct evhttp_request *req, void *arg)
{
	struct esupd *d = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	unsigned method = (unsigned)evhttp_request_get_command(req);
	struct http_match m;
	char fingerprint[TLS_FINGERPRINT_LEN + 1];
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
	http_match(path ? path : "", method, &m);
	if (d->draining && (m.fit == NULL || (m.fit->flags & API_OPEN) == 0)) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		http_reply_retry(req, 503, d->cfg->retry_after_s, "shutting down");
	} else if (m.route != NULL) {
		http_dispatch(d, req, &m);
	} else if (m.fit != NULL || (m.owner != NULL && (m.owner->methods & method) == 0)) {
		http_reply_methods(req, m.fit != NULL ? m.methods : m.owner->methods);
	} else if (m.owner != NULL) {
		if (http_authenticate(d, req, m.owner->roles, fingerprint) != NULL)
			http_reply_error(req, 404, m.owner->malformed);
	} else {
		/* Under /v1 nobody learns what exists without a certificate. */
		if (strncmp(path ? path : "", "/v1/", 4) != 0 ||
		    http_authenticate(d, req, ~0u, fingerprint) != NULL)
			http_reply_error(req, 404, "no such resource");
	}
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
