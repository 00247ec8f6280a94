"""Corrections (event.corrected) end to end: a department voids or replaces one of its earlier
events; the case is re-derived without it in the ingest transaction; an alert that no longer
holds takes the `correct` step (resolved, or cancelled when held) with the correcting principal
and the reason; the original stays in events; corrections are counted
(esup_stats.corrections_month) and shown on GET /v1/cases. Ingest refuses a correction of an
event that is not there (another department's, a missing id, another case) and a replace of a
correction; a correction sent twice is a duplicate.

The issue's example: approval.extended sent twice raised APR-EXTENSION-EXCESS, and nothing
could take it back. ZJ-001 (7 committed, 15 statutory working days), accepted Monday 03-02;
two 6-day extensions (03-09 and 03-16) are 12 days, above the 10-day maximum.
"""

import json
from pathlib import Path

from conftest import event, wait_for

from test_cases import alerts, start

DEPT = "LY-ZJJ"
NOW = "2026-03-17T12:00:00+08:00"


def ev(case, id, kind, when, **fields):
    return event(dept=DEPT, id=id, type=kind, at=when, case=case, **fields)


def send(d, events, dept=DEPT):
    with d.client("dept-" + dept) as c:
        r = c.post_events_committed(events)
    assert r.status == 200, r.body
    return r.json()["results"]


def accepted_all(results):
    assert [x["status"] for x in results] == ["accepted"] * len(results), results


def extended_twice(d, db, case):
    """The case with the double extension; returns its APR-EXTENSION-EXCESS alert."""
    accepted_all(send(d, [
        ev(case, case + "-1", "approval.accepted", "2026-03-02T10:20:00+08:00", item="ZJ-001"),
        ev(case, case + "-2", "approval.extended", "2026-03-09T09:00:00+08:00", days=6,
           approver="P0401"),
        ev(case, case + "-3", "approval.extended", "2026-03-16T09:00:00+08:00", days=6,
           approver="P0401")]))
    found = [a for a in alerts(db, case) if a["rule"] == "APR-EXTENSION-EXCESS"]
    assert [a["status"] for a in found] == ["open"]
    return found[0]


def correction(case, id, of, action, reason, when="2026-03-17T09:00:00+08:00", **fields):
    return ev(case, id, "event.corrected", when, of=of, action=action, reason=reason, **fields)


def steps(db, alert_id):
    return db.query("SELECT action, actor, actor_role, note, to_state FROM alert_actions"
                    " WHERE alert_id = %s ORDER BY id", (alert_id,))


def live(db, case, rule):
    return [a for a in alerts(db, case) if a["rule"] == rule
            and a["status"] in ("open", "acknowledged", "held")]


def test_void_takes_back_the_double_extension(daemon_factory, refdb):
    d = start(daemon_factory, NOW)
    case = "LY-ZJJ-2026-910001"
    alert = extended_twice(d, refdb, case)

    results = send(d, [correction(case, case + "-4", case + "-3", "void",
                                  "the extension of 03-09 sent again by mistake")])
    accepted_all(results)
    # Acknowledged means committed: the alert is settled as soon as the answer is there.
    rows = refdb.query("SELECT status FROM alerts WHERE id = %s", (alert["id"],))
    assert rows == [("resolved",)]
    last = steps(refdb, alert["id"])[-1]
    assert last[0] == "correct" and last[2] == "system" and last[4] == "resolved"
    assert last[1] == "CN=dept-" + DEPT   # the correcting principal's subject
    assert "the extension of 03-09 sent again by mistake" in last[3]
    assert case + "-3" in last[3]
    assert live(refdb, case, "APR-EXTENSION-EXCESS") == []
    # The original stays in the append-only log, beside the correction.
    assert refdb.query("SELECT event_id, type FROM events WHERE case_no = %s ORDER BY seq",
                       (case,)) == [(case + "-1", "approval.accepted"),
                                    (case + "-2", "approval.extended"),
                                    (case + "-3", "approval.extended"),
                                    (case + "-4", "event.corrected")]
    assert refdb.scalar("SELECT committed_days FROM cases WHERE case_no = %s", (case,)) == 13

    # A supervisor sees the correction on the case.
    r = d.curl("/v1/cases/%s/%s" % (DEPT, case), "supervisor")
    assert r.status == 200, r.body
    got = r.json()["corrections"]
    assert [(c["id"], c["of"], c["action"], c["reason"], c["at"]) for c in got] == [
        (case + "-4", case + "-3", "void", "the extension of 03-09 sent again by mistake",
         "2026-03-17T09:00:00+08:00")]

    # Counted: per department and month, in the view auditors read.
    rows = refdb.query("SELECT voids, replaces, corrections FROM esup_stats.corrections_month"
                       " WHERE dept = %s AND label = '2026-03'", (DEPT,))
    assert rows == [(1, 0, 1)]
    assert refdb.query("SELECT has_table_privilege(r, 'esup_stats.corrections_month', 'SELECT'),"
                       " has_table_privilege(r, 'stat_correction_day', 'INSERT')"
                       " FROM unnest(ARRAY['esup_auditor', 'esup_supervisor', 'esup_writer']) r"
                       ) == [(True, False)] * 3
    assert refdb.query("SELECT * FROM esup_stats_check()") == []

    # Sent again: a duplicate, stored and counted once.
    again = send(d, [correction(case, case + "-4", case + "-3", "void",
                                "the extension of 03-09 sent again by mistake")])
    assert [x["status"] for x in again] == ["duplicate"]
    assert refdb.scalar("SELECT voids FROM stat_correction_day WHERE dept = %s", (DEPT,)) == 1


