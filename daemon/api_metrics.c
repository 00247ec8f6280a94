/* api_metrics.c: GET /metrics, the Prometheus text format 0.0.4 of d->metrics.
 *
 * Served on the TLS listener to principals of role monitor (the route table answers 401
 * without a certificate and 403 to other roles), and, when [metrics] listen is set, on a
 * plain-HTTP listener of its own bound to a loopback address (config.c refuses any other),
 * where only GET and HEAD /metrics exist and everything else is 404.
 *
 * What the registry counts as it happens (events, latencies, alerts raised) is there already;
 * the readings (queue depth, connections, database up, certificate expiry, ready...) are taken
 * from their modules at each scrape, which is cheap. Two readings need a query: the sweeper's
 * lag and the open alerts. They are read on the reader connection every METRICS_POLL_S
 * seconds, one query at a time and never for a scrape, so a scrape never waits on the
 * database and cannot queue work on it. */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>

#include "db.h"
#include "health.h"
#include "http.h"
#include "ingest.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "mon_value.h"
#include "refdata.h"
#include "tls.h"

#define METRICS_POLL_S 10

/* $1: the business clock. The oldest due case's lag (0 when none is due) and the alerts
 * issued and not closed per severity. */
static const char metrics_poll_sql[] =
	"SELECT (SELECT coalesce(extract(epoch FROM $1::timestamptz - min(c.next_check_at)), 0)"
	"  FROM cases c WHERE c.next_check_at <= $1::timestamptz)::float8,"
	" count(*) FILTER (WHERE a.severity = 'notice'),"
	" count(*) FILTER (WHERE a.severity = 'yellow'),"
	" count(*) FILTER (WHERE a.severity = 'red')"
	" FROM alerts a WHERE a.status IN ('open', 'acknowledged', 'appealed')";

static const char *const metrics_severities[] = { "notice", "yellow", "red" };

struct metrics_server {
	struct esupd *d;
	struct event *poll;
	bool polling, stopped;
	struct evhttp *http;   /* [metrics] listen; NULL when not set */
};

static void
metrics_poll_done(const PGresult *res, void *arg)
{
	struct metrics_server *ms = arg;
	struct esupd *d = ms->d;

	ms->polling = false;
	if (res == NULL)
		return;   /* the reader went down: the readings keep their last values */
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		log_warnx("metrics: reading sweeper lag and open alerts: %s",
			PQresultErrorMessage(res));
		return;
	}
	metrics_set(d->metrics, METRIC_SWEEPER_LAG, NULL, strtod(PQgetvalue(res, 0, 0), NULL));
	for (int i = 0; i < 3; i++)
		metrics_set(d->metrics, METRIC_ALERTS_OPEN, &metrics_severities[i],
			strtod(PQgetvalue(res, 0, i + 1), NULL));
}

static void
metrics_poll(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_server *ms = arg;
	struct timeval next = { METRICS_POLL_S, 0 };
	char now[40];
	const char *values[1] = { now };

	(void)fd, (void)what;
	if (ms->stopped)
		return;
	if (!db_is_up(ms->d->reader))
		next.tv_sec = 1;   /* read soon after it comes up */
	evtimer_add(ms->poll, &next);
	if (ms->polling || !db_is_up(ms->d->reader))
		return;
	mon_time_format(esupd_now(ms->d), 0, now, sizeof(now));
	if (db_query(ms->d->reader, metrics_poll_sql, 1, values, metrics_poll_done, ms))
		ms->polling = true;
}

