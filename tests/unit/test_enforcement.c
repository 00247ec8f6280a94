/* test_enforcement.c: the six prohibitions at their boundaries: a certificate on its last
 * valid day and the day after, on its first day, of another department, renewed; quiet
 * production days at midnight and at another offset; inspections without filing; and the
 * frequency rules (repeated and multi-department inspection) on the window's first and last
 * day, with one and the same key whichever case of the burst is evaluated. Also the
 * officers, enterprises and regions loaders. */
#include "case_fixture.h"

static const char officers[] =
	"id,dept,name,certificate,valid_from,valid_to\n"
	"P0721,LY-HBJ,李红伟,41030021003105,2022-05-01,2027-04-30\n"
	"P0729,LY-HBJ,郭鹏飞,41030016000662,2021-03-29,2026-03-28\n"
	"P0031,LY-SCJGJ,王建军,41030021001357,2024-01-01,2028-12-31\n"
	"P0478,LY-ZJJ,周明,41030020001905,2020-09-01,2025-08-31\n"
	"P0478,LY-ZJJ,周明,41030025003316,2025-09-01,2030-08-31\n";

/* E: quiet on days 1-20; F: on 1-5 and 25-31; C: none. */
static const char enterprises[] =
	"uscc,name,quiet_days\n"
	"91410305MA45N8QX60,洛阳涧西恒达轴承制造有限公司,1-20\n"
	"91410329MA47W3JN2J,伊川县豫兴铝业有限公司,\"1-5,25-31\"\n"
	"91410304MA48P3RM2X,洛阳瀍河鸿运汽车维修有限公司,\n";

#define ENT_E "91410305MA45N8QX60"
#define ENT_F "91410329MA47W3JN2J"
#define ENT_C "91410304MA48P3RM2X"

static int setup_all(void **state)
{
	struct fx *fx = fx_create();

	fx_load(fx, "officers", officers);
	fx_load(fx, "enterprises", enterprises);
	*state = fx;
	return 0;
}

/* The other rules' tests inspect with one officer: ENF-SINGLE-OFFICER has its own test. */
static int setup(void **state)
{
	struct mon_error err;

	setup_all(state);
	if (!mon_ruleset_disable_rule(((struct fx *)*state)->rs, "ENF-SINGLE-OFFICER", &err))
		fail_msg("ENF-SINGLE-OFFICER: %s", err.expected);
	return 0;
}

#define HBJ_OFFICER "[{\"id\":\"P0721\",\"certificate\":\"41030021003105\"}]"
#define FILED ",\"filing\":{\"office\":\"youhuaban\",\"ref\":\"JC-1\"}"

/* inspection.started `id` by `dept`, case JC-`id`. */
static void inspect(struct fx *fx, bool context, const char *id, const char *dept,
		const char *at, const char *enterprise, const char *officers_json, const char *extra)
{
	fx_add_event(fx, context, "{\"id\":\"%s\",\"dept\":\"%s\",\"type\":\"inspection.started\","
		"\"at\":\"%s\",\"case\":\"JC-%s\",\"enterprise\":{\"uscc\":\"%s\"},\"officers\":%s%s}",
		id, dept, at, id, enterprise, officers_json, extra);
}

static const char *officer_verdict(struct fx *fx, const char *dept, const char *at,
		const char *officers_json)
{
	fx_clear(fx);
	inspect(fx, false, "1", dept, at, ENT_C, officers_json, FILED);
	fx_eval(fx, "2026-12-31T12:00:00+08:00");
	return fx->rules;
}

