/* items.c: the catalogue of approval items (事项目录) with their time limits: statutory
 * (法定) and committed (承诺) days, the unit they count in, and optional per-item notice
 * lead, 督办 period and per-step limits. Loaded whole from items.csv; a bad row refuses the file. */
#include "engine.h"

#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "text.h"

/* Where each column sits in this file's header (-1 when an optional one is absent). */
struct columns {
	int warn_days;
	int step_days;
	int supervise_days;
};

static const char *const required_columns[] = {
	"code", "dept", "name", "statutory_days", "committed_days", "unit",
};
#define REQUIRED_COLUMNS (sizeof(required_columns) / sizeof(required_columns[0]))

static int cmp_item(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	int c = strcmp(x->dept, y->dept);

	return c != 0 ? c : strcmp(x->code, y->code);
}

const struct item *catalogue_find(const struct mon_ruleset *rs, const char *dept,
		const char *code)
{
	struct item key;

	if (rs->catalogue.count == 0 || strlen(dept) > MON_CODE_MAX || strlen(code) > MON_CODE_MAX)
		return NULL;
	memcpy(key.dept, dept, strlen(dept) + 1);
	memcpy(key.code, code, strlen(code) + 1);
	return bsearch(&key, rs->catalogue.items, rs->catalogue.count, sizeof(key), cmp_item);
}

int item_step_days(const struct item *item, const char *step)
{
	for (size_t i = 0; i < item->step_count; i++) {
		if (strcmp(item->steps[i].step, step) == 0)
			return item->steps[i].days;
	}
	return 0;
}

void catalogue_finish(struct catalogue *cat)
{
	for (size_t i = 0; i < cat->count; i++)
		free(cat->items[i].steps);
	free(cat->items);
	cat->items = NULL;
	cat->count = 0;
}

static bool is_code(const char *s, const char *punct)
{
	return mon_text_is_token(s, strlen(s), MON_CODE_MAX, punct);
}

static bool is_name(const char *s)
{
	size_t len = strlen(s), i = 0;
	uint32_t cp;

	if (len == 0 || len > ITEM_NAME_MAX)
		return false;
	while (i < len) {
		size_t n = mon_utf8_next(s + i, len - i, &cp);
		if (n == 0 || mon_is_control(cp))
			return false;
		i += n;
	}
	return true;
}

/* One "step=days" of step_days, not already in steps[0..count). */
static bool parse_step(const char *part, size_t len, struct step_limit *steps, size_t count)
{
	char buf[CSV_FIELD_MAX];
	const char *eq;
	long long days;

	memcpy(buf, part, len);
	buf[len] = '\0';
	eq = strchr(buf, '=');
	if (count == ITEM_STEPS_MAX || eq == NULL)
		return false;
	buf[eq - buf] = '\0';
	if (!is_code(buf, "._-") || !parse_bounded(eq + 1, 1, LIMIT_DAYS_MAX, &days))
		return false;
	for (size_t i = 0; i < count; i++) {
		if (strcmp(steps[i].step, buf) == 0)
			return false;
	}
	memcpy(steps[count].step, buf, strlen(buf) + 1);
	steps[count].days = (int)days;
	return true;
}

/* "step=days;step=days" into item->steps. */
static bool parse_steps(const char *s, struct item *item, const struct csv_row *row,
		struct mon_error *err)
{
	struct step_limit steps[ITEM_STEPS_MAX];
	size_t count = 0;

	for (const char *p = s; *p != '\0';) {
		const char *semi = strchr(p, ';');
		size_t len = semi != NULL ? (size_t)(semi - p) : strlen(p);
		if (!parse_step(p, len, steps, count++)) {
			csv_error(err, row, "step_days", "step=days;... with at most 32 distinct step "
				"codes and days from 1 to 3650", s);
			return false;
		}
		p = semi != NULL ? semi + 1 : p + len;
	}
	if (count == 0)
		return true;
	item->steps = malloc(count * sizeof(*item->steps));
	if (item->steps == NULL) {
		mon_error_set_text(err, "", "memory for the catalogue", "out of memory");
		return false;
	}
	memcpy(item->steps, steps, count * sizeof(*item->steps));
	item->step_count = count;
	return true;
}

/* The six required columns of a row. */
static bool item_limits(const struct csv_row *row, struct item *item, struct mon_error *err)
{
	const char *f_stat = row->fields[3], *f_comm = row->fields[4], *f_unit = row->fields[5];
	long long statutory, committed;

	if (!is_code(row->fields[0], "._-")) {
		csv_error(err, row, "code", "a code of 1 to 64 characters from A-Z a-z 0-9 . _ -",
			row->fields[0]);
		return false;
	}
	if (!is_code(row->fields[1], "_-")) {
		csv_error(err, row, "dept", "a department code of 1 to 64 characters from "
			"A-Z a-z 0-9 _ -", row->fields[1]);
		return false;
	}
	if (!is_name(row->fields[2])) {
		csv_error(err, row, "name", "1 to 256 bytes of UTF-8 text", row->fields[2]);
		return false;
	}
	if (!parse_bounded(f_stat, 1, LIMIT_DAYS_MAX, &statutory)) {
		csv_error(err, row, "statutory_days", "a whole number of days from 1 to 3650", f_stat);
		return false;
	}
	if (!parse_bounded(f_comm, 1, statutory, &committed)) {
		csv_error(err, row, "committed_days", "a whole number of days from 1 to "
			"statutory_days", f_comm);
		return false;
	}
	if (strcmp(f_unit, "working") != 0 && strcmp(f_unit, "calendar") != 0) {
		csv_error(err, row, "unit", "working or calendar", f_unit);
		return false;
	}
	memcpy(item->code, row->fields[0], strlen(row->fields[0]) + 1);
	memcpy(item->dept, row->fields[1], strlen(row->fields[1]) + 1);
	memcpy(item->name, row->fields[2], strlen(row->fields[2]) + 1);
	item->statutory_days = (int)statutory;
	item->committed_days = (int)committed;
	item->unit = strcmp(f_unit, "calendar") == 0 ? MON_UNIT_CALENDAR : MON_UNIT_WORKING;
	return true;
}

