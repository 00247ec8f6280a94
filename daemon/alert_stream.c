/* alert_stream.c: GET /v1/alerts/stream (Server-Sent Events) over the durable alert log.
 *
 * The log is alert_actions read in position order (xid, id), only rows whose transaction id
 * is below pg_snapshot_xmin(pg_current_snapshot()): every transaction that could still add
 * an earlier row has finished, so a reader that remembers its last position never skips or
 * repeats a row. A position is written "<xid>-<id>" and is each event's SSE id.
 *
 * The poller (one per daemon, on d->reader) keeps `end`, the last position it has read. It
 * reads the rows after it, one query per batch of up to POLL_LIMIT rows, when NOTIFY
 * esup_alert arrives (debounced), soon again while committed rows wait above xmin (the query
 * says so), and otherwise every FALLBACK_MS. Each row's event text is built once and written
 * to every live stream whose principal's scope covers the alert. While no stream is open the
 * poller reads no rows: the same wake-ups only move `end` to the last position below xmin (a
 * burst of a million closed alerts' actions is then one index probe, not 5,000 pages of
 * events for nobody). A stream opened while that probe is in flight starts at the old `end`,
 * so the probe's answer is dropped and the rows after it are read for the stream.
 *
 * A stream is LIVE or REPLAYING. A new stream without a position starts LIVE at `end`. One
 * with a position replays the rows after it up to `end` as it was when each page was asked
 * for, a page of the log at a time with the scope applied to it (a page may hold none of the
 * stream's rows; its cursor still moves past the page); rows the poller fans out meanwhile are
 * not written to it (they are after that bound, or within it and so in the replay). When a
 * page reaches the bound and `end` has not moved, the stream is LIVE at `end`; if it moved, it
 * replays up to the new `end`. Rows up to `end` all lie below the xmin the poller saw, so the
 * replay sees them all.
 * Replay pages are asked for only while the connection's output is below half the buffer
 * bound; a live stream whose output passes the bound is cut (the client resumes).
 *
 * Ownership: a stream belongs to the set until its connection closes (the evhttp close
 * callback) or it is ended (drain, principal gone); a stream with a replay query in flight
 * when that happens stays on the `gone` list until the query's callback frees it. */
#include "alert_stream.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>

#include "alert.h"
#include "api.h"
#include "db.h"
#include "http.h"
#include "identity.h"
#include "log.h"
#include "tls.h"

#define POLL_LIMIT 200           /* rows per poller query: the most one burst adds to a stream */
#define REPLAY_LIMIT 200         /* log rows read per replay page, the stream's or not */
#define DEBOUNCE_MS 10           /* after a NOTIFY, wait this long for more */
#define HELD_MIN_MS 20           /* rows wait above xmin: look again after this, doubling */
#define FALLBACK_MS 1000         /* without NOTIFY: look at least this often */
#define RETRY_MS 2000            /* the SSE retry: field */
#define SCOPE_MAX 64

struct position {
	uint64_t xid;
	int64_t id;
};

enum stream_state { STREAM_REPLAYING, STREAM_LIVE };

struct alert_stream {
	struct alert_stream *next, **prevp;
	struct alert_streams *h;
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	enum stream_state state;
	struct position cursor;      /* rows up to here were written or are not for it */
	struct position bound;       /* the replay page in flight reads up to here */
	struct evbuffer *batch;      /* events of the current batch, written as one chunk */
	bool querying;               /* a replay page is in flight */
	bool waiting_drain;          /* the next page waits for the output to drain */
	char fingerprint[TLS_FINGERPRINT_LEN + 1];
	enum principal_role role;
	char dept[SCOPE_MAX];
	char region[SCOPE_MAX];      /* as registered */
	char prefix[SCOPE_MAX];      /* the region code without its trailing "00" pairs */
};

struct alert_streams {
	struct esupd *d;
	struct alert_stream *live;   /* open streams (LIVE and REPLAYING) */
	struct alert_stream *gone;   /* closed, their replay query still in flight */
	unsigned count;
	struct position end;
	bool ready, starting;        /* end known; the query finding it is in flight */
	bool polling, again;
	bool stopped;                /* draining: no more reading */
	unsigned ending;             /* drained streams whose closing chunk is not written yet */
	bool ending_counted;         /* every drained stream is counted in ending */
	void (*drained)(void *);     /* told once they are written, or at DRAIN_MAX_S */
	void *drained_arg;
	struct event *drain_bound;
	unsigned held_ms;
	struct event *debounce, *timer, *heartbeat;
	struct evbuffer *scratch;
	size_t max_buffer;
	struct log_limit db_log;
};

