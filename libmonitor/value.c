/* value.c: the scalar values of the protocol: RFC 3339 times, money in fen, and the
 * check digits of party identifiers. Everything is parsed by hand, byte by byte, so the
 * result never depends on the locale, the TZ variable or the C library's time code. */
#include "mon_value.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define YEAR_MIN MON_TIME_YEAR_MIN
#define YEAR_MAX MON_TIME_YEAR_MAX
#define OFFSET_MAX_MIN MON_TIME_OFFSET_MAX_MIN
#define FRACTION_DIGITS_MAX MON_TIME_FRACTION_DIGITS_MAX
#define YUAN_LIMIT MON_MONEY_YUAN_LIMIT   /* numeric(14,2) holds 12 integer digits */
#define MONEY_TEXT_MAX MON_MONEY_TEXT_MAX
/* mon_time_format clamps to this range (0000-01-01 to 10000-01-01T23:59:59Z): it covers
 * every instant mon_time_parse can return, at any offset, and keeps the arithmetic exact. */
#define EPOCH_FORMAT_MIN INT64_C(-62167219200)
#define EPOCH_FORMAT_MAX INT64_C(253402387199)

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && is_leap(y))
		return 29;
	return days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil):
 * exact for every year, with no table and no library time code. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

/* The inverse of days_from_civil. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* Reads exactly n decimal digits at *p and advances past them. */
static bool take_digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool take_char(const char **p, char a, char b)
{
	if (**p != a && **p != b)
		return false;
	(*p)++;
	return true;
}

/* "Z", "z", "+hh:mm" or "-hh:mm", and then the end of the string. */
static bool parse_offset(const char *p, int *offset_min)
{
	int hh, mm;
	int sign;

	if (take_char(&p, 'Z', 'z')) {
		*offset_min = 0;
		return *p == '\0';
	}
	if (*p != '+' && *p != '-')
		return false;
	sign = *p == '-' ? -1 : 1;
	p++;
	if (!take_digits(&p, 2, &hh) || !take_char(&p, ':', ':') || !take_digits(&p, 2, &mm))
		return false;
	if (*p != '\0' || mm > 59 || hh * 60 + mm > OFFSET_MAX_MIN)
		return false;
	*offset_min = sign * (hh * 60 + mm);
	return true;
}

static bool skip_fraction(const char **p)
{
	int n = 0;

	if (**p != '.')
		return true;
	(*p)++;
	while (**p >= '0' && **p <= '9' && n <= FRACTION_DIGITS_MAX) {
		(*p)++;
		n++;
	}
	return n >= 1 && n <= FRACTION_DIGITS_MAX;
}

