-- 002_cases_alerts.sql: reference data for the approval clock (calendar, catalogue), the
-- derived state of every case, and alerts with their lifecycle.
--
-- Cases and alerts are derived: the daemon recomputes them from the events (libmonitor) inside
-- the same transaction that stored the events, or in the sweeper's transaction when time alone
-- moves a case on. Alerts keep their whole history in alert_actions.

-- The working-day calendar: a holiday is a day off; a workday is a weekend day that is worked
-- (调休). Days not listed follow the week: Monday to Friday work.
-- Columns are those of calendar.csv, so the file loads with \copy and exports back alike.
CREATE TABLE calendar (
	date date PRIMARY KEY,
	kind text NOT NULL CHECK (kind IN ('holiday', 'workday')),
	name text NOT NULL DEFAULT ''
);

-- The catalogue of approval items (事项) with their limits.
CREATE TABLE items (
	code text PRIMARY KEY,
	dept text NOT NULL,
	name text NOT NULL,
	statutory_days int NOT NULL CHECK (statutory_days > 0),
	committed_days int NOT NULL CHECK (committed_days > 0),
	unit text NOT NULL CHECK (unit IN ('working', 'calendar')),
	warn_days int CHECK (warn_days >= 0),
	step_days text,
	CHECK (committed_days <= statutory_days)
);

-- Any change to the reference data makes every running esupd rebuild its ruleset and
-- re-derive the deadlines of open cases.
CREATE FUNCTION esup_notify_refdata() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	PERFORM pg_notify('esup_refdata', TG_TABLE_NAME);
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION esup_notify_refdata() FROM PUBLIC;

CREATE TRIGGER calendar_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON calendar
	FOR EACH STATEMENT EXECUTE FUNCTION esup_notify_refdata();
CREATE TRIGGER items_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON items
	FOR EACH STATEMENT EXECUTE FUNCTION esup_notify_refdata();

-- One row per case: its clock as last evaluated, and when time alone next changes it.
CREATE TABLE cases (
	dept text NOT NULL,
	case_no text NOT NULL,
	item text NOT NULL DEFAULT '',
	status text NOT NULL DEFAULT 'received',
	unit text NOT NULL DEFAULT 'working',
	committed_days int NOT NULL DEFAULT 0,
	statutory_days int NOT NULL DEFAULT 0,
	counted_days int NOT NULL DEFAULT 0,
	suspended_days int NOT NULL DEFAULT 0,
	committed_day date,
	statutory_day date,
	level text CHECK (level IN ('notice', 'yellow', 'red')),
	next_check_at timestamptz,
	evaluated_at timestamptz,
	PRIMARY KEY (dept, case_no)
);

-- The sweeper takes the cases whose next check has come, oldest first: its cost follows the
-- number of due cases, not the number of open ones.
CREATE INDEX cases_due ON cases (next_check_at) WHERE next_check_at IS NOT NULL;

CREATE TABLE alerts (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	rule text NOT NULL,
	severity text NOT NULL CHECK (severity IN ('notice', 'yellow', 'red')),
	dept text NOT NULL,
	case_no text,
	dedup_key text NOT NULL,
	message text NOT NULL,
	evidence jsonb NOT NULL DEFAULT '[]',
	since timestamptz NOT NULL,
	raised_at timestamptz NOT NULL DEFAULT now(),
	status text NOT NULL DEFAULT 'open'
		CHECK (status IN ('open', 'acknowledged', 'resolved', 'dismissed', 'revoked', 'superseded')),
	status_at timestamptz NOT NULL DEFAULT now(),
	superseded_by bigint REFERENCES alerts (id)
);

-- One condition, one live alert.
CREATE UNIQUE INDEX alerts_live_key ON alerts (dedup_key) WHERE status IN ('open', 'acknowledged');
CREATE INDEX alerts_case ON alerts (dept, case_no);
CREATE INDEX alerts_open ON alerts (status, raised_at);

