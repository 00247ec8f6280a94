-- 036_context_wakes.sql: a case whose cross-case context changed is evaluated again.
--
-- Three rules read other cases' events of the same party or enterprise (docs/rules.md,
-- "Context"): the first minor violation reads the party's earlier penalties, repeated and
-- multi-department inspection the enterprise's other inspections. A case was evaluated when
-- its own events came or its deadline passed, so a penalty reported late (dated before another
-- case's "first" one) or voided afterwards left the other case's card standing, and
-- `esupctl eval` on the same events disagreed. Now storing a penalty.decided or an
-- inspection.started, or a correction of one, leaves a wake for every other case with an event
-- of the same subject within ten years of it (wider than any context window a ruleset can
-- have); the sweeper takes the wakes with its due cases (daemon/sweeper.c) and re-derives
-- them. A wake is a plain row without a key: writers never wait on each other for one, and
-- the sweeper drops those it took in the transaction that evaluated them.
CREATE TABLE case_wakes (
	dept text NOT NULL,
	case_no text NOT NULL
);
CREATE INDEX case_wakes_case ON case_wakes (dept, case_no);
REVOKE ALL ON case_wakes FROM PUBLIC;
GRANT SELECT, DELETE ON case_wakes TO esup_writer;

CREATE FUNCTION esup_wake_context_cases() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM new_rows n
	               WHERE n.type IN ('penalty.decided', 'inspection.started', 'event.corrected')) THEN
		RETURN NULL;
	END IF;
	INSERT INTO case_wakes (dept, case_no)
	SELECT DISTINCT e.dept, e.case_no
	  FROM (SELECT n.dept, n.case_no, n.at, esup_event_subject(n.type, n.body) AS subject
	          FROM new_rows n WHERE n.type IN ('penalty.decided', 'inspection.started')
	        UNION ALL   -- what a correction voids or replaces
	        SELECT n.dept, n.case_no, t.at, esup_event_subject(t.type, t.body)
	          FROM new_rows n JOIN events t ON t.dept = n.dept AND t.case_no = n.case_no
	           AND t.event_id = n.body->>'of'
	         WHERE n.type = 'event.corrected'
	        UNION ALL   -- and what it puts in its place
	        SELECT n.dept, n.case_no, (n.body->'replacement'->>'at')::timestamptz,
	               esup_event_subject(n.body->'replacement'->>'type', n.body->'replacement')
	          FROM new_rows n WHERE n.type = 'event.corrected' AND n.body ? 'replacement') s
	  JOIN events e ON esup_event_subject(e.type, e.body) = s.subject
	   AND e.type IN ('penalty.decided', 'inspection.started')
	   AND e.at >= s.at - interval '3660 days' AND e.at <= s.at + interval '3660 days'
	  JOIN cases c ON c.dept = e.dept AND c.case_no = e.case_no
	 WHERE s.subject IS NOT NULL AND (e.dept, e.case_no) IS DISTINCT FROM (s.dept, s.case_no);
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION esup_wake_context_cases() FROM PUBLIC;

CREATE TRIGGER events_wake_context
	AFTER INSERT ON events REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION esup_wake_context_cases();
