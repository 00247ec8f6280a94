-- 020_board.sql: the indexes the console's board reads (GET /v1/board, /v1/board/{dept};
-- daemon/api_board.c). A board counts the live and held alerts of the departments in a
-- principal's scope and their open cases. Both are few beside everything ever raised or
-- received, so each gets a partial index over exactly them: a board is one GROUP BY over the
-- live alerts in scope, whatever the number of alerts in the past (docs/performance.md).
-- The predicates are those of api_board.c's queries, word for word, so the planner can prove
-- them.

-- Live (open, acknowledged, appealed) and held alerts, by department and case: the board,
-- a department's cases and its caseless alerts.
CREATE INDEX alerts_board ON alerts (dept, case_no)
	WHERE status IN ('held', 'open', 'acknowledged', 'appealed');

-- Open cases by department, with the statutory deadline an overdue count compares.
CREATE INDEX cases_open ON cases (dept, statutory_day)
	WHERE status IN ('received', 'accepted', 'suspended');
