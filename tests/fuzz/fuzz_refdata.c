/* fuzz_refdata.c: the reference-table CSV loaders on arbitrary text, then one evaluation of
 * every event family against whatever loaded. Operators hand these files in; a bad one must
 * be refused with a reason, never crash the daemon or esupctl.
 *
 * Input: the table's name on the first line (calendar, items, fee_items, ...), its CSV after.
 * An unknown first line picks a table by its first byte, so the fuzzer reaches them all. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mon_rules.h"

static const char *const events_json[] = {
	"{\"id\":\"a1\",\"dept\":\"D\",\"type\":\"approval.accepted\",\"at\":\"2026-03-02T09:00:00+08:00\","
	"\"case\":\"C-1\",\"item\":\"I-1\"}",
	"{\"id\":\"a2\",\"dept\":\"D\",\"type\":\"approval.step\",\"at\":\"2026-03-05T09:00:00+08:00\","
	"\"case\":\"C-1\",\"step\":\"review\"}",
	"{\"id\":\"a3\",\"dept\":\"D\",\"type\":\"approval.decided\",\"at\":\"2026-03-20T09:00:00+08:00\","
	"\"case\":\"C-1\",\"result\":\"denied\"}",
};

static const char *const loose_json =
	"{\"id\":\"f1\",\"dept\":\"D\",\"type\":\"fee.collected\",\"at\":\"2026-03-03T10:00:00+08:00\","
	"\"fee_item\":\"F-1\",\"amount\":\"1200.00\",\"payer\":{\"uscc\":\"91350100M000100Y43\"}}";

static const char *const penalty_json =
	"{\"id\":\"p1\",\"dept\":\"D\",\"type\":\"penalty.decided\",\"at\":\"2026-03-04T15:00:00+08:00\","
	"\"case\":\"P-1\",\"party\":{\"uscc\":\"91350100M000100Y43\"},\"violation\":\"V-1\","
	"\"severity\":\"minor\",\"amount\":\"5000\",\"filing\":{\"office\":\"youhuaban\",\"ref\":\"R\"}}";

static const char *const inspection_json =
	"{\"id\":\"i1\",\"dept\":\"D\",\"type\":\"inspection.started\",\"at\":\"2026-03-10T09:00:00+08:00\","
	"\"case\":\"J-1\",\"enterprise\":{\"uscc\":\"91350100M000100Y43\"},"
	"\"officers\":[{\"id\":\"O-1\",\"certificate\":\"C1\"}]}";

static bool event_of(const char *text, struct mon_event *ev)
{
	json_error_t jerr;
	struct mon_error err;
	json_t *obj = json_loads(text, 0, &jerr);
	bool ok = obj != NULL && mon_event_from_json(obj, ev, &err);

	json_decref(obj);
	return ok;
}

/* Evaluates events[0, n) as one case; whatever the rules say is fine, crashing is not. */
static void evaluate(const struct mon_ruleset *rs, const char *const *texts, size_t n)
{
	struct mon_event evs[4];
	struct mon_case_event items[4];
	struct mon_evaluation out;
	struct mon_error err;
	size_t ok = 0;

	for (size_t i = 0; i < n && i < 4; i++) {
		if (!event_of(texts[i], &evs[ok]))
			abort();   /* the fixed events are valid: a failure here is a real bug */
		items[ok] = (struct mon_case_event){ &evs[ok], evs[ok].at, false };
		ok++;
	}
	if (mon_case_evaluate(rs, items, ok, evs[0].at + 90 * 86400, &out, &err))
		mon_evaluation_finish(&out);
	for (size_t i = 0; i < ok; i++)
		mon_event_finish(&evs[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *csv = (const char *)data;
	const char *nl = size ? memchr(csv, '\n', size) : NULL;
	size_t name_len = nl ? (size_t)(nl - csv) : size, len = size;
	const char *table = NULL;
	struct mon_ruleset *rs;
	struct mon_error err;

	if (size == 0)
		return 0;
	for (size_t i = 0; i < mon_refdata_count(); i++) {
		const char *name = mon_refdata_name(i);

		if (strlen(name) == name_len && memcmp(name, csv, name_len) == 0)
			table = name;
	}
	if (table != NULL) {
		size_t skip = nl ? name_len + 1 : size;

		csv += skip;
		len -= skip;
	} else {
		table = mon_refdata_name(data[0] % mon_refdata_count());
	}
	if ((rs = mon_ruleset_create()) == NULL)
		return 0;
	if (mon_ruleset_load(rs, table, csv, len, &err)) {
		evaluate(rs, events_json, 3);
		evaluate(rs, &loose_json, 1);
		evaluate(rs, &penalty_json, 1);
		evaluate(rs, &inspection_json, 1);
	}
	mon_ruleset_destroy(rs);
	return 0;
}
