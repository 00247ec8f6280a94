"""TLS hardening: the mTLS matrix, revocation and disabling of established connections, the
CRL's validity at load, the failed-handshake log and its rate limit, the per-certificate
connection cap counted at the handshake, and case lookups outside a supervisor's scope."""

import re
import shutil
import signal
import socket
import ssl
import subprocess
import time

import pytest

from conftest import ESUPD, as_daemon_user, event, ndjson, sanitizer_env, wait_for
from esupclient import handshake_refused, tls_context

# Client certificates of the test CA that are wrong in one way only (contrib/devcerts --kind).
SPECIAL = {"x-no-eku": "no-eku", "x-server-auth": "server-auth", "x-ca": "ca",
           "x-expired": "expired", "x-not-yet-valid": "not-yet-valid"}


@pytest.fixture(scope="session")
def special(certs):
    for name, kind in SPECIAL.items():
        certs.devcerts(certs.dir, "--kind", kind, name)
    for line in certs.devcerts(certs.dir, "--fingerprint", *SPECIAL).splitlines():
        name, fp = line.split()
        certs.fingerprints[name] = fp
    for name in SPECIAL:
        for f in certs.pair(name):
            f.chmod(0o644)
    return certs


def register(db, certs, name, role="department", dept="LY-SCJGJ", region="410300"):
    db.query("INSERT INTO principals (fingerprint, subject, role, dept, region)"
             " VALUES (%s, %s, %s, %s, %s)",
             (certs.fingerprints[name], "CN=" + name, role, dept, region), user="postgres")


def log_lines(d, pattern):
    return [ln for ln in d.log_text().splitlines() if re.search(pattern, ln)]


def wait_log(d, pattern, what, count=1, timeout=10):
    return wait_for(lambda: len(log_lines(d, pattern)) >= count and log_lines(d, pattern),
                    timeout, what)


def answered(c, method, path, body=None, content_type=None):
    """The first answer that is not a 503 "resend later" (as a real client resends)."""
    def attempt():
        r = c.request(method, path, body, content_type)
        return r if r.status != 503 else None
    return wait_for(attempt, 30, "an answer other than 503 to %s %s" % (method, path), interval=0.2)


def post(c, events):
    return answered(c, "POST", "/v1/events", ndjson(events), "application/x-ndjson")


def failed_handshake(port, ca, cert=None, key=None, max_version=None):
    """One handshake with this certificate; returns (refused, the client's local port)."""
    ctx = tls_context(ca, cert, key, max_version)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    local = raw.getsockname()[1]
    try:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"GET /v1/alerts HTTP/1.1\r\nHost: localhost\r\n\r\n")
            return not tls.recv(4096).startswith(b"HTTP/"), local
    except (ssl.SSLError, ConnectionError):
        return True, local
    finally:
        raw.close()


# ---------------------------------------------------------------- the mTLS matrix

HANDSHAKE = "handshake refused"
MATRIX = [
    # case, certificate, expected outcome, log line that must say why
    ("no certificate", None, 401, r"401: a request without a client certificate"),
    ("unknown certificate", "unknown", 403, r"403: certificate \w+ \(.*CN=unknown\) is not a registered"),
    ("other CA", "stranger", HANDSHAKE, r"TLS handshake failed: unable to get local issuer certificate.*CN=stranger"),
    ("revoked", "revoked", HANDSHAKE, r"TLS handshake failed: certificate revoked.*CN=revoked"),
    ("expired", "x-expired", HANDSHAKE, r"TLS handshake failed: certificate has expired.*CN=x-expired"),
    ("not yet valid", "x-not-yet-valid", HANDSHAKE, r"TLS handshake failed: certificate is not yet valid.*CN=x-not-yet-valid"),
    ("no EKU", "x-no-eku", HANDSHAKE, r"TLS handshake failed: certificate has no extendedKeyUsage.*CN=x-no-eku"),
    ("serverAuth only", "x-server-auth", HANDSHAKE, r"TLS handshake failed: certificate's extendedKeyUsage lacks clientAuth.*CN=x-server-auth"),
    ("CA:TRUE leaf", "x-ca", HANDSHAKE, r"TLS handshake failed: certificate is a CA.*CN=x-ca"),
    ("disabled principal", "dept-LY-ZJJ", 403, r"403: certificate \w+ \(.*CN=dept-LY-ZJJ\) is not a registered, enabled"),
    ("wrong role", "auditor", 403, r"403: certificate \w+ \(.*CN=auditor\): its role may not use"),
]


