"""Fixtures of the integration tests: a real PostgreSQL cluster, real certificates, a real esupd.

One cluster and one set of certificates per session; per test a fresh database (migrated by
`esupd --migrate`, principals registered) and esupd processes started as the unprivileged
`esup` user, each stopped with SIGTERM at teardown, which must exit 0 with a sanitizer-clean
stderr. ESUP_BUILD names the meson build directory (default: build). ESUP_KEEP=1 keeps the
temporary directory (logs, configs, cluster) for a post-mortem.
"""

import contextlib
import csv
import grp
import itertools
import json
import math
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from esupclient import Client, curl

REPO = Path(__file__).resolve().parents[2]
BUILD = (REPO / os.environ.get("ESUP_BUILD", "build")).resolve()
ESUPD = BUILD / "daemon" / "esupd"
DEVCERTS = REPO / "contrib" / "devcerts"
DBSETUP = REPO / "contrib" / "esup-dbsetup"
SAMPLES = REPO / "config" / "samples"
CALENDAR = REPO / "config" / "calendar.csv"
ITEMS = SAMPLES / "items.csv"
# The supervision reference tables, each loaded from config/samples/<table>.csv.
SUPERVISION_TABLES = ("fee_items", "penalty_tiers", "filing_offices", "officers",
                      "enterprises", "regions", "hearing_thresholds")
PGBIN = Path("/usr/lib/postgresql/15/bin")
DAEMON_USER = "esup"
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")
DEPTS = ["LY-SCJGJ", "LY-ZJJ", "LY-HBJ", "LY-ZRZYJ", "LY-GGZY"]
REGION = "410300"

# name, role, dept: the principals every test database knows. "unknown" is deliberately
# absent; "revoked" and "late" are registered so that only the CRL can refuse them, and
# "stranger" (other CA) so that only the CA check can.
PRINCIPALS = [("dept-" + d, "department", d) for d in DEPTS] + [
    ("supervisor", "supervisor", None),
    ("auditor", "auditor", None),
    ("revoked", "department", "LY-SCJGJ"),
    ("late", "department", "LY-SCJGJ"),
    ("stranger", "department", "LY-SCJGJ"),
    # A tax bureau that is no department of the sample feed: config/samples/hearing_thresholds.csv
    # gives it its own hearing standard (golden case pen-no-hearing-dept, test_hearing_thresholds).
    ("dept-LY-SWJ", "department", "LY-SWJ"),
]

_counter = itertools.count(1)


# Ports for daemons come from a range of their own per pytest-xdist worker (gw0, gw1, …; the
# whole range when run without xdist), below Linux's ephemeral range (32768-60999): two workers
# never pick the same port, and no client socket is given one of them meanwhile.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_PORTS = itertools.count(20000 + 1500 * (int(_WORKER[2:]) + 1 if _WORKER.startswith("gw") else 0))


def free_port():
    """A TCP port on 127.0.0.1 nothing listens on, not handed out before in this process."""
    for port in _PORTS:
        if port >= 32768:
            break
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port left below 32768")


