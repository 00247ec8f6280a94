/* test_push_state.c: the state file of `esupctl push` (contrib/push_state.c): what it parses,
 * what it refuses, that a formatted state parses back to itself; and the retry delay (full
 * jitter doubling from 0.5 s to a 30 s cap, never below Retry-After). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "push_state.h"

#define SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void
test_parse(void **unused)
{
	static const char text[] = "esup-push-state 1\nstatus finished\n"
		"input 1234 10 " SHA " events/march 2026.ndjson\n"
		"input 0 0 " SHA " -\n";
	struct push_state st;
	char err[256];

	(void)unused;
	assert_true(push_state_parse(text, strlen(text), &st, err, sizeof(err)));
	assert_true(st.finished);
	assert_int_equal(st.count, 2);
	assert_string_equal(st.inputs[0].path, "events/march 2026.ndjson");
	assert_int_equal(st.inputs[0].bytes, 1234);
	assert_int_equal(st.inputs[0].lines, 10);
	assert_string_equal(st.inputs[0].sha256, SHA);
	assert_string_equal(st.inputs[1].path, "-");
	push_state_finish(&st);
}

static void
test_round_trip(void **unused)
{
	struct push_state st = { 0 }, back;
	char err[256], *text;
	size_t len;

	(void)unused;
	assert_true(push_state_add(&st, "a.ndjson"));
	assert_true(push_state_add(&st, "-"));
	assert_false(push_state_add(&st, "two\nlines"));
	assert_false(push_state_add(&st, ""));
	st.inputs[0].bytes = 18446744073709551ULL;
	st.inputs[0].lines = 7;
	memcpy(st.inputs[0].sha256, SHA, 65);
	memcpy(st.inputs[1].sha256, SHA, 65);
	text = push_state_format(&st, &len);
	assert_non_null(text);
	assert_string_equal(text, "esup-push-state 1\nstatus running\n"
		"input 18446744073709551 7 " SHA " a.ndjson\ninput 0 0 " SHA " -\n");
	assert_true(push_state_parse(text, len, &back, err, sizeof(err)));
	assert_false(back.finished);
	assert_int_equal(back.count, 2);
	assert_int_equal(back.inputs[0].bytes, 18446744073709551ULL);
	free(text);
	push_state_finish(&back);
	push_state_finish(&st);
}

static void
refused(const char *text, const char *want)
{
	struct push_state st;
	char err[256];

	assert_false(push_state_parse(text, strlen(text), &st, err, sizeof(err)));
	if (strstr(err, want) == NULL)
		fail_msg("%s: got '%s', want '%s'", text, err, want);
	push_state_finish(&st);
}

static void
test_refused(void **unused)
{
	(void)unused;
	refused("", "line 1: expected \"esup-push-state 1\" and a status line");
	refused("esup-push-state 2\nstatus running\n", "line 1: expected \"esup-push-state 1\"");
	refused("esup-push-state 1\nstatus done\n", "line 2: expected \"status running\"");
	refused("esup-push-state 1\nstatus running\n", "at least one input line");
	refused("esup-push-state 1\nstatus running\ninput 10 2 " SHA " a", "a line feed");
	refused("esup-push-state 1\nstatus running\ninput 10 2 " SHA "\n", "a path of 1");
	refused("esup-push-state 1\nstatus running\ninput 10 2 " SHA " \n", "a path of 1");
	refused("esup-push-state 1\nstatus running\ninput x 2 " SHA " a\n", "BYTES LINES");
	refused("esup-push-state 1\nstatus running\ninput 010 2 " SHA " a\n", "BYTES LINES");
	refused("esup-push-state 1\nstatus running\ninput 12345678901234567890 2 " SHA " a\n",
		"BYTES LINES");
	refused("esup-push-state 1\nstatus running\ninput 1 2 " SHA " a\n", "at most as many");
	refused("esup-push-state 1\nstatus running\ninput 10 2 E3B0 a\n", "SHA-256");
	refused("esup-push-state 1\nstatus running\ninput 10 2 " SHA " a\r\n", "a path");
	refused("esup-push-state 1\nstatus running\nbogus\n", "line 3: expected \"input");
}

static void
test_backoff(void **unused)
{
	(void)unused;
	/* the ceiling doubles from 0.5 s and stops at 30 s; u picks a point under it */
	assert_int_equal(push_backoff_ms(0, -1, 0.999999), 499);
	assert_int_equal(push_backoff_ms(1, -1, 0.5), 500);
	assert_int_equal(push_backoff_ms(2, -1, 0.5), 1000);
	assert_int_equal(push_backoff_ms(6, -1, 0.5), 15000);
	assert_int_equal(push_backoff_ms(7, -1, 0.5), 15000);     /* 64 s capped at 30 s */
	assert_int_equal(push_backoff_ms(1000, -1, 0.5), 15000);
	assert_int_equal(push_backoff_ms(3, -1, 0.0), 0);
	/* Retry-After is a floor, not a replacement for the jitter */
	assert_int_equal(push_backoff_ms(0, 2, 0.9), 2000);
	assert_int_equal(push_backoff_ms(8, 2, 0.5), 15000);
	assert_int_equal(push_backoff_ms(0, 0, 0.5), 250);
	/* a u outside [0, 1) counts as 0 */
	assert_int_equal(push_backoff_ms(4, -1, 1.0), 0);
	assert_int_equal(push_backoff_ms(4, 3, -0.5), 3000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
