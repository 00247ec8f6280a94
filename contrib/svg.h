/* svg.h: what the monthly report (report.c) writes that is not SQL: text escaped for HTML and
 * XML, CSV fields, and the charts, drawn as inline SVG with no script, font or file of their
 * own. Pure: each function writes to the stream it is given and keeps nothing. */
#ifndef ESUP_SVG_H
#define ESUP_SVG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Writes s escaped for HTML and XML, in text and in quoted attribute values alike: & < > " '
 * become references; control characters other than tab, newline and carriage return, and
 * bytes that are not UTF-8, become U+FFFD (XML allows neither). NULL writes nothing. */
void markup_put(FILE *out, const char *s);

/* Writes one CSV field (RFC 4180): quoted, with quotes doubled, when it holds a comma, a
 * quote, CR or LF. text: the field is free text (a name), and one that starts with = + - @
 * tab or CR gets a leading ' so that a spreadsheet shows it rather than running it as a
 * formula. NULL writes an empty field. */
void csv_put(FILE *out, const char *s, bool text);

/* One series of a chart: values[i] for category i, NAN for "no value". */
struct svg_series {
	const char *name;
	const char *color;       /* a CSS colour, written as is (a constant of the caller) */
	const double *values;
};

/* Horizontal bars, one row per category (labels[i]); several series stack left to right.
 * max > 0 fixes the axis (100 for a percentage), else it is rounded up from the data (to 4
 * at least, so that counts get whole steps). */
struct svg_bars {
	const char *title;
	size_t n;
	const char *const *labels;
	size_t nseries;
	const struct svg_series *series;
	double max;
	const char *unit;        /* after each value label, e.g. "%"; "" for none */
	int decimals;            /* of the value labels */
};
void svg_hbars(FILE *out, const struct svg_bars *chart);

/* Columns per category (months, labels[i]) for the bar series side by side (their axis on
 * the left, rounded up like the bars'), and one line series on a 0..100 % axis on the right. */
struct svg_trend {
	const char *title;
	size_t n;
	const char *const *labels;
	size_t nbars;
	const struct svg_series *bars;
	struct svg_series line;
};
void svg_trend(FILE *out, const struct svg_trend *chart);

/* The axis maximum for data up to max: 1, 2 or 5 times a power of ten, at least max (and at
 * least 1). */
double svg_nice_max(double max);

#endif
