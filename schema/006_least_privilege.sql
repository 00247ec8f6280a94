-- 006_least_privilege.sql: the daemon changes alerts only through esup_apply_evaluation,
-- which runs as the owner, checks what it is given against the stored events, and writes an
-- alert_actions row (who, when, from which state to which, why) for every change it makes.
--
-- Roles are not made here: `esup-dbsetup init`, run by the PostgreSQL superuser, creates the
-- owner esup_owner (NOLOGIN, cannot create roles), the migration login esup_admin (a member
-- of it; `esupd --migrate` runs as SET ROLE esup_owner), the daemon's esupd and the group
-- roles. docs/reliability.md ("Database privileges") says what each can and cannot do.

-- A PostgreSQL 15 database has no CREATE on public for PUBLIC; one carried over from an older
-- release does, and a role that can create objects in the search_path of the owner's functions
-- could make them call its own.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- The rules libmonitor knows, with their severity (libmonitor/ruleset.c; a test compares the
-- two). esup_apply_evaluation raises alerts only for these.
CREATE TABLE rules (
	code text PRIMARY KEY CHECK (code ~ '^[A-Z]+(-[A-Z]+)+$'),
	severity text NOT NULL CHECK (severity IN ('notice', 'yellow', 'red'))
);
INSERT INTO rules (code, severity) VALUES
	('APR-DEADLINE-NOTICE', 'notice'),
	('APR-DEADLINE-YELLOW', 'yellow'),
	('APR-DEADLINE-RED', 'red'),
	('APR-SPECIAL-NOTICE', 'notice'),
	('APR-SPECIAL-OVERRUN', 'yellow'),
	('APR-SUPPLEMENT-LATE', 'yellow'),
	('APR-SUPPLEMENT-REPEAT', 'yellow'),
	('APR-EXTENSION-UNAPPROVED', 'yellow'),
	('APR-EXTENSION-EXCESS', 'yellow'),
	('APR-REFUSAL-NO-REASON', 'yellow'),
	('APR-REFUSAL-NO-REPORT', 'yellow'),
	('APR-ORDER-DECIDED-UNACCEPTED', 'yellow'),
	('APR-ORDER-STEP-AFTER-DECISION', 'yellow'),
	('APR-ORDER-RESUME-UNSUSPENDED', 'yellow'),
	('APR-STEP-LIMIT', 'yellow'),
	('APR-LATE-REPORT', 'notice'),
	('APR-ITEM-UNKNOWN', 'notice'),
	('FEE-ITEM-UNKNOWN', 'yellow'),
	('FEE-ITEM-ABOLISHED', 'red'),
	('FEE-OVER-STANDARD', 'yellow'),
	('FEE-NO-REVIEW', 'yellow'),
	('FEE-FREE-ITEM', 'red'),
	('FEE-REFUND', 'notice'),
	('PEN-FILING-MISSING', 'yellow'),
	('PEN-FILING-OFFICE', 'yellow'),
	('PEN-FIRST-MINOR', 'yellow'),
	('PEN-NO-HEARING', 'red'),
	('PEN-TIER-OUTSIDE', 'yellow'),
	('PEN-TIER-UNKNOWN', 'notice'),
	('PEN-NOT-LOWEST', 'notice'),
	('ENF-QUIET-DAY', 'yellow'),
	('ENF-REPEAT', 'yellow'),
	('ENF-MULTI-DEPT', 'yellow'),
	('ENF-NO-FILING', 'yellow'),
	('ENF-NO-CERT', 'red'),
	('CMP-DEADLINE-NOTICE', 'notice'),
	('CMP-REPLY-LATE', 'yellow'),
	('CMP-CLOSE-LATE', 'red'),
	('CMP-INQUIRY-LATE', 'yellow'),
	('CMP-UNSATISFIED', 'notice'),
	('CMP-RECTIFY-LATE', 'yellow'),
	('TRD-BID-PERIOD', 'yellow'),
	('TRD-EARLY-OPENING', 'red'),
	('TRD-PUBLICITY-SHORT', 'yellow');
GRANT SELECT ON rules TO esup_writer, esup_supervisor, esup_auditor;

-- Every action row says which state it moved the alert from and to (issue 8's lifecycle builds
-- on these), and is numbered in the order written. Rows written before this migration leave
-- the states NULL: their action says it.
ALTER TABLE alert_actions ADD COLUMN from_state text, ADD COLUMN to_state text,
	ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;
DROP INDEX alert_actions_alert;
CREATE INDEX alert_actions_alert ON alert_actions (alert_id, id);
CREATE TRIGGER alert_actions_no_truncate BEFORE TRUNCATE ON alert_actions
	FOR EACH STATEMENT EXECUTE FUNCTION esup_append_only();

-- An alert is in the state its latest action row names, whoever changed it: checked at COMMIT,
-- so the row may come before or after the change within the transaction.
CREATE FUNCTION esup_alert_state_recorded() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
	now_state text;
	recorded text;
