/* mon_value.h: parsers for the scalar values of the protocol: RFC 3339 times, money,
 * party identifiers. Bounded, locale-independent, no allocation. */
#ifndef MON_VALUE_H
#define MON_VALUE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

/* The bounds of the values below; mon_event_schema states them in its patterns. */
#define MON_TIME_YEAR_MIN 1970
#define MON_TIME_YEAR_MAX 9999
#define MON_TIME_OFFSET_MAX_MIN (14 * 60)     /* UTC+14 (Kiribati) and UTC-12 are the real extremes */
#define MON_TIME_FRACTION_DIGITS_MAX 9        /* nanoseconds; anything finer is noise */
#define MON_SHANGHAI_OFFSET_MIN (8 * 60)      /* Asia/Shanghai: +08:00 all year since 1991 */
#define MON_MONEY_YUAN_LIMIT INT64_C(1000000000000)   /* 10^12 yuan: numeric(14,2) */
#define MON_MONEY_TEXT_MAX 32                 /* bytes of an amount written as a string */

/* "2026-03-02T09:15:00+08:00" (also 'Z', fractional seconds, lower-case t/z). The offset
 * is required; impossible dates (2026-02-30, 25:00) are refused. */
bool mon_time_parse(const char *s, int64_t *epoch, int *offset_min)
	__attribute__((warn_unused_result));

/* When s is a date-time in a common wrong form (Java's "+0800" or "+08" offset, no offset,
 * a space instead of 'T', no seconds as Java's OffsetDateTime.toString() writes 09:15, or
 * several of these), writes what to send instead into buf: what was missing and the same
 * date and time in RFC 3339, e.g. "an RFC 3339 date-time with a colon in the offset, such
 * as 2026-03-02T10:00:00+08:00", or "an RFC 3339 date-time: seconds are required, such as
 * 2026-11-20T09:15:00+08:00" (at most 130 bytes), and returns true. A missing offset is
 * written +08:00 (China Standard Time, the departments' own). False, buf untouched, for a
 * valid time, an impossible date or clock time, and any other form. */
bool mon_time_hint(const char *s, char *buf, size_t len);

/* When s has the form of a date-time (RFC 3339, or one of the wrong forms mon_time_hint
 * knows) but its date or clock time does not exist, writes which part and why into buf,
 * e.g. "a date that exists (no such day: February 2026 has 28 days)", "a time that exists
 * (no such minute: 60; minutes are 00 to 59)" (at most 130 bytes), and returns true; also
 * for a year outside MON_TIME_YEAR_MIN..MAX. False, buf untouched, otherwise. */
bool mon_time_impossible(const char *s, char *buf, size_t len);

/* Writes RFC 3339 for epoch at the given offset: "2026-03-02T09:15:00+08:00". buf >= 32. */
void mon_time_format(int64_t epoch, int offset_min, char *buf, size_t len);

/* Yuan as a JSON string ("1234.50", "15000") or number (at most two decimals),
 * non-negative, below 10^12 yuan; result in integer fen. */
bool mon_money_parse(const json_t *value, int64_t *fen)
	__attribute__((warn_unused_result));

/* Formats fen as yuan with two decimals: "1234.50". buf >= 24. */
void mon_money_format(int64_t fen, char *buf, size_t len);

/* Unified social credit code (统一社会信用代码, GB 32100-2015): 18 characters, check digit. */
bool mon_uscc_valid(const char *s);

/* Resident identity number (GB 11643-1999): 18 characters, ISO 7064 MOD 11-2 check. */
bool mon_citizen_id_valid(const char *s);

#endif
