"""TLS scan of esupd with testssl.sh (not part of tests/run: run contrib/testssl).

Starts esupd as the integration tests do (dev certificates, 127.0.0.1, a fresh database) and
runs Debian's testssl.sh 3.0.8 against its listener. testssl 3.0 cannot present a client
certificate (--mtls came in 3.2), so it scans the handshake, which esupd completes without
one, and the HTTP checks see 401/404. The dev CA is passed with --add-ca, as a client would
pin it. Prints the protocols and ciphers offered and every finding above INFO; fails on a
HIGH or CRITICAL finding other than those that are about the dev certificates themselves
(DEV_CERT_FINDINGS). The whole JSON goes to ESUP_TESTSSL_JSON (default: <build>/testssl.json).
"""

import json
import os
import shutil
import subprocess

import pytest

from conftest import BUILD

TESTSSL = shutil.which("testssl") or shutil.which("testssl.sh")
OUT = os.environ.get("ESUP_TESTSSL_JSON", str(BUILD / "testssl.json"))
SEVERITIES = ["OK", "INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
# The dev server certificate names no CRL distribution point or OCSP responder: a property of
# contrib/devcerts, not of esupd (a deployment's PKI decides; clients pin its CA).
DEV_CERT_FINDINGS = {"cert_revocation"}


def summary(findings):
    """Protocols, ciphers and findings above INFO, one line each."""
    lines = []
    for f in findings:
        fid, sev, text = f["id"], f["severity"], f["finding"]
        if fid in ("SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3", "ALPN"):
            lines.append("protocol %-8s %s" % (fid, text))
        elif fid.startswith("cipherorder_") or fid.startswith("cipher-") or fid == "FS_ciphers":
            lines.append("cipher   %-22s %s" % (fid, text))
        elif sev in SEVERITIES[2:] or sev == "WARN":
            lines.append("%-8s %-22s %s" % (sev, fid, text))
    return lines


@pytest.mark.skipif(TESTSSL is None, reason="apt-get install testssl.sh")
def test_testssl(esupd):
    if os.path.exists(OUT):
        os.unlink(OUT)
    cmd = [TESTSSL, "--quiet", "--color", "0", "--warnings", "off", "--nodns", "none",
           "--openssl-timeout", "10", "--add-ca", str(esupd.certs.ca), "--jsonfile", OUT,
           "127.0.0.1:%d" % esupd.port]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=1800)
    with open(OUT) as f:
        findings = json.load(f)
    print("\n" + "\n".join(summary(findings)))
    print("\n(%s, exit %d; JSON in %s)" % (" ".join(cmd[1:]), proc.returncode, OUT))
    bad = [f for f in findings if f["severity"] in ("HIGH", "CRITICAL")
           and f["id"] not in DEV_CERT_FINDINGS]
    assert not bad, bad
    assert esupd.running()
