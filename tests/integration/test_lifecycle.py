"""Process life: configuration check (-n), SIGHUP reload, privilege drop when started as root."""

import os
import pwd
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import (ESUPD, REPO, SANITIZER_MARKS, as_daemon_user, event, sanitizer_env,
                      wait_for)

# A body the size check alone decides on: every line is rejected, so nothing is ever stored.
BIG_BODY = b"not json\n" * 800


def big_body_status(d):
    with d.client("dept-LY-SCJGJ") as c:
        return c.request("POST", "/v1/events", BIG_BODY, "application/x-ndjson").status


def config_line(path, key):
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if re.match(r"\s*%s\s*=" % re.escape(key), line):
            return n
    raise AssertionError("%s not in %s" % (key, path))


def test_sighup_keeps_connections_and_refuses_a_broken_config(daemon_factory, db):
    d = daemon_factory().start()
    keep = d.client("dept-LY-SCJGJ")
    assert keep.post_events([event()]).status == 200
    port = keep.local_port()
    assert big_body_status(d) == 200

    d.config["limits"].update(max_body_bytes="4096", max_line_bytes="1024")
    d.write()
    d.signal(signal.SIGHUP)
    wait_for(lambda: big_body_status(d) == 413, 10, "the reloaded body limit to apply")
    assert keep.local_port() == port
    r = keep.post_events([event()])
    assert r.status == 200 and keep.local_port() == port, "keep-alive connection lost on reload"

    d.config["limits"]["max_body_bytes"] = "banana"
    d.write()
    line = config_line(d.conf_path, "max_body_bytes")
    d.signal(signal.SIGHUP)
    wait_for(lambda: re.search(r"esupd\.conf:%d\b" % line, d.log_text()), 10,
             "the broken configuration to be reported as esupd.conf:%d" % line)
    assert d.running()
    assert big_body_status(d) == 413, "the old configuration must stay in force"
    r = keep.post_events([event()])
    assert r.status == 200 and keep.local_port() == port
    assert d.healthz().status == 200

    d.config["limits"]["max_body_bytes"] = "1048576"
    d.write()
    d.signal(signal.SIGHUP)
    wait_for(lambda: big_body_status(d) == 200, 10, "a fixed configuration to load again")
    keep.close()
    assert db.scalar("SELECT count(*) FROM events") == 3


def sample_config(d, tmp):
    """config/esupd.conf with this test's paths and addresses, every line where it was
    ([metrics] listen stays empty: on [server] listen's port, esupd -n refuses it)."""
    values = {k: v for section in d.config.values() for k, v in section.items()}
    out = []
    section = None
    for line in (REPO / "config" / "esupd.conf").read_text().splitlines():
        header = re.match(r"\[(.*)\]$", line)
        section = header.group(1) if header else section
        m = re.match(r"(\w+)\s*=", line)
        if m and m.group(1) in ("listen", "certificate", "private_key", "ca", "crl",
                                "conninfo", "owner_conninfo", "pidfile") and \
                (section, m.group(1)) != ("metrics", "listen"):
            line = "%s = %s" % (m.group(1), values[m.group(1)])
        out.append(line)
    path = tmp / "sample.conf"
    path.write_text("\n".join(out) + "\n")
    path.chmod(0o644)
    return path


def check_config(path):
    return subprocess.run([str(ESUPD), "-n", "-c", str(path)], capture_output=True, text=True,
                          timeout=60, env=sanitizer_env(), **as_daemon_user())


@pytest.mark.parametrize("key,bad", [
    ("max_json_depth", "max_json_depth = sixteen"),
    ("max_json_depth", "max_json_dpeth = 16"),
    ("max_body_bytes", "max_body_bytes = -1"),
    ("listen", "listen = 127.0.0.1:99999"),
    ("level", "level = loud"),
    ("retry_after_s", "retry_after_s = 2s"),
])
def test_config_check_names_file_and_line(daemon_factory, testdir, key, bad):
    d = daemon_factory()
    path = sample_config(d, testdir)
    good = check_config(path)
    assert good.returncode == 0, good.stdout + good.stderr

    line = config_line(path, key)
    lines = path.read_text().splitlines()
    lines[line - 1] = bad
    path.write_text("\n".join(lines) + "\n")
    proc = check_config(path)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "%s:%d:" % (path, line) in out, out
    assert not any(m in out for m in SANITIZER_MARKS), out


def test_root_drops_privileges(daemon_factory, testdir, certs, db):
    # A key only root can read: the daemon must load it before dropping privileges.
    key = testdir / "server.key"
    shutil.copy(certs.dir / "server.key", key)
    os.chown(key, 0, 0)
    key.chmod(0o600)
    d = daemon_factory(as_root=True, tls={"private_key": str(key)}).start()
    esup = pwd.getpwnam("esup")
    status = Path("/proc/%d/status" % d.pid).read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines())
    assert fields["Uid"].split() == [str(esup.pw_uid)] * 4, status
    assert fields["Gid"].split() == [str(esup.pw_gid)] * 4, status
    assert set(fields["Groups"].split()) <= {str(esup.pw_gid)}, status
    pidfile = testdir / "esupd.pid"
    wait_for(pidfile.exists, 5, "the pidfile")
    assert pidfile.read_text().strip() == str(d.pid)
    with d.client("dept-LY-SCJGJ") as c:
        assert c.post_events([event()]).status == 200
    assert db.scalar("SELECT count(*) FROM events") == 1


def test_root_without_user_is_refused(daemon_factory, testdir):
    d = daemon_factory(as_root=True, server={"user": ""})
    proc = subprocess.run([str(ESUPD), "-c", str(d.conf_path), "-f"], capture_output=True,
                          text=True, timeout=30, cwd=testdir, env=sanitizer_env(leaks=False))
    assert proc.returncode != 0, proc.stderr
    assert not any(m in proc.stderr for m in SANITIZER_MARKS), proc.stderr
    assert re.search(r"\buser\b|\broot\b", proc.stderr), proc.stderr
