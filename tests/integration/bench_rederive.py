"""New rules over many open cases, while departments keep sending (issue 12, "start, reconnect
and SIGHUP re-derive only when reference data actually changed, and then in the background
without stalling ingest"; not part of tests/run: run contrib/bench/rederive).

One esupd and cluster (fsync on). After a warm-up, OPEN open approval cases are written as
contrib/bench/scale writes them (a year of them, each accepted once, not due, hash chain and
rollups kept), then a department sends one-event requests, each an approval step of one of
those open cases, one at a time at RATE a second (resent on 503, as a department must), for
BEFORE seconds; then [rules] change (another rule switched off) and esupd is told with SIGHUP,
which re-derives every open case: the marking (migration 032, [sweeper] rederive_batch cases a
step) and the sweeps that follow. The requests go on until no case is due. Printed: the
requests' latency before and during the re-derivation (p50, p99, the longest) and its ratio,
how long the re-derivation took and at what rate, and esupd's resident memory (VmRSS, VmHWM)
before, during and after.

Knobs (environment): ESUP_BENCH_OPEN (default 200000), ESUP_BENCH_RATE (20),
ESUP_BENCH_BEFORE (10), ESUP_BENCH_REDERIVE_BATCH (esupd's default when unset).
"""

import os
import signal
import threading
import time
from datetime import datetime, timedelta, timezone

import bench_run
import bench_scale
import benchfeed
from conftest import DEPTS

OPEN = int(os.environ.get("ESUP_BENCH_OPEN", "200000"))
RATE = float(os.environ.get("ESUP_BENCH_RATE", "20"))
BEFORE = float(os.environ.get("ESUP_BENCH_BEFORE", "10"))
REDERIVE_BATCH = os.environ.get("ESUP_BENCH_REDERIVE_BATCH")
SHANGHAI = timezone(timedelta(hours=8))


def memory(pid):
    """esupd's {VmRSS, VmHWM} in kB."""
    out = {}
    with open("/proc/%d/status" % pid, encoding="ascii") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


class Sender:
    """One department's one-event requests, each an approval step of an open case of its own
    (bench_scale's case g is department g % 5's), due every 1/RATE s, latency from the due time;
    a 503 is resent after a pause and counted against the same due time."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.samples = []      # (due, latency, phase)
        self.phase = "before"
        self.stop = threading.Event()
        self.errors = []
        self.thread = threading.Thread(target=self.run)

    def run(self):
        dept = DEPTS[0]
        start = time.monotonic()
        n = 0
        with self.daemon.client("dept-" + dept, timeout=600) as c:
            bench_run.nodelay(c)
            while not self.stop.is_set():
                due = start + n / RATE
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                g = 5 * (1 + n % (OPEN // 5))          # department DEPTS[0]'s cases
                at = datetime.now(SHANGHAI).strftime("%Y-%m-%dT%H:%M:%S+08:00")
                body = bench_run.encode([{"id": "rederive-%d" % n, "dept": dept,
                                          "type": "approval.step", "at": at,
                                          "case": "OPEN-%d" % g, "step": "review",
                                          "handler": "P0012"}])
                phase = self.phase
                while True:
                    r = c.request("POST", "/v1/events", body, "application/x-ndjson")
                    if r.status != 503:
                        break
                    time.sleep(0.05)
                if r.status != 200 or r.json()["results"][0]["status"] != "accepted":
                    self.errors.append((r.status, r.body[:200]))
                self.samples.append((due, time.monotonic() - due, phase))
                n += 1

    def latencies(self, phase):
        return sorted(lat for _, lat, p in self.samples if p == phase)


def summary(lat):
    return (1000 * bench_run.percentile(lat, 50), 1000 * bench_run.percentile(lat, 99),
            1000 * lat[-1], len(lat))


def test_rederive(daemon_factory, refdb):
    db = refdb
    sweeper = {"rederive_batch": REDERIVE_BATCH} if REDERIVE_BATCH else {}
    d = daemon_factory(limits={"max_connections_per_principal": 6}, log={"level": "warning"},
                       sweeper=sweeper).start()
    print("\n== contrib/bench/rederive: %d open cases, %g one-event requests/s on them"
          % (OPEN, RATE), flush=True)
    bench_run.closed_loop(d, benchfeed.streams("warm", 2000, 4, DEPTS), 100)
    bench_scale.OPEN, bench_scale.CLOSED = OPEN, 0
    filled = bench_scale.fill(db)
    open_cases = db.scalar("SELECT count(*) FROM cases WHERE closed_at IS NULL")
    print("  filled in %.0f s: %d open cases" % (filled, open_cases), flush=True)
    mem = {"before": memory(d.pid)}
    s = Sender(d)
    s.thread.start()
    time.sleep(BEFORE)
    d.config.setdefault("rules", {})["disable"] = "APR-LATE-REPORT"
    d.write()
    s.phase = "during"
    hup = time.monotonic()
    d.signal(signal.SIGHUP)
    peak = 0
    due_sql = "SELECT count(*) FROM cases WHERE next_check_at <= now() AND closed_at IS NULL"
    marked_sql = "SELECT NOT marking AND digest <> %s FROM rules_applied"
    digest = db.scalar("SELECT digest FROM rules_applied")
    marked_at = None
    while not s.errors and s.thread.is_alive():
        time.sleep(1)
        peak = max(peak, memory(d.pid)["VmRSS"])
        if marked_at is None and db.scalar(marked_sql, (digest,)):
            marked_at = time.monotonic()
        if marked_at is not None and db.scalar(due_sql) == 0:
            break
    took = time.monotonic() - hup
    s.phase = "after"
    time.sleep(BEFORE)
    s.stop.set()
    s.thread.join()
    mem["after"] = memory(d.pid)
    assert not s.errors, s.errors[:3]
    rederived = db.scalar("SELECT count(*) FROM cases WHERE closed_at IS NULL"
                          " AND evaluated_at >= (SELECT applied_at FROM rules_applied)")
    before, during, after = (summary(s.latencies(p)) for p in ("before", "during", "after"))
    print("\n%-44s %8s %8s %9s %9s" % ("one-event requests on open cases", "p50 ms", "p99 ms",
                                        "max ms", "requests"))
    for name, row in (("before the rules changed", before), ("during the re-derivation", during),
                      ("after it", after)):
        print("%-44s %8.1f %8.1f %9.1f %9d" % ((name,) + row))
    print("%-44s %8.2f %8.2f %9.2f" % ("during / before", during[0] / before[0],
                                        during[1] / before[1], during[2] / before[2]))
    print("\nre-derivation: %d open cases evaluated under the new rules in %.0f s (%.0f cases/s);"
          " marking finished after %.0f s" % (rederived, took, rederived / took,
                                              (marked_at or hup) - hup))
    print("esupd memory, kB: before VmRSS %d; during, highest sample %d; after VmRSS %d,"
          " VmHWM %d" % (mem["before"]["VmRSS"], peak, mem["after"]["VmRSS"],
                         mem["after"]["VmHWM"]))
