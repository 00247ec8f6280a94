/* api_cases.c: GET /v1/cases/{dept}/{case}: the information service. A case's status, its
 * clock (counted and suspended days), its deadlines as the last day allowed, and its alerts.
 * The owning department, supervisors of its region, and auditors may read it. A supervisor
 * gets the same 404 for a case outside its region as for one that does not exist, so the
 * answer says nothing about what exists elsewhere; a department asking for another's cases
 * gets 403 before anything is looked up. */
#include "alert.h"
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "db.h"
#include "http.h"
#include "log.h"
#include "tls.h"

#define CASE_TIME(col) "to_char(" col " AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"')"

static const char case_sql[] =
	"SELECT coalesce(d.region, ''), json_build_object("
	" 'dept', c.dept, 'case', c.case_no, 'item', c.item, 'status', c.status, 'unit', c.unit,"
	" 'counted_days', c.counted_days, 'suspended_days', c.suspended_days,"
	" 'limits', json_build_object('committed', c.committed_days, 'statutory', c.statutory_days),"
	" 'deadline', json_build_object('committed', to_char(c.committed_day, 'YYYY-MM-DD'),"
	"   'statutory', to_char(c.statutory_day, 'YYYY-MM-DD')),"
	" 'level', c.level, 'next_check', " CASE_TIME("c.next_check_at") ","
	" 'alerts', coalesce((SELECT json_agg(json_build_object('id', a.id, 'rule', a.rule,"
	"   'severity', a.severity, 'status', a.status, 'message', a.message,"
	"   'since', " CASE_TIME("a.since") ", 'raised_at', " CASE_TIME("a.raised_at") ","
	"   'evidence', a.evidence) ORDER BY a.id)"
	"  FROM alerts a WHERE a.dept = c.dept AND a.case_no = c.case_no), '[]'::json))::text"
	" FROM cases c LEFT JOIN departments d ON d.code = c.dept"
	" WHERE c.dept = $1 AND c.case_no = $2";

struct case_request {
	struct evhttp_request *req;
	enum principal_role role;
	unsigned retry_after_s;
	char region[64];       /* the supervisor's, "" when unscoped */
};

static void
case_loaded(const PGresult *res, void *arg)
{
	struct case_request *cr = arg;
	json_error_t jerr;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
		http_reply_retry(cr->req, 503, cr->retry_after_s, "database unavailable");
	else if (PQntuples(res) == 0 ||
	    (cr->role == ROLE_SUPERVISOR && !region_covers(cr->region, PQgetvalue(res, 0, 0))))
		http_reply_error(cr->req, 404, "no such case");   /* outside the scope: as if absent */
	else
		http_reply_json(cr->req, 200, json_loads(PQgetvalue(res, 0, 1), 0, &jerr));
	free(cr);
}

static void
api_cases_get(const struct api_request *r)
{
	const char *dept = api_param(r, "dept"), *case_no = api_param(r, "case");
	const char *values[2] = { dept, case_no };
	struct case_request *cr;

	if (r->principal->role == ROLE_DEPARTMENT && strcmp(r->principal->dept, dept) != 0) {
		http_reply_error(r->req, 403, "a department may read only its own cases");
		return;
	}
	if ((cr = calloc(1, sizeof(*cr))) == NULL) {
		http_reply_error(r->req, 500, "out of memory");
		return;
	}
	cr->req = r->req;
	cr->role = r->principal->role;
	cr->retry_after_s = r->d->cfg->retry_after_s;
	snprintf(cr->region, sizeof(cr->region), "%s", r->principal->region);
	if (!db_query(r->d->reader, case_sql, 2, values, case_loaded, cr)) {
		free(cr);
		http_reply_retry(r->req, 503, r->d->cfg->retry_after_s, "database unavailable");
	}
}

const struct api_route api_cases_routes[] = {
	{ EVHTTP_REQ_GET, "/v1/cases/{dept}/{case}", API_ROLES_READERS, 0,
	  "expected /v1/cases/{dept}/{case}", api_cases_get },
	{ 0 },
};
