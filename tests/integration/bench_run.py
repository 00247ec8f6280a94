"""contrib/bench/run: issue 12's same-run ingest benchmark (not part of tests/run).

One cluster (fsync and synchronous_commit on), one run, three parts, each printed as it ends:

(a) the limit: the same event rows COPYed by one and by two sessions (each its half, at once)
    into a bare events-shaped table (no index, no trigger), then into esup's own `events` and
    `event_ids` with all their indexes and triggers (hash chain, rollups), as the owner;
(b) the peer: Debian's rsyslog, TLS input requiring client certificates (imtcp, ossl driver,
    x509/certvalid), mmjsonparse, ompgsql into a table of the parsed fields and the raw line,
    an action queue of two workers (workerThreadMinimumMessages 1024) and 1,024-row
    transactions (dequeueBatchSize); fed over TLS by CLIENTS connections; its rate is rows
    stored per second until the table holds them all. Skipped, and said so, when rsyslogd or
    its modules are missing (contrib/bench/run installs them) or ESUP_BENCH_PEER=0;
(c) esupd end to end (TLS, validation, rule evaluation, alerts, COMMIT before the answer):
    closed loop, CLIENTS keep-alive connections each sending its cases' events in order in
    requests of ESUP_BENCH_BATCH events; then offered load at a fixed rate - half the closed
    loop's rate in requests of ESUP_BENCH_BATCH events, and ESUP_BENCH_LOW_RATE one-event
    requests a second - with each request's acknowledgement latency measured from the time
    it was due (so a stall counts against every request behind it). Afterwards every event
    acknowledged accepted must be stored exactly once (events and event_ids), and nothing
    else of the run's ids.

Knobs (environment; the defaults end in about 2 minutes on the shared 2-core machine, 3 with
ESUP_BENCH_INDEX_ROUNDS=2):
  ESUP_BENCH_EVENTS        50000  events of (a), (b) and the closed loop of (c)
  ESUP_BENCH_CLIENTS       4      connections of (b) and (c)
  ESUP_BENCH_BATCH         100    events per request, closed loop and half-rate round
  ESUP_BENCH_RATE_SECONDS  15     length of each fixed-rate round
  ESUP_BENCH_LOW_RATE      20     one-event requests per second of the low-load round
  ESUP_BENCH_LATE          0.02   share of cases reported late         (see benchfeed.py)
  ESUP_BENCH_OUT_OF_ORDER  0.02   share of cases sent out of order
  ESUP_BENCH_ALERTING      0.02   share of alerting (old, overdue) cases
  ESUP_BENCH_PEER          1      0: skip rsyslog
  ESUP_BENCH_WRITERS       0      N>0: esupd's [ingest] writers (0: its default)
  ESUP_BENCH_BATCH_DELAY_MS       when set, esupd's [ingest] batch_max_delay_ms
  ESUP_BENCH_INDEX_ROUNDS  0      N>0: with ESUP_BENCH_CLOSED_ALERTS closed alerts in the
                                  database, N pairs of alert-heavy closed-loop rounds
                                  (ESUP_BENCH_INDEX_EVENTS events, half the cases alerting),
                                  with and without alerts_key_since (migration 007), alternating
  ESUP_BENCH_CLOSED_ALERTS 50000
  ESUP_BENCH_INDEX_EVENTS  4000
  ESUP_BENCH_STATEMENTS    0      N>0: after each round of (c), its N costliest statements
                                  by pg_stat_statements (nested ones too; contrib/bench/run
                                  then preloads the extension), with their calls and mean
                                  ms per call (a profile: take the figures from a run
                                  without it)
  ESUP_BENCH_GRID          0      1: after (c), (g): closed-loop rounds for every number of
                                  connections in ESUP_BENCH_GRID_CLIENTS (1,2,4,8) and
                                  events per request in ESUP_BENCH_GRID_BATCHES
                                  (1,10,100,1000): how rate and latency grow with both
  ESUP_BENCH_CEILING       0      1: at the end, (d): two-session COPY into esup's tables as
                                  they are, without the hash chain's triggers, without any
                                  trigger on events, and without events' secondary indexes,
                                  each against two-session bare COPY (what the ceiling of the
                                  tables is made of; changes the database, so it runs last)
  ESUP_BENCH_EXPLAIN_MS    0      N>0: auto_explain (nested statements) for esupd's sessions;
                                  after (c), the statements that took N ms or more, grouped,
                                  with every Seq Scan in their plans (a profile, not a figure:
                                  the logging costs time, so take the figures from a run
                                  without it)
"""

