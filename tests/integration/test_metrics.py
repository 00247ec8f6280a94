"""GET /metrics: who may read it (a monitor over TLS, anyone on the loopback listener), that
promtool finds the exposition clean, that the counters move by exactly what was sent, and that
Debian's Prometheus scrapes a running esupd both ways and reads what it counted."""

import json
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from conftest import (ESUPD, REPO, add_principal, as_daemon_user, event, free_port,
                      offset_to, sanitizer_env, wait_for)
from esupclient import handshake_refused

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
CONTRIB = REPO / "contrib" / "prometheus"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def parse(text):
    """{(name, frozenset of (label, value)): float} of a text exposition; checks that every
    sample's family was announced by a TYPE line before it."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if line.startswith("#") or not line:
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        name, labels, value = m.groups()
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, "sample before its TYPE line: %r" % line
        pairs = frozenset((k, v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\"))
                          for k, v in LABEL.findall(labels or ""))
        samples[(name, pairs)] = float(value)
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def start(daemon_factory, instant=None, **overrides):
    config = {"metrics": {"listen": "127.0.0.1:%d" % free_port()},
              "sweeper": {"interval_ms": "100"},
              "rules": {"disable": "APR-LATE-REPORT"}}
    if instant is not None:
        config["testing"] = {"clock_offset_s": offset_to(instant)}
    for section, values in overrides.items():
        config.setdefault(section, {}).update(values)
    return daemon_factory(**config).start()


def local_port(d):
    return int(d.config["metrics"]["listen"].rsplit(":", 1)[1])


def local(d, path="/metrics", method="GET"):
    """(status, headers, body) from the loopback listener."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (local_port(d), path), method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def with_monitor(d, db, certs, name="monitor-a"):
    add_principal(db, certs, name, "monitor")

    def known():
        with d.client(name) as c:
            return c.request("GET", "/metrics").status == 200
    wait_for(known, 30, "esupd to load principal " + name)
    return name


def scrape(d, who):
    with d.client(who) as c:
        r = c.request("GET", "/metrics")
    assert r.status == 200, r.body
    assert r.header("content-type") == CONTENT_TYPE
    return r.body.decode("utf-8")


