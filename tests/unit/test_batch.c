/* test_batch.c: splitting bodies into items: JSON objects and arrays, NDJSON with bad
 * lines among good ones, CRLF, blank lines, oversize lines, the event count limit,
 * duplicate keys, nesting depth, NUL bytes, the ids echoed for refused events, and the
 * unknown-field warnings each item carries, refused or not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "mon_batch.h"

#define EV(id) "{\"id\":\"" id "\",\"dept\":\"LY-ZJJ\",\"type\":\"evaluation.received\"," \
	"\"at\":\"2026-03-03T10:00:00+08:00\",\"satisfied\":true}"

static const struct mon_limits limits = { .max_line = 256, .max_depth = 4, .max_events = 5 };

static bool parse(const char *body, size_t len, enum mon_body_format format,
		struct mon_batch *batch, struct mon_error *err)
{
	return mon_batch_parse(body, len, format, &limits, batch, err);
}

static void parse_ok(const char *body, enum mon_body_format format, struct mon_batch *batch)
{
	struct mon_error err;

	if (!parse(body, strlen(body), format, batch, &err))
		fail_msg("body refused: '%s' '%s' '%s'", err.field, err.expected, err.got);
}

/* The same limits, with room for more events in one body. */
static const struct mon_limits roomy = { .max_line = 256, .max_depth = 4, .max_events = 16 };

static void parse_roomy(const char *body, size_t len, struct mon_batch *batch)
{
	struct mon_error err;

	if (!mon_batch_parse(body, len, MON_BODY_JSON, &roomy, batch, &err))
		fail_msg("body refused: '%s' '%s' '%s'", err.field, err.expected, err.got);
}

static void assert_valid(const struct mon_batch *b, size_t i, const char *id)
{
	assert_true(i < b->count);
	if (!b->items[i].valid)
		fail_msg("item %zu refused: '%s' '%s' '%s'", i, b->items[i].error.field,
			b->items[i].error.expected, b->items[i].error.got);
	assert_string_equal(b->items[i].id, id);
	assert_string_equal(b->items[i].event.id, id);
	assert_non_null(b->items[i].event.body);
}

static void assert_invalid(const struct mon_batch *b, size_t i, const char *id,
		const char *expected_prefix)
{
	assert_true(i < b->count);
	assert_false(b->items[i].valid);
	assert_string_equal(b->items[i].id, id);
	if (strncmp(b->items[i].error.expected, expected_prefix, strlen(expected_prefix)) != 0)
		fail_msg("item %zu: expected '%s', got error '%s'", i, expected_prefix,
			b->items[i].error.expected);
}

static void test_json_object(void **state)
{
	struct mon_batch b;

	(void)state;
	parse_ok(EV("a"), MON_BODY_JSON, &b);
	assert_int_equal(b.count, 1);
	assert_valid(&b, 0, "a");
	mon_batch_finish(&b);
	assert_int_equal(b.count, 0);
	assert_null(b.items);
	mon_batch_finish(&b);
	mon_batch_finish(NULL);
}

static void test_json_array(void **state)
{
	struct mon_batch b;

	(void)state;
	parse_ok("[" EV("a") ", 17, " EV("c") ", {\"id\":\"d\",\"type\":\"x\"}]", MON_BODY_JSON, &b);
	assert_int_equal(b.count, 4);
	assert_valid(&b, 0, "a");
	assert_invalid(&b, 1, "", "a JSON object");
	assert_string_equal(b.items[1].error.got, "17");
	assert_valid(&b, 2, "c");
	assert_invalid(&b, 3, "d", "a department code");
	assert_string_equal(b.items[3].error.field, "dept");
	mon_batch_finish(&b);

	parse_ok(" [ ] ", MON_BODY_JSON, &b);
	assert_int_equal(b.count, 0);
	mon_batch_finish(&b);
}

