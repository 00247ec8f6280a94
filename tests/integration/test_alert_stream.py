"""GET /v1/alerts/stream: Server-Sent Events over the durable alert log (alert_actions in
(xid, id) order). Events arrive live and only within the principal's scope; a client that
resumes with Last-Event-ID, after a disconnect or a daemon restart (SIGTERM or SIGKILL), gets
every event it missed exactly once, while alerts keep coming; heartbeats arrive; a consumer
that stops reading is cut off instead of buffered without bound.

Alerts are raised here through esup_apply_evaluation as esupd (the daemon's own way), from
threads, so transactions commit out of xid order: the log must still come out complete."""

import json
import re
import socket
import ssl
import threading
import time

import psycopg

from conftest import REPO, wait_for
from esupclient import tls_context

T0 = "2026-03-02T09:00:00+08:00"
OTHER_REGION = "410200"   # 开封: no test department is there


# ---------------------------------------------------------------- a small SSE client


class Stream:
    """One GET /v1/alerts/stream over TLS: reads the chunked reply and parses SSE fields
    (id, event, data, retry, comments), keeping the last event id as a browser does."""

    def __init__(self, d, name, last_id=None, after=None, rcvbuf=None, timeout=10.0):
        cert, key = d.pair(name)
        ctx = tls_context(d.certs.ca, cert, key)
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.settimeout(timeout)
        raw.connect(("127.0.0.1", d.port))
        self.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        path = "/v1/alerts/stream" + ("?after=" + after if after else "")
        head = "GET %s HTTP/1.1\r\nHost: esupd\r\nAccept: text/event-stream\r\n" % path
        if last_id is not None:
            head += "Last-Event-ID: %s\r\n" % last_id
        self.sock.sendall((head + "\r\n").encode())
        self.buf = bytearray()
        self.body = bytearray()   # de-chunked bytes not parsed yet
        self.ended = False     # the last chunk (or EOF) came
        self.events = []       # dicts: id, event, data (parsed JSON)
        self.comments = []
        self.retry = None
        self.last_id = last_id
        self.start = None      # the position a stream without Last-Event-ID announced
        self._fields = {}
        self.status, self.headers = self._read_head()

    def _fill(self):
        try:
            data = self.sock.recv(65536)
        except (ssl.SSLWantReadError, BlockingIOError):
            return False
        except (ConnectionResetError, ssl.SSLError, BrokenPipeError) as e:
            self.error = e
            data = b""
        if not data:
            self.ended = True
        self.buf += data
        return bool(data)

    def _read_head(self):
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionError("no response head")
        head, rest = bytes(self.buf).split(b"\r\n\r\n", 1)
        self.buf = bytearray(rest)
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        return status, headers

    def _dechunk(self):
        pos, buf = 0, self.buf
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                break
            size = int(buf[pos:eol], 16)
            if size == 0:
                self.ended = True
                pos = len(buf)
                break
            if len(buf) < eol + 2 + size + 2:
                break
            self.body += buf[eol + 2:eol + 2 + size]
            pos = eol + 2 + size + 2
        del buf[:pos]

    def _parse(self):
        pos, body = 0, self.body
        while True:
            eol = body.find(b"\n", pos)
            if eol < 0:
                break
            line = body[pos:eol].decode()
            pos = eol + 1
            if line == "":
                self._dispatch()
            elif line.startswith(":"):
                self.comments.append(line[1:].strip())
            else:
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "data":
                    self._fields.setdefault("data", []).append(value)
                elif name == "retry":
                    self.retry = int(value)
                else:
                    self._fields[name] = value
        del body[:pos]

    def _dispatch(self):
        f, self._fields = self._fields, {}
        if "id" in f:
            self.last_id = f["id"]
            if "data" not in f and self.start is None and not self.events:
                self.start = f["id"]
        if "data" in f:
            self.events.append({"id": f.get("id"), "event": f.get("event", "message"),
                                "data": json.loads("\n".join(f["data"]))})

    def pump(self, seconds=0.2):
        """Reads what arrives within `seconds`; False once the stream has ended."""
        self.sock.settimeout(seconds)
        try:
            while not self.ended and len(self.buf) < (1 << 20) and self._fill():
                self.sock.settimeout(0.001)
        except (socket.timeout, TimeoutError):
            pass
        self._dechunk()
        self._parse()
        return not self.ended

    def wait(self, predicate, timeout, what):
        def check():
            self.pump(0.1)
            return predicate(self)
        return wait_for(check, timeout, what, interval=0)

    def ids(self):
        return [e["id"] for e in self.events]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------- raising alerts


