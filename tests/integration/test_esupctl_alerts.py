"""`esupctl alerts`: the supervisors' command-line client of the alert API.

Two halves. Against a small Python HTTPS server that plays the contract (client certificate
required, every answer in small chunks): the HTTP client's chunked decoding, refusals and
their exit status, TLS refusals (wrong CA, wrong server name), and the SSE tail resuming with
Last-Event-ID after the server drops it mid-event. Against the real esupd: each subcommand
end to end (list, show, ack, 409, --json, tail, silences, rule modes)."""

import http.server
import json
import os
import re
import signal
import ssl
import subprocess
import threading
import time
from datetime import datetime, timedelta

import pytest

from conftest import BUILD, SANITIZER_MARKS, USCC_A, event, offset_to, statuses, wait_for

ESUPCTL = BUILD / "contrib" / "esupctl"


def run_ctl(args, cert, key, ca, url, timeout=30, env_extra=None):
    env = dict(os.environ)
    for k in ("ESUP_URL", "ESUP_CERT", "ESUP_KEY", "ESUP_CA", "ESUP_CONFIG"):
        env.pop(k, None)
    env.update({"ESUP_URL": url, "ESUP_CERT": str(cert), "ESUP_KEY": str(key),
                "ESUP_CA": str(ca)})
    env.update(env_extra or {})
    return subprocess.run([str(ESUPCTL), "alerts", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


# ---------------------------------------------------------------- a server that plays the contract


ALERT = {"id": 55, "rule": "APR-DEADLINE-YELLOW", "severity": "yellow", "dept": "LY-SCJGJ",
         "case": "LY-SCJGJ-2026-000123", "item": "SCJG-001", "region": "410300",
         "status": "open", "message": "黄牌: 超过承诺时限办结",
         "since": "2026-03-25T16:00:01Z", "raised_at": "2026-03-26T00:00:02+08:00",
         "status_at": "2026-03-26T00:00:02+08:00", "issued_at": "2026-03-26T00:00:02+08:00",
         "escalation_level": 0, "escalated_to": None, "evidence": ["sj-1", "sj-3"]}


def sse_event(pos, alert_id, action, frm, to):
    data = {"position": pos,
            "action": {"id": int(pos.split("-")[1]), "action": action, "from": frm, "to": to,
                       "actor": "esupd", "note": None, "at": "2026-03-26T00:00:02+08:00"},
            "alert": dict(ALERT, id=alert_id, status=to)}
    return ("id: %s\nevent: alert\ndata: %s\n\n" % (pos, json.dumps(data, ensure_ascii=False))
            ).encode()


STREAM = [sse_event("900-%d" % i, 60 + i, "raise", None, "open") for i in range(1, 4)]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def chunked(self, status, body, ctype="application/json", step=3):
        """Sends body in chunks of step bytes, with a chunk extension and a trailer."""
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(0, len(body), step):
            part = body[i:i + step]
            self.wfile.write(b"%x;n=%d\r\n%s\r\n" % (len(part), i, part))
        self.wfile.write(b"0\r\nX-Checksum: none\r\n\r\n")

    def answer(self, status, obj):
        self.chunked(status, json.dumps(obj, ensure_ascii=False).encode())

    def do_GET(self):
        self.server.seen.append(("GET", self.path, dict(self.headers), b""))
        if self.path.startswith("/v1/alerts/stream"):
            return self.stream()
        if self.path == "/v1/alerts" or self.path.startswith("/v1/alerts?"):
            cursor = "cursor=p2" in self.path
            alerts = [dict(ALERT, id=54, status="acknowledged")] if cursor else [ALERT]
            return self.answer(200, {"alerts": alerts, "next_cursor": None if cursor else "p2"})
        if self.path == "/v1/alerts/55":
            return self.answer(200, dict(ALERT, actions=[
                {"id": 1, "action": "raise", "from": None, "to": "open", "actor": "esupd",
                 "role": None, "note": None, "at": "2026-03-26T00:00:02+08:00"}],
                events=[{"id": "sj-1", "type": "approval.accepted", "case": ALERT["case"],
                         "at": "2026-03-02T09:15:00+08:00"}]))
        return self.answer(404, {"error": "no such alert"})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.seen.append(("POST", self.path, dict(self.headers), body))
        if self.path == "/v1/alerts/55/ack":
            return self.answer(200, dict(ALERT, status="acknowledged"))
        if self.path == "/v1/alerts/55/resolve":
            return self.answer(409, {"error": "cannot resolve an alert that is dismissed",
                                     "status": "dismissed"})
        if self.path == "/v1/alerts/55/revoke":
            return self.answer(403, {"error": "only a supervisor of the alert's region may revoke"})
        return self.answer(404, {"error": "no such alert"})

    def stream(self):
        """First connection: two events, then half of the third, then the connection drops.
        Later ones: whatever follows Last-Event-ID, then heartbeats until the test ends."""
        last = self.headers.get("Last-Event-ID")
        start = 0 if last is None else [e.split(b"\n")[0] for e in STREAM].index(
            ("id: " + last).encode()) + 1
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        first = self.server.streams == 0
        self.server.streams += 1
        out = b"".join(STREAM[start:start + 2] if first else STREAM[start:])
        if first:
            out += STREAM[start + 2][:40]
        for i in range(0, len(out), 7):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(out[i:i + 7]), out[i:i + 7]))
        self.wfile.flush()
        if first:
            self.close_connection = True
            return
        while not self.server.stopping:
            self.wfile.write(b"d\r\n: heartbeat\n\n\r\n")
            self.wfile.flush()
            time.sleep(0.2)


