/* esupd.h: the daemon's top-level object, shared by the modules that serve requests. One
 * instance, created in main() and passed down; nothing here is a global. */
#ifndef ESUP_ESUPD_H
#define ESUP_ESUPD_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>

#include "config.h"
#include "ingest.h"

struct db;
struct identity;
struct tls_peers;
struct ingest;
struct refdata;
struct sweeper;
struct jobs;
struct listener;
struct alert_streams;
struct delivery;
struct metrics;
struct metrics_server;

struct esupd {
	const char *config_path;
	struct config *cfg;
	struct event_base *base;
	SSL_CTX *tls;                 /* swapped on reload; live connections keep their own */
	struct tls_peers *peers;      /* open connections per client certificate */
	struct evhttp *http;
	struct evhttp_bound_socket *listener;
	struct listener *accept;      /* connection counts and caps; outlives the event loop */
	unsigned fd_limit;            /* RLIMIT_NOFILE in force */
	struct db *writer;            /* ingest transactions only: writers[0] */
	struct db *writers[INGEST_WRITERS_MAX];   /* [ingest] writers of them */
	size_t nwriters;
	struct db *reader;            /* principals, reference data, queries outside transactions */
	struct db *sweep_db;          /* the sweeper's transactions */
	struct identity *identity;
	struct ingest *ingest;
	struct refdata *refdata;
	struct sweeper *sweeper;
	struct alert_streams *streams; /* GET /v1/alerts/stream: the log poller and open streams */
	struct jobs *jobs;            /* periodic jobs on the reader: escalation, silences */
	struct delivery *delivery;    /* webhook receivers, on the reader */
	struct metrics *metrics;      /* the Prometheus registry (metrics.h) */
	struct metrics_server *metrics_server;   /* readings polled from the database, and the
	                                          * [metrics] listen listener (api_metrics.c) */
	int64_t started_at;           /* wall clock, seconds since the epoch */
	bool draining;                /* SIGTERM seen: no new work */
	int draining_parts;           /* the ingest and the sweeper, until each drained */
	int schema_version;           /* the database's, -1 until read (health.c) */
	bool schema_checking;         /* the version query is in flight */
	bool schema_load_pending;     /* a current version then calls esupd_schema_current */
	bool announced_ready;         /* READY=1 sent: every dependency was there once */
	int exit_status;              /* main's: 1 when esupd refused to go on (schema behind) */
	struct event *sig_term, *sig_int, *sig_hup;
	struct event *watchdog;       /* WATCHDOG=1 at half of systemd's WatchdogSec; NULL: none */
};

/* Business clock: the wall clock plus the test-only [testing] clock_offset_s. */
int64_t esupd_now(const struct esupd *d);

/* main.c: the reader read a schema version this esupd can work with; loads what depends on
 * the schema (principals, reference data, the alert log). Called by health.c from the
 * version query's callback, on every reader (re)connection. */
void esupd_schema_current(struct esupd *d);

#endif
