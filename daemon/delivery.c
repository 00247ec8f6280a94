/* delivery.c: webhook receivers fed from the alert_actions outbox (see delivery.h).
 *
 * Each receiver is a small state machine, one step in flight at a time:
 *   IDLE -> CURSOR (read or create its cursor) -> FETCH (the next actions after it)
 *        -> POST (one batch to the receiver) -> RECORD (log the attempt; a 2xx moves the cursor)
 *        -> FETCH again, or BACKOFF (timer) -> IDLE after a failure.
 * Actions the routing does not want are stepped over by moving the cursor alone (SKIP). A
 * wake-up (tick, NOTIFY) while busy is remembered and looked at when the step ends. */
#include "delivery.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event_struct.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "alert.h"
#include "config.h"
#include "db.h"
#include "log.h"

#define DELIVERY_SCAN_ROWS "500"          /* log rows read per FETCH, wanted or not */
#define DELIVERY_MAX_ANSWER_BYTES 65536   /* a receiver's answer is read, then dropped */
#define DELIVERY_TIME(col) \
	"to_char(" col " AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"')"

/* A new receiver starts at the end of the log as it is now: the last position below the oldest
 * running transaction (every row a transaction still running adds will come after it). */
static const char delivery_cursor_sql[] =
	"WITH made AS (INSERT INTO delivery_cursors (receiver, position)"
	"  SELECT $1, coalesce((SELECT a.xid::text || '-' || a.id FROM alert_actions a"
	"   WHERE a.xid < pg_snapshot_xmin(pg_current_snapshot())"
	"   ORDER BY a.xid DESC, a.id DESC LIMIT 1), '0-0')"
	"  ON CONFLICT (receiver) DO NOTHING RETURNING position)"
	" SELECT position, true FROM made"
	" UNION ALL SELECT position, false FROM delivery_cursors WHERE receiver = $1";

enum fetch_col {
	F_POSITION, F_ACTION_ID, F_ALERT_ID, F_ACTION, F_FROM, F_TO, F_ACTOR, F_NOTE, F_AT, F_RULE,
	F_SEVERITY, F_DEPT, F_CASE, F_ITEM, F_REGION, F_ESCALATED_TO, F_LEVEL, F_KEY, F_MESSAGE,
	F_SINCE,
};

/* A page of the log after the receiver's position (esup_alert_log_page, migration 033: in
 * index order whatever the statistics say), with each action's alert. */
static const char delivery_fetch_sql[] =
	"SELECT a.xid::text || '-' || a.id, a.id, a.alert_id, a.action, coalesce(a.from_state, ''),"
	" coalesce(a.to_state, ''), a.actor, a.note, " DELIVERY_TIME("a.at") ","
	" l.rule, l.severity, l.dept, l.case_no, l.item, l.region, l.escalated_to,"
	" l.escalation_level, l.dedup_key, l.message, " DELIVERY_TIME("l.since")
	" FROM esup_alert_log_page(split_part($1, '-', 1)::xid8, split_part($1, '-', 2)::bigint,"
	"  pg_snapshot_xmin(pg_current_snapshot()), " DELIVERY_SCAN_ROWS ") a"
	" JOIN alerts l ON l.id = a.alert_id"
	" ORDER BY a.xid, a.id";

static const char delivery_skip_sql[] =
	"UPDATE delivery_cursors SET position = $3, updated_at = now()"
	" WHERE receiver = $1 AND position = $2";

static const char delivery_record_sql[] =
	"SELECT esup_delivery_record($1, $2::bigint[], $3::bigint[], $4::text[], $5, $6::int, $7,"
	" $8::int, $9, $10)";

enum receiver_state { RCV_IDLE, RCV_CURSOR, RCV_FETCH, RCV_SKIP, RCV_POST, RCV_RECORD, RCV_BACKOFF };

/* A receiver's settings, copied from the configuration (which a reload frees). */
struct receiver_settings {
	char *name, *url, *region, *host, *path;
	bool https, subtree;
	unsigned port, timeout_s, backoff_min_ms, backoff_max_ms, action_mask;
	int min_rank;
	size_t batch;
};

/* The batch in flight: what RECORD logs, and where the cursor goes on success. */
struct batch {
	size_t count;
	char *action_ids, *alert_ids, *positions;   /* SQL array literals */
	char *body;                                 /* the JSON POSTed */
	char to[48];                                /* the cursor after it */
	const char *outcome;                        /* delivered | rejected | timeout | error */
	int http_status;                            /* 0: no HTTP answer */
	char error[160];
	struct timespec started;
	unsigned ms;
};