def wait_for(predicate, timeout, what, interval=0.05):
    """Polls predicate until it returns a true value; fails the test after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def offset_to(instant):
    """[testing] clock_offset_s that makes the business clock read `instant` (ISO 8601, whole
    seconds) now, and never earlier: esupd adds it to time(NULL), which is at least the
    whole second of this call, so the offset is rounded up (rounded to nearest, a call in the
    second half of a second made the clock read a second early until the next second)."""
    return str(math.ceil(datetime.fromisoformat(instant).timestamp() - time.time()))


def sanitizer_env(leaks=True):
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    if not leaks:
        opts = [o for o in env["ASAN_OPTIONS"].split(":") if o and not o.startswith("detect_leaks=")]
        env["ASAN_OPTIONS"] = ":".join(opts + ["detect_leaks=0"])
    return env


def as_daemon_user():
    return {"user": DAEMON_USER, "group": DAEMON_USER, "extra_groups": []}


def chown_daemon(path):
    os.chown(path, pwd.getpwnam(DAEMON_USER).pw_uid, grp.getgrnam(DAEMON_USER).gr_gid)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the item so fixtures can tell a failed test at teardown."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


# ---------------------------------------------------------------- session: directory, cluster


@pytest.fixture(scope="session")
def workdir():
    if not ESUPD.exists():
        pytest.exit("no %s: build first (meson setup %s && ninja -C %s)" % (ESUPD, BUILD, BUILD), 2)
    try:
        pwd.getpwnam(DAEMON_USER)
    except KeyError:
        pytest.exit("the system user %r is missing (tests/run creates it)" % DAEMON_USER, 2)
    d = Path(tempfile.mkdtemp(prefix="esup-it-", dir="/tmp"))
    d.chmod(0o755)
    yield d
    if os.environ.get("ESUP_KEEP") == "1":
        print("\nkept", d)
    else:
        shutil.rmtree(d, ignore_errors=True)


class PgCluster:
    """A throwaway PostgreSQL 15 cluster reachable only through a Unix socket in its dir."""

    def __init__(self, base):
        self.dir = base / "pg"
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.port = free_port()
        self.running = False

    def _pg(self, *args):
        cmd = ["runuser", "-u", "postgres", "--", *map(str, args)]
        # Longer than pg_ctl's own -t 300: pg_ctl must give up first and say why; killing it
        # earlier left a cluster still starting up under the next test.
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=330)
        if proc.returncode != 0:
            raise RuntimeError("%s failed: %s%s" % (" ".join(cmd), proc.stdout, proc.stderr))

    def init(self):
        self.dir.mkdir(mode=0o755)
        shutil.chown(self.dir, "postgres", "postgres")
        self._pg(PGBIN / "initdb", "-D", self.data, "-A", "trust", "-U", "postgres",
                 "-E", "UTF8", "--no-locale", "-N")
        with open(self.data / "postgresql.conf", "a") as f:
            f.write("listen_addresses = ''\nunix_socket_directories = '%s'\nport = %d\n"
                    % (self.dir, self.port))
            # The integration clusters live as long as a test run, and no test survives the
            # machine's crash: fsync only slows every COMMIT and CREATE DATABASE ... TEMPLATE
            # down. A PostgreSQL crash (kill -9, pg_ctl stop -m immediate) loses nothing without
            # it, as the OS keeps the written pages. The fault suites keep it on
            # (ESUP_TEST_PG_FSYNC=on in tests/fault/conftest.py): durability is their subject.
            if os.environ.get("ESUP_TEST_PG_FSYNC", "off") != "on":
                f.write("fsync = off\nfull_page_writes = off\n")
            # Benchmarks' diagnostics (contrib/bench: ESUP_BENCH_STATEMENTS) add their own
            # lines, e.g. shared_preload_libraries = 'pg_stat_statements'.
            if os.environ.get("ESUP_TEST_PG_CONF"):
                f.write(os.environ["ESUP_TEST_PG_CONF"] + "\n")

    def start(self):
        self._pg(PGBIN / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "300", "start")
        self.running = True

    def stop(self, mode="fast"):
        self._pg(PGBIN / "pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "300", "stop")
        self.running = False

    def conninfo(self, dbname, user):
        return "host=%s port=%d dbname=%s user=%s" % (self.dir, self.port, dbname, user)

    def connect(self, dbname="postgres", user="postgres"):
        return psycopg.connect(self.conninfo(dbname, user), autocommit=True)


def dbsetup(pg, *args, dbname="postgres"):
    """Runs contrib/esup-dbsetup against the cluster, as operators do; returns its stdout."""
    proc = subprocess.run([str(DBSETUP), "-h", str(pg.dir), "-p", str(pg.port), "-d", dbname,
                           *map(str, args)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, "esup-dbsetup %s:\n%s%s" % (
        " ".join(map(str, args)), proc.stdout, proc.stderr)
    return proc.stdout


@pytest.fixture(scope="session")
def pg(workdir, request):
    cluster = PgCluster(workdir)
    cluster.init()

    def stop():
        if cluster.running:
            cluster.stop("immediate")
    request.addfinalizer(stop)
    cluster.start()
    # The admin step, as the superuser: esup_owner (NOLOGIN), esup_admin (migrations and
    # reference data, a member of esup_owner), esupd (a member of esup_writer), group roles.
    dbsetup(cluster, "roles")
    return cluster


# ---------------------------------------------------------------- session: certificates


class Certs:
    def __init__(self, base):
        self.dir = base / "certs"
        self.other = base / "certs-other"
        self.ca = self.dir / "ca.crt"
        self.crl = self.dir / "crl-revoked.pem"        # "revoked" revoked
        self.crl_late = self.dir / "crl-late.pem"      # "revoked" and "late" revoked
        self.fingerprints = {}

    def pair(self, name):
        d = self.other if name == "stranger" else self.dir
        return d / (name + ".crt"), d / (name + ".key")

    def devcerts(self, directory, *args):
        out = subprocess.run([str(DEVCERTS), str(directory), *args], check=True,
                             capture_output=True, text=True, timeout=120).stdout
        return out

    def create(self):
        names = [p[0] for p in PRINCIPALS if p[0] != "stranger"] + ["unknown"]
        self.devcerts(self.dir, *names)
        self.devcerts(self.other, "stranger")
        self.devcerts(self.dir, "--revoke", "revoked")
        shutil.copy(self.dir / "crl.pem", self.crl)
        self.devcerts(self.dir, "--revoke", "late")
        shutil.copy(self.dir / "crl.pem", self.crl_late)
        for d, group in ((self.dir, names), (self.other, ["stranger"])):
            for line in self.devcerts(d, "--fingerprint", *group).splitlines():
                name, fp = line.split()
                self.fingerprints[name] = fp
        # Test beds only: the daemon runs as another user and must read every key.
        for d in (self.dir, self.other):
            d.chmod(0o755)
            for f in d.iterdir():
                if f.is_file():
                    f.chmod(0o644)


@pytest.fixture(scope="session")
def certs(workdir):
    c = Certs(workdir)
    c.create()
    return c


# ---------------------------------------------------------------- per test: directory, database


@pytest.fixture
def testdir(workdir, request):
    d = workdir / ("t%03d-%s" % (next(_counter), request.node.name[:40].replace("/", "_")))
    d.mkdir(mode=0o755)
    chown_daemon(d)   # the daemon may write its pidfile here
    return d


class Database:
    def __init__(self, pg, name):
        self.pg = pg
        self.name = name

    def conninfo(self, user):
        return self.pg.conninfo(self.name, user)

    def query(self, sql, params=None, user="postgres"):
        """A fresh connection each time: tests stop and restart the cluster."""
        with psycopg.connect(self.conninfo(user), autocommit=True) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else None

    def scalar(self, sql, params=None):
        return self.query(sql, params)[0][0]

    def load(self, table, path):
        """Replaces a reference table from a CSV file, the way operators do (esup-dbsetup)."""
        return dbsetup(self.pg, "load", table, path, dbname=self.name)

    def load_samples(self):
        """The calendar and all the sample reference data (config/), as run-golden reads them."""
        self.load("calendar", CALENDAR)
        self.load("items", ITEMS)
        for table in SUPERVISION_TABLES:
            self.load(table, SAMPLES / (table + ".csv"))
        return self

    def event_counts(self, dept=None):
        """event_id -> number of rows in events (a duplicate stored twice shows as 2)."""
        sql = "SELECT event_id, count(*) FROM events"
        rows = self.query(sql + (" WHERE dept = %s" if dept else "") + " GROUP BY event_id",
                          (dept,) if dept else None)
        return dict(rows)


def register(db, certs):
    with open(SAMPLES / "departments.csv", newline="", encoding="utf-8") as f:
        depts = [(r["code"], r["name"], r["region"]) for r in csv.DictReader(f)]
    with psycopg.connect(db.conninfo("esup_admin"), autocommit=True) as conn:
        conn.execute("SET ROLE esup_owner")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO departments (code, name, region) VALUES (%s, %s, %s)",
                            depts)
            cur.executemany(
                "INSERT INTO principals (fingerprint, subject, role, dept, region)"
                " VALUES (%s, %s, %s, %s, %s)",
                [(certs.fingerprints[n], "CN=" + n, role, dept, REGION)
                 for n, role, dept in PRINCIPALS])


def add_principal(db, certs, name, role, dept=None, region=REGION):
    """One more principal, with a certificate of its own from the session's CA (made on first
    use): e.g. a supervisor of another region. Returns (certificate, key). esupd reloads its
    principals on the NOTIFY the insert sends."""
    crt, key = certs.pair(name)
    if name not in certs.fingerprints:
        certs.devcerts(certs.dir, name)
        certs.fingerprints[name] = certs.devcerts(certs.dir, "--fingerprint", name).split()[1]
        for f in (crt, key):
            f.chmod(0o644)
    with psycopg.connect(db.conninfo("esup_admin"), autocommit=True) as conn:
        conn.execute("SET ROLE esup_owner")
        conn.execute("INSERT INTO principals (fingerprint, subject, role, dept, region)"
                     " VALUES (%s, %s, %s, %s, %s)",
                     (certs.fingerprints[name], "CN=" + name, role, dept, region))
    return crt, key



def _fresh_database(pg, certs, where, name):
    """A database made as operators make one: esup-dbsetup init, `esupd --migrate` as the daemon
    user (under the sanitizers in their pass), the session's principals registered."""
    dbsetup(pg, "init", dbname=name)
    database = Database(pg, name)
    conf = where / "migrate.conf"
    write_config(conf, default_config(database, certs, where, free_port()))
    proc = subprocess.run([str(ESUPD), "-c", str(conf), "--migrate"], capture_output=True,
                          text=True, timeout=120, env=sanitizer_env(), cwd=where,
                          **as_daemon_user())
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, "esupd --migrate failed:\n" + out
    assert not any(m in out for m in SANITIZER_MARKS), out
    register(database, certs)
    return database


