/* svg.c: escaping and the report's charts (svg.h). The charts are plain SVG 1.1 shapes and
 * text sized in user units, so a browser scales them to the page and prints them as
 * vectors; text takes the page's font. The HTML parser puts <svg> in the SVG namespace, so
 * the element names none (and the report holds no URL at all). */
#include "svg.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define FONT 12
#define HB_WIDTH 760.0           /* horizontal bars: the whole width */
#define HB_LABEL 200.0           /* … the category labels' column */
#define HB_VALUE 64.0            /* … room after the longest bar for its value */
#define HB_ROW 26.0
#define HB_BAR 16.0
#define HB_LABEL_UNITS 30        /* label width in half-ems (a CJK ideograph is two) */
#define TR_WIDTH 760.0           /* trend: the whole width */
#define TR_HEIGHT 300.0
#define TR_LEFT 56.0
#define TR_RIGHT 56.0
#define TR_TOP 44.0
#define TR_BOTTOM 36.0
#define GRID "#d9d9d9"
#define INK "#333333"
/* A white outline under a label, so that it stays legible over a line or a bar. */
#define HALO " stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\""

/* The code point at s (*len bytes), or -1 when s does not start with well-formed UTF-8. */
static int32_t
utf8_next(const unsigned char *s, size_t *len)
{
	int32_t cp;
	size_t n;

	if (s[0] < 0x80) {
		*len = 1;
		return s[0];
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return -1;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*len = n;
	return cp;
}

static void
markup_put_len(FILE *out, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len;

	while (*p != '\0' && (size_t)(p - (const unsigned char *)s) < max) {
		int32_t cp = utf8_next(p, &len);

		if (cp < 0) {
			fputs("\xef\xbf\xbd", out);
			p++;
			continue;
		}
		switch (cp) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&#39;", out); break;
		default:
			if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || cp == 0x7f ||
			    cp == 0xfffe || cp == 0xffff)
				fputs("\xef\xbf\xbd", out);
			else
				fwrite(p, 1, len, out);
		}
		p += len;
	}
}

void
markup_put(FILE *out, const char *s)
{
	if (s != NULL)
		markup_put_len(out, s, SIZE_MAX);
}

void
csv_put(FILE *out, const char *s, bool text)
{
	if (s == NULL)
		return;
	if (strpbrk(s, ",\"\r\n") == NULL && !(text && s[0] != '\0' && strchr("=+-@\t\r", s[0]))) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	if (text && s[0] != '\0' && strchr("=+-@\t\r", s[0]) != NULL)
		fputc('\'', out);
	for (const char *p = s; *p != '\0'; p++) {
		if (*p == '"')
			fputc('"', out);
		fputc(*p, out);
	}
	fputc('"', out);
}

double
svg_nice_max(double max)
{
	double p = 1;

	if (!(max > 1))
		return 1;
	while (p * 10 < max)
		p *= 10;
	if (p >= max)
		return p;
	return p * 2 >= max ? p * 2 : p * 5 >= max ? p * 5 : p * 10;
}

/* How many steps the axis 0..max takes: four when they are whole (4, 20, 100: 25 %), else
 * five (5, 10, 50). */
static int
axis_steps(double max)
{
	return fmod(max / 4, 1) == 0 ? 4 : 5;
}

/* Writes s cut to about units half-ems (an ideograph or fullwidth form is two), with '…'
 * when cut. */
static void
label_put(FILE *out, const char *s, int units)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len;
	int used = 0;

	while (*p != '\0') {
		int32_t cp = utf8_next(p, &len);
		int w = cp >= 0x1100 ? 2 : 1;

		if (cp < 0)
			len = 1;
		if (used + w > units - 1 && p[len] != '\0') {
			markup_put_len(out, s, (size_t)(p - (const unsigned char *)s));
			fputs("…", out);
			return;
		}
		used += w;
		p += len;
	}
	markup_put(out, s);
}

static void
svg_open(FILE *out, const char *title, double width, double height)
{
	fprintf(out, "<svg class=\"chart\" role=\"img\""
		" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" font-size=\"%d\""
		" aria-label=\"", width, height, width, height, FONT);
	markup_put(out, title);
	fputs("\"><title>", out);
	markup_put(out, title);
	fputs("</title>\n", out);
}

