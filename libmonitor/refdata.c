/* refdata.c: the reference tables by name, and the one loader that reads any supervision
 * table from CSV: the header must be the table's columns exactly (the database exports the
 * same table with the same header, so an extra column is a mistake, not an extension),
 * every row is parsed by the table's own row function, the rows are sorted and checked for
 * duplicates, and only a wholly good file replaces what the ruleset had. */
#include "refdata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mon_value.h"
#include "text.h"

/* Every table mon_ruleset_load takes, in the order of mon_refdata_name(). */
static const char *const table_names[] = {
	"calendar", "items", "fee_items", "penalty_tiers", "filing_offices", "officers",
	"enterprises", "regions", "hearing_thresholds",
};
#define TABLE_NAMES (sizeof(table_names) / sizeof(table_names[0]))

static const struct table_def *const defs[TABLE__COUNT] = {
	[TABLE_FEE_ITEMS] = &fee_items_def,
	[TABLE_PENALTY_TIERS] = &penalty_tiers_def,
	[TABLE_FILING_OFFICES] = &filing_offices_def,
	[TABLE_OFFICERS] = &officers_def,
	[TABLE_ENTERPRISES] = &enterprises_def,
	[TABLE_REGIONS] = &regions_def,
	[TABLE_HEARING_THRESHOLDS] = &hearing_thresholds_def,
};

size_t mon_refdata_count(void)
{
	return TABLE_NAMES;
}

const char *mon_refdata_name(size_t i)
{
	return i < TABLE_NAMES ? table_names[i] : NULL;
}

void table_finish(struct table *t)
{
	free(t->rows);
	t->rows = NULL;
	t->count = 0;
}

bool table_has_rows(const struct mon_ruleset *rs, enum table_id id)
{
	return rs->tables[id].count > 0;
}

const void *table_find(const struct mon_ruleset *rs, enum table_id id, const void *key)
{
	const struct table *t = &rs->tables[id];

	if (t->count == 0)
		return NULL;
	return bsearch(key, t->rows, t->count, defs[id]->row_size, defs[id]->cmp);
}

static bool header_exact(const struct table_def *def, const struct csv_row *row,
		struct mon_error *err)
{
	char expected[sizeof(err->expected)];
	size_t used = (size_t)snprintf(expected, sizeof(expected), "the header ");
	bool ok = row->count == def->column_count;

	for (size_t i = 0; i < def->column_count && used < sizeof(expected); i++) {
		used += (size_t)snprintf(expected + used, sizeof(expected) - used, "%s%s",
			i > 0 ? "," : "", def->columns[i]);
		if (ok && strcmp(row->fields[i], def->columns[i]) != 0)
			ok = false;
	}
	if (!ok)
		mon_error_set_text(err, "line 1", expected, row->count > 0 ? row->fields[0] : "");
	return ok;
}

static bool table_grow(struct table *t, size_t row_size, size_t *cap, struct mon_error *err)
{
	size_t ncap;
	void *n;

	if (t->count < *cap)
		return true;
	ncap = *cap == 0 ? 64 : *cap * 2;
	n = realloc(t->rows, ncap * row_size);
	if (n == NULL) {
		mon_error_set_text(err, "", "memory for the reference table", "out of memory");
		return false;
	}
	t->rows = n;
	*cap = ncap;
	return true;
}

/* The header, then every row into t (unsorted). */
static bool table_read(const struct table_def *def, struct csv_reader *r, struct table *t,
		struct mon_error *err)
{
	struct csv_row *row = malloc(sizeof(*row));
	enum csv_result res;
	char expected[64];
	size_t cap = 0;

	if (row == NULL) {
		mon_error_set_text(err, "", "memory for the reference table", "out of memory");
		return false;
	}
	res = csv_next(r, row, err);
	if (res == CSV_END)
		mon_error_set_text(err, "line 1", "a header row", "(empty file)");
	if (res != CSV_ROW || !header_exact(def, row, err))
		res = CSV_ERROR;
	while (res != CSV_ERROR && (res = csv_next(r, row, err)) == CSV_ROW) {
		if (row->count != def->column_count) {
			snprintf(expected, sizeof(expected), "%zu fields, as in the header",
				def->column_count);
			csv_error(err, row, def->columns[0], expected, "");
			res = CSV_ERROR;
		} else if (t->count == def->rows_max) {
			snprintf(expected, sizeof(expected), "at most %zu rows", def->rows_max);
			csv_error(err, row, def->columns[0], expected, "");
			res = CSV_ERROR;
		} else if (!table_grow(t, def->row_size, &cap, err) ||
				!def->row(row, (char *)t->rows + t->count * def->row_size, err)) {
			res = CSV_ERROR;
		} else {
			t->count++;
		}
	}
	free(row);
	return res == CSV_END;
}

static bool table_unique(const struct table_def *def, const struct table *t,
		struct mon_error *err)
{
	const char *rows = t->rows;

