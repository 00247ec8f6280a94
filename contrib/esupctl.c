/* esupctl.c: the operator's command-line tool. `esupctl eval` runs the rules engine over
 * NDJSON events read from stdin, without a database or a daemon: the way to try a rule on
 * a handful of events, and the driver of the golden rule tests in tests/rules. `esupctl
 * rules` lists the rule codes the engine knows. See contrib/esupctl.1 and docs/rules.md. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "mon_event.h"
#include "mon_rules.h"
#include "mon_value.h"

#define LINE_MAX_BYTES (1024 * 1024)
#define EVENTS_MAX 1000000
#define REFDATA_MAX_BYTES (64 * 1024 * 1024)
#define SETTINGS_MAX 64
#define SHANGHAI_MIN 480

struct record {
	struct mon_event ev;
	int64_t received_at;
	size_t line;
	bool duplicate;
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
		"\n"
		"eval reads NDJSON events on stdin, evaluates each (dept, case) as of TIME\n"
		"(RFC 3339, default: now) against DIR/calendar.csv and DIR/items.csv, and\n"
		"prints one NDJSON line per active condition, then one per case.\n");
}

static void report_error(size_t line, const struct mon_error *err)
{
	fprintf(stderr, "esupctl: line %zu: %s%sexpected %s, got %s\n", line, err->field,
		err->field[0] != '\0' ? ": " : "", err->expected, err->got);
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

static bool load_refdata(struct mon_ruleset *rs, const char *dir)
{
	struct mon_error err;
	size_t len;
	char *csv;
	bool ok;

	if ((csv = read_file(dir, "calendar.csv", &len)) == NULL)
		return false;
	ok = mon_ruleset_load_calendar(rs, csv, len, &err);
	free(csv);
	if (!ok) {
		fprintf(stderr, "esupctl: %s/calendar.csv: %s: expected %s, got %s\n", dir,
			err.field, err.expected, err.got);
		return false;
	}
	if ((csv = read_file(dir, "items.csv", &len)) == NULL)
		return false;
	ok = mon_ruleset_load_items(rs, csv, len, &err);
	free(csv);
	if (!ok)
		fprintf(stderr, "esupctl: %s/items.csv: %s: expected %s, got %s\n", dir, err.field,
			err.expected, err.got);
	return ok;
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
	if (!mon_event_from_json(obj, &rec->ev, &err)) {
		report_error(lineno, &err);
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

/* Reads stdin line by line; a line longer than the cap is refused whole. */
static bool read_input(FILE *f, struct input *in)
{
	char *buf = malloc(LINE_MAX_BYTES + 2);
	size_t lineno = 0;
	bool ok = buf != NULL;

	while (ok && fgets(buf, LINE_MAX_BYTES + 2, f) != NULL) {
		size_t len = strlen(buf);
		bool whole = len > 0 && buf[len - 1] == '\n';
		lineno++;
		if (!whole && len == LINE_MAX_BYTES + 1) {
			int c;
			while ((c = getc(f)) != EOF && c != '\n')
				;
			fprintf(stderr, "esupctl: line %zu: expected a line of at most %d bytes\n",
				lineno, LINE_MAX_BYTES);
			in->invalid = true;
			continue;
		}
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			buf[--len] = '\0';
		if (strspn(buf, " \t") == len)
			continue;
		ok = input_push(in, buf, len, lineno);
	}
	if (buf == NULL)
		fprintf(stderr, "esupctl: out of memory\n");
	free(buf);
	return ok && !ferror(f);
}

