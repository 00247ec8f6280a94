"""The alert state machine in the database (schema/008): every legal and illegal transition, who
may take which action, 督办 escalation's compare-and-set, rule modes (issue, hold, off), silences
at their boundaries, rules switched off in esupd.conf, the NOTIFY payload and the valid-card view.

Alerts are crafted through esup_apply_evaluation as the daemon (esupd) or, for an arbitrary
state, written by the superuser with their action row; actions go through the functions the
daemon calls (esup_alert_act_as for a certificate's principal, esup_alert_act_system for its
jobs). Business times are passed as `at`: nothing here sleeps.
"""

import hashlib
import itertools
import json

import psycopg
import pytest
from psycopg import errors

from conftest import migrated_database, wait_for  # noqa: F401 (others import it from here)

LIVE = ("held", "open", "acknowledged", "appealed", "suppressed")
FINAL = ("resolved", "dismissed", "revoked", "cancelled", "superseded")
ACTIONS = ("ack", "appeal", "reject", "revoke", "resolve", "dismiss", "confirm", "cancel",
           "escalate", "suppress", "issue", "supersede", "correct")
T0 = "2026-03-02T09:00:00+08:00"
T1 = "2026-03-05T12:00:00+08:00"

# The contract (issue 8; schema/008's comment): (action, from, to, role). 'previous' is the
# state the alert was appealed from, 'same' unchanged, 'issued' open (or held under mode hold).
CONTRACT = {
    ("ack", "open", "acknowledged", "department"),
    ("appeal", "open", "appealed", "department"),
    ("appeal", "acknowledged", "appealed", "department"),
    ("reject", "appealed", "previous", "supervisor"),
    ("revoke", "appealed", "revoked", "supervisor"),
    ("resolve", "open", "resolved", "supervisor"),
    ("resolve", "acknowledged", "resolved", "supervisor"),
    ("dismiss", "open", "dismissed", "supervisor"),
    ("dismiss", "acknowledged", "dismissed", "supervisor"),
    ("dismiss", "appealed", "dismissed", "supervisor"),
    ("confirm", "held", "open", "supervisor"),
    ("cancel", "held", "cancelled", "supervisor"),
    ("escalate", "open", "same", "supervisor"),
    ("escalate", "acknowledged", "same", "supervisor"),
    ("escalate", "open", "same", "system"),
    ("escalate", "acknowledged", "same", "system"),
    ("resolve", "open", "resolved", "system"),
    ("resolve", "acknowledged", "resolved", "system"),
    ("resolve", "appealed", "resolved", "system"),
    ("resolve", "suppressed", "resolved", "system"),
    ("resolve", "held", "cancelled", "system"),
    ("suppress", "open", "suppressed", "system"),
    ("suppress", "acknowledged", "suppressed", "system"),
    ("suppress", "held", "suppressed", "system"),
    ("issue", "suppressed", "issued", "system"),
    # the department corrected an event the evidence names (schema/021, issue 11)
    ("correct", "open", "resolved", "system"),
    ("correct", "acknowledged", "resolved", "system"),
    ("correct", "appealed", "resolved", "system"),
    ("correct", "suppressed", "resolved", "system"),
    ("correct", "held", "cancelled", "system"),
} | {("supersede", s, "superseded", "system") for s in LIVE}

# The states in which a department does not see its alert (daemon/alert.h ALERT_DEPT_HIDDEN_SQL).
DEPT_HIDDEN = ("held", "cancelled", "suppressed")

REGIONS = [("410000", "河南省", "province", None), ("410300", "洛阳市", "city", "410000"),
           ("410302", "老城区", "county", "410300"), ("410100", "郑州市", "city", "410000")]
COUNTY_DEPT = "LY-LCQ-SCJGJ"   # a county department (老城区), below the city's


def fingerprint(name):
    return hashlib.sha256(name.encode()).hexdigest()


# Principals besides conftest's (dept-*, supervisor and auditor of 410300): name -> (role, dept, region)
EXTRA = {"sup-province": ("supervisor", None, "410000"),
         "sup-county": ("supervisor", None, "410302"),
         "sup-zhengzhou": ("supervisor", None, "410100"),
         "sup-everywhere": ("supervisor", None, None),
         "sup-disabled": ("supervisor", None, "410300"),
         "monitor": ("monitor", None, "410300")}


@pytest.fixture(scope="module")
def shared_db(pg, certs, workdir):
    """One database for the module (a fresh one per test would cost most of its time), with a
    region tree, a county department and more principals. Tests use cases of their own."""
    db = migrated_database(pg, certs, workdir, "states")
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO regions (code, name, level, parent) VALUES (%s, %s, %s, %s)",
                            REGIONS)
            cur.execute("INSERT INTO departments (code, name, region) VALUES (%s, '老城区市场监管局', '410302')",
                        (COUNTY_DEPT,))
            cur.executemany("INSERT INTO principals (fingerprint, subject, role, dept, region, enabled)"
                            " VALUES (%s, %s, %s, %s, %s, %s)",
                            [(fingerprint(n), "CN=" + n, r, d, g, n != "sup-disabled")
                             for n, (r, d, g) in EXTRA.items()])
    db.fp = dict(certs.fingerprints)
    db.fp.update({n: fingerprint(n) for n in EXTRA})
    db.fp["unknown"] = fingerprint("nobody")
    return db


