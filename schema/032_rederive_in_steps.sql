-- 032: open cases marked for re-derivation a step at a time (issue 12).
--
-- When the rules change (migration 025), every open case is marked due so that the sweeper
-- re-derives it under the new rules. One statement marked them all, locking every open case row
-- until it had updated the last: 4-8 seconds for 200,000 open cases on the development VM, and
-- minutes for millions, during which a department's event for any open case waited (the batch
-- locks its cases) and a request timed out. Now the statement that records the new digest only
-- starts the marking (`marking`, a cursor before the first key), and esup_rederive_step marks
-- the next p_limit open cases after the cursor in (dept, case_no) order, the order in which a
-- batch locks its cases, and moves the cursor, in one short transaction of its own. The cursor
-- is in this row, so a marking stopped by a restart, a lost connection or another daemon is
-- taken up where it stopped; a newer digest starts it again from the first key.
ALTER TABLE rules_applied
	ADD COLUMN marking boolean NOT NULL DEFAULT false,
	ADD COLUMN marked_dept text NOT NULL DEFAULT '',
	ADD COLUMN marked_case text NOT NULL DEFAULT '';

COMMENT ON COLUMN rules_applied.marking IS
	'open cases are still being marked due under this digest (esup_rederive_step)';
COMMENT ON COLUMN rules_applied.marked_dept IS
	'the marking''s cursor: every open case up to (marked_dept, marked_case) is marked';

-- Marks the next p_limit open cases after the cursor due at p_now, if the rules being applied
-- are p_digest's and their marking is not finished; answers how many it marked and whether
-- more may remain. The rules_applied row is locked first, so two daemons' steps take turns.
-- Planned at each call: a plan kept from a small table could scan and sort it whole.
CREATE FUNCTION esup_rederive_step(p_now timestamptz, p_digest text, p_limit integer,
				   OUT marked bigint, OUT more boolean)
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
SET plan_cache_mode = force_custom_plan AS $$
DECLARE
	r rules_applied%ROWTYPE;
	last_dept text;
	last_case text;
BEGIN
	marked := 0;
	more := false;
	SELECT * INTO r FROM rules_applied WHERE one FOR UPDATE;
	IF NOT FOUND OR NOT r.marking OR r.digest IS DISTINCT FROM p_digest THEN
		RETURN;
	END IF;
	WITH o AS (
		SELECT k.dept, k.case_no FROM cases k
		 WHERE (k.dept, k.case_no) > (r.marked_dept, r.marked_case)
		   AND k.status NOT IN ('decided', 'refused', 'withdrawn')
		 ORDER BY k.dept, k.case_no LIMIT p_limit FOR UPDATE),
	     m AS (
		UPDATE cases k SET next_check_at = p_now FROM o
		 WHERE k.dept = o.dept AND k.case_no = o.case_no
		RETURNING k.dept, k.case_no)
	SELECT count(*), (array_agg(m.dept ORDER BY m.dept DESC, m.case_no DESC))[1],
	       (array_agg(m.case_no ORDER BY m.dept DESC, m.case_no DESC))[1]
	  INTO marked, last_dept, last_case
	  FROM m;
	more := marked >= p_limit;
	UPDATE rules_applied
	   SET marking = more, marked_dept = coalesce(last_dept, marked_dept),
	       marked_case = coalesce(last_case, marked_case)
	 WHERE one;
END
$$;
REVOKE ALL ON FUNCTION esup_rederive_step(timestamptz, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION esup_rederive_step(timestamptz, text, integer) TO esup_writer;
