/* scores.c: the score-weights job: writes [scores] to score_weights when it changed. */
#include "scores.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "db.h"
#include "jobs.h"
#include "log.h"

static const char scores_set_sql[] =
	"SELECT esup_score_weights_set($1::timestamptz, $2::text[], $3::numeric[])";
static const char scores_components[] =
	"{on_time,satisfaction,complaints,red,yellow,notice,bottom_count}";

struct scores {
	bool pending;           /* the weights are to be written on the next round */
	char weights[160];      /* as sent, for the log */
};

/* The configured weights as a PostgreSQL numeric array, in scores_components' order. */
static void
scores_format(const struct config *cfg, char *buf, size_t size)
{
	const unsigned cents[6] = {
		cfg->score_on_time, cfg->score_satisfaction, cfg->score_complaints,
		cfg->score_red, cfg->score_yellow, cfg->score_notice,
	};
	size_t len = 0;

	for (int i = 0; i < 6 && len < size; i++) {
		int n = snprintf(buf + len, size - len, "%s%u.%02u", i == 0 ? "{" : ",",
			cents[i] / 100, cents[i] % 100);

		if (n < 0)
			break;
		len += (size_t)n;
	}
	if (len < size)
		snprintf(buf + len, size - len, ",%u}", cfg->score_bottom_count);
}

static void
scores_on_result(const PGresult *res, void *arg)
{
	struct job *job = arg;
	struct scores *s = job_state(job);

	if (!job_result_ok(res)) {
		s->pending = true;
		job_done(job, false, "writing the score weights", res);
		return;
	}
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		log_info("scores: [scores] weights %s written as the version in effect from %s",
			s->weights, PQgetvalue(res, 0, 0));
	else
		log_info("scores: [scores] weights %s are the version in effect: nothing written",
			s->weights);
	job_done(job, false, NULL, NULL);
}

void
scores_run(struct job *job)
{
	struct scores *s = job_state(job);
	const char *values[3];

	if (!s->pending) {
		job_done(job, false, NULL, NULL);
		return;
	}
	s->pending = false;     /* a change during the round asks for the next one */
	scores_format(job_config(job), s->weights, sizeof(s->weights));
	values[0] = job_now_text(job);
	values[1] = scores_components;
	values[2] = s->weights;
	if (!db_query(job_db(job), scores_set_sql, 3, values, scores_on_result, job)) {
		s->pending = true;
		job_done(job, false, "writing the score weights", NULL);
	}
}

void *
scores_create(void)
{
	struct scores *s = calloc(1, sizeof(*s));

	/* the configuration may differ from what the database holds */
	if (s != NULL)
		s->pending = true;
	return s;
}

void
scores_changed(void *state)
{
	struct scores *s = state;

	s->pending = true;
}

void
scores_destroy(void *state)
{
	free(state);
}
