"""The alert API: GET /v1/alerts (filters, scope, cursor paging), GET /v1/alerts/{id}, the
actions (POST /v1/alerts/{id}/{action}) over the whole permission matrix and every illegal
transition, rule modes and silences, and the route table's answers around them.

Alerts come from real events through the daemon: a fee on an abolished item raises a caseless
FEE-ITEM-ABOLISHED red card per event, a fee on an unknown item a FEE-ITEM-UNKNOWN yellow card
(held, 待发, once that rule's mode is hold), an approval of an unknown item a case alert
(APR-ITEM-UNKNOWN). Every department of the sample is in Luoyang (410300).
"""

import itertools
import json
import subprocess
import threading
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from conftest import (offset_to, CALENDAR, ESUPD, ITEMS, SAMPLES, SUPERVISION_TABLES, Daemon,
                      Database, as_daemon_user, chown_daemon, dbsetup, default_config, event,
                      finish_daemons, free_port, register, sanitizer_env, wait_for,
                      write_config)

NOW = "2026-03-10T12:00:00+08:00"
USCC = "91410311MA47R2TD0Y"
_seq = itertools.count(1)

# name: (role, dept, region) of the principals these tests add.
EXTRA = {
    "sup-other": ("supervisor", None, "410100"),    # another city
    "sup-prov": ("supervisor", None, "410000"),     # the province above Luoyang
    "sup-county": ("supervisor", None, "410302"),   # a district below Luoyang
    "aud-other": ("auditor", None, "410100"),
}

DEPT_ACTIONS = {"ack", "appeal"}
SUP_ACTIONS = {"reject", "revoke", "resolve", "dismiss", "confirm", "cancel", "escalate"}
ACTIONS = sorted(DEPT_ACTIONS | SUP_ACTIONS)
# action -> the states it is legal from (contract: shared brief, "Alert states and actions").
LEGAL = {
    "ack": {"open"}, "appeal": {"open", "acknowledged"}, "reject": {"appealed"},
    "revoke": {"appealed"}, "resolve": {"open", "acknowledged"},
    "dismiss": {"open", "acknowledged", "appealed"}, "confirm": {"held"}, "cancel": {"held"},
    "escalate": {"open", "acknowledged"},
}
STATES = ["open", "acknowledged", "appealed", "held", "resolved", "dismissed", "revoked",
          "cancelled", "suppressed"]
# Not issued to the department: it does not see them (404 to everything it asks of them).
DEPT_HIDDEN = {"held", "cancelled", "suppressed"}


@pytest.fixture(scope="module")
def extra_certs(certs):
    certs.devcerts(certs.dir, *EXTRA)
    for line in certs.devcerts(certs.dir, "--fingerprint", *EXTRA).splitlines():
        name, fp = line.split()
        certs.fingerprints[name] = fp
    return certs


def add_principals(db, certs):
    for name, (role, dept, region) in EXTRA.items():
        db.query("INSERT INTO principals (fingerprint, subject, role, dept, region)"
                 " VALUES (%s, %s, %s, %s, %s)",
                 (certs.fingerprints[name], "CN=" + name, role, dept, region))


DAEMON = {"testing": {"clock_offset_s": offset_to(NOW)}, "rules": {"disable": "APR-LATE-REPORT"}}


@pytest.fixture(scope="module")
def shared(pg, extra_certs, workdir, request):
    """One database and daemon for the tests that only add alerts of their own (a fresh
    database costs seconds): the same steps as conftest's db, refdb and esupd fixtures."""
    testdir = workdir / "alerts-api-shared"
    testdir.mkdir(mode=0o755)
    chown_daemon(testdir)
    name = "esup_alerts_api_shared"
    dbsetup(pg, "init", dbname=name)
    db = Database(pg, name)
    conf = testdir / "migrate.conf"
    write_config(conf, default_config(db, extra_certs, testdir, free_port()))
    proc = subprocess.run([str(ESUPD), "-c", str(conf), "--migrate"], capture_output=True,
                          text=True, timeout=120, env=sanitizer_env(), cwd=testdir,
                          **as_daemon_user())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    register(db, extra_certs)
    db.load("calendar", CALENDAR)
    db.load("items", ITEMS)
    for table in SUPERVISION_TABLES:
        db.load(table, SAMPLES / (table + ".csv"))
    add_principals(db, extra_certs)
    daemon = Daemon(db, extra_certs, testdir, **DAEMON)
    yield daemon.start()
    finish_daemons([daemon], request)


