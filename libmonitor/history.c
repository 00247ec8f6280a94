/* history.c: one case's events replayed into facts: when it was received, accepted and
 * closed, its special procedures as disjoint intervals, its extensions, and the events
 * that came in the wrong order; beside them, the other cases' context events that the
 * cross-case rules read; and typed access to the fields of an event's body. The replay is
 * from scratch on every evaluation, in business-time order, so a late or out-of-order
 * event simply lands in its place. The department's corrections are applied first
 * (corrections.c): what they void is not there, what they replace is its replacement. */
#include "engine.h"

#include <stdlib.h>
#include <string.h>

#include "mon_value.h"
#include "text.h"

bool event_is_approval(const struct mon_event *ev)
{
	return (ev->type >= MON_EV_APPROVAL_RECEIVED && ev->type <= MON_EV_APPROVAL_WITHDRAWN) ||
		ev->type == MON_EV_APPROVAL_DELAY_REPORTED;
}

const char *event_string(const struct mon_case_event *ce, const char *name)
{
	return json_string_value(json_object_get(ce->event->body, name));
}

int event_days(const struct mon_case_event *ce)
{
	json_int_t d = json_integer_value(json_object_get(ce->event->body, "days"));

	/* Validation bounds days to 1..3650; stay safe if a caller skipped it. */
	return d >= 1 && d <= LIMIT_DAYS_MAX ? (int)d : 0;
}

bool event_money(const struct mon_case_event *ce, const char *name, int64_t *fen)
{
	const json_t *v = json_object_get(ce->event->body, name);

	return v != NULL && mon_money_parse(v, fen);
}

bool event_true(const struct mon_case_event *ce, const char *name)
{
	return json_is_true(json_object_get(ce->event->body, name));
}

bool event_time(const struct mon_case_event *ce, const char *name, int64_t *epoch)
{
	const char *s = event_string(ce, name);
	int offset;

	return s != NULL && mon_time_parse(s, epoch, &offset);
}

/* Where an event stands in its procedure, for events of one instant: what opens a case comes
 * before what happens in it, and what closes it last (an on-the-spot case is accepted and
 * decided in the same minute; the order of its ids or of its receipt says nothing). */
static int procedure_rank(enum mon_event_type type)
{
	switch (type) {
	case MON_EV_APPROVAL_RECEIVED:
	case MON_EV_COMPLAINT_RECEIVED:
	case MON_EV_INQUIRY_RECEIVED:
	case MON_EV_EVALUATION_RECEIVED:
	case MON_EV_INSPECTION_STARTED:
	case MON_EV_TRADE_ANNOUNCED:
		return 0;
	case MON_EV_APPROVAL_SUPPLEMENT_REQUESTED:
		return 1;
	case MON_EV_APPROVAL_SUPPLEMENT_RECEIVED:
		return 2;
	case MON_EV_APPROVAL_ACCEPTED:
		return 3;
	case MON_EV_APPROVAL_DECIDED:
	case MON_EV_APPROVAL_REFUSED_INTAKE:
	case MON_EV_APPROVAL_WITHDRAWN:
	case MON_EV_PENALTY_DECIDED:
	case MON_EV_INSPECTION_ENDED:
	case MON_EV_COMPLAINT_CLOSED:
	case MON_EV_TRADE_AWARDED:
		return 5;
	default:
		return 4;
	}
}

static int cmp_event(const void *a, const void *b)
{
	const struct mon_case_event *x = *(const struct mon_case_event *const *)a;
	const struct mon_case_event *y = *(const struct mon_case_event *const *)b;
	int c;

	if (x->event->at != y->event->at)
		return x->event->at < y->event->at ? -1 : 1;
	if ((c = procedure_rank(x->event->type) - procedure_rank(y->event->type)) != 0)
		return c;
	if (x->received_at != y->received_at)
		return x->received_at < y->received_at ? -1 : 1;
	c = strcmp(x->event->id, y->event->id);
	if (c != 0)
		return c;
	return (x > y) - (x < y);   /* input order: the result never depends on qsort */
}

static bool is_susp(const struct mon_case_event *ce)
{
	return ce->event->type == MON_EV_APPROVAL_SUSPENDED ||
		ce->event->type == MON_EV_APPROVAL_RESUMED;
}

/* A suspension and a resumption of one instant are in the order that makes sense of them:
 * with a procedure running, the resumption ends it before the next one starts; with none,
 * a procedure that starts and ends in the same instant starts first. Their ids and receipt
 * say nothing about it. Each kind keeps its order among its own. */
