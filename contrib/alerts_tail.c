/* alerts_tail.c: `esupctl alerts tail`: follows GET /v1/alerts/stream (Server-Sent Events,
 * docs/protocol.md) and prints one line per alert change, or the event's JSON with --json.
 * The last event id seen is the stream position; when the connection is lost (the daemon
 * restarts, the network drops, no heartbeat within the timeout) it reconnects with backoff
 * and sends that position as Last-Event-ID, so the server resumes right after it. SIGINT or
 * SIGTERM ends it with status 0; a refusal (401, 403, 404) with status 1. */
#include "alerts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "table.h"

#define SSE_LINE_MAX (4 * 1024 * 1024)
#define SSE_ID_MAX 128
#define ERROR_BODY_MAX 4096
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 30000

struct text {
	char *data;
	size_t len;
	size_t cap;
};

struct sse {
	struct ctl *c;
	struct text line;            /* the line being read */
	struct text data;            /* the event's data lines, joined by LF */
	bool line_overflow;
	bool after_cr;               /* the last byte was CR: a following LF belongs to it */
	char event[64];
	char id_buffer[SSE_ID_MAX];  /* set by id: fields, taken at dispatch (as browsers do) */
	char last_id[SSE_ID_MAX];    /* the position to resume after */
	long retry_ms;               /* the server's retry: field, 0 when none */
	bool progressed;             /* a whole event or comment arrived on this connection */
	bool output_failed;
	char error_body[ERROR_BODY_MAX];   /* the body of a refusal */
	size_t error_len;
};

static bool
text_add(struct text *t, const char *s, size_t n)
{
	if (n > SSE_LINE_MAX - t->len)
		return false;
	if (t->len + n + 1 > t->cap) {
		size_t ncap = t->cap == 0 ? 1024 : t->cap;
		char *nd;
		while (ncap < t->len + n + 1)
			ncap *= 2;
		if ((nd = realloc(t->data, ncap)) == NULL)
			return false;
		t->data = nd;
		t->cap = ncap;
	}
	memcpy(t->data + t->len, s, n);
	t->len += n;
	t->data[t->len] = '\0';
	return true;
}

/* One readable line for an alert event: when, which alert, the transition, who and why. */
static void
print_event_line(const json_t *ev)
{
	const json_t *act = json_object_get(ev, "action"), *al = json_object_get(ev, "alert");
	char b[12][64], at[24], line[2048];
	const char *cs = jtext(al, "case", b[0], 64), *note = jtext(act, "note", b[1], 64);
	const char *kind = jtext(act, "action", b[2], 64), *item = jtext(al, "item", b[9], 64);
	char *safe;

	show_time(json_string_value(json_object_get(act, "at")), true, at, sizeof(at));
	snprintf(line, sizeof(line), "%s  #%s  %s %s→%s  %s %s  %s %s  %s%s%s%s%s", at,
		jtext(al, "id", b[3], 64), kind, jtext(act, "from", b[4], 64),
		jtext(act, "to", b[5], 64), jtext(al, "severity", b[6], 64),
		jtext(al, "rule", b[7], 64), jtext(al, "dept", b[8], 64),
		cs[0] != '\0' ? cs : item[0] != '\0' ? item : "-",
		jtext(act, "actor", b[10], 64), note[0] != '\0' ? ": " : "", note,
		strcmp(kind, "raise") == 0 ? "  " : "",
		strcmp(kind, "raise") == 0 ? jtext(al, "message", b[11], 64) : "");
	safe = text_safe(line);
	puts(safe != NULL ? safe : line);
	free(safe);
}

static void
dispatch(struct sse *s)
{
	json_error_t jerr;
	json_t *ev;

	snprintf(s->last_id, sizeof(s->last_id), "%s", s->id_buffer);
	s->progressed = true;
	if (s->data.len == 0) {
		s->event[0] = '\0';
		return;
	}
	if (s->data.data[s->data.len - 1] == '\n')
		s->data.data[--s->data.len] = '\0';
	if (s->event[0] != '\0' && strcmp(s->event, "alert") != 0) {
		fprintf(stderr, "esupctl: stream: event '%s': %.300s\n", s->event, s->data.data);
	} else if (s->c->json) {
		puts(s->data.data);
	} else if ((ev = json_loads(s->data.data, 0, &jerr)) == NULL) {
		fprintf(stderr, "esupctl: stream: event %s is not JSON: %s\n", s->last_id, jerr.text);
	} else {
		print_event_line(ev);
		json_decref(ev);
	}
	if (fflush(stdout) != 0)
		s->output_failed = true;
	s->data.len = 0;
	s->event[0] = '\0';
}

/* One line of the stream (without its end): a field, a comment, or the blank line that
 * ends an event. */
static void
sse_line(struct sse *s, const char *line, size_t len)
{
	const char *colon = memchr(line, ':', len);
	size_t nlen = colon != NULL ? (size_t)(colon - line) : len;
	const char *v = colon != NULL ? colon + 1 : line + len;
	size_t vlen = (size_t)(line + len - v);

	if (len == 0) {
		dispatch(s);
		return;
	}
	if (vlen > 0 && v[0] == ' ') {
		v++;
		vlen--;
	}
	if (nlen == 0) {
		s->progressed = true;             /* a comment: the heartbeat */
	} else if (nlen == 4 && memcmp(line, "data", 4) == 0) {
		if (!text_add(&s->data, v, vlen) || !text_add(&s->data, "\n", 1))
			fprintf(stderr, "esupctl: stream: an event larger than %d bytes, dropped\n",
				SSE_LINE_MAX);
	} else if (nlen == 2 && memcmp(line, "id", 2) == 0 && vlen < SSE_ID_MAX &&
	    memchr(v, '\0', vlen) == NULL) {
		memcpy(s->id_buffer, v, vlen);
		s->id_buffer[vlen] = '\0';
	} else if (nlen == 5 && memcmp(line, "event", 5) == 0 && vlen < sizeof(s->event)) {
		memcpy(s->event, v, vlen);
		s->event[vlen] = '\0';
	} else if (nlen == 5 && memcmp(line, "retry", 5) == 0 && vlen > 0 && vlen < 7 &&
	    strspn(v, "0123456789") >= vlen) {
		s->retry_ms = strtol(v, NULL, 10);
	}
}

