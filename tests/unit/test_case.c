/* test_case.c: the approval-case engine at its boundaries, against the real 2026 calendar
 * (config/calendar.csv, path in argv[1]): the second before, at and after each deadline,
 * acceptance on holidays, on a worked Saturday, late at night at -05:00 and across New
 * Year, suspensions ending at midnight and spanning a holiday week, extensions, the
 * procedural rules, out-of-order input and a late decision clearing a yellow card. The
 * refusal report and the delay report are test_reports.c's.
 * Every expected date is worked out by hand from the calendar in the comment above it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mon_event.h"
#include "mon_rules.h"
#include "mon_value.h"

#define EVENTS_MAX 16

/* T-10: 10 committed / 20 statutory working days, review step 3 days (like SCJG-003).
 * T-3: 3 / 5 working days. T-CAL: 5 / 7 calendar days, notice 1 day ahead. T-SUP: T-10's
 * limits with a 督办 period of its own, 1 working day. */
static const char items_csv[] =
	"code,dept,name,statutory_days,committed_days,unit,warn_days,step_days,supervise_days\n"
	"T-10,LY-TEST,ten working days,20,10,working,,review=3,\n"
	"T-3,LY-TEST,three working days,5,3,working,,,\n"
	"T-CAL,LY-TEST,five calendar days,7,5,calendar,1,,\n"
	"T-SUP,LY-TEST,ten working days supervised in one,20,10,working,,,1\n";

static const char *calendar_path;

struct fx {
	struct mon_ruleset *rs;
	size_t count;
	struct mon_event events[EVENTS_MAX];
	struct mon_case_event ces[EVENTS_MAX];
	struct mon_evaluation ev;
	char rules[1024];
};

static int64_t T(const char *rfc3339)
{
	int64_t epoch = 0;
	int offset;

	if (!mon_time_parse(rfc3339, &epoch, &offset))
		fail_msg("bad test time %s", rfc3339);
	return epoch;
}

static int32_t D(const char *ymd)
{
	char stamp[40];

	snprintf(stamp, sizeof(stamp), "%sT12:00:00+08:00", ymd);
	return mon_day_of(T(stamp));
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	static char csv[1 << 16];
	struct mon_error err;
	FILE *f = fopen(calendar_path, "rb");
	size_t len;

	if (fx == NULL || f == NULL || (fx->rs = mon_ruleset_create()) == NULL)
		fail_msg("setup: cannot read %s", calendar_path);
	len = fread(csv, 1, sizeof(csv), f);
	fclose(f);
	/* The delay report due by the committed deadline (APR-DELAY-UNREPORTED) holds beside
	 * every yellow and red card here; test_reports.c judges it and the refusal report. */
	if (!mon_ruleset_load_calendar(fx->rs, csv, len, &err) ||
			!mon_ruleset_load_items(fx->rs, items_csv, strlen(items_csv), &err) ||
			!mon_ruleset_disable_rule(fx->rs, "APR-DELAY-UNREPORTED", &err))
		fail_msg("setup: %s: %s (got %s)", err.field, err.expected, err.got);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	for (size_t i = 0; i < fx->count; i++)
		mon_event_finish(&fx->events[i]);
	mon_evaluation_finish(&fx->ev);
	mon_ruleset_destroy(fx->rs);
	free(fx);
	return 0;
}

/* Adds event e<N> of case C-1; `extra` is more JSON members, starting with a comma. */
static void add(struct fx *fx, const char *type, const char *at, const char *extra)
{
	char text[512];
	struct mon_error err;
	json_t *obj;

	assert_true(fx->count < EVENTS_MAX);
	snprintf(text, sizeof(text), "{\"id\":\"e%zu\",\"dept\":\"LY-TEST\",\"type\":\"%s\","
		"\"at\":\"%s\",\"case\":\"C-1\"%s}", fx->count + 1, type, at, extra);
	obj = json_loads(text, 0, NULL);
	if (obj == NULL || !mon_event_from_json(obj, &fx->events[fx->count], &err))
		fail_msg("test event refused: %s: %s", text, err.field);
	json_decref(obj);
	fx->ces[fx->count].event = &fx->events[fx->count];
	fx->ces[fx->count].received_at = fx->events[fx->count].at;
	fx->count++;
}

static void accept(struct fx *fx, const char *at, const char *item)
{
	char extra[64];

	snprintf(extra, sizeof(extra), ",\"item\":\"%s\"", item);
	add(fx, "approval.accepted", at, extra);
}

static void received_at(struct fx *fx, const char *at)
{
	fx->ces[fx->count - 1].received_at = T(at);
}

/* Evaluates the first n events (all when n is 0) as of now; lists the rules that hold. */
static const struct mon_case_state *eval_n(struct fx *fx, size_t n, const char *now)
{
	struct mon_error err;
	size_t used = 0;

	mon_evaluation_finish(&fx->ev);
	if (!mon_case_evaluate(fx->rs, fx->ces, n == 0 ? fx->count : n, T(now), &fx->ev, &err))
		fail_msg("evaluation failed: %s %s", err.field, err.expected);
	fx->rules[0] = '\0';
	for (size_t i = 0; i < fx->ev.count; i++)
		used += (size_t)snprintf(fx->rules + used, sizeof(fx->rules) - used, "%s%s",
			i == 0 ? "" : ",", fx->ev.conditions[i].rule);
	return &fx->ev.state;
}

static const struct mon_case_state *eval(struct fx *fx, const char *now)
{
	return eval_n(fx, 0, now);
}

static const struct mon_condition *cond(struct fx *fx, const char *rule)
{
	for (size_t i = 0; i < fx->ev.count; i++) {
		if (strcmp(fx->ev.conditions[i].rule, rule) == 0)
			return &fx->ev.conditions[i];
	}
	fail_msg("no %s among [%s]", rule, fx->rules);
	return NULL;
}

#define assert_rules(fx, expected) assert_string_equal((fx)->rules, (expected))

/* T-10 accepted Monday 2026-03-02 09:15. The acceptance day does not count; working days
 * 03-03..06 (1-4), 09..13 (5-9), 16 (10): committed deadline 2026-03-16 24:00. Statutory:
 * 17..20 (11-14), 23..27 (15-19), 30 (20): 2026-03-30. Notice from the end of counted day
 * 10 - 2 = 8 (03-12). 督办: 3 working days after 03-16 are 17, 18, 19: red after 03-19. */
