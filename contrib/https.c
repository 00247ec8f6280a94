/* https.c: esupctl's HTTPS/1.1 client (see https.h): URL, TLS context and verification,
 * non-blocking socket I/O bounded by poll(2), and the incremental response parser. */
#include "https.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* ------------------------------------------------------------ the response parser */

static bool
parse_fail(struct https_parser *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->error, sizeof(p->error), fmt, ap);
	va_end(ap);
	p->state = HTTPS_FAILED;
	return false;
}

void
https_parser_init(struct https_parser *p, https_body_cb on_body, void *arg)
{
	memset(p, 0, sizeof(*p));
	p->state = HTTPS_STATUS_LINE;
	p->on_body = on_body;
	p->arg = arg;
	p->retry_after_s = -1;
}

static bool
parse_status_line(struct https_parser *p, const char *line)
{
	if (strncmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') ||
	    line[8] != ' ' || line[9] < '1' || line[9] > '5' || line[10] < '0' ||
	    line[10] > '9' || line[11] < '0' || line[11] > '9' ||
	    (line[12] != ' ' && line[12] != '\0'))
		return parse_fail(p, "not an HTTP/1.x status line");
	p->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
	p->chunked = p->has_length = false;
	p->conn_close = line[7] == '0';        /* HTTP/1.0 closes unless it says keep-alive */
	p->retry_after_s = -1;
	p->content_type[0] = '\0';
	p->state = HTTPS_HEADERS;
	return true;
}

/* Content-Length: digits only; a repeated header must agree. */
static bool
parse_length(struct https_parser *p, const char *v)
{
	uint64_t n = 0;

	if (*v == '\0')
		return parse_fail(p, "empty Content-Length");
	for (; *v != '\0'; v++) {
		if (*v < '0' || *v > '9' || n > (UINT64_MAX - 9) / 10)
			return parse_fail(p, "bad Content-Length");
		n = n * 10 + (uint64_t)(*v - '0');
	}
	if (p->has_length && p->remaining != n)
		return parse_fail(p, "two different Content-Length headers");
	p->has_length = true;
	p->remaining = n;
	return true;
}

/* Only "chunked" (last) is understood: a body in any other coding cannot be framed. */
static bool
parse_coding(struct https_parser *p, const char *v)
{
	if (strcasecmp(v, "chunked") != 0)
		return parse_fail(p, "unsupported Transfer-Encoding '%.60s'", v);
	p->chunked = true;
	return true;
}

/* Retry-After as delta-seconds (the form esupd sends); -1 for an HTTP-date or garbage. */
static long
parse_retry_after(const char *v)
{
	long n = 0;

	if (*v == '\0' || strspn(v, "0123456789") != strlen(v) || strlen(v) > 9)
		return -1;
	for (; *v != '\0'; v++)
		n = n * 10 + (*v - '0');
	return n;
}

static bool
parse_header(struct https_parser *p, char *line)
{
	char *colon = strchr(line, ':');
	char *v, *end;

	if (colon == NULL || colon == line || line[0] == ' ' || line[0] == '\t')
		return parse_fail(p, "malformed header line");
	*colon = '\0';
	v = colon + 1 + strspn(colon + 1, " \t");
	end = v + strlen(v);
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	if (strcasecmp(line, "Content-Length") == 0)
		return parse_length(p, v);
	if (strcasecmp(line, "Transfer-Encoding") == 0)
		return parse_coding(p, v);
	if (strcasecmp(line, "Content-Type") == 0)
		snprintf(p->content_type, sizeof(p->content_type), "%s", v);
	if (strcasecmp(line, "Connection") == 0)
		p->conn_close = strcasecmp(v, "close") == 0 ? true :
			strcasecmp(v, "keep-alive") == 0 ? false : p->conn_close;
	if (strcasecmp(line, "Retry-After") == 0)
		p->retry_after_s = parse_retry_after(v);
	return true;
}

