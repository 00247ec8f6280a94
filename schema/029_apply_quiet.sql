-- 029: a batch's evaluations applied in one call, the quiet cases set-based (issue 12).
--
-- esup_apply_evaluation applies one evaluation: a dozen small statements (the case row's
-- upsert, the check that the case has stored events, its live alerts, each condition), about
-- 0.6 ms a case in the writer's closed loop, most of it executor set-up repeated per case.
-- Most cases of a batch are quiet: no condition holds and no alert of theirs is live, so all
-- the evaluation does for them is the upsert and the check. esup_apply_evaluations takes the
-- batch's evaluations at once: the quiet cases' rows are upserted by one statement, which
-- also checks that each has stored events (from its events_from, schema/027); every other
-- evaluation (a condition, a live alert to resolve, no facts, a case without a row's key,
-- an event without a case, a shape esup_apply_evaluation refuses) goes through
-- esup_apply_evaluation as before, after the quiet ones, in the array's order. Its rows name
-- the evaluation they come from (n, 1-based, its position in the array).
--
-- A quiet case is one esup_apply_evaluation would only upsert and check: a department, a
-- case, the time, facts that are an object, no condition, list-shaped disabled and corrected
-- (unused without a live alert), its key once in the batch, and no alert of the case held,
-- open, acknowledged, appealed or suppressed. The row it writes is the one
-- esup_apply_evaluation writes (the same columns from the same fields).
CREATE FUNCTION esup_apply_evaluations(evaluations jsonb, evaluated_at timestamptz)
RETURNS TABLE (n bigint, alert_id bigint, action text, rule text, severity text, message text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
	quiet bigint[];
	missing text;
	e record;
BEGIN
	IF jsonb_typeof(evaluations) IS DISTINCT FROM 'array' THEN
		PERFORM esup_refuse_evaluation('evaluations that are not an array',
			left(coalesce(evaluations::text, 'null'), 200));
	END IF;
	WITH x AS (
		SELECT v.n, v.x, v.x->>'dept' AS d, nullif(v.x->>'case', '') AS c, v.x->'facts' AS f,
		       count(*) OVER (PARTITION BY v.x->>'dept', v.x->>'case') AS times
		  FROM jsonb_array_elements(evaluations) WITH ORDINALITY AS v (x, n)
	), q AS (
		SELECT x.* FROM x
		 WHERE x.times = 1 AND x.d IS NOT NULL AND x.c IS NOT NULL AND evaluated_at IS NOT NULL
		   AND jsonb_typeof(x.f) = 'object'
		   AND coalesce(x.x->'conditions', '[]') = '[]'::jsonb
		   AND jsonb_typeof(coalesce(x.x->'disabled', '[]')) = 'array'
		   AND jsonb_typeof(coalesce(x.x->'corrected', '[]')) = 'array'
		   AND NOT EXISTS (SELECT 1 FROM alerts a WHERE a.dept = x.d AND a.case_no = x.c
				   AND a.status IN ('held', 'open', 'acknowledged', 'appealed', 'suppressed'))
	), up AS (
		INSERT INTO cases AS k (dept, case_no, item, status, unit, committed_days, statutory_days,
			counted_days, suspended_days, committed_day, statutory_day, level, next_check_at, evaluated_at,
			kind, received_at, accepted_at, closed_at, result, reported, supplements,
			on_time_committed, on_time_statutory, replied_at, reply_on_time, close_on_time, applicant)
		SELECT q.d, q.c, q.x->>'item', q.x->>'status', q.x->>'unit',
			(q.x->>'committed_days')::int, (q.x->>'statutory_days')::int,
			(q.x->>'counted_days')::int, (q.x->>'suspended_days')::int,
			(q.x->>'committed_day')::date, (q.x->>'statutory_day')::date,
			q.x->>'level', (q.x->>'next_check')::timestamptz, evaluated_at,
			coalesce(q.f->>'kind', 'approval'), (q.f->>'received_at')::timestamptz,
			(q.f->>'accepted_at')::timestamptz,
			(q.f->>'closed_at')::timestamptz, q.f->>'result', (q.f->>'reported')::boolean,
			coalesce((q.f->>'supplements')::int, 0), (q.f->>'on_time_committed')::boolean,
			(q.f->>'on_time_statutory')::boolean, (q.f->>'replied_at')::timestamptz,
			(q.f->>'reply_on_time')::boolean, (q.f->>'close_on_time')::boolean, q.f->>'applicant'
		  FROM q ORDER BY q.d, q.c
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
		RETURNING k.dept, k.case_no, k.events_from
	)
	SELECT (SELECT array_agg(q.n) FROM q),
	       -- after the upsert, from the bound it returned (a refusal rolls it back)
	       (SELECT u.dept || '/' || u.case_no FROM up u
		 WHERE NOT EXISTS (SELECT 1 FROM events ev WHERE ev.dept = u.dept
				     AND ev.case_no = u.case_no
				     AND ev.received_at >= coalesce(u.events_from, '-infinity'))
		 ORDER BY u.dept, u.case_no LIMIT 1)
	  INTO quiet, missing;
	IF missing IS NOT NULL THEN
		PERFORM esup_refuse_evaluation('case without stored events', missing);
	END IF;
	FOR e IN SELECT v.n, v.x FROM jsonb_array_elements(evaluations) WITH ORDINALITY AS v (x, n)
		  WHERE v.n <> ALL (coalesce(quiet, '{}')) ORDER BY v.n
	LOOP
		RETURN QUERY SELECT e.n, r.alert_id, r.action, r.rule, r.severity, r.message
			       FROM esup_apply_evaluation(e.x, evaluated_at) r;
	END LOOP;
END
$$;
REVOKE ALL ON FUNCTION esup_apply_evaluations(jsonb, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION esup_apply_evaluations(jsonb, timestamptz) TO esup_writer;