static void assert_body_refused(const char *body, size_t len, enum mon_body_format format,
		const char *expected_prefix, const char *got_part)
{
	struct mon_batch b;
	struct mon_error err;

	if (parse(body, len, format, &b, &err))
		fail_msg("body accepted: %s", body);
	assert_int_equal(b.count, 0);
	assert_null(b.items);
	/* only the events limit makes a body too large (413); anything else is malformed (400) */
	assert_int_equal(b.too_large, strncmp(expected_prefix, "at most", 7) == 0);
	assert_string_equal(err.field, "");
	assert_memory_equal(err.expected, expected_prefix, strlen(expected_prefix));
	if (strstr(err.got, got_part) == NULL)
		fail_msg("got '%s' lacks '%s'", err.got, got_part);
}

static void test_json_refused(void **state)
{
	static const char nul_body[] = "[" EV("a") ",\0" EV("b") "]";

	(void)state;
	assert_body_refused("{\"id\":", 6, MON_BODY_JSON, "a JSON object or array of objects",
		"line 1 column");
	assert_body_refused("", 0, MON_BODY_JSON, "a JSON object or array of objects", "line");
	assert_body_refused("42", 2, MON_BODY_JSON, "a JSON object or array of objects", "");
	assert_body_refused("\"text\"", 6, MON_BODY_JSON, "a JSON object or array", "");
	assert_body_refused(EV("a") " x", strlen(EV("a")) + 2, MON_BODY_JSON,
		"a JSON object or array", "");
	assert_body_refused("{\"id\":\"a\",\"id\":\"b\"}", 19, MON_BODY_JSON,
		"a JSON object or array", "duplicate");
	assert_body_refused(nul_body, sizeof(nul_body) - 1, MON_BODY_JSON,
		"a JSON object or array", "");
	assert_body_refused("[" EV("1") "," EV("2") "," EV("3") "," EV("4") "," EV("5") ","
		EV("6") "]", strlen("[" EV("1") "," EV("2") "," EV("3") "," EV("4") "," EV("5") ","
		EV("6") "]"), MON_BODY_JSON, "at most 5 events", "6 events");
	assert_body_refused(NULL, 3, MON_BODY_JSON, "a JSON object or array", "");
}

/* The scanner that splits an application/json body must follow strings: brackets, commas
 * and escaped quotes inside them are text, not structure. */
static void test_json_strings_and_space(void **state)
{
	struct mon_batch b;
	const char *body = " \r\n\t[\n  {\"id\":\"a\",\"note\":\"},{[\\\"]\\\\\",\"dept\":\"LY-ZJJ\","
		"\"type\":\"evaluation.received\",\"at\":\"2026-03-03T10:00:00+08:00\",\"satisfied\":true}"
		" ,\r\n\t{\"id\":\"\\u0062\"} \n,\"\\\"]\"\n,[ ] , -1.5e+3,null ] \n\t";

	(void)state;
	parse_roomy(body, strlen(body), &b);
	assert_int_equal(b.count, 6);
	assert_valid(&b, 0, "a");
	assert_invalid(&b, 1, "b", "a department code");
	assert_invalid(&b, 2, "", "a JSON object");
	assert_string_equal(b.items[2].error.got, "\"\\\"]\"");
	assert_invalid(&b, 3, "", "a JSON object");
	assert_string_equal(b.items[3].error.got, "[]");
	assert_invalid(&b, 4, "", "a JSON object");
	assert_invalid(&b, 5, "", "a JSON object");
	assert_string_equal(b.items[5].error.got, "null");
	mon_batch_finish(&b);

	parse_ok("\n[" EV("a") ",\n" EV("b") "]\n", MON_BODY_JSON, &b);
	assert_int_equal(b.count, 2);
	assert_valid(&b, 0, "a");
	assert_valid(&b, 1, "b");
	mon_batch_finish(&b);
	parse_ok("  \n" EV("a") "\r\n", MON_BODY_JSON, &b);
	assert_int_equal(b.count, 1);
	assert_valid(&b, 0, "a");
	mon_batch_finish(&b);
	parse_ok("[]", MON_BODY_JSON, &b);
	assert_int_equal(b.count, 0);
	mon_batch_finish(&b);
}

