/* verify.c: `esupctl verify` (verify.h). One REPEATABLE READ READ ONLY transaction, so the
 * rows, the heads and the daily heads are one snapshot while ingest goes on; each department's
 * rows are read in chain order in pages (keyset on (chain_seq, seq)), every hash is recomputed
 * here (chain_hash.c), not by the server, and the first broken link is named. */
#include "verify.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "chain_hash.h"

#define VERIFY_PAGE "2000"          /* rows per page, in the SQL */
#define VERIFY_PAGE_ROWS 2000       /* the same, as a number */
#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

/* Every department with events (a loose index scan over events_chain) or a head. */
static const char depts_sql[] =
	"WITH RECURSIVE d(dept) AS ("
	" SELECT min(dept) FROM events"
	" UNION ALL SELECT (SELECT min(e.dept) FROM events e WHERE e.dept > d.dept)"
	" FROM d WHERE d.dept IS NOT NULL)"
	" SELECT dept FROM d WHERE dept IS NOT NULL"
	" UNION SELECT dept FROM event_chain_heads ORDER BY 1";

/* Columns 2..11 are the hashed fields in chain_hash.h order. */
static const char page_sql[] =
	"SELECT chain_seq, seq, dept, event_id,"
	" (extract(epoch FROM received_at) * 1000000)::bigint, type,"
	" (extract(epoch FROM at) * 1000000)::bigint, case_no, item, principal, body::text,"
	" encode(prev_hash, 'hex'), encode(hash, 'hex')"
	" FROM events WHERE dept = $1 AND chain_seq >= $2 AND (chain_seq, seq) > ($2, $3)"
	" ORDER BY chain_seq, seq LIMIT " VERIFY_PAGE;

enum { COL_CHAIN_SEQ, COL_FIELDS, COL_PREV = COL_FIELDS + CHAIN_FIELDS, COL_HASH };

/* One department's walk. */
struct walk {
	PGconn *conn;
	const char *dept;
	int64_t expect;               /* the chain_seq the next row must carry */
	char prev[CHAIN_HEX_LEN + 1]; /* the hash the next row must link to */
	char prev_event[256];         /* event_id of the row before (for messages) */
	int64_t last_seq;             /* row id (events.seq) of the last row read */
	PGresult *daily;              /* day, seq, hash: ordered by seq */
	int next_daily;
	bool broken;
};

static void
usage(FILE *out)
{
	fprintf(out, "usage: esupctl verify [--dept DEPT] [--conninfo STR]\n"
		"\nRecomputes each department's event hash chain and prints \"DEPT: intact: N events\"\n"
		"or the first broken link. The database is found like psql finds it: PGHOST,\n"
		"PGPORT, PGDATABASE, PGUSER, PGSERVICE, ... or --conninfo. Exit 0 intact, 1 broken,\n"
		"2 usage or the database could not be read.\n");
}

static PGresult *
query(PGconn *conn, const char *sql, int n, const char *const *values, ExecStatusType want)
{
	PGresult *res = PQexecParams(conn, sql, n, NULL, values, NULL, NULL, 0);

	if (PQresultStatus(res) != want) {
		fprintf(stderr, "esupctl verify: %s", PQresultErrorMessage(res));
		PQclear(res);
		return NULL;
	}
	return res;
}

/* Reports the first broken link of w->dept at the row r of res (or after the last row when
 * res is NULL). */
static void
broken(struct walk *w, const PGresult *res, int r, const char *what, const char *detail)
{
	if (res != NULL)
		printf("%s: broken at seq %s, event %s (row %s): %s: %s\n", w->dept,
			PQgetvalue(res, r, COL_CHAIN_SEQ), PQgetvalue(res, r, COL_FIELDS + CHAIN_EVENT_ID),
			PQgetvalue(res, r, COL_FIELDS + CHAIN_SEQ), what, detail);
	else
		printf("%s: broken at seq %" PRId64 ": %s: %s\n", w->dept, w->expect, what, detail);
	w->broken = true;
}

/* The row at r does not link to the row before it: is the row it names later in the chain
 * (reordered), earlier (something was inserted between), or gone (deleted)? */
