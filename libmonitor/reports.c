/* reports.c: the refusal report (不批准报告制度, seed 002 item 14). A denial, an intake
 * refusal, or a case that cannot be done in time (缓批, approval.delay_reported) is reported
 * in writing to the next level up from whoever refused — 科室 → 分管领导 → 主要领导 →
 * 主管领导 → 党委、政府主要领导 — with its reason and a proposed solution (可行性解决建议);
 * a refusal by the 主要领导 is also filed with the 市优化办. A case past its committed
 * deadline must have been reported by then. Each rule looks at the replayed history only;
 * the deadline is the ladder's (ladder_committed_end), not a second count. */
#include "engine.h"

#include <string.h>

#include "refdata.h"

enum {
	RULE_REFUSAL_NO_REASON,
	RULE_REFUSAL_NO_REPORT,
	RULE_REPORT_WRONG_LEVEL,
	RULE_REPORT_NO_SOLUTION,
	RULE_REPORT_NOT_FILED,
	RULE_DELAY_UNREPORTED,
};

static const struct rule_def rules[] = {
	[RULE_REFUSAL_NO_REASON] = { "APR-REFUSAL-NO-REASON", MON_SEVERITY_YELLOW },
	[RULE_REFUSAL_NO_REPORT] = { "APR-REFUSAL-NO-REPORT", MON_SEVERITY_YELLOW },
	[RULE_REPORT_WRONG_LEVEL] = { "APR-REPORT-WRONG-LEVEL", MON_SEVERITY_YELLOW },
	[RULE_REPORT_NO_SOLUTION] = { "APR-REPORT-NO-SOLUTION", MON_SEVERITY_YELLOW },
	[RULE_REPORT_NOT_FILED] = { "APR-REPORT-NOT-FILED", MON_SEVERITY_YELLOW },
	[RULE_DELAY_UNREPORTED] = { "APR-DELAY-UNREPORTED", MON_SEVERITY_YELLOW },
};

/* The levels, from the bottom up, as event.c spells them on the wire. */
enum level {
	LEVEL_NONE = -1,             /* not given (a feed from before the levels) */
	LEVEL_SECTION,               /* 科室 */
	LEVEL_DEPUTY_HEAD,           /* 分管领导 */
	LEVEL_HEAD,                  /* 主要领导 */
	LEVEL_SUPERIOR,              /* 主管领导 (of the organ) */
	LEVEL_PARTY_GOVERNMENT,      /* 党委、政府主要领导: nothing above */
	LEVEL__COUNT
};

static const char *const level_names[LEVEL__COUNT] = { "section", "deputy_head", "head",
	"superior", "party_government" };

/* The 市优化办's code in filing_offices (the seed's default table and the sample's). */
#define OPTIMISATION_OFFICE "youhuaban"

static enum level level_of(const struct mon_case_event *ce, const char *field)
{
	const char *s = event_string(ce, field);

	for (int i = 0; s != NULL && i < LEVEL__COUNT; i++) {
		if (strcmp(s, level_names[i]) == 0)
			return (enum level)i;
	}
	return LEVEL_NONE;
}

/* One report to judge: the refusal that closed the case, or one delay report. */
struct report {
	const struct mon_case_event *ce;
	const char *what;            /* "denial", "intake refusal", "delay report" */
	const char *qualifier;       /* of the key: NULL for the refusal, the delay report's id */
	enum level by;
	enum level to;
};

static struct mon_condition *report_condition(const struct history *h, struct conditions *list,
		int rule, const struct report *r)
{
	struct mon_condition *c = conditions_add(list, h, &rules[rule], r->qualifier,
		r->ce->event->at);

	if (c != NULL)
		condition_evidence(c, r->ce);
	return c;
}

/* Reported to the level right above whoever refused; the top has none above it, and a
 * report without both levels (an older feed) has nothing to judge. */
static void check_level(const struct history *h, struct conditions *list,
		const struct report *r)
{
	struct mon_condition *c;

	if (r->by == LEVEL_NONE || r->to == LEVEL_NONE || r->by == LEVEL_PARTY_GOVERNMENT ||
			r->to == r->by + 1)
		return;
	c = report_condition(h, list, RULE_REPORT_WRONG_LEVEL, r);
	if (c != NULL)
		condition_message(c, "黄牌: 未向上一级报告 (%s by %s reported to %s, due to %s)",
			r->what, level_names[r->by], level_names[r->to], level_names[r->by + 1]);
}

/* 提出可行性解决建议: every refusal and delay report proposes a way forward. */
static void check_solution(const struct history *h, struct conditions *list,
		const struct report *r)
{
	struct mon_condition *c;

	if (event_string(r->ce, "solution") != NULL)
		return;
	c = report_condition(h, list, RULE_REPORT_NO_SOLUTION, r);
	if (c != NULL)
		condition_message(c, "黄牌: 未提出可行性解决建议 (%s without a proposed solution)",
			r->what);
}

