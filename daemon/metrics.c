/* metrics.c: the metric table, series kept per family in a list (few per family: the label
 * sets are bounded, see metrics.h), and the text exposition format 0.0.4. */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


enum metric_type { TYPE_COUNTER, TYPE_GAUGE, TYPE_HISTOGRAM };

/* Seconds: half a millisecond to ten seconds. */
static const double latency_buckets[] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
/* Events in one transaction: 1 to the largest batch_max_events worth telling apart. */
static const double batch_buckets[] = {
	1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000,
};
#define NBUCKETS(a) (sizeof(a) / sizeof((a)[0]))

struct metric_def {
	const char *name;
	enum metric_type type;
	const char *help;
	const char *labels[METRICS_LABELS_MAX + 1];   /* NULL-terminated */
	const double *buckets;
	size_t nbuckets;
};

static const struct metric_def defs[METRIC_COUNT] = {
	[METRIC_EVENTS] = { "esup_events_total", TYPE_COUNTER,
		"Events answered by POST /v1/events (dry runs apart), by the sending department, "
		"the event type (\"invalid\" when it did not parse as one) and the result.",
		{ "department", "type", "result" }, NULL, 0 },
	[METRIC_DRY_RUN_EVENTS] = { "esup_dry_run_events_total", TYPE_COUNTER,
		"Events answered by POST /v1/events?dry_run=1 (judged as a real POST would, nothing "
		"stored), by the sending department and the result; not in esup_events_total.",
		{ "department", "result" }, NULL, 0 },
	[METRIC_REQUEST_DURATION] = { "esup_request_duration_seconds", TYPE_HISTOGRAM,
		"POST /v1/events: from the complete request reaching esupd to its answer being sent.",
		{ NULL }, latency_buckets, NBUCKETS(latency_buckets) },
	[METRIC_COMMIT_DURATION] = { "esup_commit_duration_seconds", TYPE_HISTOGRAM,
		"One writer transaction, from BEGIN to COMMIT returned (committed batches only).",
		{ NULL }, latency_buckets, NBUCKETS(latency_buckets) },
	[METRIC_BATCH_EVENTS] = { "esup_batch_events", TYPE_HISTOGRAM,
		"Events in one committed writer transaction.",
		{ NULL }, batch_buckets, NBUCKETS(batch_buckets) },
	[METRIC_QUEUE] = { "esup_ingest_queue_events", TYPE_GAUGE,
		"Valid events queued for the writer or in its transaction now.",
		{ NULL }, NULL, 0 },
	[METRIC_DB_UP] = { "esup_db_up", TYPE_GAUGE,
		"1 when the database connection is up, by connection (writer, reader, sweeper).",
		{ "connection" }, NULL, 0 },
	[METRIC_DB_RECONNECTS] = { "esup_db_reconnects_total", TYPE_COUNTER,
		"Database connections lost after having been up, by connection.",
		{ "connection" }, NULL, 0 },
	[METRIC_SWEEPER_LAG] = { "esup_sweeper_lag_seconds", TYPE_GAUGE,
		"How long the oldest case due for a check has been due (0: none due), as last read "
		"from the database (absent until the first read).",
		{ NULL }, NULL, 0 },
	[METRIC_ALERTS_RAISED] = { "esup_alerts_raised_total", TYPE_COUNTER,
		"Alerts raised (issued, or held for confirmation) by case evaluation and the "
		"statistical rules, once committed, by rule and severity.",
		{ "rule", "severity" }, NULL, 0 },
	[METRIC_ALERTS_OPEN] = { "esup_alerts_open", TYPE_GAUGE,
		"Alerts issued and not closed (open, acknowledged, appealed), by severity, as last "
		"read from the database.",
		{ "severity" }, NULL, 0 },
	[METRIC_TLS_FAILURES] = { "esup_tls_handshake_failures_total", TYPE_COUNTER,
		"TLS handshakes that did not complete, by reason.",
		{ "reason" }, NULL, 0 },
	[METRIC_CONNECTIONS] = { "esup_connections", TYPE_GAUGE,
		"Open client connections of the TLS listener, by state.",
		{ "state" }, NULL, 0 },
	[METRIC_CERT_EXPIRY] = { "esup_certificate_expiry_seconds", TYPE_GAUGE,
		"Seconds until the server certificate (file=certificate) or the earliest-expiring CA "
		"certificate (file=ca) expires; negative once expired.",
		{ "file" }, NULL, 0 },
	[METRIC_CRL_EXPIRY] = { "esup_crl_expiry_seconds", TYPE_GAUGE,
		"Seconds until the earliest nextUpdate of the loaded CRLs; absent without a CRL.",
		{ NULL }, NULL, 0 },
	[METRIC_RULES_RELOAD_DURATION] = { "esup_rules_reload_duration_seconds", TYPE_GAUGE,
		"How long the last load of the rules from the reference tables took.",
		{ NULL }, NULL, 0 },
	[METRIC_RULES_RELOADS] = { "esup_rules_reloads_total", TYPE_COUNTER,
		"Loads of the rules from the reference tables, by result (ok, refused, lost).",
		{ "result" }, NULL, 0 },
	[METRIC_READY] = { "esup_ready", TYPE_GAUGE,
		"1 when esupd accepts events (database, schema, principals and rules are there).",
		{ NULL }, NULL, 0 },
	[METRIC_BUILD_INFO] = { "esup_build_info", TYPE_GAUGE,
		"Always 1; the version of esupd running.",
		{ "version" }, NULL, 0 },
	[METRIC_START_TIME] = { "esup_start_time_seconds", TYPE_GAUGE,
		"When esupd started, seconds since the epoch.",
		{ NULL }, NULL, 0 },
	[METRIC_SERIES_DROPPED] = { "esup_metrics_series_dropped_total", TYPE_COUNTER,
		"Metric updates dropped because their family already held its most series.",
		{ NULL }, NULL, 0 },
};