/* ---------------------------------------------------------------- SQL */

#define T(col) "to_char(" col " AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"')"

/* position (2), what scope needs (3), the event's data line, and whether the alert's department
 * may see the row: the step left the alert in a state it sees, and the alert is in one now
 * (alert.h ALERT_DEPT_HIDDEN_SQL). A department's stream thus shows its alert first at the step
 * that issues it (raise to open, confirm, issue), and nothing of it while it is held,
 * cancelled or suppressed, in a replay either. */
#define ROW_COLUMNS \
	"a.xid, a.id, al.dept, al.region, coalesce(al.escalated_to, ''), json_build_object(" \
	" 'position', a.xid::text || '-' || a.id," \
	" 'action', json_build_object('id', a.id, 'action', a.action, 'from', a.from_state," \
	"   'to', a.to_state, 'actor', a.actor, 'note', a.note, 'at', " T("a.at") ")," \
	" 'alert', json_build_object('id', al.id, 'rule', al.rule, 'severity', al.severity," \
	"   'dept', al.dept, 'case', al.case_no, 'item', al.item, 'region', al.region," \
	"   'status', al.status, 'message', al.message, 'since', " T("al.since") "," \
	"   'raised_at', " T("al.raised_at") ", 'status_at', " T("al.status_at") "," \
	"   'issued_at', " T("al.issued_at") ", 'escalation_level', al.escalation_level," \
	"   'escalated_to', al.escalated_to, 'evidence', al.evidence))::text AS data," \
	" a.to_state NOT IN " ALERT_DEPT_HIDDEN_SQL \
	"  AND al.status NOT IN " ALERT_DEPT_HIDDEN_SQL " AS dept_sees"

/* The rows after $1-$2 below xmin, and whether committed rows wait above it (the newest row's
 * xid is not below xmin). Both read the (xid, id) index; an EXISTS over xid >= xmin would be
 * planned as a scan of the whole log. The page is esup_alert_log_page's (migration 033): an
 * ORDER BY ... LIMIT here was planned by the estimate of the rows after the position, and a
 * burst larger than the statistics knew was read and sorted whole for each page. */
static const char poll_sql[] =
	"WITH s AS MATERIALIZED (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin),"
	" p AS (SELECT * FROM esup_alert_log_page($1::xid8, $2::bigint, (SELECT xmin FROM s), $3)),"
	" r AS (SELECT " ROW_COLUMNS " FROM p a JOIN alerts al ON al.id = a.alert_id)"
	" SELECT r.*, h.held FROM (SELECT coalesce((SELECT x.xid FROM alert_actions x"
	"  ORDER BY x.xid DESC, x.id DESC LIMIT 1) >= (SELECT xmin FROM s), false) AS held) h"
	" LEFT JOIN r ON true ORDER BY r.xid, r.id";

/* The last position below xmin ("0-0": none), and whether committed rows wait above it; both
 * walk the (xid, id) index back from its end. Where new streams start, found at first, and
 * the poller's read while no stream is open. */
static const char end_sql[] =
	"WITH s AS MATERIALIZED (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin)"
	" SELECT coalesce((SELECT a.xid::text || '-' || a.id FROM alert_actions a"
	"  WHERE a.xid < (SELECT xmin FROM s) ORDER BY a.xid DESC, a.id DESC LIMIT 1), '0-0'),"
	" coalesce((SELECT x.xid FROM alert_actions x ORDER BY x.xid DESC, x.id DESC LIMIT 1)"
	"  >= (SELECT xmin FROM s), false)";

/* One page of a stream's replay: the next $8 rows of the log after $1-$2 (esup_alert_log_page,
 * in index order whatever the statistics say), of which those up to $3-$4 that the stream's
 * scope covers ($5 its department, "" any, and then only rows it may see; $6 its region
 * prefix; $7 whether the region escalated to counts too), in order; then one last row
 * (column 7 true) with the last position of the page up to $3-$4 (NULL if none) and whether
 * the page was full and all within (column 8: more may follow). The scope is applied to a page, not before the LIMIT: a
 * ORDER BY ... LIMIT over the matching rows was planned by the estimate of the rows after the
 * position and could read and sort the whole range for each page. */
