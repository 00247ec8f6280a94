/* alerts.c: `esupctl alerts`: the command line, the connection settings, and the commands
 * that ask once and print the answer (list, show, the actions, silences, rule modes). Each
 * command is one or a few HTTPS requests with the user's certificate; tables on stdout by
 * default, the server's JSON with --json; the server's error and exit status 1 when it
 * refuses, 2 for a usage error. */
#include "alerts.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "mon_value.h"
#include "table.h"

#define DEFAULT_URL "https://localhost:8443"
#define DEFAULT_CONFIG "/etc/esup/esupd.conf"
#define TARGET_MAX 4096
#define PAGES_MAX 100000

enum opt {
	O_URL, O_CERT, O_KEY, O_CA, O_JSON, O_TIMEOUT, O_CONFIG,
	O_DEPT, O_REGION, O_SEVERITY, O_STATUS, O_RULE, O_CASE, O_ITEM, O_SINCE, O_UNTIL,
	O_LIMIT, O_CURSOR, O_ALL, O_AFTER, O_FOR, O_FROM, O_NOTE, O_HELP, O_COUNT
};

#define BIT(o) (1u << (o))
#define CONN (BIT(O_URL) | BIT(O_CERT) | BIT(O_KEY) | BIT(O_CA) | BIT(O_JSON) | \
	BIT(O_TIMEOUT) | BIT(O_CONFIG) | BIT(O_HELP))
#define FILTERS (BIT(O_DEPT) | BIT(O_REGION) | BIT(O_SEVERITY) | BIT(O_STATUS) | BIT(O_RULE) | \
	BIT(O_CASE) | BIT(O_ITEM) | BIT(O_SINCE) | BIT(O_UNTIL))

/* The query parameter of each list filter, in enum order from O_DEPT. */
static const char *const filter_names[] = {
	"dept", "region", "severity", "status", "rule", "case", "item", "since", "until",
	"limit", "cursor",
};

