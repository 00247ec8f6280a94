/* feedcheck.c: `esupctl check` (feedcheck.h). Each non-blank line is parsed as esupd parses
 * one line of an application/x-ndjson body: mon_batch_parse with the daemon's limits, so a
 * line too long or nested too deep is refused here as it would be there. */
#include "feedcheck.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "lines.h"
#include "log.h"
#include "mon_batch.h"

struct tally {
	const char *name;          /* the file as named in messages; "-" for stdin */
	struct mon_limits limits;
	size_t events, valid, refused, warnings;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: esupctl check [-c /etc/esup/esupd.conf] [FILE...]\n"
		"\n"
		"check validates NDJSON events (stdin when no FILE) as esupd's POST /v1/events\n"
		"does before storing, without a daemon or a database: one line per refused event\n"
		"and per warning, then \"N events: N valid, N refused, N warnings\". Exit 1 when an\n"
		"event was refused. -c takes the [limits] of that configuration file instead of\n"
		"esupd's defaults. Duplicates and the certificate's department are not checked.\n");
}

static void print_item(struct tally *t, size_t lineno, const struct mon_item *item)
{
	const char *id = item->id[0] != '\0' ? item->id : "(no id)";

	t->events++;
	if (!item->valid) {
		printf("%s:%zu: %s: %s%sexpected %s, got %s\n", t->name, lineno, id,
			item->error.field, item->error.field[0] != '\0' ? ": " : "",
			item->error.expected, item->error.got);
		t->refused++;
	} else {
		t->valid++;
	}
	for (size_t i = 0; i < item->event.warning_count; i++) {
		const struct mon_error *w = &item->event.warnings[i];

		printf("%s:%zu: %s: warning: %s: %s%s%s%s\n", t->name, lineno, id, w->field,
			w->expected, w->got[0] != '\0' ? "; did you mean " : "", w->got,
			w->got[0] != '\0' ? "?" : "");
		t->warnings++;
	}
}

static bool check_line(void *ctx, const char *text, size_t len, size_t lineno)
{
	struct tally *t = ctx;
	struct mon_batch batch;
	struct mon_error err;

	if (text == NULL) {
		t->events++;
		printf("%s:%zu: (no id): expected a line of at most %d bytes, got a longer one\n",
			t->name, lineno, LINES_MAX_BYTES);
		t->refused++;
		return true;
	}
	if (!mon_batch_parse(text, len, MON_BODY_NDJSON, &t->limits, &batch, &err)) {
		printf("%s:%zu: (no id): %s%sexpected %s, got %s\n", t->name, lineno, err.field,
			err.field[0] != '\0' ? ": " : "", err.expected, err.got);
		t->events++;
		t->refused++;
		return true;
	}
	/* one item, or none for a line of whitespace esupd also skips */
	for (size_t i = 0; i < batch.count; i++)
		print_item(t, lineno, &batch.items[i]);
	mon_batch_finish(&batch);
	return true;
}

/* esupd's [limits] for one event: CONF's when given, else the option table's defaults. */
static bool take_limits(const char *conf, struct mon_limits *limits)
{
	struct config *cfg;

	limits->max_events = 1;
	if (conf == NULL) {
		limits->max_line = strtoull(config_default("limits", "max_line_bytes"), NULL, 10);
		limits->max_depth = strtoull(config_default("limits", "max_json_depth"), NULL, 10);
		return true;
	}
	log_init(true, LOG_LEVEL_WARNING, NULL, LOG_TARGET_STDERR);
	if ((cfg = config_load(conf)) == NULL) {
		fprintf(stderr, "esupctl: %s cannot be used (above)\n", conf);
		return false;
	}
	limits->max_line = cfg->max_line_bytes;
	limits->max_depth = cfg->max_json_depth;
	config_destroy(cfg);
	return true;
}

static bool check_file(struct tally *t, const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	bool ok;

	if (f == NULL) {
		fprintf(stderr, "esupctl: %s: %s\n", path, strerror(errno));
		return false;
	}
	t->name = path;
	errno = 0;
	ok = lines_read(f, check_line, t);
	if (!ok)
		fprintf(stderr, "esupctl: %s: cannot be read to its end: %s\n", path,
			errno != 0 ? strerror(errno) : "out of memory");
	if (f != stdin)
		fclose(f);
	return ok;
}

int feedcheck_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct tally t = { .name = "-" };
	const char *conf = NULL;
	bool readable = true;
	int opt;

	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': conf = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!take_limits(conf, &t.limits))
		return 2;
	if (optind == argc)
		readable = check_file(&t, "-");
	for (int i = optind; i < argc; i++)
		readable = check_file(&t, argv[i]) && readable;
	printf("%zu events: %zu valid, %zu refused, %zu warnings\n", t.events, t.valid,
		t.refused, t.warnings);
	if (fflush(stdout) != 0 || !readable)
		return 2;
	return t.refused > 0 ? 1 : 0;
}
