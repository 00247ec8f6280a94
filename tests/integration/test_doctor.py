"""`esupctl doctor` (issue 13 item 5): the checks of `esupd -n`, then the database as esupd
reaches it — reachable, roles, schema version, principals, reference data. A good setup
passes; a never-migrated database, a missing role, an empty calendar each FAIL by name."""

import re
import shutil
import subprocess

from conftest import (BUILD, CALENDAR, DAEMON_USER, SANITIZER_MARKS, Database, dbsetup, default_config,
                      free_port, offset_to, sanitizer_env, write_config)

ESUPCTL = BUILD / "contrib" / "esupctl"
LINE = re.compile(r"^(ok|warn|FAIL) ([^:]+): (.*)$")


def doctor_config(db, certs, testdir, name="esupd.conf", day="2026-03-02T10:00:00+08:00"):
    """The tests' daemon configuration, dropping to the esup user, on a business day the
    sample calendar (2024-2026) covers with 60 days to spare."""
    config = default_config(db, certs, testdir, free_port())
    config["server"]["user"] = DAEMON_USER
    config["testing"] = {"clock_offset_s": offset_to(day)}
    crl = testdir / "crl.pem"
    if not crl.exists():
        shutil.copy(certs.crl, crl)
        crl.chmod(0o644)
    path = testdir / name
    write_config(path, config)
    return path


def doctor(path):
    """Runs esupctl doctor as root (as an operator would, with sudo); returns (status,
    {name: (level, detail)}, output)."""
    proc = subprocess.run([str(ESUPCTL), "doctor", "-c", str(path)], capture_output=True,
                          text=True, timeout=120, env=sanitizer_env(leaks=False))
    out = proc.stdout + proc.stderr
    assert not any(m in out for m in SANITIZER_MARKS), out
    checks = {}
    for line in proc.stdout.splitlines():
        m = LINE.match(line)
        if m:
            checks[m.group(2)] = (m.group(1), m.group(3))
    assert re.search(r"^doctor: \d+ ok, \d+ warnings, \d+ failed$", proc.stdout, re.M), out
    return proc.returncode, checks, out


def test_good_setup_passes(refdb, certs, testdir):
    code, checks, out = doctor(doctor_config(refdb, certs, testdir))
    assert code == 0, out
    assert not [n for n, (level, _) in checks.items() if level == "FAIL"], out
    for name in ("server.user", "tls.certificate", "tls.private_key", "tls.ca", "tls.crl",
                 "database.conninfo", "database", "schema", "role esupd", "role esup_owner",
                 "principals", "calendar", "items", "fee items", "regions"):
        assert checks.get(name, ("missing",))[0] == "ok", name + "\n" + out
    assert "as esupd" in checks["database"][1], out   # connected as the daemon's role


def test_never_migrated_database_fails_schema(pg, certs, testdir):
    name = "esup_doctor_never_migrated"
    dbsetup(pg, "init", dbname=name)
    code, checks, out = doctor(doctor_config(Database(pg, name), certs, testdir))
    assert code == 1, out
    level, detail = checks["schema"]
    assert level == "FAIL" and "version 0" in detail and "run esupd --migrate" in detail, out
    assert checks["database"][0] == "ok", out


def test_missing_role_fails_by_name(refdb, certs, testdir, pg):
    path = doctor_config(refdb, certs, testdir)
    with pg.connect() as conn:
        conn.execute("ALTER ROLE esup_auditor RENAME TO esup_auditor_away")
    try:
        code, checks, out = doctor(path)
    finally:
        with pg.connect() as conn:
            conn.execute("ALTER ROLE esup_auditor_away RENAME TO esup_auditor")
    assert code == 1, out
    assert checks["role esup_auditor"][0] == "FAIL" and "missing" in checks["role esup_auditor"][1], out
    assert checks["role esupd"][0] == "ok", out


def test_empty_calendar_fails_by_name(refdb, certs, testdir):
    path = doctor_config(refdb, certs, testdir)
    refdb.query("DELETE FROM calendar")
    code, checks, out = doctor(path)
    assert code == 1, out
    level, detail = checks["calendar"]
    assert level == "FAIL" and "2026" in detail and "esup-dbsetup load calendar" in detail, out
    assert checks["items"][0] == "ok", out


def test_calendar_that_ends_too_soon(refdb, certs, testdir):
    """The sample calendar stops in 2026: 60 days after 2026-12-01 reaches 2027."""
    path = doctor_config(refdb, certs, testdir, day="2026-12-01T10:00:00+08:00")
    code, checks, out = doctor(path)
    assert code == 1 and checks["calendar"][0] == "FAIL" and "2027" in checks["calendar"][1], out


def test_configuration_mistakes_are_the_checks_of_esupd_n(refdb, certs, testdir):
    """The same check code as esupd -n: an empty user as root and a DNS host name FAIL with
    their file:line."""
    path = doctor_config(refdb, certs, testdir)
    text = path.read_text()
    text = text.replace("user = esup\n", "user = \n")
    text = re.sub(r"conninfo = host=\S+", "conninfo = host=db.example.org", text, count=1)
    path.write_text(text)
    code, checks, out = doctor(path)
    assert code == 1, out
    assert checks["server.user"][0] == "FAIL" and re.match(r"%s:\d+: empty while running as root"
                                                           % re.escape(str(path)),
                                                           checks["server.user"][1]), out
    assert checks["database.conninfo"][0] == "FAIL" and "DNS host name" in \
        checks["database.conninfo"][1], out
    assert checks["database"][0] == "FAIL", out   # it cannot resolve it either


def test_no_principals_and_departments_without_region(db, certs, testdir):
    """A database with neither reference data nor principals enabled."""
    db.load("calendar", CALENDAR)
    db.query("UPDATE principals SET enabled = false")
    code, checks, out = doctor(doctor_config(db, certs, testdir))
    assert code == 1, out
    assert checks["principals"][0] == "FAIL", out
    assert checks["items"][0] == "FAIL" and "empty" in checks["items"][1], out
    assert checks["fee items"][0] == "warn", out
    assert checks["regions"][0] == "FAIL" and "LY-SCJGJ" in checks["regions"][1], out