struct series {
	struct series *next;
	char *values[METRICS_LABELS_MAX];
	double value;          /* counters and gauges; a histogram's sum */
	unsigned long long count;     /* histograms */
	unsigned long long *buckets;  /* histograms: per bucket, not cumulative */
};

struct family {
	const struct metric_def *def;
	size_t nlabels;
	struct series *head, **tail;
	size_t count;
};

struct metrics {
	struct family families[METRIC_COUNT];
};

static void
series_free(struct series *s)
{
	for (size_t i = 0; i < METRICS_LABELS_MAX; i++)
		free(s->values[i]);
	free(s->buckets);
	free(s);
}

static struct series *
series_new(const struct family *f, const char *const *values)
{
	struct series *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	for (size_t i = 0; i < f->nlabels; i++) {
		if ((s->values[i] = strdup(values[i])) == NULL) {
			series_free(s);
			return NULL;
		}
	}
	if (f->def->type == TYPE_HISTOGRAM &&
	    (s->buckets = calloc(f->def->nbuckets, sizeof(*s->buckets))) == NULL) {
		series_free(s);
		return NULL;
	}
	return s;
}

struct metrics *
metrics_create(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	for (size_t i = 0; i < METRIC_COUNT; i++) {
		struct family *f = &m->families[i];

		f->def = &defs[i];
		f->tail = &f->head;
		while (f->nlabels < METRICS_LABELS_MAX && f->def->labels[f->nlabels] != NULL)
			f->nlabels++;
		if (f->nlabels == 0) {
			if ((f->head = series_new(f, NULL)) == NULL) {
				metrics_destroy(m);
				return NULL;
			}
			f->tail = &f->head->next;
			f->count = 1;
		}
	}
	return m;
}

void
metrics_clear(struct metrics *m, enum metric id)
{
	struct family *f;
	struct series *s, *next;

	if (m == NULL)
		return;
	f = &m->families[id];
	for (s = f->head; s != NULL; s = next) {
		next = s->next;
		series_free(s);
	}
	f->head = NULL;
	f->tail = &f->head;
	f->count = 0;
}

void
metrics_destroy(struct metrics *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < METRIC_COUNT; i++) {
		struct family *f = &m->families[i];
		struct series *s, *next;

		for (s = f->head; s != NULL; s = next) {
			next = s->next;
			series_free(s);
		}
	}
	free(m);
}

static struct series *
series_find(const struct family *f, const char *const *values)
{
	for (struct series *s = f->head; s != NULL; s = s->next) {
		size_t i = 0;

		while (i < f->nlabels && strcmp(s->values[i], values[i]) == 0)
			i++;
		if (i == f->nlabels)
			return s;
	}
	return NULL;
}

/* The series of those label values, made when missing; NULL when it cannot be (counted). */
static struct series *
series_get(struct metrics *m, enum metric id, const char *const *values)
{
	struct family *f = &m->families[id];
	struct series *s = series_find(f, values);

	if (s != NULL)
		return s;
	if (f->count >= METRICS_SERIES_MAX || (s = series_new(f, values)) == NULL) {
		/* counted, not logged: the count is what an operator alerts on */
		if (id != METRIC_SERIES_DROPPED && m->families[METRIC_SERIES_DROPPED].head != NULL)
			m->families[METRIC_SERIES_DROPPED].head->value += 1;
		return NULL;
	}
	*f->tail = s;
	f->tail = &s->next;
	f->count++;
	return s;
}

void
metrics_add(struct metrics *m, enum metric id, const char *const *values, double v)
{
	struct series *s;

	if (m != NULL && (s = series_get(m, id, values)) != NULL)
		s->value += v;
}

void
metrics_set(struct metrics *m, enum metric id, const char *const *values, double v)
{
	struct series *s;

	if (m != NULL && (s = series_get(m, id, values)) != NULL)
		s->value = v;
}

