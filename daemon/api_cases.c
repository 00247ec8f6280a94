/* api_cases.c: GET /v1/cases/{dept}/{case}: the information service. A case's status, its
 * clock (counted and suspended days), its deadlines as the last day allowed, and its alerts.
 * The owning department, supervisors of its region, and auditors may read it. A supervisor
 * gets the same 404 for a case outside its region as for one that does not exist, so the
 * answer says nothing about what exists elsewhere; a department asking for another's cases
 * gets 403 before anything is looked up. */
#include "http.h"

#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "db.h"
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

/* Administrative division codes nest by prefix: 410000 Henan, 410300 Luoyang, 410302 a
 * district. A supervisor of a region sees its departments and those of the regions below. */
static bool
region_covers(const char *scope, const char *region)
{
	size_t len = strlen(scope);

	while (len >= 2 && scope[len - 1] == '0' && scope[len - 2] == '0')
		len -= 2;
	return len == 0 || strncmp(scope, region, len) == 0;
}

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

/* Splits "/v1/cases/DEPT/CASE" into its two decoded parts; false when malformed. */
static bool
case_path(const char *path, char *dept, char *case_no)
{
	const char *rest = path + strlen("/v1/cases/");
	const char *slash = strchr(rest, '/');
	char *d, *c;
	bool ok;

	if (slash == NULL || slash == rest || slash[1] == '\0' || strchr(slash + 1, '/'))
		return false;
	d = evhttp_uridecode(rest, 0, NULL);
	c = evhttp_uridecode(slash + 1, 0, NULL);
	if (d != NULL)
		d[strcspn(d, "/")] = '\0';
	ok = d && c && d[0] && c[0] && strlen(d) <= MON_CODE_MAX && strlen(c) <= MON_CODE_MAX;
	if (ok) {
		memcpy(dept, d, strlen(d) + 1);
		memcpy(case_no, c, strlen(c) + 1);
	}
	free(d);
	free(c);
	return ok;
}

void
api_cases_get(struct esupd *d, struct evhttp_request *req, const char *path)
{
	char fingerprint[TLS_FINGERPRINT_LEN + 1];
	char dept[MON_CODE_MAX + 1], case_no[MON_CODE_MAX + 1];
	const char *values[2] = { dept, case_no };
	const struct principal *p;
	struct case_request *cr;

	p = http_authenticate(d, req, 1u << ROLE_DEPARTMENT | 1u << ROLE_SUPERVISOR |
		1u << ROLE_AUDITOR, fingerprint);
	if (p == NULL)
		return;
	if (!case_path(path, dept, case_no)) {
		http_reply_error(req, 404, "expected /v1/cases/{dept}/{case}");
		return;
	}
	if (p->role == ROLE_DEPARTMENT && strcmp(p->dept, dept) != 0) {
		http_reply_error(req, 403, "a department may read only its own cases");
		return;
	}
	if ((cr = calloc(1, sizeof(*cr))) == NULL) {
		http_reply_error(req, 500, "out of memory");
		return;
	}
	cr->req = req;
	cr->role = p->role;
	cr->retry_after_s = d->cfg->retry_after_s;
	snprintf(cr->region, sizeof(cr->region), "%s", p->region);
	if (!db_query(d->reader, case_sql, 2, values, case_loaded, cr)) {
		free(cr);
		http_reply_retry(req, 503, d->cfg->retry_after_s, "database unavailable");
	}
}
