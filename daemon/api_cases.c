/* api_cases.c: GET /v1/cases/{dept}/{case}: the information service. A case's status, its
 * clock (counted and suspended days, and the spans that stopped or stretched it), its
 * deadlines as the last day allowed, its facts, its events and its alerts. The owning
 * department, supervisors of its region, and auditors may read it. A supervisor gets the same
 * 404 for a case outside its region as for one that does not exist, so the answer says nothing
 * about what exists elsewhere; a department asking for another's cases gets 403 before
 * anything is looked up.
 *
 * The clock is libmonitor's (mon_case_clock): the case's stored events replayed as of the
 * business clock, the very replay an evaluation counts days from, so the spans and the
 * counted and suspended days of the reply cannot disagree, and no suspension rule is written
 * twice. One statement on d->reader loads the case and its events; the replay runs in the
 * reply callback with the rules in force then. */
#include "alert.h"
#include "api.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <mon_rules.h>
#include <mon_value.h>

#include "db.h"
#include "http.h"
#include "log.h"
#include "refdata.h"
#include "tls.h"

#define CASE_OFFSET_MIN (8 * 60)    /* times in the reply: Asia/Shanghai, +08:00 */

/* $1 dept, $2 case. Columns: the department's region, the case as JSON (without its clock;
 * with its alerts and the department's corrections of its events, oldest first),
 * its events as JSON ({"id","type","at","received_at","body"} in business-time order, the
 * order the replay sorts them in) and their receipt times as epoch seconds, in that order. */
static const char case_sql[] =
	"SELECT coalesce(d.region, ''), json_build_object("
	" 'dept', c.dept, 'case', c.case_no, 'item', c.item, 'status', c.status, 'unit', c.unit,"
	" 'counted_days', c.counted_days, 'suspended_days', c.suspended_days,"
	" 'limits', json_build_object('committed', c.committed_days, 'statutory', c.statutory_days),"
	" 'deadline', json_build_object('committed', to_char(c.committed_day, 'YYYY-MM-DD'),"
	"   'statutory', to_char(c.statutory_day, 'YYYY-MM-DD')),"
	" 'level', c.level, 'next_check', " ALERT_TIME("c.next_check_at") ","
	" 'facts', json_build_object('kind', c.kind, 'received_at', " ALERT_TIME("c.received_at") ","
	"   'accepted_at', " ALERT_TIME("c.accepted_at") ", 'closed_at', " ALERT_TIME("c.closed_at") ","
	"   'result', c.result, 'reported', c.reported, 'supplements', c.supplements,"
	"   'on_time_committed', c.on_time_committed, 'on_time_statutory', c.on_time_statutory,"
	"   'replied_at', " ALERT_TIME("c.replied_at") ", 'reply_on_time', c.reply_on_time,"
	"   'close_on_time', c.close_on_time, 'applicant', c.applicant),"
	" 'alerts', coalesce((SELECT json_agg(json_build_object('id', a.id, 'rule', a.rule,"
	"   'severity', a.severity, 'status', a.status, 'message', a.message,"
	"   'since', " ALERT_TIME("a.since") ", 'raised_at', " ALERT_TIME("a.raised_at") ","
	"   'status_at', " ALERT_TIME("a.status_at") ","
	"   'evidence', a.evidence) ORDER BY a.id)"
	"  FROM alerts a WHERE a.dept = c.dept AND a.case_no = c.case_no), '[]'::json),"
	" 'corrections', coalesce((SELECT json_agg(json_build_object('id', e.event_id,"
	"   'of', e.body->>'of', 'action', e.body->>'action', 'reason', e.body->>'reason',"
	"   'at', " ALERT_TIME("e.at") ", 'received_at', " ALERT_TIME("e.received_at") ")"
	"   ORDER BY e.at, e.received_at, e.event_id)"
	"  FROM events e WHERE e.dept = c.dept AND e.case_no = c.case_no"
	"   AND e.type = 'event.corrected'), '[]'::json))::text,"
	" coalesce(ev.list, '[]')::text, coalesce(ev.received, '[]')::text"
	" FROM cases c LEFT JOIN departments d ON d.code = c.dept"
	" LEFT JOIN LATERAL (SELECT json_agg(json_build_object('id', e.event_id, 'type', e.type,"
	"   'at', " ALERT_TIME("e.at") ", 'received_at', " ALERT_TIME("e.received_at") ","
	"   'body', e.body) ORDER BY e.at, e.received_at, e.event_id) AS list,"
	"  json_agg(floor(extract(epoch FROM e.received_at))::bigint"
	"   ORDER BY e.at, e.received_at, e.event_id) AS received"
	"  FROM events e WHERE e.dept = c.dept AND e.case_no = c.case_no) ev ON true"
	" WHERE c.dept = $1 AND c.case_no = $2";

struct case_request {
	struct evhttp_request *req;
	struct esupd *d;
	enum principal_role role;
	char region[64];       /* the supervisor's, "" when unscoped */
};