static const struct option longopts[] = {
	{ "url", required_argument, NULL, 256 + O_URL },
	{ "cert", required_argument, NULL, 256 + O_CERT },
	{ "key", required_argument, NULL, 256 + O_KEY },
	{ "ca", required_argument, NULL, 256 + O_CA },
	{ "cacert", required_argument, NULL, 256 + O_CA },   /* as esupctl push and curl spell it */
	{ "json", no_argument, NULL, 256 + O_JSON },
	{ "timeout", required_argument, NULL, 256 + O_TIMEOUT },
	{ "config", required_argument, NULL, 256 + O_CONFIG },
	{ "dept", required_argument, NULL, 256 + O_DEPT },
	{ "region", required_argument, NULL, 256 + O_REGION },
	{ "severity", required_argument, NULL, 256 + O_SEVERITY },
	{ "status", required_argument, NULL, 256 + O_STATUS },
	{ "rule", required_argument, NULL, 256 + O_RULE },
	{ "case", required_argument, NULL, 256 + O_CASE },
	{ "item", required_argument, NULL, 256 + O_ITEM },
	{ "since", required_argument, NULL, 256 + O_SINCE },
	{ "until", required_argument, NULL, 256 + O_UNTIL },
	{ "limit", required_argument, NULL, 256 + O_LIMIT },
	{ "cursor", required_argument, NULL, 256 + O_CURSOR },
	{ "all", no_argument, NULL, 256 + O_ALL },
	{ "after", required_argument, NULL, 256 + O_AFTER },
	{ "for", required_argument, NULL, 256 + O_FOR },
	{ "from", required_argument, NULL, 256 + O_FROM },
	{ "note", required_argument, NULL, 'm' },
	{ "message", required_argument, NULL, 'm' },
	{ "reason", required_argument, NULL, 'm' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct args {
	const char *val[O_COUNT];
	unsigned seen;
	char **pos;                  /* the words left: the command and its operands */
	int npos;
};

static const char *const action_names[] = {
	"ack", "appeal", "resolve", "dismiss", "revoke", "reject", "confirm", "cancel",
	"escalate", NULL,
};

static void
alerts_usage(FILE *out)
{
	fprintf(out,
		"usage: esupctl alerts list [--dept D] [--region R] [--severity S[,S]] [--status S[,S]]\n"
		"                           [--rule R] [--case C] [--item I] [--since TIME] [--until TIME]\n"
		"                           [--limit N] [--cursor C] [--all]\n"
		"       esupctl alerts show ID\n"
		"       esupctl alerts tail [--after POSITION]\n"
		"       esupctl alerts ack|appeal|resolve|dismiss|revoke|reject|confirm|cancel|escalate"
		" ID -m NOTE\n"
		"       esupctl alerts silence add [--rule R] [--dept D] [--item I] [--region R]\n"
		"                           [--from TIME] --until TIME|--for DURATION -m REASON\n"
		"       esupctl alerts silence list\n"
		"       esupctl alerts silence expire ID\n"
		"       esupctl alerts rules\n"
		"       esupctl alerts rules mode CODE issue|hold|off -m REASON\n"
		"connection: --url URL --cert FILE --key FILE --ca FILE (also --cacert FILE) (or\n"
		"            ESUP_URL, ESUP_CERT, ESUP_KEY, ESUP_CA), --timeout SECONDS;\n"
		"            output: --json for the server's JSON\n"
		"TIME: RFC 3339, or YYYY-MM-DD[ HH:MM[:SS]] in Asia/Shanghai; DURATION: 90s, 30m, 2h,\n"
		"      1d, 1w or a sum such as 1h30m\n");
}

static int
usage_error(const char *fmt, const char *what)
{
	fprintf(stderr, "esupctl alerts: ");
	fprintf(stderr, fmt, what);
	fprintf(stderr, "\n(esupctl alerts --help for the commands)\n");
	return 2;
}

static bool
usage_false(const char *fmt, const char *what)
{
	usage_error(fmt, what);
	return false;
}

static json_t *
usage_null(const char *fmt, const char *what)
{
	usage_error(fmt, what);
	return NULL;
}

static bool
parse_args(int argc, char **argv, struct args *a)
{
	int opt;

	memset(a, 0, sizeof(*a));
	optind = 1;
	while ((opt = getopt_long(argc, argv, "m:h", longopts, NULL)) != -1) {
		int o = opt == 'm' ? O_NOTE : opt == 'h' ? O_HELP : opt - 256;
		if (o < 0 || o >= O_COUNT)
			return false;
		a->val[o] = optarg != NULL ? optarg : "";
		a->seen |= BIT(o);
	}
	a->pos = argv + optind;
	a->npos = argc - optind;
	return true;
}

/* ------------------------------------------------------------ values on the command line */

static bool
all_digits(const char *s, size_t max)
{
	size_t n = strspn(s, "0123456789");

	return n > 0 && n <= max && s[n] == '\0';
}

/* TIME as RFC 3339 at +08:00: RFC 3339 itself, or a date and time without offset taken in
 * Asia/Shanghai; checked by the same parser the daemon uses. */
static bool
parse_user_time(const char *s, int64_t *epoch, char *out, size_t outlen)
{
	char buf[64];
	size_t n = strlen(s);
	int offset;

	if (n == 10)
		snprintf(buf, sizeof(buf), "%sT00:00:00+08:00", s);
	else if (n == 16 && (s[10] == ' ' || s[10] == 'T'))
		snprintf(buf, sizeof(buf), "%.10sT%s:00+08:00", s, s + 11);
	else if (n == 19 && (s[10] == ' ' || s[10] == 'T'))
		snprintf(buf, sizeof(buf), "%.10sT%s+08:00", s, s + 11);
	else
		snprintf(buf, sizeof(buf), "%s", n < sizeof(buf) ? s : "");
	if (!mon_time_parse(buf, epoch, &offset))
		return false;
	mon_time_format(*epoch, ALERTS_TZ_MIN, out, outlen);
	return true;
}

/* DURATION: a sum of NUMBER UNIT (s, m, h, d, w), at most a year. */
static bool
parse_duration(const char *s, int64_t *seconds)
{
	int64_t total = 0;

	if (*s == '\0')
		return false;
	while (*s != '\0') {
		char *end;
		long long n;
		int64_t unit;
		errno = 0;
		n = strtoll(s, &end, 10);
		if (errno != 0 || end == s || *s == '-' || *s == '+' || n > 366LL * 86400)
			return false;
		unit = *end == 's' ? 1 : *end == 'm' ? 60 : *end == 'h' ? 3600 :
			*end == 'd' ? 86400 : *end == 'w' ? 604800 : 0;
		if (unit == 0)
			return false;
		total += (int64_t)n * unit;
		if (total > 366LL * 86400)
			return false;
		s = end + 1;
	}
	*seconds = total;
	return total > 0;
}

/* ------------------------------------------------------------ printing */

/* src into buf of len bytes, cut short when it does not fit (a time needs 20). */
static void
copy_cut(char *buf, size_t len, const char *src)
{
	size_t n = strlen(src);

	if (len == 0)
		return;
	if (n >= len)
		n = len - 1;
	memcpy(buf, src, n);
	buf[n] = '\0';
}

void
show_time(const char *iso, bool seconds, char *buf, size_t len)
{
	char full[40];
	int64_t epoch;
	int offset;

	if (iso == NULL || iso[0] == '\0') {
		snprintf(buf, len, "%s", "");
		return;
	}
	if (!mon_time_parse(iso, &epoch, &offset)) {
		snprintf(buf, len, "%s", iso);
		return;
	}
	mon_time_format(epoch, ALERTS_TZ_MIN, full, sizeof(full));
	full[10] = ' ';
	full[seconds ? 19 : 16] = '\0';
	copy_cut(buf, len, full);
}

const char *
jtext(const json_t *obj, const char *key, char *buf, size_t len)
{
	const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v))
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(buf, len, "%s", json_is_true(v) ? "true" : "false");
	else
		snprintf(buf, len, "%s", "");
	return buf;
}

/* The array under key, or the answer itself when it is an array. */
static const json_t *
json_list(const json_t *answer, const char *key)
{
	const json_t *v = json_is_array(answer) ? answer : json_object_get(answer, key);

	return json_is_array(v) ? v : NULL;
}

static void
print_json_text(const char *raw, size_t len)
{
	fwrite(raw, 1, len, stdout);
	if (len == 0 || raw[len - 1] != '\n')
		fputc('\n', stdout);
}