struct receiver {
	struct delivery *dl;
	struct receiver *next;
	struct receiver_settings set;
	enum receiver_state state;
	bool retired;             /* a reload removed it: freed when the step in flight ends */
	bool again;               /* woken while busy */
	bool cursor_known;
	char cursor[48];
	unsigned failures;        /* consecutive failed attempts */
	struct batch batch;
	struct evhttp_connection *evcon, *spent;   /* spent: freed on the next loop turn */
	SSL *ssl;                 /* the attempt's, owned by its bufferevent */
	struct event timer;       /* backoff */
	struct event reap;        /* frees spent outside libevent's http callbacks */
	struct log_limit db_log;  /* a failing query is logged at most once a minute */
};

struct delivery {
	struct event_base *base;
	struct db *db;
	struct evdns_base *dns;   /* made on the first receiver named by host name */
	SSL_CTX *tls;             /* https receivers: the daemon's CA, peer verified */
	struct receiver *receivers;
	struct receiver *retired;   /* removed by a reload, a query of theirs still in flight */
	struct event tick;        /* until the periodic-jobs module drives delivery_job_tick */
	struct timeval poll;
	bool stopped;
};

static void receiver_wake(struct receiver *r);
static void receiver_post(struct receiver *r);

/* ---------------------------------------------------------------- settings, lifecycle */

static void
settings_free(struct receiver_settings *s)
{
	free(s->name);
	free(s->url);
	free(s->region);
	free(s->host);
	free(s->path);
	memset(s, 0, sizeof(*s));
}

static bool
settings_copy(struct receiver_settings *s, const struct config_receiver *c)
{
	*s = (struct receiver_settings){
		.name = strdup(c->name), .url = strdup(c->url), .region = strdup(c->region),
		.host = strdup(c->host), .path = strdup(c->path), .https = c->https,
		.subtree = c->subtree, .port = c->port, .timeout_s = c->timeout_s,
		.backoff_min_ms = c->backoff_min_ms, .backoff_max_ms = c->backoff_max_ms,
		.action_mask = c->action_mask, .min_rank = c->min_rank, .batch = c->batch,
	};
	if (s->name && s->url && s->region && s->host && s->path)
		return true;
	settings_free(s);
	return false;
}

static void
batch_clear(struct batch *b)
{
	free(b->action_ids);
	free(b->alert_ids);
	free(b->positions);
	free(b->body);
	memset(b, 0, sizeof(*b));
}

static void
receiver_reap(evutil_socket_t fd, short what, void *arg)
{
	struct receiver *r = arg;

	(void)fd, (void)what;
	if (r->spent != NULL)
		evhttp_connection_free(r->spent);
	r->spent = NULL;
}

/* Frees the receiver now: nothing in flight may still point at it (see receiver_retire). */
static void
receiver_free(struct receiver *r)
{
	if (r == NULL)
		return;
	evtimer_del(&r->timer);
	event_del(&r->reap);
	if (r->evcon != NULL)
		evhttp_connection_free(r->evcon);   /* its request's callbacks are not called */
	if (r->spent != NULL)
		evhttp_connection_free(r->spent);
	batch_clear(&r->batch);
	settings_free(&r->set);
	free(r);
}

/* A query of this receiver is in flight: the result callback frees it. Otherwise now. */
static void
receiver_retire(struct receiver *r)
{
	bool querying = r->state == RCV_CURSOR || r->state == RCV_FETCH || r->state == RCV_SKIP ||
		r->state == RCV_RECORD;

	log_info("receiver %s: removed from the configuration", r->set.name);
	r->retired = true;
	if (!querying) {
		receiver_free(r);
		return;
	}
	r->next = r->dl->retired;
	r->dl->retired = r;
}

static void
receiver_backoff_done(evutil_socket_t fd, short what, void *arg)
{
	struct receiver *r = arg;

	(void)fd, (void)what;
	r->state = RCV_IDLE;
	receiver_wake(r);
}

static struct receiver *
receiver_create(struct delivery *dl, const struct config_receiver *c)
{
	struct receiver *r = calloc(1, sizeof(*r));

	if (r == NULL || !settings_copy(&r->set, c)) {
		free(r);
		return NULL;
	}
	r->dl = dl;
	evtimer_assign(&r->timer, dl->base, receiver_backoff_done, r);
	event_assign(&r->reap, dl->base, -1, 0, receiver_reap, r);
	return r;
}

