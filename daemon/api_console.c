/* api_console.c: the supervision console (a single-page app, console/ in the repository) served
 * from the files embedded at build time (api_console.h), under /console/ on the API's listener
 * and with the API's certificates and roles; and GET /v1/me, who the console's user is. A
 * console file goes out with its content type, a strong ETag (304 on a matching If-None-Match)
 * and headers that keep the page to itself: a Content-Security-Policy allowing only the
 * daemon's own scripts, styles and images, nosniff, no referrer, no framing, no cross-origin
 * reads. Lookups are by exact name in a constant table: a path segment never reaches a file
 * system. */
#include "api_console.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "alert.h"
#include "api.h"
#include "db.h"
#include "http.h"
#include "log.h"

#define CONSOLE_PATH "/console/"
#define CONSOLE_INDEX "index.html"

#define CONSOLE_CSP "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';" \
	" connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none';" \
	" frame-ancestors 'none'"

static const struct {
	const char *name, *value;
} console_headers[] = {
	{ "Content-Security-Policy", CONSOLE_CSP },
	{ "X-Content-Type-Options", "nosniff" },
	{ "Referrer-Policy", "no-referrer" },
	{ "Cross-Origin-Opener-Policy", "same-origin" },
	{ "Cross-Origin-Resource-Policy", "same-origin" },
	{ "Cache-Control", "no-cache" },
};

const struct console_file *
console_file_find(const char *name)
{
	for (size_t i = 0; i < console_files_count; i++)
		if (strcmp(console_files[i].name, name) == 0)
			return &console_files[i];
	return NULL;
}

/* One entity tag of an If-None-Match list, spaces around it trimmed, "W/" dropped. */
static bool
console_etag_equal(const char *tag, size_t len, const char *etag)
{
	while (len > 0 && (*tag == ' ' || *tag == '\t')) {
		tag++;
		len--;
	}
	while (len > 0 && (tag[len - 1] == ' ' || tag[len - 1] == '\t'))
		len--;
	if (len >= 2 && tag[0] == 'W' && tag[1] == '/') {
		tag += 2;
		len -= 2;
	}
	return (len == 1 && tag[0] == '*') || (len == strlen(etag) && strncmp(tag, etag, len) == 0);
}

bool
console_etag_matches(const char *header, const char *etag)
{
	if (header == NULL)
		return false;
	for (;;) {
		size_t len = strcspn(header, ",");

		if (console_etag_equal(header, len, etag))
			return true;
		if (header[len] == '\0')
			return false;
		header += len + 1;
	}
}

/* 200 with the file (no body for HEAD), or 304 when the client's copy is this one. */
static void
console_serve(const struct api_request *r, const struct console_file *f)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(r->req);
	const char *inm = evhttp_find_header(evhttp_request_get_input_headers(r->req),
		"If-None-Match");
	struct evbuffer *body;
	char length[24];

	for (size_t i = 0; i < sizeof(console_headers) / sizeof(console_headers[0]); i++)
		evhttp_add_header(out, console_headers[i].name, console_headers[i].value);
	evhttp_add_header(out, "ETag", f->etag);
	if (console_etag_matches(inm, f->etag)) {
		evhttp_send_reply(r->req, 304, NULL, NULL);
		return;
	}
	evhttp_add_header(out, "Content-Type", f->content_type);
	if (evhttp_request_get_command(r->req) == EVHTTP_REQ_HEAD) {
		/* evhttp writes no Content-Length for HEAD itself: say what GET would send. */
		snprintf(length, sizeof(length), "%zu", f->length);
		evhttp_add_header(out, "Content-Length", length);
		evhttp_send_reply(r->req, 200, NULL, NULL);
		return;
	}
	if ((body = evbuffer_new()) == NULL ||
	    evbuffer_add_reference(body, f->bytes, f->length, NULL, NULL) != 0) {
		if (body != NULL)
			evbuffer_free(body);
		evhttp_remove_header(out, "Content-Type");
		http_reply_error(r->req, 500, "out of memory");
		return;
	}
	evhttp_send_reply(r->req, 200, NULL, body);
	evbuffer_free(body);
}