# Template databases, one per kind and per session (each xdist worker has its own cluster): the
# migrated schema with the principals ("plain"), and that with the sample reference data loaded
# ("samples"). Every test's database is a CREATE DATABASE ... TEMPLATE copy of one: the same
# bytes _fresh_database would have produced, in a tenth of the time (init + migrate + register
# took ~2.5 s a test, the sample loading ~3 s more, over ~400 tests in each of two passes).
# A test that changes its database changes only its copy; cluster-wide roles are shared as they
# always were. test_migrate*.py and the like still migrate a database of their own.
_templates = {}


def _template(pg, certs, workdir, kind):
    key = (id(pg), kind)
    if key not in _templates:
        where = workdir / ("template-" + kind)
        where.mkdir(mode=0o755, exist_ok=True)
        chown_daemon(where)
        database = _fresh_database(pg, certs, where, "esup_template_" + kind)
        if kind == "samples":
            database.load_samples()
        _templates[key] = database.name
    return _templates[key]


def _copy_of_template(pg, certs, workdir, kind, name):
    template = _template(pg, certs, workdir, kind)
    with pg.connect() as conn:
        conn.execute('CREATE DATABASE "%s" TEMPLATE "%s" OWNER esup_owner' % (name, template))
    return Database(pg, name)


def migrated_database(pg, certs, workdir, label, samples=False):
    """A fresh database migrated and registered as the `db` fixture makes one, for a module;
    workdir/NAME is made for its daemon (callers use it)."""
    name = "esup_%s_%d" % (label, next(_counter))
    where = workdir / name
    where.mkdir(mode=0o755)
    chown_daemon(where)
    return _copy_of_template(pg, certs, workdir, "samples" if samples else "plain", name)


