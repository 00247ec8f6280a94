-- 026_case_lookup_index.sql: a case's events are found by (dept, case_no) on every partition,
-- even one that was empty when the plan was made (issue 12).
--
-- esup_apply_evaluation asks whether the case has stored events, and esup_check_condition
-- whether the evidence is the case's own: `events e WHERE e.dept = d AND e.case_no = c`. Both
-- run as PL/pgSQL statements whose generic plan is kept for the session. On a partition without
-- rows and statistics (a month just begun, or a new database), an index scan on
-- events_dept_case (dept, case_no) and one on events_dept_chain_seq (dept, chain_seq, migration
-- 012) filtering case_no cost the planner exactly the same, and it keeps the one on the index
-- created last: the chain's. That plan stayed while the partition filled, so every call read
-- all of the department's events of the month (a 100-event batch's evaluation went from 5.6 to
-- 35 ms as 12,000 events arrived; autovacuum's first ANALYZE of the partition, when it comes,
-- mends it). Built again here, the case index is the newest on events and on every partition
-- (esup_ensure_partitions makes a partition's indexes in the parent's order), so a tie now
-- goes to it.
--
-- Building the index takes a SHARE lock on events: ingest waits for as long as the build takes,
-- which grows with the events stored. Migrate at a quiet hour.
CREATE INDEX events_dept_case_026 ON events (dept, case_no);
DROP INDEX events_dept_case;
ALTER INDEX events_dept_case_026 RENAME TO events_dept_case;
