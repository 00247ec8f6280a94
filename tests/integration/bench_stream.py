"""Alert stream benchmark (not part of tests/run: run contrib/bench/stream).

Ingests the same kind of feed three times into one esupd: without streams, with
ESUP_BENCH_STREAMS (default 200) idle streams open (a department's, which none of the alerts
concern), and with as many supervisors' streams, each reading every alert from a child process.
Every case raises one alert at ingest (a denial without a reason), so each batch's NOTIFY wakes
the stream poller, which reads the log once and writes to every stream. Prints both ingest
rates and their ratios to the run without streams (same run, same cluster), esupd's CPU during
each run and its RSS with the streams open, and whether every stream got every alert exactly
once and in order. The readers share the machine with everything else: on a small machine the
third ratio mostly measures their TLS and the loopback traffic, esupd's CPU says its own part.
"""

import os
import multiprocessing
import selectors
import ssl
import threading
import time

from test_alert_stream import Stream, log_positions, open_stream, poll_sql, refusal_feed
from test_cases import offset_to

STREAMS = int(os.environ.get("ESUP_BENCH_STREAMS", "200"))
CASES = int(os.environ.get("ESUP_BENCH_CASES", "2000"))
CLIENTS = 4
BATCH = 20
ROUNDS = int(os.environ.get("ESUP_BENCH_ROUNDS", "4"))


def say(*args):
    print("bench_stream:", *args, flush=True)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def ingest(d, tag):
    feed = refusal_feed(tag, CASES)
    # keep each case's two events in order within one client
    shares = [[] for _ in range(CLIENTS)]
    for n in range(0, len(feed), 2):
        shares[(n // 2) % CLIENTS] += feed[n:n + 2]
    errors = []

    def run(share):
        with d.client("dept-LY-ZJJ", timeout=120) as c:
            for i in range(0, len(share), BATCH):
                r = c.post_events_committed(share[i:i + BATCH])
                if r.status != 200 or r.json()["accepted"] != len(share[i:i + BATCH]):
                    errors.append((r.status, r.body[:200]))
                    return
    threads = [threading.Thread(target=run, args=(s,)) for s in shares]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - start
    assert not errors, errors[:3]
    return len(feed) / took


def read_streams(d, count, conn):
    """In a child process (so the readers take no time from the ingesting clients): opens
    count streams, sends their start position, reads every stream as events come until told
    to stop, then sends each stream's event ids."""
    first = open_stream(d, "supervisor")
    first.wait(lambda s: s.start is not None, 5, "the start position")
    streams = [first] + [Stream(d, "supervisor") for _ in range(count - 1)]
    conn.send((first.start, [s.status for s in streams]))
    sel = selectors.DefaultSelector()
    for s in streams:
        s.sock.setblocking(False)
        sel.register(s.sock, selectors.EVENT_READ, s)

    def drain(s):
        # only the bytes while ingest runs: parsing waits, so it takes no CPU from ingest
        while True:
            try:
                data = s.sock.recv(65536)
            except (ssl.SSLWantReadError, BlockingIOError):
                return
            if not data:
                return
            s.buf += data
    wanted = None
    while True:
        if wanted is None and conn.poll():
            wanted = conn.recv()
        for key, _ in sel.select(0.2):
            drain(key.data)
        if wanted is not None:
            for s in streams:
                s._dechunk()
                s._parse()
            if all(len(s.events) >= wanted for s in streams):
                break
    conn.send([s.ids() for s in streams])
    for s in streams:
        s.close()


def test_ingest_with_and_without_streams(daemon_factory, refdb):
    d = daemon_factory(alerts={"stream_heartbeat_s": "15"},
                       limits={"max_connections_per_principal": str(STREAMS + 50)},
                       testing={"clock_offset_s": offset_to("2026-03-11T16:05:00+08:00")},
                       rules={"disable": "APR-LATE-REPORT"}).start()
    ingest(d, "W")   # warm up: connections, caches
    # Rounds measure without and with idle streams (a department's, which none of these
    # alerts concern), in turn first: the machine's load drifts, and each round's ratio is
    # measured close together in time.
    rounds = []
    for r in range(ROUNDS):
        if r % 2 == 0:
            cpu0 = cpu_seconds(d.pid)
            without = ingest(d, "A%d" % r)
            cpu_without = cpu_seconds(d.pid) - cpu0
        first_idle = open_stream(d, "dept-LY-SCJGJ")
        idle = [first_idle] + [Stream(d, "dept-LY-SCJGJ") for _ in range(STREAMS - 1)]
        assert all(s.status == 200 for s in idle)
        cpu0 = cpu_seconds(d.pid)
        with_idle = ingest(d, "I%d" % r)
        cpu_idle = cpu_seconds(d.pid) - cpu0
        for s in idle:
            s.pump(0)
            assert s.events == [] and not s.ended
            s.close()
        if r % 2 == 1:   # the other order every other round
            cpu0 = cpu_seconds(d.pid)
            without = ingest(d, "A%d" % r)
            cpu_without = cpu_seconds(d.pid) - cpu0
        rounds.append((without, cpu_without, with_idle, cpu_idle))
        say("round %d: without streams %.0f events/s (esupd CPU %.2f s), with %d idle streams"
            " %.0f events/s (esupd CPU %.2f s): ratio %.2f" % (r + 1, without, cpu_without,
                                                              STREAMS, with_idle, cpu_idle,
                                                              with_idle / without))
    ratios = sorted(w / wo for wo, _, w, _ in rounds)
    say("idle streams: median ratio with/without %.2f over %d rounds"
        % (ratios[len(ratios) // 2], ROUNDS))

    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.get_context("fork").Process(target=read_streams,
                                                       args=(d, STREAMS, child))
    proc.start()
    start_at, opened = parent.recv()
    assert opened == [200] * STREAMS
    rss_before = rss_kib(d.pid)
    cpu0 = cpu_seconds(d.pid)
    with_streams = ingest(d, "B")
    cpu_with = cpu_seconds(d.pid) - cpu0
    want = log_positions(refdb, start_at)
    parent.send(len(want))
    assert parent.poll(120), "the streams did not get every alert within 120 s"
    got = parent.recv()
    proc.join()
    complete = sum(1 for ids in got if ids[:len(want)] == want)
    say("%d events (%d alerts) per run, %d clients, %d events/request" % (2 * CASES, CASES,
        CLIENTS, BATCH))
    say("with %d streams reading every alert (readers on this machine): %.0f events/s"
        " (esupd CPU %.2f s); ratio to the last run without: %.2f"
        % (STREAMS, with_streams, cpu_with, with_streams / rounds[-1][0]))
    say("streams with every event exactly once, in order: %d of %d (%d events each);"
        " esupd RSS %d KiB with the streams open" % (complete, STREAMS, len(want), rss_before))
    plan = refdb.query("EXPLAIN ANALYZE " + poll_sql(), start_at.split("-"))
    say("the poller's query, from the start of the reading run:\n  " +
        "\n  ".join(r[0] for r in plan))
    assert complete == STREAMS