/* ---------------------------------------------------------------- the state machine */

/* The step ended: a wake-up that came meanwhile looks again. */
static void
receiver_idle(struct receiver *r)
{
	r->state = RCV_IDLE;
	if (r->again)
		receiver_wake(r);
}

/* A query failed or the connection went: the cursor is read again before anything else. */
static void
receiver_db_failed(struct receiver *r, const PGresult *res, const char *what)
{
	char msg[256];

	if (res != NULL) {
		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
		msg[strcspn(msg, "\r\n")] = '\0';   /* the log wants one line */
		log_limited(&r->db_log, 60, LOG_LEVEL_WARNING, "receiver %s: %s failed: %s",
			r->set.name, what, msg);
	}
	r->cursor_known = false;
	batch_clear(&r->batch);
	r->state = RCV_IDLE;   /* the next tick tries again */
}

static bool
receiver_query(struct receiver *r, enum receiver_state next, const char *sql, int n,
		const char *const *values, db_result_cb *cb)
{
	if (!db_query(r->dl->db, sql, n, values, cb, r)) {
		r->state = RCV_IDLE;   /* the database is down: the next tick tries again */
		return false;
	}
	r->state = next;
	return true;
}

/* Called back with res valid only during the call; frees a retired receiver instead. */
static bool
receiver_result_wanted(struct receiver *r)
{
	struct receiver **p;

	if (!r->retired)
		return true;
	for (p = &r->dl->retired; *p != NULL && *p != r; p = &(*p)->next)
		;
	if (*p != NULL)
		*p = r->next;
	receiver_free(r);
	return false;
}

static void receiver_fetch(struct receiver *r);

static void
receiver_cursor_read(const PGresult *res, void *arg)
{
	struct receiver *r = arg;

	if (!receiver_result_wanted(r))
		return;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		receiver_db_failed(r, res, "reading its cursor");
		return;
	}
	snprintf(r->cursor, sizeof(r->cursor), "%s", PQgetvalue(res, 0, 0));
	r->cursor_known = true;
	if (strcmp(PQgetvalue(res, 0, 1), "t") == 0)
		log_info("receiver %s: new; starts at the end of the log, position %s", r->set.name,
			r->cursor);
	receiver_fetch(r);
}

static void
receiver_wake(struct receiver *r)
{
	const char *values[1] = { r->set.name };

	if (r->retired || r->dl->stopped)
		return;
	if (r->state != RCV_IDLE) {
		r->again = r->state != RCV_BACKOFF;
		return;
	}
	r->again = false;
	if (!r->cursor_known)
		(void)receiver_query(r, RCV_CURSOR, delivery_cursor_sql, 1, values, receiver_cursor_read);
	else
		receiver_fetch(r);
}

/* ---------------------------------------------------------------- routing and payload */

/* The kind of an action (config_action_names), -1 when no receiver is ever sent it: a raise is
 * "raise" when it issued the alert and "held" when it held it for confirmation. */
static int
action_kind(const char *action, const char *to)
{
	if (strcmp(action, "raise") == 0)
		return strcmp(to, "open") == 0 ? CONFIG_ACTION_RAISE :
			strcmp(to, "held") == 0 ? CONFIG_ACTION_HELD : -1;
	for (int i = 0; i < CONFIG_ACTION_COUNT; i++)
		if (i != CONFIG_ACTION_HELD && strcmp(action, config_action_names[i]) == 0)
			return i;
	return -1;
}

/* The region responsible for the alert now: the one it was escalated to (督办), else its own. */
static const char *
row_region(const PGresult *res, int row)
{
	if (!PQgetisnull(res, row, F_ESCALATED_TO))
		return PQgetvalue(res, row, F_ESCALATED_TO);
	return PQgetvalue(res, row, F_REGION);
}

static bool
receiver_wants(const struct receiver_settings *s, const PGresult *res, int row)
{
	int kind = action_kind(PQgetvalue(res, row, F_ACTION), PQgetvalue(res, row, F_TO));
	const char *region = row_region(res, row);

	if (kind < 0 || (s->action_mask & (1u << kind)) == 0)
		return false;
	if (config_severity_rank(PQgetvalue(res, row, F_SEVERITY)) < s->min_rank)
		return false;
	if (s->region[0] == '\0')
		return true;
	return s->subtree ? region_covers(s->region, region) : strcmp(s->region, region) == 0;
}

