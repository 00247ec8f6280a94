/* http.h: the HTTPS server: listener, per-connection TLS, the route table (api.h),
 * authentication and the reply helpers every handler uses. */
#ifndef ESUP_HTTP_H
#define ESUP_HTTP_H

#include <stdbool.h>

#include <event2/http.h>
#include <jansson.h>

#include "esupd.h"
#include "identity.h"

/* Binds the listener and installs the routes. Logged and false on failure. */
bool http_start(struct esupd *d) __attribute__((warn_unused_result));
/* Applies reloadable limits (body, headers, timeouts) from d->cfg. */
void http_apply_limits(struct esupd *d);
/* Stops accepting new connections; existing ones are served until shutdown. */
void http_stop_accepting(struct esupd *d);

/* How every JSON reply is written: compact, and a real number with at most 15 significant
 * digits (DBL_DIG), so that a decimal of up to 15 digits comes out as it went in. Most reals
 * of a reply are the database's numerics (rates, scores), read back from its JSON text: the
 * default, 17 digits, wrote 0.8571 as 0.85709999999999997. Integers (counts, ids, ages) are
 * json integers and unaffected; money is text ("100.00") everywhere. */
#define HTTP_JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

/* Replies with a JSON body (HTTP_JSON_FLAGS); takes the reference to body. */
void http_reply_json(struct evhttp_request *req, int code, json_t *body);
/* The same with another JSON media type (application/schema+json). */
void http_reply_json_as(struct evhttp_request *req, int code, json_t *body,
		const char *content_type);
/* {"error": message} */
void http_reply_error(struct evhttp_request *req, int code, const char *message);
/* 429/503 with Retry-After: nothing of the request was done; resend it. */
void http_reply_retry(struct evhttp_request *req, int code, unsigned retry_after_s, const char *message);

#endif
