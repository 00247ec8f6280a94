/* report.h: `esupctl report`, the monthly 通报: one HTML file (inline SVG charts, no scripts,
 * no external files, printable) and the same tables as CSV, read from the statistics views
 * (esup_stats, migration 015) and the score function (esup_scores, migration 016) in the
 * database it finds like psql does (libpq's environment or --conninfo). */
#ifndef ESUP_REPORT_H
#define ESUP_REPORT_H

/* argv[0] is "report". Writes DIR/report-YYYY-MM.html and DIR/report-YYYY-MM-{departments,
 * ranking,cards,trend}.csv and prints their paths. Returns 0 on success, 1 when the database
 * could not be read or a file not written (with the message), 2 on a usage error. */
int report_main(int argc, char **argv);

#endif
