/* escalation.h: 督办 escalation, one of the periodic jobs (jobs.c). An alert not acknowledged
 * within ack_hours_<severity> working hours of issued_at is escalated one region up; one not
 * resolved within resolve_days_<severity> working days, one more; never above the top region.
 *
 * Each round (on the reader, autocommit): the alerts whose deadlines must be (re)computed
 * (alerts.escalate_pending, set by a trigger when an alert is raised or changes state) get
 * their next deadline from libmonitor's working-time arithmetic and the calendar, written with
 * esup_escalation_plan; then the alerts whose stored deadline has come are escalated one by
 * one with esup_escalate_due, a compare-and-set on the level that also records the deadline as
 * acted on, so a restart or a second esupd neither loses nor repeats an escalation (see
 * schema/009_escalation.sql). The cost of a round follows the changed and the due alerts. */
#ifndef ESUP_ESCALATION_H
#define ESUP_ESCALATION_H

#include <stdint.h>

#include "mon_rules.h"

struct config;
struct job;

void *escalation_create(void);
void escalation_destroy(void *state);
/* The calendar or [escalation] changed: the next round plans every live alert again. */
void escalation_changed(void *state);
void escalation_run(struct job *job);

/* The next deadline of one alert as of its stored facts: *deadline "ack" or "resolve" (NULL
 * and INT64_MAX when none is ahead). status is the alert's; acknowledged_at INT64_MAX when
 * never; done the deadlines already acted on (1 ack, 2 resolve). */
int64_t escalation_next(const struct config *cfg, const struct mon_ruleset *rs,
		enum mon_severity sev, const char *status, int64_t issued_at, int64_t acknowledged_at,
		unsigned done, const char **deadline);

#endif