/* A legend entry at (x, y): a swatch and the series name; returns the x after it. */
static double
legend_put(FILE *out, double x, double y, const struct svg_series *s)
{
	fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/>"
		"<text x=\"%.1f\" y=\"%.1f\" fill=\"" INK "\">", x, y - 10, s->color, x + 16, y);
	markup_put(out, s->name);
	fputs("</text>\n", out);
	return x + 32 + 13.0 * (double)strlen(s->name) / 2.2;
}

/* The value axis of the horizontal bars: grid lines and labels at each fifth of max. */
static void
hbars_axis(FILE *out, const struct svg_bars *c, double top, double bottom, double max)
{
	double span = HB_WIDTH - HB_LABEL - HB_VALUE;
	int steps = axis_steps(max);

	for (int i = 0; i <= steps; i++) {
		double x = HB_LABEL + span * i / steps, v = max * i / steps;

		fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" GRID
			"\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"" INK "\">%.*f%s"
			"</text>\n", x, top - 4, x, bottom, x, bottom + 16,
			v == floor(v) ? 0 : 1, v, c->unit);
	}
}

/* One category's row: its label, the stacked segments, the total after them. */
static void
hbars_row(FILE *out, const struct svg_bars *c, size_t i, double y, double max)
{
	double span = HB_WIDTH - HB_LABEL - HB_VALUE, x = HB_LABEL, total = 0;
	bool any = false;

	fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"" INK "\">",
		HB_LABEL - 8, y + HB_ROW / 2 + 4);
	label_put(out, c->labels[i] != NULL ? c->labels[i] : "", HB_LABEL_UNITS);
	fputs("</text>\n", out);
	for (size_t s = 0; s < c->nseries; s++) {
		double v = c->series[s].values[i], w;

		if (isnan(v) || v <= 0) {
			any = any || !isnan(v);
			continue;
		}
		any = true;
		total += v;
		w = span * fmin(v, max) / max;
		w = fmin(w, HB_LABEL + span - x);
		fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
			"<title>%.*f%s</title></rect>\n", x, y + (HB_ROW - HB_BAR) / 2, w, HB_BAR,
			c->series[s].color, c->decimals, v, c->unit);
		if (c->nseries > 1 && w >= 22)
			fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#ffffff\">"
				"%.*f</text>\n", x + w / 2, y + HB_ROW / 2 + 4, c->decimals, v);
		x += w;
	}
	if (any)
		fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" fill=\"" INK "\">%.*f%s</text>\n", x + 4,
			y + HB_ROW / 2 + 4, c->decimals, total, c->unit);
	else
		fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#888888\">—</text>\n", x + 4,
			y + HB_ROW / 2 + 4);
}

void
svg_hbars(FILE *out, const struct svg_bars *c)
{
	double top = c->nseries > 1 ? 30 : 10, max = c->max, height;

	if (!(max > 0)) {
		for (size_t i = 0; i < c->n; i++) {
			double total = 0;

			for (size_t s = 0; s < c->nseries; s++)
				if (!isnan(c->series[s].values[i]) && c->series[s].values[i] > 0)
					total += c->series[s].values[i];
			max = fmax(max, total);
		}
		max = fmax(svg_nice_max(max), 4);
	}
	height = top + HB_ROW * (double)(c->n > 0 ? c->n : 1) + 24;
	svg_open(out, c->title, HB_WIDTH, height);
	if (c->nseries > 1) {
		double x = HB_LABEL;

		for (size_t s = 0; s < c->nseries; s++)
			x = legend_put(out, x, 18, &c->series[s]);
	}
	hbars_axis(out, c, top, top + HB_ROW * (double)(c->n > 0 ? c->n : 1), max);
	for (size_t i = 0; i < c->n; i++)
		hbars_row(out, c, i, top + HB_ROW * (double)i, max);
	if (c->n == 0)
		fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#888888\">—</text>\n", HB_LABEL + 8,
			top + HB_ROW / 2 + 4);
	fputs("</svg>\n", out);
}