import csv
import hashlib
import io
import json
import math
import os
import re
import socket
import ssl
import statistics
import subprocess
import threading
import time
import urllib.request
from datetime import datetime, timezone

import psycopg

import benchfeed
from conftest import DEPTS, free_port, wait_for

EVENTS = int(os.environ.get("ESUP_BENCH_EVENTS", "50000"))
CLIENTS = int(os.environ.get("ESUP_BENCH_CLIENTS", "4"))
BATCH = int(os.environ.get("ESUP_BENCH_BATCH", "100"))
RATE_SECONDS = float(os.environ.get("ESUP_BENCH_RATE_SECONDS", "15"))
LOW_RATE = float(os.environ.get("ESUP_BENCH_LOW_RATE", "20"))
SHARES = {"late": float(os.environ.get("ESUP_BENCH_LATE", "0.02")),
          "out_of_order": float(os.environ.get("ESUP_BENCH_OUT_OF_ORDER", "0.02")),
          "alerting": float(os.environ.get("ESUP_BENCH_ALERTING", "0.02"))}
PEER = os.environ.get("ESUP_BENCH_PEER", "1") != "0"
INDEX_ROUNDS = int(os.environ.get("ESUP_BENCH_INDEX_ROUNDS", "0"))
CLOSED_ALERTS = int(os.environ.get("ESUP_BENCH_CLOSED_ALERTS", "50000"))
INDEX_EVENTS = int(os.environ.get("ESUP_BENCH_INDEX_EVENTS", "4000"))
WRITERS = int(os.environ.get("ESUP_BENCH_WRITERS", "0"))
STATEMENTS = int(os.environ.get("ESUP_BENCH_STATEMENTS", "0"))
CEILING = os.environ.get("ESUP_BENCH_CEILING", "0") != "0"
GRID = os.environ.get("ESUP_BENCH_GRID", "0") != "0"
GRID_CLIENTS = [int(x) for x in os.environ.get("ESUP_BENCH_GRID_CLIENTS", "1,2,4,8").split(",")]
GRID_BATCHES = [int(x) for x in os.environ.get("ESUP_BENCH_GRID_BATCHES", "1,10,100,1000").split(",")]

RSYSLOGD = "/usr/sbin/rsyslogd"
RSYSLOG_MODULES = "/usr/lib/x86_64-linux-gnu/rsyslog"


def say(*args):
    print(*args, flush=True)


def load():
    return "%.1f" % os.getloadavg()[0]


def feed(tag, count, **shares):
    kw = dict(SHARES)
    kw.update(shares)
    return benchfeed.streams(tag, count, CLIENTS, DEPTS, **kw)


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    # nearest rank
    k = min(len(sorted_values) - 1, max(0, math.ceil(p / 100.0 * len(sorted_values)) - 1))
    return sorted_values[k]


# ---------------------------------------------------------------- (a) the limit


def csv_of(rows):
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def copy_rate(db, tag, sessions, esup_tables, chain=False):
    """Rows/s of COPYing the feed's rows in `sessions` sessions at once (each its share, one
    COPY and one COMMIT each). Connections, sequence numbers and the CSV text are made before
    the clock starts, so the figure is the database's, not this script's. chain: the rows
    bring their own chain columns (for esup's tables with the chain's triggers off: (d))."""
    events = benchfeed.flat(feed(tag, EVENTS))
    table = "events"
    if not esup_tables:
        table = "bench_bare_" + tag.replace("-", "_")
        db.query("CREATE TABLE %s (LIKE events INCLUDING DEFAULTS INCLUDING IDENTITY)" % table)
        db.query("ALTER TABLE %s DROP COLUMN chain_seq, DROP COLUMN prev_hash, DROP COLUMN hash"
                 % table)
    conninfo = db.conninfo("esup_admin" if esup_tables else "postgres")
    received = datetime.now(timezone.utc).isoformat()
    cols = "received_at, dept, event_id, type, at, case_no, item, principal, body"
    prepared = []
    for part in (events[i::sessions] for i in range(sessions)):
        conn = psycopg.connect(conninfo)
        seqs = [None] * len(part)
        if esup_tables:
            conn.execute("SET ROLE esup_owner")
            seqs = [r[0] for r in conn.execute(
                "SELECT nextval('events_seq') FROM generate_series(1, %s)", (len(part),))]
        conn.commit()
        rows = csv_of(([seqs[n]] if esup_tables else []) + [
            received, e["dept"], e["id"], e["type"], e["at"], e.get("case", ""),
            e.get("item", ""), "bench", json.dumps(e, ensure_ascii=False)]
            + ([seqs[n], "\\x" + "00" * 32, "\\x" + hashlib.sha256(e["id"].encode()).hexdigest()]
               if chain else [])
            for n, e in enumerate(part))
        ids = csv_of((e["dept"], e["id"], seqs[n], received) for n, e in enumerate(part))
        prepared.append((conn, rows, ids))
    errors = []

    def run(conn, rows, ids):
        try:
            with conn.cursor() as cur:
                with cur.copy("COPY %s (%s%s%s) FROM STDIN (FORMAT csv)"
                              % (table, "seq, " if esup_tables else "", cols,
                                 ", chain_seq, prev_hash, hash" if chain else "")) as copy:
                    copy.write(rows)
                if esup_tables:
                    with cur.copy("COPY event_ids (dept, event_id, seq, received_at)"
                                  " FROM STDIN (FORMAT csv)") as copy:
                        copy.write(ids)
            conn.commit()
        except Exception as e:   # reported below, never silently
            errors.append(repr(e))
    threads = [threading.Thread(target=run, args=p) for p in prepared]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.monotonic() - start
    for conn, _, _ in prepared:
        conn.close()
    assert not errors, errors
    return len(events) / secs


