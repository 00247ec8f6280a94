/* case.c: mon_case_evaluate: replays a case's history (history.c), runs the deadline
 * ladder (ladder.c) and the procedural rules (checks.c), and hands back the case's state
 * and its active conditions, each under a dedup key that stays the same for as long as
 * the condition holds, so the caller raises one alert per condition, never one per sweep. */
#include "engine.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

#define CONDITIONS_MAX 4096   /* per case; beyond it the rest would only repeat */

struct mon_condition *conditions_add(struct conditions *list, const struct history *h,
		enum rule_id rule, const char *qualifier, int64_t since)
{
	struct mon_condition *c;

	if (!rule_enabled(h->rs, rule) || list->failed || list->count == CONDITIONS_MAX)
		return NULL;
	if (list->count == list->cap) {
		size_t ncap = list->cap == 0 ? 8 : list->cap * 2;
		struct mon_condition *n = realloc(list->items, ncap * sizeof(*n));
		if (n == NULL) {
			list->failed = true;
			return NULL;
		}
		list->items = n;
		list->cap = ncap;
	}
	c = &list->items[list->count++];
	memset(c, 0, sizeof(*c));
	snprintf(c->rule, sizeof(c->rule), "%s", rule_code(rule));
	c->severity = mon_rule_severity((size_t)rule);
	snprintf(c->key, sizeof(c->key), "%s|%s|%s%s%s", c->rule, h->dept, h->case_no,
		qualifier != NULL ? "|" : "", qualifier != NULL ? qualifier : "");
	c->since = since;
	return c;
}

void condition_evidence(struct mon_condition *c, const struct mon_case_event *ev)
{
	if (ev == NULL || c->evidence_count == MON_EVIDENCE_MAX)
		return;
	for (size_t i = 0; i < c->evidence_count; i++) {
		if (strcmp(c->evidence[i], ev->event->id) == 0)
			return;
	}
	snprintf(c->evidence[c->evidence_count++], sizeof(c->evidence[0]), "%s", ev->event->id);
}

void condition_message(struct mon_condition *c, const char *fmt, ...)
{
	char buf[2 * sizeof(c->message)];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		buf[0] = '\0';
	/* Messages carry step and kind codes: cut between characters, never inside one. */
	mon_text_copy_utf8(buf, strlen(buf), c->message, sizeof(c->message));
}

void next_check_offer(int64_t *next, int64_t now, int64_t candidate)
{
	if (candidate > now && candidate < *next)
		*next = candidate;
}

const char *unit_word(enum mon_unit unit)
{
	return unit == MON_UNIT_CALENDAR ? "calendar" : "working";
}

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

bool mon_case_evaluate(const struct mon_ruleset *rs, const struct mon_case_event *events,
		size_t count, int64_t now, struct mon_evaluation *out, struct mon_error *err)
{
	struct conditions list = { .items = NULL, .count = 0, .cap = 0, .failed = false };
	struct history h;

	memset(out, 0, sizeof(*out));
	if (!history_build(&h, rs, events, count, now, err))
		return false;
	state_init(&out->state, &h);
	ladder_evaluate(&h, &list, &out->state);
	checks_evaluate(&h, &list);
	next_check_offer(&out->state.next_check, now, h.future);
	history_finish(&h);
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

void mon_evaluation_finish(struct mon_evaluation *ev)
{
	if (ev == NULL)
		return;
	free(ev->conditions);
	memset(ev, 0, sizeof(*ev));
}
