/* conn.c: a connection's TLS session and its request gate.
 *
 * The gate is a callback on the TLS bufferevent's input buffer, which runs as soon as
 * OpenSSL has decrypted bytes into it and before evhttp's read callback parses them. It takes
 * the fresh bytes out and judges them:
 *   - a request head is held here (at most max_header_bytes, under a header_timeout_s
 *     deadline from its first byte) until its blank line, then checked strictly
 *     (http_head.c); only a head that passes is handed back to evhttp, unchanged;
 *   - a body is handed straight through, counted against its Content-Length, under a deadline
 *     of body_timeout_s plus its length at body_min_rate_bytes_s;
 *   - a body is allowed only when the TLS peer is a registered principal: anyone else costs
 *     the handshake and the head buffer, never a body buffer.
 * A refused head is replaced by a stand-in request for CONN_REJECTED_PATH with
 * "Connection: close"; http_route answers it from conn_refusal() with a JSON error, evhttp
 * sends it in order after any earlier pipelined answer and closes. Nothing after it is read.
 * A passed deadline shuts the socket down; evhttp then sees EOF and frees the connection.
 *
 * The state hangs off the SSL as ex_data and is freed with it, when the socket is closed;
 * that is also where the connection leaves the listener's count. */
#include "conn.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "health.h"
#include "http_head.h"
#include "identity.h"
#include "listener.h"
#include "log.h"
#include "tls.h"

enum conn_state {
	CONN_HEAD,      /* reading a request head into c->head */
	CONN_BODY,      /* passing c->body_left more body bytes through */
	CONN_REFUSED,   /* the stand-in was handed over: everything after is dropped */
	CONN_CLOSED,    /* condemned (cap, deadline, no memory): everything is dropped */
};

struct conn {
	struct esupd *d;
	SSL *ssl;
	struct evbuffer *input;          /* the TLS bufferevent's input, which evhttp parses */
	struct evbuffer_cb_entry *watch;
	struct evbuffer *fresh;          /* decrypted bytes not judged yet */
	struct event *deadline;
	enum conn_state state;
	char *head;                      /* the head so far; freed once handed over */
	size_t head_len, head_cap, line_start;
	uint64_t body_left;
	bool releasing;                  /* our own additions to input: not new bytes */
	bool counted, unauthenticated, identified;
	int status;                      /* the refusal */
	char *message;                   /* NULL when out of memory */
	unsigned retry_after_s;
	TAILQ_ENTRY(conn) waiting;       /* in unauthenticated while c->queued */
	bool queued;
};

static int conn_index = -1;   /* the SSL ex_data slot of struct conn */

/* The unauthenticated connections, oldest first: at max_unauthenticated_connections a new
 * connection closes the oldest instead of being refused, so sockets held open without a
 * certificate (or a handshake) cannot keep a department out; one loop, one listener. */
static TAILQ_HEAD(, conn) unauthenticated = TAILQ_HEAD_INITIALIZER(unauthenticated);

/* The connection no longer counts as unauthenticated (identified, or gone). */
static void
conn_dequeue(struct conn *c)
{
	if (c->queued)
		TAILQ_REMOVE(&unauthenticated, c, waiting);
	c->queued = false;
}

static const char *
conn_peer(const struct conn *c, char *buf, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = SSL_get_fd(c->ssl);
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
			port = ntohs(sin->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
			port = ntohs(sin6->sin6_port);
		}
	}
	snprintf(buf, size, "%s:%u", host, port);
	return buf;
}

