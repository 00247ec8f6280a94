"""The console over HTTP (issue 10): the files embedded from console/ with their headers, ETag,
304 and HEAD; the redirects; certificates and roles as the API's; paths that must never reach a
file; GET /v1/me for each role; and the "allowed" actions of GET /v1/alerts/{id}, checked
against what POST /v1/alerts/{id}/{action} does for every state, role and scope reachable.

One database and one esupd for the module (real TLS: Python's ssl, and curl for raw paths).
The files checked are the repository's console/ as it is: the build embeds that directory.
"""

import hashlib
import itertools
import json
import socket
import subprocess
from datetime import datetime, timedelta

import psycopg
import pytest

from conftest import (CALENDAR, ITEMS, REPO, SAMPLES, SUPERVISION_TABLES, Daemon, add_principal,
                      dbsetup, finish_daemons, migrated_database, offset_to, wait_for)
from esupclient import tls_context
from test_alert_states import CONTRACT

CONSOLE = REPO / "console"
NOW = "2026-11-23T12:00:00+08:00"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "cache-control": "no-cache",
}
TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}

# Principals besides conftest's (dept-*, supervisor and auditor of 410300): name -> (role, region)
EXTRA = {"con-monitor": ("monitor", "410300"),
         "con-sup-zz": ("supervisor", "410100"),        # 郑州: not Luoyang's alerts
         "con-sup-province": ("supervisor", "410000"),
         "con-sup-all": ("supervisor", None),
         "con-sup-nowhere": ("supervisor", "419900")}   # a region the regions table lacks


def console_files():
    """name -> bytes of every file the build embeds (dotfiles are skipped, as by the build)."""
    if not (CONSOLE / "index.html").is_file():
        pytest.fail("console/index.html is missing: the console's files (h-ui) must be in the "
                    "repository, and the build embeds them")
    return {p.name: p.read_bytes() for p in sorted(CONSOLE.iterdir())
            if p.is_file() and not p.name.startswith(".")}


@pytest.fixture(scope="module")
def server(pg, certs, workdir, request):
    db = migrated_database(pg, certs, workdir, "console")
    db.load("calendar", CALENDAR)
    db.load("items", ITEMS)
    for table in SUPERVISION_TABLES:
        db.load(table, SAMPLES / (table + ".csv"))
    # No 督办 timer: the alerts crafted here must change only when a test acts on them.
    off = {"%s_%s" % (k, s): 0 for k in ("ack_hours", "resolve_days")
           for s in ("notice", "yellow", "red")}
    d = Daemon(db, certs, workdir / db.name, testing={"clock_offset_s": offset_to(NOW)},
               escalation=off)
    d.start()
    for name, (role, region) in EXTRA.items():
        add_principal(db, certs, name, role, region=region)

    def known(name):
        with d.client(name) as c:
            return c.request("GET", "/v1/me").status == 200
    # One load reads the whole table: once the last one is known, so are the others.
    for name, (role, _) in EXTRA.items():
        if role != "monitor":
            wait_for(lambda: known(name), 30, "esupd to load principal " + name)
    yield d
    finish_daemons([d], request)


def get(server, path, who="supervisor", method="GET", headers=None):
    with server.client(who) as c:
        return c.request(method, path, headers=headers)


def assert_file_reply(r, name, data):
    assert r.status == 200, (name, r.status, r.body[:200])
    for header, value in SECURITY_HEADERS.items():
        assert r.header(header) == value, (name, header, r.header(header))
    suffix = name[name.rfind("."):]
    assert r.header("content-type") == TYPES.get(suffix, r.header("content-type")), name
    if suffix not in TYPES:
        assert r.header("content-type") in ("application/json", "text/plain; charset=utf-8",
                                            "image/png", "image/x-icon", "font/woff2",
                                            "application/octet-stream"), name
    assert r.header("etag") == '"%s"' % hashlib.sha256(data).hexdigest(), name
    assert r.header("content-length") == str(len(data)), name


# ---------------------------------------------------------------- files and headers


