-- 014_rollups.sql: statistics kept as they happen, so no report scans raw events.
--
-- Each table counts per Shanghai calendar day ((t AT TIME ZONE 'Asia/Shanghai')::date).
-- Triggers keep them in the transaction that writes the rows they count: cases (as the
-- difference between a case's old and new facts, so a late event that moves a case moves its
-- counts), events (append-only: counted once), alerts (by status). Money is in fen.

-- Settings the counting needs from esupd's configuration; esupd writes the row at start and
-- on reload.
CREATE TABLE stat_settings (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	late_report_hours int NOT NULL DEFAULT 24 CHECK (late_report_hours BETWEEN 1 AND 87600)
);
INSERT INTO stat_settings DEFAULT VALUES;

-- Cases, by the day of the fact counted (received, accepted, closed).
CREATE TABLE stat_case_day (
	dept text NOT NULL,
	item text NOT NULL,
	day date NOT NULL,
	received bigint NOT NULL DEFAULT 0,
	accepted bigint NOT NULL DEFAULT 0,
	decided bigint NOT NULL DEFAULT 0,
	approved bigint NOT NULL DEFAULT 0,
	denied bigint NOT NULL DEFAULT 0,
	on_time_committed bigint NOT NULL DEFAULT 0,
	on_time_statutory bigint NOT NULL DEFAULT 0,
	days_used_sum bigint NOT NULL DEFAULT 0,
	days_used_max bigint NOT NULL DEFAULT 0,
	suspended_days_sum bigint NOT NULL DEFAULT 0,
	refused_intake bigint NOT NULL DEFAULT 0,
	refusals_reported bigint NOT NULL DEFAULT 0,
	refusals_unreported bigint NOT NULL DEFAULT 0,
	withdrawn bigint NOT NULL DEFAULT 0,
	complaints_received bigint NOT NULL DEFAULT 0,
	complaints_replied_on_time bigint NOT NULL DEFAULT 0,
	complaints_closed bigint NOT NULL DEFAULT 0,
	complaints_closed_on_time bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (dept, item, day)
);

-- Events, by the day of their business time.
CREATE TABLE stat_event_day (
	dept text NOT NULL,
	day date NOT NULL,
	events bigint NOT NULL DEFAULT 0,
	late_reported bigint NOT NULL DEFAULT 0,
	supplement_requests bigint NOT NULL DEFAULT 0,
	fees_collected bigint NOT NULL DEFAULT 0,
	fees_collected_fen bigint NOT NULL DEFAULT 0,
	fees_refunded bigint NOT NULL DEFAULT 0,
	fees_refunded_fen bigint NOT NULL DEFAULT 0,
	inspections bigint NOT NULL DEFAULT 0,
	evaluations_satisfied bigint NOT NULL DEFAULT 0,
	evaluations_unsatisfied bigint NOT NULL DEFAULT 0,
	complaints_received bigint NOT NULL DEFAULT 0,
	complaints_replied bigint NOT NULL DEFAULT 0,
	complaints_closed bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (dept, day)
);

-- Penalties decided, by the band their amount falls in (the filing office the amount calls
-- for, '' when none) and the office they were filed with ('' when none).
CREATE TABLE stat_penalty_day (
	dept text NOT NULL,
	day date NOT NULL,
	band text NOT NULL,
	office text NOT NULL,
	penalties bigint NOT NULL DEFAULT 0,
	amount_fen bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (dept, day, band, office)
);

-- Alerts, by the day they were raised; valid as esup_alerts.valid says.
CREATE TABLE stat_alert_day (
	dept text NOT NULL,
	rule text NOT NULL,
	severity text NOT NULL,
	day date NOT NULL,
	raised bigint NOT NULL DEFAULT 0,
	valid bigint NOT NULL DEFAULT 0,
	revoked bigint NOT NULL DEFAULT 0,
	dismissed bigint NOT NULL DEFAULT 0,
	cancelled bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (dept, rule, severity, day)
);

-- Enterprises' dealings: their decided approval cases (by the day decided) and the
-- inspections of them (by the day started).
CREATE TABLE stat_enterprise_day (
	applicant text NOT NULL,
	dept text NOT NULL,
	day date NOT NULL,
	cases bigint NOT NULL DEFAULT 0,
	days_used_sum bigint NOT NULL DEFAULT 0,
	inspections bigint NOT NULL DEFAULT 0,
	PRIMARY KEY (applicant, dept, day)
);
CREATE INDEX stat_enterprise_day_day ON stat_enterprise_day (day);

-- ---------------------------------------------------------------- privileges

REVOKE ALL ON stat_settings, stat_case_day, stat_event_day, stat_penalty_day, stat_alert_day,
	stat_enterprise_day FROM PUBLIC;
GRANT SELECT ON stat_settings, stat_case_day, stat_event_day, stat_penalty_day, stat_alert_day,
	stat_enterprise_day TO esup_writer, esup_supervisor, esup_auditor;