static void test_ladder_boundaries(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	accept(fx, "2026-03-02T09:15:00+08:00", "T-10");
	st = eval(fx, "2026-03-13T00:00:00+08:00");
	assert_rules(fx, "");
	assert_int_equal(st->status, MON_CASE_ACCEPTED);
	assert_int_equal(st->committed_day, D("2026-03-16"));
	assert_int_equal(st->statutory_day, D("2026-03-30"));
	assert_int_equal(st->committed_days, 10);
	assert_int_equal(st->statutory_days, 20);
	assert_int_equal(st->counted_days, 9);          /* 03-03..03-13, today included */
	assert_int_equal(st->next_check, T("2026-03-13T00:00:01+08:00"));
	assert_false(st->has_level);

	st = eval(fx, "2026-03-13T00:00:01+08:00");
	assert_rules(fx, "APR-DEADLINE-NOTICE");
	assert_int_equal(cond(fx, "APR-DEADLINE-NOTICE")->since, T("2026-03-13T00:00:01+08:00"));
	assert_int_equal(st->next_check, T("2026-03-17T00:00:01+08:00"));
	assert_int_equal(st->level, MON_SEVERITY_NOTICE);

	eval(fx, "2026-03-16T23:59:59+08:00");
	assert_rules(fx, "APR-DEADLINE-NOTICE");
	/* At the deadline itself (24:00) the case is not overdue yet. */
	eval(fx, "2026-03-17T00:00:00+08:00");
	assert_rules(fx, "APR-DEADLINE-NOTICE");

	st = eval(fx, "2026-03-17T00:00:01+08:00");
	assert_rules(fx, "APR-DEADLINE-YELLOW");
	assert_string_equal(cond(fx, "APR-DEADLINE-YELLOW")->supersedes, "APR-DEADLINE-NOTICE");
	assert_string_equal(cond(fx, "APR-DEADLINE-YELLOW")->key, "APR-DEADLINE-YELLOW|LY-TEST|C-1");
	assert_int_equal(cond(fx, "APR-DEADLINE-YELLOW")->since, T("2026-03-17T00:00:01+08:00"));
	assert_string_equal(cond(fx, "APR-DEADLINE-YELLOW")->evidence[0], "e1");
	assert_int_equal(st->next_check, T("2026-03-20T00:00:01+08:00"));
	assert_int_equal(st->counted_days, 11);
	assert_int_equal(st->level, MON_SEVERITY_YELLOW);

	eval(fx, "2026-03-20T00:00:00+08:00");
	assert_rules(fx, "APR-DEADLINE-YELLOW");
	st = eval(fx, "2026-03-20T00:00:01+08:00");
	assert_rules(fx, "APR-DEADLINE-RED");
	assert_string_equal(cond(fx, "APR-DEADLINE-RED")->supersedes, "APR-DEADLINE-YELLOW");
	assert_int_equal(cond(fx, "APR-DEADLINE-RED")->since, T("2026-03-20T00:00:01+08:00"));
	assert_int_equal(st->level, MON_SEVERITY_RED);
	/* Red is the top: the statutory deadline passing later changes nothing. */
	assert_int_equal(st->next_check, INT64_MAX);

	/* Past the statutory deadline too: red still dated from the earlier reason. */
	st = eval(fx, "2026-03-31T00:00:01+08:00");
	assert_rules(fx, "APR-DEADLINE-RED");
	assert_int_equal(cond(fx, "APR-DEADLINE-RED")->since, T("2026-03-20T00:00:01+08:00"));
	assert_int_equal(st->next_check, INT64_MAX);
}

/* Same case, decided: at 03-16 23:59:59 and at 24:00 on time; one second later yellow.
 * Decided 03-20 09:00, after the 督办 deadline (03-19 24:00): red. */
static void test_decided_around_deadline(void **state)
{
	static const struct { const char *at; const char *rules; } cases[] = {
		{ "2026-03-16T23:59:59+08:00", "" },
		{ "2026-03-17T00:00:00+08:00", "" },
		{ "2026-03-17T00:00:01+08:00", "APR-DEADLINE-YELLOW" },
		{ "2026-03-19T23:59:59+08:00", "APR-DEADLINE-YELLOW" },
		{ "2026-03-20T09:00:00+08:00", "APR-DEADLINE-RED" },
	};
	struct fx *fx = *state;

	accept(fx, "2026-03-02T09:15:00+08:00", "T-10");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct mon_case_state *st;
		add(fx, "approval.decided", cases[i].at, ",\"result\":\"approved\"");
		st = eval(fx, "2026-04-30T12:00:00+08:00");
		assert_rules(fx, cases[i].rules);
		assert_int_equal(st->status, MON_CASE_DECIDED);
		assert_int_equal(st->next_check, INT64_MAX);
		mon_event_finish(&fx->events[--fx->count]);
	}
}

/* Decided on time (03-16 10:00) but reported two days later: before the report arrives the
 * sweeper sees a yellow; with it, the yellow is gone (the caller resolves it) and the late
 * report itself is a notice. */
static void test_late_decision_clears_yellow(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	accept(fx, "2026-03-02T09:15:00+08:00", "T-10");
	add(fx, "approval.decided", "2026-03-16T10:00:00+08:00", ",\"result\":\"approved\"");
	received_at(fx, "2026-03-18T10:00:00+08:00");
	eval_n(fx, 1, "2026-03-17T12:00:00+08:00");
	assert_rules(fx, "APR-DEADLINE-YELLOW");
	st = eval(fx, "2026-03-18T10:00:00+08:00");
	assert_rules(fx, "APR-LATE-REPORT");
	assert_int_equal(st->status, MON_CASE_DECIDED);
	assert_int_equal(st->counted_days, 10);
	assert_string_equal(cond(fx, "APR-LATE-REPORT")->key, "APR-LATE-REPORT|LY-TEST|C-1");
	assert_int_equal(cond(fx, "APR-LATE-REPORT")->since, T("2026-03-18T10:00:00+08:00"));
}

/* The late-report threshold: 24 hours exactly is on time, one second more is late. */
static void test_late_report_boundary(void **state)
{
	struct fx *fx = *state;

	accept(fx, "2026-03-02T09:15:00+08:00", "T-10");
	received_at(fx, "2026-03-03T09:15:00+08:00");
	eval(fx, "2026-03-03T10:00:00+08:00");
	assert_rules(fx, "");
	received_at(fx, "2026-03-03T09:15:01+08:00");
	eval(fx, "2026-03-03T10:00:00+08:00");
	assert_rules(fx, "APR-LATE-REPORT");
}

/* The same history in any input order gives the same state and conditions. */
static void test_out_of_order(void **state)
{
	struct fx *fx = *state;
	struct mon_case_event reversed[EVENTS_MAX];
	struct mon_evaluation a, b;
	struct mon_error err;
	int64_t now = T("2026-04-01T12:00:00+08:00");

	add(fx, "approval.received", "2026-03-02T09:00:00+08:00", ",\"item\":\"T-10\"");
	accept(fx, "2026-03-02T09:15:00+08:00", "T-10");
	add(fx, "approval.suspended", "2026-03-04T10:00:00+08:00",
		",\"kind\":\"testing\",\"days\":2,\"approver\":\"P1\"");
	add(fx, "approval.resumed", "2026-03-10T10:00:00+08:00", "");
	add(fx, "approval.step", "2026-03-12T10:00:00+08:00", ",\"step\":\"review\"");
	add(fx, "approval.extended", "2026-03-13T10:00:00+08:00", ",\"days\":3");
	for (size_t i = 0; i < fx->count; i++)
		reversed[i] = fx->ces[fx->count - 1 - i];
	assert_true(mon_case_evaluate(fx->rs, fx->ces, fx->count, now, &a, &err));
	assert_true(mon_case_evaluate(fx->rs, reversed, fx->count, now, &b, &err));
	assert_memory_equal(&a.state, &b.state, sizeof(a.state));
	assert_int_equal(a.count, b.count);
	assert_true(a.count >= 3);   /* overrun, step limit, unapproved extension, red... */
	for (size_t i = 0; i < a.count; i++) {
		assert_string_equal(a.conditions[i].key, b.conditions[i].key);
		assert_int_equal(a.conditions[i].since, b.conditions[i].since);
		assert_string_equal(a.conditions[i].message, b.conditions[i].message);
	}
	mon_evaluation_finish(&a);
	mon_evaluation_finish(&b);
}