def test_every_file_served_with_its_headers(server):
    files = console_files()
    assert {"index.html"} <= set(files)
    with server.client("supervisor") as c:
        for name, data in files.items():
            r = c.request("GET", "/console/" + name)
            assert_file_reply(r, name, data)
            assert r.body == data, name
        r = c.request("GET", "/console/")
        assert_file_reply(r, "index.html", files["index.html"])
        assert r.body == files["index.html"]
        # The query string is the page's business, not a file name.
        r = c.request("GET", "/console/?wall=1")
        assert r.status == 200 and r.body == files["index.html"]


def test_if_none_match_gives_304(server):
    files = console_files()
    etag = '"%s"' % hashlib.sha256(files["index.html"]).hexdigest()
    with server.client("dept-LY-ZJJ") as c:
        for inm in (etag, "W/" + etag, '"x", ' + etag, " %s ,\t\"y\"" % etag, "*"):
            for path in ("/console/", "/console/index.html"):
                r = c.request("GET", path, headers={"If-None-Match": inm})
                assert r.status == 304, (inm, path, r.status)
                assert r.body == b"", inm
                assert r.header("etag") == etag
                assert r.header("cache-control") == "no-cache"
                assert r.header("x-content-type-options") == "nosniff"
        for inm in ('"x"', etag[:-2] + '"', etag + "x", "W/", ""):
            r = c.request("GET", "/console/", headers={"If-None-Match": inm})
            assert r.status == 200 and r.body == files["index.html"], inm
        # Another file's tag is not this one's.
        other = [n for n in files if n != "index.html"]
        if other:
            r = c.request("GET", "/console/" + other[0], headers={"If-None-Match": etag})
            assert r.status == 200 and r.body == files[other[0]]
        r = c.request("HEAD", "/console/", headers={"If-None-Match": etag})
        assert r.status == 304 and r.body == b""


def test_head_sends_the_headers_without_the_body(server):
    files = console_files()
    with server.client("auditor") as c:
        for name, data in files.items():
            r = c.request("HEAD", "/console/" + name)
            assert_file_reply(r, name, data)
            assert r.body == b""
            # The same keep-alive connection reads the next reply cleanly: nothing was sent
            # after the HEAD's headers.
            r = c.request("GET", "/healthz")
            assert r.status == 200, name
    # On the wire: a HEAD reply ends with its headers, whatever it answers (a file, a
    # redirect, an error, /healthz: evhttp used to write JSON bodies after them).
    for path, status in (("/console/", 200), ("/console/index.html", 200), ("/", 302),
                         ("/console", 301), ("/console/none.js", 404), ("/healthz", 200)):
        raw = raw_request(server, "HEAD %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                          % path, "supervisor")
        head, _, rest = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 %d" % status), raw[:200]
        assert rest == b"", (path, rest[:100])
        assert b"\r\nContent-Length: " in head, (path, head)


def raw_request(server, text, who):
    cert, key = server.pair(who)
    ctx = tls_context(server.certs.ca, cert, key)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="127.0.0.1") as t:
            t.sendall(text.encode())
            out = b""
            while True:
                chunk = t.recv(65536)
                if not chunk:
                    return out
                out += chunk