class FakeEsupd:
    def __init__(self, ca, cert, key):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        ctx.load_verify_locations(str(ca))
        ctx.verify_mode = ssl.CERT_REQUIRED
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.httpd.seen = []
        self.httpd.streams = 0
        self.httpd.stopping = False
        self.httpd.handle_error = lambda *a: None     # refused handshakes are expected
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def seen(self):
        return self.httpd.seen

    def stop(self):
        self.httpd.stopping = True
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake(certs):
    f = FakeEsupd(certs.ca, certs.dir / "server.crt", certs.dir / "server.key")
    yield f
    f.stop()


def fake_ctl(fake, certs, *args, url=None, ca=None, name="supervisor"):
    cert, key = certs.pair(name)
    r = run_ctl(args, cert, key, ca or certs.ca, url or "https://127.0.0.1:%d" % fake.port)
    assert not any(m in r.stderr for m in SANITIZER_MARKS), r.stderr
    return r


def test_fake_list_chunked_table_and_json(fake, certs):
    r = fake_ctl(fake, certs, "list", "--dept", "LY-SCJGJ", "--status", "open,acknowledged",
                 "--since", "2026-03-01")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "SEVERITY", "ESC", "RULE", "DEPT", "CASE",
                                "SINCE", "MESSAGE"]
    # the time is shown in Asia/Shanghai whatever offset the server wrote
    assert "55" in lines[1] and "2026-03-26 00:00" in lines[1] and "黄牌" in lines[1]
    assert "--cursor p2" in r.stderr
    method, path, headers, _ = fake.seen[-1]
    assert path == ("/v1/alerts?dept=LY-SCJGJ&status=open,acknowledged"
                    "&since=2026-03-01T00%3A00%3A00%2B08%3A00")
    r = fake_ctl(fake, certs, "list", "--all", "--json")
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert [a["id"] for a in got["alerts"]] == [55, 54] and got["next_cursor"] is None
    assert fake.seen[-1][1] == "/v1/alerts?cursor=p2"


def test_fake_show_and_act(fake, certs):
    r = fake_ctl(fake, certs, "show", "55")
    assert r.returncode == 0, r.stderr
    assert "APR-DEADLINE-YELLOW (yellow)" in r.stdout and "sj-1 sj-3" in r.stdout
    assert "approval.accepted" in r.stdout and "raise" in r.stdout
    r = fake_ctl(fake, certs, "ack", "55", "-m", "已整改, 补办")
    assert r.returncode == 0, r.stderr
    assert "acknowledged" in r.stdout.splitlines()[1]
    assert json.loads(fake.seen[-1][3]) == {"note": "已整改, 补办"}
    assert fake.seen[-1][2]["Content-Type"] == "application/json"
    r = fake_ctl(fake, certs, "resolve", "55", "-m", "ok", "--json")
    assert r.returncode == 1
    assert json.loads(r.stdout)["status"] == "dismissed"
    assert "409" in r.stderr and "cannot resolve" in r.stderr
    assert "current status: dismissed" in r.stderr
    r = fake_ctl(fake, certs, "revoke", "55", "-m", "x")
    assert r.returncode == 1 and "403" in r.stderr and "only a supervisor" in r.stderr
    r = fake_ctl(fake, certs, "show", "999")
    assert r.returncode == 1 and "404" in r.stderr and "no such alert" in r.stderr