static void order_suspensions(const struct mon_case_event **ev, size_t count)
{
	const struct mon_case_event *tmp[2][16];
	bool running = false;

	for (size_t a = 0, b; a < count; a = b) {
		size_t n[2] = { 0, 0 }, all = 0, k = 0;

		for (b = a; b < count && ev[b]->event->at == ev[a]->event->at; b++) {
			bool later = ev[b]->event->type == MON_EV_APPROVAL_RESUMED ? !running : running;

			if (is_susp(ev[b]) && all++ < 16)
				tmp[later][n[later]++] = ev[b];
		}
		/* tmp[0]: what comes first (suspensions when none runs, resumptions when one
		 * does); tmp[1]: the others. More than 16 of them keep the sort's order. */
		if (n[0] > 0 && n[1] > 0 && all <= 16) {
			for (size_t i = a; i < b; i++) {
				if (is_susp(ev[i])) {
					ev[i] = k < n[0] ? tmp[0][k] : tmp[1][k - n[0]];
					k++;
				}
			}
		}
		for (size_t i = a; i < b; i++) {
			if (ev[i]->event->type == MON_EV_APPROVAL_SUSPENDED)
				running = true;
			else if (ev[i]->event->type == MON_EV_APPROVAL_RESUMED)
				running = false;
		}
	}
}

/* The case's own events share one department and case; at most one that is not a correction
 * has no case (an event without a case is evaluated alone, with its corrections). Context
 * events may come from anywhere. */
static bool same_case(const struct mon_case_event *events, size_t count, struct mon_error *err)
{
	const struct mon_event *first = NULL;
	size_t own = 0;

	if (count == 0 || count > MON_CASE_EVENTS_MAX) {
		mon_error_set_text(err, "", "1 to 10000 events of one case", count == 0 ? "none" :
			"too many");
		return false;
	}
	for (size_t i = 0; i < count; i++) {
		const struct mon_event *ev = events[i].event;
		if (ev == NULL) {
			mon_error_set_text(err, "", "validated events", "(null)");
			return false;
		}
		if (events[i].context)
			continue;
		if (first == NULL)
			first = ev;
		if (ev->type != MON_EV_EVENT_CORRECTED)
			own++;
		if (strcmp(ev->dept, first->dept) != 0 || strcmp(ev->case_no, first->case_no) != 0 ||
				(own > 1 && first->case_no[0] == '\0')) {
			mon_error_set_text(err, "case", first->case_no[0] == '\0' ? "an event without "
				"a case on its own" : "events of one department and case", ev->case_no);
			return false;
		}
	}
	if (first == NULL)
		mon_error_set_text(err, "", "at least one event of the case", "only context events");
	return first != NULL;
}

static bool history_alloc(struct history *h, size_t count)
{
	h->events = calloc(count, sizeof(*h->events));
	h->context = calloc(count, sizeof(*h->context));
	h->marks = calloc(count, sizeof(*h->marks));
	h->susp = calloc(count, sizeof(*h->susp));
	h->ext = calloc(count, sizeof(*h->ext));
	return h->events != NULL && h->context != NULL && h->marks != NULL && h->susp != NULL &&
		h->ext != NULL;
}

/* A procedural event after the case was closed is out of order, and changes nothing. */
static bool after_close(struct history *h, size_t i)
{
	switch (h->events[i]->event->type) {
	case MON_EV_APPROVAL_SUPPLEMENT_REQUESTED:
	case MON_EV_APPROVAL_STEP:
	case MON_EV_APPROVAL_SUSPENDED:
	case MON_EV_APPROVAL_RESUMED:
	case MON_EV_APPROVAL_EXTENDED:
		if (h->closed == NULL)
			return false;
		h->marks[i] |= MARK_AFTER_CLOSE;
		return true;
	default:
		return false;
	}
}

static struct suspension *running_suspension(struct history *h)
{
	struct suspension *s = h->susp_count > 0 ? &h->susp[h->susp_count - 1] : NULL;

	return s != NULL && s->end == NEVER ? s : NULL;
}

/* A new special procedure ends the one running (the clock stays stopped across both). */
static void replay_suspend(struct history *h, const struct mon_case_event *ce)
{
	struct suspension *running = running_suspension(h);
	struct suspension *s = &h->susp[h->susp_count++];
	const char *kind = event_string(ce, "kind");

	if (running != NULL)
		running->end = ce->event->at;
	s->start_ev = ce;
	s->end_ev = NULL;
	s->start = ce->event->at;
	s->end = NEVER;
	s->days = event_days(ce);
	mon_text_copy_utf8(kind != NULL ? kind : "", kind != NULL ? strlen(kind) : 0, s->kind,
		sizeof(s->kind));
}

