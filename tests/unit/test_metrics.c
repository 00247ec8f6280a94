/* test_metrics.c: the metrics registry (daemon/metrics.c): the text exposition it renders
 * (HELP and TYPE first, label values escaped, histogram buckets cumulative with +Inf, _sum and
 * _count), counters and gauges, clearing, and the bound on series per family. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "metrics.h"

/* The registry's text, NUL-terminated; the caller frees it. */
static char *
render(const struct metrics *m)
{
	struct evbuffer *out = evbuffer_new();
	size_t len;
	char *text;

	assert_non_null(out);
	assert_true(metrics_render(m, out));
	len = evbuffer_get_length(out);
	text = malloc(len + 1);
	assert_non_null(text);
	evbuffer_remove(out, text, len);
	text[len] = '\0';
	evbuffer_free(out);
	return text;
}

static void
assert_line(const char *text, const char *line)
{
	char *want = malloc(strlen(line) + 3);

	assert_non_null(want);
	sprintf(want, "\n%s\n", line);
	/* the text starts with a line of its own: look at it as if preceded by a newline */
	if (strncmp(text, want + 1, strlen(want + 1)) != 0 && strstr(text, want) == NULL)
		fail_msg("no line '%s' in:\n%s", line, text);
	free(want);
}

static void
test_fresh_registry(void **state)
{
	struct metrics *m = metrics_create();
	char *text;

	(void)state;
	assert_non_null(m);
	text = render(m);
	assert_true(strncmp(text, "# HELP esup_events_total ", 25) == 0);
	assert_line(text, "# TYPE esup_events_total counter");
	assert_line(text, "# TYPE esup_request_duration_seconds histogram");
	assert_line(text, "# TYPE esup_db_up gauge");
	/* a family without labels has its one sample from the start; one with labels none */
	assert_line(text, "esup_ingest_queue_events 0");
	assert_line(text, "esup_request_duration_seconds_bucket{le=\"0.0005\"} 0");
	assert_line(text, "esup_request_duration_seconds_bucket{le=\"+Inf\"} 0");
	assert_line(text, "esup_request_duration_seconds_count 0");
	assert_null(strstr(text, "esup_db_up{"));
	free(text);
	metrics_destroy(m);
}

static void
test_counters_gauges_and_escaping(void **state)
{
	struct metrics *m = metrics_create();
	const char *odd[] = { "LY-\"ZJJ\"", "a\\b", "line\nbreak" };
	const char *dept[] = { "LY-ZJJ", "approval.accepted", "accepted" };
	const char *writer[] = { "writer" };
	char *text;

	(void)state;
	metrics_add(m, METRIC_EVENTS, dept, 1);
	metrics_add(m, METRIC_EVENTS, dept, 2);
	metrics_add(m, METRIC_EVENTS, odd, 1);
	metrics_set(m, METRIC_DB_UP, writer, 1);
	metrics_set(m, METRIC_DB_UP, writer, 0);
	metrics_set(m, METRIC_START_TIME, NULL, 1764676800);
	metrics_set(m, METRIC_SWEEPER_LAG, NULL, 0.25);
	assert_true(metrics_value(m, METRIC_EVENTS, dept) == 3);
	text = render(m);
	assert_line(text, "esup_events_total{department=\"LY-ZJJ\",type=\"approval.accepted\","
		"result=\"accepted\"} 3");
	assert_line(text, "esup_events_total{department=\"LY-\\\"ZJJ\\\"\",type=\"a\\\\b\","
		"result=\"line\\nbreak\"} 1");
	assert_line(text, "esup_db_up{connection=\"writer\"} 0");
	assert_line(text, "esup_start_time_seconds 1764676800");
	assert_line(text, "esup_sweeper_lag_seconds 0.25");
	free(text);
	metrics_destroy(m);
}

