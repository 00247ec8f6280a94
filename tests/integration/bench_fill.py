"""The statistics at 10 M events (benchmark, not part of tests/run: run contrib/bench/fill).

Fills a fresh database with a realistic mix over 20 departments and two years (2025-01 to
2026-12, Asia/Shanghai): approval cases with their steps (received, accepted or refused at
intake, a review step, supplement notices, fees collected and some refunded, decided approved or
denied with or without a report, or withdrawn), inspections, penalties with their filing,
complaints (received, replied, closed), evaluations, and some late-reported events; and the
alerts such a history raises (valid, revoked, dismissed). Rows go in as the owner through plain
INSERTs with every trigger on, so the hash chain (012/018) and the rollups (014) are kept as in
production, one transaction per month of one wave. What does not go through esupd: the cases'
facts are generated with the events (libmonitor does not derive them), and each case row is
written once, in its final state.

Two waves over the same two years: the first brings ESUP_FILL_SMALL events (default 1,000,000),
then a department's monthly report and the ranking are timed (best of 5, as an auditor of
the whole city: row-level security on); the second brings the total to ESUP_FILL_EVENTS
(default 10,000,000) and they are timed again; the ratio large/small is printed. The report
query is esup_stats.dept_month (migration 015) and the ranking esup_scores() (016) when the
database has them; without 015 the report is read from the rollup tables directly, without 016
the ranking is skipped (printed as such).
"""

import os
import time

import psycopg

from conftest import SAMPLES, dbsetup

