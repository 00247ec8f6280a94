/* report_doc.h: what report.c reads for the monthly 通报 and report_html.c lays out. Private
 * to those two files. */
#ifndef ESUP_REPORT_DOC_H
#define ESUP_REPORT_DOC_H

#include <stdbool.h>
#include <stdio.h>

#include <libpq-fe.h>

#define REPORT_COLS_MAX 16

/* How a column's value is shown. CSV files carry every value as the database gave it,
 * except K_BOOL (是/否). */
enum report_kind {
	K_TEXT,     /* free text from the database: escaped, guarded in CSV */
	K_CODE,     /* a code or date (department, month): escaped, never broken */
	K_HASH,     /* a hex digest: monospace, broken anywhere */
	K_NUM,      /* a number, right-aligned */
	K_RATE,     /* a fraction 0..1: shown as a percentage in HTML */
	K_BOOL,     /* t/f: 末位 in HTML, 是/否 in CSV */
};

struct report_column {
	const char *name;        /* the SQL column */
	const char *heading;     /* the Chinese heading (CSV: "heading(name)") */
	enum report_kind kind;
};

/* One table of the report: its columns, and the rows read (owned: PQclear). */
struct report_table {
	const char *file;        /* CSV file suffix ("departments"), NULL: HTML only */
	const char *sql;
	const struct report_column *cols;
	size_t ncols;
	PGresult *res;
	int idx[REPORT_COLS_MAX];     /* each column's number in res */
};

enum { T_SUMMARY, T_DEPTS, T_CARDS, T_RANKING, T_TREND, T_HEADS, T_COUNT };

struct report {
	char month[8];           /* "2026-03" */
	char first[11];          /* "2026-03-01" */
	char last[11];           /* "2026-03-31" */
	int year, mon;
	const char *region;      /* "" for every region */
	char region_name[256];   /* the region's name, or "" */
	char generated[32];      /* the server's now() in Asia/Shanghai */
	struct report_table t[T_COUNT];
};

/* The value of column name in row (NULL for SQL NULL or no such column). */
const char *report_cell(const struct report_table *t, int row, const char *name);

/* The same as a number; NAN for NULL. */
double report_num(const struct report_table *t, int row, const char *name);

/* Writes the whole HTML document; false when the stream failed. */
bool report_html(FILE *out, const struct report *r) __attribute__((warn_unused_result));

#endif