/* T-3 accepted on a holiday, Thursday 2026-10-01 (National Day). 10-02..10-07 are off;
 * Thursday 10-08 (1), Friday 10-09 (2), Saturday 10-10 is a worked day (3): committed
 * 2026-10-10. Then Monday 10-12 (4), 10-13 (5): statutory 2026-10-13. */
static void test_accepted_on_holiday(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	accept(fx, "2026-10-01T10:00:00+08:00", "T-3");
	st = eval(fx, "2026-10-02T10:00:00+08:00");
	assert_int_equal(st->committed_day, D("2026-10-10"));
	assert_int_equal(st->statutory_day, D("2026-10-13"));
	assert_int_equal(st->counted_days, 0);
}

/* T-3 accepted on Saturday 2026-02-14, itself a worked day (调休). 02-15..02-23 are the
 * Spring Festival: 02-24 (1), 25 (2), 26 (3): committed 2026-02-26; 27 (4) and Saturday
 * 02-28, worked (5): statutory 2026-02-28. Accepted Tuesday 02-24 instead: 25, 26, 27:
 * committed 02-27; Saturday 02-28 (4), Sunday 03-01 off, Monday 03-02 (5): statutory. */
static void test_accepted_on_worked_saturday(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	accept(fx, "2026-02-14T10:00:00+08:00", "T-3");
	st = eval(fx, "2026-02-14T12:00:00+08:00");
	assert_int_equal(st->committed_day, D("2026-02-26"));
	assert_int_equal(st->statutory_day, D("2026-02-28"));
	mon_event_finish(&fx->events[--fx->count]);
	accept(fx, "2026-02-24T10:00:00+08:00", "T-3");
	st = eval(fx, "2026-03-01T12:00:00+08:00");
	assert_int_equal(st->committed_day, D("2026-02-27"));
	assert_int_equal(st->statutory_day, D("2026-03-02"));
	assert_int_equal(st->counted_days, 4);          /* 24th not counted; 25..28 are */
	assert_rules(fx, "APR-DEADLINE-YELLOW");
}

/* Accepted 2026-03-05 11:30 at -05:00 = 2026-03-06 00:30 in Luoyang (a Friday): the
 * acceptance day is 03-06, so 03-09 (1), 10 (2), 11 (3): committed 2026-03-11; 12 (4),
 * 13 (5): statutory 2026-03-13. Read naively as Thursday the 5th it would be 03-10. */
static void test_accepted_late_at_night_other_offset(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	accept(fx, "2026-03-05T11:30:00-05:00", "T-3");
	st = eval(fx, "2026-03-06T12:00:00+08:00");
	assert_int_equal(st->committed_day, D("2026-03-11"));
	assert_int_equal(st->statutory_day, D("2026-03-13"));
}

/* T-10 accepted Tuesday 2025-12-30: 12-31 (1); 2026-01-01..03 off; Sunday 01-04 worked (2);
 * 01-05..09 (3-7); 12, 13, 14 (8-10): committed 2026-01-14. 15, 16 (12), 19..23 (17),
 * 26, 27, 28 (20): statutory 2026-01-28. Notice after counted day 8 (01-12). */
static void test_across_new_year(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	accept(fx, "2025-12-30T15:00:00+08:00", "T-10");
	st = eval(fx, "2026-01-13T00:00:00+08:00");
	assert_int_equal(st->committed_day, D("2026-01-14"));
	assert_int_equal(st->statutory_day, D("2026-01-28"));
	assert_int_equal(st->counted_days, 9);          /* 12-31, 01-04, 05..09, 12, 13 (today) */
	assert_int_equal(st->next_check, T("2026-01-13T00:00:01+08:00"));
	assert_rules(fx, "");
}

/* T-10 accepted Monday 03-02, suspended Wednesday 03-04 10:00, resumed at 2026-03-06
 * 00:00 = 24:00 of Thursday 03-05. At 03-04 24:00 it is suspended: 03-04 does not count.
 * At 03-05 24:00 it has just resumed (a suspension ends before its resumption instant):
 * 03-05 counts. So 03-03 (1), 05 (2), 06 (3), 09..13 (8), 16 (9), 17 (10): committed
 * 2026-03-17 with 1 suspended day. Resumed one second later, 03-05 is suspended at its end
 * too: committed 2026-03-18, 2 suspended days. */
static void test_suspension_ending_at_midnight(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	accept(fx, "2026-03-02T09:00:00+08:00", "T-10");
	add(fx, "approval.suspended", "2026-03-04T10:00:00+08:00",
		",\"kind\":\"hearing\",\"days\":5,\"approver\":\"P1\"");
	add(fx, "approval.resumed", "2026-03-06T00:00:00+08:00", "");
	st = eval(fx, "2026-03-20T12:00:00+08:00");
	assert_int_equal(st->committed_day, D("2026-03-17"));
	assert_int_equal(st->suspended_days, 1);
	assert_int_equal(st->counted_days, 13);         /* 14 working days to 03-20, minus 1 */
	assert_rules(fx, "APR-DEADLINE-YELLOW");
	assert_int_equal(cond(fx, "APR-DEADLINE-YELLOW")->since, T("2026-03-18T00:00:01+08:00"));

	mon_event_finish(&fx->events[--fx->count]);
	add(fx, "approval.resumed", "2026-03-06T00:00:01+08:00", "");
	st = eval(fx, "2026-03-20T12:00:00+08:00");
	assert_int_equal(st->committed_day, D("2026-03-18"));
	assert_int_equal(st->statutory_day, D("2026-04-01"));
	assert_int_equal(st->suspended_days, 2);
	assert_int_equal(st->counted_days, 12);
}

/* T-10 accepted Monday 2026-09-28; suspended Wednesday 09-30 15:00 for expert review of 5
 * working days; resumed Friday 10-09 10:00. National Day + Mid-Autumn: 10-01..10-07 off,
 * Saturday 10-10 worked. Clock: 09-29 (1); 09-30 and 10-08 suspended at their end; 10-09
 * (2), 10-10 (3), 10-12..16 (8), 19 (9), 20 (10): committed 2026-10-20 (without the
 * suspension: 10-16). The procedure's own 5 days from 09-30: 10-08 (1), 09 (2), 10 (3),
 * 12 (4), 13 (5): approved until 2026-10-13, notice after its day 3 (10-10). */