static int
finish_output(int status)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "esupctl: writing the output: %s\n", strerror(errno));
		return 1;
	}
	return status;
}

static bool
table_done(struct table *t, bool ok, size_t width)
{
	if (t != NULL && ok)
		table_print(t, stdout, width);
	else
		fprintf(stderr, "esupctl: out of memory\n");
	table_destroy(t);
	return t != NULL && ok;
}

/* ------------------------------------------------------------ requests */

static const char *
status_text(int status)
{
	switch (status) {
	case 400: return "bad request";
	case 401: return "no client certificate";
	case 403: return "forbidden";
	case 404: return "not found";
	case 409: return "conflict";
	case 413: return "too large";
	case 429: return "too many requests";
	case 503: return "unavailable";
	default: return "refused";
	}
}

/* The server's words for a refusal: {"error":"..."} or {"error":{"field","expected","got"}}. */
static void
refusal_message(const struct reply *r, char *buf, size_t len)
{
	const json_t *e = json_object_get(r->json, "error");
	char b1[64], b2[64];

	if (json_is_string(e)) {
		snprintf(buf, len, "%s", json_string_value(e));
	} else if (json_is_object(e)) {
		const char *field = jtext(e, "field", b1, sizeof(b1));
		snprintf(buf, len, "%s%sexpected %s, got %s", field, field[0] != '\0' ? ": " : "",
			jtext(e, "expected", b2, sizeof(b2)), json_string_value(
			json_object_get(e, "got")) != NULL ? json_string_value(
			json_object_get(e, "got")) : "?");
	} else {
		snprintf(buf, len, "%.*s", (int)(r->len < 200 ? r->len : 200),
			r->raw != NULL ? r->raw : "");
		buf[strcspn(buf, "\r\n")] = '\0';
	}
}

static void
report_refusal(const struct ctl *c, const char *method, const char *target,
	const struct reply *r)
{
	char msg[512], b[64];
	char *safe;
	const char *state = jtext(r->json, "status", b, sizeof(b));

	if (c->json && r->raw != NULL)
		print_json_text(r->raw, r->len);
	refusal_message(r, msg, sizeof(msg));
	safe = text_safe(msg);
	fprintf(stderr, "esupctl: %s %s: %d %s: %s", method, target, r->status,
		status_text(r->status), safe != NULL ? safe : "");
	if (r->status == 409 && state[0] != '\0')
		fprintf(stderr, " (current status: %s)", state);
	fputc('\n', stderr);
	free(safe);
}

int
ctl_call(struct ctl *c, const char *method, const char *target, json_t *body,
	struct reply *r)
{
	static const char *const headers[] = { "Accept: application/json", NULL };
	char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	struct https_request req = { .method = method, .target = target, .headers = headers,
		.content_type = "application/json", .body = text,
		.body_len = text != NULL ? strlen(text) : 0 };
	struct https_response resp;
	char err[HTTPS_ERR_MAX];
	json_error_t jerr;

	memset(r, 0, sizeof(*r));
	if (body != NULL && text == NULL) {
		fprintf(stderr, "esupctl: out of memory\n");
		return 1;
	}
	if (!https_request(c->client, &req, &resp, err, sizeof(err))) {
		fprintf(stderr, "esupctl: %s %s: %s\n", method, target, err);
		https_response_finish(&resp);
		free(text);
		return 1;
	}
	free(text);
	r->status = resp.status;
	r->raw = resp.body;
	r->len = resp.body_len;
	r->json = json_loadb(r->raw, r->len, 0, &jerr);
	if (r->status < 200 || r->status > 299) {
		report_refusal(c, method, target, r);
		return 1;
	}
	if (r->json != NULL)
		return 0;
	fprintf(stderr, "esupctl: %s %s: the answer is not JSON: %s\n", method, target, jerr.text);
	return 1;
}

void
reply_finish(struct reply *r)
{
	json_decref(r->json);
	free(r->raw);
	memset(r, 0, sizeof(*r));
}

/* ------------------------------------------------------------ alerts */

static const char *const alert_headings[] = {
	"ID", "STATUS", "SEVERITY", "ESC", "RULE", "DEPT", "CASE", "SINCE", "MESSAGE",
};

static bool
alert_row(struct table *t, const json_t *a)
{
	char id[24], esc[24], since[24], b[8][64];
	const char *cs = jtext(a, "case", b[0], sizeof(b[0]));
	const char *item = jtext(a, "item", b[1], sizeof(b[1]));
	char where[160];
	const char *level = jtext(a, "escalation_level", b[2], sizeof(b[2]));

	snprintf(id, sizeof(id), "%s", jtext(a, "id", b[3], sizeof(b[3])));
	snprintf(esc, sizeof(esc), "%s", strcmp(level, "0") == 0 ? "" : level);
	snprintf(where, sizeof(where), "%s", cs[0] != '\0' ? cs : item[0] != '\0' ? item : "-");
	show_time(json_string_value(json_object_get(a, "since")), false, since, sizeof(since));
	return table_add(t, (const char *const[]){ id, jtext(a, "status", b[4], sizeof(b[4])),
		jtext(a, "severity", b[5], sizeof(b[5])), esc, jtext(a, "rule", b[6], sizeof(b[6])),
		jtext(a, "dept", b[7], sizeof(b[7])), where, since,
		json_string_value(json_object_get(a, "message")) });
}