/* valid_to is inclusive: P0729's certificate is good through 2026-03-28 24:00. */
static void test_certificate_boundaries(void **state)
{
	struct fx *fx = *state;
	const char *p0729 = "[{\"id\":\"P0729\",\"certificate\":\"41030016000662\"}]";

	assert_string_equal(officer_verdict(fx, "LY-HBJ", "2026-03-28T23:59:59+08:00", p0729), "");
	assert_string_equal(officer_verdict(fx, "LY-HBJ", "2026-03-29T00:00:00+08:00", p0729),
		"ENF-NO-CERT");
	assert_int_equal(fx_cond(fx, "ENF-NO-CERT")->severity, MON_SEVERITY_RED);
	assert_non_null(strstr(fx_cond(fx, "ENF-NO-CERT")->message, "expired 2026-03-28"));
	/* 2026-03-28 16:30 UTC is already the 29th in Luoyang. */
	assert_string_equal(officer_verdict(fx, "LY-HBJ", "2026-03-28T16:30:00Z", p0729),
		"ENF-NO-CERT");
	/* valid_from is inclusive too. */
	assert_string_equal(officer_verdict(fx, "LY-HBJ", "2021-03-29T00:00:00+08:00", p0729), "");
	assert_string_equal(officer_verdict(fx, "LY-HBJ", "2021-03-28T23:59:59+08:00", p0729),
		"ENF-NO-CERT");
	assert_non_null(strstr(fx_cond(fx, "ENF-NO-CERT")->message, "not valid before 2021-03-29"));
}

static void test_certificate_faults(void **state)
{
	struct fx *fx = *state;
	const struct mon_condition *c;

	/* Unknown officer, a number that is not theirs, another department's officer: one
	 * condition for the inspection, naming each. */
	officer_verdict(fx, "LY-HBJ", "2026-03-16T14:00:00+08:00",
		"[{\"id\":\"P9999\",\"certificate\":\"1\"},{\"id\":\"P0721\",\"certificate\":\"2\"},"
		"{\"id\":\"P0031\",\"certificate\":\"41030021001357\"},"
		"{\"id\":\"P0721\",\"certificate\":\"41030021003105\"}]");
	assert_rules(fx, "ENF-NO-CERT");
	c = fx_cond(fx, "ENF-NO-CERT");
	assert_string_equal(c->key, "ENF-NO-CERT|LY-HBJ|JC-1|1");
	assert_non_null(strstr(c->message, "P9999: not registered"));
	assert_non_null(strstr(c->message, "P0721: certificate not theirs"));
	assert_non_null(strstr(c->message, "P0031: officer of LY-SCJGJ"));
	/* A renewed certificate: the old number the day after it ended, the new one that day. */
	assert_string_equal(officer_verdict(fx, "LY-ZJJ", "2025-09-01T09:00:00+08:00",
		"[{\"id\":\"P0478\",\"certificate\":\"41030020001905\"}]"), "ENF-NO-CERT");
	assert_string_equal(officer_verdict(fx, "LY-ZJJ", "2025-09-01T09:00:00+08:00",
		"[{\"id\":\"P0478\",\"certificate\":\"41030025003316\"}]"), "");
	/* Without the register, nothing to judge by. */
	fx_load(fx, "officers", "id,dept,name,certificate,valid_from,valid_to\n");
	assert_string_equal(officer_verdict(fx, "LY-HBJ", "2026-03-16T14:00:00+08:00",
		"[{\"id\":\"P9999\",\"certificate\":\"1\"}]"), "");
}

static const char *quiet_verdict(struct fx *fx, const char *enterprise, const char *at)
{
	fx_clear(fx);
	inspect(fx, false, "1", "LY-HBJ", at, enterprise, HBJ_OFFICER, FILED);
	fx_eval(fx, "2026-12-31T12:00:00+08:00");
	return fx->rules;
}

