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
             user="esup_owner")
    wait_for(lambda: status("dept-LY-ZJJ") == 403, 10, "a disabled principal to get 403")
    db.query("UPDATE principals SET enabled = true WHERE fingerprint = %s", (fp,),
             user="esup_owner")
    wait_for(lambda: status("dept-LY-ZJJ") == 200, 10, "a re-enabled principal to get 200")

    assert status("unknown") == 403
    db.query("INSERT INTO principals (fingerprint, subject, role, dept, region)"
             " VALUES (%s, 'CN=unknown', 'department', 'LY-ZJJ', '410300')",
             (certs.fingerprints["unknown"],), user="esup_owner")
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
