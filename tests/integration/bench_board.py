"""Board benchmark (not part of tests/run: ESUP_BUILD=build python3 -m pytest
tests/integration/bench_board.py -s).

The board must cost what the live alerts cost, not what all alerts ever raised cost. This
fills a database with DEPTS departments (the sample's five in Luoyang, the rest spread over
Luoyang's districts and Kaifeng), ALERTS alerts of which LIVE are live or held (the rest
closed long ago, written directly as years of supervision would leave them) and CASES cases
of which OPEN are open; analyses it; and then times GET /v1/board (a supervisor of Luoyang, one
of Kaifeng, a department) and GET /v1/board/{dept} through esupd, REQUESTS each. Then esupd is
restarted with PostgreSQL's auto_explain (log_analyze) on for the esupd role, and each request
is made five times more, so the plans printed are those of the daemon's own statements: each must reach the alerts through the partial
index alerts_board (no scan of alerts) and the cases through cases_open.

Knobs (environment): ESUP_BENCH_ALERTS (default 100000), ESUP_BENCH_LIVE (500),
ESUP_BENCH_DEPTS (50), ESUP_BENCH_CASES (20000), ESUP_BENCH_OPEN (2000),
ESUP_BENCH_REQUESTS (50).
"""

import os
import re
import statistics
import time

import psycopg

from conftest import CALENDAR, ITEMS, add_principal, offset_to

ALERTS = int(os.environ.get("ESUP_BENCH_ALERTS", "100000"))
LIVE = int(os.environ.get("ESUP_BENCH_LIVE", "500"))
DEPTS = int(os.environ.get("ESUP_BENCH_DEPTS", "50"))
CASES = int(os.environ.get("ESUP_BENCH_CASES", "20000"))
OPEN = int(os.environ.get("ESUP_BENCH_OPEN", "2000"))
REQUESTS = int(os.environ.get("ESUP_BENCH_REQUESTS", "50"))
NOW = "2026-03-10T12:00:00+08:00"

# Departments beyond the sample's: every third in Kaifeng (410200), the rest in Luoyang's
# districts (410302…).
EXTRA_DEPTS = """
INSERT INTO departments (code, name, region)
SELECT 'BX-' || lpad(g::text, 4, '0'), '部门 ' || g,
       CASE WHEN g %% 3 = 0 THEN '410200' ELSE '4103' || lpad((g %% 20 + 2)::text, 2, '0') END
  FROM generate_series(1, %(n)s) g
"""

# g-th alert: live (open, acknowledged or held) for the first `live`, closed otherwise; of a
# department picked by g, with a case for two in three.
FILL_ALERTS = """
WITH d AS (SELECT array_agg(code ORDER BY code) AS codes FROM departments),
a AS (
INSERT INTO alerts (rule, severity, dept, case_no, item, region, dedup_key, message, since,
                    raised_at, status, status_at)
SELECT 'BENCH-' || (g %% 7), (ARRAY['notice', 'yellow', 'red'])[1 + g %% 3], x.dept,
       CASE WHEN g %% 3 <> 0 THEN 'BC-' || (g %% %(cases)s) END,
       CASE WHEN g %% 3 <> 0 THEN 'IT-' || (g %% 40) END,
       (SELECT region FROM departments WHERE code = x.dept),
       'BENCH|' || g, 'bench', t, t,
       CASE WHEN g <= %(live)s THEN (ARRAY['open', 'acknowledged', 'held'])[1 + g %% 3]
            ELSE (ARRAY['resolved', 'dismissed', 'revoked', 'superseded'])[1 + g %% 4] END, t
  FROM d, generate_series(1, %(n)s) g,
       LATERAL (SELECT d.codes[1 + g %% array_length(d.codes, 1)] AS dept,
                       timestamptz '2024-01-01 00:00+08' + g * interval '1 minute' AS t) x
 RETURNING id, status
)
INSERT INTO alert_actions (alert_id, action, actor, note, at, from_state, to_state)
SELECT id, 'bench', 'bench', '', now(), NULL, status FROM a
"""

FILL_CASES = """
WITH d AS (SELECT array_agg(code ORDER BY code) AS codes FROM departments)
INSERT INTO cases (dept, case_no, item, status, committed_days, statutory_days, counted_days,
                   committed_day, statutory_day, evaluated_at)
SELECT d.codes[1 + g %% array_length(d.codes, 1)], 'BC-' || g, 'IT-' || (g %% 40),
       CASE WHEN g <= %(open)s THEN (ARRAY['accepted', 'suspended', 'received'])[1 + g %% 3]
            ELSE 'decided' END,
       10, 20, g %% 25, date '2026-03-01' + g %% 30, date '2026-03-01' + g %% 40, now()
  FROM d, generate_series(1, %(n)s) g
"""