static void test_quiet_days(void **state)
{
	struct fx *fx = *state;

	assert_string_equal(quiet_verdict(fx, ENT_E, "2026-03-20T23:59:59+08:00"), "ENF-QUIET-DAY");
	assert_string_equal(fx_cond(fx, "ENF-QUIET-DAY")->key, "ENF-QUIET-DAY|LY-HBJ|JC-1|1");
	assert_string_equal(quiet_verdict(fx, ENT_E, "2026-03-21T00:00:00+08:00"), "");
	assert_string_equal(quiet_verdict(fx, ENT_E, "2026-03-31T17:00:00-08:00"), "ENF-QUIET-DAY");
	assert_non_null(strstr(fx_cond(fx, "ENF-QUIET-DAY")->message, "2026-04-01"));
	assert_string_equal(quiet_verdict(fx, ENT_F, "2026-03-05T10:00:00+08:00"), "ENF-QUIET-DAY");
	assert_string_equal(quiet_verdict(fx, ENT_F, "2026-03-06T10:00:00+08:00"), "");
	assert_string_equal(quiet_verdict(fx, ENT_F, "2026-03-24T10:00:00+08:00"), "");
	assert_string_equal(quiet_verdict(fx, ENT_F, "2026-03-31T10:00:00+08:00"), "ENF-QUIET-DAY");
	assert_string_equal(quiet_verdict(fx, ENT_C, "2026-03-01T10:00:00+08:00"), "");
	/* An enterprise the table does not know has no quiet days on record. */
	assert_string_equal(quiet_verdict(fx, "91410300MA44ABCD1R", "2026-03-01T10:00:00+08:00"),
		"");
}

static void test_no_filing(void **state)
{
	struct fx *fx = *state;

	inspect(fx, false, "1", "LY-HBJ", "2026-03-23T10:00:00+08:00", ENT_C, HBJ_OFFICER, "");
	fx_eval(fx, "2026-03-31T12:00:00+08:00");
	assert_rules(fx, "ENF-NO-FILING");
	assert_string_equal(fx_cond(fx, "ENF-NO-FILING")->key, "ENF-NO-FILING|LY-HBJ|JC-1|1");
	/* A context inspection without filing is another case's business. */
	fx_clear(fx);
	inspect(fx, false, "1", "LY-HBJ", "2026-03-23T10:00:00+08:00", ENT_C, HBJ_OFFICER, FILED);
	inspect(fx, true, "2", "LY-ZJJ", "2026-03-24T10:00:00+08:00", ENT_C, HBJ_OFFICER, "");
	fx_eval(fx, "2026-03-31T12:00:00+08:00");
	assert_rules(fx, "");
}

/* Evaluates inspection `own` (an index of ids) with the others as context, as the daemon
 * does for each case; returns the key of `rule`, or "" when it does not hold. */
struct visit {
	const char *id, *dept, *at, *enterprise;
};

static const char *burst_key(struct fx *fx, const struct visit *v, size_t n, size_t own,
		const char *rule)
{
	fx_clear(fx);
	for (size_t i = 0; i < n; i++)
		inspect(fx, i != own, v[i].id, v[i].dept, v[i].at, v[i].enterprise, HBJ_OFFICER,
			FILED);
	fx_eval(fx, "2026-12-31T12:00:00+08:00");
	for (size_t i = 0; i < fx->ev.count; i++) {
		if (strcmp(fx->ev.conditions[i].rule, rule) == 0)
			return fx->ev.conditions[i].key;
	}
	return "";
}

/* Two inspections of C by LY-HBJ: 03-01 and 03-31 are within one 30-day window counted as
 * 民法典 §201 counts (03-01 itself not counted: 03-02 is its first day, 03-31 its 30th);
 * 04-01 is not. */
