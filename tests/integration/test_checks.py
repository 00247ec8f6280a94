"""Checks that check (issue 13 item 5): `esupd -n` catches each mistake an operator makes —
an empty [server] user while running as root, a certificate file that is not there, a key
that is not the certificate's, a file the daemon user cannot read, an expired CRL or
certificate, a DNS host name in conninfo — each with a "FILE:LINE: section.option: message"
line and exit status 1; warnings alone (a CRL about to expire) exit 0. At start, a database
that was never migrated is refused with one message and exit 1, not raw SQL errors."""

import re
import shutil
import signal
import subprocess
import time

from conftest import (DAEMON_USER, wait_for, ESUPD, SANITIZER_MARKS, Database, as_daemon_user,
                      default_config, dbsetup, free_port, sanitizer_env, write_config)


def make_config(pg, certs, testdir, name="esupd.conf", **changes):
    """A configuration as the tests' daemons get it, run as root dropping to the esup user;
    changes maps "section.option" to a new value."""
    db = Database(pg, "esup_checks")
    config = default_config(db, certs, testdir, free_port())
    config["server"]["user"] = DAEMON_USER
    if not (testdir / "crl.pem").exists():
        placed(certs.crl, testdir / "crl.pem")
    for key, value in changes.items():
        section, option = key.rsplit(".", 1)
        config.setdefault(section, {})[option] = value
    path = testdir / name
    write_config(path, config)
    return path


def placed(src, dst, mode=0o644):
    """A copy of src at dst with mode (the daemon user reads 0o644; 0o600 is root's alone)."""
    shutil.copy(src, dst)
    dst.chmod(mode)
    return dst


def line_of(path, section, option):
    """The line number of option in [section] of the file written by write_config."""
    current = None
    for n, line in enumerate(path.read_text().splitlines(), 1):
        m = re.match(r"\[(.*)\]$", line)
        if m:
            current = m.group(1)
        elif current == section and re.match(r"%s\s*=" % re.escape(option), line):
            return n
    raise AssertionError("no %s.%s in %s" % (section, option, path))


def check(path, as_root=True):
    proc = subprocess.run([str(ESUPD), "-n", "-c", str(path)], capture_output=True, text=True,
                          timeout=60, env=sanitizer_env(leaks=not as_root),
                          **({} if as_root else as_daemon_user()))
    out = proc.stdout + proc.stderr
    assert not any(m in out for m in SANITIZER_MARKS), out
    return proc.returncode, out


def assert_refused(path, section, option, pattern, as_root=True):
    code, out = check(path, as_root)
    assert code == 1, out
    where = "%s:%d: %s.%s: " % (path, line_of(path, section, option), section, option)
    assert re.search(re.escape(where) + pattern, out), out
    assert "configuration ok" not in out, out
    return out


def test_good_configuration_says_ok(pg, certs, testdir):
    path = make_config(pg, certs, testdir)
    code, out = check(path)
    assert code == 0 and "%s: configuration ok" % path in out, out
    assert "warning" not in out, out
    # as the daemon user too (user = esup names itself)
    code, out = check(path, as_root=False)
    assert code == 0 and "configuration ok" in out, out


def test_empty_user_as_root(pg, certs, testdir):
    path = make_config(pg, certs, testdir, **{"server.user": ""})
    assert_refused(path, "server", "user", r"empty while running as root")
    # not running as root, an empty user is what it should be
    code, out = check(path, as_root=False)
    assert code == 0, out


def test_unknown_user(pg, certs, testdir):
    path = make_config(pg, certs, testdir, **{"server.user": "esup-nobody-here"})
    assert_refused(path, "server", "user", r'no such user "esup-nobody-here"')


def test_missing_certificate_file(pg, certs, testdir):
    missing = testdir / "nowhere" / "server.crt"
    path = make_config(pg, certs, testdir, **{"tls.certificate": str(missing)})
    assert_refused(path, "tls", "certificate", re.escape(str(missing)) + r": No such file or directory")


def test_key_not_matching_the_certificate(pg, certs, testdir):
    _, other_key = certs.pair("dept-LY-SCJGJ")
    path = make_config(pg, certs, testdir, **{"tls.private_key": str(other_key)})
    assert_refused(path, "tls", "private_key", re.escape(str(other_key)) +
                   r" does not match the certificate")


