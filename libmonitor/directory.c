/* directory.c: the who's-who reference tables: enforcement officers with their
 * certificates (执法证) and validity, enterprises with their quiet production days
 * (安静生产日), and the administrative regions (province / city / county division codes)
 * that departments and supervisors belong to. Loaded through refdata.c. */
#include "refdata.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mon_value.h"
#include "text.h"

static const char *const officer_columns[] = {
	"id", "dept", "name", "certificate", "valid_from", "valid_to",
};
static const char *const enterprise_columns[] = { "uscc", "name", "quiet_days" };
static const char *const region_columns[] = { "code", "name", "level", "parent" };

/* An officer may hold several certificates over the years: one row each. */
static int cmp_officer(const void *a, const void *b)
{
	const struct officer *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	return c != 0 ? c : strcmp(x->certificate, y->certificate);
}

static bool officer_row(const struct csv_row *row, void *out, struct mon_error *err)
{
	struct officer *o = out;

	memset(o, 0, sizeof(*o));
	if (!ref_code(row, 0, "id", "._-", o->id, err) ||
			!ref_code(row, 1, "dept", "_-", o->dept, err) ||
			!ref_name(row, 2, "name", false, o->name, err) ||
			!ref_name(row, 3, "certificate", false, o->certificate, err) ||
			!ref_date(row, 4, "valid_from", false, &o->valid_from, err) ||
			!ref_date(row, 5, "valid_to", false, &o->valid_to, err))
		return false;
	if (o->valid_to < o->valid_from) {
		csv_error(err, row, "valid_to", "a date on or after valid_from", row->fields[5]);
		return false;
	}
	return true;
}

const struct table_def officers_def = {
	.name = "officers",
	.columns = officer_columns,
	.column_count = sizeof(officer_columns) / sizeof(officer_columns[0]),
	.row_size = sizeof(struct officer),
	.rows_max = 100000,
	.row = officer_row,
	.cmp = cmp_officer,
	.unique = "each (id, certificate) at most once",
	.check = NULL,
};

static int cmp_officer_id(const void *key, const void *row)
{
	return strcmp(key, ((const struct officer *)row)->id);
}

const struct officer *officers_of(const struct mon_ruleset *rs, const char *id, size_t *n)
{
	const struct table *t = &rs->tables[TABLE_OFFICERS];
	const struct officer *rows = t->rows, *hit;
	size_t first, last;

	*n = 0;
	if (t->count == 0 || (hit = bsearch(id, rows, t->count, sizeof(*rows),
			cmp_officer_id)) == NULL)
		return NULL;
	first = last = (size_t)(hit - rows);
	while (first > 0 && strcmp(rows[first - 1].id, id) == 0)
		first--;
	while (last + 1 < t->count && strcmp(rows[last + 1].id, id) == 0)
		last++;
	*n = last - first + 1;
	return &rows[first];
}

static int cmp_enterprise(const void *a, const void *b)
{
	return strcmp(((const struct enterprise *)a)->uscc, ((const struct enterprise *)b)->uscc);
}

/* One "d" or "d-d" of quiet_days into the mask; days of the month 1..31. */
static bool quiet_range(const char *part, size_t len, uint32_t *mask)
{
	long long lo, hi;
	char buf[8];
	char *dash;

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, part, len);
	buf[len] = '\0';
	dash = strchr(buf, '-');
	if (dash != NULL)
		*dash = '\0';
	if (!parse_bounded(buf, 1, 31, &lo) ||
			!parse_bounded(dash != NULL ? dash + 1 : buf, lo, 31, &hi))
		return false;
	for (long long d = lo; d <= hi; d++)
		*mask |= (uint32_t)1 << d;
	return true;
}

static bool quiet_days_parse(const char *s, uint32_t *mask)
{
	*mask = 0;
	for (const char *p = s; *p != '\0';) {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (!quiet_range(p, len, mask))
			return false;
		p += len;
		if (comma != NULL && *++p == '\0')
			return false;
	}
	return true;
}