static bool
state_is_firing(const char *state)
{
	return strcmp(state, "open") == 0 || strcmp(state, "acknowledged") == 0 ||
		strcmp(state, "appealed") == 0 || strcmp(state, "held") == 0;
}

static const char *
opt_value(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* One action as an Alertmanager alert, with the esup object beside its labels. */
static json_t *
delivery_alert_json(const PGresult *res, int row)
{
	const char *to = PQgetvalue(res, row, F_TO), *at = PQgetvalue(res, row, F_AT);
	bool firing = state_is_firing(to);
	json_t *labels = json_pack("{s:s, s:s, s:s, s:s}", "alertname", PQgetvalue(res, row, F_RULE),
		"severity", PQgetvalue(res, row, F_SEVERITY), "dept", PQgetvalue(res, row, F_DEPT),
		"region", row_region(res, row));

	if (labels != NULL && opt_value(res, row, F_CASE) != NULL)
		json_object_set_new(labels, "case", json_string(opt_value(res, row, F_CASE)));
	if (labels != NULL && opt_value(res, row, F_ITEM) != NULL)
		json_object_set_new(labels, "item", json_string(opt_value(res, row, F_ITEM)));
	return json_pack("{s:s, s:o, s:{s:s, s:s, s:s}, s:s, s:s, s:s, s:s, s:{s:I, s:I, s:s,"
		" s:I, s:s?, s:s, s:s, s:s, s:s, s:s, s:s}}",
		"status", firing ? "firing" : "resolved", "labels", labels,
		"annotations", "message", PQgetvalue(res, row, F_MESSAGE),
		"action", PQgetvalue(res, row, F_ACTION), "note", PQgetvalue(res, row, F_NOTE),
		"startsAt", PQgetvalue(res, row, F_SINCE),
		"endsAt", firing ? "0001-01-01T00:00:00Z" : at, "generatorURL", "",
		"fingerprint", PQgetvalue(res, row, F_KEY),
		"esup", "alert_id", (json_int_t)strtoll(PQgetvalue(res, row, F_ALERT_ID), NULL, 10),
		"action_id", (json_int_t)strtoll(PQgetvalue(res, row, F_ACTION_ID), NULL, 10),
		"position", PQgetvalue(res, row, F_POSITION),
		"escalation_level", (json_int_t)strtoll(PQgetvalue(res, row, F_LEVEL), NULL, 10),
		"escalated_to", opt_value(res, row, F_ESCALATED_TO),
		"region", PQgetvalue(res, row, F_REGION), "action", PQgetvalue(res, row, F_ACTION),
		"from", PQgetvalue(res, row, F_FROM), "to", to, "actor", PQgetvalue(res, row, F_ACTOR),
		"at", at);
}

static char *
evbuffer_to_string(struct evbuffer *buf)
{
	size_t len = evbuffer_get_length(buf);
	char *s = malloc(len + 1);

	if (s != NULL) {
		evbuffer_remove(buf, s, len);
		s[len] = '\0';
	}
	evbuffer_free(buf);
	return s;
}

/* Ends an SQL array literal and returns it as a string; NULL when out of memory. */
static char *
array_close(struct evbuffer *buf)
{
	if (buf == NULL)
		return NULL;
	evbuffer_add(buf, "}", 1);
	return evbuffer_to_string(buf);
}

/* Rows taken[0..count) of res into the batch: the POST body and the arrays RECORD logs. */
static bool
batch_build(struct receiver *r, const PGresult *res, const int *taken, size_t count)
{
	struct evbuffer *ids = evbuffer_new(), *alert_ids = evbuffer_new(), *pos = evbuffer_new();
	json_t *alerts = json_array(), *root;
	bool firing = false;

	for (size_t i = 0; ids && alert_ids && pos && alerts && i < count; i++) {
		const char *sep = i == 0 ? "{" : ",";

		evbuffer_add_printf(ids, "%s%s", sep, PQgetvalue(res, taken[i], F_ACTION_ID));
		evbuffer_add_printf(alert_ids, "%s%s", sep, PQgetvalue(res, taken[i], F_ALERT_ID));
		evbuffer_add_printf(pos, "%s%s", sep, PQgetvalue(res, taken[i], F_POSITION));
		firing |= state_is_firing(PQgetvalue(res, taken[i], F_TO));
		if (json_array_append_new(alerts, delivery_alert_json(res, taken[i])) != 0)
			json_decref(alerts), alerts = NULL;
	}
	root = json_pack("{s:s, s:s, s:s, s:s, s:i, s:o, s:{}, s:{}, s:{}, s:s, s:{s:s, s:s, s:s, s:I}}",
		"version", "4", "receiver", r->set.name, "status", firing ? "firing" : "resolved",
		"groupKey", r->set.name, "truncatedAlerts", 0, "alerts", alerts, "groupLabels",
		"commonLabels", "commonAnnotations", "externalURL", "", "esup", "receiver", r->set.name,
		"after", r->cursor, "through", r->batch.to, "count", (json_int_t)count);
	r->batch.count = count;
	r->batch.action_ids = array_close(ids);
	r->batch.alert_ids = array_close(alert_ids);
	r->batch.positions = array_close(pos);
	r->batch.body = root ? json_dumps(root, JSON_COMPACT) : NULL;
	json_decref(root);
	return r->batch.action_ids && r->batch.alert_ids && r->batch.positions && r->batch.body;
}

/* ---------------------------------------------------------------- fetch, skip, record */

static void
receiver_skipped(const PGresult *res, void *arg)
{
	struct receiver *r = arg;

	if (!receiver_result_wanted(r))
		return;
	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
		receiver_db_failed(r, res, "moving its cursor");
		return;
	}
	if (strcmp(PQcmdTuples((PGresult *)res), "1") != 0) {
		log_warnx("receiver %s: its cursor was moved by another esupd; reading it again",
			r->set.name);
		r->cursor_known = false;
		r->again = true;
		receiver_idle(r);
		return;
	}
	snprintf(r->cursor, sizeof(r->cursor), "%s", r->batch.to);
	receiver_fetch(r);
}