ALTER TABLE stat_case_day ENABLE ROW LEVEL SECURITY;
ALTER TABLE stat_event_day ENABLE ROW LEVEL SECURITY;
ALTER TABLE stat_penalty_day ENABLE ROW LEVEL SECURITY;
ALTER TABLE stat_alert_day ENABLE ROW LEVEL SECURITY;
ALTER TABLE stat_enterprise_day ENABLE ROW LEVEL SECURITY;
CREATE POLICY daemon ON stat_case_day FOR SELECT TO esup_writer USING (true);
CREATE POLICY daemon ON stat_event_day FOR SELECT TO esup_writer USING (true);
CREATE POLICY daemon ON stat_penalty_day FOR SELECT TO esup_writer USING (true);
CREATE POLICY daemon ON stat_alert_day FOR SELECT TO esup_writer USING (true);
CREATE POLICY daemon ON stat_enterprise_day FOR SELECT TO esup_writer USING (true);
CREATE POLICY person ON stat_case_day FOR SELECT TO esup_supervisor, esup_auditor
	USING (dept = ANY ((SELECT esup_person_depts())::text[]));
CREATE POLICY person ON stat_event_day FOR SELECT TO esup_supervisor, esup_auditor
	USING (dept = ANY ((SELECT esup_person_depts())::text[]));
CREATE POLICY person ON stat_penalty_day FOR SELECT TO esup_supervisor, esup_auditor
	USING (dept = ANY ((SELECT esup_person_depts())::text[]));
CREATE POLICY person ON stat_alert_day FOR SELECT TO esup_supervisor, esup_auditor
	USING (dept = ANY ((SELECT esup_person_depts())::text[]));
CREATE POLICY person ON stat_enterprise_day FOR SELECT TO esup_supervisor, esup_auditor
	USING (dept = ANY ((SELECT esup_person_depts())::text[]));

-- ---------------------------------------------------------------- maintenance
--
-- The triggers run as the owner (SECURITY DEFINER: the writer may only read stat_*), in the
-- transaction that writes the counted row, and are ENABLE ALWAYS: rows a subscription
-- replicates here (federation) are counted like local ones, as esup_stats_rebuild would.
-- Each statement applies its deltas in key order (ORDER BY in the upsert), so that two
-- transactions updating the same counters queue instead of deadlocking within a statement.
-- Every key leads with the department: ingest transactions of one department already run one
-- after the other (the chain head, 012), and those of two departments share no counter row;
-- the sweeper changes no case fact that counts. Alerts, which ingest, the sweeper and
-- supervisors all change, are counted once per transaction, at COMMIT (stat_alert_pending).
-- Row triggers name every relation with its schema instead of SET search_path (which costs
-- about 40 us a call, 012); pg_catalog is searched first all the same.