def store_events(conn, dept, cases):
    conn.execute(
        "WITH s AS (SELECT c, nextval('events_seq') AS seq, now() AS r FROM unnest(%(c)s::text[]) c),"
        " i AS (INSERT INTO event_ids (dept, event_id, seq, received_at)"
        "       SELECT %(d)s, c || '-e1', seq, r FROM s)"
        " INSERT INTO events (seq, received_at, dept, event_id, type, at, case_no, item,"
        "                     principal, body) OVERRIDING SYSTEM VALUE"
        " SELECT seq, r, %(d)s, c || '-e1', 'approval.accepted', %(t)s, c, 'SCJG-001', 'test',"
        "        '{}' FROM s", {"d": dept, "c": cases, "t": T0})


def evaluation(dept, case, rules):
    conds = [{"rule": r, "severity": "notice" if r.endswith("NOTICE") else "yellow",
              "key": "%s|%s|%s" % (r, dept, case), "supersedes": None, "since": T0,
              "message": r, "evidence": [case + "-e1"]} for r in rules]
    return {"dept": dept, "case": case, "item": "SCJG-001", "status": "accepted",
            "unit": "working", "committed_days": 5, "statutory_days": 10, "counted_days": 1,
            "suspended_days": 0, "committed_day": "2026-03-09", "statutory_day": "2026-03-16",
            "level": None, "next_check": None, "conditions": conds}


RULES = ["APR-DEADLINE-NOTICE", "APR-DEADLINE-YELLOW"]


class Raiser:
    """Raises alerts as esupd would, each case in its own transaction: two raise rows, then
    (when told) a resolve of both, so the log holds several rows per transaction."""

    def __init__(self, db, prefix, dept="LY-SCJGJ"):
        self.db = db
        self.dept = dept
        self.prefix = prefix
        self.n = 0

    def raise_some(self, count, resolve=False):
        with psycopg.connect(self.db.conninfo("esupd"), autocommit=True) as conn:
            cases = ["%s-%s-%05d" % (self.dept, self.prefix, self.n + i) for i in range(count)]
            self.n += count
            store_events(conn, self.dept, cases)
            for case in cases:
                conn.execute("SELECT * FROM esup_apply_evaluation(%s, %s)",
                             (json.dumps(evaluation(self.dept, case, RULES)), T0))
                if resolve:
                    conn.execute("SELECT * FROM esup_apply_evaluation(%s, %s)",
                                 (json.dumps(evaluation(self.dept, case, [])), T0))
        return cases


def keep_raising(db, stop, prefix, dept="LY-SCJGJ"):
    """A thread that raises (and resolves) alerts until stop is set."""
    r = Raiser(db, prefix, dept)

    def run():
        while not stop.is_set():
            r.raise_some(1, resolve=r.n % 3 == 0)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def log_positions(db, after="0-0", dept=None):
    """The log's positions after `after`, in order (optionally one department's). Read
    without indexes: the tests that count esupd's reads of the log's index (position_reads)
    must not count their own, whatever plan the statistics of the moment would give."""
    xid, aid = after.split("-")
    with psycopg.connect(db.conninfo("postgres"), autocommit=True,
                         options="-c enable_indexscan=off -c enable_indexonlyscan=off"
                                 " -c enable_bitmapscan=off") as conn:
        rows = conn.execute(
            "SELECT a.xid::text || '-' || a.id FROM alert_actions a"
            " JOIN alerts al ON al.id = a.alert_id"
            " WHERE (a.xid, a.id) > (%s::text::xid8, %s::bigint)"
            " AND (%s::text IS NULL OR al.dept = %s)"
            " ORDER BY a.xid, a.id", (xid, int(aid), dept, dept)).fetchall()
    return [r[0] for r in rows]


def register_other_supervisor(db, certs):
    """The certificate "unknown" as a supervisor of another region."""
    db.query("INSERT INTO principals (fingerprint, subject, role, region)"
             " VALUES (%s, 'CN=other-region', 'supervisor', %s)",
             (certs.fingerprints["unknown"], OTHER_REGION))


def start(daemon_factory, **alerts):
    conf = {"stream_heartbeat_s": "1"}
    conf.update(alerts)
    return daemon_factory(alerts=conf).start()


