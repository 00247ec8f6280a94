/* enforcement.c: the six prohibitions on enforcement against enterprises (六条禁令, seed 002
 * item 10) that the events can show: no inspection on an enterprise's quiet production day
 * (安静生产日), no repeated inspection by one department and no multi-department
 * inspection of one enterprise within a window (重复/多头检查: frequency rules, one alert
 * per burst, read across cases from the context events), no inspection without filing
 * (无备案执法) and no officer without a valid certificate (无证执法); and, from 行政处罚法
 * (2021) §42, no inspection by fewer than two officers (执法人员不得少于两人). */
#include "refdata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

enum {
	RULE_ENF_QUIET_DAY,
	RULE_ENF_REPEAT,
	RULE_ENF_MULTI_DEPT,
	RULE_ENF_NO_FILING,
	RULE_ENF_NO_CERT,
	RULE_ENF_SINGLE_OFFICER,
};

static const struct rule_def rules[] = {
	[RULE_ENF_QUIET_DAY] = { "ENF-QUIET-DAY", MON_SEVERITY_YELLOW },
	[RULE_ENF_REPEAT] = { "ENF-REPEAT", MON_SEVERITY_YELLOW },
	[RULE_ENF_MULTI_DEPT] = { "ENF-MULTI-DEPT", MON_SEVERITY_YELLOW },
	[RULE_ENF_NO_FILING] = { "ENF-NO-FILING", MON_SEVERITY_YELLOW },
	[RULE_ENF_NO_CERT] = { "ENF-NO-CERT", MON_SEVERITY_RED },
	[RULE_ENF_SINGLE_OFFICER] = { "ENF-SINGLE-OFFICER", MON_SEVERITY_YELLOW },
};

enum {
	PARAM_REPEAT_COUNT,
	PARAM_REPEAT_WINDOW_DAYS,
	PARAM_MULTI_DEPARTMENTS,
	PARAM_MULTI_WINDOW_DAYS,
	PARAM_MIN_OFFICERS,
};

static const struct param_def params[] = {
	[PARAM_REPEAT_COUNT] = { "repeat_count", 2, 2, 1000 },
	[PARAM_REPEAT_WINDOW_DAYS] = { "repeat_window_days", 30, 1, 3650 },
	[PARAM_MULTI_DEPARTMENTS] = { "multi_departments", 3, 2, 1000 },
	[PARAM_MULTI_WINDOW_DAYS] = { "multi_window_days", 30, 1, 3650 },
	[PARAM_MIN_OFFICERS] = { "min_officers", 2, 1, 50 },
};

const struct param_def *const param_repeat_window_days = &params[PARAM_REPEAT_WINDOW_DAYS];
const struct param_def *const param_multi_window_days = &params[PARAM_MULTI_WINDOW_DAYS];

#define SUBJECT_MAX (MON_SUBJECT_MAX + 1)
#define WHY_MAX 200

static void check_filing(const struct history *h, struct conditions *list,
		const struct mon_case_event *ce)
{
	struct mon_condition *c;

	if (json_object_get(ce->event->body, "filing") != NULL ||
			(c = condition_for_event(list, h, &rules[RULE_ENF_NO_FILING], ce)) == NULL)
		return;
	condition_message(c, "黄牌: 无备案执法 (inspection without a filing reference)");
}

static void check_quiet_day(const struct history *h, struct conditions *list,
		const struct mon_case_event *ce, const char *subject)
{
	const struct enterprise *e = enterprise_find(h->rs, subject);
	struct mon_condition *c;
	char date[16];
	int mday;

	if (e == NULL)
		return;
	mon_day_format(mon_day_of(ce->event->at), date, sizeof(date));
	mday = (date[8] - '0') * 10 + (date[9] - '0');
	if ((e->quiet_days & ((uint32_t)1 << mday)) == 0 ||
			(c = condition_for_event(list, h, &rules[RULE_ENF_QUIET_DAY], ce)) == NULL)
		return;
	condition_message(c, "黄牌: 安静生产日内执法 (%s %s inspected on %s, a quiet production "
		"day)", e->uscc, e->name, date);
}

/* Why an officer may not enforce on `day` for `dept`, or NULL when the certificate holds
 * (valid_to inclusive: a certificate is good through its last day). */
static const char *officer_fault(const struct mon_ruleset *rs, const char *dept,
		const char *id, const char *certificate, int32_t day, char *buf, size_t len)
{
	size_t n;
	const struct officer *rows = officers_of(rs, id, &n), *o = NULL;
	char date[16];

	for (size_t i = 0; i < n; i++) {
		if (strcmp(rows[i].certificate, certificate) == 0)
			o = &rows[i];
	}
	if (n == 0)
		return "not registered";
	if (o == NULL)
		return "certificate not theirs";
	if (strcmp(o->dept, dept) != 0) {
		snprintf(buf, len, "officer of %s", o->dept);
		return buf;
	}
	if (day >= o->valid_from && day <= o->valid_to)
		return NULL;
	mon_day_format(day < o->valid_from ? o->valid_from : o->valid_to, date, sizeof(date));
	snprintf(buf, len, day < o->valid_from ? "not valid before %s" : "expired %s", date);
	return buf;
}