@pytest.fixture
def sdb(shared_db):
    """The module's database; what a test changes for every alert (rule modes, silences, the
    mode log) is put back afterwards, by the superuser."""
    yield shared_db
    with psycopg.connect(shared_db.conninfo("postgres"), autocommit=True) as conn:
        conn.execute("UPDATE rules SET mode = 'issue' WHERE mode <> 'issue'")
        conn.execute("DELETE FROM silences")
        conn.execute("ALTER TABLE rule_mode_changes DISABLE TRIGGER rule_mode_changes_append_only")
        conn.execute("DELETE FROM rule_mode_changes")
        conn.execute("ALTER TABLE rule_mode_changes ENABLE TRIGGER rule_mode_changes_append_only")


def connect(db, role="esupd"):
    return psycopg.connect(db.conninfo(role), autocommit=True)


_keys = itertools.count(1)


def craft(db, state, dept="LY-SCJGJ", region="410300", rule="APR-DEADLINE-YELLOW",
          appealed_from="acknowledged"):
    """An alert in any state, written as the superuser with the action row that says so."""
    n = next(_keys)
    with connect(db, "postgres") as conn, conn.transaction():
        alert = conn.execute(
            "INSERT INTO alerts (rule, severity, dept, case_no, dedup_key, message, since, status,"
            " region, appealed_from, suppressed_by, issued_at)"
            " VALUES (%(rule)s, 'yellow', %(dept)s, %(case)s, %(key)s, 'crafted', %(t)s, %(s)s,"
            "  %(region)s, CASE WHEN %(s)s = 'appealed' THEN %(from)s END,"
            "  CASE WHEN %(s)s = 'suppressed' THEN 'mode' END,"
            "  CASE WHEN %(s)s NOT IN ('held', 'suppressed', 'cancelled') THEN %(t)s::timestamptz END)"
            " RETURNING id",
            {"rule": rule, "dept": dept, "case": "CRAFT-%d" % n, "key": "%s|%s|CRAFT-%d" % (rule, dept, n),
             "t": T0, "s": state, "region": region, "from": appealed_from}).fetchone()[0]
        conn.execute("INSERT INTO alert_actions (alert_id, action, actor, actor_role, from_state,"
                     " to_state, at) VALUES (%s, 'raise', 'test', 'system', NULL, %s, %s)",
                     (alert, state, T0))
    return alert


def act(conn, db, who, alert, action, note="because", at=T1):
    """(outcome, status, action_id) of `who` (a principal's name, or 'system') acting."""
    if who == "system":
        return conn.execute("SELECT * FROM esup_alert_act_system(%s, %s, %s, %s, NULL)",
                            (alert, action, note, at)).fetchone()
    return conn.execute("SELECT * FROM esup_alert_act_as(%s, %s, %s, %s, %s)",
                        (db.fp[who], alert, action, note, at)).fetchone()


def alert_row(db, alert):
    cols = ("status", "escalation_level", "escalated_to", "appealed_from", "suppressed_by",
            "issued_at", "acknowledged_at")
    return dict(zip(cols, db.query("SELECT %s FROM alerts WHERE id = %%s" % ", ".join(cols),
                                   (alert,))[0]))


def history(db, alert):
    return db.query("SELECT action, from_state, to_state, actor, actor_role FROM alert_actions"
                    " WHERE alert_id = %s ORDER BY id", (alert,))


# ---------------------------------------------------------------- evaluations


def store_event(db, case, event_id, dept="LY-SCJGJ"):
    with connect(db) as conn:
        conn.execute(
            "WITH s AS (SELECT nextval('events_seq') AS seq, now() AS r),"
            " i AS (INSERT INTO event_ids (dept, event_id, seq, received_at)"
            "       SELECT %(d)s, %(i)s, seq, r FROM s)"
            " INSERT INTO events (seq, received_at, dept, event_id, type, at, case_no, item,"
            "                     principal, body) OVERRIDING SYSTEM VALUE"
            " SELECT seq, r, %(d)s, %(i)s, 'approval.accepted', %(t)s, %(c)s, 'SCJG-001', 'test',"
            "        '{}' FROM s", {"d": dept, "i": event_id, "t": T0, "c": case})


def condition(rule, severity, case, dept="LY-SCJGJ", supersedes=None):
    return {"rule": rule, "severity": severity, "key": "%s|%s|%s" % (rule, dept, case),
            "supersedes": supersedes, "since": T0, "message": rule, "evidence": [case + "-e1"]}


def evaluate(db, case, conditions, at=T1, dept="LY-SCJGJ", disabled=None):
    ev = {"dept": dept, "case": case, "item": "SCJG-001", "status": "accepted",
          "unit": "working", "committed_days": 5, "statutory_days": 10, "counted_days": 1,
          "suspended_days": 0, "committed_day": "2026-03-09", "statutory_day": "2026-03-16",
          "level": None, "next_check": None, "conditions": conditions}
    if disabled is not None:
        ev["disabled"] = disabled
    with connect(db) as conn:
        return conn.execute("SELECT alert_id, action, rule FROM esup_apply_evaluation(%s, %s)",
                            (json.dumps(ev), at)).fetchall()


