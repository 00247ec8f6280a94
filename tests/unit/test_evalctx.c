/* test_evalctx.c: what esupd and `esupctl eval` share (mon_eval.h): the context windows and
 * the selection of other cases' events, the marking of repeated ids, and the evaluation's
 * JSON. */
#include "case_fixture.h"
#include "mon_eval.h"

#define PARTY_A "91410305MA45N8QX60"
#define PARTY_B "91410304MA48P3RM2X"

static void penalty(struct fx *fx, bool context, const char *id, const char *kase,
		const char *at, const char *party)
{
	fx_add_event(fx, context, "{\"id\":\"%s\",\"dept\":\"LY-HBJ\",\"type\":\"penalty.decided\","
		"\"at\":\"%s\",\"case\":\"%s\",\"party\":{\"uscc\":\"%s\"},\"violation\":\"HB-05\","
		"\"severity\":\"minor\",\"amount\":\"0\"}", id, at, kase, party);
}

static void inspection(struct fx *fx, bool context, const char *id, const char *dept,
		const char *kase, const char *at, const char *enterprise)
{
	fx_add_event(fx, context, "{\"id\":\"%s\",\"dept\":\"%s\",\"type\":\"inspection.started\","
		"\"at\":\"%s\",\"case\":\"%s\",\"enterprise\":{\"uscc\":\"%s\"},\"officers\":"
		"[{\"id\":\"P1\",\"certificate\":\"C1\"}]}", id, dept, at, kase, enterprise);
}

/* keep[] of fx->ces[own..count) as a string of 0 and 1, own being the case's events. */
static void assert_kept(struct fx *fx, size_t own, const char *expected)
{
	bool keep[FX_EVENTS_MAX];
	char got[FX_EVENTS_MAX + 1];
	size_t n = fx->count - own;

	assert_true(mon_context_select(fx->rs, fx->ces, own, fx->ces + own, n, keep));
	for (size_t i = 0; i < n; i++)
		got[i] = keep[i] ? '1' : '0';
	got[n] = '\0';
	assert_string_equal(got, expected);
}

static void test_penalty_window(void **state)
{
	struct fx *fx = *state;
	struct mon_context_window w[2];

	fx_param(fx, "first_offence_window_days", 30);   /* penalty context: 31 days */
	penalty(fx, false, "p1", "CF-1", "2026-03-20T10:00:00+08:00", PARTY_A);
	assert_int_equal(mon_context_windows(fx->rs, fx->ces, 1, w), 1);
	assert_int_equal(w[0].kind, MON_CONTEXT_PENALTY);
	assert_string_equal(w[0].subject, PARTY_A);
	assert_true(w[0].event == &fx->events[0]);
	assert_int_equal(w[0].hi, T("2026-03-20T10:00:00+08:00"));
	assert_int_equal(w[0].lo, T("2026-02-17T10:00:00+08:00"));

	penalty(fx, true, "c0", "CF-2", "2026-03-01T10:00:00+08:00", PARTY_A);
	penalty(fx, true, "c1", "CF-3", "2026-03-10T10:00:00+08:00", PARTY_A);  /* the latest */
	penalty(fx, true, "c2", "CF-4", "2026-03-20T10:00:00+08:00", PARTY_A);  /* not before */
	penalty(fx, true, "c3", "CF-5", "2026-03-15T10:00:00+08:00", PARTY_B);  /* another party */
	penalty(fx, true, "c4", "CF-1", "2026-03-15T10:00:00+08:00", PARTY_A);  /* its own case */
	inspection(fx, true, "c5", "LY-HBJ", "JC-1", "2026-03-15T10:00:00+08:00", PARTY_A);
	assert_kept(fx, 1, "010000");
	fx_clear(fx);

	/* The window's first instant is in, the one before it out. */
	penalty(fx, false, "p1", "CF-1", "2026-03-20T10:00:00+08:00", PARTY_A);
	penalty(fx, true, "c0", "CF-2", "2026-02-17T09:59:59+08:00", PARTY_A);
	assert_kept(fx, 1, "0");
	penalty(fx, true, "c1", "CF-3", "2026-02-17T10:00:00+08:00", PARTY_A);
	assert_kept(fx, 1, "01");
}