def test_who_may_read_metrics(daemon_factory, db, certs):
    d = start(daemon_factory)
    monitor = with_monitor(d, db, certs)
    text = scrape(d, monitor)
    for family in ("esup_events_total", "esup_request_duration_seconds",
                   "esup_commit_duration_seconds", "esup_batch_events",
                   "esup_ingest_queue_events", "esup_db_up", "esup_db_reconnects_total",
                   "esup_sweeper_lag_seconds", "esup_alerts_raised_total", "esup_alerts_open",
                   "esup_tls_handshake_failures_total", "esup_connections",
                   "esup_certificate_expiry_seconds", "esup_crl_expiry_seconds",
                   "esup_rules_reload_duration_seconds", "esup_rules_reloads_total",
                   "esup_ready", "esup_build_info", "esup_start_time_seconds"):
        assert "\n# TYPE %s " % family in "\n" + text, family
        assert "# HELP %s " % family in text, family

    assert d.curl("/metrics").status == 401
    for who in ("dept-LY-SCJGJ", "supervisor", "auditor"):
        with d.client(who) as c:
            r = c.request("GET", "/metrics")
            assert r.status == 403, (who, r.body)
    with d.client(monitor) as c:
        assert c.request("POST", "/metrics").status == 405

    status, headers, body = local(d)
    assert status == 200 and headers["Content-Type"] == CONTENT_TYPE, (status, body[:200])
    assert b"# TYPE esup_events_total counter" in body
    status, headers, body = local(d, method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 1000
    for path, method in (("/metrics", "POST"), ("/metrics", "DELETE"), ("/", "GET"),
                         ("/healthz", "GET"), ("/v1/events", "POST"), ("/metrics/x", "GET")):
        assert local(d, path, method)[0] == 404, (path, method)

    s = parse(text)
    assert value(s, "esup_ready") == 1
    for conn in ("writer", "reader", "sweeper"):
        assert value(s, "esup_db_up", connection=conn) == 1, conn
    assert value(s, "esup_build_info", version="0.1.0") == 1
    assert abs(value(s, "esup_start_time_seconds") - time.time()) < 600
    # devcerts issues for a year or more; the test CRL is valid for days at least
    assert value(s, "esup_certificate_expiry_seconds", file="certificate") > 86400 * 30
    assert value(s, "esup_certificate_expiry_seconds", file="ca") > 86400 * 30
    assert value(s, "esup_crl_expiry_seconds") > 0
    assert value(s, "esup_rules_reloads_total", result="ok") >= 1
    assert value(s, "esup_connections", state="authenticated") >= 1


def test_metrics_listen_must_be_loopback(daemon_factory, testdir):
    d = daemon_factory()
    for bad in ("0.0.0.0:9187", "192.168.1.10:9187", "localhost:9187", "[::]:9187",
                "127.0.0.1", "127.0.0.1:0", "::ffff:127.0.0.1:9187"):
        d.config["metrics"] = {"listen": bad}
        d.write()
        proc = subprocess.run([str(ESUPD), "-n", "-c", str(d.conf_path)], capture_output=True,
                              text=True, timeout=60, env=sanitizer_env(),
                              **as_daemon_user())
        line = d.conf_path.read_text().splitlines().index("listen = " + bad) + 1
        assert proc.returncode != 0, bad
        assert "%s:%d: listen: expected a loopback ADDRESS:PORT" % (d.conf_path, line) \
            in proc.stderr, (bad, proc.stderr)
    for good in ("127.0.0.1:9187", "127.1.2.3:9187", "[::1]:9187", "::1:9187", ""):
        d.config["metrics"] = {"listen": good}
        d.write()
        proc = subprocess.run([str(ESUPD), "-n", "-c", str(d.conf_path)], capture_output=True,
                              text=True, timeout=60, env=sanitizer_env(),
                              **as_daemon_user())
        assert proc.returncode == 0, (good, proc.stderr)


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package prometheus) not installed")
def test_promtool_finds_the_exposition_clean(daemon_factory, db, certs):
    d = start(daemon_factory)
    monitor = with_monitor(d, db, certs)
    with d.client("dept-LY-SCJGJ") as c:
        assert c.post_events_committed([event()]).status == 200
    text = scrape(d, monitor)
    assert 'esup_events_total{department="LY-SCJGJ",type="approval.accepted",result="accepted"} 1' \
        in text
    proc = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == "", \
        (proc.returncode, proc.stdout, proc.stderr)


