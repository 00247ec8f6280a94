-- 022_filing.sql (issue 11, items 1 and 2): the departments' own hearing thresholds, and the
-- fee filing rules.
--
-- 听证 (行政处罚法 §63): what counts as a 较大数额 fine is left to the provinces and the State
-- Council's departments. libmonitor applies Henan's (河南省行政处罚听证办法, 省政府令第204号,
-- §4: 5,000 yuan for a citizen, 50,000 for a legal person or other organisation; esupd.conf
-- [rules] hearing_citizen_yuan, hearing_organisation_yuan) unless this table gives the
-- department a standard of its own (a ministry's, for a vertically managed office such as a
-- tax bureau), which prevails for that party kind. Columns are the CSV's header, in order
-- (docs/rules.md, config/samples/hearing_thresholds.csv); esup_refdata_csv() exports it and
-- every esupd reloads on the NOTIFY, as for the tables of 004.
CREATE TABLE hearing_thresholds (
	dept text NOT NULL CHECK (dept ~ '^[A-Za-z0-9_-]{1,64}$'),
	party_kind text NOT NULL CHECK (party_kind IN ('citizen', 'organisation')),
	min_amount numeric(14,2) NOT NULL CHECK (min_amount > 0),
	basis text NOT NULL CHECK (basis <> ''),
	PRIMARY KEY (dept, party_kind)
);

CREATE TRIGGER hearing_thresholds_notify
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON hearing_thresholds
	FOR EACH STATEMENT EXECUTE FUNCTION esup_notify_refdata();

GRANT SELECT ON hearing_thresholds TO esup_writer, esup_supervisor, esup_auditor;

-- 涉企收费备案 (seed 002 item 11): a fee, like a fine, is filed before it is collected, with the
-- office its proposed amount calls for (libmonitor/fees.c, filing.c).
INSERT INTO rules (code, severity) VALUES
	('FEE-FILING-MISSING', 'yellow'),
	('FEE-FILING-OFFICE', 'yellow');
