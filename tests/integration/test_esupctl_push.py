"""`esupctl push`: NDJSON feeds to POST /v1/events in batches over one keep-alive connection,
resumable from its state file, against one real esupd and database for the module.

The daemon is SIGKILLed and restarted mid-push, the push itself is SIGKILLed with a request in
flight, the database is stopped: every event must be stored exactly once, none skipped. Pacing
never relies on sleeps: the feed goes through a pipe the test writes, and the test waits on the
state file (what the daemon acknowledged) or on the database (a writer waiting on a lock the
test holds). A small Python HTTPS server stands in for esupd only where the daemon cannot show
what is checked: how many TLS connections carried the requests, and the dry-run query string
(the daemon of this branch has no dry runs yet)."""

import http.server
import json
import os
import pty
import re
import select
import signal
import socket
import ssl
import subprocess
import threading
import time

import psycopg
import pytest

from conftest import (BUILD, SANITIZER_MARKS, Daemon, event, finish_daemons,
                      migrated_database, sanitizer_env, wait_for)

ESUPCTL = BUILD / "contrib" / "esupctl"
DEPT = "LY-SCJGJ"
SUMMARY = re.compile(r"^esupctl push: (\d+) events: (\d+) accepted, (\d+) duplicate, "
                     r"(\d+) rejected in [\d.]+ s \(\d+ events/s\)$", re.M)


@pytest.fixture(scope="module")
def daemon(pg, certs, workdir, request):
    db = migrated_database(pg, certs, workdir, "push")
    d = Daemon(db, certs, workdir / db.name, ingest={"retry_after_s": "2"})
    yield d.start()
    finish_daemons([d], request)


def feed(n, prefix, **fields):
    evs = [event(DEPT, id="%s-%04d" % (prefix, i), **fields) for i in range(n)]
    return evs, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in evs).encode()


def args(d, tmp, *inputs, batch=10, extra=(), url=None, name="dept-" + DEPT,
         state_file="push.state"):
    cert, key = d.pair(name)
    return [str(ESUPCTL), "push", "--url", url or "https://127.0.0.1:%d/" % d.port,
            "--cert", str(cert), "--key", str(key), "--cacert", str(d.certs.ca),
            "--batch", str(batch), "--state", str(tmp / state_file),
            "--rejects", str(tmp / "rejected.ndjson"), *extra, *map(str, inputs)]


def run(argv, stdin=None, timeout=60):
    p = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout,
                       env=sanitizer_env())
    err = p.stderr.decode(errors="replace")
    assert not any(m in err for m in SANITIZER_MARKS), err
    return p.returncode, err


def summary(err):
    m = SUMMARY.findall(err)
    assert len(m) == 1, err
    return tuple(map(int, m[0]))


def state(tmp):
    """The state file as {"status": ..., "inputs": [(bytes, lines, sha, path)]}, or None."""
    try:
        text = (tmp / "push.state").read_text()
    except FileNotFoundError:
        return None
    lines = text.splitlines()
    assert lines[0] == "esup-push-state 1", text
    inputs = [tuple(ln.split(" ", 4)[1:]) for ln in lines[2:]]
    return {"status": lines[1].split()[1],
            "inputs": [(int(b), int(n), h, p) for b, n, h, p in inputs]}


def acked_lines(tmp):
    s = state(tmp)
    return s["inputs"][0][1] if s else 0


def stored(d, prefix):
    return {k: v for k, v in d.db.event_counts(DEPT).items() if k.startswith(prefix + "-")}


def assert_once(d, evs):
    got = stored(d, evs[0]["id"].rsplit("-", 1)[0])
    assert got == {e["id"]: 1 for e in evs}


