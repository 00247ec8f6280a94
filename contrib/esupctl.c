/* esupctl.c: the operator's command-line tool. `esupctl eval` runs the rules engine over
 * NDJSON events read from stdin, without a database or a daemon: the way to try a rule on
 * a handful of events, and the driver of the golden rule tests in tests/rules. It prepares
 * cases as the daemon does, through libmonitor's mon_eval.h (context, repeated ids, the
 * evaluation's JSON). `esupctl rules` lists the rule codes the engine knows. `esupctl alerts` is the supervisors' client
 * of esupd's alert API (alerts.c). See contrib/esupctl.1, docs/rules.md and
 * docs/supervising.md. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "alerts.h"
#include "doctor.h"
#include "feedcheck.h"
#include "lines.h"
#include "push.h"
#include "report.h"
#include "verify.h"
#include "mon_eval.h"
#include "mon_event.h"
#include "mon_rules.h"
#include "mon_value.h"

#define EVENTS_MAX 1000000
#define REFDATA_MAX_BYTES (64 * 1024 * 1024)
#define SETTINGS_MAX 64

struct record {
	struct mon_event ev;
	int64_t received_at;
	size_t line;
	bool duplicate;              /* or refused like the daemon's INSERT: not evaluated */
};

struct input {
	struct record *recs;
	size_t count;
	size_t cap;
	bool invalid;                /* some line was refused: exit 1 at the end */
};

struct eval_options {
	const char *refdata;
	int64_t now;
	size_t param_count;
	const char *params[SETTINGS_MAX];     /* NAME=VALUE */
	size_t disable_count;
	const char *disable[SETTINGS_MAX];
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: esupctl eval --refdata DIR [--now TIME] [--param NAME=VALUE]... "
		"[--disable RULE]...\n"
		"       esupctl rules\n"
		"       esupctl schema\n"
		"       esupctl check [-c /etc/esup/esupd.conf] [FILE...]   (esupctl check --help)\n"
		"       esupctl push --url URL --cert CRT --key KEY --cacert CA [FILE...]   "
		"(esupctl push --help)\n"
		"       esupctl alerts COMMAND ...   (esupctl alerts --help)\n"
		"       esupctl verify [--dept DEPT] [--conninfo STR]   (esupctl verify --help)\n"
		"       esupctl report --month YYYY-MM [--region CODE] [--out DIR] [--conninfo STR]\n"
		"       esupctl doctor [-c /etc/esup/esupd.conf]   (esupctl doctor --help)\n"
		"\n"
		"eval reads NDJSON events on stdin, evaluates each (dept, case), and each event\n"
		"without a case on its own, as of TIME (RFC 3339, default: now) against\n"
		"DIR/calendar.csv, DIR/items.csv and those of DIR/fee_items.csv,\n"
		"penalty_tiers.csv, filing_offices.csv, officers.csv, enterprises.csv,\n"
		"regions.csv and hearing_thresholds.csv that exist, and prints one NDJSON line per active condition, then\n"
		"one per case.\n");
}

static void report_error(size_t line, const struct mon_error *err)
{
	fprintf(stderr, "esupctl: line %zu: %s%sexpected %s, got %s\n", line, err->field,
		err->field[0] != '\0' ? ": " : "", err->expected, err->got);
}

/* The event's unknown fields, one line each on stderr; received_at is eval's own field. */
static void report_warnings(size_t line, const struct mon_event *ev)
{
	for (size_t i = 0; i < ev->warning_count; i++) {
		const struct mon_error *w = &ev->warnings[i];

		if (strcmp(w->field, "received_at") == 0)
			continue;
		fprintf(stderr, "esupctl: line %zu: field %s: %s%s%s%s\n", line, w->field,
			w->expected, w->got[0] != '\0' ? "; did you mean " : "", w->got,
			w->got[0] != '\0' ? "?" : "");
	}
}

