/* evalctx.c: what esupd and `esupctl eval` share around an evaluation (mon_eval.h): the
 * subject of an event, the selection of other cases' events a case's cross-case rules read,
 * the marking of repeated event ids, and the evaluation's JSON. Both callers go through
 * here, so the daemon and the golden cases cannot prepare a case differently. */
#include "mon_eval.h"

#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "mon_value.h"

bool mon_event_subject(const struct mon_event *ev, char *out, size_t len)
{
	const char *field = ev->type == MON_EV_PENALTY_DECIDED ? "party" :
		ev->type == MON_EV_INSPECTION_STARTED ? "enterprise" : NULL;
	const json_t *party = field != NULL ? json_object_get(ev->body, field) : NULL;
	const char *id = json_string_value(json_object_get(party, "uscc"));
	size_t n;

	if (id == NULL)
		id = json_string_value(json_object_get(party, "id"));
	/* Validated identities are 18 characters; anything else is not a subject to match on. */
	if (id == NULL || (n = strlen(id)) == 0 || n > MON_SUBJECT_MAX || n >= len)
		return false;
	memcpy(out, id, n + 1);
	return true;
}

size_t mon_context_windows(const struct mon_ruleset *rs, const struct mon_case_event *own,
		size_t count, struct mon_context_window *out)
{
	int64_t pspan = (int64_t)mon_ruleset_penalty_context_days(rs) * 86400;
	int64_t ispan = (int64_t)mon_ruleset_context_days(rs) * 86400;
	size_t n = 0;

	for (size_t i = 0; i < count; i++) {
		const struct mon_event *ev = own[i].event;
		struct mon_context_window *w = &out[n];

		if (own[i].context || ev->case_no[0] == '\0' ||
				!mon_event_subject(ev, w->subject, sizeof(w->subject)))
			continue;
		w->event = ev;
		if (ev->type == MON_EV_PENALTY_DECIDED) {
			w->kind = MON_CONTEXT_PENALTY;
			w->lo = ev->at - pspan;
			w->hi = ev->at;
		} else {
			w->kind = MON_CONTEXT_INSPECTION;
			w->lo = ev->at - ispan;
			w->hi = ev->at + ispan;
		}
		n++;
	}
	return n;
}

static bool same_case(const struct mon_event *a, const struct mon_event *b)
{
	return strcmp(a->dept, b->dept) == 0 && strcmp(a->case_no, b->case_no) == 0;
}

/* Whether candidate ev falls in window w (type, subject, time; never the case's own). */
static bool in_window(const struct mon_context_window *w, const struct mon_event *ev)
{
	char subject[MON_SUBJECT_MAX + 1];
	enum mon_event_type type = w->kind == MON_CONTEXT_PENALTY ? MON_EV_PENALTY_DECIDED :
		MON_EV_INSPECTION_STARTED;

	if (ev->type != type || ev->case_no[0] == '\0' || same_case(ev, w->event) ||
			ev->at < w->lo || ev->at > w->hi ||
			(w->kind == MON_CONTEXT_PENALTY && ev->at == w->hi))
		return false;
	return mon_event_subject(ev, subject, sizeof(subject)) && strcmp(subject, w->subject) == 0;
}

/* Whether candidate i is voided, as esup_event_voided() (schema/021) judges a stored event: a
 * void among the candidates names it (same department, another id), and that void is not
 * voided itself; dates do not matter. state[]: 0 not known yet, 1 being judged (a cycle
 * counts as not voided), 2 voided, 3 not. */
static bool voided(const struct mon_case_event *c, size_t n, size_t i, unsigned char *state)
{
	if (state[i] >= 2 || state[i] == 1)
		return state[i] == 2;
	state[i] = 1;
	for (size_t j = 0; j < n; j++) {
		const struct mon_event *v = c[j].event;
		const char *of = json_string_value(json_object_get(v->body, "of"));
		if (j == i || !mon_correction_is_void(v) || of == NULL ||
				strcmp(of, c[i].event->id) != 0 || strcmp(v->id, c[i].event->id) == 0 ||
				strcmp(v->dept, c[i].event->dept) != 0)
			continue;
		if (!voided(c, n, j, state)) {
			state[i] = 2;
			return true;
		}
	}
	state[i] = 3;
	return false;
}

bool mon_context_select(const struct mon_ruleset *rs, const struct mon_case_event *own,
		size_t own_count, const struct mon_case_event *candidates, size_t candidate_count,
		bool *keep)
{
	struct mon_context_window *w = calloc(own_count > 0 ? own_count : 1, sizeof(*w));
	unsigned char *state = calloc(candidate_count > 0 ? candidate_count : 1, sizeof(*state));
	size_t nw;

	for (size_t i = 0; i < candidate_count; i++)
		keep[i] = false;
	if (w == NULL || state == NULL) {
		free(w);
		free(state);
		return false;
	}
	nw = mon_context_windows(rs, own, own_count, w);
	for (size_t k = 0; k < nw; k++) {
		size_t latest = SIZE_MAX;

		for (size_t i = 0; i < candidate_count; i++) {
			const struct mon_event *ev = candidates[i].event;
			if (!in_window(&w[k], ev) || voided(candidates, candidate_count, i, state))
				continue;
			if (w[k].kind == MON_CONTEXT_INSPECTION)
				keep[i] = true;
			else if (latest == SIZE_MAX || ev->at > candidates[latest].event->at)
				latest = i;
		}
		if (latest != SIZE_MAX)
			keep[latest] = true;
	}
	free(w);
	free(state);
	return true;
}