/* The actions after the cursor: the first batch the routing wants goes out; when it wants none
 * of them, the cursor steps over them alone. */
static void
receiver_fetched(const PGresult *res, void *arg)
{
	struct receiver *r = arg;
	int n, *taken, last = -1;
	size_t count = 0;

	if (!receiver_result_wanted(r))
		return;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		receiver_db_failed(r, res, "reading the log");
		return;
	}
	if ((n = PQntuples(res)) == 0) {
		receiver_idle(r);
		return;
	}
	if ((taken = calloc(r->set.batch, sizeof(*taken))) == NULL) {
		receiver_db_failed(r, NULL, "");
		return;
	}
	batch_clear(&r->batch);
	for (int i = 0; i < n && last < 0; i++) {
		if (!receiver_wants(&r->set, res, i))
			continue;
		if (count == r->set.batch)
			last = taken[count - 1];   /* more wanted rows follow: the cursor stops here */
		else
			taken[count++] = i;
	}
	snprintf(r->batch.to, sizeof(r->batch.to), "%s", PQgetvalue(res, last >= 0 ? last : n - 1,
		F_POSITION));
	if (count == 0) {
		const char *values[3] = { r->set.name, r->cursor, r->batch.to };

		(void)receiver_query(r, RCV_SKIP, delivery_skip_sql, 3, values, receiver_skipped);
	} else if (!batch_build(r, res, taken, count)) {
		log_warnx("receiver %s: out of memory building a batch", r->set.name);
		receiver_db_failed(r, NULL, "");
	} else {
		receiver_post(r);
	}
	free(taken);
}

static void
receiver_fetch(struct receiver *r)
{
	const char *values[1] = { r->cursor };

	(void)receiver_query(r, RCV_FETCH, delivery_fetch_sql, 1, values, receiver_fetched);
}

static unsigned
receiver_backoff_ms(const struct receiver *r)
{
	unsigned long long ms = r->set.backoff_min_ms;

	for (unsigned i = 1; i < r->failures && ms < r->set.backoff_max_ms; i++)
		ms *= 2;
	return ms < r->set.backoff_max_ms ? (unsigned)ms : r->set.backoff_max_ms;
}

