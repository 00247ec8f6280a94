/* fuzz_time.c: the scalar parsers on arbitrary text: RFC 3339 times, money strings, and
 * the check digits of party identifiers. Whatever a parser accepts must survive being
 * formatted and parsed again unchanged; a time refused with a hint must be refused, and the
 * hint's corrected example must parse; an impossible time is refused without a form hint; a
 * violation aborts. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mon_value.h"

#define INPUT_MAX 256

static void check_time(const char *s)
{
	char buf[40];
	int64_t at, again;
	int off, off_again;

	if (!mon_time_parse(s, &at, &off))
		return;
	if (off < -14 * 60 || off > 14 * 60)
		abort();
	mon_time_format(at, off, buf, sizeof(buf));
	if (!mon_time_parse(buf, &again, &off_again) || again != at || off_again != off)
		abort();
}

static void check_hint(const char *s)
{
	char buf[160];
	const char *example;
	int64_t at;
	int off;

	if (!mon_time_hint(s, buf, sizeof(buf)))
		return;
	if (mon_time_parse(s, &at, &off) || strlen(buf) >= sizeof(buf) - 1 ||
			(example = strstr(buf, ", such as ")) == NULL ||
			!mon_time_parse(example + strlen(", such as "), &at, &off))
		abort();
}

/* An impossible date or time is refused, names the part that does not exist, and gets no
 * form hint (its example could not parse). */
static void check_impossible(const char *s)
{
	char buf[160], hint[160];
	int64_t at;
	int off;

	if (!mon_time_impossible(s, buf, sizeof(buf)))
		return;
	if (mon_time_parse(s, &at, &off) || mon_time_hint(s, hint, sizeof(hint)) ||
			strlen(buf) >= sizeof(buf) - 1 || (strncmp(buf, "a date", 6) != 0 &&
			strncmp(buf, "a time", 6) != 0))
		abort();
}

static void check_money(const char *s, size_t len)
{
	char buf[24];
	int64_t fen, again;
	json_t *v = json_stringn(s, len);   /* NULL unless valid UTF-8: then nothing to do */
	json_t *formatted;

	if (v == NULL)
		return;
	if (mon_money_parse(v, &fen)) {
		if (fen < 0 || fen >= INT64_C(100000000000000))
			abort();
		mon_money_format(fen, buf, sizeof(buf));
		formatted = json_string(buf);
		if (!mon_money_parse(formatted, &again) || again != fen)
			abort();
		json_decref(formatted);
	}
	json_decref(v);
}

static void check_ids(const char *s)
{
	if ((mon_uscc_valid(s) || mon_citizen_id_valid(s)) && strlen(s) != 18)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[INPUT_MAX + 1];

	if (size > INPUT_MAX)
		size = INPUT_MAX;
	memcpy(s, data, size);
	s[size] = '\0';
	check_time(s);
	check_hint(s);
	check_impossible(s);
	check_money(s, strlen(s));
	check_ids(s);
	return 0;
}