bool mon_time_parse(const char *s, int64_t *epoch, int *offset_min)
{
	const char *p = s;
	int y, mo, d, h, mi, sec, off;

	if (s == NULL)
		return false;
	if (!take_digits(&p, 4, &y) || !take_char(&p, '-', '-') || !take_digits(&p, 2, &mo) ||
			!take_char(&p, '-', '-') || !take_digits(&p, 2, &d) ||
			!take_char(&p, 'T', 't') || !take_digits(&p, 2, &h) ||
			!take_char(&p, ':', ':') || !take_digits(&p, 2, &mi) ||
			!take_char(&p, ':', ':') || !take_digits(&p, 2, &sec) ||
			!skip_fraction(&p) || !parse_offset(p, &off))
		return false;
	if (y < YEAR_MIN || y > YEAR_MAX || mo < 1 || mo > 12 || d < 1 ||
			d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
		return false;
	*epoch = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
		(int64_t)off * 60;
	*offset_min = off;
	return true;
}

/* The offset of a date-time in a wrong form: "" (none), "Z", "+hh:mm", or Java's "+hhmm"
 * and "+hh"; *colon tells whether the colon was there. Ends the string. */
static bool parse_loose_offset(const char *p, char *sign, int *hh, int *mm, bool *none,
		bool *colon)
{
	*none = *p == '\0';
	*colon = true;
	*hh = 0;
	*mm = 0;
	*sign = 'Z';
	if (*none)
		return true;
	if (take_char(&p, 'Z', 'z'))
		return *p == '\0';
	if (*p != '+' && *p != '-')
		return false;
	*sign = *p++;
	if (!take_digits(&p, 2, hh))
		return false;
	if (take_char(&p, ':', ':')) {
		if (!take_digits(&p, 2, mm))
			return false;
	} else {
		*colon = false;
		if (*p != '\0' && !take_digits(&p, 2, mm))
			return false;
	}
	return *p == '\0' && *mm <= 59 && *hh * 60 + *mm <= OFFSET_MAX_MIN;
}

/* A date-time read loosely: the strict form, or one of the common wrong ones (a space for
 * 'T', no seconds, a loose offset). Only the shape is checked, not whether the date and
 * time exist. */
struct loose_time {
	int y, mo, d, h, mi, sec;
	bool space, seconds;          /* a space for 'T'; seconds were there */
	const char *frac;             /* the fraction as sent, "" when none */
	int frac_len;
	char sign;                    /* 'Z', '+' or '-' */
	int oh, om;
	bool none, colon;             /* no offset; a colon in it */
};

static bool parse_loose(const char *s, struct loose_time *t)
{
	const char *p = s;
	char sep;

	if (s == NULL || !take_digits(&p, 4, &t->y) || !take_char(&p, '-', '-') ||
			!take_digits(&p, 2, &t->mo) || !take_char(&p, '-', '-') ||
			!take_digits(&p, 2, &t->d))
		return false;
	sep = *p;
	if (sep != 'T' && sep != 't' && sep != ' ')
		return false;
	p++;
	t->space = sep == ' ';
	if (!take_digits(&p, 2, &t->h) || !take_char(&p, ':', ':') || !take_digits(&p, 2, &t->mi))
		return false;
	/* Java's OffsetDateTime.toString() leaves out zero seconds (and then any fraction) */
	t->seconds = take_char(&p, ':', ':');
	t->sec = 0;
	if (t->seconds && !take_digits(&p, 2, &t->sec))
		return false;
	t->frac = p;
	if (t->seconds && !skip_fraction(&p))
		return false;
	t->frac_len = (int)(p - t->frac);
	return parse_loose_offset(p, &t->sign, &t->oh, &t->om, &t->none, &t->colon);
}

static const char *const month_names[12] = {
	"January", "February", "March", "April", "May", "June", "July", "August", "September",
	"October", "November", "December",
};

static bool loose_exists(const struct loose_time *t)
{
	return t->y >= YEAR_MIN && t->y <= YEAR_MAX && t->mo >= 1 && t->mo <= 12 && t->d >= 1 &&
		t->d <= days_in_month(t->y, t->mo) && t->h <= 23 && t->mi <= 59 && t->sec <= 59;
}

/* Why the date or time of t does not exist; false when it does. */
static bool describe_impossible(const struct loose_time *t, char *buf, size_t len)
{
	if (loose_exists(t))
		return false;
	if (t->y < YEAR_MIN || t->y > YEAR_MAX)
		snprintf(buf, len, "a date from %d to %d (no year %04d here)", YEAR_MIN, YEAR_MAX,
			t->y);
	else if (t->mo < 1 || t->mo > 12)
		snprintf(buf, len, "a date that exists (no such month: %02d; months are 01 to 12)",
			t->mo);
	else if (t->d < 1 || t->d > days_in_month(t->y, t->mo))
		snprintf(buf, len, "a date that exists (no such day: %s %d has %d days)",
			month_names[t->mo - 1], t->y, days_in_month(t->y, t->mo));
	else if (t->h > 23)
		snprintf(buf, len, "a time that exists (no such hour: %02d; hours are 00 to 23, and "
			"midnight ending a day is 00:00:00 of the next)", t->h);
	else if (t->mi > 59)
		snprintf(buf, len, "a time that exists (no such minute: %02d; minutes are 00 to 59)",
			t->mi);
	else
		snprintf(buf, len, "a time that exists (no such second: %02d; seconds are 00 to 59, "
			"leap seconds are not sent)", t->sec);
	return true;
}

bool mon_time_impossible(const char *s, char *buf, size_t len)
{
	struct loose_time t;
	int64_t scratch;
	int off;

	if (s == NULL || buf == NULL || len == 0 || mon_time_parse(s, &scratch, &off) ||
			!parse_loose(s, &t))
		return false;
	return describe_impossible(&t, buf, len);
}

bool mon_time_hint(const char *s, char *buf, size_t len)
{
	struct loose_time t;
	int64_t scratch;
	int off;
	char offset[8];
	const char *parts[3];
	size_t n = 0;

	if (s == NULL || buf == NULL || len == 0 || mon_time_parse(s, &scratch, &off) ||
			!parse_loose(s, &t) || !loose_exists(&t))
		return false;
	if (t.space)
		parts[n++] = "T between date and time";
	if (!t.seconds)
		parts[n++] = "seconds";
	if (t.none)
		parts[n++] = "an offset";
	else if (!t.colon)
		parts[n++] = "a colon in the offset";
	if (n == 0)   /* every part right: only mon_time_parse's own range could refuse it */
		return false;
	if (t.none)
		snprintf(offset, sizeof(offset), "+08:00");
	else if (t.sign == 'Z')
		snprintf(offset, sizeof(offset), "Z");
	else
		snprintf(offset, sizeof(offset), "%c%02d:%02d", t.sign, t.oh, t.om);
	if (n == 1 && !t.seconds)   /* only the seconds are missing: Java's toString() */
		snprintf(buf, len, "an RFC 3339 date-time: seconds are required, such as "
			"%04d-%02d-%02dT%02d:%02d:00%s", t.y, t.mo, t.d, t.h, t.mi, offset);
	else
		snprintf(buf, len, "an RFC 3339 date-time with %s%s%s%s%s, such as "
			"%04d-%02d-%02dT%02d:%02d:%02d%.*s%s", parts[0],
			n == 3 ? ", " : n == 2 ? " and " : "", n >= 2 ? parts[1] : "",
			n == 3 ? " and " : "", n == 3 ? parts[2] : "",
			t.y, t.mo, t.d, t.h, t.mi, t.sec, t.frac_len, t.frac, offset);
	return true;
}

/* Floor division, so that instants before 1970 land on the right day. */
static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

void mon_time_format(int64_t epoch, int offset_min, char *buf, size_t len)
{
	char off[8];
	int64_t local, days, secs, y;
	int m, d, a;

	if (buf == NULL || len == 0)
		return;
	if (offset_min < -OFFSET_MAX_MIN || offset_min > OFFSET_MAX_MIN)
		offset_min = 0;
	if (epoch < EPOCH_FORMAT_MIN)
		epoch = EPOCH_FORMAT_MIN;
	if (epoch > EPOCH_FORMAT_MAX)
		epoch = EPOCH_FORMAT_MAX;
	local = epoch + (int64_t)offset_min * 60;
	days = floor_div(local, 86400);
	secs = local - days * 86400;
	civil_from_days(days, &y, &m, &d);
	a = offset_min < 0 ? -offset_min : offset_min;
	if (offset_min == 0)
		snprintf(off, sizeof(off), "Z");
	else
		snprintf(off, sizeof(off), "%c%02d:%02d", offset_min < 0 ? '-' : '+', a / 60, a % 60);
	snprintf(buf, len, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d%s", y, m, d,
		(int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60), off);
}

/* "1234.50", "15000", "0.5": digits, then optionally '.' and one or two digits. */
static bool money_from_text(const char *s, size_t len, int64_t *fen)
{
	int64_t yuan = 0, cents = 0;
	size_t i = 0;

	if (len == 0 || len > MONEY_TEXT_MAX || s[0] < '0' || s[0] > '9')
		return false;
	for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		yuan = yuan * 10 + (s[i] - '0');
		if (yuan >= YUAN_LIMIT)
			return false;
	}
	if (i < len) {
		size_t decimals = len - i - 1;
		if (s[i] != '.' || decimals < 1 || decimals > 2)
			return false;
		for (size_t j = i + 1; j < len; j++) {
			if (s[j] < '0' || s[j] > '9')
				return false;
			cents = cents * 10 + (s[j] - '0');
		}
		if (decimals == 1)
			cents *= 10;
	}
	*fen = yuan * 100 + cents;
	return true;
}

