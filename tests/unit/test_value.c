/* test_value.c: boundaries of the scalar parsers: RFC 3339 times (calendar edges,
 * offsets, midnight crossings), money in fen, credit codes and identity numbers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "mon_value.h"

static int64_t must_parse(const char *s, int *offset)
{
	int64_t epoch = 0;
	int off = 0;

	if (!mon_time_parse(s, &epoch, &off))
		fail_msg("refused: %s", s);
	if (offset != NULL)
		*offset = off;
	return epoch;
}

static void assert_time_refused(const char *s)
{
	int64_t epoch;
	int off;

	if (mon_time_parse(s, &epoch, &off))
		fail_msg("accepted: %s", s != NULL ? s : "(null)");
}

static void test_time_known_instants(void **state)
{
	int off;

	(void)state;
	assert_int_equal(must_parse("2026-03-02T09:15:00+08:00", &off), 1772414100);
	assert_int_equal(off, 480);
	assert_int_equal(must_parse("1970-01-01T00:00:00Z", &off), 0);
	assert_int_equal(off, 0);
	assert_int_equal(must_parse("1970-01-01t00:00:00z", NULL), 0);
	assert_int_equal(must_parse("1970-01-01T08:00:00+08:00", NULL), 0);
	assert_int_equal(must_parse("9999-12-31T23:59:59+00:00", NULL), 253402300799);
	assert_int_equal(must_parse("2026-12-31T23:59:59+14:00", &off), 1798711199);
	assert_int_equal(off, 14 * 60);
	/* -00:00 is RFC 3339's "offset unknown": the instant is still UTC. */
	assert_int_equal(must_parse("2026-03-02T01:15:00-00:00", &off), 1772414100);
}

/* days-from-civil against the C library's timegm, noon of every day 1970..2400. */
static void test_time_matches_timegm(void **state)
{
	char buf[40];
	struct tm tm;

	(void)state;
	for (time_t t = 43200; t < (time_t)13569480000LL; t += 86400) {
		gmtime_r(&t, &tm);
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
		assert_int_equal(must_parse(buf, NULL), (int64_t)timegm(&tm));
	}
}

static void test_time_leap_days(void **state)
{
	(void)state;
	assert_int_equal(must_parse("2024-02-29T12:00:00-12:00", NULL), 1709251200);
	must_parse("2000-02-29T00:00:00Z", NULL);
	must_parse("2400-02-29T00:00:00Z", NULL);
	assert_time_refused("2026-02-29T00:00:00+08:00");
	assert_time_refused("2100-02-29T00:00:00+08:00");
	assert_time_refused("2026-02-30T00:00:00+08:00");
	assert_time_refused("2026-04-31T00:00:00+08:00");
	assert_time_refused("2026-13-01T00:00:00+08:00");
	assert_time_refused("2026-00-10T00:00:00+08:00");
	assert_time_refused("2026-01-00T00:00:00+08:00");
	assert_time_refused("2026-01-32T00:00:00+08:00");
}

static void test_time_clock_bounds(void **state)
{
	(void)state;
	assert_int_equal(must_parse("2026-03-02T23:59:59+08:00", NULL) -
		must_parse("2026-03-02T00:00:00+08:00", NULL), 86399);
	assert_time_refused("2026-03-02T24:00:00+08:00");
	assert_time_refused("2026-03-02T23:60:00+08:00");
	assert_time_refused("2026-03-02T23:59:60+08:00");
	assert_time_refused("1969-12-31T23:59:59Z");
	assert_time_refused("10000-01-01T00:00:00Z");
}

