-- 028_escalation_replan.sql: planning every live alert again never waits for a row another
-- transaction holds.
--
-- When the [escalation] settings or the calendar's working days change, the first daemon to
-- see it marks every open or acknowledged alert for planning (009's esup_escalation_replan_all).
-- That one UPDATE took the alerts' row locks one by one while ingest's transactions held some
-- (resolving, superseding, suppressing alerts of their cases) and waited for others: each could
-- hold what the other wanted, and PostgreSQL aborted one as a deadlock (seen in
-- test_two_daemons: a daemon's first replan came with 546 live alerts while two daemons
-- ingested). A failed replan was not tried again until the next change or restart, so the live
-- alerts kept deadlines computed with the old settings.
--
-- Now the marking skips the rows another transaction holds, as esup_escalation_plan already
-- does, and keeps their ids (escalation_settings.replan_left); each later call marks those it
-- can, until none is left. An alert held by a transaction that changes what its deadlines
-- depend on is marked by that transaction's own trigger (009) anyway.
ALTER TABLE escalation_settings ADD COLUMN replan_left bigint[];

-- The settings and calendar the daemon computes with (fingerprint): when they differ from
-- those recorded, every live alert not held by another transaction is marked for planning
-- and the others are kept to be marked by the next calls; when they are the same, the alerts
-- kept by an earlier call are marked (those still live and not held). One row: whether the
-- fingerprint changed, how many alerts were marked, how many are left for a later call; no
-- row when there was nothing to do (the same fingerprint, nothing left).
CREATE FUNCTION esup_escalation_replan(fingerprint text)
RETURNS TABLE (changed boolean, marked bigint, remaining bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
	n bigint;
	todo bigint[];
	done bigint[];
BEGIN
	INSERT INTO escalation_settings AS s (only_row, fingerprint) VALUES (true, $1)
	ON CONFLICT (only_row) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, changed_at = now(),
		replan_left = NULL
	 WHERE s.fingerprint IS DISTINCT FROM EXCLUDED.fingerprint;
	GET DIAGNOSTICS n = ROW_COUNT;
	changed := n > 0;
	IF changed THEN
		WITH m AS (
			UPDATE alerts a SET escalate_pending = true, escalate_gen = a.escalate_gen + 1,
			       escalate_at = NULL, escalate_deadline = NULL
			 WHERE a.id IN (SELECT x.id FROM alerts x WHERE x.status IN ('open', 'acknowledged')
					ORDER BY x.id FOR UPDATE SKIP LOCKED)
			RETURNING a.id)
		SELECT coalesce(array_agg(m.id), '{}') INTO done FROM m;
		todo := ARRAY(SELECT x.id FROM alerts x WHERE x.status IN ('open', 'acknowledged')
			      EXCEPT SELECT unnest(done));
	ELSE
		-- The row is locked by the ON CONFLICT, changed or not: one call at a time.
		SELECT s.replan_left INTO todo FROM escalation_settings s;
		IF todo IS NULL THEN
			RETURN;
		END IF;
		WITH m AS (
			UPDATE alerts a SET escalate_pending = true, escalate_gen = a.escalate_gen + 1,
			       escalate_at = NULL, escalate_deadline = NULL
			 WHERE a.id IN (SELECT x.id FROM alerts x WHERE x.id = ANY (todo)
					AND x.status IN ('open', 'acknowledged')
					ORDER BY x.id FOR UPDATE SKIP LOCKED)
			RETURNING a.id)
		SELECT coalesce(array_agg(m.id), '{}') INTO done FROM m;
		todo := ARRAY(SELECT x.id FROM alerts x WHERE x.id = ANY (todo)
			      AND x.status IN ('open', 'acknowledged')
			      EXCEPT SELECT unnest(done));
	END IF;
	UPDATE escalation_settings SET replan_left = CASE WHEN cardinality(todo) > 0 THEN todo END;
	marked := cardinality(done);
	remaining := cardinality(todo);
	RETURN NEXT;
END
$$;
REVOKE ALL ON FUNCTION esup_escalation_replan(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION esup_escalation_replan(text) TO esup_writer;

-- 009's function, for an esupd older than this migration: the alerts it marked, NULL when
-- there was nothing to do.
CREATE OR REPLACE FUNCTION esup_escalation_replan_all(fingerprint text) RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
	SELECT r.marked FROM esup_escalation_replan($1) r
$$;