def open_stream(d, name, **kw):
    """A stream, once the daemon has found the end of the log (503 until then)."""
    def opened():
        s = Stream(d, name, **kw)
        if s.status == 503:
            s.close()
            return None
        return s
    return wait_for(opened, 10, "the stream to open")


def pos_key(p):
    x, i = p.split("-")
    return int(x), int(i)


# ---------------------------------------------------------------- tests


def test_events_live_within_scope(daemon_factory, db, certs):
    register_other_supervisor(db, certs)
    d = start(daemon_factory)
    Raiser(db, "OLD").raise_some(2)   # before any stream: not sent to new ones
    end = log_positions(db)[-1]

    # A new stream starts where the daemon has read the log to; the daemon reads on from
    # notifications, so a stream opened a moment after the commit may start just before
    # it (and then get those rows). Once one starts at or after them, so do all later ones.
    def caught_up():
        s = open_stream(d, "supervisor")
        s.wait(lambda s: s.start is not None, 5, "the start position")
        if pos_key(s.start) >= pos_key(end):
            return s
        s.close()
        return None
    sup = wait_for(caught_up, 10, "a stream that starts after the old alerts")
    assert sup.status == 200, sup.headers
    assert sup.headers["content-type"].startswith("text/event-stream")
    assert sup.headers["cache-control"] == "no-store"
    assert sup.headers["transfer-encoding"] == "chunked"
    other = Stream(d, "unknown")
    zjj = Stream(d, "dept-LY-ZJJ")
    auditor = Stream(d, "auditor")
    streams = (sup, other, zjj, auditor)
    for s in streams:
        s.wait(lambda s: s.start is not None, 5, "the start position")
        assert s.retry == 2000
        assert any(c.startswith("live from position ") for c in s.comments), s.comments
        assert pos_key(s.start) >= pos_key(end) and not s.events

    Raiser(db, "A", "LY-SCJGJ").raise_some(2, resolve=True)
    Raiser(db, "B", "LY-ZJJ").raise_some(1)
    want = log_positions(db, sup.start)
    assert len(want) == 2 * 2 * 2 + 2
    sup.wait(lambda s: len(s.events) >= len(want), 10, "the supervisor's events")
    auditor.wait(lambda s: len(s.events) >= len(want), 10, "the auditor's events")
    assert sup.ids() == want and auditor.ids() == want
    zjj_want = log_positions(db, zjj.start, dept="LY-ZJJ")
    assert len(zjj_want) == 2
    zjj.wait(lambda s: len(s.events) >= 2, 10, "the department's own events")
    assert zjj.ids() == zjj_want

    # Fan-out writes each row to every stream in one pass, and a heartbeat comes after: by
    # the next heartbeat the other region's stream has had its chance to get them.
    beats = len(other.comments)
    other.wait(lambda s: len(s.comments) > beats + 1, 5, "two heartbeats on the other stream")
    assert other.events == []
    assert "heartbeat" in other.comments

    ev = sup.events[0]
    assert ev["event"] == "alert"
    assert ev["data"]["position"] == ev["id"]
    assert set(ev["data"]["action"]) == {"id", "action", "from", "to", "actor", "note", "at"}
    assert (ev["data"]["action"]["action"], ev["data"]["action"]["to"]) == ("raise", "open")
    assert ev["data"]["action"]["actor"] == "esupd"
    alert = ev["data"]["alert"]
    assert {"id", "rule", "severity", "dept", "case", "item", "region", "status", "message",
            "since", "raised_at", "status_at", "issued_at", "escalation_level",
            "escalated_to", "evidence"} <= set(alert)
    assert (alert["dept"], alert["region"]) == ("LY-SCJGJ", "410300")
    assert alert["since"] == "2026-03-02T09:00:00+08:00"
    assert [e["data"]["action"]["action"] for e in zjj.events] == ["raise", "raise"]

    # A principal that changes (here: its region) loses its open stream; a department's scope
    # is its code alone, in a replay as live (the replay used to filter by its region too).
    db.query("UPDATE principals SET region = %s WHERE subject = 'CN=dept-LY-ZJJ'", (OTHER_REGION,))
    zjj.wait(lambda s: s.ended, 10, "the changed principal's stream to end")
    assert any(c.startswith("end: the principal changed") for c in zjj.comments), zjj.comments
    again = open_stream(d, "dept-LY-ZJJ", after="0-0")
    again.wait(lambda s: len(s.events) >= 2, 10, "the department's events replayed")
    assert again.ids() == log_positions(db, dept="LY-ZJJ") == zjj_want
    sup.pump(0.2)
    assert not sup.ended   # the others stay
    for s in streams + (again,):
        s.close()