static bool
print_alerts(const struct ctl *c, const json_t *alerts)
{
	struct table *t = table_create(9, alert_headings);
	bool ok = t != NULL;
	size_t i;
	const json_t *a;

	json_array_foreach(alerts, i, a) {
		if (ok)
			ok = alert_row(t, a);
	}
	return table_done(t, ok, c->width);
}

/* "/v1/alerts?dept=...&..." from the filters given. */
static bool
list_target(const struct args *a, const char *cursor, char *target, size_t len)
{
	char value[1024], when[40];
	size_t n = (size_t)snprintf(target, len, "/v1/alerts");
	char sep = '?';
	int64_t epoch;

	for (int o = O_DEPT; o <= O_CURSOR; o++) {
		const char *v = o == O_CURSOR && cursor != NULL ? cursor : a->val[o];
		if (v == NULL)
			continue;
		if (o == O_SINCE || o == O_UNTIL) {
			if (!parse_user_time(v, &epoch, when, sizeof(when)))
				return usage_false(o == O_SINCE ? "--since: expected a TIME, got '%s'" :
					"--until: expected a TIME, got '%s'", v);
			v = when;
		}
		if (o == O_LIMIT && !all_digits(v, 6))
			return usage_false("--limit: expected a whole number, got '%s'", v);
		if (!https_query_escape(v, value, sizeof(value)) ||
		    n + strlen(filter_names[o - O_DEPT]) + strlen(value) + 3 >= len)
			return usage_false("%s: too long", filter_names[o - O_DEPT]);
		n += (size_t)snprintf(target + n, len - n, "%c%s=%s", sep, filter_names[o - O_DEPT],
			value);
		sep = '&';
	}
	return true;
}

/* --all: every page, following next_cursor; with --json one object with all the alerts. */
static int
list_all(struct ctl *c, const struct args *a, json_t *all)
{
	char target[TARGET_MAX], cursor[1024] = "";
	struct reply r;

	for (int page = 0; page < PAGES_MAX; page++) {
		const json_t *next;
		if (!list_target(a, cursor[0] != '\0' ? cursor : NULL, target, sizeof(target)))
			return 2;
		if (ctl_call(c, "GET", target, NULL, &r) != 0) {
			reply_finish(&r);
			return 1;
		}
		json_array_extend(all, (json_t *)json_list(r.json, "alerts"));
		next = json_object_get(r.json, "next_cursor");
		if (!json_is_string(next) || strcmp(json_string_value(next), cursor) == 0 ||
		    strlen(json_string_value(next)) >= sizeof(cursor)) {
			reply_finish(&r);
			return 0;
		}
		snprintf(cursor, sizeof(cursor), "%s", json_string_value(next));
		reply_finish(&r);
	}
	return 0;
}

static int
cmd_list(struct ctl *c, const struct args *a)
{
	char target[TARGET_MAX];
	struct reply r;
	json_t *all;
	const json_t *next;
	int status;

	if (a->seen & BIT(O_ALL)) {
		if ((all = json_array()) == NULL || (status = list_all(c, a, all)) != 0) {
			json_decref(all);
			return all == NULL ? 1 : status;
		}
		if (c->json) {
			json_t *obj = json_pack("{s:O, s:n}", "alerts", all, "next_cursor");
			status = obj != NULL && json_dumpf(obj, stdout, JSON_COMPACT) == 0 &&
				putchar('\n') != EOF ? 0 : 1;
			json_decref(obj);
		} else
			status = print_alerts(c, all) ? 0 : 1;
		json_decref(all);
		return finish_output(status);
	}
	if (!list_target(a, NULL, target, sizeof(target)))
		return 2;
	if ((status = ctl_call(c, "GET", target, NULL, &r)) == 0) {
		if (c->json)
			print_json_text(r.raw, r.len);
		else if (!print_alerts(c, json_list(r.json, "alerts")))
			status = 1;
		next = json_object_get(r.json, "next_cursor");
		if (!c->json && json_is_string(next))
			fprintf(stderr, "esupctl: more alerts: --cursor %s (or --all)\n",
				json_string_value(next));
	}
	reply_finish(&r);
	return finish_output(status);
}

/* One "NAME  value" line of show, skipped when the value is empty. */
static bool
field_row(struct table *t, const char *name, const char *value)
{
	if (value == NULL || value[0] == '\0')
		return true;
	return table_add(t, (const char *const[]){ name, value });
}