/* The blank line after the headers: how the body is framed. */
static void
parse_head_end(struct https_parser *p)
{
	if (p->status < 200) {
		p->state = HTTPS_STATUS_LINE;       /* 100 Continue and friends: another head follows */
	} else if (p->head_only || p->status == 204 || p->status == 304) {
		p->state = HTTPS_DONE;
	} else if (p->chunked) {
		p->state = HTTPS_CHUNK_SIZE;
	} else if (p->has_length) {
		p->state = p->remaining == 0 ? HTTPS_DONE : HTTPS_BODY_LENGTH;
	} else {
		p->state = HTTPS_BODY_EOF;
	}
}

static bool
parse_chunk_size(struct https_parser *p, const char *line)
{
	uint64_t n = 0;
	size_t digits = 0;

	for (; line[digits] != '\0'; digits++) {
		char c = line[digits];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (v < 0)
			break;
		if (digits == 15)
			return parse_fail(p, "chunk size too large");
		n = n * 16 + (uint64_t)v;
	}
	if (digits == 0 || (line[digits] != '\0' && line[digits] != ';' &&
	    line[digits] != ' ' && line[digits] != '\t'))
		return parse_fail(p, "bad chunk size line");
	p->remaining = n;
	p->head_bytes = 0;
	p->state = n == 0 ? HTTPS_TRAILERS : HTTPS_CHUNK_DATA;
	return true;
}

static bool
parse_line(struct https_parser *p, char *line)
{
	switch (p->state) {
	case HTTPS_STATUS_LINE:
		return parse_status_line(p, line);
	case HTTPS_HEADERS:
		if (line[0] == '\0') {
			parse_head_end(p);
			return true;
		}
		return parse_header(p, line);
	case HTTPS_CHUNK_SIZE:
		return parse_chunk_size(p, line);
	case HTTPS_CHUNK_END:
		if (line[0] != '\0')
			return parse_fail(p, "chunk data not followed by CRLF");
		p->state = HTTPS_CHUNK_SIZE;
		return true;
	case HTTPS_TRAILERS:
		if (line[0] == '\0')
			p->state = HTTPS_DONE;
		return true;        /* trailer fields are read and ignored */
	default:
		return parse_fail(p, "internal: line in state %d", (int)p->state);
	}
}

/* Takes bytes of a line up to and including LF; returns how many were used. */
static size_t
feed_line(struct https_parser *p, const char *data, size_t n)
{
	const char *lf = memchr(data, '\n', n);
	size_t take = lf != NULL ? (size_t)(lf - data) + 1 : n;
	size_t len;

	p->head_bytes += take;
	if (p->line_len + take >= sizeof(p->line) || p->head_bytes > HTTPS_HEAD_MAX) {
		parse_fail(p, "response head or line longer than %d bytes", HTTPS_HEAD_MAX);
		return n;
	}
	memcpy(p->line + p->line_len, data, take);
	p->line_len += take;
	if (lf == NULL)
		return take;
	len = p->line_len - 1;                          /* without the LF */
	if (len > 0 && p->line[len - 1] == '\r')
		len--;
	p->line[len] = '\0';
	p->line_len = 0;
	if (memchr(p->line, '\0', len) != NULL || memchr(p->line, '\r', len) != NULL)
		parse_fail(p, "control character in the response head");
	else
		(void)parse_line(p, p->line);
	return take;
}

static bool
deliver(struct https_parser *p, const char *data, size_t n)
{
	if (n == 0 || p->on_body == NULL || p->on_body(p->status, data, n, p->arg))
		return true;
	p->stopped = true;
	return false;
}

/* Body bytes of a length-framed body or chunk; returns how many were used. */
static size_t
feed_counted(struct https_parser *p, const char *data, size_t n, enum https_parse_state next)
{
	size_t take = p->remaining < n ? (size_t)p->remaining : n;

	p->remaining -= take;
	if (p->remaining == 0)
		p->state = next;
	if (!deliver(p, data, take))
		return n;
	return take;
}

bool
https_parser_feed(struct https_parser *p, const char *data, size_t n)
{
	size_t i = 0;

	while (i < n && !p->stopped) {
		switch (p->state) {
		case HTTPS_BODY_LENGTH:
			i += feed_counted(p, data + i, n - i, HTTPS_DONE);
			break;
		case HTTPS_CHUNK_DATA:
			i += feed_counted(p, data + i, n - i, HTTPS_CHUNK_END);
			break;
		case HTTPS_BODY_EOF:
			(void)deliver(p, data + i, n - i);
			i = n;
			break;
		case HTTPS_DONE:
			return true;
		case HTTPS_FAILED:
			return false;
		default:
			i += feed_line(p, data + i, n - i);
			break;
		}
	}
	return !p->stopped && p->state != HTTPS_FAILED;
}