def ceiling(db, copy2):
    """(d): what the ceiling of esup's own tables is made of. Two-session COPY into events and
    event_ids as they are, then with the hash chain's triggers off (the rows bring chain
    columns of the right shape: the links are not checked), with every trigger on events off,
    and without events' secondary indexes too. Changes the database: run last."""
    parts = [r[0] for r in db.query(
        "SELECT c.oid::regclass::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'events'::regclass")]

    def off(what):
        for rel in ["events"] + parts:
            if what == "USER":
                db.query("ALTER TABLE %s DISABLE TRIGGER USER" % rel)
                continue
            for name in what:
                if db.scalar("SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass"
                             " AND tgname = %s", (rel, name)):
                    db.query("ALTER TABLE %s DISABLE TRIGGER %s" % (rel, name))
    steps = (("as they are", None),
             ("without the hash chain's triggers", ("events_chain", "events_chain_head")),
             ("without any trigger on events", "USER"),
             ("and without events' secondary indexes", "INDEXES"))
    for n, (label, change) in enumerate(steps):
        if change == "INDEXES":
            for (name,) in db.query("SELECT indexrelid::regclass::text FROM pg_index"
                                    " WHERE indrelid = 'events'::regclass AND NOT indisprimary"):
                db.query("DROP INDEX %s" % name)
        elif change is not None:
            off(change)
        rate = copy_rate(db, "ce%d" % n, 2, True, chain=change is not None)
        say("(d) COPY esup's tables, 2 sessions, %-38s %9.0f rows/s  %.3f of bare   (load %s)"
            % (label, rate, rate / copy2, load()))


def commit_floor(db, count=60):
    """Latency of one one-row INSERT and its COMMIT (synchronous_commit on): the floor under
    any acknowledgement of a durable write on this machine."""
    lat = []
    with psycopg.connect(db.conninfo("postgres")) as conn:
        conn.execute("CREATE TABLE bench_floor (n int, body text)")
        conn.commit()
        for n in range(count):
            t = time.monotonic()
            conn.execute("INSERT INTO bench_floor VALUES (%s, 'x')", (n,))
            conn.commit()
            lat.append(time.monotonic() - t)
    lat.sort()
    return percentile(lat, 50) * 1000, percentile(lat, 99) * 1000


# ---------------------------------------------------------------- (b) the peer


RSYSLOG_CONF = """
global(workDirectory="{dir}/spool" maxMessageSize="64k"
       defaultNetstreamDriver="ossl" defaultNetstreamDriverCAFile="{ca}"
       defaultNetstreamDriverCertFile="{crt}" defaultNetstreamDriverKeyFile="{key}")
module(load="imtcp" streamDriver.name="ossl" streamDriver.mode="1"
       streamDriver.authMode="x509/certvalid" maxSessions="64")
module(load="mmjsonparse")
module(load="ompgsql")
template(name="bench_row" type="list" option.stdsql="on") {{
  constant(value="INSERT INTO rs_events (dept, event_id, type, at, case_no, body) VALUES ('")
  property(name="$!dept") constant(value="', '") property(name="$!id")
  constant(value="', '") property(name="$!type") constant(value="', '")
  property(name="$!at") constant(value="', '") property(name="$!case")
  constant(value="', '") property(name="msg") constant(value="')")
}}
ruleset(name="bench") {{
  action(type="mmjsonparse" cookie="")
  action(type="ompgsql" server="{pgdir}" port="{pgport}" db="{db}" user="postgres" pass=""
         template="bench_row"
         queue.type="LinkedList" queue.size="200000" queue.workerThreads="2"
         queue.workerThreadMinimumMessages="1024" queue.dequeueBatchSize="1024")
}}
input(type="imtcp" port="{port}" ruleset="bench")
"""


