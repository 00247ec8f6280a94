/* test_calendar.c: local days in Asia/Shanghai (midnight seen from other offsets) and the
 * working-day calendar: plain weekdays and weekends, holidays and worked weekend days
 * (调休) from the real config/calendar.csv (path given as argv[1]), the calendar unit, and
 * the refusals of the calendar loader. */
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

static const char *calendar_path;

static int64_t at(const char *rfc3339)
{
	int64_t epoch = 0;
	int offset;

	if (!mon_time_parse(rfc3339, &epoch, &offset))
		fail_msg("bad test time %s", rfc3339);
	return epoch;
}

/* A local date as a day number, through the public API only. */
static int32_t day(const char *ymd)
{
	char stamp[40];

	snprintf(stamp, sizeof(stamp), "%sT12:00:00+08:00", ymd);
	return mon_day_of(at(stamp));
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

static bool working(void **state, const char *ymd)
{
	return mon_ruleset_is_working_day(*state, day(ymd));
}

static void test_day_of_midnight(void **state)
{
	(void)state;
	assert_int_equal(day("1970-01-01"), 0);
	assert_int_equal(mon_day_of(at("2026-03-01T23:59:59+08:00")), day("2026-03-01"));
	assert_int_equal(mon_day_of(at("2026-03-02T00:00:00+08:00")), day("2026-03-02"));
	/* 15:59:59Z is 23:59:59 in Luoyang; 16:00:00Z is already the next day there. */
	assert_int_equal(mon_day_of(at("2026-03-01T15:59:59Z")), day("2026-03-01"));
	assert_int_equal(mon_day_of(at("2026-03-01T16:00:00Z")), day("2026-03-02"));
	/* A department writing -05:00: 10:59:59 on the 1st is 23:59:59 on the 1st at +08:00,
	 * 11:00 is midnight of the 2nd. */
	assert_int_equal(mon_day_of(at("2026-03-01T10:59:59-05:00")), day("2026-03-01"));
	assert_int_equal(mon_day_of(at("2026-03-01T11:00:00-05:00")), day("2026-03-02"));
	/* +14:00: 01:59:59 on the 2nd there is 19:59:59 on the 1st here. */
	assert_int_equal(mon_day_of(at("2026-03-02T01:59:59+14:00")), day("2026-03-01"));
	/* Before the epoch the division floors: 1969-12-31 23:59:59 +08:00 is day -1. */
	assert_int_equal(mon_day_of(-28801), -1);
	assert_int_equal(mon_day_of(-28800), 0);
}

static void test_day_end_and_format(void **state)
{
	char buf[16];

	(void)state;
	assert_int_equal(mon_day_end(day("2026-03-02")), at("2026-03-03T00:00:00+08:00"));
	assert_int_equal(mon_day_end(day("2025-12-31")), at("2026-01-01T00:00:00+08:00"));
	assert_int_equal(mon_day_of(mon_day_end(day("2026-03-02"))), day("2026-03-03"));
	assert_int_equal(mon_day_of(mon_day_end(day("2026-03-02")) - 1), day("2026-03-02"));
	mon_day_format(day("2026-02-28"), buf, sizeof(buf));
	assert_string_equal(buf, "2026-02-28");
	mon_day_format(day("2024-02-29"), buf, sizeof(buf));
	assert_string_equal(buf, "2024-02-29");
	mon_day_format(0, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01");
}

/* Without any calendar data only the weekday rule applies. */
static void test_weekdays_without_data(void **state)
{
	struct mon_ruleset *rs = mon_ruleset_create();

	(void)state;
	assert_non_null(rs);
	assert_true(mon_ruleset_is_working_day(rs, day("2026-03-02")));    /* Monday */
	assert_true(mon_ruleset_is_working_day(rs, day("2026-03-06")));    /* Friday */
	assert_false(mon_ruleset_is_working_day(rs, day("2026-03-07")));   /* Saturday */
	assert_false(mon_ruleset_is_working_day(rs, day("2026-03-08")));   /* Sunday */
	assert_true(mon_ruleset_is_working_day(rs, day("1970-01-01")));    /* a Thursday */
	/* Without data, New Year's Day 2026 (a Thursday) is an ordinary working day. */
	assert_true(mon_ruleset_is_working_day(rs, day("2026-01-01")));
	mon_ruleset_destroy(rs);
}

/* 2026 Spring Festival (the State Council notice of 2025-11-04): Sat 02-14 worked, 02-15 (Sun)
 * to 02-23 (Mon) off, Sat 02-28 worked. */
static void test_spring_festival_2026(void **state)
{
	assert_true(working(state, "2026-02-13"));             /* Friday before: working */
	assert_true(working(state, "2026-02-14"));             /* Saturday, 调休上班 */
	assert_false(working(state, "2026-02-15"));
	assert_false(working(state, "2026-02-17"));            /* Tuesday, 春节 */
	assert_false(working(state, "2026-02-20"));            /* Friday, 春节 */
	assert_false(working(state, "2026-02-23"));            /* Monday, still 春节 */
	assert_true(working(state, "2026-02-24"));             /* Tuesday: back at work */
	assert_false(working(state, "2026-02-22"));            /* Sunday */
	assert_true(working(state, "2026-02-28"));             /* Saturday, 调休上班 */
	assert_false(working(state, "2026-03-01"));            /* Sunday, plain */
}

/* 2025 National Day combined with Mid-Autumn: Sun 09-28 worked, 10-01 to 10-08 off
 * (Wednesday 10-08 included), Sat 10-11 worked. */
static void test_national_day_2025(void **state)
{
	assert_false(working(state, "2025-09-27"));            /* Saturday, plain */
	assert_true(working(state, "2025-09-28"));             /* Sunday, 调休上班 */
	assert_true(working(state, "2025-09-30"));
	assert_false(working(state, "2025-10-01"));
	assert_false(working(state, "2025-10-06"));            /* Monday, 中秋 in the holiday */
	assert_false(working(state, "2025-10-08"));            /* Wednesday, last day off */
	assert_true(working(state, "2025-10-09"));
	assert_true(working(state, "2025-10-11"));             /* Saturday, 调休上班 */
	assert_false(working(state, "2025-10-12"));            /* Sunday, plain */
}

static void test_new_year_and_plain_days(void **state)
{
	assert_true(working(state, "2025-12-31"));
	assert_false(working(state, "2026-01-01"));
	assert_false(working(state, "2026-01-02"));            /* Friday */
	assert_false(working(state, "2026-01-03"));            /* Saturday, listed as holiday */
	assert_true(working(state, "2026-01-04"));             /* Sunday, 调休上班 */
	assert_true(working(state, "2026-01-05"));
	assert_true(working(state, "2024-02-04"));             /* Sunday, 调休上班 2024 */
	/* Years the file does not cover fall back to the weekday rule. */
	assert_true(working(state, "2027-01-04"));
	assert_false(working(state, "2027-01-02"));
	assert_true(working(state, "2023-03-15"));
}

/* A case accepted on `accepted_at` for an item of `days` in `unit`: its committed day. */
static int32_t committed_day(struct mon_ruleset *rs, const char *unit, int days,
		const char *accepted_at)
{
	char items[256], event[256];
	struct mon_case_event ce;
	struct mon_evaluation ev;
	struct mon_event e;
	struct mon_error err;
	json_t *obj;
	int32_t result;

	snprintf(items, sizeof(items), "code,dept,name,statutory_days,committed_days,unit\n"
		"U-1,LY-TEST,unit test,%d,%d,%s\n", days, days, unit);
	if (!mon_ruleset_load_items(rs, items, strlen(items), &err))
		fail_msg("items refused: %s %s", err.field, err.expected);
	snprintf(event, sizeof(event), "{\"id\":\"a\",\"dept\":\"LY-TEST\",\"type\":"
		"\"approval.accepted\",\"at\":\"%s\",\"case\":\"C\",\"item\":\"U-1\"}",
		accepted_at);
	obj = json_loads(event, 0, NULL);
	if (obj == NULL || !mon_event_from_json(obj, &e, &err))
		fail_msg("event refused: %s %s", err.field, err.expected);
	json_decref(obj);
	ce.event = &e;
	ce.received_at = e.at;
	ce.context = false;
	if (!mon_case_evaluate(rs, &ce, 1, e.at, &ev, &err))
		fail_msg("evaluation failed: %s", err.expected);
	result = ev.state.committed_day;
	mon_evaluation_finish(&ev);
	mon_event_finish(&e);
	return result;
}

/* The unit decides what counts. Accepted Saturday 2026-02-14 (a worked day) at 10:00:
 * 5 calendar days are 02-15..02-19, holidays included: the limit ends 2026-02-19.
 * 5 working days skip the holiday 02-15..02-23: 02-24, 25, 26, 27 and Saturday 02-28,
 * itself a worked day: 2026-02-28. */
static void test_unit_calendar_vs_working(void **state)
{
	assert_int_equal(committed_day(*state, "calendar", 5, "2026-02-14T10:00:00+08:00"),
		day("2026-02-19"));
	assert_int_equal(committed_day(*state, "working", 5, "2026-02-14T10:00:00+08:00"),
		day("2026-02-28"));
	/* 1 calendar day from Friday 2026-03-06 is Saturday 03-07; 1 working day is Monday. */
	assert_int_equal(committed_day(*state, "calendar", 1, "2026-03-06T10:00:00+08:00"),
		day("2026-03-07"));
	assert_int_equal(committed_day(*state, "working", 1, "2026-03-06T10:00:00+08:00"),
		day("2026-03-09"));
}

static bool load(struct mon_ruleset *rs, const char *csv, struct mon_error *err)
{
	return mon_ruleset_load_calendar(rs, csv, strlen(csv), err);
}

static void test_loader_accepts_variants(void **state)
{
	struct mon_ruleset *rs = mon_ruleset_create();
	struct mon_error err;

	(void)state;
	/* BOM, CRLF, a quoted name with a comma and a doubled quote, a blank line. */
	assert_true(load(rs, "\xef\xbb\xbf" "date,kind,name\r\n2026-03-02,holiday,\"a, \"\"b\"\"\"\r\n"
		"\r\n2026-03-07,workday,x\r\n", &err));
	assert_false(mon_ruleset_is_working_day(rs, day("2026-03-02")));
	assert_true(mon_ruleset_is_working_day(rs, day("2026-03-07")));
	/* A later load replaces the whole calendar. */
	assert_true(load(rs, "date,kind,name\n2026-03-03,holiday,y\n", &err));
	assert_true(mon_ruleset_is_working_day(rs, day("2026-03-02")));
	assert_false(mon_ruleset_is_working_day(rs, day("2026-03-03")));
	assert_false(mon_ruleset_is_working_day(rs, day("2026-03-07")));
	/* Header only: an empty calendar. */
	assert_true(load(rs, "date,kind,name\n", &err));
	assert_true(mon_ruleset_is_working_day(rs, day("2026-03-03")));
	mon_ruleset_destroy(rs);
}

static void expect_refused(const char *csv, const char *field, const char *got)
{
	struct mon_ruleset *rs = mon_ruleset_create();
	struct mon_error err;

	assert_true(load(rs, "date,kind,name\n2026-03-03,holiday,kept\n", &err));
	if (load(rs, csv, &err))
		fail_msg("accepted: %s", csv);
	assert_string_equal(err.field, field);
	if (got != NULL)
		assert_string_equal(err.got, got);
	/* A refused file leaves the previous calendar in force. */
	assert_false(mon_ruleset_is_working_day(rs, day("2026-03-03")));
	mon_ruleset_destroy(rs);
}

static void test_loader_refusals(void **state)
{
	(void)state;
	expect_refused("", "line 1", "(empty file)");
	expect_refused("day,kind,name\n", "line 1", "day");
	expect_refused("date,kind,name\n2026-02-29,holiday,x\n", "line 2, column date", "2026-02-29");
	expect_refused("date,kind,name\n2026-2-01,holiday,x\n", "line 2, column date", "2026-2-01");
	expect_refused("date,kind,name\n2026-03-04,vacation,x\n", "line 2, column kind", "vacation");
	/* A Monday cannot be a worked weekend day: the row is a slip. */
	expect_refused("date,kind,name\n2026-03-02,workday,x\n", "line 2, column kind",
		"2026-03-02");
	expect_refused("date,kind,name\n2026-03-04,holiday,a\n2026-03-04,holiday,b\n", "date",
		"2026-03-04");
	expect_refused("date,kind,name\n2026-03-04,holiday\n", "line 2, column name", NULL);
	expect_refused("date,kind,name\n2026-03-04,holiday,\"open\n", "line 2", NULL);
	expect_refused("date,kind,name\n2026-03-04,holi\"day,x\n", "line 2", NULL);
	expect_refused("date,kind,name\n1969-12-31,holiday,x\n", "line 2, column date", NULL);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_day_of_midnight),
		cmocka_unit_test(test_day_end_and_format),
		cmocka_unit_test(test_weekdays_without_data),
		cmocka_unit_test_setup_teardown(test_spring_festival_2026, setup_real, teardown),
		cmocka_unit_test_setup_teardown(test_national_day_2025, setup_real, teardown),
		cmocka_unit_test_setup_teardown(test_new_year_and_plain_days, setup_real, teardown),
		cmocka_unit_test_setup_teardown(test_unit_calendar_vs_working, setup_real, teardown),
		cmocka_unit_test(test_loader_accepts_variants),
		cmocka_unit_test(test_loader_refusals),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s CALENDAR_CSV\n", argv[0]);
		return 2;
	}
	calendar_path = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
