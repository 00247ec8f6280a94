/* service.c: complaints, first inquiries (首问负责, seed 002 item 13) and satisfaction
 * evaluations (即办即评, item 17). A complaint runs a ladder like an approval's: a notice
 * before each limit, yellow when the reply is late, red when the closure is late (it
 * supersedes the yellow); an inquiry is answered within its working day(s); an unsatisfied
 * evaluation opens a rectification that evaluation.rectified must close in time. All
 * limits count plain working days from the day the matter arrived. */
#include "engine.h"

#include <stdio.h>
#include <string.h>

enum service_rule {
	RULE_CMP_DEADLINE_NOTICE,
	RULE_CMP_REPLY_LATE,
	RULE_CMP_CLOSE_LATE,
	RULE_CMP_INQUIRY_LATE,
	RULE_CMP_UNSATISFIED,
	RULE_CMP_RECTIFY_LATE,
};

static const struct rule_def rules[] = {
	[RULE_CMP_DEADLINE_NOTICE] = { "CMP-DEADLINE-NOTICE", MON_SEVERITY_NOTICE },
	[RULE_CMP_REPLY_LATE] = { "CMP-REPLY-LATE", MON_SEVERITY_YELLOW },
	[RULE_CMP_CLOSE_LATE] = { "CMP-CLOSE-LATE", MON_SEVERITY_RED },
	[RULE_CMP_INQUIRY_LATE] = { "CMP-INQUIRY-LATE", MON_SEVERITY_YELLOW },
	[RULE_CMP_UNSATISFIED] = { "CMP-UNSATISFIED", MON_SEVERITY_NOTICE },
	[RULE_CMP_RECTIFY_LATE] = { "CMP-RECTIFY-LATE", MON_SEVERITY_YELLOW },
};

enum {
	PARAM_COMPLAINT_REPLY_DAYS,
	PARAM_COMPLAINT_CLOSE_DAYS,
	PARAM_INQUIRY_DAYS,
	PARAM_RECTIFY_DAYS,
};

static const struct param_def params[] = {
	[PARAM_COMPLAINT_REPLY_DAYS] = { "complaint_reply_days", 5, 1, 3650 },
	[PARAM_COMPLAINT_CLOSE_DAYS] = { "complaint_close_days", 15, 1, 3650 },
	[PARAM_INQUIRY_DAYS] = { "inquiry_days", 1, 1, 3650 },
	[PARAM_RECTIFY_DAYS] = { "rectify_days", 15, 1, 3650 },
};

static int64_t after(int64_t t)
{
	return t == NEVER ? NEVER : t + 1;
}

/* The first event of `type` at or after `from`, or NULL. */
static const struct mon_case_event *first_after(const struct history *h,
		enum mon_event_type type, int64_t from)
{
	for (size_t i = 0; i < h->count; i++) {
		if (h->events[i]->event->type == type && h->events[i]->event->at >= from)
			return h->events[i];
	}
	return NULL;
}

static const struct mon_case_event *first_of(const struct history *h, enum mon_event_type type)
{
	return first_after(h, type, INT64_MIN);
}

/* One limit of a complaint: when it falls due and when its notice begins. */
struct limit {
	int days;
	int64_t due;                 /* 24:00 of the last day; NEVER when out of reach */
	int64_t notice;              /* the notice holds after this; NEVER for none */
	const struct mon_case_event *done;   /* the event that met it, or NULL */
};

static void limit_init(struct limit *l, const struct history *h, int64_t from, int days,
		const struct mon_case_event *done)
{
	l->days = days;
	l->due = working_deadline(h->rs, from, days);
	l->notice = working_notice_start(h->rs, from, days, ruleset_param(h->rs, param_warn_days));
	l->done = done;
}

static bool limit_missed(const struct limit *l, int64_t now)
{
	return l->due != NEVER && (l->done != NULL ? l->done->event->at : now) > l->due;
}

static void complaint_emit(const struct history *h, struct conditions *list, enum service_rule rule,
		const char *qualifier, const struct limit *l, const struct mon_case_event *received)
{
	int64_t since = rule == RULE_CMP_DEADLINE_NOTICE ? l->notice + 1 : l->due + 1;
	struct mon_condition *c = conditions_add(list, h, &rules[rule], qualifier, since);
	char date[16];

	if (c == NULL)
		return;
	mon_day_format(mon_day_of(l->due - 1), date, sizeof(date));
	if (rule == RULE_CMP_CLOSE_LATE) {
		condition_supersedes(c, &rules[RULE_CMP_REPLY_LATE]);
		condition_message(c, "红牌: 投诉逾期未办结 (%s: closure due by %s, %d working days)",
			l->done != NULL ? "closed late" : "still open", date, l->days);
	} else if (rule == RULE_CMP_REPLY_LATE) {
		condition_supersedes(c, &rules[RULE_CMP_DEADLINE_NOTICE]);
		condition_message(c, "黄牌: 投诉逾期未答复 (%s: reply due by %s, %d working days)",
			l->done != NULL ? "replied late" : "no reply", date, l->days);
	} else {
		condition_message(c, "预警: 投诉%s时限将至 (due by %s)",
			strcmp(qualifier, "reply") == 0 ? "答复" : "办结", date);
	}
	condition_evidence(c, received);
	condition_evidence(c, l->done);
}