BEGIN
	SELECT status INTO now_state FROM alerts WHERE id = NEW.id;
	SELECT to_state INTO recorded FROM alert_actions WHERE alert_id = NEW.id
	 ORDER BY id DESC LIMIT 1;
	IF now_state IS DISTINCT FROM recorded THEN
		RAISE EXCEPTION 'alert % is % without an alert_actions row saying so', NEW.id, now_state
			USING ERRCODE = 'insufficient_privilege',
			      DETAIL = format('the latest action row says %s', coalesce(recorded, 'nothing'));
	END IF;
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION esup_alert_state_recorded() FROM PUBLIC;
CREATE CONSTRAINT TRIGGER alerts_state_recorded AFTER INSERT OR UPDATE OF status ON alerts
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION esup_alert_state_recorded();

-- The daemon reads alerts and their history; it changes them only through the function.
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alerts, alert_actions FROM esup_writer;
REVOKE ALL ON alerts, alert_actions, rules FROM PUBLIC;

-- esup_refuse_evaluation(why, detail): refuses an evaluation that the stored events do not bear out.
CREATE FUNCTION esup_refuse_evaluation(why text, detail text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	RAISE EXCEPTION 'evaluation refused: %', why
		USING ERRCODE = 'check_violation', DETAIL = detail;
END
$$;
REVOKE ALL ON FUNCTION esup_refuse_evaluation(text, text) FROM PUBLIC;

-- One condition checked before its alert is raised: a known rule at its own severity, a key
-- of that rule, a known superseded rule, and evidence naming at least one stored event of the
-- alert's department (and case, when it has one). Only the owner may call it, and
-- esup_apply_evaluation does, under its own fixed search_path: a SET clause here would cost
-- more than the checks.
CREATE FUNCTION esup_check_condition(cond jsonb, d text, c text) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
	r text := cond->>'rule';
	ids text[];
BEGIN
	IF NOT EXISTS (SELECT 1 FROM rules WHERE code = r AND severity = cond->>'severity') THEN
		PERFORM esup_refuse_evaluation('unknown rule or wrong severity',
			format('rule %s, severity %s', r, cond->>'severity'));
	END IF;
	IF left(cond->>'key', length(r) + 1) IS DISTINCT FROM r || '|' THEN
		PERFORM esup_refuse_evaluation('dedup key of another rule', cond->>'key');
	END IF;
	IF coalesce(cond->>'supersedes', '') <> ''
	   AND NOT EXISTS (SELECT 1 FROM rules WHERE code = cond->>'supersedes') THEN
		PERFORM esup_refuse_evaluation('supersedes an unknown rule', cond->>'supersedes');
	END IF;
	IF jsonb_typeof(cond->'evidence') = 'array' THEN
		ids := ARRAY(SELECT jsonb_array_elements_text(cond->'evidence'));
	END IF;
	-- An array, not a join with the JSON, and one statement per shape, each on an index whose
	-- cost follows the case (events_dept_case) or the ids (event_ids' key), not the table.
	IF c IS NULL THEN
		PERFORM FROM event_ids i WHERE i.dept = d AND i.event_id = ANY (ids) LIMIT 1;
	ELSE
		PERFORM FROM events e WHERE e.dept = d AND e.case_no = c AND e.event_id = ANY (ids)
		 LIMIT 1;
	END IF;
	IF NOT FOUND THEN
		PERFORM esup_refuse_evaluation('no evidence among the stored events',
			format('%s: dept %s, case %s, evidence %s', r, d, coalesce(c, '(none)'),
				cond->'evidence'));
	END IF;
END
$$;
REVOKE ALL ON FUNCTION esup_check_condition(jsonb, text, text) FROM PUBLIC;

-- Applies one case's fresh evaluation (the shape is described in 002): upserts the case row,
-- raises an alert for each condition without a live alert, resolves live alerts whose
-- condition no longer holds, marks superseded ones, and NOTIFYs esup_alert with each new
-- alert's id. Runs as the owner: the caller needs no right on alerts or alert_actions, and
-- every change it makes has its action row, whose actor is the caller's login role.
-- Refused (check_violation) when the evaluation names a case without stored events, or a
-- condition esup_check_condition does not accept.
CREATE OR REPLACE FUNCTION esup_apply_evaluation(evaluation jsonb, evaluated_at timestamptz)
RETURNS TABLE (alert_id bigint, action text, rule text, severity text, message text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
	d text := evaluation->>'dept';
	c text := nullif(evaluation->>'case', '');
	actor text := session_user;
	cond jsonb;
	new_id bigint;
	old record;
BEGIN
	IF d IS NULL OR evaluated_at IS NULL
	   OR jsonb_typeof(coalesce(evaluation->'conditions', '[]')) <> 'array' THEN
		PERFORM esup_refuse_evaluation('no department, time or condition list', evaluation::text);
	END IF;
	IF c IS NOT NULL THEN
		IF NOT EXISTS (SELECT 1 FROM events e WHERE e.dept = d AND e.case_no = c) THEN
			PERFORM esup_refuse_evaluation('case without stored events', d || '/' || c);
		END IF;
		INSERT INTO cases AS k (dept, case_no, item, status, unit, committed_days, statutory_days,
			counted_days, suspended_days, committed_day, statutory_day, level, next_check_at, evaluated_at)
		VALUES (d, c, evaluation->>'item', evaluation->>'status', evaluation->>'unit',
			(evaluation->>'committed_days')::int, (evaluation->>'statutory_days')::int,
			(evaluation->>'counted_days')::int, (evaluation->>'suspended_days')::int,
			(evaluation->>'committed_day')::date, (evaluation->>'statutory_day')::date,
			evaluation->>'level', (evaluation->>'next_check')::timestamptz, evaluated_at)
		ON CONFLICT ON CONSTRAINT cases_pkey DO UPDATE SET
			item = EXCLUDED.item, status = EXCLUDED.status, unit = EXCLUDED.unit,
			committed_days = EXCLUDED.committed_days, statutory_days = EXCLUDED.statutory_days,
			counted_days = EXCLUDED.counted_days, suspended_days = EXCLUDED.suspended_days,
			committed_day = EXCLUDED.committed_day, statutory_day = EXCLUDED.statutory_day,
			level = EXCLUDED.level, next_check_at = EXCLUDED.next_check_at,
			evaluated_at = EXCLUDED.evaluated_at;

		-- Live alerts whose condition is gone: a late event showed it never held, or the rules
		-- or reference data changed. (One that a higher card replaces is marked superseded
		-- below instead.)
		FOR old IN
			SELECT a.id, a.rule, a.severity, a.message, a.status FROM alerts a
			WHERE a.dept = d AND a.case_no = c AND a.status IN ('open', 'acknowledged')
			  AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(evaluation->'conditions') x
					  WHERE x->>'key' = a.dedup_key OR x->>'supersedes' = a.rule)
			ORDER BY a.id
		LOOP
			UPDATE alerts SET status = 'resolved', status_at = evaluated_at WHERE id = old.id;
			INSERT INTO alert_actions (alert_id, action, actor, note, at, from_state, to_state)
			VALUES (old.id, 'resolve', actor, 'condition no longer holds: a late event, or changed rules or reference data',
				evaluated_at, old.status, 'resolved');
			RETURN QUERY SELECT old.id, 'resolved'::text, old.rule, old.severity, old.message;
		END LOOP;
	END IF;

	FOR cond IN SELECT x FROM jsonb_array_elements(evaluation->'conditions') x LOOP
		CONTINUE WHEN EXISTS (SELECT 1 FROM alerts a WHERE a.dedup_key = cond->>'key'
				      AND a.status IN ('open', 'acknowledged'));
		-- A condition that was already raised and closed by a person stays closed.
		CONTINUE WHEN EXISTS (SELECT 1 FROM alerts a WHERE a.dedup_key = cond->>'key'
				      AND a.status IN ('resolved', 'dismissed', 'revoked', 'superseded')
				      AND a.since = (cond->>'since')::timestamptz);
		PERFORM esup_check_condition(cond, d, c);
		INSERT INTO alerts (rule, severity, dept, case_no, dedup_key, message, evidence, since, raised_at, status_at)
		VALUES (cond->>'rule', cond->>'severity', d, c, cond->>'key', cond->>'message',
			cond->'evidence', (cond->>'since')::timestamptz, evaluated_at, evaluated_at)
		RETURNING id INTO new_id;
		INSERT INTO alert_actions (alert_id, action, actor, note, at, from_state, to_state)
		VALUES (new_id, 'raise', actor, 'condition holds since ' || (cond->>'since'), evaluated_at,
			NULL, 'open');
		IF c IS NOT NULL AND coalesce(cond->>'supersedes', '') <> '' THEN
			FOR old IN UPDATE alerts a SET status = 'superseded', status_at = evaluated_at,
					superseded_by = new_id
				FROM alerts b
				WHERE b.id = a.id AND a.dept = d AND a.case_no = c
				  AND a.rule = cond->>'supersedes' AND a.status IN ('open', 'acknowledged')
				RETURNING a.id, b.status
			LOOP
				INSERT INTO alert_actions (alert_id, action, actor, note, at, from_state, to_state)
				VALUES (old.id, 'supersede', actor, 'superseded by alert ' || new_id, evaluated_at,
					old.status, 'superseded');
			END LOOP;
		END IF;
		PERFORM pg_notify('esup_alert', new_id::text);
		RETURN QUERY SELECT new_id, 'raised'::text, cond->>'rule', cond->>'severity', cond->>'message';
	END LOOP;
END
$$;

REVOKE ALL ON FUNCTION esup_apply_evaluation(jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION esup_apply_evaluation(jsonb, timestamptz) TO esup_writer;

-- An owner that can create roles can make itself a superuser in all but name: say so where the
-- operator looks (esupd --migrate logs server warnings). `esup-dbsetup init` removes it.
DO $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = current_user
		   AND (rolcreaterole OR rolsuper OR rolbypassrls OR rolcanlogin)) THEN
		RAISE WARNING 'role % can log in, create roles or bypass row security: run esup-dbsetup init as the PostgreSQL superuser to make it NOLOGIN NOCREATEROLE',
			current_user;
	END IF;
END
$$;