def test_replace(daemon_factory, refdb):
    d = start(daemon_factory, NOW)
    case = "LY-ZJJ-2026-910002"
    alert = extended_twice(d, refdb, case)
    accepted_all(send(d, [correction(
        case, case + "-4", case + "-3", "replace", "the second extension was 4 days",
        replacement={"type": "approval.extended", "at": "2026-03-16T09:00:00+08:00",
                     "days": 4, "approver": "P0401"})]))
    assert refdb.query("SELECT status FROM alerts WHERE id = %s", (alert["id"],)) == [
        ("resolved",)]
    assert steps(refdb, alert["id"])[-1][0] == "correct"
    assert refdb.scalar("SELECT committed_days FROM cases WHERE case_no = %s", (case,)) == 17
    assert refdb.query("SELECT voids, replaces FROM stat_correction_day WHERE dept = %s",
                       (DEPT,)) == [(0, 1)]


def test_void_of_a_void_restores(daemon_factory, refdb):
    d = start(daemon_factory, NOW)
    case = "LY-ZJJ-2026-910003"
    first = extended_twice(d, refdb, case)
    accepted_all(send(d, [correction(case, case + "-4", case + "-3", "void",
                                     "thought it was sent twice")]))
    assert live(refdb, case, "APR-EXTENSION-EXCESS") == []
    accepted_all(send(d, [correction(case, case + "-5", case + "-4", "void",
                                     "it was a second extension after all",
                                     when="2026-03-17T10:00:00+08:00")]))
    again = live(refdb, case, "APR-EXTENSION-EXCESS")
    assert len(again) == 1 and again[0]["id"] != first["id"]
    # 7 + 12 declared, of which §42's 10 at most move the committed deadline
    assert refdb.scalar("SELECT committed_days FROM cases WHERE case_no = %s", (case,)) == 17
    assert refdb.scalar("SELECT voids FROM stat_correction_day WHERE dept = %s", (DEPT,)) == 2


def test_ingest_refuses_what_cannot_be_corrected(daemon_factory, refdb):
    d = start(daemon_factory, NOW)
    case = "LY-ZJJ-2026-910004"
    extended_twice(d, refdb, case)
    other = "LY-HBJ-2026-910004"
    accepted_all(send(d, [event(dept="LY-HBJ", id="hb-1", type="approval.accepted",
                                at="2026-03-02T10:00:00+08:00", case=other, item="HB-001")],
                      dept="LY-HBJ"))
    results = send(d, [
        # another department's event: not found among this department's
        correction(other, "c-1", "hb-1", "void", "not ours"),
        correction(case, "c-2", "no-such-id", "void", "missing"),
        correction("LY-ZJJ-2026-000000", "c-3", case + "-3", "void", "wrong case"),
        correction(case, "c-4", case + "-3", "void", "fine"),
        # a replace of a correction, even one sent earlier in the same request
        correction(case, "c-5", "c-4", "replace", "no", replacement={
            "type": "approval.resumed", "at": "2026-03-17T09:00:00+08:00"}),
        # a void of one refused in the same request is refused too
        correction(case, "c-6", "c-2", "void", "chain"),
    ])
    assert [x["status"] for x in results] == ["rejected", "rejected", "rejected", "accepted",
                                              "rejected", "rejected"], results
    errors = [x.get("error") for x in results]
    assert errors[0] == {"field": "of", "got": '"hb-1"', "expected":
                         "the id of an earlier event of department LY-ZJJ in case " + other}
    assert errors[1]["field"] == "of" and errors[1]["got"] == '"no-such-id"'
    assert errors[2]["expected"].endswith("in case LY-ZJJ-2026-000000")
    assert errors[3] is None
    assert "not a correction" in errors[4]["expected"]
    assert errors[5]["got"] == '"c-2"'
    stored = [r[0] for r in refdb.query(
        "SELECT event_id FROM events WHERE type = 'event.corrected' ORDER BY seq")]
    assert stored == ["c-4"]
    # the other department's event is untouched
    assert refdb.scalar("SELECT status FROM cases WHERE case_no = %s", (other,)) == "accepted"