static void check_officers(const struct history *h, struct conditions *list,
		const struct mon_case_event *ce)
{
	const json_t *officers = json_object_get(ce->event->body, "officers");
	int32_t day = mon_day_of(ce->event->at);
	char why[WHY_MAX], one[96];
	struct mon_condition *c;
	size_t used = 0, bad = 0;

	/* Without the officers' register there is nothing to judge by. */
	if (!table_has_rows(h->rs, TABLE_OFFICERS))
		return;
	why[0] = '\0';
	for (size_t i = 0; i < json_array_size(officers); i++) {
		const json_t *o = json_array_get(officers, i);
		const char *id = json_string_value(json_object_get(o, "id"));
		const char *cert = json_string_value(json_object_get(o, "certificate"));
		const char *fault = id != NULL && cert != NULL ?
			officer_fault(h->rs, ce->event->dept, id, cert, day, one, sizeof(one)) : NULL;
		if (fault == NULL)
			continue;
		if (bad++ < 3 && used < sizeof(why))
			used += (size_t)snprintf(why + used, sizeof(why) - used, "%s%s: %s",
				used > 0 ? "; " : "", id, fault);
	}
	if (bad == 0 || (c = condition_for_event(list, h, &rules[RULE_ENF_NO_CERT], ce)) == NULL)
		return;
	condition_message(c, "红牌: 无证执法 (%s%s)", why, bad > 3 ? "; ..." : "");
}

/* 行政处罚法 §42: at least min_officers (2) different officers; the same officer listed
 * twice is one. Whether their certificates are valid is ENF-NO-CERT's question. */
static void check_officer_count(const struct history *h, struct conditions *list,
		const struct mon_case_event *ce)
{
	const json_t *officers = json_object_get(ce->event->body, "officers");
	int min = ruleset_param(h->rs, &params[PARAM_MIN_OFFICERS]);
	size_t n = json_array_size(officers), distinct = 0;
	struct mon_condition *c;

	for (size_t i = 0; i < n; i++) {
		const char *id = json_string_value(json_object_get(json_array_get(officers, i), "id"));
		bool seen = false;

		for (size_t j = 0; j < i && !seen && id != NULL; j++) {
			const char *other = json_string_value(json_object_get(
				json_array_get(officers, j), "id"));
			seen = other != NULL && strcmp(id, other) == 0;
		}
		if (id != NULL && !seen)
			distinct++;
	}
	if (distinct >= (size_t)min ||
			(c = condition_for_event(list, h, &rules[RULE_ENF_SINGLE_OFFICER], ce)) == NULL)
		return;
	condition_message(c, "黄牌: 执法人员少于%d人 (%zu officer%s on the inspection)", min,
		distinct, distinct == 1 ? "" : "s");
}

/* The inspections of one enterprise (own and context), by (at, dept, id), each once. */
struct inspections {
	struct burst_item *items;
	size_t count;
};

static int cmp_item(const void *a, const void *b)
{
	const struct mon_event *x = ((const struct burst_item *)a)->ce->event;
	const struct mon_event *y = ((const struct burst_item *)b)->ce->event;
	int c;

	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	c = strcmp(x->dept, y->dept);
	return c != 0 ? c : strcmp(x->id, y->id);
}

static void collect(const struct mon_case_event *const *evs, size_t n, const char *subject,
		const char *dept, struct inspections *out)
{
	char s[SUBJECT_MAX];

	for (size_t i = 0; i < n; i++) {
		const struct mon_event *ev = evs[i]->event;
		if (ev->type != MON_EV_INSPECTION_STARTED || !mon_event_subject(ev, s, sizeof(s)) ||
				strcmp(s, subject) != 0 || (dept != NULL && strcmp(ev->dept, dept) != 0))
			continue;
		out->items[out->count].ce = evs[i];
		out->items[out->count++].day = mon_day_of(ev->at);
	}
}

/* Sorts, drops repeats of one (dept, id), and numbers the departments. */
static bool number_depts(struct inspections *in)
{
	size_t *firsts = calloc(in->count > 0 ? in->count : 1, sizeof(*firsts));
	size_t kept = 0, depts = 0;

	if (firsts == NULL)
		return false;
	if (in->count > 1)
		qsort(in->items, in->count, sizeof(in->items[0]), cmp_item);
	for (size_t i = 0; i < in->count; i++) {
		if (kept > 0 && cmp_item(&in->items[kept - 1], &in->items[i]) == 0)
			continue;
		in->items[kept++] = in->items[i];
	}
	in->count = kept;
	/* firsts[d]: the first item of department d; an enterprise sees few departments. */
	for (size_t i = 0; i < in->count; i++) {
		const char *dept = in->items[i].ce->event->dept;
		size_t d = 0;
		while (d < depts && strcmp(in->items[firsts[d]].ce->event->dept, dept) != 0)
			d++;
		if (d == depts)
			firsts[depts++] = i;
		in->items[i].dept = d;
	}
	free(firsts);
	return true;
}

