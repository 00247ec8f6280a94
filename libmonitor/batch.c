/* batch.c: splits a request body into events. application/json (one object, or an array
 * of them) is scanned for the boundaries of its events, then each event is parsed alone;
 * application/x-ndjson line by line. Either way one bad event is one rejected item and
 * never spoils its neighbours, and no tree bigger than one event (max_line bytes) is ever
 * built. Every count and size is checked against the limits before anything is allocated
 * for it. */
#include "mon_batch.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

#define EXPECT_BODY "a JSON object or array of objects"
#define EXPECT_LINE "a JSON object on one line"
#define EXPECT_EVENT "a JSON object"
#define EXPECT_NO_BOM "UTF-8 text without a byte order mark"
#define EXPECT_UTF8 "UTF-8 text"
#define BOM "\xef\xbb\xbf"
#define GOT_BOM "a UTF-8 byte order mark (EF BB BF)"

/* True when v nests deeper than limit (v itself is depth 1). The walk stops descending
 * once the limit is passed, so it recurses at most limit + 1 levels (and jansson caps
 * parsed nesting at JSON_PARSER_MAX_DEPTH anyway). */
static bool deeper_than(const json_t *v, size_t limit)
{
	const char *key;
	json_t *child;
	size_t i;

	if (!json_is_object(v) && !json_is_array(v))
		return false;
	if (limit == 0)
		return true;
	if (json_is_array(v)) {
		json_array_foreach(v, i, child) {
			if (deeper_than(child, limit - 1))
				return true;
		}
		return false;
	}
	json_object_foreach((json_t *)v, key, child) {
		if (deeper_than(child, limit - 1))
			return true;
	}
	return false;
}

/* Echo the sender's id even for a refused event, so the client can match statuses. A
 * sane id comes back as sent; one too long or with control characters comes back escaped
 * and cut (ending in "..."), so that it is always safe to log. */
static void copy_id(const json_t *obj, char *out, size_t cap)
{
	const json_t *id = json_object_get(obj, "id");
	const char *s = json_string_value(id);
	size_t len = json_string_length(id);

	out[0] = '\0';
	if (s == NULL)
		return;
	if (len < cap && mon_text_is_clean(s, len))
		memcpy(out, s, len + 1);
	else
		mon_text_escape(s, len, false, out, cap);
}

/* Fills one item from one parsed value (consumed: the item keeps what it needs). */
static void fill_item(struct mon_item *item, json_t *v, const struct mon_limits *limits)
{
	char expected[sizeof(item->error.expected)];

	item->valid = false;
	if (!json_is_object(v)) {
		mon_error_set(&item->error, "", "a JSON object", v);
	} else if (deeper_than(v, limits->max_depth)) {
		copy_id(v, item->id, sizeof(item->id));
		snprintf(expected, sizeof(expected), "JSON nested at most %zu deep", limits->max_depth);
		mon_error_set_text(&item->error, "", expected, "deeper nesting");
	} else {
		copy_id(v, item->id, sizeof(item->id));
		item->valid = mon_event_from_json(v, &item->event, &item->error);
	}
	json_decref(v);
}

static bool alloc_items(struct mon_batch *batch, size_t count)
{
	if (count == 0)
		return true;
	if (count > SIZE_MAX / sizeof(struct mon_item))
		return false;
	batch->items = calloc(count, sizeof(struct mon_item));
	if (batch->items == NULL)
		return false;
	batch->count = count;
	return true;
}

static bool too_many(size_t count, const struct mon_limits *limits, struct mon_error *err)
{
	char expected[sizeof(err->expected)];
	char got[48];

	snprintf(expected, sizeof(expected), "at most %zu events in one request",
		limits->max_events);
	snprintf(got, sizeof(got), "%zu events", count);
	mon_error_set_text(err, "", expected, got);
	return false;
}

static bool out_of_memory(struct mon_error *err)
{
	mon_error_set_text(err, "", "a body that fits in memory", "allocation failed");
	return false;
}

/* One event's text: an element of an application/json array, or an NDJSON line. */
struct line {
	const char *start;
	size_t len;
};

static bool starts_with_bom(const char *s, size_t len)
{
	return len >= sizeof(BOM) - 1 && memcmp(s, BOM, sizeof(BOM) - 1) == 0;
}

/* After jansson refused an event's text: when the cause is its encoding, says so in *err
 * and returns true. jansson itself only says "invalid token" near a byte order mark (which
 * no one can see), or "unable to decode byte 0xc2" near whatever follows it. A byte that
 * is not UTF-8 is named with its line (of a multi-line element) and column, counted in
 * characters as jansson counts them; a byte that can lead a GBK character gets the
 * conversion hint, as a GBK (or GB18030) export is what it almost always is. */
