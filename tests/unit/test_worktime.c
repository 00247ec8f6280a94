/* test_worktime.c: 督办 working time on the real config/calendar.csv (path as argv[1]): N
 * working hours after an instant (working hours 09:00-17:00) and N working days after it,
 * at their boundaries and across a weekend, a holiday and a worked weekend day (调休). */
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

#define NINE (9 * 3600)
#define FIVE (17 * 3600)

static const char *calendar_path;

static int64_t at(const char *rfc3339)
{
	int64_t epoch = 0;
	int offset;

	if (!mon_time_parse(rfc3339, &epoch, &offset))
		fail_msg("bad test time %s", rfc3339);
	return epoch;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(1 << 20);

	if (f == NULL || buf == NULL)
		fail_msg("cannot read %s", path);
	*len = fread(buf, 1, (1 << 20) - 1, f);
	fclose(f);
	buf[*len] = '\0';
	return buf;
}

static int setup_real(void **state)
{
	struct mon_ruleset *rs = mon_ruleset_create();
	struct mon_error err;
	size_t len;
	char *csv = slurp(calendar_path, &len);

	if (rs == NULL || !mon_ruleset_load_calendar(rs, csv, len, &err))
		fail_msg("calendar.csv refused: %s: %s (got %s)", err.field, err.expected, err.got);
	free(csv);
	*state = rs;
	return 0;
}

static int teardown(void **state)
{
	mon_ruleset_destroy(*state);
	return 0;
}

/* Compares as text, so a failure shows both instants readably. */
static void expect_hours(void **state, const char *from, int hours, const char *want)
{
	char got[40] = "never";
	int64_t t = mon_working_hours_after(*state, NINE, FIVE, at(from), hours);

	if (t != INT64_MAX)
		mon_time_format(t, 480, got, sizeof(got));
	if (strcmp(got, want) != 0)
		fail_msg("%s + %d working hours: got %s, want %s", from, hours, got, want);
}

static void expect_days(void **state, const char *from, int days, const char *want)
{
	char got[40] = "never";
	int64_t t = mon_working_days_after(*state, at(from), days);

	if (t != INT64_MAX)
		mon_time_format(t, 480, got, sizeof(got));
	if (strcmp(got, want) != 0)
		fail_msg("%s + %d working days: got %s, want %s", from, days, got, want);
}

static void test_hours_within_a_day(void **state)
{
	expect_hours(state, "2026-03-02T10:00:00+08:00", 4, "2026-03-02T14:00:00+08:00");
	expect_hours(state, "2026-03-02T09:00:00+08:00", 8, "2026-03-02T17:00:00+08:00");
	expect_hours(state, "2026-03-02T10:00:00+08:00", 8, "2026-03-03T10:00:00+08:00");
	expect_hours(state, "2026-03-02T10:00:00+08:00", 0, "2026-03-02T10:00:00+08:00");
	/* before the start counts from 09:00; after the end from the next working day */
	expect_hours(state, "2026-03-02T07:30:00+08:00", 1, "2026-03-02T10:00:00+08:00");
	expect_hours(state, "2026-03-02T08:59:59+08:00", 1, "2026-03-02T10:00:00+08:00");
	expect_hours(state, "2026-03-02T16:59:59+08:00", 1, "2026-03-03T09:59:59+08:00");
	expect_hours(state, "2026-03-02T17:00:00+08:00", 1, "2026-03-03T10:00:00+08:00");
	expect_hours(state, "2026-03-02T23:30:00+08:00", 2, "2026-03-03T11:00:00+08:00");
	/* the same instant written in UTC */
	expect_hours(state, "2026-03-02T02:00:00Z", 16, "2026-03-04T10:00:00+08:00");
}

static void test_hours_across_weekend(void **state)
{
	expect_hours(state, "2026-03-06T15:00:00+08:00", 4, "2026-03-09T11:00:00+08:00");
	expect_hours(state, "2026-03-07T10:00:00+08:00", 1, "2026-03-09T10:00:00+08:00");
	expect_hours(state, "2026-03-06T15:00:00+08:00", 2, "2026-03-06T17:00:00+08:00");
}