static void test_suspension_over_holiday_week(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	accept(fx, "2026-09-28T10:00:00+08:00", "T-10");
	add(fx, "approval.suspended", "2026-09-30T15:00:00+08:00",
		",\"kind\":\"expert_review\",\"days\":5,\"approver\":\"P1\"");
	st = eval(fx, "2026-10-08T12:00:00+08:00");
	assert_int_equal(st->status, MON_CASE_SUSPENDED);
	assert_int_equal(st->committed_day, -1);
	assert_int_equal(st->counted_days, 1);
	assert_int_equal(st->suspended_days, 2);
	assert_int_equal(st->next_check, T("2026-10-11T00:00:01+08:00"));
	assert_rules(fx, "");

	st = eval(fx, "2026-10-11T00:00:01+08:00");
	assert_rules(fx, "APR-SPECIAL-NOTICE");
	assert_string_equal(cond(fx, "APR-SPECIAL-NOTICE")->key, "APR-SPECIAL-NOTICE|LY-TEST|C-1|e2");
	assert_int_equal(st->next_check, T("2026-10-14T00:00:01+08:00"));
	eval(fx, "2026-10-14T00:00:00+08:00");
	assert_rules(fx, "APR-SPECIAL-NOTICE");
	st = eval(fx, "2026-10-14T00:00:01+08:00");
	assert_rules(fx, "APR-SPECIAL-OVERRUN");
	assert_string_equal(cond(fx, "APR-SPECIAL-OVERRUN")->supersedes, "APR-SPECIAL-NOTICE");
	assert_int_equal(cond(fx, "APR-SPECIAL-OVERRUN")->since, T("2026-10-14T00:00:01+08:00"));
	assert_int_equal(st->next_check, INT64_MAX);   /* stopped clock, nothing left to watch */

	add(fx, "approval.resumed", "2026-10-09T10:00:00+08:00", "");
	st = eval(fx, "2026-10-20T12:00:00+08:00");
	assert_int_equal(st->status, MON_CASE_ACCEPTED);
	assert_int_equal(st->committed_day, D("2026-10-20"));
	assert_int_equal(st->counted_days, 10);
	assert_int_equal(st->suspended_days, 2);
	assert_rules(fx, "APR-DEADLINE-NOTICE");        /* after counted day 8, 10-16 */
	assert_int_equal(st->next_check, T("2026-10-21T00:00:01+08:00"));
}

/* Resumed after the approved end (10-13 24:00): the overrun stays on the record. */
static void test_special_resumed_late(void **state)
{
	struct fx *fx = *state;

	accept(fx, "2026-09-28T10:00:00+08:00", "T-10");
	add(fx, "approval.suspended", "2026-09-30T15:00:00+08:00",
		",\"kind\":\"expert_review\",\"days\":5,\"approver\":\"P1\"");
	add(fx, "approval.resumed", "2026-10-14T00:00:00+08:00", "");
	eval(fx, "2026-10-15T12:00:00+08:00");
	assert_rules(fx, "");
	mon_event_finish(&fx->events[--fx->count]);
	add(fx, "approval.resumed", "2026-10-14T00:00:01+08:00", "");
	eval(fx, "2026-10-15T12:00:00+08:00");
	assert_rules(fx, "APR-SPECIAL-OVERRUN");
}

/* T-10 accepted 03-02 and extended on 03-10 by 10 days: committed 20 days, 03-17..20
 * (11-14), 23..27 (19), 30 (20): 2026-03-30; statutory 30 days: 31 (21), 04-01..03 (24),
 * 04-04..06 off (清明), 07..10 (28), 13, 14 (30): 2026-04-14. */
static void test_extension(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	accept(fx, "2026-03-02T09:15:00+08:00", "T-10");
	add(fx, "approval.extended", "2026-03-10T10:00:00+08:00", ",\"days\":10,\"approver\":\"H\"");
	st = eval(fx, "2026-03-20T12:00:00+08:00");
	assert_rules(fx, "");
	assert_int_equal(st->committed_days, 20);
	assert_int_equal(st->statutory_days, 30);
	assert_int_equal(st->committed_day, D("2026-03-30"));
	assert_int_equal(st->statutory_day, D("2026-04-14"));

	/* Without the head's approval it still moves the deadlines, and is a yellow itself. */
	mon_event_finish(&fx->events[--fx->count]);
	add(fx, "approval.extended", "2026-03-10T10:00:00+08:00", ",\"days\":10");
	st = eval(fx, "2026-03-20T12:00:00+08:00");
	assert_rules(fx, "APR-EXTENSION-UNAPPROVED");
	assert_string_equal(cond(fx, "APR-EXTENSION-UNAPPROVED")->key,
		"APR-EXTENSION-UNAPPROVED|LY-TEST|C-1|e2");
	assert_int_equal(st->committed_day, D("2026-03-30"));

	/* 5 + 6 days: beyond the 10 of §42 from the second one on; only 10 move the deadlines. */
	mon_event_finish(&fx->events[--fx->count]);
	add(fx, "approval.extended", "2026-03-10T10:00:00+08:00", ",\"days\":5,\"approver\":\"H\"");
	add(fx, "approval.extended", "2026-03-12T10:00:00+08:00", ",\"days\":6,\"approver\":\"H\"");
	st = eval(fx, "2026-03-20T12:00:00+08:00");
	assert_rules(fx, "APR-EXTENSION-EXCESS");
	assert_int_equal(cond(fx, "APR-EXTENSION-EXCESS")->since, T("2026-03-12T10:00:00+08:00"));
	assert_int_equal(st->committed_days, 20);
	assert_int_equal(st->statutory_days, 30);
	assert_int_equal(st->statutory_day, D("2026-04-14"));
}

/* An extension must come within the statutory period (03-30 24:00): at 23:59:59 it moves
 * the statutory deadline, not the committed one, which passed on 03-16 (its yellow turned red
 * when the 督办 period ended on 03-19: a case's level only rises); after 03-30 24:00 it moves
 * nothing (red for the statutory deadline). */
static void test_extension_after_statutory_deadline(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	accept(fx, "2026-03-02T09:15:00+08:00", "T-10");
	add(fx, "approval.extended", "2026-03-30T23:59:59+08:00", ",\"days\":10,\"approver\":\"H\"");
	st = eval(fx, "2026-03-31T12:00:00+08:00");
	assert_int_equal(st->statutory_day, D("2026-04-14"));
	assert_int_equal(st->committed_day, D("2026-03-16"));
	assert_rules(fx, "APR-DEADLINE-RED");
	assert_int_equal(cond(fx, "APR-DEADLINE-RED")->since, T("2026-03-20T00:00:01+08:00"));

	mon_event_finish(&fx->events[--fx->count]);
	add(fx, "approval.extended", "2026-03-31T00:00:01+08:00", ",\"days\":10,\"approver\":\"H\"");
	st = eval(fx, "2026-03-31T12:00:00+08:00");
	assert_int_equal(st->committed_day, D("2026-03-16"));
	assert_int_equal(st->statutory_day, D("2026-03-30"));
	assert_int_equal(st->committed_days, 10);
	assert_rules(fx, "APR-DEADLINE-RED");
}

