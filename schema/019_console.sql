-- 019_console.sql: the actions a principal may take on an alert now, for the console (issue 10:
-- GET /v1/alerts/{id} answers them as "allowed"), decided by the very function that decides
-- whether an action is applied, so that what is offered and what is accepted cannot disagree.
--
-- esup_alert_step holds every check of 008's esup_alert_transition that does not depend on the
-- request's note or expected_level: the action exists, the alert is the actor's (scope), the
-- role may take the action, the alert's state allows it, and escalate has a region above. It
-- also says where the alert would go and whether a note is required. esup_alert_transition
-- (redefined here, same signature and outcomes, same order of checks) applies what it says;
-- esup_alert_allowed lists the actions for which it says 'ok'.

-- What act by an actor of `role` (with scope_dept / scope_region, as esup_alert_transition
-- takes them) would do to alert a as it is. outcome: 'bad_request' (no such action), 'not_found'
-- (no alert: a.id NULL; or outside the actor's scope), 'forbidden' (the role never takes it),
-- 'illegal' (not from a.status; escalate with no region above), 'ok'. note_required is known
-- from 'forbidden' on (false before); target and up only with 'ok': the state the alert would
-- be in, and for escalate the region it would go to. Owner only, called under its callers'
-- fixed search_path (as esup_silence_covering): no SET clause to pay for at every transition.
CREATE FUNCTION esup_alert_step(a alerts, act text, role text, scope_dept text,
	scope_region text, OUT outcome text, OUT target text, OUT note_required boolean,
	OUT up text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
	t alert_transitions%ROWTYPE;
BEGIN
	note_required := false;
	IF NOT EXISTS (SELECT 1 FROM alert_transitions x WHERE x.action = act) THEN
		outcome := 'bad_request';
		RETURN;
	END IF;
	IF a.id IS NULL OR role IS NULL OR role NOT IN ('department', 'supervisor', 'system')
	   OR (role = 'department' AND a.dept IS DISTINCT FROM scope_dept)
	   OR (role = 'supervisor' AND NOT esup_region_covers(scope_region, a.region)
	       AND NOT esup_region_covers(scope_region, coalesce(a.escalated_to, a.region))) THEN
		outcome := 'not_found';
		RETURN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM alert_transitions x WHERE x.action = act AND x.actor_role = role) THEN
		outcome := 'forbidden';
		RETURN;
	END IF;
	note_required := EXISTS (SELECT 1 FROM alert_transitions x
		WHERE x.action = act AND x.actor_role = role AND x.note_required);
	SELECT * INTO t FROM alert_transitions x
	 WHERE x.action = act AND x.actor_role = role AND x.from_state = a.status;
	IF NOT FOUND THEN
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
	outcome := 'ok';
END
$$;
REVOKE ALL ON FUNCTION esup_alert_step(alerts, text, text, text, text) FROM PUBLIC;

-- 008's function, its decisions now esup_alert_step's. The contract is 008's comment: outcomes
-- done, not_found, forbidden, bad_request (unknown action, missing note), illegal (not from
-- the current state, which status gives; escalate without a region above; expected_level
-- given and not the alert's escalation_level), in that order of checks.
CREATE OR REPLACE FUNCTION esup_alert_transition(alert_id bigint, act text, actor text, role text,
	scope_dept text, scope_region text, note text, at timestamptz, expected_level int,
	why text DEFAULT NULL,
	OUT outcome text, OUT status text, OUT action_id bigint)
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
	a alerts%ROWTYPE;
	s record;
BEGIN
	at := coalesce(at, now());
	IF NOT EXISTS (SELECT 1 FROM alert_transitions x WHERE x.action = act) THEN
		outcome := 'bad_request';
		RETURN;
	END IF;
	SELECT * INTO a FROM alerts x WHERE x.id = alert_id FOR UPDATE;
	SELECT * INTO s FROM esup_alert_step(a, act, role, scope_dept, scope_region);
	IF s.outcome IN ('bad_request', 'not_found') THEN
		outcome := s.outcome;
		RETURN;
	END IF;
	status := a.status;
	IF s.outcome = 'forbidden' THEN
		outcome := 'forbidden';
		RETURN;
	END IF;
	IF s.note_required AND coalesce(btrim(note), '') = '' THEN
		outcome := 'bad_request';
		RETURN;
	END IF;
	IF s.outcome <> 'ok' OR expected_level <> a.escalation_level THEN
		outcome := 'illegal';
		RETURN;
	END IF;
	UPDATE alerts x SET status = s.target, status_at = at,
		appealed_from = CASE WHEN s.target = 'appealed' THEN a.status END,
		suppressed_by = CASE WHEN s.target = 'suppressed' THEN coalesce(why, 'mode') END,
		acknowledged_at = CASE WHEN act = 'ack' THEN at ELSE x.acknowledged_at END,
		issued_at = CASE WHEN s.target = 'open' AND a.status IN ('held', 'suppressed') THEN at
			ELSE x.issued_at END,
		escalation_level = x.escalation_level + CASE WHEN act = 'escalate' THEN 1 ELSE 0 END,
		escalated_to = coalesce(s.up, x.escalated_to)
	 WHERE x.id = a.id;
	-- After the UPDATE: the NOTIFY trigger reads the alert as it now is.
	INSERT INTO alert_actions (alert_id, action, actor, actor_role, note, at, from_state, to_state)
	VALUES (a.id, act, actor, role, coalesce(note, ''), at, a.status, s.target)
	RETURNING id INTO action_id;
	status := s.target;
	outcome := 'done';
END
$$;

-- Every action esup_alert_step says 'ok' to for this actor on alert a, in the order of the
-- documentation's table (ack, appeal, reject, revoke, resolve, dismiss, confirm, cancel,
-- escalate; the daemon's own actions after them). to_state is the state it would lead to.
-- Owner only, called under its callers' fixed search_path like esup_alert_step.
CREATE FUNCTION esup_alert_allowed(a alerts, role text, scope_dept text, scope_region text)
RETURNS TABLE (action text, to_state text, note_required boolean)
LANGUAGE sql STABLE AS $$
	SELECT x.action, s.target, s.note_required
	  FROM (SELECT DISTINCT t.action FROM alert_transitions t WHERE t.actor_role = role) x
	 CROSS JOIN LATERAL esup_alert_step(a, x.action, role, scope_dept, scope_region) s
	 WHERE s.outcome = 'ok'
	 ORDER BY coalesce(array_position(ARRAY['ack', 'appeal', 'reject', 'revoke', 'resolve',
		'dismiss', 'confirm', 'cancel', 'escalate'], x.action), 100), x.action
$$;
REVOKE ALL ON FUNCTION esup_alert_allowed(alerts, text, text, text) FROM PUBLIC;

-- For a certificate's principal (the daemon: GET /v1/alerts/{id}): what esup_alert_act_as
-- would do, not refuse. No row for an unknown or disabled certificate, an auditor or a
-- monitor, an alert outside the principal's scope or none at all.
CREATE FUNCTION esup_alert_allowed_as(fingerprint text, alert_id bigint)
RETURNS TABLE (action text, to_state text, note_required boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
	p record;
	a alerts%ROWTYPE;
BEGIN
	SELECT * INTO p FROM esup_principal(fingerprint);
	IF NOT FOUND OR p.role NOT IN ('department', 'supervisor') THEN
		RETURN;
	END IF;
	SELECT * INTO a FROM alerts x WHERE x.id = alert_id;
	IF FOUND THEN
		RETURN QUERY SELECT * FROM esup_alert_allowed(a, p.role, p.dept, p.region);
	END IF;
END
$$;
REVOKE ALL ON FUNCTION esup_alert_allowed_as(text, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION esup_alert_allowed_as(text, bigint) TO esup_writer;

-- For a person in psql, as esup_alert_act (011) lets them act: their own login role's
-- actions on the alert.
CREATE FUNCTION esup_alert_allowed_mine(alert_id bigint)
RETURNS TABLE (action text, to_state text, note_required boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
	p people%ROWTYPE;
	a alerts%ROWTYPE;
BEGIN
	SELECT * INTO p FROM people x WHERE x.rolname = session_user;
	IF NOT FOUND OR p.role NOT IN ('department', 'supervisor') THEN
		RETURN;
	END IF;
	SELECT * INTO a FROM alerts x WHERE x.id = alert_id;
	IF FOUND THEN
		RETURN QUERY SELECT * FROM esup_alert_allowed(a, p.role, p.dept, p.region);
	END IF;
END
$$;
REVOKE ALL ON FUNCTION esup_alert_allowed_mine(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION esup_alert_allowed_mine(bigint) TO esup_supervisor, esup_auditor;