/* 主要领导不批准的事项，要向市优化办予以备案: the refusal carries its filing there. */
static void check_filed(const struct history *h, struct conditions *list,
		const struct report *r)
{
	const json_t *filing = json_object_get(r->ce->event->body, "filing");
	const char *office = json_string_value(json_object_get(filing, "office"));
	const struct filing_office *want = filing_office_find(h->rs, OPTIMISATION_OFFICE);
	const char *name = want != NULL ? want->name : "市优化办";
	struct mon_condition *c;

	if (r->by != LEVEL_HEAD || (office != NULL && strcmp(office, OPTIMISATION_OFFICE) == 0))
		return;
	c = report_condition(h, list, RULE_REPORT_NOT_FILED, r);
	if (c == NULL)
		return;
	if (office == NULL)
		condition_message(c, "黄牌: 主要领导不批准未向市优化办备案 (%s by head not filed with "
			"%s %s)", r->what, OPTIMISATION_OFFICE, name);
	else
		condition_message(c, "黄牌: 主要领导不批准未向市优化办备案 (%s by head filed with %s, "
			"due with %s %s)", r->what, office, OPTIMISATION_OFFICE, name);
}

/* The closing denial or intake refusal: its reason and report (the first rules of the
 * refusal report, unchanged), the level it went to, its solution and the head's filing. */
static void check_refusal(const struct history *h, struct conditions *list)
{
	const struct mon_case_event *ce = h->closed;
	const char *result;
	struct mon_condition *c;
	struct report r;

	if (ce == NULL || ce->event->type == MON_EV_APPROVAL_WITHDRAWN)
		return;
	result = event_string(ce, "result");
	if (ce->event->type == MON_EV_APPROVAL_DECIDED && (result == NULL ||
			strcmp(result, "denied") != 0))
		return;
	r.ce = ce;
	r.what = ce->event->type == MON_EV_APPROVAL_DECIDED ? "denial" : "intake refusal";
	r.qualifier = NULL;
	r.by = level_of(ce, "refused_by");
	r.to = level_of(ce, "report_to");
	if (event_string(ce, "reason") == NULL &&
			(c = report_condition(h, list, RULE_REFUSAL_NO_REASON, &r)) != NULL)
		condition_message(c, "黄牌: 不予许可未说明理由 (%s without reason)", r.what);
	if (event_string(ce, "report") == NULL &&
			(c = report_condition(h, list, RULE_REFUSAL_NO_REPORT, &r)) != NULL)
		condition_message(c, "黄牌: 不批准未报告 (%s without refusal report)", r.what);
	check_level(h, list, &r);
	check_solution(h, list, &r);
	check_filed(h, list, &r);
}

/* Each delay report (缓批报告) goes one level up and proposes a solution. */
static void check_delay_reports(const struct history *h, struct conditions *list)
{
	for (size_t i = 0; i < h->count; i++) {
		const struct mon_case_event *ce = h->events[i];
		struct report r;

		if (ce->event->type != MON_EV_APPROVAL_DELAY_REPORTED)
			continue;
		r.ce = ce;
		r.what = "delay report";
		r.qualifier = ce->event->id;
		r.by = level_of(ce, "by");
		r.to = level_of(ce, "report_to");
		check_level(h, list, &r);
		check_solution(h, list, &r);
	}
}

/* The card for a case past its committed deadline `end` without a delay report by then;
 * `late` delay reports came after it. */
static void emit_delay_unreported(const struct history *h, struct conditions *list,
		int64_t end, size_t late)
{
	struct mon_condition *c = conditions_add(list, h, &rules[RULE_DELAY_UNREPORTED], NULL,
		end + 1);
	char date[16];

	if (c == NULL)
		return;
	mon_day_format(mon_day_of(end - 1), date, sizeof(date));
	if (late > 0)
		condition_message(c, "黄牌: 不能按时办结未按时报告 (committed deadline %s, the delay "
			"report came after it)", date);
	else if (h->closed == NULL)
		condition_message(c, "黄牌: 不能按时办结未按时报告 (committed deadline %s passed "
			"without a delay report)", date);
	else
		condition_message(c, "黄牌: 不能按时办结未按时报告 (closed after the committed deadline "
			"%s without a delay report)", date);
	/* The event the clock runs from: the acceptance, or the receipt §32 deems accepted (a
	 * condition needs evidence of its own case: esup_apply_evaluation refuses one without). */
	condition_evidence(c, h->clock_from);
	for (size_t i = 0; i < h->count; i++) {
		if (h->events[i]->event->type == MON_EV_APPROVAL_DELAY_REPORTED)
			condition_evidence(c, h->events[i]);
	}
	condition_evidence(c, h->closed);
}

/* 不能在规定时间内办理: a case past its committed deadline (still open after it, or closed
 * after it) must have been reported by then (a delay report at or before the deadline). The
 * report does not stop or move the clock: the ladder's cards stand beside this one. */
static void check_delay_unreported(const struct history *h, struct conditions *list,
		int64_t *next)
{
	int64_t end = ladder_committed_end(h);
	size_t late = 0;

	if (end == NEVER)
		return;
	for (size_t i = 0; i < h->count; i++) {
		const struct mon_case_event *ce = h->events[i];
		if (ce->event->type != MON_EV_APPROVAL_DELAY_REPORTED)
			continue;
		if (ce->event->at <= end)
			return;              /* reported in time */
		late++;
	}
	if (history_end(h) > end)
		emit_delay_unreported(h, list, end, late);
	else if (h->closed == NULL)
		next_check_offer(next, h->now, end + 1);
}

static void reports_evaluate(const struct history *h, struct conditions *list,
		struct mon_case_state *state)
{
	check_refusal(h, list);
	check_delay_reports(h, list);
	check_delay_unreported(h, list, &state->next_check);
}

const struct rule_family reports_family = {
	.name = "refusal report",
	.rules = rules,
	.rule_count = sizeof(rules) / sizeof(rules[0]),
	.params = NULL,
	.param_count = 0,
	.evaluate = reports_evaluate,
};