def raise_alert(db, case, rule="APR-DEADLINE-YELLOW", severity="yellow", at=T1, dept="LY-SCJGJ"):
    """Stores the case's event and evaluates it with one condition; returns (id, what happened)."""
    store_event(db, case, case + "-e1", dept=dept)
    rows = evaluate(db, case, [condition(rule, severity, case, dept=dept)], at=at, dept=dept)
    assert len(rows) == 1, rows
    return rows[0][0], rows[0][1]


# ---------------------------------------------------------------- the state machine


def test_transition_table_is_the_contract(sdb):
    assert set(sdb.query("SELECT action, from_state, to_state, actor_role FROM alert_transitions")) \
        == CONTRACT


def test_every_state_action_and_role(sdb):
    """The whole product state x action x role against alert_transitions: a listed step is done
    and lands where the table says; a step the role has from other states only is illegal (409
    with the current state); an action the role never has is forbidden; and a department's
    alert held, cancelled or suppressed is not found for the department, whatever the action."""
    rows = sdb.query("SELECT action, from_state, to_state, actor_role FROM alert_transitions")
    table = {(a, f, r): t for a, f, t, r in rows}
    roles = {"department": "dept-LY-SCJGJ", "supervisor": "supervisor", "system": "system"}
    alerts = {s: craft(sdb, s) for s in LIVE + FINAL}
    checked = 0
    with connect(sdb) as conn:
        for (state, alert), action, (role, who) in itertools.product(
                alerts.items(), ACTIONS, roles.items()):
            with conn.transaction(force_rollback=True):
                outcome, status, action_id = act(conn, sdb, who, alert, action)
                to = table.get((action, state, role))
                if role == "department" and state in DEPT_HIDDEN:
                    # Not issued to the department: as if it did not exist (schema 034).
                    assert (outcome, status, action_id) == ("not_found", None, None), \
                        (state, action, role)
                elif to is not None:
                    want = {"previous": "acknowledged", "same": state, "issued": "open"}.get(to, to)
                    assert (outcome, status) == ("done", want), (state, action, role)
                    assert action_id is not None
                    got = conn.execute("SELECT from_state, to_state, actor_role, status FROM"
                                       " alert_actions x JOIN alerts a ON a.id = x.alert_id"
                                       " WHERE x.id = %s", (action_id,)).fetchone()
                    assert got == (state, want, role, want), (state, action, role, got)
                elif any(k[0] == action and k[2] == role for k in table):
                    assert (outcome, status, action_id) == ("illegal", state, None), \
                        (state, action, role)
                else:
                    assert (outcome, status, action_id) == ("forbidden", state, None), \
                        (state, action, role)
                checked += 1
    assert checked == 10 * len(ACTIONS) * 3
    # Nothing was kept: each alert is still in its state, with its one row.
    for state, alert in alerts.items():
        assert alert_row(sdb, alert)["status"] == state
        assert len(history(sdb, alert)) == 1


def test_unknown_action_and_missing_notes(sdb):
    alert = craft(sdb, "open")
    with connect(sdb) as conn:
        assert act(conn, sdb, "supervisor", alert, "reopen") == ("bad_request", None, None)
        assert act(conn, sdb, "dept-LY-SCJGJ", alert, "ack", note="  ") == ("bad_request", "open", None)
        assert act(conn, sdb, "dept-LY-SCJGJ", alert, "appeal", note=None) == \
            ("bad_request", "open", None)
        # A supervisor's steps need no note (the contract asks one of 回告 and 申诉 only).
        assert act(conn, sdb, "supervisor", alert, "resolve", note=None)[:2] == ("done", "resolved")
    assert history(sdb, alert)[-1] == ("resolve", "open", "resolved", "CN=supervisor", "supervisor")


def test_a_department_answers_and_appeals(sdb):
    """回告, 申诉, appeal rejected (back to where it was), appeal again, upheld (撤消)."""
    alert, what = raise_alert(sdb, "LY-SCJGJ-ST-1")
    assert what == "raised"
    dept = "dept-LY-SCJGJ"
    with connect(sdb) as conn:
        assert act(conn, sdb, dept, alert, "ack", "补正材料已通知申请人", at="2026-03-05T14:00:00+08:00")[:2] \
            == ("done", "acknowledged")
        assert act(conn, sdb, dept, alert, "appeal", "申请人原因延误")[:2] == ("done", "appealed")
        assert alert_row(sdb, alert)["appealed_from"] == "acknowledged"
        assert act(conn, sdb, "supervisor", alert, "reject", "证据不足")[:2] == ("done", "acknowledged")
        assert alert_row(sdb, alert)["appealed_from"] is None
        assert act(conn, sdb, dept, alert, "appeal", "补充证据")[:2] == ("done", "appealed")
        assert act(conn, sdb, "supervisor", alert, "revoke", "申诉成立")[:2] == ("done", "revoked")
        assert act(conn, sdb, "supervisor", alert, "resolve")[:2] == ("illegal", "revoked")
    row = alert_row(sdb, alert)
    assert row["acknowledged_at"].isoformat() == "2026-03-05T06:00:00+00:00"
    assert row["issued_at"].isoformat() == "2026-03-05T04:00:00+00:00"
    assert history(sdb, alert) == [
        ("raise", None, "open", "esupd", "system"),
        ("ack", "open", "acknowledged", "CN=" + dept, "department"),
        ("appeal", "acknowledged", "appealed", "CN=" + dept, "department"),
        ("reject", "appealed", "acknowledged", "CN=supervisor", "supervisor"),
        ("appeal", "acknowledged", "appealed", "CN=" + dept, "department"),
        ("revoke", "appealed", "revoked", "CN=supervisor", "supervisor"),
    ]
    notes = [r[0] for r in sdb.query("SELECT note FROM alert_actions WHERE alert_id = %s"
                                     " ORDER BY id", (alert,))]
    assert notes[1:] == ["补正材料已通知申请人", "申请人原因延误", "证据不足", "补充证据", "申诉成立"]