def test_a_department_streams_its_alert_once_issued(daemon_factory, db, certs):
    """A department's stream shows nothing of its alert while it is held (待发), cancelled or
    suppressed; it shows the alert first at the step that issues it, here the supervisor's
    confirm (held -> open), live and in a replay. The supervisor's shows every step."""
    d = start(daemon_factory)
    sup = open_stream(d, "supervisor")
    zjj = open_stream(d, "dept-LY-ZJJ")
    for s in (sup, zjj):
        s.wait(lambda s: s.start is not None, 5, "the start position")
    fp = certs.fingerprints["supervisor"]

    def as_esupd(sql, *params):
        with psycopg.connect(db.conninfo("esupd"), autocommit=True) as conn:
            return conn.execute(sql, params).fetchone()

    def mode(rule, to):
        assert as_esupd("SELECT * FROM esup_rule_mode_as(%s, %s, %s, '试运行', %s)",
                        fp, rule, to, T0)[:2] == ("done", to)

    def step(alert, action):
        assert as_esupd("SELECT * FROM esup_alert_act_as(%s, %s, %s, '核实', %s)",
                        fp, alert, action, T0)[0] == "done"

    def sup_has(n):
        # The poller writes a row to every stream in one pass: once the supervisor has it, the
        # department's stream has had it or never will.
        sup.wait(lambda s: len(s.events) >= n, 10, "the supervisor's %d events" % n)

    mode("APR-DEADLINE-YELLOW", "hold")
    a, b = Raiser(db, "HOLD", "LY-ZJJ").raise_some(2)
    alerts = dict(((case, rule), alert) for alert, case, rule in db.query(
        "SELECT id, case_no, rule FROM alerts WHERE case_no IN (%s, %s)", (a, b)))
    notice_a, yellow_a = alerts[a, RULES[0]], alerts[a, RULES[1]]
    notice_b, yellow_b = alerts[b, RULES[0]], alerts[b, RULES[1]]
    sup_has(4)
    step(yellow_a, "confirm")
    step(yellow_b, "cancel")
    sup_has(6)
    mode("APR-DEADLINE-NOTICE", "off")   # both notices suppressed
    sup_has(8)
    heard = [(e["data"]["alert"]["id"], e["data"]["action"]["action"],
              e["data"]["action"]["from"], e["data"]["action"]["to"]) for e in sup.events]
    assert sorted(heard) == sorted([
        (notice_a, "raise", None, "open"), (yellow_a, "raise", None, "held"),
        (notice_b, "raise", None, "open"), (yellow_b, "raise", None, "held"),
        (yellow_a, "confirm", "held", "open"), (yellow_b, "cancel", "held", "cancelled"),
        (notice_a, "suppress", "open", "suppressed"),
        (notice_b, "suppress", "open", "suppressed")]), heard

    # Live, the department had the notices' raises (open then) and the yellow's confirm: the
    # first it heard of that alert. Nothing of the held, cancelled or suppressed steps.
    beats = len(zjj.comments)
    zjj.wait(lambda s: len(s.comments) > beats + 1, 5, "two heartbeats on the department's")
    seen = [(e["data"]["alert"]["id"], e["data"]["action"]["action"], e["data"]["action"]["to"])
            for e in zjj.events]
    assert sorted(seen) == sorted([(notice_a, "raise", "open"), (notice_b, "raise", "open"),
                                   (yellow_a, "confirm", "open")]), seen
    confirm = [e["data"] for e in zjj.events if e["data"]["alert"]["id"] == yellow_a]
    assert [c["alert"]["status"] for c in confirm] == ["open"]

    # A replay reads each alert as it now is: the notices are suppressed, so only the confirm.
    again = open_stream(d, "dept-LY-ZJJ", after=zjj.start)
    sup_again = open_stream(d, "supervisor", after=zjj.start)
    sup_again.wait(lambda s: len(s.events) >= 8, 10, "the supervisor's replay")
    again.wait(lambda s: s.events and s.comments.count("heartbeat") > 1, 10,
               "the department's replay, then two heartbeats")
    assert [(e["data"]["alert"]["id"], e["data"]["action"]["action"]) for e in again.events] \
        == [(yellow_a, "confirm")], again.events
    assert sup_again.ids() == sup.ids()
    for s in (sup, zjj, again, sup_again):
        s.close()


