/* case_fixture.h: the shared fixture of the supervision rule tests (test_fees.c,
 * test_penalties.c, test_enforcement.c, test_service.c, test_trade.c): a ruleset with the
 * real calendar (config/calendar.csv, path in argv[1]) and the test's own reference tables,
 * events written as JSON, context events of other cases, and the rules an evaluation
 * raised as one comma-separated string. Functions are static inline: each test file uses
 * some of them. */
#ifndef CASE_FIXTURE_H
#define CASE_FIXTURE_H

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

#define FX_EVENTS_MAX 24

struct fx {
	struct mon_ruleset *rs;
	size_t count;
	struct mon_event events[FX_EVENTS_MAX];
	struct mon_case_event ces[FX_EVENTS_MAX];
	struct mon_evaluation ev;
	char rules[1024];
};

static const char *fx_calendar_path;

static inline int64_t T(const char *rfc3339)
{
	int64_t epoch = 0;
	int offset;

	if (!mon_time_parse(rfc3339, &epoch, &offset))
		fail_msg("bad test time %s", rfc3339);
	return epoch;
}

static inline int32_t D(const char *ymd)
{
	char stamp[40];

	snprintf(stamp, sizeof(stamp), "%sT12:00:00+08:00", ymd);
	return mon_day_of(T(stamp));
}

static inline void fx_load(struct fx *fx, const char *table, const char *csv)
{
	struct mon_error err;

	if (!mon_ruleset_load(fx->rs, table, csv, strlen(csv), &err))
		fail_msg("%s refused: %s: expected %s, got %s", table, err.field, err.expected, err.got);
}

/* Loading `csv` into `table` fails, naming `field` (a prefix such as "line 2, column
 * max_amount"). */
static inline void fx_refused(struct fx *fx, const char *table, const char *csv,
		const char *field)
{
	struct mon_error err;

	if (mon_ruleset_load(fx->rs, table, csv, strlen(csv), &err))
		fail_msg("%s accepted: %s", table, csv);
	if (strncmp(err.field, field, strlen(field)) != 0)
		fail_msg("%s: error on '%s' (%s), expected '%s'", table, err.field, err.expected, field);
}

static inline struct fx *fx_create(void)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	static char csv[1 << 16];
	FILE *f = fopen(fx_calendar_path, "rb");
	struct mon_error err;
	size_t len;

	if (fx == NULL || f == NULL || (fx->rs = mon_ruleset_create()) == NULL)
		fail_msg("setup: cannot read %s", fx_calendar_path);
	len = fread(csv, 1, sizeof(csv), f);
	fclose(f);
	if (!mon_ruleset_load(fx->rs, "calendar", csv, len, &err))
		fail_msg("setup: %s: %s (got %s)", err.field, err.expected, err.got);
	return fx;
}

/* Drops the events, keeping the ruleset. */
static inline void fx_clear(struct fx *fx)
{
	for (size_t i = 0; i < fx->count; i++)
		mon_event_finish(&fx->events[i]);
	fx->count = 0;
	mon_evaluation_finish(&fx->ev);
}

static inline void fx_destroy(struct fx *fx)
{
	fx_clear(fx);
	mon_ruleset_destroy(fx->rs);
	free(fx);
}

/* Adds an event given as a JSON object; `context`: another case's, read only. */
static inline void fx_add_event(struct fx *fx, bool context, const char *fmt, ...)
{
	char text[1024];
	struct mon_error err;
	va_list ap;
	json_t *obj;

	assert_true(fx->count < FX_EVENTS_MAX);
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	obj = json_loads(text, 0, NULL);
	if (obj == NULL || !mon_event_from_json(obj, &fx->events[fx->count], &err))
		fail_msg("test event refused: %s: %s: %s", text, err.field, err.expected);
	json_decref(obj);
	fx->ces[fx->count].event = &fx->events[fx->count];
	fx->ces[fx->count].received_at = fx->events[fx->count].at;
	fx->ces[fx->count].context = context;
	fx->count++;
}

#define fx_add(fx, ...) fx_add_event((fx), false, __VA_ARGS__)
#define fx_context(fx, ...) fx_add_event((fx), true, __VA_ARGS__)

/* Evaluates every event as of now; fx->rules lists the rules raised, in output order. */
static inline const struct mon_case_state *fx_eval(struct fx *fx, const char *now)
{
	struct mon_error err;
	size_t used = 0;

	mon_evaluation_finish(&fx->ev);
	if (!mon_case_evaluate(fx->rs, fx->ces, fx->count, T(now), &fx->ev, &err))
		fail_msg("evaluation failed: %s %s (got %s)", err.field, err.expected, err.got);
	fx->rules[0] = '\0';
	for (size_t i = 0; i < fx->ev.count; i++)
		used += (size_t)snprintf(fx->rules + used, sizeof(fx->rules) - used, "%s%s",
			i == 0 ? "" : ",", fx->ev.conditions[i].rule);
	return &fx->ev.state;
}

/* The condition of `rule` (the first, when there are several). */
static inline const struct mon_condition *fx_cond(struct fx *fx, const char *rule)
{
	for (size_t i = 0; i < fx->ev.count; i++) {
		if (strcmp(fx->ev.conditions[i].rule, rule) == 0)
			return &fx->ev.conditions[i];
	}
	fail_msg("no %s among [%s]", rule, fx->rules);
	return NULL;
}

static inline void fx_param(struct fx *fx, const char *name, long long value)
{
	struct mon_error err;

	if (!mon_ruleset_set_param(fx->rs, name, value, &err))
		fail_msg("param %s refused: %s", name, err.expected);
}

static inline int fx_setup(void **state)
{
	*state = fx_create();
	return 0;
}

static inline int fx_teardown(void **state)
{
	fx_destroy(*state);
	return 0;
}

#define assert_rules(fx, expected) assert_string_equal((fx)->rules, (expected))

/* main() of every test file: argv[1] is the calendar. */
#define FX_MAIN(tests) \
	int main(int argc, char **argv) \
	{ \
		if (argc != 2) { \
			fprintf(stderr, "usage: %s CALENDAR_CSV\n", argv[0]); \
			return 2; \
		} \
		fx_calendar_path = argv[1]; \
		return cmocka_run_group_tests(tests, NULL, NULL); \
	}

#endif