def test_key_the_daemon_user_cannot_read(pg, certs, testdir):
    key = placed(certs.dir / "server.key", testdir / "server.key", 0o600)   # root's alone
    path = make_config(pg, certs, testdir, **{"tls.private_key": str(key)})
    assert_refused(path, "tls", "private_key", re.escape(str(key)) +
                   r": not readable by user esup: Permission denied")


def test_not_a_certificate(pg, certs, testdir):
    bogus = testdir / "bogus.crt"
    bogus.write_text("not a certificate\n")
    bogus.chmod(0o644)
    path = make_config(pg, certs, testdir, **{"tls.ca": str(bogus)})
    assert_refused(path, "tls", "ca", re.escape(str(bogus)) + r": cannot load a CA certificate")


def test_expired_certificate(pg, certs, testdir):
    certs.devcerts(testdir / "expired", "--kind", "expired", "x-expired")
    crt, key = testdir / "expired" / "x-expired.crt", testdir / "expired" / "x-expired.key"
    for f in (testdir / "expired", crt, key):
        f.chmod(0o755 if f.is_dir() else 0o644)
    path = make_config(pg, certs, testdir, **{"tls.certificate": str(crt),
                                               "tls.private_key": str(key)})
    assert_refused(path, "tls", "certificate", r"certificate .*CN=x-expired expired at \d{4}-")


def odd_certificate(certs, testdir, kind, name):
    """A certificate of devcerts --kind KIND (from a CA of its own) and its key, readable by
    the daemon user."""
    certs.devcerts(testdir / kind, "--kind", kind, name)
    crt, key = testdir / kind / (name + ".crt"), testdir / kind / (name + ".key")
    for f in (testdir / kind, crt, key):
        f.chmod(0o755 if f.is_dir() else 0o644)
    return crt, key


def test_server_certificate_for_clients_only(pg, certs, testdir):
    """extendedKeyUsage clientAuth alone: every client would refuse it ("unsuitable
    certificate purpose"); -n says so instead of "configuration ok"."""
    crt, key = odd_certificate(certs, testdir, "client", "x-client-only")
    path = make_config(pg, certs, testdir, **{"tls.certificate": str(crt),
                                               "tls.private_key": str(key)})
    assert_refused(path, "tls", "certificate", re.escape(str(crt)) +
                   r": certificate .*CN=x-client-only cannot authenticate a TLS server: "
                   r"extendedKeyUsage is clientAuth, expected one with serverAuth; clients "
                   r'refuse it \("unsuitable certificate purpose"\); issue it with '
                   r"extendedKeyUsage serverAuth")


def test_server_certificate_without_subject_alt_name_is_a_warning(pg, certs, testdir):
    crt, key = odd_certificate(certs, testdir, "server-auth", "x-no-san")
    path = make_config(pg, certs, testdir, **{"tls.certificate": str(crt),
                                               "tls.private_key": str(key)})
    code, out = check(path)
    assert code == 0 and "configuration ok" in out, out
    where = "%s:%d: tls.certificate: warning: " % (path, line_of(path, "tls", "certificate"))
    assert re.search(re.escape(where + str(crt)) + r": certificate .*CN=x-no-san has no "
                     r"subjectAltName", out), out


def repeated(path, section, option, first_value, second_value, apart=False):
    """Gives [section] option a second time in path: on the next line, or (apart) in a second
    [section] at the end. Returns (first line, second line)."""
    lines = path.read_text().splitlines()
    first = line_of(path, section, option)
    assert lines[first - 1] == "%s = %s" % (option, first_value), lines[first - 1]
    if apart:
        lines += ["", "[%s]" % section, "%s = %s" % (option, second_value)]
        second = len(lines)
    else:
        lines.insert(first, "%s = %s" % (option, second_value))
        second = first + 1
    path.write_text("\n".join(lines) + "\n")
    return first, second


def assert_repeated(path, section, option, first, second):
    code, out = check(path)
    assert code == 1 and "configuration ok" not in out, out
    assert '%s:%d: option "%s" in section [%s] already set at line %d: give each option once' \
        % (path, second, option, section, first) in out, out


def test_option_given_twice(pg, certs, testdir):
    """level = info, then level = debug: before, the second was taken without a word."""
    path = make_config(pg, certs, testdir)
    first, second = repeated(path, "log", "level", "info", "debug")
    assert_repeated(path, "log", "level", first, second)