def attempt(d, ca, name, expected, version):
    """One connection of this client: (outcome, the client's local port). Where the handshake
    should fail, the outcome is HANDSHAKE or "answered"; else the status of a POST."""
    if expected == HANDSHAKE:
        cert, key = d.pair(name)
        refused, port = failed_handshake(d.port, ca, cert, key, version)
        return HANDSHAKE if refused else "answered", port
    with d.client(name, max_version=version) as c:
        c.connect()
        port = c.local_port()
        return post(c, [event()]).status, port


def refused_and_logged(d, ca, case, name, expected, logged, version):
    """The outcome of each attempt, until one attempt's own log line is there (a line can be
    held back by the rate limit of 10 a second; then the next second's attempt is logged)."""
    def once():
        outcome, port = attempt(d, ca, name, expected, version)
        assert outcome == expected, (case, version, outcome)
        pattern = r"refused 127\.0\.0\.1:%d: .*%s" % (port, logged)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            if log_lines(d, pattern):
                return log_lines(d, pattern)[0]
            time.sleep(0.05)
        return None
    return wait_for(once, 30, "the log line of " + case, interval=0)


def test_mtls_matrix(daemon_factory, db, special):
    """Each kind of client gets its outcome (handshake refused, 401, 403) and a log line that
    says why, over TLS 1.3 and 1.2; nothing is stored. The special certificates are registered
    principals, so only the certificate checks can refuse them."""
    for n in SPECIAL:
        register(db, special, n)
    db.query("UPDATE principals SET enabled = false WHERE fingerprint = %s",
             (special.fingerprints["dept-LY-ZJJ"],), user="postgres")
    d = daemon_factory().start()
    for case, name, expected, logged in MATRIX:
        for version in (None, ssl.TLSVersion.TLSv1_2):
            line = refused_and_logged(d, special.ca, case, name, expected, logged, version)
            if expected == HANDSHAKE:
                assert re.search(r"serial [0-9A-F]+\)", line), line
    assert db.scalar("SELECT count(*) FROM events") == 0
    with d.client("dept-LY-SCJGJ") as c:   # the refusals hurt nobody else
        assert post(c, [event()]).status == 200
    assert db.scalar("SELECT count(*) FROM events") == 1


# ---------------------------------------------------------------- established connections


def test_revoked_certificate_is_cut_at_its_next_request(esupd, db, certs, testdir):
    """After a SIGHUP with a CRL that revokes it, a connection made before gets 403 and is
    closed at its next request; nothing of that request is stored. Others carry on."""
    late, other = esupd.client("late"), esupd.client("dept-LY-ZJJ", max_version=ssl.TLSVersion.TLSv1_2)
    assert post(late, [event(id="late-1")]).status == 200
    assert post(other, [event(id="zjj-1", dept="LY-ZJJ")]).status == 200
    late_port, other_port = late.local_port(), other.local_port()
    shutil.copy(certs.crl_late, testdir / "crl.pem")
    esupd.signal(signal.SIGHUP)
    wait_log(esupd, r"reload complete", "the reload")

    r = post(late, [event(id="late-2")])
    assert r.status == 403, r.body
    assert r.header("connection") == "close", r.headers
    assert late.conn is None, "the revoked certificate's connection stayed open"
    wait_log(esupd, r"refused 127\.0\.0\.1:%d: certificate \w+ \(.*CN=late.*re-checked after a "
             r"reload: certificate revoked" % late_port, "the log line of the cut connection")
    assert handshake_refused(esupd.port, certs.ca, *esupd.pair("late"))

    assert post(other, [event(id="zjj-2", dept="LY-ZJJ")]).status == 200
    assert other.local_port() == other_port, "the still valid connection was not kept"
    late.close()
    other.close()
    assert db.scalar("SELECT count(*) FROM events WHERE event_id = 'late-2'") == 0
    assert db.scalar("SELECT count(*) FROM events") == 3