-- Amounts as stored (validated by libmonitor: a string or number with at most two decimals),
-- in fen; anything else counts 0 rather than failing the insert it rides on.
CREATE FUNCTION esup_stat_fen(amount jsonb) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN pg_catalog.jsonb_typeof(amount) IN ('string', 'number')
	             AND (amount #>> '{}') ~ '^[0-9]{1,15}(\.[0-9]{1,20})?$'
	            THEN pg_catalog.round((amount #>> '{}')::numeric * 100)::bigint ELSE 0 END
$$;

-- The filing office whose [min_amount, max_amount) covers a penalty of `fen` (the band), ''
-- when none does; while filing_offices is empty, the seed's offices (as libmonitor uses them,
-- penalties.c): jianfuban below 3,000 yuan, youhuaban from 3,000 to 10,000, city from 10,000.
CREATE FUNCTION esup_stat_band(fen bigint) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, public, pg_temp AS $$
	SELECT coalesce(
		(SELECT f.office FROM filing_offices f
		  WHERE f.min_amount * 100 <= fen AND (f.max_amount IS NULL OR fen < f.max_amount * 100)
		  ORDER BY f.min_amount LIMIT 1),
		CASE WHEN NOT EXISTS (SELECT 1 FROM filing_offices) THEN
			CASE WHEN fen < 300000 THEN 'jianfuban' WHEN fen < 1000000 THEN 'youhuaban'
			     ELSE 'city' END END,
		'')
$$;

-- After a case row is written: the difference between its old and new contributions. The
-- WHEN clauses of the triggers below keep the sweeper's clock updates of open cases (and the
-- skeleton rows ingest locks) from calling it at all; here a change that adds nothing (a
-- decided case re-derived to the same facts) writes nothing. A maximum cannot be lowered by
-- a delta: when the old facts held a decided case at a key and the new ones do not hold it
-- there as high, that key's days_used_max is recomputed from `cases` (index cases_item_closed).
CREATE FUNCTION esup_stat_cases() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
	old_day date;
BEGIN
	-- One cached plan: the two versions as rows (OLD is NULL on INSERT, and then adds no row),
	-- each fact a row whose day is NULL when the fact does not apply.
	INSERT INTO public.stat_case_day AS s
	SELECT (v.k).dept, (v.k).item, f.day, sum(v.sign * f.rec), sum(v.sign * f.acc),
	       sum(v.sign * f.dec), sum(v.sign * f.app), sum(v.sign * f.den), sum(v.sign * f.otc),
	       sum(v.sign * f.ots), sum(v.sign * f.dsum),
	       coalesce(max(f.dsum) FILTER (WHERE v.sign > 0 AND f.dec > 0), 0),
	       sum(v.sign * f.ssum), sum(v.sign * f.ri), sum(v.sign * f.rrep), sum(v.sign * f.runrep),
	       sum(v.sign * f.wd), sum(v.sign * f.crec), sum(v.sign * f.crep), sum(v.sign * f.ccl),
	       sum(v.sign * f.cclot)
	  FROM (VALUES (1, NEW), (-1, OLD)) AS v (sign, k)
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

	IF TG_OP = 'UPDATE' AND OLD.kind = 'approval' AND OLD.result IN ('approved', 'denied')
	   AND OLD.closed_at IS NOT NULL
	   AND ((OLD.dept, OLD.item, (OLD.closed_at AT TIME ZONE 'Asia/Shanghai')::date)
		IS DISTINCT FROM (NEW.dept, NEW.item, (NEW.closed_at AT TIME ZONE 'Asia/Shanghai')::date)
		OR NEW.kind <> 'approval' OR NEW.result IS NULL
		OR NEW.result NOT IN ('approved', 'denied')
		OR NEW.counted_days < OLD.counted_days) THEN
		old_day := (OLD.closed_at AT TIME ZONE 'Asia/Shanghai')::date;
		UPDATE public.stat_case_day s SET days_used_max = coalesce((SELECT max(k.counted_days)
			FROM public.cases k
		       WHERE k.dept = OLD.dept AND k.item = OLD.item
			 AND k.closed_at >= old_day::timestamp AT TIME ZONE 'Asia/Shanghai'
			 AND k.closed_at < (old_day + 1)::timestamp AT TIME ZONE 'Asia/Shanghai'
			 AND k.kind = 'approval' AND k.result IN ('approved', 'denied')), 0)
		 WHERE s.dept = OLD.dept AND s.item = OLD.item AND s.day = old_day;
	END IF;

	INSERT INTO public.stat_enterprise_day AS s (applicant, dept, day, cases, days_used_sum)
	SELECT (v.k).applicant, (v.k).dept, f.day, sum(v.sign), sum(v.sign * (v.k).counted_days)
	  FROM (VALUES (1, NEW), (-1, OLD)) AS v (sign, k)
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
	RETURN NULL;
END
$$;

CREATE TRIGGER cases_stat_insert
	AFTER INSERT ON cases FOR EACH ROW
	WHEN (NEW.received_at IS NOT NULL OR NEW.accepted_at IS NOT NULL
	      OR NEW.closed_at IS NOT NULL OR NEW.replied_at IS NOT NULL)
	EXECUTE FUNCTION esup_stat_cases();
CREATE TRIGGER cases_stat_update
	AFTER UPDATE ON cases FOR EACH ROW
	WHEN ((OLD.dept, OLD.item, OLD.kind, OLD.received_at, OLD.accepted_at, OLD.closed_at,
	       OLD.result, OLD.reported, OLD.on_time_committed, OLD.on_time_statutory,
	       OLD.replied_at, OLD.reply_on_time, OLD.close_on_time, OLD.applicant)
	      IS DISTINCT FROM
	      (NEW.dept, NEW.item, NEW.kind, NEW.received_at, NEW.accepted_at, NEW.closed_at,
	       NEW.result, NEW.reported, NEW.on_time_committed, NEW.on_time_statutory,
	       NEW.replied_at, NEW.reply_on_time, NEW.close_on_time, NEW.applicant)
	      OR NEW.result IN ('approved', 'denied')
	         AND (OLD.counted_days, OLD.suspended_days)
	             IS DISTINCT FROM (NEW.counted_days, NEW.suspended_days))
	EXECUTE FUNCTION esup_stat_cases();

-- After each INSERT statement on events (events are append-only: each is counted once): one
-- grouped upsert per rollup over the statement's rows.
CREATE FUNCTION esup_stat_events() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
	late interval := make_interval(hours => coalesce(
		(SELECT s.late_report_hours FROM stat_settings s), 24));
BEGIN
	INSERT INTO stat_event_day AS s
	SELECT r.dept, (r.at AT TIME ZONE 'Asia/Shanghai')::date, count(*),
	       count(*) FILTER (WHERE r.received_at - r.at > late),
	       count(*) FILTER (WHERE r.type = 'approval.supplement_requested'),
	       count(*) FILTER (WHERE r.type = 'fee.collected'),
	       coalesce(sum(esup_stat_fen(r.body->'amount')) FILTER (WHERE r.type = 'fee.collected'), 0),
	       count(*) FILTER (WHERE r.type = 'fee.refunded'),
	       coalesce(sum(esup_stat_fen(r.body->'amount')) FILTER (WHERE r.type = 'fee.refunded'), 0),
	       count(*) FILTER (WHERE r.type = 'inspection.started'),
	       count(*) FILTER (WHERE r.type = 'evaluation.received' AND r.body->'satisfied' = 'true'),
	       count(*) FILTER (WHERE r.type = 'evaluation.received' AND r.body->'satisfied' = 'false'),
	       count(*) FILTER (WHERE r.type = 'complaint.received'),
	       count(*) FILTER (WHERE r.type = 'complaint.replied'),
	       count(*) FILTER (WHERE r.type = 'complaint.closed')
	  FROM new_rows r
	 GROUP BY 1, 2
	 ORDER BY 1, 2
	ON CONFLICT (dept, day) DO UPDATE SET
		events = s.events + EXCLUDED.events,
		late_reported = s.late_reported + EXCLUDED.late_reported,
		supplement_requests = s.supplement_requests + EXCLUDED.supplement_requests,
		fees_collected = s.fees_collected + EXCLUDED.fees_collected,
		fees_collected_fen = s.fees_collected_fen + EXCLUDED.fees_collected_fen,
		fees_refunded = s.fees_refunded + EXCLUDED.fees_refunded,
		fees_refunded_fen = s.fees_refunded_fen + EXCLUDED.fees_refunded_fen,
		inspections = s.inspections + EXCLUDED.inspections,
		evaluations_satisfied = s.evaluations_satisfied + EXCLUDED.evaluations_satisfied,
		evaluations_unsatisfied = s.evaluations_unsatisfied + EXCLUDED.evaluations_unsatisfied,
		complaints_received = s.complaints_received + EXCLUDED.complaints_received,
		complaints_replied = s.complaints_replied + EXCLUDED.complaints_replied,
		complaints_closed = s.complaints_closed + EXCLUDED.complaints_closed;

	INSERT INTO stat_penalty_day AS s
	SELECT p.dept, p.day, esup_stat_band(p.fen), p.office, count(*), sum(p.fen)
	  FROM (SELECT r.dept, (r.at AT TIME ZONE 'Asia/Shanghai')::date AS day,
		       esup_stat_fen(r.body->'amount') AS fen,
		       coalesce(r.body->'filing'->>'office', '') AS office
		  FROM new_rows r WHERE r.type = 'penalty.decided') p
	 GROUP BY 1, 2, 3, 4
	 ORDER BY 1, 2, 3, 4
	ON CONFLICT (dept, day, band, office) DO UPDATE SET
		penalties = s.penalties + EXCLUDED.penalties,
		amount_fen = s.amount_fen + EXCLUDED.amount_fen;

	INSERT INTO stat_enterprise_day AS s (applicant, dept, day, inspections)
	SELECT r.body->'enterprise'->>'uscc', r.dept, (r.at AT TIME ZONE 'Asia/Shanghai')::date,
	       count(*)
	  FROM new_rows r
	 WHERE r.type = 'inspection.started' AND r.body->'enterprise'->>'uscc' IS NOT NULL
	 GROUP BY 1, 2, 3
	 ORDER BY 1, 2, 3
	ON CONFLICT (applicant, dept, day) DO UPDATE SET
		inspections = s.inspections + EXCLUDED.inspections;
	RETURN NULL;
END
$$;

CREATE TRIGGER events_stat
	AFTER INSERT ON events REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION esup_stat_events();

-- Alerts are changed by ingest, the sweeper, supervisors and esupd's jobs, several alerts of
-- one department in one transaction, in whatever order their cases and rules come: counting
-- each change at once would lock the department's stat_alert_day rows in that order, and two
-- such transactions could deadlock. So a change only notes its difference in
-- stat_alert_pending (unlogged: it never outlives its transaction); the first note of a
-- transaction queues a deferred trigger, which at COMMIT moves the transaction's notes into
-- stat_alert_day in key order, so that writers queue in one order and never deadlock on it.
CREATE UNLOGGED TABLE stat_alert_pending (
	xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
	first boolean NOT NULL,
	dept text NOT NULL,
	rule text NOT NULL,
	severity text NOT NULL,
	day date NOT NULL,
	raised int NOT NULL,
	valid int NOT NULL,
	revoked int NOT NULL,
	dismissed int NOT NULL,
	cancelled int NOT NULL
);
CREATE INDEX stat_alert_pending_xid ON stat_alert_pending (xid);
REVOKE ALL ON stat_alert_pending FROM PUBLIC;

-- After an alert is raised or changes state: the difference, under the key of the day it was
-- raised, noted for the COMMIT. The WHEN clause leaves out changes that move no count
-- (acknowledge, appeal, escalate, resolve, supersede of an issued card).
CREATE FUNCTION esup_stat_alerts() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
	first boolean := NOT EXISTS (SELECT 1 FROM public.stat_alert_pending p
				     WHERE p.xid = pg_catalog.pg_current_xact_id());
BEGIN
	-- An alert counts as its row stands: raised once, valid as esup_alerts.valid (008), and its
	-- final state when revoked, dismissed or cancelled. OLD is NULL on INSERT: no row.
	INSERT INTO public.stat_alert_pending (first, dept, rule, severity, day, raised, valid,
		revoked, dismissed, cancelled)
	SELECT first AND v.sign = 1, (v.a).dept, (v.a).rule, (v.a).severity,
	       ((v.a).raised_at AT TIME ZONE 'Asia/Shanghai')::date, v.sign,
	       v.sign * ((v.a).issued_at IS NOT NULL
			 AND (v.a).status NOT IN ('revoked', 'dismissed', 'cancelled'))::int,
	       v.sign * ((v.a).status = 'revoked')::int, v.sign * ((v.a).status = 'dismissed')::int,
	       v.sign * ((v.a).status = 'cancelled')::int
	  FROM (VALUES (1, NEW), (-1, OLD)) AS v (sign, a)
	 WHERE (v.a).id IS NOT NULL;
	RETURN NULL;
END
$$;

-- At COMMIT (deferred), once per transaction that noted alert changes.
CREATE FUNCTION esup_stat_alerts_flush() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
	WITH d AS (DELETE FROM stat_alert_pending p WHERE p.xid = pg_current_xact_id() RETURNING p.*)
	INSERT INTO stat_alert_day AS s
	SELECT d.dept, d.rule, d.severity, d.day, sum(d.raised), sum(d.valid), sum(d.revoked),
	       sum(d.dismissed), sum(d.cancelled)
	  FROM d
	 GROUP BY d.dept, d.rule, d.severity, d.day
	HAVING sum(d.raised) <> 0 OR sum(d.valid) <> 0 OR sum(d.revoked) <> 0
	    OR sum(d.dismissed) <> 0 OR sum(d.cancelled) <> 0
	 ORDER BY d.dept, d.rule, d.severity, d.day
	ON CONFLICT (dept, rule, severity, day) DO UPDATE SET
		raised = s.raised + EXCLUDED.raised,
		valid = s.valid + EXCLUDED.valid,
		revoked = s.revoked + EXCLUDED.revoked,
		dismissed = s.dismissed + EXCLUDED.dismissed,
		cancelled = s.cancelled + EXCLUDED.cancelled;
	RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER stat_alert_pending_flush
	AFTER INSERT ON stat_alert_pending DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW WHEN (NEW.first) EXECUTE FUNCTION esup_stat_alerts_flush();
ALTER TABLE stat_alert_pending ENABLE ALWAYS TRIGGER stat_alert_pending_flush;

CREATE TRIGGER alerts_stat_insert
	AFTER INSERT ON alerts FOR EACH ROW EXECUTE FUNCTION esup_stat_alerts();
CREATE TRIGGER alerts_stat_update
	AFTER UPDATE ON alerts FOR EACH ROW
	WHEN ((OLD.dept, OLD.rule, OLD.severity, OLD.raised_at, OLD.issued_at IS NULL)
	      IS DISTINCT FROM (NEW.dept, NEW.rule, NEW.severity, NEW.raised_at, NEW.issued_at IS NULL)
	      OR OLD.status IS DISTINCT FROM NEW.status
	         AND (OLD.status IN ('revoked', 'dismissed', 'cancelled')
	              OR NEW.status IN ('revoked', 'dismissed', 'cancelled')))
	EXECUTE FUNCTION esup_stat_alerts();

ALTER TABLE cases ENABLE ALWAYS TRIGGER cases_stat_insert;
ALTER TABLE cases ENABLE ALWAYS TRIGGER cases_stat_update;
ALTER TABLE events ENABLE ALWAYS TRIGGER events_stat;
ALTER TABLE alerts ENABLE ALWAYS TRIGGER alerts_stat_insert;
ALTER TABLE alerts ENABLE ALWAYS TRIGGER alerts_stat_update;

-- ---------------------------------------------------------------- re-derivation

-- What each rollup holds when computed afresh from cases, events and alerts: the definition
-- the triggers keep incrementally, written as plain aggregates (so that a check compares two
-- formulations, not one with itself). Owner only.
CREATE FUNCTION esup_stats_computed_case_day() RETURNS SETOF stat_case_day
LANGUAGE sql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
	SELECT dept, item, day, sum(received)::bigint, sum(accepted)::bigint, sum(decided)::bigint,
	       sum(approved)::bigint, sum(denied)::bigint, sum(otc)::bigint, sum(ots)::bigint,
	       sum(dsum)::bigint, max(dmax)::bigint, sum(ssum)::bigint, sum(ri)::bigint,
	       sum(rrep)::bigint, sum(runrep)::bigint, sum(wd)::bigint, sum(crec)::bigint,
	       sum(crep)::bigint, sum(ccl)::bigint, sum(cclot)::bigint
	  FROM (SELECT k.dept, k.item, (k.received_at AT TIME ZONE 'Asia/Shanghai')::date AS day,
		       count(*) FILTER (WHERE k.kind = 'approval') AS received, 0 AS accepted,
		       0 AS decided, 0 AS approved, 0 AS denied, 0 AS otc, 0 AS ots, 0 AS dsum,
		       0 AS dmax, 0 AS ssum, 0 AS ri, 0 AS rrep, 0 AS runrep, 0 AS wd,
		       count(*) FILTER (WHERE k.kind = 'complaint') AS crec, 0 AS crep, 0 AS ccl,
		       0 AS cclot
		  FROM cases k WHERE k.received_at IS NOT NULL GROUP BY 1, 2, 3
		UNION ALL
		SELECT k.dept, k.item, (k.accepted_at AT TIME ZONE 'Asia/Shanghai')::date,
		       0, count(*), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
		  FROM cases k WHERE k.accepted_at IS NOT NULL AND k.kind = 'approval'
		 GROUP BY 1, 2, 3
		UNION ALL
		SELECT k.dept, k.item, (k.replied_at AT TIME ZONE 'Asia/Shanghai')::date,
		       0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, count(*), 0, 0
		  FROM cases k WHERE k.replied_at IS NOT NULL AND k.kind = 'complaint' AND k.reply_on_time
		 GROUP BY 1, 2, 3
		UNION ALL
		SELECT k.dept, k.item, (k.closed_at AT TIME ZONE 'Asia/Shanghai')::date, 0, 0,
		       count(*) FILTER (WHERE k.result IN ('approved', 'denied')),
		       count(*) FILTER (WHERE k.result = 'approved'),
		       count(*) FILTER (WHERE k.result = 'denied'),
		       count(*) FILTER (WHERE k.result IN ('approved', 'denied') AND k.on_time_committed),
		       count(*) FILTER (WHERE k.result IN ('approved', 'denied') AND k.on_time_statutory),
		       coalesce(sum(k.counted_days) FILTER (WHERE k.result IN ('approved', 'denied')), 0),
		       coalesce(max(k.counted_days) FILTER (WHERE k.result IN ('approved', 'denied')), 0),
		       coalesce(sum(k.suspended_days) FILTER (WHERE k.result IN ('approved', 'denied')), 0),
		       count(*) FILTER (WHERE k.result = 'refused_intake'),
		       count(*) FILTER (WHERE k.result IN ('denied', 'refused_intake') AND k.reported),
		       count(*) FILTER (WHERE k.result IN ('denied', 'refused_intake')
					  AND k.reported IS NOT TRUE),
		       count(*) FILTER (WHERE k.result = 'withdrawn'), 0, 0, 0, 0
		  FROM cases k WHERE k.closed_at IS NOT NULL AND k.kind = 'approval'
		 GROUP BY 1, 2, 3
		UNION ALL
		SELECT k.dept, k.item, (k.closed_at AT TIME ZONE 'Asia/Shanghai')::date,
		       0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, count(*),
		       count(*) FILTER (WHERE k.close_on_time)
		  FROM cases k WHERE k.closed_at IS NOT NULL AND k.kind = 'complaint'
		 GROUP BY 1, 2, 3) x
	 GROUP BY dept, item, day
$$;

CREATE FUNCTION esup_stats_computed_event_day() RETURNS SETOF stat_event_day
LANGUAGE sql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
	SELECT e.dept, (e.at AT TIME ZONE 'Asia/Shanghai')::date, count(*),
	       count(*) FILTER (WHERE e.received_at - e.at > make_interval(hours => coalesce(
			(SELECT s.late_report_hours FROM stat_settings s), 24))),
	       count(*) FILTER (WHERE e.type = 'approval.supplement_requested'),
	       count(*) FILTER (WHERE e.type = 'fee.collected'),
	       coalesce(sum(esup_stat_fen(e.body->'amount')) FILTER (WHERE e.type = 'fee.collected'), 0),
	       count(*) FILTER (WHERE e.type = 'fee.refunded'),
	       coalesce(sum(esup_stat_fen(e.body->'amount')) FILTER (WHERE e.type = 'fee.refunded'), 0),
	       count(*) FILTER (WHERE e.type = 'inspection.started'),
	       count(*) FILTER (WHERE e.type = 'evaluation.received' AND e.body->'satisfied' = 'true'),
	       count(*) FILTER (WHERE e.type = 'evaluation.received' AND e.body->'satisfied' = 'false'),
	       count(*) FILTER (WHERE e.type = 'complaint.received'),
	       count(*) FILTER (WHERE e.type = 'complaint.replied'),
	       count(*) FILTER (WHERE e.type = 'complaint.closed')
	  FROM events e GROUP BY 1, 2
$$;

CREATE FUNCTION esup_stats_computed_penalty_day() RETURNS SETOF stat_penalty_day
LANGUAGE sql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
	SELECT p.dept, p.day, esup_stat_band(p.fen), p.office, count(*), sum(p.fen)::bigint
	  FROM (SELECT e.dept, (e.at AT TIME ZONE 'Asia/Shanghai')::date AS day,
		       esup_stat_fen(e.body->'amount') AS fen,
		       coalesce(e.body->'filing'->>'office', '') AS office
		  FROM events e WHERE e.type = 'penalty.decided') p
	 GROUP BY 1, 2, 3, 4
$$;

CREATE FUNCTION esup_stats_computed_alert_day() RETURNS SETOF stat_alert_day
LANGUAGE sql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
	SELECT a.dept, a.rule, a.severity, (a.raised_at AT TIME ZONE 'Asia/Shanghai')::date,
	       count(*), count(*) FILTER (WHERE a.valid),
	       count(*) FILTER (WHERE a.status = 'revoked'),
	       count(*) FILTER (WHERE a.status = 'dismissed'),
	       count(*) FILTER (WHERE a.status = 'cancelled')
	  FROM esup_alerts a GROUP BY 1, 2, 3, 4
$$;

CREATE FUNCTION esup_stats_computed_enterprise_day() RETURNS SETOF stat_enterprise_day
LANGUAGE sql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
	SELECT applicant, dept, day, sum(cases)::bigint, sum(days_used_sum)::bigint,
	       sum(inspections)::bigint
	  FROM (SELECT k.applicant, k.dept, (k.closed_at AT TIME ZONE 'Asia/Shanghai')::date AS day,
		       count(*) AS cases, sum(k.counted_days) AS days_used_sum, 0 AS inspections
		  FROM cases k
		 WHERE k.kind = 'approval' AND k.applicant IS NOT NULL AND k.closed_at IS NOT NULL
		   AND k.result IN ('approved', 'denied')
		 GROUP BY 1, 2, 3
		UNION ALL
		SELECT e.body->'enterprise'->>'uscc', e.dept, (e.at AT TIME ZONE 'Asia/Shanghai')::date,
		       0, 0, count(*)
		  FROM events e
		 WHERE e.type = 'inspection.started' AND e.body->'enterprise'->>'uscc' IS NOT NULL
		 GROUP BY 1, 2, 3) x
	 GROUP BY applicant, dept, day
$$;

-- Recomputes every rollup from cases, events and alerts (the migration does it for the rows
-- that were there before it; after filing_offices or [rules] late_report_hours changed, it
-- counts the past under the new bands and threshold too, where the triggers counted each row
-- under those in force when it was written). Takes the rollups' locks for the transaction:
-- ingest waits meanwhile. Returns the rows written.
CREATE FUNCTION esup_stats_rebuild() RETURNS bigint
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
	n bigint;
	total bigint := 0;
BEGIN
	LOCK TABLE stat_case_day, stat_event_day, stat_penalty_day, stat_alert_day,
		stat_enterprise_day IN EXCLUSIVE MODE;
	TRUNCATE stat_case_day, stat_event_day, stat_penalty_day, stat_alert_day, stat_enterprise_day;
	INSERT INTO stat_case_day SELECT * FROM esup_stats_computed_case_day();
	GET DIAGNOSTICS n = ROW_COUNT;
	total := total + n;
	INSERT INTO stat_event_day SELECT * FROM esup_stats_computed_event_day();
	GET DIAGNOSTICS n = ROW_COUNT;
	total := total + n;
	INSERT INTO stat_penalty_day SELECT * FROM esup_stats_computed_penalty_day();
	GET DIAGNOSTICS n = ROW_COUNT;
	total := total + n;
	INSERT INTO stat_alert_day SELECT * FROM esup_stats_computed_alert_day();
	GET DIAGNOSTICS n = ROW_COUNT;
	total := total + n;
	INSERT INTO stat_enterprise_day SELECT * FROM esup_stats_computed_enterprise_day();
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN total + n;
END
$$;

-- Two versions of one rollup row as jsonb (counters only): differ unless equal, where a
-- missing row equals one whose counters are all zero (a case that moved leaves such rows).
CREATE FUNCTION esup_stat_rows_differ(kept jsonb, computed jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE
		WHEN kept IS NULL THEN EXISTS (SELECT 1 FROM jsonb_each(computed) x WHERE x.value <> '0')
		WHEN computed IS NULL THEN EXISTS (SELECT 1 FROM jsonb_each(kept) x WHERE x.value <> '0')
		ELSE kept <> computed END
$$;

-- The rollup rows that differ from a recomputation (esup_stats_computed_*): which rollup,
-- the key, and the counters kept and computed (NULL: no such row). Empty when the triggers
-- kept every count. Reads everything: an operator's check, not a report. Owner only.
CREATE FUNCTION esup_stats_check()
RETURNS TABLE (rollup text, key jsonb, kept jsonb, computed jsonb)
LANGUAGE sql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
	SELECT 'stat_case_day', jsonb_build_object('dept', coalesce(k.dept, c.dept),
		'item', coalesce(k.item, c.item), 'day', coalesce(k.day, c.day)),
	       to_jsonb(k) - '{dept,item,day}'::text[], to_jsonb(c) - '{dept,item,day}'::text[]
	  FROM stat_case_day k FULL JOIN esup_stats_computed_case_day() c
	    ON (k.dept, k.item, k.day) = (c.dept, c.item, c.day)
	 WHERE esup_stat_rows_differ(to_jsonb(k) - '{dept,item,day}'::text[],
				     to_jsonb(c) - '{dept,item,day}'::text[])
	UNION ALL
	SELECT 'stat_event_day', jsonb_build_object('dept', coalesce(k.dept, c.dept),
		'day', coalesce(k.day, c.day)),
	       to_jsonb(k) - '{dept,day}'::text[], to_jsonb(c) - '{dept,day}'::text[]
	  FROM stat_event_day k FULL JOIN esup_stats_computed_event_day() c
	    ON (k.dept, k.day) = (c.dept, c.day)
	 WHERE esup_stat_rows_differ(to_jsonb(k) - '{dept,day}'::text[],
				     to_jsonb(c) - '{dept,day}'::text[])
	UNION ALL
	SELECT 'stat_penalty_day', jsonb_build_object('dept', coalesce(k.dept, c.dept),
		'day', coalesce(k.day, c.day), 'band', coalesce(k.band, c.band),
		'office', coalesce(k.office, c.office)),
	       to_jsonb(k) - '{dept,day,band,office}'::text[], to_jsonb(c) - '{dept,day,band,office}'::text[]
	  FROM stat_penalty_day k FULL JOIN esup_stats_computed_penalty_day() c
	    ON (k.dept, k.day, k.band, k.office) = (c.dept, c.day, c.band, c.office)
	 WHERE esup_stat_rows_differ(to_jsonb(k) - '{dept,day,band,office}'::text[],
				     to_jsonb(c) - '{dept,day,band,office}'::text[])
	UNION ALL
	SELECT 'stat_alert_day', jsonb_build_object('dept', coalesce(k.dept, c.dept),
		'rule', coalesce(k.rule, c.rule), 'severity', coalesce(k.severity, c.severity),
		'day', coalesce(k.day, c.day)),
	       to_jsonb(k) - '{dept,rule,severity,day}'::text[],
	       to_jsonb(c) - '{dept,rule,severity,day}'::text[]
	  FROM stat_alert_day k FULL JOIN esup_stats_computed_alert_day() c
	    ON (k.dept, k.rule, k.severity, k.day) = (c.dept, c.rule, c.severity, c.day)
	 WHERE esup_stat_rows_differ(to_jsonb(k) - '{dept,rule,severity,day}'::text[],
				     to_jsonb(c) - '{dept,rule,severity,day}'::text[])
	UNION ALL
	SELECT 'stat_enterprise_day', jsonb_build_object('applicant', coalesce(k.applicant, c.applicant),
		'dept', coalesce(k.dept, c.dept), 'day', coalesce(k.day, c.day)),
	       to_jsonb(k) - '{applicant,dept,day}'::text[], to_jsonb(c) - '{applicant,dept,day}'::text[]
	  FROM stat_enterprise_day k FULL JOIN esup_stats_computed_enterprise_day() c
	    ON (k.applicant, k.dept, k.day) = (c.applicant, c.dept, c.day)
	 WHERE esup_stat_rows_differ(to_jsonb(k) - '{applicant,dept,day}'::text[],
				     to_jsonb(c) - '{applicant,dept,day}'::text[])
	 ORDER BY 1, 2
$$;

-- esupd writes [rules] late_report_hours here at start and on reload (the jobs' stat-settings
-- entry). Returns the value it replaced, NULL when it was the same.
CREATE FUNCTION esup_stat_settings_set(hours int) RETURNS int
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
	UPDATE stat_settings s SET late_report_hours = hours
	  FROM (SELECT late_report_hours AS was FROM stat_settings FOR UPDATE) o
	 WHERE s.late_report_hours IS DISTINCT FROM hours
	RETURNING o.was
$$;

REVOKE ALL ON FUNCTION esup_stat_fen(jsonb), esup_stat_band(bigint),
	esup_stat_cases(),
	esup_stat_events(), esup_stat_alerts(),
	esup_stat_alerts_flush(),
	esup_stats_computed_case_day(), esup_stats_computed_event_day(),
	esup_stats_computed_penalty_day(), esup_stats_computed_alert_day(),
	esup_stats_computed_enterprise_day(), esup_stats_rebuild(),
	esup_stat_rows_differ(jsonb, jsonb), esup_stats_check(), esup_stat_settings_set(int)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION esup_stat_settings_set(int) TO esup_writer;

-- The rows stored before this migration.
SELECT esup_stats_rebuild();
