/* test_https.c: esupctl's HTTP response parser (contrib/https.c): bodies framed by
 * Content-Length, by chunks (fed whole and one byte at a time) and by the end of the
 * connection, and each framing fault refused with a message. Also the table widths of
 * contrib/table.c: CJK characters take two terminal columns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "https.h"
#include "table.h"

struct sink {
	char data[4096];
	size_t len;
	int status;
	size_t calls;
	size_t stop_after;           /* 0: never stop */
};

static bool
sink_body(int status, const char *data, size_t n, void *arg)
{
	struct sink *s = arg;

	assert_true(s->len + n < sizeof(s->data));
	memcpy(s->data + s->len, data, n);
	s->len += n;
	s->data[s->len] = '\0';
	s->status = status;
	s->calls++;
	return s->stop_after == 0 || s->calls < s->stop_after;
}

/* Parses raw, fed in pieces of `step` bytes (0: whole); returns the parser's verdict and
 * fills sink. eof: the connection ends after raw. */
static bool
parse(const char *raw, size_t step, bool eof, struct sink *s, struct https_parser *p)
{
	size_t len = strlen(raw);
	bool ok = true;

	memset(s, 0, sizeof(*s));
	https_parser_init(p, sink_body, s);
	for (size_t i = 0; ok && i < len; i += step == 0 ? len : step) {
		size_t n = step == 0 || len - i < step ? len - i : step;
		ok = https_parser_feed(p, raw + i, n);
	}
	if (ok && eof)
		ok = https_parser_eof(p);
	return ok;
}

static void
test_content_length(void **state)
{
	struct https_parser p;
	struct sink s;

	(void)state;
	assert_true(parse("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
		"Content-Length: 7\r\n\r\n{\"a\":1}trailing junk", 0, false, &s, &p));
	assert_int_equal(p.state, HTTPS_DONE);
	assert_int_equal(p.status, 200);
	assert_string_equal(p.content_type, "application/json");
	assert_string_equal(s.data, "{\"a\":1}");
	assert_int_equal(s.status, 200);
	assert_true(parse("HTTP/1.1 409 Conflict\nContent-Length: 2\n\n{}", 1, true, &s, &p));
	assert_int_equal(p.status, 409);
	assert_string_equal(s.data, "{}");
}

/* What a kept connection needs: whether the server will close it, and Retry-After. */
static void
test_keep_alive_headers(void **state)
{
	struct https_parser p;
	struct sink s;

	(void)state;
	assert_true(parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, false, &s, &p));
	assert_false(p.conn_close);
	assert_int_equal(p.retry_after_s, -1);
	assert_true(parse("HTTP/1.1 429 Too Many\r\nConnection: close\r\nRetry-After: 7\r\n"
		"Content-Length: 2\r\n\r\n{}", 3, false, &s, &p));
	assert_true(p.conn_close);
	assert_int_equal(p.retry_after_s, 7);
	assert_true(parse("HTTP/1.0 503 Busy\r\nRetry-After: Fri, 31 Dec 1999 23:59:59 GMT\r\n"
		"Content-Length: 0\r\n\r\n", 0, false, &s, &p));
	assert_true(p.conn_close);                 /* HTTP/1.0 closes by default */
	assert_int_equal(p.retry_after_s, -1);     /* a date is not understood */
	assert_true(parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nRetry-After: 12x\r\n"
		"Content-Length: 0\r\n\r\n", 0, false, &s, &p));
	assert_false(p.conn_close);
	assert_int_equal(p.retry_after_s, -1);
	/* a 100 Continue head before the answer does not leave its headers behind */
	assert_true(parse("HTTP/1.1 100 Continue\r\nConnection: close\r\n\r\n"
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, false, &s, &p));
	assert_false(p.conn_close);
}

static void
test_chunked(void **state)
{
	static const char raw[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5\r\nhello\r\n1;ext=\"x\"\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: y\r\n\r\n";
	struct https_parser p;
	struct sink s;

	(void)state;
	for (size_t step = 0; step <= 7; step++) {
		assert_true(parse(raw, step, false, &s, &p));
		assert_int_equal(p.state, HTTPS_DONE);
		assert_string_equal(s.data, "hello 0123456789");
	}
	/* chunked wins over a Content-Length beside it */
	assert_true(parse("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: Chunked\r\n"
		"\r\n3\r\nabc\r\n0\r\n\r\n", 1, false, &s, &p));
	assert_string_equal(s.data, "abc");
	assert_int_equal(p.state, HTTPS_DONE);
}

static void
test_until_close(void **state)
{
	struct https_parser p;
	struct sink s;

	(void)state;
	assert_true(parse("HTTP/1.0 200 OK\r\n\r\nall of it", 2, true, &s, &p));
	assert_string_equal(s.data, "all of it");
	assert_true(parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", 3,
		true, &s, &p));
	assert_int_equal(p.status, 204);
	assert_int_equal(s.len, 0);
}