static bool
show_fields(const struct ctl *c, const json_t *a)
{
	char b[12][64], line[3][256], tm[4][24];
	struct table *t = table_create(2, NULL);
	const json_t *ev = json_object_get(a, "evidence");
	char evidence[1024] = "";
	size_t i, n = 0;
	const json_t *e;
	bool ok = t != NULL;

	json_array_foreach(ev, i, e) {
		if (json_is_string(e) && n < sizeof(evidence))
			n += (size_t)snprintf(evidence + n, sizeof(evidence) - n, "%s%s",
				n > 0 ? " " : "", json_string_value(e));
	}
	snprintf(line[0], sizeof(line[0]), "%s (%s)", jtext(a, "rule", b[0], 64),
		jtext(a, "severity", b[1], 64));
	snprintf(line[1], sizeof(line[1]), "%s%s%s", jtext(a, "dept", b[2], 64),
		json_is_string(json_object_get(a, "region")) ? ", region " : "",
		jtext(a, "region", b[3], 64));
	snprintf(line[2], sizeof(line[2]), "level %s%s%s", jtext(a, "escalation_level", b[4], 64),
		json_is_string(json_object_get(a, "escalated_to")) ? ", now with " : "",
		jtext(a, "escalated_to", b[5], 64));
	show_time(json_string_value(json_object_get(a, "since")), true, tm[0], 24);
	show_time(json_string_value(json_object_get(a, "raised_at")), true, tm[1], 24);
	show_time(json_string_value(json_object_get(a, "status_at")), true, tm[2], 24);
	show_time(json_string_value(json_object_get(a, "issued_at")), true, tm[3], 24);
	ok = ok && field_row(t, "alert", jtext(a, "id", b[6], 64)) &&
		field_row(t, "status", jtext(a, "status", b[7], 64)) &&
		field_row(t, "status at", tm[2]) && field_row(t, "rule", line[0]) &&
		field_row(t, "dept", line[1]) && field_row(t, "case", jtext(a, "case", b[8], 64)) &&
		field_row(t, "item", jtext(a, "item", b[9], 64)) &&
		field_row(t, "message", jtext(a, "message", b[10], 64)) &&
		field_row(t, "since", tm[0]) && field_row(t, "raised", tm[1]) &&
		field_row(t, "issued", tm[3]) &&
		field_row(t, "escalated", strcmp(b[4], "0") == 0 || b[4][0] == '\0' ? "" : line[2]) &&
		field_row(t, "evidence", evidence);
	return table_done(t, ok, c->width);
}

static bool
show_actions(const struct ctl *c, const json_t *actions)
{
	static const char *const h[] = { "AT", "ACTION", "FROM", "TO", "ACTOR", "ROLE", "NOTE" };
	struct table *t = table_create(7, h);
	bool ok = t != NULL;
	char b[6][64], at[24];
	size_t i;
	const json_t *x;

	json_array_foreach(actions, i, x) {
		show_time(json_string_value(json_object_get(x, "at")), true, at, sizeof(at));
		ok = ok && table_add(t, (const char *const[]){ at, jtext(x, "action", b[0], 64),
			jtext(x, "from", b[1], 64), jtext(x, "to", b[2], 64),
			jtext(x, "actor", b[3], 64), jtext(x, "role", b[4], 64),
			jtext(x, "note", b[5], 64) });
	}
	return table_done(t, ok, c->width);
}

static bool
show_events(const struct ctl *c, const json_t *events)
{
	static const char *const h[] = { "AT", "TYPE", "CASE", "ID" };
	struct table *t = table_create(4, h);
	bool ok = t != NULL;
	char b[3][64], at[24];
	size_t i;
	const json_t *x;

	json_array_foreach(events, i, x) {
		const json_t *ev = json_is_object(json_object_get(x, "event")) ?
			json_object_get(x, "event") : x;
		show_time(json_string_value(json_object_get(ev, "at")), true, at, sizeof(at));
		ok = ok && table_add(t, (const char *const[]){ at, jtext(ev, "type", b[0], 64),
			jtext(ev, "case", b[1], 64), jtext(ev, "id", b[2], 64) });
	}
	return table_done(t, ok, c->width);
}

static bool
check_id(const char *what, const char *id)
{
	if (all_digits(id, 19))
		return true;
	usage_error(what, id);
	return false;
}

static int
cmd_show(struct ctl *c, const char *id)
{
	char target[TARGET_MAX];
	struct reply r;
	int status;

	if (!check_id("expected an alert id (a number), got '%s'", id))
		return 2;
	snprintf(target, sizeof(target), "/v1/alerts/%s", id);
	if ((status = ctl_call(c, "GET", target, NULL, &r)) == 0) {
		if (c->json) {
			print_json_text(r.raw, r.len);
		} else if (!show_fields(c, r.json) || fputs("\nactions:\n", stdout) == EOF ||
		    !show_actions(c, json_object_get(r.json, "actions")) ||
		    fputs("\nevents:\n", stdout) == EOF ||
		    !show_events(c, json_object_get(r.json, "events"))) {
			status = 1;
		}
	}
	reply_finish(&r);
	return finish_output(status);
}

static int
cmd_act(struct ctl *c, const char *action, const char *id, const char *note)
{
	char target[TARGET_MAX];
	struct reply r;
	json_t *body, *one = NULL;
	int status;

	if (!check_id("expected an alert id (a number), got '%s'", id))
		return 2;
	snprintf(target, sizeof(target), "/v1/alerts/%s/%s", id, action);
	body = note != NULL ? json_pack("{s:s}", "note", note) : json_object();
	if (body == NULL)
		return usage_error("the note is not valid UTF-8: %s", note);
	if ((status = ctl_call(c, "POST", target, body, &r)) == 0) {
		json_t *alert = json_is_object(json_object_get(r.json, "alert")) ?
			json_object_get(r.json, "alert") : r.json;
		if (c->json)
			print_json_text(r.raw, r.len);
		else if ((one = json_pack("[O]", alert)) == NULL || !print_alerts(c, one))
			status = 1;
		json_decref(one);
	}
	json_decref(body);
	reply_finish(&r);
	return finish_output(status);
}

