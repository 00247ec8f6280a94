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
