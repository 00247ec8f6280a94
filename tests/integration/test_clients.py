"""The client examples of contrib/clients (push.py: Python's ssl + http.client; Push.java:
java.net.http.HttpClient with a PKCS#12 certificate, run as `java Push.java`, the way
docs/integrating.md tells a department to) against a real esupd.

Both send the same small feed (good events, an invalid one, a duplicate, an unknown field)
for two departments at once, through a 429 (a small [ingest] queue_max_events filled by a third
department's request that waits on a lock the writer needs), then a 503 (the database stopped
while they retry), then a lost connection (esupd stopped, then started again): each must wait
and resend the same batch, and report the same counts as the other and as the events the
daemon stored. Each client's own retry output is the signal
the test waits on (no sleeps).

These test the examples, not esupd's build: tests/run runs this module in the gcc pass only."""

import contextlib
import json
import os
import subprocess
import sys
import threading
from http.client import HTTPException

import psycopg
import pytest

from conftest import REPO, event, wait_for

PYTHON_CLIENT = REPO / "contrib" / "clients" / "python" / "push.py"
JAVA_CLIENT = REPO / "contrib" / "clients" / "java" / "Push.java"
P12_PASSWORD = "esup-test"
QUEUE_MAX = 4


def feed(dept):
    """The same feed for each department: 7 events on 8 lines (a blank one), in 3 batches of 3:
    5 accepted, the first sent again (duplicate), one with a time in a wrong form (rejected),
    one with a misspelled field (accepted, warned)."""
    good = [event(dept=dept, id="cl-%d" % n, case="%s-CL-%d" % (dept, n)) for n in range(1, 6)]
    bad = dict(event(dept=dept, id="cl-bad", case=dept + "-CL-9"), at="2026-03-02 10:00:00")
    good[3]["aplicant"] = good[3].pop("applicant")
    events = [good[0], good[1], bad, good[0], good[2], good[3], good[4]]
    lines = [json.dumps(e, ensure_ascii=False) for e in events]
    return "\n".join(lines[:4] + [""] + lines[4:]) + "\n"


class Run:
    """A client process whose output lines are collected as they come."""

    def __init__(self, cmd, env=None):
        self.lines = []
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=env)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def saw(self, text):
        return any(text in line for line in self.lines)

    def finish(self, timeout=120):
        code = self.proc.wait(timeout)
        self.reader.join(10)
        return code

    def output(self):
        return "\n".join(self.lines)


@pytest.fixture
def runs():
    """The client processes of a test; any still running at its end (a failed test) is killed."""
    started = []
    yield started
    for r in started:
        if r.proc.poll() is None:
            r.proc.kill()
            r.proc.wait()