/* ------------------------------------------------------------ silences and rule modes */

static bool
silence_row(struct table *t, const json_t *s, int64_t now)
{
	char b[8][64], from[24], until[24], state[16];
	const char *start = json_string_value(json_object_get(s, "starts_at"));
	const char *end = json_string_value(json_object_get(s, "ends_at"));
	int64_t ts = 0, te = 0;
	int off;

	if (json_is_string(json_object_get(s, "expired_at")))
		snprintf(state, sizeof(state), "expired");
	else if (end != NULL && mon_time_parse(end, &te, &off) && te <= now)
		snprintf(state, sizeof(state), "ended");
	else if (start != NULL && mon_time_parse(start, &ts, &off) && ts > now)
		snprintf(state, sizeof(state), "pending");
	else
		snprintf(state, sizeof(state), "active");
	show_time(start, false, from, sizeof(from));
	show_time(end, false, until, sizeof(until));
	return table_add(t, (const char *const[]){ jtext(s, "id", b[0], 64), state,
		jtext(s, "rule", b[1], 64), jtext(s, "dept", b[2], 64), jtext(s, "item", b[3], 64),
		jtext(s, "region", b[4], 64), from, until, jtext(s, "author", b[5], 64),
		jtext(s, "reason", b[6], 64) });
}

/* Prints an answer that is either a list under `plural` or one object (under `single`, or the
 * answer itself) with print, or the server's JSON as it came with --json. 0, or 1 when printing
 * failed. */
static int
print_list_answer(const struct ctl *c, const struct reply *r, const char *plural,
		const char *single, bool (*print)(const struct ctl *, const json_t *))
{
	const json_t *list, *object;
	json_t *one;
	bool ok;

	if (c->json) {
		print_json_text(r->raw, r->len);
		return 0;
	}
	if ((list = json_list(r->json, plural)) != NULL)
		return print(c, list) ? 0 : 1;
	object = json_object_get(r->json, single);
	one = json_pack("[O]", json_is_object(object) ? object : r->json);
	ok = print(c, one);
	json_decref(one);
	return ok ? 0 : 1;
}

static bool
print_silences(const struct ctl *c, const json_t *list)
{
	static const char *const h[] = { "ID", "STATE", "RULE", "DEPT", "ITEM", "REGION", "FROM",
		"UNTIL", "AUTHOR", "REASON" };
	struct table *t = table_create(10, h);
	bool ok = t != NULL;
	int64_t now = (int64_t)time(NULL);
	size_t i;
	const json_t *s;

	json_array_foreach(list, i, s) {
		if (ok)
			ok = silence_row(t, s, now);
	}
	return table_done(t, ok, c->width);
}

/* The body of POST /v1/silences from the options; NULL (usage error printed) when wrong.
 * --for goes as for_s, a number of seconds the server counts from the silence's start: without
 * --from that start is the server's now, by its business clock, which this machine's clock
 * need not agree with (a skewed client, or esupd's [testing] clock offset). */
static json_t *
silence_body(const struct args *a)
{
	char from[40], until[40];
	int64_t start, end, len = 0;
	static const int keys[] = { O_RULE, O_DEPT, O_ITEM, O_REGION };
	json_t *body;

	if (a->val[O_FROM] != NULL && !parse_user_time(a->val[O_FROM], &start, from, sizeof(from)))
		return usage_null("--from: expected a TIME, got '%s'", a->val[O_FROM]);
	if ((a->val[O_UNTIL] != NULL) == (a->val[O_FOR] != NULL))
		return usage_null("%s", "silence add: give --until TIME or --for DURATION");
	if (a->val[O_UNTIL] != NULL && !parse_user_time(a->val[O_UNTIL], &end, until,
	    sizeof(until)))
		return usage_null("--until: expected a TIME, got '%s'", a->val[O_UNTIL]);
	if (a->val[O_FOR] != NULL && !parse_duration(a->val[O_FOR], &len))
		return usage_null("--for: expected a DURATION such as 2h or 1d12h, got '%s'",
			a->val[O_FOR]);
	if (a->val[O_NOTE] == NULL || a->val[O_NOTE][0] == '\0')
		return usage_null("%s", "silence add: -m REASON is required");
	/* without --from the server starts it now, by its own clock */
	body = json_pack("{s:s}", "reason", a->val[O_NOTE]);
	if (body != NULL && (a->val[O_UNTIL] != NULL ?
	    json_object_set_new(body, "ends_at", json_string(until)) :
	    json_object_set_new(body, "for_s", json_integer((json_int_t)len))) != 0) {
		json_decref(body);
		body = NULL;
	}
	if (body != NULL && a->val[O_FROM] != NULL &&
	    json_object_set_new(body, "starts_at", json_string(from)) != 0) {
		json_decref(body);
		body = NULL;
	}
	for (size_t i = 0; body != NULL && i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = a->val[keys[i]];
		if (v != NULL && json_object_set_new(body, filter_names[keys[i] - O_DEPT],
		    json_string(v)) != 0) {
			json_decref(body);
			return usage_null("not valid UTF-8: %s", v);
		}
	}
	if (body == NULL)
		usage_error("%s", "the reason is not valid UTF-8");
	return body;
}