def test_bad_requests(daemon_factory, db):
    d = start(daemon_factory)
    open_stream(d, "auditor").close()
    for bad in ("x", "1-", "-1", "1-2-3", "18446744073709551616-1", "+1-2", "1 -2"):
        s = Stream(d, "supervisor", last_id=bad)
        assert s.status == 400, bad
        s.close()
    with d.client("supervisor") as c:
        assert c.request("POST", "/v1/alerts/stream", b"{}", "application/json").status == 405
    with d.client("dept-LY-ZJJ") as c:   # no events anywhere: 404 stays 404
        assert c.request("GET", "/v1/alerts/streams").status == 404
    s = open_stream(d, "supervisor", after="0-0")
    assert s.status == 200
    s.close()


def resume_until(d, name, last_id, want_count, timeout=20):
    s = Stream(d, name, last_id=last_id)
    assert s.status == 200
    s.wait(lambda s: len(s.events) >= want_count, timeout, "%d events" % want_count)
    return s


def test_resume_after_disconnect_loses_and_repeats_nothing(daemon_factory, db):
    d = start(daemon_factory)
    first = open_stream(d, "supervisor")
    first.wait(lambda s: s.start is not None, 5, "the start position")
    start_at = first.start
    stop = threading.Event()
    threads = [keep_raising(db, stop, "R%d" % i) for i in range(3)]
    got = []
    s = first
    try:
        for _ in range(4):
            s.wait(lambda s: len(s.events) >= 5, 20, "some events")
            got += s.events
            s.close()
            time.sleep(0.2)        # alerts keep coming while nobody listens
            resume_from = s.last_id
            s = Stream(d, "supervisor", last_id=resume_from)
            assert s.status == 200
            s.wait(lambda s: s.comments, 5, "the first comment")
            assert s.comments[0] == "replaying after position " + resume_from
    finally:
        stop.set()
        for t in threads:
            t.join()
    want = log_positions(db, start_at)
    s.wait(lambda s: len(got) + len(s.events) >= len(want), 20, "every event")
    got += s.events
    s.close()
    ids = [e["id"] for e in got]
    assert len(ids) == len(set(ids)), "repeated events"
    assert ids == want


def test_resume_across_restart_term_and_kill(daemon_factory, db):
    d = start(daemon_factory)
    s = open_stream(d, "supervisor")
    s.wait(lambda s: s.start is not None, 5, "the start position")
    start_at = s.start
    stop = threading.Event()
    threads = [keep_raising(db, stop, "K%d" % i) for i in range(2)]
    got = []
    try:
        for how in ("term", "kill"):
            s.wait(lambda s: len(s.events) >= 3, 20, "some events")
            if how == "term":
                d.stop()
                # a clean end: the last chunk and a comment saying to resume
                s.wait(lambda s: s.ended, 10, "the stream to end")
                assert any("server shutting down" in c for c in s.comments), s.comments
            else:
                run = d.runs[-1]
                run[0].kill()
                run[0].wait()
                run[2] = 0          # killed by the test, not a crash
            s.pump(0.2)
            got += s.events
            s.close()
            time.sleep(0.3)         # alerts keep coming while the daemon is down
            d.start()
            s = open_stream(d, "supervisor", last_id=s.last_id)
    finally:
        stop.set()
        for t in threads:
            t.join()
    want = log_positions(db, start_at)
    s.wait(lambda s: len(got) + len(s.events) >= len(want), 20, "every event")
    got += s.events
    s.close()
    ids = [e["id"] for e in got]
    assert len(ids) == len(set(ids)), "repeated events"
    assert ids == want


