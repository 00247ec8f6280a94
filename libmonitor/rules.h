/* rules.h (private to libmonitor): the rule registry and the condition list.
 *
 * Every rule belongs to one family, and each family file (ladder.c, checks.c, reports.c,
 * fees.c, penalties.c, enforcement.c, service.c, trade.c, stats.c) exports one
 * `struct rule_family`:
 * its rules (code and severity), its parameters (name, default, range) and the function that
 * judges one case by them. registry.c lists the families; mon_rule_code(), the parameters by
 * name and mon_case_evaluate() all loop over that list, so adding a rule is one line in its
 * family's table, its check, its entry in docs/rules.md and a golden case.
 *
 * A rule or parameter is named by the address of its table entry; its place in the registry
 * (rule_index, param_index) is what the ruleset stores switches and values under. */
#ifndef MON_RULES_PRIVATE_H
#define MON_RULES_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mon_rules.h"

#pragma GCC visibility push(hidden)

#define RULES_MAX 128      /* rules of every family together (ruleset's switch array) */
#define PARAMS_MAX 96      /* parameters of every family together */

struct history;

struct rule_def {
	const char *code;              /* stable, e.g. "APR-DEADLINE-YELLOW" (< MON_RULE_MAX) */
	enum mon_severity severity;
};

struct param_def {
	const char *name;              /* as esupctl --param and esupd.conf [rules] spell it */
	long long def, lo, hi;
};

/* The growing list of conditions of one evaluation (conditions.c). */
struct conditions {
	struct mon_condition *items;
	size_t count;
	size_t cap;
	bool failed;                 /* out of memory */
};

struct rule_family {
	const char *name;                         /* "approval", "fees", ... */
	const struct rule_def *rules;
	size_t rule_count;
	const struct param_def *params;
	size_t param_count;
	/* Adds the family's conditions for one replayed case; a time-based rule offers its next
	 * check into state->next_check (next_check_offer). NULL for a family that does not judge
	 * cases (the statistical rules run over rollups, mon_stats_evaluate). */
	void (*evaluate)(const struct history *h, struct conditions *list,
			struct mon_case_state *state);
};

/* registry.c: the families, in the order mon_rule_code() lists their rules. */
extern const struct rule_family *const rule_families[];
extern const size_t rule_family_count;

extern const struct rule_family ladder_family;
extern const struct rule_family checks_family;
extern const struct rule_family reports_family;
extern const struct rule_family fees_family;
extern const struct rule_family penalties_family;
extern const struct rule_family enforcement_family;
extern const struct rule_family service_family;
extern const struct rule_family trade_family;
extern const struct rule_family stats_family;

/* The rule's or parameter's place in the registry; SIZE_MAX for one not in it. */
size_t rule_index(const struct rule_def *rule);
size_t param_index(const struct param_def *param);
/* Rule or parameter number i of the registry, or NULL. */
const struct rule_def *rule_at(size_t i);
const struct param_def *param_at(size_t i);
size_t rule_total(void);
size_t param_total(void);

/* Parameters that more than one family reads, defined by the family named. */
extern const struct param_def *const param_warn_days;                 /* ladder */
extern const struct param_def *const param_late_report_hours;         /* checks */
extern const struct param_def *const param_extension_max_days;        /* checks */
extern const struct param_def *const param_supplement_days;           /* checks */
extern const struct param_def *const param_first_offence_window_days; /* penalties */
extern const struct param_def *const param_filing_grace_days;         /* penalties; fees too */
extern const struct param_def *const param_repeat_window_days;        /* enforcement */
extern const struct param_def *const param_multi_window_days;         /* enforcement */

/* ruleset.c */
bool rule_enabled(const struct mon_ruleset *rs, const struct rule_def *rule);
int ruleset_param(const struct mon_ruleset *rs, const struct param_def *param);

/* conditions.c */
struct mon_condition *conditions_add(struct conditions *list, const struct history *h,
		const struct rule_def *rule, const char *qualifier, int64_t since);
/* The same under a key the caller built (conditions that span cases, such as a burst of
 * inspections); NULL as well when the list already holds that key. */
struct mon_condition *conditions_add_keyed(struct conditions *list, const struct history *h,
		const struct rule_def *rule, const char *key, int64_t since);
/* A condition about one event: keyed by its id, since its time, the event its evidence. */
struct mon_condition *condition_for_event(struct conditions *list, const struct history *h,
		const struct rule_def *rule, const struct mon_case_event *ce);
/* Adds an event id that is not at hand as an event (a refund's `of`). */
void condition_evidence_id(struct mon_condition *c, const char *id);
void condition_evidence(struct mon_condition *c, const struct mon_case_event *ev);
void condition_message(struct mon_condition *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Names the lower rung this condition replaces (its supersedes). */
void condition_supersedes(struct mon_condition *c, const struct rule_def *lower);
/* Fills the earliest future wake-up time: keeps the minimum of candidates after now. */
void next_check_offer(int64_t *next, int64_t now, int64_t candidate);

#pragma GCC visibility pop

#endif
