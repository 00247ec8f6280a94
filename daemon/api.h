/* api.h: the route table. Each api_*.c exports its routes (the way tmux's cmd-*.c export a
 * cmd_entry) and http.c lists the sets. For a request, http.c picks the route whose pattern
 * fits the path, answers 405 when the method is not one of the route's, authenticates the
 * caller once with the route's roles, and only then calls the handler with a narrow context:
 * no handler sees a request it would have to authenticate itself. */
#ifndef ESUP_API_H
#define ESUP_API_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/http.h>
#include <jansson.h>

#include "esupd.h"
#include "identity.h"
#include "tls.h"

#define API_PARAMS_MAX 4
#define API_PARAM_MAX 64        /* bytes of a decoded path parameter (MON_CODE_MAX) */

struct api_param {
	const char *name;           /* points into the route's pattern; not NUL-terminated */
	size_t name_len;
	char value[API_PARAM_MAX + 1];   /* decoded, non-empty, without NUL bytes */
};

/* What a handler gets. It lives on http.c's stack for the duration of the handler call only:
 * a handler that answers later copies what it keeps (the principal, too, is valid only until
 * the next principals reload). */
struct api_request {
	struct esupd *d;
	struct evhttp_request *req;          /* the handler owes it exactly one reply */
	const struct principal *principal;   /* NULL on an API_OPEN route */
	char fingerprint[TLS_FINGERPRINT_LEN + 1];   /* "" on an API_OPEN route */
	struct api_param params[API_PARAMS_MAX];
	size_t nparams;
	const char *query;                   /* the raw query string, NULL when none */
};

typedef void api_handler(const struct api_request *r);

/* No certificate needed, and answered while draining too (/healthz). */
#define API_OPEN 0x1u

struct api_route {
	unsigned methods;           /* EVHTTP_REQ_* bits */
	const char *pattern;        /* literal segments and {name} segments: "/v1/alerts/{id}" */
	unsigned roles;             /* 1u << enum principal_role, the roles let in */
	unsigned flags;             /* API_OPEN */
	/* Not NULL: the route owns every path under its pattern's literal prefix (up to the first
	 * {param}); such a path that does not fit the pattern gets 404 with this message, after
	 * the method check and authentication. NULL: such paths are nobody's (404 "no such
	 * resource"). */
	const char *malformed;
	api_handler *handler;
};

#define API_ROLES_READERS (1u << ROLE_DEPARTMENT | 1u << ROLE_SUPERVISOR | 1u << ROLE_AUDITOR)

/* The route sets, each ended by an entry whose pattern is NULL. */
extern const struct api_route api_events_routes[];
extern const struct api_route api_cases_routes[];
extern const struct api_route api_alerts_routes[];
extern const struct api_route api_silences_routes[];
extern const struct api_route api_stream_routes[];      /* alert_stream.c */
extern const struct api_route api_console_routes[];     /* /, /console/..., /v1/me */
extern const struct api_route api_board_routes[];
extern const struct api_route api_stats_routes[];
extern const struct api_route api_metrics_routes[];    /* GET /metrics, role monitor */

/* api_metrics.c: the periodic database readings of /metrics (sweeper lag, open alerts) and the
 * [metrics] listen plain-HTTP listener, when set. NULL, logged, when the listener cannot be
 * bound or memory ran out. Stop on SIGTERM (no more polls); destroy at exit, before the event
 * base is freed. */
struct metrics_server *metrics_server_start(struct esupd *d);
void metrics_server_stop(struct metrics_server *ms);
void metrics_server_destroy(struct metrics_server *ms);

/* The decoded value of path parameter `name`, or NULL when the route has none. */
const char *api_param(const struct api_request *r, const char *name);

/* 400 {"error": {"field", "expected", "got"}}; got may be NULL (absent), is cut short and is
 * quoted back only when it is UTF-8. */
void api_reply_invalid(struct evhttp_request *req, const char *field, const char *expected,
		const char *got);

/* A query string's values, in the order of the `known` names given to api_query_parse. */
#define API_QUERY_MAX 16
struct api_query {
	char *values[API_QUERY_MAX];   /* decoded; NULL when absent */
};
/* Reads r->query against known (NULL-terminated, at most API_QUERY_MAX names). False after a
 * 400 reply: a malformed query, an unknown or repeated name. Free with api_query_free. */
bool api_query_parse(const struct api_request *r, const char *const *known, struct api_query *q)
	__attribute__((warn_unused_result));
void api_query_free(struct api_query *q);

/* The request body as a JSON object (an empty body is {}); NULL after a 400/500 reply. The
 * caller owns the reference. */
json_t *api_body_object(const struct api_request *r);
/* body's field as a string without NUL bytes, at most max bytes; *value NULL when absent or
 * null. False after a 400 reply naming the field. *value lives as long as body. */
bool api_body_string(const struct api_request *r, json_t *body, const char *field, size_t max,
		const char **value) __attribute__((warn_unused_result));

/* Runs sql (one statement) on r->d->reader and answers with the first column of its first
 * row, a JSON text, as 200; no row: 404 with not_found; the connection gone: 503 with
 * Retry-After (resend); a refused statement: 500, logged under `what` (a static string).
 * values are copied before this returns. The reply always follows, later or at once. */
void api_reply_query(const struct api_request *r, const char *what, const char *sql,
		int nparams, const char *const *values, const char *not_found);

#endif