def test_counters_move_by_what_was_sent(daemon_factory, refdb, certs):
    d = start(daemon_factory, "2026-03-11T16:05:00+08:00")
    monitor = with_monitor(d, refdb, certs)
    before = parse(scrape(d, monitor))
    case = "LY-ZJJ-2026-900001"
    accepted = event(dept="LY-ZJJ", type="approval.accepted", case=case, item="ZJ-004",
                     at="2026-03-09T09:30:00+08:00")
    denied = event(dept="LY-ZJJ", type="approval.decided", case=case,
                   at="2026-03-11T16:00:00+08:00", result="denied",
                   report="LY-ZJJ-BPZ-2026-011", solution="补齐预售资金监管协议后重新申请")
    foreign = event(dept="LY-SCJGJ")   # sent by LY-ZJJ: rejected, never stored
    with d.client("dept-LY-ZJJ") as c:
        r = c.post_events_committed([accepted, denied])
        assert r.status == 200 and [x["status"] for x in r.json()["results"]] == \
            ["accepted", "accepted"], r.body
        r = c.post_events_committed([accepted, foreign])
        assert r.status == 200 and [x["status"] for x in r.json()["results"]] == \
            ["duplicate", "rejected"], r.body
        assert c.request("POST", "/v1/events", b"{}", "text/plain").status == 415
    assert refdb.scalar("SELECT count(*) FROM alerts WHERE case_no = %s"
                        " AND rule = 'APR-REFUSAL-NO-REASON'", (case,)) == 1
    after = parse(scrape(d, monitor))

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    ev = "esup_events_total"
    assert moved(ev, department="LY-ZJJ", type="approval.accepted", result="accepted") == 1
    assert moved(ev, department="LY-ZJJ", type="approval.decided", result="accepted") == 1
    assert moved(ev, department="LY-ZJJ", type="approval.accepted", result="duplicate") == 1
    assert moved(ev, department="LY-ZJJ", type="invalid", result="rejected") == 1
    total = sum(v for (n, _), v in after.items() if n == ev) - \
        sum(v for (n, _), v in before.items() if n == ev)
    assert total == 4
    assert not [k for k in after if k[0] == ev and ("department", "LY-SCJGJ") in k[1]], \
        "a department's label came from what the client wrote"
    assert moved("esup_alerts_raised_total", rule="APR-REFUSAL-NO-REASON", severity="yellow") == 1
    assert moved("esup_request_duration_seconds_count") == 3   # the 415 too
    assert moved("esup_request_duration_seconds_bucket", le="+Inf") == 3
    assert moved("esup_request_duration_seconds_sum") > 0
    # The duplicate is stored by nobody, the foreign one is refused before the writer: two
    # batches, one with two events and one with the duplicate.
    assert moved("esup_commit_duration_seconds_count") == 2
    assert moved("esup_batch_events_count") == 2
    assert moved("esup_batch_events_sum") == 3
    assert moved("esup_batch_events_bucket", le="2") == 2
    assert value(after, "esup_ingest_queue_events") == 0

    # The open alerts are read from the database every few seconds, never per scrape.
    wait_for(lambda: value(parse(scrape(d, monitor)), "esup_alerts_open", severity="yellow") == 1,
             30, "esup_alerts_open{severity=yellow} to read 1")
    status, _, body = local(d)
    assert status == 200
    assert value(parse(body.decode()), "esup_alerts_open", severity="yellow") == 1


def test_handshake_failures_by_reason(daemon_factory, db, certs):
    for name, kind in (("m-expired", "expired"), ("m-no-eku", "no-eku")):
        if not certs.pair(name)[0].exists():
            certs.devcerts(certs.dir, "--kind", kind, name)
            for f in certs.pair(name):
                f.chmod(0o644)
    d = start(daemon_factory)
    monitor = with_monitor(d, db, certs)
    before = parse(scrape(d, monitor))
    for name in ("revoked", "stranger", "m-expired", "m-no-eku"):
        cert, key = d.pair(name)
        assert handshake_refused(d.port, certs.ca, cert, key), name
    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as raw:
        raw.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")   # plain HTTP to TLS
        raw.recv(4096)
    want = {"revoked": 1, "unknown_ca": 1, "expired": 1, "bad_certificate": 1, "protocol": 1,
            "timeout": 0, "closed": 0}

    def moved():
        now = parse(scrape(d, monitor))
        return {r: value(now, "esup_tls_handshake_failures_total", reason=r) -
                value(before, "esup_tls_handshake_failures_total", reason=r) for r in want}
    wait_for(lambda: moved() == want, 15, "the failed handshakes to be counted")


def test_crl_expiry_reads_the_next_update(daemon_factory, db, certs, testdir):
    crl = testdir / "crl.pem"
    certs.devcerts(certs.dir, "--crl-for", "3600", str(crl))
    crl.chmod(0o644)
    d = start(daemon_factory)
    status, _, body = local(d)
    assert status == 200
    left = value(parse(body.decode()), "esup_crl_expiry_seconds")
    assert 3300 < left <= 3600, left


