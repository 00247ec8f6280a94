/* checks.c: the procedural rules of an approval case: the §32 supplement notice (within 5
 * working days, all at once), extensions (§42: approved, at most 10 days), the order of
 * events, per-step limits, late reporting and items missing from the catalogue. Each looks
 * at the replayed history only. The refusal report (不批准报告制度) is reports.c's. */
#include "engine.h"

#include <stdio.h>

enum {
	RULE_SUPPLEMENT_LATE,
	RULE_SUPPLEMENT_REPEAT,
	RULE_EXTENSION_UNAPPROVED,
	RULE_EXTENSION_EXCESS,
	RULE_ORDER_DECIDED_UNACCEPTED,
	RULE_ORDER_STEP_AFTER_DECISION,
	RULE_ORDER_RESUME_UNSUSPENDED,
	RULE_STEP_LIMIT,
	RULE_LATE_REPORT,
	RULE_ITEM_UNKNOWN,
};

static const struct rule_def rules[] = {
	[RULE_SUPPLEMENT_LATE] = { "APR-SUPPLEMENT-LATE", MON_SEVERITY_YELLOW },
	[RULE_SUPPLEMENT_REPEAT] = { "APR-SUPPLEMENT-REPEAT", MON_SEVERITY_YELLOW },
	[RULE_EXTENSION_UNAPPROVED] = { "APR-EXTENSION-UNAPPROVED", MON_SEVERITY_YELLOW },
	[RULE_EXTENSION_EXCESS] = { "APR-EXTENSION-EXCESS", MON_SEVERITY_YELLOW },
	[RULE_ORDER_DECIDED_UNACCEPTED] = { "APR-ORDER-DECIDED-UNACCEPTED", MON_SEVERITY_YELLOW },
	[RULE_ORDER_STEP_AFTER_DECISION] = { "APR-ORDER-STEP-AFTER-DECISION", MON_SEVERITY_YELLOW },
	[RULE_ORDER_RESUME_UNSUSPENDED] = { "APR-ORDER-RESUME-UNSUSPENDED", MON_SEVERITY_YELLOW },
	[RULE_STEP_LIMIT] = { "APR-STEP-LIMIT", MON_SEVERITY_YELLOW },
	[RULE_LATE_REPORT] = { "APR-LATE-REPORT", MON_SEVERITY_NOTICE },
	[RULE_ITEM_UNKNOWN] = { "APR-ITEM-UNKNOWN", MON_SEVERITY_NOTICE },
};

enum {
	PARAM_SUPPLEMENT_DAYS,
	PARAM_EXTENSION_MAX_DAYS,
	PARAM_LATE_REPORT_HOURS,
};

static const struct param_def params[] = {
	[PARAM_SUPPLEMENT_DAYS] = { "supplement_days", 5, 1, 3650 },
	[PARAM_EXTENSION_MAX_DAYS] = { "extension_max_days", 10, 0, 3650 },
	[PARAM_LATE_REPORT_HOURS] = { "late_report_hours", 24, 1, 87600 },
};

const struct param_def *const param_late_report_hours = &params[PARAM_LATE_REPORT_HOURS];
const struct param_def *const param_extension_max_days = &params[PARAM_EXTENSION_MAX_DAYS];
const struct param_def *const param_supplement_days = &params[PARAM_SUPPLEMENT_DAYS];

/* §32: what is missing is told within 5 working days of receipt. */
static void check_supplement_late(const struct history *h, const struct mon_case_event *first,
		struct conditions *list)
{
	int days = ruleset_param(h->rs, &params[PARAM_SUPPLEMENT_DAYS]);
	struct mon_condition *c;
	struct clock working;
	char date[16];
	int32_t last;

	clock_init_working(&working, h->rs);
	last = clock_nth(&working, mon_day_of(h->received->event->at), days);
	if (last < 0 || first->event->at <= mon_day_end(last))
		return;
	c = conditions_add(list, h, &rules[RULE_SUPPLEMENT_LATE], NULL, first->event->at);
	if (c == NULL)
		return;
	mon_day_format(last, date, sizeof(date));
	condition_message(c, "黄牌: 补正告知超过%d个工作日 (supplement notice due by %s)", days,
		date);
	condition_evidence(c, h->received);
	condition_evidence(c, first);
}