@pytest.fixture
def fresh(refdb, extra_certs, daemon_factory):
    """A daemon of its own, for tests that count every alert or change rules and silences."""
    add_principals(refdb, extra_certs)
    return daemon_factory(**DAEMON).start()


def fee(dept, item):
    return event(dept=dept, id="fee-%06d" % next(_seq), type="fee.collected",
                 at="2026-03-03T10:00:00+08:00", case=None, fee_item=item, amount="100.00",
                 payer={"uscc": USCC, "name": "洛阳龙门建设工程有限公司"}, reviewer="P0456",
                 filing={"office": "jianfuban", "ref": "JFB-100"})   # filed: one card per fee


_conns = {}


def sql(d, query, params=None):
    """A query on one connection per database, kept open: a connection each time costs more
    than the test's own work."""
    conn = _conns.get(d.db.name)
    if conn is None or conn.closed:
        conn = _conns[d.db.name] = psycopg.connect(d.db.conninfo("postgres"), autocommit=True)
    return conn.execute(query, params).fetchall()


@pytest.fixture(scope="module", autouse=True)
def close_connections():
    yield
    for conn in _conns.values():
        conn.close()
    _conns.clear()


def post_events(d, dept, events):
    with d.client("dept-" + dept) as c:
        r = c.post_events_committed(events)
    assert r.status == 200, r.body
    assert all(x["status"] == "accepted" for x in r.json()["results"]), r.body


def raise_alerts(d, n, dept="LY-ZJJ", item="ZJ-009"):
    """n new caseless fee alerts of dept, their ids in the order raised."""
    events = [fee(dept, item) for _ in range(n)]
    post_events(d, dept, events)
    rows = sql(d, "SELECT evidence->>0, id FROM alerts WHERE dept = %s AND evidence ?| %s",
               (dept, [e["id"] for e in events]))
    ids = [dict(rows).get(e["id"]) for e in events]
    assert all(ids), ids
    return ids


class Api:
    """One keep-alive client per principal."""

    def __init__(self, d):
        self.d = d
        self.clients = {}

    def call(self, who, method, path, body=None):
        c = self.clients.get(who) or self.clients.setdefault(who, self.d.client(who))
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        return c.request(method, path, data, "application/json" if data is not None else None)

    def get(self, who, path):
        return self.call(who, "GET", path)

    def act(self, who, alert, action, note="有说明"):
        return self.call(who, "POST", "/v1/alerts/%d/%s" % (alert, action),
                         {} if note is None else {"note": note})

    def close(self):
        for c in self.clients.values():
            c.close()


@pytest.fixture
def d(shared):
    return shared


@pytest.fixture
def api(d):
    a = Api(d)
    yield a
    a.close()


@pytest.fixture
def fapi(fresh):
    a = Api(fresh)
    yield a
    a.close()


def ok(r, status=200):
    assert r.status == status, (r.status, r.body)
    return r.json()


def status_of(d, alert):
    return sql(d, "SELECT status FROM alerts WHERE id = %s", (alert,))[0][0]


class Pool:
    """Alerts of LY-ZJJ brought into a given state through the API, one fresh alert per use."""

    def __init__(self, d, api, opens, helds):
        self.d, self.api, self.opens, self.helds = d, api, list(opens), list(helds)

    def make(self, state):
        steps = {"open": [], "acknowledged": [("dept-LY-ZJJ", "ack")],
                 "appealed": [("dept-LY-ZJJ", "appeal")],
                 "resolved": [("supervisor", "resolve")], "dismissed": [("supervisor", "dismiss")],
                 "revoked": [("dept-LY-ZJJ", "appeal"), ("supervisor", "revoke")],
                 "held": [], "cancelled": [("supervisor", "cancel")]}[state]
        alert = (self.helds if state in ("held", "cancelled") else self.opens).pop()
        for who, action in steps:
            ok(self.api.act(who, alert, action))
        assert status_of(self.d, alert) == state
        return alert


