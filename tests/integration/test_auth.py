"""Who may talk to esupd: certificates, the CRL, principals, roles, /healthz without one."""

import shutil
import signal
import ssl

from conftest import event, wait_for
from esupclient import handshake_refused


def test_healthz_needs_no_certificate(esupd):
    r = esupd.curl("/healthz")
    assert r.status == 200, r.body
    body = r.json()
    assert (body["status"], body["database"]) == ("ok", "up"), body


def test_no_certificate_gets_401(esupd, db):
    with esupd.client() as c:
        r = c.post_events([event()])
        assert r.status == 401, r.body
        r = c.request("GET", "/v1/alerts")
        assert r.status == 401, r.body
    r = esupd.curl("/v1/events", data=b"{}", content_type="application/json")
    assert r.status == 401
    assert db.scalar("SELECT count(*) FROM events") == 0


def test_unknown_certificate_and_wrong_role_get_403(esupd, db):
    for name in ("unknown", "supervisor", "auditor"):
        with esupd.client(name) as c:
            r = c.post_events([event()])
            assert r.status == 403, (name, r.body)
    assert db.scalar("SELECT count(*) FROM events") == 0


def test_revoked_and_foreign_ca_fail_the_handshake(esupd, db):
    for name in ("revoked", "stranger"):
        cert, key = esupd.pair(name)
        assert handshake_refused(esupd.port, esupd.certs.ca, cert, key), name
        assert handshake_refused(esupd.port, esupd.certs.ca, cert, key,
                                 max_version=ssl.TLSVersion.TLSv1_2), name
        r = esupd.curl("/v1/events", name, data=b"{}", content_type="application/json")
        assert r.returncode != 0 and r.status == 0, (name, r.returncode, r.body)
    # The refusals hurt nobody else.
    with esupd.client("dept-LY-SCJGJ") as c:
        assert c.post_events([event()]).status == 200
    assert db.scalar("SELECT count(*) FROM events") == 1


def test_principal_changes_apply_without_restart(esupd, db, certs):
    fp = certs.fingerprints["dept-LY-ZJJ"]

    def status(name):
        with esupd.client(name) as c:
            return c.post_events([event(dept="LY-ZJJ")]).status

    assert status("dept-LY-ZJJ") == 200
    db.query("UPDATE principals SET enabled = false WHERE fingerprint = %s", (fp,),
             user="postgres")
    wait_for(lambda: status("dept-LY-ZJJ") == 403, 10, "a disabled principal to get 403")
    db.query("UPDATE principals SET enabled = true WHERE fingerprint = %s", (fp,),
             user="postgres")
    wait_for(lambda: status("dept-LY-ZJJ") == 200, 10, "a re-enabled principal to get 200")

    assert status("unknown") == 403
    db.query("INSERT INTO principals (fingerprint, subject, role, dept, region)"
             " VALUES (%s, 'CN=unknown', 'department', 'LY-ZJJ', '410300')",
             (certs.fingerprints["unknown"],), user="postgres")
    wait_for(lambda: status("unknown") == 200, 10, "a new principal to be let in")


def test_crl_reloaded_on_sighup(esupd, testdir, certs):
    cert, key = esupd.pair("late")
    with esupd.client("late") as c:
        assert c.post_events([event()]).status == 200
    shutil.copy(certs.crl_late, testdir / "crl.pem")
    esupd.signal(signal.SIGHUP)
    wait_for(lambda: handshake_refused(esupd.port, certs.ca, cert, key), 10,
             "the newly revoked certificate to be refused")
    with esupd.client("dept-LY-SCJGJ") as c:
        assert c.post_events([event()]).status == 200


def test_connections_per_principal_are_limited(daemon_factory, db):
    """One certificate may hold max_connections_per_principal connections; the next gets 429
    and is closed, others are unaffected, and a freed slot can be taken again."""
    d = daemon_factory(limits={"max_connections_per_principal": 2}).start()
    first, second = d.client("dept-LY-SCJGJ"), d.client("dept-LY-SCJGJ")
    assert first.post_events([event(id="c-1")]).status == 200
    assert second.post_events([event(id="c-2")]).status == 200
    with d.client("dept-LY-SCJGJ") as third:
        r = third.post_events([event(id="c-3")])
        assert r.status == 429, r.body
        assert r.headers.get("retry-after") and r.headers.get("connection") == "close", r.headers
    # Another department's certificate has its own count.
    with d.client("dept-LY-ZJJ") as other:
        assert other.post_events([event(id="z-1", dept="LY-ZJJ")]).status == 200
    # The two first connections keep working; once one closes, a new one is welcome.
    assert first.post_events([event(id="c-4")]).status == 200
    second.close()

    def slot_free():
        with d.client("dept-LY-SCJGJ") as again:
            return again.post_events([event(id="c-5")]).status == 200
    wait_for(slot_free, 10, "the closed connection's slot")
    first.close()
    assert db.scalar("SELECT count(*) FROM events WHERE event_id LIKE 'c-%%'") == 4