# ---------------------------------------------------------------- who may act


# The actor, and what it gets for an action it may take (in the alert's right state) on an
# alert of LY-SCJGJ in 410300: the department acts on its own; supervisors of 410300 or above
# on the region's; everyone else sees nothing (not_found) or may not act (forbidden).
PERMISSIONS = {
    "dept-LY-SCJGJ": {"department": "done", "supervisor": "forbidden"},
    "dept-LY-ZJJ": {"department": "not_found", "supervisor": "not_found"},
    "supervisor": {"department": "forbidden", "supervisor": "done"},
    "sup-province": {"department": "forbidden", "supervisor": "done"},
    "sup-everywhere": {"department": "forbidden", "supervisor": "done"},
    "sup-county": {"department": "not_found", "supervisor": "not_found"},
    "sup-zhengzhou": {"department": "not_found", "supervisor": "not_found"},
    "sup-disabled": {"department": "forbidden", "supervisor": "forbidden"},
    "auditor": {"department": "forbidden", "supervisor": "forbidden"},
    "monitor": {"department": "forbidden", "supervisor": "forbidden"},
    "unknown": {"department": "forbidden", "supervisor": "forbidden"},
}
# action -> (the state it is taken from, whose action it is)
STEPS = {"ack": ("open", "department"), "appeal": ("acknowledged", "department"),
         "reject": ("appealed", "supervisor"), "revoke": ("appealed", "supervisor"),
         "resolve": ("open", "supervisor"), "dismiss": ("acknowledged", "supervisor"),
         "confirm": ("held", "supervisor"), "cancel": ("held", "supervisor"),
         "escalate": ("open", "supervisor")}


def test_permission_matrix(sdb):
    alerts = {s: craft(sdb, s) for s in {state for state, _ in STEPS.values()}}
    with connect(sdb) as conn:
        for who, (action, (state, owner)) in itertools.product(PERMISSIONS, STEPS.items()):
            with conn.transaction(force_rollback=True):
                outcome = act(conn, sdb, who, alerts[state], action)[0]
                want = PERMISSIONS[who][owner]
                if who == "dept-LY-SCJGJ" and state in DEPT_HIDDEN:
                    want = "not_found"   # its own, but not issued to it (schema 034)
                assert outcome == want, (who, action, outcome)
    # Nobody may act on an alert that does not exist; the answer is the out-of-scope one.
    with connect(sdb) as conn:
        assert act(conn, sdb, "supervisor", 10 ** 12, "resolve")[0] == "not_found"
        assert act(conn, sdb, "dept-LY-SCJGJ", 10 ** 12, "ack")[0] == "not_found"


def test_escalated_alert_reaches_the_parent_supervisor(sdb):
    """A county alert is the county's and, by prefix, the city's; escalation names the city."""
    alert = craft(sdb, "open", dept=COUNTY_DEPT, region="410302")
    with connect(sdb) as conn:
        assert act(conn, sdb, "sup-county", alert, "escalate", "未按期回告")[:2] == ("done", "open")
        row = alert_row(sdb, alert)
        assert (row["escalation_level"], row["escalated_to"]) == (1, "410300")
        assert act(conn, sdb, "supervisor", alert, "escalate")[:2] == ("done", "open")
        row = alert_row(sdb, alert)
        assert (row["escalation_level"], row["escalated_to"]) == (2, "410000")
        # The province has no region above it.
        assert act(conn, sdb, "sup-province", alert, "escalate")[:2] == ("illegal", "open")
        assert act(conn, sdb, "sup-zhengzhou", alert, "resolve")[0] == "not_found"


