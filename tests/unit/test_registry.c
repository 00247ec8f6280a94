/* test_registry.c: the rule registry as the public API shows it: every rule listed once
 * under a code that fits a condition, in the documented order of the families; every rule
 * can be switched off alone; every parameter of docs/rules.md is known by name, keeps its
 * default until set, and refuses a value out of range. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mon_rules.h"

static void test_codes_unique_and_fit(void **state)
{
	(void)state;
	assert_true(mon_rule_count() > 40);
	for (size_t i = 0; i < mon_rule_count(); i++) {
		const char *code = mon_rule_code(i);
		assert_non_null(code);
		assert_true(strlen(code) < MON_RULE_MAX);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(code, mon_rule_code(j));
	}
	assert_null(mon_rule_code(mon_rule_count()));
}

/* The families' order: the listing (esupctl rules, the rules table) groups each family. */
static void test_family_order(void **state)
{
	static const char *const prefixes[] = { "APR-", "FEE-", "PEN-", "ENF-", "CMP-", "TRD-",
		"STA-" };
	size_t p = 0;

	(void)state;
	assert_string_equal(mon_rule_code(0), "APR-DEADLINE-NOTICE");
	for (size_t i = 0; i < mon_rule_count(); i++) {
		const char *code = mon_rule_code(i);
		while (p < sizeof(prefixes) / sizeof(prefixes[0]) &&
				strncmp(code, prefixes[p], strlen(prefixes[p])) != 0)
			p++;
		assert_true(p < sizeof(prefixes) / sizeof(prefixes[0]));
	}
}

static void test_disable_one(void **state)
{
	(void)state;
	for (size_t i = 0; i < mon_rule_count(); i++) {
		struct mon_ruleset *rs = mon_ruleset_create();
		struct mon_error err;

		assert_non_null(rs);
		assert_true(mon_ruleset_disable_rule(rs, mon_rule_code(i), &err));
		for (size_t j = 0; j < mon_rule_count(); j++)
			assert_int_equal(mon_ruleset_rule_enabled(rs, j), i != j);
		mon_ruleset_destroy(rs);
	}
}

static void test_params(void **state)
{
	static const struct {
		const char *name;
		long long def, lo, hi;
	} params[] = {
		{ "warn_days", 2, 0, 3650 },
		{ "supervise_days", 3, 1, 3650 },
		{ "late_report_hours", 24, 1, 87600 },
		{ "first_offence_window_days", 365, 1, 3650 },
		{ "repeat_window_days", 30, 1, 3650 },
		{ "multi_window_days", 30, 1, 3650 },
		{ "min_officers", 2, 1, 50 },
		{ "complaint_reply_days", 5, 1, 3650 },
		{ "bid_min_days", 20, 1, 3650 },
		{ "opening_tolerance_minutes", 60, 0, 10080 },
		{ "stat_window_days", 30, 1, 366 },
	};
	struct mon_ruleset *rs = mon_ruleset_create();
	struct mon_error err;
	long long v;

	(void)state;
	assert_non_null(rs);
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		assert_true(mon_ruleset_get_param(rs, params[i].name, &v));
		assert_int_equal(v, params[i].def);
		assert_false(mon_ruleset_set_param(rs, params[i].name, params[i].lo - 1, &err));
		assert_string_equal(err.field, params[i].name);
		assert_false(mon_ruleset_set_param(rs, params[i].name, params[i].hi + 1, &err));
		assert_true(mon_ruleset_set_param(rs, params[i].name, params[i].hi, &err));
		assert_true(mon_ruleset_get_param(rs, params[i].name, &v));
		assert_int_equal(v, params[i].hi);
	}
	assert_false(mon_ruleset_get_param(rs, "no_such_param", &v));
	assert_false(mon_ruleset_set_param(rs, "no_such_param", 1, &err));
	mon_ruleset_destroy(rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codes_unique_and_fit),
		cmocka_unit_test(test_family_order),
		cmocka_unit_test(test_disable_one),
		cmocka_unit_test(test_params),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