/* After a failed attempt (logged or not): the same actions go again after the backoff. */
static void
receiver_retry_later(struct receiver *r)
{
	unsigned ms;
	struct timeval tv;

	r->failures++;
	ms = receiver_backoff_ms(r);
	tv = (struct timeval){ ms / 1000, (ms % 1000) * 1000 };
	log_warnx("receiver %s: %zu action(s) from %s not delivered (attempt %u: %s%s%s); next "
		"attempt in %u ms", r->set.name, r->batch.count, r->cursor, r->failures,
		r->batch.outcome, r->batch.error[0] ? ": " : "", r->batch.error, ms);
	batch_clear(&r->batch);
	r->state = RCV_BACKOFF;
	evtimer_add(&r->timer, &tv);
}

static void
receiver_recorded(const PGresult *res, void *arg)
{
	struct receiver *r = arg;
	bool delivered;

	if (!receiver_result_wanted(r))
		return;
	delivered = strcmp(r->batch.outcome, "delivered") == 0;
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		r->cursor_known = false;   /* a delivered batch goes again: at least once */
		if (!delivered) {
			if (res != NULL)
				log_warnx("receiver %s: logging the attempt failed: %s", r->set.name,
					PQresStatus(PQresultStatus(res)));
			receiver_retry_later(r);
		} else {
			receiver_db_failed(r, res, "logging the attempt");
		}
		return;
	}
	if (!delivered) {
		receiver_retry_later(r);
		return;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		log_warnx("receiver %s: its cursor was moved by another esupd; reading it again",
			r->set.name);
		r->cursor_known = false;
		r->again = true;
	} else {
		if (r->failures > 0)
			log_info("receiver %s: delivered again after %u failed attempt(s)", r->set.name,
				r->failures);
		snprintf(r->cursor, sizeof(r->cursor), "%s", r->batch.to);
	}
	r->failures = 0;
	batch_clear(&r->batch);
	if (r->cursor_known)
		receiver_fetch(r);
	else
		receiver_idle(r);
}

static void
receiver_record(struct receiver *r)
{
	struct batch *b = &r->batch;
	char status[16], ms[16];
	const char *values[10] = { r->set.name, b->action_ids, b->alert_ids, b->positions,
		b->outcome, b->http_status > 0 ? status : NULL, b->error[0] ? b->error : NULL, ms,
		r->cursor, b->to };

	snprintf(status, sizeof(status), "%d", b->http_status);
	snprintf(ms, sizeof(ms), "%u", b->ms);
	if (!receiver_query(r, RCV_RECORD, delivery_record_sql, 10, values, receiver_recorded)) {
		r->cursor_known = false;
		if (strcmp(b->outcome, "delivered") != 0)
			receiver_retry_later(r);
		else
			batch_clear(b);
	}
}

/* ---------------------------------------------------------------- the HTTP attempt */

static void
attempt_fail(struct receiver *r, const char *outcome, const char *why)
{
	r->batch.outcome = outcome;
	snprintf(r->batch.error, sizeof(r->batch.error), "%s", why);
}

static void
receiver_http_error(enum evhttp_request_error err, void *arg)
{
	struct receiver *r = arg;
	long verify = r->ssl != NULL ? SSL_get_verify_result(r->ssl) : X509_V_OK;

	if (verify != X509_V_OK)
		attempt_fail(r, "error", X509_verify_cert_error_string(verify));
	else if (err == EVREQ_HTTP_TIMEOUT)
		attempt_fail(r, "timeout", "no answer within timeout_s");
	else if (err == EVREQ_HTTP_EOF)
		attempt_fail(r, "error", "connection refused or closed before an answer");
	else if (err == EVREQ_HTTP_INVALID_HEADER)
		attempt_fail(r, "error", "malformed answer");
	else if (err == EVREQ_HTTP_DATA_TOO_LONG)
		attempt_fail(r, "error", "answer too long");
	else
		attempt_fail(r, "error", "connection failed");
}

static unsigned
elapsed_ms(const struct timespec *since)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - since->tv_sec) * 1000LL + (now.tv_nsec - since->tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms > 1000000000 ? 1000000000 : (unsigned)ms;
}

/* libevent's callback for the answer, or for its absence (req NULL after an error). The
 * connection is freed on the next loop turn: libevent still uses it after this returns. */