static const char replay_sql[] =
	"WITH p AS MATERIALIZED (SELECT a.*, (a.xid, a.id) <= ($3::xid8, $4::bigint) AS inside"
	"  FROM esup_alert_log_page($1::xid8, $2::bigint, pg_snapshot_xmin(pg_current_snapshot()),"
	"   $8::int) a)"
	" SELECT * FROM (SELECT " ROW_COLUMNS ", false AS mark, NULL::boolean AS more"
	"  FROM p a JOIN alerts al ON al.id = a.alert_id"
	"  WHERE a.inside AND ($5 = '' OR (al.dept = $5 AND a.to_state NOT IN " ALERT_DEPT_HIDDEN_SQL
	"   AND al.status NOT IN " ALERT_DEPT_HIDDEN_SQL ")) AND (starts_with(al.region, $6)"
	"   OR ($7::boolean AND starts_with(coalesce(al.escalated_to, ''), $6)))"
	" UNION ALL"
	" SELECT l.xid, l.id, NULL::text, NULL::text, NULL::text, NULL::text, NULL::boolean, true,"
	"  g.more"
	"  FROM (SELECT count(*) = $8::int AND coalesce(bool_and(inside), false) AS more FROM p) g"
	"  LEFT JOIN LATERAL (SELECT xid, id FROM p WHERE inside ORDER BY xid DESC, id DESC LIMIT 1) l"
	"  ON true) r"
	" ORDER BY r.mark, r.xid, r.id";

/* ---------------------------------------------------------------- positions */

static bool
parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned digit = (unsigned)(s[i] - '0');

		if (digit > 9 || v > (UINT64_MAX - digit) / 10)
			return false;
		v = v * 10 + digit;
	}
	*out = v;
	return true;
}

/* "<xid>-<id>", both decimal. */
static bool
position_parse(const char *text, struct position *p)
{
	const char *dash = strchr(text, '-');
	uint64_t id;

	if (dash == NULL || !parse_u64(text, (size_t)(dash - text), &p->xid) ||
	    !parse_u64(dash + 1, strlen(dash + 1), &id) || id > INT64_MAX)
		return false;
	p->id = (int64_t)id;
	return true;
}

static int
position_cmp(struct position a, struct position b)
{
	if (a.xid != b.xid)
		return a.xid < b.xid ? -1 : 1;
	return a.id < b.id ? -1 : a.id > b.id;
}

static void
position_format(struct position p, char *buf, size_t size)
{
	snprintf(buf, size, "%" PRIu64 "-%" PRId64, p.xid, p.id);
}

/* A row's position from its first two columns. */
static bool
row_position(const PGresult *res, int row, struct position *p)
{
	char text[48];

	snprintf(text, sizeof(text), "%s-%s", PQgetvalue(res, row, 0), PQgetvalue(res, row, 1));
	return position_parse(text, p);
}

/* ---------------------------------------------------------------- scope */

/* dept_sees: whether the alert's department may see the row (ROW_COLUMNS' dept_sees). */
static bool
stream_covers(const struct alert_stream *s, const char *dept, const char *region,
		const char *escalated_to, bool dept_sees)
{
	size_t len = strlen(s->prefix);

	switch (s->role) {
	case ROLE_DEPARTMENT:
		return dept_sees && strcmp(s->dept, dept) == 0;
	case ROLE_SUPERVISOR:
		return strncmp(s->prefix, region, len) == 0 ||
			(escalated_to[0] != '\0' && strncmp(s->prefix, escalated_to, len) == 0);
	case ROLE_AUDITOR:
		return strncmp(s->prefix, region, len) == 0;
	case ROLE_MONITOR:
		break;
	}
	return false;
}

/* ---------------------------------------------------------------- one stream's output */

static struct bufferevent *
stream_bev(const struct alert_stream *s)
{
	return evhttp_connection_get_bufferevent(s->evcon);
}

static size_t
stream_pending(const struct alert_stream *s)
{
	return evbuffer_get_length(bufferevent_get_output(stream_bev(s)));
}

static void stream_drained(struct evhttp_connection *evcon, void *arg);

/* Writes text as one chunk of the reply. */
static void
stream_write(struct alert_stream *s, const char *text, size_t len)
{
	struct evbuffer *buf = s->h->scratch;

	evbuffer_drain(buf, evbuffer_get_length(buf));
	if (evbuffer_add(buf, text, len) == 0)
		evhttp_send_reply_chunk_with_cb(s->req, buf, stream_drained, s);
}

static void
stream_free(struct alert_stream *s)
{
	if (s->batch != NULL)
		evbuffer_free(s->batch);
	free(s);
}

static void
stream_unlink(struct alert_stream *s)
{
	if (s->prevp == NULL)
		return;
	*s->prevp = s->next;
	if (s->next != NULL)
		s->next->prevp = s->prevp;
	s->next = NULL;
	s->prevp = NULL;
}

static void
stream_push(struct alert_stream **list, struct alert_stream *s)
{
	s->next = *list;
	if (*list != NULL)
		(*list)->prevp = &s->next;
	*list = s;
	s->prevp = list;
}