/* The whole of a reference file, NUL-terminated; NULL (with a message) on failure. */
static char *read_file(const char *dir, const char *name, size_t *len)
{
	char path[4096];
	char *buf = NULL;
	FILE *f;
	long size;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	errno = 0;
	f = fopen(path, "rb");
	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
			size > REFDATA_MAX_BYTES || fseek(f, 0, SEEK_SET) != 0 ||
			(buf = malloc((size_t)size + 1)) == NULL ||
			fread(buf, 1, (size_t)size, f) != (size_t)size) {
		fprintf(stderr, "esupctl: %s: %s\n", path, errno != 0 ? strerror(errno) :
			"unreadable or larger than 64 MiB");
		free(buf);
		if (f != NULL)
			fclose(f);
		return NULL;
	}
	fclose(f);
	buf[size] = '\0';
	*len = (size_t)size;
	return buf;
}

static bool load_table(struct mon_ruleset *rs, const char *dir, const char *table)
{
	char name[64];
	struct mon_error err;
	size_t len;
	char *csv;
	bool ok;

	snprintf(name, sizeof(name), "%s.csv", table);
	if ((csv = read_file(dir, name, &len)) == NULL)
		return false;
	ok = mon_ruleset_load(rs, table, csv, len, &err);
	free(csv);
	if (!ok)
		fprintf(stderr, "esupctl: %s/%s: %s: expected %s, got %s\n", dir, name, err.field,
			err.expected, err.got);
	return ok;
}

/* calendar.csv and items.csv are required; every other table is loaded when its file is
 * there, and its rules wait for it otherwise (as they do in the daemon on an empty table). */
static bool load_refdata(struct mon_ruleset *rs, const char *dir)
{
	char path[4096];

	for (size_t i = 0; i < mon_refdata_count(); i++) {
		const char *table = mon_refdata_name(i);
		bool required;
		if (table == NULL)
			continue;
		required = strcmp(table, "calendar") == 0 || strcmp(table, "items") == 0;
		snprintf(path, sizeof(path), "%s/%s.csv", dir, table);
		if (!required && access(path, F_OK) != 0)
			continue;
		if (!load_table(rs, dir, table))
			return false;
	}
	return true;
}

static bool apply_settings(struct mon_ruleset *rs, const struct eval_options *o)
{
	struct mon_error err;
	char name[64], *end;
	long long value;

	for (size_t i = 0; i < o->param_count; i++) {
		const char *eq = strchr(o->params[i], '=');
		size_t n = eq != NULL ? (size_t)(eq - o->params[i]) : 0;
		if (n == 0 || n >= sizeof(name) || eq[1] == '\0') {
			fprintf(stderr, "esupctl: --param %s: expected NAME=VALUE\n", o->params[i]);
			return false;
		}
		memcpy(name, o->params[i], n);
		name[n] = '\0';
		errno = 0;
		value = strtoll(eq + 1, &end, 10);
		if (errno != 0 || *end != '\0' || !mon_ruleset_set_param(rs, name, value, &err)) {
			fprintf(stderr, "esupctl: --param %s: expected %s\n", o->params[i],
				errno != 0 || *end != '\0' ? "a whole number" : err.expected);
			return false;
		}
	}
	for (size_t i = 0; i < o->disable_count; i++) {
		if (!mon_ruleset_disable_rule(rs, o->disable[i], &err)) {
			fprintf(stderr, "esupctl: --disable %s: expected %s\n", o->disable[i],
				err.expected);
			return false;
		}
	}
	return true;
}

/* The optional `received_at` of a test event: when it reached the daemon. */
static bool take_received_at(const json_t *obj, struct record *rec)
{
	const json_t *v = json_object_get(obj, "received_at");
	int offset;

	rec->received_at = rec->ev.at;
	if (v == NULL)
		return true;
	if (json_is_string(v) && mon_time_parse(json_string_value(v), &rec->received_at, &offset))
		return true;
	fprintf(stderr, "esupctl: line %zu: received_at: expected an RFC 3339 date-time with "
		"offset\n", rec->line);
	return false;
}