static int
cmd_silence(struct ctl *c, const struct args *a, const char *sub, const char *id)
{
	char target[TARGET_MAX];
	json_t *body = NULL;
	struct reply r;
	int status;

	if (strcmp(sub, "add") == 0) {
		if ((body = silence_body(a)) == NULL)
			return 2;
		snprintf(target, sizeof(target), "/v1/silences");
	} else if (strcmp(sub, "expire") == 0) {
		if (!check_id("expected a silence id (a number), got '%s'", id))
			return 2;
		snprintf(target, sizeof(target), "/v1/silences/%s/expire", id);
	} else {
		snprintf(target, sizeof(target), "/v1/silences");
	}
	status = ctl_call(c, strcmp(sub, "list") == 0 ? "GET" : "POST", target, body, &r);
	if (status == 0)
		status = print_list_answer(c, &r, "silences", "silence", print_silences);
	json_decref(body);
	reply_finish(&r);
	return finish_output(status);
}

static bool
print_rules(const struct ctl *c, const json_t *list)
{
	static const char *const h[] = { "CODE", "SEVERITY", "MODE" };
	struct table *t = table_create(3, h);
	bool ok = t != NULL;
	char b[3][64];
	size_t i;
	const json_t *x;

	json_array_foreach(list, i, x) {
		ok = ok && table_add(t, (const char *const[]){ jtext(x, "code", b[0], 64),
			jtext(x, "severity", b[1], 64), jtext(x, "mode", b[2], 64) });
	}
	return table_done(t, ok, c->width);
}

static int
cmd_rules(struct ctl *c, const struct args *a)
{
	char target[TARGET_MAX], code[512];
	json_t *body = NULL;
	struct reply r;
	int status;

	if (a->npos == 1) {
		snprintf(target, sizeof(target), "/v1/rules");
	} else {
		const char *mode = a->pos[3];
		if (strcmp(mode, "issue") != 0 && strcmp(mode, "hold") != 0 && strcmp(mode, "off") != 0)
			return usage_error("rules mode: expected issue, hold or off, got '%s'", mode);
		if (a->val[O_NOTE] == NULL || a->val[O_NOTE][0] == '\0')
			return usage_error("%s", "rules mode: -m REASON is required");
		if (!https_query_escape(a->pos[2], code, sizeof(code)))
			return usage_error("rules mode: rule code too long: %s", a->pos[2]);
		snprintf(target, sizeof(target), "/v1/rules/%s/mode", code);
		if ((body = json_pack("{s:s, s:s}", "mode", mode, "reason", a->val[O_NOTE])) == NULL)
			return usage_error("the reason is not valid UTF-8: %s", a->val[O_NOTE]);
	}
	status = ctl_call(c, body != NULL ? "POST" : "GET", target, body, &r);
	if (status == 0)
		status = print_list_answer(c, &r, "rules", "rule", print_rules);
	json_decref(body);
	reply_finish(&r);
	return finish_output(status);
}

/* ------------------------------------------------------------ connection and dispatch */

/* The [server] listen of the daemon's configuration as a URL: a wildcard address becomes
 * localhost. */
static bool
url_from_config(const char *path, char *url, size_t len)
{
	char line[1024], section[64] = "";
	FILE *f = fopen(path, "r");
	bool found = false;

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		char *s = line + strspn(line, " \t"), *colon, *end;
		s[strcspn(s, "\r\n")] = '\0';
		if (s[0] == '[') {
			snprintf(section, sizeof(section), "%.*s", (int)strcspn(s + 1, "]"), s + 1);
			continue;
		}
		if (strcmp(section, "server") != 0 || strncmp(s, "listen", 6) != 0 ||
		    (s = strchr(s, '=')) == NULL)
			continue;
		s += 1 + strspn(s + 1, " \t");
		for (end = s + strlen(s); end > s && (end[-1] == ' ' || end[-1] == '\t'); )
			*--end = '\0';
		if ((colon = strrchr(s, ':')) == NULL || !all_digits(colon + 1, 5))
			continue;
		*colon = '\0';
		found = true;
		snprintf(url, len, "https://%s:%s", s[0] == '\0' || strcmp(s, "0.0.0.0") == 0 ||
			strcmp(s, "[::]") == 0 || strcmp(s, "*") == 0 ? "localhost" : s, colon + 1);
	}
	fclose(f);
	return found;
}