def rsyslog_missing():
    need = [RSYSLOGD] + ["%s/%s.so" % (RSYSLOG_MODULES, m)
                         for m in ("imtcp", "mmjsonparse", "ompgsql", "lmnsd_ossl")]
    return [p for p in need if not os.path.exists(p)]


def rsyslog_rate(pg, db, certs, workdir, port):
    """rows/s rsyslog stores, or (None, why)."""
    if not PEER:
        return None, "skipped (ESUP_BENCH_PEER=0)"
    missing = rsyslog_missing()
    if missing:
        return None, "not measured: missing " + ", ".join(missing)
    d = workdir / "rsyslog"
    (d / "spool").mkdir(parents=True, exist_ok=True)
    db.query("CREATE TABLE rs_events (dept text, event_id text, type text, at timestamptz,"
             " case_no text, body text)")
    conf = d / "rsyslog.conf"
    conf.write_text(RSYSLOG_CONF.format(dir=d, ca=certs.ca, crt=certs.dir / "server.crt",
                                        key=certs.dir / "server.key", pgdir=pg.dir,
                                        pgport=pg.port, db=db.name, port=port))
    check = subprocess.run([RSYSLOGD, "-N1", "-f", str(conf)], capture_output=True, text=True)
    if check.returncode != 0:
        return None, "not measured: rsyslogd -N1 refused the configuration: " + (
            check.stdout + check.stderr).strip()[-300:]
    log = open(d / "rsyslogd.out", "wb")
    proc = subprocess.Popen([RSYSLOGD, "-n", "-f", str(conf), "-i", str(d / "rsyslogd.pid")],
                            stdout=log, stderr=log)
    try:
        def listening():
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0
        wait_for(listening, 30, "rsyslogd to listen")
        parts = feed("rs", EVENTS)
        total = sum(len(p) for p in parts)
        payloads = []
        for i, part in enumerate(parts):
            ctx_i = ssl.create_default_context(cafile=str(certs.ca))
            ctx_i.check_hostname = False
            crt, key = certs.pair("dept-" + DEPTS[i % len(DEPTS)])
            ctx_i.load_cert_chain(str(crt), str(key))
            data = "".join("<14>1 %s bench esup - - - %s\n"
                           % (datetime.now(timezone.utc).isoformat(),
                              json.dumps(e, ensure_ascii=False)) for e in part).encode()
            payloads.append((ctx_i, data))
        errors = []

        def send(ctx_i, data):
            try:
                with socket.create_connection(("127.0.0.1", port)) as raw:
                    with ctx_i.wrap_socket(raw) as s:
                        s.sendall(data)
                        s.unwrap()
            except OSError as e:
                errors.append(repr(e))
        threads = [threading.Thread(target=send, args=p) for p in payloads]
        start = time.monotonic()
        for t in threads:
            t.start()

        def stored():
            if proc.poll() is not None:
                raise AssertionError("rsyslogd exited %s" % proc.returncode)
            return db.scalar("SELECT count(*) FROM rs_events") >= total
        try:
            wait_for(stored, 600, "rsyslog to store %d rows" % total, interval=0.02)
        except Exception as e:
            return None, "not measured: %s (%d of %d rows stored; see %s)" % (
                e, db.scalar("SELECT count(*) FROM rs_events"), total, d / "rsyslogd.out")
        secs = time.monotonic() - start
        for t in threads:
            t.join()
        if errors:
            return None, "not measured: sending failed: %s" % errors[:2]
        got = db.scalar("SELECT count(DISTINCT event_id) FROM rs_events")
        if got != total:
            return None, "not measured: %d distinct rows for %d events" % (got, total)
        # The transactions that wrote them (each row's xmin): ompgsql's batches.
        txns = db.scalar("SELECT count(DISTINCT xmin::text) FROM rs_events")
        return total / secs, "%d rows in %d transactions" % (total, txns)
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


# ---------------------------------------------------------------- (c) esupd


def encode(events):
    return b"".join(json.dumps(e, ensure_ascii=False).encode() + b"\n" for e in events)


