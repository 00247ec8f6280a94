/* api_console.h: the supervision console's static files, embedded in esupd at build time
 * (embed_console.sh writes console_files.c from the repository's console/ directory), and the
 * routes that serve them (api_console_routes in api.h). The table is constant for the life of
 * the process: entries and their bytes are never freed. */
#ifndef ESUP_API_CONSOLE_H
#define ESUP_API_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>

struct console_file {
	const char *name;            /* flat: [A-Za-z0-9_.-]+, e.g. "index.html" */
	const char *content_type;    /* "text/html; charset=utf-8", ... */
	const unsigned char *bytes;  /* length bytes (and a NUL not counted) */
	size_t length;
	const char *etag;            /* strong: the quoted hex SHA-256 of the bytes */
};

/* Sorted by name (C locale). console_files_count may be 0: the console/ directory was empty
 * or absent at build time, and every console path answers 404. */
extern const struct console_file console_files[];
extern const size_t console_files_count;

/* The file called name (exactly; NUL-terminated), or NULL: no name with '/', "..", a
 * percent sign or any byte outside the flat set can match one. */
const struct console_file *console_file_find(const char *name);

/* Whether an If-None-Match header value names etag: "*", or a comma-separated list of entity
 * tags where one, weak ("W/") or not, equals etag (the weak comparison RFC 9110 §13.1.2 asks
 * for). header may be NULL (no such header: false). */
bool console_etag_matches(const char *header, const char *etag);

#endif