static void replay_one(struct history *h, size_t i)
{
	const struct mon_case_event *ce = h->events[i];
	struct suspension *running;

	if (after_close(h, i))
		return;
	switch (ce->event->type) {
	case MON_EV_APPROVAL_RECEIVED:
		if (h->received == NULL)
			h->received = ce;
		break;
	case MON_EV_APPROVAL_ACCEPTED:
		if (h->accepted == NULL && h->closed == NULL)
			h->accepted = ce;
		break;
	case MON_EV_APPROVAL_REFUSED_INTAKE:
	case MON_EV_APPROVAL_DECIDED:
	case MON_EV_APPROVAL_WITHDRAWN:
		if (h->closed == NULL)
			h->closed = ce;
		break;
	case MON_EV_APPROVAL_SUSPENDED:
		replay_suspend(h, ce);
		break;
	case MON_EV_APPROVAL_RESUMED:
		running = running_suspension(h);
		if (running == NULL) {
			h->marks[i] |= MARK_STRAY_RESUME;
		} else {
			running->end = ce->event->at;
			running->end_ev = ce;
		}
		break;
	case MON_EV_APPROVAL_EXTENDED:
		h->ext[h->ext_count].ev = ce;
		h->ext[h->ext_count].days = event_days(ce);
		h->ext[h->ext_count++].approved = event_string(ce, "approver") != NULL;
		break;
	default:
		break;
	}
}

/* §42 allows an extension within the statutory period, of at most extension_max_days:
 *  - one granted after the statutory deadline has passed cannot cure the overrun, so it moves
 *    no deadline;
 *  - the days beyond the legal maximum (APR-EXTENSION-EXCESS) move no deadline either: the
 *    statutory deadline is the law's, whatever the department declared;
 *  - the committed deadline moves only for an extension granted before it passed: a yellow
 *    card that already held stands (a case's level only rises, design "Time"). */
static void history_extensions(struct history *h)
{
	int max = ruleset_param(h->rs, param_extension_max_days);
	struct clock c;
	int32_t from, last;

	h->ext_days = 0;
	h->ext_days_committed = 0;
	if (h->clock_from == NULL || h->item == NULL)
		return;
	clock_init(&c, h, true);
	from = mon_day_of(h->clock_from->event->at);
	for (size_t i = 0; i < h->ext_count; i++) {
		struct extension *e = &h->ext[i];
		int64_t at = e->ev->event->at;

		last = clock_nth(&c, from, h->item->statutory_days + h->ext_days);
		e->effective = at >= h->clock_from->event->at &&
			(last < 0 || at <= mon_day_end(last));
		if (!e->effective)
			continue;
		last = clock_nth(&c, from, h->item->committed_days + h->ext_days_committed);
		if (last < 0 || at <= mon_day_end(last))
			h->ext_days_committed += e->days < max - h->ext_days_committed ?
				e->days : max - h->ext_days_committed;
		h->ext_days += e->days < max - h->ext_days ? e->days : max - h->ext_days;
	}
}

/* An answer to an application within the §32 window: it was accepted, refused, told what
 * to supplement, or closed. */
static bool answers(const struct mon_event *ev)
{
	switch (ev->type) {
	case MON_EV_APPROVAL_ACCEPTED:
	case MON_EV_APPROVAL_REFUSED_INTAKE:
	case MON_EV_APPROVAL_SUPPLEMENT_REQUESTED:
	case MON_EV_APPROVAL_DECIDED:
	case MON_EV_APPROVAL_WITHDRAWN:
		return true;
	default:
		return false;
	}
}

/* 行政许可法 §32: an application whose materials are incomplete is told what to supplement
 * "当场或者在五日内一次告知……逾期不告知的，自收到申请材料之日起即为受理": when the department
 * has not answered by the end (24:00) of the supplement_days-th (5th) working day after the
 * day of receipt (§82: working days), the application counts as accepted from its receipt,
 * and the clock runs from the receipt like from an acceptance (the receipt day not counting).
 * A late answer does not undo it: an acceptance on day 7 starts nothing new. */