/* evhttp owns the socket: shutting it down makes it see EOF and free the connection. */
static void
conn_close(struct conn *c)
{
	int fd = SSL_get_fd(c->ssl);

	c->state = CONN_CLOSED;
	evtimer_del(c->deadline);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

static void
conn_arm(struct conn *c, uint64_t seconds)
{
	struct timeval tv = { .tv_sec = (time_t)(seconds > INT32_MAX ? INT32_MAX : seconds) };

	evtimer_add(c->deadline, &tv);
}

static void
conn_deadline_passed(evutil_socket_t unused, short what, void *arg)
{
	struct conn *c = arg;
	char peer[64];

	(void)unused, (void)what;
	if (c->state == CONN_HEAD)
		listener_note(c->d->accept, CAUSE_HEADER_DEADLINE, LOG_LEVEL_INFO,
			"closed the connection of %s: request head not complete within header_timeout_s",
			conn_peer(c, peer, sizeof(peer)));
	else if (c->state == CONN_BODY)
		listener_note(c->d->accept, CAUSE_BODY_DEADLINE, LOG_LEVEL_INFO,
			"closed the connection of %s: request body slower than body_min_rate_bytes_s "
			"(%" PRIu64 " bytes missing)", conn_peer(c, peer, sizeof(peer)), c->body_left);
	conn_close(c);
}

/* Hands bytes to evhttp. */
static void
conn_release(struct conn *c, const void *data, size_t len)
{
	c->releasing = true;
	if (evbuffer_add(c->input, data, len) != 0)
		conn_close(c);
	c->releasing = false;
}

static void
conn_release_fresh(struct conn *c, size_t len)
{
	c->releasing = true;
	if (evbuffer_remove_buffer(c->fresh, c->input, len) != (int)len)
		conn_close(c);
	c->releasing = false;
}

static void
conn_drop_head(struct conn *c)
{
	free(c->head);
	c->head = NULL;
	c->head_len = c->head_cap = c->line_start = 0;
}

static void
conn_refuse(struct conn *c, int status, const char *message, unsigned retry_after_s,
		enum listener_cause cause)
{
	static const char stand_in[] =
		"GET " CONN_REJECTED_PATH " HTTP/1.1\r\nHost: esupd\r\nConnection: close\r\n\r\n";
	char peer[64];

	/* refusals of who the client is are logged with tls.c's, in the same words as
	 * http_authenticate's; framing faults here */
	if (cause == CAUSE_UNAUTHENTICATED_BODY)
		listener_counted(c->d->accept, cause);
	else
		listener_note(c->d->accept, cause, LOG_LEVEL_INFO, "refused a request from %s: %d %s",
			conn_peer(c, peer, sizeof(peer)), status, message);
	c->status = status;
	free(c->message);
	c->message = strdup(message);
	c->retry_after_s = retry_after_s;
	c->state = CONN_REFUSED;
	evtimer_del(c->deadline);
	conn_drop_head(c);
	conn_release(c, stand_in, sizeof(stand_in) - 1);
}

/* Whether this connection's peer may send a body: a registered principal's certificate. */
static bool
conn_may_send_body(struct conn *c)
{
	const char *fp, *subject;
	char missing[512];
	enum tls_peer peer = tls_peer_identity(c->ssl, c->d->tls, &fp, &subject);
	unsigned retry = c->d->cfg->retry_after_s;
	enum listener_cause cause = CAUSE_UNAUTHENTICATED_BODY;

	if (peer == TLS_PEER_NONE) {
		tls_log_refusal(c->d->peers, c->ssl, "401: a request without a client certificate");
		conn_refuse(c, 401, "a client certificate is required", 0, cause);
	} else if (peer == TLS_PEER_TOO_MANY) {
		conn_refuse(c, 429, "too many open connections for this certificate; reuse one (keep-alive)",
			retry, cause);
	} else if (peer != TLS_PEER_OK) {   /* logged by tls.c */
		conn_refuse(c, 403, "certificate revoked or no longer acceptable", 0, cause);
	} else if (!health_can_authenticate(c->d)) {
		conn_refuse(c, 503, health_missing(c->d, missing, sizeof(missing)), retry, cause);
	} else if (identity_find(c->d->identity, fp) == NULL) {
		tls_log_refusal(c->d->peers, c->ssl, "403: certificate %s (%s) is not a registered, "
			"enabled principal", fp, subject);
		conn_refuse(c, 403, "certificate is not registered as a principal", 0, cause);
	}
	return c->state != CONN_REFUSED;
}

static void
conn_head_complete(struct conn *c)
{
	const struct config *cfg = c->d->cfg;
	struct http_head h;

	evtimer_del(c->deadline);
	if (!http_head_parse(c->head, c->head_len, &h)) {
		conn_refuse(c, h.status, h.message, 0, CAUSE_FRAMING);
		return;
	}
	if (h.content_length > cfg->max_body_bytes) {
		conn_refuse(c, 413, "request body larger than [limits] max_body_bytes", 0, CAUSE_FRAMING);
		return;
	}
	if (h.content_length > 0 && !conn_may_send_body(c))
		return;
	if (h.content_length > 0 && c->unauthenticated) {
		/* principals were not loaded yet when its first bytes came */
		c->unauthenticated = false;
		conn_dequeue(c);
		listener_authenticated(c->d->accept);
	}
	conn_release(c, c->head, c->head_len);
	conn_drop_head(c);
	if (h.content_length > 0 && c->state == CONN_HEAD) {
		c->state = CONN_BODY;
		c->body_left = h.content_length;
		conn_arm(c, cfg->body_timeout_s + (h.content_length + cfg->body_min_rate_bytes_s - 1) /
			cfg->body_min_rate_bytes_s);
	}
}

static bool
conn_head_reserve(struct conn *c, size_t need)
{
	size_t cap = c->head_cap ? c->head_cap : 1024;
	char *grown;

	if (need <= c->head_cap)
		return true;
	while (cap < need)
		cap *= 2;
	if ((grown = realloc(c->head, cap)) == NULL)
		return false;
	c->head = grown;
	c->head_cap = cap;
	return true;
}

/* Moves fresh bytes into the head up to its blank line; true when it is complete. */
static bool
conn_read_head(struct conn *c)
{
	size_t limit = c->d->cfg->max_header_bytes, n, i;
	unsigned char crlf[2];

	if (!evtimer_pending(c->deadline, NULL))
		conn_arm(c, c->d->cfg->header_timeout_s);
	/* empty lines before a request line are ignored (RFC 9112, 2.2) */
	while (c->head_len == 0 && evbuffer_copyout(c->fresh, crlf, 2) == 2 && crlf[0] == '\r' && crlf[1] == '\n')
		evbuffer_drain(c->fresh, 2);
	n = evbuffer_get_length(c->fresh);
	if (n > limit + 1 - c->head_len)
		n = limit + 1 - c->head_len;
	if (n == 0)
		return false;
	if (!conn_head_reserve(c, c->head_len + n)) {
		conn_close(c);
		return false;
	}
	evbuffer_copyout(c->fresh, c->head + c->head_len, n);
	for (i = c->head_len; i < c->head_len + n; i++) {
		if (c->head[i] != '\n')
			continue;
		if (i > 0 && (i == c->line_start || (i == c->line_start + 1 && c->head[i - 1] == '\r'))) {
			evbuffer_drain(c->fresh, i + 1 - c->head_len);
			c->head_len = i + 1;
			return true;
		}
		c->line_start = i + 1;
	}
	evbuffer_drain(c->fresh, n);
	c->head_len += n;
	if (c->head_len > limit)
		conn_refuse(c, 431, "request head larger than [limits] max_header_bytes", 0, CAUSE_FRAMING);
	return false;
}

static void
conn_request_received(struct conn *c)
{
	c->state = CONN_HEAD;
	evtimer_del(c->deadline);
}

/* Judges c->fresh in order until it is used up. */
static void
conn_judge(struct conn *c)
{
	size_t n;

	while ((n = evbuffer_get_length(c->fresh)) > 0) {
		switch (c->state) {
		case CONN_BODY:
			if (n > c->body_left)
				n = (size_t)c->body_left;
			conn_release_fresh(c, n);
			c->body_left -= n;
			if (c->body_left == 0 && c->state == CONN_BODY)
				conn_request_received(c);
			break;
		case CONN_HEAD:
			if (conn_read_head(c))
				conn_head_complete(c);
			break;
		case CONN_REFUSED:
		case CONN_CLOSED:
			evbuffer_drain(c->fresh, n);
			break;
		}
	}
}

/* Moves the last n bytes of input, just decrypted, to c->fresh; what is before them was
 * handed over earlier and stays for evhttp. */
static bool
conn_take_fresh(struct conn *c, size_t n)
{
	size_t keep = evbuffer_get_length(c->input) - n;
	struct evbuffer *front = NULL;
	bool ok = true;

	c->releasing = true;
	if (keep > 0)
		ok = (front = evbuffer_new()) != NULL &&
			evbuffer_remove_buffer(c->input, front, keep) == (int)keep;
	ok = ok && evbuffer_add_buffer(c->fresh, c->input) == 0 &&
		(front == NULL || evbuffer_add_buffer(c->input, front) == 0);
	c->releasing = false;
	if (front != NULL)
		evbuffer_free(front);
	return ok;
}

/* Once its handshake is over (tls_session_new's callback, or its first bytes at the latest):
 * a registered principal's connection stops counting as unauthenticated, so a department's
 * idle keep-alive connection is never the oldest unauthenticated one a flood evicts. */
static void
conn_identify(struct conn *c)
{
	const char *fp, *subject;

	c->identified = true;
	if (tls_peer_identity(c->ssl, c->d->tls, &fp, &subject) == TLS_PEER_OK &&
	    health_can_authenticate(c->d) && identity_find(c->d->identity, fp) != NULL) {
		c->unauthenticated = false;
		conn_dequeue(c);
		listener_authenticated(c->d->accept);
	}
}

static void
conn_handshake_done(void *arg)
{
	struct conn *c = arg;

	if (c->identified || c->ssl == NULL)
		return;
	conn_identify(c);
	c->identified = !c->unauthenticated;   /* else its first bytes try again (principals) */
}

static void
conn_input(struct evbuffer *input, const struct evbuffer_cb_info *info, void *arg)
{
	struct conn *c = arg;

	(void)input;
	if (c->releasing || info->n_added == 0)
		return;
	if (!c->identified)
		conn_identify(c);
	if (c->state == CONN_BODY && info->n_added <= c->body_left) {
		/* body bytes stay where evhttp reads them */
		c->body_left -= info->n_added;
		if (c->body_left == 0)
			conn_request_received(c);
		return;
	}
	if (!conn_take_fresh(c, info->n_added)) {
		conn_close(c);
		return;
	}
	conn_judge(c);
}

/* ---------------------------------------------------------------- lifetime */

static void
conn_destroy(struct conn *c)
{
	if (c->watch != NULL)
		evbuffer_remove_cb_entry(c->input, c->watch);
	conn_dequeue(c);
	if (c->counted)
		listener_closed(c->d->accept, c->unauthenticated);
	if (c->deadline != NULL)
		event_free(c->deadline);
	if (c->fresh != NULL)
		evbuffer_free(c->fresh);
	free(c->head);
	free(c->message);
	free(c);
}

/* OpenSSL frees the state with the SSL, from the bufferevent's destructor: the socket is
 * being closed, and the input buffer still exists. */
static void
conn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (ptr != NULL)
		conn_destroy(ptr);
}

