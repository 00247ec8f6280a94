/* api_board.c: GET /v1/board (every department in the principal's scope, coloured by its
 * worst live alert) and GET /v1/board/{dept} (one department's items, cases and caseless
 * alerts). The console's first two screens.
 *
 * Scope: a department sees only itself, a supervisor or an auditor the departments whose
 * region lies within its own (alert.h's DEPT_SCOPE_SQL), an unscoped principal all. A
 * department outside the scope gets the same 404 as one that does not exist.
 *
 * "Live" here is what still asks something of the department: open, acknowledged, appealed.
 * Held alerts (待发, waiting for a supervisor's confirmation) are counted apart in "held" and
 * colour nothing; suppressed and final alerts are not counted. A department is not shown its
 * held alerts (alert.h ALERT_DEPT_HIDDEN_SQL): its "held" is 0. The colour ("worst") is the
 * highest severity among the live alerts: red > yellow > notice, "clear" when there is none.
 *
 * Cost: one statement each, on d->reader. Live alerts are few beside all alerts, and both
 * statements reach them through the partial index alerts_board (schema/020_board.sql), one
 * GROUP BY over the live alerts of the departments in scope; open cases likewise through
 * cases_open. Nothing scans the alerts of a department's past. */
#include "api.h"

#include <inttypes.h>
#include <stdio.h>

#include "alert.h"
#include "http.h"

/* The alerts a board counts: live ones and held ones (each query tells them apart). The
 * condition is the predicate of the partial index alerts_board, word for word. */
#define BOARD_SHOWN "a.status IN ('held', 'open', 'acknowledged', 'appealed')"
/* Open cases: the predicate of cases_open. */
#define BOARD_OPEN_CASE "c.status IN ('received', 'accepted', 'suspended')"

/* Live alerts per severity, and held alerts, over alerts `a` of a group. */
#define BOARD_COUNTS \
	"count(*) FILTER (WHERE a.status <> 'held' AND a.severity = 'red') AS red," \
	" count(*) FILTER (WHERE a.status <> 'held' AND a.severity = 'yellow') AS yellow," \
	" count(*) FILTER (WHERE a.status <> 'held' AND a.severity = 'notice') AS notice," \
	" count(*) FILTER (WHERE a.status = 'held') AS held"

/* Over a row t with those counts (NULL when the group had no alert at all). */
#define BOARD_WORST(t) \
	"CASE WHEN coalesce(" t ".red, 0) > 0 THEN 'red' WHEN coalesce(" t ".yellow, 0) > 0" \
	" THEN 'yellow' WHEN coalesce(" t ".notice, 0) > 0 THEN 'notice' ELSE 'clear' END"
#define BOARD_RANK(t) \
	"CASE WHEN coalesce(" t ".red, 0) > 0 THEN 3 WHEN coalesce(" t ".yellow, 0) > 0" \
	" THEN 2 WHEN coalesce(" t ".notice, 0) > 0 THEN 1 ELSE 0 END"
#define BOARD_LIVE(t) \
	"json_build_object('red', coalesce(" t ".red, 0), 'yellow', coalesce(" t ".yellow, 0)," \
	" 'notice', coalesce(" t ".notice, 0))"

/* The held count `n` for the principal whose scope's dept is $D: 0 for a department, which
 * does not see its held alerts. */
#define BOARD_HELD(D, n) "CASE WHEN " D "::text IS NULL THEN coalesce(" n ", 0) ELSE 0 END"

/* The business clock ($N: epoch seconds) as an instant, and as the Shanghai date. */
#define BOARD_NOW(n) "to_timestamp(" n "::text::double precision)"
#define BOARD_TODAY(n) "(" BOARD_NOW(n) " AT TIME ZONE 'Asia/Shanghai')::date"

/* $1 dept, $2 prefix (the scope), $3 now, $4 the principal's region (NULL for none). */
static const char board_sql[] =
	"WITH s AS (SELECT d.code, d.name, d.region FROM departments d"
	"  WHERE " DEPT_SCOPE_SQL("$1", "$2") "),"
	" l AS (SELECT a.dept, " BOARD_COUNTS " FROM alerts a"
	"  WHERE " BOARD_SHOWN " AND a.dept IN (SELECT s.code FROM s) GROUP BY a.dept),"
	" k AS (SELECT c.dept, count(*) AS open_cases,"
	"   count(*) FILTER (WHERE c.statutory_day < " BOARD_TODAY("$3") ") AS overdue"
	"  FROM cases c WHERE " BOARD_OPEN_CASE " AND c.dept IN (SELECT s.code FROM s)"
	"  GROUP BY c.dept)"
	" SELECT json_build_object('now', " ALERT_TIME(BOARD_NOW("$3")) ", 'region', $4::text,"
	" 'departments', coalesce((SELECT json_agg(json_build_object('dept', s.code,"
	"   'name', s.name, 'region', s.region, 'worst', " BOARD_WORST("l") ","
	"   'live', " BOARD_LIVE("l") ", 'held', " BOARD_HELD("$1", "l.held") ","
	"   'open_cases', coalesce(k.open_cases, 0), 'overdue_cases', coalesce(k.overdue, 0))"
	"   ORDER BY s.code)"
	"  FROM s LEFT JOIN l ON l.dept = s.code LEFT JOIN k ON k.dept = s.code), '[]'::json))::text";

/* $1 the department asked for, $2 dept and $3 prefix (the scope). No row: not in scope.
 * a: the department's live and held alerts; oc: its open cases; shown: the cases to show (open,
 * or with a live alert); cs: the first 500 of them, worst first, then by statutory deadline
 * (cases_total counts them all); it: the items with an open case or a live alert. */