static void test_time_offsets(void **state)
{
	int off;

	(void)state;
	assert_int_equal(must_parse("2026-03-02T00:00:00-12:00", &off),
		must_parse("2026-03-02T12:00:00Z", NULL));
	assert_int_equal(off, -720);
	assert_int_equal(must_parse("2026-03-02T14:00:00+14:00", &off),
		must_parse("2026-03-02T00:00:00Z", NULL));
	assert_int_equal(off, 840);
	must_parse("2026-03-02T00:00:00-14:00", NULL);
	must_parse("2026-03-02T00:00:00+05:45", NULL);
	assert_time_refused("2026-03-02T00:00:00+14:01");
	assert_time_refused("2026-03-02T00:00:00-14:30");
	assert_time_refused("2026-03-02T00:00:00+15:00");
	assert_time_refused("2026-03-02T00:00:00+08:60");
	assert_time_refused("2026-03-02T00:00:00+0800");
	assert_time_refused("2026-03-02T00:00:00+8:00");
	assert_time_refused("2026-03-02T00:00:00");
	assert_time_refused("2026-03-02T00:00:00 +08:00");
}

/* 23:30 in New York on 1 March is 12:30 on 2 March in Luoyang. */
static void test_time_offset_crosses_midnight(void **state)
{
	char buf[40];
	int off;
	int64_t t = must_parse("2026-03-01T23:30:00-05:00", &off);

	(void)state;
	assert_int_equal(t, 1772425800);
	assert_int_equal(t, must_parse("2026-03-02T04:30:00Z", NULL));
	mon_time_format(t, 8 * 60, buf, sizeof(buf));
	assert_string_equal(buf, "2026-03-02T12:30:00+08:00");
	mon_time_format(t, off, buf, sizeof(buf));
	assert_string_equal(buf, "2026-03-01T23:30:00-05:00");
	mon_time_format(t, 0, buf, sizeof(buf));
	assert_string_equal(buf, "2026-03-02T04:30:00Z");
}

static void test_time_fraction_and_syntax(void **state)
{
	(void)state;
	assert_int_equal(must_parse("2026-03-02T09:15:00.999999999+08:00", NULL), 1772414100);
	assert_int_equal(must_parse("2026-03-02T09:15:00.5Z", NULL),
		must_parse("2026-03-02T09:15:00Z", NULL));
	assert_time_refused("2026-03-02T09:15:00.+08:00");
	assert_time_refused("2026-03-02T09:15:00.1234567890+08:00");
	assert_time_refused("2026-03-02T09:15:00+08:00 ");
	assert_time_refused("2026-03-02T09:15:00+08:00x");
	assert_time_refused(" 2026-03-02T09:15:00+08:00");
	assert_time_refused("2026-03-02 09:15:00+08:00");
	assert_time_refused("2026-3-02T09:15:00+08:00");
	assert_time_refused("2026-03-02T9:15:00+08:00");
	assert_time_refused("2026-03-02T09:15+08:00");
	assert_time_refused("2026-03-02");
	assert_time_refused("");
	assert_time_refused(NULL);
}

static void assert_hint(const char *s, const char *hint)
{
	char buf[160];

	if (!mon_time_hint(s, buf, sizeof(buf)))
		fail_msg("no hint for %s", s);
	assert_string_equal(buf, hint);
}

static void assert_no_hint(const char *s)
{
	char buf[160] = "untouched";

	if (mon_time_hint(s, buf, sizeof(buf)))
		fail_msg("hint for %s: %s", s != NULL ? s : "(null)", buf);
	assert_string_equal(buf, "untouched");
}

