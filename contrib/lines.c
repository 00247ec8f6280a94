/* lines.c: the NDJSON line reader of esupctl eval and esupctl check (lines.h). */
#include "lines.h"

#include <stdlib.h>
#include <string.h>

bool lines_read(FILE *f, lines_fn fn, void *ctx)
{
	char *buf = malloc(LINES_MAX_BYTES + 2);
	size_t lineno = 0;
	bool ok = buf != NULL;

	while (ok && fgets(buf, LINES_MAX_BYTES + 2, f) != NULL) {
		size_t len = strlen(buf);
		bool whole = len > 0 && buf[len - 1] == '\n';
		lineno++;
		if (!whole && len == LINES_MAX_BYTES + 1) {
			int c;
			while ((c = getc(f)) != EOF && c != '\n')
				;
			ok = fn(ctx, NULL, 0, lineno);
			continue;
		}
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			buf[--len] = '\0';
		if (strspn(buf, " \t") == len)
			continue;
		ok = fn(ctx, buf, len, lineno);
	}
	if (buf == NULL)
		fprintf(stderr, "esupctl: out of memory\n");
	free(buf);
	return ok && !ferror(f);
}
