/* event_subject.c: a test helper (tests/integration/test_event_subject.py): reads NDJSON
 * events on stdin and prints, per line, libmonitor's mon_event_subject() of the event, "-"
 * when it has none, or "invalid FIELD: EXPECTED" when libmonitor refuses the event. With
 * --types it prints the name of every event type libmonitor knows instead, one a line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mon_eval.h"
#include "mon_event.h"

#define LINE_MAX_BYTES 65536

static int list_types(void)
{
	for (int t = 0; t < MON_EV__COUNT; t++)
		printf("%s\n", mon_event_type_name((enum mon_event_type)t));
	return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	static char line[LINE_MAX_BYTES];

	if (argc == 2 && strcmp(argv[1], "--types") == 0)
		return list_types();
	if (argc != 1) {
		fprintf(stderr, "usage: event_subject [--types] < events.ndjson\n");
		return 2;
	}
	while (fgets(line, sizeof(line), stdin) != NULL) {
		json_error_t jerr;
		struct mon_error err;
		struct mon_event ev;
		char subject[MON_SUBJECT_MAX + 1];
		json_t *obj = json_loads(line, 0, &jerr);

		if (obj == NULL) {
			printf("invalid JSON: %s\n", jerr.text);
		} else if (!mon_event_from_json(obj, &ev, &err)) {
			printf("invalid %s: %s\n", err.field, err.expected);
		} else {
			printf("%s\n", mon_event_subject(&ev, subject, sizeof(subject)) ? subject : "-");
			mon_event_finish(&ev);
		}
		json_decref(obj);
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