/* 一次性告知: everything missing is told at once, so a second notice is itself a fault. */
static void check_supplements(const struct history *h, struct conditions *list)
{
	const struct mon_case_event *first = NULL;
	struct mon_condition *rep = NULL;
	size_t n = 0;

	for (size_t i = 0; i < h->count; i++) {
		const struct mon_case_event *ce = h->events[i];
		if (ce->event->type != MON_EV_APPROVAL_SUPPLEMENT_REQUESTED ||
				(h->marks[i] & MARK_AFTER_CLOSE))
			continue;
		if (++n == 1) {
			first = ce;
		} else if (n == 2) {
			rep = conditions_add(list, h, &rules[RULE_SUPPLEMENT_REPEAT], NULL, ce->event->at);
			if (rep != NULL)
				condition_evidence(rep, first);
		}
		if (rep != NULL)
			condition_evidence(rep, ce);
	}
	if (rep != NULL)
		condition_message(rep, "黄牌: 补正材料未一次性告知 (%zu supplement notices)", n);
	if (first != NULL && h->received != NULL)
		check_supplement_late(h, first, list);
}

static void check_extensions(const struct history *h, struct conditions *list)
{
	int max = ruleset_param(h->rs, &params[PARAM_EXTENSION_MAX_DAYS]), total = 0;
	const struct mon_case_event *crossing = NULL;
	struct mon_condition *c;

	for (size_t i = 0; i < h->ext_count; i++) {
		const struct extension *e = &h->ext[i];
		total += e->days;
		if (total > max && crossing == NULL)
			crossing = e->ev;
		if (e->approved)
			continue;
		c = conditions_add(list, h, &rules[RULE_EXTENSION_UNAPPROVED], e->ev->event->id,
			e->ev->event->at);
		if (c != NULL) {
			condition_message(c, "黄牌: 延期未经负责人批准 (extension of %d days without "
				"approver)", e->days);
			condition_evidence(c, e->ev);
		}
	}
	if (crossing == NULL ||
			(c = conditions_add(list, h, &rules[RULE_EXTENSION_EXCESS], NULL, crossing->event->at)) == NULL)
		return;
	condition_message(c, "黄牌: 延期超过法定上限 (extended %d days in all, at most %d)", total, max);
	for (size_t i = 0; i < h->ext_count; i++)
		condition_evidence(c, h->ext[i].ev);
}

static void check_order(const struct history *h, struct conditions *list)
{
	const struct mon_case_event *ce = h->closed;
	struct mon_condition *c;

	if (ce != NULL && ce->event->type == MON_EV_APPROVAL_DECIDED && h->clock_from == NULL &&
			(c = conditions_add(list, h, &rules[RULE_ORDER_DECIDED_UNACCEPTED], NULL,
				ce->event->at)) != NULL) {
		condition_message(c, "黄牌: 未受理即作出决定 (decided before acceptance)");
		condition_evidence(c, ce);
	}
	for (size_t i = 0; i < h->count; i++) {
		ce = h->events[i];
		if (h->marks[i] & MARK_AFTER_CLOSE) {
			c = conditions_add(list, h, &rules[RULE_ORDER_STEP_AFTER_DECISION], ce->event->id,
				ce->event->at);
			if (c != NULL) {
				condition_message(c, "黄牌: 办结后仍有办理环节 (%s after the case was "
					"closed)", mon_event_type_name(ce->event->type));
				condition_evidence(c, h->closed);
				condition_evidence(c, ce);
			}
		}
		if ((h->marks[i] & MARK_STRAY_RESUME) &&
				(c = conditions_add(list, h, &rules[RULE_ORDER_RESUME_UNSUSPENDED], ce->event->id,
					ce->event->at)) != NULL) {
			condition_message(c, "黄牌: 未中止即恢复 (resumed while not suspended)");
			condition_evidence(c, ce);
		}
	}
}

/* One step against its limit: counted like the clock from the previous step (or the
 * acceptance), so a suspension in between does not count against the step. */
