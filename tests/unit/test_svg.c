/* test_svg.c: the report's escaping and charts (contrib/svg.c): HTML/XML escaping of hostile
 * text, CSV quoting and the formula guard, axis rounding, and that the charts put each value
 * where it belongs and never an unescaped label. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "svg.h"

/* A memory stream; capture_end closes it and returns what was written, NUL-terminated
 * (the caller frees). */
static void
capture_begin(FILE **out, size_t *len, char **buf)
{
	*out = open_memstream(buf, len);
	assert_non_null(*out);
}

static char *
capture_end(FILE *out, char **buf)
{
	assert_int_equal(fclose(out), 0);
	return *buf;
}

static char *
escaped(const char *s)
{
	FILE *out;
	size_t len;
	char *buf;

	capture_begin(&out, &len, &buf);
	markup_put(out, s);
	return capture_end(out, &buf);
}

static char *
csv(const char *s, bool text)
{
	FILE *out;
	size_t len;
	char *buf;

	capture_begin(&out, &len, &buf);
	csv_put(out, s, text);
	return capture_end(out, &buf);
}

#define CHECK_STR(got, want) do { char *g_ = (got); assert_string_equal(g_, want); free(g_); } while (0)

static void
test_markup(void **state)
{
	(void)state;
	CHECK_STR(escaped("<script>&\"'</script>"), "&lt;script&gt;&amp;&quot;&#39;&lt;/script&gt;");
	CHECK_STR(escaped("洛阳市<&>局"), "洛阳市&lt;&amp;&gt;局");
	CHECK_STR(escaped("a\tb\nc"), "a\tb\nc");
	/* Control characters and broken UTF-8 become U+FFFD. */
	CHECK_STR(escaped("a\x01" "b\x7f"), "a\xef\xbf\xbd" "b\xef\xbf\xbd");
	CHECK_STR(escaped("x\xe6\xb4" "y"), "x\xef\xbf\xbd\xef\xbf\xbdy");
	CHECK_STR(escaped("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd");           /* overlong '/' */
	CHECK_STR(escaped("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* surrogate */
	CHECK_STR(escaped(""), "");
	CHECK_STR(escaped(NULL), "");
}

static void
test_csv(void **state)
{
	(void)state;
	CHECK_STR(csv("plain", true), "plain");
	CHECK_STR(csv("a,b", false), "\"a,b\"");
	CHECK_STR(csv("say \"hi\"", false), "\"say \"\"hi\"\"\"");
	CHECK_STR(csv("two\r\nlines", false), "\"two\r\nlines\"");
	CHECK_STR(csv("=HYPERLINK(\"x\")", true), "\"'=HYPERLINK(\"\"x\"\")\"");
	CHECK_STR(csv("@SUM(A1)", true), "\"'@SUM(A1)\"");
	/* A negative number is a number, not a formula, in a number column. */
	CHECK_STR(csv("-12.50", false), "-12.50");
	CHECK_STR(csv("-12.50", true), "\"'-12.50\"");
	CHECK_STR(csv(NULL, true), "");
}

static void
test_nice_max(void **state)
{
	(void)state;
	assert_true(svg_nice_max(0) == 1);
	assert_true(svg_nice_max(1) == 1);
	assert_true(svg_nice_max(3) == 5);
	assert_true(svg_nice_max(10) == 10);
	assert_true(svg_nice_max(11) == 20);
	assert_true(svg_nice_max(20) == 20);
	assert_true(svg_nice_max(21) == 50);
	assert_true(svg_nice_max(51) == 100);
	assert_true(svg_nice_max(1234) == 2000);
}

static size_t
count(const char *s, const char *what)
{
	size_t n = 0;

	for (const char *p = s; (p = strstr(p, what)) != NULL; p += strlen(what))
		n++;
	return n;
}

static void
test_hbars(void **state)
{
	static const char *const labels[3] = { "甲局<b>", "乙局", "一个名字非常非常长的部门名称超过了标签栏的宽度" };
	static const double rate[3] = { 50, NAN, 100 };
	struct svg_series s = { "按时办结率", "#389e0d", rate };
	struct svg_bars chart = { "on-time & rate", 3, labels, 1, &s, 100, "%", 1 };
	FILE *out;
	size_t len;
	char *buf;

	(void)state;
	capture_begin(&out, &len, &buf);
	svg_hbars(out, &chart);
	capture_end(out, &buf);
	assert_non_null(strstr(buf, "<svg class=\"chart\""));
	assert_null(strstr(buf, "http"));
	assert_non_null(strstr(buf, "aria-label=\"on-time &amp; rate\""));
	assert_null(strstr(buf, "<b>"));
	assert_non_null(strstr(buf, "甲局&lt;b&gt;"));
	/* Two bars (the NAN has none), half and whole of the 496-unit scale. */
	assert_int_equal(count(buf, "<rect "), 2);
	assert_non_null(strstr(buf, "width=\"248.0\""));
	assert_non_null(strstr(buf, "width=\"496.0\""));
	assert_non_null(strstr(buf, ">50.0%</text>"));
	assert_non_null(strstr(buf, ">100.0%</text>"));
	assert_non_null(strstr(buf, ">—</text>"));
	/* The long label is cut, with an ellipsis. */
	assert_non_null(strstr(buf, "…</text>"));
	assert_null(strstr(buf, "超过了标签栏的宽度"));
	assert_non_null(strstr(buf, "</svg>"));
	free(buf);
}

static void
test_stacked(void **state)
{
	static const char *const labels[2] = { "A", "B" };
	static const double red[2] = { 1, 0 }, yellow[2] = { 2, 0 }, blue[2] = { 3, 4 };
	struct svg_series s[3] = { { "红牌", "red", red }, { "黄牌", "yellow", yellow },
		{ "预警", "blue", blue } };
	struct svg_bars chart = { "cards", 2, labels, 3, s, 0, "", 0 };
	FILE *out;
	size_t len;
	char *buf;

	(void)state;
	capture_begin(&out, &len, &buf);
	svg_hbars(out, &chart);
	capture_end(out, &buf);
	/* Axis 0..10 (6 rounded up) in steps of 2; legend swatches 3, segments 4 (zeros drawn
	 * as none). */
	assert_int_equal(count(buf, "<rect "), 3 + 4);
	assert_non_null(strstr(buf, ">10</text>"));
	assert_non_null(strstr(buf, ">8</text>"));
	assert_null(strstr(buf, ">2.5</text>"));
	assert_non_null(strstr(buf, ">6</text>"));       /* A's total */
	assert_non_null(strstr(buf, ">4</text>"));       /* B's total */
	assert_non_null(strstr(buf, "红牌</text>"));
	free(buf);
}

static void
test_trend(void **state)
{
	static const char *const labels[3] = { "2026-01", "2026-02", "2026-03" };
	static const double received[3] = { 10, 0, 40 }, decided[3] = { 5, 0, 30 };
	static const double rate[3] = { 80, NAN, 90 };
	struct svg_series bars[2] = { { "收件", "grey", received }, { "办结", "blue", decided } };
	struct svg_trend chart = { "trend", 3, labels, 2, bars, { "按时办结率", "green", rate } };
	FILE *out;
	size_t len;
	char *buf;

	(void)state;
	capture_begin(&out, &len, &buf);
	svg_trend(out, &chart);
	capture_end(out, &buf);
	assert_non_null(strstr(buf, ">2026-02</text>"));
	assert_non_null(strstr(buf, ">80.0%</text>"));
	assert_non_null(strstr(buf, ">90.0%</text>"));
	/* No value in February: two dots and no segment joining across the gap. */
	assert_int_equal(count(buf, "<circle "), 2);
	assert_int_equal(count(buf, "stroke-width=\"2\""), 0);
	/* The left axis 0..50 (40 rounded up) in five steps of 10, the right one 0..100 % in
	 * steps of 20. */
	assert_non_null(strstr(buf, ">50</text>"));
	assert_non_null(strstr(buf, ">10</text>"));
	assert_non_null(strstr(buf, ">20%</text>"));
	assert_null(strstr(buf, ">25%</text>"));
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_markup),
		cmocka_unit_test(test_csv),
		cmocka_unit_test(test_nice_max),
		cmocka_unit_test(test_hbars),
		cmocka_unit_test(test_stacked),
		cmocka_unit_test(test_trend),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
