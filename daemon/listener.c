/* listener.c: connection counting, the accept pause at the cap, the accept-error backoff,
 * the file descriptor limit, and the rate-limited log of each refusal cause.
 *
 * The listening socket is enabled exactly when esupd is not shutting down, not backing off
 * after an accept() error, and below max_connections; listener_update() is the one place
 * that decides. */
#include "listener.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <event2/event.h>

#define LISTENER_LOG_INTERVAL_S 10
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000

struct listener {
	struct evconnlistener *lev;     /* NULL once stopped */
	struct event *backoff;          /* re-enables accepting after an accept() error */
	unsigned backoff_ms;            /* the next pause; doubles while accept() keeps failing */
	unsigned fd_limit;
	unsigned max_connections, max_unauthenticated;
	unsigned connections, unauthenticated;
	bool backing_off, paused;
	unsigned long counts[CAUSE_COUNT];
	struct log_limit logs[CAUSE_COUNT];
};

/* libevent calls the accept error callback with evhttp's argument, not ours. */
static struct listener *accept_errors_to;

static const char *const cause_names[CAUSE_COUNT] = {
	"at max_connections", "at max_unauthenticated_connections", "accept error",
	"header deadline", "body deadline", "framing", "body without a principal", "setup",
};

unsigned
listener_raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t before;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		log_warn("getrlimit(RLIMIT_NOFILE)");
		return 1024;
	}
	before = rl.rlim_cur;
	if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 1048576)
		rl.rlim_max = 1048576;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
			log_warn("cannot raise the file descriptor limit from %llu to %llu",
				(unsigned long long)before, (unsigned long long)rl.rlim_max);
			rl.rlim_cur = before;
		}
	}
	log_info("file descriptor limit: %llu (was %llu; hard limit %llu)",
		(unsigned long long)rl.rlim_cur, (unsigned long long)before,
		(unsigned long long)rl.rlim_max);
	return rl.rlim_cur > 1048576 ? 1048576 : (unsigned)rl.rlim_cur;
}

static void
listener_update(struct listener *l)
{
	bool full = l->connections >= l->max_connections;

	if (l->lev == NULL)
		return;
	if (full && !l->paused)
		listener_note(l, CAUSE_AT_CAP, LOG_LEVEL_WARNING,
			"max_connections (%u) reached: not accepting until a connection closes",
			l->max_connections);
	l->paused = full;
	if (full || l->backing_off)
		evconnlistener_disable(l->lev);
	else
		evconnlistener_enable(l->lev);
}

static void
listener_backoff_over(evutil_socket_t unused, short what, void *arg)
{
	struct listener *l = arg;

	(void)unused, (void)what;
	l->backing_off = false;
	listener_update(l);
}

static void
listener_accept_error(struct evconnlistener *lev, void *unused)
{
	struct listener *l = accept_errors_to;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv;

	(void)unused;
	if (l == NULL || l->lev != lev) {
		evconnlistener_disable(lev);
		return;
	}
	listener_note(l, CAUSE_ACCEPT_ERROR, LOG_LEVEL_WARNING,
		"accept: %s; not accepting for %u ms (%u connections open)", strerror(err),
		l->backoff_ms, l->connections);
	tv.tv_sec = l->backoff_ms / 1000;
	tv.tv_usec = (l->backoff_ms % 1000) * 1000;
	l->backing_off = true;
	evtimer_add(l->backoff, &tv);
	if (l->backoff_ms < BACKOFF_MAX_MS)
		l->backoff_ms *= 2;
	listener_update(l);
}

struct listener *
listener_create(struct event_base *base, struct evconnlistener *lev, unsigned fd_limit,
		const struct config *cfg)
{
	struct listener *l = calloc(1, sizeof(*l));

	if (l == NULL || (l->backoff = evtimer_new(base, listener_backoff_over, l)) == NULL) {
		free(l);
		return NULL;
	}
	l->lev = lev;
	l->fd_limit = fd_limit;
	l->backoff_ms = BACKOFF_MIN_MS;
	listener_set_limits(l, cfg);
	accept_errors_to = l;
	evconnlistener_set_error_cb(lev, listener_accept_error);
	return l;
}

void
listener_set_limits(struct listener *l, const struct config *cfg)
{
	unsigned derived = l->fd_limit > 2 * LISTENER_FD_RESERVE ?
		l->fd_limit - LISTENER_FD_RESERVE : l->fd_limit / 2;

	l->max_connections = cfg->max_connections ? cfg->max_connections : derived;
	if (l->max_connections == 0)
		l->max_connections = 1;
	if (cfg->max_connections > derived)
		log_warnx("max_connections %u exceeds what the file descriptor limit %u allows (%u): "
			"accept() will fail (EMFILE) first", cfg->max_connections, l->fd_limit, derived);
	l->max_unauthenticated = cfg->max_unauthenticated_connections;
	log_info("at most %u connections, %u of them unauthenticated", l->max_connections,
		l->max_unauthenticated < l->max_connections ? l->max_unauthenticated : l->max_connections);
	listener_update(l);
}

void
listener_stop(struct listener *l)
{
	if (l == NULL)
		return;
	if (l->lev != NULL)
		evconnlistener_set_error_cb(l->lev, NULL);
	l->lev = NULL;
	if (l->backoff != NULL)
		event_free(l->backoff);
	l->backoff = NULL;
	if (accept_errors_to == l)
		accept_errors_to = NULL;
}

void
listener_destroy(struct listener *l)
{
	if (l == NULL)
		return;
	listener_stop(l);
	free(l);
}

bool
listener_admit(struct listener *l)
{
	bool refuse = l->unauthenticated >= l->max_unauthenticated;

	l->connections++;
	l->unauthenticated++;
	l->backoff_ms = BACKOFF_MIN_MS;   /* accept() works again */
	if (l->connections >= l->max_connections)
		listener_update(l);
	return !refuse;
}

void
listener_authenticated(struct listener *l)
{
	if (l->unauthenticated > 0)
		l->unauthenticated--;
}

void
listener_closed(struct listener *l, bool unauthenticated)
{
	bool was_full = l->connections >= l->max_connections;

	if (l->connections > 0)
		l->connections--;
	if (unauthenticated)
		listener_authenticated(l);
	if (was_full)
		listener_update(l);
}

void
listener_note(struct listener *l, enum listener_cause cause, enum log_level level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	l->counts[cause]++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_limited(&l->logs[cause], LISTENER_LOG_INTERVAL_S, level, "%s [%s: %lu so far]", msg,
		cause_names[cause], l->counts[cause]);
}

void
listener_counted(struct listener *l, enum listener_cause cause)
{
	l->counts[cause]++;
}

unsigned long
listener_count(const struct listener *l, enum listener_cause cause)
{
	return l->counts[cause];
}

unsigned
listener_open(const struct listener *l, unsigned *unauthenticated)
{
	*unauthenticated = l->unauthenticated;
	return l->connections;
}
