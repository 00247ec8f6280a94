-- 001_base.sql: roles, reference tables for principals and departments, and the
-- append-only event store with its idempotency key.
--
-- Applied by `esupd --migrate` as the owner role (LOGIN CREATEROLE, owns the database),
-- inside one transaction together with its schema_migrations row. The daemon logs in as a
-- member of esup_writer and owns nothing, so it cannot drop or alter what it writes to.

-- Group roles are cluster-wide: another esup database on the same cluster may have
-- created them already.
DO $$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['esup_writer', 'esup_supervisor', 'esup_auditor'] LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
			EXECUTE format('CREATE ROLE %I NOLOGIN', r);
		END IF;
	END LOOP;
END
$$;

GRANT SELECT ON schema_migrations TO esup_writer, esup_supervisor, esup_auditor;

-- Region hierarchy comes in a later migration; region is a plain code for now.
CREATE TABLE departments (
	code text PRIMARY KEY,
	name text NOT NULL,
	region text NOT NULL DEFAULT ''
);

-- Who may connect: a client certificate's SHA-256 fingerprint and what it may do.
CREATE TABLE principals (
	fingerprint text PRIMARY KEY CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
	subject text NOT NULL DEFAULT '',
	role text NOT NULL CHECK (role IN ('department', 'supervisor', 'auditor', 'monitor')),
	dept text,
	region text,
	enabled boolean NOT NULL DEFAULT true,
	created_at timestamptz NOT NULL DEFAULT now(),
	CHECK (role <> 'department' OR dept IS NOT NULL)
);

-- Every running esupd LISTENs on esup_principals and reloads its identity map, so a
-- revoked certificate stops working without a restart.
CREATE FUNCTION esup_notify_principals() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM pg_notify('esup_principals', '');
	RETURN NULL;
END
$$;

CREATE TRIGGER principals_notify
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON principals
	FOR EACH STATEMENT EXECUTE FUNCTION esup_notify_principals();

-- Partitioned by receipt time, which the server controls, so partitions can be created
-- ahead of need; the business time `at` is the sender's and may be years off.
CREATE TABLE events (
	seq bigint GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME events_seq),
	received_at timestamptz NOT NULL,
	dept text NOT NULL,
	event_id text NOT NULL,
	type text NOT NULL,
	at timestamptz NOT NULL,
	case_no text,
	item text,
	principal text NOT NULL,
	body jsonb NOT NULL,
	PRIMARY KEY (seq, received_at)
) PARTITION BY RANGE (received_at);

CREATE INDEX events_dept_case ON events (dept, case_no);
CREATE INDEX events_dept_at ON events (dept, at);

-- Catches rows no monthly partition covers (a clock far off), so an insert never fails
-- for want of a partition.
CREATE TABLE events_default PARTITION OF events DEFAULT;

-- The idempotency key: a partitioned table cannot carry a unique index that leaves out
-- the partition key, so (dept, event_id) lives here.
CREATE TABLE event_ids (
	dept text NOT NULL,
	event_id text NOT NULL,
	seq bigint NOT NULL,
	received_at timestamptz NOT NULL,
	PRIMARY KEY (dept, event_id)
);

CREATE FUNCTION esup_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	RAISE EXCEPTION 'events are append-only'
		USING ERRCODE = 'insufficient_privilege',
		      DETAIL = format('%s on %s refused', TG_OP, TG_TABLE_NAME);
END
$$;

-- Row triggers on a partitioned table are cloned onto every partition (PostgreSQL 13+),
-- TRUNCATE triggers are not: esup_ensure_partitions adds one to each partition it makes.
CREATE TRIGGER events_append_only
	BEFORE UPDATE OR DELETE ON events
	FOR EACH ROW EXECUTE FUNCTION esup_append_only();
CREATE TRIGGER events_no_truncate
	BEFORE TRUNCATE ON events
	FOR EACH STATEMENT EXECUTE FUNCTION esup_append_only();
CREATE TRIGGER events_default_no_truncate
	BEFORE TRUNCATE ON events_default
	FOR EACH STATEMENT EXECUTE FUNCTION esup_append_only();
CREATE TRIGGER event_ids_append_only
	BEFORE UPDATE OR DELETE ON event_ids
	FOR EACH ROW EXECUTE FUNCTION esup_append_only();
CREATE TRIGGER event_ids_no_truncate
	BEFORE TRUNCATE ON event_ids
	FOR EACH STATEMENT EXECUTE FUNCTION esup_append_only();

-- Creates the monthly partitions events_YYYY_MM (UTC months) from last month up to
-- months_ahead months from now, and returns how many it created. Runs as the owner so
-- the daemon can call it without owning anything. A month whose rows already sit in the
-- default partition is skipped with a warning: attaching it would fail, and moving rows
-- would break append-only.
CREATE FUNCTION esup_ensure_partitions(months_ahead int DEFAULT 3) RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
	this_month timestamp := date_trunc('month', now() AT TIME ZONE 'UTC');
	lo timestamp;
	hi timestamp;
	part text;
	created int := 0;
BEGIN
	IF months_ahead IS NULL OR months_ahead < 0 OR months_ahead > 120 THEN
		RAISE EXCEPTION 'months_ahead must be between 0 and 120, got %', months_ahead;
	END IF;
	-- Serialises concurrent callers (several esupd processes) without a table lock.
	PERFORM pg_advisory_xact_lock(7310264190117520001);
	FOR m IN -1 .. months_ahead LOOP
		lo := this_month + make_interval(months => m);
		hi := lo + interval '1 month';
		part := 'events_' || to_char(lo, 'YYYY_MM');
		CONTINUE WHEN to_regclass(format('public.%I', part)) IS NOT NULL;
		IF EXISTS (SELECT 1 FROM events_default
				WHERE received_at >= lo AT TIME ZONE 'UTC'
				  AND received_at < hi AT TIME ZONE 'UTC') THEN
			RAISE WARNING 'partition % not created: events_default holds rows of that month', part;
			CONTINUE;
		END IF;
		EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
			part, to_char(lo, 'YYYY-MM-DD') || ' 00:00:00+00',
			to_char(hi, 'YYYY-MM-DD') || ' 00:00:00+00');
		EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %I '
			'FOR EACH STATEMENT EXECUTE FUNCTION esup_append_only()',
			part || '_no_truncate', part);
		created := created + 1;
	END LOOP;
	RETURN created;
END
$$;

REVOKE ALL ON FUNCTION esup_ensure_partitions(int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION esup_ensure_partitions(int) TO esup_writer;
REVOKE ALL ON FUNCTION esup_append_only() FROM PUBLIC;
REVOKE ALL ON FUNCTION esup_notify_principals() FROM PUBLIC;

SELECT esup_ensure_partitions();

-- The writer inserts events and reads them back; it never changes or removes any. It
-- takes sequence values itself so one statement can key event_ids and events alike.
GRANT SELECT, INSERT ON events, event_ids TO esup_writer;
GRANT USAGE ON SEQUENCE events_seq TO esup_writer;
GRANT SELECT ON events, event_ids TO esup_supervisor, esup_auditor;
GRANT SELECT ON principals, departments TO esup_writer, esup_supervisor, esup_auditor;