@pytest.fixture
def db(pg, certs, workdir, request):
    """A fresh migrated database with the session's principals; with the sample reference data
    already loaded when the test also asks for `refdb` (directly or through another fixture)."""
    kind = "samples" if "refdb" in request.fixturenames else "plain"
    return _copy_of_template(pg, certs, workdir, kind, "esup_%d" % next(_counter))


@pytest.fixture
def refdb(db):
    """The fresh database with the calendar and all the sample reference data loaded (copied
    from the "samples" template by `db`)."""
    return db


# ---------------------------------------------------------------- per test: the daemon


def default_config(db, certs, testdir, port):
    return {
        "server": {"listen": "127.0.0.1:%d" % port, "user": "",
                   "pidfile": str(testdir / "esupd.pid")},
        "tls": {"certificate": str(certs.dir / "server.crt"),
                "private_key": str(certs.dir / "server.key"),
                "ca": str(certs.ca), "crl": str(testdir / "crl.pem")},
        "database": {"conninfo": db.conninfo("esupd"), "owner_conninfo": db.conninfo("esup_admin"),
                     "reconnect_min_ms": "50", "reconnect_max_ms": "400"},
        "limits": {},
        "ingest": {"retry_after_s": "1"},
        "log": {"level": "info"},
    }


def write_config(path, sections):
    lines = ["; written by tests/integration/conftest.py"]
    for section, values in sections.items():
        lines.append("[%s]" % section)
        lines += ["%s = %s" % kv for kv in values.items()]
        lines.append("")
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines))
    tmp.chmod(0o644)
    tmp.replace(path)


