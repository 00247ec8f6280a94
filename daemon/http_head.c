/* http_head.c: a request head, checked strictly before evhttp may parse it. Pure: no I/O,
 * no allocation beyond a scratch copy of the path. What evhttp would let through and this
 * refuses: a second Content-Length (even equal), a signed or spaced one, Transfer-Encoding,
 * a missing or second Host on HTTP/1.1, bare LF or CR, control characters, folded or malformed
 * header lines, a target that is not an origin-form path of visible ASCII, bad %XX escapes,
 * a path that does not decode to UTF-8 (or decodes to NUL), and a HEAD with a body. */
#include "http_head.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool
head_refuse(struct http_head *h, int status, const char *message)
{
	h->status = status;
	h->message = message;
	return false;
}

static int
hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = (char)(ch | 0x20);
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Well-formed UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool
utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0, len, k;
	uint32_t cp;

	while (i < n) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf)
			len = 2, cp = s[i] & 0x1f;
		else if (s[i] >= 0xe0 && s[i] <= 0xef)
			len = 3, cp = s[i] & 0x0f;
		else if (s[i] >= 0xf0 && s[i] <= 0xf4)
			len = 4, cp = s[i] & 0x07;
		else
			return false;
		if (n - i < len)
			return false;
		for (k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

/* The request target: origin form, visible ASCII, valid %XX escapes everywhere, and a path
 * that decodes to UTF-8 without NUL. */
static bool
head_check_target(const char *t, size_t len, struct http_head *h)
{
	const char *query = memchr(t, '?', len);
	size_t path_len = query ? (size_t)(query - t) : len, out = 0;
	unsigned char *path;
	bool ok;

	if (len == 0 || t[0] != '/')
		return head_refuse(h, 400, "the request target must be a path starting with /");
	for (size_t i = 0; i < len; i++) {
		if (t[i] <= 0x20 || t[i] >= 0x7f)
			return head_refuse(h, 400, "the request target must be visible ASCII (percent-encode the rest)");
		if (t[i] == '%' && (i + 2 >= len || hex_value(t[i + 1]) < 0 || hex_value(t[i + 2]) < 0))
			return head_refuse(h, 400, "invalid percent-encoding in the request target");
	}
	if ((path = malloc(path_len + 1)) == NULL)
		return head_refuse(h, 503, "out of memory");
	for (size_t i = 0; i < path_len; i++, out++) {
		if (t[i] == '%') {
			path[out] = (unsigned char)(hex_value(t[i + 1]) << 4 | hex_value(t[i + 2]));
			i += 2;
		} else {
			path[out] = (unsigned char)t[i];
		}
	}
	ok = utf8_valid(path, out) && memchr(path, '\0', out) == NULL;
	free(path);
	return ok || head_refuse(h, 400, "the request path is not valid UTF-8 once percent-decoded");
}

static bool
head_request_line(const char *line, size_t len, struct http_head *h)
{
	static const struct { const char *name; enum http_method method; } methods[] = {
		{ "GET", HTTP_GET }, { "HEAD", HTTP_HEAD }, { "POST", HTTP_POST },
	};
	const char *sp1 = memchr(line, ' ', len), *sp2, *version;
	size_t i;

	sp2 = sp1 ? memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - line)) : NULL;
	if (sp1 == NULL || sp2 == NULL || memchr(sp2 + 1, ' ', len - (size_t)(sp2 + 1 - line)))
		return head_refuse(h, 400, "malformed request line: expected METHOD SP TARGET SP HTTP/1.1");
	version = sp2 + 1;
	if (sp1 == line)
		return head_refuse(h, 400, "malformed request line: expected METHOD SP TARGET SP HTTP/1.1");
	if ((size_t)(line + len - version) != 8 || strncmp(version, "HTTP/1.", 7) != 0 ||
	    (version[7] != '0' && version[7] != '1'))
		return line + len - version >= 5 && strncmp(version, "HTTP/", 5) == 0 ?
			head_refuse(h, 505, "only HTTP/1.1 and HTTP/1.0 are supported") :
			head_refuse(h, 400, "malformed request line: expected METHOD SP TARGET SP HTTP/1.1");
	h->http11 = version[7] == '1';
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if ((size_t)(sp1 - line) == strlen(methods[i].name) &&
		    strncmp(line, methods[i].name, (size_t)(sp1 - line)) == 0)
			break;
	if (i == sizeof(methods) / sizeof(methods[0]))
		return head_refuse(h, 501, "method not implemented: use GET, HEAD or POST");
	h->method = methods[i].method;
	return head_check_target(sp1 + 1, (size_t)(sp2 - sp1 - 1), h);
}

