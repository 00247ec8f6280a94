"""application/json amplification benchmark (not part of tests/run: run contrib/bench/json_body).

Sends esupd bodies of max_body_bytes (8 MiB by default) that are cheap to write and were
expensive to parse, one per fresh daemon, and reports for each: the answer, the daemon's peak
RSS (VmHWM) before and after, how long the request took, and the longest /healthz round trip
seen by a second client polling during the request (how long the event loop was blocked).

Knobs (environment): ESUP_BENCH_BODY_BYTES (default 8388608, the default max_body_bytes).
"""

import json
import os
import threading
import time

from conftest import event, wait_for

SIZE = int(os.environ.get("ESUP_BENCH_BODY_BYTES", "8388608"))


def empty_objects(size):
    """[{},{},...,{}]: 3 bytes an element, one event each."""
    n = (size - 2 + 1) // 3
    return b"[" + b",".join([b"{}"] * n) + b"]"


def one_wide_event(size):
    """{"id":"w","a":[{},{},...]}: one event holding millions of empty objects."""
    head, tail = b'{"id":"w","a":[', b"]}"
    n = (size - len(head) - len(tail) + 1) // 3
    return head + b",".join([b"{}"] * n) + tail


def many_small_events(size):
    """[{"id":"x"},...]: as many minimal events as fit."""
    n = (size - 2 + 1) // 11
    return b"[" + b",".join([b'{"id":"x"}'] * n) + b"]"


def wide_events(size, valid=False, line=65536):
    """[{"id":"w1","a":[{},...]},...]: as many events as fit, each max_line_bytes wide. When
    valid, each is a well-formed event of another department: parsed, kept until the
    department check, refused, so nothing is stored."""
    events, total, n = [], 2, 0
    while True:
        ev = event(dept="LY-ZJJ", id="w%d" % n, a=[])
        head = json.dumps(ev).encode()[:-2]
        tail = b"]}"
        if not valid:
            head = b'{"id":"w%d","a":[' % n
        k = (line - len(head) - len(tail) + 1) // 3
        ev = head + b",".join([b"{}"] * k) + tail
        if total + len(ev) + 1 > size:
            break
        events.append(ev)
        total += len(ev) + 1
        n += 1
    return b"[" + b",".join(events) + b"]"


BODIES = [("[{},{},...]", empty_objects), ('{"a":[{},...]}', one_wide_event),
          ('[{"id":"x"},...]', many_small_events), ("[64 KiB events]", wide_events),
          ("[64 KiB valid]", lambda size: wide_events(size, valid=True))]


def vm_hwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def measure(daemon, body):
    before = vm_hwm_kib(daemon.pid)
    done = threading.Event()
    worst = [0.0]

    def poll():
        with daemon.client(timeout=60) as c:
            while not done.is_set():
                t = time.monotonic()
                c.healthz()
                worst[0] = max(worst[0], time.monotonic() - t)
                time.sleep(0.005)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        with daemon.client("dept-LY-SCJGJ", timeout=120) as c:
            start = time.monotonic()
            r = c.request("POST", "/v1/events", body, "application/json")
            took = time.monotonic() - start
    finally:
        done.set()
        poller.join()
    return r, before, vm_hwm_kib(daemon.pid), took, worst[0]


def test_bench_json_body(daemon_factory, db):
    report = []
    for name, make in BODIES:
        body = make(SIZE)
        assert len(body) <= SIZE
        daemon = daemon_factory(limits={"max_body_bytes": max(SIZE, 8388608)})
        daemon.start()
        r, before, after, took, worst = measure(daemon, body)
        got = r.json()
        answer = got["error"]["got"] if "error" in got else "%d rejected" % got["rejected"]
        report.append("%-18s %7d bytes  HTTP %d (%s)  peak RSS %6.1f -> %6.1f MiB  "
                      "request %.3f s  worst /healthz %.3f s"
                      % (name, len(body), r.status, answer[:40], before / 1024, after / 1024,
                         took, worst))
        assert daemon.stop() == 0
        wait_for(lambda: not daemon.running(), 10, "esupd to exit")
        assert db.scalar("SELECT count(*) FROM events") == 0
    print("\n" + "\n".join(report))