def test_disabled_principal_is_refused_on_an_open_connection(esupd, db, certs):
    """UPDATE principals SET enabled = false reaches connections already open (NOTIFY ->
    identity reload -> the next request's lookup)."""
    with esupd.client("dept-LY-ZJJ") as c:
        path = "/v1/cases/LY-ZJJ/LY-ZJJ-2026-404"
        assert answered(c, "GET", path).status == 404
        port = c.local_port()
        db.query("UPDATE principals SET enabled = false WHERE fingerprint = %s",
                 (certs.fingerprints["dept-LY-ZJJ"],), user="postgres")

        def refused():
            r = answered(c, "GET", path)
            assert c.local_port() == port, "the connection was replaced"
            return r.status == 403
        wait_for(refused, 10, "the disabled principal's open connection to get 403")
        assert post(c, [event(dept="LY-ZJJ")]).status == 403
    assert db.scalar("SELECT count(*) FROM events") == 0


# ---------------------------------------------------------------- the per-certificate cap


def closed_by_server(sock):
    """Waits (up to the socket's timeout) for the server to close; True when it did."""
    try:
        return sock.recv(1) == b""
    except (ssl.SSLEOFError, ConnectionError):
        return True
    except socket.timeout:
        return False


def test_connection_cap_is_counted_at_the_handshake(daemon_factory, db):
    """Idle connections that have only shaken hands hold their certificate's slots: the next
    one gets 429 at its first request, and one that sends nothing is closed after
    handshake_timeout_s. Closing an idle one frees its slot."""
    d = daemon_factory(limits={"max_connections_per_principal": 2, "handshake_timeout_s": 2}).start()
    tls12 = ssl.TLSVersion.TLSv1_2   # the client's handshake ends after the server's
    idle = [d.client("dept-LY-SCJGJ", max_version=tls12) for _ in range(2)]
    for c in idle:
        c.connect()
    with d.client("dept-LY-SCJGJ", max_version=tls12) as third:
        r = post(third, [event(id="cap-1")])
        assert r.status == 429, r.body
        assert r.header("connection") == "close" and r.header("retry-after"), r.headers
    silent = d.client("dept-LY-SCJGJ", max_version=tls12)
    silent.connect().sock.settimeout(30)
    assert closed_by_server(silent.conn.sock), "the over-cap idle connection was not closed"
    silent.close()
    wait_log(d, r"closing 127\.0\.0\.1:\d+: over max_connections_per_principal", "the close")
    with d.client("dept-LY-ZJJ") as other:   # another certificate has its own count
        assert post(other, [event(id="cap-z", dept="LY-ZJJ")]).status == 200
    idle[0].close()

    def slot_free():
        with d.client("dept-LY-SCJGJ") as again:
            return post(again, [event(id="cap-2")]).status == 200
    wait_for(slot_free, 10, "the closed idle connection's slot")
    idle[1].close()
    assert db.scalar("SELECT count(*) FROM events WHERE event_id = 'cap-1'") == 0


# ---------------------------------------------------------------- the CRL at load


def check_config(d):
    return subprocess.run([str(ESUPD), "-n", "-c", str(d.conf_path)], capture_output=True,
                          text=True, timeout=60, env=sanitizer_env(), **as_daemon_user())