static int cmp_id(const void *a, const void *b)
{
	const struct record *x = a, *y = b;
	int c = strcmp(x->ev.dept, y->ev.dept);

	if (c == 0)
		c = strcmp(x->ev.id, y->ev.id);
	return c != 0 ? c : (x->line > y->line) - (x->line < y->line);
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

/* Like the daemon: one department's event id is stored, and evaluated, once. */
static void mark_duplicates(struct input *in)
{
	if (in->count > 1)
		qsort(in->recs, in->count, sizeof(in->recs[0]), cmp_id);
	for (size_t i = 1; i < in->count; i++) {
		struct record *prev = &in->recs[i - 1], *r = &in->recs[i];
		if (strcmp(prev->ev.dept, r->ev.dept) != 0 || strcmp(prev->ev.id, r->ev.id) != 0)
			continue;
		r->duplicate = true;
		fprintf(stderr, "esupctl: line %zu: duplicate of line %zu (same dept and id), "
			"ignored\n", r->line, prev->line);
	}
}

static json_t *time_or_null(int64_t t)
{
	char buf[40];

	if (t == INT64_MAX)
		return json_null();
	mon_time_format(t, SHANGHAI_MIN, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *day_or_null(int32_t day)
{
	char buf[16];

	if (day < 0)
		return json_null();
	mon_day_format(day, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *string_or_null(const char *s)
{
	return s[0] != '\0' ? json_string(s) : json_null();
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

static void print_condition(const struct mon_case_state *st, const struct mon_condition *c)
{
	json_t *evidence = json_array();

	for (size_t i = 0; i < c->evidence_count; i++)
		json_array_append_new(evidence, json_string(c->evidence[i]));
	print_json(json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:o}",
		"kind", "alert", "rule", c->rule, "severity", mon_severity_name(c->severity),
		"dept", st->dept, "case", st->case_no, "key", c->key,
		"since", time_or_null(c->since), "message", c->message, "evidence", evidence,
		"supersedes", string_or_null(c->supersedes)));
}

static json_t *case_json(const struct mon_case_state *st)
{
	bool known = st->committed_days > 0;   /* limits are 0 when the item is unknown */

	return json_pack("{s:s, s:s, s:s, s:o, s:s, s:s?, s:i, s:i, s:{s:o, s:o}, s:o, s:o}",
		"kind", "case", "dept", st->dept, "case", st->case_no,
		"item", string_or_null(st->item), "status", mon_case_status_name(st->status),
		"unit", known ? (st->unit == MON_UNIT_CALENDAR ? "calendar" : "working") : NULL,
		"counted_days", st->counted_days, "suspended_days", st->suspended_days,
		"deadline", "committed", day_or_null(st->committed_day),
		"statutory", day_or_null(st->statutory_day),
		"level", st->has_level ? json_string(mon_severity_name(st->level)) : json_null(),
		"next_check", time_or_null(st->next_check));
}

/* One (dept, case) group: evaluated when it holds an approval event. */
static bool eval_group(const struct mon_ruleset *rs, const struct record *recs, size_t n,
		int64_t now, json_t *cases)
{
	struct mon_case_event *ces = calloc(n, sizeof(*ces));
	struct mon_evaluation ev;
	struct mon_error err;
	size_t m = 0;
	bool approval = false;

	if (ces == NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (recs[i].duplicate)
			continue;
		ces[m].event = &recs[i].ev;
		ces[m++].received_at = recs[i].received_at;
		approval |= strncmp(mon_event_type_name(recs[i].ev.type), "approval.", 9) == 0;
	}
	if (m == 0 || !approval || recs[0].ev.case_no[0] == '\0') {
		free(ces);
		return true;
	}
	if (!mon_case_evaluate(rs, ces, m, now, &ev, &err)) {
		fprintf(stderr, "esupctl: case %s/%s: expected %s, got %s\n", recs[0].ev.dept,
			recs[0].ev.case_no, err.expected, err.got);
		free(ces);
		return false;
	}
	for (size_t i = 0; i < ev.count; i++)
		print_condition(&ev.state, &ev.conditions[i]);
	json_array_append_new(cases, case_json(&ev.state));
	mon_evaluation_finish(&ev);
	free(ces);
	return true;
}

static bool eval_all(const struct mon_ruleset *rs, struct input *in, int64_t now)
{
	json_t *cases = json_array();
	size_t start = 0, i;
	json_t *c;
	bool ok = true;

	mark_duplicates(in);
	if (in->count > 1)
		qsort(in->recs, in->count, sizeof(in->recs[0]), cmp_case);
	for (size_t end = 1; end <= in->count; end++) {
		if (end < in->count && same_case(&in->recs[start], &in->recs[end]))
			continue;
		ok = eval_group(rs, &in->recs[start], end - start, now, cases) && ok;
		start = end;
	}
	json_array_foreach(cases, i, c)
		print_json(json_incref(c));
	json_decref(cases);
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
	else if (!read_input(stdin, &in) || !eval_all(rs, &in, o->now) || in.invalid)
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

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "eval") == 0)
		return cmd_eval(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "rules") == 0)
		return cmd_rules(argc - 1, argv + 1);
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