SMALL = int(os.environ.get("ESUP_FILL_SMALL", "1000000"))
TOTAL = int(os.environ.get("ESUP_FILL_EVENTS", "10000000"))
DEPTS = 20
MONTHS = [(2025 + m // 12, m % 12 + 1) for m in range(24)]
EVENTS_PER_CASE = 3.58      # the mix below: 70 % approvals (4.36 events), 7.5 % inspections (2),
                            # 5 % penalties (2), 5 % complaints (3), 12.5 % evaluations (1)
REPORT_DEPT = "LY-SCJGJ"
REPORT_MONTH = "2026-03"

DEPARTMENTS = [("LY-SCJGJ", "洛阳市市场监督管理局"), ("LY-ZJJ", "洛阳市住房和城乡建设局"),
               ("LY-HBJ", "洛阳市生态环境局"), ("LY-ZRZYJ", "洛阳市自然资源和规划局"),
               ("LY-GGZY", "洛阳市公共资源交易中心")] + [
    ("LY-B%02d" % n, "洛阳市第%d委办局" % n) for n in range(6, DEPTS + 1)]

# Case attributes for one month of one wave: one row per case (approvals, inspections,
# penalties, complaints, evaluations), drawn once so that the events and the case row agree.
CASES_SQL = """
INSERT INTO fill_cases
SELECT d.code, format('%%s-W%%s-%%s-%%s', d.code, %(wave)s::int, %(tag)s::text, g), k.kind,
       d.code || '-I' || (g %% 3), t0,
       CASE WHEN r2 < 0.03 THEN 21 + (random() * 10)::int ELSE 1 + (random() * 12)::int END,
       CASE WHEN r1 < 0.02 THEN 'refused_intake' WHEN r1 < 0.03 THEN 'withdrawn'
            WHEN r1 < 0.10 THEN 'denied' ELSE 'approved' END,
       random() < 0.10, CASE WHEN random() < 0.3 THEN (10000 + (random() * 490000)::int) ELSE 0 END,
       random() < 0.05, '91410300MA' || lpad((random() * 4999)::int::text, 8, '0'), random() < 0.02,
       random() < 0.85, (50000 + random() * 5000000)::bigint,
       (ARRAY['jianfuban', 'youhuaban', 'city', ''])[1 + (random() * 3.99)::int]
  FROM departments d
 CROSS JOIN generate_series(1, %(per_dept)s::int) g
 CROSS JOIN LATERAL (SELECT CASE WHEN g %% 40 < 28 THEN 'A' WHEN g %% 40 < 31 THEN 'I'
                                 WHEN g %% 40 < 33 THEN 'P' WHEN g %% 40 < 35 THEN 'C'
                                 ELSE 'E' END AS kind,
                            random() AS r1, random() AS r2,
                            ((%(month)s::date + ((random() * (%(days)s::int - 1))::int) * interval '1 day'
                              + interval '8 hours' + (random() * 540)::int * interval '1 minute')
                             AT TIME ZONE 'Asia/Shanghai') AS t0) k
 WHERE d.code LIKE 'LY-%%'
"""

# The events of those cases, as a department's system would send them; received a minute
# and a half after their business time, a late one 30 hours after.
EVENTS_SQL = """
WITH ev AS (
  SELECT nextval('events_seq') AS seq, c.dept, c.case_no || '-' || e.k AS event_id, e.type,
         e.at, c.case_no, CASE WHEN c.kind = 'A' THEN c.item END AS item,
         e.at + CASE WHEN c.late AND e.k = 1 THEN interval '30 hours'
                     ELSE interval '90 seconds' END AS received_at,
         jsonb_build_object('id', c.case_no || '-' || e.k, 'dept', c.dept, 'type', e.type,
                            'at', to_char(e.at AT TIME ZONE 'Asia/Shanghai',
                                          'YYYY-MM-DD"T"HH24:MI:SS"+08:00"'),
                            'case', c.case_no) || e.extra AS body
    FROM fill_cases c CROSS JOIN LATERAL (VALUES
      (1, CASE c.kind WHEN 'A' THEN 'approval.received' WHEN 'I' THEN 'inspection.started'
                      WHEN 'P' THEN 'penalty.decided' WHEN 'C' THEN 'complaint.received'
                      ELSE 'evaluation.received' END, c.t0,
          CASE c.kind
            WHEN 'A' THEN jsonb_build_object('item', c.item, 'applicant',
                            jsonb_build_object('uscc', c.applicant, 'name', '洛阳样本企业有限公司'))
            WHEN 'I' THEN jsonb_build_object('enterprise',
                            jsonb_build_object('uscc', c.applicant, 'name', '洛阳样本企业有限公司'),
                            'officers', jsonb_build_array(jsonb_build_object('id', 'P0031',
                              'certificate', '41030021001357')),
                            'filing', jsonb_build_object('office', c.office, 'ref', 'JC-1'))
            WHEN 'P' THEN jsonb_build_object('party', jsonb_build_object('uscc', c.applicant,
                              'name', '洛阳样本企业有限公司'), 'violation', 'HB-05',
                            'severity', 'general', 'amount', (c.amount_fen / 100)::text,
                            'filing', jsonb_build_object('office', c.office, 'ref', 'BA-1'))
            WHEN 'C' THEN jsonb_build_object('subject', '办理中被要求重复提交材料',
                                             'against', c.dept)
            ELSE jsonb_build_object('satisfied', c.satisfied, 'window', '服务大厅1号窗口') END),
      (2, CASE c.kind WHEN 'A' THEN CASE WHEN c.outcome = 'refused_intake'
                                         THEN 'approval.refused_intake'
                                         ELSE 'approval.accepted' END
                      WHEN 'I' THEN 'inspection.ended' WHEN 'P' THEN 'penalty.filed'
                      WHEN 'C' THEN 'complaint.replied' END,
          c.t0 + interval '1 hour',
          CASE WHEN c.kind = 'A' AND c.outcome = 'refused_intake'
               THEN jsonb_build_object('reason', '不属于本机关职权范围', 'report', 'BSL-1')
               WHEN c.kind = 'P' THEN jsonb_build_object('filing',
                                        jsonb_build_object('office', c.office, 'ref', 'BA-1'))
               ELSE '{}' END),
      (3, CASE WHEN c.kind = 'A' AND c.outcome <> 'refused_intake' THEN 'approval.step'
               WHEN c.kind = 'C' THEN 'complaint.closed' END,
          c.t0 + interval '1 day',
          CASE WHEN c.kind = 'A' THEN '{"step": "review", "handler": "P0012"}'::jsonb
               ELSE '{}' END),
      (4, CASE WHEN c.kind = 'A' AND c.supplement AND c.outcome <> 'refused_intake'
               THEN 'approval.supplement_requested' END,
          c.t0 + interval '2 days', '{"materials": "从业人员健康证明"}'::jsonb),
      (5, CASE WHEN c.kind = 'A' AND c.fee_fen > 0 AND c.outcome IN ('approved', 'denied')
               THEN 'fee.collected' END,
          c.t0 + c.used * interval '1 day' - interval '1 hour',
          jsonb_build_object('fee_item', 'F-1', 'amount', to_char(c.fee_fen / 100.0, 'FM999990.00'),
                             'payer', jsonb_build_object('uscc', c.applicant,
                                                         'name', '洛阳样本企业有限公司'))),
      (6, CASE WHEN c.kind = 'A' AND c.fee_fen > 0 AND c.refund
                    AND c.outcome IN ('approved', 'denied') THEN 'fee.refunded' END,
          c.t0 + (c.used + 1) * interval '1 day',
          jsonb_build_object('fee_item', 'F-1', 'amount', to_char(c.fee_fen / 100.0, 'FM999990.00'),
                             'of', c.case_no || '-5')),
      (7, CASE WHEN c.kind = 'A' AND c.outcome IN ('approved', 'denied') THEN 'approval.decided'
               WHEN c.kind = 'A' AND c.outcome = 'withdrawn' THEN 'approval.withdrawn' END,
          c.t0 + c.used * interval '1 day',
          CASE WHEN c.outcome = 'denied' AND c.satisfied
               THEN '{"result": "denied", "reason": "材料不符合要求", "report": "BPZ-1"}'::jsonb
               WHEN c.outcome = 'denied' THEN '{"result": "denied"}'::jsonb
               ELSE '{"result": "approved"}'::jsonb END)
    ) e (k, type, at, extra)
   WHERE e.type IS NOT NULL
), ids AS (
  INSERT INTO event_ids (dept, event_id, seq, received_at)
  SELECT dept, event_id, seq, received_at FROM ev
)
INSERT INTO events (seq, received_at, dept, event_id, type, at, case_no, item, principal, body)
OVERRIDING SYSTEM VALUE
SELECT seq, received_at, dept, event_id, type, at, case_no, item, 'fill', body
  FROM ev ORDER BY dept, at, seq
"""

# The case rows, in their final state, with the facts of migration 013.
CASE_ROWS_SQL = """
INSERT INTO cases (dept, case_no, item, status, committed_days, statutory_days, counted_days,
                   kind, received_at, accepted_at, closed_at, result, reported, supplements,
                   on_time_committed, on_time_statutory, replied_at, reply_on_time,
                   close_on_time, applicant, evaluated_at)
SELECT c.dept, c.case_no, CASE WHEN c.kind = 'A' THEN c.item ELSE '' END,
       CASE WHEN c.kind <> 'A' THEN 'decided' WHEN c.outcome = 'refused_intake' THEN 'refused'
            WHEN c.outcome = 'withdrawn' THEN 'withdrawn' ELSE 'decided' END,
       10, 20, CASE WHEN c.kind = 'A' THEN c.used ELSE 0 END,
       CASE c.kind WHEN 'A' THEN 'approval' WHEN 'C' THEN 'complaint' ELSE 'other' END,
       CASE WHEN c.kind IN ('A', 'C') THEN c.t0 END,
       CASE WHEN c.kind = 'A' AND c.outcome <> 'refused_intake' THEN c.t0 + interval '1 hour' END,
       CASE WHEN c.kind = 'A' AND c.outcome = 'refused_intake' THEN c.t0 + interval '1 hour'
            WHEN c.kind = 'A' THEN c.t0 + c.used * interval '1 day'
            WHEN c.kind = 'C' THEN c.t0 + interval '1 day' END,
       CASE WHEN c.kind = 'A' THEN c.outcome WHEN c.kind = 'C' THEN 'closed' END,
       CASE WHEN c.kind = 'A' AND c.outcome = 'refused_intake' THEN true
            WHEN c.kind = 'A' AND c.outcome = 'denied' THEN c.satisfied END,
       CASE WHEN c.kind = 'A' AND c.supplement AND c.outcome <> 'refused_intake' THEN 1 ELSE 0 END,
       CASE WHEN c.kind = 'A' AND c.outcome IN ('approved', 'denied') THEN c.used <= 10 END,
       CASE WHEN c.kind = 'A' AND c.outcome IN ('approved', 'denied') THEN c.used <= 20 END,
       CASE WHEN c.kind = 'C' THEN c.t0 + interval '1 hour' END,
       CASE WHEN c.kind = 'C' THEN true END,
       CASE WHEN c.kind = 'C' THEN c.satisfied END,
       CASE WHEN c.kind = 'A' THEN c.applicant END,
       c.t0 + interval '40 days'
  FROM fill_cases c WHERE c.kind IN ('A', 'C')
"""

# Alerts of the month: one per 60 cases, most issued and still valid, some revoked or
# dismissed; a third red, a third yellow, a third notices.
ALERTS_SQL = """
WITH a AS (
INSERT INTO alerts (rule, severity, dept, case_no, dedup_key, message, since, raised_at, status,
                    status_at, region, item, issued_at)
SELECT (ARRAY['APR-DEADLINE-RED', 'APR-DEADLINE-YELLOW', 'APR-DEADLINE-NOTICE',
              'APR-REFUSAL-NO-REPORT', 'CMP-REPLY-LATE'])[1 + n % 5],
       (ARRAY['red', 'yellow', 'notice'])[1 + n % 3], c.dept, c.case_no,
       'fill:' || c.case_no, '样本告警', c.t0, c.t0 + interval '2 days',
       CASE WHEN n % 10 = 0 THEN 'revoked' WHEN n % 10 = 1 THEN 'dismissed' ELSE 'resolved' END,
       c.t0 + interval '5 days', '410300', c.item, c.t0 + interval '2 days'
  FROM (SELECT c.*, row_number() OVER () AS n FROM fill_cases c) c
 WHERE c.n % 60 = 0
RETURNING id, status, status_at, raised_at
)
INSERT INTO alert_actions (alert_id, action, actor, at, from_state, to_state, actor_role)
SELECT id, 'raise', 'fill', raised_at, NULL, 'open', 'system' FROM a
UNION ALL
SELECT id, status, 'fill', status_at, 'open', status, 'system' FROM a
"""

DEPT_MONTH_RAW = """
SELECT (SELECT sum(decided) FROM stat_case_day WHERE dept = %(d)s AND day >= %(m)s::date
          AND day < %(m)s::date + interval '1 month'),
       (SELECT sum(on_time_committed)::numeric / nullif(sum(decided), 0) FROM stat_case_day
         WHERE dept = %(d)s AND day >= %(m)s::date AND day < %(m)s::date + interval '1 month'),
       (SELECT sum(fees_collected_fen - fees_refunded_fen) FROM stat_event_day
         WHERE dept = %(d)s AND day >= %(m)s::date AND day < %(m)s::date + interval '1 month'),
       (SELECT sum(valid) FROM stat_alert_day WHERE dept = %(d)s AND severity = 'red'
          AND day >= %(m)s::date AND day < %(m)s::date + interval '1 month')
"""


def partitions_sql(first, months):
    """The monthly partitions of events (with their TRUNCATE guard) of `months` months from
    `first`, an SQL expression of a UTC timestamp at a month's start, as esupd would have made
    them as time went by; those that exist are left alone."""
    return """
DO $$
DECLARE lo timestamp; part text;
BEGIN
	FOR m IN 0 .. %d LOOP
		lo := %s + make_interval(months => m);
		part := 'events_' || to_char(lo, 'YYYY_MM');
		CONTINUE WHEN to_regclass(format('public.%%I', part)) IS NOT NULL;
		EXECUTE format('CREATE TABLE %%I PARTITION OF events FOR VALUES FROM (%%L) TO (%%L)',
			part, to_char(lo, 'YYYY-MM-DD') || ' 00:00:00+00',
			to_char(lo + interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00');
		EXECUTE format('CREATE TRIGGER %%I BEFORE TRUNCATE ON %%I '
			'FOR EACH STATEMENT EXECUTE FUNCTION esup_append_only()',
			part || '_no_truncate', part);
	END LOOP;
END $$""" % (months - 1, first)


def owner(db):
    conn = psycopg.connect(db.conninfo("esup_admin"), autocommit=True)
    conn.execute("SET ROLE esup_owner")
    return conn


def prepare(pg, db):
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as su:
        # A loading server: fewer checkpoints. Nothing here changes what a query plans.
        su.execute("ALTER SYSTEM SET max_wal_size = '8GB'")
        su.execute("ALTER SYSTEM SET checkpoint_timeout = '30min'")
        su.execute("SELECT pg_reload_conf()")
    db.load("filing_offices", SAMPLES / "filing_offices.csv")
    with owner(db) as conn:
        conn.execute("DELETE FROM departments WHERE code NOT IN (SELECT unnest(%s::text[]))",
                     ([d for d, _ in DEPARTMENTS],))
        for code, name in DEPARTMENTS:
            conn.execute("INSERT INTO departments (code, name, region) VALUES (%s, %s, '410300')"
                         " ON CONFLICT (code) DO NOTHING", (code, name))
        conn.execute("INSERT INTO items (code, dept, name, statutory_days, committed_days, unit)"
                     " SELECT d.code || '-I' || i, d.code, '样本事项' || i, 20, 10, 'working'"
                     " FROM departments d, generate_series(0, 2) i ON CONFLICT DO NOTHING")
        # The monthly partitions esupd would have made as the two years went by.
        conn.execute(partitions_sql("timestamp '2025-01-01'", 26))
    dbsetup(pg, "person", "add", "fill_auditor", "--role", "auditor", dbname=db.name)


def wave(db, number, events):
    per_dept = max(1, round(events / (DEPTS * len(MONTHS) * EVENTS_PER_CASE)))
    with owner(db) as conn:
        conn.execute("CREATE TEMP TABLE fill_cases (dept text, case_no text, kind text, item text,"
                     " t0 timestamptz, used int, outcome text, supplement bool, fee_fen bigint,"
                     " refund bool, applicant text, late bool, satisfied bool, amount_fen bigint,"
                     " office text)")
        start = time.monotonic()
        for y, m in MONTHS:
            month = "%04d-%02d-01" % (y, m)
            days = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[m - 1]
            with conn.transaction():
                conn.execute("SET LOCAL synchronous_commit = off")
                conn.execute("TRUNCATE fill_cases")
                conn.execute(CASES_SQL, {"wave": number, "tag": "%04d%02d" % (y, m),
                                         "per_dept": per_dept, "month": month, "days": days})
                conn.execute(EVENTS_SQL)
                conn.execute(CASE_ROWS_SQL)
                conn.execute(ALERTS_SQL)
        secs = time.monotonic() - start
    # The steady state autovacuum keeps: the rollup rows were updated many times per month's
    # transaction, and their dead versions would otherwise be timed too. As the superuser, who
    # may vacuum every table (the owner may not vacuum the catalogue).
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as su:
        su.execute("VACUUM (ANALYZE)")
    return secs


def best_of_5(conn, sql, params=None):
    times = []
    for _ in range(6):
        t = time.monotonic()
        conn.execute(sql, params).fetchall()
        times.append((time.monotonic() - t) * 1000)
    return min(times[1:])


def timings(db):
    with psycopg.connect(db.conninfo("fill_auditor"), autocommit=True) as conn:
        has_views = conn.execute("SELECT to_regclass('esup_stats.dept_month') IS NOT NULL").fetchone()[0]
        has_scores = conn.execute("SELECT to_regproc('esup_scores') IS NOT NULL").fetchone()[0]
        if has_views:
            report = best_of_5(conn, "SELECT * FROM esup_stats.dept_month WHERE dept = %s"
                               " AND period = %s::date", (REPORT_DEPT, REPORT_MONTH + "-01"))
        else:
            report = best_of_5(conn, DEPT_MONTH_RAW, {"d": REPORT_DEPT, "m": REPORT_MONTH + "-01"})
        ranking = best_of_5(conn, "SELECT * FROM esup_scores(%s)", (REPORT_MONTH,)) \
            if has_scores else None
    return report, ranking, has_views


def test_fill(db):
    prepare(db.pg, db)
    rows = []
    done = 0
    for number, target in ((1, SMALL), (2, TOTAL)):
        secs = wave(db, number, target - done)
        done = db.scalar("SELECT count(*) FROM events")
        report, ranking, has_views = timings(db)
        rows.append((done, secs, report, ranking))
        print("\nwave %d: %d events in the database, filled in %.0f s (%.0f events/s);"
              " report %.2f ms, ranking %s" % (
                  number, done, secs, (done - (rows[-2][0] if len(rows) > 1 else 0)) / secs,
                  report, "%.2f ms" % ranking if ranking is not None else "n/a"), flush=True)
    size = db.scalar("SELECT pg_size_pretty(pg_database_size(current_database()))")
    what = "esup_stats.dept_month" if rows and has_views else "stat_* tables (no 015)"
    print("\n%-44s %12s %12s %8s" % ("best of 5, as an auditor (RLS on)", "%d events" % rows[0][0],
                                     "%d events" % rows[1][0], "ratio"))
    print("%-44s %10.2f ms %10.2f ms %8.2f" % ("monthly report of %s, %s (%s)" % (
        REPORT_DEPT, REPORT_MONTH, what), rows[0][2], rows[1][2], rows[1][2] / rows[0][2]))
    if rows[0][3] is not None:
        print("%-44s %10.2f ms %10.2f ms %8.2f" % ("ranking, esup_scores('%s')" % REPORT_MONTH,
                                                   rows[0][3], rows[1][3], rows[1][3] / rows[0][3]))
    else:
        print("ranking: esup_scores() is not in this database (migration 016 missing)")
    print("database size %s" % size)
    assert rows[1][0] >= TOTAL * 0.9