static bool
head_content_length(const char *value, size_t len, struct http_head *h)
{
	uint64_t n = 0;

	if (++h->lengths > 1)
		return head_refuse(h, 400, "more than one Content-Length header");
	if (len == 0 || len > 18)
		return head_refuse(h, 400, "Content-Length must be a decimal number of at most 18 digits");
	for (size_t i = 0; i < len; i++) {
		if (value[i] < '0' || value[i] > '9')
			return head_refuse(h, 400, "Content-Length must be digits only (no sign, no spaces)");
		n = n * 10 + (uint64_t)(value[i] - '0');
	}
	h->content_length = n;
	return true;
}

static bool
head_field(const char *line, size_t len, struct http_head *h)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";
	const char *colon = memchr(line, ':', len), *v, *end = line + len;
	size_t name_len;

	if (line[0] == ' ' || line[0] == '\t')
		return head_refuse(h, 400, "folded header lines are not accepted");
	if (colon == NULL || colon == line)
		return head_refuse(h, 400, "malformed header line: expected NAME: VALUE");
	name_len = (size_t)(colon - line);
	for (size_t i = 0; i < name_len; i++)
		if (!((line[i] >= '0' && line[i] <= '9') || ((line[i] | 0x20) >= 'a' && (line[i] | 0x20) <= 'z') ||
		      (line[i] != '\0' && strchr(tchar, line[i]) != NULL)))
			return head_refuse(h, 400, "malformed header name (no spaces before the colon)");
	for (v = colon + 1; v < end && (*v == ' ' || *v == '\t'); v++)
		;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (name_len == 14 && strncasecmp(line, "Content-Length", 14) == 0)
		return head_content_length(v, (size_t)(end - v), h);
	if (name_len == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0)
		return head_refuse(h, 411, "Transfer-Encoding is not accepted: send the body with a Content-Length");
	if (name_len == 4 && strncasecmp(line, "Host", 4) == 0 && ++h->hosts > 1)
		return head_refuse(h, 400, "more than one Host header");
	return true;
}

/* Every line ends in CRLF; no other control characters but HT. */
static bool
head_check_bytes(const char *p, size_t len, struct http_head *h)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch == '\n' && (i == 0 || p[i - 1] != '\r'))
			return head_refuse(h, 400, "bare LF in the request head: lines must end in CRLF");
		if (ch == '\r' && (i + 1 == len || p[i + 1] != '\n'))
			return head_refuse(h, 400, "bare CR in the request head: lines must end in CRLF");
		if ((ch < 0x20 && ch != '\t' && ch != '\r' && ch != '\n') || ch == 0x7f)
			return head_refuse(h, 400, "control character in the request head");
	}
	return true;
}

bool
http_head_parse(const char *p, size_t len, struct http_head *h)
{
	const char *line = p, *end = p + len, *eol;

	memset(h, 0, sizeof(*h));
	if (!head_check_bytes(p, len, h))
		return false;
	/* conn.c hands over a head that ends with its blank line; anything else is refused here
	 * rather than read past (every line is found by its CR below) */
	if (len < 4 || memcmp(p + len - 4, "\r\n\r\n", 4) != 0)
		return head_refuse(h, 400, "the request head must end with an empty line (CRLF CRLF)");
	eol = memchr(line, '\r', (size_t)(end - line));
	if (!head_request_line(line, (size_t)(eol - line), h))
		return false;
	for (line = eol + 2; line < end; line = eol + 2) {
		eol = memchr(line, '\r', (size_t)(end - line));
		if (eol == line)
			break;
		if (!head_field(line, (size_t)(eol - line), h))
			return false;
	}
	if (line + 2 != end)
		return head_refuse(h, 400, "the request head must end at its first empty line");
	if (h->http11 && h->hosts == 0)
		return head_refuse(h, 400, "HTTP/1.1 requests must carry a Host header");
	if (h->method == HTTP_HEAD && h->content_length > 0)
		return head_refuse(h, 400, "a HEAD request has no body");
	return true;
}