def test_escalation_is_compare_and_set(sdb):
    """esupd's 督办 timer passes the level it saw: a replay after a crash changes nothing."""
    alert = craft(sdb, "acknowledged")
    esc = "SELECT * FROM esup_alert_act_system(%s, 'escalate', '逾期未办结', %s, %s)"
    with connect(sdb) as conn:
        first = conn.execute(esc, (alert, T1, 0)).fetchone()
        assert first[:2] == ("done", "acknowledged") and first[2] is not None
        assert conn.execute(esc, (alert, T1, 0)).fetchone() == ("illegal", "acknowledged", None)
        # Another step with a stale level is refused as well.
        assert conn.execute("SELECT * FROM esup_alert_act_system(%s, 'resolve', 'x', %s, 0)",
                            (alert, T1)).fetchone() == ("illegal", "acknowledged", None)
        assert conn.execute(esc, (alert, T1, 1)).fetchone() == ("illegal", "acknowledged", None)
    row = alert_row(sdb, alert)
    assert (row["escalation_level"], row["escalated_to"], row["status"]) == \
        (1, "410000", "acknowledged")
    assert [h[0] for h in history(sdb, alert)] == ["raise", "escalate"]
    assert history(sdb, alert)[1][3:] == ("esupd", "system")


def test_no_state_change_without_an_action_row(sdb):
    alert = craft(sdb, "open")
    with connect(sdb, "postgres") as conn:
        for state in ("held", "appealed", "suppressed", "cancelled"):
            with pytest.raises(errors.InsufficientPrivilege, match="without an alert_actions row"):
                conn.execute("UPDATE alerts SET status = %s, appealed_from = CASE WHEN %s ="
                             " 'appealed' THEN 'open' END, suppressed_by = CASE WHEN %s ="
                             " 'suppressed' THEN 'mode' END WHERE id = %s",
                             (state, state, state, alert))
    with connect(sdb) as conn:
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("UPDATE alerts SET status = 'dismissed' WHERE id = %s", (alert,))
        for fn in ("esup_alert_transition(%s, 'resolve', 'x', 'system', NULL, NULL, 'x', now(), NULL)",):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute("SELECT * FROM " + fn, (alert,))
    for role in ("esup_supervisor", "esup_auditor"):
        assert not sdb.scalar("SELECT has_function_privilege(%s, 'esup_alert_act_as(text, bigint,"
                              " text, text, timestamptz)', 'EXECUTE')", (role,))
    assert alert_row(sdb, alert)["status"] == "open"


# ---------------------------------------------------------------- rule modes


def mode(db, who, rule, to, reason="试运行", at=T1):
    with connect(db) as conn:
        return conn.execute("SELECT * FROM esup_rule_mode_as(%s, %s, %s, %s, %s)",
                            (db.fp[who], rule, to, reason, at)).fetchone()


def test_rule_mode_hold_confirm_and_cancel(sdb):
    rule = "APR-SUPPLEMENT-LATE"
    assert mode(sdb, "sup-county", rule, "hold") == ("forbidden", None, 0)
    assert mode(sdb, "supervisor", "APR-NO-SUCH", "hold") == ("not_found", None, 0)
    assert mode(sdb, "supervisor", rule, "sometimes") == ("bad_request", "issue", 0)
    assert mode(sdb, "supervisor", rule, "hold", reason="") == ("bad_request", "issue", 0)
    assert mode(sdb, "supervisor", rule, "hold") == ("done", "hold", 0)
    held, what = raise_alert(sdb, "LY-SCJGJ-HOLD-1", rule=rule)
    assert what == "held"
    assert alert_row(sdb, held)["issued_at"] is None
    other, _ = raise_alert(sdb, "LY-SCJGJ-HOLD-2", rule=rule)
    with connect(sdb) as conn:
        # Not the department's to see until confirmed: as if it did not exist (schema 034).
        assert act(conn, sdb, "dept-LY-SCJGJ", held, "ack") == ("not_found", None, None)
        assert act(conn, sdb, "supervisor", held, "confirm", at="2026-03-06T09:00:00+08:00")[:2] \
            == ("done", "open")
        assert act(conn, sdb, "supervisor", other, "cancel", "误报")[:2] == ("done", "cancelled")
    assert alert_row(sdb, held)["issued_at"].isoformat() == "2026-03-06T01:00:00+00:00"
    # A cancelled condition stays closed: the next evaluation does not raise it again.
    assert evaluate(sdb, "LY-SCJGJ-HOLD-2", [condition(rule, "yellow", "LY-SCJGJ-HOLD-2")]) == []
    valid = dict(sdb.query("SELECT id, valid FROM esup_alerts WHERE id IN (%s, %s)", (held, other)))
    assert valid == {held: True, other: False}
    assert sdb.query("SELECT rule, from_mode, to_mode, actor, actor_role, reason FROM rule_mode_changes") \
        == [(rule, "issue", "hold", "CN=supervisor", "supervisor", "试运行")]