# The last: a floor to read the others against on a loaded machine (one alert by primary key
# order, the smallest query of the API).
PATHS = (("supervisor", "/v1/board"), ("supervisor-kf", "/v1/board"),
         ("dept-LY-ZJJ", "/v1/board"), ("supervisor", "/v1/board/LY-ZJJ"),
         ("supervisor", "/v1/alerts?limit=1"))


def timed(client, path):
    times = []
    for _ in range(REQUESTS):
        t = time.perf_counter()
        r = client.request("GET", path)
        times.append((time.perf_counter() - t) * 1000)
        assert r.status == 200, r.body
    return statistics.median(times), max(times), r.json()


def plans(log_text, marker):
    """The auto_explain entries whose query text contains marker."""
    found = []
    for entry in re.split(r"\n(?=\S+ \S+ \S+ \[\d+\] LOG:  duration: )", log_text):
        if "Query Text:" in entry and marker in entry:
            found.append(entry)
    return found


def test_board_at_scale(pg, db, daemon_factory, certs):
    db.load("calendar", CALENDAR)
    db.load("items", ITEMS)
    started = time.perf_counter()
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(EXTRA_DEPTS, {"n": DEPTS - 5})
        conn.execute(FILL_ALERTS, {"n": ALERTS, "live": LIVE, "cases": CASES})
        conn.execute(FILL_CASES, {"n": CASES, "open": OPEN})
        conn.execute("VACUUM ANALYZE alerts")
        conn.execute("VACUUM ANALYZE cases")
        conn.execute("VACUUM ANALYZE departments")
        live = conn.execute("SELECT count(*) FROM alerts WHERE status IN"
                            " ('held', 'open', 'acknowledged', 'appealed')").fetchone()[0]
    fill_s = time.perf_counter() - started
    add_principal(db, certs, "supervisor-kf", "supervisor", None, "410200")
    d = daemon_factory(testing={"clock_offset_s": offset_to(NOW)}).start()
    results = {}
    for who, path in PATHS:
        with d.client(who) as c:
            results[(who, path)] = timed(c, path)
    # Then the plans: auto_explain for esupd's sessions, which begin at the restart.
    d.stop()
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as conn:
        for setting in ("session_preload_libraries = 'auto_explain'",
                        "auto_explain.log_min_duration = 0", "auto_explain.log_analyze = on",
                        "auto_explain.log_buffers = on", "auto_explain.log_timing = on"):
            conn.execute("ALTER ROLE esupd IN DATABASE %s SET %s" % (db.name, setting))
    d.start()
    mark = pg.log.stat().st_size
    for who, path in PATHS:
        with d.client(who) as c:
            for _ in range(5):
                assert c.request("GET", path).status == 200
    board = results[("supervisor", "/v1/board")][2]
    assert sum(x["live"]["red"] + x["live"]["yellow"] + x["live"]["notice"] + x["held"]
               for x in board["departments"]) > 0
    with open(pg.log, errors="replace") as f:
        f.seek(mark)
        log = f.read()
    board_plans = plans(log, "'overdue_cases'")
    dept_plans = plans(log, "'other_alerts'")
    assert board_plans and dept_plans, log[-3000:]

    print("\n%d alerts (%d live or held), %d cases (%d open), %d departments; filled in %.1f s"
          % (ALERTS, live, CASES, OPEN, DEPTS, fill_s))
    print("%-16s %-20s %9s %9s %6s" % ("principal", "path", "median ms", "max ms", "depts"))
    for (who, path), (median, worst, body) in results.items():
        n = len(body.get("departments", [body.get("dept")]))
        print("%-16s %-20s %9.1f %9.1f %6d" % (who, path, median, worst, n))
    for name, found in (("the board's statement", board_plans),
                        ("GET /v1/board/{dept}'s statement", dept_plans)):
        ms = sorted(float(re.search(r"duration: ([0-9.]+) ms", f).group(1)) for f in found)
        print("%s under auto_explain (analyze, timing): %d runs, median %.2f ms, max %.2f ms"
              % (name, len(ms), statistics.median(ms), ms[-1]))
    for name, found in (("GET /v1/board (supervisor of 410300), warm", board_plans[4]),
                        ("GET /v1/board/LY-ZJJ, warm", dept_plans[-1])):
        plan = found[found.index("duration:"):]
        print("\n---- %s: %s" % (name, plan.split("\n", 1)[0]))
        print("\n".join(line for line in plan.split("\n")[1:] if "Query Text" not in line
                        and not line.lstrip().startswith(("WITH", "SELECT", "'"))))
    for found in board_plans + dept_plans:
        body = found.split("Query Text:", 1)[1]
        assert "Seq Scan on alerts" not in body, body
        assert "alerts_board" in body, body
        assert "Seq Scan on cases" not in body, body
