"""The listener and the request gate: what a connection may cost before it is authenticated,
whole-request deadlines, the connection caps, accept() errors, and strict HTTP/1.1 framing.

Raw TLS sockets are used where http.client would tidy the request up. Nothing here trusts
timing: each wait has a generous deadline (wait_for), and what is checked is an outcome (closed,
refused, answered), never how fast it came.
"""

import contextlib
import json
import os
import re
import socket
import ssl
import threading
import time
import urllib.request

import pytest

import conftest
from conftest import event, ndjson, wait_for
from esupclient import tls_context

EIGHT_MIB = 8 * 1024 * 1024


# ---------------------------------------------------------------- helpers


def tls_socket(d, name=None, timeout=10):
    cert, key = d.pair(name) if name else (None, None)
    ctx = tls_context(d.certs.ca, cert, key)
    raw = socket.create_connection(("127.0.0.1", d.port), timeout=timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    except BaseException:
        raw.close()
        raise


def read_response(f):
    """Reads one HTTP response (status, headers, body) from f (sock.makefile("rb")); None
    when the peer closed or reset before a whole response came."""
    try:
        line = f.readline(65536)
        if not line.startswith(b"HTTP/1."):
            return None
        status = int(line.split(b" ", 2)[1])
        headers = {}
        while True:
            line = f.readline(65536)
            if line in (b"\r\n", b""):
                break
            k, _, v = line.partition(b":")
            headers[k.strip().lower().decode()] = v.strip().decode()
        if line == b"":
            return None
        body = f.read(int(headers.get("content-length", "0")))
    except (OSError, ssl.SSLError, ValueError):
        return None
    return status, headers, body


def exchange(d, raw, name="dept-LY-SCJGJ"):
    """Sends raw bytes on a fresh TLS connection and reads the one response."""
    with tls_socket(d, name) as s:
        s.sendall(raw)
        with s.makefile("rb") as f:
            return read_response(f)


def closed_by_peer(sock):
    """True once the server has closed this connection (EOF or reset)."""
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except (ssl.SSLWantReadError, BlockingIOError):
        return False
    except (OSError, ssl.SSLError):
        return True
    finally:
        sock.setblocking(True)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0   # utime + stime, in clock ticks


def server_side_connections(port):
    """esupd's sockets of connections to port still open on its side (ESTABLISHED or
    CLOSE_WAIT): the connections it still counts."""
    n = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port and fields[3] in ("01", "08"):
                n += 1
    return n


def healthz_ok(d):
    with contextlib.suppress(OSError, ssl.SSLError):
        return d.healthz().status == 200
    return False


def post_head(length, extra=b""):
    return (b"POST /v1/events HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/x-ndjson\r\nContent-Length: %d\r\n%s\r\n" % (length, extra))


# ---------------------------------------------------------------- before authentication


def send_nearly_whole_body(sock, length):
    """Sends a head declaring `length` and all but the last byte of the body, as an attacker
    holding memory would; stops quietly when the server closes."""
    chunk = b"x" * 65536
    with contextlib.suppress(OSError, ssl.SSLError):
        sock.sendall(post_head(length))
        left = length - 1
        while left > 0:
            sock.sendall(chunk[:left])
            left -= min(left, len(chunk))


def test_unauthenticated_bodies_are_not_buffered(daemon_factory):
    """16 connections without a registered certificate each declare an 8 MiB body and send
    nearly all of it: each is refused after its head, and the daemon's memory grows by far
    less than one body per connection (it grew by 8 MiB each when evhttp buffered them)."""
    d = daemon_factory(limits={"max_body_bytes": EIGHT_MIB}).start()
    n = 16
    assert healthz_ok(d)
    before = rss_kib(d.pid)
    socks = [tls_socket(d, None if i % 2 else "unknown", timeout=30) for i in range(n)]
    try:
        threads = [threading.Thread(target=send_nearly_whole_body, args=(s, EIGHT_MIB))
                   for s in socks]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        grown = rss_kib(d.pid) - before
        answers = []
        for s in socks:
            s.settimeout(5)
            with s.makefile("rb") as f:
                answers.append(read_response(f))
    finally:
        for s in socks:
            s.close()
    assert grown < n * 1024, "RSS grew %d KiB for %d refused connections" % (grown, n)
    for i, a in enumerate(answers):
        # the answer can be lost to the reset our own unread bytes cause; when it came, it says why
        if a is not None:
            assert a[0] == (401 if i % 2 else 403), a
            assert json.loads(a[2])["error"], a
    assert any(a is not None for a in answers), "no refusal reached any client"
    assert healthz_ok(d)


def test_body_refused_without_a_principal_but_served_with_one(daemon_factory, db):
    d = daemon_factory().start()
    body = ndjson([event()])
    for name, status, words in ((None, 401, "certificate is required"),
                                ("unknown", 403, "not registered")):
        r = exchange(d, post_head(len(body)) + body, name)
        assert r is not None and r[0] == status, r
        assert words in json.loads(r[2])["error"]
        assert r[1].get("connection") == "close"
    r = exchange(d, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", None)
    assert r is not None and r[0] == 200, r
    assert db.scalar("SELECT count(*) FROM events") == 0
    r = exchange(d, post_head(len(body)) + body)
    assert r is not None and r[0] == 200, r
    assert db.scalar("SELECT count(*) FROM events") == 1


# ---------------------------------------------------------------- deadlines


def dribble_until_closed(sock, data, pause, timeout):
    """Sends data one byte at a time every `pause` seconds; returns the seconds until the
    server closed the connection, failing the test when it has not within timeout."""
    start = time.monotonic()
    for i in range(len(data)):
        if closed_by_peer(sock):
            return time.monotonic() - start
        with contextlib.suppress(OSError, ssl.SSLError):
            sock.sendall(data[i:i + 1])
        if time.monotonic() - start > timeout:
            break
        time.sleep(pause)
    wait_for(lambda: closed_by_peer(sock), max(1.0, timeout - (time.monotonic() - start)),
             "the server to cut the slow request")
    return time.monotonic() - start


@pytest.mark.parametrize("name", [None, "dept-LY-SCJGJ"])
def test_slowloris_head_is_cut_by_the_header_deadline(daemon_factory, name):
    """One header byte every half second resets an idle timer forever; the head deadline
    counts from its first byte and cuts it, with or without a certificate."""
    d = daemon_factory(limits={"header_timeout_s": 2, "idle_timeout_s": 60}).start()
    head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 200
    with tls_socket(d, name) as s:
        dribble_until_closed(s, head, 0.3, 30)
    wait_for(lambda: "request head not complete within header_timeout_s" in d.log_text(), 10,
             "the cut to be logged")
    assert healthz_ok(d)


def test_slow_body_is_cut_by_the_minimum_rate(daemon_factory):
    d = daemon_factory(limits={"body_timeout_s": 2, "body_min_rate_bytes_s": 10000,
                               "idle_timeout_s": 60}).start()
    length = 20000   # allowed: 2 s + 20000 / 10000 s
    with tls_socket(d, "dept-LY-SCJGJ") as s:
        s.sendall(post_head(length))
        dribble_until_closed(s, b"x" * length, 0.3, 40)
    wait_for(lambda: "request body slower than body_min_rate_bytes_s" in d.log_text(), 10,
             "the cut to be logged")
    assert healthz_ok(d)


# ---------------------------------------------------------------- connection caps


def test_unauthenticated_connection_cap(daemon_factory):
    """At max_unauthenticated_connections a new connection closes the oldest unauthenticated
    one: sockets held open without a handshake cannot keep a department out (an audit held
    1,024 plain TCP sockets and every department was refused until they timed out)."""
    d = daemon_factory(limits={"max_unauthenticated_connections": 3,
                               "handshake_timeout_s": 60}).start()
    # the start-up probes' connections must be gone from esupd's count first
    wait_for(lambda: server_side_connections(d.port) == 0, 20, "the probes' connections to close")
    with contextlib.ExitStack() as stack:
        idle = [stack.enter_context(socket.create_connection(("127.0.0.1", d.port), timeout=20))
                for _ in range(3)]
        wait_for(lambda: server_side_connections(d.port) == 3, 20, "esupd to take the three")
        # a department's connection, the 4th, is served: the oldest idle socket made room
        with tls_socket(d, "dept-LY-SCJGJ", timeout=20) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            status = read_response(s.makefile("rb"))
            assert status is not None and status[0] == 200, status
        assert idle[0].recv(1) == b"", "the oldest unauthenticated socket is still open"
        # one made room: the other two are still open
        for sock in idle[1:]:
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)
    assert "max_unauthenticated_connections (3) reached: closed the oldest unauthenticated" \
        in d.log_text()


def test_an_idle_department_connection_is_not_evicted(daemon_factory):
    """A department's connection counts as authenticated once its handshake is over, before
    its first request: an idle keep-alive connection is not the oldest unauthenticated one
    that a new connection evicts at the cap."""
    metrics = conftest.free_port()
    d = daemon_factory(limits={"max_unauthenticated_connections": 1,
                               "handshake_timeout_s": 60},
                       metrics={"listen": "127.0.0.1:%d" % metrics}).start()

    def authenticated():
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % metrics, timeout=10) as r:
            return 'esup_connections{state="authenticated"} 1' in r.read().decode()

    wait_for(lambda: server_side_connections(d.port) == 0, 20, "the probes' connections to close")
    with tls_socket(d, "dept-LY-SCJGJ", timeout=20) as dept:   # handshake done, nothing sent
        wait_for(authenticated, 20, "the department's idle connection to count as authenticated")
        with socket.create_connection(("127.0.0.1", d.port), timeout=20):
            wait_for(lambda: server_side_connections(d.port) == 2, 20, "esupd to take the socket")
            dept.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            status = read_response(dept.makefile("rb"))
            assert status is not None and status[0] == 200, status
    assert "closed the oldest unauthenticated" not in d.log_text()