static bool input_push(struct input *in, const char *line, size_t len, size_t lineno)
{
	struct record *rec;
	struct mon_error err;
	json_error_t jerr;
	json_t *obj;

	if (in->count == EVENTS_MAX) {
		fprintf(stderr, "esupctl: line %zu: more than %d events\n", lineno, EVENTS_MAX);
		return false;
	}
	if (in->count == in->cap) {
		size_t ncap = in->cap == 0 ? 256 : in->cap * 2;
		struct record *n = realloc(in->recs, ncap * sizeof(*n));
		if (n == NULL) {
			fprintf(stderr, "esupctl: out of memory\n");
			return false;
		}
		in->recs = n;
		in->cap = ncap;
	}
	rec = &in->recs[in->count];
	memset(rec, 0, sizeof(*rec));
	rec->line = lineno;
	obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (obj == NULL) {
		fprintf(stderr, "esupctl: line %zu: not JSON: %s\n", lineno, jerr.text);
		in->invalid = true;
		return true;
	}
	bool valid = mon_event_from_json(obj, &rec->ev, &err);

	if (!valid)
		report_error(lineno, &err);
	report_warnings(lineno, &rec->ev);
	if (!valid) {
		in->invalid = true;
	} else if (!take_received_at(obj, rec)) {
		mon_event_finish(&rec->ev);
		in->invalid = true;
	} else {
		in->count++;
	}
	json_decref(obj);
	return true;
}

/* lines_read's callback for eval: a line too long is refused, each other one pushed. */
static bool input_line(void *ctx, const char *text, size_t len, size_t lineno)
{
	struct input *in = ctx;

	if (text == NULL) {
		fprintf(stderr, "esupctl: line %zu: expected a line of at most %d bytes\n",
			lineno, LINES_MAX_BYTES);
		in->invalid = true;
		return true;
	}
	return input_push(in, text, len, lineno);
}

static bool same_case(const struct record *x, const struct record *y)
{
	return strcmp(x->ev.dept, y->ev.dept) == 0 && strcmp(x->ev.case_no, y->ev.case_no) == 0;
}

static int cmp_case(const void *a, const void *b)
{
	const struct record *x = a, *y = b;
	int c = strcmp(x->ev.dept, y->ev.dept);

	if (c == 0)
		c = strcmp(x->ev.case_no, y->ev.case_no);
	return c != 0 ? c : (x->line > y->line) - (x->line < y->line);
}

/* Like the daemon (mon_events_duplicates): one department's event id is stored, and
 * evaluated, once. */
static bool mark_duplicates(struct input *in)
{
	const struct mon_event **evs = malloc((in->count > 0 ? in->count : 1) * sizeof(*evs));
	size_t *previous = malloc((in->count > 0 ? in->count : 1) * sizeof(*previous));
	bool ok = evs != NULL && previous != NULL;

	for (size_t i = 0; ok && i < in->count; i++)
		evs[i] = &in->recs[i].ev;
	ok = ok && mon_events_duplicates(evs, in->count, previous);
	for (size_t i = 0; ok && i < in->count; i++) {
		if (previous[i] == SIZE_MAX)
			continue;
		in->recs[i].duplicate = true;
		fprintf(stderr, "esupctl: line %zu: duplicate of line %zu (same dept and id), "
			"ignored\n", in->recs[i].line, in->recs[previous[i]].line);
	}
	free(evs);
	free(previous);
	return ok;
}

/* Receipt order: received_at, then the input's order (one request's lines in turn). */
static int cmp_receipt(const void *a, const void *b)
{
	const struct record *x = *(const struct record *const *)a;
	const struct record *y = *(const struct record *const *)b;

	if (x->received_at != y->received_at)
		return x->received_at < y->received_at ? -1 : 1;
	return (x->line > y->line) - (x->line < y->line);
}

/* Like the daemon's INSERT (ingest_refuse): a correction must name an event of its department
 * and case received before it (received_at, then input order), and a replace may not name a
 * correction; one refused is not stored, so a correction of it is refused too. So esupctl and
 * esupd cannot disagree on what a correction corrects. */
