-- 030: the cases rollup trigger runs once per statement (issue 12).
--
-- esup_stat_cases (migration 014) ran for each case row whose facts changed: two grouped
-- upserts (stat_case_day, stat_enterprise_day) per row, about 0.12 ms each time, so a batch's
-- quiet cases written by one statement (migration 029) still paid it per case (4.6 ms of a
-- 156-event transaction in contrib/bench/run's closed loop). Now each statement that inserts
-- or updates cases runs it once over its transition tables: the versions whose facts changed
-- (the old WHEN clauses, now a filter over the rows paired by key) as +1 for the new and -1
-- for the old, summed into the same upserts, in key order. A maximum cannot be lowered by a
-- delta: for each old version that held a decided case at a key that the new one does not
-- hold there as high, that key's days_used_max is recomputed from `cases`, after the deltas
-- (as the row trigger's recomputation, queued after every row's change, read the statement's
-- final rows). Statements that change no fact (the sweeper's clock, ingest's lock of the
-- rows) find nothing to sum and write nothing.
CREATE FUNCTION esup_stat_cases_delta(news cases[], olds cases[]) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
	INSERT INTO public.stat_case_day AS s
	SELECT (v.k).dept, (v.k).item, f.day, sum(v.sign * f.rec), sum(v.sign * f.acc),
	       sum(v.sign * f.dec), sum(v.sign * f.app), sum(v.sign * f.den), sum(v.sign * f.otc),
	       sum(v.sign * f.ots), sum(v.sign * f.dsum),
	       coalesce(max(f.dsum) FILTER (WHERE v.sign > 0 AND f.dec > 0), 0),
	       sum(v.sign * f.ssum), sum(v.sign * f.ri), sum(v.sign * f.rrep), sum(v.sign * f.runrep),
	       sum(v.sign * f.wd), sum(v.sign * f.crec), sum(v.sign * f.crep), sum(v.sign * f.ccl),
	       sum(v.sign * f.cclot)
	  FROM (SELECT 1, n FROM unnest(news) AS n UNION ALL SELECT -1, o FROM unnest(olds) AS o)
	       AS v (sign, k)
	 CROSS JOIN LATERAL (SELECT (v.k).result IN ('approved', 'denied') AS d,
				    (v.k).result IN ('denied', 'refused_intake') AS rf,
				    (v.k).kind = 'approval' AND (v.k).result IS NOT NULL AS ac,
				    (v.k).kind = 'complaint' AS cc) x
	 CROSS JOIN LATERAL (VALUES
		(CASE WHEN (v.k).kind IN ('approval', 'complaint')
		      THEN ((v.k).received_at AT TIME ZONE 'Asia/Shanghai')::date END,
		 ((v.k).kind = 'approval')::int, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, x.cc::int, 0, 0, 0),
		(CASE WHEN (v.k).kind = 'approval'
		      THEN ((v.k).accepted_at AT TIME ZONE 'Asia/Shanghai')::date END,
		 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
		(CASE WHEN x.cc AND (v.k).reply_on_time
		      THEN ((v.k).replied_at AT TIME ZONE 'Asia/Shanghai')::date END,
		 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0),
		(CASE WHEN x.ac THEN ((v.k).closed_at AT TIME ZONE 'Asia/Shanghai')::date END,
		 0, 0, x.d::int, ((v.k).result = 'approved')::int, ((v.k).result = 'denied')::int,
		 (x.d AND coalesce((v.k).on_time_committed, false))::int,
		 (x.d AND coalesce((v.k).on_time_statutory, false))::int,
		 CASE WHEN x.d THEN (v.k).counted_days ELSE 0 END,
		 CASE WHEN x.d THEN (v.k).suspended_days ELSE 0 END,
		 ((v.k).result = 'refused_intake')::int,
		 (x.rf AND coalesce((v.k).reported, false))::int,
		 (x.rf AND NOT coalesce((v.k).reported, false))::int,
		 ((v.k).result = 'withdrawn')::int, 0, 0, 0, 0),
		(CASE WHEN x.cc THEN ((v.k).closed_at AT TIME ZONE 'Asia/Shanghai')::date END,
		 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
		 coalesce((v.k).close_on_time, false)::int))
		AS f (day, rec, acc, dec, app, den, otc, ots, dsum, ssum, ri, rrep, runrep, wd, crec,
		      crep, ccl, cclot)
	 WHERE f.day IS NOT NULL
	 GROUP BY (v.k).dept, (v.k).item, f.day
	HAVING sum(v.sign * f.rec) <> 0 OR sum(v.sign * f.acc) <> 0 OR sum(v.sign * f.dec) <> 0
	    OR sum(v.sign * f.app) <> 0 OR sum(v.sign * f.den) <> 0 OR sum(v.sign * f.otc) <> 0
	    OR sum(v.sign * f.ots) <> 0 OR sum(v.sign * f.dsum) <> 0 OR sum(v.sign * f.ssum) <> 0
	    OR sum(v.sign * f.ri) <> 0 OR sum(v.sign * f.rrep) <> 0 OR sum(v.sign * f.runrep) <> 0
	    OR sum(v.sign * f.wd) <> 0 OR sum(v.sign * f.crec) <> 0 OR sum(v.sign * f.crep) <> 0
	    OR sum(v.sign * f.ccl) <> 0 OR sum(v.sign * f.cclot) <> 0
	 ORDER BY 1, 2, 3
	ON CONFLICT (dept, item, day) DO UPDATE SET
		received = s.received + EXCLUDED.received,
		accepted = s.accepted + EXCLUDED.accepted,
		decided = s.decided + EXCLUDED.decided,
		approved = s.approved + EXCLUDED.approved,
		denied = s.denied + EXCLUDED.denied,
		on_time_committed = s.on_time_committed + EXCLUDED.on_time_committed,
		on_time_statutory = s.on_time_statutory + EXCLUDED.on_time_statutory,
		days_used_sum = s.days_used_sum + EXCLUDED.days_used_sum,
		days_used_max = greatest(s.days_used_max, EXCLUDED.days_used_max),
		suspended_days_sum = s.suspended_days_sum + EXCLUDED.suspended_days_sum,
		refused_intake = s.refused_intake + EXCLUDED.refused_intake,
		refusals_reported = s.refusals_reported + EXCLUDED.refusals_reported,
		refusals_unreported = s.refusals_unreported + EXCLUDED.refusals_unreported,
		withdrawn = s.withdrawn + EXCLUDED.withdrawn,
		complaints_received = s.complaints_received + EXCLUDED.complaints_received,
		complaints_replied_on_time = s.complaints_replied_on_time
			+ EXCLUDED.complaints_replied_on_time,
		complaints_closed = s.complaints_closed + EXCLUDED.complaints_closed,
		complaints_closed_on_time = s.complaints_closed_on_time
			+ EXCLUDED.complaints_closed_on_time;


	IF cardinality(olds) > 0 THEN
	UPDATE public.stat_case_day s SET days_used_max = coalesce((SELECT max(k.counted_days)
		FROM public.cases k
	       WHERE k.dept = m.dept AND k.item = m.item
		 AND k.closed_at >= m.day::timestamp AT TIME ZONE 'Asia/Shanghai'
		 AND k.closed_at < (m.day + 1)::timestamp AT TIME ZONE 'Asia/Shanghai'
		 AND k.kind = 'approval' AND k.result IN ('approved', 'denied')), 0)
	  FROM (SELECT DISTINCT o.dept, o.item, (o.closed_at AT TIME ZONE 'Asia/Shanghai')::date AS day
		  FROM unnest(olds) AS o
		  LEFT JOIN unnest(news) AS n ON n.dept = o.dept AND n.case_no = o.case_no
		 WHERE o.kind = 'approval' AND o.result IN ('approved', 'denied')
		   AND o.closed_at IS NOT NULL
		   AND (n.case_no IS NULL
			OR (o.dept, o.item, (o.closed_at AT TIME ZONE 'Asia/Shanghai')::date)
			   IS DISTINCT FROM (n.dept, n.item, (n.closed_at AT TIME ZONE 'Asia/Shanghai')::date)
			OR n.kind <> 'approval' OR n.result IS NULL
			OR n.result NOT IN ('approved', 'denied')
			OR n.counted_days < o.counted_days)) m
	 WHERE s.dept = m.dept AND s.item = m.item AND s.day = m.day;
	END IF;

	INSERT INTO public.stat_enterprise_day AS s (applicant, dept, day, cases, days_used_sum)
	SELECT (v.k).applicant, (v.k).dept, f.day, sum(v.sign), sum(v.sign * (v.k).counted_days)
	  FROM (SELECT 1, n FROM unnest(news) AS n UNION ALL SELECT -1, o FROM unnest(olds) AS o)
	       AS v (sign, k)
	 CROSS JOIN LATERAL (SELECT CASE WHEN (v.k).kind = 'approval' AND (v.k).applicant IS NOT NULL
				     AND (v.k).result IN ('approved', 'denied')
				    THEN ((v.k).closed_at AT TIME ZONE 'Asia/Shanghai')::date END AS day) f
	 WHERE f.day IS NOT NULL
	 GROUP BY (v.k).applicant, (v.k).dept, f.day
	HAVING sum(v.sign) <> 0 OR sum(v.sign * (v.k).counted_days) <> 0
	 ORDER BY 1, 2, 3
	ON CONFLICT (applicant, dept, day) DO UPDATE SET
		cases = s.cases + EXCLUDED.cases,
		days_used_sum = s.days_used_sum + EXCLUDED.days_used_sum;
END
$$;
REVOKE ALL ON FUNCTION esup_stat_cases_delta(cases[], cases[]) FROM PUBLIC;

-- The statement's case versions whose facts changed, for esup_stat_cases_delta: on INSERT the
-- rows with a fact (not the skeleton rows ingest locks), on UPDATE the pairs (by key) that
-- differ in a fact, or in the days of a decided case; a row whose key changed is an old
-- version gone and a new one come.
CREATE FUNCTION esup_stat_cases_rows() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
	news cases[];
	olds cases[];
BEGIN
	IF TG_OP = 'INSERT' THEN
		SELECT array_agg(n::cases) INTO news FROM new_rows n
		 WHERE n.received_at IS NOT NULL OR n.accepted_at IS NOT NULL
		    OR n.closed_at IS NOT NULL OR n.replied_at IS NOT NULL;
	ELSE
		SELECT array_agg(n::cases) FILTER (WHERE n.case_no IS NOT NULL),
		       array_agg(o::cases) FILTER (WHERE o.case_no IS NOT NULL)
		  INTO news, olds
		  FROM old_rows o FULL JOIN new_rows n ON n.dept = o.dept AND n.case_no = o.case_no
		 WHERE o.case_no IS NULL OR n.case_no IS NULL
		    OR (o.dept, o.item, o.kind, o.received_at, o.accepted_at, o.closed_at,
			o.result, o.reported, o.on_time_committed, o.on_time_statutory,
			o.replied_at, o.reply_on_time, o.close_on_time, o.applicant)
		       IS DISTINCT FROM
		       (n.dept, n.item, n.kind, n.received_at, n.accepted_at, n.closed_at,
			n.result, n.reported, n.on_time_committed, n.on_time_statutory,
			n.replied_at, n.reply_on_time, n.close_on_time, n.applicant)
		    OR n.result IN ('approved', 'denied')
		       AND (o.counted_days, o.suspended_days)
			   IS DISTINCT FROM (n.counted_days, n.suspended_days);
	END IF;
	IF news IS NOT NULL OR olds IS NOT NULL THEN
		PERFORM esup_stat_cases_delta(coalesce(news, '{}'), coalesce(olds, '{}'));
	END IF;
	RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION esup_stat_cases_rows() FROM PUBLIC;

DROP TRIGGER cases_stat_insert ON cases;
DROP TRIGGER cases_stat_update ON cases;
DROP FUNCTION esup_stat_cases();
CREATE TRIGGER cases_stat_insert
	AFTER INSERT ON cases REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION esup_stat_cases_rows();
CREATE TRIGGER cases_stat_update
	AFTER UPDATE ON cases REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION esup_stat_cases_rows();
