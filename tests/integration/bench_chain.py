"""Ingest with and without the event hash chain (benchmark, not part of tests/run: run
contrib/bench/chain).

The same daemon and database ingest the same kind of events (bench_ingest.feed: approval cases,
all of ONE department, so every row takes the same chain head: the worst case) alternately with
the chain's triggers on and off (ALTER TABLE events DISABLE TRIGGER events_chain and
events_chain_head, as the superuser, between runs; the chain columns are made nullable for the
runs without them). Rounds alternate
on/off so that drift (cache, autovacuum, WAL) falls on both; the ratio is chain/no chain
events per second, same run.

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
        for r in range(ROUNDS):
            for on in (True, False) if r % 2 == 0 else (False, True):
                chain(db, on)
                secs[on] += through_esupd(d, feed("c%d%d%d" % (batch, r, on), EVENTS), batch)
        n = EVENTS * ROUNDS
        rows.append((batch, n / secs[False], n / secs[True], secs[False] / secs[True]))
    chain(db, True)
    print("\n%-36s %14s %14s %8s" % ("ingest, %d clients, %d events x %d" % (CLIENTS, EVENTS, ROUNDS),
                                     "no chain ev/s", "chain ev/s", "ratio"))
    for batch, off, on, ratio in rows:
        print("%-36s %14.0f %14.0f %8.3f" % ("%d events/request" % batch, off, on, ratio))
    chained = db.scalar("SELECT count(*) FROM events WHERE hash IS NOT NULL")
    assert chained >= EVENTS * ROUNDS * len(BATCHES)