static bool mark_refused_corrections(struct input *in)
{
	struct record **order = malloc((in->count > 0 ? in->count : 1) * sizeof(*order));

	if (order == NULL)
		return false;
	for (size_t i = 0; i < in->count; i++)
		order[i] = &in->recs[i];
	qsort(order, in->count, sizeof(*order), cmp_receipt);
	for (size_t i = 0; i < in->count; i++) {
		struct record *r = order[i];
		const char *of = mon_correction_of(&r->ev);
		const struct record *target = NULL;

		if (of == NULL || r->duplicate)
			continue;
		for (size_t j = 0; j < i && target == NULL; j++) {
			const struct record *t = order[j];

			if (!t->duplicate && strcmp(t->ev.dept, r->ev.dept) == 0 &&
					strcmp(t->ev.case_no, r->ev.case_no) == 0 && strcmp(t->ev.id, of) == 0)
				target = t;
		}
		if (target != NULL && (mon_correction_is_void(&r->ev) ||
				mon_correction_of(&target->ev) == NULL))
			continue;
		r->duplicate = true;
		in->invalid = true;
		fprintf(stderr, "esupctl: line %zu: %s: of: expected the id of an earlier event of "
			"department %s %s%s%s, got \"%s\", refused\n", r->line, r->ev.id, r->ev.dept,
			r->ev.case_no[0] != '\0' ? "in case " : "without a case", r->ev.case_no,
			target != NULL ? " that is not a correction (void it instead)" : "", of);
	}
	free(order);
	return true;
}

static void print_json(json_t *obj)
{
	char *s = obj != NULL ? json_dumps(obj, JSON_COMPACT) : NULL;

	if (s != NULL)
		printf("%s\n", s);
	else
		fprintf(stderr, "esupctl: a result could not be written as JSON\n");
	free(s);
	json_decref(obj);
}

/* An alert line: "kind" first, then the condition as libmonitor writes it. */
static json_t *condition_json(const struct mon_case_state *st, const struct mon_condition *c)
{
	json_t *line = json_pack("{s:s}", "kind", "alert");
	json_t *cond = mon_condition_json(st, c, MON_SHANGHAI_OFFSET_MIN);

	if (line == NULL || cond == NULL || json_object_update(line, cond) != 0) {
		json_decref(line);
		line = NULL;
	}
	json_decref(cond);
	return line;
}

static json_t *null_if_empty(json_t *s)
{
	return json_is_string(s) && json_string_value(s)[0] == '\0' ? json_null() : json_incref(s);
}

/* A case line, from libmonitor's evaluation JSON: the item null when there is none, the unit
 * null unless the item (so the limits) is known, the two deadline days under "deadline", and
 * "corrected" (the ids the department's corrections voided or replaced) only when there are
 * some. */
static json_t *case_json(const struct mon_evaluation *ev)
{
	json_t *s = mon_evaluation_json(ev, MON_SHANGHAI_OFFSET_MIN);
	json_t *corrected = json_object_get(s, "corrected");
	json_t *rest, *line = s != NULL ? json_pack("{s:s, s:O, s:O, s:o, s:O}", "kind", "case",
		"dept", json_object_get(s, "dept"), "case", json_object_get(s, "case"),
		"item", null_if_empty(json_object_get(s, "item")),
		"status", json_object_get(s, "status")) : NULL;

	/* limits are 0 when the item is unknown */
	if (line != NULL && json_object_set_new(line, "unit", ev->state.committed_days > 0 ?
			json_incref(json_object_get(s, "unit")) : json_null()) != 0) {
		json_decref(line);
		line = NULL;
	}
	rest = line != NULL ? json_pack("{s:O, s:O, s:{s:O, s:O}, s:O, s:O, s:O}",
		"counted_days", json_object_get(s, "counted_days"),
		"suspended_days", json_object_get(s, "suspended_days"),
		"deadline", "committed", json_object_get(s, "committed_day"),
		"statutory", json_object_get(s, "statutory_day"),
		"level", json_object_get(s, "level"), "next_check", json_object_get(s, "next_check"),
		"facts", json_object_get(s, "facts")) : NULL;
	if (line != NULL && (rest == NULL || json_object_update(line, rest) != 0 ||
			(json_array_size(corrected) > 0 &&
			 json_object_set(line, "corrected", corrected) != 0))) {
		json_decref(line);
		line = NULL;
	}
	json_decref(rest);
	json_decref(s);
	return line;
}

/* The events that cross-case rules read: each penalty.decided and inspection.started by
 * subject (party or enterprise), then time, so a case finds its subjects' other events. */