/* Java's usual forms are still refused, and the hint rebuilds the same date and time. */
static void test_time_hints(void **state)
{
	char small[24];

	(void)state;
	assert_hint("2026-03-02T10:00:00+0800", "an RFC 3339 date-time with a colon in the "
		"offset, such as 2026-03-02T10:00:00+08:00");
	assert_hint("2026-11-30T23:59:58-0530", "an RFC 3339 date-time with a colon in the "
		"offset, such as 2026-11-30T23:59:58-05:30");
	assert_hint("2026-03-02T10:00:00+08", "an RFC 3339 date-time with a colon in the "
		"offset, such as 2026-03-02T10:00:00+08:00");
	assert_hint("2026-03-02T10:00:00", "an RFC 3339 date-time with an offset, such as "
		"2026-03-02T10:00:00+08:00");
	assert_hint("2027-01-05T07:08:09.125", "an RFC 3339 date-time with an offset, such as "
		"2027-01-05T07:08:09.125+08:00");
	assert_hint("2026-03-02 10:00:00+08:00", "an RFC 3339 date-time with T between date "
		"and time, such as 2026-03-02T10:00:00+08:00");
	assert_hint("2026-03-02 10:00:00Z", "an RFC 3339 date-time with T between date "
		"and time, such as 2026-03-02T10:00:00Z");
	assert_hint("2026-03-02 10:00:00", "an RFC 3339 date-time with T between date and "
		"time and an offset, such as 2026-03-02T10:00:00+08:00");
	assert_hint("2026-03-02 10:00:00+0800", "an RFC 3339 date-time with T between date "
		"and time and a colon in the offset, such as 2026-03-02T10:00:00+08:00");
	/* no hint: valid, impossible, or not a date-time at all */
	assert_no_hint("2026-03-02T10:00:00+08:00");
	assert_no_hint("2026-02-30T10:00:00+0800");
	assert_no_hint("2026-03-02 24:00:00");
	assert_no_hint("2026-03-02T10:00:00+1500");
	assert_no_hint("2026-03-02T10:00:00+08:0");
	assert_no_hint("2026-03-02T10:00:00+080");
	assert_no_hint("2026/03/02 10:00:00");
	assert_no_hint("2026-03-02");
	assert_no_hint("");
	assert_no_hint(NULL);
	/* Java's OffsetDateTime.toString() leaves out zero seconds: the sender's own value */
	assert_hint("2026-11-20T09:15+08:00", "an RFC 3339 date-time: seconds are required, "
		"such as 2026-11-20T09:15:00+08:00");
	assert_hint("2026-11-20T09:15Z", "an RFC 3339 date-time: seconds are required, "
		"such as 2026-11-20T09:15:00Z");
	assert_hint("2026-11-20T09:15", "an RFC 3339 date-time with seconds and an offset, "
		"such as 2026-11-20T09:15:00+08:00");
	assert_hint("2026-11-20 09:15+0800", "an RFC 3339 date-time with T between date and "
		"time, seconds and a colon in the offset, such as 2026-11-20T09:15:00+08:00");
	assert_no_hint("2026-11-20T09:15.5+08:00");
	assert_no_hint("2026-11-20T09:1+08:00");
	/* a short buffer is cut, never overrun */
	assert_true(mon_time_hint("2026-03-02T10:00:00", small, sizeof(small)));
	assert_int_equal(strlen(small), sizeof(small) - 1);
}

static void assert_impossible(const char *s, const char *why)
{
	char buf[160];

	if (!mon_time_impossible(s, buf, sizeof(buf)))
		fail_msg("not impossible: %s", s);
	assert_string_equal(buf, why);
}

static void assert_not_impossible(const char *s)
{
	char buf[160] = "untouched";

	if (mon_time_impossible(s, buf, sizeof(buf)))
		fail_msg("impossible: %s: %s", s != NULL ? s : "(null)", buf);
	assert_string_equal(buf, "untouched");
}

