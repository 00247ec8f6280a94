"""History benchmark (not part of tests/run: run contrib/bench/history).

Alert writes and cross-case context must cost the same whatever the history. This measures,
in one run on one cluster, the same ingest into two databases, each with its own esupd, in
alternating rounds: one empty (the baseline), one holding CLOSED closed alerts and PENALTIES
earlier penalties against one party, written directly (as years of supervision would leave
them). Both are warmed up and analysed first, as autovacuum keeps a live database. Each ingest is EVENTS penalty.decided
events, a quarter of them about that party, each raising a condition (a minor fine above its
tier's floor), sent by CLIENTS clients of LY-HBJ in requests of BATCH events; meanwhile a
client of LY-ZJJ sends one-event requests one after another, and their latency is what
another department waits behind the heavy batches. The ratios should stay near 1.

Knobs (environment): ESUP_BENCH_CLOSED (default 100000; the long form: 1000000),
ESUP_BENCH_PENALTIES (10000), ESUP_BENCH_EVENTS (2000), ESUP_BENCH_CLIENTS (4),
ESUP_BENCH_BATCH (100), ESUP_BENCH_ROUNDS (3).
"""

import os
import statistics
import subprocess
import threading
import time

import psycopg

import pytest

from conftest import (CALENDAR, ESUPD, ITEMS, SAMPLES, SUPERVISION_TABLES, Daemon, Database,
                      _counter, as_daemon_user, chown_daemon, default_config, event, free_port,
                      register, write_config)

CLOSED = int(os.environ.get("ESUP_BENCH_CLOSED", "100000"))
PENALTIES = int(os.environ.get("ESUP_BENCH_PENALTIES", "10000"))
EVENTS = int(os.environ.get("ESUP_BENCH_EVENTS", "2000"))
CLIENTS = int(os.environ.get("ESUP_BENCH_CLIENTS", "4"))
BATCH = int(os.environ.get("ESUP_BENCH_BATCH", "100"))
ROUNDS = int(os.environ.get("ESUP_BENCH_ROUNDS", "3"))

PARTY = "91410305MA45N8QX60"   # the party with the long history
OTHERS = ["91410300MA44ABCD1R", "91410300MA9LD7HU5K", "91410307MA44XG7T3D"]

CLOSED_ALERTS = """
WITH a AS (
INSERT INTO alerts (rule, severity, dept, case_no, dedup_key, message, since, raised_at,
                    status, status_at)
SELECT 'PEN-NOT-LOWEST', 'notice', 'LY-HBJ', 'OLD-' || g, 'PEN-NOT-LOWEST|LY-HBJ|OLD-' || g || '|old-' || g,
       'closed long ago', t, t, (ARRAY['resolved', 'dismissed', 'revoked', 'superseded'])[1 + g %% 4], t
  FROM generate_series(1, %(n)s) g,
       LATERAL (SELECT timestamptz '2024-01-01 00:00+08' + g * interval '1 minute' AS t) x
 RETURNING id, status
)
INSERT INTO alert_actions (alert_id, action, actor, note, at, from_state, to_state)
SELECT id, 'close', 'history', '', now(), 'open', status FROM a
"""

# Earlier penalties against PARTY, one every 30 minutes back from 2026-02-28, in their own cases.
HISTORY = """
INSERT INTO events (seq, received_at, dept, event_id, type, at, case_no, item, principal, body)
OVERRIDING SYSTEM VALUE
SELECT nextval('events_seq'), now(), 'LY-HBJ', 'old-' || g, 'penalty.decided', t, 'OLD-' || g,
       NULL, 'bench',
       jsonb_build_object('id', 'old-' || g, 'dept', 'LY-HBJ', 'type', 'penalty.decided',
                          'case', 'OLD-' || g,
                          'at', to_char(t AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD"T"HH24:MI:SS"+08:00"'),
                          'party', jsonb_build_object('uscc', %(party)s::text),
                          'violation', 'HB-05', 'severity', 'general', 'amount', '5000.00',
                          'filing', jsonb_build_object('office', 'youhuaban', 'ref', 'R' || g))
  FROM generate_series(1, %(n)s) g,
       LATERAL (SELECT timestamptz '2026-02-28 12:00+08' - g * interval '30 minutes' AS t) x
"""


def feed(tag, count):
    """Minor fines of 2000 yuan (floor 1000: PEN-NOT-LOWEST) in March 2026, a quarter about
    PARTY; each in its own case, filed."""
    parties = [PARTY] + OTHERS
    return [{"id": "h%s-%d" % (tag, n), "dept": "LY-HBJ", "type": "penalty.decided",
             "at": "2026-03-%02dT%02d:%02d:00+08:00" % (2 + n % 20, 9 + n % 8, n % 60),
             "case": "LY-HBJ-H%s-%06d" % (tag, n), "party": {"uscc": parties[n % 4]},
             "violation": "HB-05", "severity": "minor", "amount": "2000.00",
             "filing": {"office": "jianfuban", "ref": "J-%s-%d" % (tag, n)}}
            for n in range(count)]


def post(client, events):
    """As a client must: resend on 429 and 503."""
    return client.post_events_committed(events, deadline=120)


