/* csv.h (private to libmonitor): a bounded reader for the reference data CSV files
 * (RFC 4180: quoted fields with "" escapes, CRLF or LF, an optional UTF-8 BOM). */
#ifndef MON_CSV_H
#define MON_CSV_H

#include <stdbool.h>
#include <stddef.h>

#include "mon_event.h"

/* Internal to libmonitor: never exported, so a host program's own symbols cannot clash. */
#pragma GCC visibility push(hidden)

#define CSV_FIELDS_MAX 16
#define CSV_FIELD_MAX 512        /* bytes of one field, NUL included */

struct csv_reader {
	const char *p;
	const char *end;
	size_t line;                 /* line of the next record */
};

struct csv_row {
	size_t line;                 /* where the record starts */
	size_t count;
	char fields[CSV_FIELDS_MAX][CSV_FIELD_MAX];
};

enum csv_result { CSV_ROW, CSV_END, CSV_ERROR };

void csv_init(struct csv_reader *r, const char *data, size_t len);
/* The next non-blank record. On CSV_ERROR, *err names the line. */
enum csv_result csv_next(struct csv_reader *r, struct csv_row *row, struct mon_error *err);
/* Position of a header column by name, or -1. */
int csv_column(const struct csv_row *header, const char *name);
/* Fills *err for a bad value: field "line N, column NAME". */
void csv_error(struct mon_error *err, const struct csv_row *row, const char *column,
		const char *expected, const char *got);

#pragma GCC visibility pop

#endif
