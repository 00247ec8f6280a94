-- 021_corrections.sql: a department corrects a wrong event by an event.corrected that voids
-- or replaces an earlier event of its own, by id, with a reason (docs/protocol.md). The
-- original stays in events (append-only); libmonitor re-derives the case without it
-- (docs/rules.md, "Corrections"). Here: the `correct` step of an alert that no longer holds
-- because of a correction (resolved, or cancelled when held, with the correcting principal as
-- actor and the reason as note), the group an event without a case is judged again in, the
-- cross-case context without voided events, and the count of corrections per department and
-- day, with the view auditors read (esup_stats.corrections_month).

-- ---------------------------------------------------------------- the `correct` step

-- Like the system's resolve: the condition no longer holds, because the department corrected
-- an event its evidence names. actor_role 'system' (esupd applies it); the actor recorded is
-- the principal that sent the correction (its subject), or the department.
INSERT INTO alert_transitions (action, from_state, to_state, actor_role, note_required) VALUES
	('correct', 'open',         'resolved',  'system', false),
	('correct', 'acknowledged', 'resolved',  'system', false),
	('correct', 'appealed',     'resolved',  'system', false),
	('correct', 'suppressed',   'resolved',  'system', false),
	('correct', 'held',         'cancelled', 'system', false);

-- Finds a correction by its target: the department's corrections of an event, by (dept, of).
CREATE INDEX events_corrections ON events (dept, (body->>'of')) WHERE type = 'event.corrected';

-- The correction that took away an event alert alert_id's evidence names, among the ids the
-- evaluation lists as corrected: the latest (at, received, id) correction in effect at
-- `at` of one of them. actor: the subject of the principal that sent it (the fingerprint
-- when it has none), else the department; note: 'corrected by the department: ' and its
-- reason. No row when the alert's evidence names none of them.
CREATE FUNCTION esup_correction_of(d text, alert_id bigint, corrected text[], at timestamptz)
RETURNS TABLE (actor text, note text, correction text)
LANGUAGE sql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
	SELECT coalesce((SELECT nullif(p.subject, '') FROM principals p
			 WHERE p.fingerprint = e.principal), nullif(e.principal, ''), d),
	       'corrected by the department (' || (e.body->>'action') || ' of '
		|| (e.body->>'of') || ' by ' || e.event_id || '): ' || (e.body->>'reason'),
	       e.event_id
	  FROM alerts a
	  CROSS JOIN LATERAL jsonb_array_elements_text(a.evidence) ev(id)
	  JOIN events e ON e.dept = d AND e.type = 'event.corrected' AND e.body->>'of' = ev.id
	 WHERE a.id = alert_id AND ev.id = ANY (corrected) AND e.at <= at
	 ORDER BY e.at DESC, e.received_at DESC, e.event_id DESC
	 LIMIT 1
$$;
REVOKE ALL ON FUNCTION esup_correction_of(text, bigint, text[], timestamptz) FROM PUBLIC;

-- True when a void stands against the department's event id: a void of it that is not
-- itself voided (a void of a void restores). Used where other cases' events are context.
CREATE FUNCTION esup_event_voided(d text, id text) RETURNS boolean
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
	v record;
BEGIN
	FOR v IN SELECT e.event_id FROM events e
		  WHERE e.dept = d AND e.type = 'event.corrected' AND e.body->>'of' = id
		    AND e.body->>'action' = 'void' AND e.event_id <> id
	LOOP
		IF NOT esup_event_voided(d, v.event_id) THEN
			RETURN true;
		END IF;
	END LOOP;
	RETURN false;