def test_rule_mode_off_suppresses_and_back_on_issues(sdb):
    rule = "APR-SUPPLEMENT-REPEAT"
    live, _ = raise_alert(sdb, "LY-SCJGJ-OFF-1", rule=rule)
    held = craft(sdb, "held", rule=rule)
    appealed = craft(sdb, "appealed", rule=rule)
    with connect(sdb) as conn:
        assert act(conn, sdb, "dept-LY-SCJGJ", live, "ack", "已整改")[0] == "done"
    assert mode(sdb, "supervisor", rule, "off", "规则调整") == ("done", "off", 2)
    assert [alert_row(sdb, a)["status"] for a in (live, held, appealed)] == \
        ["suppressed", "suppressed", "appealed"]
    raised, what = raise_alert(sdb, "LY-SCJGJ-OFF-2", rule=rule)
    assert what == "suppressed"
    assert alert_row(sdb, raised)["suppressed_by"] == "mode"
    assert mode(sdb, "supervisor", rule, "off") == ("done", "off", 0)   # no change, no row
    # Back on, as hold: every alert it suppressed comes back, held for confirmation.
    assert mode(sdb, "supervisor", rule, "hold", at="2026-03-09T09:00:00+08:00") == ("done", "hold", 3)
    assert [alert_row(sdb, a)["status"] for a in (live, held, raised)] == ["held"] * 3
    assert mode(sdb, "supervisor", rule, "off") == ("done", "off", 3)
    assert mode(sdb, "supervisor", rule, "issue", at="2026-03-10T09:00:00+08:00") == ("done", "issue", 3)
    assert [alert_row(sdb, a)["status"] for a in (live, held, raised)] == ["open"] * 3
    assert alert_row(sdb, raised)["issued_at"].isoformat() == "2026-03-10T01:00:00+00:00"
    assert [h[0] for h in history(sdb, live)] == ["raise", "ack", "suppress", "issue", "suppress", "issue"]
    assert sdb.scalar("SELECT count(*) FROM rule_mode_changes") == 4
    with pytest.raises(errors.InsufficientPrivilege):
        sdb.query("DELETE FROM rule_mode_changes")


# ---------------------------------------------------------------- silences


def silence(db, who, starts, ends, reason="系统停机维护", rule=None, dept=None, item=None, region=None):
    with connect(db) as conn:
        return conn.execute("SELECT esup_silence_add_as(%s, %s, %s, %s, %s, %s, %s, %s)",
                            (db.fp[who], rule, dept, item, region, starts, ends, reason)).fetchone()[0]


def lift(db, at):
    with connect(db) as conn:
        return conn.execute("SELECT esup_silences_lift(%s)", (at,)).fetchone()[0]


def test_silence_boundaries(sdb):
    """Active from starts_at (inclusive) to ends_at (exclusive); lifted exactly at its end."""
    starts, ends = "2026-03-05T08:00:00+08:00", "2026-03-05T18:00:00+08:00"
    sid = silence(sdb, "supervisor", starts, ends, dept="LY-SCJGJ")
    assert sdb.query("SELECT region, author FROM silences WHERE id = %s", (sid,)) == \
        [("410300", "CN=supervisor")]
    before, what = raise_alert(sdb, "LY-SCJGJ-SIL-1", at="2026-03-05T07:59:59+08:00")
    assert what == "raised"
    first, what = raise_alert(sdb, "LY-SCJGJ-SIL-2", at=starts)
    assert what == "suppressed"
    last, what = raise_alert(sdb, "LY-SCJGJ-SIL-3", at="2026-03-05T17:59:59+08:00")
    assert what == "suppressed"
    after, what = raise_alert(sdb, "LY-SCJGJ-SIL-4", at=ends)
    assert what == "raised"
    other, what = raise_alert(sdb, "LY-ZJJ-SIL-5", at=starts, dept="LY-ZJJ")
    assert what == "raised"
    assert "silence %d" % sid in sdb.scalar("SELECT note FROM alert_actions WHERE alert_id = %s", (first,))
    assert lift(sdb, "2026-03-05T17:59:59+08:00") == 0
    assert lift(sdb, ends) == 2
    assert lift(sdb, ends) == 0
    for alert in (first, last):
        row = alert_row(sdb, alert)
        assert (row["status"], row["issued_at"].isoformat()) == ("open", "2026-03-05T10:00:00+00:00")
        assert [h[0] for h in history(sdb, alert)] == ["raise", "issue"]
    assert alert_row(sdb, before)["status"] == "open"   # raised before: never silenced


