/* batch.c: splits a request body into events. application/json is parsed whole (one
 * object, or an array of them); application/x-ndjson line by line, so that one bad line
 * is one rejected item and never spoils its neighbours. Every count and size is checked
 * against the limits before anything is allocated for it. */
#include "mon_batch.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

#define EXPECT_BODY "a JSON object or array of objects"
#define EXPECT_LINE "a JSON object on one line"

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

static bool parse_json(const char *body, size_t len, const struct mon_limits *limits,
		struct mon_batch *batch, struct mon_error *err)
{
	json_error_t jerr;
	char got[sizeof(jerr.text) + 64];   /* cut to size, with "...", by mon_error_set_text */
	json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	size_t count;

	if (root == NULL) {
		snprintf(got, sizeof(got), "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
		mon_error_set_text(err, "", EXPECT_BODY, got);
		return false;
	}
	count = json_is_array(root) ? json_array_size(root) : 1;
	if (count > limits->max_events) {
		json_decref(root);
		batch->too_large = true;
		return too_many(count, limits, err);
	}
	if (!alloc_items(batch, count)) {
		json_decref(root);
		return out_of_memory(err);
	}
	for (size_t i = 0; i < count; i++)
		fill_item(&batch->items[i], json_incref(json_is_array(root) ?
			json_array_get(root, i) : root), limits);
	json_decref(root);
	return true;
}

/* One NDJSON line: [*pos, end of line) without the newline and one trailing '\r'. */
struct line {
	const char *start;
	size_t len;
};

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
