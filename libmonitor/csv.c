/* csv.c: the reference data reader. Reference files come from operators, not from the
 * network, but a truncated download or a spreadsheet export must still fail with a line
 * number rather than load half a calendar, so every field and record is bounded. */
#include "csv.h"

#include <stdio.h>
#include <string.h>

#include "text.h"

void csv_init(struct csv_reader *r, const char *data, size_t len)
{
	r->p = data;
	r->end = data + len;
	r->line = 1;
	if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		r->p += 3;
}

static enum csv_result fail(struct csv_reader *r, struct csv_row *row, struct mon_error *err,
		const char *expected)
{
	char where[32];

	snprintf(where, sizeof(where), "line %zu", row->line);
	mon_error_set_text(err, where, expected, "");
	r->p = r->end;
	return CSV_ERROR;
}

static bool put(struct csv_row *row, size_t *len, char c)
{
	if (*len + 1 >= CSV_FIELD_MAX)
		return false;
	row->fields[row->count][(*len)++] = c;
	return true;
}

/* One quoted field, the opening quote already consumed. */
static bool quoted(struct csv_reader *r, struct csv_row *row, size_t *len)
{
	while (r->p < r->end) {
		char c = *r->p++;
		if (c == '"') {
			if (r->p < r->end && *r->p == '"')
				r->p++;
			else
				return true;
		} else if (c == '\n') {
			r->line++;
		}
		if (c == '\0' || !put(row, len, c))
			return false;
	}
	return false;
}

static bool at_record_end(const struct csv_reader *r)
{
	return r->p >= r->end || *r->p == '\n' ||
		(*r->p == '\r' && (r->p + 1 >= r->end || r->p[1] == '\n'));
}

static bool blank_line(const struct csv_reader *r)
{
	return at_record_end(r);
}

static void skip_record_end(struct csv_reader *r)
{
	if (r->p < r->end && *r->p == '\r')
		r->p++;
	if (r->p < r->end && *r->p == '\n') {
		r->p++;
		r->line++;
	}
}

/* One field; stops before the separator or the record end. */
static enum csv_result field(struct csv_reader *r, struct csv_row *row, struct mon_error *err)
{
	size_t len = 0;

	if (r->p < r->end && *r->p == '"') {
		r->p++;
		if (!quoted(r, row, &len))
			return fail(r, row, err, "a closed quoted field of at most 511 bytes, no NUL");
		if (!at_record_end(r) && *r->p != ',')
			return fail(r, row, err, "a separator right after a closing quote");
	} else {
		while (!at_record_end(r) && *r->p != ',') {
			if (*r->p == '"' || *r->p == '\0' || !put(row, &len, *r->p))
				return fail(r, row, err,
					"fields of at most 511 bytes, quotes only around a field");
			r->p++;
		}
	}
	row->fields[row->count++][len] = '\0';
	return CSV_ROW;
}

enum csv_result csv_next(struct csv_reader *r, struct csv_row *row, struct mon_error *err)
{
	while (r->p < r->end && blank_line(r))
		skip_record_end(r);
	if (r->p >= r->end)
		return CSV_END;
	row->line = r->line;
	row->count = 0;
	for (;;) {
		if (row->count == CSV_FIELDS_MAX)
			return fail(r, row, err, "at most 16 fields in a record");
		if (field(r, row, err) == CSV_ERROR)
			return CSV_ERROR;
		if (at_record_end(r))
			break;
		r->p++;   /* the separator */
	}
	skip_record_end(r);
	return CSV_ROW;
}

int csv_column(const struct csv_row *header, const char *name)
{
	for (size_t i = 0; i < header->count; i++) {
		if (strcmp(header->fields[i], name) == 0)
			return (int)i;
	}
	return -1;
}

void csv_error(struct mon_error *err, const struct csv_row *row, const char *column,
		const char *expected, const char *got)
{
	char where[sizeof(err->field)];

	snprintf(where, sizeof(where), "line %zu, column %s", row->line, column);
	mon_error_set_text(err, where, expected, got);
}