class Round:
    """One round's requests and what came back."""

    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = []
        self.accepted = []     # (dept, id)
        self.errors = []

    def note(self, events, resp, latency):
        with self.lock:
            self.latencies.append(latency)
            if resp.status != 200:
                self.errors.append((resp.status, resp.body[:200]))
                return
            body = resp.json()
            for e, r in zip(events, body["results"]):
                if r["status"] == "accepted":
                    self.accepted.append((e["dept"], e["id"]))
                else:
                    self.errors.append(r)

    def summary(self):
        lat = sorted(self.latencies)
        return {"p50": percentile(lat, 50) * 1000, "p99": percentile(lat, 99) * 1000,
                "p999": percentile(lat, 99.9) * 1000, "requests": len(lat)}


def nodelay(client):
    """Connects with TCP_NODELAY, as esupd's side has it: a client's Nagle must not hold a
    request back waiting for a delayed ACK."""
    client.connect().sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def requests_of(stream, batch):
    return [(stream[i:i + batch], encode(stream[i:i + batch])) for i in range(0, len(stream), batch)]


def closed_loop(daemon, parts, batch):
    """Each connection sends its next request when the last is answered. The clock starts
    when every connection is up (TLS handshakes are not part of the figure)."""
    rnd = Round()
    work = [requests_of(p, batch) for p in parts]
    clock = {}
    ready = threading.Barrier(len(work), action=lambda: clock.setdefault("start", time.monotonic()))

    def run(i, reqs):
        with daemon.client("dept-" + DEPTS[i % len(DEPTS)], timeout=120) as c:
            nodelay(c)
            ready.wait()
            for events, body in reqs:
                t = time.monotonic()
                r = c.request("POST", "/v1/events", body, "application/x-ndjson")
                rnd.note(events, r, time.monotonic() - t)
    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(work)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return rnd, time.monotonic() - clock["start"]


def fixed_rate(daemon, parts, batch, requests_per_s):
    """Offered load: connection i sends its k-th request at start + (k*C + i) / rate, or as
    soon as its previous one is answered when late; latency counts from the due time. The
    schedule starts when every connection is up."""
    rnd = Round()
    nconn = len(parts)
    work = [requests_of(p, batch) for p in parts]
    clock = {}
    ready = threading.Barrier(nconn, action=lambda: clock.setdefault("start", time.monotonic()))

    def run(i, reqs):
        with daemon.client("dept-" + DEPTS[i % len(DEPTS)], timeout=120) as c:
            nodelay(c)
            ready.wait()
            for k, (events, body) in enumerate(reqs):
                due = clock["start"] + (k * nconn + i) / requests_per_s
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                r = c.request("POST", "/v1/events", body, "application/x-ndjson")
                rnd.note(events, r, time.monotonic() - due)
    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(work)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return rnd, time.monotonic() - clock["start"]


HISTOGRAMS = ("esup_request_duration_seconds", "esup_commit_duration_seconds", "esup_batch_events")


def scrape(daemon):
    """{histogram: (sum, count)} from esupd's loopback metrics listener."""
    port = int(daemon.config["metrics"]["listen"].rsplit(":", 1)[1])
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as resp:
        text = resp.read().decode()
    out = {}
    for line in text.splitlines():
        for h in HISTOGRAMS:
            for part, idx in (("_sum ", 0), ("_count ", 1)):
                if line.startswith(h + part):
                    out.setdefault(h, [0.0, 0.0])[idx] = float(line.split()[1])
    return out


def inside(before, after):
    """What esupd says of a round: mean request time (complete request to answer sent), mean
    writer transaction (BEGIN to COMMIT) and mean events per transaction."""
    def mean(h):
        n = after[h][1] - before[h][1]
        return (after[h][0] - before[h][0]) / n if n else float("nan")
    return ("esupd: request %.1f ms, writer transaction %.1f ms, %.1f events/transaction"
            % (mean(HISTOGRAMS[0]) * 1000, mean(HISTOGRAMS[1]) * 1000, mean(HISTOGRAMS[2])))