static const char board_dept_sql[] =
	"WITH s AS (SELECT d.code, d.name, d.region FROM departments d"
	"  WHERE d.code = $1::text AND " DEPT_SCOPE_SQL("$2", "$3") "),"
	" a AS (SELECT a.* FROM alerts a WHERE a.dept = (SELECT s.code FROM s) AND " BOARD_SHOWN "),"
	" oc AS (SELECT c.case_no, c.item FROM cases c"
	"  WHERE c.dept = (SELECT s.code FROM s) AND " BOARD_OPEN_CASE "),"
	" ca AS (SELECT a.case_no, " BOARD_COUNTS " FROM a WHERE a.case_no IS NOT NULL"
	"  GROUP BY a.case_no),"
	" shown AS (SELECT oc.case_no FROM oc"
	"  UNION SELECT ca.case_no FROM ca WHERE ca.red + ca.yellow + ca.notice > 0),"
	" cs AS (SELECT c.case_no, c.item, c.status, c.committed_day, c.statutory_day,"
	"   c.counted_days, c.committed_days, c.statutory_days, ca.red, ca.yellow, ca.notice"
	"  FROM cases c LEFT JOIN ca ON ca.case_no = c.case_no"
	"  WHERE c.dept = (SELECT s.code FROM s) AND c.case_no IN (SELECT shown.case_no FROM shown)"
	"  ORDER BY " BOARD_RANK("ca") " DESC, c.statutory_day NULLS LAST, c.case_no LIMIT 500),"
	" ia AS (SELECT a.item, " BOARD_COUNTS " FROM a WHERE coalesce(a.item, '') <> ''"
	"  GROUP BY a.item),"
	" io AS (SELECT oc.item, count(*) AS n FROM oc WHERE oc.item <> '' GROUP BY oc.item),"
	" it AS (SELECT coalesce(ia.item, io.item) AS item, ia.red, ia.yellow, ia.notice, io.n"
	"  FROM ia FULL JOIN io ON io.item = ia.item"
	"  WHERE coalesce(ia.red + ia.yellow + ia.notice, 0) > 0 OR coalesce(io.n, 0) > 0)"
	" SELECT json_build_object('dept', s.code, 'name', s.name, 'region', s.region,"
	" 'worst', " BOARD_WORST("t") ", 'live', " BOARD_LIVE("t") ", 'held', " BOARD_HELD("$2", "t.held") ","
	" 'items', coalesce((SELECT json_agg(json_build_object('item', it.item, 'name', i.name,"
	"   'worst', " BOARD_WORST("it") ", 'live', " BOARD_LIVE("it") ","
	"   'open_cases', coalesce(it.n, 0)) ORDER BY it.item)"
	"  FROM it LEFT JOIN items i ON i.code = it.item), '[]'::json),"
	" 'cases', coalesce((SELECT json_agg(json_build_object('case', cs.case_no, 'item', cs.item,"
	"   'status', cs.status, 'worst', " BOARD_WORST("cs") ", 'live', " BOARD_LIVE("cs") ","
	"   'deadline', json_build_object('committed', to_char(cs.committed_day, 'YYYY-MM-DD'),"
	"     'statutory', to_char(cs.statutory_day, 'YYYY-MM-DD')),"
	"   'counted_days', cs.counted_days,"
	"   'limits', json_build_object('committed', cs.committed_days,"
	"     'statutory', cs.statutory_days))"
	"   ORDER BY " BOARD_RANK("cs") " DESC, cs.statutory_day NULLS LAST, cs.case_no) FROM cs),"
	"  '[]'::json),"
	" 'cases_total', (SELECT count(*) FROM cases c WHERE c.dept = (SELECT s.code FROM s)"
	"   AND c.case_no IN (SELECT shown.case_no FROM shown)),"
	" 'other_alerts_total', (SELECT count(*) FROM a WHERE a.case_no IS NULL AND a.status <> 'held'),"
	" 'other_alerts', coalesce((SELECT json_agg(" ALERT_JSON_SQL " ORDER BY a.id DESC)"
	"  FROM (SELECT * FROM a WHERE a.case_no IS NULL AND a.status <> 'held'"
	"   ORDER BY a.id DESC LIMIT 100) a), '[]'::json))::text"
	" FROM s, (SELECT " BOARD_COUNTS " FROM a) t";

static void
api_board_get(const struct api_request *r)
{
	struct alert_scope scope;
	const char *values[4];
	char now[24];

	alert_scope_init(&scope, r->principal);
	alert_scope_params(&scope, values);
	snprintf(now, sizeof(now), "%" PRId64, esupd_now(r->d));
	values[2] = now;
	values[3] = r->principal->region[0] != '\0' ? r->principal->region : NULL;
	api_reply_query(r, "GET /v1/board", board_sql, 4, values, "no board");
}

static void
api_board_dept(const struct api_request *r)
{
	struct alert_scope scope;
	const char *values[4];   /* the third scope parameter (escalated) goes unused */

	alert_scope_init(&scope, r->principal);
	values[0] = api_param(r, "dept");
	alert_scope_params(&scope, values + 1);
	api_reply_query(r, "GET /v1/board/{dept}", board_dept_sql, 3, values,
		"no such department");
}

const struct api_route api_board_routes[] = {
	{ EVHTTP_REQ_GET, "/v1/board", API_ROLES_READERS, 0, NULL, api_board_get },
	{ EVHTTP_REQ_GET, "/v1/board/{dept}", API_ROLES_READERS, 0, "expected /v1/board/{dept}",
	  api_board_dept },
	{ 0 },
};