/* The stream leaves the set; freed now, or by its replay query's callback. */
static void
stream_forget(struct alert_stream *s)
{
	stream_unlink(s);
	s->h->count--;
	s->req = NULL;
	s->evcon = NULL;
	if (s->querying)
		stream_push(&s->h->gone, s);
	else
		stream_free(s);
}

/* evhttp is closing the connection (peer gone, write timeout, our cut, shutdown). A request
 * still on the connection is freed by evhttp; one it detached (a failed connection) is ours. */
static void
stream_conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct alert_stream *s = arg;

	evhttp_connection_set_closecb(evcon, NULL, NULL);
	if (evhttp_request_get_connection(s->req) == NULL)
		evhttp_request_free(s->req);
	stream_forget(s);
}

/* Closes the connection at once, without flushing (a slow consumer). The request is still on
 * the connection (a detached one means the connection is gone already), so evhttp frees it. */
static void
stream_cut(struct alert_stream *s, const char *why)
{
	struct evhttp_connection *evcon = s->evcon;

	log_info("alert stream of %s cut: %s; it may resume with Last-Event-ID", s->fingerprint, why);
	evhttp_connection_set_closecb(evcon, NULL, NULL);
	stream_forget(s);
	evhttp_connection_free(evcon);
}

/* Ends the reply cleanly with a last comment; the connection closes once it is written. */
static void
stream_end(struct alert_stream *s, const char *why)
{
	char line[256];
	int n = snprintf(line, sizeof(line), ": end: %s; resume with Last-Event-ID\n\n", why);

	stream_write(s, line, (size_t)n);
	evhttp_connection_set_closecb(s->evcon, NULL, NULL);
	evhttp_send_reply_end(s->req);
	stream_forget(s);
}

/* ---------------------------------------------------------------- replay */

static void stream_replay_next(struct alert_stream *s);

static void
stream_go_live(struct alert_stream *s)
{
	s->state = STREAM_LIVE;
	log_debug("alert stream of %s live", s->fingerprint);
}

/* Adds one row as an event ("id: <position>", "event: alert", "data: <json>") to the batch
 * that stream_flush writes. */
static void
stream_queue_row(struct alert_stream *s, const char *position, const char *data)
{
	evbuffer_add_printf(s->batch, "id: %s\nevent: alert\ndata: %s\n\n", position, data);
}

/* The batch as one chunk: one write per stream per batch, however many rows. */
static void
stream_flush(struct alert_stream *s)
{
	if (evbuffer_get_length(s->batch) > 0)
		evhttp_send_reply_chunk_with_cb(s->req, s->batch, stream_drained, s);
}

static void
row_position_text(const PGresult *res, int row, char *buf, size_t size)
{
	snprintf(buf, size, "%s-%s", PQgetvalue(res, row, 0), PQgetvalue(res, row, 1));
}

/* A page of the replay came back: write it, then ask for the next or go live. */
static void
stream_replayed(const PGresult *res, void *arg)
{
	struct alert_stream *s = arg;
	struct position scanned;
	int rows;

	s->querying = false;
	if (s->req == NULL) {   /* closed meanwhile */
		stream_unlink(s);
		stream_free(s);
		return;
	}
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_limited(&s->h->db_log, 10, LOG_LEVEL_WARNING, "alert stream replay failed: %s",
			res ? PQresultErrorMessage(res) : "database connection lost");
		stream_end(s, "database unavailable");
		return;
	}
	rows = PQntuples(res);
	if (PQnfields(res) != 9 || rows < 1 || strcmp(PQgetvalue(res, rows - 1, 7), "t") != 0) {
		log_limited(&s->h->db_log, 10, LOG_LEVEL_WARNING, "alert stream replay: "
			"unexpected answer (%d rows, %d columns)", rows, PQnfields(res));
		stream_end(s, "database unavailable");
		return;
	}
	for (int i = 0; i < rows - 1; i++) {
		char position[48];

		row_position_text(res, i, position, sizeof(position));
		if (!row_position(res, i, &s->cursor))
			continue;
		stream_queue_row(s, position, PQgetvalue(res, i, 5));
	}
	stream_flush(s);
	if (!PQgetisnull(res, rows - 1, 0) && row_position(res, rows - 1, &scanned) &&
	    position_cmp(scanned, s->cursor) > 0)
		s->cursor = scanned;
	if (strcmp(PQgetvalue(res, rows - 1, 8), "t") == 0) {
		stream_replay_next(s);
		return;
	}
	if (position_cmp(s->cursor, s->bound) < 0)
		s->cursor = s->bound;
	if (position_cmp(s->bound, s->h->end) == 0)
		stream_go_live(s);
	else
		stream_replay_next(s);
}