def test_redirects(server):
    for method in ("GET", "HEAD"):
        r = get(server, "/", method=method)
        assert (r.status, r.header("location")) == (302, "/console/"), method
        r = get(server, "/console", method=method)
        assert (r.status, r.header("location")) == (301, "/console/"), method
    # curl follows them to the page.
    files = console_files()
    cert, key = server.pair("dept-LY-SCJGJ")
    proc = subprocess.run(["curl", "-sS", "-L", "--cacert", str(server.certs.ca), "--cert",
                           str(cert), "--key", str(key), "https://127.0.0.1:%d/" % server.port],
                          capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == files["index.html"]


def test_json_replies_say_nosniff(server):
    for path, who in (("/healthz", None), ("/v1/alerts", "supervisor"), ("/v1/me", "auditor"),
                      ("/v1/nothing", "auditor"), ("/console/none.js", "auditor")):
        with server.client(who) as c:
            r = c.request("GET", path)
        assert r.header("content-type") == "application/json", path
        assert r.header("x-content-type-options") == "nosniff", path


# ---------------------------------------------------------------- who may read it


def test_certificates_and_roles_as_the_api(server):
    paths = ("/", "/console", "/console/", "/console/index.html", "/console/none.js",
             "/console/a/b", "/v1/me")
    for path in paths:
        with server.client() as c:   # no certificate
            r = c.request("GET", path)
        assert r.status == 401, (path, r.status)
        assert r.json() == {"error": "a client certificate is required"}
        for who in ("unknown", "con-monitor"):   # not a principal; a role that may not read
            r = get(server, path, who)
            assert r.status == 403, (path, who, r.status)
            assert b"<" not in r.body
        for who in ("dept-LY-HBJ", "supervisor", "auditor"):
            assert get(server, path, who).status in (200, 301, 302, 404), (path, who)
    # A certificate from another CA or a revoked one never gets that far.
    for who in ("stranger", "revoked"):
        r = server.curl("/console/", who)
        assert r.status == 0, who
    # Another method: 405 (a body from a connection without a principal is refused first).
    for path in ("/console/", "/console/index.html", "/", "/console"):
        r = get(server, path, "supervisor", method="POST")
        assert (r.status, r.json()) == (405, {"error": "use GET"}), path
        with server.client() as c:
            assert c.request("POST", path, body=b"{}").status == 401, path


def test_paths_that_are_not_a_file(server):
    """Whatever the path, the console answers one of its files only to that file's own name:
    anything else is 404 (or, for the directory itself, the index)."""
    files = console_files()
    index = files["index.html"]
    attempts = ["/console/../v1/me", "/console/..%2fv1%2fme", "/console/%2e%2e%2fx",
                "/console/%2e%2e/v1/me", "/console/a/b", "/console//index.html",
                "/console/./index.html", "/console/.%2findex.html", "/console/%2findex.html",
                "/console/index.html%00", "/console/index.html%2f", "/console/index.html/",
                "/console/INDEX.HTML", "/console/index.html.", "/console/.index.html",
                "/console/%69ndex.html/..", "/console/..", "/console/.", "/console/%2e%2e",
                "/console/~", "/console/index", "/console/" + "a" * 300,
                "/console/%ff", "/console%2findex.html", "/consolex/index.html",
                "/console/meson.build", "/console/../daemon/esupd", "/console/...."]
    for path in attempts:
        r = get(server, path, "supervisor")
        # A path that is not UTF-8 once decoded (NUL included) is refused before routing.
        want = 400 if path.endswith(("%00", "%ff")) else 404
        assert r.status == want, (path, r.status, r.body[:100])
        assert r.header("content-type") == "application/json", path
        assert r.body != index
    # curl with the path as given (no ../ folding on the client side).
    cert, key = server.pair("auditor")
    for path in ("/console/../v1/me", "/console/../../etc/passwd", "/console/%2e%2e%2fv1%2fme"):
        proc = subprocess.run(["curl", "-sS", "--path-as-is", "-o", "-", "-w", "\n%{http_code}",
                               "--cacert", str(server.certs.ca), "--cert", str(cert), "--key",
                               str(key), "https://127.0.0.1:%d%s" % (server.port, path)],
                              capture_output=True, timeout=30)
        body, _, code = proc.stdout.rpartition(b"\n")
        assert code == b"404", (path, code, body[:200])
    # A URL-encoded name of a real file is that file (the segment is decoded once).
    r = get(server, "/console/%69ndex.html")
    assert r.status == 200 and r.body == index


# ---------------------------------------------------------------- GET /v1/me


def test_me_for_each_role(server):
    want_now = datetime.fromisoformat(NOW)
    cases = {
        "dept-LY-ZJJ": {"subject": "CN=dept-LY-ZJJ", "role": "department", "dept": "LY-ZJJ",
                        "region": "410300", "region_name": "洛阳市"},
        "supervisor": {"subject": "CN=supervisor", "role": "supervisor", "dept": None,
                       "region": "410300", "region_name": "洛阳市"},
        "auditor": {"subject": "CN=auditor", "role": "auditor", "dept": None,
                    "region": "410300", "region_name": "洛阳市"},
        "con-sup-province": {"subject": "CN=con-sup-province", "role": "supervisor",
                             "dept": None, "region": "410000", "region_name": "河南省"},
        "con-sup-all": {"subject": "CN=con-sup-all", "role": "supervisor", "dept": None,
                        "region": None, "region_name": None},
        "con-sup-nowhere": {"subject": "CN=con-sup-nowhere", "role": "supervisor",
                            "dept": None, "region": "419900", "region_name": None},
    }
    for who, want in cases.items():
        r = get(server, "/v1/me", who)
        assert r.status == 200, (who, r.body)
        me = r.json()
        now = me.pop("now")
        assert me == want, who
        assert now.endswith("+08:00") and len(now) == len("2026-11-23T12:00:00+08:00"), now
        assert abs(datetime.fromisoformat(now) - want_now) < timedelta(minutes=5), now
    assert get(server, "/v1/me", "con-monitor").status == 403
    assert get(server, "/v1/me", "supervisor", method="HEAD").status == 405


# ---------------------------------------------------------------- allowed actions

ACTIONS = ("ack", "appeal", "reject", "revoke", "resolve", "dismiss", "confirm", "cancel",
           "escalate")
STATES = ("held", "open", "acknowledged", "appealed", "suppressed", "resolved", "dismissed",
          "revoked", "cancelled", "superseded")
# The people's rows of the transition contract (test_alert_states.CONTRACT: schema/008,
# docs/protocol.md): (action, from, to, role); 'previous' is the state the alert was appealed
# from, 'same' unchanged.
PEOPLE = {row for row in CONTRACT if row[3] in ("department", "supervisor")}
NOTE_REQUIRED = {"ack", "appeal"}
# The regions the sample regions.csv gives a parent (410000, the province, has none).
PARENT = {"410300": "410000", "410302": "410300", "410303": "410300", "410000": None}
# Who reads what: name -> (role, dept, region or None for everywhere)
WHO = {"dept-LY-SCJGJ": ("department", "LY-SCJGJ", None),
       "dept-LY-ZJJ": ("department", "LY-ZJJ", None),
       "supervisor": ("supervisor", None, "410300"),
       "auditor": ("auditor", None, "410300"),
       "con-sup-zz": ("supervisor", None, "410100"),
       "con-sup-province": ("supervisor", None, "410000"),
       "con-sup-all": ("supervisor", None, None)}

_keys = itertools.count(1)


def prefix(scope):
    p = scope
    while len(p) >= 2 and p.endswith("00"):
        p = p[:-2]
    return p


def in_scope(who, alert):
    role, dept, region = WHO[who]
    if role == "department":   # its own, once issued to it (schema 034)
        return alert["dept"] == dept and alert["status"] not in ("held", "cancelled", "suppressed")
    if region is None:
        return True
    p = prefix(region)
    return alert["region"].startswith(p) or (alert["escalated_to"] or "").startswith(p)


def expected_allowed(who, alert):
    """What the contract says `who` may do to alert: None when it may not see it."""
    role = WHO[who][0]
    if not in_scope(who, alert):
        return None
    out = []
    for action in ACTIONS:
        for a, src, to, r in PEOPLE:
            if (a, src, r) != (action, alert["status"], role):
                continue
            if action == "escalate" and PARENT.get(alert["escalated_to"] or alert["region"]) is None:
                continue
            to = {"previous": alert["appealed_from"], "same": alert["status"]}.get(to, to)
            out.append({"action": action, "to": to, "note_required": action in NOTE_REQUIRED})
    return out


# Shapes of alert: (state, appealed_from, region, escalated_to)
SHAPES = [(s, None, "410300", None) for s in STATES if s != "appealed"] + [
    ("appealed", "open", "410300", None),
    ("appealed", "acknowledged", "410300", None),
    ("open", None, "410000", None),              # no region above: no escalate
    ("acknowledged", None, "410000", None),
    ("open", None, "410300", "410000"),          # escalated once: the province's too
    ("acknowledged", None, "410300", "410000"),
    ("appealed", "open", "410300", "410000"),
]


def craft(conn, shape, dept="LY-SCJGJ"):
    """An alert of this shape, written as the superuser with the action row saying so."""
    state, appealed_from, region, escalated_to = shape
    n = next(_keys)
    with conn.transaction():
        alert = conn.execute(
            "INSERT INTO alerts (rule, severity, dept, case_no, dedup_key, message, since, status,"
            " region, appealed_from, suppressed_by, issued_at, escalation_level, escalated_to)"
            " VALUES ('APR-DEADLINE-YELLOW', 'yellow', %(dept)s, %(case)s, %(key)s, 'crafted',"
            "  %(t)s, %(s)s, %(region)s, %(from)s, CASE WHEN %(s)s = 'suppressed' THEN 'mode' END,"
            "  CASE WHEN %(s)s NOT IN ('held', 'suppressed', 'cancelled') THEN %(t)s::timestamptz END,"
            "  %(level)s, %(up)s) RETURNING id",
            {"dept": dept, "case": "CON-%d" % n, "key": "APR-DEADLINE-YELLOW|%s|CON-%d" % (dept, n),
             "t": "2026-11-02T09:00:00+08:00", "s": state, "region": region,
             "from": appealed_from, "level": 1 if escalated_to else 0, "up": escalated_to}
        ).fetchone()[0]
        conn.execute("INSERT INTO alert_actions (alert_id, action, actor, actor_role, from_state,"
                     " to_state, at) VALUES (%s, 'raise', 'test', 'system', NULL, %s, %s)",
                     (alert, state, "2026-11-02T09:00:00+08:00"))
    return alert


def post(c, alert, action, note):
    body = json.dumps({"note": note} if note is not None else {}).encode()
    return c.request("POST", "/v1/alerts/%d/%s" % (alert, action), body, "application/json")


def history_len(conn, alert):
    return conn.execute("SELECT count(*) FROM alert_actions WHERE alert_id = %s",
                        (alert,)).fetchone()[0]


def test_allowed_is_exactly_what_an_action_does(server):
    """For every shape of alert and every principal: GET's "allowed" is what the contract says,
    each action offered succeeds (into the state it named; a required note is required) and
    each action not offered is refused and changes nothing."""
    tried = offered_total = 0
    with psycopg.connect(server.db.conninfo("postgres"), autocommit=True) as conn:
        for shape in SHAPES:
            for who in WHO:
                alert = craft(conn, shape)
                row = {"dept": "LY-SCJGJ", "status": shape[0], "appealed_from": shape[1],
                       "region": shape[2], "escalated_to": shape[3]}
                want = expected_allowed(who, row)
                with server.client(who) as c:
                    r = c.request("GET", "/v1/alerts/%d" % alert)
                    if want is None:
                        assert r.status == 404, (shape, who, r.status)
                    else:
                        assert r.status == 200, (shape, who, r.body)
                        assert r.json()["allowed"] == want, (shape, who, r.json()["allowed"])
                    offered = {a["action"]: a for a in (want or [])}
                    before = history_len(conn, alert)
                    for action in ACTIONS:
                        if action in offered:
                            continue
                        r = post(c, alert, action, "理由")
                        tried += 1
                        assert r.status in (403, 404, 409), (shape, who, action, r.status, r.body)
                    assert history_len(conn, alert) == before, (shape, who)
                    for action, a in offered.items():
                        fresh = craft(conn, shape)
                        if a["note_required"]:
                            r = post(c, fresh, action, None)
                            assert r.status == 400, (shape, who, action, r.status)
                            r = post(c, fresh, action, "  ")
                            assert r.status == 400, (shape, who, action, r.status)
                        r = post(c, fresh, action, "理由" if a["note_required"] else None)
                        tried += 1
                        offered_total += 1
                        assert r.status == 200, (shape, who, action, r.status, r.body)
                        after = r.json()
                        assert after["status"] == a["to"], (shape, who, action, after["status"])
                        # The reply's "allowed" is the next step's, as GET gives it.
                        again = c.request("GET", "/v1/alerts/%d" % fresh).json()
                        assert after["allowed"] == again["allowed"], (shape, who, action)
    assert offered_total >= 30 and tried > 600, (offered_total, tried)


def test_escalate_is_offered_only_with_a_region_above(server):
    """An alert of a region the regions table does not know has no region above: escalate is
    neither offered nor taken; once the region is there, both."""
    with psycopg.connect(server.db.conninfo("postgres"), autocommit=True) as conn:
        alert = craft(conn, ("open", None, "410399", None))
        r = get(server, "/v1/alerts/%d" % alert)
        assert [a["action"] for a in r.json()["allowed"]] == ["resolve", "dismiss"]
        with server.client("supervisor") as c:
            r = post(c, alert, "escalate", None)
            assert (r.status, r.json()["status"]) == (409, "open"), r.body
        conn.execute("INSERT INTO regions (code, name, level, parent)"
                     " VALUES ('410399', '测试区', 'county', '410300')")
        r = get(server, "/v1/alerts/%d" % alert)
        assert [a["action"] for a in r.json()["allowed"]] == ["resolve", "dismiss", "escalate"]
        with server.client("supervisor") as c:
            r = post(c, alert, "escalate", None)
            assert r.status == 200, r.body
            assert (r.json()["escalated_to"], r.json()["escalation_level"]) == ("410300", 1)
            # 410300 has 410000 above it: escalate is offered again.
            assert [a["action"] for a in r.json()["allowed"]] == ["resolve", "dismiss", "escalate"]


def test_allowed_in_psql_matches(server):
    """A person's esup_alert_allowed_mine gives what esup_alert_allowed_as gives the daemon
    for a principal of the same role, department and region."""
    db = server.db
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as conn:
        alerts = [craft(conn, shape) for shape in SHAPES]
    for who, (role, dept, region) in (("supervisor", ("supervisor", None, "410300")),
                                      ("dept-LY-SCJGJ", ("department", "LY-SCJGJ", None))):
        name = "%s_%s" % (db.name.replace("esup_", "c"), role)
        args = ["person", "add", name, "--role", role]
        args += ["--region", region] if region else ["--dept", dept]
        dbsetup(db.pg, *args, dbname=db.name)
        # Login roles belong to the whole cluster: removed again, or test_privileges (same
        # cluster, later) finds a login role it does not know.
        try:
            with psycopg.connect(db.conninfo(name), autocommit=True) as person:
                for alert in alerts:
                    mine = person.execute("SELECT action, to_state, note_required FROM"
                                          " esup_alert_allowed_mine(%s)", (alert,)).fetchall()
                    r = get(server, "/v1/alerts/%d" % alert, who)
                    want = [(a["action"], a["to"], a["note_required"])
                            for a in r.json()["allowed"]] if r.status == 200 else []
                    assert mine == want, (who, alert, mine, want)
        finally:
            dbsetup(db.pg, "person", "remove", name, dbname=db.name)


# ---------------------------------------------------------------- the embedding script


EMBED = REPO / "daemon" / "embed_console.sh"
DUMP_C = r"""
#include <stdio.h>
#include "api_console.h"
int main(void)
{
	for (size_t i = 0; i < console_files_count; i++) {
		const struct console_file *f = &console_files[i];
		printf("%s\t%s\t%zu\t%s\t", f->name, f->content_type, f->length, f->etag);
		for (size_t k = 0; k < f->length; k++)
			printf("%02x", f->bytes[k]);
		printf("\n");
	}
	return console_file_find("index.html") != NULL ? 0 : 3;
}
/* console_file_find as api_console.c has it, without the daemon around it. */
"""


def embed(tmp_path, files, dirs=()):
    src = tmp_path / "console"
    src.mkdir()
    for name, data in files.items():
        (src / name).write_bytes(data)
    for d in dirs:
        (src / d).mkdir()
    out, dep = tmp_path / "console_files.c", tmp_path / "console_files.d"
    proc = subprocess.run(["sh", str(EMBED), str(out), str(dep), str(src)], capture_output=True,
                          text=True, timeout=60)
    return proc, out, dep


def compile_and_dump(tmp_path, out):
    """Compiles the generated table with api_console.c's lookup under the project's warnings;
    returns {name: (type, bytes, etag)} and the exit status (0 when index.html is found)."""
    finder = (REPO / "daemon" / "api_console.c").read_text()
    start = finder.index("const struct console_file *\nconsole_file_find")
    end = finder.index("/* One entity tag")
    main = tmp_path / "dump.c"
    main.write_text("#include <string.h>\n" + DUMP_C + finder[start:end])
    exe = tmp_path / "dump"
    proc = subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-I", str(REPO / "daemon"),
                           "-o", str(exe), str(main), str(out)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=30)
    table = {}
    for line in run.stdout.splitlines():
        name, ctype, length, etag, hexdata = line.split("\t")
        data = bytes.fromhex(hexdata)
        assert len(data) == int(length)
        table[name] = (ctype, data, etag)
    return table, run.returncode