/* Both axes of the trend chart: the bars' scale on the left, 0..100 % on the right. */
static void
trend_axes(FILE *out, double max)
{
	double bottom = TR_HEIGHT - TR_BOTTOM, span = bottom - TR_TOP;
	int steps = axis_steps(max);

	for (int i = 0; i <= steps; i++) {
		double y = bottom - span * i / steps, v = max * i / steps;

		fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" GRID
			"\"/>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" fill=\"" INK "\">%.*f</text>"
			"<text x=\"%.1f\" y=\"%.1f\" fill=\"" INK "\">%d%%</text>\n", TR_LEFT, y,
			TR_WIDTH - TR_RIGHT, y, TR_LEFT - 6, y + 4, v == floor(v) ? 0 : 1, v,
			TR_WIDTH - TR_RIGHT + 6, y + 4, 100 * i / steps);
	}
}

/* The columns of category i (and its label under them). */
static void
trend_columns(FILE *out, const struct svg_trend *c, size_t i, double max)
{
	double cw = (TR_WIDTH - TR_LEFT - TR_RIGHT) / (double)c->n;
	double bottom = TR_HEIGHT - TR_BOTTOM, span = bottom - TR_TOP;
	double bw = cw * 0.6 / (double)(c->nbars > 0 ? c->nbars : 1);
	double x = TR_LEFT + cw * (double)i + cw * 0.2;

	for (size_t s = 0; s < c->nbars; s++, x += bw) {
		double v = c->bars[s].values[i], h;

		if (isnan(v) || v < 0)
			continue;
		h = span * fmin(v, max) / max;
		fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
			"<title>%.0f</title></rect>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\""
			" font-size=\"10\" fill=\"" INK "\"" HALO ">%.0f</text>\n", x, bottom - h, bw * 0.92, h,
			c->bars[s].color, v, x + bw * 0.46, bottom - h - 3, v);
	}
	fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"" INK "\">",
		TR_LEFT + cw * ((double)i + 0.5), bottom + 18);
	markup_put(out, c->labels[i]);
	fputs("</text>\n", out);
}

/* The line series on the percentage axis: segments between neighbouring values, a dot and
 * a label at each. */
static void
trend_line(FILE *out, const struct svg_trend *c)
{
	double cw = (TR_WIDTH - TR_LEFT - TR_RIGHT) / (double)c->n;
	double bottom = TR_HEIGHT - TR_BOTTOM, span = bottom - TR_TOP;
	double px = NAN, py = NAN;

	for (size_t i = 0; i < c->n; i++) {
		double v = c->line.values[i], x = TR_LEFT + cw * ((double)i + 0.5), y;

		if (isnan(v)) {
			px = NAN;
			continue;
		}
		y = bottom - span * fmin(fmax(v, 0), 100) / 100;
		if (!isnan(px))
			fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\""
				" stroke-width=\"2\"/>\n", px, py, x, y, c->line.color);
		fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/><text x=\"%.1f\""
			" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\" fill=\"%s\"" HALO ">%.1f%%"
			"</text>\n",
			x, y, c->line.color, x, y - 7, c->line.color, v);
		px = x, py = y;
	}
}

void
svg_trend(FILE *out, const struct svg_trend *c)
{
	double max = 0, x = TR_LEFT;

	for (size_t s = 0; s < c->nbars; s++)
		for (size_t i = 0; i < c->n; i++)
			if (!isnan(c->bars[s].values[i]))
				max = fmax(max, c->bars[s].values[i]);
	max = fmax(svg_nice_max(max), 4);
	svg_open(out, c->title, TR_WIDTH, TR_HEIGHT);
	for (size_t s = 0; s < c->nbars; s++)
		x = legend_put(out, x, 18, &c->bars[s]);
	legend_put(out, x, 18, &c->line);
	trend_axes(out, max);
	for (size_t i = 0; i < c->n; i++)
		trend_columns(out, c, i, max);
	if (c->n > 0)
		trend_line(out, c);
	fputs("</svg>\n", out);
}