/* A JSON real is accepted when it is exactly the double nearest to some amount with at
 * most two decimals: fen / 100.0 is correctly rounded, so comparing it with x is exact,
 * where a fixed tolerance would refuse large amounts (1234567890.12 * 100 is not an
 * integer in binary) and accept tiny ones (1e-9 would pass as 0 fen). */
static bool money_from_real(double x, int64_t *fen)
{
	double r;

	if (!isfinite(x) || x < 0 || x >= (double)YUAN_LIMIT)
		return false;
	r = round(x * 100.0);
	if (r >= (double)YUAN_LIMIT * 100.0 || r / 100.0 != x)
		return false;
	*fen = (int64_t)r;
	return true;
}

bool mon_money_parse(const json_t *value, int64_t *fen)
{
	if (json_is_string(value))
		return money_from_text(json_string_value(value), json_string_length(value), fen);
	if (json_is_integer(value)) {
		json_int_t v = json_integer_value(value);
		if (v < 0 || v >= YUAN_LIMIT)
			return false;
		*fen = (int64_t)v * 100;
		return true;
	}
	if (json_is_real(value))
		return money_from_real(json_real_value(value), fen);
	return false;
}

void mon_money_format(int64_t fen, char *buf, size_t len)
{
	/* Through unsigned, so that even INT64_MIN has a magnitude. */
	uint64_t mag = fen < 0 ? (uint64_t)0 - (uint64_t)fen : (uint64_t)fen;

	if (buf == NULL || len == 0)
		return;
	snprintf(buf, len, "%s%" PRIu64 ".%02" PRIu64, fen < 0 ? "-" : "", mag / 100, mag % 100);
}