static bool encoding_refused(const struct line *ev, bool lines, struct mon_error *err)
{
	char got[sizeof(err->got) + 64], where[48];   /* cut to size, with "...", by mon_error_set_text */
	size_t line = 1, column = 1;
	uint32_t cp;

	if (starts_with_bom(ev->start, ev->len)) {
		mon_error_set_text(err, "", EXPECT_NO_BOM, GOT_BOM);
		return true;
	}
	for (size_t i = 0, n; i < ev->len; i += n) {
		unsigned char byte = (unsigned char)ev->start[i];

		n = mon_utf8_next(ev->start + i, ev->len - i, &cp);
		if (n == 0) {
			if (lines)
				snprintf(where, sizeof(where), "line %zu column %zu", line, column);
			else
				snprintf(where, sizeof(where), "column %zu", column);
			snprintf(got, sizeof(got), "byte 0x%02X at %s is not UTF-8%s", byte, where,
				byte >= 0x81 && byte <= 0xfe ?
				" (GBK or GB18030? iconv -f GB18030 -t UTF-8)" : "");
			mon_error_set_text(err, "", EXPECT_UTF8, got);
			return true;
		}
		column = cp == '\n' ? 1 : column + 1;
		line += cp == '\n';
	}
	return false;
}

/* application/json is split without building the whole tree: a scanner follows the body
 * byte by byte (strings and their escapes, brackets and their kinds) and yields the span of
 * each top-level event, which jansson then parses alone. It needs one bit per level of
 * nesting. A refused event's tree is gone before the next event is parsed; a valid one
 * stays in its item (so a body costs its items and the trees of its valid events). */
#define NESTING_MAX 2048        /* jansson's own cap (JSON_PARSER_MAX_DEPTH) */
#define NESTING_MAX_TEXT "2048"

enum scan_state { SCAN_START, SCAN_FIRST, SCAN_NEXT, SCAN_END, SCAN_DONE };

struct scan {
	const char *body;
	size_t len;
	size_t pos;
	enum scan_state state;
	const char *what;                           /* after an error: what pos should hold */
	unsigned char arrays[NESTING_MAX / 8 + 1];  /* a bit per level: '[', else '{' */
};

static bool scan_at(const struct scan *s, char c)
{
	return s->pos < s->len && s->body[s->pos] == c;
}

static void scan_space(struct scan *s)
{
	while (scan_at(s, ' ') || scan_at(s, '\t') || scan_at(s, '\n') || scan_at(s, '\r'))
		s->pos++;
}

static bool scan_fail(struct scan *s, const char *what)
{
	s->what = what;
	return false;
}

/* At an opening quote: to just past the closing one. */
static bool scan_string(struct scan *s)
{
	for (s->pos++; s->pos < s->len; s->pos++) {
		if (s->body[s->pos] == '"') {
			s->pos++;
			return true;
		}
		if (s->body[s->pos] == '\\')
			s->pos++;
	}
	return scan_fail(s, "'\"' closing the string");
}

/* At '{' or '[': to just past the bracket that closes it. */
static bool scan_nested(struct scan *s)
{
	size_t depth = 0;

	while (s->pos < s->len) {
		char c = s->body[s->pos];
		bool array;

		if (c == '"') {
			if (!scan_string(s))
				return false;
			continue;
		}
		if (c == '{' || c == '[') {
			if (depth == NESTING_MAX)
				return scan_fail(s, "at most " NESTING_MAX_TEXT " levels of nesting");
			s->arrays[depth / 8] &= (unsigned char)~(1u << (depth % 8));
			s->arrays[depth / 8] |= (unsigned char)((c == '[') << (depth % 8));
			depth++;
		} else if (c == '}' || c == ']') {
			array = (s->arrays[(depth - 1) / 8] >> ((depth - 1) % 8)) & 1;
			if (array != (c == ']'))
				return scan_fail(s, array ? "']' closing the array" : "'}' closing the object");
			if (--depth == 0) {
				s->pos++;
				return true;
			}
		}
		s->pos++;
	}
	return scan_fail(s, "the rest of the event");
}

static bool is_word(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		c == '-' || c == '+' || c == '.';
}

/* One top-level value: an object, an array, a string, or a word (a number, true, false,
 * null, or a bad word that jansson then refuses for that event alone). */