struct subject_ref {
	char subject[MON_SUBJECT_MAX + 1];
	const struct record *rec;
};

struct subjects {
	struct subject_ref *refs;
	size_t count;
};

static int cmp_subject(const void *a, const void *b)
{
	const struct subject_ref *x = a, *y = b;
	int c = strcmp(x->subject, y->subject);

	if (c != 0)
		return c;
	return (x->rec->ev.at > y->rec->ev.at) - (x->rec->ev.at < y->rec->ev.at);
}

static bool subjects_build(const struct input *in, struct subjects *s)
{
	s->count = 0;
	s->refs = calloc(in->count > 0 ? in->count : 1, sizeof(*s->refs));
	if (s->refs == NULL)
		return false;
	for (size_t i = 0; i < in->count; i++) {
		struct subject_ref *r = &s->refs[s->count];
		if (in->recs[i].duplicate ||
				!mon_event_subject(&in->recs[i].ev, r->subject, sizeof(r->subject)))
			continue;
		r->rec = &in->recs[i];
		s->count++;
	}
	if (s->count > 1)
		qsort(s->refs, s->count, sizeof(s->refs[0]), cmp_subject);
	return true;
}

/* A case's events, then its context: the other cases' events of the same subjects within
 * the ruleset's context days of the case's first and last event, as the daemon supplies. */
struct case_input {
	struct mon_case_event *ces;
	size_t count;
	size_t cap;
};

static bool case_push(struct case_input *ci, const struct record *rec, bool context)
{
	if (ci->count == ci->cap)
		return false;
	ci->ces[ci->count].event = &rec->ev;
	ci->ces[ci->count].received_at = rec->received_at;
	ci->ces[ci->count++].context = context;
	return true;
}

/* The first reference of `subject` (refs sorted by subject), or the end. */
static const struct subject_ref *subject_first(const struct subjects *s, const char *subject)
{
	size_t lo = 0, hi = s->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(s->refs[mid].subject, subject) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return s->refs + lo;
}

/* True when an event of the case before recs[i] has the same subject. */
static bool subject_seen(const struct record *recs, size_t i, const char *subject)
{
	char other[MON_SUBJECT_MAX + 1];

	for (size_t j = 0; j < i; j++) {
		if (!recs[j].duplicate && mon_event_subject(&recs[j].ev, other, sizeof(other)) &&
				strcmp(other, subject) == 0)
			return true;
	}
	return false;
}

/* The case's context, chosen by libmonitor (mon_context_select) as the daemon chooses it,
 * among the other events of its subjects (found through the subject index) and the input's
 * voids (so that an event its department voided is left out, as the daemon leaves it out). */
static bool add_context(const struct mon_ruleset *rs, const struct subjects *s,
		const struct input *in, const struct record *recs, size_t n, struct case_input *ci)
{
	size_t room = s->count + in->count + 1;
	struct mon_case_event *cands = calloc(room, sizeof(*cands));
	bool *keep = calloc(room, sizeof(*keep));
	size_t own = ci->count, nc = 0;
	char subject[MON_SUBJECT_MAX + 1];
	bool ok = cands != NULL && keep != NULL;

	for (size_t i = 0; ok && i < n; i++) {
		if (recs[i].duplicate || !mon_event_subject(&recs[i].ev, subject, sizeof(subject)) ||
				subject_seen(recs, i, subject))
			continue;
		for (const struct subject_ref *r = subject_first(s, subject);
				r < s->refs + s->count && strcmp(r->subject, subject) == 0; r++)
			cands[nc++] = (struct mon_case_event){ &r->rec->ev, r->rec->received_at, true };
	}
	for (size_t i = 0; ok && nc > 0 && i < in->count; i++) {
		if (!in->recs[i].duplicate && mon_correction_is_void(&in->recs[i].ev))
			cands[nc++] = (struct mon_case_event){ &in->recs[i].ev, in->recs[i].received_at,
				true };
	}
	ok = ok && mon_context_select(rs, ci->ces, own, cands, nc, keep);
	for (size_t i = 0; ok && i < nc; i++) {
		if (keep[i] && ci->count < ci->cap)
			ci->ces[ci->count++] = cands[i];
	}
	free(cands);
	free(keep);
	return ok;
}

