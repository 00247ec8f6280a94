-- 026_rules_applied.sql: which rules the open cases were last re-derived under. Every load of
-- the reference data (start, a reconnect of the reader, SIGHUP, NOTIFY esup_refdata) used to
-- mark every open case due, so a start or a database reconnect re-evaluated all of them (about
-- 50 minutes for 200,000 open cases; issue 12). esupd now digests what the rules are made of
-- (the build of esupd and libmonitor, every reference table as esup_refdata_csv exports it,
-- the [rules] parameters and switched-off rules, the test clock's offset) and re-derives only
-- when that digest differs from the one recorded here (daemon/sweeper.c). One row; the
-- re-deriving statement writes it in the same transaction as the cases it marks, so of two
-- daemons loading the same rules only the first re-derives.
CREATE TABLE rules_applied (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	digest text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
	applied_at timestamptz NOT NULL
);
REVOKE ALL ON rules_applied FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON rules_applied TO esup_writer;
GRANT SELECT ON rules_applied TO esup_supervisor, esup_auditor;
