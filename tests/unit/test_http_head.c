/* test_http_head.c: the request gate's strict head check (daemon/http_head.c): what passes,
 * and each framing fault refused with its status and a message naming it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http_head.h"

static void
assert_ok(const char *raw, struct http_head *h)
{
	if (!http_head_parse(raw, strlen(raw), h))
		fail_msg("refused %d '%s': %s", h->status, h->message, raw);
}

static void
assert_refused(const char *raw, size_t len, int status, const char *words)
{
	struct http_head h;

	if (http_head_parse(raw, len, &h))
		fail_msg("accepted: %s", raw);
	assert_int_equal(h.status, status);
	if (strstr(h.message, words) == NULL)
		fail_msg("message '%s' does not say '%s'", h.message, words);
}

#define REFUSED(raw, status, words) assert_refused(raw, sizeof(raw) - 1, status, words)

static void
test_good_heads(void **state)
{
	struct http_head h;

	(void)state;
	assert_ok("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 42\r\n"
		"Content-Type: application/x-ndjson\r\n\r\n", &h);
	assert_int_equal(h.method, HTTP_POST);
	assert_true(h.http11);
	assert_int_equal(h.content_length, 42);
	assert_ok("GET /healthz HTTP/1.0\r\n\r\n", &h);            /* no Host needed in 1.0 */
	assert_false(h.http11);
	assert_int_equal(h.content_length, 0);
	assert_ok("HEAD /healthz HTTP/1.1\r\nhost:x\r\nX-Empty:\r\nX-Tab:\ta b \t\r\n\r\n", &h);
	assert_int_equal(h.method, HTTP_HEAD);
	assert_ok("GET /v1/cases/LY-SCJGJ/%E5%8A%9E%E4%BB%B6?x=%ff HTTP/1.1\r\nHost: x\r\n\r\n", &h);
	assert_ok("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length:  0 \r\n\r\n", &h);
	assert_ok("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999999999\r\n\r\n", &h);
	assert_true(h.content_length == 999999999999999999ULL);
}

static void
test_content_length(void **state)
{
	(void)state;
	REFUSED("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n",
		400, "more than one Content-Length");
	REFUSED("POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 2\r\nContent-Length: 3\r\n\r\n",
		400, "more than one Content-Length");
	REFUSED("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\n", 400, "digits only");
	REFUSED("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -2\r\n\r\n", 400, "digits only");
	REFUSED("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2 3\r\n\r\n", 400, "digits only");
	REFUSED("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n", 400, "digits only");
	REFUSED("POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", 400, "decimal number");
	REFUSED("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9999999999999999999\r\n\r\n", 400,
		"decimal number");
	REFUSED("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 411,
		"Content-Length");
	REFUSED("HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n", 400, "HEAD");
}

static void
test_lines_and_fields(void **state)
{
	(void)state;
	REFUSED("GET / HTTP/1.1\r\n\r\n", 400, "Host header");
	REFUSED("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400, "more than one Host");
	REFUSED("GET / HTTP/1.1\nHost: x\n\n", 400, "bare LF");
	REFUSED("GET / HTTP/1.1\r\nHost: x\n\r\n", 400, "bare LF");
	REFUSED("GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n", 400, "bare CR");
	REFUSED("GET / HTTP/1.1\r\nHost: x\001\r\n\r\n", 400, "control character");
	REFUSED("GET / HTTP/1.1\r\nHost: x\000\r\n\r\n", 400, "control character");
	REFUSED("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, "header name");
	REFUSED("GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n", 400, "folded");
	REFUSED("GET / HTTP/1.1\r\nno colon\r\n\r\n", 400, "NAME: VALUE");
	REFUSED("GET / HTTP/1.1\r\n: empty\r\n\r\n", 400, "NAME: VALUE");
	REFUSED("GET /  HTTP/1.1\r\nHost: x\r\n\r\n", 400, "request line");
	REFUSED(" GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "request line");
	REFUSED("GET /\r\n\r\n", 400, "request line");
	REFUSED("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP/1.1");
	REFUSED("GET / FTP/1.1\r\nHost: x\r\n\r\n", 400, "request line");
	REFUSED("PUT / HTTP/1.1\r\nHost: x\r\n\r\n", 501, "GET, HEAD or POST");
	REFUSED("get / HTTP/1.1\r\nHost: x\r\n\r\n", 501, "GET, HEAD or POST");
}

/* A head that does not end with its blank line (the caller's contract, broken) is refused,
 * not read past: each of these but the second read beyond the buffer before (found while
 * writing fuzz_http_head). */
static void
test_unfinished_heads(void **state)
{
	(void)state;
	REFUSED("", 400, "empty line");
	REFUSED("\r\n", 400, "empty line");
	REFUSED("GET / HTTP/1.1", 400, "empty line");
	REFUSED("GET / HTTP/1.1\r\nHost: x", 400, "empty line");
	REFUSED("GET / HTTP/1.1\r\nHost: x\r\n", 400, "empty line");
	/* bytes after the first empty line were taken as no part of the head (fuzz_http_head) */
	REFUSED("POST / HTTP/1.1\r\nHost:\r\n\r\n \r\ncenghost:\r\n\r\n", 400, "first empty line");
}

static void
test_target(void **state)
{
	(void)state;
	REFUSED("GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400, "starting with /");
	REFUSED("GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400, "starting with /");
	REFUSED("GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400, "percent-encoding");
	REFUSED("GET /a%4 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "percent-encoding");
	REFUSED("GET /a% HTTP/1.1\r\nHost: x\r\n\r\n", 400, "percent-encoding");
	REFUSED("GET /?q=%g0 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "percent-encoding");
	REFUSED("GET /%ff%fe HTTP/1.1\r\nHost: x\r\n\r\n", 400, "UTF-8");
	REFUSED("GET /%c0%af HTTP/1.1\r\nHost: x\r\n\r\n", 400, "UTF-8");          /* overlong */
	REFUSED("GET /%ed%a0%80 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "UTF-8");       /* surrogate */
	REFUSED("GET /%f4%90%80%80 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "UTF-8");    /* > U+10FFFF */
	REFUSED("GET /%e5%8a HTTP/1.1\r\nHost: x\r\n\r\n", 400, "UTF-8");          /* truncated */
	REFUSED("GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n", 400, "UTF-8");
	REFUSED("GET /\xe5\x8a\x9e HTTP/1.1\r\nHost: x\r\n\r\n", 400, "visible ASCII");
	REFUSED("GET /a\x7f HTTP/1.1\r\nHost: x\r\n\r\n", 400, "control character");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_heads),
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_lines_and_fields),
		cmocka_unit_test(test_unfinished_heads),
		cmocka_unit_test(test_target),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