/* The output, held until every case is evaluated: a condition that spans cases (a burst of
 * inspections) comes out of each of its cases under one key, and the daemon holds one alert
 * for it, so one line is printed: from the case whose event completed it (the event at its
 * `since`, as the daemon raises it when events come in business order), else the first. */
struct alert_line {
	json_t *json;
	bool shared;                 /* its key is not the case's own */
	bool claimed;                /* the case holds the event at its `since` */
	char key[MON_KEY_MAX];
};

struct output {
	json_t *cases;
	struct alert_line *alerts;
	size_t count;
	size_t cap;
};

/* A key of this case's own is RULE|dept|case or RULE|dept|case|qualifier. */
static bool own_key(const struct mon_case_state *st, const struct mon_condition *c)
{
	char prefix[MON_KEY_MAX];
	int n = snprintf(prefix, sizeof(prefix), "%s|%s|%s", c->rule, st->dept, st->case_no);

	return n > 0 && (size_t)n < sizeof(prefix) && strncmp(c->key, prefix, (size_t)n) == 0 &&
		(c->key[n] == '\0' || c->key[n] == '|');
}

static bool completes(const struct case_input *ci, const struct mon_condition *c)
{
	for (size_t i = 0; i < ci->count; i++) {
		const struct mon_event *ev = ci->ces[i].event;
		if (ci->ces[i].context || ev->at != c->since)
			continue;
		for (size_t j = 0; j < c->evidence_count; j++) {
			if (strcmp(c->evidence[j], ev->id) == 0)
				return true;
		}
	}
	return false;
}

static bool output_alert(struct output *out, const struct case_input *ci,
		const struct mon_case_state *st, const struct mon_condition *c)
{
	struct alert_line *a;

	if (out->count == out->cap) {
		size_t ncap = out->cap == 0 ? 64 : out->cap * 2;
		struct alert_line *n = realloc(out->alerts, ncap * sizeof(*n));
		if (n == NULL)
			return false;
		out->alerts = n;
		out->cap = ncap;
	}
	a = &out->alerts[out->count++];
	a->json = condition_json(st, c);
	a->shared = !own_key(st, c);
	a->claimed = a->shared && completes(ci, c);
	snprintf(a->key, sizeof(a->key), "%s", c->key);
	return true;
}

/* The line that speaks for a shared key: the first claimed one, else the first. */
static bool output_chosen(const struct output *out, size_t i)
{
	size_t first = out->count, claimed = out->count;

	for (size_t j = 0; j < out->count; j++) {
		if (!out->alerts[j].shared || strcmp(out->alerts[j].key, out->alerts[i].key) != 0)
			continue;
		if (first == out->count)
			first = j;
		if (claimed == out->count && out->alerts[j].claimed)
			claimed = j;
	}
	return i == (claimed < out->count ? claimed : first);
}

static void output_print(struct output *out)
{
	size_t i;
	json_t *c;

	for (i = 0; i < out->count; i++) {
		if (!out->alerts[i].shared || output_chosen(out, i))
			print_json(json_incref(out->alerts[i].json));
	}
	json_array_foreach(out->cases, i, c)
		print_json(json_incref(c));
}

static void output_finish(struct output *out)
{
	for (size_t i = 0; i < out->count; i++)
		json_decref(out->alerts[i].json);
	free(out->alerts);
	json_decref(out->cases);
}

static bool evaluate(const struct mon_ruleset *rs, struct case_input *ci, int64_t now,
		struct output *out)
{
	struct mon_evaluation ev;
	struct mon_error err;
	bool ok = true;

	if (!mon_case_evaluate(rs, ci->ces, ci->count, now, &ev, &err)) {
		fprintf(stderr, "esupctl: case %s/%s: expected %s, got %s\n", ci->ces[0].event->dept,
			ci->ces[0].event->case_no, err.expected, err.got);
		return false;
	}
	for (size_t i = 0; ok && i < ev.count; i++)
		ok = output_alert(out, ci, &ev.state, &ev.conditions[i]);
	/* An event without a case has no case to show. */
	if (ev.state.case_no[0] != '\0')
		json_array_append_new(out->cases, case_json(&ev));
	mon_evaluation_finish(&ev);
	if (!ok)
		fprintf(stderr, "esupctl: out of memory\n");
	return ok;
}