static void check_step(const struct history *h, const struct mon_case_event *prev,
		const struct mon_case_event *ce, struct conditions *list)
{
	const char *step = event_string(ce, "step");
	int limit = step != NULL ? item_step_days(h->item, step) : 0;
	int32_t from = mon_day_of(prev->event->at), last;
	struct mon_condition *c;
	struct clock clk;
	int used, suspended;

	if (limit <= 0)
		return;
	clock_init(&clk, h, true);
	last = clock_nth(&clk, from, limit);
	if (last < 0 || ce->event->at <= mon_day_end(last))
		return;
	c = conditions_add(list, h, &rules[RULE_STEP_LIMIT], ce->event->id, ce->event->at);
	if (c == NULL)
		return;
	clock_count(&clk, from, mon_day_of(ce->event->at), &used, &suspended);
	condition_message(c, "黄牌: 环节超时 (step %s took %d %s days, limit %d)", step, used,
		unit_word(h->unit), limit);
	condition_evidence(c, prev);
	condition_evidence(c, ce);
}

static void check_steps(const struct history *h, struct conditions *list)
{
	const struct mon_case_event *prev = h->clock_from;

	if (h->item == NULL || h->item->step_count == 0 || prev == NULL)
		return;
	for (size_t i = 0; i < h->count; i++) {
		const struct mon_case_event *ce = h->events[i];
		if (ce->event->type != MON_EV_APPROVAL_STEP || (h->marks[i] & MARK_AFTER_CLOSE) ||
				ce->event->at < h->clock_from->event->at)
			continue;
		check_step(h, prev, ce, list);
		prev = ce;
	}
}

/* One condition per case, not per event: late reporting is a habit of the sender, and a
 * supervisor wants it once, with the late events as evidence. */
static void check_late_reports(const struct history *h, struct conditions *list)
{
	int64_t limit = (int64_t)ruleset_param(h->rs, &params[PARAM_LATE_REPORT_HOURS]) * 3600;
	struct mon_condition *c = NULL;
	size_t late = 0;
	long long worst = 0;

	for (size_t i = 0; i < h->count; i++) {
		const struct mon_case_event *ce = h->events[i];
		long long hours;

		/* received_at comes from the caller: compare without subtracting it. */
		if (!event_is_approval(ce->event) || ce->received_at <= ce->event->at + limit)
			continue;
		if (c == NULL && (c = conditions_add(list, h, &rules[RULE_LATE_REPORT], NULL, ce->received_at)) == NULL)
			return;
		hours = (long long)(ce->received_at / 3600 - ce->event->at / 3600);
		if (hours > worst)
			worst = hours;
		late++;
		condition_evidence(c, ce);
	}
	if (c != NULL)
		condition_message(c, "预警: 数据迟报 (%zu event%s reported more than %lld hours late, "
			"the latest %lld hours)", late, late == 1 ? "" : "s", (long long)(limit / 3600),
			worst);
}

static void check_item(const struct history *h, struct conditions *list)
{
	const struct mon_case_event *ce = h->accepted != NULL ? h->accepted : h->received;
	struct mon_condition *c;

	if (ce == NULL || h->item != NULL || h->item_code[0] == '\0')
		return;
	c = conditions_add(list, h, &rules[RULE_ITEM_UNKNOWN], NULL, ce->event->at);
	if (c == NULL)
		return;
	condition_message(c, "预警: 事项不在目录, 无法监控时限 (item %s not in the catalogue of %s)",
		h->item_code, h->dept);
	condition_evidence(c, ce);
}

static void checks_evaluate(const struct history *h, struct conditions *list,
		struct mon_case_state *state)
{
	(void)state;   /* no time-based rule here */
	check_supplements(h, list);
	check_extensions(h, list);
	check_order(h, list);
	check_steps(h, list);
	check_late_reports(h, list);
	check_item(h, list);
}

const struct rule_family checks_family = {
	.name = "approval procedure",
	.rules = rules,
	.rule_count = sizeof(rules) / sizeof(rules[0]),
	.params = params,
	.param_count = sizeof(params) / sizeof(params[0]),
	.evaluate = checks_evaluate,
};