static void history_deemed(struct history *h)
{
	struct clock working;
	int32_t last;
	int64_t due;

	h->clock_from = h->accepted;
	h->answer_due = NEVER;
	if (h->received == NULL)
		return;
	clock_init_working(&working, h->rs);
	last = clock_nth(&working, mon_day_of(h->received->event->at),
		ruleset_param(h->rs, param_supplement_days));
	if (last < 0)
		return;
	due = mon_day_end(last);
	for (size_t i = 0; i < h->count; i++) {
		if (h->events[i]->event->at <= due && answers(h->events[i]->event))
			return;
	}
	if (h->now <= due) {
		h->answer_due = due;
		return;
	}
	h->clock_from = h->received;
	h->deemed = true;
}

static void history_item(struct history *h)
{
	if (h->accepted != NULL)
		h->item_code = h->accepted->event->item;
	else if (h->received != NULL)
		h->item_code = h->received->event->item;
	h->item = h->item_code[0] != '\0' ? catalogue_find(h->rs, h->dept, h->item_code) : NULL;
	h->unit = h->item != NULL ? h->item->unit : MON_UNIT_WORKING;
}

static const struct mon_case_event *first_own(const struct mon_case_event *events, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (!events[i].context)
			return &events[i];
	}
	return NULL;
}

/* Events dated after `now` have not happened yet as of now: the case's own wake it later;
 * another case's wakes that case, not this one. */
static void history_select(struct history *h, const struct mon_case_event *events,
		size_t count)
{
	for (size_t i = 0; i < count; i++) {
		const struct mon_case_event *ce = &events[i];
		if (ce->event->at <= h->now && ce->context)
			h->context[h->context_count++] = ce;
		else if (ce->event->at <= h->now)
			h->events[h->count++] = ce;
		else if (!ce->context && ce->event->at < h->future)
			h->future = ce->event->at;
	}
	if (h->count > 1) {
		qsort(h->events, h->count, sizeof(h->events[0]), cmp_event);
		order_suspensions(h->events, h->count);
	}
	if (h->context_count > 1)
		qsort(h->context, h->context_count, sizeof(h->context[0]), cmp_event);
}

bool history_build(struct history *h, const struct mon_ruleset *rs,
		const struct mon_case_event *events, size_t count, int64_t now,
		struct mon_error *err)
{
	memset(h, 0, sizeof(*h));
	mon_error_clear(err);
	if (!same_case(events, count, err))
		return false;
	h->rs = rs;
	h->now = now;
	h->future = NEVER;
	h->dept = first_own(events, count)->event->dept;
	h->case_no = first_own(events, count)->event->case_no;
	h->item_code = "";
	if (!history_alloc(h, count)) {
		history_finish(h);
		mon_error_set_text(err, "", "memory for the case", "out of memory");
		return false;
	}
	if (!corrections_apply(&h->corr, events, count, now)) {
		history_finish(h);
		mon_error_set_text(err, "", "memory for the case", "out of memory");
		return false;
	}
	history_select(h, h->corr.events, h->corr.count);
	if (h->corr.future < h->future)
		h->future = h->corr.future;
	for (size_t i = 0; i < h->count; i++) {
		if (!event_is_approval(h->events[i]->event))
			continue;
		h->has_approval = true;
		replay_one(h, i);
	}
	if (running_suspension(h) != NULL && h->closed != NULL)
		running_suspension(h)->end = h->closed->event->at;
	history_item(h);
	history_deemed(h);
	history_extensions(h);
	return true;
}

void history_finish(struct history *h)
{
	free(h->events);
	free(h->context);
	free(h->marks);
	free(h->susp);
	free(h->ext);
	corrections_finish(&h->corr);
	memset(h, 0, sizeof(*h));
}

enum mon_case_status history_status(const struct history *h)
{
	if (h->closed != NULL) {
		switch (h->closed->event->type) {
		case MON_EV_APPROVAL_REFUSED_INTAKE: return MON_CASE_REFUSED;
		case MON_EV_APPROVAL_WITHDRAWN: return MON_CASE_WITHDRAWN;
		default: return MON_CASE_DECIDED;
		}
	}
	if (h->clock_from == NULL)
		return MON_CASE_RECEIVED;
	if (h->susp_count > 0 && h->susp[h->susp_count - 1].end == NEVER)
		return MON_CASE_SUSPENDED;
	return MON_CASE_ACCEPTED;
}

int64_t history_end(const struct history *h)
{
	return h->closed != NULL ? h->closed->event->at : h->now;
}