def test_option_given_again_in_a_second_section(pg, certs, testdir):
    path = make_config(pg, certs, testdir)
    first, second = repeated(path, "server", "listen", path.read_text().split("listen = ")[1]
                             .split("\n")[0], "127.0.0.1:1", apart=True)
    assert_repeated(path, "server", "listen", first, second)


def test_rule_parameter_and_receiver_option_given_twice(pg, certs, testdir):
    path = make_config(pg, certs, testdir, **{"rules.warn_days": "2",
                                               "receiver.gw.url": "http://127.0.0.1:9/a"})
    text = path.read_text()
    first, second = repeated(path, "rules", "warn_days", "2", "3")
    assert_repeated(path, "rules", "warn_days", first, second)
    path.write_text(text)
    first, second = repeated(path, "receiver.gw", "url", "http://127.0.0.1:9/a",
                             "http://127.0.0.1:9/b")
    assert_repeated(path, "receiver.gw", "url", first, second)
    path.write_text(text)
    code, out = check(path)
    assert code == 0 and "configuration ok" in out, out


def test_metrics_on_the_servers_address_and_port(pg, certs, testdir):
    """[metrics] listen where [server] listen is: the second bind fails at start, so -n
    refuses it and names both options."""
    port = free_port()
    path = make_config(pg, certs, testdir, **{"server.listen": "127.0.0.1:%d" % port,
                                               "metrics.listen": "127.0.0.1:%d" % port})
    assert_refused(path, "metrics", "listen", r"127\.0\.0\.1:%d is also where \[server\] "
                   r"listen \(127\.0\.0\.1:%d, line %d\) listens: esupd would fail to bind "
                   % (port, port, line_of(path, "server", "listen")))


def test_metrics_under_a_wildcard_server_address(pg, certs, testdir):
    """A wildcard [server] listen takes the port on every address, loopback included."""
    port = free_port()
    for server in ("0.0.0.0", "::"):
        path = make_config(pg, certs, testdir, **{"server.listen": "%s:%d" % (server, port),
                                                   "metrics.listen": "127.0.0.1:%d" % port})
        assert_refused(path, "metrics", "listen", r"127\.0\.0\.1:%d is also where" % port)


def test_metrics_on_a_port_of_its_own_passes(pg, certs, testdir):
    port = free_port()
    for metrics in ("127.0.0.1:%d" % free_port(), "127.0.0.2:%d" % port, "[::1]:%d" % port):
        path = make_config(pg, certs, testdir, **{"server.listen": "127.0.0.1:%d" % port,
                                                   "metrics.listen": metrics})
        code, out = check(path)
        assert code == 0 and "configuration ok" in out, out


def test_expired_crl(pg, certs, testdir):
    crl = testdir / "crl-expired.pem"
    certs.devcerts(certs.dir, "--expired-crl", str(crl))
    crl.chmod(0o644)
    path = make_config(pg, certs, testdir, **{"tls.crl": str(crl)})
    assert_refused(path, "tls", "crl", re.escape(str(crl)) +
                   r": CRL expired: nextUpdate \d{4}-\d\d-\d\dT[\d:]+Z has passed")


def test_crl_of_another_ca(pg, certs, testdir):
    crl = placed(certs.other / "crl.pem", testdir / "crl-other.pem")
    path = make_config(pg, certs, testdir, **{"tls.crl": str(crl)})
    assert_refused(path, "tls", "crl", re.escape(str(crl)) + r": CRL issued by .*not \(or did "
                   r"not sign it as\) the configured CA")


def test_crl_about_to_expire_is_a_warning(pg, certs, testdir):
    crl = testdir / "crl-soon.pem"
    certs.devcerts(certs.dir, "--crl-for", "86400", str(crl))
    crl.chmod(0o644)
    path = make_config(pg, certs, testdir, **{"tls.crl": str(crl)})
    code, out = check(path)
    assert code == 0 and "configuration ok" in out, out
    where = "%s:%d: tls.crl: warning: " % (path, line_of(path, "tls", "crl"))
    assert where in out and "expires in less than 3 days" in out, out


def test_dns_host_name_in_conninfo(pg, certs, testdir):
    path = make_config(pg, certs, testdir,
                       **{"database.conninfo": "host=db.example.org dbname=esup user=esupd"})
    assert_refused(path, "database", "conninfo", r"host=db\.example\.org is a DNS host name")
    path = make_config(pg, certs, testdir, name="owner.conf",
                       **{"database.owner_conninfo": "host=localhost dbname=esup"})
    assert_refused(path, "database", "owner_conninfo", r"host=localhost is a DNS host name")
    # a list of hosts: each is judged
    path = make_config(pg, certs, testdir, name="list.conf",
                       **{"database.conninfo": "host=/run/postgresql,db2.example.org dbname=esup"})
    assert_refused(path, "database", "conninfo", r"host=db2\.example\.org is a DNS host name")