def prometheus_query(port, query):
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (port, urllib.parse.urlencode({"query": query}))
    with urllib.request.urlopen(url, timeout=10) as resp:
        body = json.load(resp)
    assert body["status"] == "success", body
    return body["data"]["result"]


@pytest.mark.skipif(PROMETHEUS is None, reason="prometheus (Debian package) not installed")
def test_prometheus_scrapes_esupd(daemon_factory, db, certs, testdir):
    d = start(daemon_factory)
    monitor = with_monitor(d, db, certs)
    cert, key = d.pair(monitor)
    with d.client("dept-LY-ZJJ") as c:
        r = c.post_events_committed([event(dept="LY-ZJJ") for _ in range(3)])
        assert r.status == 200 and r.json()["accepted"] == 3, r.body
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
        "scrape_configs": [
            {"job_name": "esupd-tls", "scheme": "https",
             "tls_config": {"ca_file": str(certs.ca), "cert_file": str(cert),
                            "key_file": str(key)},
             "static_configs": [{"targets": ["127.0.0.1:%d" % d.port]}]},
            {"job_name": "esupd-local",
             "static_configs": [{"targets": ["127.0.0.1:%d" % local_port(d)]}]},
        ],
    }
    conf = testdir / "prometheus.yml"
    conf.write_text(json.dumps(config))   # JSON is YAML
    if PROMTOOL is not None:
        check = subprocess.run([PROMTOOL, "check", "config", str(conf)], capture_output=True,
                               text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
    log = testdir / "prometheus.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([PROMETHEUS, "--config.file=%s" % conf,
                                 "--storage.tsdb.path=%s" % (testdir / "tsdb"),
                                 "--web.listen-address=127.0.0.1:%d" % port],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    try:
        def up():
            assert proc.poll() is None, log.read_text()
            try:
                result = prometheus_query(port, "up")
            except OSError:
                return False
            return sorted((r["metric"]["job"], r["value"][1]) for r in result) == [
                ("esupd-local", "1"), ("esupd-tls", "1")]
        wait_for(up, 60, "prometheus to scrape both esupd targets (up == 1)", interval=0.5)

        def events():
            result = prometheus_query(port, 'esup_events_total{department="LY-ZJJ",'
                                      'type="approval.accepted",result="accepted"}')
            return sorted((r["metric"]["job"], r["value"][1]) for r in result) == [
                ("esupd-local", "3"), ("esupd-tls", "3")]
        wait_for(events, 30, "prometheus to read esup_events_total = 3", interval=0.5)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package prometheus) not installed")
