/* https.h: a small blocking HTTPS/1.1 client for esupctl, on OpenSSL 3 alone.
 *
 * One request per connection ("Connection: close") by default: a command makes one or a
 * few requests, and a stream holds its connection for as long as it runs. With keep_alive
 * (esupctl push) the client holds one connection across requests, reopens it when the
 * server closed it (said "Connection: close", answered HTTP/1.0, or dropped it while idle:
 * a request that got no answer byte on a reused connection is sent once more on a new one)
 * and closes it on any failure. The server is verified against
 * the given CA only (never the system store), by host name or IP address as written in the
 * URL; the user's certificate and key authenticate the client. Every wait (connect,
 * handshake, read, write) is bounded by the timeout and ends early when the interrupt flag
 * is set (a signal handler sets it; the signal must not restart system calls).
 *
 * The response parser is separate and pure (no I/O): status line, headers, and a body
 * framed by Content-Length, chunked transfer coding or the end of the connection, fed in
 * pieces of any size. Decoded body bytes go to a callback as they arrive, which is how a
 * Server-Sent Events stream is read. */
#ifndef ESUP_HTTPS_H
#define ESUP_HTTPS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTPS_ERR_MAX 256
#define HTTPS_HEAD_MAX (32 * 1024)      /* status line and headers, trailers included */
#define HTTPS_BODY_MAX (64 * 1024 * 1024)   /* a buffered body; streams are not buffered */

/* Called with the response's status and each run of decoded body bytes as they arrive;
 * false stops the request (not an error). */
typedef bool (*https_body_cb)(int status, const char *data, size_t len, void *arg);

/* ------------------------------------------------------------ the response parser */

enum https_parse_state {
	HTTPS_STATUS_LINE, HTTPS_HEADERS, HTTPS_BODY_LENGTH, HTTPS_CHUNK_SIZE, HTTPS_CHUNK_DATA,
	HTTPS_CHUNK_END, HTTPS_TRAILERS, HTTPS_BODY_EOF, HTTPS_DONE, HTTPS_FAILED,
};

struct https_parser {
	enum https_parse_state state;
	bool head_only;              /* the request was HEAD: no body whatever the headers say */
	int status;
	bool chunked;
	bool has_length;
	uint64_t remaining;          /* of the Content-Length body or of the current chunk */
	char content_type[128];
	bool conn_close;             /* the server will close: "Connection: close" or HTTP/1.0 */
	long retry_after_s;          /* Retry-After in seconds; -1 when absent or a date */
	char line[HTTPS_HEAD_MAX];   /* the line being assembled */
	size_t line_len;
	size_t head_bytes;           /* head (or trailer) bytes so far, against HTTPS_HEAD_MAX */
	https_body_cb on_body;
	void *arg;
	bool stopped;                /* on_body returned false */
	char error[HTTPS_ERR_MAX];
};

void https_parser_init(struct https_parser *p, https_body_cb on_body, void *arg);

/* Feeds n bytes. False when the response is malformed (p->error says how) or on_body asked
 * to stop (p->stopped); bytes after the end of the response are ignored. */
bool https_parser_feed(struct https_parser *p, const char *data, size_t n)
	__attribute__((warn_unused_result));

/* The connection ended: true when that completes the response (a body read to the end of
 * the connection, or a response already done). */
bool https_parser_eof(struct https_parser *p) __attribute__((warn_unused_result));

/* ------------------------------------------------------------ the client */

struct https_options {
	const char *url;             /* https://HOST[:PORT][/PREFIX]; HOST may be [IPv6] */
	const char *cert;            /* PEM client certificate (chain), or NULL */
	const char *key;             /* PEM private key of cert */
	const char *ca;              /* PEM CA certificate(s) that must have issued the server's */
	int timeout_ms;              /* each connect, handshake, read and write */
	volatile sig_atomic_t *interrupted;   /* optional: set by a signal handler to give up */
	bool keep_alive;             /* hold the connection across requests (see above) */
};

/* Why the last https_request returned false. */
enum https_failure {
	HTTPS_FAIL_NONE,
	HTTPS_FAIL_IO,               /* connect, send, receive, timeout, a malformed answer */
	HTTPS_FAIL_TLS,              /* the server's certificate is not trusted, or the server
	                              * refused ours (a TLS alert): retrying will not help */
	HTTPS_FAIL_INTERRUPTED,      /* the interrupt flag was set */
};

struct https_client;

/* A client for o->url (strings are copied), the TLS context loaded; NULL with err set. */
struct https_client *https_client_create(const struct https_options *o, char *err,
	size_t errlen);
void https_client_destroy(struct https_client *c);

/* The class of the last failure of https_request on c. */
enum https_failure https_client_failure(const struct https_client *c);

struct https_request {
	const char *method;          /* GET, POST, ... */
	const char *target;          /* path and query, appended to the URL's prefix */
	const char *const *headers;  /* "Name: value" lines, NULL-terminated; may be NULL */
	const char *content_type;    /* with a body */
	const char *body;
	size_t body_len;
	https_body_cb on_body;       /* NULL: the body is buffered into the response */
	void *arg;
	int idle_timeout_ms;         /* 0: the client's timeout; for streams, the longest silence */
};

struct https_response {
	int status;
	char content_type[128];
	long retry_after_s;          /* Retry-After in seconds; -1 when absent or a date */
	char *body;                  /* owned, NUL-terminated (empty when streamed) */
	size_t body_len;
};

/* Sends the request and reads the response. False on a failure to connect, a TLS refusal,
 * a timeout, an interruption or a malformed response (err says which); a response of any
 * status is true. When on_body is set and the server closes the stream or on_body stops it,
 * the result is true with resp->status set. */
bool https_request(struct https_client *c, const struct https_request *r,
	struct https_response *resp, char *err, size_t errlen) __attribute__((warn_unused_result));

void https_response_finish(struct https_response *resp);

/* Percent-encodes s into a query-string value (RFC 3986 unreserved bytes kept); false when
 * out does not hold it. */
bool https_query_escape(const char *s, char *out, size_t outlen)
	__attribute__((warn_unused_result));

#endif