/* The readings taken at scrape time from the modules that keep them. */
static void
metrics_read(struct esupd *d)
{
	struct metrics *m = d->metrics;
	struct db *dbs[INGEST_WRITERS_MAX + 2];
	size_t ndbs = 0;
	static const char *const files[] = { "certificate", "ca" };
	time_t now = time(NULL);
	double seconds;

	metrics_set(m, METRIC_QUEUE, NULL, (double)ingest_queued(d->ingest));
	for (size_t i = 0; i < d->nwriters; i++)
		dbs[ndbs++] = d->writers[i];
	dbs[ndbs++] = d->reader;
	dbs[ndbs++] = d->sweep_db;
	for (size_t i = 0; i < ndbs; i++) {
		const char *name = db_name(dbs[i]);

		metrics_set(m, METRIC_DB_UP, &name, db_is_up(dbs[i]) ? 1 : 0);
		metrics_set(m, METRIC_DB_RECONNECTS, &name, (double)db_losses(dbs[i]));
	}
	for (int r = 0; r < TLS_FAILURE_COUNT; r++)
		metrics_set(m, METRIC_TLS_FAILURES, &tls_failure_names[r],
			(double)tls_peers_failures(d->peers, (enum tls_failure)r));
	if (d->accept != NULL) {
		unsigned unauthenticated, open = listener_open(d->accept, &unauthenticated);

		metrics_set(m, METRIC_CONNECTIONS, (const char *const[]){ "authenticated" },
			(double)(open - unauthenticated));
		metrics_set(m, METRIC_CONNECTIONS, (const char *const[]){ "unauthenticated" },
			(double)unauthenticated);
	}
	metrics_clear(m, METRIC_CERT_EXPIRY);
	for (int i = 0; i < 2; i++)
		if (tls_expiry(d->tls, i, now, &seconds))
			metrics_set(m, METRIC_CERT_EXPIRY, &files[i], seconds);
	metrics_clear(m, METRIC_CRL_EXPIRY);
	if (tls_expiry(d->tls, 2, now, &seconds))
		metrics_set(m, METRIC_CRL_EXPIRY, NULL, seconds);
	for (int r = 0; r < REFDATA_RESULTS; r++)
		metrics_set(m, METRIC_RULES_RELOADS, &refdata_result_names[r],
			(double)refdata_loads(d->refdata, (enum refdata_result)r));
	metrics_set(m, METRIC_RULES_RELOAD_DURATION, NULL, refdata_last_duration_s(d->refdata));
	metrics_set(m, METRIC_READY, NULL, health_ready(d) ? 1 : 0);
}

static void
metrics_reply(struct esupd *d, struct evhttp_request *req)
{
	struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
	struct evbuffer *out = evbuffer_new();
	char length[24];

	metrics_read(d);
	if (out == NULL || !metrics_render(d->metrics, out)) {
		if (out != NULL)
			evbuffer_free(out);
		http_reply_error(req, 500, "out of memory");
		return;
	}
	evhttp_add_header(headers, "Content-Type", METRICS_CONTENT_TYPE);
	evhttp_add_header(headers, "Cache-Control", "no-store");
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		snprintf(length, sizeof(length), "%zu", evbuffer_get_length(out));
		evhttp_add_header(headers, "Content-Length", length);
		evbuffer_drain(out, evbuffer_get_length(out));
	}
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

static void
api_metrics_get(const struct api_request *r)
{
	metrics_reply(r->d, r->req);
}

const struct api_route api_metrics_routes[] = {
	{ EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "/metrics", 1u << ROLE_MONITOR, 0, NULL, api_metrics_get },
	{ 0 },
};

/* The loopback listener: GET or HEAD /metrics (any query string), and 404 for the rest. */
static void
metrics_local_request(struct evhttp_request *req, void *arg)
{
	struct metrics_server *ms = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);

	if (path != NULL && strcmp(path, "/metrics") == 0 &&
	    (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD))
		metrics_reply(ms->d, req);
	else
		http_reply_error(req, 404, "only GET /metrics is served here");
}

struct metrics_server *
metrics_server_start(struct esupd *d)
{
	struct metrics_server *ms = calloc(1, sizeof(*ms));
	const struct config *cfg = d->cfg;
	struct timeval at_once = { 0, 0 };

	if (ms == NULL)
		return NULL;
	ms->d = d;
	metrics_clear(d->metrics, METRIC_SWEEPER_LAG);   /* absent until first read */
	if ((ms->poll = evtimer_new(d->base, metrics_poll, ms)) == NULL) {
		free(ms);
		return NULL;
	}
	evtimer_add(ms->poll, &at_once);
	if (cfg->metrics_listen[0] == '\0')
		return ms;
	if ((ms->http = evhttp_new(d->base)) == NULL) {
		metrics_server_destroy(ms);
		return NULL;
	}
	evhttp_set_allowed_methods(ms->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
		EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
		EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(ms->http, metrics_local_request, ms);
	evhttp_set_max_headers_size(ms->http, 8192);
	evhttp_set_max_body_size(ms->http, 0);
	evhttp_set_timeout(ms->http, 10);
	if (evhttp_bind_socket(ms->http, cfg->metrics_address, (ev_uint16_t)cfg->metrics_port) != 0) {
		log_warn("cannot listen for /metrics on %s", cfg->metrics_listen);
		metrics_server_destroy(ms);
		return NULL;
	}
	log_info("serving /metrics over plain HTTP on %s", cfg->metrics_listen);
	return ms;
}

void
metrics_server_stop(struct metrics_server *ms)
{
	ms->stopped = true;
	evtimer_del(ms->poll);
}

void
metrics_server_destroy(struct metrics_server *ms)
{
	if (ms == NULL)
		return;
	if (ms->http != NULL)
		evhttp_free(ms->http);
	if (ms->poll != NULL)
		event_free(ms->poll);
	free(ms);
}