class Daemon:
    """One esupd configuration and every process started from it (restarts included)."""

    def __init__(self, db, certs, testdir, as_root=False, **overrides):
        self.db = db
        self.certs = certs
        self.dir = testdir
        self.as_root = as_root
        self.port = free_port()
        self.conf_path = testdir / "esupd.conf"
        self.config = default_config(db, certs, testdir, self.port)
        if as_root:
            self.config["server"]["user"] = DAEMON_USER
        for section, values in overrides.items():
            self.config.setdefault(section, {}).update({k: str(v) for k, v in values.items()})
        crl = testdir / "crl.pem"
        if not crl.exists():
            shutil.copy(certs.crl, crl)
            crl.chmod(0o644)
        self.write()
        self.runs = []   # [Popen, log path, exit code or None]

    def write(self, path=None):
        write_config(path or self.conf_path, self.config)

    @property
    def proc(self):
        return self.runs[-1][0] if self.runs else None

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self, wait=True):
        assert not self.running()
        log = self.dir / ("esupd-%d.log" % (len(self.runs) + 1))
        with open(log, "wb") as out:
            kwargs = {} if self.as_root else as_daemon_user()
            proc = subprocess.Popen([str(ESUPD), "-c", str(self.conf_path), "-f"],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                    cwd=self.dir, env=sanitizer_env(leaks=not self.as_root),
                                    **kwargs)
        self.runs.append([proc, log, None])
        if wait:
            self.wait_healthy()
        return self

    def healthz(self):
        with Client(self.port, self.certs.ca, timeout=5) as c:
            return c.healthz()

    def wait_healthy(self, timeout=30):
        def up():
            if not self.running():
                pytest.fail("esupd exited with %s during start-up:\n%s"
                            % (self.proc.poll(), self.log_tail()))
            with contextlib.suppress(OSError):
                return self.healthz().status == 200
            return False
        wait_for(up, timeout, "esupd /healthz to answer 200")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=30):
        """SIGTERM, then the exit code (the process is killed if it does not exit in time)."""
        run = self.runs[-1]
        if run[0].poll() is None:
            run[0].send_signal(signal.SIGTERM)
        try:
            run[2] = run[0].wait(timeout)
        except subprocess.TimeoutExpired:
            run[0].kill()
            run[0].wait()
            run[2] = "still running %ds after SIGTERM (killed)" % timeout
        return run[2]

    def log_text(self):
        return "".join(run[1].read_text(errors="replace") for run in self.runs if run[1].exists())

    def log_tail(self, lines=60):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def pair(self, name):
        return self.certs.pair(name)

    def client(self, name=None, **kw):
        cert, key = self.pair(name) if name else (None, None)
        return Client(self.port, self.certs.ca, cert, key, **kw)

    def curl(self, path, name=None, **kw):
        cert, key = self.pair(name) if name else (None, None)
        return curl(self.port, path, self.certs.ca, cert, key, **kw)

    def problems(self):
        """What is wrong with the finished runs: a non-zero exit, a sanitizer report."""
        found = []
        for proc, log, code in self.runs:
            if code is None:
                code = proc.poll()   # ended without being stopped: a crash
            if code != 0:
                found.append("%s: esupd exit status %s (want 0 after SIGTERM)" % (log.name, code))
            text = log.read_text(errors="replace") if log.exists() else ""
            for mark in SANITIZER_MARKS:
                if mark in text:
                    found.append("%s: sanitizer report (%s)" % (log.name, mark))
        return found