/* A date or time in the right form that does not exist says which part, not the form. */
static void test_time_impossible(void **state)
{
	(void)state;
	assert_impossible("2026-02-30T09:15:00+08:00",
		"a date that exists (no such day: February 2026 has 28 days)");
	assert_impossible("2024-02-30T09:15:00+08:00",
		"a date that exists (no such day: February 2024 has 29 days)");
	assert_impossible("2026-04-31T09:15:00Z",
		"a date that exists (no such day: April 2026 has 30 days)");
	assert_impossible("2026-04-00T09:15:00Z",
		"a date that exists (no such day: April 2026 has 30 days)");
	assert_impossible("2026-13-01T09:15:00+08:00",
		"a date that exists (no such month: 13; months are 01 to 12)");
	assert_impossible("2026-03-02T24:00:00+08:00", "a time that exists (no such hour: 24; "
		"hours are 00 to 23, and midnight ending a day is 00:00:00 of the next)");
	assert_impossible("2026-03-02T09:60:00+08:00",
		"a time that exists (no such minute: 60; minutes are 00 to 59)");
	assert_impossible("2026-03-02T09:15:60+08:00", "a time that exists (no such second: 60; "
		"seconds are 00 to 59, leap seconds are not sent)");
	assert_impossible("1969-12-31T23:59:59Z", "a date from 1970 to 9999 (no year 1969 here)");
	/* in a wrong form too: what does not exist is said first */
	assert_impossible("2026-02-30 10:00:00", "a date that exists (no such day: "
		"February 2026 has 28 days)");
	assert_impossible("2026-03-02T24:00+0800", "a time that exists (no such hour: 24; "
		"hours are 00 to 23, and midnight ending a day is 00:00:00 of the next)");
	assert_no_hint("2026-02-30T09:15:00+08:00");
	/* valid, a mere wrong form, or not a date-time */
	assert_not_impossible("2024-02-29T23:59:59+08:00");
	assert_not_impossible("2026-03-02T10:00:00+0800");
	assert_not_impossible("2026-03-02T10:00:00+15:00");
	assert_not_impossible("2026-02-30");
	assert_not_impossible("2026/02/30 10:00:00");
	assert_not_impossible("");
	assert_not_impossible(NULL);
}

static void test_time_format_round_trip(void **state)
{
	static const char *const samples[] = {
		"1970-01-01T00:00:00+14:00", "2024-02-29T23:59:59-12:00",
		"2026-03-02T09:15:00+08:00", "2026-10-01T00:00:00+05:45",
		"9999-12-31T23:59:59-14:00", "2000-02-29T12:00:00-03:30",
	};
	char buf[40];

	(void)state;
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		int off;
		int64_t t = must_parse(samples[i], &off);
		mon_time_format(t, off, buf, sizeof(buf));
		assert_string_equal(buf, samples[i]);
	}
	mon_time_format(INT64_MAX, 0, buf, sizeof(buf));   /* clamped, not overflowed */
	mon_time_format(INT64_MIN, -840, buf, sizeof(buf));
	mon_time_format(0, 0, buf, 8);
	assert_string_equal(buf, "1970-01");
}

static int64_t money(json_t *v)
{
	int64_t fen = -1;
	bool ok = mon_money_parse(v, &fen);

	json_decref(v);
	return ok ? fen : -1;
}

static void test_money_strings(void **state)
{
	(void)state;
	assert_int_equal(money(json_string("1234.50")), 123450);
	assert_int_equal(money(json_string("15000")), 1500000);
	assert_int_equal(money(json_string("0.5")), 50);
	assert_int_equal(money(json_string("0.01")), 1);
	assert_int_equal(money(json_string("0")), 0);
	assert_int_equal(money(json_string("999999999999.99")), INT64_C(99999999999999));
	static const char *const refused[] = {
		"0.001", "", ".5", "1.", "+1", "-1", "1e3", "1E3", " 1", "1 ", "1,000",
		"1000000000000", "1000000000000.00", "1.2.3", "0x10", "NaN", "１",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		if (money(json_string(refused[i])) != -1)
			fail_msg("accepted money %s", refused[i]);
	}
}