static void
assert_refused(const char *raw, bool eof, const char *words)
{
	struct https_parser p;
	struct sink s;

	for (size_t step = 0; step <= 1; step++) {
		if (parse(raw, step, eof, &s, &p))
			fail_msg("accepted: %s", raw);
		if (strstr(p.error, words) == NULL)
			fail_msg("error '%s' does not say '%s'", p.error, words);
	}
}

static void
test_faults(void **state)
{
	(void)state;
	assert_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false,
		"chunk size");
	assert_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n",
		false, "CRLF");
	assert_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"1000000000000000\r\n", false, "too large");
	assert_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false,
		"Transfer-Encoding");
	assert_refused("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", false,
		"Content-Length");
	assert_refused("HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n", false, "Content-Length");
	assert_refused("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", true, "ended");
	assert_refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", true,
		"ended");
	assert_refused("", true, "without answering");
	assert_refused("SSH-2.0-OpenSSH\r\n\r\n", false, "status line");
	assert_refused("HTTP/1.1 200 OK\r\nBad header\r\n\r\n", false, "header");
	assert_refused("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", false, "control");
}

static void
test_long_head(void **state)
{
	char *raw = malloc(HTTPS_HEAD_MAX + 100);
	struct https_parser p;
	struct sink s;

	(void)state;
	assert_non_null(raw);
	snprintf(raw, HTTPS_HEAD_MAX + 100, "HTTP/1.1 200 OK\r\nX: ");
	memset(raw + strlen(raw), 'a', HTTPS_HEAD_MAX);
	raw[HTTPS_HEAD_MAX + 20] = '\0';
	assert_false(parse(raw, 0, false, &s, &p));
	assert_non_null(strstr(p.error, "longer"));
	free(raw);
}

static void
test_stop(void **state)
{
	struct https_parser p;
	struct sink s;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.stop_after = 1;
	https_parser_init(&p, sink_body, &s);
	assert_false(https_parser_feed(&p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"2\r\nab\r\n2\r\ncd\r\n", 58));
	assert_true(p.stopped);
	assert_string_equal(s.data, "ab");
}

static void
test_query_escape(void **state)
{
	char out[64];

	(void)state;
	assert_true(https_query_escape("2026-03-26T00:00:00+08:00", out, sizeof(out)));
	assert_string_equal(out, "2026-03-26T00%3A00%3A00%2B08%3A00");
	assert_true(https_query_escape("open,held 办", out, sizeof(out)));
	assert_string_equal(out, "open,held%20%E5%8A%9E");
	assert_false(https_query_escape("abcdef", out, 6));
}

static void
test_widths(void **state)
{
	char *safe;

	(void)state;
	assert_int_equal(text_width("abc"), 3);
	assert_int_equal(text_width("黄牌: 超过"), 10);
	assert_int_equal(text_width("ｱＡ"), 3);        /* halfwidth katakana 1, fullwidth A 2 */
	assert_int_equal(text_width("e\xcc\x81"), 1);    /* e + combining acute */
	safe = text_safe("a\x1b[31mb\nc\xff");
	assert_non_null(safe);
	assert_string_equal(safe, "a?[31mb c?");
	free(safe);
}

static void
test_table_align(void **state)
{
	static const char *const h[] = { "ID", "RULE", "MESSAGE" };
	struct table *t = table_create(3, h);
	char buf[1024] = "";
	FILE *f = fmemopen(buf, sizeof(buf), "w");

	(void)state;
	assert_non_null(t);
	assert_non_null(f);
	assert_true(table_add(t, (const char *const[]){ "1", "预警", "x" }));
	assert_true(table_add(t, (const char *const[]){ "22", "RED", "一二三四五六七八九十" }));
	table_print(t, f, 20);
	fclose(f);
	table_destroy(t);
	/* RULE is 4 columns wide: 预警 fills it, RED gets one space more */
	assert_string_equal(buf, "ID  RULE  MESSAGE\n1   预警  x\n22  RED   一二三四…\n");   /* 10 columns left: 8 + the ellipsis */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_keep_alive_headers),
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_until_close),
		cmocka_unit_test(test_faults),
		cmocka_unit_test(test_long_head),
		cmocka_unit_test(test_stop),
		cmocka_unit_test(test_query_escape),
		cmocka_unit_test(test_widths),
		cmocka_unit_test(test_table_align),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