/* mon_case_clock: the spans of the replay the days are counted from. T-10 accepted Monday
 * 2026-09-28; an extension of 5 days on 09-29 (in time: effective); suspended 09-30 15:00,
 * resumed 10-09 10:00 (the days of test_suspension_over_holiday_week: 10 counted, 2
 * suspended at 10-20); suspended again 10-12 09:00, still running at 10-20 (10-12..16, 19
 * and 20 at their end: 7 days more). */
static void test_case_clock_spans(void **state)
{
	struct fx *fx = *state;
	struct mon_case_clock clk;
	struct mon_error err;
	const struct mon_case_state *st;

	accept(fx, "2026-09-28T10:00:00+08:00", "T-10");
	add(fx, "approval.extended", "2026-09-29T11:00:00+08:00", ",\"days\":5,\"approver\":\"H\"");
	add(fx, "approval.suspended", "2026-09-30T15:00:00+08:00",
		",\"kind\":\"expert_review\",\"days\":5,\"approver\":\"P1\"");
	add(fx, "approval.resumed", "2026-10-09T10:00:00+08:00", "");
	add(fx, "approval.suspended", "2026-10-12T09:00:00+08:00",
		",\"kind\":\"hearing\",\"days\":10");
	st = eval(fx, "2026-10-20T12:00:00+08:00");
	assert_true(mon_case_clock(fx->rs, fx->ces, fx->count, T("2026-10-20T12:00:00+08:00"),
		&clk, &err));
	/* The same numbers as the evaluation: one replay, one count. */
	assert_int_equal(clk.counted_days, st->counted_days);
	assert_int_equal(clk.suspended_days, st->suspended_days);
	assert_int_equal(clk.counted_days, 3);          /* 09-29, 10-09, 10-10 */
	assert_int_equal(clk.suspended_days, 2 + 7);
	assert_int_equal(clk.count, 3);
	assert_int_equal(clk.spans[0].kind, MON_CLOCK_SUSPENDED);
	assert_int_equal(clk.spans[0].from, T("2026-09-30T15:00:00+08:00"));
	assert_int_equal(clk.spans[0].to, T("2026-10-09T10:00:00+08:00"));
	assert_int_equal(clk.spans[0].days, 5);
	assert_string_equal(clk.spans[0].procedure, "expert_review");
	assert_string_equal(clk.spans[0].event, "e3");
	assert_int_equal(clk.spans[1].kind, MON_CLOCK_SUSPENDED);
	assert_int_equal(clk.spans[1].from, T("2026-10-12T09:00:00+08:00"));
	assert_int_equal(clk.spans[1].to, MON_TIME_NONE);
	assert_string_equal(clk.spans[1].event, "e5");
	assert_int_equal(clk.spans[2].kind, MON_CLOCK_EXTENDED);
	assert_int_equal(clk.spans[2].from, T("2026-09-29T11:00:00+08:00"));
	assert_int_equal(clk.spans[2].to, MON_TIME_NONE);
	assert_int_equal(clk.spans[2].days, 5);
	assert_true(clk.spans[2].effective);
	assert_string_equal(clk.spans[2].event, "e2");
	mon_case_clock_finish(&clk);
	assert_null(clk.spans);

	/* Decided while suspended: the decision ends the suspension. Before the suspension
	 * began (now 10-12 08:00) there is only the earlier one and the extension. */
	add(fx, "approval.decided", "2026-10-15T16:00:00+08:00", ",\"result\":\"approved\"");
	assert_true(mon_case_clock(fx->rs, fx->ces, fx->count, T("2026-10-20T12:00:00+08:00"),
		&clk, &err));
	assert_int_equal(clk.spans[1].to, T("2026-10-15T16:00:00+08:00"));
	mon_case_clock_finish(&clk);
	assert_true(mon_case_clock(fx->rs, fx->ces, fx->count, T("2026-10-12T08:00:00+08:00"),
		&clk, &err));
	assert_int_equal(clk.count, 2);
	assert_int_equal(clk.spans[1].kind, MON_CLOCK_EXTENDED);
	mon_case_clock_finish(&clk);
}

/* An extension after the statutory deadline ran out is a span that moved nothing. */
static void test_case_clock_late_extension(void **state)
{
	struct fx *fx = *state;
	struct mon_case_clock clk;
	struct mon_error err;

	accept(fx, "2026-03-02T09:15:00+08:00", "T-10");
	add(fx, "approval.extended", "2026-03-31T00:00:01+08:00", ",\"days\":10,\"approver\":\"H\"");
	assert_true(mon_case_clock(fx->rs, fx->ces, fx->count, T("2026-03-31T12:00:00+08:00"),
		&clk, &err));
	assert_int_equal(clk.count, 1);
	assert_false(clk.spans[0].effective);
	assert_int_equal(clk.suspended_days, 0);
	assert_int_equal(clk.counted_days, 21);         /* 03-03 .. 03-31 */
	mon_case_clock_finish(&clk);
	assert_false(mon_case_clock(fx->rs, fx->ces, 0, T("2026-03-31T12:00:00+08:00"), &clk, &err));
	assert_int_equal(clk.count, 0);
}

/* Received Monday 03-02 09:00: §32's 5 working days are 03-03..06 and 03-09, so the notice
 * is due by 03-09 24:00. Received 2026-09-30 instead: 10-08, 09, Saturday 10-10 (worked),
 * 10-12, 10-13: due by 10-13 24:00. */
static void test_supplement(void **state)
{
	struct fx *fx = *state;

	add(fx, "approval.received", "2026-03-02T09:00:00+08:00", ",\"item\":\"T-10\"");
	add(fx, "approval.supplement_requested", "2026-03-09T23:59:59+08:00", "");
	eval(fx, "2026-03-12T12:00:00+08:00");
	assert_rules(fx, "");
	assert_int_equal(fx->ev.state.status, MON_CASE_RECEIVED);
	assert_int_equal(fx->ev.state.next_check, INT64_MAX);
	/* At 24:00 itself it is still in time; one second later it is late. */
	mon_event_finish(&fx->events[--fx->count]);
	add(fx, "approval.supplement_requested", "2026-03-10T00:00:00+08:00", "");
	eval(fx, "2026-03-12T12:00:00+08:00");
	assert_rules(fx, "");
	mon_event_finish(&fx->events[--fx->count]);
	add(fx, "approval.supplement_requested", "2026-03-10T00:00:01+08:00", "");
	eval(fx, "2026-03-12T12:00:00+08:00");
	assert_rules(fx, "APR-SUPPLEMENT-LATE");
	assert_int_equal(cond(fx, "APR-SUPPLEMENT-LATE")->since, T("2026-03-10T00:00:01+08:00"));
	add(fx, "approval.supplement_requested", "2026-03-11T10:00:00+08:00", "");
	eval(fx, "2026-03-12T12:00:00+08:00");
	assert_rules(fx, "APR-SUPPLEMENT-LATE,APR-SUPPLEMENT-REPEAT");
	assert_int_equal(cond(fx, "APR-SUPPLEMENT-REPEAT")->evidence_count, 2);

	for (; fx->count > 0; fx->count--)
		mon_event_finish(&fx->events[fx->count - 1]);
	add(fx, "approval.received", "2026-09-30T09:00:00+08:00", ",\"item\":\"T-10\"");
	add(fx, "approval.supplement_requested", "2026-10-13T17:00:00+08:00", "");
	eval(fx, "2026-10-15T12:00:00+08:00");
	assert_rules(fx, "");
	mon_event_finish(&fx->events[--fx->count]);
	add(fx, "approval.supplement_requested", "2026-10-14T09:00:00+08:00", "");
	eval(fx, "2026-10-15T12:00:00+08:00");
	assert_rules(fx, "APR-SUPPLEMENT-LATE");
}

