/* fuzz_batch.c: feeds arbitrary bytes to mon_batch_parse as an application/json body and
 * as an NDJSON body, and checks what comes back: errors are NUL-terminated and printable,
 * every accepted event is internally consistent, and every item's unknown-field warnings
 * are bounded, printable and name a path and a type. The application/json split (a
 * scanner, then one jansson parse per event) is also checked against jansson parsing the
 * whole body: where jansson takes the body, the split must find the same events; where the
 * split takes every event, jansson must take the body. A violation aborts, so the fuzzer
 * reports it like a crash. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mon_batch.h"
#include "mon_value.h"

/* Small limits, so that the fuzzer reaches every limit quickly. */
static const struct mon_limits limits = { .max_line = 4096, .max_depth = 8, .max_events = 64 };

static void check_text(const char *s, size_t cap)
{
	const char *end = memchr(s, '\0', cap);

	if (end == NULL)
		abort();
	for (; s < end; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			abort();
	}
}

static void check_error(const struct mon_error *err)
{
	check_text(err->field, sizeof(err->field));
	check_text(err->expected, sizeof(err->expected));
	check_text(err->got, sizeof(err->got));
	if (err->expected[0] == '\0' || err->got[0] == '\0')
		abort();
}

/* An accepted event names itself, and its time survives a format/parse round trip. */
static void check_event(const struct mon_event *ev)
{
	char buf[40];
	int64_t at;
	int off;

	if (ev->id[0] == '\0' || ev->dept[0] == '\0' || !json_is_object(ev->body))
		abort();
	if (strcmp(mon_event_type_name(ev->type), "unknown") == 0)
		abort();
	mon_time_format(ev->at, ev->at_offset_min, buf, sizeof(buf));
	if (!mon_time_parse(buf, &at, &off) || at != ev->at || off != ev->at_offset_min)
		abort();
}

/* Warnings (valid or refused item alike): at most MON_WARNINGS_MAX, each with a path and
 * "not a field of ..."; the nearest name may be "". */
static void check_warnings(const struct mon_event *ev)
{
	if (ev->warning_count > MON_WARNINGS_MAX)
		abort();
	for (size_t i = 0; i < ev->warning_count; i++) {
		const struct mon_error *w = &ev->warnings[i];
		check_text(w->field, sizeof(w->field));
		check_text(w->expected, sizeof(w->expected));
		check_text(w->got, sizeof(w->got));
		if (w->field[0] == '\0' || strncmp(w->expected, "not a field of ", 15) != 0)
			abort();
	}
}

static bool all_valid(const struct mon_batch *batch)
{
	for (size_t i = 0; i < batch->count; i++) {
		if (!batch->items[i].valid)
			return false;
	}
	return true;
}

/* The split against jansson's whole-body parse (ok: mon_batch_parse took the body). */
static void check_split(const uint8_t *data, size_t size, bool ok, const struct mon_batch *batch)
{
	json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	size_t count = json_is_array(root) ? json_array_size(root) : 1;

	if (root == NULL) {
		/* jansson refused the body: the split may keep it only with a refused event */
		if (ok && batch->count > 0 && all_valid(batch))
			abort();
		return;
	}
	if (count > limits.max_events) {
		if (ok || !batch->too_large)
			abort();
	} else if (!ok || batch->count != count) {
		abort();
	}
	for (size_t i = 0; ok && i < batch->count; i++) {
		const json_t *want = json_is_array(root) ? json_array_get(root, i) : root;

		if (batch->items[i].valid && !json_equal(batch->items[i].event.body, want))
			abort();
	}
	json_decref(root);
}

static void run(const uint8_t *data, size_t size, enum mon_body_format format)
{
	struct mon_batch batch;
	struct mon_error err;
	bool ok = mon_batch_parse((const char *)data, size, format, &limits, &batch, &err);

	if (format == MON_BODY_JSON)
		check_split(data, size, ok, &batch);
	if (!ok) {
		check_error(&err);
		if (batch.count != 0 || batch.items != NULL)
			abort();
		return;
	}
	if (batch.count > limits.max_events)
		abort();
	for (size_t i = 0; i < batch.count; i++) {
		const struct mon_item *item = &batch.items[i];
		check_text(item->id, sizeof(item->id));
		check_warnings(&item->event);
		if (item->valid)
			check_event(&item->event);
		else
			check_error(&item->error);
	}
	mon_batch_finish(&batch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	run(data, size, MON_BODY_JSON);
	run(data, size, MON_BODY_NDJSON);
	return 0;
}
