/* report.c: `esupctl report` (report.h). Reads every table of the month in one REPEATABLE
 * READ READ ONLY transaction (one snapshot while ingest goes on) from the documented views
 * (esup_stats.dept_month), the score function (esup_scores) and the published daily chain
 * heads (event_chain_daily), then writes each file beside its final name and renames it
 * there, so a reader never sees half a report. Row-level security applies as for any query
 * of the login role; --region narrows further. report_html.c lays out the HTML. */
#include "report.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "report_doc.h"
#include "svg.h"

#define TEXTOID 25

/* Parameters of every query: $1 the month's first day, $2 the region ('' : all), $3 the
 * month as esup_scores takes it ('2026-03'). */
#define SCOPE "period = $1::date AND esup_region_covers($2, region)"

static const char summary_sql[] =
	"SELECT count(*) AS departments, coalesce(sum(received), 0) AS received,"
	" coalesce(sum(decided), 0) AS decided,"
	" coalesce(sum(on_time_committed), 0) AS on_time_committed,"
	" round(sum(on_time_committed)::numeric / nullif(sum(decided), 0), 4) AS on_time_rate,"
	" coalesce(sum(alerts_red), 0) AS alerts_red, coalesce(sum(alerts_yellow), 0) AS alerts_yellow,"
	" coalesce(sum(alerts_notice), 0) AS alerts_notice,"
	" coalesce(sum(alerts_revoked), 0) AS alerts_revoked,"
	" coalesce(sum(fees_net_yuan), 0) AS fees_net_yuan, coalesce(sum(penalties), 0) AS penalties,"
	" coalesce(sum(penalties_yuan), 0) AS penalties_yuan,"
	" coalesce(sum(complaints_received), 0) AS complaints_received,"
	" coalesce(sum(complaints_closed), 0) AS complaints_closed,"
	" coalesce(sum(events), 0) AS events, coalesce(sum(late_reported), 0) AS late_reported"
	" FROM esup_stats.dept_month WHERE " SCOPE;

static const char depts_sql[] =
	"SELECT dept, dept_name, received, decided, on_time_committed, on_time_rate, avg_days,"
	" max_days, alerts_red, alerts_yellow, alerts_notice, alerts_revoked, fees_net_yuan,"
	" complaints_received, complaints_closed"
	" FROM esup_stats.dept_month WHERE " SCOPE " ORDER BY dept";

static const char cards_sql[] =
	"SELECT dept, dept_name, alerts_red, alerts_yellow, alerts_notice,"
	" alerts_red + alerts_yellow + alerts_notice AS alerts_valid, alerts_revoked, alerts_dismissed"
	" FROM esup_stats.dept_month WHERE " SCOPE " ORDER BY dept";

static const char ranking_sql[] =
	"SELECT rank, dept, dept_name, score, decided, on_time_rate, red, yellow, notice,"
	" satisfaction_rate,"
	" complaint_rate, bottom FROM esup_scores($3)"
	" WHERE esup_region_covers($2, region) ORDER BY rank, dept";

/* The six months up to this one, each present even without a row. */
static const char trend_sql[] =
	"SELECT to_char(m, 'YYYY-MM') AS month, count(v.dept) AS departments,"
	" coalesce(sum(v.received), 0) AS received, coalesce(sum(v.decided), 0) AS decided,"
	" coalesce(sum(v.on_time_committed), 0) AS on_time_committed,"
	" round(sum(v.on_time_committed)::numeric / nullif(sum(v.decided), 0), 4) AS on_time_rate,"
	" coalesce(sum(v.alerts_red), 0) AS alerts_red,"
	" coalesce(sum(v.alerts_yellow), 0) AS alerts_yellow,"
	" coalesce(sum(v.alerts_notice), 0) AS alerts_notice,"
	" coalesce(sum(v.fees_net_yuan), 0) AS fees_net_yuan,"
	" coalesce(sum(v.complaints_received), 0) AS complaints_received"
	" FROM generate_series($1::date - interval '5 months', $1::date, interval '1 month') AS m"
	" LEFT JOIN esup_stats.dept_month v"
	"   ON v.period = m::date AND esup_region_covers($2, v.region)"
	" GROUP BY m ORDER BY m";

/* Each department's last daily head published up to the month's last day. */
static const char heads_sql[] =
	"SELECT DISTINCT ON (c.dept) c.dept, d.name AS dept_name, c.day::text AS day, c.seq,"
	" encode(c.hash, 'hex') AS hash,"
	" to_char(c.published_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI:SS') AS published"
	" FROM event_chain_daily c JOIN departments d ON d.code = c.dept"
	" WHERE c.day < ($1::date + interval '1 month')::date AND esup_region_covers($2, d.region)"
	" ORDER BY c.dept, c.day DESC";