static void
test_histogram(void **state)
{
	struct metrics *m = metrics_create();
	char *text;

	(void)state;
	metrics_observe(m, METRIC_COMMIT_DURATION, NULL, 0.003);
	metrics_observe(m, METRIC_COMMIT_DURATION, NULL, 0.005);   /* le is inclusive */
	metrics_observe(m, METRIC_COMMIT_DURATION, NULL, 20);      /* beyond the last bucket */
	metrics_observe(m, METRIC_BATCH_EVENTS, NULL, 1000);
	text = render(m);
	assert_line(text, "esup_commit_duration_seconds_bucket{le=\"0.0025\"} 0");
	assert_line(text, "esup_commit_duration_seconds_bucket{le=\"0.005\"} 2");
	assert_line(text, "esup_commit_duration_seconds_bucket{le=\"10\"} 2");
	assert_line(text, "esup_commit_duration_seconds_bucket{le=\"+Inf\"} 3");
	assert_line(text, "esup_commit_duration_seconds_sum 20.008");
	assert_line(text, "esup_commit_duration_seconds_count 3");
	assert_line(text, "esup_batch_events_bucket{le=\"500\"} 0");
	assert_line(text, "esup_batch_events_bucket{le=\"1000\"} 1");
	assert_line(text, "esup_batch_events_bucket{le=\"5000\"} 1");
	free(text);
	metrics_destroy(m);
}

static void
test_clear_and_bound(void **state)
{
	struct metrics *m = metrics_create();
	const char *ca[] = { "ca" };
	char value[32], *text;
	const char *labels[] = { value, "yellow" };

	(void)state;
	metrics_set(m, METRIC_CERT_EXPIRY, ca, 100);
	metrics_set(m, METRIC_CRL_EXPIRY, NULL, 5);
	metrics_clear(m, METRIC_CERT_EXPIRY);
	metrics_clear(m, METRIC_CRL_EXPIRY);
	text = render(m);
	assert_null(strstr(text, "esup_certificate_expiry_seconds{"));
	assert_null(strstr(text, "\nesup_crl_expiry_seconds "));
	assert_line(text, "# TYPE esup_crl_expiry_seconds gauge");
	free(text);

	for (int i = 0; i < METRICS_SERIES_MAX + 5; i++) {
		snprintf(value, sizeof(value), "RULE-%d", i);
		metrics_add(m, METRIC_ALERTS_RAISED, labels, 1);
	}
	snprintf(value, sizeof(value), "RULE-%d", METRICS_SERIES_MAX - 1);
	assert_true(metrics_value(m, METRIC_ALERTS_RAISED, labels) == 1);
	snprintf(value, sizeof(value), "RULE-%d", METRICS_SERIES_MAX);
	assert_true(metrics_value(m, METRIC_ALERTS_RAISED, labels) == 0);
	text = render(m);
	assert_line(text, "esup_metrics_series_dropped_total 5");
	free(text);
	metrics_destroy(m);
}

/* Counts of a transaction wait in a registry of their own and move only on COMMIT. */
static void
test_move(void **state)
{
	struct metrics *m = metrics_create(), *pending = metrics_create();
	const char *red[] = { "APR-DEADLINE-RED", "red" }, *yellow[] = { "APR-DEADLINE-YELLOW", "yellow" };

	(void)state;
	metrics_add(m, METRIC_ALERTS_RAISED, red, 1);
	metrics_add(pending, METRIC_ALERTS_RAISED, red, 2);
	metrics_add(pending, METRIC_ALERTS_RAISED, yellow, 1);
	metrics_move(m, pending, METRIC_ALERTS_RAISED);
	assert_true(metrics_value(m, METRIC_ALERTS_RAISED, red) == 3);
	assert_true(metrics_value(m, METRIC_ALERTS_RAISED, yellow) == 1);
	assert_true(metrics_value(pending, METRIC_ALERTS_RAISED, red) == 0);
	metrics_add(pending, METRIC_ALERTS_RAISED, red, 5);
	metrics_clear(pending, METRIC_ALERTS_RAISED);          /* rolled back */
	metrics_move(m, pending, METRIC_ALERTS_RAISED);
	assert_true(metrics_value(m, METRIC_ALERTS_RAISED, red) == 3);
	metrics_destroy(pending);
	metrics_destroy(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_registry),
		cmocka_unit_test(test_counters_gauges_and_escaping),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_clear_and_bound),
		cmocka_unit_test(test_move),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
