"""Ingest with and without the event hash chain (benchmark, not part of tests/run: run
contrib/bench/chain).

The same daemon and database ingest the same kind of events (bench_ingest.feed: approval cases,
all of ONE department, so every row takes the same chain head: the worst case) alternately with
the chain's triggers on and off (ALTER TABLE events DISABLE TRIGGER events_chain and
events_chain_head, as the superuser, between runs; the chain columns are made nullable for the
runs without them). Rounds alternate
on/off so that drift (cache, autovacuum, WAL) falls on both; the ratio is chain/no chain
events per second, same run. Beside the rates it reports the CPU time esupd and its database
backends spent per event in each mode (from /proc): on a machine shared with other work the
rates swing with the neighbours' load, CPU time much less.

Knobs (environment): ESUP_BENCH_EVENTS (default 20000 per run), ESUP_BENCH_CLIENTS (4),
ESUP_BENCH_BATCHES ("1,100"), ESUP_BENCH_ROUNDS (2: runs per mode and batch size).
"""

import os

from bench_ingest import CLIENTS, EVENTS, BATCHES, feed, through_esupd
from conftest import SUPERVISION_TABLES, CALENDAR, ITEMS, SAMPLES

ROUNDS = int(os.environ.get("ESUP_BENCH_ROUNDS", "2"))


def chain(db, on):
    db.query("ALTER TABLE events {0} TRIGGER events_chain, {0} TRIGGER events_chain_head".format(
        "ENABLE" if on else "DISABLE"))


def cpu_seconds(db, daemon):
    """CPU time so far of esupd and of every backend of its role (utime + stime)."""
    pids = [daemon.pid] + [r[0] for r in db.query(
        "SELECT pid FROM pg_stat_activity WHERE usename = 'esupd'")]
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def test_chain_cost(daemon_factory, db):
    db.load("calendar", CALENDAR)
    db.load("items", ITEMS)
    for table in SUPERVISION_TABLES:
        db.load(table, SAMPLES / (table + ".csv"))
    db.query("ALTER TABLE events ALTER chain_seq DROP NOT NULL, ALTER prev_hash DROP NOT NULL,"
             " ALTER hash DROP NOT NULL")
    d = daemon_factory(limits={"max_connections_per_principal": CLIENTS + 1},
                       log={"level": "warning"}).start()
    through_esupd(d, feed("warm", min(EVENTS, 2000)), 100)
    rows = []
    for batch in BATCHES:
        secs = {True: 0.0, False: 0.0}
        cpu = {True: 0.0, False: 0.0}
        for r in range(ROUNDS):
            for on in (True, False) if r % 2 == 0 else (False, True):
                chain(db, on)
                before = cpu_seconds(db, d)
                secs[on] += through_esupd(d, feed("c%d%d%d" % (batch, r, on), EVENTS), batch)
                cpu[on] += cpu_seconds(db, d) - before
        n = EVENTS * ROUNDS
        rows.append((batch, n / secs[False], n / secs[True], secs[False] / secs[True],
                     cpu[False] * 1e6 / n, cpu[True] * 1e6 / n))
    chain(db, True)
    print("\n%-36s %14s %14s %8s %12s %12s %8s" % (
        "ingest, %d clients, %d events x %d" % (CLIENTS, EVENTS, ROUNDS),
        "no chain ev/s", "chain ev/s", "ratio", "no chain CPU", "chain CPU", "ratio"))
    for batch, off, on, ratio, cpu_off, cpu_on in rows:
        print("%-36s %14.0f %14.0f %8.3f %9.0f us %9.0f us %8.3f" % (
            "%d events/request" % batch, off, on, ratio, cpu_off, cpu_on, cpu_off / cpu_on))
    chained = db.scalar("SELECT count(*) FROM events WHERE hash IS NOT NULL")
    assert chained >= EVENTS * ROUNDS * len(BATCHES)