/* 清明 2026: Sat 04-04 to Mon 04-06 off. */
static void test_hours_across_holiday(void **state)
{
	expect_hours(state, "2026-04-03T16:00:00+08:00", 2, "2026-04-07T10:00:00+08:00");
	expect_hours(state, "2026-04-03T16:00:00+08:00", 16, "2026-04-08T16:00:00+08:00");
	expect_hours(state, "2026-04-06T12:00:00+08:00", 1, "2026-04-07T10:00:00+08:00");
}

/* 春节 2026: Sat 02-14 worked, 02-15 to 02-23 off, Sat 02-28 worked. */
static void test_hours_across_adjusted_workday(void **state)
{
	expect_hours(state, "2026-02-13T16:00:00+08:00", 2, "2026-02-14T10:00:00+08:00");
	expect_hours(state, "2026-02-14T16:00:00+08:00", 2, "2026-02-24T10:00:00+08:00");
	expect_hours(state, "2026-02-27T16:00:00+08:00", 4, "2026-02-28T12:00:00+08:00");
}

static void test_days(void **state)
{
	/* the starting day does not count; the deadline is the end (24:00) of the Nth day */
	expect_days(state, "2026-03-02T10:00:00+08:00", 1, "2026-03-04T00:00:00+08:00");
	expect_days(state, "2026-03-02T00:00:00+08:00", 1, "2026-03-04T00:00:00+08:00");
	expect_days(state, "2026-03-02T23:59:59+08:00", 3, "2026-03-06T00:00:00+08:00");
	expect_days(state, "2026-03-02T10:00:00+08:00", 0, "2026-03-02T10:00:00+08:00");
	/* across a weekend */
	expect_days(state, "2026-03-06T10:00:00+08:00", 1, "2026-03-10T00:00:00+08:00");
	expect_days(state, "2026-03-05T10:00:00+08:00", 3, "2026-03-11T00:00:00+08:00");
	/* across 清明 and 劳动节 (05-01 to 05-05 off, Sat 05-09 worked) */
	expect_days(state, "2026-04-03T10:00:00+08:00", 1, "2026-04-08T00:00:00+08:00");
	/* across 春节 with its worked Saturdays */
	expect_days(state, "2026-02-13T10:00:00+08:00", 1, "2026-02-15T00:00:00+08:00");
	expect_days(state, "2026-02-13T10:00:00+08:00", 2, "2026-02-25T00:00:00+08:00");
	expect_days(state, "2026-02-27T10:00:00+08:00", 1, "2026-03-01T00:00:00+08:00");
}

static void test_bad_arguments(void **state)
{
	int64_t t = at("2026-03-02T10:00:00+08:00");

	assert_false(mon_work_hours_valid(FIVE, NINE));
	assert_false(mon_work_hours_valid(NINE, NINE));
	assert_false(mon_work_hours_valid(-1, FIVE));
	assert_false(mon_work_hours_valid(0, 86401));
	assert_true(mon_work_hours_valid(0, 86400));
	assert_true(mon_working_hours_after(*state, FIVE, NINE, t, 1) == INT64_MAX);
	assert_true(mon_working_hours_after(*state, NINE, FIVE, t, -1) == INT64_MAX);
	assert_true(mon_working_days_after(*state, t, -1) == INT64_MAX);
	assert_true(mon_working_hours_after(*state, NINE, FIVE, INT64_MAX, 1) == INT64_MAX);
	/* a huge count ends the walk instead of running on */
	assert_true(mon_working_hours_after(*state, NINE, FIVE, t, 1 << 30) == INT64_MAX);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hours_within_a_day, setup_real, teardown),
		cmocka_unit_test_setup_teardown(test_hours_across_weekend, setup_real, teardown),
		cmocka_unit_test_setup_teardown(test_hours_across_holiday, setup_real, teardown),
		cmocka_unit_test_setup_teardown(test_hours_across_adjusted_workday, setup_real, teardown),
		cmocka_unit_test_setup_teardown(test_days, setup_real, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup_real, teardown),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s calendar.csv\n", argv[0]);
		return 2;
	}
	calendar_path = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