/* An event without a case is judged with the corrections of it, and theirs: the
 * group's corrections whose `of` names an event already in ci, until none is added. */
static bool push_corrections(struct case_input *ci, const struct record *recs, size_t n)
{
	bool added = true;

	while (added) {
		added = false;
		for (size_t i = 0; i < n; i++) {
			const char *of = mon_correction_of(&recs[i].ev);
			bool in = false, target = false;

			for (size_t k = 0; of != NULL && !recs[i].duplicate && k < ci->count; k++) {
				in |= ci->ces[k].event == &recs[i].ev;
				target |= strcmp(ci->ces[k].event->id, of) == 0;
			}
			if (of == NULL || recs[i].duplicate || in || !target)
				continue;
			if (!case_push(ci, &recs[i], false))
				return false;
			added = true;
		}
	}
	return true;
}

/* Whether the chain of corrections from recs[i] ends in an event of the group that is not a
 * correction (at most n steps: a ring ends nowhere). */
static bool correction_rooted(const struct record *recs, size_t n, size_t i)
{
	for (size_t step = 0; step <= n; step++) {
		const char *of = mon_correction_of(&recs[i].ev);
		size_t j = n;

		if (of == NULL)
			return true;
		for (size_t k = 0; k < n && j == n; k++)
			if (!recs[k].duplicate && strcmp(recs[k].ev.id, of) == 0)
				j = k;
		if (j == n)
			return false;
		i = j;
	}
	return false;
}

/* A correction without a case whose event is not in the input corrects nothing here (the
 * daemon refuses it); said on stderr, as a duplicate is. */
static void warn_uncorrected(const struct record *recs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!recs[i].duplicate && mon_correction_of(&recs[i].ev) != NULL &&
				!correction_rooted(recs, n, i))
			fprintf(stderr, "esupctl: line %zu: correction of %s: no such event without a "
				"case in the input, ignored\n", recs[i].line, mon_correction_of(&recs[i].ev));
}

/* One (dept, case) group with its context; events without a case one at a time, each with
 * its corrections. */
static bool eval_group(const struct mon_ruleset *rs, const struct subjects *s,
		const struct input *in, const struct record *recs, size_t n, int64_t now,
		struct output *out)
{
	/* the case's own, its context, and the context's voids: at most every record */
	struct case_input ci = { .ces = calloc(n + s->count + in->count, sizeof(*ci.ces)),
		.count = 0, .cap = n + s->count + in->count };
	bool ok = ci.ces != NULL, caseless = recs[0].ev.case_no[0] == '\0';

	for (size_t i = 0; ok && i < n; i++) {
		if (recs[i].duplicate || (caseless && mon_correction_of(&recs[i].ev) != NULL))
			continue;
		ok = case_push(&ci, &recs[i], false);
		if (ok && caseless) {
			ok = push_corrections(&ci, recs, n) && evaluate(rs, &ci, now, out);
			ci.count = 0;
		}
	}
	if (ok && caseless)
		warn_uncorrected(recs, n);
	if (ok && ci.count > 0)
		ok = add_context(rs, s, in, recs, n, &ci) && evaluate(rs, &ci, now, out);
	if (ci.ces == NULL)
		fprintf(stderr, "esupctl: out of memory\n");
	free(ci.ces);
	return ok;
}

static bool eval_all(const struct mon_ruleset *rs, struct input *in, int64_t now)
{
	struct subjects s = { .refs = NULL, .count = 0 };
	struct output out = { .cases = json_array(), .alerts = NULL, .count = 0, .cap = 0 };
	size_t start = 0;
	bool ok;

	ok = mark_duplicates(in);
	ok = ok && mark_refused_corrections(in);
	if (ok && in->count > 1)
		qsort(in->recs, in->count, sizeof(in->recs[0]), cmp_case);
	/* The subject index points into the records: built once they stay where they are. */
	ok = ok && out.cases != NULL && subjects_build(in, &s);
	if (!ok)
		fprintf(stderr, "esupctl: out of memory\n");
	for (size_t end = 1; ok && end <= in->count; end++) {
		if (end < in->count && same_case(&in->recs[start], &in->recs[end]))
			continue;
		ok = eval_group(rs, &s, in, &in->recs[start], end - start, now, &out) && ok;
		start = end;
	}
	output_print(&out);
	output_finish(&out);
	free(s.refs);
	return ok;
}