bool
https_parser_eof(struct https_parser *p)
{
	if (p->state == HTTPS_BODY_EOF)
		p->state = HTTPS_DONE;
	if (p->state == HTTPS_DONE)
		return true;
	if (p->state != HTTPS_FAILED)
		parse_fail(p, p->state == HTTPS_STATUS_LINE && p->status == 0 && p->line_len == 0 ?
			"the server closed the connection without answering" :
			"the connection ended before the end of the response");
	return false;
}

/* ------------------------------------------------------------ the client */

struct https_client {
	SSL_CTX *ctx;
	char host[256];
	char port[8];
	char prefix[512];
	bool host_is_ip;
	int timeout_ms;
	volatile sig_atomic_t *interrupted;
	bool keep_alive;
	SSL *ssl;                    /* the kept connection (keep_alive), or NULL */
	int fd;
	enum https_failure failure;
};

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The oldest queued OpenSSL error as text (the queue is cleared). */
static const char *
ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_error();

	if (e == 0) {
		snprintf(buf, len, "unknown TLS error");
	} else {
		const char *r = ERR_reason_error_string(e);
		snprintf(buf, len, "%s", r != NULL ? r : "unknown TLS error");
	}
	ERR_clear_error();
	return buf;
}

static bool
parse_authority(struct https_client *c, const char *a, size_t len)
{
	const char *colon = NULL, *end = a + len;
	size_t hlen;

	if (len > 0 && a[0] == '[') {
		const char *rb = memchr(a, ']', len);
		if (rb == NULL || (rb + 1 != end && rb[1] != ':'))
			return false;
		hlen = (size_t)(rb - a - 1);
		a++;
		colon = rb + 1 != end ? rb + 1 : NULL;
	} else {
		colon = memchr(a, ':', len);
		hlen = colon != NULL ? (size_t)(colon - a) : len;
	}
	if (hlen == 0 || hlen >= sizeof(c->host) || memchr(a, '@', len) != NULL)
		return false;
	memcpy(c->host, a, hlen);
	c->host[hlen] = '\0';
	if (colon == NULL) {
		snprintf(c->port, sizeof(c->port), "443");
		return true;
	}
	len = (size_t)(end - colon - 1);
	if (len == 0 || len > 5 || strspn(colon + 1, "0123456789") < len)
		return false;
	memcpy(c->port, colon + 1, len);
	c->port[len] = '\0';
	return strtol(c->port, NULL, 10) >= 1 && strtol(c->port, NULL, 10) <= 65535;
}

/* https://HOST[:PORT][/PREFIX], without query, fragment or user information. */
static bool
parse_url(struct https_client *c, const char *url)
{
	const char *a, *slash;
	size_t plen;
	unsigned char buf[16];

	if (strncasecmp(url, "https://", 8) != 0 || strpbrk(url, "?# \t\r\n") != NULL)
		return false;
	a = url + 8;
	slash = strchr(a, '/');
	if (!parse_authority(c, a, slash != NULL ? (size_t)(slash - a) : strlen(a)))
		return false;
	plen = slash != NULL ? strlen(slash) : 0;
	while (plen > 0 && slash[plen - 1] == '/')
		plen--;
	if (plen >= sizeof(c->prefix))
		return false;
	if (plen > 0)
		memcpy(c->prefix, slash, plen);
	c->prefix[plen] = '\0';
	c->host_is_ip = inet_pton(AF_INET, c->host, buf) == 1 ||
		inet_pton(AF_INET6, c->host, buf) == 1;
	return true;
}

/* A file that cannot be read says why in plain words before OpenSSL is asked. */
static bool
readable(const char *what, const char *path, char *err, size_t errlen)
{
	if (path == NULL || access(path, R_OK) == 0)
		return true;
	set_err(err, errlen, "%s %s: %s", what, path, strerror(errno));
	return false;
}

