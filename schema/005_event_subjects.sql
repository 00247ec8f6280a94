-- 005_event_subjects.sql: what cross-case rules need.
--
-- Cross-case rules (a party's first offence, an enterprise's repeated or multi-department
-- inspections) read other cases' events about the same party. esup_event_subject() names that
-- party exactly as libmonitor's mon_event_subject() does, and an index on it keeps the lookup
-- proportional to the party's own history.

CREATE FUNCTION esup_event_subject(type text, body jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE type
		WHEN 'penalty.decided' THEN coalesce(body->'party'->>'uscc', body->'party'->>'id')
		WHEN 'inspection.started' THEN coalesce(body->'enterprise'->>'uscc', body->'enterprise'->>'id')
	END
$$;

CREATE INDEX events_subject ON events (esup_event_subject(type, body), at)
	WHERE type IN ('penalty.decided', 'inspection.started');

GRANT EXECUTE ON FUNCTION esup_event_subject(text, jsonb) TO esup_writer, esup_supervisor, esup_auditor;