def test_usage_errors(fake, certs):
    n = len(fake.seen)
    for args in (["show", "5x"], ["frobnicate", "1"], ["list", "--after", "1-2"],
                 ["ack"], ["silence", "add", "--for", "2h"],
                 ["silence", "add", "--for", "2 hours", "-m", "x"],
                 ["list", "--since", "yesterday"], ["rules", "mode", "X", "loud", "-m", "x"]):
        r = fake_ctl(fake, certs, *args)
        assert r.returncode == 2, (args, r.stderr)
    assert len(fake.seen) == n       # nothing was sent


def test_cacert_spelt_as_for_push(fake, certs):
    # --cacert is --ca (as esupctl push and curl spell it); either flag wins over ESUP_CA
    for flag in ("--cacert", "--ca"):
        r = fake_ctl(fake, certs, "list", flag, str(certs.ca), ca=certs.other / "ca.crt")
        assert r.returncode == 0, (flag, r.stderr)
        assert fake.seen[-1][1] == "/v1/alerts"
    r = fake_ctl(fake, certs, "list", "--cacert", str(certs.other / "ca.crt"))
    assert r.returncode == 1 and "not trusted" in r.stderr, r.stderr


def test_tls_refusals(fake, certs, testdir):
    # a CA that did not issue the server's certificate
    r = fake_ctl(fake, certs, "list", ca=certs.other / "ca.crt")
    assert r.returncode == 1
    assert "not trusted" in r.stderr, r.stderr
    # the server's certificate is for localhost and 127.0.0.1, not this name: a server
    # certificate of the same CA for another name, served on 127.0.0.1
    key, crt, ext = testdir / "other.key", testdir / "other.crt", testdir / "ext.cnf"
    ext.write_text("subjectAltName=DNS:elsewhere.example\nextendedKeyUsage=serverAuth\n")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(crt),
                    "-subj", "/CN=elsewhere.example", "-days", "2", "-CA", str(certs.ca),
                    "-CAkey", str(certs.dir / "ca.key"), "-addext",
                    "subjectAltName=DNS:elsewhere.example"], check=True, capture_output=True)
    other = FakeEsupd(certs.ca, crt, key)
    try:
        r = fake_ctl(other, certs, "list")
        assert r.returncode == 1 and "not trusted" in r.stderr and "mismatch" in r.stderr, \
            r.stderr
        r = fake_ctl(other, certs, "list", url="https://localhost:%d" % other.port)
        assert r.returncode == 1 and "mismatch" in r.stderr, r.stderr
    finally:
        other.stop()
    # a client certificate of another CA: the server refuses the handshake
    r = fake_ctl(fake, certs, "list", name="stranger")
    assert r.returncode == 1 and "client certificate" in r.stderr, r.stderr


def read_lines(proc, n, timeout=20):
    """n lines of proc's stdout, read with a deadline."""
    got = []
    done = threading.Event()

    def reader():
        while len(got) < n:
            line = proc.stdout.readline()
            if not line:
                break
            got.append(line.rstrip("\n"))
        done.set()
    threading.Thread(target=reader, daemon=True).start()
    if not done.wait(timeout):
        pytest.fail("tail printed %d of %d lines within %ds: %s" % (len(got), n, timeout, got))
    return got


