/* test_check.c: the pure check of daemon/check.c: a conninfo names no DNS host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"

static void
expect(bool (*check)(const char *, char *, size_t), const char *value, bool ok, const char *words)
{
	char why[512] = "";

	if (check(value, why, sizeof(why)) != ok)
		fail_msg("%s: expected %s (%s)", value, ok ? "ok" : "refused", why);
	if (!ok && strstr(why, words) == NULL)
		fail_msg("%s: message '%s' does not say '%s'", value, why, words);
}

static void
test_conninfo(void **state)
{
	(void)state;
	expect(check_conninfo, "host=/var/run/postgresql dbname=esup user=esupd", true, NULL);
	expect(check_conninfo, "host=127.0.0.1 port=5432 dbname=esup", true, NULL);
	expect(check_conninfo, "host=::1 dbname=esup", true, NULL);
	expect(check_conninfo, "hostaddr=192.0.2.1 dbname=esup", true, NULL);
	expect(check_conninfo, "dbname=esup", true, NULL);
	expect(check_conninfo, "postgresql://esupd@127.0.0.1/esup", true, NULL);
	expect(check_conninfo, "host=/run/postgresql,10.0.0.2 dbname=esup", true, NULL);
	expect(check_conninfo, "host=db.example.org dbname=esup", false, "host=db.example.org is a DNS host name");
	expect(check_conninfo, "host=localhost", false, "host=localhost");
	expect(check_conninfo, "host=/run/postgresql,db2 dbname=esup", false, "host=db2 is a DNS");
	expect(check_conninfo, "postgresql://esupd@db.example.org/esup", false, "db.example.org");
	expect(check_conninfo, "host=/tmp colour=red", false, "not a libpq connection string");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conninfo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
