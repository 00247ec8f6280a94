/* conditions.c: the condition list every family adds to: one condition per dedup key,
 * its evidence (event ids, at most MON_EVIDENCE_MAX, each once), its message cut between
 * UTF-8 characters, and the earliest future check a time-based rule offers. */
#include "engine.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

#define CONDITIONS_MAX 4096   /* per case; beyond it the rest would only repeat */

struct mon_condition *conditions_add_keyed(struct conditions *list, const struct history *h,
		const struct rule_def *rule, const char *key, int64_t since)
{
	struct mon_condition *c;

	if (!rule_enabled(h->rs, rule) || list->failed || list->count == CONDITIONS_MAX)
		return NULL;
	for (size_t i = 0; i < list->count; i++) {
		if (strcmp(list->items[i].key, key) == 0)
			return NULL;
	}
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
	snprintf(c->rule, sizeof(c->rule), "%s", rule->code);
	c->severity = rule->severity;
	snprintf(c->key, sizeof(c->key), "%s", key);
	c->since = since;
	return c;
}

struct mon_condition *conditions_add(struct conditions *list, const struct history *h,
		const struct rule_def *rule, const char *qualifier, int64_t since)
{
	char key[MON_KEY_MAX];

	snprintf(key, sizeof(key), "%s|%s|%s%s%s", rule->code, h->dept, h->case_no,
		qualifier != NULL ? "|" : "", qualifier != NULL ? qualifier : "");
	return conditions_add_keyed(list, h, rule, key, since);
}

struct mon_condition *condition_for_event(struct conditions *list, const struct history *h,
		const struct rule_def *rule, const struct mon_case_event *ce)
{
	struct mon_condition *c = conditions_add(list, h, rule, ce->event->id, ce->event->at);

	if (c != NULL)
		condition_evidence(c, ce);
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

void condition_evidence_id(struct mon_condition *c, const char *id)
{
	if (c->evidence_count == MON_EVIDENCE_MAX || id == NULL || strlen(id) > MON_ID_MAX)
		return;
	for (size_t i = 0; i < c->evidence_count; i++) {
		if (strcmp(c->evidence[i], id) == 0)
			return;
	}
	snprintf(c->evidence[c->evidence_count++], sizeof(c->evidence[0]), "%s", id);
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

void condition_supersedes(struct mon_condition *c, const struct rule_def *lower)
{
	snprintf(c->supersedes, sizeof(c->supersedes), "%s", lower->code);
}