static bool
load_context(struct https_client *c, const struct https_options *o, char *err, size_t errlen)
{
	char why[160];

	if (!readable("CA", o->ca, err, errlen) || !readable("certificate", o->cert, err, errlen) ||
	    !readable("key", o->key, err, errlen))
		return false;

	c->ctx = SSL_CTX_new(TLS_client_method());
	if (c->ctx == NULL || !SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION)) {
		set_err(err, errlen, "TLS: %s", ssl_reason(why, sizeof(why)));
		return false;
	}
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_options(c->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (o->ca != NULL ? !SSL_CTX_load_verify_locations(c->ctx, o->ca, NULL) :
	    !SSL_CTX_set_default_verify_paths(c->ctx)) {
		set_err(err, errlen, "CA %s: %s", o->ca != NULL ? o->ca : "(system)",
			ssl_reason(why, sizeof(why)));
		return false;
	}
	if (o->cert == NULL)
		return true;
	if (!SSL_CTX_use_certificate_chain_file(c->ctx, o->cert)) {
		set_err(err, errlen, "certificate %s: %s", o->cert, ssl_reason(why, sizeof(why)));
		return false;
	}
	if (!SSL_CTX_use_PrivateKey_file(c->ctx, o->key != NULL ? o->key : o->cert,
	    SSL_FILETYPE_PEM) || !SSL_CTX_check_private_key(c->ctx)) {
		set_err(err, errlen, "key %s: %s", o->key != NULL ? o->key : o->cert,
			ssl_reason(why, sizeof(why)));
		return false;
	}
	return true;
}

struct https_client *
https_client_create(const struct https_options *o, char *err, size_t errlen)
{
	struct https_client *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		set_err(err, errlen, "out of memory");
		return NULL;
	}
	c->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
	c->interrupted = o->interrupted;
	c->keep_alive = o->keep_alive;
	c->fd = -1;
	if (!parse_url(c, o->url)) {
		set_err(err, errlen, "--url %s: expected https://HOST[:PORT][/PATH]", o->url);
		free(c);
		return NULL;
	}
	if (!load_context(c, o, err, errlen)) {
		https_client_destroy(c);
		return NULL;
	}
	return c;
}

static void
conn_drop(struct https_client *c)
{
	if (c->ssl != NULL) {
		(void)SSL_shutdown(c->ssl);     /* best effort: the socket is non-blocking */
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

void
https_client_destroy(struct https_client *c)
{
	if (c == NULL)
		return;
	conn_drop(c);
	SSL_CTX_free(c->ctx);
	free(c);
}

/* ------------------------------------------------------------ waiting */

enum wait_result { WAIT_READY, WAIT_TIMEOUT, WAIT_INTERRUPTED, WAIT_ERROR };

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum wait_result
wait_fd(const struct https_client *c, int fd, short events, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	struct pollfd pfd = { .fd = fd, .events = events };

	for (;;) {
		int64_t left = deadline - now_ms();
		int n;
		if (c->interrupted != NULL && *c->interrupted)
			return WAIT_INTERRUPTED;
		if (left <= 0)
			return WAIT_TIMEOUT;
		n = poll(&pfd, 1, (int)left);
		if (n > 0)
			return WAIT_READY;
		if (n == 0)
			return WAIT_TIMEOUT;
		if (errno != EINTR)
			return WAIT_ERROR;
	}
}

static bool
wait_failed(enum wait_result w, const char *what, int timeout_ms, char *err, size_t errlen)
{
	if (w == WAIT_INTERRUPTED)
		set_err(err, errlen, "interrupted");
	else if (w == WAIT_TIMEOUT)
		set_err(err, errlen, "%s: no progress within %d s", what, (timeout_ms + 999) / 1000);
	else
		set_err(err, errlen, "%s: %s", what, strerror(errno));
	return false;
}

static int
connect_one(const struct https_client *c, const struct addrinfo *ai, char *err, size_t errlen)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		ai->ai_protocol);
	enum wait_result w;
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (fd < 0) {
		set_err(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		set_err(err, errlen, "connect to %s port %s: %s", c->host, c->port, strerror(errno));
	} else if ((w = wait_fd(c, fd, POLLOUT, c->timeout_ms)) != WAIT_READY) {
		wait_failed(w, "connect", c->timeout_ms, err, errlen);
	} else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
		set_err(err, errlen, "connect to %s port %s: %s", c->host, c->port,
			strerror(soerr != 0 ? soerr : errno));
	} else {
		return fd;
	}
	close(fd);
	return -1;
}