def pool(d, api, opens, helds):
    ids = raise_alerts(d, opens)
    r = api.call("supervisor", "POST", "/v1/rules/FEE-ITEM-UNKNOWN/mode",
                 {"mode": "hold", "reason": "待发: confirm unknown fee items first"})
    assert ok(r) == {"code": "FEE-ITEM-UNKNOWN", "severity": "yellow", "mode": "hold"}, r.body
    held = raise_alerts(d, helds, item="ZJ-999")
    assert {status_of(d, a) for a in held} == {"held"}
    return Pool(d, api, ids, held)


# ---------------------------------------------------------------- who may do what


def expected(actor, action, state):
    """The answer the contract gives `actor` asking for `action` on a LY-ZJJ alert in `state`."""
    if actor in ("auditor", "aud-other"):
        return 403        # a reader: the route lets only departments and supervisors act
    if actor in ("dept-LY-SCJGJ", "sup-other", "sup-county"):
        return 404        # not its alert: the same answer as for none at all
    if actor == "dept-LY-ZJJ" and state in DEPT_HIDDEN:
        return 404        # its alert, but not issued to it (held): likewise
    allowed = DEPT_ACTIONS if actor == "dept-LY-ZJJ" else SUP_ACTIONS
    if action not in allowed:
        return 403
    return 200 if state in LEGAL[action] else 409


ACTORS = ["dept-LY-ZJJ", "dept-LY-SCJGJ", "supervisor", "sup-prov", "sup-other", "sup-county",
          "auditor"]


def test_permission_matrix(d, api):
    """Every action by the alert's department, another department, the supervisor of its
    region, of its parent region, of another region, of a district below it, and an auditor:
    each on an alert in a state the action is legal from (when there is one), so the answer
    tells only who may act."""
    p = pool(d, api, opens=49, helds=14)
    for action in ACTIONS:
        state = sorted(LEGAL[action])[0]
        for actor in ACTORS:
            alert = p.make(state)
            want = expected(actor, action, state)
            r = api.act(actor, alert, action)
            assert r.status == want, (actor, action, state, r.status, r.body)
            after = status_of(d, alert)
            if want == 200:
                body = r.json()
                assert body["id"] == alert and body["status"] == after != state or \
                    action == "escalate", (actor, action, body)
                last = sql(d, "SELECT action, from_state, to_state, actor FROM alert_actions"
                                  " WHERE alert_id = %s ORDER BY id DESC LIMIT 1", (alert,))[0]
                assert last[:2] == (action, state) and last[2] == after, last
                assert last[3] == "CN=" + actor, last
            else:
                assert after == state, (actor, action, "changed without a 200")


def test_escalation_moves_up_and_widens_the_scope(d, api):
    (alert,) = raise_alerts(d, 1)
    body = ok(api.act("supervisor", alert, "escalate", note="督办"))
    assert (body["status"], body["escalation_level"], body["escalated_to"]) == \
        ("open", 1, "410000"), body
    # The province has no parent: nothing above to escalate to.
    r = api.act("sup-prov", alert, "escalate")
    assert r.status == 409 and r.json()["status"] == "open", r.body
    assert ok(api.get("sup-prov", "/v1/alerts/%d" % alert))["escalated_to"] == "410000"


def test_note_is_required_for_the_departments_answers(d, api):
    ids = raise_alerts(d, 2)
    for alert, action in zip(ids, ("ack", "appeal")):
        for note in (None, "", "  "):
            r = api.act("dept-LY-ZJJ", alert, action, note=note)
            assert r.status == 400 and r.json()["error"]["field"] == "note", (action, note, r.body)
        assert status_of(d, alert) == "open"
    r = api.call("dept-LY-ZJJ", "POST", "/v1/alerts/%d/ack" % ids[0], {"note": 5})
    assert r.status == 400 and r.json()["error"]["field"] == "note", r.body
    r = api.call("dept-LY-ZJJ", "POST", "/v1/alerts/%d/ack" % ids[0], "[1]")
    assert r.status == 400 and r.json()["error"]["field"] == "body", r.body
    with d.client("dept-LY-ZJJ") as c:
        r = c.request("POST", "/v1/alerts/%d/ack" % ids[0], b"{not json", "application/json")
    assert r.status == 400 and r.json()["error"]["field"] == "body", r.body