def test_addresses_and_socket_directories_pass(pg, certs, testdir):
    for n, conninfo in enumerate(["host=127.0.0.1 port=5432 dbname=esup user=esupd",
                                  "host=::1 dbname=esup", "hostaddr=192.0.2.7 dbname=esup",
                                  "host=/var/run/postgresql dbname=esup",
                                  "postgresql://esupd@127.0.0.1:5432/esup",
                                  "dbname=esup user=esupd"]):
        path = make_config(pg, certs, testdir, name="ok%d.conf" % n,
                           **{"database.conninfo": conninfo})
        code, out = check(path)
        assert code == 0, conninfo + "\n" + out


def test_not_a_conninfo(pg, certs, testdir):
    path = make_config(pg, certs, testdir, **{"database.conninfo": "host=/tmp colour=red"})
    assert_refused(path, "database", "conninfo", r"not a libpq connection string: .*colour")


def test_every_mistake_at_once(pg, certs, testdir):
    """One run reports them all, each on its own line."""
    path = make_config(pg, certs, testdir, **{"server.user": "",
                                               "tls.certificate": str(testdir / "no.crt"),
                                               "database.conninfo": "host=db.example.org"})
    code, out = check(path)
    assert code == 1, out
    for section, option in (("server", "user"), ("tls", "certificate"), ("database", "conninfo")):
        assert "%s:%d: %s.%s: " % (path, line_of(path, section, option), section, option) in out, out


def test_never_migrated_database_refuses_to_start(pg, certs, testdir):
    """A database made by esup-dbsetup init but never migrated: esupd says so and exits 1;
    no raw SQL error ("relation ... does not exist") reaches the log."""
    name = "esup_never_migrated"
    dbsetup(pg, "init", dbname=name)
    db = Database(pg, name)
    config = default_config(db, certs, testdir, free_port())
    placed(certs.crl, testdir / "crl.pem")
    path = testdir / "esupd.conf"
    write_config(path, config)
    proc = subprocess.run([str(ESUPD), "-f", "-c", str(path)], capture_output=True, text=True,
                          timeout=60, env=sanitizer_env(), cwd=testdir, **as_daemon_user())
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert re.search(r"database schema is at version 0, this esupd needs \d+: run esupd "
                     r"--migrate", out), out
    assert "does not exist" not in out and "relation" not in out, out
    assert not any(m in out for m in SANITIZER_MARKS), out



CRL_WARNING = "tls: the CRL ([tls] crl, its nextUpdate) expires in"


def test_running_esupd_warns_of_a_crl_about_to_expire(daemon_factory, certs, testdir):
    """esupd -n warns at deployment; the running daemon tells the log too: once when it finds
    the CRL close to its nextUpdate, again after a reload (then daily), not at every round."""
    soon = testdir / "crl.pem"
    certs.devcerts(certs.dir, "--crl-for", "86400", str(soon))
    soon.chmod(0o644)
    d = daemon_factory(jobs={"interval_ms": "50"}).start()
    wait_for(lambda: CRL_WARNING in d.log_text(), 30, "the CRL expiry warning")
    time.sleep(1)   # twenty rounds: a warning per round would show here
    assert d.log_text().count(CRL_WARNING) == 1, d.log_tail()
    d.signal(signal.SIGHUP)
    wait_for(lambda: d.log_text().count(CRL_WARNING) >= 2, 30, "the warning after a reload")
    time.sleep(1)
    assert d.log_text().count(CRL_WARNING) == 2, d.log_tail()
    assert re.search(re.escape(CRL_WARNING) + r" 2[0-4] hours", d.log_text()), d.log_tail()
    assert "tls: the server certificate" not in d.log_text()


def test_running_esupd_is_quiet_about_a_crl_far_from_expiry(daemon_factory):
    d = daemon_factory(jobs={"interval_ms": "50"}).start()
    d.signal(signal.SIGHUP)
    wait_for(lambda: "reloading" in d.log_text(), 30, "the reload")
    time.sleep(1)
    assert "expires in" not in d.log_text() and "expired" not in d.log_text(), d.log_tail()