/* The field of an optional column ("" when the header or the row lacks it). */
static const char *optional_field(const struct csv_row *row, int column)
{
	return column >= 0 && (size_t)column < row->count ? row->fields[column] : "";
}

/* An optional per-item number of days: -1 when empty (the ruleset's parameter applies). */
static bool optional_days(const struct csv_row *row, int column, const char *name, long long lo,
		const char *expected, int *out, struct mon_error *err)
{
	const char *s = optional_field(row, column);
	long long v;

	*out = -1;
	if (s[0] == '\0')
		return true;
	if (!parse_bounded(s, lo, LIMIT_DAYS_MAX, &v)) {
		csv_error(err, row, name, expected, s);
		return false;
	}
	*out = (int)v;
	return true;
}

static bool item_row(const struct csv_row *row, const struct columns *cols, struct item *item,
		struct mon_error *err)
{
	memset(item, 0, sizeof(*item));
	item->warn_days = -1;
	item->supervise_days = -1;
	if (row->count < REQUIRED_COLUMNS) {
		csv_error(err, row, "unit", "at least the 6 columns of the header", "");
		return false;
	}
	return item_limits(row, item, err) &&
		optional_days(row, cols->warn_days, "warn_days", 0, "empty, or days from 0 to 3650",
			&item->warn_days, err) &&
		optional_days(row, cols->supervise_days, "supervise_days", 1,
			"empty, or working days from 1 to 3650", &item->supervise_days, err) &&
		parse_steps(optional_field(row, cols->step_days), item, row, err);
}

static bool items_header(struct csv_reader *r, struct columns *cols, struct mon_error *err)
{
	struct csv_row *row = malloc(sizeof(*row));
	enum csv_result res;
	bool ok;

	if (row == NULL) {
		mon_error_set_text(err, "", "memory for the catalogue", "out of memory");
		return false;
	}
	row->count = 0;
	res = csv_next(r, row, err);
	ok = res == CSV_ROW && row->count >= REQUIRED_COLUMNS;
	for (size_t i = 0; ok && i < REQUIRED_COLUMNS; i++)
		ok = strcmp(row->fields[i], required_columns[i]) == 0;
	if (!ok && res != CSV_ERROR)
		mon_error_set_text(err, "line 1", "a header starting code,dept,name,statutory_days,"
			"committed_days,unit", row->count > 0 ? row->fields[0] : "(empty file)");
	cols->warn_days = csv_column(row, "warn_days");
	cols->step_days = csv_column(row, "step_days");
	cols->supervise_days = csv_column(row, "supervise_days");
	free(row);
	return ok;
}

static bool items_grow(struct catalogue *cat, size_t *cap, struct mon_error *err)
{
	size_t ncap;
	struct item *n;

	if (cat->count < *cap)
		return true;
	ncap = *cap == 0 ? 64 : *cap * 2;
	n = realloc(cat->items, ncap * sizeof(*n));
	if (n == NULL) {
		mon_error_set_text(err, "", "memory for the catalogue", "out of memory");
		return false;
	}
	cat->items = n;
	*cap = ncap;
	return true;
}

static bool items_rows(struct csv_reader *r, const struct columns *cols, struct catalogue *cat,
		struct mon_error *err)
{
	struct csv_row *row = malloc(sizeof(*row));
	enum csv_result res = CSV_ERROR;
	size_t cap = 0;

	if (row == NULL) {
		mon_error_set_text(err, "", "memory for the catalogue", "out of memory");
		return false;
	}
	while ((res = csv_next(r, row, err)) == CSV_ROW) {
		if (cat->count == ITEMS_ROWS_MAX) {
			csv_error(err, row, "code", "at most 100000 items", "");
			res = CSV_ERROR;
			break;
		}
		if (!items_grow(cat, &cap, err) || !item_row(row, cols, &cat->items[cat->count], err)) {
			res = CSV_ERROR;
			break;
		}
		cat->count++;
	}
	free(row);
	return res == CSV_END;
}

static bool items_unique(const struct catalogue *cat, struct mon_error *err)
{
	for (size_t i = 1; i < cat->count; i++) {
		if (cmp_item(&cat->items[i - 1], &cat->items[i]) == 0) {
			mon_error_set_text(err, "code", "each (dept, code) at most once",
				cat->items[i].code);
			return false;
		}
	}
	return true;
}

bool mon_ruleset_load_items(struct mon_ruleset *rs, const char *csv, size_t len,
		struct mon_error *err)
{
	struct catalogue cat = { .items = NULL, .count = 0 };
	struct columns cols;
	struct csv_reader r;

	mon_error_clear(err);
	csv_init(&r, csv, len);
	if (!items_header(&r, &cols, err) || !items_rows(&r, &cols, &cat, err)) {
		catalogue_finish(&cat);
		return false;
	}
	if (cat.count > 0)
		qsort(cat.items, cat.count, sizeof(cat.items[0]), cmp_item);
	if (!items_unique(&cat, err)) {
		catalogue_finish(&cat);
		return false;
	}
	catalogue_finish(&rs->catalogue);
	rs->catalogue = cat;
	return true;
}
