/* conn.h: one client connection's TLS session and its request gate.
 *
 * evhttp parses requests; the gate decides what evhttp gets to parse. It sees every decrypted
 * byte first, holds a request head until it is complete (at most max_header_bytes), checks
 * its framing strictly and whether the peer may send a body at all, and only then lets evhttp
 * have it. It also keeps the whole-request deadlines (header_timeout_s for a head;
 * body_timeout_s plus the length at body_min_rate_bytes_s for a body). See conn.c. */
#ifndef ESUP_CONN_H
#define ESUP_CONN_H

#include <stdbool.h>

#include <event2/bufferevent.h>
#include <event2/http.h>

#include "esupd.h"

/* The path of the stand-in request the gate hands evhttp in place of a refused one. */
#define CONN_REJECTED_PATH "/.esupd/refused"

/* A new connection's TLS bufferevent with its gate attached, counted in d->accept (the
 * connection may already be condemned by a cap: it is then closed on the next loop turn).
 * NULL when out of memory. The connection state is freed with the bufferevent's SSL. */
struct bufferevent *conn_bufferevent_new(struct esupd *d, struct event_base *base);

/* True when req is the stand-in for a request the gate refused: *status, *message and
 * *retry_after_s (0: no Retry-After) say what to answer; the connection closes after it. */
bool conn_refusal(struct evhttp_request *req, int *status, const char **message,
		unsigned *retry_after_s);

#endif