def test_every_illegal_transition_is_409_with_the_state(d, api):
    """Each action from each state it is not legal from, asked by a principal allowed to take
    it: 409 naming the current state, and nothing changes."""
    p = pool(d, api, opens=8, helds=2)
    sample = {s: p.make(s) for s in STATES if s != "suppressed"}
    checked = 0

    def check(state, alert):
        nonlocal checked
        for action in ACTIONS:
            if state in LEGAL[action]:
                continue
            actor = "dept-LY-ZJJ" if action in DEPT_ACTIONS else "supervisor"
            r = api.act(actor, alert, action)
            if actor == "dept-LY-ZJJ" and state in DEPT_HIDDEN:
                # Not issued to the department: no such alert, as far as it can tell.
                assert r.status == 404 and r.json() == {"error": "no such alert"}, \
                    (state, action, r.status, r.body)
                assert status_of(d, alert) == state
                checked += 1
                continue
            assert r.status == 409, (state, action, r.status, r.body)
            assert r.json()["status"] == state and r.json()["error"], r.body
            assert status_of(d, alert) == state
            checked += 1

    for state, alert in sample.items():
        check(state, alert)
    # Switching the rule off suppresses its live alerts; back to hold, they are held again.
    mode = "/v1/rules/FEE-ITEM-UNKNOWN/mode"
    assert ok(api.call("supervisor", "POST", mode, {"mode": "off", "reason": "停用"}))["mode"] == "off"
    assert status_of(d, sample["held"]) == "suppressed"
    check("suppressed", sample["held"])
    assert ok(api.call("supervisor", "POST", mode, {"mode": "hold", "reason": "待发"}))["mode"] == "hold"
    assert status_of(d, sample["held"]) == "held"
    assert checked == sum(len(STATES) - len(LEGAL[a] & set(STATES)) for a in ACTIONS)


def test_appeal_rejected_returns_to_where_it_came_from(d, api):
    a, b = raise_alerts(d, 2)
    ok(api.act("dept-LY-ZJJ", b, "ack", note="已整改 (回告)"))
    for alert, was in ((a, "open"), (b, "acknowledged")):
        assert ok(api.act("dept-LY-ZJJ", alert, "appeal", note="申诉理由"))["status"] == "appealed"
        assert ok(api.act("sup-prov", alert, "reject", note="申诉不成立"))["status"] == was


def test_not_found_is_the_same_in_and_out_of_scope(d, api):
    (alert,) = raise_alerts(d, 1)
    missing = alert + 1000000
    for who in ("sup-other", "dept-LY-SCJGJ", "sup-county", "aud-other"):
        for method, path in (("GET", "/v1/alerts/%d"), ("POST", "/v1/alerts/%d/resolve"),
                             ("POST", "/v1/alerts/%d/ack")):
            if method == "POST" and who == "aud-other":
                continue   # a reader may not act at all: 403 before any lookup
            body = {"note": "x"} if method == "POST" else None
            a = api.call(who, method, path % alert, body)
            b = api.call(who, method, path % missing, body)
            assert (a.status, a.body) == (b.status, b.body) and a.status == 404, (who, path, a, b)
            assert a.header("content-length") == b.header("content-length")
    r = api.get("sup-other", "/v1/alerts/abc")
    assert (r.status, r.body) == (404, api.get("sup-other", "/v1/alerts/%d" % missing).body)