static void
console_redirect(const struct api_request *r, int code)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(r->req);

	evhttp_add_header(out, "Location", CONSOLE_PATH);
	evhttp_add_header(out, "Cache-Control", "no-cache");
	http_reply_json(r->req, code, json_pack("{s:s}", "location", CONSOLE_PATH));
}

/* GET / */
static void
console_root(const struct api_request *r)
{
	console_redirect(r, 302);
}

/* GET /console: the page's relative links need the trailing slash. */
static void
console_dir(const struct api_request *r)
{
	console_redirect(r, 301);
}

static void
console_named(const struct api_request *r, const char *name)
{
	const struct console_file *f = console_file_find(name);

	if (f == NULL)
		http_reply_error(r->req, 404, "no such file");
	else
		console_serve(r, f);
}

/* GET /console/ */
static void
console_index(const struct api_request *r)
{
	console_named(r, CONSOLE_INDEX);
}

/* GET /console/{file} */
static void
console_file(const struct api_request *r)
{
	console_named(r, api_param(r, "file"));
}

/* ---------------------------------------------------------------- GET /v1/me */

/* The region's name ($1; NULL when the regions table does not have it) and the business clock
 * ($2, seconds since the epoch) in Shanghai time. */
static const char console_me_sql[] =
	"SELECT (SELECT g.name FROM regions g WHERE g.code = $1::text),"
	" " ALERT_TIME("to_timestamp($2::text::double precision)");

/* What the reply says about the principal, copied: the principals may be reloaded before the
 * query answers. */
struct console_me {
	struct evhttp_request *req;
	struct esupd *d;
	json_t *me;      /* {"subject","role","dept","region"}; region_name and now to come */
};

static void
console_me_answered(const PGresult *res, void *arg)
{
	struct console_me *m = arg;

	if (res == NULL) {
		http_reply_retry(m->req, 503, m->d->cfg->retry_after_s, "database unavailable");
	} else if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		log_warnx("GET /v1/me: %s", PQresultErrorMessage(res));
		http_reply_error(m->req, 500, "the database refused the query; see the daemon's log");
	} else {
		json_object_set_new(m->me, "region_name", PQgetisnull(res, 0, 0) ? json_null() :
			json_string(PQgetvalue(res, 0, 0)));
		json_object_set_new(m->me, "now", json_string(PQgetvalue(res, 0, 1)));
		http_reply_json(m->req, 200, m->me);
		m->me = NULL;
	}
	json_decref(m->me);
	free(m);
}

static json_t *
console_text_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

static void
api_me(const struct api_request *r)
{
	const struct principal *p = r->principal;
	struct console_me *m = calloc(1, sizeof(*m));
	const char *values[2];
	char now[24];

	if (m == NULL || (m->me = json_pack("{s:o, s:s, s:o, s:o}",
			"subject", console_text_or_null(p->subject), "role", identity_role_name(p->role),
			"dept", console_text_or_null(p->role == ROLE_DEPARTMENT ? p->dept : NULL),
			"region", console_text_or_null(p->region))) == NULL) {
		free(m);
		http_reply_error(r->req, 500, "out of memory");
		return;
	}
	m->req = r->req;
	m->d = r->d;
	snprintf(now, sizeof(now), "%" PRId64, esupd_now(r->d));
	values[0] = p->region;
	values[1] = now;
	if (!db_query(r->d->reader, console_me_sql, 2, values, console_me_answered, m))
		console_me_answered(NULL, m);
}

#define CONSOLE_METHODS (EVHTTP_REQ_GET | EVHTTP_REQ_HEAD)

const struct api_route api_console_routes[] = {
	{ CONSOLE_METHODS, "/", API_ROLES_READERS, 0, NULL, console_root },
	{ CONSOLE_METHODS, "/console", API_ROLES_READERS, 0, NULL, console_dir },
	{ CONSOLE_METHODS, "/console/", API_ROLES_READERS, 0, NULL, console_index },
	/* Owns every longer path under /console/ (a/b, ../x): 404 after authentication. */
	{ CONSOLE_METHODS, "/console/{file}", API_ROLES_READERS, 0, "no such file", console_file },
	{ EVHTTP_REQ_GET, "/v1/me", API_ROLES_READERS, 0, NULL, api_me },
	{ 0 },
};
