"""Sweeper benchmark (not part of tests/run: run contrib/bench/sweeper).

The design says the sweeper's cost follows the number of due cases, not the number of open
ones. This measures it: the time for esupd to re-derive DUE due cases, first with no other
open case in the database (the baseline), then with IDLE more open cases that are not due, in
the same run on the same cluster. The ratio should stay near 1 however large IDLE is.

Knobs (environment): ESUP_BENCH_DUE (default 2000), ESUP_BENCH_IDLE (50000).
"""

import os
import time

import psycopg

from conftest import CALENDAR, ITEMS, wait_for

DUE = int(os.environ.get("ESUP_BENCH_DUE", "2000"))
IDLE = int(os.environ.get("ESUP_BENCH_IDLE", "50000"))

# Open approval cases accepted an hour ago, as stored events and case rows, written directly:
# what ingest would have left behind, without the time to ingest them.
POPULATE = """
INSERT INTO events (seq, received_at, dept, event_id, type, at, case_no, item, principal, body)
OVERRIDING SYSTEM VALUE
SELECT nextval('events_seq'), now(), 'LY-SCJGJ', %(prefix)s || g, 'approval.accepted',
       now() - interval '1 hour', %(prefix)s || g, 'SCJG-001', 'bench',
       jsonb_build_object('id', %(prefix)s || g, 'dept', 'LY-SCJGJ', 'type', 'approval.accepted',
                          'case', %(prefix)s || g, 'item', 'SCJG-001',
                          'at', to_char((now() - interval '1 hour') AT TIME ZONE 'Asia/Shanghai',
                                        'YYYY-MM-DD"T"HH24:MI:SS"+08:00"'))
  FROM generate_series(1, %(count)s) g
"""
# A bound on the case's receipts (events_from, migration 027), as esupd's INSERT sets one: an
# hour before the events' (written by the statement before this one). Without it a case's
# events are read from every monthly partition, as for a case from before 027.
POPULATE_CASES = """
INSERT INTO cases (dept, case_no, item, status, next_check_at, events_from)
SELECT 'LY-SCJGJ', %(prefix)s || g, 'SCJG-001', 'accepted', now(), now() - interval '1 hour'
  FROM generate_series(1, %(count)s) g;
"""


def due(db):
    return db.scalar("SELECT count(*) FROM cases WHERE next_check_at <= now()")


def populate(db, prefix, count):
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as conn:
        for sql in (POPULATE, POPULATE_CASES):
            conn.execute(sql, {"prefix": prefix, "count": count})
        conn.execute("VACUUM ANALYZE cases")
        conn.execute("ANALYZE events")


def settle(db):
    """Lets the bulk load's WAL and dead rows not land on the measurement."""
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE cases")
        conn.execute("CHECKPOINT")


def sweep_time(db):
    """Makes the DUE cases due now and times the sweeper until none is due (polled over one
    connection every 5 ms)."""
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as conn:
        conn.execute("UPDATE cases SET next_check_at = now() WHERE case_no LIKE 'DUE-%%'")
        start = time.monotonic()
        while conn.execute("SELECT count(*) FROM cases WHERE next_check_at <= now()").fetchone()[0]:
            time.sleep(0.005)
        return time.monotonic() - start


def test_sweep_cost_follows_due_cases(daemon_factory, db):
    db.load("calendar", CALENDAR)
    db.load("items", ITEMS)
    populate(db, "DUE-", DUE)
    daemon_factory(sweeper={"interval_ms": "50"}, log={"level": "warning"}).start()
    wait_for(lambda: due(db) == 0, 300, "the first sweep of the due cases")
    settle(db)
    alone = min(sweep_time(db) for _ in range(3))
    populate(db, "IDLE-", IDLE)
    wait_for(lambda: due(db) == 0, 900, "the idle cases' first evaluation")
    assert db.scalar("SELECT count(*) FROM cases WHERE next_check_at > now()") == DUE + IDLE
    settle(db)
    among = min(sweep_time(db) for _ in range(3))
    print("\n%-52s %10s %8s" % ("sweeping %d due cases" % DUE, "seconds", "ratio"))
    print("%-52s %10.3f %8.3f" % ("baseline: no other open case", alone, 1.0))
    print("%-52s %10.3f %8.3f" % ("among %d open cases not due" % IDLE, among, among / alone))