static void
end_line(struct sse *s)
{
	if (!s->line_overflow)
		sse_line(s, s->line.data != NULL ? s->line.data : "", s->line.len);
	s->line.len = 0;
	s->line_overflow = false;
}

/* The body callback: splits the stream into lines (CRLF, LF or CR). */
static bool
sse_feed(int status, const char *data, size_t n, void *arg)
{
	struct sse *s = arg;

	if (status != 200) {
		size_t take = n < ERROR_BODY_MAX - 1 - s->error_len ? n : ERROR_BODY_MAX - 1 - s->error_len;
		memcpy(s->error_body + s->error_len, data, take);
		s->error_len += take;
		s->error_body[s->error_len] = '\0';
		return true;
	}
	for (size_t i = 0; i < n && !s->output_failed; i++) {
		char ch = data[i];
		if (ch == '\n' && s->after_cr) {
			s->after_cr = false;
			continue;
		}
		s->after_cr = ch == '\r';
		if (ch == '\r' || ch == '\n')
			end_line(s);
		else if (!s->line_overflow && !text_add(&s->line, &ch, 1))
			s->line_overflow = true;
	}
	return !s->output_failed;
}

/* Sleeps ms, or less when stopped. */
static void
pause_ms(long ms, volatile sig_atomic_t *stop)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (!*stop && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The refusal of a stream: the server's error, and whether trying again may help. */
static bool
refused_for_good(const struct sse *s, int status)
{
	json_t *j = json_loads(s->error_body, 0, NULL);
	const json_t *e = json_object_get(j, "error");
	char *safe = text_safe(json_is_string(e) ? json_string_value(e) : s->error_body);

	fprintf(stderr, "esupctl: GET /v1/alerts/stream: %d: %s\n", status,
		safe != NULL ? safe : "");
	free(safe);
	json_decref(j);
	return status != 429 && status != 502 && status != 503 && status != 504;
}

static void
sse_reset(struct sse *s)
{
	s->line.len = 0;
	s->data.len = 0;
	s->line_overflow = s->after_cr = s->progressed = false;
	s->event[0] = '\0';
	snprintf(s->id_buffer, sizeof(s->id_buffer), "%s", s->last_id);
	s->error_len = 0;
	s->error_body[0] = '\0';
}

/* One connection: true while the stream should go on (it ended or broke), false when it
 * must stop (*status says how). */
static bool
tail_once(struct sse *s, volatile sig_atomic_t *stop, long *backoff, int *status)
{
	char last[SSE_ID_MAX + 32], err[HTTPS_ERR_MAX];
	const char *headers[] = { "Accept: text/event-stream", "Cache-Control: no-cache",
		s->last_id[0] != '\0' ? last : NULL, NULL };
	struct https_request req = { .method = "GET", .target = "/v1/alerts/stream",
		.headers = headers, .on_body = sse_feed, .arg = s,
		.idle_timeout_ms = s->c->timeout_ms };
	struct https_response resp;
	bool ok;

	snprintf(last, sizeof(last), "Last-Event-ID: %s", s->last_id);
	sse_reset(s);
	ok = https_request(s->c->client, &req, &resp, err, sizeof(err));
	https_response_finish(&resp);
	*status = 0;
	if (*stop)
		return false;
	if (s->output_failed) {
		fprintf(stderr, "esupctl: writing the output: %s\n", strerror(errno));
		*status = 1;
		return false;
	}
	if (ok && resp.status != 200 && refused_for_good(s, resp.status)) {
		*status = 1;
		return false;
	}
	if (s->progressed)
		*backoff = s->retry_ms > 0 ? s->retry_ms : BACKOFF_MIN_MS;
	fprintf(stderr, "esupctl: stream %s; reconnecting in %.1f s%s%s\n",
		!ok ? err : resp.status == 200 ? "ended by the server" : "refused",
		(double)*backoff / 1000, s->last_id[0] != '\0' ? " after " : "", s->last_id);
	return true;
}

int
tail_run(struct ctl *c, const char *after, volatile sig_atomic_t *stop)
{
	struct sse s = { .c = c };
	long backoff = BACKOFF_MIN_MS;
	int status = 0;

	if (after != NULL) {
		if (strlen(after) >= SSE_ID_MAX || strpbrk(after, "\r\n") != NULL) {
			fprintf(stderr, "esupctl alerts: --after: expected a stream position such as "
				"1234-56\n");
			return 2;
		}
		snprintf(s.last_id, sizeof(s.last_id), "%s", after);
	}
	while (!*stop && tail_once(&s, stop, &backoff, &status)) {
		pause_ms(backoff, stop);
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	free(s.line.data);
	free(s.data.data);
	if (fflush(stdout) != 0 && status == 0)
		status = 1;
	return status;
}