void
metrics_observe(struct metrics *m, enum metric id, const char *const *values, double v)
{
	const struct metric_def *def;
	struct series *s;

	if (m == NULL || (s = series_get(m, id, values)) == NULL)
		return;
	def = m->families[id].def;
	for (size_t i = 0; i < def->nbuckets; i++) {
		if (v <= def->buckets[i]) {
			s->buckets[i]++;
			break;
		}
	}
	s->count++;
	s->value += v;
}

void
metrics_move(struct metrics *into, struct metrics *from, enum metric id)
{
	if (from == NULL)
		return;
	for (const struct series *s = from->families[id].head; s != NULL; s = s->next)
		metrics_add(into, id, (const char *const *)s->values, s->value);
	metrics_clear(from, id);
}

double
metrics_value(const struct metrics *m, enum metric id, const char *const *values)
{
	const struct series *s = m ? series_find(&m->families[id], values) : NULL;

	if (s == NULL)
		return 0;
	return m->families[id].def->type == TYPE_HISTOGRAM ? (double)s->count : s->value;
}

void
metrics_clock(struct timespec *now)
{
	clock_gettime(CLOCK_MONOTONIC, now);
}

double
metrics_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* ------------------------------------------------------------------------ rendering */

/* A sample value as Prometheus reads it: shortest %g that reads back the same. */
static void
format_value(double v, char *buf, size_t size)
{
	if (isnan(v))
		snprintf(buf, size, "NaN");
	else if (isinf(v))
		snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
	else {
		snprintf(buf, size, "%.15g", v);
		if (strtod(buf, NULL) != v)
			snprintf(buf, size, "%.17g", v);
	}
}

/* Label values escape backslash, double quote and line feed; HELP text backslash and line
 * feed only. */
static int
add_escaped(struct evbuffer *out, const char *s, bool quotes)
{
	int rc = 0;

	for (; *s != '\0' && rc == 0; s++) {
		if (*s == '\\')
			rc = evbuffer_add(out, "\\\\", 2);
		else if (*s == '\n')
			rc = evbuffer_add(out, "\\n", 2);
		else if (*s == '"' && quotes)
			rc = evbuffer_add(out, "\\\"", 2);
		else
			rc = evbuffer_add(out, s, 1);
	}
	return rc;
}

/* {a="x",b="y"[,le="..."]} or nothing when there is no label at all. */
static int
add_labels(struct evbuffer *out, const struct family *f, const struct series *s, const char *le)
{
	int rc = 0;

	if (f->nlabels == 0 && le == NULL)
		return 0;
	rc |= evbuffer_add(out, "{", 1);
	for (size_t i = 0; i < f->nlabels; i++) {
		rc |= evbuffer_add_printf(out, "%s%s=\"", i ? "," : "", f->def->labels[i]) < 0;
		rc |= add_escaped(out, s->values[i], true);
		rc |= evbuffer_add(out, "\"", 1);
	}
	if (le != NULL)
		rc |= evbuffer_add_printf(out, "%sle=\"%s\"", f->nlabels ? "," : "", le) < 0;
	rc |= evbuffer_add(out, "}", 1);
	return rc;
}

static int
add_sample(struct evbuffer *out, const struct family *f, const struct series *s,
		const char *suffix, const char *le, double v)
{
	char value[40];
	int rc;

	format_value(v, value, sizeof(value));
	rc = evbuffer_add_printf(out, "%s%s", f->def->name, suffix) < 0;
	rc |= add_labels(out, f, s, le);
	rc |= evbuffer_add_printf(out, " %s\n", value) < 0;
	return rc;
}

static int
render_family(const struct family *f, struct evbuffer *out)
{
	static const char *const type_names[] = { "counter", "gauge", "histogram" };
	const struct metric_def *def = f->def;
	int rc;

	rc = evbuffer_add_printf(out, "# HELP %s ", def->name) < 0;
	rc |= add_escaped(out, def->help, false);
	rc |= evbuffer_add_printf(out, "\n# TYPE %s %s\n", def->name, type_names[def->type]) < 0;
	for (const struct series *s = f->head; s != NULL && rc == 0; s = s->next) {
		unsigned long long cumulative = 0;
		char le[40];

		if (def->type != TYPE_HISTOGRAM) {
			rc |= add_sample(out, f, s, "", NULL, s->value);
			continue;
		}
		for (size_t i = 0; i < def->nbuckets; i++) {
			cumulative += s->buckets[i];
			format_value(def->buckets[i], le, sizeof(le));
			rc |= add_sample(out, f, s, "_bucket", le, (double)cumulative);
		}
		rc |= add_sample(out, f, s, "_bucket", "+Inf", (double)s->count);
		rc |= add_sample(out, f, s, "_sum", NULL, s->value);
		rc |= add_sample(out, f, s, "_count", NULL, (double)s->count);
	}
	return rc;
}

bool
metrics_render(const struct metrics *m, struct evbuffer *out)
{
	for (size_t i = 0; i < METRIC_COUNT; i++)
		if (render_family(&m->families[i], out) != 0)
			return false;
	return true;
}
