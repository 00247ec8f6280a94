/* stat_rules.h: the statistical rules' job (jobs.c): at start, after a reload and then every
 * [statistics] interval_s, reads per-department aggregates over the windows libmonitor names
 * (mon_stats_windows, Shanghai days up to the day before the business clock's) from the
 * rollups stat_case_day, stat_event_day, stat_alert_day and stat_enterprise_day, has
 * libmonitor judge them (mon_stats_evaluate), looks up a few events that illustrate each
 * finding, and raises the findings through esup_apply_evaluation as conditions without a case.
 *
 * Each round is four autocommit statements on the reader (departments, enterprises, evidence,
 * apply), never on the writer: ingest does not wait on it. A finding already raised for its
 * period is one alert (its key names the period), so rounds raise nothing new while it holds.
 * A failed round is tried again a minute later (or at the interval, if shorter). */
#ifndef ESUP_STAT_RULES_H
#define ESUP_STAT_RULES_H

struct job;

void *stat_rules_create(void);
void stat_rules_destroy(void *state);
/* The rules or the configuration changed: judge again at the next tick. */
void stat_rules_changed(void *state);
void stat_rules_run(struct job *job);

#endif