static void input_finish(struct input *in)
{
	for (size_t i = 0; i < in->count; i++)
		mon_event_finish(&in->recs[i].ev);
	free(in->recs);
}

static int run_eval(const struct eval_options *o)
{
	struct mon_ruleset *rs = mon_ruleset_create();
	struct input in = { .recs = NULL, .count = 0, .cap = 0, .invalid = false };
	int status = 0;

	if (rs == NULL) {
		fprintf(stderr, "esupctl: out of memory\n");
		return 1;
	}
	if (!load_refdata(rs, o->refdata))
		status = 1;
	else if (!apply_settings(rs, o))
		status = 2;   /* a bad --param or --disable is a usage error */
	else if (!lines_read(stdin, input_line, &in) || !eval_all(rs, &in, o->now) || in.invalid)
		status = 1;
	input_finish(&in);
	mon_ruleset_destroy(rs);
	if (fflush(stdout) != 0)
		status = 1;
	return status;
}

static bool take_setting(const char **list, size_t *count, const char *value)
{
	if (*count == SETTINGS_MAX) {
		fprintf(stderr, "esupctl: at most %d --param and %d --disable\n", SETTINGS_MAX,
			SETTINGS_MAX);
		return false;
	}
	list[(*count)++] = value;
	return true;
}

static int cmd_eval(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "refdata", required_argument, NULL, 'r' },
		{ "now", required_argument, NULL, 'n' },
		{ "param", required_argument, NULL, 'p' },
		{ "disable", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct eval_options o = { .refdata = NULL, .now = (int64_t)time(NULL) };
	int opt, offset;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			o.refdata = optarg;
			break;
		case 'n':
			if (!mon_time_parse(optarg, &o.now, &offset)) {
				fprintf(stderr, "esupctl: --now: expected an RFC 3339 date-time with "
					"offset, got %s\n", optarg);
				return 2;
			}
			break;
		case 'p':
			if (!take_setting(o.params, &o.param_count, optarg))
				return 2;
			break;
		case 'd':
			if (!take_setting(o.disable, &o.disable_count, optarg))
				return 2;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (o.refdata == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	return run_eval(&o);
}

static int cmd_rules(int argc, char **argv)
{
	(void)argv;
	if (argc != 1) {
		usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < mon_rule_count(); i++)
		printf("%s\t%s\n", mon_rule_code(i), mon_severity_name(mon_rule_severity(i)));
	return fflush(stdout) == 0 ? 0 : 1;
}

/* The JSON Schema of an event (libmonitor's mon_event_schema), indented, on stdout: the
 * same document as GET /v1/schema and /usr/share/doc/esup/event.schema.json. */
static int cmd_schema(int argc, char **argv)
{
	json_t *schema;
	int status = 0;

	(void)argv;
	if (argc != 1) {
		usage(stderr);
		return 2;
	}
	schema = mon_event_schema();
	if (schema == NULL || json_dumpf(schema, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) != 0 ||
			fputc('\n', stdout) == EOF) {
		fprintf(stderr, "esupctl: schema: out of memory or cannot write\n");
		status = 1;
	}
	json_decref(schema);
	if (fflush(stdout) != 0)
		status = 1;
	return status;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "eval") == 0)
		return cmd_eval(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "rules") == 0)
		return cmd_rules(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "schema") == 0)
		return cmd_schema(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "alerts") == 0)
		return alerts_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "verify") == 0)
		return verify_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "report") == 0)
		return report_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "check") == 0)
		return feedcheck_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "push") == 0)
		return push_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "doctor") == 0)
		return doctor_main(argc - 1, argv + 1);
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