/* What the case shows of its limits: the first (reply, answer) as committed, the last
 * (closure) as statutory, and the working days counted so far. */
static void state_limits(const struct history *h, struct mon_case_state *st,
		const struct mon_case_event *from, const struct mon_case_event *end,
		const struct limit *first, const struct limit *last)
{
	struct clock working;
	int suspended;

	st->committed_days = first->days;
	st->statutory_days = last->days;
	st->committed_day = first->due != NEVER ? mon_day_of(first->due - 1) : -1;
	st->statutory_day = last->due != NEVER ? mon_day_of(last->due - 1) : -1;
	clock_init_working(&working, h->rs);
	clock_count(&working, mon_day_of(from->event->at),
		mon_day_of(end != NULL ? end->event->at : h->now), &st->counted_days, &suspended);
}

/* A limit's fact: false once missed (done late, or due and not done), true when done in
 * time, NULL while it may still be met. */
static enum mon_tristate limit_on_time(const struct limit *l, int64_t now)
{
	if (limit_missed(l, now))
		return MON_TRI_FALSE;
	return l->done != NULL ? MON_TRI_TRUE : MON_TRI_NULL;
}

/* A complaint case's facts, judged by the limits its rules judge by. */
static void complaint_facts(const struct history *h, const struct mon_case_event *received,
		const struct limit *reply, const struct limit *close, struct mon_case_facts *f)
{
	if (f->kind != MON_KIND_COMPLAINT)
		return;
	f->received_at = received->event->at;
	f->replied_at = reply->done != NULL ? reply->done->event->at : MON_TIME_NONE;
	f->closed_at = close->done != NULL ? close->done->event->at : MON_TIME_NONE;
	f->result = close->done != NULL ? MON_RESULT_CLOSED : MON_RESULT_NONE;
	f->reply_on_time = limit_on_time(reply, h->now);
	f->close_on_time = limit_on_time(close, h->now);
}

/* Closing a complaint answers it: the reply is the first reply or the closure. The facts
 * are the case's own (st may be a scratch copy for an approval case). */
static void check_complaint(const struct history *h, struct conditions *list,
		struct mon_case_state *st, struct mon_case_facts *facts)
{
	const struct mon_case_event *r = first_of(h, MON_EV_COMPLAINT_RECEIVED), *replied, *closed;
	struct limit reply, close;

	if (r == NULL)
		return;
	replied = first_after(h, MON_EV_COMPLAINT_REPLIED, r->event->at);
	closed = first_after(h, MON_EV_COMPLAINT_CLOSED, r->event->at);
	if (replied == NULL || (closed != NULL && closed->event->at < replied->event->at))
		replied = closed;
	limit_init(&reply, h, r->event->at, ruleset_param(h->rs, &params[PARAM_COMPLAINT_REPLY_DAYS]),
		replied);
	limit_init(&close, h, r->event->at, ruleset_param(h->rs, &params[PARAM_COMPLAINT_CLOSE_DAYS]),
		closed);
	if (limit_missed(&close, h->now) && rule_enabled(h->rs, &rules[RULE_CMP_CLOSE_LATE]))
		complaint_emit(h, list, RULE_CMP_CLOSE_LATE, NULL, &close, r);
	else if (limit_missed(&reply, h->now) && rule_enabled(h->rs, &rules[RULE_CMP_REPLY_LATE]))
		complaint_emit(h, list, RULE_CMP_REPLY_LATE, NULL, &reply, r);
	else if (replied == NULL && reply.notice != NEVER && h->now > reply.notice)
		complaint_emit(h, list, RULE_CMP_DEADLINE_NOTICE, "reply", &reply, r);
	else if (closed == NULL && close.notice != NEVER && h->now > close.notice)
		complaint_emit(h, list, RULE_CMP_DEADLINE_NOTICE, "close", &close, r);
	if (closed == NULL && !limit_missed(&close, h->now)) {
		next_check_offer(&st->next_check, h->now, replied == NULL ? after(reply.notice)
			: NEVER);
		next_check_offer(&st->next_check, h->now, replied == NULL ? after(reply.due)
			: NEVER);
		next_check_offer(&st->next_check, h->now, after(close.notice));
		next_check_offer(&st->next_check, h->now, after(close.due));
	}
	state_limits(h, st, r, closed, &reply, &close);
	complaint_facts(h, r, &reply, &close, facts);
}