static void
receiver_answered(struct evhttp_request *req, void *arg)
{
	struct receiver *r = arg;
	int code = req != NULL ? evhttp_request_get_response_code(req) : 0;

	r->batch.ms = elapsed_ms(&r->batch.started);
	r->batch.http_status = code;
	if (code >= 200 && code < 300) {
		r->batch.outcome = "delivered";
	} else if (code > 0) {
		char why[80];

		snprintf(why, sizeof(why), "HTTP %d", code);
		attempt_fail(r, "rejected", why);
	} else if (r->batch.outcome == NULL) {
		attempt_fail(r, "error", "no answer");
	}
	r->spent = r->evcon;
	r->evcon = NULL;
	r->ssl = NULL;
	event_active(&r->reap, 0, 1);
	receiver_record(r);
}

static bool
host_is_numeric(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* The TLS side of an https attempt: the daemon's CA, the URL's host checked against the
 * receiver's certificate. NULL (logged by the caller) when it cannot be made. */
static struct bufferevent *
receiver_tls(struct receiver *r)
{
	struct delivery *dl = r->dl;
	struct bufferevent *bev;
	SSL *ssl;
	int ok;

	if (dl->tls == NULL || (ssl = SSL_new(dl->tls)) == NULL)
		return NULL;
	if (host_is_numeric(r->set.host))
		ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), r->set.host);
	else
		ok = SSL_set1_host(ssl, r->set.host) && SSL_set_tlsext_host_name(ssl, r->set.host);
	bev = ok ? bufferevent_openssl_socket_new(dl->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
		BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS) : NULL;
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	r->ssl = ssl;
	return bev;
}

static struct evdns_base *
delivery_dns(struct delivery *dl)
{
	if (dl->dns == NULL &&
	    (dl->dns = evdns_base_new(dl->base, EVDNS_BASE_INITIALIZE_NAMESERVERS)) == NULL)
		log_warnx("delivery: cannot set up name resolution");
	return dl->dns;
}

static bool
receiver_request(struct receiver *r, struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char host[300];

	snprintf(host, sizeof(host), "%s:%u", r->set.host, r->set.port);
	evhttp_request_set_error_cb(req, receiver_http_error);
	return evhttp_add_header(h, "Host", host) == 0 &&
		evhttp_add_header(h, "Content-Type", "application/json") == 0 &&
		evhttp_add_header(h, "User-Agent", "esupd") == 0 &&
		evhttp_add_header(h, "Connection", "close") == 0 &&
		evbuffer_add(evhttp_request_get_output_buffer(req), r->batch.body,
			strlen(r->batch.body)) == 0;
}

/* One attempt on a connection of its own (so one receiver never waits for another). */
static void
receiver_post(struct receiver *r)
{
	struct delivery *dl = r->dl;
	struct bufferevent *bev = NULL;
	struct evhttp_request *req;
	struct evdns_base *dns = host_is_numeric(r->set.host) ? NULL : delivery_dns(dl);

	if (r->spent != NULL) {   /* not inside an http callback here: safe */
		evhttp_connection_free(r->spent);
		r->spent = NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &r->batch.started);
	r->state = RCV_POST;
	if (r->set.https && (bev = receiver_tls(r)) == NULL) {
		attempt_fail(r, "error", dl->tls ? "cannot start TLS" : "no TLS context (see the log)");
		receiver_record(r);
		return;
	}
	r->evcon = (dns != NULL || host_is_numeric(r->set.host)) ?
		evhttp_connection_base_bufferevent_new(dl->base, dns, bev, r->set.host,
			(unsigned short)r->set.port) : NULL;
	if (r->evcon == NULL) {
		if (bev != NULL)
			bufferevent_free(bev);
		r->ssl = NULL;
		attempt_fail(r, "error", "cannot create the connection");
		receiver_record(r);
		return;
	}
	evhttp_connection_set_timeout(r->evcon, (int)r->set.timeout_s);
	evhttp_connection_set_max_body_size(r->evcon, DELIVERY_MAX_ANSWER_BYTES);
	evhttp_connection_set_max_headers_size(r->evcon, DELIVERY_MAX_ANSWER_BYTES);
	if ((req = evhttp_request_new(receiver_answered, r)) != NULL && !receiver_request(r, req)) {
		evhttp_request_free(req);   /* not the connection's yet */
		req = NULL;
	}
	/* A connection that fails at once may have called receiver_answered already (the
	 * attempt is being recorded): then there is nothing left to do here. */
	if ((req == NULL || evhttp_make_request(r->evcon, req, EVHTTP_REQ_POST, r->set.path) != 0) &&
	    r->state == RCV_POST && r->evcon != NULL) {
		attempt_fail(r, "error", "cannot send the request");
		r->spent = r->evcon;
		r->evcon = NULL;
		r->ssl = NULL;
		receiver_record(r);
	}
}

