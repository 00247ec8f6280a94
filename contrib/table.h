/* table.h: aligned text tables for esupctl, measured in terminal columns: CJK ideographs,
 * kana, hangul and fullwidth forms take two columns, combining marks none. Cells are
 * copied and made safe to print (control characters and invalid UTF-8 become '?', so text
 * from the server cannot move the cursor or change the terminal). */
#ifndef ESUP_TABLE_H
#define ESUP_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define TABLE_COLS_MAX 12

struct table;

/* A table with ncols columns (at most TABLE_COLS_MAX) under these headings; NULL when out
 * of memory. headings == NULL: no heading row. */
struct table *table_create(size_t ncols, const char *const *headings);
void table_destroy(struct table *t);

/* Adds a row of ncols cells (NULL cells print empty). */
bool table_add(struct table *t, const char *const *cells) __attribute__((warn_unused_result));

/* Prints the rows, columns two spaces apart. With width > 0 the last column is cut (with
 * '…') so that no line is wider than width columns. */
void table_print(const struct table *t, FILE *out, size_t width);

/* The number of terminal columns s takes (s made safe first). */
size_t text_width(const char *s);

/* A copy of s safe to print (see above); NULL when out of memory. */
char *text_safe(const char *s);

#endif
