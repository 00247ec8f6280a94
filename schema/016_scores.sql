-- 016_scores.sql: 绩效评估, a score per department per month, quarter or year, and the
-- ranking with the lowest flagged (末位), computed from the rollups (014) by one call:
--
--     SELECT * FROM esup_scores('2026-03');   -- or '2026-Q1', or '2026'
--
-- The formula (docs/auditing.md, "绩效评估"), over the period's Asia/Shanghai days:
--
--   on_time_rate       decided cases decided within the committed limit / decided cases
--                      (stat_case_day, by the day decided)
--   satisfaction_rate  satisfied evaluations / evaluations (stat_event_day, by the day given)
--   complaint_rate     complaints closed on time / complaints closed (stat_case_day, by the
--                      day closed)
--   red, yellow, notice  valid cards raised in the period (stat_alert_day: not revoked,
--                      dismissed or cancelled), by severity; the statistical rules' findings
--                      (STA-*) are left out: they judge the same rates the score weighs
--
--   score = 100 × Σ w_c·rate_c / Σ w_c  −  w_red·red − w_yellow·yellow − w_notice·notice,
--           clamped to [0, 100] and rounded to two decimals
--
-- where the sums run over the rates the department has data for (a rate without data, e.g. no
-- case decided, is NULL and leaves the weighted mean with its weight); with no rate at all the
-- mean counts as 1 (100 points), so such a department loses only what its cards cost. A
-- department with nothing to judge in the period (no rate and no card) is listed without a
-- score or rank (无数据, 不参与排名), last.
-- Ranked by score (highest first), ties by department code; the bottom_count lowest ranked
-- are flagged bottom (末位), none when no more departments than that are ranked.
--
-- The weights come from score_weights, in versions: the version in effect on the period's
-- first day applies (for each component, its row with the latest valid_from on or before that
-- day), so a period's scores stay what they were when the weights change afterwards. esupd
-- writes a version dated today (the business clock's Shanghai day) from its [scores] section
-- at start and on reload when it differs from the one in effect (esup_score_weights_set).
--
-- esup_scores runs with the caller's rights (SECURITY INVOKER): row-level security on the
-- rollups applies, and the ranking is among the departments the caller may see (a region's
-- auditor ranks the region's departments).

CREATE TABLE score_weights (
	valid_from date NOT NULL,
	component text NOT NULL CHECK (component IN ('on_time', 'satisfaction', 'complaints',
		'red', 'yellow', 'notice', 'bottom_count')),
	weight numeric NOT NULL CHECK (weight >= 0 AND weight <= 1000000),
	PRIMARY KEY (valid_from, component),
	CHECK (component <> 'bottom_count' OR weight = trunc(weight))
);
COMMENT ON TABLE score_weights IS '绩效评估权重 score weights, in versions: a version applies to the periods whose first day is on or after valid_from (until a later version); written by esupd from [scores] (esup_score_weights_set)';
COMMENT ON COLUMN score_weights.valid_from IS '生效日期 first Asia/Shanghai day the version applies to (-infinity: the defaults)';
COMMENT ON COLUMN score_weights.component IS '分项 on_time, satisfaction, complaints (weights of the rates in the weighted mean); red, yellow, notice (points off per valid card); bottom_count (how many lowest are flagged 末位)';
COMMENT ON COLUMN score_weights.weight IS '权重 the weight, the points per card, or the count';

-- The defaults, in effect until esupd writes another version (config/esupd.conf [scores]
-- has the same values, so a default configuration writes none).
INSERT INTO score_weights (valid_from, component, weight) VALUES
	('-infinity', 'on_time', 60),
	('-infinity', 'satisfaction', 20),
	('-infinity', 'complaints', 20),
	('-infinity', 'red', 5),
	('-infinity', 'yellow', 2),
	('-infinity', 'notice', 0.5),
	('-infinity', 'bottom_count', 1);

-- The period a label names: its first day, the first day after it, and the label as
-- esup_scores returns it. Anything but YYYY-MM, YYYY-Qn or YYYY is refused.
CREATE FUNCTION esup_score_period(period text, OUT first date, OUT after date, OUT label text)
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	y int;
BEGIN
	IF period ~ '^[0-9]{4}(-(0[1-9]|1[0-2])|-Q[1-4])?$' THEN
		y := left(period, 4)::int;
	END IF;
	IF y IS NULL OR y < 1 THEN
		RAISE EXCEPTION 'esup_scores: period must be a month YYYY-MM, a quarter YYYY-Qn or a year YYYY, got %',
			coalesce(quote_literal(period), 'NULL')
			USING ERRCODE = 'invalid_parameter_value',
			      HINT = 'for example esup_scores(''2026-03''), esup_scores(''2026-Q1''), esup_scores(''2026'')';
	END IF;
	label := period;
	IF length(period) = 4 THEN
		first := make_date(y, 1, 1);
		after := (first + interval '1 year')::date;
	ELSIF substr(period, 6, 1) = 'Q' THEN
		first := make_date(y, (substr(period, 7, 1)::int - 1) * 3 + 1, 1);
		after := (first + interval '3 months')::date;
	ELSE
		first := make_date(y, substr(period, 6, 2)::int, 1);
		after := (first + interval '1 month')::date;
	END IF;
END
$$;

-- The departments the caller may see, as row-level security on the rollups decides: all of
-- them for the daemon, the owner and roles that bypass row security; a person's scope
-- (esup_person_depts, 011) otherwise.
CREATE FUNCTION esup_score_depts() RETURNS text[]
LANGUAGE sql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
	SELECT CASE
		WHEN pg_has_role('esup_writer', 'USAGE') OR pg_has_role('esup_owner', 'USAGE')
		     OR (SELECT r.rolsuper OR r.rolbypassrls FROM pg_roles r WHERE r.rolname = current_user)
		THEN (SELECT coalesce(array_agg(d.code), '{}') FROM departments d)
		ELSE esup_person_depts()
	END
$$;

-- The weights in effect on day, one row: each component's latest version on or before it.
CREATE FUNCTION esup_score_weights_at(day date, OUT on_time numeric, OUT satisfaction numeric,
	OUT complaints numeric, OUT red numeric, OUT yellow numeric, OUT notice numeric,
	OUT bottom_count int)
LANGUAGE sql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
	SELECT coalesce(max(w.weight) FILTER (WHERE w.component = 'on_time'), 0),
	       coalesce(max(w.weight) FILTER (WHERE w.component = 'satisfaction'), 0),
	       coalesce(max(w.weight) FILTER (WHERE w.component = 'complaints'), 0),
	       coalesce(max(w.weight) FILTER (WHERE w.component = 'red'), 0),
	       coalesce(max(w.weight) FILTER (WHERE w.component = 'yellow'), 0),
	       coalesce(max(w.weight) FILTER (WHERE w.component = 'notice'), 0),
	       coalesce(max(w.weight) FILTER (WHERE w.component = 'bottom_count'), 0)::int
	  FROM (SELECT DISTINCT ON (s.component) s.component, s.weight FROM score_weights s
		 WHERE s.valid_from <= day ORDER BY s.component, s.valid_from DESC) w
$$;

-- The scores of one period (see the top of this file), ranked, for the departments the
-- caller may see. A period is whole months: the rollups are selected by their day's month,
-- the expression that 015's indexes (stat_*_day_month) hold, so a period reads only its rows.
-- The period is a plain range of days (periods begin on the first of a month): under row-level
-- security only leakproof conditions reach an index, and date_trunc is not leakproof, so an
-- auditor's condition on the month expression scanned every rollup row (221 ms against 8 ms
-- with the day range, at 1 M events).
CREATE FUNCTION esup_scores(period text)
RETURNS TABLE (dept text, dept_name text, region text, period_label text, decided bigint,
	on_time_rate numeric, red bigint, yellow bigint, notice bigint, satisfaction_rate numeric,
	complaint_rate numeric, score numeric(6,2), rank int, bottom boolean)
LANGUAGE sql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
	WITH p AS (
		SELECT * FROM esup_score_period(period)
	), w AS (
		SELECT x.* FROM p, esup_score_weights_at(p.first) x
	), seen AS (
		SELECT esup_score_depts() AS depts
	), c AS (
		SELECT s.dept, sum(s.decided) AS decided, sum(s.on_time_committed) AS on_time,
		       sum(s.complaints_closed) AS closed, sum(s.complaints_closed_on_time) AS closed_on_time
		  FROM stat_case_day s, p, seen
		 WHERE s.day >= p.first
		   AND s.day < p.after AND s.dept = ANY (seen.depts)
		 GROUP BY s.dept
	), e AS (
		SELECT s.dept, sum(s.evaluations_satisfied) AS satisfied,
		       sum(s.evaluations_satisfied + s.evaluations_unsatisfied) AS evaluated
		  FROM stat_event_day s, p, seen
		 WHERE s.day >= p.first
		   AND s.day < p.after AND s.dept = ANY (seen.depts)
		 GROUP BY s.dept
	), a AS (
		SELECT s.dept, sum(s.valid) FILTER (WHERE s.severity = 'red') AS red,
		       sum(s.valid) FILTER (WHERE s.severity = 'yellow') AS yellow,
		       sum(s.valid) FILTER (WHERE s.severity = 'notice') AS notice
		  FROM stat_alert_day s, p, seen
		 WHERE s.rule NOT LIKE 'STA-%'
		   AND s.day >= p.first
		   AND s.day < p.after AND s.dept = ANY (seen.depts)
		 GROUP BY s.dept
	), r AS (
		SELECT d.code, d.name, d.region, coalesce(c.decided, 0)::bigint AS decided,
		       c.on_time / nullif(c.decided, 0) AS on_time_rate,
		       coalesce(a.red, 0)::bigint AS red, coalesce(a.yellow, 0)::bigint AS yellow,
		       coalesce(a.notice, 0)::bigint AS notice,
		       e.satisfied / nullif(e.evaluated, 0) AS satisfaction_rate,
		       c.closed_on_time / nullif(c.closed, 0) AS complaint_rate
		  FROM departments d JOIN seen ON d.code = ANY (seen.depts)
		  LEFT JOIN c ON c.dept = d.code LEFT JOIN e ON e.dept = d.code
		  LEFT JOIN a ON a.dept = d.code
	), s AS (
		SELECT r.*, CASE WHEN r.on_time_rate IS NULL AND r.satisfaction_rate IS NULL
				AND r.complaint_rate IS NULL AND r.red + r.yellow + r.notice = 0 THEN NULL
			ELSE round(greatest(0, least(100,
			100 * coalesce((w.on_time * coalesce(r.on_time_rate, 0)
					+ w.satisfaction * coalesce(r.satisfaction_rate, 0)
					+ w.complaints * coalesce(r.complaint_rate, 0))
				/ nullif(CASE WHEN r.on_time_rate IS NULL THEN 0 ELSE w.on_time END
					+ CASE WHEN r.satisfaction_rate IS NULL THEN 0 ELSE w.satisfaction END
					+ CASE WHEN r.complaint_rate IS NULL THEN 0 ELSE w.complaints END, 0), 1)
			- w.red * r.red - w.yellow * r.yellow - w.notice * r.notice)), 2)::numeric(6,2)
			END AS score
		  FROM r, w
	), k AS (
		SELECT s.*, CASE WHEN s.score IS NOT NULL THEN row_number() OVER (
				PARTITION BY s.score IS NULL ORDER BY s.score DESC, s.code)::int END AS rank,
		       count(s.score) OVER () AS ranked
		  FROM s
	)
	SELECT k.code, k.name, k.region, p.label, k.decided, round(k.on_time_rate, 4), k.red,
	       k.yellow, k.notice, round(k.satisfaction_rate, 4), round(k.complaint_rate, 4),
	       k.score, k.rank,
	       coalesce(k.ranked > w.bottom_count AND k.rank > k.ranked - w.bottom_count, false)
	  FROM k, p, w
	 ORDER BY k.rank NULLS LAST, k.code
$$;
COMMENT ON FUNCTION esup_scores(text) IS '绩效评估 scores and ranking of the departments the caller may see for a period: ''2026-03'' (month), ''2026-Q1'' (quarter) or ''2026'' (year); formula in docs/auditing.md';

-- esupd's [scores] as a new version dated the Shanghai day of at, when it differs from the
-- version in effect that day (a second change the same day replaces that day's version).
-- components and weights pair up and name every component once. Returns the version's date,
-- NULL when nothing changed.
CREATE FUNCTION esup_score_weights_set(at timestamptz, components text[], weights numeric[])
RETURNS date
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
	day date := (at AT TIME ZONE 'Asia/Shanghai')::date;
	every text[] := ARRAY['bottom_count', 'complaints', 'notice', 'on_time', 'red',
		'satisfaction', 'yellow'];
BEGIN
	IF day IS NULL OR cardinality(components) IS DISTINCT FROM cardinality(weights)
	   OR (SELECT array_agg(x ORDER BY x) FROM unnest(components) x) IS DISTINCT FROM every THEN
		RAISE EXCEPTION 'score weights: expected a time and one weight for each of %',
			array_to_string(every, ', ') USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- two daemons starting together write one version
	LOCK TABLE score_weights IN SHARE ROW EXCLUSIVE MODE;
	IF NOT EXISTS (SELECT 1 FROM unnest(components, weights) AS n (component, weight)
			LEFT JOIN (SELECT DISTINCT ON (s.component) s.component, s.weight
				     FROM score_weights s WHERE s.valid_from <= day
				    ORDER BY s.component, s.valid_from DESC) cur USING (component)
			WHERE cur.weight IS DISTINCT FROM n.weight) THEN
		RETURN NULL;
	END IF;
	INSERT INTO score_weights (valid_from, component, weight)
	SELECT day, n.component, n.weight FROM unnest(components, weights) AS n (component, weight)
	ON CONFLICT (valid_from, component) DO UPDATE SET weight = EXCLUDED.weight;
	RETURN day;
END
$$;

REVOKE ALL ON score_weights FROM PUBLIC;
GRANT SELECT ON score_weights TO esup_writer, esup_supervisor, esup_auditor;
REVOKE ALL ON FUNCTION esup_score_period(text), esup_score_depts(), esup_score_weights_at(date),
	esup_scores(text), esup_score_weights_set(timestamptz, text[], numeric[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION esup_score_period(text), esup_score_depts(), esup_score_weights_at(date),
	esup_scores(text) TO esup_writer, esup_supervisor, esup_auditor;
GRANT EXECUTE ON FUNCTION esup_score_weights_set(timestamptz, text[], numeric[]) TO esup_writer;