static void test_repeat_window(void **state)
{
	struct fx *fx = *state;
	struct visit in[] = {
		{ "a", "LY-HBJ", "2026-03-01T09:00:00+08:00", ENT_C },
		{ "b", "LY-HBJ", "2026-03-31T23:59:59+08:00", ENT_C },
	};
	const char *key = "ENF-REPEAT|" ENT_C "|LY-HBJ|a";

	assert_string_equal(burst_key(fx, in, 2, 0, "ENF-REPEAT"), key);
	assert_int_equal(fx_cond(fx, "ENF-REPEAT")->since, T("2026-03-31T23:59:59+08:00"));
	assert_int_equal(fx_cond(fx, "ENF-REPEAT")->evidence_count, 2);
	assert_string_equal(burst_key(fx, in, 2, 1, "ENF-REPEAT"), key);
	in[1].at = "2026-04-01T00:00:00+08:00";
	assert_string_equal(burst_key(fx, in, 2, 0, "ENF-REPEAT"), "");
	assert_string_equal(burst_key(fx, in, 2, 1, "ENF-REPEAT"), "");
	/* Another department's inspection is no repeat (it may be multi-department). */
	in[1].at = "2026-03-02T09:00:00+08:00";
	in[1].dept = "LY-ZJJ";
	assert_string_equal(burst_key(fx, in, 2, 0, "ENF-REPEAT"), "");
	/* Two in one case count too. */
	fx_clear(fx);
	inspect(fx, false, "a", "LY-HBJ", "2026-03-01T09:00:00+08:00", ENT_C, HBJ_OFFICER, FILED);
	fx_add(fx, "{\"id\":\"a2\",\"dept\":\"LY-HBJ\",\"type\":\"inspection.started\",\"at\":"
		"\"2026-03-03T09:00:00+08:00\",\"case\":\"JC-a\",\"enterprise\":{\"uscc\":\"" ENT_C "\"},"
		"\"officers\":" HBJ_OFFICER FILED "}");
	fx_eval(fx, "2026-12-31T12:00:00+08:00");
	assert_rules(fx, "ENF-REPEAT");
}

/* Three inspections, each 20 days after the one before, chain into one burst: 03-01 and
 * 03-21 share a window, 03-21 and 04-10 another. One alert, keyed by the first. */
static void test_repeat_chain_one_burst(void **state)
{
	struct fx *fx = *state;
	const struct visit in[] = {
		{ "a", "LY-HBJ", "2026-03-01T09:00:00+08:00", ENT_C },
		{ "b", "LY-HBJ", "2026-03-21T09:00:00+08:00", ENT_C },
		{ "c", "LY-HBJ", "2026-04-10T09:00:00+08:00", ENT_C },
		{ "d", "LY-HBJ", "2026-06-10T09:00:00+08:00", ENT_C },
	};

	for (size_t own = 0; own < 3; own++)
		assert_string_equal(burst_key(fx, in, 4, own, "ENF-REPEAT"),
			"ENF-REPEAT|" ENT_C "|LY-HBJ|a");
	assert_int_equal(fx_cond(fx, "ENF-REPEAT")->evidence_count, 3);
	assert_string_equal(burst_key(fx, in, 4, 3, "ENF-REPEAT"), "");
	/* With repeat_count 3, no window of 30 days holds three of them; one of 40 days after
	 * 03-01 (03-02 .. 04-10) does, one of 39 does not. */
	fx_param(fx, "repeat_count", 3);
	assert_string_equal(burst_key(fx, in, 4, 1, "ENF-REPEAT"), "");
	fx_param(fx, "repeat_window_days", 39);
	assert_string_equal(burst_key(fx, in, 4, 1, "ENF-REPEAT"), "");
	fx_param(fx, "repeat_window_days", 40);
	assert_string_equal(burst_key(fx, in, 4, 1, "ENF-REPEAT"), "ENF-REPEAT|" ENT_C "|LY-HBJ|a");
	assert_int_equal(fx_cond(fx, "ENF-REPEAT")->since, T("2026-04-10T09:00:00+08:00"));
	assert_int_equal(mon_ruleset_context_days(fx->rs), 366);
	fx_param(fx, "repeat_window_days", 400);
	assert_int_equal(mon_ruleset_context_days(fx->rs), 401);
}

/* Three departments inspect C: 03-23, 03-27 and 04-22 (03-23 + 30 days, the window's last
 * day by 民法典 §201): one burst, the same key from each of the three cases. */
