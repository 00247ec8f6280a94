-- 009_escalation.sql: 督办 escalation. An alert left unacknowledged past its ack deadline, or
-- unresolved past its resolve deadline (working time after issued_at, per severity, from the
-- daemon's [escalation] settings and the calendar), is escalated one region up through
-- esup_alert_act_system (migration 008), once per deadline.
--
-- The deadlines are computed by the daemon (libmonitor's working-time arithmetic on the
-- calendar it loads), not here, and stored on the alert, so the periodic job reads only the
-- alerts whose next deadline has come (alerts_escalate_due) and the few that changed since it
-- last planned (alerts_escalate_pending): its cost follows the due alerts, not the live ones.
--
-- Columns:
--   escalate_at        the next deadline instant to act on; NULL when none is ahead
--   escalate_deadline  which one it is: 'ack' or 'resolve'
--   escalated_for      the deadlines already acted on, as bits: 1 ack, 2 resolve; a deadline is
--                      acted on once per alert, whatever restarts or second daemons do
--   escalate_pending   the alert changed (raised, state, issued_at, level): its deadlines must
--                      be computed again; the daemon writes them with esup_escalation_plan
--   escalate_gen       bumped on every such change, so a plan computed from an older version
--                      of the row is refused instead of overwriting a newer one
ALTER TABLE alerts
	ADD COLUMN escalate_at timestamptz,
	ADD COLUMN escalate_deadline text CHECK (escalate_deadline IN ('ack', 'resolve')),
	ADD COLUMN escalated_for smallint NOT NULL DEFAULT 0 CHECK (escalated_for BETWEEN 0 AND 3),
	ADD COLUMN escalate_pending boolean NOT NULL DEFAULT false,
	ADD COLUMN escalate_gen bigint NOT NULL DEFAULT 0;

CREATE INDEX alerts_escalate_due ON alerts (escalate_at) WHERE escalate_at IS NOT NULL;
CREATE INDEX alerts_escalate_pending ON alerts (id) WHERE escalate_pending;

-- Marks an alert for planning whenever what its deadlines depend on changes; an alert that is
-- no longer open or acknowledged has none. The plan's own columns change nothing here. Not
-- ENABLE ALWAYS: a replicated alert is escalated by the node it came from (federation).
CREATE FUNCTION esup_alert_escalation_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
	IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status
	   AND NEW.issued_at IS NOT DISTINCT FROM OLD.issued_at
	   AND NEW.escalation_level IS NOT DISTINCT FROM OLD.escalation_level
	   AND NEW.escalated_for IS NOT DISTINCT FROM OLD.escalated_for
	   AND NEW.severity IS NOT DISTINCT FROM OLD.severity THEN
		RETURN NEW;
	END IF;
	NEW.escalate_at := NULL;
	NEW.escalate_deadline := NULL;
	NEW.escalate_pending := NEW.status IN ('open', 'acknowledged');
	NEW.escalate_gen := CASE WHEN TG_OP = 'UPDATE' THEN OLD.escalate_gen + 1 ELSE 0 END;
	RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION esup_alert_escalation_changed() FROM PUBLIC;
CREATE TRIGGER alerts_escalation_changed BEFORE INSERT OR UPDATE ON alerts
	FOR EACH ROW EXECUTE FUNCTION esup_alert_escalation_changed();

-- The alerts live today are planned by the first daemon that runs this schema.
UPDATE alerts SET escalate_pending = true, escalate_gen = escalate_gen + 1
 WHERE status IN ('open', 'acknowledged');

-- The daemon's plans: for each alert, the next deadline (NULL for none) and which one it is,
-- written only while the row is at the version the plan was computed from (gen). Rows another
-- transaction holds (ingest resolving one) are skipped, never waited for: they stay pending
-- and are planned on the next round. Returns how many plans were written.
CREATE FUNCTION esup_escalation_plan(ids bigint[], gens bigint[], ats timestamptz[],
	deadlines text[]) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
	written bigint;
BEGIN
	WITH plan AS (
		SELECT * FROM unnest(ids, gens, ats, deadlines) AS p (id, gen, at, deadline)
	), mine AS (
		SELECT a.id FROM alerts a JOIN plan p ON p.id = a.id AND p.gen = a.escalate_gen
		 WHERE a.escalate_pending ORDER BY a.id FOR UPDATE OF a SKIP LOCKED
	)
	UPDATE alerts a SET escalate_at = p.at, escalate_deadline = p.deadline,
	       escalate_pending = false
	  FROM plan p, mine m
	 WHERE a.id = m.id AND p.id = m.id AND a.escalate_gen = p.gen;
	GET DIAGNOSTICS written = ROW_COUNT;
	RETURN written;
END
$$;
REVOKE ALL ON FUNCTION esup_escalation_plan(bigint[], bigint[], timestamptz[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION esup_escalation_plan(bigint[], bigint[], timestamptz[], text[])
	TO esup_writer;

-- What the stored deadlines were computed with: a fingerprint of the [escalation] settings and
-- of the calendar's working days, written by the daemon. One row.
CREATE TABLE escalation_settings (
	only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
	fingerprint text NOT NULL,
	changed_at timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON escalation_settings TO esup_writer, esup_supervisor, esup_auditor;

-- Every live alert planned again, when the settings or the calendar the daemon computes with
-- (fingerprint) differ from those the stored deadlines were computed with; nothing when they
-- are the same, so a restart, a reconnect or a second daemon with the same settings costs one
-- row. Returns how many alerts were marked, NULL when nothing changed.
CREATE FUNCTION esup_escalation_replan_all(fingerprint text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
	marked bigint;
BEGIN
	INSERT INTO escalation_settings AS s (only_row, fingerprint) VALUES (true, $1)
	ON CONFLICT (only_row) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, changed_at = now()
	 WHERE s.fingerprint IS DISTINCT FROM EXCLUDED.fingerprint;
	GET DIAGNOSTICS marked = ROW_COUNT;
	IF marked = 0 THEN
		RETURN NULL;
	END IF;
	UPDATE alerts SET escalate_pending = true, escalate_gen = escalate_gen + 1,
	       escalate_at = NULL, escalate_deadline = NULL
	 WHERE status IN ('open', 'acknowledged');
	GET DIAGNOSTICS marked = ROW_COUNT;
	RETURN marked;
END
$$;
REVOKE ALL ON FUNCTION esup_escalation_replan_all(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION esup_escalation_replan_all(text) TO esup_writer;

-- Acts on one due deadline of one alert: escalates it one level through
-- esup_alert_act_system (which writes the action row and moves escalated_to up) and records
-- the deadline as acted on, in one transaction. Compare-and-set: nothing happens unless the
-- alert is still at expected_level with this deadline due at `at` and not yet acted on, so a
-- restart or a second daemon neither loses nor repeats an escalation. An alert already at
-- the top of the region tree (or in a region the table does not know) is not escalated; its
-- deadline is recorded as acted on. Outcomes: those of esup_alert_act_system, and
-- 'stale' (changed since it was read: nothing done), 'busy' (another transaction holds the
-- alert: try again later), 'top' (no region above). Any outcome but stale and busy records the
-- deadline as acted on.
CREATE FUNCTION esup_escalate_due(alert_id bigint, deadline text, note text, at timestamptz,
	expected_level int) RETURNS TABLE (outcome text, status text, action_id bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
	a alerts%ROWTYPE;
	bit smallint := CASE deadline WHEN 'ack' THEN 1 WHEN 'resolve' THEN 2 END;
	up text;
	r record;
BEGIN
	IF bit IS NULL OR at IS NULL THEN
		RETURN QUERY SELECT 'bad_request'::text, NULL::text, NULL::bigint;
		RETURN;
	END IF;
	SELECT * INTO a FROM alerts WHERE id = alert_id FOR UPDATE SKIP LOCKED;
	IF NOT FOUND THEN
		RETURN QUERY SELECT CASE WHEN EXISTS (SELECT 1 FROM alerts WHERE id = alert_id)
			THEN 'busy' ELSE 'not_found' END, NULL::text, NULL::bigint;
		RETURN;
	END IF;
	IF a.escalated_for & bit <> 0 OR a.escalation_level <> expected_level OR a.escalate_pending
	   OR a.escalate_deadline IS DISTINCT FROM deadline OR a.escalate_at IS NULL
	   OR a.escalate_at > at THEN
		RETURN QUERY SELECT 'stale'::text, a.status, NULL::bigint;
		RETURN;
	END IF;
	SELECT g.parent INTO up FROM regions g WHERE g.code = coalesce(a.escalated_to, a.region);
	IF up IS NULL THEN
		UPDATE alerts SET escalated_for = escalated_for | bit WHERE id = alert_id;
		RETURN QUERY SELECT 'top'::text, a.status, NULL::bigint;
		RETURN;
	END IF;
	SELECT * INTO r FROM esup_alert_act_system(alert_id, 'escalate', note, at, expected_level);
	-- Refused by the state machine (illegal, ...): tried again it would be refused again, and
	-- the alert would stay due for ever; the deadline counts as acted on (the daemon logs it).
	UPDATE alerts SET escalated_for = escalated_for | bit WHERE id = alert_id;
	RETURN QUERY SELECT r.outcome::text, r.status::text, r.action_id::bigint;
END
$$;
REVOKE ALL ON FUNCTION esup_escalate_due(bigint, text, text, timestamptz, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION esup_escalate_due(bigint, text, text, timestamptz, int) TO esup_writer;