def test_slow_consumer_is_cut_and_resumes(daemon_factory, db):
    d = start(daemon_factory, stream_max_buffer_bytes="65536")
    (case,) = Raiser(db, "SLOW").raise_some(1)
    alert = db.scalar("SELECT id FROM alerts WHERE case_no = %s ORDER BY id LIMIT 1", (case,))
    slow = open_stream(d, "supervisor", rcvbuf=4096)
    slow.wait(lambda s: s.start is not None, 5, "the start position")
    start_at = slow.start
    # Many large events at once (as the owner: escalate rows that keep the alert open).
    note = "x" * 4000
    db.query("INSERT INTO alert_actions (alert_id, action, actor, note, at, from_state, to_state)"
             " SELECT %s, 'escalate', 'test', %s || g, now(), 'open', 'open'"
             " FROM generate_series(1, 3000) g", (alert, note))
    wait_for(lambda: "cut: output buffer above" in d.log_text(), 30, "the slow stream to be cut")
    # The client finds its stream closed after what was already on its way.
    slow.wait(lambda s: s.ended, 30, "the cut stream to end")
    assert 0 < len(slow.events) < 3000, (getattr(slow, "error", None), len(slow.body), len(slow.buf))
    got = list(slow.events)
    slow.close()
    # Resuming replays the rest, paced by what the client reads: not cut again.
    s = Stream(d, "supervisor", last_id=got[-1]["id"])
    want = log_positions(db, start_at)
    s.wait(lambda s: len(got) + len(s.events) >= len(want), 60, "the rest")
    got += s.events
    s.close()
    assert [e["id"] for e in got] == want
    assert d.log_text().count("cut: output buffer above") == 1


def test_burst_reaches_a_client_that_reads(daemon_factory, db):
    """A batch larger than the bound is not a slow consumer: the bound is checked between
    batches, once the client had the chance to read (it used to cut within the batch)."""
    d = start(daemon_factory, stream_max_buffer_bytes="65536")
    (case,) = Raiser(db, "BURST").raise_some(1)
    alert = db.scalar("SELECT id FROM alerts WHERE case_no = %s ORDER BY id LIMIT 1", (case,))
    s = open_stream(d, "supervisor")
    s.wait(lambda s: s.start is not None, 5, "the start position")
    start_at = s.start
    db.query("INSERT INTO alert_actions (alert_id, action, actor, note, at, from_state, to_state)"
             " SELECT %s, 'escalate', 'test', %s || g, now(), 'open', 'open'"
             " FROM generate_series(1, 100) g", (alert, "y" * 4000))
    want = log_positions(db, start_at)
    s.wait(lambda s: len(s.events) >= len(want) or s.ended, 20, "the burst")
    beats = s.comments.count("heartbeat")
    s.wait(lambda s: s.comments.count("heartbeat") > beats or s.ended, 5, "a heartbeat after it")
    assert not s.ended and "cut:" not in d.log_text()
    assert s.ids() == want
    s.close()


def refusal_feed(tag, cases, dept="LY-ZJJ"):
    """Per case an acceptance and a denial without a reason: one alert raised at ingest."""
    events = []
    for n in range(cases):
        case = "%s-2026-%s%05d" % (dept, tag, n)
        events.append({"id": "%s-a%d" % (tag, n), "dept": dept, "type": "approval.accepted",
                       "at": "2026-03-09T09:30:00+08:00", "case": case, "item": "ZJ-004",
                       "applicant": {"uscc": "91410300MA44ABCD1R", "name": "x"}})
        events.append({"id": "%s-d%d" % (tag, n), "dept": dept, "type": "approval.decided",
                       "at": "2026-03-11T16:00:00+08:00", "case": case, "result": "denied",
                       "report": "LY-ZJJ-BPZ-2026-011"})
    return events


def test_many_idle_streams_while_ingest_proceeds(daemon_factory, refdb):
    """200 open streams (they count as connections of their certificate: the cap is raised)
    while events that raise alerts are ingested: every request is acknowledged, and every
    stream gets every alert, from one read of the log per batch."""
    from test_cases import offset_to
    d = daemon_factory(alerts={"stream_heartbeat_s": "5"},
                       limits={"max_connections_per_principal": "300"},
                       testing={"clock_offset_s": offset_to("2026-03-11T16:05:00+08:00")},
                       rules={"disable": "APR-LATE-REPORT"}).start()
    first = open_stream(d, "supervisor")
    first.wait(lambda s: s.start is not None, 5, "the start position")
    streams = [first] + [Stream(d, "supervisor") for _ in range(199)]
    assert all(s.status == 200 for s in streams)
    feed = refusal_feed("MS", 20)
    with d.client("dept-LY-ZJJ") as c:
        for i in range(0, len(feed), 10):
            r = c.post_events_committed(feed[i:i + 10])
            assert r.status == 200 and r.json()["accepted"] == 10, r.body
    want = log_positions(refdb, first.start)
    assert len(want) >= 20
    for s in streams:
        s.wait(lambda s: len(s.events) >= len(want), 20, "every alert on every stream")
        assert s.ids() == want
        s.close()


def c_strings(text):
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', text)).replace('\\"', '"')


