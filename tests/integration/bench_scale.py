"""Ingest with history (issue 12, "flat with history"; not part of tests/run: run
contrib/bench/scale).

The same esupd and cluster ingest the feed of contrib/bench/run (closed loop, CLIENTS keep-alive
connections, BATCH events a request, full rule evaluation) first into a database holding only
what the warm-up left (a few thousand cases), then again after OPEN open cases and CLOSED
closed alerts were written beside them; the figure is the ratio of the rates. What is filled:
OPEN approval cases of the feed's five departments, accepted over the past twelve months (one
stored event each, in the month's partition, hash chain and rollups kept), each with its case
row open (its events_from the event's receipt, as esupd's lock step sets it) and its next check
a month ahead (not due: the sweeper stays out of the rounds), and
CLOSED alerts of other cases, closed long ago (resolved, dismissed, revoked, superseded). The
rows go in as the owner with every trigger on, in transactions of 100,000. After the fill,
VACUUM ANALYZE and a CHECKPOINT, as autovacuum and time would leave them. Each phase runs
ROUNDS rounds of EVENTS events; the best round of each is compared (the machine's neighbours
slow single rounds down, never speed them up). Beside the rounds, in each phase: the time the
sweeper takes to re-derive DUE cases made due at once (contrib/bench/sweeper's cases, written
before the first phase; best of three), and esupd's resident memory (VmRSS, and its high-water
mark VmHWM) after the phase.

Knobs (environment): ESUP_BENCH_OPEN (default 1000000; the long form: 10000000),
ESUP_BENCH_CLOSED (100000; long form 1000000), ESUP_BENCH_EVENTS (20000), ESUP_BENCH_ROUNDS
(2), ESUP_BENCH_CLIENTS (4), ESUP_BENCH_BATCH (100), ESUP_BENCH_DUE (2000), ESUP_BENCH_STATEMENTS (0; N > 0: after each
phase, its N costliest statements by pg_stat_statements, planning and execution, nested ones
too; contrib/bench/scale then preloads the extension).
"""

import os
import time

import psycopg

import bench_fill
import bench_history
import bench_rederive
import bench_run
import bench_sweeper
import benchfeed
from conftest import DEPTS, wait_for

OPEN = int(os.environ.get("ESUP_BENCH_OPEN", "1000000"))
CLOSED = int(os.environ.get("ESUP_BENCH_CLOSED", "100000"))
EVENTS = int(os.environ.get("ESUP_BENCH_EVENTS", "20000"))
ROUNDS = int(os.environ.get("ESUP_BENCH_ROUNDS", "2"))
CLIENTS = int(os.environ.get("ESUP_BENCH_CLIENTS", "4"))
BATCH = int(os.environ.get("ESUP_BENCH_BATCH", "100"))
STATEMENTS = int(os.environ.get("ESUP_BENCH_STATEMENTS", "0"))
DUE = int(os.environ.get("ESUP_BENCH_DUE", "2000"))
CHUNK = 100000

# One chunk of open cases: case g of the chunk is department g % 5's, accepted some time in the
# past twelve months (and received then: its partition is that month's).
OPEN_EVENTS = """
INSERT INTO events (seq, received_at, dept, event_id, type, at, case_no, item, principal, body)
OVERRIDING SYSTEM VALUE
SELECT nextval('events_seq'), t, d, 'open-' || g, 'approval.accepted', t, 'OPEN-' || g, i, 'bench',
       jsonb_build_object('id', 'open-' || g, 'dept', d, 'type', 'approval.accepted',
                          'case', 'OPEN-' || g, 'item', i,
                          'at', to_char(t AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD"T"HH24:MI:SS"+08:00"'),
                          'applicant', jsonb_build_object('uscc', '91410300MA44ABCD1R',
                                                          'name', '洛阳样本企业'))
  FROM generate_series(%(lo)s::int, %(hi)s::int) g,
       LATERAL (SELECT (%(depts)s::text[])[1 + g %% 5] AS d,
                       now() - (g %% 525600) * interval '1 minute' AS t) x,
       LATERAL (SELECT min(code) AS i FROM items WHERE dept = x.d) y
 ORDER BY d, g
"""
# The monthly partitions esupd would have made over the past year (it makes them a month
# behind and three ahead; a year of events in events_default would not be a year's database).
PARTITIONS = bench_fill.partitions_sql(
    "date_trunc('month', now() AT TIME ZONE 'UTC') - interval '13 months'", 13)
OPEN_IDS = """
INSERT INTO event_ids (dept, event_id, seq, received_at)
SELECT dept, event_id, seq, received_at FROM events
 WHERE event_id LIKE 'open-%%' AND seq > %(after)s
"""
OPEN_CASES = """
INSERT INTO cases (dept, case_no, item, status, next_check_at, evaluated_at, kind, received_at,
                   accepted_at, applicant, events_from)
SELECT dept, case_no, item, 'accepted', now() + interval '30 days', received_at, 'approval',
       received_at, received_at, '91410300MA44ABCD1R', received_at
  FROM events WHERE event_id LIKE 'open-%%' AND seq > %(after)s
"""


