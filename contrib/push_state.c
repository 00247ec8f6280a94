/* push_state.c: the state file's text and the retry delay of `esupctl push` (push_state.h). */
#include "push_state.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "esup-push-state 1"

static bool
fail(char *err, size_t errlen, size_t lineno, const char *fmt, ...)
{
	char what[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "line %zu: expected %s", lineno, what);
	return false;
}

bool
push_state_add(struct push_state *st, const char *path)
{
	struct push_input_state *n;
	size_t len = strlen(path);

	if (len == 0 || len > PUSH_PATH_MAX || strpbrk(path, "\r\n") != NULL ||
	    st->count >= PUSH_STATE_INPUTS_MAX)
		return false;
	n = realloc(st->inputs, (st->count + 1) * sizeof(*n));
	if (n == NULL)
		return false;
	st->inputs = n;
	n = &st->inputs[st->count];
	memset(n, 0, sizeof(*n));
	if ((n->path = strdup(path)) == NULL)
		return false;
	st->count++;
	return true;
}

/* A decimal of at most 19 digits followed by one space; advances *p. */
static bool
take_u64(const char **p, const char *end, uint64_t *out)
{
	const char *s = *p;
	uint64_t n = 0;
	size_t digits = 0;

	while (s < end && *s >= '0' && *s <= '9' && digits < 19) {
		n = n * 10 + (uint64_t)(*s - '0');
		s++;
		digits++;
	}
	if (digits == 0 || s >= end || *s != ' ' || (digits > 1 && **p == '0'))
		return false;
	*out = n;
	*p = s + 1;
	return true;
}

static bool
parse_input(struct push_state *st, const char *s, const char *end, size_t lineno,
	char *err, size_t errlen)
{
	struct push_input_state *in;
	uint64_t bytes, lines;
	char path[PUSH_PATH_MAX + 1];
	size_t plen;

	if (!take_u64(&s, end, &bytes) || !take_u64(&s, end, &lines))
		return fail(err, errlen, lineno, "\"input BYTES LINES SHA256 PATH\"");
	if (lines > bytes)
		return fail(err, errlen, lineno, "at most as many lines as bytes");
	if (end - s < 64 || strspn(s, "0123456789abcdef") < 64 || (end - s > 64 && s[64] != ' '))
		return fail(err, errlen, lineno, "a SHA-256 of 64 lower-case hex digits, a space");
	plen = end - s > 65 ? (size_t)(end - s - 65) : 0;
	if (plen == 0 || plen > PUSH_PATH_MAX || memchr(s + 65, '\0', plen) != NULL ||
	    memchr(s + 65, '\r', plen) != NULL)
		return fail(err, errlen, lineno, "a path of 1 to %d bytes", PUSH_PATH_MAX);
	memcpy(path, s + 65, plen);
	path[plen] = '\0';
	if (!push_state_add(st, path))
		return fail(err, errlen, lineno, "at most %d inputs (or out of memory)",
			PUSH_STATE_INPUTS_MAX);
	in = &st->inputs[st->count - 1];
	in->bytes = bytes;
	in->lines = lines;
	memcpy(in->sha256, s, 64);
	in->sha256[64] = '\0';
	return true;
}

bool
push_state_parse(const char *text, size_t len, struct push_state *st, char *err,
	size_t errlen)
{
	const char *p = text, *end = text + len;
	size_t lineno = 0;
	bool status_seen = false;

	memset(st, 0, sizeof(*st));
	if (len > PUSH_STATE_MAX_BYTES)
		return fail(err, errlen, 0, "a file of at most %d bytes", PUSH_STATE_MAX_BYTES);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n;
		if (nl == NULL)
			return fail(err, errlen, lineno + 1, "a line ending in a line feed");
		n = (size_t)(nl - p);
		lineno++;
		if (lineno == 1) {
			if (n != strlen(MAGIC) || memcmp(p, MAGIC, n) != 0)
				return fail(err, errlen, lineno, "\"%s\" (not a push state file)",
					MAGIC);
		} else if (lineno == 2) {
			if (n == 14 && memcmp(p, "status running", 14) == 0)
				st->finished = false;
			else if (n == 15 && memcmp(p, "status finished", 15) == 0)
				st->finished = true;
			else
				return fail(err, errlen, lineno, "\"status running\" or "
					"\"status finished\"");
			status_seen = true;
		} else if (n > 6 && memcmp(p, "input ", 6) == 0) {
			if (!parse_input(st, p + 6, nl, lineno, err, errlen))
				return false;
		} else {
			return fail(err, errlen, lineno, "\"input BYTES LINES SHA256 PATH\"");
		}
		p = nl + 1;
	}
	if (!status_seen)
		return fail(err, errlen, lineno + 1, "\"%s\" and a status line", MAGIC);
	if (st->count == 0)
		return fail(err, errlen, lineno + 1, "at least one input line");
	return true;
}

char *
push_state_format(const struct push_state *st, size_t *len)
{
	size_t cap = 64, off;
	char *out;

	for (size_t i = 0; i < st->count; i++) {
		if (strpbrk(st->inputs[i].path, "\r\n") != NULL)
			return NULL;
		cap += strlen(st->inputs[i].path) + 120;
	}
	if ((out = malloc(cap)) == NULL)
		return NULL;
	off = (size_t)snprintf(out, cap, "%s\nstatus %s\n", MAGIC,
		st->finished ? "finished" : "running");
	for (size_t i = 0; i < st->count; i++) {
		const struct push_input_state *in = &st->inputs[i];
		off += (size_t)snprintf(out + off, cap - off, "input %llu %llu %s %s\n",
			(unsigned long long)in->bytes, (unsigned long long)in->lines, in->sha256,
			in->path);
	}
	*len = off;
	return out;
}

void
push_state_finish(struct push_state *st)
{
	for (size_t i = 0; i < st->count; i++)
		free(st->inputs[i].path);
	free(st->inputs);
	memset(st, 0, sizeof(*st));
}

int64_t
push_backoff_ms(unsigned attempt, long retry_after_s, double u)
{
	int64_t ceiling = PUSH_BACKOFF_BASE_MS;
	int64_t delay;

	for (unsigned i = 0; i < attempt && ceiling < PUSH_BACKOFF_CAP_MS; i++)
		ceiling *= 2;
	if (ceiling > PUSH_BACKOFF_CAP_MS)
		ceiling = PUSH_BACKOFF_CAP_MS;
	if (u < 0 || u >= 1)
		u = 0;
	delay = (int64_t)(u * (double)ceiling);
	if (retry_after_s >= 0 && retry_after_s * 1000 > delay)
		delay = (int64_t)retry_after_s * 1000;
	return delay;
}
