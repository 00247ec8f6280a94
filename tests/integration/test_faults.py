"""Faults during a stream of events: the database goes away, the daemon is stopped.
Whatever happens, an acknowledged event is stored exactly once and a resend completes."""

import threading

import pytest

from conftest import event, wait_for
from esupclient import StreamSender

TOTAL = 300


class Stream:
    """A paced StreamSender in a thread. It stops at `gate_at` acknowledged events until the
    test opens the gate, so that whatever the test breaks is sure to happen mid-stream."""

    def __init__(self, daemon, dept="LY-SCJGJ", gate_at=200):
        self.events = [event(dept=dept, id="stream-%04d" % i) for i in range(TOTAL)]
        self.sender = StreamSender(lambda: daemon.client("dept-" + dept, timeout=20),
                                   self.events, chunk=10, max_retries=600, pause=0.05, gap=0.02)
        self.gate_at = gate_at
        self.gate = threading.Event()
        self.progress = 0
        self.ok = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _note(self, n):
        self.progress = n
        if n >= self.gate_at:
            self.gate.wait(60)

    def _run(self):
        try:
            self.ok = self.sender.run(self._note)
        except Exception as e:  # the test reports it; a thread cannot fail a test itself
            self.sender.error = repr(e)
            self.ok = False

    def start(self):
        self.thread.start()
        return self

    def wait_progress(self, n):
        wait_for(lambda: self.progress >= n or not self.thread.is_alive(), 60,
                 "%d acknowledged events" % n)
        assert self.thread.is_alive(), "the client stopped early: %s" % self.sender.error

    def finish(self, timeout=120):
        self.gate.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the client did not finish in %ds" % timeout
        assert self.ok, "client gave up: %s (refusals %s)" % (self.sender.error,
                                                              self.sender.refusals)


def check_stored(db, stream):
    """Everything acknowledged is stored once; everything was acknowledged in the end."""
    ids = {e["id"] for e in stream.events}
    assert stream.sender.rejected == {}
    assert set(stream.sender.acked) == ids
    counts = db.event_counts()
    assert {i: counts.get(i, 0) for i in ids} == {i: 1 for i in ids}
    assert db.scalar("SELECT count(*) FROM events") == TOTAL
    assert db.scalar("SELECT count(*) FROM event_ids") == TOTAL


def test_database_restart_during_stream(esupd, db, pg):
    stream = Stream(esupd).start()
    try:
        stream.wait_progress(50)
        pg.stop("fast")

        def down():
            r = esupd.healthz()
            if r.status != 503:
                return False
            body = r.json()
            return (body["status"], body["database"]) == ("degraded", "down")
        wait_for(down, 60, "/healthz to report the database down")
        refused_before = stream.sender.refusals.get(503, 0)
        stream.gate.set()
        wait_for(lambda: stream.sender.refusals.get(503, 0) > refused_before, 60,
                 "the client to be refused with 503 while the database is down")
        pg.start()
        wait_for(lambda: esupd.healthz().status == 200, 30, "/healthz to report up again")
        body = esupd.healthz().json()
        assert (body["status"], body["database"]) == ("ok", "up"), body
    finally:
        stream.gate.set()
        if not pg.running:
            pg.start()
    stream.finish()
    check_stored(db, stream)
    assert esupd.running()


def test_503_carries_retry_after(esupd, db, pg):
    pg.stop("fast")
    try:
        wait_for(lambda: esupd.healthz().status == 503, 60, "/healthz to report down")
        with esupd.client("dept-LY-SCJGJ") as c:
            r = c.post_events([event(), event()])
        assert r.status == 503, r.body
        assert r.header("Retry-After") is not None
        assert int(r.header("Retry-After")) >= 1
    finally:
        pg.start()
    wait_for(lambda: esupd.healthz().status == 200, 30, "/healthz to report up again")
    assert db.scalar("SELECT count(*) FROM events") == 0


def test_sigterm_during_stream(daemon_factory, db):
    d = daemon_factory().start()
    stream = Stream(d).start()
    stream.wait_progress(50)
    code = d.stop(timeout=30)   # one SIGTERM: a second one would force an exit
    stream.gate.set()
    assert code == 0, "esupd exited with %s after SIGTERM:\n%s" % (code, d.log_tail())
    stored_at_stop = db.scalar("SELECT count(*) FROM events")
    assert stored_at_stop >= 50
    d.start()
    stream.finish()
    check_stored(db, stream)
    assert stream.sender.retries > 0, "the client never noticed the restart"


@pytest.mark.parametrize("chunk", [1, 250])
def test_resend_after_stop_is_idempotent(daemon_factory, db, chunk):
    """Resending everything, acknowledged or not, never stores anything twice."""
    d = daemon_factory().start()
    events = [event(id="re-%04d" % i) for i in range(TOTAL)]
    first = StreamSender(lambda: d.client("dept-LY-SCJGJ"), events[:TOTAL // 2], chunk=chunk)
    assert first.run(), first.error
    d.stop()
    d.start()
    again = StreamSender(lambda: d.client("dept-LY-SCJGJ"), events, chunk=chunk)
    assert again.run(), again.error
    assert sorted(set(again.acked.values())) == ["accepted", "duplicate"]
    assert sum(1 for s in again.acked.values() if s == "duplicate") == TOTAL // 2
    assert db.scalar("SELECT count(*) FROM events") == TOTAL
    assert set(db.event_counts().values()) == {1}
