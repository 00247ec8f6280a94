"""contrib/esupd.service, checked offline (no systemd runs here as PID 1):

- `systemd-analyze verify` finds nothing to say about it, with the built esupd at the unit's
  /usr/sbin/esupd (a tmpfs over /usr/sbin in a mount namespace of its own);
- `systemd-analyze security --offline=true` rates it OK or better (exposure below 5.0; the
  unit is held to 2.0 so that a setting lost shows here);
- what esupd and the package rely on: Type=notify with a watchdog, the esup user, no
  capability, StateDirectory/RuntimeDirectory, Documentation= naming installed files.
The package test (contrib/pkgtest) boots it under a real systemd.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ESUPD

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "contrib" / "esupd.service"
BOUND = 2.0   # docs/operations.md "systemd" quotes the score


def analyze(*args, cwd):
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze missing: tests/run installs the systemd package")
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def settings():
    """[Service] and [Unit] key -> [values], in order."""
    found = {}
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def test_verify_is_silent(tmp_path):
    proc = subprocess.run(
        ["unshare", "-m", "sh", "-c",
         'mount -t tmpfs tmpfs /usr/sbin && cp "$0" /usr/sbin/esupd && '
         'exec systemd-analyze verify --man=no "$1"', str(ESUPD), str(UNIT)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout + proc.stderr == "", proc.stdout + proc.stderr


def test_verify_speaks_up_on_a_broken_unit(tmp_path):
    """The check above can fail: a misspelt key and a bad value are reported."""
    broken = tmp_path / "esupd.service"
    broken.write_text(UNIT.read_text().replace("ProtectSystem=strict", "ProtectSystem=strikt")
                      .replace("NoNewPrivileges=yes", "NoNewPrivilege=yes"))
    proc = subprocess.run(
        ["unshare", "-m", "sh", "-c",
         'mount -t tmpfs tmpfs /usr/sbin && cp "$0" /usr/sbin/esupd && '
         'exec systemd-analyze verify --man=no "$1"', str(ESUPD), str(broken)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert "NoNewPrivilege" in proc.stderr and "protect system" in proc.stderr, proc.stderr


def exposure(unit, cwd):
    proc = analyze("security", "--offline=true", "--no-pager", str(unit), cwd=cwd)
    m = re.search(r"Overall exposure level for [\w.@-]+: (\d+\.\d) (\w+)", proc.stdout)
    assert m, proc.stdout + proc.stderr
    return float(m.group(1)), m.group(2)


def test_security_ok_offline(tmp_path):
    score, verdict = exposure(UNIT, tmp_path)
    assert verdict in ("OK", "SAFE") and score < 5.0, (score, verdict)
    assert score <= BOUND, score
    proc = analyze("security", "--offline=true", "--threshold=%d" % int(BOUND * 10),
                   "--no-pager", str(UNIT), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr


def test_security_score_falls_without_the_sandbox(tmp_path):
    """The score measures the sandbox: the unit without its sandbox lines is EXPOSED."""
    bare = tmp_path / "esupd.service"
    lines = UNIT.read_text().split("\n# Sandbox")[0] + "\n[Install]\nWantedBy=multi-user.target\n"
    bare.write_text(lines)
    score, verdict = exposure(bare, tmp_path)
    assert score > 5.0 and verdict in ("EXPOSED", "UNSAFE", "MEDIUM"), (score, verdict)


def test_what_esupd_and_the_package_rely_on():
    s = settings()
    assert s["Type"] == ["notify"]
    assert s["WatchdogSec"] == ["30s"]
    assert s["User"] == ["esup"] and s["Group"] == ["esup"]   # the package's system user
    assert s["CapabilityBoundingSet"] == [""] and s["AmbientCapabilities"] == [""]
    assert s["StateDirectory"] == ["esup"] and s["RuntimeDirectory"] == ["esup"]
    assert int(s["LimitNOFILE"][0]) >= 65536
    assert s["ExecStart"] == ["/usr/sbin/esupd -f -c /etc/esup/esupd.conf"]
    assert s["ExecStartPre"] == ["/usr/sbin/esupd -n -c /etc/esup/esupd.conf"]
    docs = [d for line in s["Documentation"] for d in line.split()]
    assert sorted(docs) == ["file:///usr/share/doc/esup/operations.md", "man:esupd(8)"], docs
    assert (ROOT / "contrib" / "esupd.8").exists() and (ROOT / "docs" / "operations.md").exists()
    # clients come from anywhere: no IP allow list
    assert "IPAddressDeny" not in s and "IPAddressAllow" not in s
    # the default listen port needs no privilege: the unit grants none
    conf = (ROOT / "config" / "esupd.conf").read_text()
    port = int(re.search(r"^listen = [^\n]*:(\d+)$", conf, re.M).group(1))
    assert port >= 1024, port