static bool enterprise_row(const struct csv_row *row, void *out, struct mon_error *err)
{
	struct enterprise *e = out;

	memset(e, 0, sizeof(*e));
	if (!mon_uscc_valid(row->fields[0])) {
		csv_error(err, row, "uscc", "an 18-character unified social credit code with a "
			"valid check digit", row->fields[0]);
		return false;
	}
	memcpy(e->uscc, row->fields[0], USCC_LEN + 1);
	if (!ref_name(row, 1, "name", false, e->name, err))
		return false;
	if (!quiet_days_parse(row->fields[2], &e->quiet_days)) {
		csv_error(err, row, "quiet_days", "empty, or days of the month such as 1-20 or "
			"1-5,25-31", row->fields[2]);
		return false;
	}
	return true;
}

const struct table_def enterprises_def = {
	.name = "enterprises",
	.columns = enterprise_columns,
	.column_count = sizeof(enterprise_columns) / sizeof(enterprise_columns[0]),
	.row_size = sizeof(struct enterprise),
	.rows_max = 1000000,
	.row = enterprise_row,
	.cmp = cmp_enterprise,
	.unique = "each uscc at most once",
	.check = NULL,
};

const struct enterprise *enterprise_find(const struct mon_ruleset *rs, const char *uscc)
{
	struct enterprise key;

	if (strlen(uscc) != USCC_LEN)
		return NULL;
	memcpy(key.uscc, uscc, USCC_LEN + 1);
	return table_find(rs, TABLE_ENTERPRISES, &key);
}

static const char *const level_names[] = {
	[LEVEL_PROVINCE] = "province", [LEVEL_CITY] = "city", [LEVEL_COUNTY] = "county",
};

static bool division_code(const char *s)
{
	if (strlen(s) != 6)
		return false;
	for (size_t i = 0; i < 6; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
	}
	return true;
}

static bool region_row(const struct csv_row *row, void *out, struct mon_error *err)
{
	struct region *r = out;
	size_t level;

	memset(r, 0, sizeof(*r));
	if (!division_code(row->fields[0])) {
		csv_error(err, row, "code", "a 6-digit administrative division code", row->fields[0]);
		return false;
	}
	memcpy(r->code, row->fields[0], 7);
	if (!ref_name(row, 1, "name", false, r->name, err))
		return false;
	for (level = 0; level < 3 && strcmp(row->fields[2], level_names[level]) != 0; level++)
		;
	if (level == 3) {
		csv_error(err, row, "level", "province, city or county", row->fields[2]);
		return false;
	}
	r->level = (enum region_level)level;
	/* A province has no parent; every other region has one. */
	if (r->level == LEVEL_PROVINCE ? row->fields[3][0] != '\0' :
			!division_code(row->fields[3])) {
		csv_error(err, row, "parent", r->level == LEVEL_PROVINCE ? "empty for a province" :
			"the 6-digit code of the region above", row->fields[3]);
		return false;
	}
	memcpy(r->parent, row->fields[3], strlen(row->fields[3]) + 1);
	return true;
}

static int cmp_region(const void *a, const void *b)
{
	return strcmp(((const struct region *)a)->code, ((const struct region *)b)->code);
}

/* Each parent is in the table and a level above its child (a county may sit directly
 * under a province, as 省直管县 do). */
static bool regions_check(const struct table *t, struct mon_error *err)
{
	const struct region *rows = t->rows;

	for (size_t i = 0; i < t->count; i++) {
		struct region key;
		const struct region *parent;
		if (rows[i].level == LEVEL_PROVINCE)
			continue;
		memcpy(key.code, rows[i].parent, sizeof(key.code));
		parent = bsearch(&key, rows, t->count, sizeof(*rows), cmp_region);
		if (parent == NULL || parent->level >= rows[i].level) {
			mon_error_set_text(err, "parent", "a region of the table one level or more "
				"above", rows[i].code);
			return false;
		}
	}
	return true;
}

const struct table_def regions_def = {
	.name = "regions",
	.columns = region_columns,
	.column_count = sizeof(region_columns) / sizeof(region_columns[0]),
	.row_size = sizeof(struct region),
	.rows_max = 100000,
	.row = region_row,
	.cmp = cmp_region,
	.unique = "each code at most once",
	.check = regions_check,
};