static void test_order_rules(void **state)
{
	struct fx *fx = *state;

	add(fx, "approval.received", "2026-03-02T09:00:00+08:00", ",\"item\":\"T-10\"");
	add(fx, "approval.decided", "2026-03-03T10:00:00+08:00", ",\"result\":\"approved\"");
	add(fx, "approval.step", "2026-03-04T10:00:00+08:00", ",\"step\":\"archive\"");
	add(fx, "approval.resumed", "2026-03-02T12:00:00+08:00", "");
	eval(fx, "2026-03-06T12:00:00+08:00");
	assert_rules(fx, "APR-ORDER-DECIDED-UNACCEPTED,APR-ORDER-RESUME-UNSUSPENDED,"
		"APR-ORDER-STEP-AFTER-DECISION");
	assert_string_equal(cond(fx, "APR-ORDER-STEP-AFTER-DECISION")->key,
		"APR-ORDER-STEP-AFTER-DECISION|LY-TEST|C-1|e3");
	assert_string_equal(cond(fx, "APR-ORDER-RESUME-UNSUSPENDED")->key,
		"APR-ORDER-RESUME-UNSUSPENDED|LY-TEST|C-1|e4");
	/* An acceptance that arrives dated after the decision does not cure it. */
	accept(fx, "2026-03-03T11:00:00+08:00", "T-10");
	eval(fx, "2026-03-06T12:00:00+08:00");
	assert_true(strstr(fx->rules, "APR-ORDER-DECIDED-UNACCEPTED") != NULL);
}

/* review=3 on T-10, counted from the acceptance (Monday 03-02): 03, 04, 05, so the step is
 * due by 03-05 24:00 = 03-06 00:00:00; one second later it is late. */
static void test_step_limit(void **state)
{
	struct fx *fx = *state;

	accept(fx, "2026-03-02T09:15:00+08:00", "T-10");
	add(fx, "approval.step", "2026-03-06T00:00:00+08:00", ",\"step\":\"review\"");
	eval(fx, "2026-03-06T12:00:00+08:00");
	assert_rules(fx, "");
	mon_event_finish(&fx->events[--fx->count]);
	add(fx, "approval.step", "2026-03-06T00:00:01+08:00", ",\"step\":\"review\"");
	eval(fx, "2026-03-06T12:00:00+08:00");
	assert_rules(fx, "APR-STEP-LIMIT");
	assert_string_equal(cond(fx, "APR-STEP-LIMIT")->key, "APR-STEP-LIMIT|LY-TEST|C-1|e2");
	/* A step without a limit of its own is never late. */
	mon_event_finish(&fx->events[--fx->count]);
	add(fx, "approval.step", "2026-03-12T10:00:00+08:00", ",\"step\":\"archive\"");
	eval(fx, "2026-03-12T12:00:00+08:00");
	assert_rules(fx, "");
}

/* T-CAL: 5 committed / 7 statutory calendar days, notice 1 day ahead. Accepted Saturday
 * 2026-02-14: the holidays count, 02-15 (1) .. 02-19 (5): committed 2026-02-19; statutory
 * 02-21. Notice after day 4 (02-18). Red from the statutory deadline, 02-21 24:00, which
 * comes before the 督办 one (3 working days after 02-19: 02-24, 25, 26). */
static void test_calendar_unit_ladder(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	accept(fx, "2026-02-14T10:00:00+08:00", "T-CAL");
	st = eval(fx, "2026-02-19T00:00:00+08:00");
	assert_int_equal(st->unit, MON_UNIT_CALENDAR);
	assert_int_equal(st->committed_day, D("2026-02-19"));
	assert_int_equal(st->statutory_day, D("2026-02-21"));
	assert_rules(fx, "");
	eval(fx, "2026-02-19T00:00:01+08:00");
	assert_rules(fx, "APR-DEADLINE-NOTICE");
	eval(fx, "2026-02-20T00:00:01+08:00");
	assert_rules(fx, "APR-DEADLINE-YELLOW");
	st = eval(fx, "2026-02-22T00:00:01+08:00");
	assert_rules(fx, "APR-DEADLINE-RED");
	assert_int_equal(cond(fx, "APR-DEADLINE-RED")->since, T("2026-02-22T00:00:01+08:00"));
	assert_int_equal(st->counted_days, 8);
}

static void test_parameters_and_switches(void **state)
{
	struct fx *fx = *state;
	struct mon_error err;

	accept(fx, "2026-03-02T09:15:00+08:00", "T-10");
	assert_true(mon_ruleset_set_param(fx->rs, "warn_days", 0, &err));
	eval(fx, "2026-03-16T12:00:00+08:00");
	assert_rules(fx, "");
	/* 督办 of 5 working days: 03-17..20, 23: red only after 03-23. */
	assert_true(mon_ruleset_set_param(fx->rs, "supervise_days", 5, &err));
	eval(fx, "2026-03-23T23:59:59+08:00");
	assert_rules(fx, "APR-DEADLINE-YELLOW");
	eval(fx, "2026-03-24T00:00:01+08:00");
	assert_rules(fx, "APR-DEADLINE-RED");
	/* With red switched off, yellow is the highest rung that can come out. */
	assert_true(mon_ruleset_disable_rule(fx->rs, "APR-DEADLINE-RED", &err));
	eval(fx, "2026-04-20T12:00:00+08:00");
	assert_rules(fx, "APR-DEADLINE-YELLOW");
	assert_false(mon_ruleset_set_param(fx->rs, "warn_days", -1, &err));
	assert_string_equal(err.field, "warn_days");
	assert_false(mon_ruleset_set_param(fx->rs, "no_such", 1, &err));
	assert_false(mon_ruleset_disable_rule(fx->rs, "APR-NO-SUCH", &err));
	/* Read back: as set, or the default; a refused value changed nothing. */
	long long v = -1;
	assert_true(mon_ruleset_get_param(fx->rs, "supervise_days", &v));
	assert_int_equal(v, 5);
	assert_true(mon_ruleset_get_param(fx->rs, "warn_days", &v));
	assert_int_equal(v, 0);
	assert_true(mon_ruleset_get_param(fx->rs, "late_report_hours", &v));
	assert_int_equal(v, 24);
	assert_false(mon_ruleset_get_param(fx->rs, "no_such", &v));
}

