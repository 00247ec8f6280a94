/* case.c: mon_case_evaluate: replays a case's history (history.c), runs every rule family
 * of the registry (registry.c: the deadline ladder, the procedural rules and the supervision
 * rules) over it, and hands back the case's state and its
 * active conditions, each under a dedup key that stays the same for as long as the
 * condition holds, so the caller raises one alert per condition, never one per sweep.
 * mon_case_clock hands back the same replay's suspensions and extensions as spans. */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

static int cmp_condition(const void *a, const void *b)
{
	const struct mon_condition *x = a, *y = b;
	int c = strcmp(x->rule, y->rule);

	return c != 0 ? c : strcmp(x->key, y->key);
}

static void state_init(struct mon_case_state *st, const struct history *h)
{
	memset(st, 0, sizeof(*st));
	snprintf(st->dept, sizeof(st->dept), "%s", h->dept);
	snprintf(st->case_no, sizeof(st->case_no), "%s", h->case_no);
	snprintf(st->item, sizeof(st->item), "%s", h->item_code);
	st->status = history_status(h);
	st->unit = h->unit;
	st->committed_day = -1;
	st->statutory_day = -1;
	st->next_check = NEVER;
	facts_init(h, &st->facts);
}

/* The work a supervision event opens, and the event that completes it. */
static const struct {
	enum mon_event_type opens, closes;
} works[] = {
	{ MON_EV_COMPLAINT_RECEIVED, MON_EV_COMPLAINT_CLOSED },
	{ MON_EV_INQUIRY_RECEIVED, MON_EV_INQUIRY_ANSWERED },
	{ MON_EV_INSPECTION_STARTED, MON_EV_INSPECTION_ENDED },
	{ MON_EV_TRADE_ANNOUNCED, MON_EV_TRADE_AWARDED },
	{ MON_EV_EVALUATION_RECEIVED, MON_EV_EVALUATION_RECTIFIED },
};

/* A satisfied evaluation opens nothing; every other opening event does. */
static bool opens(const struct mon_case_event *ce, enum mon_event_type type)
{
	return ce->event->type == type && (type != MON_EV_EVALUATION_RECEIVED ||
		!json_is_true(json_object_get(ce->event->body, "satisfied")));
}

/* A case without approval events is `accepted` (running) while some work it opened is
 * not completed, and `decided` otherwise. An event without a case opens nothing to watch. */
static enum mon_case_status supervision_status(const struct history *h)
{
	for (size_t w = 0; w < sizeof(works) / sizeof(works[0]) && h->case_no[0] != '\0'; w++) {
		bool opened = false, closed = false;
		for (size_t i = 0; i < h->count; i++) {
			opened |= opens(h->events[i], works[w].opens);
			closed |= h->events[i]->event->type == works[w].closes;
		}
		if (opened && !closed)
			return MON_CASE_ACCEPTED;
	}
	return MON_CASE_DECIDED;
}

static void state_level(struct mon_case_state *st, const struct conditions *list)
{
	for (size_t i = 0; i < list->count; i++) {
		if (!st->has_level || list->items[i].severity > st->level) {
			st->has_level = true;
			st->level = list->items[i].severity;
		}
	}
}

/* Every rule over a replayed history; false when memory ran out (*out then empty). */
static bool case_evaluate(const struct history *h, int64_t now, struct mon_evaluation *out,
		struct mon_error *err)
{
	struct conditions list = { .items = NULL, .count = 0, .cap = 0, .failed = false };

	state_init(&out->state, h);
	if (!h->has_approval)
		out->state.status = supervision_status(h);
	for (size_t f = 0; f < rule_family_count; f++) {
		if (rule_families[f]->evaluate != NULL)
			rule_families[f]->evaluate(h, &list, &out->state);
	}
	next_check_offer(&out->state.next_check, now, h->future);
	if (list.failed) {
		free(list.items);
		memset(out, 0, sizeof(*out));
		mon_error_set_text(err, "", "memory for the conditions", "out of memory");
		return false;
	}
	if (list.count > 1)
		qsort(list.items, list.count, sizeof(list.items[0]), cmp_condition);
	state_level(&out->state, &list);
	out->count = list.count;
	out->conditions = list.items;
	return true;
}

bool mon_case_evaluate(const struct mon_ruleset *rs, const struct mon_case_event *events,
		size_t count, int64_t now, struct mon_evaluation *out, struct mon_error *err)
{
	struct history h;
	bool ok;

	memset(out, 0, sizeof(*out));
	if (!history_build(&h, rs, events, count, now, err))
		return false;
	ok = case_evaluate(&h, now, out, err);
	history_finish(&h);
	return ok;
}

/* The replay's suspensions and extensions as spans, suspensions first. */
static void clock_spans(const struct history *h, struct mon_clock_span *spans)
{
	size_t n = 0;

	for (size_t i = 0; i < h->susp_count; i++, n++) {
		const struct suspension *s = &h->susp[i];

		spans[n].kind = MON_CLOCK_SUSPENDED;
		spans[n].from = s->start;
		spans[n].to = s->end == NEVER ? MON_TIME_NONE : s->end;
		spans[n].days = s->days;
		spans[n].effective = true;
		snprintf(spans[n].procedure, sizeof(spans[n].procedure), "%s", s->kind);
		snprintf(spans[n].event, sizeof(spans[n].event), "%s", s->start_ev->event->id);
	}
	for (size_t i = 0; i < h->ext_count; i++, n++) {
		const struct extension *e = &h->ext[i];

		spans[n].kind = MON_CLOCK_EXTENDED;
		spans[n].from = e->ev->event->at;
		spans[n].to = MON_TIME_NONE;
		spans[n].days = e->days;
		spans[n].effective = e->effective;
		spans[n].procedure[0] = '\0';
		snprintf(spans[n].event, sizeof(spans[n].event), "%s", e->ev->event->id);
	}
}

bool mon_case_clock(const struct mon_ruleset *rs, const struct mon_case_event *events,
		size_t count, int64_t now, struct mon_case_clock *out, struct mon_error *err)
{
	struct mon_evaluation ev;
	struct history h;
	bool ok;

	memset(out, 0, sizeof(*out));
	if (!history_build(&h, rs, events, count, now, err))
		return false;
	/* The days come from the very evaluation mon_case_evaluate makes (the ladder counts an
	 * approval's, service.c a complaint's), not from a second count. */
	memset(&ev, 0, sizeof(ev));
	ok = case_evaluate(&h, now, &ev, err);
	if (ok && h.susp_count + h.ext_count > 0) {
		out->spans = calloc(h.susp_count + h.ext_count, sizeof(*out->spans));
		if (out->spans == NULL) {
			mon_error_set_text(err, "", "memory for the clock", "out of memory");
			ok = false;
		}
	}
	if (ok) {
		out->counted_days = ev.state.counted_days;
		out->suspended_days = ev.state.suspended_days;
		out->count = h.susp_count + h.ext_count;
		clock_spans(&h, out->spans);
	}
	mon_evaluation_finish(&ev);
	history_finish(&h);
	return ok;
}

void mon_case_clock_finish(struct mon_case_clock *clock)
{
	if (clock == NULL)
		return;
	free(clock->spans);
	memset(clock, 0, sizeof(*clock));
}

void mon_evaluation_finish(struct mon_evaluation *ev)
{
	if (ev == NULL)
		return;
	free(ev->conditions);
	memset(ev, 0, sizeof(*ev));
}