def poll_sql():
    """The poller's query as daemon/alert_stream.c sends it, with psycopg placeholders for
    the position (xid as text, id) and a limit of 200."""
    src = (REPO / "daemon" / "alert_stream.c").read_text()
    cols = re.search(r"#define ROW_COLUMNS \\\n(.*?)\n\n", src, re.S).group(1)
    cols = re.sub(r'T\("([^"]*)"\)', r'"\1"', cols)   # times as they are: same plan
    hidden = re.search(r'#define ALERT_DEPT_HIDDEN_SQL (".*")',
                       (REPO / "daemon" / "alert.h").read_text()).group(1)
    cols = cols.replace("ALERT_DEPT_HIDDEN_SQL", hidden)
    body = re.search(r"poll_sql\[\] =\n(.*?);\n", src, re.S).group(1)
    sql = c_strings(body.replace("ROW_COLUMNS", '"%s"' % c_strings(cols).replace('"', '\\"')))
    return sql.replace("$1::xid8", "%s::text::xid8").replace("$2", "%s").replace("$3", "200")


def test_poll_query_cost_follows_new_rows_not_the_log(db):
    """The poller's query reads through indexes: its cost follows the rows after the position,
    not the length of the log (it used to scan all of alert_actions for rows held back)."""
    (case,) = Raiser(db, "PLAN").raise_some(1)
    alert = db.scalar("SELECT id FROM alerts WHERE case_no = %s ORDER BY id LIMIT 1", (case,))
    db.query("INSERT INTO alert_actions (alert_id, action, actor, note, at, from_state, to_state)"
             " SELECT %s, 'escalate', 'test', '', now(), 'open', 'open'"
             " FROM generate_series(1, 20000) g", (alert,))
    db.query("ANALYZE alert_actions")
    db.query("ANALYZE alerts")
    end = log_positions(db)[-1]
    plan = "\n".join(r[0] for r in db.query("EXPLAIN " + poll_sql(), end.split("-")))
    assert "Seq Scan on alert_actions" not in plan, plan
    # The held check reads the index here, the page in esup_alert_log_page.
    assert "alert_actions_position" in plan and "esup_alert_log_page" in plan, plan


def position_reads(db):
    """Index entries read from alert_actions_position so far (as the statistics hold them)."""
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as c:
        return c.execute("SELECT idx_tup_read FROM pg_stat_user_indexes"
                         " WHERE indexrelname = 'alert_actions_position'").fetchone()[0]


def burst(db, alert, n):
    """n actions of one alert in one transaction; the log's last position after them."""
    db.query("INSERT INTO alert_actions (alert_id, action, actor, note, at, from_state, to_state)"
             " SELECT %s, 'escalate', 'test', '', now(), 'open', 'open'"
             " FROM generate_series(1, %s) g", (alert, n))
    return log_positions(db)[-1]


def stopped_and_counted(d, db):
    """Stops esupd and waits until its sessions are gone: they flush their statistics as they
    end."""
    assert d.stop() == 0
    wait_for(lambda: db.scalar("SELECT count(*) FROM pg_stat_activity"
                               " WHERE application_name LIKE 'esupd %%'") == 0, 10,
             "esupd's sessions to end")


def test_a_burst_is_read_a_page_at_a_time(daemon_factory, db):
    """A stream is open when 5,000 actions are written in one transaction: the poller reads
    each row of the log once, a page at a time. The page's ORDER BY ... LIMIT was planned by
    the estimate of the rows after the position; this burst was larger than the statistics
    knew, and each page read every row after the position by a bitmap scan and sorted them
    (65,000 rows read for 5,000; with a million closed alerts' actions, a second a page)."""
    (case,) = Raiser(db, "PAGE").raise_some(1)
    alert = db.scalar("SELECT id FROM alerts WHERE case_no = %s ORDER BY id LIMIT 1", (case,))
    before = position_reads(db)
    d = start(daemon_factory)
    s = open_stream(d, "supervisor")
    s.wait(lambda s: s.start is not None, 5, "the start position")
    burst(db, alert, 5000)
    want = log_positions(db, s.start)
    assert len(want) == 5000
    s.wait(lambda s: len(s.events) >= len(want) or s.ended, 30, "the burst")
    assert s.ids() == want
    s.close()
    stopped_and_counted(d, db)
    assert position_reads(db) - before < 5000 + 1000