def run(daemon, tag, count=EVENTS):
    """The heavy ingest with the small requests beside it: (events/s, latencies of the small
    requests, latencies of the heavy ones)."""
    events = feed(tag, count)
    shares = [events[i::CLIENTS] for i in range(CLIENTS)]
    errors, small, big = [], [], []
    done = threading.Event()

    def heavy(share):
        with daemon.client("dept-LY-HBJ", timeout=300) as c:
            for i in range(0, len(share), BATCH):
                start = time.monotonic()
                r = post(c, share[i:i + BATCH])
                big.append(time.monotonic() - start)
                if r.status != 200 or r.json()["accepted"] != len(share[i:i + BATCH]):
                    errors.append((r.status, r.body[:200]))
                    return

    def light():
        with daemon.client("dept-LY-ZJJ", timeout=300) as c:
            n = 0
            while not done.is_set():
                start = time.monotonic()
                r = post(c, [event(dept="LY-ZJJ", id="s%s-%d" % (tag, n))])
                small.append(time.monotonic() - start)
                if r.status != 200:
                    errors.append((r.status, r.body[:200]))
                    return
                n += 1

    threads = [threading.Thread(target=heavy, args=(s,)) for s in shares]
    side = threading.Thread(target=light)
    start = time.monotonic()
    side.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    done.set()
    side.join()
    assert not errors, errors[:3]
    return count / elapsed, small, big


def populate(db):
    with psycopg.connect(db.conninfo("esup_admin"), autocommit=True) as conn:
        conn.execute("SET ROLE esup_owner")
        start = time.monotonic()
        conn.execute(CLOSED_ALERTS, {"n": CLOSED})
        conn.execute(HISTORY, {"n": PENALTIES, "party": PARTY})
        loaded = time.monotonic() - start
    settle(db)
    return loaded


def settle(db):
    """Statistics as autovacuum would keep them, and the bulk load's WAL and dead rows not
    on the measurement."""
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE alerts")
        conn.execute("VACUUM ANALYZE events")
        conn.execute("VACUUM ANALYZE cases")
        conn.execute("CHECKPOINT")


@pytest.fixture
def empty_db(pg, certs, workdir):
    """A second database, migrated and registered as the db fixture's, and its directory."""
    testdir = workdir / ("t%03d-bench-history-empty" % next(_counter))
    testdir.mkdir(mode=0o755)
    chown_daemon(testdir)
    name = "esup_%d" % next(_counter)
    with pg.connect() as conn:
        conn.execute("CREATE DATABASE %s OWNER esup_owner" % name)
    database = Database(pg, name)
    conf = testdir / "migrate.conf"
    write_config(conf, default_config(database, certs, testdir, free_port()))
    proc = subprocess.run([str(ESUPD), "-c", str(conf), "--migrate"], capture_output=True,
                          text=True, timeout=120, cwd=testdir, **as_daemon_user())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with pg.connect() as conn:
        conn.execute("GRANT esup_writer TO esupd")
    register(database, certs)
    return database, testdir


def load_refdata(db):
    db.load("calendar", CALENDAR)
    db.load("items", ITEMS)
    for table in SUPERVISION_TABLES:
        db.load(table, SAMPLES / (table + ".csv"))


def start(daemon):
    daemon.start()
    with daemon.client("dept-LY-ZJJ") as c:
        assert post(c, [event(dept="LY-ZJJ")]).status == 200
    run(daemon, "warm", EVENTS // 4)
    settle(daemon.db)
    return daemon


def test_history_costs(daemon_factory, db, empty_db, certs):
    config = {"limits": {"max_connections_per_principal": str(CLIENTS + 1)},
              "log": {"level": "warning"}}
    load_refdata(db)
    load_refdata(empty_db[0])
    loaded = populate(db)
    assert db.scalar("SELECT count(*) FROM alerts WHERE status <> 'open'") >= CLOSED
    hist = start(daemon_factory(**config))
    empty = start(Daemon(empty_db[0], certs, empty_db[1], **config))
    results = {"empty": [], "hist": []}
    try:
        # Alternating rounds: the machine's other load falls on both alike.
        for n in range(ROUNDS):
            for name, daemon in (("empty", empty), ("hist", hist)):
                results[name].append(run(daemon, "%s%d" % (name, n)))
    finally:
        empty.stop()
    rate = {k: statistics.median(r for r, _, _ in v) for k, v in results.items()}
    small = {k: [x for _, s, _ in v for x in s] for k, v in results.items()}
    big = {k: statistics.median(x for _, _, b in v for x in b) for k, v in results.items()}
    print("\n%d penalty.decided events per round, %d rounds, %d clients x %d events/request;"
          " one-event requests of another department beside them" % (EVENTS, ROUNDS, CLIENTS, BATCH))
    print("history written in %.1f s: %d closed alerts, %d penalties against one party"
          % (loaded, CLOSED, PENALTIES))
    print("%-26s %9s %6s | %-29s %6s | %s" % ("", "", "", "one-event requests: ms", "",
                                            "heavy: ms"))
    print("%-26s %9s %6s | %9s %9s %9s %6s | %9s" % ("median of the rounds", "events/s",
                                                   "ratio", "p50", "p90", "max", "n", "p50"))
    for name, label in (("empty", "empty database"), ("hist", "with the history")):
        s = sorted(small[name])
        print("%-26s %9.0f %6.3f | %9.1f %9.1f %9.1f %6d | %9.1f" % (
            label, rate[name], rate[name] / rate["empty"], statistics.median(s) * 1000,
            s[int(len(s) * 0.9)] * 1000, s[-1] * 1000, len(s), big[name] * 1000))
