-- 033: a page of the alert log read in index order, whatever the statistics say (issue 12).
--
-- The alert stream's poller and each delivery receiver read the log (alert_actions in (xid, id)
-- order, migration 008) a page at a time after a position. Written as ORDER BY ... LIMIT over
-- the rows after the position, the plan depended on the planner's estimate of those rows: in a
-- table whose statistics were older than a burst (5,000 actions written in one transaction) it
-- read every row after the position by a bitmap scan and sorted them for each page of 200, and
-- after a million closed alerts' actions written at once, joined first, it did the same through
-- the index; a burst of n rows then cost about n²/400 row reads to catch up with (a second a
-- page at a million). This function is planned with sequential and bitmap scans and sorts off,
-- so its only plan is the walk of alert_actions_position from the position, stopped after
-- p_limit rows. The caller passes the xmin (pg_snapshot_xmin of its snapshot) it also uses to
-- tell whether committed rows wait above it.
CREATE FUNCTION esup_alert_log_page(p_xid xid8, p_id bigint, p_below xid8, p_limit integer)
RETURNS SETOF alert_actions
LANGUAGE sql STABLE
SET search_path = pg_catalog, public, pg_temp
SET enable_seqscan = off
SET enable_bitmapscan = off
SET enable_sort = off AS $$
	SELECT * FROM public.alert_actions a
	 WHERE (a.xid, a.id) > (p_xid, p_id) AND a.xid < p_below
	 ORDER BY a.xid, a.id LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION esup_alert_log_page(xid8, bigint, xid8, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION esup_alert_log_page(xid8, bigint, xid8, integer) TO esup_writer;