def start_tail(url, certs, *args, name="supervisor"):
    cert, key = certs.pair(name)
    env = dict(os.environ, ESUP_URL=url, ESUP_CERT=str(cert), ESUP_KEY=str(key),
               ESUP_CA=str(certs.ca))
    return subprocess.Popen([str(ESUPCTL), "alerts", "tail", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def stop_tail(proc):
    proc.send_signal(signal.SIGINT)
    try:
        rc = proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("tail did not exit on SIGINT")
    err = proc.stderr.read()
    assert not any(m in err for m in SANITIZER_MARKS), err
    return rc, err


def test_fake_tail_resumes_after_a_drop(fake, certs):
    proc = start_tail("https://127.0.0.1:%d" % fake.port, certs, "--json")
    try:
        lines = read_lines(proc, 3)
    finally:
        rc, err = stop_tail(proc)
    assert [json.loads(ln)["position"] for ln in lines] == ["900-1", "900-2", "900-3"], err
    streams = [h for m, p, h, _ in fake.seen if p == "/v1/alerts/stream"]
    assert "Last-Event-ID" not in streams[0]
    assert streams[1]["Last-Event-ID"] == "900-2"       # the half event was not taken
    assert rc == 0, err
    assert "reconnecting" in err and "after 900-2" in err


def test_fake_tail_after_and_table_line(fake, certs):
    fake.httpd.streams = 1      # behave as a later connection: no drop
    proc = start_tail("https://127.0.0.1:%d" % fake.port, certs, "--after", "900-1")
    try:
        lines = read_lines(proc, 2)
    finally:
        rc, err = stop_tail(proc)
    assert rc == 0, err
    assert "#62" in lines[0] and "raise" in lines[0] and "→open" in lines[0], lines
    assert "APR-DEADLINE-YELLOW" in lines[0] and "黄牌" in lines[0]
    assert "#63" in lines[1]
    assert [h.get("Last-Event-ID") for m, p, h, _ in fake.seen] == ["900-1"]


# ---------------------------------------------------------------- against the real esupd


def ctl(d, name, *args, env_extra=None):
    """esupctl alerts ARGS as principal name against daemon d; no sanitizer report."""
    cert, key = d.pair(name)
    r = run_ctl(args, cert, key, d.certs.ca, "https://127.0.0.1:%d" % d.port,
                env_extra=env_extra)
    assert not any(m in r.stderr for m in SANITIZER_MARKS), r.stderr
    return r


def ctl_json(d, name, *args):
    r = ctl(d, name, *args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def decided_unaccepted(dept="LY-SCJGJ"):
    """An approval decided before it was accepted: APR-ORDER-DECIDED-UNACCEPTED on its case."""
    return event(dept, type="approval.decided", result="approved", at="2026-03-05T10:00:00+08:00")


def abolished_fee():
    """A fee on an item abolished on 2026-01-01: FEE-ITEM-ABOLISHED, an alert without a case."""
    return event("LY-ZJJ", type="fee.collected", case=None, fee_item="ZJ-009", amount="100.00",
                 payer={"uscc": USCC_A}, reviewer="P0456", at="2026-03-03T10:00:00+08:00")


def raise_alerts(d, *events):
    by_dept = {}
    for e in events:
        by_dept.setdefault(e["dept"], []).append(e)
    for dept, evs in by_dept.items():
        with d.client("dept-" + dept) as c:
            resp = c.post_events_committed(evs)
            assert resp.status == 200 and set(statuses(resp.json())) == {"accepted"}, resp.body


def one_alert(d, rule, name="supervisor"):
    def found():
        alerts = ctl_json(d, name, "list", "--rule", rule)["alerts"]
        return alerts[0] if len(alerts) == 1 else None
    return wait_for(found, 20, "one %s alert listed" % rule, interval=0.2)


@pytest.fixture
def live(daemon_factory, refdb):
    return daemon_factory().start()


def real_tls_refusals(d):
    """A CA that did not issue esupd's certificate; a client certificate of another CA."""
    cert, key = d.pair("supervisor")
    r = run_ctl(["list"], cert, key, d.certs.other / "ca.crt", "https://127.0.0.1:%d" % d.port)
    assert r.returncode == 1 and "not trusted" in r.stderr, r.stderr
    r = run_ctl(["list"], *d.pair("stranger"), d.certs.ca, "https://127.0.0.1:%d" % d.port)
    assert r.returncode == 1 and "client certificate" in r.stderr, r.stderr


def test_list_show_act_and_refusals(live):
    d = live
    ev = decided_unaccepted()
    raise_alerts(d, ev, abolished_fee())
    alert = one_alert(d, "APR-ORDER-DECIDED-UNACCEPTED")
    assert alert["case"] == ev["case"] and alert["status"] == "open"
    fee = one_alert(d, "FEE-ITEM-ABOLISHED")
    assert fee["case"] is None and fee["dept"] == "LY-ZJJ"
    aid = str(alert["id"])

    # the table: heading, one row per alert, times in +08:00 shown as Shanghai time
    r = ctl(d, "supervisor", "list", "--dept", "LY-SCJGJ", "--status", "open")
    assert r.returncode == 0, r.stderr
    rows = r.stdout.splitlines()
    assert rows[0].split()[:3] == ["ID", "STATUS", "SEVERITY"]
    mine = [ln for ln in rows[1:] if ln.split()[0] == aid]
    assert len(mine) == 1 and "APR-ORDER-DECIDED-UNACCEPTED" in mine[0] and ev["case"] in mine[0]
    assert all(ln.split()[1] == "open" for ln in rows[1:])

    # show: fields, the raise action, the evidence event
    r = ctl(d, "supervisor", "show", aid)
    assert r.returncode == 0, r.stderr
    assert "APR-ORDER-DECIDED-UNACCEPTED" in r.stdout and ev["id"] in r.stdout
    assert "raise" in r.stdout and "approval.decided" in r.stdout
    shown = ctl_json(d, "supervisor", "show", aid)
    assert shown["id"] == alert["id"] and shown["actions"][0]["to"] == "open"

    # the department's 回告: 200 and the state shown; again: 409 with the current state
    r = ctl(d, "dept-LY-SCJGJ", "ack", aid, "-m", "已补录受理环节")
    assert r.returncode == 0, r.stderr
    assert [ln.split()[1] for ln in r.stdout.splitlines()[1:]] == ["acknowledged"]
    r = ctl(d, "dept-LY-SCJGJ", "ack", aid, "-m", "again")
    assert r.returncode == 1 and "409" in r.stderr, r.stderr
    assert "current status: acknowledged" in r.stderr
    r = ctl(d, "dept-LY-SCJGJ", "ack", aid, "-m", "again", "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["status"] == "acknowledged"
    # an auditor reads but may not act; another department's alert is not found for it
    assert ctl(d, "auditor", "resolve", aid, "-m", "x").returncode == 1
    r = ctl(d, "dept-LY-HBJ", "show", aid)
    assert r.returncode == 1 and "404" in r.stderr, r.stderr
    # the supervisor accepts the correction
    done = ctl_json(d, "supervisor", "resolve", aid, "-m", "核实已整改")
    assert done["status"] == "resolved"
    acts = ctl_json(d, "supervisor", "show", aid)["actions"]
    assert [(a["action"], a["from"], a["to"]) for a in acts] == [
        ("raise", None, "open"), ("ack", "open", "acknowledged"),
        ("resolve", "acknowledged", "resolved")]
    assert acts[1]["note"] == "已补录受理环节"
    r = ctl(d, "supervisor", "show", "987654321")
    assert r.returncode == 1 and "404" in r.stderr
    # --all and --json: every alert once
    everything = ctl_json(d, "auditor", "list", "--all", "--limit", "1")
    ids = [a["id"] for a in everything["alerts"]]
    assert len(ids) == len(set(ids)) >= 2 and alert["id"] in ids and fee["id"] in ids
    real_tls_refusals(d)


def test_tail_follows_and_resumes_across_a_restart(live):
    d = live
    # from the start of the log (empty in a fresh database), so nothing depends on when the
    # stream is connected
    proc = start_tail("https://127.0.0.1:%d" % d.port, d.certs, "--json", "--after", "0-0",
                      "--timeout", "10")
    try:
        raise_alerts(d, decided_unaccepted())
        first = json.loads(read_lines(proc, 1)[0])
        assert first["alert"]["rule"] and first["action"]["to"] in ("open", "held", "suppressed")
        assert d.stop() == 0
        d.start()
        raise_alerts(d, abolished_fee())
        want = [r[0] for r in d.db.query(
            "SELECT a.xid::text || '-' || a.id FROM alert_actions a"
            " WHERE (a.xid, a.id) > (split_part(%s, '-', 1)::xid8, split_part(%s, '-', 2)::bigint)"
            " ORDER BY a.xid, a.id", (first["position"], first["position"]))]
        assert want, "the second batch raised nothing"
        got = [json.loads(ln)["position"] for ln in read_lines(proc, len(want))]
    finally:
        rc, err = stop_tail(proc)
    assert got == want, err
    assert rc == 0, err
    # it said it lost the stream, and resumed after a position it had printed
    resumed = re.findall(r"reconnecting in [0-9.]+ s after ([0-9]+-[0-9]+)", err)
    assert resumed and set(resumed) <= {first["position"], *got}, err
    assert not any(m in err for m in SANITIZER_MARKS), err


def test_silence_for_counts_from_the_servers_clock(daemon_factory, refdb):
    """--for is counted from the silence's start on the server's clock, not this machine's:
    against a daemon whose business clock is days away from the wall clock (esupd's [testing]
    offset; a client's clock can be skewed as well) a silence for 3m lasts three minutes from
    the server's now (it used to end at this machine's now plus 3m: days long, or over)."""
    server_now = "2026-03-10T12:00:00+08:00"
    d = daemon_factory(testing={"clock_offset_s": offset_to(server_now)}).start()
    added = ctl_json(d, "supervisor", "silence", "add", "--dept", "LY-ZJJ", "--for", "3m",
                     "-m", "割接")
    assert added["starts_at"] >= server_now and added["starts_at"] < "2026-03-10T12:01", added
    starts = datetime.fromisoformat(added["starts_at"])
    assert datetime.fromisoformat(added["ends_at"]) - starts == timedelta(minutes=3), added
    # With --from, the duration counts from it.
    added = ctl_json(d, "supervisor", "silence", "add", "--dept", "LY-ZJJ", "--from",
                     "2026-03-11 08:00", "--for", "1d2h", "-m", "割接")
    assert (added["starts_at"], added["ends_at"]) == (
        "2026-03-11T08:00:00+08:00", "2026-03-12T10:00:00+08:00"), added


def test_silences_rule_modes_and_the_config_url(live):
    d = live
    r = ctl(d, "supervisor", "silence", "add", "--dept", "LY-ZJJ", "--for", "2h", "-m", "系统割接")
    assert r.returncode == 0, r.stderr
    listed = ctl_json(d, "supervisor", "silence", "list")
    silences = listed["silences"] if isinstance(listed, dict) else listed
    mine = [s for s in silences if s.get("reason") == "系统割接"]
    assert len(mine) == 1 and mine[0]["dept"] == "LY-ZJJ"
    r = ctl(d, "supervisor", "silence", "list")
    assert r.returncode == 0 and "系统割接" in r.stdout and "active" in r.stdout, r.stdout
    r = ctl(d, "supervisor", "silence", "expire", str(mine[0]["id"]))
    assert r.returncode == 0, r.stderr
    r = ctl(d, "supervisor", "silence", "list")
    assert "expired" in r.stdout or "系统割接" not in r.stdout, r.stdout

    r = ctl(d, "supervisor", "rules")
    assert r.returncode == 0, r.stderr
    assert any(ln.split()[:3] == ["FEE-ITEM-ABOLISHED", "red", "issue"]
               for ln in r.stdout.splitlines()), r.stdout
    r = ctl(d, "supervisor", "rules", "mode", "FEE-ITEM-ABOLISHED", "hold", "-m", "试运行")
    assert r.returncode == 0, r.stderr
    rules = ctl_json(d, "auditor", "rules")
    rules = rules["rules"] if isinstance(rules, dict) else rules
    assert {x["code"]: x["mode"] for x in rules}["FEE-ITEM-ABOLISHED"] == "hold"
    raise_alerts(d, abolished_fee())
    held = one_alert(d, "FEE-ITEM-ABOLISHED")
    assert held["status"] == "held"
    assert ctl_json(d, "supervisor", "confirm", str(held["id"]), "-m", "下发")["status"] == "open"
    r = ctl(d, "dept-LY-ZJJ", "rules", "mode", "FEE-ITEM-ABOLISHED", "off", "-m", "x")
    assert r.returncode == 1 and "403" in r.stderr, r.stderr

    # no --url and no ESUP_URL: the listen address of the daemon's configuration
    cert, key = d.pair("auditor")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESUP_")}
    env.update(ESUP_CONFIG=str(d.conf_path), ESUP_CERT=str(cert), ESUP_KEY=str(key),
               ESUP_CA=str(d.certs.ca))
    r = subprocess.run([str(ESUPCTL), "alerts", "rules"], capture_output=True, text=True,
                       timeout=30, env=env)
    assert r.returncode == 0 and "FEE-ITEM-ABOLISHED" in r.stdout, r.stderr
