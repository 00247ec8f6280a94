"""Logging targets ([log] target, daemon/log.h) and systemd's watchdog.

- stderr that is not a terminal (a pipe, a file): every line is `<N>esupd LEVEL: message`, the
  sd-daemon priority prefix and no timestamp of esupd's own;
- $JOURNAL_STREAM naming another file than stderr: still stderr;
- $JOURNAL_STREAM naming stderr (auto) or `target = journal`: native journal entries, read
  from a datagram socket this test binds where libsystemd sends them
  (/run/systemd/journal/socket, in a mount namespace of esupd's own), with PRIORITY,
  SYSLOG_IDENTIFIER and the ESUP_* fields on alert lines; without libsystemd `journal` is
  refused at configuration load;
- a caseless fee alert's line names its subject (the event it is about);
- the watchdog: with $WATCHDOG_USEC and $WATCHDOG_PID, READY=1 and then WATCHDOG=1 again and
  again on $NOTIFY_SOCKET.
"""

import json
import os
import re
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import (ESUPD, Daemon, as_daemon_user, event, offset_to, sanitizer_env,
                      wait_for)

NOW = "2026-03-10T12:00:00+08:00"
USCC = "91410311MA47R2TD0Y"
DAEMON = {"testing": {"clock_offset_s": offset_to(NOW)}, "rules": {"disable": "APR-LATE-REPORT"}}
LINE = re.compile(r"<([0-7])>esupd (error|warning|info|debug): \S")
PRIORITY = {"error": "3", "warning": "4", "info": "6", "debug": "7"}
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d esupd")
SANITIZER = ("==ERROR", "runtime error:", "LeakSanitizer", "    #")


def with_libsystemd():
    out = subprocess.run(["ldd", str(ESUPD)], capture_output=True, text=True).stdout
    return "libsystemd" in out


def esupd_lines(text):
    return [ln for ln in text.splitlines() if ln and not ln.startswith(SANITIZER)]


def start_with(d, prefix=(), env=None, as_root=False, wait=True):
    """Starts d's esupd as Daemon.start does, behind a wrapper command and with more
    environment; the run is d's like any other (stopped and checked at teardown)."""
    assert not d.running()
    log = d.dir / ("esupd-%d.log" % (len(d.runs) + 1))
    environment = sanitizer_env(leaks=not as_root)
    environment.update(env or {})
    with open(log, "ab") as out:
        proc = subprocess.Popen(list(prefix) + [str(ESUPD), "-c", str(d.conf_path), "-f"],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=out, cwd=d.dir,
                                env=environment, **({} if as_root else as_daemon_user()))
    d.runs.append([proc, log, None])
    if wait:
        d.wait_healthy()
    return proc


def fee(dept, item):
    """A filed fee on an item abolished before the fee: one caseless FEE-ITEM-ABOLISHED."""
    return event(dept=dept, type="fee.collected", at="2026-03-03T10:00:00+08:00", case=None,
                 fee_item=item, amount="100.00", reviewer="P0456",
                 payer={"uscc": USCC, "name": "洛阳龙门建设工程有限公司"},
                 filing={"office": "jianfuban", "ref": "JFB-100"})


def post(d, dept, events):
    with d.client("dept-" + dept) as c:
        r = c.post_events_committed(events)
    assert r.status == 200, r.body
    assert [x["status"] for x in r.json()["results"]] == ["accepted"] * len(events), r.body


class Datagrams:
    """A unix datagram socket at path, read by a thread; parse turns one datagram into what
    the test compares."""

    def __init__(self, path, parse):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        os.chmod(path, 0o777)   # esupd writes to it as the daemon user
        self.sock.settimeout(0.2)
        self.parse = parse
        self.got = []
        self.lock = threading.Lock()
        self.done = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.done:
            try:
                data = self.sock.recv(1 << 20)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.got.append(self.parse(data))

    def items(self):
        with self.lock:
            return list(self.got)

    def close(self):
        self.done = True
        self.thread.join(5)
        self.sock.close()