def test_embedding_takes_any_set_of_flat_files(tmp_path):
    files = {"index.html": "<!doctype html><title>监察</title>\n".encode(),
             "app.js": b"'use strict';\nconst s = \"a\\\\b??=\";\n",
             "empty.css": b"", "logo.png": bytes(range(256)) * 3, "data.bin": b"\x00\x01\xff",
             "x.svg": b"<svg/>", ".index.html.swp": b"junk", "a-b_c.1.txt": b"t"}
    proc, out, dep = embed(tmp_path, files)
    assert proc.returncode == 0, proc.stderr
    table, status = compile_and_dump(tmp_path, out)
    assert status == 0
    want = {n: d for n, d in files.items() if not n.startswith(".")}
    assert set(table) == set(want)
    for name, data in want.items():
        ctype, got, etag = table[name]
        assert got == data, name
        assert etag == '"%s"' % hashlib.sha256(data).hexdigest(), name
    assert table["index.html"][0] == "text/html; charset=utf-8"
    assert table["app.js"][0] == "text/javascript; charset=utf-8"
    assert table["empty.css"][0] == "text/css; charset=utf-8"
    assert table["x.svg"][0] == "image/svg+xml"
    assert table["logo.png"][0] == "image/png"
    assert table["data.bin"][0] == "application/octet-stream"
    # ninja's depfile names the directory (a file added or removed) and every file embedded.
    deps = dep.read_text().split(":", 1)[1].split()
    assert set(deps) == {str(tmp_path / "console")} | {str(tmp_path / "console" / n) for n in want}


def test_embedding_refuses_what_is_not_flat(tmp_path):
    proc, out, _ = embed(tmp_path, {"index.html": b"x"}, dirs=("lib",))
    assert proc.returncode == 1 and "regular files only, no subdirectories" in proc.stderr
    assert not out.exists()
    other = tmp_path / "other"
    other.mkdir()
    proc, out, _ = embed(other, {"index.html": b"x", "a b.js": b"y"})
    assert proc.returncode == 1 and "a b.js" in proc.stderr, proc.stderr
    assert not out.exists()


def test_embedding_an_absent_directory_gives_an_empty_table(tmp_path):
    out, dep = tmp_path / "c.c", tmp_path / "c.d"
    proc = subprocess.run(["sh", str(EMBED), str(out), str(dep), str(tmp_path / "console")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    table, status = compile_and_dump(tmp_path, out)
    assert (table, status) == ({}, 3)
    # Creating console/ changes its parent: that is what the depfile names.
    assert dep.read_text().split(":", 1)[1].split() == [str(tmp_path)]
