/* facts.c: what statistics need to know of a case (struct mon_case_facts): its kind, when it
 * was received, accepted and closed, how it ended, its refusal report, its supplement notices
 * and its applicant, read from the replayed history; ladder.c adds whether the decision came
 * in time, service.c the complaint's answer and closure. Also the one JSON writer of the
 * facts, shared by esupd's evaluations and `esupctl eval`. */
#include "engine.h"

#include <string.h>

#include "mon_value.h"

static int64_t at_or_none(const struct mon_case_event *ce)
{
	return ce != NULL ? ce->event->at : MON_TIME_NONE;
}

static enum mon_case_kind facts_kind(const struct history *h)
{
	if (h->has_approval)
		return MON_KIND_APPROVAL;
	for (size_t i = 0; i < h->count; i++) {
		if (h->events[i]->event->type == MON_EV_COMPLAINT_RECEIVED)
			return MON_KIND_COMPLAINT;
	}
	return MON_KIND_OTHER;
}

static enum mon_case_result facts_result(const struct mon_case_event *closed)
{
	const char *result;

	if (closed == NULL)
		return MON_RESULT_NONE;
	switch (closed->event->type) {
	case MON_EV_APPROVAL_REFUSED_INTAKE: return MON_RESULT_REFUSED_INTAKE;
	case MON_EV_APPROVAL_WITHDRAWN: return MON_RESULT_WITHDRAWN;
	default:
		result = event_string(closed, "result");
		return result != NULL && strcmp(result, "denied") == 0 ? MON_RESULT_DENIED :
			MON_RESULT_APPROVED;
	}
}

/* The enterprise that applied: the acceptance's applicant, else the receipt's; a person (an
 * `id`) is no enterprise. */
static void facts_applicant(const struct history *h, struct mon_case_facts *f)
{
	const struct mon_case_event *from[] = { h->accepted, h->received };
	const json_t *party = NULL;
	const char *uscc;

	for (size_t i = 0; i < 2 && party == NULL; i++) {
		if (from[i] != NULL)
			party = json_object_get(from[i]->event->body, "applicant");
	}
	uscc = json_string_value(json_object_get(party, "uscc"));
	if (uscc != NULL && strlen(uscc) == MON_USCC_LEN)
		memcpy(f->applicant, uscc, MON_USCC_LEN + 1);
}

void facts_init(const struct history *h, struct mon_case_facts *f)
{
	memset(f, 0, sizeof(*f));
	f->kind = facts_kind(h);
	f->received_at = MON_TIME_NONE;
	f->accepted_at = MON_TIME_NONE;
	f->closed_at = MON_TIME_NONE;
	f->replied_at = MON_TIME_NONE;
	if (f->kind != MON_KIND_APPROVAL)
		return;
	f->received_at = at_or_none(h->received);
	f->accepted_at = at_or_none(h->clock_from);   /* the receipt when §32 deems it */
	f->closed_at = at_or_none(h->closed);
	f->result = facts_result(h->closed);
	if (f->result == MON_RESULT_DENIED || f->result == MON_RESULT_REFUSED_INTAKE)
		f->reported = event_string(h->closed, "report") != NULL ? MON_TRI_TRUE :
			MON_TRI_FALSE;
	for (size_t i = 0; i < h->count; i++)
		f->supplements += h->events[i]->event->type == MON_EV_APPROVAL_SUPPLEMENT_REQUESTED;
	facts_applicant(h, f);
}

enum mon_tristate tristate(bool known, bool value)
{
	return !known ? MON_TRI_NULL : value ? MON_TRI_TRUE : MON_TRI_FALSE;
}

const char *mon_case_kind_name(enum mon_case_kind k)
{
	switch (k) {
	case MON_KIND_APPROVAL: return "approval";
	case MON_KIND_COMPLAINT: return "complaint";
	case MON_KIND_OTHER: return "other";
	}
	return "other";
}

const char *mon_case_result_name(enum mon_case_result r)
{
	switch (r) {
	case MON_RESULT_NONE: return NULL;
	case MON_RESULT_APPROVED: return "approved";
	case MON_RESULT_DENIED: return "denied";
	case MON_RESULT_REFUSED_INTAKE: return "refused_intake";
	case MON_RESULT_WITHDRAWN: return "withdrawn";
	case MON_RESULT_CLOSED: return "closed";
	}
	return NULL;
}

static json_t *time_json(int64_t t, int offset_min)
{
	char buf[40];

	if (t == MON_TIME_NONE)
		return json_null();
	mon_time_format(t, offset_min, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *tri_json(enum mon_tristate t)
{
	return t == MON_TRI_NULL ? json_null() : json_boolean(t == MON_TRI_TRUE);
}

static json_t *string_json(const char *s)
{
	return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

json_t *mon_case_facts_json(const struct mon_case_facts *f, int offset_min)
{
	return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:i, s:o, s:o, s:o, s:o, s:o, s:o}",
		"kind", mon_case_kind_name(f->kind),
		"received_at", time_json(f->received_at, offset_min),
		"accepted_at", time_json(f->accepted_at, offset_min),
		"closed_at", time_json(f->closed_at, offset_min),
		"result", string_json(mon_case_result_name(f->result)),
		"reported", tri_json(f->reported),
		"supplements", f->supplements,
		"on_time_committed", tri_json(f->on_time_committed),
		"on_time_statutory", tri_json(f->on_time_statutory),
		"replied_at", time_json(f->replied_at, offset_min),
		"reply_on_time", tri_json(f->reply_on_time),
		"close_on_time", tri_json(f->close_on_time),
		"applicant", string_json(f->applicant));
}
