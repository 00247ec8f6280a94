/* mon_event.h: the event model: envelope and per-type fields, validated from JSON.
 *
 * libmonitor is pure: no I/O, no clocks, no globals. Everything here is a function of
 * its arguments. Input is hostile: every string and number is bounded before use. */
#ifndef MON_EVENT_H
#define MON_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define MON_ID_MAX 64     /* sender's event id */
#define MON_CODE_MAX 64   /* department, item, case codes */
#define MON_WARNINGS_MAX 8 /* unknown-field warnings kept per event */

/* Every event type the protocol knows. Order is stable only within one build;
 * the wire and the database use the names. */
enum mon_event_type {
	MON_EV_APPROVAL_RECEIVED,
	MON_EV_APPROVAL_SUPPLEMENT_REQUESTED,
	MON_EV_APPROVAL_SUPPLEMENT_RECEIVED,
	MON_EV_APPROVAL_ACCEPTED,
	MON_EV_APPROVAL_REFUSED_INTAKE,
	MON_EV_APPROVAL_STEP,
	MON_EV_APPROVAL_SUSPENDED,
	MON_EV_APPROVAL_RESUMED,
	MON_EV_APPROVAL_EXTENDED,
	MON_EV_APPROVAL_DECIDED,
	MON_EV_APPROVAL_WITHDRAWN,
	MON_EV_FEE_COLLECTED,
	MON_EV_FEE_REFUNDED,
	MON_EV_PENALTY_DECIDED,
	MON_EV_PENALTY_FILED,
	MON_EV_PENALTY_HEARING_HELD,
	MON_EV_INSPECTION_STARTED,
	MON_EV_INSPECTION_ENDED,
	MON_EV_COMPLAINT_RECEIVED,
	MON_EV_COMPLAINT_REPLIED,
	MON_EV_COMPLAINT_CLOSED,
	MON_EV_EVALUATION_RECEIVED,
	MON_EV_EVALUATION_RECTIFIED,
	MON_EV_INQUIRY_RECEIVED,
	MON_EV_INQUIRY_ANSWERED,
	MON_EV_TRADE_ANNOUNCED,
	MON_EV_TRADE_BIDS_OPENED,
	MON_EV_TRADE_AWARDED,
	MON_EV_EVENT_CORRECTED,   /* a department voids or replaces one of its earlier events */
	/* Added at the end, in the order issue 11 fixed: EVENT_CORRECTED, FEE_FILED,
	 * APPROVAL_DELAY_REPORTED. */
	MON_EV_FEE_FILED,
	MON_EV_APPROVAL_DELAY_REPORTED,   /* 缓批报告: the case cannot be done in time */
	MON_EV__COUNT
};

/* Why an input was refused: which field (a JSON path such as "filing.office" or
 * "applicant.uscc"; "" for the whole input), what was expected, and what came
 * (printable, escaped and truncated so it is safe to log and to echo back). */
struct mon_error {
	char field[96];
	char expected[160];
	char got[96];
};

/* A validated event. The strings are copies; `body` holds one reference to the
 * original object (validated, so later stages may read type fields from it).
 * An event.corrected with action "replace" owns its `replacement`: the corrected event as
 * an event of its own type, whose id, dept and case are the correction's, whose at and item
 * are the replacement's own, and whose body is the `replacement` object (one reference);
 * NULL for every other event. mon_event_finish frees it: an event is never copied by value
 * while it owns one (move it, or copy only events without a replacement).
 *
 * `warnings` name the fields the event carries that its type does not know (a misspelled
 * "aprover" in an approval.extended): they are kept, stored with the body, and told back to
 * the sender. Each is a struct mon_error: `field` the JSON path ("aprover",
 * "applicant.nmae", "officers[1].cert"; control characters escaped), `expected` "not a field
 * of approval.extended" (or "not a field of applicant in approval.received" inside a known
 * object), `got` the nearest known name of that object ("approver"), or "" when none is
 * close. At most MON_WARNINGS_MAX are kept, in the order the fields appear; unknown fields
 * beyond them are not reported. */
struct mon_event {
	enum mon_event_type type;
	char id[MON_ID_MAX + 1];
	char dept[MON_CODE_MAX + 1];
	char case_no[MON_CODE_MAX + 1];   /* "" when the type has no case */
	char item[MON_CODE_MAX + 1];      /* "" when absent */
	int64_t at;                       /* business time, seconds since the epoch (UTC) */
	int at_offset_min;                /* the offset the sender wrote, minutes east of UTC */
	json_t *body;
	struct mon_event *replacement;
	size_t warning_count;
	struct mon_error warnings[MON_WARNINGS_MAX];
};

const char *mon_event_type_name(enum mon_event_type type);
bool mon_event_type_from_name(const char *name, enum mon_event_type *type)
	__attribute__((warn_unused_result));

/* Validates the envelope and the fields of its type. On success fills *ev (and takes
 * a reference to obj); on failure fills *err and leaves *ev empty but for its warnings.
 * An event.corrected's `replacement` is validated as an event of its type with the
 * correction's id, dept and case (errors name it as "replacement.FIELD"); it is required for
 * action "replace" and refused for "void". Warnings are found whenever `type` names a known type, whether or not the event is
 * valid (a misspelled required field is why it is refused): a rejected event's warnings
 * may explain its error. The work is bounded: each key is compared only as far as its
 * first 64 bytes, and the search stops at MON_WARNINGS_MAX warnings. */
bool mon_event_from_json(json_t *obj, struct mon_event *ev, struct mon_error *err)
	__attribute__((warn_unused_result));
void mon_event_finish(struct mon_event *ev);

/* The JSON Schema (draft 2020-12) of one event: the envelope, every type's fields, and
 * the allowed values of every enumerated or coded field, built from the same tables
 * mon_event_from_json checks against (so the two cannot drift). What a schema cannot say
 * (check digits, a replacement's envelope compared with its correction's) is in its
 * "description"s. A new reference the caller owns; NULL when memory ran out. */
json_t *mon_event_schema(void);

/* An event.corrected's target (`of`) and action; NULL / false for other events. */
const char *mon_correction_of(const struct mon_event *ev);
bool mon_correction_is_void(const struct mon_event *ev);

#endif
