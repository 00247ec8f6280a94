"""`esupctl doctor` (issue 13 item 5): the checks of `esupd -n`, then the database as esupd
reaches it — reachable, roles, schema version, principals, reference data. A good setup
passes; a never-migrated database, a missing role, an empty calendar each FAIL by name; a
buffer pool smaller than the indexes ingest writes is a warning."""

import re
import shutil
import subprocess

import psycopg

from conftest import (BUILD, CALENDAR, DAEMON_USER, SANITIZER_MARKS, Database, PgCluster,
                      _fresh_database, chown_daemon, dbsetup, default_config, free_port,
                      offset_to, sanitizer_env, write_config)

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
                 "principals", "calendar", "items", "fee items", "regions", "buffer pool"):
        assert checks.get(name, ("missing",))[0] == "ok", name + "\n" + out
    assert "as esupd" in checks["database"][1], out   # connected as the daemon's role
    assert checks["login role"] == ("ok", "esupd: a member of esup_writer only, no superuser "
                                    "or other role attribute, owns no table"), out


def test_superuser_login_fails_by_name(refdb, certs, testdir):
    """The six roles are fine, but [database] conninfo logs in as postgres: the role esupd
    would use is judged, not only the roles by name."""
    path = doctor_config(refdb, certs, testdir)
    path.write_text(path.read_text().replace("user=esupd", "user=postgres"))
    code, checks, out = doctor(path)
    assert code == 1, out
    assert checks["database"][0] == "ok" and checks["role esupd"][0] == "ok", out
    level, detail = checks["login role"]
    assert level == "FAIL", out
    assert detail.startswith("[database] conninfo logs in as postgres: a superuser, bypasses "
                             "row security, may create roles, may create databases, may "
                             "replicate, owns "), out
    assert "esupd should log in as its own role" in detail and "esup_writer only" in detail, out


def test_owner_member_login_fails_by_name(refdb, certs, testdir):
    """The admin's role (a member of esup_owner, NOINHERIT) as the daemon's conninfo: no
    attribute, but it may act as the owner of every table."""
    path = doctor_config(refdb, certs, testdir)
    path.write_text(path.read_text().replace("conninfo = " + refdb.conninfo("esupd"),
                                             "conninfo = " + refdb.conninfo("esup_admin")))
    code, checks, out = doctor(path)
    assert code == 1, out
    level, detail = checks["login role"]
    assert level == "FAIL" and "logs in as esup_admin: owns " in detail, out
    assert "a member of esup_owner" in detail and "not a member of esup_writer" in detail, out


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


def test_buffer_pool_smaller_than_the_ingest_indexes_warns(workdir, certs, testdir):
    """A cluster of its own with a 1 MB buffer pool: ok while the indexes of cases, event_ids
    and the month's events are smaller, a warning naming both sizes once cases' grow past it
    (docs/operations.md, "Sizing PostgreSQL"); a warning alone leaves the status 0."""
    base = workdir / "small-pool"
    base.mkdir(mode=0o755)
    chown_daemon(base)
    cluster = PgCluster(base)
    cluster.init()
    with open(cluster.data / "postgresql.conf", "a") as f:
        f.write("shared_buffers = 1MB\n")
    cluster.start()
    try:
        dbsetup(cluster, "roles")
        db = _fresh_database(cluster, certs, base, "esup")
        db.load_samples()
        path = doctor_config(db, certs, testdir)
        code, checks, out = doctor(path)
        assert code == 0 and checks["buffer pool"][0] == "ok", out
        assert checks["buffer pool"][1].endswith(" of 1024 kB"), out
        with psycopg.connect(db.conninfo("esup_admin"), autocommit=True) as conn:
            conn.execute("SET ROLE esup_owner")
            conn.execute("INSERT INTO cases (dept, case_no, next_check_at) SELECT 'LY-SCJGJ',"
                         " 'POOL-' || g, now() + interval '30 days'"
                         " FROM generate_series(1, 20000) g")
        code, checks, out = doctor(path)
        assert code == 0, out
        level, detail = checks["buffer pool"]
        assert level == "warn" and "against shared_buffers 1024 kB" in detail \
            and "Sizing PostgreSQL" in detail, out
    finally:
        cluster.stop("immediate")
