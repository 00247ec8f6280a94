-- 017_statistical_rules.sql: the statistical rules (STA-*, libmonitor/stats.c; esupd's
-- stat-rules job, daemon/stat_rules.c) judge a department's or an enterprise's figures over
-- a window of Shanghai days, read from the rollups (014), and raise their alerts through
-- esup_apply_evaluation like any condition without a case.
--
-- Their evidence is the rollup, not one event: the daemon adds up to 8 events of the
-- department that illustrate the finding (late decisions, the fees, the late-reported events,
-- the alerts' own evidence, the enterprise's decisions and inspections) when it finds any,
-- and may find none (the rollups can count what no longer illustrates well, or the events of
-- a window may all be another department's). So a STA-* condition may come without evidence;
-- any evidence it names must still be among the department's stored events, as for the others.

INSERT INTO rules (code, severity) VALUES
	('STA-ONTIME-LOW', 'yellow'),
	('STA-ALERTS-SPIKE', 'notice'),
	('STA-FEES-SPIKE', 'yellow'),
	('STA-DEALING-DAYS', 'yellow'),
	('STA-LATE-REPORTING', 'notice');

-- The job reads the last few months of every department by day: without these it would read
-- the rollups whole (0.9 s against 0.1 s for two years of 20 departments × 50 items). The day
-- is never updated, so the triggers' counter updates stay HOT.
CREATE INDEX stat_case_day_day ON stat_case_day (day);
CREATE INDEX stat_alert_day_day ON stat_alert_day (day);

CREATE OR REPLACE FUNCTION esup_check_condition(cond jsonb, d text, c text) RETURNS void
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
		 LIMIT 1;
	END IF;
	IF NOT FOUND THEN
		PERFORM esup_refuse_evaluation('no evidence among the stored events',
			format('%s: dept %s, case %s, evidence %s', r, d, coalesce(c, '(none)'),
				cond->'evidence'));
	END IF;
END
$$;
REVOKE ALL ON FUNCTION esup_check_condition(jsonb, text, text) FROM PUBLIC;