static const char meta_sql[] =
	"SELECT to_char(now() AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI:SS'),"
	" coalesce((SELECT name FROM regions WHERE code = $2), ''), $1::date, $3";

static const struct report_column summary_cols[] = {
	{ "departments", "部门数", K_NUM }, { "received", "收件", K_NUM },
	{ "decided", "办结", K_NUM }, { "on_time_committed", "按时办结", K_NUM },
	{ "on_time_rate", "按时办结率", K_RATE }, { "alerts_red", "红牌", K_NUM },
	{ "alerts_yellow", "黄牌", K_NUM }, { "alerts_notice", "预警", K_NUM },
	{ "alerts_revoked", "撤消", K_NUM }, { "fees_net_yuan", "收费净额（元）", K_NUM },
	{ "penalties", "处罚", K_NUM }, { "penalties_yuan", "罚款（元）", K_NUM },
	{ "complaints_received", "投诉", K_NUM }, { "complaints_closed", "投诉办结", K_NUM },
	{ "events", "报送事件", K_NUM }, { "late_reported", "迟报事件", K_NUM },
};

static const struct report_column depts_cols[] = {
	{ "dept", "部门编码", K_CODE }, { "dept_name", "部门", K_TEXT },
	{ "received", "收件", K_NUM }, { "decided", "办结", K_NUM },
	{ "on_time_committed", "按时办结", K_NUM }, { "on_time_rate", "按时办结率", K_RATE },
	{ "avg_days", "平均用时（工作日）", K_NUM }, { "max_days", "最长用时（工作日）", K_NUM },
	{ "alerts_red", "红牌", K_NUM }, { "alerts_yellow", "黄牌", K_NUM },
	{ "alerts_notice", "预警", K_NUM }, { "alerts_revoked", "撤消", K_NUM },
	{ "fees_net_yuan", "收费净额（元）", K_NUM }, { "complaints_received", "投诉", K_NUM },
	{ "complaints_closed", "投诉办结", K_NUM },
};

static const struct report_column cards_cols[] = {
	{ "dept", "部门编码", K_CODE }, { "dept_name", "部门", K_TEXT },
	{ "alerts_red", "红牌", K_NUM }, { "alerts_yellow", "黄牌", K_NUM },
	{ "alerts_notice", "预警", K_NUM }, { "alerts_valid", "有效合计", K_NUM },
	{ "alerts_revoked", "撤消", K_NUM }, { "alerts_dismissed", "作废", K_NUM },
};

static const struct report_column ranking_cols[] = {
	{ "rank", "名次", K_NUM }, { "dept", "部门编码", K_CODE }, { "dept_name", "部门", K_TEXT },
	{ "score", "得分", K_NUM }, { "decided", "办结", K_NUM },
	{ "on_time_rate", "按时办结率", K_RATE }, { "red", "红牌", K_NUM }, { "yellow", "黄牌", K_NUM }, { "notice", "预警", K_NUM },
	{ "satisfaction_rate", "满意率", K_RATE }, { "complaint_rate", "投诉按时办结率", K_RATE },
	{ "bottom", "末位", K_BOOL },
};

static const struct report_column trend_cols[] = {
	{ "month", "月份", K_CODE }, { "departments", "部门数", K_NUM },
	{ "received", "收件", K_NUM }, { "decided", "办结", K_NUM },
	{ "on_time_committed", "按时办结", K_NUM }, { "on_time_rate", "按时办结率", K_RATE },
	{ "alerts_red", "红牌", K_NUM }, { "alerts_yellow", "黄牌", K_NUM },
	{ "alerts_notice", "预警", K_NUM }, { "fees_net_yuan", "收费净额（元）", K_NUM },
	{ "complaints_received", "投诉", K_NUM },
};

static const struct report_column heads_cols[] = {
	{ "dept", "部门编码", K_CODE }, { "dept_name", "部门", K_TEXT },
	{ "day", "链头日期", K_CODE }, { "seq", "链序号", K_NUM },
	{ "hash", "链头哈希 (SHA-256)", K_HASH }, { "published", "发布时间（北京时间）", K_CODE },
};

