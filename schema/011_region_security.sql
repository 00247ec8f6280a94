-- 011_region_security.sql: people who log in to the database themselves (supervisors,
-- auditors, department staff in psql), what they may see, and how they act on alerts.
--
-- A person is a LOGIN role made by `esup-dbsetup person add` (as the PostgreSQL superuser: only
-- it may create roles), a member of esup_supervisor (supervisors) or esup_auditor (auditors and
-- department staff: the group gives reading, the row below the scope), with a row in `people`
-- saying its role, department and region. Row-level security then scopes what a member of
-- either group reads: a department's staff see their department's rows; supervisors and
-- auditors those of the departments their region covers (by code prefix, 410000 ⊃ 410300 ⊃
-- 410302; region '' : everywhere). A member without a `people` row sees nothing. The daemon's
-- role (esup_writer) has a policy that lets it see and write as before; the owner, and
-- therefore every SECURITY DEFINER function, is not subject to row security.

CREATE TABLE people (
	rolname text PRIMARY KEY CHECK (rolname ~ '^[a-z_][a-z0-9_]{0,62}$'),
	role text NOT NULL CHECK (role IN ('supervisor', 'auditor', 'department')),
	dept text REFERENCES departments (code),
	region text NOT NULL DEFAULT '' CHECK (region ~ '^([0-9]{6})?$'),
	created_at timestamptz NOT NULL DEFAULT now(),
	CHECK ((role = 'department') = (dept IS NOT NULL))
);

-- The person logged in (session_user: SET ROLE to a group keeps the person's scope).
-- esup_person_depts: the departments whose rows it sees (none when it is no person);
-- esup_person_region: the region it supervises or audits, NULL for department staff and
-- non-persons. Called once per statement from the policies (as an InitPlan: `(SELECT f())`).
CREATE FUNCTION esup_person_depts() RETURNS text[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
	SELECT coalesce(array_agg(d.code), '{}') FROM people p JOIN departments d
	    ON (p.role = 'department' AND d.code = p.dept)
	    OR (p.role <> 'department' AND esup_region_covers(p.region, d.region))
	 WHERE p.rolname = session_user
$$;

CREATE FUNCTION esup_person_region() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
	SELECT p.region FROM people p WHERE p.rolname = session_user AND p.role <> 'department'
$$;

-- scope covers region, where a NULL scope (no person, or department staff) covers nothing.
CREATE FUNCTION esup_scope_covers(scope text, region text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT scope IS NOT NULL AND region IS NOT NULL AND esup_region_covers(scope, region)
$$;

-- ---------------------------------------------------------------- row-level security

ALTER TABLE events ENABLE ROW LEVEL SECURITY;
ALTER TABLE event_ids ENABLE ROW LEVEL SECURITY;
ALTER TABLE cases ENABLE ROW LEVEL SECURITY;
ALTER TABLE alerts ENABLE ROW LEVEL SECURITY;
ALTER TABLE alert_actions ENABLE ROW LEVEL SECURITY;
ALTER TABLE silences ENABLE ROW LEVEL SECURITY;
ALTER TABLE people ENABLE ROW LEVEL SECURITY;

-- The daemon: everything its grants allow, as before.
CREATE POLICY daemon ON events TO esup_writer USING (true) WITH CHECK (true);
CREATE POLICY daemon ON event_ids TO esup_writer USING (true) WITH CHECK (true);
CREATE POLICY daemon ON cases TO esup_writer USING (true) WITH CHECK (true);
CREATE POLICY daemon ON alerts TO esup_writer USING (true) WITH CHECK (true);
CREATE POLICY daemon ON alert_actions TO esup_writer USING (true) WITH CHECK (true);
CREATE POLICY daemon ON silences TO esup_writer USING (true) WITH CHECK (true);
CREATE POLICY daemon ON people TO esup_writer USING (true) WITH CHECK (true);

-- People: reading, within their scope. Partitions of events have no grant for anyone but the
-- owner, so a person reads events only through `events`, where this policy applies.
CREATE POLICY person ON events FOR SELECT TO esup_supervisor, esup_auditor
	USING (dept = ANY ((SELECT esup_person_depts())::text[]));
CREATE POLICY person ON event_ids FOR SELECT TO esup_supervisor, esup_auditor
	USING (dept = ANY ((SELECT esup_person_depts())::text[]));
CREATE POLICY person ON cases FOR SELECT TO esup_supervisor, esup_auditor
	USING (dept = ANY ((SELECT esup_person_depts())::text[]));
-- An alert is also seen by the region it was escalated to (督办).
CREATE POLICY person ON alerts FOR SELECT TO esup_supervisor, esup_auditor
	USING (dept = ANY ((SELECT esup_person_depts())::text[])
	       OR esup_scope_covers((SELECT esup_person_region()), region)
	       OR esup_scope_covers((SELECT esup_person_region()), escalated_to));
-- An action row is seen with its alert (the subquery is itself under alerts' policy).
CREATE POLICY person ON alert_actions FOR SELECT TO esup_supervisor, esup_auditor
	USING (EXISTS (SELECT 1 FROM alerts a WHERE a.id = alert_id));
CREATE POLICY person ON silences FOR SELECT TO esup_supervisor, esup_auditor
	USING (esup_scope_covers((SELECT esup_person_region()), region)
	       OR dept = ANY ((SELECT esup_person_depts())::text[]));
CREATE POLICY person ON people FOR SELECT TO esup_supervisor, esup_auditor
	USING (rolname = session_user);

GRANT SELECT ON people TO esup_writer, esup_supervisor, esup_auditor;
GRANT SELECT ON silences, rule_mode_changes, alert_transitions TO esup_supervisor, esup_auditor;
REVOKE ALL ON FUNCTION esup_person_depts() FROM PUBLIC;
REVOKE ALL ON FUNCTION esup_person_region() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION esup_person_depts(), esup_person_region()
	TO esup_writer, esup_supervisor, esup_auditor;

-- ---------------------------------------------------------------- acting in psql

-- A person acts on an alert under the same rules as a certificate's principal (008,
-- esup_alert_transition): department staff on their department's alerts (ack, appeal),
-- supervisors within their region; auditors, and roles without a `people` row: forbidden.
-- The actor recorded is the login role. Returns (outcome, status, action_id) like
-- esup_alert_act_as.
CREATE FUNCTION esup_alert_act(alert_id bigint, action text, note text)
RETURNS TABLE (outcome text, status text, action_id bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
	p people%ROWTYPE;
BEGIN
	SELECT * INTO p FROM people x WHERE x.rolname = session_user;
	IF NOT FOUND OR p.role NOT IN ('department', 'supervisor') THEN
		RETURN QUERY SELECT 'forbidden'::text, NULL::text, NULL::bigint;
		RETURN;
	END IF;
	RETURN QUERY SELECT * FROM esup_alert_transition(alert_id, action, session_user::text,
		p.role, p.dept, p.region, note, now(), NULL);
END
$$;
REVOKE ALL ON FUNCTION esup_alert_act(bigint, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION esup_alert_act(bigint, text, text) TO esup_supervisor, esup_auditor;
