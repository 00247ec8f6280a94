"""Ready means ready: READY=1, /healthz 200 and ingest only once every dependency is there
(writer, reader, schema version, principals, rules); until then /healthz and every refused
request say what is missing."""

import os
import signal
import socket

import pytest

from conftest import CALENDAR, SANITIZER_MARKS, event, statuses, wait_for

# A worked Wednesday: the database's CHECK accepts it, libmonitor's calendar refuses it.
BAD_CALENDAR = "date,kind,name\n2026-03-04,workday,not a weekend day\n"


class NotifySocket:
    """A systemd-style notification socket: what esupd says with sd_notify(3)."""

    def __init__(self, directory):
        self.path = str(directory / "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o777)   # the daemon runs as the esup user
        self.sock.setblocking(False)
        self.messages = []

    def read(self):
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return self.messages

    def said(self, what):
        return any(what in m.split("\n") for m in self.read())

    def close(self):
        self.sock.close()


@pytest.fixture
def notify(testdir, monkeypatch):
    n = NotifySocket(testdir)
    monkeypatch.setenv("NOTIFY_SOCKET", n.path)
    yield n
    n.close()


def healthz_answer(d):
    """The /healthz response once the daemon answers at all (None while it cannot)."""
    try:
        return d.healthz()
    except OSError:
        return None


def test_healthz_names_every_dependency(esupd):
    r = esupd.healthz()
    assert r.status == 200, r.body
    body = r.json()
    assert body["status"] == "ok" and body["ready"] is True, body
    for check in ("writer", "reader", "sweeper", "schema", "principals", "rules"):
        assert body["checks"][check]["status"] == "ok", (check, body)
    assert body["checks"]["schema"]["version"] == body["checks"]["schema"]["expected"] > 0


def test_first_post_after_healthz_ok_is_accepted(daemon_factory, db):
    """Before, 27 of 30 fresh starts answered the first POST after /healthz said ok with 503
    "rules not loaded yet": /healthz only looked at the writer connection."""
    d = daemon_factory()
    for attempt in range(6):
        d.start()   # waits for /healthz 200
        with d.client("dept-LY-SCJGJ") as c:
            r = c.post_events([event()])
        assert r.status == 200, "start %d: %d %r" % (attempt, r.status, r.body)
        assert statuses(r.json()) == ["accepted"]
        assert d.stop() == 0


def test_ready_is_announced_only_with_the_rules(daemon_factory, db, testdir, notify):
    """A calendar the database stores but the rules engine refuses: no READY=1, /healthz
    503 saying why, ingest refused with the reason; fixed, everything comes up by itself."""
    bad = testdir / "calendar-bad.csv"
    bad.write_text(BAD_CALENDAR)
    db.load("calendar", bad)
    d = daemon_factory().start(wait=False)
    wait_for(lambda: "reference table calendar refused" in d.log_text(), 30,
             "the daemon to refuse the calendar")
    # the connections come up one by one: wait until what is missing is the calendar
    r = wait_for(lambda: (lambda a: a if a is not None and a.status == 503 and
                          "calendar" in a.json().get("missing", "") else None)(healthz_answer(d)),
                 30, "/healthz to name the refused calendar")
    body = r.json()
    assert body["ready"] is False and body["status"] == "starting", body
    assert body["checks"]["rules"]["status"] == "failing", body
    assert "calendar" in body["missing"] and "workday" in body["missing"], body
    assert r.header("retry-after") is not None
    with d.client("dept-LY-SCJGJ") as c:
        r = c.post_events([event()])
    assert r.status == 503 and r.header("retry-after") is not None, r.body
    assert "calendar" in r.json()["error"], r.body
    assert db.scalar("SELECT count(*) FROM events") == 0
    assert not notify.said("READY=1"), notify.read()

    db.load("calendar", CALENDAR)
    wait_for(lambda: notify.said("READY=1"), 30, "READY=1 once the calendar is fixed")
    assert d.healthz().status == 200
    with d.client("dept-LY-SCJGJ") as c:
        r = c.post_events([event()])
    assert r.status == 200 and statuses(r.json()) == ["accepted"], r.body


def test_ready_is_announced_after_the_rules_load(daemon_factory, refdb, notify):
    """READY=1 means a POST right after it is served (not answered 503)."""
    d = daemon_factory().start(wait=False)
    wait_for(lambda: notify.said("READY=1"), 30, "READY=1")
    assert "rules loaded" in d.log_text() and "loaded" in d.log_text()
    with d.client("dept-LY-SCJGJ") as c:
        r = c.post_events([event()])
    assert r.status == 200 and statuses(r.json()) == ["accepted"], r.body


def test_schema_behind_the_binary_refuses_to_start(daemon_factory, db):
    """A database one migration behind at start: esupd says to migrate and exits 1 (issue 13)
    instead of waiting, not ready, for a migration nobody runs."""
    version = db.scalar("SELECT max(version) FROM schema_migrations")
    db.query("DELETE FROM schema_migrations WHERE version = %s", (version,))
    d = daemon_factory().start(wait=False)
    code = d.proc.wait(30)
    d.runs[-1][2] = 0   # the refusal is the point; its status is asserted here
    log = d.log_text()
    assert code == 1, log
    assert "database schema is at version %d, this esupd needs %d: run esupd --migrate" % (
        version - 1, version) in log, log
    assert not any(m in log for m in SANITIZER_MARKS), log


def test_schema_behind_while_running_is_not_ready(daemon_factory, db):
    """Behind after readiness (a restore of an older dump): esupd stays up, not ready, and
    /healthz and ingest say to migrate; after the migration (here: its row restored) a SIGHUP
    looks again."""
    d = daemon_factory(log={"level": "debug"}).start()
    version, name = db.query("SELECT version, name FROM schema_migrations"
                             " ORDER BY version DESC LIMIT 1")[0]
    db.query("DELETE FROM schema_migrations WHERE version = %s", (version,))
    d.signal(signal.SIGHUP)
    r = wait_for(lambda: (lambda a: a if a is not None and a.status == 503 and
                          "esupd --migrate" in a.json().get("missing", "") else None)(healthz_answer(d)),
                 30, "/healthz to report the schema behind")
    body = r.json()
    assert body["checks"]["schema"]["status"] == "failing", body
    assert body["status"] == "degraded", body
    with d.client("dept-LY-SCJGJ") as c:
        r = c.post_events([event()])
    assert r.status == 503 and "esupd --migrate" in r.json()["error"], r.body

    db.query("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name))
    d.signal(signal.SIGHUP)
    d.wait_healthy()
    assert d.running()


def test_healthz_says_degraded_when_the_database_goes(daemon_factory, db, pg):
    d = daemon_factory().start()
    pg.stop("immediate")   # no shutdown checkpoint: a loaded machine made "fast" take a minute
    try:
        r = wait_for(lambda: (lambda a: a if a is not None and a.status == 503 and
                              a.json()["checks"]["writer"]["status"] == "failing" else None)(
            healthz_answer(d)), 30, "/healthz to notice the database is gone")
        body = r.json()
        assert body["status"] == "degraded" and body["database"] == "down", body
        assert body["checks"]["writer"]["status"] == "failing", body
        assert "database unavailable" in body["missing"], body
    finally:
        pg.start()
    d.wait_healthy()
