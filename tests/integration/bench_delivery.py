"""Delivery benchmark (not part of tests/run: run contrib/bench/delivery).

The design says a receiver that is down never slows ingest. This measures it in one run on one
cluster and one esupd: the time to ingest EVENTS events that each raise alerts (an approval case
with an item outside the catalogue) with no receiver, and with HANGING receivers that accept and
never answer plus REFUSING receivers on closed ports retrying every BACKOFF_MS (switched by SIGHUP),
alternating for ROUNDS rounds; the best of each is compared. The ratio should stay near 1.

Knobs (environment): ESUP_BENCH_EVENTS (default 1000), ESUP_BENCH_ROUNDS (3),
ESUP_BENCH_HANGING (4), ESUP_BENCH_REFUSING (4), ESUP_BENCH_BACKOFF_MS (1000: the default
backoff_min_ms; every refused attempt reads the log and writes its rows to deliveries).
"""

import os
import signal
import socket
import threading
import time

from conftest import event, free_port, wait_for

EVENTS = int(os.environ.get("ESUP_BENCH_EVENTS", "1000"))
ROUNDS = int(os.environ.get("ESUP_BENCH_ROUNDS", "3"))
BACKOFF_MS = os.environ.get("ESUP_BENCH_BACKOFF_MS", "1000")
HANGING = int(os.environ.get("ESUP_BENCH_HANGING", "4"))
REFUSING = int(os.environ.get("ESUP_BENCH_REFUSING", "4"))
CLIENTS = 4
BATCH = 50


def hanging_listener():
    """A port that accepts connections and never answers (the backlog does the accepting)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(1024)
    return s


def ingest(d, prefix):
    events = [event(id="%s-%d" % (prefix, i), case="%s-2026-%06d" % (prefix, i),
                    item="NOT-IN-CATALOGUE") for i in range(EVENTS)]
    shares = [events[i::CLIENTS] for i in range(CLIENTS)]
    errors = []

    def run(share):
        with d.client("dept-LY-SCJGJ", timeout=120) as c:
            for i in range(0, len(share), BATCH):
                r = c.post_events(share[i:i + BATCH])
                if r.status != 200 or r.json()["accepted"] != len(share[i:i + BATCH]):
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


def reload(d):
    done = d.log_text().count("reload complete")
    d.write()
    d.signal(signal.SIGHUP)
    wait_for(lambda: d.log_text().count("reload complete") > done, 10, "the reload")


def set_receivers(d, db, listeners, on):
    for name in [n for n in d.config if n.startswith("receiver.")]:
        del d.config[name]
    if on:
        for i, s in enumerate(listeners):
            d.config["receiver.hang%d" % i] = {"url": "http://127.0.0.1:%d/" % s.getsockname()[1],
                                               "timeout_s": "3600"}
        for i in range(REFUSING):
            d.config["receiver.down%d" % i] = {"url": "http://127.0.0.1:%d/" % free_port(),
                                               "backoff_min_ms": BACKOFF_MS,
                                               "backoff_max_ms": BACKOFF_MS}
    reload(d)


def test_hanging_receivers_do_not_slow_ingest(daemon_factory, db):
    d = daemon_factory(limits={"max_connections_per_principal": CLIENTS + 1},
                       log={"level": "info"}).start()   # "reload complete" is info
    listeners = [hanging_listener() for _ in range(HANGING)]
    ingest(d, "warm")
    times = {False: [], True: []}
    for n in range(ROUNDS):
        for on in (False, True):
            set_receivers(d, db, listeners, on)
            times[on].append(ingest(d, "r%d%s" % (n, "on" if on else "off")))
    tries = db.scalar("SELECT count(*) FROM deliveries")
    for s in listeners:
        s.close()
    base, stalled = min(times[False]), min(times[True])
    print("\n%-60s %10s %8s" % ("ingest of %d events raising alerts (best of %d)"
                                 % (EVENTS, ROUNDS), "seconds", "ratio"))
    print("%-60s %10.3f %8.3f" % ("no receiver", base, 1.0))
    print("%-60s %10.3f %8.3f" % ("%d hanging + %d refusing (retry %s ms) receivers"
                                  % (HANGING, REFUSING, BACKOFF_MS),
                                  stalled, stalled / base))
    print("(all rounds: without %s, with %s; %d failed attempts logged)"
          % (["%.2f" % t for t in times[False]], ["%.2f" % t for t in times[True]], tries))
