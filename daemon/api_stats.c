/* api_stats.c: the console's statistics, for supervisors and auditors (a department gets 403
 * from the route table): GET /v1/stats/ontime (decisions within the committed limit per
 * department, one month), GET /v1/stats/cards (valid cards per month and severity) and GET
 * /v1/scores (esup_scores' ranking of a period). Each reads what the statistics views and
 * esup_scores (schema/015, 016) give for the same departments — nothing is counted twice —
 * scoped to the departments whose region lies within the principal's (alert.h's
 * DEPT_SCOPE_SQL); "the business month" is the Shanghai month of esupd's business clock.
 * One statement per route on d->reader; the reply is built in SQL. */
#include "api.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "http.h"

#define STATS_MONTHS_DEFAULT "12"
#define STATS_MONTHS_MAX 36

/* The business clock ($N: epoch seconds) as a Shanghai timestamp, and its month's first day. */
#define STATS_LOCAL(n) \
	"(to_timestamp(" n "::text::double precision) AT TIME ZONE 'Asia/Shanghai')"
#define STATS_MONTH(n) "date_trunc('month', " STATS_LOCAL(n) ")::date"

/* $1 dept, $2 prefix (the scope), $3 now, $4 the month YYYY-MM (NULL: the business month). */
static const char stats_ontime_sql[] =
	"WITH m AS (SELECT coalesce(to_date($4::text, 'YYYY-MM'), " STATS_MONTH("$3") ") AS period),"
	" s AS (SELECT d.code, d.name FROM departments d WHERE " DEPT_SCOPE_SQL("$1", "$2") ")"
	" SELECT json_build_object('month', to_char(m.period, 'YYYY-MM'),"
	" 'departments', coalesce((SELECT json_agg(json_build_object('dept', s.code,"
	"   'name', s.name, 'decided', coalesce(v.decided, 0),"
	"   'on_time', coalesce(v.on_time_committed, 0), 'rate', v.on_time_rate) ORDER BY s.code)"
	"  FROM s LEFT JOIN esup_stats.dept_month v ON v.dept = s.code AND v.period = m.period),"
	"  '[]'::json))::text FROM m";

/* $1 dept, $2 prefix, $3 now, $4 how many months, ending with the business month. */
static const char stats_cards_sql[] =
	"WITH b AS (SELECT " STATS_MONTH("$3") " AS last,"
	"   (" STATS_MONTH("$3") " - make_interval(months => $4::text::int - 1))::date AS first),"
	" m AS (SELECT (b.last - make_interval(months => g))::date AS period"
	"  FROM b, generate_series(0, $4::text::int - 1) g),"
	" s AS (SELECT d.code FROM departments d WHERE " DEPT_SCOPE_SQL("$1", "$2") "),"
	" v AS (SELECT v.period, v.severity, sum(v.valid) AS n FROM esup_stats.alerts_month v, b"
	"  WHERE v.dept IN (SELECT s.code FROM s) AND v.period >= b.first AND v.period <= b.last"
	"  GROUP BY v.period, v.severity)"
	" SELECT json_build_object('months', json_agg(json_build_object("
	"   'month', to_char(m.period, 'YYYY-MM'),"
	"   'red', coalesce((SELECT v.n FROM v WHERE v.period = m.period AND v.severity = 'red'), 0),"
	"   'yellow', coalesce((SELECT v.n FROM v WHERE v.period = m.period"
	"     AND v.severity = 'yellow'), 0),"
	"   'notice', coalesce((SELECT v.n FROM v WHERE v.period = m.period"
	"     AND v.severity = 'notice'), 0)) ORDER BY m.period))::text FROM m";

/* $1 dept, $2 prefix, $3 now, $4 the period (NULL: the business month). Ranks are
 * esup_scores' own, over every department: a scoped reader sees its departments' places. */
static const char stats_scores_sql[] =
	"WITH p AS (SELECT coalesce($4::text, to_char(" STATS_LOCAL("$3") ", 'YYYY-MM')) AS label),"
	" s AS (SELECT d.code FROM departments d WHERE " DEPT_SCOPE_SQL("$1", "$2") "),"
	" x AS (SELECT x.* FROM p, esup_scores(p.label) x WHERE x.dept IN (SELECT s.code FROM s))"
	" SELECT json_build_object('period', p.label,"
	" 'departments', coalesce((SELECT json_agg(json_build_object('rank', x.rank,"
	"   'dept', x.dept, 'name', x.dept_name, 'score', x.score, 'decided', x.decided,"
	"   'on_time_rate', x.on_time_rate, 'red', x.red, 'yellow', x.yellow, 'notice', x.notice,"
	"   'satisfaction_rate', x.satisfaction_rate, 'complaint_rate', x.complaint_rate,"
	"   'bottom', x.bottom) ORDER BY x.rank NULLS LAST, x.dept) FROM x), '[]'::json))::text"
	" FROM p";