def test_a_department_sees_its_alert_once_issued(d, api):
    """A held alert (待发) is not issued: its department neither lists nor reads it (the 404 of
    an alert that does not exist), nor once cancelled or suppressed; confirmed, it is the
    department's like any other. Supervisors and auditors see every state."""
    mode = "/v1/rules/FEE-ITEM-UNKNOWN/mode"
    ok(api.call("supervisor", "POST", mode, {"mode": "hold", "reason": "待发"}))
    held = raise_alerts(d, 3, item="ZJ-999")
    assert {status_of(d, a) for a in held} == {"held"}
    ok(api.act("supervisor", held[1], "cancel", note="误报"))
    missing = api.get("dept-LY-ZJJ", "/v1/alerts/%d" % (held[-1] + 1000000))
    assert missing.status == 404

    def dept_sees():
        shown = [a for a in held
                 if api.get("dept-LY-ZJJ", "/v1/alerts/%d" % a).status == 200]
        for alert in set(held) - set(shown):
            r = api.get("dept-LY-ZJJ", "/v1/alerts/%d" % alert)
            assert (r.status, r.body) == (missing.status, missing.body), alert
        listed = set(ids_of(ok(api.get("dept-LY-ZJJ", "/v1/alerts?limit=500"))))
        for status in ("held", "cancelled", "suppressed", "open"):
            listed |= set(ids_of(ok(api.get("dept-LY-ZJJ", "/v1/alerts?status=" + status))))
        assert listed & set(held) == set(shown), (listed & set(held), shown)
        return shown

    def others_see(states):
        for who in ("supervisor", "sup-prov", "auditor"):
            got = {a: ok(api.get(who, "/v1/alerts/%d" % a))["status"] for a in held}
            assert got == dict(zip(held, states)), who
            listed = ids_of(ok(api.get(who, "/v1/alerts?status=held,cancelled,suppressed")))
            assert {a for a, s in zip(held, states) if s != "open"} <= set(listed), who

    assert dept_sees() == []
    others_see(["held", "cancelled", "held"])
    r = api.act("dept-LY-ZJJ", held[0], "ack")
    assert (r.status, r.body) == (missing.status, missing.body)

    body = ok(api.act("supervisor", held[0], "confirm", note="核实, 下发"))
    assert body["status"] == "open"
    assert dept_sees() == [held[0]]
    others_see(["open", "cancelled", "held"])
    shown = ok(api.get("dept-LY-ZJJ", "/v1/alerts/%d" % held[0]))
    assert [(x["action"], x["to"]) for x in shown["actions"]] == [("raise", "held"),
                                                                  ("confirm", "open")]
    assert [x["action"] for x in shown["allowed"]] == ["ack", "appeal"]

    # The rule switched off suppresses the issued one too: out of the department's sight.
    ok(api.call("supervisor", "POST", mode, {"mode": "off", "reason": "停用"}))
    assert dept_sees() == []
    others_see(["suppressed", "cancelled", "suppressed"])
    ok(api.call("supervisor", "POST", mode, {"mode": "hold", "reason": "待发"}))
    assert dept_sees() == []
    others_see(["held", "cancelled", "held"])


# ---------------------------------------------------------------- reading


def test_caseless_alert_shows_its_actions_and_evidence(d, api):
    (alert,) = raise_alerts(d, 1)
    ev_id = d.db.scalar("SELECT evidence->>0 FROM alerts WHERE id = %s", (alert,))
    ok(api.act("dept-LY-ZJJ", alert, "ack", note="已退费 (回告)"))
    for who in ("dept-LY-ZJJ", "supervisor", "sup-prov", "auditor"):
        body = ok(api.get(who, "/v1/alerts/%d" % alert))
        assert body["case"] is None and body["rule"] == "FEE-ITEM-ABOLISHED", body
        assert (body["dept"], body["region"], body["severity"], body["status"]) == \
            ("LY-ZJJ", "410300", "red", "acknowledged"), body
        assert body["evidence"] == [ev_id]
        assert [e["id"] for e in body["events"]] == [ev_id], body["events"]
        assert body["events"][0]["fee_item"] == "ZJ-009"
        assert [(x["action"], x["from"], x["to"]) for x in body["actions"]] == \
            [("raise", None, "open"), ("ack", "open", "acknowledged")], body["actions"]
        assert body["actions"][1]["note"] == "已退费 (回告)"
        assert body["actions"][1]["role"] == "department"
        # The raise step's note gives the condition's time as people read it (found by an
        # audit: it was "…since 2026-03-03T02:00:00Z").
        assert body["actions"][0]["note"] == "condition holds since 2026-03-03T10:00:00+08:00"
        assert body["since"] == "2026-03-03T10:00:00+08:00"
        assert body["raised_at"].endswith("+08:00") and body["issued_at"].endswith("+08:00")
        assert set(body) >= {"id", "rule", "severity", "dept", "case", "item", "region",
                             "status", "message", "since", "raised_at", "status_at",
                             "issued_at", "escalation_level", "escalated_to", "evidence"}


def listed(api, who, query=""):
    body = ok(api.get(who, "/v1/alerts" + query))
    assert set(body) == {"alerts", "next_cursor"}, body
    return body


def ids_of(body):
    return [a["id"] for a in body["alerts"]]