def test_contrib_alert_rules_are_valid(testdir):
    proc = subprocess.run([PROMTOOL, "check", "rules", str(CONTRIB / "esup-rules.yml")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout and "6 rules found" in proc.stdout, proc.stdout
    # The example scrape configuration, with its certificate paths made real.
    text = (CONTRIB / "esup.yml").read_text()
    for f in ("ca.crt", "monitor.crt", "monitor.key"):
        (testdir / f).write_text("")
    shutil.copy(CONTRIB / "esup-rules.yml", testdir / "esup-rules.yml")
    conf = testdir / "esup.yml"
    conf.write_text(text.replace("/etc/esup/monitor/", str(testdir) + "/"))
    proc = subprocess.run([PROMTOOL, "check", "config", str(conf)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_database_connection_lost_and_back(daemon_factory, db, certs):
    d = start(daemon_factory)
    monitor = with_monitor(d, db, certs)
    before = parse(scrape(d, monitor))
    assert value(before, "esup_db_up", connection="sweeper") == 1
    killed = db.scalar("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                       " WHERE datname = current_database() AND application_name = 'esupd sweeper'")
    assert killed == 1

    def reconnected():
        now = parse(scrape(d, monitor))
        return (value(now, "esup_db_reconnects_total", connection="sweeper") -
                value(before, "esup_db_reconnects_total", connection="sweeper") == 1 and
                value(now, "esup_db_up", connection="sweeper") == 1)
    wait_for(reconnected, 30, "the sweeper connection to be counted lost and to come back")
    after = parse(scrape(d, monitor))
    for conn in ("writer", "reader"):
        assert value(after, "esup_db_reconnects_total", connection=conn) == \
            value(before, "esup_db_reconnects_total", connection=conn), conn


def test_sweeper_lag_reads_the_oldest_due_case(daemon_factory, refdb, certs):
    # A sweeper that sweeps once at start (the rules' first load) and then not for an hour.
    d = start(daemon_factory, sweeper={"interval_ms": "3600000"})
    monitor = with_monitor(d, refdb, certs)
    ev = event(dept="LY-SCJGJ")
    with d.client("dept-LY-SCJGJ") as c:
        assert c.post_events_committed([ev]).status == 200
    # absent until the first read of the database, then 0: nothing is due
    wait_for(lambda: ("esup_sweeper_lag_seconds", frozenset()) in parse(scrape(d, monitor)), 30,
             "the first reading of esup_sweeper_lag_seconds")
    assert value(parse(scrape(d, monitor)), "esup_sweeper_lag_seconds") == 0
    refdb.query("UPDATE cases SET next_check_at = now() - interval '600 seconds'"
                " WHERE dept = 'LY-SCJGJ' AND case_no = %s", (ev["case"],))

    def lag():
        return value(parse(scrape(d, monitor)), "esup_sweeper_lag_seconds")
    wait_for(lambda: lag() >= 600, 30, "esup_sweeper_lag_seconds to read the due case")
    assert lag() < 700
    # After a reload (the same rules: nothing re-derived) the sweeper takes the due case.
    done = d.log_text().count("reload complete")
    d.signal(signal.SIGHUP)
    wait_for(lambda: d.log_text().count("reload complete") > done, 10, "the reload")
    wait_for(lambda: lag() == 0, 30, "the sweep to bring esup_sweeper_lag_seconds back to 0")


def test_statistical_rules_alerts_are_counted(pg, certs, workdir, request):
    """The statistical rules' job raises alerts outside case evaluation: counted as well (the
    set-up is test_stat_rules.py's, one finding per rule)."""
    import test_stat_rules as st
    from conftest import CALENDAR, ITEMS, SAMPLES, Daemon, finish_daemons, migrated_database

    db = migrated_database(pg, certs, workdir, "metrics_stat")
    db.load("calendar", CALENDAR)
    db.load("items", ITEMS)
    db.load("fee_items", SAMPLES / "fee_items.csv")
    d = Daemon(db, certs, workdir / db.name, testing={"clock_offset_s": offset_to(st.NOW)},
               statistics={"interval_s": 1}, metrics={"listen": "127.0.0.1:%d" % free_port()})
    try:
        d.start()
        st.post(d, "LY-ZJJ", [st.fee("LY-ZJJ", "ZJ-017", "2000.01")])
        st.post(d, "LY-ZRZYJ", [st.fee("LY-ZRZYJ", "ZR-F003", "10.00")])
        st.post(d, "LY-SCJGJ", st.late_case())
        st.post(d, "LY-GGZY", [st.inspection()])
        st.wait_rounds(d, 1)
        st.write_rollups(db)
        st.wait_rounds(d, 2)
        raised = {(a[1], a[2]) for a in st.sta_alerts(db)}
        assert len(raised) == 5, raised
        s = parse(local(d)[2].decode())
        counted = {(dict(k[1])["rule"], dict(k[1])["severity"]): v for k, v in s.items()
                   if k[0] == "esup_alerts_raised_total" and dict(k[1])["rule"].startswith("STA-")}
        assert counted == {k: 1 for k in raised}, counted
    finally:
        finish_daemons([d], request)