/* Asks for the rows after the cursor up to the poller's end, unless the output is too full:
 * then stream_drained asks once it has been written. */
static void
stream_replay_next(struct alert_stream *s)
{
	char after_xid[24], after_id[24], to_xid[24], to_id[24], limit[16];
	/* the same scope as stream_covers: a department's is its code alone, and the rows it sees */
	const char *values[8] = { after_xid, after_id, to_xid, to_id, s->dept,
		s->role == ROLE_DEPARTMENT ? "" : s->prefix,
		s->role == ROLE_SUPERVISOR ? "true" : "false", limit };

	if (stream_pending(s) > s->h->max_buffer / 2) {
		s->waiting_drain = true;
		return;
	}
	s->waiting_drain = false;
	s->bound = s->h->end;
	if (position_cmp(s->cursor, s->bound) >= 0) {
		stream_go_live(s);
		return;
	}
	snprintf(after_xid, sizeof(after_xid), "%" PRIu64, s->cursor.xid);
	snprintf(after_id, sizeof(after_id), "%" PRId64, s->cursor.id);
	snprintf(to_xid, sizeof(to_xid), "%" PRIu64, s->bound.xid);
	snprintf(to_id, sizeof(to_id), "%" PRId64, s->bound.id);
	snprintf(limit, sizeof(limit), "%d", REPLAY_LIMIT);
	if (!db_query(s->h->d->reader, replay_sql, 8, values, stream_replayed, s)) {
		stream_end(s, "database unavailable");
		return;
	}
	s->querying = true;
}

/* The connection's output was written out (evhttp's write callback). */
static void
stream_drained(struct evhttp_connection *evcon, void *arg)
{
	struct alert_stream *s = arg;

	(void)evcon;
	if (s->waiting_drain && !s->querying)
		stream_replay_next(s);
}

/* ---------------------------------------------------------------- the poller */

static void hub_poll(struct alert_streams *h);

static void
hub_arm(struct alert_streams *h, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	evtimer_add(h->timer, &tv);
}

/* One row to every live stream it is for. */
static void
hub_fan_out(struct alert_streams *h, const PGresult *res, int row, struct position p)
{
	const char *dept = PQgetvalue(res, row, 2), *region = PQgetvalue(res, row, 3);
	const char *escalated_to = PQgetvalue(res, row, 4);
	bool dept_sees = strcmp(PQgetvalue(res, row, 6), "t") == 0;
	struct alert_stream *s, *next;
	char position[48];

	row_position_text(res, row, position, sizeof(position));
	for (s = h->live; s != NULL; s = next) {
		next = s->next;
		if (s->state != STREAM_LIVE || position_cmp(p, s->cursor) <= 0)
			continue;
		s->cursor = p;
		if (!stream_covers(s, dept, region, escalated_to, dept_sees))
			continue;
		stream_queue_row(s, position, PQgetvalue(res, row, 5));
	}
}

/* Live streams that still hold more than the bound unsent, a batch or a heartbeat after it
 * was written, are cut: their clients do not keep up. Checked between batches, not within
 * one, so a burst reaches a client that reads; the buffer stays below the bound plus one
 * batch (POLL_LIMIT rows). */
static void
hub_cut_slow(struct alert_streams *h)
{
	struct alert_stream *s, *next;

	for (s = h->live; s != NULL; s = next) {
		next = s->next;
		if (s->state == STREAM_LIVE && stream_pending(s) > h->max_buffer)
			stream_cut(s, "output buffer above [alerts] stream_max_buffer_bytes (slow consumer)");
	}
}

/* After a read of the log: at once again if it filled a page or NOTIFY came meanwhile, soon
 * (doubling) while committed rows wait above xmin, else at FALLBACK_MS. */
static void
hub_next(struct alert_streams *h, bool full, bool held)
{
	if (full || h->again) {
		hub_poll(h);
	} else if (held) {
		hub_arm(h, h->held_ms);
		h->held_ms = h->held_ms >= FALLBACK_MS / 2 ? FALLBACK_MS : h->held_ms * 2;
	} else {
		h->held_ms = HELD_MIN_MS;
		hub_arm(h, FALLBACK_MS);
	}
}