def test_list_scope_and_filters(fresh, fapi):
    d, api = fresh, fapi
    zjj = raise_alerts(d, 3)
    scj = raise_alerts(d, 2, dept="LY-SCJGJ", item="XX-999")
    case_ev = event(dept="LY-SCJGJ", type="approval.accepted", item="SCJG-999",
                    at="2026-03-03T10:00:00+08:00")
    post_events(d, "LY-SCJGJ", [case_ev])
    case_alert = d.db.scalar("SELECT id FROM alerts WHERE case_no = %s", (case_ev["case"],))
    everything = sorted(zjj + scj + [case_alert], reverse=True)

    for who in ("supervisor", "sup-prov", "auditor"):
        assert ids_of(listed(api, who)) == everything, who
    assert ids_of(listed(api, "dept-LY-ZJJ")) == sorted(zjj, reverse=True)
    assert ids_of(listed(api, "dept-LY-ZJJ", "?dept=LY-SCJGJ")) == []
    for who in ("sup-other", "aud-other", "sup-county"):
        assert listed(api, who) == {"alerts": [], "next_cursor": None}, who

    def q(query):
        return ids_of(listed(api, "supervisor", query))
    assert q("?dept=LY-SCJGJ") == sorted(scj + [case_alert], reverse=True)
    assert q("?severity=red") == sorted(zjj, reverse=True)
    assert q("?severity=notice,yellow") == sorted(scj + [case_alert], reverse=True)
    assert q("?rule=FEE-ITEM-UNKNOWN") == sorted(scj, reverse=True)
    assert q("?case=" + case_ev["case"]) == [case_alert]
    assert q("?item=SCJG-999") == [case_alert]
    assert q("?region=410300") == everything and q("?region=410000") == everything
    assert q("?region=410302") == []
    ok(api.act("dept-LY-ZJJ", zjj[0], "ack", note="回告"))
    assert q("?status=acknowledged") == [zjj[0]]
    assert q("?status=open,acknowledged&dept=LY-ZJJ") == sorted(zjj, reverse=True)
    assert q("?since=2026-03-10T00:00:00%2B08:00&until=2026-03-11T00:00:00%2B08:00") == everything
    assert q("?since=2026-03-11T00:00:00%2B08:00") == []
    assert q("?since=2026-03-11T00:00:00+08:00") == []      # "+" unencoded reads as a space
    assert q("?since=2026-03-10T00:00:00+08:00") == everything
    assert q("?until=2026-03-10T00:00:00Z") == []
    assert q("?limit=2") == everything[:2]


def test_since_and_until_keep_fractional_seconds(d, api):
    """since and until are compared to the microsecond: an alert raised at T is listed from
    since=T and until T + 1 µs, not from since=T + 1 µs or T + 0.5 s, nor until T (whole epoch
    seconds made since=12:05:03.5 take in an alert raised at 12:05:03.000)."""
    (alert,) = raise_alerts(d, 1)
    raised = sql(d, "SELECT raised_at FROM alerts WHERE id = %s", (alert,))[0][0]
    shanghai = timezone(timedelta(hours=8))

    def listed_at(name, at, form=lambda t: t.isoformat(timespec="microseconds")):
        text = form(at.astimezone(shanghai)).replace("+", "%2B")
        return alert in ids_of(listed(api, "supervisor", "?dept=LY-ZJJ&%s=%s" % (name, text)))

    micro, half = timedelta(microseconds=1), timedelta(milliseconds=500)
    assert listed_at("since", raised) and not listed_at("since", raised + micro)
    assert not listed_at("since", raised + half)
    assert listed_at("until", raised + micro) and not listed_at("until", raised)
    # The same instants in UTC with a lower-case 'z' (RFC 3339 allows it; so does mon_time_parse).
    utc = lambda t: t.astimezone(timezone.utc).isoformat(timespec="microseconds")[:-6] + "z"
    assert not listed_at("since", raised + micro, utc) and listed_at("until", raised + micro, utc)


BAD_QUERIES = [
    ("limit=0", "limit"), ("limit=501", "limit"), ("limit=ten", "limit"), ("limit=", "limit"),
    ("severity=purple", "severity"), ("severity=red,", "severity"),
    ("status=closed", "status"), ("since=yesterday", "since"),
    ("until=2026-03-10T12:00:00", "until"), ("region=4103", "region"),
    ("cursor=abc", "cursor"), ("cursor=-1", "cursor"), ("dept=", "dept"),
    ("rule=" + "R" * 65, "rule"), ("colour=red", "colour"), ("dept=A&dept=B", "dept"),
    ("dept", "query"),
]