static void
broken_link(struct walk *w, const PGresult *res, int r)
{
	const char *values[2] = { w->dept, PQgetvalue(res, r, COL_PREV) };
	char detail[512];
	PGresult *found = query(w->conn, "SELECT chain_seq, event_id FROM events"
		" WHERE dept = $1 AND hash = decode($2, 'hex') ORDER BY chain_seq LIMIT 1",
		2, values, PGRES_TUPLES_OK);
	int64_t at = strtoll(PQgetvalue(res, r, COL_CHAIN_SEQ), NULL, 10);

	if (found != NULL && PQntuples(found) == 1) {
		int64_t there = strtoll(PQgetvalue(found, 0, 0), NULL, 10);

		snprintf(detail, sizeof(detail), "it links to event %s at seq %" PRId64
			", not to event %s at seq %" PRId64, PQgetvalue(found, 0, 1), there,
			w->prev_event, at - 1);
		broken(w, res, r, there > at ? "rows reordered" : "row inserted", detail);
	} else {
		snprintf(detail, sizeof(detail), "the row it links to is not in the chain"
			" (the row before it is event %s at seq %" PRId64 ")", w->prev_event, at - 1);
		broken(w, res, r, "row deleted", detail);
	}
	PQclear(found);
}

/* A daily head published for this seq must be this row's hash. */
static bool
check_daily(struct walk *w, const PGresult *res, int r, int64_t seq)
{
	while (w->next_daily < PQntuples(w->daily) &&
	       strtoll(PQgetvalue(w->daily, w->next_daily, 1), NULL, 10) <= seq) {
		int d = w->next_daily++;
		char detail[256];

		if (strtoll(PQgetvalue(w->daily, d, 1), NULL, 10) == seq &&
		    strcmp(PQgetvalue(w->daily, d, 2), PQgetvalue(res, r, COL_HASH)) == 0)
			continue;
		snprintf(detail, sizeof(detail), "the head published for %s was %s at seq %s",
			PQgetvalue(w->daily, d, 0), PQgetvalue(w->daily, d, 2),
			PQgetvalue(w->daily, d, 1));
		broken(w, res, r, "daily head mismatch", detail);
		return false;
	}
	return true;
}

/* Checks one row; false at the first broken link (reported). */
static bool
check_row(struct walk *w, const PGresult *res, int r)
{
	const char *fields[CHAIN_FIELDS];
	char hash[CHAIN_HEX_LEN + 1], detail[512];
	int64_t seq = strtoll(PQgetvalue(res, r, COL_CHAIN_SEQ), NULL, 10);

	for (int i = 0; i < CHAIN_FIELDS; i++)
		fields[i] = PQgetisnull(res, r, COL_FIELDS + i) ? NULL : PQgetvalue(res, r, COL_FIELDS + i);
	if (seq < w->expect) {
		snprintf(detail, sizeof(detail), "event %s holds seq %" PRId64 " too",
			w->prev_event, seq);
		broken(w, res, r, "row inserted", detail);
	} else if (seq > w->expect) {
		snprintf(detail, sizeof(detail), "seq %" PRId64 "..%" PRId64 " missing after event %s",
			w->expect, seq - 1, w->prev_event);
		broken(w, res, r, "row deleted (gap)", detail);
	} else if (!chain_hash_hex(PQgetvalue(res, r, COL_PREV), fields, hash) ||
		   strcmp(hash, PQgetvalue(res, r, COL_HASH)) != 0) {
		broken(w, res, r, "content altered", "the stored hash is not the hash of the row");
	} else if (strcmp(PQgetvalue(res, r, COL_PREV), w->prev) != 0) {
		broken_link(w, res, r);
	} else if (!check_daily(w, res, r, seq))
		return false;
	if (w->broken)
		return false;
	w->expect = seq + 1;
	memcpy(w->prev, hash, sizeof(w->prev));
	snprintf(w->prev_event, sizeof(w->prev_event), "%s", fields[CHAIN_EVENT_ID]);
	w->last_seq = strtoll(fields[CHAIN_SEQ], NULL, 10);
	return true;
}

/* Reads the rows in pages; false when the database failed (reported), w->broken when a link
 * did. */
static bool
walk_rows(struct walk *w)
{
	char after_chain[24] = "0", after_seq[24] = "0";

	for (;;) {
		const char *values[3] = { w->dept, after_chain, after_seq };
		PGresult *res = query(w->conn, page_sql, 3, values, PGRES_TUPLES_OK);
		int n;

		if (res == NULL)
			return false;
		n = PQntuples(res);
		for (int r = 0; r < n && !w->broken; r++)
			check_row(w, res, r);
		if (n > 0) {
			snprintf(after_chain, sizeof(after_chain), "%s", PQgetvalue(res, n - 1, COL_CHAIN_SEQ));
			snprintf(after_seq, sizeof(after_seq), "%s", PQgetvalue(res, n - 1, COL_FIELDS + CHAIN_SEQ));
		}
		PQclear(res);
		if (w->broken || n < VERIFY_PAGE_ROWS)
			return true;
	}
}