#define TABLE(f, s, c) { f, s, c, sizeof(c) / sizeof(c[0]), NULL, { 0 } }
static const struct report_table tables[T_COUNT] = {
	[T_SUMMARY] = TABLE(NULL, summary_sql, summary_cols),
	[T_DEPTS] = TABLE("departments", depts_sql, depts_cols),
	[T_CARDS] = TABLE("cards", cards_sql, cards_cols),
	[T_RANKING] = TABLE("ranking", ranking_sql, ranking_cols),
	[T_TREND] = TABLE("trend", trend_sql, trend_cols),
	[T_HEADS] = TABLE(NULL, heads_sql, heads_cols),
};

static void
usage(FILE *out)
{
	fprintf(out, "usage: esupctl report --month YYYY-MM [--region CODE] [--out DIR]"
		" [--conninfo STR]\n"
		"\nWrites the monthly 通报 of the month as DIR/report-YYYY-MM.html (self-contained,\n"
		"printable, with inline SVG charts) and the same tables as\n"
		"DIR/report-YYYY-MM-{departments,ranking,cards,trend}.csv (UTF-8 with a BOM, CRLF),\n"
		"and prints the paths. DIR defaults to the current directory. --region CODE: only\n"
		"the departments of that administrative division (6 digits; 410300 covers 4103xx).\n"
		"The database is found like psql finds it: PGHOST, PGPORT, PGDATABASE, PGUSER, ...\n"
		"or --conninfo. Exit 0 written, 1 the database could not be read or a file not\n"
		"written, 2 usage.\n");
}

const char *
report_cell(const struct report_table *t, int row, const char *name)
{
	int col = PQfnumber(t->res, name);

	if (col < 0 || row >= PQntuples(t->res) || PQgetisnull(t->res, row, col))
		return NULL;
	return PQgetvalue(t->res, row, col);
}

double
report_num(const struct report_table *t, int row, const char *name)
{
	const char *v = report_cell(t, row, name);

	return v != NULL ? strtod(v, NULL) : NAN;
}

/* "YYYY-MM", 2000-01 .. 2999-12, into r's month fields. */
static bool
parse_month(const char *s, struct report *r)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int last;

	if (strlen(s) != 7 || s[4] != '-' || strspn(s, "0123456789-") != 7 ||
	    strchr(s + 5, '-') != NULL || strchr(s, '-') != s + 4)
		return false;
	r->year = (int)strtol(s, NULL, 10);
	r->mon = (int)strtol(s + 5, NULL, 10);
	if (r->year < 2000 || r->year > 2999 || r->mon < 1 || r->mon > 12)
		return false;
	last = days[r->mon - 1] + (r->mon == 2 && r->year % 4 == 0 &&
		(r->year % 100 != 0 || r->year % 400 == 0));
	snprintf(r->month, sizeof(r->month), "%04d-%02d", r->year, r->mon);
	snprintf(r->first, sizeof(r->first), "%s-01", r->month);
	snprintf(r->last, sizeof(r->last), "%s-%02d", r->month, last);
	return true;
}

/* A region code as people.region takes it: six digits. */
static bool
region_valid(const char *s)
{
	return strlen(s) == 6 && strspn(s, "0123456789") == 6;
}

static PGresult *
query(PGconn *conn, const struct report *r, const char *sql, ExecStatusType want)
{
	static const Oid types[3] = { TEXTOID, TEXTOID, TEXTOID };
	const char *values[3] = { r->first, r->region, r->month };
	PGresult *res = PQexecParams(conn, sql, 3, types, values, NULL, NULL, 0);

	if (PQresultStatus(res) != want) {
		fprintf(stderr, "esupctl report: %s", PQresultErrorMessage(res));
		PQclear(res);
		return NULL;
	}
	return res;
}

/* Connects like psql and opens the snapshot every table is read from. */
static PGconn *
report_connect(const char *conninfo)
{
	PGconn *conn = PQconnectdb(conninfo);
	PGresult *res;

	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "esupctl report: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	if (PQsetClientEncoding(conn, "UTF8") != 0) {
		fprintf(stderr, "esupctl report: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	res = PQexec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fprintf(stderr, "esupctl report: %s", PQresultErrorMessage(res));
		PQclear(res);
		PQfinish(conn);
		return NULL;
	}
	PQclear(res);
	return conn;
}

