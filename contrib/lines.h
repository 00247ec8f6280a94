/* lines.h: reading NDJSON input line by line, shared by `esupctl eval` and `esupctl check`
 * so that both count lines and skip blanks the same way. */
#ifndef ESUP_LINES_H
#define ESUP_LINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define LINES_MAX_BYTES (1024 * 1024)   /* a longer line is refused whole */

/* Called once per line that is not blank (spaces and tabs only), in order, with the line
 * without its "\n" or "\r\n" (NUL-terminated, valid only during the call) and its number
 * from 1. A line longer than LINES_MAX_BYTES comes as text NULL, len 0: the callback
 * reports it. Returning false stops the reading. */
typedef bool (*lines_fn)(void *ctx, const char *text, size_t len, size_t lineno);

/* Reads f to its end. False when a callback stopped it, on a read error or out of memory
 * (said on stderr). */
bool lines_read(FILE *f, lines_fn fn, void *ctx);

#endif
