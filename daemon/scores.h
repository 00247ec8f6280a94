/* scores.h: keeps the 绩效评估 weights in the database in step with [scores], one of the
 * periodic jobs (jobs.c). At start, and after each reload or rules swap, one round calls
 * esup_score_weights_set (schema/016_scores.sql) with the configured weights as of the
 * business clock: the database writes a version dated that Shanghai day when they differ from
 * the version in effect, and nothing otherwise, so restarts and second daemons with the same
 * configuration write nothing. Scores of periods that began before that day keep their
 * weights. Other rounds do nothing. */
#ifndef ESUP_SCORES_H
#define ESUP_SCORES_H

struct job;

void *scores_create(void);
void scores_destroy(void *state);
/* The configuration (or the rules) changed: the next round writes the weights again. */
void scores_changed(void *state);
void scores_run(struct job *job);

#endif