static int
connect_tcp(const struct https_client *c, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res, *ai;
	int fd = -1, rc;

	rc = getaddrinfo(c->host, c->port, &hints, &res);
	if (rc != 0) {
		set_err(err, errlen, "%s: %s", c->host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
		if (c->interrupted != NULL && *c->interrupted)
			break;
		fd = connect_one(c, ai, err, errlen);
	}
	freeaddrinfo(res);
	return fd;
}

/* ------------------------------------------------------------ TLS */

/* Waits as SSL_get_error asks after a call that returned ret; false (err set) when the
 * call failed for good or the wait did. */
static bool
tls_wait(struct https_client *c, SSL *ssl, int fd, int ret, int timeout_ms,
	const char *what, char *err, size_t errlen)
{
	char why[160];
	int e = SSL_get_error(ssl, ret);
	enum wait_result w;

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		w = wait_fd(c, fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, timeout_ms);
		return w == WAIT_READY || wait_failed(w, what, timeout_ms, err, errlen);
	}
	if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
		set_err(err, errlen, "%s: %s", what, errno != 0 ? strerror(errno) :
			"connection closed by the server");
	else if (strstr(ssl_reason(why, sizeof(why)), "alert") != NULL) {
		set_err(err, errlen, "%s: the server refused the TLS connection (%s): is the "
			"client certificate one it accepts?", what, why);
		c->failure = HTTPS_FAIL_TLS;
	}
	else
		set_err(err, errlen, "%s: %s", what, why);
	return false;
}

static SSL *
tls_connect(struct https_client *c, int fd, char *err, size_t errlen)
{
	SSL *ssl = SSL_new(c->ctx);
	int ret;

	if (ssl == NULL || !SSL_set_fd(ssl, fd) ||
	    (c->host_is_ip ? !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), c->host) :
	     !SSL_set_tlsext_host_name(ssl, c->host) || !SSL_set1_host(ssl, c->host))) {
		set_err(err, errlen, "TLS set-up failed");
		SSL_free(ssl);
		return NULL;
	}
	while ((ret = SSL_connect(ssl)) != 1) {
		long v = SSL_get_verify_result(ssl);
		if (v != X509_V_OK) {
			set_err(err, errlen, "TLS: the server's certificate for %s is not trusted: %s",
				c->host, X509_verify_cert_error_string(v));
			c->failure = HTTPS_FAIL_TLS;
			ERR_clear_error();
			break;
		}
		if (!tls_wait(c, ssl, fd, ret, c->timeout_ms, "TLS handshake", err, errlen))
			break;
	}
	if (ret == 1)
		return ssl;
	SSL_free(ssl);
	return NULL;
}

static bool
tls_write_all(struct https_client *c, SSL *ssl, int fd, const char *data, size_t n,
	char *err, size_t errlen)
{
	while (n > 0) {
		int chunk = n > 65536 ? 65536 : (int)n;
		int ret = SSL_write(ssl, data, chunk);
		if (ret > 0) {
			data += ret;
			n -= (size_t)ret;
		} else if (!tls_wait(c, ssl, fd, ret, c->timeout_ms, "sending the request", err,
		    errlen)) {
			return false;
		}
	}
	return true;
}

/* ------------------------------------------------------------ the request */

struct buffer {
	char *data;
	size_t len;
	size_t cap;
	bool overflow;
};

static bool
buffer_add(struct buffer *b, const char *data, size_t n)
{
	if (b->overflow || n > HTTPS_BODY_MAX - b->len) {
		b->overflow = true;
		return false;
	}
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap == 0 ? 4096 : b->cap;
		char *nd;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		if ((nd = realloc(b->data, ncap)) == NULL) {
			b->overflow = true;
			return false;
		}
		b->data = nd;
		b->cap = ncap;
	}
	memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return true;
}

