"""Listener measurements (run by contrib/bench/listener; not part of the test suite).

Prints, for the esupd in ESUP_BUILD:
  1. RSS growth per connection without a registered certificate that declares an 8 MiB body
     and sends all of it but the last byte (ESUP_BENCH_UNAUTH connections, default 32);
  2. seconds from the first byte of a slowloris head (one byte a second) to the cut, with the
     default header_timeout_s (gives up after 90 s);
  3. ESUP_BENCH_IDLE (default 2000) idle keep-alive TLS connections under an inherited
     RLIMIT_NOFILE of 1024 soft / 4096 hard (systemd's default soft limit): how many esupd
     holds, its descriptors, RSS and CPU while they idle, and whether /healthz still answers.
Only options every version knows are set, so an older build can be measured the same way.
"""

import contextlib
import os
import socket
import ssl
import threading
import time

from test_listener import (EIGHT_MIB, closed_by_peer, cpu_seconds, healthz_ok,
                           open_files_limit, rss_kib, send_nearly_whole_body,
                           start_with_fd_limit, tls_socket)


def say(*args):
    print("bench_listener:", *args, flush=True)


def test_rss_per_unauthenticated_connection(daemon_factory):
    n = int(os.environ.get("ESUP_BENCH_UNAUTH", "32"))
    d = daemon_factory(limits={"max_body_bytes": EIGHT_MIB, "idle_timeout_s": 120}).start()
    assert healthz_ok(d)
    before = rss_kib(d.pid)
    socks = [tls_socket(d, None, timeout=60) for _ in range(n)]
    try:
        threads = [threading.Thread(target=send_nearly_whole_body, args=(s, EIGHT_MIB))
                   for s in socks]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        time.sleep(1)   # let the daemon read what the kernel still holds
        after = rss_kib(d.pid)
    finally:
        for s in socks:
            s.close()
    say("%d unauthenticated connections declaring 8 MiB: RSS %d -> %d KiB, %.0f KiB each"
        % (n, before, after, (after - before) / n))


def test_slowloris_cut(daemon_factory):
    d = daemon_factory(limits={"idle_timeout_s": 60}).start()
    head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 200
    with tls_socket(d, None) as s:
        start = time.monotonic()
        for i in range(len(head)):
            if closed_by_peer(s) or time.monotonic() - start > 90:
                break
            with contextlib.suppress(OSError, ssl.SSLError):
                s.sendall(head[i:i + 1])
            time.sleep(1)
        took = time.monotonic() - start
    if took > 90:
        say("slowloris head (1 byte/s): not cut within 90 s")
    else:
        say("slowloris head (1 byte/s): cut %.1f s after its first byte" % took)


def test_idle_connections_within_the_fd_limit(daemon_factory, monkeypatch):
    n = int(os.environ.get("ESUP_BENCH_IDLE", "2000"))
    d = daemon_factory(limits={"max_connections_per_principal": n + 10, "idle_timeout_s": 600})
    start_with_fd_limit(d, monkeypatch, 1024, 4096)
    held, failed = [], 0
    t0 = time.monotonic()
    try:
        for _ in range(n):
            try:
                s = tls_socket(d, "dept-LY-SCJGJ", timeout=5)
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                if not s.recv(4096).startswith(b"HTTP/1.1 200"):
                    raise OSError("no 200")
                held.append(s)
            except (OSError, ssl.SSLError):
                failed += 1
                if failed > 20:
                    break
        opened = time.monotonic() - t0
        fds = len(os.listdir("/proc/%d/fd" % d.pid))
        cpu0 = cpu_seconds(d.pid)
        time.sleep(5)
        cpu = cpu_seconds(d.pid) - cpu0
        t1 = time.monotonic()
        ok = healthz_ok(d)
        say("idle connections: %d of %d held (%d failed) in %.1f s; fd limit %s; esupd %d fds,"
            " RSS %d KiB, %.2f s CPU in 5 s idle; /healthz %s in %.3f s"
            % (len(held), n, failed, opened, open_files_limit(d.pid), fds, rss_kib(d.pid), cpu,
               "200" if ok else "FAILED", time.monotonic() - t1))
    finally:
        for s in held:
            with contextlib.suppress(OSError):
                s.close()
    if not d.running():
        say("esupd exited")
    socket.setdefaulttimeout(None)