def test_list_refuses_bad_parameters(d, api):
    for query, field in BAD_QUERIES:
        r = api.get("supervisor", "/v1/alerts?" + query)
        assert r.status == 400, (query, r.status, r.body)
        err = r.json()["error"]
        assert err["field"] == field and err["expected"] and "got" in err, (query, err)


def test_paging_loses_and_repeats_nothing_while_alerts_arrive(d, api):
    """Pages of 5 while another department system keeps raising alerts: every alert that
    existed when the first page was read comes exactly once, in order; the new ones come first
    in a new listing."""
    raise_alerts(d, 23)
    seen, cursor, pages = [], None, 0
    stop = threading.Event()
    arrived = []
    query = "?dept=LY-ZJJ&severity=red&limit=5"

    def keep_raising():
        while not stop.is_set():
            arrived.extend(raise_alerts(d, 2))

    t = threading.Thread(target=keep_raising)
    try:
        while True:
            body = listed(api, "supervisor", query + ("&cursor=" + cursor if cursor else ""))
            seen += ids_of(body)
            pages += 1
            if pages == 1:
                t.start()   # from now on alerts arrive while the pages are read
            if pages == 2:
                wait_for(lambda: len(arrived) >= 4, 30, "alerts raised between pages")
            cursor = body["next_cursor"]
            if cursor is None:
                break
            assert isinstance(cursor, str) and len(body["alerts"]) == 5
    finally:
        stop.set()
        if t.is_alive():
            t.join()
    assert len(seen) == len(set(seen)), "an alert came twice"
    assert seen == sorted(seen, reverse=True)
    top = seen[0]
    there = {r[0] for r in d.db.query("SELECT id FROM alerts WHERE dept = 'LY-ZJJ'"
                                      " AND severity = 'red' AND id <= %s", (top,))}
    assert set(seen) == there, "an alert was lost"
    assert pages >= 5 and arrived and min(arrived) > top
    # Newest first: a fresh listing starts with what arrived.
    assert ids_of(listed(api, "supervisor", query.replace("limit=5", "limit=1"))) == \
        [max(arrived)]


# ---------------------------------------------------------------- rules and silences


def test_rule_modes(fresh, fapi):
    d, api = fresh, fapi
    rules = ok(api.get("auditor", "/v1/rules"))["rules"]
    assert {"code": "FEE-ITEM-ABOLISHED", "severity": "red", "mode": "issue"} in rules
    path = "/v1/rules/FEE-ITEM-ABOLISHED/mode"
    for who, want in (("auditor", 403), ("dept-LY-ZJJ", 403)):
        assert api.call(who, "POST", path, {"mode": "off", "reason": "x"}).status == want
    for body, field in (({"mode": "sometimes", "reason": "x"}, "mode"),
                        ({"mode": "off"}, "reason"), ({"reason": "x"}, "mode")):
        r = api.call("supervisor", "POST", path, body)
        assert r.status == 400 and r.json()["error"]["field"] == field, r.body
    assert api.call("supervisor", "POST", "/v1/rules/NO-SUCH-RULE/mode",
                    {"mode": "off", "reason": "x"}).status == 404
    (alert,) = raise_alerts(d, 1)
    assert ok(api.call("supervisor", "POST", path, {"mode": "off", "reason": "停用"}))["mode"] == "off"
    assert status_of(d, alert) == "suppressed"
    assert ok(api.call("supervisor", "POST", path, {"mode": "issue", "reason": "恢复"}))["mode"] == "issue"
    assert status_of(d, alert) == "open"