static bool scan_value(struct scan *s, struct line *ev)
{
	ev->start = s->body + s->pos;
	if (scan_at(s, '{') || scan_at(s, '[')) {
		if (!scan_nested(s))
			return false;
	} else if (scan_at(s, '"')) {
		if (!scan_string(s))
			return false;
	} else if (s->pos < s->len && is_word(s->body[s->pos])) {
		while (s->pos < s->len && is_word(s->body[s->pos]))
			s->pos++;
	} else {
		return scan_fail(s, "an event");
	}
	ev->len = (size_t)(s->body + s->pos - ev->start);
	return true;
}

/* In the top-level array: the next element, or the closing ']'. */
static bool scan_element(struct scan *s, struct line *ev)
{
	if (scan_at(s, ']')) {   /* after '[' or after an element; never after ',' */
		s->pos++;
		s->state = SCAN_END;
		scan_space(s);
		return s->pos < s->len ? scan_fail(s, "the end of the body") : false;
	}
	if (s->state == SCAN_NEXT) {
		if (!scan_at(s, ','))
			return scan_fail(s, "',' or ']'");
		s->pos++;
		scan_space(s);
	}
	s->state = SCAN_NEXT;
	return scan_value(s, ev);
}

/* The next event's span. False at the end of the body, or on an error (s->what set): a
 * body whose events cannot be told apart is refused whole. */
static bool scan_next(struct scan *s, struct line *ev)
{
	scan_space(s);
	switch (s->state) {
	case SCAN_START:
		if (scan_at(s, '[')) {
			s->pos++;
			s->state = SCAN_FIRST;
			scan_space(s);
			return scan_element(s, ev);
		}
		s->state = SCAN_END;
		return scan_at(s, '{') ? scan_value(s, ev) : scan_fail(s, "'[' or '{'");
	case SCAN_FIRST:
	case SCAN_NEXT:
		return scan_element(s, ev);
	case SCAN_END:
		s->state = SCAN_DONE;
		return s->pos < s->len ? scan_fail(s, "the end of the body") : false;
	case SCAN_DONE:
		break;
	}
	return false;
}

static void scan_init(struct scan *s, const char *body, size_t len)
{
	s->body = body;
	s->len = len;
	s->pos = 0;
	s->state = SCAN_START;
	s->what = NULL;
}

/* The body is refused: where, and what was expected there. */
static bool scan_refused(const struct scan *s, struct mon_error *err)
{
	char got[sizeof(err->got)];
	size_t line = 1, column = 1;

	for (size_t i = 0; i < s->pos && i < s->len; i++) {
		column = s->body[i] == '\n' ? 1 : column + 1;
		line += s->body[i] == '\n';
	}
	if (s->pos < s->len)   /* the body is not NUL-terminated: at most what is left */
		snprintf(got, sizeof(got), "line %zu column %zu: %s expected near '%.*s'", line,
			column, s->what, (int)(s->len - s->pos < 8 ? s->len - s->pos : 8),
			s->body + s->pos);
	else
		snprintf(got, sizeof(got), "line %zu column %zu: %s expected, not the end of the body",
			line, column, s->what);
	mon_error_set_text(err, "", EXPECT_BODY, got);
	return false;
}

/* Counts the events, and checks that the body is one object or an array of values
 * whose boundaries are sound; nothing is allocated. */
static bool scan_count(const char *body, size_t len, size_t *count, struct mon_error *err)
{
	struct scan s;
	struct line ev;

	scan_init(&s, body, len);
	*count = 0;
	while (scan_next(&s, &ev))
		(*count)++;
	return s.what == NULL ? true : scan_refused(&s, err);
}

/* A lone object body that is not JSON is a refused body, as it always was; an element of
 * an array that is not JSON is that event refused. */