def test_global_connection_cap_pauses_accepting(daemon_factory):
    d = daemon_factory(limits={"max_connections": 4,
                               "max_connections_per_principal": 10}).start()
    held = [d.client("dept-LY-SCJGJ") for _ in range(4)]
    try:
        for c in held:
            assert c.healthz().status == 200
        # the 5th waits in the kernel's backlog: its handshake gets no answer
        with pytest.raises((socket.timeout, TimeoutError)):
            with tls_socket(d, None, timeout=2):
                pass
        held.pop().close()
        wait_for(lambda: healthz_ok(d), 20, "accepting to resume below the cap")
    finally:
        for c in held:
            c.close()
    assert "max_connections (4) reached" in d.log_text()


def start_with_fd_limit(d, monkeypatch, soft, hard):
    """Starts esupd under RLIMIT_NOFILE soft:hard. prlimit(1) sets it and execs esupd, so the
    process is the daemon itself (changing another user's limits needs CAP_SYS_RESOURCE)."""
    wrapper = d.dir / "esupd-fd-limited"
    wrapper.write_text('#!/bin/sh\nexec prlimit --nofile=%d:%d -- %s "$@"\n'
                       % (soft, hard, conftest.ESUPD))
    wrapper.chmod(0o755)
    monkeypatch.setattr(conftest, "ESUPD", wrapper)
    return d.start()


