-- 010_delivery.sql: webhook delivery through the transactional outbox (daemon/delivery.c).
--
-- The outbox is alert_actions itself: every change to an alert writes its row in the same
-- transaction as the change. esupd reads it in position order (xid, id), only below
-- pg_snapshot_xmin(pg_current_snapshot()), so that no transaction still running can add a row
-- before the one it read last (008_alert_lifecycle.sql gives the position and its index). Each
-- configured receiver keeps a durable cursor here (the position it delivered last,
-- "<xid>-<id>"), and every attempt is logged: at-least-once, in order, per receiver.
--
-- A receiver seen for the first time starts at the end of the log as it is then (the row is
-- written with that position): it gets what happens from then on, not the history.
--
-- These tables are the node's own state (which of its receivers got what): in a federation
-- each node delivers to its own receivers. `origin` names the node, as in every new table.

CREATE TABLE delivery_cursors (
	receiver text PRIMARY KEY CHECK (receiver ~ '^[A-Za-z0-9_-]{1,63}$'),
	origin text NOT NULL DEFAULT '',
	position text NOT NULL CHECK (position ~ '^[0-9]{1,20}-[0-9]{1,19}$'),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE deliveries (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	origin text NOT NULL DEFAULT '',
	receiver text NOT NULL,
	action_id bigint NOT NULL,
	alert_id bigint NOT NULL,
	position text NOT NULL,
	attempt int NOT NULL CHECK (attempt >= 1),
	at timestamptz NOT NULL DEFAULT now(),
	-- delivered: a 2xx answer; rejected: another HTTP status; timeout: no answer in timeout_s;
	-- error: no HTTP answer at all (connection refused or reset, TLS, DNS)
	outcome text NOT NULL CHECK (outcome IN ('delivered', 'rejected', 'timeout', 'error')),
	http_status int,
	error text,
	ms int NOT NULL CHECK (ms >= 0)
);
-- The attempt number of the next try, and "what happened to action N" from the docs.
CREATE INDEX deliveries_action ON deliveries (receiver, action_id, attempt);
CREATE INDEX deliveries_at ON deliveries (at);

-- Logs one attempt to deliver a batch (the actions, their alerts and positions as parallel
-- arrays, in log order) and, when it was delivered, moves the receiver's cursor from `from_pos`
-- to `to_pos` in the same statement. Returns whether the cursor moved: false after a
-- delivery means another esupd moved it first (the batch went out twice: at-least-once).
CREATE FUNCTION esup_delivery_record(receiver text, action_ids bigint[], alert_ids bigint[],
	positions text[], outcome text, http_status int, error text, ms int, from_pos text,
	to_pos text)
RETURNS boolean LANGUAGE sql SET search_path = public, pg_temp AS $$
	WITH logged AS (
		INSERT INTO deliveries (receiver, action_id, alert_id, position, attempt, outcome,
			http_status, error, ms)
		SELECT $1, b.action_id, b.alert_id, b.position,
		       coalesce((SELECT max(d.attempt) FROM deliveries d
		                  WHERE d.receiver = $1 AND d.action_id = b.action_id), 0) + 1,
		       $5, $6, $7, $8
		  FROM unnest($2, $3, $4) AS b (action_id, alert_id, position)
		RETURNING 1
	), moved AS (
		UPDATE delivery_cursors SET position = $10, updated_at = now()
		 WHERE receiver = $1 AND position = $9 AND $5 = 'delivered'
		RETURNING 1
	)
	SELECT EXISTS (SELECT 1 FROM moved)
$$;

-- People read the attempts for the alerts they may read: the alerts' own row security
-- (011_region_security.sql) decides. The daemon reads and writes them all.
ALTER TABLE deliveries ENABLE ROW LEVEL SECURITY;
CREATE POLICY daemon ON deliveries TO esup_writer USING (true) WITH CHECK (true);
CREATE POLICY person ON deliveries FOR SELECT TO esup_supervisor, esup_auditor
	USING (EXISTS (SELECT 1 FROM alerts a WHERE a.id = deliveries.alert_id));

GRANT SELECT, INSERT, UPDATE ON delivery_cursors TO esup_writer;
GRANT SELECT, INSERT ON deliveries TO esup_writer;
GRANT SELECT ON delivery_cursors, deliveries TO esup_supervisor, esup_auditor;
REVOKE ALL ON FUNCTION esup_delivery_record(text, bigint[], bigint[], text[], text, int, text,
	int, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION esup_delivery_record(text, bigint[], bigint[], text[], text, int,
	text, int, text, text) TO esup_writer;
