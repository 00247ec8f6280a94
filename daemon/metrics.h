/* metrics.h: esupd's Prometheus metrics. One registry, owned by struct esupd (d->metrics),
 * holds every metric family of the daemon in one table (metrics.c, like config.c's options):
 * counters, gauges and histograms with fixed buckets, each with a fixed list of label names.
 *
 * Label values must come from bounded sets that esupd itself owns: departments of registered
 * principals, libmonitor's event type names, rule codes of the registry, fixed words. Never a
 * value a client sent unchecked. As a second fence each family holds at most
 * METRICS_SERIES_MAX series; an update that would make more is dropped and counted in
 * esup_metrics_series_dropped_total.
 *
 * Nothing here blocks or allocates more than one series at a time; every call is made from the
 * event loop. metrics_render writes the Prometheus text exposition format 0.0.4. */
#ifndef ESUP_METRICS_H
#define ESUP_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <event2/buffer.h>

#define METRICS_LABELS_MAX 3
#define METRICS_SERIES_MAX 4096
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum metric {
	METRIC_EVENTS,                 /* counter {department, type, result} */
	METRIC_DRY_RUN_EVENTS,         /* counter {department, result}: POST /v1/events?dry_run=1 */
	METRIC_REQUEST_DURATION,       /* histogram: POST /v1/events */
	METRIC_COMMIT_DURATION,        /* histogram: one writer transaction, BEGIN to COMMIT */
	METRIC_BATCH_EVENTS,           /* histogram: events in one writer transaction */
	METRIC_QUEUE,                  /* gauge */
	METRIC_DB_UP,                  /* gauge {connection} */
	METRIC_DB_RECONNECTS,          /* counter {connection} */
	METRIC_SWEEPER_LAG,            /* gauge */
	METRIC_ALERTS_RAISED,          /* counter {rule, severity} */
	METRIC_ALERTS_OPEN,            /* gauge {severity} */
	METRIC_TLS_FAILURES,           /* counter {reason} */
	METRIC_CONNECTIONS,            /* gauge {state} */
	METRIC_CERT_EXPIRY,            /* gauge {file} */
	METRIC_CRL_EXPIRY,             /* gauge */
	METRIC_RULES_RELOAD_DURATION,  /* gauge: the last load */
	METRIC_RULES_RELOADS,          /* counter {result} */
	METRIC_READY,                  /* gauge */
	METRIC_BUILD_INFO,             /* gauge {version} */
	METRIC_START_TIME,             /* gauge */
	METRIC_SERIES_DROPPED,         /* counter: updates refused by METRICS_SERIES_MAX */
	METRIC_COUNT
};

struct metrics;

/* A registry with every family of the table and no series yet (families without labels get
 * their one series at 0). NULL when out of memory. */
struct metrics *metrics_create(void);
void metrics_destroy(struct metrics *m);

/* values has as many entries as the family has labels (NULL when it has none); the strings are
 * copied when a series is made. A NULL m is allowed and does nothing (a module used without a
 * registry, as in unit tests). */
/* A counter goes up by v (v >= 0). */
void metrics_add(struct metrics *m, enum metric id, const char *const *values, double v);
/* A gauge is v; also a counter read from a module's own running total at scrape time. */
void metrics_set(struct metrics *m, enum metric id, const char *const *values, double v);
/* A histogram counts one observation of v. */
void metrics_observe(struct metrics *m, enum metric id, const char *const *values, double v);
/* Forgets every series of the family (a reading that may vanish: a CRL no longer configured);
 * a family without labels too, until its next update. */
void metrics_clear(struct metrics *m, enum metric id);

/* For durations: the monotonic clock now, and the seconds elapsed since such a reading. */
void metrics_clock(struct timespec *now);
double metrics_since(const struct timespec *start);

/* Appends the whole registry in the text format 0.0.4, HELP and TYPE lines first for each
 * family. False when out of memory (out then holds part of it). */
bool metrics_render(const struct metrics *m, struct evbuffer *out)
	__attribute__((warn_unused_result));

/* Adds every series of a counter family of `from` into the same family of `into` (NULL:
 * nowhere) and clears it in `from`. For counts that hold only if a transaction commits: they
 * go to a registry of their own (metrics_create) while it runs, and move on COMMIT. */
void metrics_move(struct metrics *into, struct metrics *from, enum metric id);

/* The value of one series, 0 when it does not exist (histograms: their count). For tests and
 * the readings that build on a previous value. */
double metrics_value(const struct metrics *m, enum metric id, const char *const *values);

#endif