/* An item's own supervise_days (items.csv column) wins over the parameter: T-SUP's 督办
 * deadline is 1 working day after its committed day 03-16, so 03-17 24:00, whatever the
 * global supervise_days; T-10 (column empty) follows the parameter. */
static void test_supervise_days_per_item(void **state)
{
	struct fx *fx = *state;
	struct mon_error err;

	accept(fx, "2026-03-02T09:15:00+08:00", "T-SUP");
	eval(fx, "2026-03-18T00:00:00+08:00");
	assert_rules(fx, "APR-DEADLINE-YELLOW");
	assert_int_equal(fx->ev.state.next_check, T("2026-03-18T00:00:01+08:00"));
	eval(fx, "2026-03-18T00:00:01+08:00");
	assert_rules(fx, "APR-DEADLINE-RED");
	assert_int_equal(cond(fx, "APR-DEADLINE-RED")->since, T("2026-03-18T00:00:01+08:00"));
	assert_true(mon_ruleset_set_param(fx->rs, "supervise_days", 5, &err));
	eval(fx, "2026-03-18T00:00:01+08:00");
	assert_rules(fx, "APR-DEADLINE-RED");

	/* the same dates on T-10 follow the parameter (5: red after 03-23) */
	mon_event_finish(&fx->events[0]);
	fx->count = 0;
	accept(fx, "2026-03-02T09:15:00+08:00", "T-10");
	eval(fx, "2026-03-23T23:59:59+08:00");
	assert_rules(fx, "APR-DEADLINE-YELLOW");
	eval(fx, "2026-03-24T00:00:01+08:00");
	assert_rules(fx, "APR-DEADLINE-RED");
}

static void receive(struct fx *fx, const char *at, const char *item)
{
	char extra[64];

	snprintf(extra, sizeof(extra), ",\"item\":\"%s\"", item);
	add(fx, "approval.received", at, extra);
}

static void restart(struct fx *fx)
{
	for (size_t i = 0; i < fx->count; i++)
		mon_event_finish(&fx->events[i]);
	fx->count = 0;
}

/* 行政许可法 §32: T-10 received Monday 2026-03-02 09:05; 5 working days after it are
 * 03-03..06, 09: unanswered at 03-09 24:00, the application counts as accepted from its
 * receipt, and the clock runs from 03-02 (committed 03-16, statutory 03-30, as case A). */
static void test_deemed_acceptance(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	receive(fx, "2026-03-02T09:05:00+08:00", "T-10");
	st = eval(fx, "2026-03-09T23:59:59+08:00");
	assert_int_equal(st->status, MON_CASE_RECEIVED);
	assert_int_equal(st->committed_day, -1);
	assert_int_equal(st->next_check, T("2026-03-10T00:00:01+08:00"));
	st = eval(fx, "2026-03-10T00:00:01+08:00");
	assert_int_equal(st->status, MON_CASE_ACCEPTED);
	assert_int_equal(st->committed_day, D("2026-03-16"));
	assert_int_equal(st->statutory_day, D("2026-03-30"));
	assert_int_equal(st->counted_days, 6);
	assert_int_equal(st->facts.accepted_at, T("2026-03-02T09:05:00+08:00"));
	assert_int_equal(st->next_check, T("2026-03-13T00:00:01+08:00"));
	eval(fx, "2026-03-17T00:00:01+08:00");
	assert_rules(fx, "APR-DEADLINE-YELLOW");
	assert_string_equal(cond(fx, "APR-DEADLINE-YELLOW")->evidence[0], "e1");

	/* Accepted late, on 03-11 (day 7): the clock still counts from the receipt. */
	accept(fx, "2026-03-11T09:30:00+08:00", "T-10");
	st = eval(fx, "2026-03-17T00:00:01+08:00");
	assert_rules(fx, "APR-DEADLINE-YELLOW");
	assert_int_equal(st->committed_day, D("2026-03-16"));
	assert_int_equal(st->facts.accepted_at, T("2026-03-02T09:05:00+08:00"));

	/* Decided after the window without an acceptance: accepted by §32, so no
	 * APR-ORDER-DECIDED-UNACCEPTED; on time by the deadlines counted from the receipt. */
	restart(fx);
	receive(fx, "2026-03-02T09:05:00+08:00", "T-10");
	add(fx, "approval.decided", "2026-03-12T10:00:00+08:00", ",\"result\":\"approved\"");
	st = eval(fx, "2026-03-20T12:00:00+08:00");
	assert_rules(fx, "");
	assert_int_equal(st->status, MON_CASE_DECIDED);
	assert_int_equal(st->facts.on_time_committed, MON_TRI_TRUE);
}

/* An answer by the end of day 5 stops §32: an acceptance (the clock from it), a supplement
 * notice (no clock until an acceptance), an intake refusal or a decision. */
static void test_deemed_acceptance_answered(void **state)
{
	struct fx *fx = *state;
	struct mon_error err;
	const struct mon_case_state *st;

	receive(fx, "2026-03-02T09:05:00+08:00", "T-10");
	accept(fx, "2026-03-09T23:59:59+08:00", "T-10");
	st = eval(fx, "2026-03-20T12:00:00+08:00");
	assert_int_equal(st->committed_day, D("2026-03-23"));
	assert_int_equal(st->facts.accepted_at, T("2026-03-09T23:59:59+08:00"));

	restart(fx);
	receive(fx, "2026-03-02T09:05:00+08:00", "T-10");
	add(fx, "approval.supplement_requested", "2026-03-05T16:00:00+08:00", "");
	st = eval(fx, "2026-03-20T12:00:00+08:00");
	assert_int_equal(st->status, MON_CASE_RECEIVED);
	assert_int_equal(st->committed_day, -1);
	assert_int_equal(st->facts.accepted_at, MON_TIME_NONE);
	assert_int_equal(st->next_check, INT64_MAX);
	assert_rules(fx, "");

	/* told one second too late: deemed accepted, and the notice itself is late */
	restart(fx);
	receive(fx, "2026-03-02T09:05:00+08:00", "T-10");
	add(fx, "approval.supplement_requested", "2026-03-10T00:00:01+08:00", "");
	st = eval(fx, "2026-03-10T12:00:00+08:00");
	assert_int_equal(st->status, MON_CASE_ACCEPTED);
	assert_rules(fx, "APR-SUPPLEMENT-LATE");

	restart(fx);
	receive(fx, "2026-03-02T09:05:00+08:00", "T-10");
	add(fx, "approval.refused_intake", "2026-03-09T18:00:00+08:00",
		",\"reason\":\"r\",\"report\":\"BPZ-1\"");
	st = eval(fx, "2026-03-20T12:00:00+08:00");
	assert_int_equal(st->status, MON_CASE_REFUSED);
	assert_int_equal(st->committed_day, -1);

	/* the window follows supplement_days (the same 5 days as APR-SUPPLEMENT-LATE) */
	restart(fx);
	receive(fx, "2026-03-02T09:05:00+08:00", "T-10");
	assert_true(mon_ruleset_set_param(fx->rs, "supplement_days", 3, &err));
	st = eval(fx, "2026-03-05T23:59:59+08:00");
	assert_int_equal(st->status, MON_CASE_RECEIVED);
	assert_int_equal(st->next_check, T("2026-03-06T00:00:01+08:00"));
	st = eval(fx, "2026-03-06T00:00:01+08:00");
	assert_int_equal(st->status, MON_CASE_ACCEPTED);
}

