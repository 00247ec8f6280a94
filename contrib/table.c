/* table.c: aligned text tables measured in terminal columns (see table.h). */
#include "table.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct table {
	size_t ncols;
	size_t nrows;                /* the heading row included */
	size_t cap;
	char **cells;                /* nrows * ncols, row-major */
};

/* East Asian Wide and Fullwidth ranges (Unicode 15, the blocks that matter here). */
static const uint32_t wide[][2] = {
	{ 0x1100, 0x115F }, { 0x231A, 0x231B }, { 0x2329, 0x232A }, { 0x2E80, 0x303E },
	{ 0x3041, 0x33FF }, { 0x3400, 0x4DBF }, { 0x4E00, 0x9FFF }, { 0xA000, 0xA4CF },
	{ 0xA960, 0xA97F }, { 0xAC00, 0xD7A3 }, { 0xF900, 0xFAFF }, { 0xFE10, 0xFE19 },
	{ 0xFE30, 0xFE6F }, { 0xFF00, 0xFF60 }, { 0xFFE0, 0xFFE6 }, { 0x1F300, 0x1F64F },
	{ 0x1F900, 0x1F9FF }, { 0x20000, 0x2FFFD }, { 0x30000, 0x3FFFD },
};

/* Combining marks and zero-width characters. */
static const uint32_t zero[][2] = {
	{ 0x0300, 0x036F }, { 0x200B, 0x200F }, { 0x20D0, 0x20FF }, { 0x302A, 0x302D },
	{ 0x3099, 0x309A }, { 0xFE00, 0xFE0F }, { 0xFE20, 0xFE2F }, { 0xFEFF, 0xFEFF },
};

static bool
in_ranges(uint32_t cp, const uint32_t (*r)[2], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (cp >= r[i][0] && cp <= r[i][1])
			return true;
	}
	return false;
}

static int
cp_width(uint32_t cp)
{
	if (in_ranges(cp, zero, sizeof(zero) / sizeof(zero[0])))
		return 0;
	return in_ranges(cp, wide, sizeof(wide) / sizeof(wide[0])) ? 2 : 1;
}

/* Decodes one UTF-8 sequence at s; returns its length, 0 when invalid (overlong, a
 * surrogate, beyond U+10FFFF, truncated). */
static size_t
utf8_decode(const unsigned char *s, uint32_t *cp)
{
	size_t n = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 :
		(s[0] & 0xF8) == 0xF0 ? 4 : 0;
	static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };
	uint32_t v;

	if (n == 0)
		return 0;
	v = n == 1 ? s[0] : s[0] & (0x7F >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3F);
	}
	if (v < min[n] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return n;
}

static bool
unsafe(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0) ||
		cp == 0x2028 || cp == 0x2029 || (cp >= 0x202A && cp <= 0x202E) ||
		(cp >= 0x2066 && cp <= 0x2069);
}

char *
text_safe(const char *s)
{
	size_t len = strlen(s), o = 0;
	char *out = malloc(len + 1);

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len;) {
		uint32_t cp = 0;
		size_t n = utf8_decode((const unsigned char *)s + i, &cp);
		if (n == 0 || unsafe(cp)) {
			out[o++] = cp == '\t' || cp == '\n' ? ' ' : '?';
			i += n == 0 ? 1 : n;
			continue;
		}
		memcpy(out + o, s + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	return out;
}

/* Columns of an already safe string. */
static size_t
safe_width(const char *s)
{
	size_t w = 0;

	for (size_t i = 0; s[i] != '\0';) {
		uint32_t cp = 0;
		size_t n = utf8_decode((const unsigned char *)s + i, &cp);
		w += n == 0 ? 1 : (size_t)cp_width(cp);
		i += n == 0 ? 1 : n;
	}
	return w;
}

size_t
text_width(const char *s)
{
	char *safe = text_safe(s);
	size_t w = safe != NULL ? safe_width(safe) : strlen(s);

	free(safe);
	return w;
}

struct table *
table_create(size_t ncols, const char *const *headings)
{
	struct table *t;

	if (ncols == 0 || ncols > TABLE_COLS_MAX || (t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->ncols = ncols;
	if (headings != NULL && !table_add(t, headings)) {
		table_destroy(t);
		return NULL;
	}
	return t;
}

void
table_destroy(struct table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

bool
table_add(struct table *t, const char *const *cells)
{
	char **row;

	if (t->nrows == t->cap) {
		size_t ncap = t->cap == 0 ? 32 : t->cap * 2;
		char **n = realloc(t->cells, ncap * t->ncols * sizeof(*n));
		if (n == NULL)
			return false;
		t->cells = n;
		t->cap = ncap;
	}
	row = t->cells + t->nrows * t->ncols;
	for (size_t c = 0; c < t->ncols; c++) {
		row[c] = text_safe(cells[c] != NULL ? cells[c] : "");
		if (row[c] == NULL) {
			while (c-- > 0)
				free(row[c]);
			return false;
		}
	}
	t->nrows++;
	return true;
}

/* Prints s cut to at most width columns, with '…' where it was cut. */
static void
print_cut(FILE *out, const char *s, size_t width)
{
	size_t w = 0, i = 0;

	if (safe_width(s) <= width) {
		fputs(s, out);
		return;
	}
	while (s[i] != '\0') {
		uint32_t cp = 0;
		size_t n = utf8_decode((const unsigned char *)s + i, &cp);
		size_t cw = n == 0 ? 1 : (size_t)cp_width(cp);
		if (w + cw + 1 > width)
			break;
		w += cw;
		i += n == 0 ? 1 : n;
	}
	fwrite(s, 1, i, out);
	if (width > 0)
		fputs("…", out);
}

void
table_print(const struct table *t, FILE *out, size_t width)
{
	size_t colw[TABLE_COLS_MAX] = { 0 }, used = 0;

	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			size_t w = safe_width(t->cells[r * t->ncols + c]);
			colw[c] = w > colw[c] ? w : colw[c];
		}
	}
	for (size_t c = 0; c + 1 < t->ncols; c++)
		used += colw[c] + 2;
	for (size_t r = 0; r < t->nrows; r++) {
		char *const *row = t->cells + r * t->ncols;
		for (size_t c = 0; c + 1 < t->ncols; c++) {
			fputs(row[c], out);
			for (size_t pad = safe_width(row[c]); pad < colw[c] + 2; pad++)
				fputc(' ', out);
		}
		if (width > used)
			print_cut(out, row[t->ncols - 1], width - used);
		else if (width == 0)
			fputs(row[t->ncols - 1], out);
		fputc('\n', out);
	}
}
