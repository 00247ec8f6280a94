/* http_head.h: strict checking of an HTTP/1.1 request head (request line and header fields),
 * for the request gate (conn.c). */
#ifndef ESUP_HTTP_HEAD_H
#define ESUP_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum http_method { HTTP_GET, HTTP_HEAD, HTTP_POST };

/* What a request head says, or why it is refused. */
struct http_head {
	enum http_method method;
	bool http11;
	unsigned hosts, lengths;
	uint64_t content_length;   /* 0 when absent */
	int status;                /* the refusal: 400, 411, 501 or 505 */
	const char *message;       /* a static string naming the fault */
};

/* p holds a whole head, up to and including the blank line that ends it (len bytes, not
 * NUL-terminated). False with h->status and h->message set when it must be refused. */
bool http_head_parse(const char *p, size_t len, struct http_head *h)
	__attribute__((warn_unused_result));

#endif
