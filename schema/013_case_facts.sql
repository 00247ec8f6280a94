-- 013_case_facts.sql: what statistics need to know of each case, kept on its row.
--
-- libmonitor derives these facts from the case's events with the rest of its state, and
-- esup_apply_evaluation stores them in the same upsert, in the transaction that stored the
-- events (ingest) or moved the clock (the sweeper). A late event re-derives the case, and so
-- its facts. NULL means "does not apply" or "not yet".
--
--   kind                'approval' (the case has approval.* events), 'complaint' (it has a
--                       complaint.received), else 'other'
--   received_at         business time of approval.received, or of complaint.received
--   accepted_at         business time of approval.accepted
--   closed_at           approval.decided, refused_intake or withdrawn; complaint.closed
--   result              approved | denied | refused_intake | withdrawn | closed; NULL while open
--   reported            denied or refused_intake: the refusal carried its report (不批准报告)
--   supplements         approval.supplement_requested events of the case
--   on_time_committed   approved or denied within the committed limit, as the ladder judges
--                       it: by the end of the limit's last counted day (suspensions and
--                       effective extensions move it); NULL when never accepted or the item
--                       (so the limit) is unknown. A decision on a non-counted day after
--                       that last day is late, though counted_days equals the limit.
--   on_time_statutory   … within the statutory limit (APR-DEADLINE-RED's statutory test)
--   replied_at          complaint cases: when it was answered: the first complaint.replied,
--                       or its complaint.closed when that came first (closing answers it)
--   reply_on_time       … answered within complaint_reply_days working days (CMP-REPLY-LATE)
--   close_on_time       … closed within complaint_close_days working days (CMP-CLOSE-LATE);
--                       both false once the limit passed undone, NULL while still in time
--   applicant           the applicant's unified social credit code (an enterprise), if any

ALTER TABLE cases
	ADD COLUMN kind text NOT NULL DEFAULT 'approval'
		CHECK (kind IN ('approval', 'complaint', 'other')),
	ADD COLUMN received_at timestamptz,
	ADD COLUMN accepted_at timestamptz,
	ADD COLUMN closed_at timestamptz,
	ADD COLUMN result text
		CHECK (result IN ('approved', 'denied', 'refused_intake', 'withdrawn', 'closed')),
	ADD COLUMN reported boolean,
	ADD COLUMN supplements int NOT NULL DEFAULT 0,
	ADD COLUMN on_time_committed boolean,
	ADD COLUMN on_time_statutory boolean,
	ADD COLUMN replied_at timestamptz,
	ADD COLUMN reply_on_time boolean,
	ADD COLUMN close_on_time boolean,
	ADD COLUMN applicant text;

-- Cases derived before this migration have no facts yet. Each is made due to the sweeper, which
-- re-derives it from its events (so its facts, and through 014's trigger the rollups) in
-- batches, oldest first, closed cases included; a sweep of a case is what a late event or a
-- rules change does to it anyway. A large database takes a while (docs/operations.md).
UPDATE cases SET next_check_at = '2000-01-01 00:00:00+00';

CREATE INDEX cases_item_closed ON cases (dept, item, closed_at);
CREATE INDEX cases_applicant_closed ON cases (applicant, closed_at) WHERE applicant IS NOT NULL;

-- ---------------------------------------------------------------- evaluations

-- esup_apply_evaluation as in 008, with the case's facts: the evaluation of a case carries
-- "facts" {"kind","received_at","accepted_at","closed_at","result","reported","supplements",
-- "on_time_committed","on_time_statutory","replied_at","reply_on_time","close_on_time",
-- "applicant"} (libmonitor's mon_case_facts_json; null where NULL), written in the same upsert
-- of the case row; one without "facts" keeps the row's. Everything else is unchanged.
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
