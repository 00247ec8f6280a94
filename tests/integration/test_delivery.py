"""Webhook delivery (daemon/delivery.c) against a real local HTTP receiver.

The receiver is Python's http.server in a thread: it answers 200 or 500, hangs past the
daemon's timeout, or is not there at all (a closed port), and can change its mind. Alerts and
their actions are written the way the lifecycle writes them (an alerts row and its
alert_actions row in one transaction), except in the end-to-end test, where ingest raises them.
Nothing here waits for time to pass: every wait is for a condition, with a deadline.
"""

import json
import re
import signal
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg
import pytest

from conftest import (ESUPD, SANITIZER_MARKS, as_daemon_user, dbsetup, event, free_port,
                      sanitizer_env, wait_for)

_key = iter(range(1, 1 << 30))


class Receiver:
    """A webhook receiver on 127.0.0.1:port. mode: 'ok' (200), 'fail' (500), 'hang' (reads the
    request, answers nothing until released); stop() closes the port (refused)."""

    def __init__(self, port=None, mode="ok", tls=None):
        self.port = port or free_port()
        self.mode = mode
        self.tls = tls             # (certificate, key): https
        self.posts = []            # every body received, parsed, in arrival order
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.server = None

    def start(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with owner.lock:
                    mode = owner.mode
                    owner.posts.append({"mode": mode, "path": self.path,
                                        "type": self.headers["Content-Type"],
                                        "body": json.loads(body)})
                if mode == "hang":
                    owner.release.wait(60)
                    return
                code = 200 if mode == "ok" else 500
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        if self.tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def set(self, mode):
        with self.lock:
            self.mode = mode

    def url(self, path="/hook"):
        return "%s://127.0.0.1:%d%s" % ("https" if self.tls else "http", self.port, path)

    def delivered(self):
        """Action ids of the posts answered 200, in the order they arrived."""
        with self.lock:
            return [a["esup"]["action_id"] for p in self.posts if p["mode"] == "ok"
                    for a in p["body"]["alerts"]]

    def received(self):
        with self.lock:
            return [a["esup"]["action_id"] for p in self.posts for a in p["body"]["alerts"]]


@pytest.fixture
def receivers():
    made = []

    def make(**kw):
        r = Receiver(**kw)
        made.append(r)
        return r
    yield make
    for r in made:
        r.release.set()
        r.stop()


def receiver_section(url, **kw):
    section = {"url": url, "backoff_min_ms": "50", "backoff_max_ms": "200"}
    section.update({k: str(v) for k, v in kw.items()})
    return section


def raise_alert(db, region="410300", severity="yellow", rule="FEE-NO-REVIEW", dept="LY-ZJJ",
                case=None):
    """An open alert and its raise row, in one transaction as esup_apply_evaluation writes them.
    Returns (alert id, action id)."""
    key = "%s|%s|t%d" % (rule, dept, next(_key))
    with psycopg.connect(db.conninfo("postgres")) as conn:
        alert = conn.execute(
            "INSERT INTO alerts (rule, severity, dept, case_no, dedup_key, message, since, region)"
            " VALUES (%s, %s, %s, %s, %s, %s, now(), %s) RETURNING id",
            (rule, severity, dept, case, key, "message of " + key, region)).fetchone()[0]
        action = conn.execute(
            "INSERT INTO alert_actions (alert_id, action, actor, note, from_state, to_state)"
            " VALUES (%s, 'raise', 'esupd', '', NULL, 'open') RETURNING id", (alert,)).fetchone()[0]
    return alert, action


def raise_alerts(db, count, region="410300"):
    """count open alerts raised in one transaction; returns their raise action ids."""
    with psycopg.connect(db.conninfo("postgres")) as conn:
        out = []
        for _ in range(count):
            key = "FEE-NO-REVIEW|LY-ZJJ|t%d" % next(_key)
            alert = conn.execute(
                "INSERT INTO alerts (rule, severity, dept, dedup_key, message, since, region)"
                " VALUES ('FEE-NO-REVIEW', 'yellow', 'LY-ZJJ', %s, 'm', now(), %s) RETURNING id",
                (key, region)).fetchone()[0]
            out.append(conn.execute(
                "INSERT INTO alert_actions (alert_id, action, actor, note, from_state, to_state)"
                " VALUES (%s, 'raise', 'esupd', '', NULL, 'open') RETURNING id",
                (alert,)).fetchone()[0])
    return out


def act(db, fingerprint, alert, action, note="-"):
    """One action through the lifecycle's own function, as the API takes it for a principal
    (fingerprint), or as esupd's jobs do (fingerprint None); returns the action id."""
    if fingerprint is None:
        level = db.scalar("SELECT escalation_level FROM alerts WHERE id = %s", (alert,))
        row = db.query("SELECT * FROM esup_alert_act_system(%s, %s, %s, NULL, %s)",
                       (alert, action, note, level))[0]
    else:
        row = db.query("SELECT * FROM esup_alert_act_as(%s, %s, %s, %s, NULL)",
                       (fingerprint, alert, action, note))[0]
    assert row[0] == "done", row
    return row[2]


def log_end(db):
    """The position of the last action in the log."""
    return db.scalar("SELECT xid::text || '-' || id FROM alert_actions ORDER BY xid DESC, id DESC"
                     " LIMIT 1")


def log_ids(db):
    """Every action id in position order."""
    return [r[0] for r in db.query("SELECT id FROM alert_actions ORDER BY xid, id")]


def cursor(db, name):
    rows = db.query("SELECT position FROM delivery_cursors WHERE receiver = %s", (name,))
    return rows[0][0] if rows else None


def wait_cursor(db, name, position, what=None):
    wait_for(lambda: cursor(db, name) == position, 20,
             what or "receiver %s's cursor to reach %s" % (name, position))


def attempts(db, name):
    return db.query("SELECT action_id, attempt, outcome, http_status, error, ms FROM deliveries"
                    " WHERE receiver = %s ORDER BY id", (name,))


def test_healthy_receiver_gets_everything_once_in_order(daemon_factory, db, certs, receivers):
    hook = receivers().start()
    history = [raise_alert(db) for _ in range(2)]   # before the receiver existed
    d = daemon_factory(**{"receiver.sms": receiver_section(hook.url("/hook?x=1"), batch=5)}).start()
    wait_for(lambda: cursor(db, "sms") is not None, 10, "the new receiver's cursor")
    assert cursor(db, "sms") == log_end(db), "a new receiver starts at the end of the log"
    assert "receiver sms: new; starts at the end of the log" in d.log_text()

    raised = [raise_alert(db, case="LY-ZJJ-2026-%06d" % i if i % 2 else None) for i in range(12)]
    resolved = act(db, certs.fingerprints["supervisor"], raised[3][0], "resolve", "corrected")
    want = [a for _, a in raised] + [resolved]
    wait_for(lambda: len(hook.delivered()) >= len(want), 20, "every action delivered")
    wait_cursor(db, "sms", log_end(db))
    assert hook.delivered() == want
    assert not set(a for _, a in history) & set(hook.delivered())
    assert all(len(p["body"]["alerts"]) <= 5 for p in hook.posts)
    assert {p["path"] for p in hook.posts} == {"/hook?x=1"}
    assert {p["type"] for p in hook.posts} == {"application/json"}

    first = hook.posts[0]["body"]
    assert (first["version"], first["receiver"], first["status"]) == ("4", "sms", "firing")
    one = first["alerts"][0]
    alert = db.query("SELECT id, rule, severity, dept, dedup_key, message FROM alerts"
                     " WHERE id = %s", (raised[0][0],))[0]
    assert one["status"] == "firing"
    assert one["labels"] == {"alertname": alert[1], "severity": alert[2], "dept": alert[3],
                             "region": "410300"}
    assert one["fingerprint"] == alert[4]
    assert one["annotations"] == {"message": alert[5], "action": "raise", "note": ""}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00", one["startsAt"])
    assert one["endsAt"] == "0001-01-01T00:00:00Z"
    assert one["esup"]["alert_id"] == raised[0][0] and one["esup"]["escalation_level"] == 0
    assert re.fullmatch(r"\d+-%d" % raised[0][1], one["esup"]["position"])
    with_case = [a for p in hook.posts for a in p["body"]["alerts"]
                 if a["esup"]["action_id"] == raised[1][1]][0]
    assert with_case["labels"]["case"] == "LY-ZJJ-2026-000001"
    last = [a for p in hook.posts for a in p["body"]["alerts"]][-1]
    assert (last["status"], last["annotations"]["note"]) == ("resolved", "corrected")
    assert last["endsAt"] != "0001-01-01T00:00:00Z"

    log = attempts(db, "sms")
    assert [r[0] for r in log] == want
    assert {(r[1], r[2], r[3]) for r in log} == {(1, "delivered", 200)}


def test_receiver_down_then_failing_then_back(daemon_factory, db, receivers):
    hook = receivers()   # not started: the port refuses connections
    d = daemon_factory(**{"receiver.gw": receiver_section(hook.url(), batch=3)}).start()
    wait_for(lambda: cursor(db, "gw") is not None, 10, "the receiver's cursor")
    start = cursor(db, "gw")
    want = [raise_alert(db)[1] for _ in range(7)]
    wait_for(lambda: sum(1 for r in attempts(db, "gw") if r[0] == want[0]) >= 3, 20,
             "three refused attempts logged")
    assert cursor(db, "gw") == start, "nothing delivered: the cursor stays"
    refused = [r for r in attempts(db, "gw") if r[0] == want[0]]
    assert [r[1] for r in refused] == list(range(1, len(refused) + 1))
    assert {r[2] for r in refused} == {"error"} and {r[3] for r in refused} == {None}

    hook.mode = "fail"
    hook.start()
    wait_for(lambda: any(r[2] == "rejected" for r in attempts(db, "gw")), 20, "a 500 logged")
    rejected = [r for r in attempts(db, "gw") if r[2] == "rejected"]
    assert {(r[0], r[3], r[4]) for r in rejected} >= {(want[0], 500, "HTTP 500")}
    assert cursor(db, "gw") == start

    hook.set("ok")
    wait_cursor(db, "gw", log_end(db))
    assert hook.delivered() == want, "all delivered once, in order"
    assert hook.received()[:3] == want[:3], "the first batch was tried first"
    for action in want:
        rows = [r for r in attempts(db, "gw") if r[0] == action]
        assert rows[-1][2] == "delivered" and [r[1] for r in rows] == list(range(1, len(rows) + 1))
    assert re.search(r"receiver gw: delivered again after \d+ failed attempt", d.log_text())


def test_hanging_receiver_times_out_and_others_go_on(daemon_factory, db, receivers):
    slow = receivers(mode="hang").start()
    fast = receivers().start()
    d = daemon_factory(**{"receiver.slow": receiver_section(slow.url(), timeout_s=1),
                          "receiver.fast": receiver_section(fast.url())}).start()
    wait_for(lambda: cursor(db, "slow") and cursor(db, "fast"), 10, "both cursors")
    start = cursor(db, "slow")
    first = raise_alert(db)[1]
    with d.client("dept-LY-SCJGJ") as c:   # ingest answers while a receiver hangs
        assert c.post_events([event()]).status == 200   # (its alerts are delivered too)
    for _ in range(2):
        raise_alert(db)
    want = log_ids(db)
    assert want[0] == first
    wait_cursor(db, "fast", log_end(db), "the healthy receiver to get everything")
    assert fast.delivered() == want

    wait_for(lambda: sum(1 for r in attempts(db, "slow") if r[0] == first) >= 2, 20,
             "two timed-out attempts")
    timed_out = [r for r in attempts(db, "slow") if r[0] == first]
    assert {r[2] for r in timed_out} == {"timeout"}
    assert all(r[5] >= 900 for r in timed_out), timed_out
    assert cursor(db, "slow") == start
    slow.set("ok")
    slow.release.set()
    wait_cursor(db, "slow", log_end(db))
    assert slow.delivered() == want
    assert "receiver slow:" in d.log_text() and "timeout" in d.log_text()


def test_routing_by_region_scope_severity_and_action(daemon_factory, refdb, certs, receivers):
    db = refdb   # the regions, for 督办
    names = {"city": dict(region="410300", scope="region"),
             "county": dict(region="410302", scope="region"),
             "province_red": dict(region="410000", scope="subtree", min_severity="red"),
             "everything": dict(actions="all"),
             "city_tree": dict(region="410300", min_severity="yellow", actions="raise")}
    hooks = {n: receivers().start() for n in names}
    d = daemon_factory(**{"receiver." + n: receiver_section(hooks[n].url(), **kw)
                          for n, kw in names.items()}).start()
    wait_for(lambda: all(cursor(db, n) for n in names), 10, "every cursor")
    a = raise_alert(db, region="410300", severity="yellow")
    b = raise_alert(db, region="410302", severity="red")
    c = raise_alert(db, region="410303", severity="notice")
    x = raise_alert(db, region="410302", severity="yellow")
    ack = act(db, certs.fingerprints["dept-LY-ZJJ"], x[0], "ack", "回告")
    dismiss = act(db, certs.fingerprints["supervisor"], x[0], "dismiss", "误报")
    for n in names:
        wait_cursor(db, n, log_end(db))
    escalate = act(db, None, c[0], "escalate", "督办")
    for n in names:
        wait_cursor(db, n, log_end(db))

    got = {n: h.delivered() for n, h in hooks.items()}
    assert got["city"] == [a[1], escalate]
    assert got["county"] == [b[1], x[1], dismiss]
    assert got["province_red"] == [b[1]]
    assert got["everything"] == [a[1], b[1], c[1], x[1], ack, dismiss, escalate]
    assert got["city_tree"] == [a[1], b[1], x[1]]
    # The delivery log is scoped like the alerts: a supervisor of another region reads none of it.
    people = {"zz": "410100", "city": "410300"}
    names = {k: "%s_%s" % (db.name.replace("esup_", "d"), k) for k in people}
    try:
        for k, region in people.items():
            dbsetup(db.pg, "person", "add", names[k], "--role", "supervisor", "--region", region,
                    dbname=db.name)
        seen = {k: psycopg.connect(db.conninfo(n), autocommit=True).execute(
                    "SELECT count(*) FROM deliveries").fetchone()[0] for k, n in names.items()}
        assert seen == {"zz": 0, "city": db.scalar("SELECT count(*) FROM deliveries")}
        assert seen["city"] > 0
    finally:
        for n in names.values():
            dbsetup(db.pg, "person", "remove", n, dbname=db.name)
    esc = hooks["city"].posts[-1]["body"]["alerts"][0]
    assert esc["labels"]["region"] == "410300"
    assert (esc["esup"]["escalation_level"], esc["esup"]["escalated_to"]) == (1, "410300")
    assert esc["esup"]["region"] == "410303"
    assert d.running()


def test_kill9_resumes_from_the_cursor(daemon_factory, db, receivers):
    hook = receivers().start()
    d = daemon_factory(**{"receiver.sms": receiver_section(hook.url(), batch=2,
                                                          timeout_s=30)}).start()
    wait_for(lambda: cursor(db, "sms") is not None, 10, "the receiver's cursor")
    want = [raise_alert(db)[1] for _ in range(2)]
    wait_cursor(db, "sms", log_end(db))
    hook.set("hang")
    more = raise_alerts(db, 4)
    wait_for(lambda: len(hook.received()) >= 4, 20, "the third batch to reach the receiver")
    d.proc.kill()   # SIGKILL with the batch in flight, unanswered
    d.proc.wait()
    d.runs[-1][2] = 0
    hook.set("ok")
    hook.release.set()
    d.start()
    wait_cursor(db, "sms", log_end(db))
    got = hook.received()
    assert got[:2] == want
    assert got[2:4] == more[:2], "the batch in flight when killed"
    assert got[4:] == more, "after the restart: from the cursor, the unanswered batch again"
    assert "starts at the end of the log" not in d.log_text().split("esupd 0.1.0 started")[-1]


def test_end_to_end_from_ingest(daemon_factory, refdb, receivers):
    hook = receivers().start()
    d = daemon_factory(rules={"disable": "APR-LATE-REPORT"},
                       **{"receiver.sms": receiver_section(hook.url())}).start()
    wait_for(lambda: cursor(refdb, "sms") is not None, 10, "the receiver's cursor")
    case = "LY-ZJJ-2026-910001"
    events = [event(dept="LY-ZJJ", type="approval.accepted", case=case, item="ZJ-004",
                    at="2026-03-09T09:30:00+08:00"),
              event(dept="LY-ZJJ", type="approval.decided", case=case, result="denied",
                    at="2026-03-11T16:00:00+08:00")]
    with d.client("dept-LY-ZJJ") as c:
        r = c.post_events_committed(events)
    assert r.status == 200, r.body
    raised = refdb.query("SELECT a.id, l.rule FROM alert_actions a JOIN alerts l"
                         " ON l.id = a.alert_id WHERE l.case_no = %s ORDER BY a.xid, a.id", (case,))
    assert raised, "the denial without a reason raises alerts"
    wait_cursor(refdb, "sms", log_end(refdb))
    assert hook.delivered() == [r[0] for r in raised]
    alerts = [a for p in hook.posts for a in p["body"]["alerts"]]
    assert [a["labels"]["alertname"] for a in alerts] == [r[1] for r in raised]
    assert {a["labels"]["case"] for a in alerts} == {case}
    assert {a["labels"]["dept"] for a in alerts} == {"LY-ZJJ"}


def check_config(d, tmp, section):
    d.config["receiver.bad"] = section
    path = tmp / "bad.conf"
    d.write(path)
    path.chmod(0o644)
    proc = subprocess.run([str(ESUPD), "-n", "-c", str(path)], capture_output=True, text=True,
                          timeout=60, env=sanitizer_env(), **as_daemon_user())
    out = proc.stdout + proc.stderr
    assert not any(m in out for m in SANITIZER_MARKS), out
    return proc.returncode, out, path


LINE_ERRORS = [
    ({"url": "http://127.0.0.1:9/h", "colour": "red"},
     r'unknown option "colour" in section \[receiver.bad\]'),
    ({"url": "ftp://127.0.0.1/h"}, r"url: expected http://"),
    ({"url": "http://127.0.0.1:9/h", "scope": "planet"}, r"scope: expected region or subtree"),
    ({"url": "http://127.0.0.1:9/h", "min_severity": "orange"}, r"min_severity: expected"),
    ({"url": "http://127.0.0.1:9/h", "actions": "raise,shout"}, r'actions: unknown action kind "shout"'),
    ({"url": "http://127.0.0.1:9/h", "region": "4103"}, r"region: expected a six-digit"),
    ({"url": "http://127.0.0.1:9/h", "timeout_s": "0"}, r"timeout_s: expected an integer"),
]
SECTION_ERRORS = [
    ({"region": "410300"}, r"\[receiver.bad\] url is required"),
    ({"url": "http://127.0.0.1:9/h", "scope": "region"}, r"scope = region needs a region"),
    ({"url": "http://127.0.0.1:9/h", "backoff_min_ms": "500", "backoff_max_ms": "100"},
     r"backoff_min_ms must not exceed backoff_max_ms"),
]


def test_receiver_config_errors(daemon_factory, testdir):
    """A bad key or value names the file and line; a bad section as a whole names the section."""
    d = daemon_factory()
    code, out, _ = check_config(d, testdir, {"url": "https://gw.example:8443/a", "region": "410300",
                                             "scope": "region", "actions": "all"})
    assert code == 0, out
    for section, message in LINE_ERRORS:
        code, out, path = check_config(d, testdir, section)
        assert code == 1, out
        assert re.search(r"%s:\d+: %s" % (re.escape(str(path)), message), out), out
    for section, message in SECTION_ERRORS:
        code, out, _ = check_config(d, testdir, section)
        assert code == 1 and re.search(message, out), out


def test_reload_adds_and_removes_receivers(daemon_factory, db, receivers):
    one, two = receivers().start(), receivers().start()
    d = daemon_factory(**{"receiver.one": receiver_section(one.url())}).start()
    wait_for(lambda: cursor(db, "one") is not None, 10, "receiver one's cursor")
    first = raise_alert(db)[1]
    wait_cursor(db, "one", log_end(db))
    del d.config["receiver.one"]
    d.config["receiver.two"] = receiver_section(two.url())
    d.write()
    d.signal(signal.SIGHUP)
    wait_for(lambda: cursor(db, "two") is not None, 10, "receiver two's cursor")
    second = raise_alert(db)[1]
    wait_cursor(db, "two", log_end(db))
    assert two.delivered() == [second]
    assert one.delivered() == [first]
    assert "receiver one: removed from the configuration" in d.log_text()


def test_https_receiver_is_verified_against_the_ca(daemon_factory, db, certs, receivers):
    good = receivers(tls=(certs.dir / "server.crt", certs.dir / "server.key")).start()
    stranger = receivers(tls=certs.pair("stranger")).start()   # another CA's certificate
    d = daemon_factory(**{"receiver.good": receiver_section(good.url()),
                          "receiver.stranger": receiver_section(stranger.url())}).start()
    wait_for(lambda: cursor(db, "good") and cursor(db, "stranger"), 10, "both cursors")
    start = cursor(db, "stranger")
    want = [raise_alert(db)[1] for _ in range(3)]
    wait_cursor(db, "good", log_end(db))
    assert good.delivered() == want
    wait_for(lambda: len(attempts(db, "stranger")) >= 2, 20, "refused TLS attempts logged")
    row = attempts(db, "stranger")[0]
    assert row[2] == "error" and "certificate" in row[4], row
    assert cursor(db, "stranger") == start and stranger.received() == []
    assert d.running()
