/* alert.h: what an alert and an alert action look like outside the database, for every part
 * of the daemon that shows them (the API, the stream, delivery): the SQL that builds their
 * JSON, the scope a principal reads alerts in, the actions a person may ask for, and what
 * esup_alert_act_as answers. The state machine itself lives in SQL (esup_alert_act_as and
 * friends): nothing here decides a transition. */
#ifndef ESUP_ALERT_H
#define ESUP_ALERT_H

#include <stdbool.h>
#include <stddef.h>

#include "identity.h"

/* A timestamptz column as ISO 8601 in +08:00, as everywhere in the API. */
#define ALERT_TIME(col) \
	"to_char(" col " AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"')"

/* The key/value pairs of an alert's JSON, for a json_build_object() over a row of alerts
 * named `a` (a query may append its own pairs, as GET /v1/alerts/{id} does). */
#define ALERT_JSON_FIELDS \
	"'id', a.id, 'rule', a.rule, 'severity', a.severity, 'dept', a.dept," \
	" 'case', a.case_no, 'item', a.item, 'region', a.region, 'status', a.status," \
	" 'message', a.message, 'since', " ALERT_TIME("a.since") "," \
	" 'raised_at', " ALERT_TIME("a.raised_at") ", 'status_at', " ALERT_TIME("a.status_at") "," \
	" 'issued_at', " ALERT_TIME("a.issued_at") ", 'escalation_level', a.escalation_level," \
	" 'escalated_to', a.escalated_to, 'evidence', a.evidence"
/* An alert as one json value: {"id","rule",...,"evidence"}. */
#define ALERT_JSON_SQL "json_build_object(" ALERT_JSON_FIELDS ")"

/* An action of alert_actions named `x` as one json value:
 * {"id","action","from","to","actor","role","note","at"}. */
#define ALERT_ACTION_JSON_SQL \
	"json_build_object('id', x.id, 'action', x.action, 'from', x.from_state," \
	" 'to', x.to_state, 'actor', x.actor, 'role', x.actor_role, 'note', x.note," \
	" 'at', " ALERT_TIME("x.at") ")"

/* Which alerts a principal may read, as three SQL parameters: a department reads its own
 * (dept) once issued to it (ALERT_DEPT_HIDDEN_SQL); a supervisor those whose region, or the
 * region an escalation (督办) sent them to, lies within its own (prefix, escalated "t"); an
 * auditor those of its region. Regions nest
 * by code prefix (410000 ⊃ 410300 ⊃ 410302); an empty region is everything. */
struct alert_scope {
	char dept[65];       /* "" when not a department */
	char prefix[65];     /* the region code without its trailing "00" pairs; "" for all */
	bool escalated;
};

/* The states in which an alert is not the department's to see, as an SQL list: held (待发,
 * until a supervisor confirms it), cancelled (held and never issued) and suppressed (its rule
 * off, or a silence). A department sees its alert from the step that issues it (raise, confirm,
 * issue); supervisors and auditors see every state. Migration 035 says the same to the
 * database's department staff and to esup_alert_step. */
#define ALERT_DEPT_HIDDEN_SQL "('held', 'cancelled', 'suppressed')"

/* The condition on alerts `a` given the scope in parameters $D (dept, NULL when none),
 * $P (prefix) and $E (escalated, boolean): substitute with the numbers in your statement. */
#define ALERT_SCOPE_SQL(D, P, E) \
	"((" D "::text IS NULL OR (a.dept = " D "::text" \
	"  AND a.status NOT IN " ALERT_DEPT_HIDDEN_SQL "))" \
	" AND (" P "::text = '' OR left(a.region, length(" P "::text)) = " P "::text" \
	"  OR (" E "::boolean AND left(coalesce(a.escalated_to, ''), length(" P "::text)) = " P "::text)))"

/* The departments a principal's board and statistics cover, as a condition on departments
 * `d` given ALERT_SCOPE_SQL's $D (dept) and $P (prefix): a department its own; a supervisor
 * or an auditor those whose region lies within its own (escalations play no part: a board
 * shows departments, not alerts sent up from elsewhere); no region: all. */
#define DEPT_SCOPE_SQL(D, P) \
	"((" D "::text IS NULL OR d.code = " D "::text)" \
	" AND (" P "::text = '' OR left(d.region, length(" P "::text)) = " P "::text))"

/* Region codes nest by prefix: 410000 Henan ⊃ 410300 Luoyang ⊃ 410302 a district. The length
 * of region's own prefix (without its trailing "00" pairs; 0 for "" or 000000: everything), and
 * whether scope covers region (itself or one below it). */
size_t region_prefix_len(const char *region);
bool region_covers(const char *scope, const char *region);

void alert_scope_init(struct alert_scope *scope, const struct principal *p);
/* The three parameter values for ALERT_SCOPE_SQL, valid while scope is. */
void alert_scope_params(const struct alert_scope *scope, const char **values);

/* The states an alert can be in, and the actions a person asks for over HTTP. */
bool alert_state_known(const char *name, size_t len);
bool alert_action_known(const char *name);

/* What esup_alert_act_as (and the other act functions) answer. */
enum alert_outcome {
	ALERT_DONE,
	ALERT_ILLEGAL,        /* not from the alert's current state: 409 with that state */
	ALERT_FORBIDDEN,      /* the principal's role may not take this action: 403 */
	ALERT_NOT_FOUND,      /* no such alert, or outside the principal's scope: 404 */
	ALERT_BAD_REQUEST,    /* e.g. a note is required: 400 */
};

bool alert_outcome_parse(const char *text, enum alert_outcome *outcome)
	__attribute__((warn_unused_result));
int alert_outcome_http_status(enum alert_outcome outcome);

/* What an alert is about, for its log lines (daemon/log.h log_alert): the case when there is
 * one; for a caseless alert the event its dedup key names (RULE|dept||EVENT, libmonitor
 * conditions.c) as "event ID", else the key itself. CASE and KEY are SQL expressions. It reads
 * no table: daemon/cases.c evaluates it in the sweeper's and ingest's transactions, where a
 * read of events or alerts in the evaluation's statement changed which case went first
 * (tests/integration/test_cases.py). */
#define ALERT_KEY_QUALIFIER(KEY) "substring(" KEY " FROM '^(?:[^|]*[|]){3}(.*)$')"
#define ALERT_SUBJECT_SQL(CASE, KEY) \
	"CASE WHEN coalesce(" CASE ", '') <> '' THEN " CASE " ELSE coalesce(" \
	"'event ' || nullif(" ALERT_KEY_QUALIFIER(KEY) ", ''), " KEY ", '') END"

/* "DEPT/CASE" or, for a caseless alert, "DEPT SUBJECT" (ALERT_SUBJECT_SQL; "DEPT" when the
 * subject is empty), into buf. */
const char *alert_subject_text(char *buf, size_t len, const char *dept, const char *case_no,
		const char *subject);

#endif
