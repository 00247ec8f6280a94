/* text.c: untrusted text made safe to keep, log and echo back. Values in error messages
 * come from hostile clients, so they are rendered with every control character and
 * malformed byte escaped, and cut to fit on a UTF-8 boundary with a visible "...". */
#include "text.h"

#include <stdio.h>
#include <string.h>

#define ELLIPSIS "..."
#define ESCAPE_LEN 4   /* "\xNN" */

size_t mon_utf8_next(const char *s, size_t avail, uint32_t *cp)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;
	uint32_t c;

	if (avail == 0)
		return 0;
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, c = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, c = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, c = p[0] & 0x07;
	else
		return 0;
	if (n > avail)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates and code points past U+10FFFF are not UTF-8. */
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
			(c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

bool mon_is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

bool mon_text_is_clean(const char *s, size_t len)
{
	uint32_t cp;

	for (size_t i = 0, n; i < len; i += n) {
		n = mon_utf8_next(s + i, len - i, &cp);
		if (n == 0 || cp == 0 || mon_is_control(cp))
			return false;
	}
	return true;
}

bool mon_text_copy_utf8(const char *s, size_t len, char *out, size_t cap)
{
	size_t o = 0, i = 0;
	uint32_t cp;

	if (cap == 0)
		return false;
	while (i < len) {
		size_t n = mon_utf8_next(s + i, len - i, &cp);
		if (n == 0)
			n = 1;   /* copy a stray byte alone rather than lose the rest */
		if (o + n > cap - 1)
			break;
		memcpy(out + o, s + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	return i == len;
}

void mon_text_escape(const char *s, size_t n, bool cut, char *out, size_t cap)
{
	size_t room, o = 0, i = 0;
	uint32_t cp;

	if (cap == 0)
		return;
	/* Keep space for the ellipsis so that a cut is always visible. */
	room = cap - 1 > sizeof(ELLIPSIS) - 1 ? cap - 1 - (sizeof(ELLIPSIS) - 1) : 0;
	while (i < n) {
		size_t len = mon_utf8_next(s + i, n - i, &cp);
		/* A sequence the caller's cut split in two is dropped, not shown as bytes. */
		if (len == 0 && cut && n - i < 4 && (unsigned char)s[i] >= 0xc2)
			break;
		bool plain = len > 0 && cp != 0 && !mon_is_control(cp);
		size_t need = plain ? len : ESCAPE_LEN;
		if (o + need > room) {
			cut = true;
			break;
		}
		if (plain)
			memcpy(out + o, s + i, len);
		else
			snprintf(out + o, ESCAPE_LEN + 1, "\\x%02x", (unsigned)(unsigned char)s[i]);
		o += need;
		i += plain ? len : 1;
	}
	out[o] = '\0';
	if (cut && cap - 1 - o >= sizeof(ELLIPSIS) - 1)
		memcpy(out + o, ELLIPSIS, sizeof(ELLIPSIS));
}

void mon_error_clear(struct mon_error *err)
{
	memset(err, 0, sizeof(*err));
}

static void set_head(struct mon_error *err, const char *field, const char *expected)
{
	mon_error_clear(err);
	mon_text_copy_utf8(field, strlen(field), err->field, sizeof(err->field));
	mon_text_copy_utf8(expected, strlen(expected), err->expected, sizeof(err->expected));
}

/* Collects the start of a JSON rendering and stops the dump once the buffer is full, so
 * a huge value costs no more than its first bytes. */
struct dump_sink {
	char buf[sizeof(((struct mon_error *)0)->got)];
	size_t used;
	bool cut;
};

static int dump_into_sink(const char *chunk, size_t size, void *data)
{
	struct dump_sink *sink = data;
	size_t room = sizeof(sink->buf) - sink->used;
	size_t n = size < room ? size : room;

	memcpy(sink->buf + sink->used, chunk, n);
	sink->used += n;
	if (n < size) {
		sink->cut = true;
		return -1;
	}
	return 0;
}

void mon_error_set(struct mon_error *err, const char *field, const char *expected,
		const json_t *got)
{
	struct dump_sink sink = { .used = 0, .cut = false };

	set_head(err, field, expected);
	if (got == NULL) {
		snprintf(err->got, sizeof(err->got), "(missing)");
		return;
	}
	if (json_dump_callback(got, dump_into_sink, &sink, JSON_ENCODE_ANY | JSON_COMPACT) != 0 &&
			!sink.cut) {
		snprintf(err->got, sizeof(err->got), "(unprintable)");
		return;
	}
	mon_text_escape(sink.buf, sink.used, sink.cut, err->got, sizeof(err->got));
}

void mon_error_set_text(struct mon_error *err, const char *field, const char *expected,
		const char *got)
{
	set_head(err, field, expected);
	mon_text_escape(got, strlen(got), false, err->got, sizeof(err->got));
}

bool mon_text_is_token(const char *s, size_t len, size_t max, const char *punct)
{
	if (s == NULL || len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!alnum && (c == '\0' || strchr(punct, c) == NULL))
			return false;
	}
	return true;
}