/* An event dated after `now` has not happened yet; the case wakes when it does. */
static void test_future_event_waits(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	accept(fx, "2026-03-02T09:15:00+08:00", "T-10");
	add(fx, "approval.decided", "2026-03-10T10:00:00+08:00", ",\"result\":\"approved\"");
	st = eval(fx, "2026-03-09T12:00:00+08:00");
	assert_int_equal(st->status, MON_CASE_ACCEPTED);
	assert_int_equal(st->next_check, T("2026-03-10T10:00:00+08:00"));
}

static void test_unknown_item(void **state)
{
	struct fx *fx = *state;
	const struct mon_case_state *st;

	accept(fx, "2026-03-02T09:15:00+08:00", "NOPE-1");
	st = eval(fx, "2026-04-20T12:00:00+08:00");
	assert_rules(fx, "APR-ITEM-UNKNOWN");
	assert_int_equal(st->committed_day, -1);
	assert_int_equal(st->committed_days, 0);
	assert_int_equal(st->next_check, INT64_MAX);
	assert_string_equal(st->item, "NOPE-1");
}

static void test_bad_input(void **state)
{
	struct fx *fx = *state;
	struct mon_evaluation ev;
	struct mon_error err;
	json_t *obj;

	assert_false(mon_case_evaluate(fx->rs, fx->ces, 0, 0, &ev, &err));
	accept(fx, "2026-03-02T09:15:00+08:00", "T-10");
	obj = json_loads("{\"id\":\"x\",\"dept\":\"LY-TEST\",\"type\":\"approval.resumed\","
		"\"at\":\"2026-03-03T09:00:00+08:00\",\"case\":\"C-2\"}", 0, NULL);
	assert_true(mon_event_from_json(obj, &fx->events[1], &err));
	json_decref(obj);
	fx->ces[1].event = &fx->events[1];
	fx->ces[1].received_at = 0;
	fx->count = 2;
	assert_false(mon_case_evaluate(fx->rs, fx->ces, 2, 0, &ev, &err));
	assert_string_equal(err.field, "case");
}

static void expect_items_refused(struct fx *fx, const char *csv, const char *field)
{
	struct mon_error err;

	if (mon_ruleset_load_items(fx->rs, csv, strlen(csv), &err))
		fail_msg("accepted: %s", csv);
	assert_string_equal(err.field, field);
}

static void test_items_loader(void **state)
{
	struct fx *fx = *state;
	const char *head = "code,dept,name,statutory_days,committed_days,unit\n";
	char csv[512];

	expect_items_refused(fx, "code,dept,name,statutory_days,committed_days\n", "line 1");
#define ROW(r) (snprintf(csv, sizeof(csv), "%s%s", head, r), csv)
	expect_items_refused(fx, ROW("X-1,LY-TEST,x,5,6,working\n"), "line 2, column committed_days");
	expect_items_refused(fx, ROW("X-1,LY-TEST,x,5,3,days\n"), "line 2, column unit");
	expect_items_refused(fx, ROW("X-1,LY-TEST,x,+5,3,working\n"), "line 2, column statutory_days");
	expect_items_refused(fx, ROW("X 1,LY-TEST,x,5,3,working\n"), "line 2, column code");
	expect_items_refused(fx, ROW("X-1,LY-TEST,,5,3,working\n"), "line 2, column name");
	expect_items_refused(fx, ROW("X-1,LY-TEST,x,5,3,working\nX-1,LY-TEST,y,5,3,working\n"),
		"code");
	expect_items_refused(fx, "code,dept,name,statutory_days,committed_days,unit,step_days\n"
		"X-1,LY-TEST,x,5,3,working,review=0\n", "line 2, column step_days");
	expect_items_refused(fx, "code,dept,name,statutory_days,committed_days,unit,step_days\n"
		"X-1,LY-TEST,x,5,3,working,review=1;review=2\n", "line 2, column step_days");
	expect_items_refused(fx, "code,dept,name,statutory_days,committed_days,unit,warn_days\n"
		"X-1,LY-TEST,x,5,3,working,two\n", "line 2, column warn_days");
	expect_items_refused(fx, "code,dept,name,statutory_days,committed_days,unit,supervise_days\n"
		"X-1,LY-TEST,x,5,3,working,0\n", "line 2, column supervise_days");
	expect_items_refused(fx, "code,dept,name,statutory_days,committed_days,unit,supervise_days\n"
		"X-1,LY-TEST,x,5,3,working,3651\n", "line 2, column supervise_days");
#undef ROW
	/* The refusals left the fixture's catalogue in force. */
	accept(fx, "2026-03-02T09:15:00+08:00", "T-10");
	assert_int_equal(eval(fx, "2026-03-03T12:00:00+08:00")->committed_days, 10);
}

int main(int argc, char **argv)
{
#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		TEST(test_ladder_boundaries),
		TEST(test_supervise_days_per_item),
		TEST(test_deemed_acceptance),
		TEST(test_deemed_acceptance_answered),
		TEST(test_decided_around_deadline),
		TEST(test_late_decision_clears_yellow),
		TEST(test_late_report_boundary),
		TEST(test_out_of_order),
		TEST(test_accepted_on_holiday),
		TEST(test_accepted_on_worked_saturday),
		TEST(test_accepted_late_at_night_other_offset),
		TEST(test_across_new_year),
		TEST(test_suspension_ending_at_midnight),
		TEST(test_suspension_over_holiday_week),
		TEST(test_special_resumed_late),
		TEST(test_extension),
		TEST(test_extension_after_statutory_deadline),
		TEST(test_case_clock_spans),
		TEST(test_case_clock_late_extension),
		TEST(test_supplement),
		TEST(test_order_rules),
		TEST(test_step_limit),
		TEST(test_calendar_unit_ladder),
		TEST(test_parameters_and_switches),
		TEST(test_future_event_waits),
		TEST(test_unknown_item),
		TEST(test_bad_input),
		TEST(test_items_loader),
	};
#undef TEST

	if (argc != 2) {
		fprintf(stderr, "usage: %s CALENDAR_CSV\n", argv[0]);
		return 2;
	}
	calendar_path = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