	for (size_t i = 1; i < t->count; i++) {
		const char *a = rows + (i - 1) * def->row_size, *b = rows + i * def->row_size;
		if (def->cmp(a, b) == 0) {
			/* Every row type starts with its first column's text. */
			mon_error_set_text(err, def->columns[0], def->unique, b);
			return false;
		}
	}
	return true;
}

static bool table_load(struct mon_ruleset *rs, enum table_id id, const char *csv, size_t len,
		struct mon_error *err)
{
	const struct table_def *def = defs[id];
	struct table t = { .rows = NULL, .count = 0 };
	struct csv_reader r;

	csv_init(&r, csv, len);
	if (!table_read(def, &r, &t, err)) {
		table_finish(&t);
		return false;
	}
	if (t.count > 1)
		qsort(t.rows, t.count, def->row_size, def->cmp);
	if (!table_unique(def, &t, err) || (def->check != NULL && !def->check(&t, err))) {
		table_finish(&t);
		return false;
	}
	table_finish(&rs->tables[id]);
	rs->tables[id] = t;
	return true;
}

bool mon_ruleset_load(struct mon_ruleset *rs, const char *table, const char *csv, size_t len,
		struct mon_error *err)
{
	mon_error_clear(err);
	if (strcmp(table, "calendar") == 0)
		return mon_ruleset_load_calendar(rs, csv, len, err);
	if (strcmp(table, "items") == 0)
		return mon_ruleset_load_items(rs, csv, len, err);
	for (size_t i = 0; i < TABLE__COUNT; i++) {
		if (strcmp(defs[i]->name, table) == 0)
			return table_load(rs, (enum table_id)i, csv, len, err);
	}
	mon_error_set_text(err, "", "a reference table such as calendar, items, fee_items, "
		"penalty_tiers, filing_offices, officers, enterprises, regions or hearing_thresholds",
		table);
	return false;
}

static bool is_code(const char *s, const char *punct)
{
	return mon_text_is_token(s, strlen(s), MON_CODE_MAX, punct);
}

bool ref_code(const struct csv_row *row, size_t col, const char *column, const char *punct,
		char *out, struct mon_error *err)
{
	char expected[96];

	if (!is_code(row->fields[col], punct)) {
		snprintf(expected, sizeof(expected), "a code of 1 to 64 characters from "
			"A-Z a-z 0-9 %s", punct);
		csv_error(err, row, column, expected, row->fields[col]);
		return false;
	}
	memcpy(out, row->fields[col], strlen(row->fields[col]) + 1);
	return true;
}

bool ref_name(const struct csv_row *row, size_t col, const char *column, bool optional,
		char *out, struct mon_error *err)
{
	const char *s = row->fields[col];
	size_t len = strlen(s);

	if ((len == 0 && !optional) || len > REF_NAME_MAX || !mon_text_is_clean(s, len)) {
		csv_error(err, row, column, optional ? "at most 256 bytes of UTF-8 text" :
			"1 to 256 bytes of UTF-8 text", s);
		return false;
	}
	memcpy(out, s, len + 1);
	return true;
}

bool ref_money(const struct csv_row *row, size_t col, const char *column, bool optional,
		int64_t *fen, struct mon_error *err)
{
	const char *s = row->fields[col];
	json_t *v;
	bool ok;

	if (s[0] == '\0' && optional) {
		*fen = NO_CAP;
		return true;
	}
	/* The wire's parser, through a JSON string: exact decimal, never a float. */
	v = json_string(s);
	ok = v != NULL && mon_money_parse(v, fen);
	json_decref(v);
	if (!ok)
		csv_error(err, row, column, optional ? "empty, or yuan with at most two decimals "
			"such as 3000.00" : "yuan with at most two decimals such as 3000.00", s);
	return ok;
}

bool ref_date(const struct csv_row *row, size_t col, const char *column, bool optional,
		int32_t *day, struct mon_error *err)
{
	const char *s = row->fields[col];

	if (s[0] == '\0' && optional) {
		*day = -1;
		return true;
	}
	if (!calendar_parse_date(s, day)) {
		csv_error(err, row, column, optional ? "empty, or a real date YYYY-MM-DD from 1970 on"
			: "a real date YYYY-MM-DD from 1970 on", s);
		return false;
	}
	return true;
}

bool ref_bool(const struct csv_row *row, size_t col, const char *column, bool *out,
		struct mon_error *err)
{
	const char *s = row->fields[col];

	if (strcmp(s, "true") != 0 && strcmp(s, "false") != 0) {
		csv_error(err, row, column, "true or false", s);
		return false;
	}
	*out = strcmp(s, "true") == 0;
	return true;
}

static const char *const severity_names[] = {
	[SEV_MINOR] = "minor", [SEV_GENERAL] = "general", [SEV_SERIOUS] = "serious",
};

const char *penalty_severity_name(enum penalty_severity s)
{
	return severity_names[s];
}

bool penalty_severity_parse(const char *s, enum penalty_severity *out)
{
	for (size_t i = 0; i < sizeof(severity_names) / sizeof(severity_names[0]); i++) {
		if (s != NULL && strcmp(s, severity_names[i]) == 0) {
			*out = (enum penalty_severity)i;
			return true;
		}
	}
	return false;
}