/* Reads every table and the header facts; false (reported) when a query failed. */
static bool
report_read(PGconn *conn, struct report *r)
{
	PGresult *meta = query(conn, r, meta_sql, PGRES_TUPLES_OK);

	if (meta == NULL)
		return false;
	snprintf(r->generated, sizeof(r->generated), "%s", PQgetvalue(meta, 0, 0));
	snprintf(r->region_name, sizeof(r->region_name), "%s", PQgetvalue(meta, 0, 1));
	PQclear(meta);
	for (size_t i = 0; i < T_COUNT; i++) {
		struct report_table *t = &r->t[i];

		if ((t->res = query(conn, r, t->sql, PGRES_TUPLES_OK)) == NULL)
			return false;
		for (size_t c = 0; c < t->ncols; c++)
			if ((t->idx[c] = PQfnumber(t->res, t->cols[c].name)) < 0) {
				fprintf(stderr, "esupctl report: no column %s\n", t->cols[c].name);
				return false;
			}
	}
	return true;
}

/* One CSV file: a BOM (so that Excel takes it as UTF-8, not as the ANSI code page GBK),
 * the headings as "中文(column)", CRLF line ends. */
static void
csv_write(FILE *out, const struct report_table *t)
{
	fputs("\xef\xbb\xbf", out);
	for (size_t c = 0; c < t->ncols; c++) {
		char heading[128];

		snprintf(heading, sizeof(heading), "%s(%s)", t->cols[c].heading, t->cols[c].name);
		if (c > 0)
			fputc(',', out);
		csv_put(out, heading, false);
	}
	fputs("\r\n", out);
	for (int row = 0; row < PQntuples(t->res); row++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *v = PQgetisnull(t->res, row, t->idx[c]) ? NULL :
				PQgetvalue(t->res, row, t->idx[c]);

			if (c > 0)
				fputc(',', out);
			if (t->cols[c].kind == K_BOOL && v != NULL)
				v = strcmp(v, "t") == 0 ? "是" : "否";
			csv_put(out, v, t->cols[c].kind == K_TEXT);
		}
		fputs("\r\n", out);
	}
}

/* Writes one file through a temporary beside it, renamed into place once complete. */
static bool
file_write(const char *dir, const struct report *r, const struct report_table *t)
{
	char path[4096], tmp[4200];
	FILE *out;
	bool ok;

	if ((size_t)snprintf(path, sizeof(path), "%s/report-%s%s%s.%s", dir, r->month,
		t != NULL ? "-" : "", t != NULL ? t->file : "", t != NULL ? "csv" : "html")
	    >= sizeof(path)) {
		fprintf(stderr, "esupctl report: %s: the path is too long\n", dir);
		return false;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((out = fopen(tmp, "w")) == NULL) {
		perror(tmp);
		return false;
	}
	if (t != NULL) {
		csv_write(out, t);
		ok = true;
	} else
		ok = report_html(out, r);
	ok = !ferror(out) && ok;
	if (fclose(out) != 0 || !ok || rename(tmp, path) != 0) {
		perror(path);
		remove(tmp);
		return false;
	}
	printf("%s\n", path);
	return true;
}

/* The output folder, made (one level, mode 0755 less the umask) when it does not exist yet. */
static bool
out_dir(const char *dir)
{
	if (mkdir(dir, 0755) == 0 || errno == EEXIST)
		return true;
	fprintf(stderr, "esupctl report: %s: %s\n", dir, strerror(errno));
	return false;
}

static bool
report_write(const char *dir, const struct report *r)
{
	if (!out_dir(dir) || !file_write(dir, r, NULL))
		return false;
	for (size_t i = 0; i < T_COUNT; i++)
		if (r->t[i].file != NULL && !file_write(dir, r, &r->t[i]))
			return false;
	return true;
}

static int
report_run(const char *conninfo, const char *dir, struct report *r)
{
	PGconn *conn = report_connect(conninfo);
	int status = 1;

	if (conn == NULL)
		return 1;
	memcpy(r->t, tables, sizeof(tables));
	if (report_read(conn, r) && report_write(dir, r))
		status = 0;
	for (size_t i = 0; i < T_COUNT; i++)
		PQclear(r->t[i].res);
	PQfinish(conn);
	if (fflush(stdout) != 0)
		status = 1;
	return status;
}

int
report_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "month", required_argument, NULL, 'm' },
		{ "region", required_argument, NULL, 'r' },
		{ "out", required_argument, NULL, 'o' },
		{ "conninfo", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *month = NULL, *dir = ".", *conninfo = "";
	struct report r = { .region = "" };
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "m:r:o:c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': month = optarg; break;
		case 'r': r.region = optarg; break;
		case 'o': dir = optarg; break;
		case 'c': conninfo = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || month == NULL || !parse_month(month, &r) || *dir == '\0' ||
	    (*r.region != '\0' && !region_valid(r.region))) {
		usage(stderr);
		return 2;
	}
	return report_run(conninfo, dir, &r);
}
