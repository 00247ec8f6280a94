-- 004_supervision_refdata.sql: the reference tables of the supervision rules: the fee
-- catalogue, penalty discretion tiers, filing offices by amount, enforcement officers and
-- their certificates, enterprises and their quiet production days, and the region hierarchy.
--
-- Each table's columns are its CSV file's header, in order (docs/rules.md), so the file
-- loads with \copy ... csv header, exports back alike through esup_refdata_csv(), and
-- libmonitor reads either. Money is numeric(14,2) yuan, as on the wire; an absent value (no
-- upper bound, no date, no text) is NULL, which is what an empty CSV field loads as. Any
-- change NOTIFYs esup_refdata, and every running esupd rebuilds its ruleset.

-- 收费目录. A fixed fee has min_amount = max_amount; no max_amount, no ceiling; a free item
-- (免费) may collect nothing. abolished_on is the first day the fee may no longer be collected.
CREATE TABLE fee_items (
	code text NOT NULL CHECK (code ~ '^[A-Za-z0-9._-]{1,64}$'),
	dept text NOT NULL CHECK (dept ~ '^[A-Za-z0-9_-]{1,64}$'),
	name text NOT NULL CHECK (name <> ''),
	min_amount numeric(14,2) NOT NULL CHECK (min_amount >= 0),
	max_amount numeric(14,2) CHECK (max_amount >= min_amount),
	basis text,
	abolished_on date,
	review_required boolean NOT NULL DEFAULT true,
	free boolean NOT NULL DEFAULT false,
	PRIMARY KEY (dept, code),
	CHECK (NOT free OR (min_amount = 0 AND max_amount = 0))
);

-- 自由裁量权阶次: the range a fine for a violation of a given severity must fall in.
CREATE TABLE penalty_tiers (
	violation text NOT NULL CHECK (violation ~ '^[A-Za-z0-9._-]{1,64}$'),
	severity text NOT NULL CHECK (severity IN ('minor', 'general', 'serious')),
	min_amount numeric(14,2) NOT NULL CHECK (min_amount >= 0),
	max_amount numeric(14,2) NOT NULL,
	description text,
	PRIMARY KEY (violation, severity),
	CHECK (max_amount >= min_amount)
);

-- 罚款收费备案 by amount (seed 002 item 11): from min_amount (inclusive) to max_amount
-- (exclusive; NULL: no cap). Ranges may leave gaps, never overlap. An empty table means the
-- seed's offices: jianfuban below 3,000, youhuaban 3,000 to 10,000, city from 10,000.
CREATE TABLE filing_offices (
	office text PRIMARY KEY CHECK (office ~ '^[A-Za-z0-9._-]{1,64}$'),
	min_amount numeric(14,2) NOT NULL CHECK (min_amount >= 0),
	max_amount numeric(14,2) CHECK (max_amount > min_amount),
	name text NOT NULL CHECK (name <> ''),
	EXCLUDE USING gist (numrange(min_amount, max_amount, '[)') WITH &&)
);

-- 执法证: one row per certificate an officer held; valid_to is the last valid day.
CREATE TABLE officers (
	id text NOT NULL CHECK (id ~ '^[A-Za-z0-9._-]{1,64}$'),
	dept text NOT NULL CHECK (dept ~ '^[A-Za-z0-9_-]{1,64}$'),
	name text NOT NULL CHECK (name <> ''),
	certificate text NOT NULL CHECK (certificate <> ''),
	valid_from date NOT NULL,
	valid_to date NOT NULL,
	PRIMARY KEY (id, certificate),
	CHECK (valid_to >= valid_from)
);

-- 安静生产日: days of the month on which an enterprise is not to be inspected, as "1-20"
-- or "1-5,25-31" (NULL for none). libmonitor checks the days themselves (1..31, ranges
-- ascending); the pattern here keeps obvious garbage out.
CREATE TABLE enterprises (
	uscc text PRIMARY KEY CHECK (uscc ~ '^[0-9A-HJ-NP-RTUWXY]{18}$'),
	name text NOT NULL CHECK (name <> ''),
	quiet_days text CHECK (quiet_days ~ '^[0-9]{1,2}(-[0-9]{1,2})?(,[0-9]{1,2}(-[0-9]{1,2})?)*$')
);

-- Administrative divisions (GB/T 2260 codes) for the province–city–county network;
-- departments.region and principals.region hold these codes.
CREATE TABLE regions (
	code text PRIMARY KEY CHECK (code ~ '^[0-9]{6}$'),
	name text NOT NULL CHECK (name <> ''),
	level text NOT NULL CHECK (level IN ('province', 'city', 'county')),
	parent text REFERENCES regions (code),
	CHECK ((level = 'province') = (parent IS NULL))
);

CREATE TRIGGER fee_items_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON fee_items
	FOR EACH STATEMENT EXECUTE FUNCTION esup_notify_refdata();
CREATE TRIGGER penalty_tiers_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON penalty_tiers
	FOR EACH STATEMENT EXECUTE FUNCTION esup_notify_refdata();
CREATE TRIGGER filing_offices_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON filing_offices
	FOR EACH STATEMENT EXECUTE FUNCTION esup_notify_refdata();
CREATE TRIGGER officers_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON officers
	FOR EACH STATEMENT EXECUTE FUNCTION esup_notify_refdata();
CREATE TRIGGER enterprises_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON enterprises
	FOR EACH STATEMENT EXECUTE FUNCTION esup_notify_refdata();
CREATE TRIGGER regions_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON regions
	FOR EACH STATEMENT EXECUTE FUNCTION esup_notify_refdata();

GRANT SELECT ON fee_items, penalty_tiers, filing_offices, officers, enterprises, regions
	TO esup_writer, esup_supervisor, esup_auditor;