def test_a_replay_over_a_burst_is_read_a_page_at_a_time(daemon_factory, db):
    """Two streams resume from before a burst of 5,000 actions written in one transaction: the
    supervisor's (every row is in its scope) and another department's (none is). Each gets
    what its scope covers, in order, and goes live; each replay reads each row of the log
    once. The replay's ORDER BY ... LIMIT over the stream's rows was planned by the estimate
    of the rows after the position: this burst was larger than the statistics knew, and each
    page of 200 read and sorted every row after the cursor (and for a scope that covers none
    of them, the whole range once: that is one page at a time now too)."""
    (case,) = Raiser(db, "REPLAY").raise_some(1)
    alert = db.scalar("SELECT id FROM alerts WHERE case_no = %s ORDER BY id LIMIT 1", (case,))
    resume_from = log_positions(db)[-1]
    burst(db, alert, 5000)
    Raiser(db, "OWN", "LY-ZJJ").raise_some(1)
    before = position_reads(db)
    d = start(daemon_factory)
    sup = open_stream(d, "supervisor", last_id=resume_from)
    zjj = open_stream(d, "dept-LY-ZJJ", last_id=resume_from)
    want = log_positions(db, resume_from)
    assert len(want) == 5000 + 2
    sup.wait(lambda s: len(s.events) >= len(want) or s.ended, 30, "the burst replayed")
    assert sup.ids() == want
    zjj_want = log_positions(db, resume_from, dept="LY-ZJJ")
    assert len(zjj_want) == 2
    zjj.wait(lambda s: len(s.events) >= 2 or s.ended, 30, "the department's own rows")
    assert zjj.ids() == zjj_want
    # Both live now: the next row of the department's reaches both.
    Raiser(db, "LIVE", "LY-ZJJ").raise_some(1)
    later = log_positions(db, want[-1])
    assert len(later) == 2
    zjj.wait(lambda s: len(s.events) >= 4 or s.ended, 10, "a live row after the replay")
    sup.wait(lambda s: len(s.events) >= len(want) + 2 or s.ended, 10, "a live row")
    assert zjj.ids() == zjj_want + later and sup.ids() == want + later
    sup.close()
    zjj.close()
    stopped_and_counted(d, db)
    # Two replays of the burst and a poller: each row a few times at most, not once a page.
    assert position_reads(db) - before < 3 * 5000 + 1000


def test_no_stream_open_no_rows_read(daemon_factory, db):
    """While no stream is open, the poller only moves its end past what was committed: a
    burst of 5,000 actions is not read (it used to read and build every row's event for no
    one, 5,000 rows at a time after a million closed alerts). A stream opened afterwards starts
    past the burst and gets what follows."""
    (case,) = Raiser(db, "QUIET").raise_some(1)
    alert = db.scalar("SELECT id FROM alerts WHERE case_no = %s ORDER BY id LIMIT 1", (case,))
    before = position_reads(db)
    d = start(daemon_factory)
    wait_for(lambda: "new streams start after position" in d.log_text(), 10, "the log's end")
    burst_end = burst(db, alert, 5000)
    # Once no transaction older than the burst's is running (the sweeper's may be), every
    # later snapshot's xmin is past it: a read of the log's end begun after that finds the
    # burst's end. Then wait for the reader to have begun and finished one (a fallback second
    # at most).
    burst_xid = burst_end.split("-")[0]
    wait_for(lambda: db.scalar("SELECT pg_snapshot_xmin(pg_current_snapshot()) > %s::text::xid8",
                               (burst_xid,)), 10, "the transactions before the burst to end")
    committed = db.scalar("SELECT clock_timestamp()")
    wait_for(lambda: db.scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'esupd reader'"
        " AND state = 'idle' AND query_start > %s AND query LIKE '%%pg_snapshot_xmin%%'",
        (committed,)) == 1, 10, "the poller to look at the log after the burst")
    s = open_stream(d, "supervisor")
    s.wait(lambda s: s.start is not None, 5, "the start position")
    assert pos_key(s.start) >= pos_key(burst_end)
    db.query("INSERT INTO alert_actions (alert_id, action, actor, note, at, from_state, to_state)"
             " VALUES (%s, 'escalate', 'test', 'after', now(), 'open', 'open')", (alert,))
    want = log_positions(db, s.start)
    assert len(want) == 1
    s.wait(lambda s: len(s.events) >= 1, 10, "the action after the burst")
    assert s.ids() == want
    s.close()
    stopped_and_counted(d, db)
    assert position_reads(db) - before < 1000