static void
hub_polled(const PGresult *res, void *arg)
{
	struct alert_streams *h = arg;
	int rows, n = 0;
	bool held;

	h->polling = false;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQnfields(res) != 8) {
		log_limited(&h->db_log, 10, LOG_LEVEL_WARNING, "alert stream: reading alert_actions "
			"failed: %s", res ? PQresultErrorMessage(res) : "database connection lost");
		hub_arm(h, FALLBACK_MS);
		return;
	}
	rows = PQntuples(res);
	held = rows > 0 && strcmp(PQgetvalue(res, 0, 7), "t") == 0;
	hub_cut_slow(h);
	for (int i = 0; i < rows; i++) {
		struct position p;

		if (PQgetisnull(res, i, 0) || !row_position(res, i, &p))
			continue;
		n++;
		hub_fan_out(h, res, i, p);
		h->end = p;
	}
	for (struct alert_stream *s = h->live; s != NULL; s = s->next)
		stream_flush(s);
	hub_next(h, n == POLL_LIMIT, held);
}

/* The answer of end_sql while no stream is open: `end` moves to the last position below xmin, unless a stream was
 * opened meanwhile (it started at the old `end`: the rows after it are read for it). */
static void
hub_skipped(const PGresult *res, void *arg)
{
	struct alert_streams *h = arg;
	struct position p;
	bool held;

	h->polling = false;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
	    PQnfields(res) != 2) {
		log_limited(&h->db_log, 10, LOG_LEVEL_WARNING, "alert stream: reading alert_actions "
			"failed: %s", res ? PQresultErrorMessage(res) : "database connection lost");
		hub_arm(h, FALLBACK_MS);
		return;
	}
	if (h->live != NULL) {
		hub_poll(h);
		return;
	}
	held = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	if (position_parse(PQgetvalue(res, 0, 0), &p) && position_cmp(p, h->end) > 0)
		h->end = p;
	hub_next(h, false, held);
}

static void
hub_poll(struct alert_streams *h)
{
	char xid[24], id[24], limit[16];
	const char *values[3] = { xid, id, limit };
	bool ok;

	if (!h->ready || h->stopped)
		return;
	if (h->polling) {
		h->again = true;
		return;
	}
	evtimer_del(h->timer);
	evtimer_del(h->debounce);
	h->again = false;
	if (h->live == NULL) {
		ok = db_query(h->d->reader, end_sql, 0, NULL, hub_skipped, h);
	} else {
		snprintf(xid, sizeof(xid), "%" PRIu64, h->end.xid);
		snprintf(id, sizeof(id), "%" PRId64, h->end.id);
		snprintf(limit, sizeof(limit), "%d", POLL_LIMIT);
		ok = db_query(h->d->reader, poll_sql, 3, values, hub_polled, h);
	}
	if (!ok) {
		hub_arm(h, FALLBACK_MS);
		return;
	}
	h->polling = true;
}

/* NOTIFY esup_alert: a hint that rows were committed; read the log shortly. */
static void
hub_notified(const char *channel, const char *payload, void *arg)
{
	struct alert_streams *h = arg;
	struct timeval tv = { 0, DEBOUNCE_MS * 1000 };

	(void)channel, (void)payload;
	if (h->polling)
		h->again = true;
	else if (!evtimer_pending(h->debounce, NULL))
		evtimer_add(h->debounce, &tv);
}

static void
hub_found_end(const PGresult *res, void *arg)
{
	struct alert_streams *h = arg;

	h->starting = false;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
	    !position_parse(PQgetvalue(res, 0, 0), &h->end)) {
		log_limited(&h->db_log, 10, LOG_LEVEL_WARNING, "alert stream: cannot find the end of "
			"alert_actions: %s", res ? PQresultErrorMessage(res) : "database connection lost");
		hub_arm(h, FALLBACK_MS);
		return;
	}
	h->ready = true;
	log_info("alert stream: new streams start after position %s", PQgetvalue(res, 0, 0));
	hub_poll(h);
}

/* The first time: where new streams without a position start. */
static void
hub_find_end(struct alert_streams *h)
{
	if (h->starting)
		return;
	if (!db_query(h->d->reader, end_sql, 0, NULL, hub_found_end, h)) {
		hub_arm(h, FALLBACK_MS);
		return;
	}
	h->starting = true;
}

static void
hub_timer(evutil_socket_t fd, short what, void *arg)
{
	struct alert_streams *h = arg;

	(void)fd, (void)what;
	if (h->stopped)
		return;
	if (h->ready)
		hub_poll(h);
	else
		hub_find_end(h);
}

/* Every stream_heartbeat_s: a comment line keeps proxies and clients from timing out, and
 * shows a dead peer; a peer that floods requests into a stream's connection is cut. */