/* The departments of a burst, for its message: the first few, in order of appearance. */
static size_t burst_depts(const struct inspections *in, const struct burst *b, char *buf,
		size_t len)
{
	size_t used = 0, n = 0;

	buf[0] = '\0';
	for (size_t i = b->first; i <= b->last; i++) {
		bool seen = false;
		for (size_t j = b->first; j < i && !seen; j++)
			seen = in->items[j].dept == in->items[i].dept;
		if (seen)
			continue;
		if (n++ < 4 && used < len)
			used += (size_t)snprintf(buf + used, len - used, "%s%s", n > 1 ? ", " : "",
				in->items[i].ce->event->dept);
	}
	return n;
}

static void emit_burst(const struct history *h, struct conditions *list, bool multi,
		const char *subject, const struct inspections *in, const struct burst *b)
{
	const struct mon_event *anchor = in->items[b->first].ce->event;
	const struct rule_def *rule = &rules[multi ? RULE_ENF_MULTI_DEPT : RULE_ENF_REPEAT];
	int days = ruleset_param(h->rs, &params[multi ? PARAM_MULTI_WINDOW_DAYS : PARAM_REPEAT_WINDOW_DAYS]);
	char key[MON_KEY_MAX], date[16], depts[WHY_MAX];
	struct mon_condition *c;
	size_t n;

	/* The same key from every case of the burst: its subject and first inspection. */
	snprintf(key, sizeof(key), "%s|%s|%s|%s", rule->code, subject, anchor->dept,
		anchor->id);
	if ((c = conditions_add_keyed(list, h, rule, key, b->since)) == NULL)
		return;
	mon_day_format(mon_day_of(anchor->at), date, sizeof(date));
	n = burst_depts(in, b, depts, sizeof(depts));
	if (multi)
		condition_message(c, "黄牌: 多头检查 (%s inspected by %zu departments within %d "
			"days from %s: %s%s)", subject, n, days, date, depts, n > 4 ? ", ..." : "");
	else
		condition_message(c, "黄牌: 重复检查 (%s inspected %zu times by %s, windows of %d "
			"days from %s)", subject, b->last - b->first + 1, anchor->dept, days, date);
	for (size_t i = b->first; i <= b->last; i++)
		condition_evidence(c, in->items[i].ce);
}

/* 重复检查 (one department, multi = false) or 多头检查 (several): the burst, if any, that the
 * case's inspection `ce` belongs to. */
static void check_burst(const struct history *h, struct conditions *list,
		const struct mon_case_event *ce, const char *subject, bool multi)
{
	size_t room = h->count + h->context_count, found = 0;
	struct inspections in = { .items = calloc(room, sizeof(*in.items)), .count = 0 };
	struct burst *bursts = calloc(room, sizeof(*bursts));
	struct burst_item self = { .ce = ce };
	bool ok = in.items != NULL && bursts != NULL;

	if (ok) {
		collect(h->events, h->count, subject, multi ? NULL : ce->event->dept, &in);
		collect(h->context, h->context_count, subject, multi ? NULL : ce->event->dept, &in);
		ok = number_depts(&in) && bursts_find(in.items, in.count, ruleset_param(h->rs,
			&params[multi ? PARAM_MULTI_WINDOW_DAYS : PARAM_REPEAT_WINDOW_DAYS]), ruleset_param(h->rs,
			&params[multi ? PARAM_MULTI_DEPARTMENTS : PARAM_REPEAT_COUNT]), multi, bursts, &found);
	}
	for (size_t b = 0; ok && b < found; b++) {
		for (size_t i = bursts[b].first; i <= bursts[b].last; i++) {
			if (cmp_item(&in.items[i], &self) == 0)
				emit_burst(h, list, multi, subject, &in, &bursts[b]);
		}
	}
	if (!ok)
		list->failed = true;
	free(in.items);
	free(bursts);
}

static void enforcement_evaluate(const struct history *h, struct conditions *list,
		struct mon_case_state *state)
{
	(void)state;   /* no time-based rule here */
	char subject[SUBJECT_MAX];

	for (size_t i = 0; i < h->count; i++) {
		const struct mon_case_event *ce = h->events[i];
		if (ce->event->type != MON_EV_INSPECTION_STARTED)
			continue;
		check_filing(h, list, ce);
		check_officers(h, list, ce);
		check_officer_count(h, list, ce);
		if (!mon_event_subject(ce->event, subject, sizeof(subject)))
			continue;
		check_quiet_day(h, list, ce, subject);
		if (rule_enabled(h->rs, &rules[RULE_ENF_REPEAT]))
			check_burst(h, list, ce, subject, false);
		if (rule_enabled(h->rs, &rules[RULE_ENF_MULTI_DEPT]))
			check_burst(h, list, ce, subject, true);
	}
}

const struct rule_family enforcement_family = {
	.name = "enforcement",
	.rules = rules,
	.rule_count = sizeof(rules) / sizeof(rules[0]),
	.params = params,
	.param_count = sizeof(params) / sizeof(params[0]),
	.evaluate = enforcement_evaluate,
};