def test_silences(fresh, fapi):
    d, api = fresh, fapi
    body = {"rule": "FEE-ITEM-ABOLISHED", "dept": "LY-ZJJ", "starts_at": "2026-03-10T08:00:00+08:00",
            "ends_at": "2026-03-10T18:00:00+08:00", "reason": "计划停机 (planned outage)"}
    for who in ("auditor", "dept-LY-ZJJ"):
        assert api.call(who, "POST", "/v1/silences", body).status == 403, who
    for bad, field in (({"ends_at": "tomorrow"}, "ends_at"), ({"reason": ""}, "reason"),
                       ({"ends_at": "2026-03-10T07:00:00+08:00"}, "ends_at"),
                       ({"rule": None, "dept": None}, "rule")):
        r = api.call("supervisor", "POST", "/v1/silences", dict(body, **bad))
        assert r.status == 400 and r.json()["error"]["field"] == field, (bad, r.body)
    s = ok(api.call("supervisor", "POST", "/v1/silences", body), 201)
    assert (s["rule"], s["dept"], s["region"], s["reason"]) == \
        ("FEE-ITEM-ABOLISHED", "LY-ZJJ", "410300", body["reason"]), s
    assert s["ends_at"] == "2026-03-10T18:00:00+08:00" and s["expired_at"] is None
    (alert,) = raise_alerts(d, 1)
    assert status_of(d, alert) == "suppressed"
    assert [x["id"] for x in ok(api.get("auditor", "/v1/silences"))] == [s["id"]]
    assert ok(api.get("aud-other", "/v1/silences")) == []
    assert api.call("sup-other", "POST", "/v1/silences/%d/expire" % s["id"]).status == 404
    done = ok(api.call("supervisor", "POST", "/v1/silences/%d/expire" % s["id"]))
    assert done["id"] == s["id"] and done["expired_at"] is not None
    r = api.call("supervisor", "POST", "/v1/silences/%d/expire" % s["id"])
    assert r.status == 409 and r.json()["status"] == "expired", r.body
    assert status_of(d, alert) == "open"


def test_silence_for_seconds_from_the_servers_start(fresh, fapi):
    """for_s instead of ends_at: the silence lasts that many seconds from its start, which is
    the server's business clock unless starts_at is given."""
    api = fapi
    body = {"dept": "LY-ZJJ", "reason": "割接"}
    for bad in ({}, {"for_s": 0}, {"for_s": -5}, {"for_s": "180"}, {"for_s": 1.5},
                {"for_s": 366 * 86400 + 1}, {"for_s": 180, "ends_at": "2026-03-10T18:00:00+08:00"}):
        r = api.call("supervisor", "POST", "/v1/silences", dict(body, **bad))
        field = "ends_at" if not bad else "for_s"
        assert r.status == 400 and r.json()["error"]["field"] == field, (bad, r.body)
    s = ok(api.call("supervisor", "POST", "/v1/silences", dict(body, for_s=180)), 201)
    # The daemon's business clock reads NOW (its [testing] offset), days from the wall clock.
    assert NOW <= s["starts_at"] < "2026-03-10T12:01", s
    assert datetime.fromisoformat(s["ends_at"]) - datetime.fromisoformat(s["starts_at"]) == \
        timedelta(seconds=180), s
    s = ok(api.call("supervisor", "POST", "/v1/silences",
                    dict(body, starts_at="2026-03-11T08:00:00+08:00", for_s=3600)), 201)
    assert (s["starts_at"], s["ends_at"]) == ("2026-03-11T08:00:00+08:00",
                                              "2026-03-11T09:00:00+08:00"), s


# ---------------------------------------------------------------- the route table


def test_routes_answer_405_and_404_after_authentication(d, api):
    (alert,) = raise_alerts(d, 1)
    for method, path, message in (("POST", "/v1/alerts", "use GET"),
                                  ("GET", "/v1/alerts/%d/ack" % alert, "use POST"),
                                  ("POST", "/v1/alerts/%d" % alert, "use GET"),
                                  ("GET", "/v1/silences/1/expire", "use POST")):
        r = api.call("supervisor", method, path)
        assert (r.status, r.json()) == (405, {"error": message}), (method, path, r.body)
    for path in ("/v1/alerts/%d/ack/more" % alert, "/v1/alerts/%d/frobnicate" % alert,
                 "/v1/alert", "/v1/alerts/"):
        method = "POST" if "frob" in path else "GET"
        r = api.call("supervisor", method, path, {} if method == "POST" else None)
        assert (r.status, r.json()) == (404, {"error": "no such resource"}), (path, r.body)
    with d.client() as anonymous:
        assert anonymous.request("GET", "/v1/alerts/%d" % alert).status == 401
        assert anonymous.request("GET", "/v1/alerts/%d/ack/more" % alert).status == 401
    # The path parameter is decoded and length-checked before any handler sees it.
    assert api.get("supervisor", "/v1/alerts/%%31%d" % alert).status == 404
    assert api.get("supervisor", "/v1/alerts/" + "9" * 70).status == 404
    assert api.get("supervisor", "/v1/alerts/%d" % alert).status == 200
