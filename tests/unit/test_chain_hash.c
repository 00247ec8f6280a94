/* test_chain_hash.c: the canonical encoding and hash of an event-chain link
 * (contrib/chain_hash.c) against a vector computed independently (Python hashlib); the
 * integration test test_event_chain.py checks the SQL function of migration 012 against the
 * same vector. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "chain_hash.h"

static const char *const vector[CHAIN_FIELDS] = {
	"42", "LY-SCJGJ", "sj-1", "1772414100000000", "approval.accepted", "1772414100000000",
	NULL, "SCJG-001", "abababababababababababababababababababababababababababababababab",
	"{\"a\": 1, \"名\": \"洛阳\"}",
};

static const char zero[] = "0000000000000000000000000000000000000000000000000000000000000000";

static void
test_encoding(void **state)
{
	static const char want[] = "esup-chain-v12:42,8:LY-SCJGJ,4:sj-1,16:1772414100000000,"
		"17:approval.accepted,16:1772414100000000,~,8:SCJG-001,64:"
		"abababababababababababababababababababababababababababababababab,"
		"25:{\"a\": 1, \"名\": \"洛阳\"},";   /* 25: bytes, not characters */
	unsigned char buf[512], small[10];

	(void)state;
	assert_int_equal(chain_encode(vector, buf, sizeof(buf)), strlen(want));
	assert_memory_equal(buf, want, strlen(want));
	/* Too small a buffer: cut, but the full length is returned. */
	assert_int_equal(chain_encode(vector, small, sizeof(small)), strlen(want));
	assert_memory_equal(small, want, sizeof(small));
}

static void
test_hash(void **state)
{
	char out[CHAIN_HEX_LEN + 1];
	const char *fields[CHAIN_FIELDS];

	(void)state;
	assert_true(chain_hash_hex(zero, vector, out));
	assert_string_equal(out, "28fcd844a780a47de8e4cc6e8fae7dd278630da0e692ceb8a7e82f15ca7e31cf");
	assert_true(chain_hash_hex("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		vector, out));
	assert_string_equal(out, "31a08e3155899efe70af6a9b18b4e64eefd8475e943407250caf339c25bd211b");
	/* NULL and the empty string differ; so does moving a byte between fields. */
	memcpy(fields, vector, sizeof(fields));
	fields[CHAIN_CASE_NO] = "";
	assert_true(chain_hash_hex(zero, fields, out));
	assert_string_not_equal(out, "28fcd844a780a47de8e4cc6e8fae7dd278630da0e692ceb8a7e82f15ca7e31cf");
	fields[CHAIN_CASE_NO] = NULL;
	fields[CHAIN_DEPT] = "LY-SCJG";
	fields[CHAIN_EVENT_ID] = "Jsj-1";
	assert_true(chain_hash_hex(zero, fields, out));
	assert_string_not_equal(out, "28fcd844a780a47de8e4cc6e8fae7dd278630da0e692ceb8a7e82f15ca7e31cf");
}

static void
test_bad_prev(void **state)
{
	char out[CHAIN_HEX_LEN + 1];

	(void)state;
	assert_false(chain_hash_hex("00", vector, out));
	assert_false(chain_hash_hex("000000000000000000000000000000000000000000000000000000000000000g",
		vector, out));
	assert_false(chain_hash_hex("000000000000000000000000000000000000000000000000000000000000000A",
		vector, out));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encoding),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_bad_prev),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