/* After the last row: the head and the daily heads beyond it must agree with the chain. */
static bool
check_end(struct walk *w)
{
	const char *values[1] = { w->dept };
	PGresult *res = query(w->conn, "SELECT seq, encode(hash, 'hex') FROM event_chain_heads"
		" WHERE dept = $1", 1, values, PGRES_TUPLES_OK);
	char detail[256];
	int64_t last = w->expect - 1;

	if (res == NULL)
		return false;
	if (PQntuples(res) != 1) {
		snprintf(detail, sizeof(detail), "no head row, the chain ends at seq %" PRId64, last);
		broken(w, NULL, 0, "head mismatch", detail);
	} else if (strtoll(PQgetvalue(res, 0, 0), NULL, 10) > last) {
		snprintf(detail, sizeof(detail), "seq %" PRId64 "..%s missing at the end (the head is at seq %s)",
			w->expect, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 0));
		broken(w, NULL, 0, "row deleted (gap)", detail);
	} else if (strtoll(PQgetvalue(res, 0, 0), NULL, 10) != last ||
		   strcmp(PQgetvalue(res, 0, 1), w->prev) != 0) {
		snprintf(detail, sizeof(detail), "the head says seq %s hash %s, the chain ends at"
			" seq %" PRId64 " hash %s", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), last, w->prev);
		broken(w, NULL, 0, "head mismatch", detail);
	} else if (w->next_daily < PQntuples(w->daily)) {
		snprintf(detail, sizeof(detail), "the head published for %s is at seq %s, after the end",
			PQgetvalue(w->daily, w->next_daily, 0), PQgetvalue(w->daily, w->next_daily, 1));
		broken(w, NULL, 0, "daily head mismatch", detail);
	}
	PQclear(res);
	return true;
}

/* Verifies one department and prints its line. -1: the database failed. */
static int
verify_dept(PGconn *conn, const char *dept)
{
	struct walk w = { .conn = conn, .dept = dept, .expect = 1, .prev = ZERO_HASH };
	const char *values[1] = { dept };
	bool ok;

	snprintf(w.prev_event, sizeof(w.prev_event), "(none: chain start)");
	w.daily = query(conn, "SELECT day, seq, encode(hash, 'hex') FROM event_chain_daily"
		" WHERE dept = $1 ORDER BY seq, day", 1, values, PGRES_TUPLES_OK);
	if (w.daily == NULL)
		return -1;
	ok = walk_rows(&w) && (w.broken || check_end(&w));
	PQclear(w.daily);
	if (!ok)
		return -1;
	if (!w.broken)
		printf("%s: intact: %" PRId64 " events\n", dept, w.expect - 1);
	return w.broken ? 1 : 0;
}

/* Connects like psql (conninfo "" : libpq's environment and defaults) and opens the snapshot. */
static PGconn *
verify_connect(const char *conninfo)
{
	PGconn *conn = PQconnectdb(conninfo);
	PGresult *res;

	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(stderr, "esupctl verify: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	if (PQsetClientEncoding(conn, "UTF8") != 0 ||
	    (res = query(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL,
			PGRES_COMMAND_OK)) == NULL) {
		fprintf(stderr, "esupctl verify: cannot start reading: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	PQclear(res);
	return conn;
}

static int
verify_all(PGconn *conn, const char *dept)
{
	PGresult *depts = NULL;
	int n = 1, status = 0;

	if (dept == NULL) {
		if ((depts = query(conn, depts_sql, 0, NULL, PGRES_TUPLES_OK)) == NULL)
			return 2;
		n = PQntuples(depts);
		if (n == 0)
			printf("no events\n");
	}
	for (int i = 0; i < n; i++) {
		int r = verify_dept(conn, depts != NULL ? PQgetvalue(depts, i, 0) : dept);

		if (r < 0) {
			status = 2;
			break;
		}
		if (r > 0)
			status = 1;
	}
	PQclear(depts);
	return status;
}

int
verify_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dept", required_argument, NULL, 'd' },
		{ "conninfo", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dept = NULL, *conninfo = "";
	PGconn *conn;
	int c, status;

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': dept = optarg; break;
		case 'c': conninfo = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || (dept != NULL && *dept == '\0')) {
		usage(stderr);
		return 2;
	}
	if ((conn = verify_connect(conninfo)) == NULL)
		return 2;
	status = verify_all(conn, dept);
	if (fflush(stdout) != 0)
		status = 2;
	PQfinish(conn);
	return status;
}