static void test_inspection_window(void **state)
{
	struct fx *fx = *state;
	struct mon_context_window w[3];

	fx_param(fx, "first_offence_window_days", 30);   /* all windows 30: context 31 days */
	inspection(fx, false, "i1", "LY-SCJGJ", "JC-1", "2026-04-21T09:30:00+08:00", PARTY_B);
	fx_add(fx, "{\"id\":\"i2\",\"dept\":\"LY-SCJGJ\",\"type\":\"inspection.ended\","
		"\"at\":\"2026-04-22T09:30:00+08:00\",\"case\":\"JC-1\"}");
	assert_int_equal(mon_context_windows(fx->rs, fx->ces, 2, w), 1);
	assert_int_equal(w[0].kind, MON_CONTEXT_INSPECTION);
	assert_int_equal(w[0].lo, T("2026-03-21T09:30:00+08:00"));
	assert_int_equal(w[0].hi, T("2026-05-22T09:30:00+08:00"));

	inspection(fx, true, "c0", "LY-HBJ", "JC-2", "2026-03-21T09:30:00+08:00", PARTY_B);
	inspection(fx, true, "c1", "LY-HBJ", "JC-3", "2026-03-21T09:29:59+08:00", PARTY_B);
	inspection(fx, true, "c2", "LY-ZJJ", "JC-4", "2026-05-22T09:30:00+08:00", PARTY_B);
	inspection(fx, true, "c3", "LY-ZJJ", "JC-5", "2026-05-22T09:30:01+08:00", PARTY_B);
	inspection(fx, true, "c4", "LY-ZJJ", "JC-6", "2026-04-21T09:30:00+08:00", PARTY_A);
	inspection(fx, true, "c5", "LY-SCJGJ", "JC-1", "2026-04-20T09:30:00+08:00", PARTY_B);
	penalty(fx, true, "c6", "CF-9", "2026-04-20T09:30:00+08:00", PARTY_B);
	inspection(fx, true, "c7", "LY-SCJGJ", "JC-7", "2026-04-01T09:30:00+08:00", PARTY_B);
	assert_kept(fx, 2, "10100001");
}

static void void_of(struct fx *fx, const char *id, const char *kase, const char *of)
{
	fx_add_event(fx, true, "{\"id\":\"%s\",\"dept\":\"LY-HBJ\",\"type\":\"event.corrected\","
		"\"at\":\"2026-03-19T10:00:00+08:00\",\"case\":\"%s\",\"of\":\"%s\",\"action\":\"void\","
		"\"reason\":\"sent by mistake\"}", id, kase, of);
}

/* A penalty its department voided is not context (as esup_event_voided leaves it out): the
 * latest one not voided is kept instead; a void of the void restores it. */
static void test_voided_candidates(void **state)
{
	struct fx *fx = *state;

	fx_param(fx, "first_offence_window_days", 30);
	penalty(fx, false, "p1", "CF-1", "2026-03-20T10:00:00+08:00", PARTY_A);
	penalty(fx, true, "c0", "CF-2", "2026-03-01T10:00:00+08:00", PARTY_A);
	penalty(fx, true, "c1", "CF-3", "2026-03-10T10:00:00+08:00", PARTY_A);
	void_of(fx, "v1", "CF-3", "c1");
	assert_kept(fx, 1, "100");
	void_of(fx, "v2", "CF-3", "v1");
	assert_kept(fx, 1, "0100");
}

/* Without a subject-bearing event the case reads no context; events marked context among
 * the case's own are not windows. */
static void test_no_windows(void **state)
{
	struct fx *fx = *state;
	struct mon_context_window w[2];

	fx_add(fx, "{\"id\":\"a1\",\"dept\":\"LY-SCJGJ\",\"type\":\"approval.accepted\","
		"\"at\":\"2026-03-02T09:15:00+08:00\",\"case\":\"C-1\",\"item\":\"SCJG-001\"}");
	penalty(fx, true, "c0", "CF-2", "2026-03-01T10:00:00+08:00", PARTY_A);
	assert_int_equal(mon_context_windows(fx->rs, fx->ces, 2, w), 0);
	assert_kept(fx, 1, "0");
}

