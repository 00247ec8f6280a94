-- 035: a department sees its alert once it is issued to it, not while it is held (待发),
-- cancelled (held and never issued) or suppressed (its rule off, or a silence).
--
-- A rule in mode hold raises its alerts held: nobody is notified until a supervisor confirms
-- (docs/supervising.md), and `open` means issued to the department (docs/protocol.md). Until
-- now a department read its held and suppressed alerts like any other: through the API (the
-- daemon's ALERT_SCOPE_SQL and its stream, daemon/alert.h), in psql under the row security of
-- 011, and in esup_alert_step's answers (an `ack` of a held alert was `illegal` with status
-- `held`, telling the department what it was not to know). The states hidden from a department
-- are daemon/alert.h's ALERT_DEPT_HIDDEN_SQL; supervisors and auditors see every state.

-- Department staff in psql (members of esup_auditor with a `people` row of role department,
-- for whom esup_person_region() is NULL): their department's alerts in an issued state only.
-- Supervisors and auditors (a region, '' for everywhere) as in 011. alert_actions' policy reads
-- alerts under this one, so an action row is seen with its alert, and esup_alerts (a
-- security_invoker view) likewise.
ALTER POLICY person ON alerts
	USING ((dept = ANY ((SELECT esup_person_depts())::text[])
	        AND ((SELECT esup_person_region()) IS NOT NULL
	             OR status NOT IN ('held', 'cancelled', 'suppressed')))
	       OR esup_scope_covers((SELECT esup_person_region()), region)
	       OR esup_scope_covers((SELECT esup_person_region()), escalated_to));

-- 019's function, with one more check: for a department, an alert in a hidden state is
-- 'not_found', as one of another department is (the API's 404, psql's not_found), whatever the
-- action. Everything else as 019 says, in the same order.
CREATE OR REPLACE FUNCTION esup_alert_step(a alerts, act text, role text, scope_dept text,
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
	   OR (role = 'department' AND (a.dept IS DISTINCT FROM scope_dept
	       OR a.status IN ('held', 'cancelled', 'suppressed')))
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