def journal_fields(data):
    """One entry of the journal's native protocol: KEY=VALUE lines, or KEY, a little-endian
    64-bit length and the value for values with newlines."""
    fields, i = {}, 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            key, value = line.split(b"=", 1)
            i = nl + 1
        else:
            key = line
            (n,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            value = data[nl + 9:nl + 9 + n]
            i = nl + 9 + n + 1
        fields[key.decode()] = value.decode("utf-8", "replace")
    return fields


def test_stderr_not_a_terminal_gets_priority_prefixes(esupd):
    """A file for stderr, as under a supervisor or a pipe: `<N>` prefixes, no timestamp."""
    wait_for(lambda: "started" in esupd.log_text(), 10, "the start line")
    esupd.stop()
    lines = esupd_lines(esupd.log_text())
    assert lines, "esupd logged nothing"
    for line in lines:
        m = LINE.match(line)
        assert m, "not an sd-daemon line: %r" % line
        assert m.group(1) == PRIORITY[m.group(2)], line
        assert not TIMESTAMP.search(line), line
    assert any(ln.startswith("<6>esupd info: esupd ") and "started" in ln for ln in lines), lines


def test_journal_stream_of_another_file_is_not_the_journal(daemon_factory, monkeypatch):
    """$JOURNAL_STREAM inherited from a parent whose stderr was the journal: esupd's stderr
    is a file, so lines go there, prefixed."""
    d = daemon_factory()
    other = os.stat(d.conf_path)
    monkeypatch.setenv("JOURNAL_STREAM", "%d:%d" % (other.st_dev, other.st_ino))
    d.start()
    wait_for(lambda: "started" in d.log_text(), 10, "the start line")
    lines = esupd_lines(d.log_text())
    assert lines and all(LINE.match(ln) for ln in lines), lines


def test_caseless_fee_alert_names_its_subject(refdb, daemon_factory):
    """A fee without a case: the line names the event the alert is about, not `LY-ZJJ/:`."""
    d = daemon_factory(**DAEMON).start()
    ev = fee("LY-ZJJ", "ZJ-009")
    post(d, "LY-ZJJ", [ev])
    line = re.compile(r"alert raised: #(\d+) red FEE-ITEM-ABOLISHED ([^\n]*)")
    m = wait_for(lambda: line.search(d.log_text()), 10, "the alert's line")
    assert m.group(2).startswith("LY-ZJJ event %s: " % ev["id"]), m.group(0)
    assert "LY-ZJJ/:" not in d.log_text()
    alert = int(m.group(1))
    key = refdb.scalar("SELECT dedup_key FROM alerts WHERE id = %s", (alert,))
    assert key.endswith("|" + ev["id"]), key
    # worked through the API: the line names it too
    with d.client("dept-LY-ZJJ") as c:
        r = c.request("POST", "/v1/alerts/%d/ack" % alert,
                      json.dumps({"note": "收到"}).encode(), "application/json")
    assert r.status == 200, r.body
    acked = "alert %d: ack (now acknowledged): FEE-ITEM-ABOLISHED LY-ZJJ event %s" % (
        alert, ev["id"])
    wait_for(lambda: acked in d.log_text(), 10, "the ack's line")


def test_case_alert_names_its_case(refdb, daemon_factory):
    """An alert with a case keeps `DEPT/CASE`."""
    d = daemon_factory(**DAEMON).start()
    case = "LY-ZJJ-2026-700001"
    post(d, "LY-ZJJ", [
        event(dept="LY-ZJJ", case=case, item="ZJ-004", at="2026-03-09T09:30:00+08:00"),
        event(dept="LY-ZJJ", case=case, type="approval.decided", result="denied",
              at="2026-03-09T16:00:00+08:00")])
    line = re.compile(r"alert raised: #\d+ \w+ [A-Z-]+ LY-ZJJ/%s: " % case)
    wait_for(lambda: line.search(d.log_text()), 10, "the case alert's line")


def test_journal_without_libsystemd_is_refused(db, certs, testdir):
    """`target = journal` loads only into an esupd built with libsystemd; an unknown target
    never does."""
    d = Daemon(db, certs, testdir, log={"target": "journal"})
    proc = subprocess.run([str(ESUPD), "-n", "-c", str(d.conf_path)], capture_output=True,
                          text=True, timeout=60, env=sanitizer_env(), **as_daemon_user())
    if with_libsystemd():
        assert proc.returncode == 0, proc.stderr
    else:
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert re.search(r"esupd\.conf:\d+: target: this esupd is built without libsystemd",
                         proc.stderr), proc.stderr
    d.config["log"]["target"] = "console"
    d.write()
    proc = subprocess.run([str(ESUPD), "-n", "-c", str(d.conf_path)], capture_output=True,
                          text=True, timeout=60, env=sanitizer_env(), **as_daemon_user())
    assert proc.returncode == 1
    assert re.search(r'esupd\.conf:\d+: target: expected auto, journal, stderr or syslog, got '
                     r'"console"', proc.stderr), proc.stderr


@pytest.mark.parametrize("how", ["auto", "journal"])
def test_journal_entries_with_alert_fields(refdb, daemon_factory, how):
    """esupd in a mount namespace whose /run/systemd is this test's directory: its journal
    entries arrive on the test's socket. auto: $JOURNAL_STREAM names esupd's stderr."""
    if not with_libsystemd():
        pytest.skip("esupd built without libsystemd: test_journal_without_libsystemd_is_refused")
    d = daemon_factory(as_root=True, log={"target": how}, **DAEMON)
    root = d.dir / ("run-systemd-" + how)
    (root / "journal").mkdir(parents=True)
    root.chmod(0o755)
    (root / "journal").chmod(0o755)
    journal = Datagrams(root / "journal" / "socket", journal_fields)
    try:
        env = {}
        if how == "auto":
            log = d.dir / ("esupd-%d.log" % (len(d.runs) + 1))
            log.touch()
            st = os.stat(log)
            env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
        start_with(d, ["unshare", "-m", "sh", "-c",
                       'mount --bind "$0" /run/systemd && exec "$@"', str(root)],
                   env=env, as_root=True)

        def started():
            return [e for e in journal.items() if "started" in e.get("MESSAGE", "")]
        entry = wait_for(started, 10, "the start line in the journal")[0]
        assert entry["PRIORITY"] == "6" and entry["SYSLOG_IDENTIFIER"] == "esupd", entry
        assert not TIMESTAMP.search(entry["MESSAGE"]), entry

        ev = fee("LY-ZJJ", "ZJ-009")
        post(d, "LY-ZJJ", [ev])

        def alert():
            return [e for e in journal.items() if e.get("ESUP_RULE") == "FEE-ITEM-ABOLISHED"]
        entry = wait_for(alert, 10, "the alert's journal entry")[0]
        assert entry["ESUP_DEPARTMENT"] == "LY-ZJJ", entry
        assert entry["ESUP_SUBJECT"] == "event %s" % ev["id"], entry
        assert "ESUP_CASE" not in entry, entry   # a caseless alert
        assert entry["MESSAGE"].startswith("alert raised: #%s red " % entry["ESUP_ALERT_ID"])
        assert entry["PRIORITY"] == "6", entry
        assert all(e["PRIORITY"] in ("3", "4", "6", "7") for e in journal.items())
        # nothing of esupd's own went to stderr
        assert not [ln for ln in esupd_lines(d.log_text()) if LINE.match(ln)], d.log_text()
    finally:
        d.stop()
        journal.close()


def test_watchdog_keepalives_from_the_loop(daemon_factory):
    """systemd's watchdog as it starts a Type=notify unit with WatchdogSec=2s: READY=1 once
    ready, then WATCHDOG=1 every second."""
    if not with_libsystemd():
        pytest.skip("esupd built without libsystemd has no sd_notify")
    d = daemon_factory()
    path = d.dir / "notify.sock"
    notify = Datagrams(path, lambda data: (time.monotonic(), data.decode()))
    try:
        start_with(d, ["sh", "-c", 'export WATCHDOG_PID=$$; exec "$@"', "sh"],
                   env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "2000000"})

        def states(name):
            return [t for t, msg in notify.items() if name in msg.split("\n")]
        wait_for(lambda: states("READY=1"), 20, "READY=1")
        wait_for(lambda: len(states("WATCHDOG=1")) >= 4, 10, "four WATCHDOG=1")
        assert "systemd watchdog: WATCHDOG=1 every 1000 ms" in d.log_text()
        # one at start, then one a second from the timer: not a burst
        times = states("WATCHDOG=1")[:4]
        gaps = [b - a for a, b in zip(times[1:], times[2:])]
        assert all(0.5 < g < 2.0 for g in gaps), gaps
        # a stopped process sends nothing (what systemd's WatchdogSec then kills)
        d.signal(19)   # SIGSTOP
        time.sleep(0.2)
        before = len(states("WATCHDOG=1"))
        time.sleep(2.5)
        assert len(states("WATCHDOG=1")) == before
        d.signal(18)   # SIGCONT
        wait_for(lambda: len(states("WATCHDOG=1")) > before, 5, "keep-alives again")
    finally:
        d.stop()
        notify.close()


def test_no_watchdog_for_another_pid(daemon_factory):
    """$WATCHDOG_PID of another process (a parent's watchdog): esupd sends no WATCHDOG=1."""
    if not with_libsystemd():
        pytest.skip("esupd built without libsystemd has no sd_notify")
    d = daemon_factory()
    path = d.dir / "notify.sock"
    notify = Datagrams(path, lambda data: data.decode())
    try:
        start_with(d, env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "2000000",
                           "WATCHDOG_PID": "1"})
        wait_for(lambda: any("READY=1" in m for m in notify.items()), 20, "READY=1")
        time.sleep(1.5)
        assert not any("WATCHDOG=1" in m for m in notify.items()), notify.items()
        assert "systemd watchdog" not in d.log_text()
    finally:
        d.stop()
        notify.close()