/* ---------------------------------------------------------------- configuration, lifecycle */

static SSL_CTX *
delivery_tls_context(const struct config *cfg)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    SSL_CTX_load_verify_locations(ctx, cfg->tls_ca, NULL) != 1) {
		log_warnx("delivery: cannot make the TLS context for https receivers from %s: %s",
			cfg->tls_ca, ERR_reason_error_string(ERR_get_error()));
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

static const struct config_receiver *
config_receiver_named(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->receivers_count; i++)
		if (strcmp(cfg->receivers[i].name, name) == 0)
			return &cfg->receivers[i];
	return NULL;
}

/* Keeps the receivers still configured (with their new settings), retires the others. */
static void
delivery_keep_configured(struct delivery *dl, const struct config *cfg)
{
	struct receiver **p = &dl->receivers;

	while (*p != NULL) {
		struct receiver *r = *p;
		const struct config_receiver *c = config_receiver_named(cfg, r->set.name);
		struct receiver_settings fresh;

		if (c != NULL && settings_copy(&fresh, c)) {
			settings_free(&r->set);
			r->set = fresh;
			p = &r->next;
			continue;
		}
		*p = r->next;
		r->next = NULL;
		receiver_retire(r);
	}
}

static void
delivery_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	delivery_job_tick(arg);
}

static void
delivery_notified(const char *channel, const char *payload, void *arg)
{
	(void)channel, (void)payload;
	delivery_job_tick(arg);
}

void
delivery_configure(struct delivery *dl, const struct config *cfg)
{
	bool https = false;

	delivery_keep_configured(dl, cfg);
	for (size_t i = 0; i < cfg->receivers_count; i++) {
		const struct config_receiver *c = &cfg->receivers[i];
		struct receiver *r, **tail = &dl->receivers;

		https |= c->https;
		for (r = dl->receivers; r != NULL && strcmp(r->set.name, c->name) != 0; r = r->next)
			tail = &r->next;
		if (r != NULL)
			continue;
		if ((r = receiver_create(dl, c)) == NULL) {
			log_warnx("receiver %s: out of memory; not started", c->name);
			continue;
		}
		*tail = r;
		log_info("receiver %s: delivering to %s", c->name, c->url);
	}
	if (https) {
		SSL_CTX *tls = delivery_tls_context(cfg);

		if (tls != NULL) {
			SSL_CTX_free(dl->tls);   /* attempts in flight hold their own SSL */
			dl->tls = tls;
		}
	}
	dl->poll = (struct timeval){ cfg->delivery_poll_ms / 1000, (cfg->delivery_poll_ms % 1000) * 1000 };
	if (!dl->stopped && dl->receivers != NULL)
		evtimer_add(&dl->tick, &dl->poll);
	else
		evtimer_del(&dl->tick);
	delivery_job_tick(dl);
}

void
delivery_job_tick(struct delivery *dl)
{
	for (struct receiver *r = dl->receivers; r != NULL; r = r->next)
		receiver_wake(r);
}

struct delivery *
delivery_create(struct event_base *base, struct db *db, const struct config *cfg)
{
	struct delivery *dl = calloc(1, sizeof(*dl));

	if (dl == NULL)
		return NULL;
	dl->base = base;
	dl->db = db;
	event_assign(&dl->tick, base, -1, EV_PERSIST, delivery_tick_cb, dl);
	db_listen(db, "esup_alert", delivery_notified, dl);
	delivery_configure(dl, cfg);
	return dl;
}

void
delivery_stop(struct delivery *dl)
{
	dl->stopped = true;
	evtimer_del(&dl->tick);
	for (struct receiver *r = dl->receivers; r != NULL; r = r->next)
		evtimer_del(&r->timer);
}

void
delivery_destroy(struct delivery *dl)
{
	struct receiver *r, *next;

	if (dl == NULL)
		return;
	evtimer_del(&dl->tick);
	for (r = dl->receivers; r != NULL; r = next) {
		next = r->next;
		receiver_free(r);
	}
	for (r = dl->retired; r != NULL; r = next) {
		next = r->next;
		receiver_free(r);
	}
	if (dl->dns != NULL)
		evdns_base_free(dl->dns, 0);
	SSL_CTX_free(dl->tls);
	free(dl);
}