-- Who did what to an alert, when and why. Append-only.
CREATE TABLE alert_actions (
	alert_id bigint NOT NULL REFERENCES alerts (id),
	action text NOT NULL,
	actor text NOT NULL,
	note text NOT NULL DEFAULT '',
	at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_actions_alert ON alert_actions (alert_id);
CREATE TRIGGER alert_actions_append_only BEFORE UPDATE OR DELETE ON alert_actions
	FOR EACH ROW EXECUTE FUNCTION esup_append_only();

-- Applies one case's fresh evaluation: upserts the case row, raises an alert for each
-- condition without a live alert, resolves live alerts whose condition no longer holds (a late
-- event cleared it), marks superseded ones, and NOTIFYs esup_alert with each new alert's id.
-- `evaluation` is {"dept","case","item","status","unit","committed_days","statutory_days",
-- "counted_days","suspended_days","committed_day","statutory_day","level","next_check",
-- "conditions":[{"rule","severity","key","supersedes","since","message","evidence"}]}.
-- Returns the alerts it raised and resolved, for the daemon's log. An evaluation without a case
-- (an event judged alone, such as a fee collected over the counter) has no case row, and its
-- conditions never vanish: nothing later can change a single event.
CREATE FUNCTION esup_apply_evaluation(evaluation jsonb, evaluated_at timestamptz)
RETURNS TABLE (alert_id bigint, action text, rule text, severity text, message text)
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
	d text := evaluation->>'dept';
	c text := nullif(evaluation->>'case', '');
	cond jsonb;
	new_id bigint;
	old record;
BEGIN
	IF c IS NOT NULL THEN
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
			SELECT a.id, a.rule, a.severity, a.message FROM alerts a
			WHERE a.dept = d AND a.case_no = c AND a.status IN ('open', 'acknowledged')
			  AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(evaluation->'conditions') x
					  WHERE x->>'key' = a.dedup_key OR x->>'supersedes' = a.rule)
			ORDER BY a.id
		LOOP
			UPDATE alerts SET status = 'resolved', status_at = evaluated_at WHERE id = old.id;
			INSERT INTO alert_actions (alert_id, action, actor, note, at)
			VALUES (old.id, 'resolve', 'esupd', 'condition no longer holds: a late event, or changed rules or reference data', evaluated_at);
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
		INSERT INTO alerts (rule, severity, dept, case_no, dedup_key, message, evidence, since, raised_at, status_at)
		VALUES (cond->>'rule', cond->>'severity', d, c, cond->>'key', cond->>'message',
			coalesce(cond->'evidence', '[]'), (cond->>'since')::timestamptz, evaluated_at, evaluated_at)
		RETURNING id INTO new_id;
		INSERT INTO alert_actions (alert_id, action, actor, note, at)
		VALUES (new_id, 'raise', 'esupd', '', evaluated_at);
		IF c IS NOT NULL AND coalesce(cond->>'supersedes', '') <> '' THEN
			FOR old IN UPDATE alerts a SET status = 'superseded', status_at = evaluated_at,
					superseded_by = new_id
				WHERE a.dept = d AND a.case_no = c AND a.rule = cond->>'supersedes'
				  AND a.status IN ('open', 'acknowledged')
				RETURNING a.id
			LOOP
				INSERT INTO alert_actions (alert_id, action, actor, note, at)
				VALUES (old.id, 'supersede', 'esupd', 'superseded by alert ' || new_id, evaluated_at);
			END LOOP;
		END IF;
		PERFORM pg_notify('esup_alert', new_id::text);
		RETURN QUERY SELECT new_id, 'raised'::text, cond->>'rule', cond->>'severity', cond->>'message';
	END LOOP;
END
$$;

GRANT SELECT ON calendar, items TO esup_writer, esup_supervisor, esup_auditor;
GRANT SELECT, INSERT, UPDATE ON cases, alerts TO esup_writer;
GRANT SELECT, INSERT ON alert_actions TO esup_writer;
GRANT SELECT ON cases, alerts, alert_actions TO esup_supervisor, esup_auditor;
REVOKE ALL ON FUNCTION esup_apply_evaluation(jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION esup_apply_evaluation(jsonb, timestamptz) TO esup_writer;