def test_python_and_java_report_the_same_through_429_503_and_a_lost_connection(
        daemon_factory, db, pg, certs, testdir, runs):
    d = daemon_factory(ingest={"queue_max_events": QUEUE_MAX, "retry_after_s": 1}).start()
    url = "https://127.0.0.1:%d/" % d.port
    for dept in ("LY-SCJGJ", "LY-ZJJ"):
        (testdir / (dept + ".ndjson")).write_text(feed(dept))
    crt, key = certs.pair("dept-LY-ZJJ")
    p12 = testdir / "dept-LY-ZJJ.p12"
    subprocess.run(["openssl", "pkcs12", "-export", "-in", str(crt), "-inkey", str(key),
                    "-out", str(p12), "-passout", "pass:" + P12_PASSWORD],
                   check=True, capture_output=True, timeout=30)

    blocked = {}

    def blocker():
        with d.client("dept-LY-HBJ", timeout=120) as c, contextlib.suppress(OSError,
                                                                             HTTPException):
            blocked["resp"] = c.post_events(
                [event(dept="LY-HBJ") for _ in range(QUEUE_MAX)])

    hold = psycopg.connect(db.conninfo("esup_admin"))
    try:
        hold.execute("SET ROLE esup_owner")
        # The writer's INSERT of the blocker's events waits for this lock: the queue is full.
        hold.execute("LOCK TABLE event_ids IN SHARE MODE")
        t = threading.Thread(target=blocker)
        t.start()
        wait_for(lambda: db.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                                   " AND wait_event_type = 'Lock'", (db.name,)), 30,
                 "the writer to wait for the lock")
        runs.append(Run([sys.executable, str(PYTHON_CLIENT), "--url", url,
                         "--cert", str(certs.pair("dept-LY-SCJGJ")[0]),
                         "--key", str(certs.pair("dept-LY-SCJGJ")[1]),
                         "--cacert", str(certs.ca), "--batch", "3",
                         str(testdir / "LY-SCJGJ.ndjson")]))
        # The single-file launcher, as documented; C1 only: its compile then costs ~40 % less
        # CPU (measured: 1.6 s instead of 2.7 s, about as much as javac + a run of the classes).
        runs.append(Run(["java", "-XX:TieredStopAtLevel=1", str(JAVA_CLIENT), "--url", url,
                         "--p12", str(p12),
                         "--cacert", str(certs.ca), "--batch", "3",
                         str(testdir / "LY-ZJJ.ndjson")],
                        env=dict(os.environ, ESUP_P12_PASSWORD=P12_PASSWORD)))
        for r in runs:
            wait_for(lambda: r.saw("batch 1 (lines 1-3): HTTP 429 (writer queue is full") or
                     r.proc.poll() is not None, 90, "a client to be refused with 429")
            assert r.saw("retrying in 1.0 s (Retry-After)"), r.output()
        pg.stop("immediate")          # ends the lock's session too
        for r in runs:
            wait_for(lambda: r.saw("batch 1 (lines 1-3): HTTP 503 (") or r.proc.poll() is not None,
                     60, "a client to be refused with 503")
            assert r.saw("HTTP 503"), r.output()
        assert d.stop() == 0
        for r in runs:
            wait_for(lambda: r.saw("batch 1 (lines 1-3): connection lost (") or
                     r.proc.poll() is not None, 60, "a client to lose its connection")
            # No Retry-After without an answer: exponential backoff with jitter.
            assert any(line.startswith("batch 1 (lines 1-3): connection lost (") and
                       line.endswith("(backoff)") for line in r.lines), r.output()
    finally:
        if not pg.running:
            pg.start()
        hold.close()
    d.start()
    codes = [r.finish() for r in runs]
    t.join(120)

    summary = "7 events in 3 batches: 5 accepted, 1 duplicate, 1 rejected"
    for r, code, dept in zip(runs, codes, ("LY-SCJGJ", "LY-ZJJ")):
        out = r.output()
        assert code == 1, out       # something was rejected
        assert r.lines[-1] == summary, out
        # The batch refused with 429 and 503 is answered once, in full; line numbers count the
        # blank line; the rejected event and the warning are named with their line and id.
        done = [line for line in r.lines if not line.startswith("  ") and "retrying" not in line]
        assert done == ["batch 1 (lines 1-3): 2 accepted, 0 duplicate, 1 rejected",
                        "batch 2 (lines 4-7): 2 accepted, 1 duplicate, 0 rejected",
                        "batch 3 (lines 8-8): 1 accepted, 0 duplicate, 0 rejected",
                        summary], out
        assert ("  line 3: rejected cl-bad: at: expected an RFC 3339 date-time with T between"
                " date and time and an offset, such as 2026-03-02T10:00:00+08:00, got"
                " \"2026-03-02 10:00:00\"") in r.lines, out
        assert ("  line 7: warning cl-4: aplicant: not a field of approval.accepted"
                " (did you mean applicant?)") in r.lines, out
        stored = db.event_counts(dept)
        assert stored == {"cl-%d" % n: 1 for n in range(1, 6)}, stored