def daemons_apart(db, certs, testdir, names=("a", "b"), **config):
    """Daemons (not started) on one database, each in a directory of its own under testdir,
    all with config; stop them with finish_daemons."""
    made = []
    for name in names:
        sub = testdir / name
        sub.mkdir(mode=0o755)
        chown_daemon(sub)
        made.append(Daemon(db, certs, sub, **config))
    return made


def hold_events(db, condition, lock):
    """Makes the writer that stores an event for which condition (SQL over NEW, an event_ids
    row: dept, event_id) holds wait, inside its transaction, for advisory lock `lock`, which
    the test takes first (pg_advisory_lock) and lets go of when it wants the writer to go on."""
    db.query("""
        CREATE FUNCTION test_hold() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF %s THEN PERFORM pg_advisory_xact_lock_shared(%d); END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER test_hold BEFORE INSERT ON event_ids
            FOR EACH ROW EXECUTE FUNCTION test_hold()""" % (condition, lock))


def finish_daemons(made, request):
    """At a test's teardown: stops every Daemon in made that still runs, prints their logs when
    the test or a daemon failed, and fails the test on a bad exit or a sanitizer report."""
    problems = []
    for d in made:
        if d.runs and d.runs[-1][2] is None:
            d.stop()
        problems += d.problems()
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    if problems or failed:
        for d in made:
            print("---- esupd log (%s) ----\n%s" % (d.dir, d.log_tail(120)))
    if problems:
        pytest.fail("\n".join(problems))


@pytest.fixture
def daemon_factory(db, certs, testdir, request):
    """daemon_factory(as_root=False, limits={...}, ...) -> a Daemon (not started)."""
    made = []

    def make(**kw):
        d = Daemon(db, certs, testdir, **kw)
        made.append(d)
        return d
    yield make
    finish_daemons(made, request)


@pytest.fixture
def esupd(daemon_factory):
    """A running esupd with the default test configuration."""
    return daemon_factory().start()


# ---------------------------------------------------------------- events


_event_seq = itertools.count(1)

USCC_A = "91410300MA44ABCD1R"


def event(dept="LY-SCJGJ", id=None, type="approval.accepted", **fields):
    """A valid event (approval.accepted unless told otherwise) with a unique id."""
    n = next(_event_seq)
    ev = {"id": id or "it-%06d" % n, "dept": dept, "type": type,
          "at": "2026-03-02T09:15:00+08:00", "case": "%s-2026-%06d" % (dept, n)}
    if type == "approval.accepted":
        ev["item"] = "SCJG-001"
        ev["applicant"] = {"uscc": USCC_A, "name": "洛阳华信精密机械有限公司"}
    ev.update(fields)
    return {k: v for k, v in ev.items() if v is not None}


def statuses(resp_json):
    return [r["status"] for r in resp_json["results"]]


def ndjson(events):
    return "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events).encode()
