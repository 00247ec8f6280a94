"""Ingest with and without the statistics rollup triggers (benchmark, not part of tests/run:
run contrib/bench/rollups).

The same daemon and database ingest the same kind of events (bench_ingest.feed: approval cases
received, accepted, stepped and decided, so three events in four change a case's facts and run
the cases trigger, and every statement runs the events trigger) alternately with the rollup
triggers of migration 014 on and off (ALTER TABLE ... DISABLE TRIGGER, as the superuser,
between runs). Rounds alternate on/off so that drift (cache, autovacuum, WAL) falls on both;
the ratio is rollups/no rollups events per second, same run. At the end the rollups are
rebuilt, since the runs without triggers left them behind.

Knobs (environment): ESUP_BENCH_EVENTS (default 20000 per run), ESUP_BENCH_CLIENTS (4),
ESUP_BENCH_BATCHES ("1,100"), ESUP_BENCH_ROUNDS (2: runs per mode and batch size),
ESUP_BENCH_TABLES ("cases,events,alerts": whose rollup triggers are switched).
"""

import os

from bench_ingest import CLIENTS, EVENTS, BATCHES, feed, through_esupd
from conftest import SUPERVISION_TABLES, CALENDAR, ITEMS, SAMPLES

ROUNDS = int(os.environ.get("ESUP_BENCH_ROUNDS", "2"))
TRIGGERS = {"cases": ("cases_stat_insert", "cases_stat_update"), "events": ("events_stat",),
            "alerts": ("alerts_stat_insert", "alerts_stat_update")}
TABLES = os.environ.get("ESUP_BENCH_TABLES", "cases,events,alerts").split(",")


def rollups(db, on):
    for table, names in TRIGGERS.items():
        if table not in TABLES and not on:
            continue
        db.query("ALTER TABLE %s %s" % (table, ", ".join(
            "%s TRIGGER %s" % ("ENABLE ALWAYS" if on else "DISABLE", n) for n in names)))


def test_rollups_cost(daemon_factory, db):
    db.load("calendar", CALENDAR)
    db.load("items", ITEMS)
    for table in SUPERVISION_TABLES:
        db.load(table, SAMPLES / (table + ".csv"))
    d = daemon_factory(limits={"max_connections_per_principal": CLIENTS + 1},
                       log={"level": "warning"}).start()
    through_esupd(d, feed("warm", min(EVENTS, 2000)), 100)
    rows = []
    for batch in BATCHES:
        secs = {True: 0.0, False: 0.0}
        for r in range(ROUNDS):
            for on in (True, False) if r % 2 == 0 else (False, True):
                rollups(db, on)
                secs[on] += through_esupd(d, feed("r%d%d%d" % (batch, r, on), EVENTS), batch)
        n = EVENTS * ROUNDS
        rows.append((batch, n / secs[False], n / secs[True], secs[False] / secs[True]))
    rollups(db, True)
    print("\n%-36s %14s %14s %8s" % ("ingest, %d clients, %d events x %d" % (CLIENTS, EVENTS, ROUNDS),
                                     "no rollups ev/s", "rollups ev/s", "ratio"))
    for batch, off, on, ratio in rows:
        print("%-36s %14.0f %14.0f %8.3f" % ("%d events/request" % batch, off, on, ratio))
    db.query("SELECT esup_stats_rebuild()")
    assert db.query("SELECT * FROM esup_stats_check()") == []
    decided = db.scalar("SELECT sum(decided) FROM stat_case_day")
    assert decided == db.scalar("SELECT count(*) FROM events WHERE type = 'approval.decided'")
