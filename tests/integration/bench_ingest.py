"""Ingest benchmark (not part of tests/run: run contrib/bench/ingest).

Measures how fast esupd acknowledges events end to end - TLS, validation, one transaction per
batch with idempotent insert, case evaluation and alerts, COMMIT with synchronous_commit on -
and reports it as a ratio to a baseline measured in the same run on the same cluster: the same
rows written by one COPY into a table shaped like `events`, committed once. The ratio says what
the daemon's work costs over the bare database, whatever the machine.

Knobs (environment): ESUP_BENCH_EVENTS (default 20000), ESUP_BENCH_CLIENTS (4),
ESUP_BENCH_BATCHES ("1,100": events per request, one run each); the feed's shares of late,
out-of-order and alerting cases ESUP_BENCH_LATE, ESUP_BENCH_OUT_OF_ORDER, ESUP_BENCH_ALERTING
(0.02 each; see benchfeed.py). Each case's events go in order on one connection.
"""

import json
import os
import threading
import time

import psycopg

import benchfeed
from conftest import SUPERVISION_TABLES, CALENDAR, ITEMS, SAMPLES

EVENTS = int(os.environ.get("ESUP_BENCH_EVENTS", "20000"))
CLIENTS = int(os.environ.get("ESUP_BENCH_CLIENTS", "4"))
BATCHES = [int(b) for b in os.environ.get("ESUP_BENCH_BATCHES", "1,100").split(",")]
LATE = float(os.environ.get("ESUP_BENCH_LATE", "0.02"))
OUT_OF_ORDER = float(os.environ.get("ESUP_BENCH_OUT_OF_ORDER", "0.02"))
ALERTING = float(os.environ.get("ESUP_BENCH_ALERTING", "0.02"))


def feed(tag, count):
    """CLIENTS streams of LY-SCJGJ's approval cases (tests/integration/benchfeed.py: dates
    relative to now, each case's events in order on one connection, the shares of late,
    out-of-order and alerting cases of ESUP_BENCH_LATE, _OUT_OF_ORDER, _ALERTING)."""
    return benchfeed.streams(tag, count, CLIENTS, ["LY-SCJGJ"], late=LATE,
                             out_of_order=OUT_OF_ORDER, alerting=ALERTING)


def baseline(db, events):
    """The bare database: the same rows, one COPY, one COMMIT (synchronous_commit on)."""
    events = benchfeed.flat(events)
    with psycopg.connect(db.conninfo("postgres")) as conn:
        conn.execute("CREATE TABLE bench_baseline (LIKE events INCLUDING DEFAULTS INCLUDING IDENTITY)")
        # The bare table: the hash chain's columns (migration 012) are the daemon's work.
        conn.execute("ALTER TABLE bench_baseline DROP COLUMN chain_seq, DROP COLUMN prev_hash,"
                     " DROP COLUMN hash")
        conn.commit()
        start = time.monotonic()
        with conn.cursor() as cur:
            with cur.copy("COPY bench_baseline (received_at, dept, event_id, type, at, case_no,"
                          " item, principal, body) FROM STDIN") as copy:
                for e in events:
                    copy.write_row(("2026-11-23T12:00:00+08:00", e["dept"], e["id"], e["type"],
                                    e["at"], e.get("case"), e.get("item"), "bench",
                                    json.dumps(e, ensure_ascii=False)))
        conn.commit()
        return time.monotonic() - start


def through_esupd(daemon, shares, batch):
    """CLIENTS keep-alive connections, each sending its stream in requests of `batch` events;
    every event must come back accepted."""
    errors = []

    def run(share):
        with daemon.client("dept-LY-SCJGJ", timeout=120) as c:
            for i in range(0, len(share), batch):
                r = c.post_events(share[i:i + batch])
                if r.status != 200 or r.json()["accepted"] != len(share[i:i + batch]):
                    errors.append((r.status, r.body[:200]))
                    return

    threads = [threading.Thread(target=run, args=(s,)) for s in shares]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    assert not errors, errors[:3]
    return elapsed


def test_ingest_throughput(daemon_factory, db):
    db.load("calendar", CALENDAR)
    db.load("items", ITEMS)
    for table in SUPERVISION_TABLES:
        db.load(table, SAMPLES / (table + ".csv"))
    d = daemon_factory(limits={"max_connections_per_principal": CLIENTS + 1},
                       log={"level": "warning"}).start()
    base = baseline(db, feed("base", EVENTS))
    rows = [("baseline: one COPY, one COMMIT", EVENTS / base, 1.0)]
    for batch in BATCHES:
        secs = through_esupd(d, feed("b%d" % batch, EVENTS), batch)
        rows.append(("esupd, %d clients, %d events/request" % (CLIENTS, batch),
                     EVENTS / secs, base / secs))
    print("\n%-44s %12s %8s" % ("ingest of %d events" % EVENTS, "events/s", "ratio"))
    for name, rate, ratio in rows:
        print("%-44s %12.0f %8.3f" % (name, rate, ratio))