static void test_multi_department(void **state)
{
	struct fx *fx = *state;
	struct visit in[] = {
		{ "m1", "LY-SCJGJ", "2026-03-23T09:30:00+08:00", ENT_C },
		{ "m2", "LY-HBJ", "2026-03-27T09:00:00+08:00", ENT_C },
		{ "m3", "LY-ZJJ", "2026-04-22T09:30:00+08:00", ENT_C },
		{ "x", "LY-SCJGJ", "2026-03-24T09:30:00+08:00", ENT_E },   /* another enterprise */
	};
	const char *key = "ENF-MULTI-DEPT|" ENT_C "|LY-SCJGJ|m1";

	for (size_t own = 0; own < 3; own++)
		assert_string_equal(burst_key(fx, in, 4, own, "ENF-MULTI-DEPT"), key);
	assert_int_equal(fx_cond(fx, "ENF-MULTI-DEPT")->since, T("2026-04-22T09:30:00+08:00"));
	assert_int_equal(fx_cond(fx, "ENF-MULTI-DEPT")->severity, MON_SEVERITY_YELLOW);
	assert_non_null(strstr(fx_cond(fx, "ENF-MULTI-DEPT")->message,
		"LY-SCJGJ, LY-HBJ, LY-ZJJ"));
	assert_string_equal(burst_key(fx, in, 4, 3, "ENF-MULTI-DEPT"), "");
	/* A day later the third falls outside the window. */
	in[2].at = "2026-04-23T00:00:00+08:00";
	assert_string_equal(burst_key(fx, in, 4, 0, "ENF-MULTI-DEPT"), "");
	/* Two visits by one department and one by another are two departments. */
	in[2].at = "2026-03-30T09:30:00+08:00";
	in[2].dept = "LY-HBJ";
	assert_string_equal(burst_key(fx, in, 4, 0, "ENF-MULTI-DEPT"), "");
	fx_param(fx, "multi_departments", 2);
	assert_string_equal(burst_key(fx, in, 4, 2, "ENF-MULTI-DEPT"), key);
}

static void test_directory_loaders(void **state)
{
	struct fx *fx = *state;
#define OFF "id,dept,name,certificate,valid_from,valid_to\n"
#define ENT "uscc,name,quiet_days\n"
#define REG "code,name,level,parent\n"

	fx_refused(fx, "officers", OFF "P1,LY-HBJ,x,C1,2026-01-02,2026-01-01\n",
		"line 2, column valid_to");
	fx_refused(fx, "officers", OFF "P1,LY-HBJ,x,C1,2026-01-02,\n", "line 2, column valid_to");
	fx_refused(fx, "officers", OFF "P1,LY-HBJ,x,,2026-01-02,2026-02-01\n",
		"line 2, column certificate");
	fx_refused(fx, "officers", OFF "P1,LY-HBJ,x,C1,2026-01-01,2026-02-01\n"
		"P1,LY-HBJ,y,C1,2026-01-01,2026-02-01\n", "id");
	fx_refused(fx, "enterprises", ENT "91410305MA45N8QX61,x,\n", "line 2, column uscc");
	static const char *const bad_days[] = { "0-5", "5-1", "1-32", "1,,2", "1-", "a", "1,",
		",1", "1-2-3" };
	for (size_t i = 0; i < sizeof(bad_days) / sizeof(bad_days[0]); i++) {
		char csv[128];
		snprintf(csv, sizeof(csv), ENT "91410305MA45N8QX60,x,\"%s\"\n", bad_days[i]);
		fx_refused(fx, "enterprises", csv, "line 2, column quiet_days");
	}
	fx_load(fx, "enterprises", ENT "91410305MA45N8QX60,x,\"31,1-1\"\n");
	assert_string_equal(quiet_verdict(fx, ENT_E, "2026-03-31T10:00:00+08:00"), "ENF-QUIET-DAY");
	assert_string_equal(quiet_verdict(fx, ENT_E, "2026-03-02T10:00:00+08:00"), "");
	fx_load(fx, "regions", REG "410000,河南省,province,\n410300,洛阳市,city,410000\n"
		"410302,老城区,county,410300\n419001,济源市,county,410000\n");
	fx_refused(fx, "regions", REG "410000,河南省,province,\n410302,老城区,county,410300\n",
		"parent");
	fx_refused(fx, "regions", REG "410000,河南省,province,\n410300,洛阳市,city,410000\n"
		"410301,x,province,\n410302,y,city,410300\n", "parent");
	fx_refused(fx, "regions", REG "410000,河南省,province,410000\n", "line 2, column parent");
	fx_refused(fx, "regions", REG "41000,河南省,province,\n", "line 2, column code");
	fx_refused(fx, "regions", REG "410000,河南省,state,\n", "line 2, column level");
	fx_refused(fx, "regions", REG "410300,洛阳市,city,\n", "line 2, column parent");
#undef OFF
#undef ENT
#undef REG
}

