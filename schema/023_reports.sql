-- 023_reports.sql: the refusal report (不批准报告制度, seed 002 item 14; libmonitor/reports.c,
-- docs/rules.md): a refusal or delay report to the wrong level, without a proposed solution,
-- a 主要领导 refusal not filed with the 市优化办, and a case past its committed deadline not
-- reported by then. esup_apply_evaluation raises alerts only for rules in this table.
--
-- The new event approval.delay_reported (缓批报告) needs nothing here: events store their type
-- as text, and no function or view lists the approval types one by one. Its level fields and
-- those of the refusals stay in the events; the monthly 通报 counts what they reveal through
-- the alerts per rule (esup_stats), so no fact or rollup column is added (docs/auditing.md).
INSERT INTO rules (code, severity) VALUES
	('APR-REPORT-WRONG-LEVEL', 'yellow'),
	('APR-REPORT-NO-SOLUTION', 'yellow'),
	('APR-REPORT-NOT-FILED', 'yellow'),
	('APR-DELAY-UNREPORTED', 'yellow')
ON CONFLICT (code) DO NOTHING;