static const char *
setting(const struct args *a, int o, const char *env)
{
	const char *v = a->val[o] != NULL ? a->val[o] : getenv(env);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* 0 when connected settings are loaded, 2 on a usage error, 1 when the files are wrong. */
static int
ctl_open(struct ctl *c, const struct args *a, int default_timeout_ms,
	volatile sig_atomic_t *interrupted)
{
	char url[512], err[HTTPS_ERR_MAX];
	const char *config = setting(a, O_CONFIG, "ESUP_CONFIG");
	struct https_options o = { .cert = setting(a, O_CERT, "ESUP_CERT"),
		.key = setting(a, O_KEY, "ESUP_KEY"), .ca = setting(a, O_CA, "ESUP_CA"),
		.interrupted = interrupted };
	struct winsize ws;

	o.url = setting(a, O_URL, "ESUP_URL");
	if (o.url == NULL)
		o.url = url_from_config(config != NULL ? config : DEFAULT_CONFIG, url, sizeof(url)) ?
			url : DEFAULT_URL;
	if (o.cert == NULL || o.key == NULL)
		return usage_error("%s", "no client certificate: give --cert FILE and --key FILE "
			"(or set ESUP_CERT and ESUP_KEY)");
	c->timeout_ms = default_timeout_ms;
	if (a->val[O_TIMEOUT] != NULL) {
		if (!all_digits(a->val[O_TIMEOUT], 5) || strtol(a->val[O_TIMEOUT], NULL, 10) == 0)
			return usage_error("--timeout: expected whole seconds, got '%s'",
				a->val[O_TIMEOUT]);
		c->timeout_ms = (int)strtol(a->val[O_TIMEOUT], NULL, 10) * 1000;
	}
	o.timeout_ms = c->timeout_ms;
	c->json = (a->seen & BIT(O_JSON)) != 0;
	c->width = isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 &&
		ws.ws_col > 20 ? ws.ws_col : 0;
	if ((c->client = https_client_create(&o, err, sizeof(err))) != NULL)
		return 0;
	fprintf(stderr, "esupctl: %s\n", err);
	return strncmp(err, "--url", 5) == 0 ? 2 : 1;
}

static volatile sig_atomic_t stop_flag;

static void
on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* SIGINT and SIGTERM end the stream: the flag is checked after every wait, and the handler
 * does not restart system calls, so a wait in poll(2) returns at once. */
static void
catch_stop(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static bool
is_action(const char *word)
{
	for (size_t i = 0; action_names[i] != NULL; i++) {
		if (strcmp(action_names[i], word) == 0)
			return true;
	}
	return false;
}

/* Which options and how many words a command takes; 0 when the words are not a command. */
static unsigned
command_allows(const struct args *a, int *words)
{
	const char *cmd = a->npos > 0 ? a->pos[0] : "";
	const char *sub = a->npos > 1 ? a->pos[1] : "";

	*words = 1;
	if (strcmp(cmd, "list") == 0)
		return CONN | FILTERS | BIT(O_LIMIT) | BIT(O_CURSOR) | BIT(O_ALL);
	if (strcmp(cmd, "tail") == 0)
		return CONN | BIT(O_AFTER);
	if (strcmp(cmd, "rules") == 0 && a->npos == 1)
		return CONN;
	*words = 2;
	if (strcmp(cmd, "show") == 0)
		return CONN;
	if (is_action(cmd))
		return CONN | BIT(O_NOTE);
	if (strcmp(cmd, "silence") == 0 && (strcmp(sub, "list") == 0 || strcmp(sub, "add") == 0))
		return strcmp(sub, "add") == 0 ? CONN | BIT(O_RULE) | BIT(O_DEPT) | BIT(O_ITEM) |
			BIT(O_REGION) | BIT(O_FROM) | BIT(O_UNTIL) | BIT(O_FOR) | BIT(O_NOTE) : CONN;
	*words = 3;
	if (strcmp(cmd, "silence") == 0 && strcmp(sub, "expire") == 0)
		return CONN;
	*words = 4;
	if (strcmp(cmd, "rules") == 0 && strcmp(sub, "mode") == 0)
		return CONN | BIT(O_NOTE);
	return 0;
}

static int
run(struct ctl *c, const struct args *a)
{
	const char *cmd = a->pos[0];

	if (strcmp(cmd, "list") == 0)
		return cmd_list(c, a);
	if (strcmp(cmd, "show") == 0)
		return cmd_show(c, a->pos[1]);
	if (strcmp(cmd, "tail") == 0)
		return tail_run(c, a->val[O_AFTER], &stop_flag);
	if (strcmp(cmd, "silence") == 0)
		return cmd_silence(c, a, a->pos[1], a->npos > 2 ? a->pos[2] : NULL);
	if (strcmp(cmd, "rules") == 0)
		return cmd_rules(c, a);
	return cmd_act(c, cmd, a->pos[1], a->val[O_NOTE]);
}

int
alerts_main(int argc, char **argv)
{
	struct ctl c = { 0 };
	struct args a;
	unsigned allowed;
	int words, status;

	if (!parse_args(argc, argv, &a)) {
		alerts_usage(stderr);
		return 2;
	}
	if (a.seen & BIT(O_HELP)) {
		alerts_usage(stdout);
		return 0;
	}
	allowed = command_allows(&a, &words);
	if (allowed == 0 || words != a.npos) {
		alerts_usage(stderr);
		return 2;
	}
	for (int o = 0; o < O_COUNT; o++) {
		if ((a.seen & BIT(o)) && !(allowed & BIT(o))) {
			for (const struct option *l = longopts; l->name != NULL; l++) {
				if (l->val == 256 + o || (o == O_NOTE && l->val == 'm'))
					return usage_error("%s: no such option for this command", l->name);
			}
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(a.pos[0], "tail") == 0)
		catch_stop();
	status = ctl_open(&c, &a, strcmp(a.pos[0], "tail") == 0 ? 90000 : 30000, &stop_flag);
	if (status == 0)
		status = run(&c, &a);
	https_client_destroy(c.client);
	return status;
}