static struct conn *
conn_create(struct esupd *d, struct event_base *base)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->d = d;
	c->unauthenticated = true;
	if ((c->fresh = evbuffer_new()) == NULL ||
	    (c->deadline = evtimer_new(base, conn_deadline_passed, c)) == NULL) {
		conn_destroy(c);
		return NULL;
	}
	return c;
}

/* At the cap: the oldest unauthenticated connection makes room for the new one (its
 * socket is shut down now; it stops counting when evhttp frees it). False when none is left
 * to close. */
static bool
conn_evict_oldest(struct esupd *d)
{
	struct conn *old = TAILQ_FIRST(&unauthenticated);
	char peer[64];

	if (old == NULL)
		return false;
	conn_dequeue(old);
	listener_note(d->accept, CAUSE_UNAUTHENTICATED_CAP, LOG_LEVEL_WARNING,
		"max_unauthenticated_connections (%u) reached: closed the oldest unauthenticated "
		"connection (%s) for a new one", d->cfg->max_unauthenticated_connections,
		conn_peer(old, peer, sizeof(peer)));
	conn_close(old);
	return true;
}

struct bufferevent *
conn_bufferevent_new(struct esupd *d, struct event_base *base)
{
	static const struct timeval now = { 0, 0 };
	struct conn *c;
	struct bufferevent *bev;
	SSL *ssl;

	if (conn_index < 0 &&
	    (conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_free)) < 0)
		return NULL;
	if ((c = conn_create(d, base)) == NULL)
		return NULL;
	ssl = tls_session_new(d->tls, base, d->cfg->handshake_timeout_s, d->peers,
		conn_handshake_done, c);
	if (ssl == NULL || !SSL_set_ex_data(ssl, conn_index, c)) {
		SSL_free(ssl);
		conn_destroy(c);
		return NULL;
	}
	c->ssl = ssl;   /* from here the SSL owns c */
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	c->input = bufferevent_get_input(bev);
	if ((c->watch = evbuffer_add_cb(c->input, conn_input, c)) == NULL) {
		bufferevent_free(bev);
		return NULL;
	}
	c->counted = true;
	if (!listener_admit(d->accept) && !conn_evict_oldest(d)) {
		listener_note(d->accept, CAUSE_UNAUTHENTICATED_CAP, LOG_LEVEL_WARNING,
			"max_unauthenticated_connections (%u) reached: closing a new connection",
			d->cfg->max_unauthenticated_connections);
		c->state = CONN_CLOSED;
		evtimer_add(c->deadline, &now);   /* evhttp gives the bufferevent its socket first */
		return bev;
	}
	TAILQ_INSERT_TAIL(&unauthenticated, c, waiting);
	c->queued = true;
	return bev;
}

bool
conn_refusal(struct evhttp_request *req, int *status, const char **message, unsigned *retry_after_s)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	struct conn *c = ssl && conn_index >= 0 ? SSL_get_ex_data(ssl, conn_index) : NULL;
	const char *uri = evhttp_request_get_uri(req);

	*retry_after_s = 0;
	if (c == NULL) {
		/* never served: not a connection of ours (no TLS) */
		*status = 400;
		*message = "HTTPS only";
		return true;
	}
	if (c->state != CONN_REFUSED || uri == NULL || strcmp(uri, CONN_REJECTED_PATH) != 0)
		return false;
	*status = c->status;
	*message = c->message ? c->message : "request refused";
	*retry_after_s = c->retry_after_s;
	return true;
}