def fill(db):
    depts = DEPTS[:5]
    start = time.monotonic()
    with psycopg.connect(db.conninfo("esup_admin"), autocommit=True) as conn:
        conn.execute("SET ROLE esup_owner")
        conn.execute(PARTITIONS)
        for lo in range(1, OPEN + 1, CHUNK):
            hi = min(OPEN, lo + CHUNK - 1)
            with conn.transaction():
                conn.execute("SET LOCAL synchronous_commit = off")
                after = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]
                conn.execute(OPEN_EVENTS, {"lo": lo, "hi": hi, "depts": depts})
                conn.execute(OPEN_IDS, {"after": after})
                conn.execute(OPEN_CASES, {"after": after})
        if CLOSED:
            conn.execute(bench_history.CLOSED_ALERTS, {"n": CLOSED})
    filled = time.monotonic() - start
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as su:
        su.execute("VACUUM ANALYZE")
        su.execute("CHECKPOINT")
    return filled


def statements(db, phase):
    """Resets pg_stat_statements (phase None), or prints the phase's costliest statements."""
    bench_run.statements(db, phase, STATEMENTS)


def rounds(d, phase):
    rates = []
    for r in range(ROUNDS):
        parts = benchfeed.streams("%s%d" % (phase, r), EVENTS, CLIENTS, DEPTS,
                                  **bench_run.SHARES)
        rnd, secs = bench_run.closed_loop(d, parts, BATCH)
        rates.append(EVENTS / secs)
        print("  %s round %d: %.0f events/s" % (phase, r + 1, rates[-1]), flush=True)
    return max(rates)


def sweeps(db, phase):
    best = min(bench_sweeper.sweep_time(db) for _ in range(3))
    print("  %s: %d due cases swept in %.3f s" % (phase, DUE, best), flush=True)
    return best


def test_scale(daemon_factory, refdb):
    db = refdb
    d = daemon_factory(limits={"max_connections_per_principal": CLIENTS + 2},
                       log={"level": "warning"}).start()
    print("\n== contrib/bench/scale: %d open cases, %d closed alerts; %d rounds of %d events,"
          " %d clients x %d events/request" % (OPEN, CLOSED, ROUNDS, EVENTS, CLIENTS, BATCH))
    bench_run.closed_loop(d, benchfeed.streams("warm", 4000, CLIENTS, DEPTS), BATCH)
    bench_sweeper.populate(db, "DUE-", DUE)
    wait_for(lambda: bench_sweeper.due(db) == 0, 300, "the first sweep of the due cases")
    small_open = db.scalar("SELECT count(*) FROM cases WHERE closed_at IS NULL")
    statements(db, None)
    small = rounds(d, "small")
    statements(db, "small")
    small_sweep = sweeps(db, "small")
    small_mem = bench_rederive.memory(d.pid)
    filled = fill(db)
    big_open = db.scalar("SELECT count(*) FROM cases WHERE closed_at IS NULL")
    closed = db.scalar("SELECT count(*) FROM alerts WHERE status IN ('resolved', 'dismissed',"
                       " 'revoked', 'superseded', 'cancelled')")
    print("  filled in %.0f s: %d open cases, %d closed alerts, %d partitions, %s" % (
        filled, big_open, closed, db.scalar("SELECT count(*) FROM pg_inherits"
                                            " WHERE inhparent = 'events'::regclass"),
        db.scalar("SELECT pg_size_pretty(pg_database_size(current_database()))")), flush=True)
    statements(db, None)
    big = rounds(d, "big")
    statements(db, "big")
    big_sweep = sweeps(db, "big")
    big_mem = bench_rederive.memory(d.pid)
    print("\n%-46s %14s" % ("closed loop, best round", "events/s"))
    print("%-46s %14.0f" % ("%d open cases" % small_open, small))
    print("%-46s %14.0f" % ("%d open cases, %d closed alerts" % (big_open, closed), big))
    print("%-46s %14.3f   (target: within 10%%, >= 0.9)" % ("ratio", big / small))
    print("\n%-46s %14s" % ("sweeping %d due cases, best of three" % DUE, "seconds"))
    print("%-46s %14.3f" % ("%d open cases" % small_open, small_sweep))
    print("%-46s %14.3f" % ("%d open cases, %d closed alerts" % (big_open, closed), big_sweep))
    print("%-46s %14.3f   (target: within 10%%, <= 1.1)" % ("ratio", big_sweep / small_sweep))
    print("\n%-46s %14s %10s" % ("esupd's memory after the phase, kB", "VmRSS", "VmHWM"))
    print("%-46s %14d %10d" % ("%d open cases" % small_open, small_mem["VmRSS"], small_mem["VmHWM"]))
    print("%-46s %14d %10d" % ("%d open cases, %d closed alerts" % (big_open, closed),
                                big_mem["VmRSS"], big_mem["VmHWM"]))
