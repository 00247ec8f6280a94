-- 024_item_supervise_days.sql: an item's own 督办 period. items.csv may carry a
-- supervise_days column like warn_days (empty: the global parameter supervise_days, working
-- days after the committed deadline within which a yellow card must be put right before it
-- turns red; docs/rules.md, APR-DEADLINE-RED). The table's columns are the CSV's header
-- (esup_refdata_csv), so the column is all the daemon needs; the range is libmonitor's.
ALTER TABLE items ADD COLUMN IF NOT EXISTS supervise_days int
	CHECK (supervise_days BETWEEN 1 AND 3650);
