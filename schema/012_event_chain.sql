-- 012_event_chain.sql: tamper evidence. Each department's events form a hash chain.
--
-- Every events row carries chain_seq (1, 2, 3 … per department, in the order the rows were
-- chained), prev_hash (the hash of the department's previous row; 32 zero bytes for the first)
-- and hash = sha256(prev_hash || canonical content), the canonical content being (version 1):
--
--   "esup-chain-v1" then, for each field in this order, its UTF-8 bytes as a netstring
--   "<byte length>:<bytes>," or "~," for NULL:
--   seq, dept, event_id, received_at, type, at, case_no, item, principal, body
--   where seq is the row id in decimal, received_at and at are microseconds since
--   1970-01-01 00:00:00 UTC in decimal, and body is the jsonb as stored, in PostgreSQL's text
--   form (body::text: keys sorted by length then bytes, one space after ':' and ',').
--
-- chain_seq is not hashed: the order is carried by the links, chain_seq only numbers them so
-- a reader can tell a gap or a duplicate. `esupctl verify` recomputes every hash in C and
-- names the first broken link. event_chain_heads holds each department's last link; the row
-- is locked (FOR UPDATE) by the inserting transaction until it commits, so two transactions
-- of one department chain one after the other while departments never wait on each other.
-- A resent duplicate never reaches `events` (event_ids keeps it out), so it never extends the
-- chain. The trigger overrides whatever chain values an INSERT names, and the writer has no
-- grant on the heads, so the daemon's role cannot forge a link; the owner (or a superuser)
-- can rebuild the whole chain, which the daily heads (event_chain_daily, written once per
-- Shanghai day by esupd and logged) make detectable.

CREATE TABLE event_chain_heads (
	dept text PRIMARY KEY,
	seq bigint NOT NULL,
	hash bytea NOT NULL CHECK (octet_length(hash) = 32)
);

CREATE TABLE event_chain_daily (
	day date NOT NULL,
	dept text NOT NULL,
	seq bigint NOT NULL,
	hash bytea NOT NULL CHECK (octet_length(hash) = 32),
	published_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (day, dept)
);

CREATE TRIGGER event_chain_daily_append_only
	BEFORE UPDATE OR DELETE ON event_chain_daily
	FOR EACH ROW EXECUTE FUNCTION esup_append_only();
CREATE TRIGGER event_chain_daily_no_truncate
	BEFORE TRUNCATE ON event_chain_daily
	FOR EACH STATEMENT EXECUTE FUNCTION esup_append_only();

-- The hash of one link (see the header for the encoding). PL/pgSQL on purpose: its simple
-- expressions run from cached plans, where SQL helper functions that use a parameter more
-- than once are not inlined and cost a planned call each (about 0.2 ms a row in all).
CREATE FUNCTION esup_event_chain_hash(prev bytea, seq bigint, dept text, event_id text,
	received_at timestamptz, type text, at timestamptz, case_no text, item text,
	principal text, body jsonb) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	buf bytea := prev || convert_to('esup-chain-v1', 'UTF8');
	f text;
	b bytea;
BEGIN
	FOREACH f IN ARRAY ARRAY[seq::text, dept, event_id,
			(extract(epoch FROM received_at) * 1000000)::bigint::text, type,
			(extract(epoch FROM at) * 1000000)::bigint::text, case_no, item, principal,
			body::text] LOOP
		IF f IS NULL THEN
			buf := buf || '\x7e2c'::bytea;
		ELSE
			b := convert_to(f, 'UTF8');
			buf := buf || convert_to(octet_length(b)::text || ':', 'UTF8') || b || '\x2c'::bytea;
		END IF;
	END LOOP;
	RETURN sha256(buf);
END
$$;

-- Appends one row to its department's chain: runs as the owner, in the inserting
-- transaction. The department's head row is locked (FOR UPDATE) until COMMIT, so the
-- department's transactions chain one after the other while departments never wait on each
-- other. The head row is written once per statement (events_chain_head, below): updating one
-- row for every event of a batch would cost quadratic time (each UPDATE of a row in one
-- transaction lengthens the chain of versions every later access walks), and a
-- transaction-local setting to carry the running head costs a millisecond per set_config.
-- So the rows this transaction chained since the head was written are found in events
-- itself (a row-level BEFORE trigger sees the rows its statement inserted before): one
-- descent of events_chain per partition. No SET search_path (it costs a third of the
-- trigger's time, 40 us a row): every relation and function is named with its schema, so a
-- temporary table of the caller's cannot stand in for one (pg_catalog is searched first).
CREATE FUNCTION esup_event_chain_link() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
	head_seq bigint;
	head_hash bytea;
	last_seq bigint;
	last_hash bytea;
BEGIN
	SELECT h.seq, h.hash INTO head_seq, head_hash
	  FROM public.event_chain_heads h WHERE h.dept = NEW.dept FOR UPDATE;
	IF NOT FOUND THEN
		INSERT INTO public.event_chain_heads (dept, seq, hash)
		VALUES (NEW.dept, 0, decode(repeat('00', 32), 'hex')) ON CONFLICT DO NOTHING;
		SELECT h.seq, h.hash INTO head_seq, head_hash
		  FROM public.event_chain_heads h WHERE h.dept = NEW.dept FOR UPDATE;
	END IF;
	SELECT e.chain_seq, e.hash INTO last_seq, last_hash FROM public.events e
	 WHERE e.dept = NEW.dept AND e.chain_seq > head_seq ORDER BY e.chain_seq DESC LIMIT 1;
	IF FOUND THEN
		head_seq := last_seq;
		head_hash := last_hash;
	END IF;
	NEW.chain_seq := head_seq + 1;
	NEW.prev_hash := head_hash;
	NEW.hash := public.esup_event_chain_hash(head_hash, NEW.seq, NEW.dept, NEW.event_id,
		NEW.received_at, NEW.type, NEW.at, NEW.case_no, NEW.item, NEW.principal, NEW.body);
	RETURN NEW;
END
$$;

-- After each INSERT statement: the heads of the departments it chained (their rows are
-- locked by this transaction already).
CREATE FUNCTION esup_event_chain_heads() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
	UPDATE event_chain_heads h SET seq = n.chain_seq, hash = n.hash
	  FROM (SELECT DISTINCT ON (r.dept) r.dept, r.chain_seq, r.hash FROM new_rows r
		ORDER BY r.dept, r.chain_seq DESC) n
	 WHERE h.dept = n.dept AND h.seq < n.chain_seq;
	RETURN NULL;
END
$$;

-- ------------------------------------------------------------ existing rows

ALTER TABLE events ADD COLUMN chain_seq bigint, ADD COLUMN prev_hash bytea, ADD COLUMN hash bytea;

-- Chained in (dept, received_at, seq) order. Rows are append-only: the trigger is off for
-- this transaction only (DISABLE TRIGGER on a partitioned table reaches every partition).
ALTER TABLE events DISABLE TRIGGER events_append_only;
DO $$
DECLARE
	r record;
	cur_dept text := NULL;
	n bigint;
	prev bytea;
	h bytea;
BEGIN
	FOR r IN SELECT e.* FROM events e ORDER BY e.dept, e.received_at, e.seq LOOP
		IF cur_dept IS DISTINCT FROM r.dept THEN
			IF cur_dept IS NOT NULL THEN
				INSERT INTO event_chain_heads VALUES (cur_dept, n, prev);
			END IF;
			cur_dept := r.dept;
			n := 0;
			prev := decode(repeat('00', 32), 'hex');
		END IF;
		n := n + 1;
		h := esup_event_chain_hash(prev, r.seq, r.dept, r.event_id, r.received_at, r.type,
			r.at, r.case_no, r.item, r.principal, r.body);
		UPDATE events SET chain_seq = n, prev_hash = prev, hash = h
		 WHERE seq = r.seq AND received_at = r.received_at;
		prev := h;
	END LOOP;
	IF cur_dept IS NOT NULL THEN
		INSERT INTO event_chain_heads VALUES (cur_dept, n, prev);
	END IF;
END
$$;
ALTER TABLE events ENABLE TRIGGER events_append_only;

ALTER TABLE events ALTER COLUMN chain_seq SET NOT NULL,
	ALTER COLUMN prev_hash SET NOT NULL, ALTER COLUMN hash SET NOT NULL;
CREATE INDEX events_chain ON events (dept, chain_seq);

CREATE TRIGGER events_chain
	BEFORE INSERT ON events
	FOR EACH ROW EXECUTE FUNCTION esup_event_chain_link();
CREATE TRIGGER events_chain_head
	AFTER INSERT ON events REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION esup_event_chain_heads();

-- ------------------------------------------------------------ the daily head

-- Publishes, once per Shanghai day, every department's head as it stands now (the first call
-- on that day wins; later calls that day add only departments that had no head yet). Returns
-- what it wrote, for esupd to log.
CREATE FUNCTION esup_chain_publish(at timestamptz)
RETURNS TABLE (day date, dept text, seq bigint, hash text)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
	INSERT INTO event_chain_daily AS d (day, dept, seq, hash)
	SELECT (at AT TIME ZONE 'Asia/Shanghai')::date, h.dept, h.seq, h.hash
	  FROM event_chain_heads h
	 WHERE h.seq > 0 AND NOT EXISTS (SELECT 1 FROM event_chain_daily p
		WHERE p.day = (at AT TIME ZONE 'Asia/Shanghai')::date AND p.dept = h.dept)
	ON CONFLICT DO NOTHING
	RETURNING d.day, d.dept, d.seq, encode(d.hash, 'hex')
$$;

REVOKE ALL ON FUNCTION esup_event_chain_link() FROM PUBLIC;
REVOKE ALL ON FUNCTION esup_event_chain_heads() FROM PUBLIC;
REVOKE ALL ON FUNCTION esup_chain_publish(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION esup_chain_publish(timestamptz) TO esup_writer;

-- Reading: the daemon and people (scoped like events).
GRANT SELECT ON event_chain_heads, event_chain_daily TO esup_writer, esup_supervisor, esup_auditor;
ALTER TABLE event_chain_heads ENABLE ROW LEVEL SECURITY;
ALTER TABLE event_chain_daily ENABLE ROW LEVEL SECURITY;
CREATE POLICY daemon ON event_chain_heads FOR SELECT TO esup_writer USING (true);
CREATE POLICY daemon ON event_chain_daily FOR SELECT TO esup_writer USING (true);
CREATE POLICY person ON event_chain_heads FOR SELECT TO esup_supervisor, esup_auditor
	USING (dept = ANY ((SELECT esup_person_depts())::text[]));
CREATE POLICY person ON event_chain_daily FOR SELECT TO esup_supervisor, esup_auditor
	USING (dept = ANY ((SELECT esup_person_depts())::text[]));