def open_files_limit(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return tuple(int(v) for v in line.split()[3:5])
    raise AssertionError("no open files limit for %d" % pid)


def test_file_descriptor_limit_raised_to_the_hard_limit(daemon_factory, monkeypatch):
    d = start_with_fd_limit(daemon_factory(), monkeypatch, 256, 4096)
    assert open_files_limit(d.pid) == (4096, 4096)
    assert "file descriptor limit: 4096 (was 256; hard limit 4096)" in d.log_text()
    assert "at most 4064 connections" in d.log_text()


def test_accept_errors_back_off_instead_of_spinning(daemon_factory, monkeypatch):
    """With its descriptors used up, accept() fails with EMFILE while clients wait in the
    backlog. esupd must pause accepting and retry later, not loop on the readable listener:
    little CPU, few log lines, and it serves again once descriptors are free. (max_connections
    is set above what the limit allows, so that the cap does not stop accepting first.)"""
    d = daemon_factory(limits={"handshake_timeout_s": 60, "max_unauthenticated_connections": 1000,
                               "max_connections": 1000})
    start_with_fd_limit(d, monkeypatch, 64, 64)
    with contextlib.ExitStack() as stack:
        flood = [stack.enter_context(socket.create_connection(("127.0.0.1", d.port)))
                 for _ in range(80)]
        wait_for(lambda: "Too many open files" in d.log_text(), 20,
                 "esupd to run out of descriptors")
        lines_before = len(d.log_text().splitlines())
        cpu_before = cpu_seconds(d.pid)
        time.sleep(3)   # a measurement window, not a wait for an outcome
        cpu = cpu_seconds(d.pid) - cpu_before
        lines = len(d.log_text().splitlines()) - lines_before
        assert len(flood) == 80
    assert cpu < 1.0, "esupd used %.2f s of CPU in 3 s while out of descriptors" % cpu
    assert lines < 20, "%d log lines in 3 s while out of descriptors" % lines
    assert re.search(r"accept: Too many open files; not accepting for \d+ ms", d.log_text())
    wait_for(lambda: healthz_ok(d), 30, "esupd to serve again once the flood closed")


# ---------------------------------------------------------------- framing


FRAMING = [
    ("two equal Content-Length", 400, "more than one Content-Length",
     b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
     b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}"),
    ("two different Content-Length", 400, "more than one Content-Length",
     b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
     b"Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}"),
    ("Content-Length +N", 400, "digits only",
     b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
     b"Content-Length: +2\r\n\r\n{}"),
    ("Content-Length -N", 400, "digits only",
     b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
     b"Content-Length: -2\r\n\r\n{}"),
    ("no Host on HTTP/1.1", 400, "Host header",
     b"GET /healthz HTTP/1.1\r\n\r\n"),
    ("two Host headers", 400, "more than one Host",
     b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    ("bare LF", 400, "bare LF",
     b"GET /healthz HTTP/1.1\nHost: x\n\n"),
    ("bare LF on one line", 400, "bare LF",
     b"GET /healthz HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n"),
    ("invalid percent-encoding", 400, "percent-encoding",
     b"GET /v1/cases/LY-SCJGJ/LY-SCJGJ-2026-%zz HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("truncated percent-encoding", 400, "percent-encoding",
     b"GET /v1/cases/LY-SCJGJ/LY-SCJGJ-2026-%4 HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("invalid UTF-8 in the path", 400, "UTF-8",
     b"GET /v1/cases/LY-SCJGJ/%ff%fe HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("overlong UTF-8 in the path", 400, "UTF-8",
     b"GET /v1/cases/LY-SCJGJ/%c0%af HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("NUL in the path", 400, "UTF-8",
     b"GET /v1/cases/LY-SCJGJ/a%00b HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("raw non-ASCII in the target", 400, "visible ASCII",
     "GET /v1/cases/LY-SCJGJ/办件 HTTP/1.1\r\nHost: x\r\n\r\n".encode()),
    ("space before the colon", 400, "header name",
     b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n"),
    ("folded header", 400, "folded",
     b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n"),
    ("Transfer-Encoding", 411, "Content-Length",
     b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
     b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"),
    ("HTTP/2 preface", 505, "HTTP/1.1",
     b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    ("unknown method", 501, "GET, HEAD or POST",
     b"PUT /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
]


@pytest.mark.parametrize("what,status,words,raw", FRAMING, ids=[f[0] for f in FRAMING])
def test_framing_is_strict(esupd, db, what, status, words, raw):
    r = exchange(esupd, raw)
    assert r is not None, "%s: no answer" % what
    assert r[0] == status, (what, r)
    assert r[1].get("content-type") == "application/json", r
    assert words in json.loads(r[2])["error"], (what, r)
    assert r[1].get("connection") == "close", r
    assert db.scalar("SELECT count(*) FROM events") == 0
    r = exchange(esupd, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r is not None and r[0] == 200


def test_pipelined_requests_keep_their_order_and_a_refusal_ends_them(esupd, db):
    """Good requests before a refused one on the same connection are answered in order; the
    refusal comes last, and nothing after it is read."""
    body = ndjson([event()])
    good = post_head(len(body)) + body
    bad = b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx"
    late = post_head(len(body)) + ndjson([event()])
    with tls_socket(esupd, "dept-LY-SCJGJ") as s:
        s.sendall(good + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + bad + late)
        with s.makefile("rb") as f:
            answers = [read_response(f) for _ in range(3)]
            assert read_response(f) is None
    assert [a[0] for a in answers] == [200, 200, 400], answers
    assert db.scalar("SELECT count(*) FROM events") == 1