END
$$;
REVOKE ALL ON FUNCTION esup_event_voided(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION esup_event_voided(text, text) TO esup_writer;

-- esup_latest_penalty as in 007, a voided penalty left out: it no longer makes a first
-- offence a repeated one.
CREATE OR REPLACE FUNCTION esup_latest_penalty(subject text, since timestamptz, before timestamptz,
	dept text, case_no text)
RETURNS TABLE (seq bigint, dept text, case_no text, body jsonb, received_at timestamptz)
LANGUAGE sql STABLE SET enable_sort = off SET search_path = public, pg_temp AS $$
	SELECT e.seq, e.dept, e.case_no, e.body, e.received_at FROM events e
	WHERE esup_event_subject(e.type, e.body) = $1
	  AND e.type IN ('penalty.decided', 'inspection.started') AND e.type = 'penalty.decided'
	  AND e.at >= $2 AND e.at < $3 AND (e.dept, e.case_no) IS DISTINCT FROM ($4, $5)
	  AND NOT esup_event_voided(e.dept, e.event_id)
	ORDER BY e.at DESC LIMIT 1
$$;

-- The event without a case that correction `id` of department d corrects, at the root of its
-- chain (a correction of a correction ...), with every correction of it and of those, by
-- seq: what libmonitor judges it with again (cases.c).
CREATE FUNCTION esup_loose_group(d text, id text)
RETURNS TABLE (seq bigint, dept text, body jsonb, received_at timestamptz)
LANGUAGE sql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
	WITH RECURSIVE up AS (
		SELECT e.event_id, e.type, e.body, 0 AS depth FROM events e
		 JOIN event_ids k ON k.seq = e.seq AND k.received_at = e.received_at
		 WHERE k.dept = d AND k.event_id = id AND e.case_no IS NULL
		UNION ALL
		SELECT e.event_id, e.type, e.body, up.depth + 1 FROM up
		 JOIN event_ids k ON k.dept = d AND k.event_id = up.body->>'of'
		 JOIN events e ON e.seq = k.seq AND e.received_at = k.received_at
		 WHERE up.type = 'event.corrected' AND e.case_no IS NULL AND up.depth < 10000
	), root AS (
		SELECT u.event_id FROM up u WHERE u.type <> 'event.corrected' LIMIT 1
	), down AS (
		SELECT e.seq, e.event_id FROM root
		 JOIN event_ids k ON k.dept = d AND k.event_id = root.event_id
		 JOIN events e ON e.seq = k.seq AND e.received_at = k.received_at
		UNION
		SELECT e.seq, e.event_id FROM down
		 JOIN events e ON e.dept = d AND e.type = 'event.corrected'
		  AND e.body->>'of' = down.event_id AND e.case_no IS NULL
	)
	SELECT e.seq, e.dept, e.body, e.received_at FROM down
	  JOIN event_ids k ON k.dept = d AND k.event_id = down.event_id
	  JOIN events e ON e.seq = k.seq AND e.received_at = k.received_at
	 ORDER BY e.seq
$$;
REVOKE ALL ON FUNCTION esup_loose_group(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION esup_loose_group(text, text) TO esup_writer;

-- ---------------------------------------------------------------- evaluations

-- esup_apply_evaluation as in 013, with the evaluation's "corrected" list (the ids of the
-- events the department's corrections in effect voided or replaced): a live alert whose
-- condition is gone and whose evidence names one of them takes the `correct` step
-- (resolved, or cancelled when held) with the correction's principal and reason; for an event
-- without a case (no case row, no alerts resolved before) the same is done for the
-- department's caseless alerts whose evidence names a corrected id. A condition closed by a
-- correction that comes out again (a void of the void) is raised anew.
CREATE OR REPLACE FUNCTION esup_apply_evaluation(evaluation jsonb, evaluated_at timestamptz)
RETURNS TABLE (alert_id bigint, action text, rule text, severity text, message text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
	d text := evaluation->>'dept';
	c text := nullif(evaluation->>'case', '');
	i text := nullif(evaluation->>'item', '');
	f jsonb := evaluation->'facts';
	actor text := session_user;
	reg text;
	disabled text[];
	cond jsonb;
	new_id bigint;
	state text;
	why text;
	old record;
	r record;
	corrected text[];
	fix record;
BEGIN
	IF d IS NULL OR evaluated_at IS NULL
	   OR jsonb_typeof(coalesce(evaluation->'conditions', '[]')) <> 'array'
	   OR jsonb_typeof(coalesce(evaluation->'disabled', '[]')) <> 'array' THEN
		PERFORM esup_refuse_evaluation('no department, time or condition list', evaluation::text);
	END IF;
	disabled := ARRAY(SELECT jsonb_array_elements_text(coalesce(evaluation->'disabled', '[]')));
	IF jsonb_typeof(coalesce(evaluation->'corrected', '[]')) <> 'array' THEN
		PERFORM esup_refuse_evaluation('a corrected list that is not an array', evaluation::text);
	END IF;
	corrected := ARRAY(SELECT jsonb_array_elements_text(coalesce(evaluation->'corrected', '[]')));
	SELECT coalesce(dp.region, '') INTO reg FROM departments dp WHERE dp.code = d;
	reg := coalesce(reg, '');
	IF c IS NOT NULL THEN
		IF NOT EXISTS (SELECT 1 FROM events e WHERE e.dept = d AND e.case_no = c) THEN
			PERFORM esup_refuse_evaluation('case without stored events', d || '/' || c);
		END IF;
		-- An evaluation without facts (one written by hand, not by libmonitor) keeps the
		-- facts the row has: to_jsonb names them as the facts object does.
		IF f IS NULL THEN
			SELECT to_jsonb(k) INTO f FROM cases k WHERE k.dept = d AND k.case_no = c;
			f := coalesce(f, '{}');
		END IF;
		IF jsonb_typeof(f) <> 'object' THEN
			PERFORM esup_refuse_evaluation('facts that are not an object', d || '/' || c);
		END IF;
		INSERT INTO cases AS k (dept, case_no, item, status, unit, committed_days, statutory_days,
			counted_days, suspended_days, committed_day, statutory_day, level, next_check_at, evaluated_at,
			kind, received_at, accepted_at, closed_at, result, reported, supplements,
			on_time_committed, on_time_statutory, replied_at, reply_on_time, close_on_time, applicant)
		VALUES (d, c, evaluation->>'item', evaluation->>'status', evaluation->>'unit',
			(evaluation->>'committed_days')::int, (evaluation->>'statutory_days')::int,
			(evaluation->>'counted_days')::int, (evaluation->>'suspended_days')::int,
			(evaluation->>'committed_day')::date, (evaluation->>'statutory_day')::date,
			evaluation->>'level', (evaluation->>'next_check')::timestamptz, evaluated_at,
			coalesce(f->>'kind', 'approval'), (f->>'received_at')::timestamptz, (f->>'accepted_at')::timestamptz,
			(f->>'closed_at')::timestamptz, f->>'result', (f->>'reported')::boolean,
			coalesce((f->>'supplements')::int, 0), (f->>'on_time_committed')::boolean,
			(f->>'on_time_statutory')::boolean, (f->>'replied_at')::timestamptz,
			(f->>'reply_on_time')::boolean, (f->>'close_on_time')::boolean, f->>'applicant')
		ON CONFLICT ON CONSTRAINT cases_pkey DO UPDATE SET
			item = EXCLUDED.item, status = EXCLUDED.status, unit = EXCLUDED.unit,
			committed_days = EXCLUDED.committed_days, statutory_days = EXCLUDED.statutory_days,
			counted_days = EXCLUDED.counted_days, suspended_days = EXCLUDED.suspended_days,
			committed_day = EXCLUDED.committed_day, statutory_day = EXCLUDED.statutory_day,
			level = EXCLUDED.level, next_check_at = EXCLUDED.next_check_at,
			evaluated_at = EXCLUDED.evaluated_at,
			kind = EXCLUDED.kind, received_at = EXCLUDED.received_at,
			accepted_at = EXCLUDED.accepted_at, closed_at = EXCLUDED.closed_at,
			result = EXCLUDED.result, reported = EXCLUDED.reported,
			supplements = EXCLUDED.supplements, on_time_committed = EXCLUDED.on_time_committed,
			on_time_statutory = EXCLUDED.on_time_statutory, replied_at = EXCLUDED.replied_at,
			reply_on_time = EXCLUDED.reply_on_time, close_on_time = EXCLUDED.close_on_time,
			applicant = EXCLUDED.applicant;

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
				SELECT * INTO fix FROM esup_correction_of(d, old.id, corrected, evaluated_at);
				IF FOUND THEN
					r := esup_alert_transition(old.id, 'correct', fix.actor, 'system', NULL, NULL,
						fix.note, evaluated_at, NULL);
				ELSE
					r := esup_alert_transition(old.id, 'resolve', actor, 'system', NULL, NULL,
						'condition no longer holds: a late event, or changed rules or reference data',
						evaluated_at, NULL);
				END IF;
			END IF;
			RETURN QUERY SELECT old.id, r.status, old.rule, old.severity, old.message;
		END LOOP;
	ELSIF cardinality(corrected) > 0 THEN
		-- An event without a case judged again with its corrections: its live alerts whose
		-- evidence names what the department corrected, and whose condition is gone.
		FOR old IN
			SELECT a.id, a.rule, a.severity, a.message, a.status FROM alerts a
			WHERE a.dept = d AND a.case_no IS NULL
			  AND a.status IN ('held', 'open', 'acknowledged', 'appealed', 'suppressed')
			  AND a.evidence ?| corrected
			  AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(evaluation->'conditions') x
					  WHERE x->>'key' = a.dedup_key)
			ORDER BY a.id
		LOOP
			SELECT * INTO fix FROM esup_correction_of(d, old.id, corrected, evaluated_at);
			CONTINUE WHEN NOT FOUND;
			r := esup_alert_transition(old.id, 'correct', fix.actor, 'system', NULL, NULL,
				fix.note, evaluated_at, NULL);
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
		-- A condition that was already raised and closed stays closed; unless a correction
		-- closed it and a later one (a void of the void) brought it back: raised anew.
		CONTINUE WHEN EXISTS (SELECT 1 FROM alerts a WHERE a.dedup_key = cond->>'key'
				      AND a.status IN ('resolved', 'dismissed', 'revoked', 'cancelled', 'superseded')
				      AND a.since = (cond->>'since')::timestamptz
				      AND NOT EXISTS (SELECT 1 FROM alert_actions x
						      WHERE x.alert_id = a.id AND x.action = 'correct'));
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

-- ---------------------------------------------------------------- the count

-- Corrections per department and day of their business time: voids and replaces. Kept by a
-- trigger in the transaction that stores them (ENABLE ALWAYS: replicated events are counted
-- where they arrive, as 014's rollups). The corrections are also counted in stat_event_day's
-- events, as any event.
CREATE TABLE stat_correction_day (
	dept text NOT NULL,
	day date NOT NULL,
	voids bigint NOT NULL DEFAULT 0,
	replaces bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (dept, day)
);
REVOKE ALL ON stat_correction_day FROM PUBLIC;
GRANT SELECT ON stat_correction_day TO esup_writer, esup_supervisor, esup_auditor;
ALTER TABLE stat_correction_day ENABLE ROW LEVEL SECURITY;
CREATE POLICY daemon ON stat_correction_day FOR SELECT TO esup_writer USING (true);
CREATE POLICY person ON stat_correction_day FOR SELECT TO esup_supervisor, esup_auditor
	USING (dept = ANY ((SELECT esup_person_depts())::text[]));

CREATE FUNCTION esup_stat_corrections() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
	INSERT INTO stat_correction_day AS s
	SELECT r.dept, (r.at AT TIME ZONE 'Asia/Shanghai')::date,
	       count(*) FILTER (WHERE r.body->>'action' = 'void'),
	       count(*) FILTER (WHERE r.body->>'action' = 'replace')
	  FROM new_rows r WHERE r.type = 'event.corrected'
	 GROUP BY 1, 2
	 ORDER BY 1, 2
	ON CONFLICT (dept, day) DO UPDATE SET
		voids = s.voids + EXCLUDED.voids,
		replaces = s.replaces + EXCLUDED.replaces;
	RETURN NULL;
END
$$;
CREATE TRIGGER events_stat_corrections
	AFTER INSERT ON events REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION esup_stat_corrections();
ALTER TABLE events ENABLE ALWAYS TRIGGER events_stat_corrections;

CREATE FUNCTION esup_stats_computed_correction_day() RETURNS SETOF stat_correction_day
LANGUAGE sql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
	SELECT e.dept, (e.at AT TIME ZONE 'Asia/Shanghai')::date,
	       count(*) FILTER (WHERE e.body->>'action' = 'void'),
	       count(*) FILTER (WHERE e.body->>'action' = 'replace')
	  FROM events e WHERE e.type = 'event.corrected' GROUP BY 1, 2
$$;

-- esup_stats_rebuild and esup_stats_check as in 014, with stat_correction_day.
CREATE OR REPLACE FUNCTION esup_stats_rebuild() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
	n bigint;
	total bigint := 0;
BEGIN
	LOCK TABLE stat_case_day, stat_event_day, stat_penalty_day, stat_alert_day,
		stat_enterprise_day, stat_correction_day IN EXCLUSIVE MODE;
	TRUNCATE stat_case_day, stat_event_day, stat_penalty_day, stat_alert_day, stat_enterprise_day,
		stat_correction_day;
	INSERT INTO stat_case_day SELECT * FROM esup_stats_computed_case_day();
	GET DIAGNOSTICS n = ROW_COUNT;
	total := total + n;
	INSERT INTO stat_event_day SELECT * FROM esup_stats_computed_event_day();
	GET DIAGNOSTICS n = ROW_COUNT;
	total := total + n;
	INSERT INTO stat_penalty_day SELECT * FROM esup_stats_computed_penalty_day();
	GET DIAGNOSTICS n = ROW_COUNT;
	total := total + n;
	INSERT INTO stat_alert_day SELECT * FROM esup_stats_computed_alert_day();
	GET DIAGNOSTICS n = ROW_COUNT;
	total := total + n;
	INSERT INTO stat_enterprise_day SELECT * FROM esup_stats_computed_enterprise_day();
	GET DIAGNOSTICS n = ROW_COUNT;
	total := total + n;
	INSERT INTO stat_correction_day SELECT * FROM esup_stats_computed_correction_day();
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN total + n;
END
$$;

CREATE OR REPLACE FUNCTION esup_stats_check()
RETURNS TABLE (rollup text, key jsonb, kept jsonb, computed jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
	SELECT 'stat_case_day', jsonb_build_object('dept', coalesce(k.dept, c.dept),
		'item', coalesce(k.item, c.item), 'day', coalesce(k.day, c.day)),
	       to_jsonb(k) - '{dept,item,day}'::text[], to_jsonb(c) - '{dept,item,day}'::text[]
	  FROM stat_case_day k FULL JOIN esup_stats_computed_case_day() c
	    ON (k.dept, k.item, k.day) = (c.dept, c.item, c.day)
	 WHERE esup_stat_rows_differ(to_jsonb(k) - '{dept,item,day}'::text[],
				     to_jsonb(c) - '{dept,item,day}'::text[])
	UNION ALL
	SELECT 'stat_event_day', jsonb_build_object('dept', coalesce(k.dept, c.dept),
		'day', coalesce(k.day, c.day)),
	       to_jsonb(k) - '{dept,day}'::text[], to_jsonb(c) - '{dept,day}'::text[]
	  FROM stat_event_day k FULL JOIN esup_stats_computed_event_day() c
	    ON (k.dept, k.day) = (c.dept, c.day)
	 WHERE esup_stat_rows_differ(to_jsonb(k) - '{dept,day}'::text[],
				     to_jsonb(c) - '{dept,day}'::text[])
	UNION ALL
	SELECT 'stat_penalty_day', jsonb_build_object('dept', coalesce(k.dept, c.dept),
		'day', coalesce(k.day, c.day), 'band', coalesce(k.band, c.band),
		'office', coalesce(k.office, c.office)),
	       to_jsonb(k) - '{dept,day,band,office}'::text[], to_jsonb(c) - '{dept,day,band,office}'::text[]
	  FROM stat_penalty_day k FULL JOIN esup_stats_computed_penalty_day() c
	    ON (k.dept, k.day, k.band, k.office) = (c.dept, c.day, c.band, c.office)
	 WHERE esup_stat_rows_differ(to_jsonb(k) - '{dept,day,band,office}'::text[],
				     to_jsonb(c) - '{dept,day,band,office}'::text[])
	UNION ALL
	SELECT 'stat_alert_day', jsonb_build_object('dept', coalesce(k.dept, c.dept),
		'rule', coalesce(k.rule, c.rule), 'severity', coalesce(k.severity, c.severity),
		'day', coalesce(k.day, c.day)),
	       to_jsonb(k) - '{dept,rule,severity,day}'::text[],
	       to_jsonb(c) - '{dept,rule,severity,day}'::text[]
	  FROM stat_alert_day k FULL JOIN esup_stats_computed_alert_day() c
	    ON (k.dept, k.rule, k.severity, k.day) = (c.dept, c.rule, c.severity, c.day)
	 WHERE esup_stat_rows_differ(to_jsonb(k) - '{dept,rule,severity,day}'::text[],
				     to_jsonb(c) - '{dept,rule,severity,day}'::text[])
	UNION ALL
	SELECT 'stat_enterprise_day', jsonb_build_object('applicant', coalesce(k.applicant, c.applicant),
		'dept', coalesce(k.dept, c.dept), 'day', coalesce(k.day, c.day)),
	       to_jsonb(k) - '{applicant,dept,day}'::text[], to_jsonb(c) - '{applicant,dept,day}'::text[]
	  FROM stat_enterprise_day k FULL JOIN esup_stats_computed_enterprise_day() c
	    ON (k.applicant, k.dept, k.day) = (c.applicant, c.dept, c.day)
	 WHERE esup_stat_rows_differ(to_jsonb(k) - '{applicant,dept,day}'::text[],
				     to_jsonb(c) - '{applicant,dept,day}'::text[])
	UNION ALL
	SELECT 'stat_correction_day', jsonb_build_object('dept', coalesce(k.dept, c.dept),
		'day', coalesce(k.day, c.day)),
	       to_jsonb(k) - '{dept,day}'::text[], to_jsonb(c) - '{dept,day}'::text[]
	  FROM stat_correction_day k FULL JOIN esup_stats_computed_correction_day() c
	    ON (k.dept, k.day) = (c.dept, c.day)
	 WHERE esup_stat_rows_differ(to_jsonb(k) - '{dept,day}'::text[],
				     to_jsonb(c) - '{dept,day}'::text[])
	 ORDER BY 1, 2
$$;
REVOKE ALL ON FUNCTION esup_stat_corrections(), esup_stats_computed_correction_day(),
	esup_stats_rebuild(), esup_stats_check() FROM PUBLIC;

-- The view auditors read: corrections per department and Shanghai month.
CREATE VIEW esup_stats.corrections_month WITH (security_invoker = true) AS
SELECT s.dept, d.name AS dept_name, d.region, date_trunc('month', s.day::timestamp)::date AS period,
       to_char(date_trunc('month', s.day::timestamp), 'YYYY-MM') AS label,
       sum(s.voids)::bigint AS voids, sum(s.replaces)::bigint AS replaces,
       sum(s.voids + s.replaces)::bigint AS corrections
  FROM stat_correction_day s LEFT JOIN departments d ON d.code = s.dept
 GROUP BY s.dept, d.name, d.region, 4, 5;

COMMENT ON VIEW esup_stats.corrections_month IS
	'各部门每月纠错（作废、更正）corrections (event.corrected) per department and Shanghai month, by the correction''s business day';
COMMENT ON COLUMN esup_stats.corrections_month.dept IS '部门代码 department code';
COMMENT ON COLUMN esup_stats.corrections_month.dept_name IS '部门名称 department name';
COMMENT ON COLUMN esup_stats.corrections_month.region IS '行政区划 the department''s region';
COMMENT ON COLUMN esup_stats.corrections_month.period IS '月份首日（上海日历）first day of the Asia/Shanghai month of the corrections'' business time';
COMMENT ON COLUMN esup_stats.corrections_month.label IS '月份标签 month label, 2026-03';
COMMENT ON COLUMN esup_stats.corrections_month.voids IS '作废数 corrections with action void';
COMMENT ON COLUMN esup_stats.corrections_month.replaces IS '更正数 corrections with action replace';
COMMENT ON COLUMN esup_stats.corrections_month.corrections IS '纠错总数 voids + replaces';

REVOKE ALL ON esup_stats.corrections_month FROM PUBLIC;
GRANT SELECT ON esup_stats.corrections_month TO esup_writer, esup_supervisor, esup_auditor;

-- The corrections stored before this migration.
INSERT INTO stat_correction_day SELECT * FROM esup_stats_computed_correction_day();
