-- 007_history_costs.sql: what keeps alert writes from slowing down as closed alerts pile up.
--
-- esup_apply_evaluation() asks, for every condition of every evaluation, whether the same
-- condition was raised before and closed ("a closed alert stays closed": dedup_key and since
-- equal, status resolved, dismissed, revoked or superseded). alerts_live_key covers only the
-- live alerts, so that question read every closed alert: ingest fell sevenfold with 20,000 of
-- them. This index answers it from the alerts of that one condition, whatever the history.
-- It is not partial, so it holds whichever statuses a later migration counts as closed.
CREATE INDEX alerts_key_since ON alerts (dedup_key, since);


-- The one earlier penalty the first-offence rule needs from other cases: the latest
-- penalty.decided against `subject` in [since, before), outside the case (dept, case_no).
-- The events are partitioned by receipt, so only a merge of each partition's index read
-- backwards stops at the first row; the planner cannot see that a party has many penalties
-- (the subject comes from a join), and would read them all and sort them. Sorting is
-- therefore off inside this function: its cost stays one index probe per partition, however
-- long the party's history.
CREATE FUNCTION esup_latest_penalty(subject text, since timestamptz, before timestamptz,
	dept text, case_no text)
RETURNS TABLE (seq bigint, dept text, case_no text, body jsonb, received_at timestamptz)
LANGUAGE sql STABLE SET enable_sort = off SET search_path = public, pg_temp AS $$
	SELECT e.seq, e.dept, e.case_no, e.body, e.received_at FROM events e
	WHERE esup_event_subject(e.type, e.body) = $1
	  AND e.type IN ('penalty.decided', 'inspection.started') AND e.type = 'penalty.decided'
	  AND e.at >= $2 AND e.at < $3 AND (e.dept, e.case_no) IS DISTINCT FROM ($4, $5)
	ORDER BY e.at DESC LIMIT 1
$$;
REVOKE ALL ON FUNCTION esup_latest_penalty(text, timestamptz, timestamptz, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION esup_latest_penalty(text, timestamptz, timestamptz, text, text)
	TO esup_writer;
