/* mon_batch.h: splitting a request body into events: one JSON object, a JSON array,
 * or NDJSON (one object per line). A bad event never spoils the good ones beside it. */
#ifndef MON_BATCH_H
#define MON_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "mon_event.h"

enum mon_body_format {
	MON_BODY_JSON,    /* application/json: an object or an array of objects */
	MON_BODY_NDJSON,  /* application/x-ndjson: one object per line; blank lines skipped */
};

struct mon_limits {
	size_t max_line;    /* bytes in one event: an NDJSON line, or an application/json
	                     * array element (or lone object), from its first byte to its last */
	size_t max_depth;   /* nesting of arrays and objects within one event (the event object is depth 1) */
	size_t max_events;  /* events in one request */
};

/* One input position: either a validated event or the reason it was refused. `id` echoes
 * the sender's id when one could be read (so a client can match statuses), else "".
 * event.warning_count and event.warnings hold the unknown-field warnings of either kind
 * of item (a refused event keeps them: they may be why it was refused). */
struct mon_item {
	bool valid;
	char id[MON_ID_MAX + 1];
	struct mon_event event;   /* when valid; its warnings always */
	struct mon_error error;   /* when not */
};

struct mon_batch {
	size_t count;
	struct mon_item *items;   /* owned; count entries */
	bool too_large;           /* after a refusal: more than max_events events (HTTP 413) */
};

/* Parses a whole body. Returns false only when the body as a whole is unusable: more than
 * max_events events (batch->too_large), or an application/json body whose events cannot
 * be told apart (not one object or an array; unbalanced brackets or quotes; nesting past
 * 2048 levels; anything after the end), or a lone object that is not JSON; *err then says
 * why and *batch is empty. Otherwise every event, valid or not, has its item, in input
 * order: an array element that is not JSON, too long, or nested deeper than max_depth is
 * that item refused. Time is linear in len; memory is the items and one event's tree. */
bool mon_batch_parse(const char *body, size_t len, enum mon_body_format format,
		const struct mon_limits *limits, struct mon_batch *batch, struct mon_error *err)
	__attribute__((warn_unused_result));
void mon_batch_finish(struct mon_batch *batch);

#endif