def test_silence_scope_and_expiry(sdb):
    t, later = "2026-03-05T08:00:00+08:00", "2026-03-06T08:00:00+08:00"
    add = "SELECT esup_silence_add_as(%s, %s, NULL, NULL, %s, %s, %s, %s)"
    with connect(sdb) as conn:
        for who, region, err in (("sup-county", "410300", errors.InsufficientPrivilege),
                                 ("sup-zhengzhou", "410302", errors.InsufficientPrivilege),
                                 ("auditor", None, errors.InsufficientPrivilege),
                                 ("dept-LY-SCJGJ", None, errors.InsufficientPrivilege)):
            with pytest.raises(err):
                conn.execute(add, (sdb.fp[who], None, region, t, later, "x"))
        for rule, starts, ends, reason in (("APR-NO-SUCH", t, later, "x"), (None, later, t, "x"),
                                           (None, t, t, "x"), (None, t, later, " ")):
            with pytest.raises(errors.InvalidParameterValue):
                conn.execute(add, (sdb.fp["supervisor"], rule, None, starts, ends, reason))
    county = silence(sdb, "sup-county", t, later)
    city = silence(sdb, "supervisor", t, later, rule="APR-DEADLINE-YELLOW")
    assert sdb.query("SELECT id, region FROM silences ORDER BY id") == [(county, "410302"), (city, "410300")]
    # The county's silence covers its own departments only.
    county_alert, what = raise_alert(sdb, "LY-LCQ-SIL-1", dept=COUNTY_DEPT, at="2026-03-05T09:00:00+08:00")
    assert what == "suppressed"
    raised, what = raise_alert(sdb, "LY-SCJGJ-SIL-6", at="2026-03-05T09:00:00+08:00")
    assert what == "suppressed"
    other_rule, what = raise_alert(sdb, "LY-SCJGJ-SIL-7", rule="APR-DEADLINE-RED", severity="red",
                                   at="2026-03-05T09:00:00+08:00")
    assert what == "raised"
    expire = "SELECT esup_silence_expire_as(%s, %s, %s)"
    with connect(sdb) as conn:
        assert conn.execute(expire, (sdb.fp["sup-county"], city, T1)).fetchone()[0] == "not_found"
        assert conn.execute(expire, (sdb.fp["auditor"], city, T1)).fetchone()[0] == "forbidden"
        assert conn.execute(expire, (sdb.fp["supervisor"], 10 ** 9, T1)).fetchone()[0] == "not_found"
        assert conn.execute(expire, (sdb.fp["supervisor"], city, "2026-03-05T10:00:00+08:00"))\
            .fetchone()[0] == "done"
        assert conn.execute(expire, (sdb.fp["supervisor"], city, T1)).fetchone()[0] == "illegal"
    # Expiring issued what it alone suppressed; the county's alert is still covered.
    assert alert_row(sdb, raised)["status"] == "open"
    assert alert_row(sdb, county_alert)["status"] == "suppressed"
    assert lift(sdb, later) == 1
    assert alert_row(sdb, county_alert)["status"] == "open"


def test_silenced_alert_of_a_rule_switched_off_stays_suppressed(sdb):
    t, later = "2026-03-05T08:00:00+08:00", "2026-03-06T08:00:00+08:00"
    rule = "APR-EXTENSION-EXCESS"
    silence(sdb, "supervisor", t, later)
    alert, what = raise_alert(sdb, "LY-SCJGJ-SIL-8", rule=rule, at="2026-03-05T09:00:00+08:00")
    assert what == "suppressed"
    assert mode(sdb, "supervisor", rule, "off")[0] == "done"
    assert lift(sdb, later) == 0
    assert alert_row(sdb, alert)["suppressed_by"] == "mode"
    assert mode(sdb, "supervisor", rule, "issue", at=later) == ("done", "issue", 1)
    assert alert_row(sdb, alert)["status"] == "open"


# ---------------------------------------------------------------- evaluations


def test_vanished_conditions_resolve_or_cancel(sdb):
    """The condition stops holding: live alerts resolved, from any live state; held cancelled."""
    case = "LY-SCJGJ-VAN-1"
    store_event(sdb, case, case + "-e1")
    conds = [condition("APR-DEADLINE-YELLOW", "yellow", case), condition("CMP-REPLY-LATE", "yellow", case)]
    assert mode(sdb, "supervisor", "CMP-REPLY-LATE", "hold")[0] == "done"
    raised = evaluate(sdb, case, conds)
    assert [r[1] for r in raised] == ["raised", "held"]
    with connect(sdb) as conn:
        assert act(conn, sdb, "dept-LY-SCJGJ", raised[0][0], "appeal", "情况特殊")[0] == "done"
    gone = evaluate(sdb, case, [], at="2026-03-06T12:00:00+08:00")
    assert sorted((r[0], r[1]) for r in gone) == [(raised[0][0], "resolved"), (raised[1][0], "cancelled")]
    assert history(sdb, raised[0][0])[-1][:3] == ("resolve", "appealed", "resolved")
    assert history(sdb, raised[1][0])[-1][:3] == ("resolve", "held", "cancelled")


def test_disabled_rule_suppresses_instead_of_resolving(sdb):
    """A rule switched off in esupd.conf is not evaluated: its conditions do not come out, which
    must not be read as "the department corrected it"."""
    case = "LY-SCJGJ-DIS-1"
    alert, _ = raise_alert(sdb, case)
    other = raise_alert(sdb, "LY-SCJGJ-DIS-2")[0]
    assert evaluate(sdb, case, [], disabled=["APR-DEADLINE-YELLOW"]) == \
        [(alert, "suppressed", "APR-DEADLINE-YELLOW")]
    assert alert_row(sdb, alert)["suppressed_by"] == "config"
    assert evaluate(sdb, case, [], disabled=["APR-DEADLINE-YELLOW"]) == []
    # Switched on again: the condition comes out, and the same alert is issued.
    assert evaluate(sdb, case, [condition("APR-DEADLINE-YELLOW", "yellow", case)],
                    at="2026-03-07T12:00:00+08:00") == [(alert, "issued", "APR-DEADLINE-YELLOW")]
    row = alert_row(sdb, alert)
    assert (row["status"], row["issued_at"].isoformat()) == ("open", "2026-03-07T04:00:00+00:00")
    assert [h[0] for h in history(sdb, alert)] == ["raise", "suppress", "issue"]
    assert alert_row(sdb, other)["status"] == "open"   # another case: not evaluated here
    # Another rule disabled does not keep a vanished condition alive.
    assert evaluate(sdb, case, [], disabled=["APR-DEADLINE-RED"]) == \
        [(alert, "resolved", "APR-DEADLINE-YELLOW")]


