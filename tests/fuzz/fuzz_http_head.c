/* fuzz_http_head.c: the request gate's head check (daemon/http_head.c) on arbitrary bytes,
 * the first thing esupd parses of what any TLS peer sends. A refusal must carry one of the
 * gate's statuses and a printable message; an acceptance must agree with what the head says
 * when read here another way: it ends with its blank line, has only CRLF line ends and no
 * control character but HT, a request line "METHOD SP /TARGET SP HTTP/1.x" naming the method
 * reported, no Transfer-Encoding, at most one Content-Length (the value reported), exactly one
 * Host on HTTP/1.1, and no body on a HEAD. The same input parses the same way twice. A
 * violation aborts. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "http_head.h"

#define INPUT_MAX 16384

static void
check_refusal(const struct http_head *h)
{
	const char *m = h->message;

	if (h->status != 400 && h->status != 411 && h->status != 501 && h->status != 505 &&
	    h->status != 503)
		abort();
	if (m == NULL || *m == '\0')
		abort();
	for (; *m != '\0'; m++)
		if (*m < 0x20 || *m > 0x7e)
			abort();
}

/* The value of the request line's method, as http_head.h names them; -1 if none. */
static int
method_of(const char *p, size_t n)
{
	if (n == 3 && memcmp(p, "GET", 3) == 0)
		return HTTP_GET;
	if (n == 4 && memcmp(p, "HEAD", 4) == 0)
		return HTTP_HEAD;
	if (n == 4 && memcmp(p, "POST", 4) == 0)
		return HTTP_POST;
	return -1;
}

static void
check_acceptance(const char *p, size_t len, const struct http_head *h)
{
	const char *end = p + len, *line, *eol, *sp1, *sp2;
	unsigned hosts = 0, lengths = 0;
	unsigned long long cl = 0;

	if (len < 4 || memcmp(end - 4, "\r\n\r\n", 4) != 0)
		abort();
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)p[i];

		if ((ch < 0x20 && ch != '\t' && ch != '\r' && ch != '\n') || ch == 0x7f)
			abort();
		if (ch == '\r' && p[i + 1] != '\n')   /* i + 1 < len: the head ends in LF */
			abort();
		if (ch == '\n' && (i == 0 || p[i - 1] != '\r'))
			abort();
	}
	eol = strstr(p, "\r\n");      /* the copy is NUL-terminated and has no NUL */
	sp1 = memchr(p, ' ', (size_t)(eol - p));
	if (sp1 == NULL || (sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1))) == NULL)
		abort();
	if (method_of(p, (size_t)(sp1 - p)) != (int)h->method || sp1[1] != '/')
		abort();
	if (eol - sp2 - 1 != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
	    (sp2[8] == '1') != h->http11 || (sp2[8] != '0' && sp2[8] != '1'))
		abort();
	for (line = eol + 2; line < end && (eol = strstr(line, "\r\n")) != line; line = eol + 2) {
		const char *colon = memchr(line, ':', (size_t)(eol - line)), *v;
		size_t name = colon ? (size_t)(colon - line) : 0;

		if (colon == NULL || name == 0)
			abort();
		if (name == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0)
			abort();
		if (name == 4 && strncasecmp(line, "Host", 4) == 0)
			hosts++;
		if (name == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
			lengths++;
			cl = 0;
			for (v = colon + 1; v < eol; v++)
				if (*v >= '0' && *v <= '9')
					cl = cl * 10 + (unsigned long long)(*v - '0');
				else if (*v != ' ' && *v != '\t')
					abort();
		}
	}
	if (line + 2 != end)     /* the blank line is the head's last */
		abort();
	if (lengths > 1 || hosts != h->hosts || lengths != h->lengths || cl != h->content_length)
		abort();
	if (h->http11 && hosts != 1)
		abort();
	if (h->method == HTTP_HEAD && h->content_length != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_head h, again;
	char *head, *text;
	bool ok;

	if (size > INPUT_MAX)
		size = INPUT_MAX;
	/* the parser gets exactly size bytes in an allocation of their own, so that ASan sees a
	 * read past them; the checks read a NUL-terminated copy (an accepted head has no NUL) */
	head = malloc(size ? size : 1);
	text = malloc(size + 1);
	if (head == NULL || text == NULL)
		abort();
	memcpy(head, data, size);
	memcpy(text, data, size);
	text[size] = '\0';
	ok = http_head_parse(head, size, &h);
	if (http_head_parse(head, size, &again) != ok || h.status != again.status ||
	    h.message != again.message || h.method != again.method || h.http11 != again.http11 ||
	    h.hosts != again.hosts || h.lengths != again.lengths ||
	    h.content_length != again.content_length)
		abort();
	if (ok)
		check_acceptance(text, size, &h);
	else
		check_refusal(&h);
	free(head);
	free(text);
	return 0;
}