bool mon_uscc_valid(const char *s)
{
	static const char charset[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
	static const int weights[17] = {
		1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28
	};
	int sum = 0;

	if (s == NULL || strlen(s) != 18)
		return false;
	for (int i = 0; i < 17; i++) {
		const char *pos = s[i] != '\0' ? strchr(charset, s[i]) : NULL;
		if (pos == NULL)
			return false;
		sum += (int)(pos - charset) * weights[i];
	}
	return s[17] != '\0' && s[17] == charset[(31 - sum % 31) % 31];
}

/* The birth date in a resident identity number: a real day, not before 1900. */
static bool birth_date_valid(const char *s)
{
	const char *p = s;
	int y, m, d;

	if (!take_digits(&p, 4, &y) || !take_digits(&p, 2, &m) || !take_digits(&p, 2, &d))
		return false;
	return y >= 1900 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

bool mon_citizen_id_valid(const char *s)
{
	static const char check[] = "10X98765432";
	int sum = 0, weight = 1;

	if (s == NULL || strlen(s) != 18)
		return false;
	/* Weight of position i is 2^(17-i) mod 11: walk from the right, doubling. */
	for (int i = 16; i >= 0; i--) {
		weight = weight * 2 % 11;
		if (s[i] < '0' || s[i] > '9')
			return false;
		sum += (s[i] - '0') * weight;
	}
	return s[17] == check[sum % 11] && birth_date_valid(s + 6);
}