def expired_crl(certs, testdir):
    path = testdir / "crl-expired.pem"
    certs.devcerts(certs.dir, "--expired-crl", str(path))
    path.chmod(0o644)
    return path


def test_expired_or_unreadable_crl_is_refused_at_start_and_by_check(daemon_factory, certs, testdir):
    d = daemon_factory()
    assert check_config(d).returncode == 0
    crl = testdir / "crl.pem"
    shutil.copy(expired_crl(certs, testdir), crl)
    proc = check_config(d)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert re.search(r"%s: CRL expired: nextUpdate \d{4}-\d\d-\d\dT[\d:]+Z has passed" % re.escape(str(crl)), out), out

    # It refuses to start (before, it started and refused every client certificate).
    proc = subprocess.run([str(ESUPD), "-f", "-c", str(d.conf_path)], capture_output=True,
                          text=True, timeout=30, env=sanitizer_env(leaks=False), cwd=testdir,
                          **as_daemon_user())
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert re.search(r"%s: CRL expired" % re.escape(str(crl)), out), out

    crl.write_text("not a CRL\n")
    proc = check_config(d)
    assert proc.returncode != 0 and "cannot load certificate revocation list" in proc.stdout + proc.stderr


def test_crl_of_another_ca_is_refused(daemon_factory, certs, testdir):
    """A CRL that the configured CA did not issue would leave every client without a CRL of
    its issuer: all refused. It is a configuration error (before, -n said ok)."""
    d = daemon_factory()
    crl = testdir / "crl.pem"
    shutil.copy(certs.other / "crl.pem", crl)
    proc = check_config(d)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert "not (or did not sign it as) the configured CA" in out, out


def test_expired_crl_on_reload_keeps_the_running_one(esupd, certs, testdir):
    """A SIGHUP with an expired CRL is refused loudly; the running context keeps working
    (before, every client was locked out without a word)."""
    shutil.copy(expired_crl(certs, testdir), testdir / "crl.pem")
    esupd.signal(signal.SIGHUP)
    wait_log(esupd, r"reload refused: TLS material invalid", "the refused reload")
    assert log_lines(esupd, r"crl\.pem: CRL expired: nextUpdate .* has passed \(lastUpdate ")
    with esupd.client("dept-LY-SCJGJ") as c:
        assert post(c, [event()]).status == 200
    assert handshake_refused(esupd.port, certs.ca, *esupd.pair("revoked"))


def test_client_only_server_certificate_on_reload_keeps_the_running_one(esupd, certs, testdir):
    """A SIGHUP with a server certificate whose extendedKeyUsage is clientAuth alone is
    refused (before, it was loaded and every client failed with "unsuitable certificate
    purpose"); the running context keeps serving."""
    certs.devcerts(testdir / "odd", "--kind", "client", "x-client-only")
    crt, key = testdir / "odd" / "x-client-only.crt", testdir / "odd" / "x-client-only.key"
    for f in (testdir / "odd", crt, key):
        f.chmod(0o755 if f.is_dir() else 0o644)
    esupd.config["tls"].update(certificate=str(crt), private_key=str(key))
    esupd.write()
    esupd.signal(signal.SIGHUP)
    wait_log(esupd, r"reload refused: TLS material invalid", "the refused reload")
    assert log_lines(esupd, re.escape(str(crt)) + r": certificate .*CN=x-client-only cannot "
                     r"authenticate a TLS server: extendedKeyUsage is clientAuth")
    with esupd.client("dept-LY-SCJGJ") as c:
        assert post(c, [event()]).status == 200


