/* calendar.c: local days in Asia/Shanghai and the working-day calendar. The State Council
 * publishes the holidays and the worked weekend days (调休) each year and has revised them
 * mid-year, so they are data loaded from calendar.csv, never a formula; only the plain
 * weekday rule (Monday to Friday work) is built in. */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "mon_value.h"
#include "text.h"

#define SHANGHAI_OFFSET 28800    /* seconds east of UTC, all year since 1991 */
#define DAY 86400

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int32_t mon_day_of(int64_t epoch)
{
	/* Far beyond any date the parsers accept, but it keeps the sum and the day in range. */
	const int64_t limit = (int64_t)1 << 45;

	if (epoch > limit)
		epoch = limit;
	if (epoch < -limit)
		epoch = -limit;
	return (int32_t)floor_div(epoch + SHANGHAI_OFFSET, DAY);
}

int64_t mon_day_end(int32_t day)
{
	return ((int64_t)day + 1) * DAY - SHANGHAI_OFFSET;
}

void mon_day_format(int32_t day, char *buf, size_t len)
{
	char stamp[40];

	/* Noon of the day, written at +08:00, starts with the day's date. */
	mon_time_format(mon_day_end(day) - DAY / 2, SHANGHAI_OFFSET / 60, stamp, sizeof(stamp));
	snprintf(buf, len, "%.10s", stamp);
}

bool calendar_parse_date(const char *s, int32_t *day)
{
	static const char shape[] = "dddd-dd-dd";
	char stamp[40];
	int64_t epoch;
	int offset;

	if (strlen(s) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; shape[i] != '\0'; i++) {
		bool digit = s[i] >= '0' && s[i] <= '9';
		if (shape[i] == 'd' ? !digit : s[i] != shape[i])
			return false;
	}
	/* The time parser already refuses impossible dates such as 2026-02-29. */
	snprintf(stamp, sizeof(stamp), "%sT12:00:00+08:00", s);
	if (!mon_time_parse(stamp, &epoch, &offset) || epoch < 0)
		return false;
	*day = mon_day_of(epoch);
	return true;
}

/* 0 Sunday .. 6 Saturday; day 0 (1970-01-01) was a Thursday. */
static int weekday(int32_t day)
{
	return (int)(((int64_t)day % 7 + 7 + 4) % 7);
}

static bool is_weekend(int32_t day)
{
	int wd = weekday(day);

	return wd == 0 || wd == 6;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct cal_entry *x = a, *y = b;

	return (x->day > y->day) - (x->day < y->day);
}

static const struct cal_entry *calendar_find(const struct calendar *cal, int32_t day)
{
	struct cal_entry key = { .day = day };

	if (cal->count == 0)
		return NULL;
	return bsearch(&key, cal->entries, cal->count, sizeof(key), cmp_entry);
}

bool mon_ruleset_is_working_day(const struct mon_ruleset *rs, int32_t day)
{
	const struct cal_entry *e = calendar_find(&rs->calendar, day);

	if (e != NULL)
		return e->workday;
	return !is_weekend(day);
}

bool calendar_counts(const struct mon_ruleset *rs, enum mon_unit unit, int32_t day)
{
	return unit == MON_UNIT_CALENDAR || mon_ruleset_is_working_day(rs, day);
}

void calendar_finish(struct calendar *cal)
{
	free(cal->entries);
	cal->entries = NULL;
	cal->count = 0;
}

/* One data row into *e, with the reason when it is refused. */
static bool calendar_row(const struct csv_row *row, struct cal_entry *e, struct mon_error *err)
{
	const char *kind;

	if (row->count < 3) {
		csv_error(err, row, "name", "3 fields: date,kind,name", "");
		return false;
	}
	kind = row->fields[1];
	if (!calendar_parse_date(row->fields[0], &e->day)) {
		csv_error(err, row, "date", "a real date YYYY-MM-DD from 1970 on", row->fields[0]);
		return false;
	}
	if (strcmp(kind, "holiday") != 0 && strcmp(kind, "workday") != 0) {
		csv_error(err, row, "kind", "holiday or workday", kind);
		return false;
	}
	e->workday = strcmp(kind, "workday") == 0;
	/* A worked weekday is already a working day: such a row is a slip in the data. */
	if (e->workday && !is_weekend(e->day)) {
		csv_error(err, row, "kind", "workday only on a Saturday or Sunday", row->fields[0]);
		return false;
	}
	return true;
}

static bool calendar_header(struct csv_reader *r, struct mon_error *err)
{
	struct csv_row *row = malloc(sizeof(*row));
	bool ok;

	if (row == NULL) {
		mon_error_set_text(err, "", "memory for the calendar", "out of memory");
		return false;
	}
	ok = csv_next(r, row, err) == CSV_ROW;
	if (ok && (row->count < 3 || strcmp(row->fields[0], "date") != 0 ||
			strcmp(row->fields[1], "kind") != 0 || strcmp(row->fields[2], "name") != 0)) {
		mon_error_set_text(err, "line 1", "the header date,kind,name", row->fields[0]);
		ok = false;
	} else if (!ok && err->field[0] == '\0') {
		mon_error_set_text(err, "line 1", "the header date,kind,name", "(empty file)");
	}
	free(row);
	return ok;
}

/* Reads every data row into cal (unsorted). */
static bool calendar_rows(struct csv_reader *r, struct calendar *cal, struct mon_error *err)
{
	struct csv_row *row = malloc(sizeof(*row));
	enum csv_result res = CSV_ERROR;
	size_t cap = 0;

	while (row != NULL && (res = csv_next(r, row, err)) == CSV_ROW) {
		if (cal->count == CALENDAR_ROWS_MAX) {
			csv_error(err, row, "date", "at most 100000 calendar rows", "");
			res = CSV_ERROR;
			break;
		}
		if (cal->count == cap) {
			size_t ncap = cap == 0 ? 256 : cap * 2;
			struct cal_entry *n = realloc(cal->entries, ncap * sizeof(*n));
			if (n == NULL) {
				res = CSV_ERROR;
				mon_error_set_text(err, "", "memory for the calendar", "out of memory");
				break;
			}
			cal->entries = n;
			cap = ncap;
		}
		if (!calendar_row(row, &cal->entries[cal->count], err)) {
			res = CSV_ERROR;
			break;
		}
		cal->count++;
	}
	if (row == NULL)
		mon_error_set_text(err, "", "memory for the calendar", "out of memory");
	free(row);
	return row != NULL && res == CSV_END;
}

static bool calendar_unique(const struct calendar *cal, struct mon_error *err)
{
	char date[16];

	for (size_t i = 1; i < cal->count; i++) {
		if (cal->entries[i].day == cal->entries[i - 1].day) {
			mon_day_format(cal->entries[i].day, date, sizeof(date));
			mon_error_set_text(err, "date", "each date at most once", date);
			return false;
		}
	}
	return true;
}

bool mon_ruleset_load_calendar(struct mon_ruleset *rs, const char *csv, size_t len,
		struct mon_error *err)
{
	struct calendar cal = { .entries = NULL, .count = 0 };
	struct csv_reader r;

	mon_error_clear(err);
	csv_init(&r, csv, len);
	if (!calendar_header(&r, err) || !calendar_rows(&r, &cal, err)) {
		calendar_finish(&cal);
		return false;
	}
	if (cal.count > 0)
		qsort(cal.entries, cal.count, sizeof(cal.entries[0]), cmp_entry);
	if (!calendar_unique(&cal, err)) {
		calendar_finish(&cal);
		return false;
	}
	calendar_finish(&rs->calendar);
	rs->calendar = cal;
	return true;
}