/* What cannot be split into events is refused whole, saying where. */
static void test_json_structure_refused(void **state)
{
	static const char *const bad[][2] = {
		{ "[", "line 1 column 2: an event expected, not the end" },
		{ "[" EV("a"), "',' or ']' expected, not the end" },
		{ "[" EV("a") ",]", "an event expected near ']'" },
		{ "[," EV("a") "]", "an event expected near ',{\"id\":\"'" },
		{ "[" EV("a") " " EV("b") "]", "',' or ']' expected near '{\"id\":\"b'" },
		{ "[" EV("a") "]]", "the end of the body expected near ']'" },
		{ "[" EV("a") "],", "the end of the body expected" },
		{ "[]\n\n x", "line 3 column 2: the end of the body expected near 'x'" },
		{ EV("a") EV("b"), "the end of the body expected near '{\"id\":\"b'" },
		{ "[{\"a\":[}]", "']' closing the array expected near '}]'" },
		{ "[{\"a\":{]}]", "'}' closing the object expected near ']}]'" },
		{ "[{\"a\":\"}]", "'\"' closing the string expected" },
		{ "[{\"a\":\"\\\"}]", "'\"' closing the string expected" },
		{ "[\"\\\"]", "'\"' closing the string expected" },
		{ "[" EV("a") ",\x01]", "an event expected near '\\x01]'" },
		{ "  ", "line 1 column 3: '[' or '{' expected, not the end" },
		{ "}", "'[' or '{' expected near '}'" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_body_refused(bad[i][0], strlen(bad[i][0]), MON_BODY_JSON,
			"a JSON object or array of objects", bad[i][1]);
}

/* An element that is not JSON, or too long, is that event refused; the others stand. */
static void test_json_bad_element_alone(void **state)
{
	static const char body[] = "[" EV("a") ", {\"id\":\"b\", oops}, {\"id\":\"c\",\"id\":\"c\"},"
		"{\"id\":\"d\\u0000\"}, {\"id\":\"e\xff\"}, {\"id\":\"f\0\"}, tru, 0x1F, " EV("i") "]";
	char big[1024];
	struct mon_batch b;

	(void)state;
	parse_roomy(body, sizeof(body) - 1, &b);
	assert_int_equal(b.count, 9);
	assert_valid(&b, 0, "a");
	for (size_t i = 1; i <= 7; i++)
		assert_invalid(&b, i, "", i == 4 ? "UTF-8 text" : "a JSON object");
	assert_non_null(strstr(b.items[1].error.got, "line 1 column 15: string or '}' expected"));
	assert_non_null(strstr(b.items[2].error.got, "duplicate object key"));
	assert_valid(&b, 8, "i");
	mon_batch_finish(&b);

	/* max_line bounds one event in a JSON body as it bounds one NDJSON line: exactly
	 * max_line bytes is parsed, one more is that event refused. */
	snprintf(big, sizeof(big), "[" EV("a") ",{\"id\":\"b\",\"x\":\"%0239d\"},{\"id\":\"c\","
		"\"x\":\"%0240d\"}]", 0, 0);
	parse_ok(big, MON_BODY_JSON, &b);
	assert_int_equal(b.count, 3);
	assert_valid(&b, 0, "a");
	assert_invalid(&b, 1, "b", "a department code");
	assert_invalid(&b, 2, "", "an event of at most 256 bytes");
	assert_string_equal(b.items[2].error.got, "257 bytes");
	mon_batch_finish(&b);
	snprintf(big, sizeof(big), "{\"id\":\"c\",\"x\":\"%0240d\"}", 0);
	parse_ok(big, MON_BODY_JSON, &b);
	assert_int_equal(b.count, 1);
	assert_invalid(&b, 0, "", "an event of at most 256 bytes");
	mon_batch_finish(&b);
}

/* Nesting: an event deeper than max_depth is that event refused (its id echoed), up to
 * jansson's own cap of 2048 levels; deeper than that the body is refused. */
static void test_json_nesting_cap(void **state)
{
	static const struct mon_limits wide = { .max_line = 8192, .max_depth = 4, .max_events = 5 };
	const char *heads[] = { "[{\"id\":\"n\",\"x\":", "{\"id\":\"n\",\"x\":" };
	char body[8192];
	struct mon_batch b;
	struct mon_error err;
	size_t len;

	(void)state;
	for (size_t h = 0; h < 2; h++) {
		for (size_t extra = 0; extra < 2; extra++) {
			size_t n = 2047 + extra;   /* arrays inside the event object */

			len = (size_t)snprintf(body, sizeof(body), "%s", heads[h]);
			memset(body + len, '[', n);
			memset(body + len + n, ']', n);
			len += 2 * n;
			len += (size_t)snprintf(body + len, sizeof(body) - len, "%s", h == 0 ? "}]" : "}");
			if (extra == 1) {
				assert_body_refused(body, len, MON_BODY_JSON, "a JSON object or array",
					"at most 2048 levels of nesting expected near '[]]]]]]]'");
				continue;
			}
			assert_true(mon_batch_parse(body, len, MON_BODY_JSON, &wide, &b, &err));
			assert_int_equal(b.count, 1);
			assert_invalid(&b, 0, "n", "JSON nested at most 4 deep");
			mon_batch_finish(&b);
		}
	}
}

static void test_json_exactly_max_events(void **state)
{
	struct mon_batch b;

	(void)state;
	parse_ok("[" EV("1") ",\n" EV("2") ",\n" EV("3") ",\n" EV("4") ",\n" EV("5") "]",
		MON_BODY_JSON, &b);
	assert_int_equal(b.count, 5);
	for (size_t i = 0; i < 5; i++)
		assert_true(b.items[i].valid);
	mon_batch_finish(&b);
}

/* jansson's heap, counted: what parsing a body costs in trees. */
static size_t heap_now, heap_peak;

static void *counting_malloc(size_t n)
{
	max_align_t *p = malloc(sizeof(max_align_t) + n);

	if (p == NULL)
		return NULL;
	memcpy(p, &n, sizeof(n));
	heap_now += n;
	if (heap_now > heap_peak)
		heap_peak = heap_now;
	return p + 1;
}

static void counting_free(void *q)
{
	max_align_t *p = q;
	size_t n;

	if (q == NULL)
		return;
	memcpy(&n, p - 1, sizeof(n));
	heap_now -= n;
	free(p - 1);
}

/* [{},{},...] of 1 MiB: refused for its count before any tree is built. One event of
 * 1 MiB: refused for its size unparsed. Events under max_line: one tree at a time. */
static size_t json_heap_peak(const char *head, const char *element, const char *tail,
		size_t size, bool *parsed)
{
	char *body = malloc(size + 64);
	size_t len = strlen(head), n = strlen(element);
	struct mon_batch b;
	struct mon_error err;

	assert_non_null(body);
	memcpy(body, head, len);
	for (; len + n + 1 + strlen(tail) <= size; len += n + 1) {
		memcpy(body + len, element, n);
		body[len + n] = ',';
	}
	memcpy(body + len - 1, tail, strlen(tail));
	len += strlen(tail) - 1;
	heap_now = heap_peak = 0;
	json_set_alloc_funcs(counting_malloc, counting_free);
	*parsed = mon_batch_parse(body, len, MON_BODY_JSON, &roomy, &b, &err);
	mon_batch_finish(&b);
	json_set_alloc_funcs(malloc, free);
	free(body);
	assert_int_equal(heap_now, 0);
	return heap_peak;
}

static void test_json_memory_bounded(void **state)
{
	char wide[256];
	bool parsed;
	size_t peak;

	(void)state;
	assert_int_equal(json_heap_peak("[", "{}", "]", 1 << 20, &parsed), 0);
	assert_false(parsed);
	assert_int_equal(json_heap_peak("{\"id\":\"w\",\"a\":[", "{}", "]}", 1 << 20, &parsed), 0);
	assert_true(parsed);
	memset(wide, 0, sizeof(wide));
	memcpy(wide, "{\"a\":[", 6);
	for (size_t i = 6; i + 4 < roomy.max_line; i += 3)
		memcpy(wide + i, "{},", 3);
	memcpy(wide + strlen(wide) - 1, "]}", 2);
	peak = json_heap_peak("[", wide, "]", 16 * (strlen(wide) + 1), &parsed);
	assert_true(parsed);
	if (peak == 0 || peak > 64 * 1024)
		fail_msg("one event of %zu bytes took %zu bytes of trees", strlen(wide), peak);
}

/* jansson refuses nesting past its own cap; the body is refused, nothing overflows. */
static void test_json_deep_body(void **state)
{
	size_t n = 100000;
	char *body = malloc(2 * n);

	(void)state;
	assert_non_null(body);
	memset(body, '[', n);
	memset(body + n, ']', n);
	assert_body_refused(body, 2 * n, MON_BODY_JSON, "a JSON object or array", "");
	/* As one NDJSON line it is one refused item, whether the line limit or jansson's
	 * depth cap catches it. */
	struct mon_limits wide = limits;
	struct mon_batch b;
	struct mon_error err;
	wide.max_line = 2 * n;
	assert_true(mon_batch_parse(body, 2 * n, MON_BODY_NDJSON, &limits, &b, &err));
	assert_invalid(&b, 0, "", "a line of at most 256 bytes");
	mon_batch_finish(&b);
	assert_true(mon_batch_parse(body, 2 * n, MON_BODY_NDJSON, &wide, &b, &err));
	assert_invalid(&b, 0, "", "a JSON object on one line");
	mon_batch_finish(&b);
	free(body);
}

static void test_ndjson_bad_line_in_middle(void **state)
{
	struct mon_batch b;

	(void)state;
	parse_ok(EV("a") "\n{\"id\":\"b\", oops}\n" EV("c") "\n", MON_BODY_NDJSON, &b);
	assert_int_equal(b.count, 3);
	assert_valid(&b, 0, "a");
	assert_invalid(&b, 1, "", "a JSON object on one line");
	assert_string_equal(b.items[1].error.field, "");
	assert_string_equal(b.items[1].error.got, "column 15: string or '}' expected near 'oops'");
	assert_valid(&b, 2, "c");
	mon_batch_finish(&b);
}

static void test_ndjson_crlf_and_blank_lines(void **state)
{
	struct mon_batch b;

	(void)state;
	parse_ok("\r\n" EV("a") "\r\n\r\n  \t \n" EV("b") "\r\n\n", MON_BODY_NDJSON, &b);
	assert_int_equal(b.count, 2);
	assert_valid(&b, 0, "a");
	assert_valid(&b, 1, "b");
	mon_batch_finish(&b);

	/* The last line needs no newline. */
	parse_ok(EV("a") "\n" EV("b"), MON_BODY_NDJSON, &b);
	assert_int_equal(b.count, 2);
	assert_valid(&b, 1, "b");
	mon_batch_finish(&b);

	parse_ok("\n\n \r\n", MON_BODY_NDJSON, &b);
	assert_int_equal(b.count, 0);
	mon_batch_finish(&b);
	parse_ok("", MON_BODY_NDJSON, &b);
	assert_int_equal(b.count, 0);
	mon_batch_finish(&b);
}

static void test_ndjson_oversize_line(void **state)
{
	char body[1024], pad[300];
	struct mon_batch b;
	size_t ev_len = strlen(EV("x"));

	(void)state;
	/* Padded with spaces before the object: exactly max_line bytes passes (the CR of a
	 * CRLF does not count), one more fails. */
	memset(pad, ' ', sizeof(pad));
	snprintf(body, sizeof(body), EV("a") "\n%.*s" EV("b") "\r\n%.*s" EV("c") "\n" EV("d"),
		(int)(limits.max_line - ev_len), pad, (int)(limits.max_line - ev_len + 1), pad);
	parse_ok(body, MON_BODY_NDJSON, &b);
	assert_int_equal(b.count, 4);
	assert_valid(&b, 0, "a");
	assert_valid(&b, 1, "b");
	assert_invalid(&b, 2, "", "a line of at most 256 bytes");
	assert_string_equal(b.items[2].error.got, "257 bytes");
	assert_valid(&b, 3, "d");
	mon_batch_finish(&b);
}

static void test_ndjson_too_many(void **state)
{
	struct mon_batch b;
	const char *five = EV("1") "\n" EV("2") "\n\n" EV("3") "\nnot json\n" EV("5") "\n\n";
	const char *six = EV("1") "\n" EV("2") "\n" EV("3") "\n" EV("4") "\n" EV("5") "\n[]";

	(void)state;
	parse_ok(five, MON_BODY_NDJSON, &b);
	assert_int_equal(b.count, 5);
	assert_invalid(&b, 3, "", "a JSON object on one line");
	mon_batch_finish(&b);
	assert_body_refused(six, strlen(six), MON_BODY_NDJSON, "at most 5 events", "6 events");
}

static void test_ndjson_duplicates_and_non_objects(void **state)
{
	struct mon_batch b;

	(void)state;
	parse_ok("{\"id\":\"a\",\"id\":\"b\"}\n[" EV("x") "]\n\"s\"\n" EV("ok"), MON_BODY_NDJSON, &b);
	assert_int_equal(b.count, 4);
	assert_invalid(&b, 0, "", "a JSON object on one line");
	assert_non_null(strstr(b.items[0].error.got, "duplicate"));
	assert_invalid(&b, 1, "", "a JSON object");
	assert_invalid(&b, 2, "", "a JSON object");
	assert_string_equal(b.items[2].error.got, "\"s\"");
	assert_valid(&b, 3, "ok");
	mon_batch_finish(&b);
}

static void test_ndjson_nul_byte(void **state)
{
	static const char body[] = EV("a") "\n{\"id\":\"b\0\"}\n\0\n" EV("c");
	struct mon_batch b;
	struct mon_error err;

	(void)state;
	assert_true(parse(body, sizeof(body) - 1, MON_BODY_NDJSON, &b, &err));
	assert_int_equal(b.count, 4);
	assert_valid(&b, 0, "a");
	assert_invalid(&b, 1, "", "a JSON object on one line");
	assert_invalid(&b, 2, "", "a JSON object on one line");
	assert_valid(&b, 3, "c");
	/* The parser's message quotes the bad bytes; they come back escaped. */
	for (size_t i = 1; i <= 2; i++) {
		for (const char *p = b.items[i].error.got; *p != '\0'; p++)
			assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
	}
	mon_batch_finish(&b);
}

/* Text that is not UTF-8 is named as such, with the offending byte and where it is, and a
 * byte order mark by its name: jansson's own words ("invalid token near '\xef\xbb\xbf'",
 * "unable to decode byte 0xc2") quote characters one cannot see. */
static void test_encoding(void **state)
{
	/* 洛阳 in GBK is C2 E5 D1 F4 */
	static const char gbk[] = EV("a") "\n{\"id\":\"g\",\"name\":\"\xc2\xe5\xd1\xf4\"}\n"
		"{\"id\":\"h\",\"name\":\"洛\xff\"}\n" EV("c");
	static const char json[] = "[" EV("a") ",\n{\"id\":\"g\",\n \"name\":\"\xc2\xe5\"}]";
	struct mon_batch b;

	(void)state;
	parse_ok("\xef\xbb\xbf" EV("a") "\n" EV("b") "\n", MON_BODY_NDJSON, &b);
	assert_int_equal(b.count, 2);
	assert_invalid(&b, 0, "", "UTF-8 text without a byte order mark");
	assert_string_equal(b.items[0].error.got, "a UTF-8 byte order mark (EF BB BF)");
	assert_valid(&b, 1, "b");
	mon_batch_finish(&b);
	assert_body_refused("\xef\xbb\xbf[]", 5, MON_BODY_JSON,
		"UTF-8 text without a byte order mark", "a UTF-8 byte order mark (EF BB BF)");
	assert_body_refused("\xef\xbb\xbf" EV("a"), strlen(EV("a")) + 3, MON_BODY_JSON,
		"UTF-8 text without a byte order mark", "a UTF-8 byte order mark (EF BB BF)");

	parse_ok(gbk, MON_BODY_NDJSON, &b);
	assert_int_equal(b.count, 4);
	assert_valid(&b, 0, "a");
	assert_invalid(&b, 1, "", "UTF-8 text");
	assert_string_equal(b.items[1].error.expected, "UTF-8 text");
	assert_string_equal(b.items[1].error.got,
		"byte 0xC2 at column 19 is not UTF-8 (GBK or GB18030? iconv -f GB18030 -t UTF-8)");
	/* columns count characters, as jansson's do; 0xFF cannot be GBK */
	assert_invalid(&b, 2, "", "UTF-8 text");
	assert_string_equal(b.items[2].error.got, "byte 0xFF at column 20 is not UTF-8");
	assert_valid(&b, 3, "c");
	mon_batch_finish(&b);

	/* an application/json element: line and column from the element's start */
	parse_ok(json, MON_BODY_JSON, &b);
	assert_int_equal(b.count, 2);
	assert_valid(&b, 0, "a");
	assert_invalid(&b, 1, "", "UTF-8 text");
	assert_string_equal(b.items[1].error.got, "byte 0xC2 at line 2 column 10 is not UTF-8 "
		"(GBK or GB18030? iconv -f GB18030 -t UTF-8)");
	mon_batch_finish(&b);
	/* a lone object refuses the body, naming the byte all the same */
	assert_body_refused("{\"id\":\"\xc2\"}", 10, MON_BODY_JSON, "UTF-8 text",
		"byte 0xC2 at line 1 column 8 is not UTF-8");
}

static void test_depth(void **state)
{
	struct mon_batch b;
	/* The event object is depth 1: {..{..[..{}]}} is depth 4, one more bracket is 5. */
	const char *ok = "{\"id\":\"d4\",\"dept\":\"D\",\"type\":\"evaluation.received\",\"at\":"
		"\"2026-03-03T10:00:00Z\",\"satisfied\":true,\"x\":{\"y\":[{}]}}";
	const char *deep = "{\"id\":\"d5\",\"dept\":\"D\",\"type\":\"evaluation.received\",\"at\":"
		"\"2026-03-03T10:00:00Z\",\"satisfied\":true,\"x\":{\"y\":[{\"z\":[]}]}}";
	char body[512];

	(void)state;
	snprintf(body, sizeof(body), "%s\n%s", ok, deep);
	parse_ok(body, MON_BODY_NDJSON, &b);
	assert_valid(&b, 0, "d4");
	assert_invalid(&b, 1, "d5", "JSON nested at most 4 deep");
	mon_batch_finish(&b);

	/* In an array body, each element counts from 1 again. */
	snprintf(body, sizeof(body), "[%s,%s]", ok, deep);
	parse_ok(body, MON_BODY_JSON, &b);
	assert_valid(&b, 0, "d4");
	assert_invalid(&b, 1, "d5", "JSON nested at most 4 deep");
	mon_batch_finish(&b);
}

static void test_ids_of_refused_events(void **state)
{
	struct mon_batch b;
	char body[1024], id[100];
	char cjk[100] = "";

	(void)state;
	memset(id, 'k', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	for (int i = 0; i < 30; i++)
		strncat(cjk, "事", sizeof(cjk) - strlen(cjk) - 1);
	snprintf(body, sizeof(body), "{\"id\":\"%s\"}\n{\"id\":\"%s\"}\n{\"id\":7}\n"
		"{\"id\":\"x-1\",\"dept\":\"LY\"}\n{\"id\":\"a\\u0001b\\u007f\\u0085\"}", id, cjk);
	parse_ok(body, MON_BODY_NDJSON, &b);
	assert_int_equal(b.count, 5);
	/* Too long: cut, with a visible "...", between characters. */
	assert_invalid(&b, 0, "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...",
		"a string of 1 to 64");
	assert_int_equal(strlen(b.items[1].id), 63);   /* 20 whole characters and "..." */
	assert_memory_equal(b.items[1].id, cjk, 60);
	assert_string_equal(b.items[1].id + 60, "...");
	assert_invalid(&b, 2, "", "a string of 1 to 64");
	assert_invalid(&b, 3, "x-1", "a known event type");
	assert_string_equal(b.items[3].error.field, "type");
	assert_string_equal(b.items[3].error.got, "(missing)");
	/* Control characters are never echoed raw. */
	assert_invalid(&b, 4, "a\\x01b\\x7f\\xc2\\x85", "a string of 1 to 64");
	mon_batch_finish(&b);
}


/* Each item carries its own warnings, a refused one too; a line that is not an event has
 * none. */
static void test_warnings_per_item(void **state)
{
	const char *body =
		"{\"id\":\"w1\",\"dept\":\"LY-ZJJ\",\"type\":\"evaluation.received\","
		"\"at\":\"2026-03-03T10:00:00+08:00\",\"satisfied\":true,\"windw\":\"3\"}\n"
		EV("w2") "\n"
		"{\"id\":\"w3\",\"dept\":\"LY-ZJJ\",\"type\":\"evaluation.received\","
		"\"at\":\"2026-03-03T10:00:00+08:00\",\"satisfyed\":true}\n"
		"[1]\n";
	struct mon_batch batch;

	(void)state;
	parse_ok(body, MON_BODY_NDJSON, &batch);
	assert_int_equal(batch.count, 4);
	assert_valid(&batch, 0, "w1");
	assert_int_equal(batch.items[0].event.warning_count, 1);
	assert_string_equal(batch.items[0].event.warnings[0].field, "windw");
	assert_string_equal(batch.items[0].event.warnings[0].got, "window");
	assert_valid(&batch, 1, "w2");
	assert_int_equal(batch.items[1].event.warning_count, 0);
	assert_invalid(&batch, 2, "w3", "true or false");
	assert_string_equal(batch.items[2].error.field, "satisfied");
	assert_int_equal(batch.items[2].event.warning_count, 1);
	assert_string_equal(batch.items[2].event.warnings[0].field, "satisfyed");
	assert_string_equal(batch.items[2].event.warnings[0].expected,
		"not a field of evaluation.received");
	assert_string_equal(batch.items[2].event.warnings[0].got, "satisfied");
	assert_false(batch.items[3].valid);
	assert_int_equal(batch.items[3].event.warning_count, 0);
	mon_batch_finish(&batch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_object),
		cmocka_unit_test(test_json_array),
		cmocka_unit_test(test_json_refused),
		cmocka_unit_test(test_json_strings_and_space),
		cmocka_unit_test(test_json_structure_refused),
		cmocka_unit_test(test_json_bad_element_alone),
		cmocka_unit_test(test_json_nesting_cap),
		cmocka_unit_test(test_json_exactly_max_events),
		cmocka_unit_test(test_json_memory_bounded),
		cmocka_unit_test(test_json_deep_body),
		cmocka_unit_test(test_ndjson_bad_line_in_middle),
		cmocka_unit_test(test_ndjson_crlf_and_blank_lines),
		cmocka_unit_test(test_ndjson_oversize_line),
		cmocka_unit_test(test_ndjson_too_many),
		cmocka_unit_test(test_ndjson_duplicates_and_non_objects),
		cmocka_unit_test(test_ndjson_nul_byte),
		cmocka_unit_test(test_encoding),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_ids_of_refused_events),
		cmocka_unit_test(test_warnings_per_item),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