def test_crl_expiring_while_running_fails_closed_and_says_so(daemon_factory, certs, testdir):
    """A CRL that passes its nextUpdate while esupd runs: revocation status is unknown, so
    client certificates are refused (fail closed), and every refusal says why (before: not a
    word in the log)."""
    d = daemon_factory()
    crl = testdir / "crl.pem"
    certs.devcerts(certs.dir, "--crl-for", "20", str(crl))   # loaded at start, then expires
    crl.chmod(0o644)
    d.start()
    cert, key = d.pair("dept-LY-SCJGJ")
    wait_for(lambda: failed_handshake(d.port, certs.ca, cert, key)[0], 120,
             "the CRL to expire", interval=1)
    refused, port = failed_handshake(d.port, certs.ca, cert, key)
    assert refused
    wait_log(d, r"refused 127\.0\.0\.1:%d: TLS handshake failed: CRL has expired .*CN=dept-LY-SCJGJ"
             % port, "the reason of the refusal")
    # and the health check says so, instead of 200 while nobody can connect
    r = d.healthz()
    assert r.status == 503, r.body
    body = r.json()
    assert body["checks"]["crl"]["status"] == "failing", body
    assert "revocation list" in body["missing"] and "expired" in body["missing"], body


# ---------------------------------------------------------------- the failed-handshake log


def test_failed_handshakes_are_logged_once_and_rate_limited(esupd, certs):
    """One line per failed handshake with peer, subject, serial and reason; a burst is held to
    10 lines a second and the rest is counted in a summary line: every failure is accounted
    for, exactly once."""
    cert, key = esupd.pair("revoked")
    serial = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-serial"],
                            capture_output=True, text=True, check=True).stdout.split("=")[1].strip()
    refused, port = failed_handshake(esupd.port, certs.ca, cert, key)
    assert refused
    line = wait_log(esupd, r"refused 127\.0\.0\.1:%d: TLS handshake failed" % port, "one line")
    assert len(line) == 1, line
    m = re.search(r"certificate revoked \(depth 0\) \(certificate .*CN=revoked, serial ([0-9A-F]+)\)",
                  line[0])
    assert m and int(m.group(1), 16) == int(serial, 16), (line, serial)

    attempts = 1
    for _ in range(150):
        assert failed_handshake(esupd.port, certs.ca, cert, key)[0]
        attempts += 1

    def accounted():
        nonlocal attempts
        logged = len(log_lines(esupd, r"TLS handshake failed"))
        held = sum(int(m) for m in re.findall(r"refused clients: (\d+) more lines not logged",
                                              esupd.log_text()))
        if logged + held == attempts:
            return logged, held
        assert logged + held < attempts, (logged, held, attempts)
        assert failed_handshake(esupd.port, certs.ca, cert, key)[0]   # a new second's line
        attempts += 1
        return None
    logged, held = wait_for(accounted, 20, "every failed handshake to be logged or counted",
                            interval=0.3)
    assert held > 0 and logged < attempts, (logged, held)


# ---------------------------------------------------------------- case lookups out of scope


def test_out_of_scope_case_lookup_is_no_existence_oracle(daemon_factory, db, certs):
    """A supervisor of another region gets the same 404 for a case that exists as for one that
    does not; the supervisor of the case's region sees it."""
    register(db, certs, "unknown", role="supervisor", dept=None, region="410100")
    case = "LY-SCJGJ-2026-SCOPE"
    db.query("INSERT INTO cases (dept, case_no, item, status) VALUES ('LY-SCJGJ', %s, 'SCJG-001',"
             " 'accepted')", (case,), user="postgres")
    d = daemon_factory().start()
    exists = "/v1/cases/LY-SCJGJ/" + case
    missing = "/v1/cases/LY-SCJGJ/LY-SCJGJ-2026-999999"
    with d.client("supervisor") as c:
        assert answered(c, "GET", exists).status == 200
    with d.client("unknown") as c:
        a, b = answered(c, "GET", exists), answered(c, "GET", missing)
    assert (a.status, a.body) == (b.status, b.body) == (404, b.body), (a, b)
    assert a.headers.get("content-length") == b.headers.get("content-length")