static bool fill_element(struct mon_item *item, const struct line *ev, bool alone,
		const struct mon_limits *limits, struct mon_error *err)
{
	char expected[sizeof(item->error.expected)];
	json_error_t jerr;
	char got[sizeof(jerr.text) + 64];   /* cut to size, with "...", by mon_error_set_text */
	json_t *v;

	if (ev->len > limits->max_line) {
		snprintf(expected, sizeof(expected), "an event of at most %zu bytes", limits->max_line);
		snprintf(got, sizeof(got), "%zu bytes", ev->len);
		mon_error_set_text(&item->error, "", expected, got);
		return true;
	}
	v = json_loadb(ev->start, ev->len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (v == NULL && encoding_refused(ev, true, alone ? err : &item->error))
		return !alone;
	if (v == NULL) {
		snprintf(got, sizeof(got), "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
		mon_error_set_text(alone ? err : &item->error, "", alone ? EXPECT_BODY : EXPECT_EVENT,
			got);
		return !alone;
	}
	fill_item(item, v, limits);
	return true;
}

static bool parse_json(const char *body, size_t len, const struct mon_limits *limits,
		struct mon_batch *batch, struct mon_error *err)
{
	struct scan s;
	struct line ev;
	size_t count, i = 0;

	/* A byte order mark is not JSON (RFC 8259 8.1): refused, but by its name. */
	if (starts_with_bom(body, len)) {
		mon_error_set_text(err, "", EXPECT_NO_BOM, GOT_BOM);
		return false;
	}
	/* Count first, so that an oversized request is refused before any parsing. */
	if (!scan_count(body, len, &count, err))
		return false;
	if (count > limits->max_events) {
		batch->too_large = true;
		return too_many(count, limits, err);
	}
	if (!alloc_items(batch, count))
		return out_of_memory(err);
	scan_init(&s, body, len);
	while (i < count && scan_next(&s, &ev)) {
		/* after a lone object the scanner only expects the end of the body */
		if (!fill_element(&batch->items[i++], &ev, s.state == SCAN_END, limits, err))
			return false;
	}
	return true;
}

/* One NDJSON line: [*pos, end of line) without the newline and one trailing '\r'. */
static bool next_line(const char *body, size_t len, size_t *pos, struct line *line)
{
	const char *nl;

	if (*pos >= len)
		return false;
	line->start = body + *pos;
	nl = memchr(line->start, '\n', len - *pos);
	line->len = nl != NULL ? (size_t)(nl - line->start) : len - *pos;
	*pos += line->len + (nl != NULL);
	if (line->len > 0 && line->start[line->len - 1] == '\r')
		line->len--;
	return true;
}

static bool line_is_blank(const struct line *line)
{
	for (size_t i = 0; i < line->len; i++) {
		char c = line->start[i];
		if (c != ' ' && c != '\t' && c != '\r')
			return false;
	}
	return true;
}

static void fill_line_item(struct mon_item *item, const struct line *line,
		const struct mon_limits *limits)
{
	char expected[sizeof(item->error.expected)];
	json_error_t jerr;
	char got[sizeof(jerr.text) + 64];   /* cut to size, with "...", by mon_error_set_text */
	json_t *v;

	if (line->len > limits->max_line) {
		snprintf(expected, sizeof(expected), "a line of at most %zu bytes", limits->max_line);
		snprintf(got, sizeof(got), "%zu bytes", line->len);
		mon_error_set_text(&item->error, "", expected, got);
		return;
	}
	v = json_loadb(line->start, line->len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (v == NULL && encoding_refused(line, false, &item->error))
		return;
	if (v == NULL) {
		snprintf(got, sizeof(got), "column %d: %s", jerr.column, jerr.text);
		mon_error_set_text(&item->error, "", EXPECT_LINE, got);
		return;
	}
	fill_item(item, v, limits);
}

static bool parse_ndjson(const char *body, size_t len, const struct mon_limits *limits,
		struct mon_batch *batch, struct mon_error *err)
{
	struct line line;
	size_t pos = 0, count = 0, i = 0;

	/* Count first, so that an oversized request is refused before any parsing. */
	while (next_line(body, len, &pos, &line))
		count += !line_is_blank(&line);
	if (count > limits->max_events) {
		batch->too_large = true;
		return too_many(count, limits, err);
	}
	if (!alloc_items(batch, count))
		return out_of_memory(err);
	pos = 0;
	while (next_line(body, len, &pos, &line)) {
		if (!line_is_blank(&line))
			fill_line_item(&batch->items[i++], &line, limits);
	}
	return true;
}

bool mon_batch_parse(const char *body, size_t len, enum mon_body_format format,
		const struct mon_limits *limits, struct mon_batch *batch, struct mon_error *err)
{
	bool ok;

	memset(batch, 0, sizeof(*batch));
	mon_error_clear(err);
	if (limits == NULL) {
		mon_error_set_text(err, "", "limits for the body", "(none)");
		return false;
	}
	if (body == NULL && len > 0) {
		mon_error_set_text(err, "", EXPECT_BODY, "(no body)");
		return false;
	}
	if (format == MON_BODY_NDJSON)
		ok = parse_ndjson(body, len, limits, batch, err);
	else
		ok = parse_json(body != NULL ? body : "", len, limits, batch, err);
	if (!ok) {
		bool too_large = batch->too_large;

		mon_batch_finish(batch);
		batch->too_large = too_large;
	}
	return ok;
}

void mon_batch_finish(struct mon_batch *batch)
{
	if (batch == NULL)
		return;
	for (size_t i = 0; i < batch->count; i++) {
		if (batch->items[i].valid)
			mon_event_finish(&batch->items[i].event);
	}
	free(batch->items);
	memset(batch, 0, sizeof(*batch));
}