static void test_duplicates(void **state)
{
	struct fx *fx = *state;
	const struct mon_event *evs[5];
	size_t previous[5];
	static const char *const ids[][2] = {
		{ "LY-HBJ", "a" }, { "LY-HBJ", "b" }, { "LY-ZJJ", "a" }, { "LY-HBJ", "a" },
		{ "LY-HBJ", "a" },
	};

	for (size_t i = 0; i < 5; i++) {
		fx_add(fx, "{\"id\":\"%s\",\"dept\":\"%s\",\"type\":\"inquiry.received\","
			"\"at\":\"2026-03-02T09:15:00+08:00\",\"case\":\"Q-%zu\"}", ids[i][1], ids[i][0], i);
		evs[i] = &fx->events[i];
	}
	assert_true(mon_events_duplicates(evs, 5, previous));
	assert_true(previous[0] == SIZE_MAX);
	assert_true(previous[1] == SIZE_MAX);
	assert_true(previous[2] == SIZE_MAX);   /* same id, other department */
	assert_int_equal(previous[3], 0);
	assert_int_equal(previous[4], 3);       /* the latest earlier one */
	assert_true(mon_events_duplicates(evs, 0, previous));
}

static void test_evaluation_json(void **state)
{
	struct fx *fx = *state;
	json_t *obj, *cond;
	char *text;

	/* A fine for a first minor violation: PEN-FIRST-MINOR. */
	fx_add(fx, "{\"id\":\"p1\",\"dept\":\"LY-HBJ\",\"type\":\"penalty.decided\","
		"\"at\":\"2026-03-21T10:00:00+08:00\",\"case\":\"CF-1\",\"party\":{\"uscc\":\"%s\"},"
		"\"violation\":\"HB-05\",\"severity\":\"minor\",\"amount\":\"100.00\","
		"\"filing\":{\"office\":\"jianfuban\",\"ref\":\"JFB-1\"}}", PARTY_A);
	fx_eval(fx, "2026-03-22T10:00:00+08:00");
	assert_true(fx->ev.count >= 1);
	obj = mon_evaluation_json(&fx->ev, 480);
	assert_non_null(obj);
	text = json_dumps(obj, JSON_COMPACT);
	/* The keys in the order esup_apply_evaluation's callers rely on, then the conditions. */
	assert_non_null(strstr(text, "{\"dept\":\"LY-HBJ\",\"case\":\"CF-1\",\"item\":\"\","
		"\"status\":\"decided\",\"unit\":\"working\",\"committed_days\":0,"
		"\"statutory_days\":0,\"counted_days\":0,\"suspended_days\":0,"
		"\"committed_day\":null,\"statutory_day\":null,\"level\":\"yellow\","
		"\"next_check\":null,\"facts\":{\"kind\":\"other\","));
	free(text);
	cond = json_array_get(json_object_get(obj, "conditions"), 0);
	assert_string_equal(json_string_value(json_object_get(cond, "rule")), fx->ev.conditions[0].rule);
	assert_string_equal(json_string_value(json_object_get(cond, "dept")), "LY-HBJ");
	assert_string_equal(json_string_value(json_object_get(cond, "case")), "CF-1");
	assert_true(json_is_null(json_object_get(cond, "supersedes")));
	assert_int_equal(json_array_size(json_object_get(obj, "conditions")), fx->ev.count);
	assert_true(json_is_array(json_object_get(obj, "corrected")));   /* none corrected */
	assert_int_equal(json_array_size(json_object_get(obj, "corrected")), 0);
	json_decref(obj);
	/* UTC for the daemon. */
	obj = mon_condition_json(&fx->ev.state, &fx->ev.conditions[0], 0);
	assert_non_null(strstr(json_string_value(json_object_get(obj, "since")), "Z"));
	json_decref(obj);
}

int main(int argc, char **argv);

#define TEST(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
static const struct CMUnitTest tests[] = {
	TEST(test_penalty_window),
	TEST(test_inspection_window),
	TEST(test_voided_candidates),
	TEST(test_no_windows),
	TEST(test_duplicates),
	TEST(test_evaluation_json),
};

FX_MAIN(tests)
