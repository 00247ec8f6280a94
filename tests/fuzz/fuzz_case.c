/* fuzz_case.c: arbitrary event histories through the rules engine. The input is an NDJSON
 * body; its valid events become one case (those of the first event's department and case) with
 * the rest as context, evaluated with a small fixed ruleset at a time the first byte picks.
 * Dates near the edges of the calendar, absurd extensions and suspensions, any order: the
 * engine must answer or refuse, never crash, and a case's conditions must be well-formed. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mon_batch.h"
#include "mon_rules.h"

static const char calendar_csv[] =
	"date,kind,name\n2026-01-01,holiday,元旦\n2026-02-14,workday,春节调休上班\n"
	"2026-02-16,holiday,春节\n2026-02-17,holiday,春节\n2026-10-01,holiday,国庆节\n";
static const char items_csv[] =
	"code,dept,name,statutory_days,committed_days,unit,warn_days,step_days\n"
	"I-1,D,甲,20,10,working,2,review=3;site-check=5\n"
	"I-2,D,乙,3,3,calendar,1,\n";

static struct mon_ruleset *
fixed_ruleset(void)
{
	struct mon_ruleset *rs = mon_ruleset_create();
	struct mon_error err;

	if (rs == NULL || !mon_ruleset_load(rs, "calendar", calendar_csv, strlen(calendar_csv), &err) ||
	    !mon_ruleset_load(rs, "items", items_csv, strlen(items_csv), &err))
		abort();
	return rs;
}

static void
check(const struct mon_evaluation *out)
{
	for (size_t i = 0; i < out->count; i++) {
		const struct mon_condition *c = &out->conditions[i];

		if (c->rule[0] == '\0' || c->key[0] == '\0' || strnlen(c->key, MON_KEY_MAX) == MON_KEY_MAX ||
		    c->evidence_count > MON_EVIDENCE_MAX || c->severity > MON_SEVERITY_RED)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct mon_limits limits = { .max_line = 4096, .max_depth = 8, .max_events = 64 };
	struct mon_batch batch;
	struct mon_error err;
	struct mon_case_event items[64];
	const struct mon_event *first = NULL;
	struct mon_ruleset *rs;
	struct mon_evaluation out;
	size_t n = 0;
	int64_t last = 0;

	if (size < 1 || !mon_batch_parse((const char *)data + 1, size - 1, MON_BODY_NDJSON, &limits,
			&batch, &err))
		return 0;
	for (size_t i = 0; i < batch.count; i++) {
		const struct mon_event *ev = &batch.items[i].event;

		if (!batch.items[i].valid)
			continue;
		if (first == NULL)
			first = ev;
		items[n++] = (struct mon_case_event){ ev, ev->at + (int64_t)(data[0] & 7) * 86400,
			strcmp(ev->dept, first->dept) != 0 || strcmp(ev->case_no, first->case_no) != 0 };
		if (ev->at > last)
			last = ev->at;
	}
	if (n > 0) {
		rs = fixed_ruleset();
		if (mon_case_evaluate(rs, items, n, last + (int64_t)data[0] * 86400, &out, &err)) {
			check(&out);
			mon_evaluation_finish(&out);
		}
		mon_ruleset_destroy(rs);
	}
	mon_batch_finish(&batch);
	return 0;
}
