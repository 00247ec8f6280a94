/* corrections.c: a department's event.corrected applied before anything else is replayed.
 * A correction voids or replaces an earlier event of the same department and case, named by
 * id (`of`). Of the given events, what is in effect as of `now`:
 *  - a correction dated after now is not yet in effect (the case wakes at it);
 *  - a correction in effect is one that no void in effect targets: a void of a void restores
 *    what the first one voided;
 *  - of several corrections in effect of one event, the latest (at, received, id) wins; a
 *    replace may target only an event that is not itself a correction (one that targets a
 *    correction is ignored: the daemon refuses it at ingest);
 *  - an event whose winning correction is a void is not in effect; one whose winning
 *    correction is a replace is the replacement instead (id: the correction's, at: the
 *    replacement's own, received: the original's - the department reported the event then,
 *    and correcting it later makes it no later a report: APR-LATE-REPORT judges the original's
 *    receipt, issue 11 "correct a mistake without a second card").
 * The corrections themselves are never judged: they are left out of what is in effect. */
#include "engine.h"

#include <stdlib.h>
#include <string.h>

enum { UNKNOWN, VISITING, IN_EFFECT, NOT_IN_EFFECT, RING, WALKED };

struct resolver {
	const struct mon_case_event *events;
	int64_t now;
	size_t *corr;            /* indexes of the corrections, by (dept, of, at, received, id) */
	size_t ncorr;
	unsigned char *state;    /* per event; used for corrections */
	size_t count;            /* events */
};

static int cmp_later(const struct mon_case_event *x, const struct mon_case_event *y)
{
	if (x->event->at != y->event->at)
		return x->event->at < y->event->at ? -1 : 1;
	if (x->received_at != y->received_at)
		return x->received_at < y->received_at ? -1 : 1;
	return strcmp(x->event->id, y->event->id);
}

/* Corrections by (dept, of), each target's latest last. */
static int cmp_corr(const void *a, const void *b)
{
	const struct mon_case_event *x = *(const struct mon_case_event *const *)a;
	const struct mon_case_event *y = *(const struct mon_case_event *const *)b;
	int c = strcmp(x->event->dept, y->event->dept);

	if (c == 0)
		c = strcmp(mon_correction_of(x->event), mon_correction_of(y->event));
	return c != 0 ? c : cmp_later(x, y);
}

/* The first correction (in r->corr order) of (dept, id), or r->ncorr. */
static size_t first_of(const struct resolver *r, const char *dept, const char *id)
{
	size_t lo = 0, hi = r->ncorr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct mon_event *ev = r->events[r->corr[mid]].event;
		int c = strcmp(ev->dept, dept);

		if (c == 0)
			c = strcmp(mon_correction_of(ev), id);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool in_effect(struct resolver *r, size_t i);

static int cmp_by_id(const void *a, const void *b)
{
	const struct mon_event *x = (*(const struct mon_case_event *const *)a)->event;
	const struct mon_event *y = (*(const struct mon_case_event *const *)b)->event;
	int c = strcmp(x->dept, y->dept);

	return c != 0 ? c : strcmp(x->id, y->id);
}

/* The correction that correction i targets, or r->count when its target is not a correction
 * of the same case among the events. by_id: every event, sorted by (dept, id). */
static size_t target_correction(const struct resolver *r, const struct mon_case_event **by_id,
		size_t i)
{
	const struct mon_event *ev = r->events[i].event;
	const char *of = mon_correction_of(ev);
	size_t lo = 0, hi = r->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(by_id[mid]->event->dept, ev->dept);

		if (c == 0)
			c = strcmp(by_id[mid]->event->id, of);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == r->count || strcmp(by_id[lo]->event->dept, ev->dept) != 0 ||
			strcmp(by_id[lo]->event->id, of) != 0 ||
			by_id[lo]->event->type != MON_EV_EVENT_CORRECTED ||
			strcmp(by_id[lo]->event->case_no, ev->case_no) != 0)
		return r->count;
	return (size_t)(by_id[lo] - r->events);
}

/* Corrections that void each other in a ring (only hand-made input has one: each names an
 * earlier event) are in effect nowhere, whatever the input order: each correction names one
 * target, so following targets from any correction either ends or runs into a ring. */
static bool mark_rings(struct resolver *r)
{
	const struct mon_case_event **by_id = calloc(r->count ? r->count : 1, sizeof(*by_id));
	size_t *next = calloc(r->count ? r->count : 1, sizeof(*next));
	size_t *path = calloc(r->count ? r->count : 1, sizeof(*path));
	bool ok = by_id != NULL && next != NULL && path != NULL;

	for (size_t i = 0; ok && i < r->count; i++)
		by_id[i] = &r->events[i];
	if (ok)
		qsort(by_id, r->count, sizeof(*by_id), cmp_by_id);
	for (size_t k = 0; ok && k < r->ncorr; k++)
		next[r->corr[k]] = target_correction(r, by_id, r->corr[k]);
	/* Each walk follows targets from a correction until it ends, meets an earlier walk,
	 * or meets itself: the part from where it met itself on is a ring. */
	for (size_t k = 0; ok && k < r->ncorr; k++) {
		size_t n = 0, ring = 0, i = r->corr[k];

		for (; i < r->count && r->state[i] == UNKNOWN; i = next[i]) {
			r->state[i] = VISITING;
			path[n++] = i;
		}
		ring = n;
		for (size_t p = 0; i < r->count && r->state[i] == VISITING && p < n; p++)
			if (path[p] == i)
				ring = p;
		for (size_t p = 0; p < n; p++)
			r->state[path[p]] = p >= ring ? RING : WALKED;
	}
	/* in_effect's memo starts from here: rings decided, the rest unknown */
	for (size_t i = 0; ok && i < r->count; i++)
		r->state[i] = r->state[i] == RING ? NOT_IN_EFFECT : UNKNOWN;
	free(by_id);
	free(next);
	free(path);
	return ok;
}