/* 行政处罚法 §42: two officers at least; one listed twice is one; min_officers moves it. */
static void test_single_officer(void **state)
{
	struct fx *fx = *state;
	const char *two = "[{\"id\":\"P0721\",\"certificate\":\"41030021003105\"},"
		"{\"id\":\"P0729\",\"certificate\":\"41030016000662\"}]";
	const char *twice = "[{\"id\":\"P0721\",\"certificate\":\"41030021003105\"},"
		"{\"id\":\"P0721\",\"certificate\":\"41030021003105\"}]";
	struct mon_error err;

	assert_string_equal(officer_verdict(fx, "LY-HBJ", "2026-03-10T10:00:00+08:00", two), "");
	assert_string_equal(officer_verdict(fx, "LY-HBJ", "2026-03-10T10:00:00+08:00",
		HBJ_OFFICER), "ENF-SINGLE-OFFICER");
	assert_string_equal(fx_cond(fx, "ENF-SINGLE-OFFICER")->message,
		"黄牌: 执法人员少于2人 (1 officer on the inspection)");
	assert_string_equal(fx_cond(fx, "ENF-SINGLE-OFFICER")->key,
		"ENF-SINGLE-OFFICER|LY-HBJ|JC-1|1");
	assert_string_equal(officer_verdict(fx, "LY-HBJ", "2026-03-10T10:00:00+08:00", twice),
		"ENF-SINGLE-OFFICER");
	/* an expired certificate is ENF-NO-CERT's, and still an officer here */
	assert_string_equal(officer_verdict(fx, "LY-HBJ", "2026-03-30T10:00:00+08:00", two),
		"ENF-NO-CERT");
	assert_true(mon_ruleset_set_param(fx->rs, "min_officers", 1, &err));
	assert_string_equal(officer_verdict(fx, "LY-HBJ", "2026-03-10T10:00:00+08:00",
		HBJ_OFFICER), "");
	assert_true(mon_ruleset_set_param(fx->rs, "min_officers", 3, &err));
	assert_string_equal(officer_verdict(fx, "LY-HBJ", "2026-03-10T10:00:00+08:00", two),
		"ENF-SINGLE-OFFICER");
	assert_string_equal(fx_cond(fx, "ENF-SINGLE-OFFICER")->message,
		"黄牌: 执法人员少于3人 (2 officers on the inspection)");
}

int main(int argc, char **argv);

#define TEST(f) cmocka_unit_test_setup_teardown(f, setup, fx_teardown)
static const struct CMUnitTest tests[] = {
	TEST(test_certificate_boundaries),
	TEST(test_certificate_faults),
	TEST(test_quiet_days),
	TEST(test_no_filing),
	TEST(test_repeat_window),
	TEST(test_repeat_chain_one_burst),
	TEST(test_multi_department),
	TEST(test_directory_loaders),
	cmocka_unit_test_setup_teardown(test_single_officer, setup_all, fx_teardown),
};

FX_MAIN(tests)