static json_t *
case_time_json(int64_t t)
{
	char buf[40];

	if (t == MON_TIME_NONE)
		return json_null();
	mon_time_format(t, CASE_OFFSET_MIN, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *
case_span_json(const struct mon_clock_span *s)
{
	if (s->kind == MON_CLOCK_SUSPENDED)
		return json_pack("{s:s, s:o, s:o, s:i, s:s, s:s}", "kind", "suspended",
			"from", case_time_json(s->from), "to", case_time_json(s->to),
			"days", s->days, "procedure", s->procedure, "event", s->event);
	return json_pack("{s:s, s:o, s:i, s:b, s:s}", "kind", "extended",
		"at", case_time_json(s->from), "days", s->days, "effective", s->effective,
		"event", s->event);
}

/* The case's stored events, as the replay takes them: like an evaluation (cases.c), one that
 * a stricter build refuses is logged and left out. False when memory ran out; *ces and
 * *events are the caller's to free either way. */
static bool
case_events_load(json_t *list, json_t *received, struct mon_event **events,
		struct mon_case_event **ces, size_t *count)
{
	size_t n = json_array_size(list);

	*count = 0;
	*events = calloc(n > 0 ? n : 1, sizeof(**events));
	*ces = calloc(n > 0 ? n : 1, sizeof(**ces));
	if (*events == NULL || *ces == NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		json_t *item = json_array_get(list, i);
		struct mon_error err;

		if (!mon_event_from_json(json_object_get(item, "body"), &(*events)[*count], &err)) {
			log_warnx("GET /v1/cases: stored event %s is no longer valid (%s: expected %s);"
				" left out of the clock",
				json_string_value(json_object_get(item, "id")), err.field, err.expected);
			continue;
		}
		(*ces)[*count] = (struct mon_case_event){ &(*events)[*count],
			json_integer_value(json_array_get(received, i)), false };
		(*count)++;
	}
	return true;
}

/* Sets the case's "clock", "counted_days" and "suspended_days" from one replay of its events.
 * A case without events (a row made by hand) keeps its stored days and has no span; one whose
 * events cannot be replayed (more than libmonitor takes) keeps its stored days and gets
 * "clock": null. False only when memory ran out. */
static bool
case_add_clock(const struct mon_ruleset *rs, int64_t now, json_t *body, json_t *list,
		json_t *received)
{
	struct mon_event *events = NULL;
	struct mon_case_event *ces = NULL;
	struct mon_case_clock clk = { 0 };
	struct mon_error err = { .field = "" };
	size_t count = 0;
	bool loaded, replayed = false;
	json_t *spans = json_array();

	loaded = spans != NULL && case_events_load(list, received, &events, &ces, &count);
	if (loaded && count > 0) {
		replayed = mon_case_clock(rs, ces, count, now, &clk, &err);
		if (!replayed)
			log_warnx("GET /v1/cases: no clock: %s: expected %s", err.field, err.expected);
	}
	for (size_t i = 0; i < count; i++)
		mon_event_finish(&events[i]);
	free(events);
	free(ces);
	if (!loaded) {
		json_decref(spans);
		return false;
	}
	for (size_t i = 0; i < clk.count; i++)
		json_array_append_new(spans, case_span_json(&clk.spans[i]));
	if (replayed) {
		json_object_set_new(body, "counted_days", json_integer(clk.counted_days));
		json_object_set_new(body, "suspended_days", json_integer(clk.suspended_days));
	}
	if (count > 0 && !replayed) {
		json_decref(spans);
		spans = json_null();
	}
	json_object_set_new(body, "clock", spans);
	mon_case_clock_finish(&clk);
	return true;
}

static void
case_reply(struct case_request *cr, const PGresult *res)
{
	const struct mon_ruleset *rs = refdata_rules(cr->d->refdata);
	json_t *body = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
	json_t *list = json_loads(PQgetvalue(res, 0, 2), 0, NULL);
	json_t *received = json_loads(PQgetvalue(res, 0, 3), 0, NULL);

	if (rs == NULL) {
		/* Reference data not loaded yet: resend later. */
		http_reply_retry(cr->req, 503, cr->d->cfg->retry_after_s, "rules not loaded yet");
	} else if (body == NULL || list == NULL || received == NULL ||
	    json_array_size(list) != json_array_size(received) ||
	    !case_add_clock(rs, esupd_now(cr->d), body, list, received)) {
		http_reply_error(cr->req, 500, "out of memory");
	} else {
		json_object_set(body, "events", list);
		http_reply_json(cr->req, 200, json_incref(body));
	}
	json_decref(body);
	json_decref(list);
	json_decref(received);
}

static void
case_loaded(const PGresult *res, void *arg)
{
	struct case_request *cr = arg;

	if (res == NULL) {
		http_reply_retry(cr->req, 503, cr->d->cfg->retry_after_s, "database unavailable");
	} else if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_warnx("GET /v1/cases: %s", PQresultErrorMessage(res));
		http_reply_error(cr->req, 500, "the database refused the query; see the daemon's log");
	} else if (PQntuples(res) == 0 ||
	    (cr->role == ROLE_SUPERVISOR && !region_covers(cr->region, PQgetvalue(res, 0, 0)))) {
		http_reply_error(cr->req, 404, "no such case");   /* outside the scope: as if absent */
	} else {
		case_reply(cr, res);
	}
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
	cr->d = r->d;
	cr->role = r->principal->role;
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
