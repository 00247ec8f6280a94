/* alert_stream.h: GET /v1/alerts/stream, Server-Sent Events of alert changes.
 *
 * One poller per daemon reads the durable ordered log (alert_actions in (xid, id) order, only
 * rows below pg_snapshot_xmin, so nothing is skipped or repeated) on d->reader, woken by
 * NOTIFY esup_alert and by a timer, and fans each row out to every open stream whose
 * principal's scope covers it: one query per batch, whatever the number of streams. A stream
 * that names a position (Last-Event-ID, or ?after= for esupctl) first replays the log after
 * it for its scope, page by page, then joins the fan-out exactly where the poller stands. */
#ifndef ESUP_ALERT_STREAM_H
#define ESUP_ALERT_STREAM_H

#include <event2/http.h>

#include "esupd.h"

struct alert_streams;

/* The poller and the set of open streams; NULL when out of memory. LISTENs on d->reader;
 * starts reading once alert_streams_db_up() says the reader is there. */
struct alert_streams *alert_streams_create(struct esupd *d);
/* Frees what is left. Call after evhttp_free (which closes the streams' connections) and
 * while the event base exists; accepts NULL. */
void alert_streams_destroy(struct alert_streams *h);

/* The reader (re)connected: find the end of the log the first time, then read on. */
void alert_streams_db_up(struct alert_streams *h);
/* [alerts] stream_heartbeat_s and stream_max_buffer_bytes from d->cfg (start and reload). */
void alert_streams_configure(struct alert_streams *h);
/* The principals were reloaded: streams whose certificate no longer maps to the same role
 * and scope are ended. */
void alert_streams_principals_changed(struct alert_streams *h);
/* SIGTERM: every stream gets a closing comment and a clean end of its chunked reply. done
 * is called once every one of them is written to its socket (before this returns when there
 * is no stream), or after DRAIN_MAX_S seconds for clients that do not read them. */
#define DRAIN_MAX_S 5
void alert_streams_drain(struct alert_streams *h, void (*done)(void *), void *arg);
/* Open streams now. */
unsigned alert_streams_count(const struct alert_streams *h);

/* Its route (GET /v1/alerts/stream) is api_stream_routes, declared in api.h. */

#endif