static void
hub_heartbeat(evutil_socket_t fd, short what, void *arg)
{
	static const char beat[] = ": heartbeat\n\n";
	struct alert_streams *h = arg;
	struct alert_stream *s, *next;

	(void)fd, (void)what;
	for (s = h->live; s != NULL; s = next) {
		next = s->next;
		if (evbuffer_get_length(bufferevent_get_input(stream_bev(s))) >
		    h->d->cfg->max_header_bytes) {
			stream_cut(s, "the client sends data into an event stream");
			continue;
		}
		stream_write(s, beat, sizeof(beat) - 1);
	}
	hub_cut_slow(h);
}

/* ---------------------------------------------------------------- the set */

static void hub_drain_bound(evutil_socket_t fd, short what, void *arg);

struct alert_streams *
alert_streams_create(struct esupd *d)
{
	struct alert_streams *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	h->d = d;
	h->held_ms = HELD_MIN_MS;
	h->debounce = evtimer_new(d->base, hub_timer, h);
	h->timer = evtimer_new(d->base, hub_timer, h);
	h->heartbeat = event_new(d->base, -1, EV_PERSIST, hub_heartbeat, h);
	h->drain_bound = evtimer_new(d->base, hub_drain_bound, h);
	h->scratch = evbuffer_new();
	if (h->debounce == NULL || h->timer == NULL || h->heartbeat == NULL ||
	    h->drain_bound == NULL || h->scratch == NULL) {
		alert_streams_destroy(h);
		return NULL;
	}
	alert_streams_configure(h);
	db_listen(d->reader, "esup_alert", hub_notified, h);
	return h;
}

void
alert_streams_destroy(struct alert_streams *h)
{
	struct alert_stream *s;

	if (h == NULL)
		return;
	/* evhttp_free closed every connection: only streams whose query never came back */
	while ((s = h->gone) != NULL) {
		stream_unlink(s);
		stream_free(s);
	}
	while ((s = h->live) != NULL) {
		stream_unlink(s);
		stream_free(s);
	}
	if (h->debounce != NULL)
		event_free(h->debounce);
	if (h->timer != NULL)
		event_free(h->timer);
	if (h->heartbeat != NULL)
		event_free(h->heartbeat);
	if (h->drain_bound != NULL)
		event_free(h->drain_bound);
	if (h->scratch != NULL)
		evbuffer_free(h->scratch);
	free(h);
}

void
alert_streams_db_up(struct alert_streams *h)
{
	if (h->stopped)
		return;
	if (h->ready)
		hub_poll(h);
	else
		hub_find_end(h);
}

void
alert_streams_configure(struct alert_streams *h)
{
	struct timeval tv = { .tv_sec = h->d->cfg->stream_heartbeat_s };

	h->max_buffer = h->d->cfg->stream_max_buffer_bytes;
	event_del(h->heartbeat);
	event_add(h->heartbeat, &tv);
}

void
alert_streams_principals_changed(struct alert_streams *h)
{
	struct alert_stream *s, *next;

	for (s = h->live; s != NULL; s = next) {
		const struct principal *p = identity_find(h->d->identity, s->fingerprint);

		next = s->next;
		if (p == NULL || p->role != s->role || strcmp(p->dept, s->dept) != 0 ||
		    strcmp(p->region, s->region) != 0)
			stream_end(s, "the principal changed or was removed");
	}
}

static void
hub_drained(struct alert_streams *h)
{
	void (*done)(void *) = h->drained;

	if (done == NULL || !h->ending_counted)
		return;
	h->drained = NULL;
	evtimer_del(h->drain_bound);
	done(h->drained_arg);
}

/* evhttp wrote a drained stream's last chunk to its socket. */
static void
hub_stream_ended(struct evhttp_request *req, void *arg)
{
	struct alert_streams *h = arg;

	(void)req;
	if (h->ending > 0 && --h->ending == 0)
		hub_drained(h);
}

static void
hub_drain_bound(evutil_socket_t fd, short what, void *arg)
{
	struct alert_streams *h = arg;

	(void)fd;
	(void)what;
	log_warnx("alert streams: %u clients did not take their closing chunk within %d s; "
		"closing them", h->ending, DRAIN_MAX_S);
	h->ending = 0;
	hub_drained(h);
}

void
alert_streams_drain(struct alert_streams *h, void (*done)(void *), void *arg)
{
	struct timeval bound = { DRAIN_MAX_S, 0 };

	h->drained = done;
	h->drained_arg = arg;
	/* the last chunk is written later, when the loop runs: the count is complete first */
	while (h->live != NULL) {
		h->ending++;
		evhttp_request_set_on_complete_cb(h->live->req, hub_stream_ended, h);
		stream_end(h->live, "server shutting down");
	}
	h->ending_counted = true;
	evtimer_del(h->timer);
	evtimer_del(h->debounce);
	event_del(h->heartbeat);
	h->stopped = true;
	if (h->ending == 0)
		hub_drained(h);
	else
		evtimer_add(h->drain_bound, &bound);
}