static void check_inquiry(const struct history *h, struct conditions *list,
		struct mon_case_state *st)
{
	const struct mon_case_event *q = first_of(h, MON_EV_INQUIRY_RECEIVED);
	struct mon_condition *c;
	struct limit answer;
	char date[16];

	if (q == NULL)
		return;
	limit_init(&answer, h, q->event->at, ruleset_param(h->rs, &params[PARAM_INQUIRY_DAYS]),
		first_after(h, MON_EV_INQUIRY_ANSWERED, q->event->at));
	state_limits(h, st, q, answer.done, &answer, &answer);
	if (!limit_missed(&answer, h->now)) {
		if (answer.done == NULL)
			next_check_offer(&st->next_check, h->now, after(answer.due));
		return;
	}
	c = conditions_add(list, h, &rules[RULE_CMP_INQUIRY_LATE], NULL, answer.due + 1);
	if (c == NULL)
		return;
	mon_day_format(mon_day_of(answer.due - 1), date, sizeof(date));
	condition_message(c, "黄牌: 首问逾期未答复 (%s: answer due by %s, %d working day%s)",
		answer.done != NULL ? "answered late" : "no answer", date, answer.days,
		answer.days == 1 ? "" : "s");
	condition_evidence(c, q);
	condition_evidence(c, answer.done);
}

/* An unsatisfied evaluation: a notice while its rectification is open and in time, yellow
 * once it is late (rectified late, or not at all by its deadline). Without a case nothing
 * can close it, so it is a notice alone. */
static void check_evaluation(const struct history *h, struct conditions *list,
		const struct mon_case_event *e, int64_t *next)
{
	struct limit fix;
	struct mon_condition *c;
	char date[16];
	bool late;

	limit_init(&fix, h, e->event->at, ruleset_param(h->rs, &params[PARAM_RECTIFY_DAYS]),
		first_after(h, MON_EV_EVALUATION_RECTIFIED, e->event->at));
	late = h->case_no[0] != '\0' && limit_missed(&fix, h->now) &&
		rule_enabled(h->rs, &rules[RULE_CMP_RECTIFY_LATE]);
	if (fix.done != NULL && !late)
		return;
	c = conditions_add(list, h, &rules[late ? RULE_CMP_RECTIFY_LATE : RULE_CMP_UNSATISFIED],
		e->event->id, late ? fix.due + 1 : e->event->at);
	if (c == NULL)
		return;
	mon_day_format(mon_day_of(fix.due - 1), date, sizeof(date));
	if (late) {
		condition_supersedes(c, &rules[RULE_CMP_UNSATISFIED]);
		condition_message(c, "黄牌: 不满意评价逾期未整改 (%s: due by %s)",
			fix.done != NULL ? "rectified late" : "not rectified", date);
	} else if (h->case_no[0] != '\0') {
		condition_message(c, "预警: 群众评价不满意, 限期整改 (rectify by %s)", date);
		next_check_offer(next, h->now, after(fix.due));
	} else {
		condition_message(c, "预警: 群众评价不满意 (no case: rectification not tracked)");
	}
	condition_evidence(c, e);
	condition_evidence(c, fix.done);
}

static void service_evaluate(const struct history *h, struct conditions *list,
		struct mon_case_state *state)
{
	/* An approval case keeps its own clock in the state; a service case shows its limits. */
	struct mon_case_state scratch = *state;
	struct mon_case_state *st = h->clock_from == NULL ? state : &scratch;

	check_inquiry(h, list, st);
	check_complaint(h, list, st, &state->facts);
	for (size_t i = 0; i < h->count; i++) {
		const struct mon_case_event *ce = h->events[i];
		if (ce->event->type == MON_EV_EVALUATION_RECEIVED &&
				!event_true(ce, "satisfied"))
			check_evaluation(h, list, ce, &state->next_check);
	}
	state->next_check = st->next_check < state->next_check ? st->next_check :
		state->next_check;
}

const struct rule_family service_family = {
	.name = "complaints and service",
	.rules = rules,
	.rule_count = sizeof(rules) / sizeof(rules[0]),
	.params = params,
	.param_count = sizeof(params) / sizeof(params[0]),
	.evaluate = service_evaluate,
};