def test_a_fee_without_a_case_is_judged_again_with_its_correction(daemon_factory, refdb):
    d = start(daemon_factory, NOW)
    fee = event(dept=DEPT, id="cw-91", type="fee.collected", at="2026-03-16T10:00:00+08:00",
                case=None, fee_item="ZJ-999", amount="120.00", reviewer="P0456",
                payer={"uscc": "91410311MA47R2TD0Y"},
                filing={"office": "jianfuban", "ref": "JFB-91"})
    accepted_all(send(d, [fee]))
    raised = refdb.query("SELECT id, rule, dedup_key FROM alerts WHERE dept = %s"
                         " AND case_no IS NULL", (DEPT,))
    assert [(r[1], r[2]) for r in raised] == [
        ("FEE-ITEM-UNKNOWN", "FEE-ITEM-UNKNOWN|LY-ZJJ||cw-91")]
    accepted_all(send(d, [event(
        dept=DEPT, id="cw-92", type="event.corrected", at="2026-03-16T11:00:00+08:00",
        case=None, of="cw-91", action="replace", reason="fee item ZJ-021, not ZJ-999",
        replacement={"type": "fee.collected", "at": "2026-03-16T10:00:00+08:00",
                     "fee_item": "ZJ-021", "amount": "120.00", "reviewer": "P0456",
                     "payer": {"uscc": "91410311MA47R2TD0Y"},
                     "filing": {"office": "jianfuban", "ref": "JFB-91"}})]))
    assert refdb.query("SELECT status FROM alerts WHERE id = %s", (raised[0][0],)) == [
        ("resolved",)]
    last = steps(refdb, raised[0][0])[-1]
    assert last[0] == "correct" and "fee item ZJ-021, not ZJ-999" in last[3]
    assert refdb.query("SELECT rule FROM alerts WHERE dept = %s AND case_no IS NULL"
                       " AND status = 'open'", (DEPT,)) == []


def test_a_voided_penalty_is_no_context(daemon_factory, refdb):
    """Cross-case context: a penalty the department voided in another case does not make a
    later minor fine a repeat (golden case correction-context, through the daemon)."""
    d = start(daemon_factory, "2026-04-10T12:00:00+08:00")
    golden = Path(__file__).resolve().parents[1] / "rules" / "correction-context.events.ndjson"
    events = [json.loads(line) for line in golden.read_text().splitlines()]
    by_id = {e["id"]: e for e in events}
    # the earlier penalties and the void first, then the later fines
    for ids in (("p0", "x0"), ("p0-void",), ("p1", "x1")):
        accepted_all(send(d, [by_id[i] for i in ids], dept="LY-HBJ"))

    def rules(case):
        return [r[0] for r in refdb.query("SELECT rule FROM alerts WHERE case_no = %s"
                                          " AND status = 'open'", (case,))]
    assert "PEN-FIRST-MINOR" in rules("CF-1")       # p0 voided: p1 is a first offence
    assert "PEN-FIRST-MINOR" not in rules("CF-6")   # x0 stands: x1 is not


# ---------------------------------------------------------------- cross-case context


def penalty(case, id, when, amount, dept="LY-HBJ"):
    return event(dept=dept, id=id, type="penalty.decided", at=when, case=case,
                 party={"uscc": "91410305MA45N8QX60"}, violation="HB-05", severity="minor",
                 amount=amount, filing={"office": "jianfuban", "ref": "J-" + id})


def test_another_cases_context_change_reaches_a_case(daemon_factory, refdb):
    """A first minor violation fined is PEN-FIRST-MINOR; whether it is the first is read from
    the party's other cases. When that context changes - an earlier penalty voided, or one
    reported late that predates it - the other case is evaluated again (migration 036's
    wakes, taken by the sweeper) and agrees with esupctl eval on the same events. Before, its
    card stayed as it was when its own events came (found by an audit)."""
    d = start(daemon_factory, NOW)
    first, second, late = "LY-HBJ-CF-2026-9701", "LY-HBJ-CF-2026-9702", "LY-HBJ-CF-2026-9703"
    accepted_all(send(d, [penalty(first, "cf-9701", "2026-03-02T10:00:00+08:00", "0")],
                      dept="LY-HBJ"))
    accepted_all(send(d, [penalty(second, "cf-9702", "2026-03-10T10:00:00+08:00", "1000.00")],
                      dept="LY-HBJ"))
    assert live(refdb, second, "PEN-FIRST-MINOR") == []   # not the first: 03-02 came before
    # The earlier penalty voided: the fined one is the party's first minor violation now.
    accepted_all(send(d, [event(dept="LY-HBJ", id="cf-9701-v", type="event.corrected",
                                at="2026-03-16T10:00:00+08:00", case=first, of="cf-9701",
                                action="void", reason="wrong party")], dept="LY-HBJ"))
    wait_for(lambda: len(live(refdb, second, "PEN-FIRST-MINOR")) == 1, 20,
             "the fined case to be judged again without the voided penalty")
    # A penalty of 02-20 reported late: the fined one is not the first after all.
    accepted_all(send(d, [penalty(late, "cf-9703", "2026-02-20T10:00:00+08:00", "0")],
                      dept="LY-HBJ"))
    wait_for(lambda: live(refdb, second, "PEN-FIRST-MINOR") == [], 20,
             "the card to go when an earlier penalty came late")
    assert refdb.scalar("SELECT count(*) FROM case_wakes") == 0