/* The correction in effect that decides event t's fate, or NULL: the latest that targets it
 * (same department and case), a replace of a correction not counting. */
static const struct mon_case_event *winner(struct resolver *r, size_t t)
{
	const struct mon_event *target = r->events[t].event;
	bool target_is_correction = target->type == MON_EV_EVENT_CORRECTED;
	size_t lo = first_of(r, target->dept, target->id), hi = lo;

	while (hi < r->ncorr && strcmp(r->events[r->corr[hi]].event->dept, target->dept) == 0 &&
			strcmp(mon_correction_of(r->events[r->corr[hi]].event), target->id) == 0)
		hi++;
	while (hi-- > lo) {
		size_t y = r->corr[hi];
		const struct mon_event *ev = r->events[y].event;

		if (y == t || strcmp(ev->case_no, target->case_no) != 0 ||
				(target_is_correction && !mon_correction_is_void(ev)))
			continue;
		if (in_effect(r, y))
			return &r->events[y];
	}
	return NULL;
}

/* A correction is in effect once dated, unless a void in effect targets it (rings are
 * decided by mark_rings already). */
static bool in_effect(struct resolver *r, size_t i)
{
	const struct mon_case_event *w;

	if (r->events[i].event->at > r->now)
		return false;
	if (r->state[i] == VISITING)
		return false;
	if (r->state[i] != UNKNOWN)
		return r->state[i] == IN_EFFECT;
	r->state[i] = VISITING;
	w = winner(r, i);
	r->state[i] = w != NULL && mon_correction_is_void(w->event) ? NOT_IN_EFFECT : IN_EFFECT;
	return r->state[i] == IN_EFFECT;
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void note_corrected(struct corrections *out, const struct mon_case_event *ce)
{
	if (ce->context)
		return;
	memcpy(out->corrected[out->corrected_count++], ce->event->id, sizeof(ce->event->id));
}

/* Sorts the corrections' indexes: r->corr holds them afterwards. */
static bool resolver_init(struct resolver *r, const struct mon_case_event *events, size_t count,
		int64_t now)
{
	const struct mon_case_event **sorted;

	*r = (struct resolver){ .events = events, .now = now, .count = count };
	r->state = calloc(count ? count : 1, 1);
	r->corr = calloc(count ? count : 1, sizeof(*r->corr));
	sorted = calloc(count ? count : 1, sizeof(*sorted));
	if (r->state == NULL || r->corr == NULL || sorted == NULL) {
		free(sorted);
		return false;
	}
	for (size_t i = 0; i < count; i++)
		if (mon_correction_of(events[i].event) != NULL)
			sorted[r->ncorr++] = &events[i];
	qsort(sorted, r->ncorr, sizeof(*sorted), cmp_corr);
	for (size_t k = 0; k < r->ncorr; k++)
		r->corr[k] = (size_t)(sorted[k] - events);
	free(sorted);
	return r->ncorr == 0 || mark_rings(r);
}

bool corrections_apply(struct corrections *out, const struct mon_case_event *events,
		size_t count, int64_t now)
{
	struct resolver r;
	bool ok;

	memset(out, 0, sizeof(*out));
	out->future = NEVER;
	ok = resolver_init(&r, events, count, now);
	out->events = calloc(count ? count : 1, sizeof(*out->events));
	out->corrected = calloc(count ? count : 1, sizeof(*out->corrected));
	ok = ok && out->events != NULL && out->corrected != NULL;
	for (size_t i = 0; ok && i < count; i++) {
		const struct mon_case_event *ce = &events[i], *w;

		if (ce->event->type == MON_EV_EVENT_CORRECTED) {
			if (ce->event->at > now && !ce->context && ce->event->at < out->future)
				out->future = ce->event->at;
			else if (ce->event->at <= now && (w = winner(&r, i)) != NULL &&
					mon_correction_is_void(w->event))
				note_corrected(out, ce);   /* voided, so is its replacement */
			continue;
		}
		w = r.ncorr > 0 ? winner(&r, i) : NULL;
		if (w == NULL) {
			out->events[out->count++] = *ce;
			continue;
		}
		note_corrected(out, ce);
		if (!mon_correction_is_void(w->event) && w->event->replacement != NULL)
			out->events[out->count++] = (struct mon_case_event){ w->event->replacement,
				ce->received_at, w->context };
	}
	free(r.state);
	free(r.corr);
	if (!ok) {
		corrections_finish(out);
		return false;
	}
	if (out->corrected_count > 1)
		qsort(out->corrected, out->corrected_count, sizeof(out->corrected[0]), cmp_id);
	return true;
}

void corrections_finish(struct corrections *c)
{
	free(c->events);
	free(c->corrected);
	memset(c, 0, sizeof(*c));
}
