/* listener.h: how many connections esupd holds, and accepting only while it can hold more.
 *
 * Every accepted connection is counted from its creation (conn.c) until its socket is closed;
 * it counts as unauthenticated until its first bytes arrive over a TLS session whose
 * certificate maps to a registered principal. At max_connections the listening socket is
 * disabled (new clients wait in the kernel's backlog) and enabled again when one closes; an
 * accept() error such as EMFILE disables it for a backoff period instead of retrying at once.
 * Log lines about each cause are rate-limited (log_limited) and every event is counted. */
#ifndef ESUP_LISTENER_H
#define ESUP_LISTENER_H

#include <stdbool.h>

#include <event2/listener.h>

#include "config.h"
#include "log.h"

/* Descriptors kept back from the connection cap derived from the fd limit: the database
 * connections, the listener, syslog, the event loop's own, files opened on reload. */
#define LISTENER_FD_RESERVE 32

enum listener_cause {
	CAUSE_AT_CAP,               /* max_connections reached: accepting paused */
	CAUSE_UNAUTHENTICATED_CAP,  /* max_unauthenticated_connections reached: connection closed */
	CAUSE_ACCEPT_ERROR,         /* accept() failed (EMFILE, ENFILE, ENOBUFS...) */
	CAUSE_HEADER_DEADLINE,      /* a request head not complete within header_timeout_s */
	CAUSE_BODY_DEADLINE,        /* a body slower than body_min_rate_bytes_s */
	CAUSE_FRAMING,              /* a request head refused (400, 411, 413, 431, 501, 505) */
	CAUSE_UNAUTHENTICATED_BODY, /* a body offered without a registered certificate */
	CAUSE_SETUP,                /* out of memory setting a connection up */
	CAUSE_COUNT
};

struct listener;

/* Raises the soft RLIMIT_NOFILE to the hard limit and logs what it got; returns the soft
 * limit in force. Call before any connection is accepted. */
unsigned listener_raise_fd_limit(void);

/* Watches lev (owned by evhttp). fd_limit is what listener_raise_fd_limit returned. NULL
 * when out of memory. Only one listener may exist: libevent hands accept errors to evhttp's
 * argument, so the error callback finds this object through a file-scope pointer. */
struct listener *listener_create(struct event_base *base, struct evconnlistener *lev,
		unsigned fd_limit, const struct config *cfg);
/* Applies [limits] max_connections and max_unauthenticated_connections (also on reload). */
void listener_set_limits(struct listener *l, const struct config *cfg);
/* Stops accepting for good (SIGTERM, shutdown) before evhttp frees the socket. Connections
 * still open keep reporting here, so destroy only after every one is closed. */
void listener_stop(struct listener *l);
void listener_destroy(struct listener *l);

/* A connection was created; false when too many are unauthenticated: the caller closes one
 * (the oldest, or this one) and notes CAUSE_UNAUTHENTICATED_CAP. Every connection counts
 * until listener_closed. */
bool listener_admit(struct listener *l) __attribute__((warn_unused_result));
/* A connection left the unauthenticated count. */
void listener_authenticated(struct listener *l);
/* A connection's socket was closed; unauthenticated says whether it was still counted so. */
void listener_closed(struct listener *l, bool unauthenticated);

/* Counts one event of cause and logs it, at most one line per cause every few seconds. */
void listener_note(struct listener *l, enum listener_cause cause, enum log_level level,
		const char *fmt, ...) LOG_PRINTF(4, 5);
/* Counts one event of cause that someone else logs. */
void listener_counted(struct listener *l, enum listener_cause cause);
unsigned long listener_count(const struct listener *l, enum listener_cause cause);
/* Connections open now, and how many of them are still unauthenticated. */
unsigned listener_open(const struct listener *l, unsigned *unauthenticated);

#endif
