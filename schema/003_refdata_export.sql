-- 003_refdata_export.sql: reference tables exported as the CSV text libmonitor loads.
--
-- A reference table's columns are its CSV file's header, in order, so the same parser reads a
-- file on an operator's desk (esupctl eval) and the table in the database (esupd). Export is a
-- function rather than COPY so the daemon can read it with an ordinary asynchronous query.

-- One CSV field (RFC 4180): quoted when it holds a comma, quote or line break; NULL is empty.
CREATE FUNCTION esup_csv_field(value text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT CASE
		WHEN value IS NULL THEN ''
		WHEN value ~ '[",\r\n]' THEN '"' || replace(value, '"', '""') || '"'
		ELSE value
	END
$$;

-- The whole table as CSV: a header of its column names, then one line per row, ordered so the
-- text is the same for the same contents.
CREATE FUNCTION esup_refdata_csv(tbl regclass) RETURNS text
LANGUAGE plpgsql STABLE SET search_path = public, pg_temp AS $$
DECLARE
	header text;
	fields text;
	body text;
BEGIN
	SELECT string_agg(attname, ',' ORDER BY attnum),
	       string_agg(format('esup_csv_field(%I::text)', attname), ' || '','' || ' ORDER BY attnum)
	  INTO header, fields
	  FROM pg_attribute
	 WHERE attrelid = tbl AND attnum > 0 AND NOT attisdropped;
	IF header IS NULL THEN
		RAISE EXCEPTION 'table % has no columns', tbl;
	END IF;
	EXECUTE format('SELECT coalesce(string_agg(line, E''\n'' ORDER BY line), '''') '
		'FROM (SELECT %s AS line FROM %s) rows', fields, tbl)
	   INTO body;
	RETURN header || E'\n' || body || CASE WHEN body = '' THEN '' ELSE E'\n' END;
END
$$;

REVOKE ALL ON FUNCTION esup_refdata_csv(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION esup_refdata_csv(regclass) TO esup_writer, esup_supervisor, esup_auditor;
