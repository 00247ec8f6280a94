-- 027_case_events_from.sql: a case's events are read from the partitions that can hold them,
-- not from every month since the first (issue 12, "history reads bounded to the partitions a
-- case can touch").
--
-- events is partitioned by month of receipt. The history's read (esupd's, for every batch and
-- every due case) and esup_apply_evaluation's check that the case has stored events found a
-- case's events by (dept, case_no) on every partition: a year of partitions cost 11-15% of the
-- ingest rate against a new database (docs/performance.md, "Flat with history"), and the cost
-- grew by a partition a month. A case's events are received within its life, so the case row
-- now keeps a lower bound of their receipt times:
--
-- cases.events_from: no event of the case was received before it. esupd's lock step (the
-- INSERT ... ON CONFLICT that makes and locks the case rows of a batch, daemon/cases.c) sets it
-- to the batch's earliest receipt time on a new row and lowers it to that on an existing one, in
-- the transaction that stores the events, under the row lock: a transaction of another writer
-- or daemon that stored an earlier event of the case lowers it when it takes the lock, before it
-- commits. NULL: not known (every case from before this migration, or a row
-- esup_apply_evaluation made from an evaluation written by hand): all partitions are read, as
-- before, and the bound is never set on such a row again (a NULL is never lowered to a time).
--
-- The reads take it as a parameter of a generic plan, so PostgreSQL prunes the partitions
-- before it when the plan starts (initial pruning): neither planned nor opened.
ALTER TABLE cases ADD COLUMN events_from timestamptz;

-- The events of the cases keyed in keys (a JSON array of {"d": dept, "c": case}), n of them
-- (without repeats: the planner's estimate of the keys, as in esupd's other reads): for each,
-- seq, dept, case, body and receipt time in epoch seconds, unordered. The bound is the least of
-- the cases' events_from; none when one of them is NULL or has no row. One plan per session,
-- generic: the bound prunes the partitions at the plan's start, and with sequential scans off a
-- partition empty when the plan was made (next month's) is read through its case index when it
-- fills, not scanned whole for every key until the plan is made again. A case at a time
-- (LATERAL, OFFSET 0): its events by the case index, never a hash of the keys.
CREATE FUNCTION esup_case_events(keys jsonb, n bigint)
RETURNS TABLE (seq bigint, dept text, case_no text, body text, received bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, public, pg_temp
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off AS $$
DECLARE
	bound timestamptz;
	known bigint;
BEGIN
	-- Planned at each call with the table as it is: a generic plan made while cases was
	-- small took its (dept, item, closed_at) index for the key, and read a department's cases
	-- for every key once the table grew (a one-event request 2 ms slower).
	EXECUTE 'SELECT count(*), min(coalesce(k.events_from, ''-infinity''))'
		' FROM (SELECT * FROM jsonb_to_recordset($1) AS r(d text, c text) LIMIT $2) r'
		' JOIN cases k ON k.dept = r.d AND k.case_no = r.c'
		INTO known, bound USING keys, n;
	IF known < n THEN
		bound := '-infinity';
	END IF;
	RETURN QUERY
	SELECT e.seq, e.dept, e.case_no, e.body::text, floor(extract(epoch FROM e.received_at))::bigint
	  FROM (SELECT * FROM jsonb_to_recordset(keys) AS r(d text, c text) LIMIT n) r
	  CROSS JOIN LATERAL (SELECT x.seq, x.dept, x.case_no, x.body, x.received_at FROM events x
		WHERE x.dept = r.d AND x.case_no = r.c AND x.received_at >= bound OFFSET 0) e;
END
$$;
REVOKE ALL ON FUNCTION esup_case_events(jsonb, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION esup_case_events(jsonb, bigint) TO esup_writer;

-- esup_check_condition as in 017, given the case's events_from: its search of the evidence
-- among the case's events starts there too. The one caller is esup_apply_evaluation.
DROP FUNCTION esup_check_condition(jsonb, text, text);
CREATE FUNCTION esup_check_condition(cond jsonb, d text, c text, bound timestamptz) RETURNS void
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
	-- A statistical finding without a case may stand on its figures alone.
	IF c IS NULL AND r LIKE 'STA-%' AND coalesce(cardinality(ids), 0) = 0 THEN
		RETURN;
	END IF;
	-- An array, not a join with the JSON, and one statement per shape, each on an index whose
	-- cost follows the case (events_dept_case) or the ids (event_ids' key), not the table.
	IF c IS NULL THEN
		PERFORM FROM event_ids i WHERE i.dept = d AND i.event_id = ANY (ids) LIMIT 1;
	ELSE
		PERFORM FROM events e WHERE e.dept = d AND e.case_no = c AND e.event_id = ANY (ids)
		   AND e.received_at >= coalesce(bound, '-infinity') LIMIT 1;
	END IF;
	IF NOT FOUND THEN
		PERFORM esup_refuse_evaluation('no evidence among the stored events',
			format('%s: dept %s, case %s, evidence %s', r, d, coalesce(c, '(none)'),
				cond->'evidence'));
	END IF;
END
$$;
REVOKE ALL ON FUNCTION esup_check_condition(jsonb, text, text, timestamptz) FROM PUBLIC;

-- esup_apply_evaluation as in 021, its check that the case has stored events and its
-- conditions' evidence bounded by the case's events_from (a PL/pgSQL variable: the generic
-- plan prunes at its start).
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
	bound timestamptz;
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
			applicant = EXCLUDED.applicant
		RETURNING k.events_from INTO bound;
		-- After the upsert, which reads the case's bound by its key (a refusal rolls it back).
		IF NOT EXISTS (SELECT 1 FROM events e WHERE e.dept = d AND e.case_no = c
				AND e.received_at >= coalesce(bound, '-infinity')) THEN
			PERFORM esup_refuse_evaluation('case without stored events', d || '/' || c);
		END IF;

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
		PERFORM esup_check_condition(cond, d, c, bound);
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
