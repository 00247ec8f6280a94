-- 018_chain_fast.sql: the event hash chain of migration 012 at a tenth of its cost a row (with
-- two years of monthly partitions; docs/performance.md, "Hash chain").
--
-- The encoding (esup-chain-v1), the columns, the heads and what the writer may do are those of
-- 012; only how the links are computed changes.
--
-- 012 found the running head of a department, for every row, by one descent of events_chain
-- per partition (the rows its statement had chained since the head row was written). Each
-- descent opens an index scan, and an index scan allocates some 27 kB of scan state: with a
-- partition a month the allocations of one row pass glibc's trim threshold and every row paid
-- a brk() round trip with a TLB flush, about 0.3 ms a row with six partitions and more with
-- two years of them. The hash itself cost a dozen bytea concatenations.
--
-- Now the running head of a department travels in a transaction-local setting,
-- esup.chain_<md5 of the department> = '<chain_seq>:<hash in hex>' (set_config(..., true)
-- costs a few microseconds; a setting name must be an identifier, a department code need not
-- be one). The first row of a department in a transaction finds no setting, locks the head
-- row (FOR UPDATE, held until COMMIT: a department's transactions chain one after the other,
-- departments never wait on each other) and starts from it; every later row of that
-- department in the transaction continues from the setting. The setting survives the end of a
-- statement, when the head row has caught up with it; a rolled back subtransaction takes its
-- rows, its setting and its row lock back together.
--
-- Any role may set a setting, so the row trigger's use of it is checked where a forged value
-- would show: after each statement (esup_event_chain_heads) the department's head row is
-- locked, and its rows of the statement must carry chain_seq head+1, head+2, ... each with
-- prev_hash the hash of the one before (the first: the head's); otherwise the statement fails.
-- Every hash is computed by the trigger from the row itself, so the links stored are those
-- 012 would have stored, whatever the setting said.
-- A row the trigger chained but the statement then did not store (an INSERT ... ON CONFLICT DO
-- NOTHING into events that meets a conflict) leaves the setting ahead of the stored rows: that
-- statement, or the transaction's next one for the department, fails at the check instead of
-- leaving a gap. esupd never does that (event_ids keeps duplicates out before events).

-- The hash of one link (the encoding is in 012's header). The canonical text is built as one
-- text and converted once; the netstring lengths are the UTF-8 byte lengths of the fields.
CREATE OR REPLACE FUNCTION esup_event_chain_hash(prev bytea, seq bigint, dept text,
	event_id text, received_at timestamptz, type text, at timestamptz, case_no text,
	item text, principal text, body jsonb) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
	s text := seq::text;
	r text := (extract(epoch FROM received_at) * 1000000)::bigint::text;
	a text := (extract(epoch FROM at) * 1000000)::bigint::text;
	b text := body::text;
BEGIN
	RETURN sha256(prev || convert_to(concat('esup-chain-v1',
		CASE WHEN s IS NULL THEN '~,' ELSE octet_length(convert_to(s, 'UTF8')) || ':' || s || ',' END,
		CASE WHEN dept IS NULL THEN '~,' ELSE octet_length(convert_to(dept, 'UTF8')) || ':' || dept || ',' END,
		CASE WHEN event_id IS NULL THEN '~,' ELSE octet_length(convert_to(event_id, 'UTF8')) || ':' || event_id || ',' END,
		CASE WHEN r IS NULL THEN '~,' ELSE octet_length(r) || ':' || r || ',' END,
		CASE WHEN type IS NULL THEN '~,' ELSE octet_length(convert_to(type, 'UTF8')) || ':' || type || ',' END,
		CASE WHEN a IS NULL THEN '~,' ELSE octet_length(a) || ':' || a || ',' END,
		CASE WHEN case_no IS NULL THEN '~,' ELSE octet_length(convert_to(case_no, 'UTF8')) || ':' || case_no || ',' END,
		CASE WHEN item IS NULL THEN '~,' ELSE octet_length(convert_to(item, 'UTF8')) || ':' || item || ',' END,
		CASE WHEN principal IS NULL THEN '~,' ELSE octet_length(convert_to(principal, 'UTF8')) || ':' || principal || ',' END,
		CASE WHEN b IS NULL THEN '~,' ELSE octet_length(convert_to(b, 'UTF8')) || ':' || b || ',' END),
		'UTF8'));
END
$$;

-- Appends one row to its department's chain (see the header): runs as the owner, in the
-- inserting transaction. No SET search_path (it costs a third of the trigger's time): every
-- relation and function is named with its schema.
CREATE OR REPLACE FUNCTION esup_event_chain_link() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
	name text := 'esup.chain_' || pg_catalog.md5(NEW.dept);
	run text := pg_catalog.current_setting(name, true);
	head_seq bigint;
	head_hash bytea;
BEGIN
	IF run IS NULL OR run = '' THEN
		SELECT h.seq, h.hash INTO head_seq, head_hash
		  FROM public.event_chain_heads h WHERE h.dept = NEW.dept FOR UPDATE;
		IF NOT FOUND THEN
			INSERT INTO public.event_chain_heads (dept, seq, hash)
			VALUES (NEW.dept, 0, pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex'))
			ON CONFLICT DO NOTHING;
			SELECT h.seq, h.hash INTO head_seq, head_hash
			  FROM public.event_chain_heads h WHERE h.dept = NEW.dept FOR UPDATE;
		END IF;
	ELSE
		head_seq := pg_catalog.split_part(run, ':', 1)::bigint;
		head_hash := pg_catalog.decode(pg_catalog.split_part(run, ':', 2), 'hex');
	END IF;
	NEW.chain_seq := head_seq + 1;
	NEW.prev_hash := head_hash;
	NEW.hash := public.esup_event_chain_hash(head_hash, NEW.seq, NEW.dept, NEW.event_id,
		NEW.received_at, NEW.type, NEW.at, NEW.case_no, NEW.item, NEW.principal, NEW.body);
	run := pg_catalog.set_config(name,
		NEW.chain_seq || ':' || pg_catalog.encode(NEW.hash, 'hex'), true);
	RETURN NEW;
END
$$;

-- After each INSERT statement: lock the heads of the departments it chained (in department
-- order; held already unless a setting was forged), check that the statement's rows continue
-- each head link by link, and move the heads to their last rows.
CREATE OR REPLACE FUNCTION esup_event_chain_heads() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
	bad record;
BEGIN
	PERFORM 1 FROM event_chain_heads h
	 WHERE h.dept IN (SELECT DISTINCT r.dept FROM new_rows r) ORDER BY h.dept FOR UPDATE;
	SELECT l.dept, l.chain_seq INTO bad
	  FROM (SELECT r.dept, r.chain_seq, r.prev_hash,
			row_number() OVER w AS n, lag(r.hash) OVER w AS before
		  FROM new_rows r WINDOW w AS (PARTITION BY r.dept ORDER BY r.chain_seq)) l
	  LEFT JOIN event_chain_heads h ON h.dept = l.dept
	 WHERE h.dept IS NULL OR l.chain_seq <> h.seq + l.n
	    OR l.prev_hash IS DISTINCT FROM coalesce(l.before, h.hash)
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'event chain of % does not continue its head at chain_seq %',
			bad.dept, bad.chain_seq
			USING ERRCODE = 'integrity_constraint_violation',
			      HINT = 'an esup.chain_* setting was changed by hand';
	END IF;
	UPDATE event_chain_heads h SET seq = n.chain_seq, hash = n.hash
	  FROM (SELECT DISTINCT ON (r.dept) r.dept, r.chain_seq, r.hash FROM new_rows r
		ORDER BY r.dept, r.chain_seq DESC) n
	 WHERE h.dept = n.dept;
	RETURN NULL;
END
$$;