static uint64_t key_hash(const struct mon_event *ev)
{
	uint64_t h = 14695981039346656037u;   /* FNV-1a over dept, NUL, id */
	const unsigned char *p;

	for (p = (const unsigned char *)ev->dept; *p; p++)
		h = (h ^ *p) * 1099511628211u;
	h *= 1099511628211u;
	for (p = (const unsigned char *)ev->id; *p; p++)
		h = (h ^ *p) * 1099511628211u;
	return h;
}

bool mon_events_duplicates(const struct mon_event *const *events, size_t count,
		size_t *previous)
{
	size_t cap = 2, *slots;

	while (cap < 2 * count)
		cap *= 2;
	/* Open addressing over indexes + 1 (0 is an empty slot), at most half full. */
	if ((slots = calloc(cap, sizeof(*slots))) == NULL)
		return false;
	for (size_t i = 0; i < count; i++) {
		const struct mon_event *ev = events[i];
		size_t s = (size_t)key_hash(ev) & (cap - 1);

		previous[i] = SIZE_MAX;
		for (; slots[s] != 0; s = (s + 1) & (cap - 1)) {
			const struct mon_event *o = events[slots[s] - 1];
			if (strcmp(o->id, ev->id) == 0 && strcmp(o->dept, ev->dept) == 0) {
				previous[i] = slots[s] - 1;
				break;
			}
		}
		slots[s] = i + 1;
	}
	free(slots);
	return true;
}

static json_t *time_json(int64_t t, int offset_min)
{
	char buf[40];

	if (t == INT64_MAX || t == MON_TIME_NONE)
		return json_null();
	mon_time_format(t, offset_min, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *day_json(int32_t day)
{
	char buf[16];

	if (day < 0)
		return json_null();
	mon_day_format(day, buf, sizeof(buf));
	return json_string(buf);
}

json_t *mon_condition_json(const struct mon_case_state *state, const struct mon_condition *c,
		int offset_min)
{
	json_t *evidence = json_array();

	for (size_t i = 0; evidence != NULL && i < c->evidence_count; i++) {
		if (json_array_append_new(evidence, json_string(c->evidence[i])) != 0) {
			json_decref(evidence);
			return NULL;
		}
	}
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:o}",
		"rule", c->rule, "severity", mon_severity_name(c->severity),
		"dept", state->dept, "case", state->case_no, "key", c->key,
		"since", time_json(c->since, offset_min), "message", c->message,
		"evidence", evidence,
		"supersedes", c->supersedes[0] != '\0' ? json_string(c->supersedes) : json_null());
}

json_t *mon_case_state_json(const struct mon_case_state *s, int offset_min)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:o, s:o, s:o, s:o, s:o}",
		"dept", s->dept, "case", s->case_no, "item", s->item,
		"status", mon_case_status_name(s->status),
		"unit", s->unit == MON_UNIT_CALENDAR ? "calendar" : "working",
		"committed_days", s->committed_days, "statutory_days", s->statutory_days,
		"counted_days", s->counted_days, "suspended_days", s->suspended_days,
		"committed_day", day_json(s->committed_day), "statutory_day", day_json(s->statutory_day),
		"level", s->has_level ? json_string(mon_severity_name(s->level)) : json_null(),
		"next_check", time_json(s->next_check, offset_min),
		"facts", mon_case_facts_json(&s->facts, offset_min));
}

static json_t *corrected_json(const struct mon_evaluation *ev)
{
	json_t *ids = json_array();

	for (size_t i = 0; ids != NULL && i < ev->corrected_count; i++) {
		if (json_array_append_new(ids, json_string(ev->corrected[i])) != 0) {
			json_decref(ids);
			return NULL;
		}
	}
	return ids;
}

json_t *mon_evaluation_json(const struct mon_evaluation *ev, int offset_min)
{
	json_t *obj = mon_case_state_json(&ev->state, offset_min);
	json_t *conditions = json_array();

	if (obj == NULL || conditions == NULL) {
		json_decref(obj);
		json_decref(conditions);
		return NULL;
	}
	for (size_t i = 0; i < ev->count; i++) {
		if (json_array_append_new(conditions,
				mon_condition_json(&ev->state, &ev->conditions[i], offset_min)) != 0) {
			json_decref(conditions);
			json_decref(obj);
			return NULL;
		}
	}
	if (json_object_set_new(obj, "conditions", conditions) != 0 ||
			json_object_set_new(obj, "corrected", corrected_json(ev)) != 0) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}