unsigned
alert_streams_count(const struct alert_streams *h)
{
	return h->count;
}

/* ---------------------------------------------------------------- a new stream */

/* Last-Event-ID, or ?after= (esupctl); *given false when neither is there. False after a
 * 400 reply. */
static bool
stream_start_position(const struct api_request *r, struct position *p, bool *given)
{
	static const char *const known[] = { "after", NULL };
	const char *text = evhttp_find_header(evhttp_request_get_input_headers(r->req),
		"Last-Event-ID");
	struct api_query q;
	bool ok;

	if (!api_query_parse(r, known, &q))
		return false;
	if (text == NULL)
		text = q.values[0];
	*given = text != NULL && text[0] != '\0';
	ok = !*given || position_parse(text, p);
	if (!ok)
		api_reply_invalid(r->req, q.values[0] != NULL && text == q.values[0] ?
			"after" : "Last-Event-ID", "a position <xid>-<id>", text);
	api_query_free(&q);
	return ok;
}

static struct alert_stream *
stream_create(struct alert_streams *h, struct evhttp_request *req, const struct principal *p,
		const char *fingerprint)
{
	struct alert_stream *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->batch = evbuffer_new()) == NULL) {
		free(s);
		return NULL;
	}
	s->h = h;
	s->req = req;
	s->evcon = evhttp_request_get_connection(req);
	s->role = p->role;
	snprintf(s->fingerprint, sizeof(s->fingerprint), "%s", fingerprint);
	snprintf(s->dept, sizeof(s->dept), "%s", p->dept);
	snprintf(s->region, sizeof(s->region), "%s", p->region);
	snprintf(s->prefix, sizeof(s->prefix), "%.*s", (int)region_prefix_len(p->region), p->region);
	return s;
}

/* Sends the head of the chunked reply; the stream lives as long as its connection, which
 * has no read timeout any more (a stream's client sends nothing) and keeps the write timeout
 * (a client that stops reading is closed after idle_timeout_s). */
static void
stream_start_reply(struct alert_stream *s, const struct config *cfg)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(s->req);
	struct timeval write_tv = { .tv_sec = cfg->idle_timeout_s };

	evhttp_add_header(out, "Content-Type", "text/event-stream; charset=utf-8");
	evhttp_add_header(out, "Cache-Control", "no-store");
	evhttp_add_header(out, "X-Accel-Buffering", "no");
	evhttp_add_header(out, "Connection", "close");
	evhttp_send_reply_start(s->req, 200, "OK");
	bufferevent_set_timeouts(stream_bev(s), NULL, &write_tv);
	evhttp_connection_set_closecb(s->evcon, stream_conn_closed, s);
}

/* GET /v1/alerts/stream: authenticated by the route table (departments, supervisors,
 * auditors). Replies 400 or 503, or starts the stream, which owns req from here on. */
static void
alert_stream_open(const struct api_request *r)
{
	char position[48], head[160];
	struct alert_streams *h = r->d->streams;
	struct alert_stream *s;
	struct position after = { 0, 0 };
	bool given;

	if (!stream_start_position(r, &after, &given))
		return;
	if (!h->ready || h->stopped || evhttp_request_get_connection(r->req) == NULL) {
		http_reply_retry(r->req, 503, r->d->cfg->retry_after_s, "the alert log is not readable yet");
		return;
	}
	if ((s = stream_create(h, r->req, r->principal, r->fingerprint)) == NULL) {
		http_reply_error(r->req, 500, "out of memory");
		return;
	}
	stream_push(&h->live, s);
	h->count++;
	stream_start_reply(s, r->d->cfg);
	position_format(given ? after : h->end, position, sizeof(position));
	if (given)
		snprintf(head, sizeof(head), "retry: %d\n: replaying after position %s\n\n", RETRY_MS,
			position);
	else
		snprintf(head, sizeof(head), "retry: %d\n: live from position %s (no Last-Event-ID)\n"
			"id: %s\n\n", RETRY_MS, position, position);
	s->cursor = given ? after : h->end;
	s->state = given ? STREAM_REPLAYING : STREAM_LIVE;
	stream_write(s, head, strlen(head));
	log_debug("alert stream opened by %s (%u open)", r->fingerprint, h->count);
	if (given)
		stream_replay_next(s);
}

const struct api_route api_stream_routes[] = {
	{ EVHTTP_REQ_GET, "/v1/alerts/stream", API_ROLES_READERS, 0, NULL, alert_stream_open },
	{ 0, NULL, 0, 0, NULL, NULL },
};
