-- 008_alert_lifecycle.sql: supervisors work their alerts (issue 8). The state machine lives
-- here, as data (alert_transitions) and one internal function that applies it; everything that
-- changes an alert (the daemon for a certificate principal, esupd's own jobs, esup_apply_evaluation,
-- rule modes and silences) goes through it, so every change has its alert_actions row.
--
-- States: LIVE (one live alert per dedup_key) held (待发: waits for a supervisor's confirmation),
-- open, acknowledged (the department's 回告), appealed (its 申诉), suppressed (its rule is off or
-- a silence covers it); FINAL resolved, dismissed, revoked (撤消: the appeal was upheld),
-- cancelled (a held alert that was never issued), superseded (a red card replaced a yellow one).
--
-- alert_actions is also the durable, ordered log of alert changes (the outbox): each row is
-- written in the transaction that made the change; readers take rows in position order
-- (xid, id) and only those with xid < pg_snapshot_xmin(pg_current_snapshot()), so that no
-- transaction still running can add a row before the last one delivered. NOTIFY esup_alert
-- (a trigger on alert_actions) is only a hint to read it.

-- Administrative division codes nest by prefix once trailing "00" pairs are dropped: 410000
-- Henan covers 410300 Luoyang, which covers 410302 Laocheng. An empty or NULL scope covers
-- everything (daemon/api_cases.c region_covers says the same in C).
CREATE FUNCTION esup_region_covers(scope text, region text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT coalesce(scope, '') = ''
	    OR pg_catalog.starts_with(coalesce(region, ''),
	                              pg_catalog.regexp_replace(scope, '(00)+$', ''))
$$;

-- ---------------------------------------------------------------- alerts, actions, rules

ALTER TABLE alerts
	ADD COLUMN region text NOT NULL DEFAULT '',
	ADD COLUMN item text,
	ADD COLUMN origin text NOT NULL DEFAULT '',
	ADD COLUMN appealed_from text
		CHECK (appealed_from IN ('open', 'acknowledged')),
	ADD COLUMN escalation_level int NOT NULL DEFAULT 0 CHECK (escalation_level >= 0),
	ADD COLUMN escalated_to text,
	ADD COLUMN issued_at timestamptz,
	ADD COLUMN acknowledged_at timestamptz,
	-- Why a suppressed alert is suppressed, which says what issues it again: 'mode' (its rule's
	-- mode is off: esup_rule_mode_as), 'silence' (esup_silences_lift), 'config' (the rule is
	-- switched off in esupd.conf [rules] disable: the next evaluation that has its condition).
	ADD COLUMN suppressed_by text CHECK (suppressed_by IN ('mode', 'silence', 'config'));
ALTER TABLE alerts DROP CONSTRAINT alerts_status_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_status_check CHECK (status IN
	('held', 'open', 'acknowledged', 'appealed', 'suppressed',
	 'resolved', 'dismissed', 'revoked', 'cancelled', 'superseded'));
ALTER TABLE alerts ADD CONSTRAINT alerts_appealed_from CHECK ((status = 'appealed') = (appealed_from IS NOT NULL));
ALTER TABLE alerts ADD CONSTRAINT alerts_suppressed_by CHECK ((status = 'suppressed') = (suppressed_by IS NOT NULL));

-- One condition, one live alert.
DROP INDEX alerts_live_key;
CREATE UNIQUE INDEX alerts_live_key ON alerts (dedup_key)
	WHERE status IN ('held', 'open', 'acknowledged', 'appealed', 'suppressed');
-- Rule modes and silences look for the live alerts of one rule, or the suppressed ones.
CREATE INDEX alerts_rule_live ON alerts (rule, id)
	WHERE status IN ('held', 'open', 'acknowledged', 'appealed', 'suppressed');

-- Alerts raised before this migration: the department's region, the case's item, and they
-- were issued when raised (there was no other way to be raised).
UPDATE alerts a SET region = coalesce(d.region, '') FROM departments d WHERE d.code = a.dept;
UPDATE alerts a SET item = nullif(k.item, '') FROM cases k
 WHERE k.dept = a.dept AND k.case_no = a.case_no;
UPDATE alerts SET issued_at = raised_at;

-- Each row's position in the log is (xid, id): the writing transaction, then the order written.
ALTER TABLE alert_actions
	ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
	ADD COLUMN actor_role text,
	ADD COLUMN origin text NOT NULL DEFAULT '';
CREATE INDEX alert_actions_position ON alert_actions (xid, id);

-- Per-rule mode: issue (alerts are issued as raised), hold (待发: raised held until a supervisor
-- confirms), off (raised suppressed; live ones are suppressed when it is switched off).
ALTER TABLE rules ADD COLUMN mode text NOT NULL DEFAULT 'issue'
	CHECK (mode IN ('issue', 'hold', 'off'));

-- Who switched which rule to what, when and why. Append-only.
CREATE TABLE rule_mode_changes (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	origin text NOT NULL DEFAULT '',
	rule text NOT NULL REFERENCES rules (code),
	from_mode text NOT NULL,
	to_mode text NOT NULL,
	actor text NOT NULL,
	actor_role text NOT NULL,
	reason text NOT NULL,
	at timestamptz NOT NULL
);
CREATE TRIGGER rule_mode_changes_append_only BEFORE UPDATE OR DELETE ON rule_mode_changes
	FOR EACH ROW EXECUTE FUNCTION esup_append_only();
CREATE TRIGGER rule_mode_changes_no_truncate BEFORE TRUNCATE ON rule_mode_changes
	FOR EACH STATEMENT EXECUTE FUNCTION esup_append_only();

-- ---------------------------------------------------------------- the state machine, as data

-- Every legal step: `action` by `actor_role` takes an alert from `from_state` to `to_state`.
-- to_state is a state, or 'previous' (the state the alert was appealed from: reject), 'same'
-- (unchanged: escalate raises escalation_level and moves escalated_to one region up) or
-- 'issued' (open, or held when the rule's mode is hold). actor_role 'system' is esupd itself
-- (evaluations, its timers, rule modes and silences). An action no row names for the actor's
-- role is forbidden to it; a known one from a state no row names is illegal there. Raising
-- (no state → open, held or suppressed) is esup_apply_evaluation's and is not listed.
CREATE TABLE alert_transitions (
	action text NOT NULL,
	from_state text NOT NULL,
	to_state text NOT NULL,
	actor_role text NOT NULL CHECK (actor_role IN ('department', 'supervisor', 'system')),
	note_required boolean NOT NULL DEFAULT false,
	PRIMARY KEY (action, from_state, actor_role)
);
INSERT INTO alert_transitions (action, from_state, to_state, actor_role, note_required) VALUES
	('ack',       'open',         'acknowledged', 'department', true),
	('appeal',    'open',         'appealed',     'department', true),
	('appeal',    'acknowledged', 'appealed',     'department', true),
	('reject',    'appealed',     'previous',     'supervisor', false),
	('revoke',    'appealed',     'revoked',      'supervisor', false),
	('resolve',   'open',         'resolved',     'supervisor', false),
	('resolve',   'acknowledged', 'resolved',     'supervisor', false),
	('dismiss',   'open',         'dismissed',    'supervisor', false),
	('dismiss',   'acknowledged', 'dismissed',    'supervisor', false),
	('dismiss',   'appealed',     'dismissed',    'supervisor', false),
	('confirm',   'held',         'open',         'supervisor', false),
	('cancel',    'held',         'cancelled',    'supervisor', false),
	('escalate',  'open',         'same',         'supervisor', false),
	('escalate',  'acknowledged', 'same',         'supervisor', false),
	('escalate',  'open',         'same',         'system',     false),
	('escalate',  'acknowledged', 'same',         'system',     false),
	-- the condition stopped holding; a held alert was never issued
	('resolve',   'open',         'resolved',     'system',     false),
	('resolve',   'acknowledged', 'resolved',     'system',     false),
	('resolve',   'appealed',     'resolved',     'system',     false),
	('resolve',   'suppressed',   'resolved',     'system',     false),
	('resolve',   'held',         'cancelled',    'system',     false),
	('suppress',  'open',         'suppressed',   'system',     false),
	('suppress',  'acknowledged', 'suppressed',   'system',     false),
	('suppress',  'held',         'suppressed',   'system',     false),
	('issue',     'suppressed',   'issued',       'system',     false),
	('supersede', 'held',         'superseded',   'system',     false),
	('supersede', 'open',         'superseded',   'system',     false),
	('supersede', 'acknowledged', 'superseded',   'system',     false),
	('supersede', 'appealed',     'superseded',   'system',     false),
	('supersede', 'suppressed',   'superseded',   'system',     false);

-- ---------------------------------------------------------------- silences

-- A time-boxed silence: an alert raised while one covers it is suppressed, and issued again by
-- esup_silences_lift once none does. Matchers: rule, dept, item exactly (NULL: any), region by
-- prefix ('' : everywhere). Active from starts_at (inclusive) to ends_at, or expired_at when
-- expired early (exclusive).
CREATE TABLE silences (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	origin text NOT NULL DEFAULT '',
	rule text REFERENCES rules (code),
	dept text,
	item text,
	region text NOT NULL DEFAULT '',
	starts_at timestamptz NOT NULL,
	ends_at timestamptz NOT NULL,
	author text NOT NULL,
	reason text NOT NULL CHECK (btrim(reason) <> ''),
	created_at timestamptz NOT NULL DEFAULT now(),
	expired_at timestamptz,
	CHECK (ends_at > starts_at)
);
CREATE INDEX silences_ends ON silences (ends_at);

-- The first silence covering an alert with these fields at `at`, NULL when none. Owner only,
-- called under the callers' fixed search_path (as esup_check_condition): plpgsql keeps its
-- plan for the session, where an SQL function with a SET clause is planned at every call
-- (0.2 ms per raised alert, measured with bench_privileges).
CREATE FUNCTION esup_silence_covering(r text, d text, i text, reg text, at timestamptz)
RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN (SELECT s.id FROM silences s
		 WHERE s.ends_at > at AND s.starts_at <= at AND (s.expired_at IS NULL OR s.expired_at > at)
		   AND (s.rule IS NULL OR s.rule = r) AND (s.dept IS NULL OR s.dept = d)
		   AND (s.item IS NULL OR s.item = i) AND esup_region_covers(s.region, reg)
		 ORDER BY s.id LIMIT 1);
END
$$;

-- Why an alert of rule r raised now would be suppressed: 'mode' (the rule is off), 'silence'
-- (a silence covers it), NULL (it is not). Owner only, like esup_silence_covering.
CREATE FUNCTION esup_suppression(r text, d text, i text, reg text, at timestamptz)
RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
	IF (SELECT g.mode FROM rules g WHERE g.code = r) = 'off' THEN
		RETURN 'mode';
	ELSIF esup_silence_covering(r, d, i, reg, at) IS NOT NULL THEN
		RETURN 'silence';
	END IF;
	RETURN NULL;
END
$$;

-- ---------------------------------------------------------------- the one place states change

-- Applies `act` to alert `alert_id` for an actor of role `role` ('department' with scope_dept,
-- 'supervisor' with scope_region, or 'system'), at `at`. Outcomes: done (status is the new
-- state, action_id its alert_actions row); not_found (no such alert, or outside the actor's
-- scope: the same answer); forbidden (the role may not take this action at all); bad_request
-- (unknown action, missing note); illegal (not from the current state, which status gives; for
-- escalate also when there is no region above, and for any action when expected_level is given
-- and escalation_level differs from it, so that a replayed timer changes nothing). why is the
-- suppressed_by of a suppress ('mode' when NULL). Owner only: the wrappers below call it.
CREATE FUNCTION esup_alert_transition(alert_id bigint, act text, actor text, role text,
	scope_dept text, scope_region text, note text, at timestamptz, expected_level int,
	why text DEFAULT NULL,
	OUT outcome text, OUT status text, OUT action_id bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
	a alerts%ROWTYPE;
	t alert_transitions%ROWTYPE;
	target text;
	up text;
BEGIN
	at := coalesce(at, now());
	IF NOT EXISTS (SELECT 1 FROM alert_transitions x WHERE x.action = act) THEN
		outcome := 'bad_request';
		RETURN;
	END IF;
	SELECT * INTO a FROM alerts x WHERE x.id = alert_id FOR UPDATE;
	IF NOT FOUND OR role NOT IN ('department', 'supervisor', 'system')
	   OR (role = 'department' AND a.dept IS DISTINCT FROM scope_dept)
	   OR (role = 'supervisor' AND NOT esup_region_covers(scope_region, a.region)
	       AND NOT esup_region_covers(scope_region, coalesce(a.escalated_to, a.region))) THEN
		outcome := 'not_found';
		RETURN;
	END IF;
	status := a.status;
	IF NOT EXISTS (SELECT 1 FROM alert_transitions x WHERE x.action = act AND x.actor_role = role) THEN
		outcome := 'forbidden';
		RETURN;
	END IF;
	IF coalesce(btrim(note), '') = '' AND EXISTS (SELECT 1 FROM alert_transitions x
			WHERE x.action = act AND x.actor_role = role AND x.note_required) THEN
		outcome := 'bad_request';
		RETURN;
	END IF;
	SELECT * INTO t FROM alert_transitions x
	 WHERE x.action = act AND x.actor_role = role AND x.from_state = a.status;
	IF NOT FOUND OR expected_level <> a.escalation_level THEN
		outcome := 'illegal';
		RETURN;
	END IF;
	IF act = 'escalate' THEN
		SELECT g.parent INTO up FROM regions g WHERE g.code = coalesce(a.escalated_to, a.region);
		IF up IS NULL THEN
			outcome := 'illegal';
			RETURN;
		END IF;
	END IF;
	target := CASE t.to_state
		WHEN 'previous' THEN a.appealed_from
		WHEN 'same' THEN a.status
		WHEN 'issued' THEN CASE WHEN (SELECT r.mode FROM rules r WHERE r.code = a.rule) = 'hold'
				THEN 'held' ELSE 'open' END
		ELSE t.to_state END;
	UPDATE alerts x SET status = target, status_at = at,
		appealed_from = CASE WHEN target = 'appealed' THEN a.status END,
		suppressed_by = CASE WHEN target = 'suppressed' THEN coalesce(why, 'mode') END,
		acknowledged_at = CASE WHEN act = 'ack' THEN at ELSE x.acknowledged_at END,
		issued_at = CASE WHEN target = 'open' AND a.status IN ('held', 'suppressed') THEN at
			ELSE x.issued_at END,
		escalation_level = x.escalation_level + CASE WHEN act = 'escalate' THEN 1 ELSE 0 END,
		escalated_to = coalesce(up, x.escalated_to)
	 WHERE x.id = a.id;
	-- After the UPDATE: the NOTIFY trigger reads the alert as it now is.
	INSERT INTO alert_actions (alert_id, action, actor, actor_role, note, at, from_state, to_state)
	VALUES (a.id, act, actor, role, coalesce(note, ''), at, a.status, target)
	RETURNING id INTO action_id;
	status := target;
	outcome := 'done';
END
$$;
REVOKE ALL ON FUNCTION esup_alert_transition(bigint, text, text, text, text, text, text,
	timestamptz, int, text) FROM PUBLIC;

-- The enabled principal with this certificate fingerprint; no row when none.
CREATE FUNCTION esup_principal(fp text)
RETURNS TABLE (role text, dept text, region text, name text)
LANGUAGE sql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
	SELECT p.role, p.dept, coalesce(p.region, ''), coalesce(nullif(p.subject, ''), p.fingerprint)
	  FROM principals p WHERE p.fingerprint = fp AND p.enabled
$$;
REVOKE ALL ON FUNCTION esup_principal(text) FROM PUBLIC;

-- The daemon acts for a certificate principal (POST /v1/alerts/{id}/{action}): a department on
-- its own alerts, a supervisor on those of its region; any other role, an unknown or disabled
-- certificate: forbidden. The actor recorded is the principal's subject. at NULL: now().
CREATE FUNCTION esup_alert_act_as(fingerprint text, alert_id bigint, action text, note text,
	at timestamptz)
RETURNS TABLE (outcome text, status text, action_id bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
	p record;
BEGIN
	SELECT * INTO p FROM esup_principal(fingerprint);
	IF NOT FOUND OR p.role NOT IN ('department', 'supervisor') THEN
		RETURN QUERY SELECT 'forbidden'::text, NULL::text, NULL::bigint;
		RETURN;
	END IF;
	RETURN QUERY SELECT * FROM esup_alert_transition(alert_id, action, p.name, p.role, p.dept,
		p.region, note, at, NULL);
END
$$;

-- esupd's own jobs (督办 timer, and any system step): actor is the login role, role 'system'.
-- expected_level makes a step conditional on the alert's escalation_level (compare and set):
-- a timer replayed after a crash finds the level moved on and changes nothing ('illegal').
CREATE FUNCTION esup_alert_act_system(alert_id bigint, action text, note text, at timestamptz,
	expected_level int)
RETURNS TABLE (outcome text, status text, action_id bigint)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
	SELECT * FROM esup_alert_transition(alert_id, action, session_user::text, 'system', NULL,
		NULL, note, at, expected_level)
$$;

-- ---------------------------------------------------------------- evaluations

-- Applies one case's fresh evaluation (the shape is described in 002; "disabled" lists the
-- rules switched off in esupd.conf, which were not evaluated): upserts the case row; raises an
-- alert for each condition without a live alert — open, held when its rule's mode is hold,
-- suppressed when the rule is off or a silence covers it; settles the case's live alerts
-- whose condition is gone — suppressed when their rule is disabled (not evaluated is not
-- cleared), otherwise resolved (a held one cancelled); issues a suppressed alert of a disabled
-- rule that comes out again; marks superseded ones. Each change has its action row (actor:
-- the caller's login role, role 'system'), and its NOTIFY. Returns the alerts it changed, with
-- what happened: raised, held, suppressed, resolved, cancelled, issued.
-- Refused (check_violation) when the evaluation names a case without stored events, or a
-- condition esup_check_condition does not accept.
CREATE OR REPLACE FUNCTION esup_apply_evaluation(evaluation jsonb, evaluated_at timestamptz)
RETURNS TABLE (alert_id bigint, action text, rule text, severity text, message text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
	d text := evaluation->>'dept';
	c text := nullif(evaluation->>'case', '');
	i text := nullif(evaluation->>'item', '');
	actor text := session_user;
	reg text;
	disabled text[];
	cond jsonb;
	new_id bigint;
	state text;
	why text;
	old record;
	r record;
BEGIN
	IF d IS NULL OR evaluated_at IS NULL
	   OR jsonb_typeof(coalesce(evaluation->'conditions', '[]')) <> 'array'
	   OR jsonb_typeof(coalesce(evaluation->'disabled', '[]')) <> 'array' THEN
		PERFORM esup_refuse_evaluation('no department, time or condition list', evaluation::text);
	END IF;
	disabled := ARRAY(SELECT jsonb_array_elements_text(coalesce(evaluation->'disabled', '[]')));
	SELECT coalesce(dp.region, '') INTO reg FROM departments dp WHERE dp.code = d;
	reg := coalesce(reg, '');
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
		-- or reference data changed; or their rule was not evaluated at all. (One that a higher
		-- card replaces is marked superseded below instead.)
		FOR old IN
			SELECT a.id, a.rule, a.severity, a.message, a.status FROM alerts a
			WHERE a.dept = d AND a.case_no = c
			  AND a.status IN ('held', 'open', 'acknowledged', 'appealed', 'suppressed')
			  AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(evaluation->'conditions') x
					  WHERE x->>'key' = a.dedup_key OR x->>'supersedes' = a.rule)
			ORDER BY a.id
		LOOP
			IF old.rule = ANY (disabled) THEN
				CONTINUE WHEN old.status NOT IN ('open', 'acknowledged', 'held');
				r := esup_alert_transition(old.id, 'suppress', actor, 'system', NULL, NULL,
					'rule switched off in esupd.conf ([rules] disable)', evaluated_at, NULL, 'config');
			ELSE
				r := esup_alert_transition(old.id, 'resolve', actor, 'system', NULL, NULL,
					'condition no longer holds: a late event, or changed rules or reference data',
					evaluated_at, NULL);
			END IF;
			RETURN QUERY SELECT old.id, r.status, old.rule, old.severity, old.message;
		END LOOP;
	END IF;

	FOR cond IN SELECT x FROM jsonb_array_elements(evaluation->'conditions') x LOOP
		SELECT a.id, a.status, a.suppressed_by, a.rule, a.severity, a.message INTO old
		  FROM alerts a WHERE a.dedup_key = cond->>'key'
		   AND a.status IN ('held', 'open', 'acknowledged', 'appealed', 'suppressed');
		IF FOUND THEN
			-- Its rule was switched off in esupd.conf and is on again: issued unless its
			-- mode is off or a silence covers it, which then keeps it suppressed.
			IF old.status = 'suppressed' AND old.suppressed_by = 'config' THEN
				why := esup_suppression(old.rule, d, i, reg, evaluated_at);
				IF why IS NULL THEN
					r := esup_alert_transition(old.id, 'issue', actor, 'system', NULL, NULL,
						'rule switched on again in esupd.conf', evaluated_at, NULL);
					RETURN QUERY SELECT old.id, 'issued'::text, old.rule, old.severity, old.message;
				ELSE
					UPDATE alerts a SET suppressed_by = why WHERE a.id = old.id;
				END IF;
			END IF;
			CONTINUE;
		END IF;
		-- A condition that was already raised and closed stays closed.
		CONTINUE WHEN EXISTS (SELECT 1 FROM alerts a WHERE a.dedup_key = cond->>'key'
				      AND a.status IN ('resolved', 'dismissed', 'revoked', 'cancelled', 'superseded')
				      AND a.since = (cond->>'since')::timestamptz);
		PERFORM esup_check_condition(cond, d, c);
		why := esup_suppression(cond->>'rule', d, i, reg, evaluated_at);
		state := CASE WHEN why IS NOT NULL THEN 'suppressed'
			WHEN (SELECT g.mode FROM rules g WHERE g.code = cond->>'rule') = 'hold' THEN 'held'
			ELSE 'open' END;
		INSERT INTO alerts (rule, severity, dept, case_no, dedup_key, message, evidence, since,
			raised_at, status, status_at, region, item, issued_at, suppressed_by)
		VALUES (cond->>'rule', cond->>'severity', d, c, cond->>'key', cond->>'message',
			cond->'evidence', (cond->>'since')::timestamptz, evaluated_at, state, evaluated_at,
			reg, i, CASE WHEN state = 'open' THEN evaluated_at END, why)
		RETURNING id INTO new_id;
		INSERT INTO alert_actions (alert_id, action, actor, actor_role, note, at, from_state, to_state)
		VALUES (new_id, 'raise', actor, 'system', 'condition holds since ' || (cond->>'since')
			|| CASE why WHEN 'mode' THEN '; suppressed: the rule is off'
				WHEN 'silence' THEN '; suppressed by silence '
					|| esup_silence_covering(cond->>'rule', d, i, reg, evaluated_at)
				ELSE '' END
			|| CASE WHEN state = 'held' THEN '; held for confirmation (rule mode hold)' ELSE '' END,
			evaluated_at, NULL, state);
		IF c IS NOT NULL AND coalesce(cond->>'supersedes', '') <> '' THEN
			FOR old IN SELECT a.id FROM alerts a
				WHERE a.dept = d AND a.case_no = c AND a.rule = cond->>'supersedes'
				  AND a.status IN ('held', 'open', 'acknowledged', 'appealed', 'suppressed')
				ORDER BY a.id
			LOOP
				UPDATE alerts a SET superseded_by = new_id WHERE a.id = old.id;
				r := esup_alert_transition(old.id, 'supersede', actor, 'system', NULL, NULL,
					'superseded by alert ' || new_id, evaluated_at, NULL);
			END LOOP;
		END IF;
		RETURN QUERY SELECT new_id, CASE state WHEN 'open' THEN 'raised' ELSE state END,
			cond->>'rule', cond->>'severity', cond->>'message';
	END LOOP;
END
$$;

REVOKE ALL ON FUNCTION esup_apply_evaluation(jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION esup_apply_evaluation(jsonb, timestamptz) TO esup_writer;

-- ---------------------------------------------------------------- rule modes and silences

-- Issues the suppressed alerts (suppressed_by `kind`, optionally of one rule) that nothing keeps
-- suppressed any more at `at`; one still covered by a silence, or whose rule is off, is kept
-- with that reason. Returns how many it issued. Alerts another transaction holds are skipped
-- (the next call takes them).
CREATE FUNCTION esup_issue_suppressed(kind text, only_rule text, at timestamptz, note text)
RETURNS int
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
	a record;
	why text;
	r record;
	n int := 0;
BEGIN
	FOR a IN SELECT x.id, x.rule, x.dept, x.item, x.region FROM alerts x
		WHERE x.status = 'suppressed' AND x.suppressed_by = kind
		  AND (only_rule IS NULL OR x.rule = only_rule)
		ORDER BY x.id FOR UPDATE SKIP LOCKED
	LOOP
		why := esup_suppression(a.rule, a.dept, a.item, a.region, at);
		IF why IS NOT NULL THEN
			UPDATE alerts x SET suppressed_by = why WHERE x.id = a.id AND x.suppressed_by <> why;
			CONTINUE;
		END IF;
		r := esup_alert_transition(a.id, 'issue', session_user::text, 'system', NULL, NULL,
			note, at, NULL);
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;
REVOKE ALL ON FUNCTION esup_issue_suppressed(text, text, timestamptz, text) FROM PUBLIC;

-- A supervisor whose region covers every department switches a rule's mode (issue, hold, off)
-- with a reason, logged in rule_mode_changes. To off: the rule's open, acknowledged and held
-- alerts are suppressed. From off: its alerts suppressed for that reason are issued (open, or
-- held under hold) unless a silence covers them. Between issue and hold live alerts stay as
-- they are. Outcome done (rule_mode: the mode now, alerts: how many alerts changed state),
-- forbidden, not_found (no such rule), bad_request (unknown mode, no reason). at NULL: now().
CREATE FUNCTION esup_rule_mode_as(fingerprint text, code text, mode text, reason text,
	at timestamptz DEFAULT NULL)
RETURNS TABLE (outcome text, rule_mode text, alerts int)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
	p record;
	was text;
	a record;
	r record;
	n int := 0;
	note text;
BEGIN
	at := coalesce(at, now());
	SELECT * INTO p FROM esup_principal(fingerprint);
	IF NOT FOUND OR p.role <> 'supervisor'
	   OR EXISTS (SELECT 1 FROM departments dp WHERE NOT esup_region_covers(p.region, dp.region)) THEN
		RETURN QUERY SELECT 'forbidden'::text, NULL::text, 0;
		RETURN;
	END IF;
	SELECT g.mode INTO was FROM rules g WHERE g.code = esup_rule_mode_as.code FOR UPDATE;
	IF NOT FOUND THEN
		RETURN QUERY SELECT 'not_found'::text, NULL::text, 0;
		RETURN;
	END IF;
	IF mode IS NULL OR mode NOT IN ('issue', 'hold', 'off') OR coalesce(btrim(reason), '') = '' THEN
		RETURN QUERY SELECT 'bad_request'::text, was, 0;
		RETURN;
	END IF;
	IF was = mode THEN
		RETURN QUERY SELECT 'done'::text, was, 0;
		RETURN;
	END IF;
	UPDATE rules g SET mode = esup_rule_mode_as.mode WHERE g.code = esup_rule_mode_as.code;
	INSERT INTO rule_mode_changes (rule, from_mode, to_mode, actor, actor_role, reason, at)
	VALUES (code, was, mode, p.name, p.role, reason, at);
	note := format('rule %s switched %s by %s: %s', code, mode, p.name, reason);
	IF mode = 'off' THEN
		FOR a IN SELECT x.id FROM alerts x WHERE x.rule = esup_rule_mode_as.code
			AND x.status IN ('open', 'acknowledged', 'held') ORDER BY x.id FOR UPDATE
		LOOP
			r := esup_alert_transition(a.id, 'suppress', session_user::text, 'system', NULL,
				NULL, note, at, NULL, 'mode');
			n := n + 1;
		END LOOP;
	ELSIF was = 'off' THEN
		n := esup_issue_suppressed('mode', code, at, note);
	END IF;
	RETURN QUERY SELECT 'done'::text, mode, n;
END
$$;

-- A supervisor silences alerts within its region: region defaults to its own and must be
-- covered by it; rule (a known one), dept and item narrow it further (NULL: any). starts_at NULL:
-- now(). Returns the silence's id. Refused: insufficient_privilege (not an enabled supervisor,
-- or a region outside its own), invalid_parameter_value (unknown rule, ends_at not after
-- starts_at, no reason). It applies to alerts raised while it is active; those raised before
-- stay as they are.
CREATE FUNCTION esup_silence_add_as(fingerprint text, rule text, dept text, item text,
	region text, starts_at timestamptz, ends_at timestamptz, reason text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
	p record;
	reg text;
	new_id bigint;
BEGIN
	SELECT * INTO p FROM esup_principal(fingerprint);
	IF NOT FOUND OR p.role <> 'supervisor' THEN
		RAISE EXCEPTION 'only a supervisor may silence alerts' USING ERRCODE = 'insufficient_privilege';
	END IF;
	reg := coalesce(nullif(region, ''), p.region);
	IF NOT esup_region_covers(p.region, reg) THEN
		RAISE EXCEPTION 'region % is outside the supervisor''s region %', reg, p.region
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	starts_at := coalesce(starts_at, now());
	IF rule IS NOT NULL AND NOT EXISTS (SELECT 1 FROM rules g WHERE g.code = rule) THEN
		RAISE EXCEPTION 'unknown rule %', rule USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF ends_at IS NULL OR ends_at <= starts_at THEN
		RAISE EXCEPTION 'ends_at must come after starts_at' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF coalesce(btrim(reason), '') = '' THEN
		RAISE EXCEPTION 'a silence needs a reason' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	INSERT INTO silences (rule, dept, item, region, starts_at, ends_at, author, reason)
	VALUES (rule, nullif(dept, ''), nullif(item, ''), reg, starts_at, ends_at, p.name, reason)
	RETURNING id INTO new_id;
	RETURN new_id;
END
$$;

-- Issues the alerts that silences suppressed and no silence covers at `at` any more (unless
-- their rule is off). esupd's jobs call it every tick; returns how many it issued.
CREATE FUNCTION esup_silences_lift(at timestamptz) RETURNS int
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
	SELECT esup_issue_suppressed('silence', NULL, coalesce(at, now()), 'no silence covers it any more')
$$;

-- A supervisor ends a silence of its region early, at `at` (NULL: now()), and what it alone
-- suppressed is issued. Outcome: done, not_found (no such silence, or outside the region),
-- illegal (already ended or expired), forbidden (not an enabled supervisor).
CREATE FUNCTION esup_silence_expire_as(fingerprint text, silence_id bigint,
	at timestamptz DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
	p record;
	s silences%ROWTYPE;
BEGIN
	at := coalesce(at, now());
	SELECT * INTO p FROM esup_principal(fingerprint);
	IF NOT FOUND OR p.role <> 'supervisor' THEN
		RETURN 'forbidden';
	END IF;
	SELECT * INTO s FROM silences x WHERE x.id = silence_id FOR UPDATE;
	IF NOT FOUND OR NOT esup_region_covers(p.region, s.region) THEN
		RETURN 'not_found';
	END IF;
	IF s.expired_at IS NOT NULL OR s.ends_at <= at THEN
		RETURN 'illegal';
	END IF;
	UPDATE silences x SET expired_at = at WHERE x.id = s.id;
	PERFORM esup_silences_lift(at);
	RETURN 'done';
END
$$;

-- ---------------------------------------------------------------- NOTIFY esup_alert

-- Every action row: NOTIFY esup_alert with {"id","action_id","action","rule","severity","dept",
-- "case","region","state","escalation_level"} (state: the action's to_state), sent at COMMIT.
-- A hint to read alert_actions, never the data of record. ENABLE ALWAYS: it also runs for rows
-- a subscription replicates here (federation).
CREATE FUNCTION esup_alert_notify() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
	PERFORM pg_notify('esup_alert', jsonb_build_object('id', a.id, 'action_id', NEW.id,
		'action', NEW.action, 'rule', a.rule, 'severity', a.severity, 'dept', a.dept,
		'case', a.case_no, 'region', a.region, 'state', NEW.to_state,
		'escalation_level', a.escalation_level)::text)
	  FROM alerts a WHERE a.id = NEW.alert_id;
	RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION esup_alert_notify() FROM PUBLIC;
CREATE TRIGGER alert_actions_notify AFTER INSERT ON alert_actions
	FOR EACH ROW EXECUTE FUNCTION esup_alert_notify();
ALTER TABLE alert_actions ENABLE ALWAYS TRIGGER alert_actions_notify;

-- ---------------------------------------------------------------- statistics

-- Alerts for statistics: valid (有效) is a card that was issued (raised open, confirmed from
-- held, or issued after suppression) and not later revoked on appeal (撤消) or dismissed as a
-- false alarm; one only ever held, cancelled or suppressed was never a card. security_invoker:
-- a reader sees through it only the rows it may see in alerts.
CREATE VIEW esup_alerts WITH (security_invoker = true) AS
SELECT a.*,
       a.issued_at IS NOT NULL AND a.status NOT IN ('revoked', 'dismissed', 'cancelled') AS valid
  FROM alerts a;

-- ---------------------------------------------------------------- privileges

REVOKE ALL ON alert_transitions, silences, rule_mode_changes, esup_alerts FROM PUBLIC;
GRANT SELECT ON alert_transitions, silences, rule_mode_changes, esup_alerts
	TO esup_writer, esup_supervisor, esup_auditor;
REVOKE ALL ON FUNCTION esup_silence_covering(text, text, text, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION esup_suppression(text, text, text, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION esup_alert_act_as(text, bigint, text, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION esup_alert_act_system(bigint, text, text, timestamptz, int) FROM PUBLIC;
REVOKE ALL ON FUNCTION esup_rule_mode_as(text, text, text, text, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION esup_silence_add_as(text, text, text, text, text, timestamptz,
	timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION esup_silence_expire_as(text, bigint, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION esup_silences_lift(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION esup_alert_act_as(text, bigint, text, text, timestamptz),
	esup_alert_act_system(bigint, text, text, timestamptz, int),
	esup_rule_mode_as(text, text, text, text, timestamptz),
	esup_silence_add_as(text, text, text, text, text, timestamptz, timestamptz, text),
	esup_silence_expire_as(text, bigint, timestamptz),
	esup_silences_lift(timestamptz)
	TO esup_writer;
