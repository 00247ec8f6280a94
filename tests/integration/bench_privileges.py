"""What esup_apply_evaluation's checks against forged alerts cost (docs/reliability.md, "Database
privileges"). Run by hand, not part of tests/run:

    ESUP_BUILD=build python3 -m pytest -q -s -p no:cacheprovider tests/integration/bench_privileges.py

Each of ESUP_BENCH_ROUNDS (3) rounds stores ESUP_BENCH_CASES (2000) fresh cases of one event
each (as esupd) and applies one evaluation per case that raises one alert (as esupd, in one
statement, as the daemon does). Prints the time PostgreSQL spent in the forgery checks
(esup_check_condition) and in the action-row trigger, as shares of the whole.
"""

import json
import os
import time

import psycopg

CASES = int(os.environ.get("ESUP_BENCH_CASES", "2000"))
ROUNDS = int(os.environ.get("ESUP_BENCH_ROUNDS", "3"))
DEPT = "LY-SCJGJ"


def evaluations(prefix):
    return [{"dept": DEPT, "case": "%s-%06d" % (prefix, n), "item": "SCJG-001",
             "status": "accepted", "unit": "working", "committed_days": 5, "statutory_days": 10,
             "counted_days": 1, "suspended_days": 0, "committed_day": "2026-03-09",
             "statutory_day": "2026-03-16", "level": None, "next_check": None,
             "conditions": [{"rule": "APR-DEADLINE-NOTICE", "severity": "notice",
                             "key": "APR-DEADLINE-NOTICE|%s|%s-%06d" % (DEPT, prefix, n),
                             "supersedes": None, "since": "2026-03-02T09:00:00+08:00",
                             "message": "bench", "evidence": ["%s-%06d-e" % (prefix, n)]}]}
            for n in range(CASES)]


def store_events(db, prefix):
    with psycopg.connect(db.conninfo("esupd"), autocommit=True) as conn:
        conn.execute(
            "WITH s AS (SELECT n, nextval('events_seq') AS seq, now() AS r"
            "           FROM generate_series(0, %(k)s - 1) n),"
            " i AS (INSERT INTO event_ids (dept, event_id, seq, received_at)"
            "       SELECT %(d)s::text, format('%%s-%%s-e', %(p)s::text, to_char(n, 'FM000000')),"
            "              seq, r FROM s)"
            " INSERT INTO events (seq, received_at, dept, event_id, type, at, case_no, item,"
            "                     principal, body) OVERRIDING SYSTEM VALUE"
            " SELECT seq, r, %(d)s::text, format('%%s-%%s-e', %(p)s::text, to_char(n, 'FM000000')),"
            "        'approval.accepted', now(),"
            "        format('%%s-%%s', %(p)s::text, to_char(n, 'FM000000')), 'SCJG-001', 'bench',"
            "        '{}' FROM s", {"k": CASES, "d": DEPT, "p": prefix})
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def apply_all(db, evs):
    """Seconds to apply the evaluations as esupd, in one statement and one transaction."""
    with psycopg.connect(db.conninfo("esupd"), autocommit=True) as conn:
        start = time.monotonic()
        raised = conn.execute("SELECT count(*) FROM jsonb_array_elements(%s::jsonb) x,"
                              " LATERAL esup_apply_evaluation(x, now())", (evs,)).fetchone()[0]
        took = time.monotonic() - start
    assert raised == CASES
    return took


def test_apply_checks_cost(db):
    """PostgreSQL's own per-function timing (track_functions): the time spent in the checks and
    in the action-row trigger against the whole statement, which a busy machine skews less
    than comparing two wall-clock runs."""
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as conn:
        conn.execute("ALTER DATABASE %s SET track_functions = 'pl'" % db.name)
    totals = []
    for n in range(ROUNDS):
        prefix = "R%d" % n
        store_events(db, prefix)
        totals.append(apply_all(db, json.dumps(evaluations(prefix))))
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as conn:
        spent = dict(conn.execute("SELECT funcname, total_time / 1000 FROM pg_stat_user_functions"
                                  ).fetchall())
    total, apply = sum(totals), spent["esup_apply_evaluation"]
    checks, trigger = spent["esup_check_condition"], spent["esup_alert_state_recorded"]
    alerts = CASES * ROUNDS
    print("\n%d alerts raised in %d statements: %.2f s in all (%.2f ms per alert), of which"
          " esup_apply_evaluation %.2f s, its forgery checks %.2f s (%.0f%%, %.3f ms per alert),"
          " the action-row trigger at COMMIT %.2f s (%.0f%%, %.3f ms per alert)"
          % (alerts, ROUNDS, total, 1000 * total / alerts, apply, checks, 100 * checks / total,
             1000 * checks / alerts, trigger, 100 * trigger / total, 1000 * trigger / alerts))