static bool
buffer_printf(struct buffer *b, const char *fmt, ...)
{
	char tmp[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	return n >= 0 && (size_t)n < sizeof(tmp) && buffer_add(b, tmp, (size_t)n);
}

static bool
collect_body(int status, const char *data, size_t n, void *arg)
{
	(void)status;
	return buffer_add(arg, data, n);
}

/* The request head; false when a caller's header carries a line break. */
static bool
build_head(const struct https_client *c, const struct https_request *r, struct buffer *b)
{
	bool v6 = strchr(c->host, ':') != NULL, ok;

	ok = buffer_printf(b, "%s %s%s HTTP/1.1\r\nHost: %s%s%s%s%s\r\n", r->method, c->prefix,
		r->target, v6 ? "[" : "", c->host, v6 ? "]" : "",
		strcmp(c->port, "443") != 0 ? ":" : "", strcmp(c->port, "443") != 0 ? c->port : "");
	ok = ok && buffer_printf(b, "User-Agent: esupctl\r\n%s",
		c->keep_alive ? "" : "Connection: close\r\n");
	for (size_t i = 0; ok && r->headers != NULL && r->headers[i] != NULL; i++)
		ok = strpbrk(r->headers[i], "\r\n") == NULL &&
			buffer_printf(b, "%s\r\n", r->headers[i]);
	if (ok && r->body != NULL)
		ok = buffer_printf(b, "Content-Type: %s\r\nContent-Length: %zu\r\n",
			r->content_type != NULL ? r->content_type : "application/json", r->body_len);
	else if (ok && strcmp(r->method, "POST") == 0)
		ok = buffer_printf(b, "Content-Length: 0\r\n");
	return ok && strpbrk(r->target, "\r\n ") == NULL && buffer_add(b, "\r\n", 2);
}

/* Reads until the parser is done, stopped, fails, or the connection ends. */
static bool
read_response(struct https_client *c, SSL *ssl, int fd, struct https_parser *p,
	int idle_ms, char *err, size_t errlen)
{
	char buf[16384];

	for (;;) {
		int ret = SSL_read(ssl, buf, sizeof(buf));
		if (ret > 0) {
			if (!https_parser_feed(p, buf, (size_t)ret)) {
				if (p->stopped)
					return true;
				set_err(err, errlen, "bad response: %s", p->error);
				return false;
			}
			if (p->state == HTTPS_DONE)
				return true;
			continue;
		}
		if (SSL_get_error(ssl, ret) == SSL_ERROR_ZERO_RETURN) {
			if (https_parser_eof(p))
				return true;
			set_err(err, errlen, "%s", p->error);
			return false;
		}
		if (!tls_wait(c, ssl, fd, ret, idle_ms, p->status == 0 ? "waiting for the answer" :
		    "reading the answer", err, errlen))
			return false;
	}
}

/* The request could not be sent: with TLS 1.3 a server that refuses the client certificate
 * says so (an alert) after the client's side of the handshake is done, and closes; the alert
 * may still be there to read, and explains the failure better than EPIPE. */
static void
explain_send_failure(struct https_client *c, SSL *ssl, int fd, char *err, size_t errlen)
{
	char buf[256], why[HTTPS_ERR_MAX];
	int ret;

	ERR_clear_error();
	ret = SSL_read(ssl, buf, sizeof(buf));
	if (ret <= 0 && !tls_wait(c, ssl, fd, ret, 1000, "sending the request", why,
	    sizeof(why)) && strstr(why, "refused") != NULL) {
		set_err(err, errlen, "%s", why);
	} else if (SSL_version(ssl) >= TLS1_3_VERSION && strstr(err, "sending") != NULL) {
		snprintf(why, sizeof(why), "%s", err);
		set_err(err, errlen, "%s (the server closed the connection right after the TLS "
			"handshake: is the client certificate one it accepts?)", why);
	}
}

static bool
exchange(struct https_client *c, SSL *ssl, int fd, const struct https_request *r,
	struct https_response *resp, bool *reusable, bool *answered, char *err, size_t errlen)
{
	struct buffer head = { 0 }, body = { 0 };
	struct https_parser *p = malloc(sizeof(*p));
	bool ok = p != NULL;

	*reusable = *answered = false;

	if (!ok)
		set_err(err, errlen, "out of memory");
	else if (!(ok = build_head(c, r, &head)))
		set_err(err, errlen, "a request header or target holds a line break or is too long");
	if (ok && (!tls_write_all(c, ssl, fd, head.data, head.len, err, errlen) ||
	    (r->body != NULL && !tls_write_all(c, ssl, fd, r->body, r->body_len, err, errlen)))) {
		explain_send_failure(c, ssl, fd, err, errlen);
		ok = false;
	}
	if (ok) {
		https_parser_init(p, r->on_body != NULL ? r->on_body : collect_body,
			r->on_body != NULL ? r->arg : &body);
		p->head_only = strcmp(r->method, "HEAD") == 0;
		ok = read_response(c, ssl, fd, p, r->idle_timeout_ms > 0 ? r->idle_timeout_ms :
			c->timeout_ms, err, errlen);
		if (ok && body.overflow) {
			set_err(err, errlen, "response body larger than %d bytes", HTTPS_BODY_MAX);
			ok = false;
		}
		resp->status = p->status;
		resp->retry_after_s = p->retry_after_s;
		snprintf(resp->content_type, sizeof(resp->content_type), "%s", p->content_type);
		*answered = p->status != 0 || p->line_len > 0;
		*reusable = ok && p->state == HTTPS_DONE && !p->stopped && !p->conn_close;
	}
	resp->body = body.data != NULL ? body.data : strdup("");
	resp->body_len = body.len;
	free(head.data);
	free(p);
	return ok && resp->body != NULL;
}

static bool
conn_open(struct https_client *c, char *err, size_t errlen)
{
	if ((c->fd = connect_tcp(c, err, errlen)) < 0)
		return false;
	if ((c->ssl = tls_connect(c, c->fd, err, errlen)) == NULL) {
		close(c->fd);
		c->fd = -1;
		return false;
	}
	return true;
}

/* One attempt on the kept connection (opened first when there is none). */
static bool
request_once(struct https_client *c, const struct https_request *r,
	struct https_response *resp, bool *reused, bool *answered, char *err, size_t errlen)
{
	bool reusable = false, ok;

	memset(resp, 0, sizeof(*resp));
	resp->retry_after_s = -1;
	*answered = false;
	*reused = c->ssl != NULL;
	if (!*reused && !conn_open(c, err, errlen))
		return false;
	ok = exchange(c, c->ssl, c->fd, r, resp, &reusable, answered, err, errlen);
	if (!c->keep_alive || !reusable)
		conn_drop(c);
	return ok;
}

bool
https_request(struct https_client *c, const struct https_request *r,
	struct https_response *resp, char *err, size_t errlen)
{
	bool reused, answered, ok;

	c->failure = HTTPS_FAIL_NONE;
	ERR_clear_error();
	ok = request_once(c, r, resp, &reused, &answered, err, errlen);
	/* A kept connection the server closed while it was idle: once more on a new one. */
	if (!ok && reused && !answered && c->failure == HTTPS_FAIL_NONE &&
	    (c->interrupted == NULL || !*c->interrupted)) {
		https_response_finish(resp);
		ERR_clear_error();
		ok = request_once(c, r, resp, &reused, &answered, err, errlen);
	}
	ERR_clear_error();
	if (!ok && c->failure == HTTPS_FAIL_NONE)
		c->failure = c->interrupted != NULL && *c->interrupted ? HTTPS_FAIL_INTERRUPTED :
			HTTPS_FAIL_IO;
	return ok;
}

enum https_failure
https_client_failure(const struct https_client *c)
{
	return c->failure;
}

void
https_response_finish(struct https_response *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->body_len = 0;
}

bool
https_query_escape(const char *s, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *u = (const unsigned char *)s; *u != '\0'; u++) {
		bool keep = (*u >= 'A' && *u <= 'Z') || (*u >= 'a' && *u <= 'z') ||
			(*u >= '0' && *u <= '9') || strchr("-._~,", *u) != NULL;
		if (o + (keep ? 1 : 3) >= outlen)
			return false;
		if (keep) {
			out[o++] = (char)*u;
		} else {
			out[o++] = '%';
			out[o++] = hex[*u >> 4];
			out[o++] = hex[*u & 15];
		}
	}
	if (o >= outlen)
		return false;
	out[o] = '\0';
	return true;
}