def test_red_supersedes_a_live_yellow_in_any_live_state(sdb):
    case = "LY-SCJGJ-SUP-1"
    yellow, _ = raise_alert(sdb, case)
    with connect(sdb) as conn:
        assert act(conn, sdb, "dept-LY-SCJGJ", yellow, "appeal", "申诉")[0] == "done"
    rows = evaluate(sdb, case, [condition("APR-DEADLINE-RED", "red", case,
                                          supersedes="APR-DEADLINE-YELLOW")])
    assert [r[1:] for r in rows] == [("raised", "APR-DEADLINE-RED")]
    assert sdb.query("SELECT status, superseded_by FROM alerts WHERE id = %s", (yellow,)) == \
        [("superseded", rows[0][0])]
    assert history(sdb, yellow)[-1][:3] == ("supersede", "appealed", "superseded")


# ---------------------------------------------------------------- the log and its NOTIFY


def test_notify_payload_and_log_positions(sdb):
    with psycopg.connect(sdb.conninfo("postgres"), autocommit=True) as listener:
        heard = []
        listener.add_notify_handler(heard.append)
        listener.execute("LISTEN esup_alert")
        alert, _ = raise_alert(sdb, "LY-SCJGJ-NTF-1")
        with connect(sdb) as conn:
            assert act(conn, sdb, "dept-LY-SCJGJ", alert, "ack", "已回告")[0] == "done"

        def both():
            listener.execute("SELECT 1")
            return len(heard) >= 2
        wait_for(both, 5, "two NOTIFY esup_alert")
    payloads = [json.loads(n.payload) for n in heard]
    ids = [r[0] for r in sdb.query("SELECT id FROM alert_actions WHERE alert_id = %s ORDER BY id", (alert,))]
    assert payloads == [
        {"id": alert, "action_id": ids[0], "action": "raise", "rule": "APR-DEADLINE-YELLOW",
         "severity": "yellow", "dept": "LY-SCJGJ", "case": "LY-SCJGJ-NTF-1", "region": "410300",
         "state": "open", "escalation_level": 0},
        {"id": alert, "action_id": ids[1], "action": "ack", "rule": "APR-DEADLINE-YELLOW",
         "severity": "yellow", "dept": "LY-SCJGJ", "case": "LY-SCJGJ-NTF-1", "region": "410300",
         "state": "acknowledged", "escalation_level": 0}]
    # Positions: each transaction's rows share its xid; committed ones lie below the snapshot's xmin.
    rows = sdb.query("SELECT xid::text, id, xid < pg_snapshot_xmin(pg_current_snapshot())"
                     " FROM alert_actions WHERE alert_id = %s ORDER BY xid, id", (alert,))
    assert [r[1] for r in rows] == ids and all(r[2] for r in rows)
    assert int(rows[0][0]) < int(rows[1][0])


def test_alert_columns_on_raise(sdb):
    alert, _ = raise_alert(sdb, "LY-LCQ-COL-1", dept=COUNTY_DEPT)
    assert sdb.query("SELECT region, item, origin, escalation_level, escalated_to, issued_at"
                     " FROM alerts WHERE id = %s", (alert,))[0][:5] == \
        ("410302", "SCJG-001", "", 0, None)


# ---------------------------------------------------------------- the daemon's [rules] disable


def test_rule_disabled_in_the_configuration_suppresses_its_alerts(daemon_factory, refdb):
    """esupd passes the rules esupd.conf switches off with each evaluation: on SIGHUP their live
    alerts are suppressed, not resolved (which would credit the department); switched back on,
    the same alert is issued again."""
    from test_cases import QUICK_CASE, alerts, reload, start, sweep_to_yellow
    d = start(daemon_factory, "2026-03-02T10:00:00+08:00")
    yellow = sweep_to_yellow(d, refdb)
    d.config["rules"]["disable"] = "APR-LATE-REPORT,APR-DEADLINE-YELLOW"
    d.write()
    reload(d)   # re-derives every open case with the new ruleset

    # The case's other card, the delay never reported (APR-DELAY-UNREPORTED), is still on: it
    # stays open throughout.
    def status():
        return {a["id"]: a["status"] for a in alerts(refdb, QUICK_CASE)
                if a["rule"] == "APR-DEADLINE-YELLOW" or a["status"] != "open"}
    wait_for(lambda: status() == {yellow["id"]: "suppressed"}, 15, "the yellow card suppressed")
    assert [h[0] for h in history(refdb, yellow["id"])] == ["raise", "suppress"]
    d.config["rules"]["disable"] = "APR-LATE-REPORT"
    d.write()
    reload(d)
    wait_for(lambda: status() == {yellow["id"]: "open"}, 15, "the yellow card issued again")
    assert [h[0] for h in history(refdb, yellow["id"])] == ["raise", "suppress", "issue"]
    assert "alert issued: #%d" % yellow["id"] in d.log_text()