static void test_money_numbers(void **state)
{
	(void)state;
	assert_int_equal(money(json_integer(15000)), 1500000);
	assert_int_equal(money(json_integer(0)), 0);
	assert_int_equal(money(json_integer(999999999999)), INT64_C(99999999999900));
	assert_int_equal(money(json_integer(1000000000000)), -1);
	assert_int_equal(money(json_integer(-1)), -1);
	assert_int_equal(money(json_real(0.5)), 50);
	assert_int_equal(money(json_real(0.07)), 7);
	assert_int_equal(money(json_real(19.99)), 1999);
	assert_int_equal(money(json_real(1e-2)), 1);
	assert_int_equal(money(json_real(1e-3)), -1);
	assert_int_equal(money(json_real(1e-7)), -1);
	assert_int_equal(money(json_real(1e-9)), -1);
	assert_int_equal(money(json_real(1234.505)), -1);
	assert_int_equal(money(json_real(0.1 + 0.2)), -1);
	assert_int_equal(money(json_real(1234567890.12)), INT64_C(123456789012));
	assert_int_equal(money(json_real(999999999999.99)), INT64_C(99999999999999));
	assert_int_equal(money(json_real(1e12)), -1);
	assert_int_equal(money(json_real(-0.5)), -1);
	assert_int_equal(money(json_true()), -1);
	assert_int_equal(money(json_null()), -1);
	assert_int_equal(money(json_object()), -1);
	assert_int_equal(money(NULL), -1);
}

static void test_money_format(void **state)
{
	char buf[24];

	(void)state;
	mon_money_format(0, buf, sizeof(buf));
	assert_string_equal(buf, "0.00");
	mon_money_format(5, buf, sizeof(buf));
	assert_string_equal(buf, "0.05");
	mon_money_format(123450, buf, sizeof(buf));
	assert_string_equal(buf, "1234.50");
	mon_money_format(INT64_C(99999999999999), buf, sizeof(buf));
	assert_string_equal(buf, "999999999999.99");
	mon_money_format(-150, buf, sizeof(buf));
	assert_string_equal(buf, "-1.50");
	mon_money_format(INT64_MIN, buf, sizeof(buf));
	assert_string_equal(buf, "-92233720368547758.08");
}

static void test_uscc(void **state)
{
	/* The first is the public example of GB 32100-2015; the rest were computed with an
	 * independent implementation of the check digit (one with check value 31 -> '0'). */
	static const char *const good[] = {
		"91350100M000100Y43", "91410300MA44ABCD1R", "91110000100000000R",
		"12410300415800000A", "52410300MJY000001K", "914103000000000290",
	};
	static const char *const bad[] = {
		"91350100M000100Y44", "91410300MA44ABCD1S", "91350100m000100Y43",
		"91350100M000100Y4", "91350100M000100Y433", "91350100I000100Y43",
		"91350100O000100Y43", "9135010ZM000100Y43", "914103000000000291", "",
		"91410300MA44ABCD1r",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(mon_uscc_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (mon_uscc_valid(bad[i]))
			fail_msg("accepted uscc %s", bad[i]);
	}
	assert_false(mon_uscc_valid(NULL));
}

static void test_citizen_id(void **state)
{
	static const char *const good[] = {
		"11010519491231002X", "410302198802291236", "410302200002290016",
		"110101199003071233", "440304200001010025",
	};
	/* Correct check digits around impossible birth dates, then broken check digits. */
	static const char *const bad[] = {
		"410302200102290013", "410302199902300018", "410302189912310018",
		"410302199913010016", "410302199912000019", "11010519491231002x",
		"110105194912310021", "410302198802291237", "41030219880229123",
		"4103021988022912360", "41030219880229123A", "", "A10302198802291236",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(mon_citizen_id_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (mon_citizen_id_valid(bad[i]))
			fail_msg("accepted id %s", bad[i]);
	}
	assert_false(mon_citizen_id_valid(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time_known_instants),
		cmocka_unit_test(test_time_matches_timegm),
		cmocka_unit_test(test_time_leap_days),
		cmocka_unit_test(test_time_clock_bounds),
		cmocka_unit_test(test_time_offsets),
		cmocka_unit_test(test_time_offset_crosses_midnight),
		cmocka_unit_test(test_time_fraction_and_syntax),
		cmocka_unit_test(test_time_hints),
		cmocka_unit_test(test_time_impossible),
		cmocka_unit_test(test_time_format_round_trip),
		cmocka_unit_test(test_money_strings),
		cmocka_unit_test(test_money_numbers),
		cmocka_unit_test(test_money_format),
		cmocka_unit_test(test_uscc),
		cmocka_unit_test(test_citizen_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