def test_feed_in_small_batches_stored_once(daemon, tmp_path):
    evs, body = feed(200, "small")
    (tmp_path / "feed.ndjson").write_bytes(body[:len(body) // 2] + b"\n  \n" +
                                           body[len(body) // 2:])
    code, err = run(args(daemon, tmp_path, tmp_path / "feed.ndjson", batch=20))
    assert code == 0, err
    assert summary(err) == (200, 200, 0, 0)
    assert err.count("\n") == 1 and "\r" not in err, "one summary line off a terminal: " + err
    assert_once(daemon, evs)
    s = state(tmp_path)
    assert s["status"] == "finished"
    assert s["inputs"][0][:2] == ((tmp_path / "feed.ndjson").stat().st_size, 202)

    # finished: a rerun sends nothing
    code, err = run(args(daemon, tmp_path, tmp_path / "feed.ndjson", batch=20))
    assert code == 0, err
    assert summary(err) == (0, 0, 0, 0)

    # grown by appending: only the new lines go
    more, extra = feed(15, "small-more")
    with open(tmp_path / "feed.ndjson", "ab") as f:
        f.write(extra)
    code, err = run(args(daemon, tmp_path, tmp_path / "feed.ndjson", batch=20))
    assert (code, summary(err)) == (0, (15, 15, 0, 0)), err
    assert_once(daemon, more)
    assert state(tmp_path)["status"] == "finished"

    # changed under its state: refused, nothing sent, the state kept
    before = (tmp_path / "push.state").read_bytes()
    data = bytearray((tmp_path / "feed.ndjson").read_bytes())
    data[10] ^= 0x01
    (tmp_path / "feed.ndjson").write_bytes(bytes(data))
    code, err = run(args(daemon, tmp_path, tmp_path / "feed.ndjson"))
    assert code == 2, err
    assert "does not match the state" in err and "does not start with them" in err, err
    assert (tmp_path / "push.state").read_bytes() == before
    (tmp_path / "feed.ndjson").write_bytes(body[:100])
    code, err = run(args(daemon, tmp_path, tmp_path / "feed.ndjson"))
    assert code == 2 and "is shorter now" in err, err

    # another input list than the state's: refused
    code, err = run(args(daemon, tmp_path, tmp_path / "feed.ndjson", tmp_path / "x.ndjson"))
    assert code == 2, err


def test_a_last_line_without_a_line_feed(daemon, tmp_path):
    evs, body = feed(3, "nolf")
    f = tmp_path / "f.ndjson"
    f.write_bytes(body[:-1])
    code, err = run(args(daemon, tmp_path, f))
    assert (code, summary(err)) == (0, (3, 3, 0, 0)), err
    assert state(tmp_path)["inputs"][0][:2] == (len(body) - 1, 3)
    more, extra = feed(2, "nolf-more")
    f.write_bytes(body + extra)          # the line completed, then more
    code, err = run(args(daemon, tmp_path, f))
    assert (code, summary(err)) == (0, (2, 2, 0, 0)), err
    assert state(tmp_path)["inputs"][0][:2] == (len(body + extra), 5)
    assert_once(daemon, evs + more)
    f.write_bytes(body + extra[:-1])
    (tmp_path / "push.state").unlink()
    code, err = run(args(daemon, tmp_path, f))
    assert (code, summary(err)) == (0, (5, 0, 5, 0)), err
    f.write_bytes(body + extra[:-1] + b', "x": 1}\n')   # the unterminated line extended
    code, err = run(args(daemon, tmp_path, f))
    assert code == 2 and "had no line feed and has been extended" in err, err


def test_rejected_events_go_to_the_rejects_file(daemon, tmp_path):
    good, body = feed(5, "rej")
    bad_at = event(DEPT, id="rej-bad-at", at="2026-02-30T10:00:00+08:00")
    other = event("LY-ZJJ", id="rej-other-dept")
    lines = [json.dumps(good[0]), "", json.dumps(bad_at, ensure_ascii=False), json.dumps(good[1]),
             "{not json", json.dumps(other, ensure_ascii=False)] + \
        [json.dumps(e, ensure_ascii=False) for e in good[2:]]
    (tmp_path / "f.ndjson").write_text("\n".join(lines) + "\n")
    code, err = run(args(daemon, tmp_path, tmp_path / "f.ndjson", batch=4))
    assert code == 1, err
    assert summary(err) == (8, 5, 0, 3)
    rejects = [json.loads(x) for x in (tmp_path / "rejected.ndjson").read_text().splitlines()]
    assert [(r["file"], r["line"], r.get("id")) for r in rejects] == [
        (str(tmp_path / "f.ndjson"), 3, "rej-bad-at"), (str(tmp_path / "f.ndjson"), 5, None),
        (str(tmp_path / "f.ndjson"), 6, "rej-other-dept")]
    assert [r["errors"][0]["field"] for r in rejects] == ["at", "", "dept"]
    assert all(set(r["errors"][0]) >= {"field", "expected", "got"} for r in rejects)
    assert [r["event"] for r in rejects] == [lines[2], lines[4], lines[5]]
    assert_once(daemon, good)
    assert "rej-bad-at" not in daemon.db.event_counts(DEPT)
    # acknowledged, so a rerun neither resends nor rewrites them
    code, err = run(args(daemon, tmp_path, tmp_path / "f.ndjson", batch=4))
    assert (code, summary(err)) == (0, (0, 0, 0, 0)), err
    assert len((tmp_path / "rejected.ndjson").read_text().splitlines()) == 3


def test_usage_and_certificate_errors_exit_2(daemon, tmp_path):
    (tmp_path / "f.ndjson").write_bytes(feed(1, "usage")[1])
    for extra in (["--batch", "0"], ["--batch", "5001"], ["--retry-max-time", "-1"]):
        code, err = run(args(daemon, tmp_path, tmp_path / "f.ndjson", extra=extra))
        assert code == 2 and "expected a whole number" in err, err
    code, err = run(args(daemon, tmp_path, tmp_path / "missing.ndjson"))
    assert code == 2 and "missing.ndjson: No such file" in err, err
    code, err = run(args(daemon, tmp_path, tmp_path / "f.ndjson", url="http://127.0.0.1:1"))
    assert code == 2 and "expected https://HOST[:PORT]" in err, err
    assert state(tmp_path) is None
    code, err = run(args(daemon, tmp_path, tmp_path / "f.ndjson", name="stranger"))
    assert code == 2 and "refused the TLS connection" in err, err
    code, err = run(args(daemon, tmp_path, tmp_path / "f.ndjson", name="supervisor"))
    assert code == 2 and "HTTP 403" in err, err
    assert state(tmp_path)["inputs"][0][:2] == (0, 0), "written before sending, still at 0"
    # a state or rejects file that cannot be written: refused before anything is sent
    (tmp_path / "push.state").unlink()
    for extra in (["--state", str(tmp_path / "no" / "s")],
                  ["--rejects", str(tmp_path / "no" / "r")]):
        code, err = run(args(daemon, tmp_path, tmp_path / "f.ndjson", extra=extra))
        assert code == 2 and "No such file or directory" in err, err
    assert "usage-0000" not in daemon.db.event_counts(DEPT)


def test_connection_from_the_environment(daemon, tmp_path):
    """ESUP_URL, ESUP_CERT, ESUP_KEY and ESUP_CA stand in for the flags, as for esupctl
    alerts; a flag given wins; --ca is --cacert."""
    evs, body = feed(3, "env")
    (tmp_path / "f.ndjson").write_bytes(body)
    cert, key = daemon.pair("dept-" + DEPT)
    base = [str(ESUPCTL), "push", "--state", str(tmp_path / "push.state"),
            "--rejects", str(tmp_path / "rejected.ndjson")]
    env = {k: v for k, v in sanitizer_env().items() if not k.startswith("ESUP_")}
    full = dict(env, ESUP_URL="https://127.0.0.1:%d" % daemon.port, ESUP_CERT=str(cert),
                ESUP_KEY=str(key), ESUP_CA=str(daemon.certs.ca))

    def push(argv, environ):
        p = subprocess.run(base + argv, capture_output=True, timeout=60, env=environ)
        err = p.stderr.decode(errors="replace")
        assert not any(m in err for m in SANITIZER_MARKS), err
        return p.returncode, err

    code, err = push(["--dry-run", str(tmp_path / "f.ndjson")], full)
    assert code == 0 and summary(err) == (3, 3, 0, 0), err
    assert stored(daemon, "env") == {}, "a dry run"
    # nothing given: each missing one named
    code, err = push([str(tmp_path / "f.ndjson")], env)
    assert code == 2 and "no --url --cert --key --cacert:" in err, err
    code, err = push([str(tmp_path / "f.ndjson")], dict(full, ESUP_CA=""))
    assert code == 2 and "no --cacert: --url, --cert, --key and --cacert (or ESUP_URL" in err, err
    # the flags win over the environment: a URL nothing listens on, another CA
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = "https://127.0.0.1:%d" % s.getsockname()[1]
    code, err = push(["--url", "https://127.0.0.1:%d" % daemon.port, "--ca",
                      str(daemon.certs.ca), str(tmp_path / "f.ndjson")],
                     dict(full, ESUP_URL=dead, ESUP_CA=str(daemon.certs.other / "ca.crt")))
    assert code == 0 and summary(err) == (3, 3, 0, 0), err
    assert_once(daemon, evs)


class Pusher:
    """esupctl push reading a pipe the test writes; stderr collected as it comes, with the
    time each line arrived."""

    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=sanitizer_env())
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append((time.monotonic(), line.decode(errors="replace").rstrip("\n")))

    def write(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def finish(self, timeout=60):
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        code = self.proc.wait(timeout)
        self.reader.join(10)
        return code, self.text()

    def text(self):
        return "\n".join(line for _, line in self.lines) + "\n"


def test_esupd_killed_and_restarted_mid_push(daemon, tmp_path):
    evs, body = feed(200, "kill-esupd")
    lines = body.splitlines(keepends=True)
    p = Pusher(args(daemon, tmp_path, "-", batch=20))
    try:
        p.write(b"".join(lines[:100]))
        wait_for(lambda: acked_lines(tmp_path) == 100, 30, "100 lines acknowledged")
        run_ = daemon.runs[-1]
        run_[0].send_signal(signal.SIGKILL)
        run_[0].wait()
        run_[2] = 0   # killed by the test
        p.write(b"".join(lines[100:150]))
        wait_for(lambda: any("retry" in line for _, line in p.lines), 30,
                 "push to retry while esupd is down")
        assert acked_lines(tmp_path) == 100
        daemon.start()
        p.write(b"".join(lines[150:]))
        code, err = p.finish()
    finally:
        if p.proc.poll() is None:
            p.proc.kill()
        if not daemon.running():
            daemon.start()
    assert code == 0, err
    assert summary(err) == (200, 200, 0, 0)
    assert_once(daemon, evs)
    assert state(tmp_path)["status"] == "finished"


def writer_waits_on_lock(d):
    return d.db.scalar("SELECT count(*) FROM pg_stat_activity WHERE usename = 'esupd' AND "
                       "wait_event_type = 'Lock'") > 0


def test_push_killed_mid_request_resumes_from_stdin(daemon, tmp_path):
    evs, body = feed(100, "kill-push")
    lines = body.splitlines(keepends=True)
    (tmp_path / "feed.ndjson").write_bytes(body)
    p = Pusher(args(daemon, tmp_path, "-", batch=10))
    lock = psycopg.connect(daemon.db.conninfo("postgres"))
    try:
        p.write(b"".join(lines[:50]))
        wait_for(lambda: acked_lines(tmp_path) == 50, 30, "50 lines acknowledged")
        lock.execute("LOCK TABLE events IN EXCLUSIVE MODE")
        p.write(b"".join(lines[50:60]))
        wait_for(lambda: writer_waits_on_lock(daemon), 30, "the 6th batch to wait on the lock")
        p.proc.kill()
        p.proc.wait()
    finally:
        lock.rollback()
        lock.close()
        if p.proc.poll() is None:
            p.proc.kill()
    wait_for(lambda: len(stored(daemon, "kill-push")) == 60, 30,
             "the batch in flight to be stored")
    assert acked_lines(tmp_path) == 50, "its answer never reached push"
    with open(tmp_path / "feed.ndjson", "rb") as f:
        code, err = run(args(daemon, tmp_path, "-", batch=10), stdin=f.read())
    assert code == 0, err
    assert summary(err) == (50, 40, 10, 0), "the in-flight batch again, answered duplicate"
    assert_once(daemon, evs)

    # the same state with another stream on stdin: refused
    code, err = run(args(daemon, tmp_path, "-"), stdin=b"{}\n" + body)
    assert code == 2 and "does not match the state" in err, err


def test_503_while_the_database_is_down_honours_retry_after(daemon, pg, tmp_path):
    evs, body = feed(40, "db-down")
    lines = body.splitlines(keepends=True)
    p = Pusher(args(daemon, tmp_path, "-", batch=10))
    try:
        p.write(b"".join(lines[:10]))
        wait_for(lambda: acked_lines(tmp_path) == 10, 30, "10 lines acknowledged")
        pg.stop("fast")
        wait_for(lambda: daemon.healthz().status == 503, 60, "/healthz to report down")
        p.write(b"".join(lines[10:]))
        wait_for(lambda: sum("HTTP 503" in line for _, line in p.lines) >= 2, 60,
                 "two 503 answers")
        refusals = [t for t, line in p.lines if "HTTP 503" in line]
        # Retry-After: 2 is a floor under the jitter (0.5 s at most for the first retry; the
        # margin is for the lines' arrival here)
        assert refusals[1] - refusals[0] >= 1.5, p.text()
        assert "retry 1 in 2.0 s" in p.text(), p.text()
        assert acked_lines(tmp_path) == 10
    finally:
        if not pg.running:
            pg.start()
    wait_for(lambda: daemon.healthz().status == 200, 30, "/healthz to report up again")
    code, err = p.finish()
    assert code == 0, err
    assert summary(err) == (40, 40, 0, 0)
    assert_once(daemon, evs)


def test_gives_up_after_retry_max_time(daemon, tmp_path):
    (tmp_path / "f.ndjson").write_bytes(feed(3, "give-up")[1])
    with socket.socket() as s:    # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, err = run(args(daemon, tmp_path, tmp_path / "f.ndjson",
                         url="https://127.0.0.1:%d" % port, extra=["--retry-max-time", "1"]))
    assert code == 3, err
    assert "giving up" in err and "rerun to resume" in err, err
    assert summary(err) == (0, 0, 0, 0)


def test_sigterm_stops_with_exit_3_and_the_state_saved(daemon, tmp_path):
    evs, body = feed(30, "sigterm")
    lines = body.splitlines(keepends=True)
    p = Pusher(args(daemon, tmp_path, "-", batch=10))
    p.write(b"".join(lines[:20]))
    wait_for(lambda: acked_lines(tmp_path) == 20, 30, "20 lines acknowledged")
    p.proc.send_signal(signal.SIGTERM)     # waiting for stdin
    code = p.proc.wait(30)
    p.reader.join(10)
    assert code == 3, p.text()
    assert "interrupted" in p.text() and summary(p.text()) == (20, 20, 0, 0)
    code, err = run(args(daemon, tmp_path, "-", batch=10), stdin=body)
    assert (code, summary(err)) == (0, (10, 10, 0, 0)), err
    assert_once(daemon, evs)


def test_progress_line_on_a_terminal(daemon, tmp_path):
    evs, body = feed(60, "tty")
    (tmp_path / "f.ndjson").write_bytes(body)
    master, slave = pty.openpty()
    proc = subprocess.Popen(args(daemon, tmp_path, tmp_path / "f.ndjson", batch=10),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave,
                            env=sanitizer_env())
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        assert ready, "no output on the terminal"
        try:
            chunk = os.read(master, 65536)
        except OSError:       # EIO: the terminal's other side is closed
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(30) == 0
    text = out.decode(errors="replace")
    assert re.search(r"\r\x1b\[Kesupctl push: \d+ sent: \d+ accepted, 0 duplicate, 0 rejected, "
                     r"\d+ events/s(, \d+%, ETA \d+:\d\d)?", text), repr(text)
    assert summary(text.replace("\r\x1b[K", "\n").replace("\r\n", "\n")) == (60, 60, 0, 0)
    assert_once(daemon, evs)

    # --quiet: the summary line alone
    more, extra = feed(5, "tty-quiet")
    (tmp_path / "g.ndjson").write_bytes(extra)
    master, slave = pty.openpty()
    proc = subprocess.Popen(args(daemon, tmp_path, tmp_path / "g.ndjson", extra=["--quiet"],
                                 state_file="q.state"),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave,
                            env=sanitizer_env())
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        assert ready
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(30) == 0
    assert b"\x1b[K" not in out and summary(out.decode().replace("\r\n", "\n")) == (5, 5, 0, 0)


# ---------------------------------------------------------------- a server that counts connections


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        srv = self.server
        srv.seen.append((self.client_address[1], self.path, self.headers.get("Connection")))
        n = len([x for x in body.split(b"\n") if x.strip()])
        if srv.status == 503:
            answer = {"error": "database unavailable"}
        elif srv.status != 200:
            answer = {"error": {"field": "dry_run", "expected": "0 or 1", "got": "?"}}
        else:
            answer = {"accepted": n, "duplicate": 0, "rejected": 0,
                      "results": [{"index": i, "status": "accepted"} for i in range(n)]}
            if "dry_run=1" in self.path and srv.dry_run_known:
                answer["dry_run"] = True
        data = json.dumps(answer).encode()
        self.send_response(srv.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if srv.retry_after is not None:
            self.send_header("Retry-After", str(srv.retry_after))
        close = len(srv.seen) == srv.close_after
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        if close:
            self.close_connection = True


@pytest.fixture
def server(certs):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs.dir / "server.crt", certs.dir / "server.key")
    ctx.load_verify_locations(certs.ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.seen, srv.status, srv.close_after, srv.dry_run_known = [], 200, 0, True
    srv.retry_after = None
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_keep_alive_and_the_dry_run_query(daemon, server, tmp_path):
    (tmp_path / "f.ndjson").write_bytes(feed(50, "keep")[1])
    url = "https://127.0.0.1:%d" % server.server_address[1]
    server.close_after = 2           # the second answer says Connection: close
    code, err = run(args(daemon, tmp_path, tmp_path / "f.ndjson", url=url, extra=["--dry-run"]))
    assert code == 0, err
    assert summary(err) == (50, 50, 0, 0)
    assert [path for _, path, _ in server.seen] == ["/v1/events?dry_run=1"] * 5
    assert all(conn is None for _, _, conn in server.seen), "no Connection: close asked"
    ports = [port for port, _, _ in server.seen]
    assert ports[0] == ports[1] != ports[2] == ports[3] == ports[4], ports
    assert state(tmp_path) is None, "a dry run keeps no state"

    # a refusal of the dry run (a daemon without it): said, nothing recorded
    server.seen.clear()
    server.status = 400
    code, err = run(args(daemon, tmp_path, tmp_path / "f.ndjson", url=url, extra=["--dry-run"]))
    assert code == 2, err
    assert "HTTP 400" in err and "dry_run: expected 0 or 1" in err, err
    assert len(server.seen) == 1 and state(tmp_path) is None

    # a server that ignores dry_run=1 (and so stores the events): said, stopped at once
    server.seen.clear()
    server.status, server.dry_run_known = 200, False
    code, err = run(args(daemon, tmp_path, tmp_path / "f.ndjson", url=url, extra=["--dry-run"]))
    assert code == 2, err
    assert "does not know dry runs, and STORED the 10 events" in err, err
    assert len(server.seen) == 1 and state(tmp_path) is None


GIVE_UP = re.compile(r"giving up: no progress for ([\d.]+) s \(--retry-max-time (\d+)\)")


def test_retry_max_time_is_waited_out_against_503(daemon, server, tmp_path):
    """--retry-max-time S gives up after S seconds without progress, not when the next wait
    would pass S: the last wait is cut to the time left (a backoff then retries at the limit;
    a longer Retry-After is honoured, so no retry), and the message says the time it took."""
    (tmp_path / "f.ndjson").write_bytes(feed(3, "max-time")[1])
    url = "https://127.0.0.1:%d" % server.server_address[1]
    server.status = 503
    started = time.monotonic()
    code, err = run(args(daemon, tmp_path, tmp_path / "f.ndjson", url=url,
                         extra=["--retry-max-time", "3"]))
    took = time.monotonic() - started
    assert code == 3, err
    m = GIVE_UP.search(err)
    assert m and m.group(2) == "3", err
    # not before the limit, and the time it reports is the time it took (no upper bound on a
    # loaded machine: a test never trusts timing)
    assert 3.0 <= float(m.group(1)) <= took + 0.1 and took >= 3.0, (took, err)   # %.1f rounds
    assert "HTTP 503 (database unavailable)" in err and len(server.seen) >= 2, err

    # Retry-After past the limit: waited until the limit, then given up, without a retry
    server.seen.clear()
    server.retry_after = 30
    started = time.monotonic()
    code, err = run(args(daemon, tmp_path, tmp_path / "f.ndjson", url=url,
                         extra=["--retry-max-time", "2"]))
    took = time.monotonic() - started
    assert code == 3, err
    assert "Retry-After 30 s passes --retry-max-time" in err, err
    m = GIVE_UP.search(err)
    assert m and 2.0 <= float(m.group(1)) <= took + 0.1 and took >= 2.0, (took, err)
    assert len(server.seen) == 1, server.seen
    assert state(tmp_path)["inputs"][0][:2] == (0, 0)