/* s is n decimal digits from offset at. */
static bool
stats_digits(const char *s, size_t at, size_t n)
{
	return strspn(s + at, "0123456789") >= n;
}

/* YYYY-MM, month 01..12, year 0001..9999. */
static bool
stats_month_valid(const char *s)
{
	return strlen(s) == 7 && stats_digits(s, 0, 4) && s[4] == '-' && stats_digits(s, 5, 2) &&
		strncmp(s, "0000", 4) != 0 && strncmp(s + 5, "00", 2) != 0 &&
		strncmp(s + 5, "12", 2) <= 0;
}

/* YYYY, YYYY-MM or YYYY-Qn (n 1..4), as esup_score_period takes them. */
static bool
stats_period_valid(const char *s)
{
	size_t len = strlen(s);

	if (len == 4)
		return stats_digits(s, 0, 4) && strcmp(s, "0000") != 0;
	if (len == 7 && s[5] == 'Q')
		return stats_digits(s, 0, 4) && strncmp(s, "0000", 4) != 0 && s[4] == '-' &&
			s[6] >= '1' && s[6] <= '4';
	return stats_month_valid(s);
}

static bool
stats_months_valid(const char *s)
{
	size_t len = strlen(s);

	return len >= 1 && len <= 2 && stats_digits(s, 0, len) &&
		strtol(s, NULL, 10) >= 1 && strtol(s, NULL, 10) <= STATS_MONTHS_MAX;
}

struct stats_route {
	const char *what;           /* for the log */
	const char *sql;
	const char *param;          /* the one query parameter */
	bool (*valid)(const char *value);
	const char *expected;
	const char *fallback;       /* the parameter when absent; NULL: the SQL decides */
};

static const struct stats_route stats_ontime = {
	"GET /v1/stats/ontime", stats_ontime_sql, "month", stats_month_valid,
	"a month YYYY-MM, e.g. 2026-11", NULL,
};
static const struct stats_route stats_cards = {
	"GET /v1/stats/cards", stats_cards_sql, "months", stats_months_valid,
	"a number of months from 1 to 36", STATS_MONTHS_DEFAULT,
};
static const struct stats_route stats_scores = {
	"GET /v1/scores", stats_scores_sql, "period", stats_period_valid,
	"a month YYYY-MM, a quarter YYYY-Qn or a year YYYY, e.g. 2026-11, 2026-Q4, 2026", NULL,
};

static void
stats_answer(const struct api_request *r, const struct stats_route *sr)
{
	const char *known[] = { sr->param, NULL };
	struct alert_scope scope;
	struct api_query q;
	const char *values[4];
	char now[24];

	if (!api_query_parse(r, known, &q))
		return;
	if (q.values[0] != NULL && !sr->valid(q.values[0])) {
		api_reply_invalid(r->req, sr->param, sr->expected, q.values[0]);
		api_query_free(&q);
		return;
	}
	alert_scope_init(&scope, r->principal);
	alert_scope_params(&scope, values);
	snprintf(now, sizeof(now), "%" PRId64, esupd_now(r->d));
	values[2] = now;
	values[3] = q.values[0] != NULL ? q.values[0] : sr->fallback;
	api_reply_query(r, sr->what, sr->sql, 4, values, "no statistics");
	api_query_free(&q);
}

static void
api_stats_ontime(const struct api_request *r)
{
	stats_answer(r, &stats_ontime);
}

static void
api_stats_cards(const struct api_request *r)
{
	stats_answer(r, &stats_cards);
}

static void
api_stats_scores(const struct api_request *r)
{
	stats_answer(r, &stats_scores);
}

#define STATS_READERS (1u << ROLE_SUPERVISOR | 1u << ROLE_AUDITOR)

const struct api_route api_stats_routes[] = {
	{ EVHTTP_REQ_GET, "/v1/stats/ontime", STATS_READERS, 0, NULL, api_stats_ontime },
	{ EVHTTP_REQ_GET, "/v1/stats/cards", STATS_READERS, 0, NULL, api_stats_cards },
	{ EVHTTP_REQ_GET, "/v1/scores", STATS_READERS, 0, NULL, api_stats_scores },
	{ 0 },
};
