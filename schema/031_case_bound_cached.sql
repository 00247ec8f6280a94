-- 031: the bound of a batch's cases read with a plan kept for the session (issue 12).
--
-- esup_case_events (migration 027) read the least events_from of the batch's cases with
-- EXECUTE, planned at each call, because a generic plan made while `cases` was small had looked
-- each key up by the (dept, item, closed_at) index and, once the table grew, read a
-- department's cases for every key. That planning was 0.2-0.3 ms of every writer transaction
-- (docs/performance.md). Here each key takes the first row at or after it in (dept, case_no)
-- order: a row comparison on those two columns that only the primary key's index can answer as
-- an index condition, ordered as that index is, so any plan (generic included) probes
-- cases_pkey once per key; a key whose first row is another case has no row. The rest is as
-- in 027.
CREATE OR REPLACE FUNCTION esup_case_events(keys jsonb, n bigint)
RETURNS TABLE (seq bigint, dept text, case_no text, body text, received bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, public, pg_temp
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off AS $$
DECLARE
	bound timestamptz;
	known bigint;
BEGIN
	SELECT count(*), min(coalesce(b.events_from, '-infinity'))
	  INTO known, bound
	  FROM (SELECT * FROM jsonb_to_recordset(keys) AS r(d text, c text) LIMIT n) r
	  CROSS JOIN LATERAL (SELECT k.dept, k.case_no, k.events_from FROM cases k
			       WHERE (k.dept, k.case_no) >= (r.d, r.c)
			       ORDER BY k.dept, k.case_no LIMIT 1) b
	 WHERE b.dept = r.d AND b.case_no = r.c;
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