def grid(d):
    """(g): how the closed loop's rate and latency grow with connections and request size:
    for each number of connections (GRID_CLIENTS) and events per request (GRID_BATCHES), a
    closed-loop round of max(5, min(200, 5000 / batch)) requests per connection, each
    connection its own cases in order (the feed's shares). Returns the rounds, for the
    stored-exactly-once check."""
    rounds, rows = [], []
    for clients in GRID_CLIENTS:
        for batch in GRID_BATCHES:
            per = max(5, min(200, 5000 // batch))
            tag = "g%dx%d" % (clients, batch)
            parts = benchfeed.streams(tag, clients * per * batch, clients, DEPTS, **SHARES)
            m0 = scrape(d)
            rnd, secs = closed_loop(d, parts, batch)
            m1 = scrape(d)
            assert not rnd.errors, rnd.errors[:3]
            rounds.append((tag, rnd))
            g = rnd.summary()
            rate = len(rnd.accepted) / secs
            rows.append((clients, batch, rate, g["p50"], g["p99"], inside(m0, m1)))
            say("(g) %d connections x %4d events/request %9.0f events/s   latency p50 %.1f"
                " p99 %.1f ms   (load %s)" % (clients, batch, rate, g["p50"], g["p99"], load()))
            say("    " + rows[-1][5])
    say("(g) events/s by connections (rows) and events per request (columns):")
    say("    %11s" % "" + "".join("%10d" % b for b in GRID_BATCHES))
    for clients in GRID_CLIENTS:
        say("    %11s" % ("%d conn." % clients) + "".join(
            "%10.0f" % r[2] for r in rows if r[0] == clients))
    return rounds


def stored_exactly_once(db, rounds, prefixes):
    """Every accepted event stored exactly once; none of the run's ids stored unaccepted."""
    accepted = set()
    for rnd in rounds:
        accepted.update(rnd.accepted)
    n_acc = sum(len(r.accepted) for r in rounds)
    assert n_acc == len(accepted), "an id acknowledged accepted twice"
    like = " OR ".join("event_id LIKE %s" for _ in prefixes)
    args = tuple(p + "-%" for p in prefixes)
    rows = db.query("SELECT dept, event_id, count(*) FROM events WHERE %s GROUP BY 1, 2" % like, args)
    ids = db.query("SELECT dept, event_id FROM event_ids WHERE %s" % like, args)
    stored = {(d, i): n for d, i, n in rows}
    twice = [k for k, n in stored.items() if n != 1]
    assert not twice, "stored more than once: %s" % twice[:5]
    assert set(stored) == accepted, "stored %d, accepted %d; missing %s, unacknowledged %s" % (
        len(stored), len(accepted), list(accepted - set(stored))[:5],
        list(set(stored) - accepted)[:5])
    assert {tuple(r) for r in ids} == accepted
    return len(accepted)


def fill_closed_alerts(db, count):
    """`count` closed alerts of other cases (history), with their action rows."""
    db.query("""
        WITH a AS (
          INSERT INTO alerts (rule, severity, dept, case_no, dedup_key, message, since,
                              raised_at, status, status_at, region)
          SELECT 'APR-LATE-REPORT', 'yellow', 'LY-SCJGJ', 'OLD-' || g,
                 'APR-LATE-REPORT|LY-SCJGJ|OLD-' || g, 'closed',
                 now() - interval '400 days' + g * interval '1 minute', now(),
                 (ARRAY['resolved', 'dismissed', 'revoked', 'superseded'])[1 + g %% 4], now(), '410300'
            FROM generate_series(1, %s) g
          RETURNING id, status)
        INSERT INTO alert_actions (alert_id, action, actor, actor_role, note, at, from_state, to_state)
        SELECT id, 'raise', 'bench', 'system', '', now(), NULL, status FROM a""", (count,))
    db.query("ANALYZE alerts")
    db.query("ANALYZE alert_actions")


def statements(db, phase, n=None):
    """Resets pg_stat_statements (phase None), or prints the n (ESUP_BENCH_STATEMENTS)
    costliest statements since, by planning + execution time, with their means per call."""
    n = STATEMENTS if n is None else n
    if not n:
        return
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as su:
        if phase is None:
            su.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            su.execute("SELECT pg_stat_statements_reset()")
            return
        rows = su.execute(
            "SELECT calls, total_plan_time, total_exec_time, regexp_replace(query, '\\s+', ' ', 'g')"
            "  FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database"
            "   WHERE datname = current_database())"
            " ORDER BY total_plan_time + total_exec_time DESC LIMIT %s", (n,)).fetchall()
    print("  %s: statements by planning + execution time (ms)" % phase)
    print("  %9s %10s %10s %9s  %s" % ("calls", "plan", "exec", "per call", "query"))
    for calls, plan, exe, query in rows:
        print("  %9d %10.0f %10.0f %9.3f  %s" % (calls, plan, exe, (plan + exe) / max(calls, 1),
                                                 query[:100]))


def explain_on(db, ms):
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as conn:
        for setting in ("session_preload_libraries = 'auto_explain'",
                        "auto_explain.log_min_duration = %d" % ms,
                        "auto_explain.log_nested_statements = on"):
            conn.execute("ALTER ROLE esupd IN DATABASE %s SET %s" % (db.name, setting))


def explain_report(log_text, ms):
    groups = {}
    for entry in re.split(r"\n(?=\S+ \S+ \S+ \[\d+\] LOG:  duration: )", log_text):
        m = re.search(r"duration: ([0-9.]+) ms\s+plan:\s*Query Text: ([^\n]*)", entry)
        if not m:
            continue
        text = " ".join(m.group(2).split())[:110]
        g = groups.setdefault(text, [0, 0.0, set()])
        g[0] += 1
        g[1] += float(m.group(1))
        g[2].update(re.findall(r"Seq Scan on (\S+)", entry))
    say("\n== statements of esupd's sessions that took %d ms or more (auto_explain)" % ms)
    for text, (n, total, seq) in sorted(groups.items(), key=lambda kv: -kv[1][1])[:12]:
        say("%6d x %8.1f ms total  %s%s" % (n, total, text,
                                            ("\n         Seq Scan on " + ", ".join(sorted(seq))) if seq else ""))


def test_run(daemon_factory, refdb, pg, certs, workdir):
    db = refdb
    say("\n== contrib/bench/run: %d events, %d clients, %d events/request; shares %s; load %s"
        % (EVENTS, CLIENTS, BATCH, SHARES, load()))
    explain_ms = int(os.environ.get("ESUP_BENCH_EXPLAIN_MS", "0"))
    if explain_ms > 0:
        explain_on(db, explain_ms)
    log_mark = pg.log.stat().st_size
    ingest = {"writers": WRITERS} if WRITERS else {}
    if os.environ.get("ESUP_BENCH_BATCH_DELAY_MS"):
        ingest["batch_max_delay_ms"] = os.environ["ESUP_BENCH_BATCH_DELAY_MS"]
    most = max([CLIENTS] + (GRID_CLIENTS if GRID else []))
    d = daemon_factory(limits={"max_connections_per_principal": most + 2},
                       log={"level": "warning"}, ingest=ingest,
                       metrics={"listen": "127.0.0.1:%d" % free_port()}).start()
    assert db.scalar("SHOW synchronous_commit") == "on" and db.scalar("SHOW fsync") == "on"
    figures = {}

    # (a)
    for label, sessions, esup in (("bare table, 1 session", 1, False),
                                  ("bare table, 2 sessions", 2, False),
                                  ("esup's events + event_ids, 1 session", 1, True),
                                  ("esup's events + event_ids, 2 sessions", 2, True)):
        tag = "cp%d%s" % (sessions, "e" if esup else "b")
        figures[label] = copy_rate(db, tag, sessions, esup)
        say("(a) COPY %-40s %9.0f rows/s   (load %s)" % (label, figures[label], load()))
    copy2 = figures["bare table, 2 sessions"]
    f50, f99 = commit_floor(db)
    say("(a) one-row INSERT + COMMIT latency (the floor of an acknowledgement): p50 %.1f ms,"
        " p99 %.1f ms   (load %s)" % (f50, f99, load()))

    # (b)
    rs, why = rsyslog_rate(pg, db, certs, workdir, free_port())
    if rs is None:
        say("(b) rsyslog: %s" % why)
    else:
        say("(b) rsyslog, TLS + mmjsonparse + ompgsql, %d connections %9.0f rows/s   (load %s)"
            % (CLIENTS, rs, load()))
        say("    " + why)

    # (c) closed loop
    rounds = []
    parts = feed("cl", EVENTS)
    statements(db, None)
    m0 = scrape(d)
    rnd, secs = closed_loop(d, parts, BATCH)
    m1 = scrape(d)
    assert not rnd.errors, rnd.errors[:3]
    rounds.append(rnd)
    rate = len(rnd.accepted) / secs
    s = rnd.summary()
    say("(c) esupd closed loop, %d clients x %d events/request %9.0f events/s   "
        "latency p50 %.1f p99 %.1f p99.9 %.1f ms   (load %s)"
        % (CLIENTS, BATCH, rate, s["p50"], s["p99"], s["p999"], load()))
    say("    " + inside(m0, m1))
    statements(db, "closed loop")

    # (c) half the maximum, BATCH events a request
    half = rate / 2
    n = max(BATCH * CLIENTS, int(half * RATE_SECONDS))
    statements(db, None)
    m0 = scrape(d)
    rnd, secs = fixed_rate(d, feed("hr", n), BATCH, half / BATCH)
    m1 = scrape(d)
    assert not rnd.errors, rnd.errors[:3]
    rounds.append(rnd)
    sh = rnd.summary()
    say("(c) esupd offered %.0f events/s (half), %d events/request: %d requests, "
        "latency p50 %.1f p99 %.1f p99.9 %.1f ms   (load %s)"
        % (half, BATCH, sh["requests"], sh["p50"], sh["p99"], sh["p999"], load()))
    say("    " + inside(m0, m1))
    statements(db, "half the maximum")

    # (c) low load, one event a request
    n = max(CLIENTS, int(LOW_RATE * RATE_SECONDS))
    statements(db, None)
    m0 = scrape(d)
    rnd, secs = fixed_rate(d, feed("lo", n), 1, LOW_RATE)
    m1 = scrape(d)
    assert not rnd.errors, rnd.errors[:3]
    rounds.append(rnd)
    sl = rnd.summary()
    say("(c) esupd offered %.0f requests/s of 1 event: %d requests, "
        "latency p50 %.1f p99 %.1f p99.9 %.1f ms   (load %s)"
        % (LOW_RATE, sl["requests"], sl["p50"], sl["p99"], sl["p999"], load()))
    say("    " + inside(m0, m1))
    statements(db, "low load")

    stored = stored_exactly_once(db, rounds, ["cl", "hr", "lo"])
    say("(c) stored exactly once: %d of %d accepted events (events and event_ids)" % (
        stored, stored))
    if GRID:
        cells = grid(d)
        stored = stored_exactly_once(db, [r for _, r in cells], [t for t, _ in cells])
        say("(g) stored exactly once: %d accepted events" % stored)
    alerts = db.scalar("SELECT count(*) FROM alerts")
    say("    alerts raised in the run: %d" % alerts)
    if explain_ms > 0:
        with open(pg.log, errors="replace") as f:
            f.seek(log_mark)
            explain_report(f.read(), explain_ms)

    # the index comparison
    if INDEX_ROUNDS > 0:
        fill_closed_alerts(db, CLOSED_ALERTS)
        say("(i) %d closed alerts filled; alert-heavy rounds of %d events (half the cases alerting)"
            % (CLOSED_ALERTS, INDEX_EVENTS))
        results = {True: [], False: []}
        for r in range(INDEX_ROUNDS):
            for with_index in (True, False):
                if not with_index:
                    db.query("DROP INDEX alerts_key_since")
                try:
                    rnd, secs = closed_loop(d, feed("ix%d%s" % (r, "y" if with_index else "n"),
                                                    INDEX_EVENTS, alerting=0.5), BATCH)
                finally:
                    if not with_index:
                        db.query("CREATE INDEX alerts_key_since ON alerts (dedup_key, since)")
                assert not rnd.errors, rnd.errors[:3]
                results[with_index].append(len(rnd.accepted) / secs)
                say("(i) round %d %s alerts_key_since: %9.0f events/s   (load %s)"
                    % (r + 1, "with   " if with_index else "without", results[with_index][-1],
                       load()))
        say("(i) with/without the index: %.2f (medians of the rounds)" % (
            statistics.median(results[True]) / statistics.median(results[False])))

    if CEILING:
        ceiling(db, copy2)

    # the ratios against issue 12's targets
    def verdict(ok):
        return "met" if ok else "NOT met"
    say("\n== ratios (issue 12 targets)")
    say("esupd / two-session bare COPY       %.3f   target >= 0.25: %s"
        % (rate / copy2, verdict(rate / copy2 >= 0.25)))
    if rs is not None:
        say("esupd / rsyslog                     %.2f   target >= 3: %s"
            % (rate / rs, verdict(rate / rs >= 3)))
    else:
        say("esupd / rsyslog                     not measured (%s)" % why)
    say("esupd / one-session bare COPY       %.3f" % (rate / figures["bare table, 1 session"]))
    say("esup's tables / bare, 2 sessions    %.3f" % (
        figures["esup's events + event_ids, 2 sessions"] / copy2))
    say("p99 at half max, %d events/request  %.1f ms   target < 50 ms: %s"
        % (BATCH, sh["p99"], verdict(sh["p99"] < 50)))
    say("p50 at low load, 1 event/request    %.1f ms   target < 5 ms: %s"
        % (sl["p50"], verdict(sl["p50"] < 5)))
    say("load average at the end: %s" % " ".join("%.1f" % x for x in os.getloadavg()))
