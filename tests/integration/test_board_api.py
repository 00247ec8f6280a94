"""The console's data routes: GET /v1/board, GET /v1/board/{dept}, the case timeline's
additions to GET /v1/cases/{dept}/{case} (events, clock, facts, status_at), and the
statistics (GET /v1/stats/ontime, /v1/stats/cards, /v1/scores).

Alerts come from real events through the daemon, its business clock set with [testing]
clock_offset_s to Tuesday 2026-03-10 12:00 (Shanghai):
- LY-ZJJ: three fees on an abolished item, three FEE-ITEM-ABOLISHED red cards without a
  case: one acknowledged (回告), one appealed (申诉) — both still live — and one resolved by
  the supervisor (final). Then FEE-ITEM-UNKNOWN is put on hold and a fee on an unknown item
  raises a held (待发) yellow card: counted apart, colouring nothing. A ZJ-001 case accepted
  03-02 and decided 03-05: on time (the month's statistics).
- LY-HBJ: a fee on an unknown item before the hold: an open FEE-ITEM-UNKNOWN yellow card.
- LY-GGZY: GGZY-002 (1 committed / 3 statutory working days) accepted Monday 03-02: the
  statutory deadline 03-05 passed, a red APR-DEADLINE-RED (the yellow superseded) and a yellow
  APR-DELAY-UNREPORTED (no delay report by the committed deadline 03-03); overdue.
- LY-SCJGJ: SCJG-003 (10 / 20 working days) accepted Monday 03-02 09:15, extended by 5 days
  on 03-03 (approved, in time), suspended for a hearing 03-04 10:00, resumed 03-06 10:00:
  03-04 and 03-05 are suspended at their end (2 days), 03-03, 03-06, 03-09 and 03-10 count
  (4 days). Open, no alert.
- LY-ZRZYJ: nothing.
Every department of the sample is in Luoyang (410300); supervisor-kf is Kaifeng's (410200).
"""

import csv
import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from conftest import CALENDAR, add_principal, event, offset_to

NOW = "2026-03-10T12:00:00+08:00"
SHANGHAI = timezone(timedelta(hours=8))
DEPTS = ["LY-GGZY", "LY-HBJ", "LY-SCJGJ", "LY-ZJJ", "LY-ZRZYJ"]   # ordered by code
USCC = "91410311MA47R2TD0Y"
GGZY_CASE = "LY-GGZY-2026-950001"
SCJG_CASE = "LY-SCJGJ-2026-950002"
ZJ_CASE = "LY-ZJJ-2026-950003"
LIVE = ("open", "acknowledged", "appealed")
RANK = {"red": 3, "yellow": 2, "notice": 1}

_n = iter(range(1, 10 ** 6))


def fee(dept, item):
    return event(dept=dept, id="bfee-%06d" % next(_n), type="fee.collected",
                 at="2026-03-03T10:00:00+08:00", case=None, fee_item=item, amount="100.00",
                 payer={"uscc": USCC, "name": "洛阳龙门建设工程有限公司"}, reviewer="P0456",
                 filing={"office": "jianfuban", "ref": "JFB-100"})   # filed: one card per fee


def approval(dept, case, what, when, **fields):
    return event(dept=dept, id="bapr-%06d" % next(_n), type="approval." + what, at=when,
                 case=case, **fields)


def ok(r, status=200):
    assert r.status == status, (r.status, r.body)
    return r.json()


class World:
    """The daemon and the alerts above, with their ids."""

    def __init__(self, d, db):
        self.d, self.db, self.clients = d, db, {}

    def call(self, who, method, path, body=None):
        c = self.clients.get(who) or self.clients.setdefault(who, self.d.client(who))
        data = None if body is None else json.dumps(body).encode()
        return c.request(method, path, data, "application/json" if data is not None else None)

    def get(self, who, path):
        return self.call(who, "GET", path)

    def post(self, dept, events):
        with self.d.client("dept-" + dept) as c:
            r = c.post_events_committed(events)
        assert r.status == 200, r.body
        assert all(x["status"] == "accepted" for x in r.json()["results"]), r.body

    def alert_of(self, event_id):
        rows = self.db.query("SELECT id FROM alerts WHERE evidence ? %s", (event_id,))
        assert len(rows) == 1, (event_id, rows)
        return rows[0][0]

    def act(self, who, alert, action, note=None):
        ok(self.call(who, "POST", "/v1/alerts/%d/%s" % (alert, action),
                     {"note": note} if note else {}))

    def close(self):
        for c in self.clients.values():
            c.close()


@pytest.fixture
def world(refdb, daemon_factory, certs):
    add_principal(refdb, certs, "supervisor-kf", "supervisor", None, "410200")
    d = daemon_factory(testing={"clock_offset_s": offset_to(NOW)},
                       rules={"disable": "APR-LATE-REPORT"}).start()
    w = World(d, refdb)
    reds = [fee("LY-ZJJ", "ZJ-009") for _ in range(3)]
    w.post("LY-ZJJ", reds)
    w.reds = [w.alert_of(e["id"]) for e in reds]
    w.act("dept-LY-ZJJ", w.reds[0], "ack", "已整改")
    w.act("dept-LY-ZJJ", w.reds[1], "appeal", "收费项目未取消")
    w.act("supervisor", w.reds[2], "resolve")
    yellow = fee("LY-HBJ", "ZJ-999")
    w.post("LY-HBJ", [yellow])
    w.yellow = w.alert_of(yellow["id"])
    ok(w.call("supervisor", "POST", "/v1/rules/FEE-ITEM-UNKNOWN/mode",
              {"mode": "hold", "reason": "待发: 先确认"}))
    held = fee("LY-ZJJ", "ZJ-999")
    w.post("LY-ZJJ", [held])
    w.held = w.alert_of(held["id"])
    w.post("LY-GGZY", [approval("LY-GGZY", GGZY_CASE, "accepted", "2026-03-02T09:30:00+08:00",
                                item="GGZY-002")])
    w.scjg = [approval("LY-SCJGJ", SCJG_CASE, "accepted", "2026-03-02T09:15:00+08:00",
                       item="SCJG-003",
                       applicant={"uscc": USCC, "name": "洛阳龙门建设工程有限公司"}),
              approval("LY-SCJGJ", SCJG_CASE, "extended", "2026-03-03T10:00:00+08:00",
                       days=5, approver="P0001"),
              approval("LY-SCJGJ", SCJG_CASE, "suspended", "2026-03-04T10:00:00+08:00",
                       kind="hearing", days=5, approver="P0001"),
              approval("LY-SCJGJ", SCJG_CASE, "resumed", "2026-03-06T10:00:00+08:00")]
    # Sent out of business order: the reply lists them by business time.
    w.post("LY-SCJGJ", [w.scjg[2], w.scjg[0], w.scjg[3], w.scjg[1]])
    w.post("LY-ZJJ", [approval("LY-ZJJ", ZJ_CASE, "accepted", "2026-03-02T10:00:00+08:00",
                               item="ZJ-001"),
                      approval("LY-ZJJ", ZJ_CASE, "decided", "2026-03-05T16:00:00+08:00",
                               result="approved")])
    statuses = dict(refdb.query("SELECT id, status FROM alerts"))
    assert [statuses[a] for a in w.reds] == ["acknowledged", "appealed", "resolved"]
    assert statuses[w.yellow] == "open" and statuses[w.held] == "held"
    yield w
    w.close()


def expected_board(db, depts):
    """The board's numbers for depts, computed from the alerts and cases tables."""
    rows = db.query("SELECT dept, severity, status, case_no, item FROM alerts")
    cases = db.query("SELECT dept, status, statutory_day FROM cases")
    out = {}
    for dept in depts:
        live = {"red": 0, "yellow": 0, "notice": 0}
        held = 0
        for d, severity, status, _, _ in rows:
            if d == dept and status in LIVE:
                live[severity] += 1
            held += d == dept and status == "held"
        open_cases = [c for c in cases
                      if c[0] == dept and c[1] in ("received", "accepted", "suspended")]
        out[dept] = {"worst": worst(live), "live": live, "held": held,
                     "open_cases": len(open_cases),
                     "overdue_cases": sum(1 for c in open_cases
                                          if c[2] is not None and c[2] < date(2026, 3, 10))}
    return out


def worst(live):
    present = [s for s in live if live[s] > 0]
    return max(present, key=RANK.get) if present else "clear"


def test_board_colours_and_counts(world):
    body = ok(world.get("supervisor", "/v1/board"))
    assert body["now"].startswith("2026-03-10T12:0") and body["now"].endswith("+08:00")
    assert body["region"] == "410300"
    assert [x["dept"] for x in body["departments"]] == DEPTS
    got = {x["dept"]: x for x in body["departments"]}
    assert got["LY-ZJJ"]["name"] == "洛阳市住房和城乡建设局"
    assert got["LY-ZJJ"]["region"] == "410300"
    # What the events above must have raised, by hand ...
    assert {k: got["LY-ZJJ"][k] for k in ("worst", "live", "held", "open_cases")} == {
        "worst": "red", "live": {"red": 2, "yellow": 0, "notice": 0}, "held": 1,
        "open_cases": 0}
    assert (got["LY-HBJ"]["worst"], got["LY-HBJ"]["live"]["yellow"]) == ("yellow", 1)
    assert {k: got["LY-GGZY"][k] for k in ("worst", "open_cases", "overdue_cases")} == {
        "worst": "red", "open_cases": 1, "overdue_cases": 1}
    assert {k: got["LY-SCJGJ"][k] for k in ("worst", "open_cases", "overdue_cases")} == {
        "worst": "clear", "open_cases": 1, "overdue_cases": 0}
    assert got["LY-ZRZYJ"]["worst"] == "clear" and got["LY-ZRZYJ"]["live"] == {
        "red": 0, "yellow": 0, "notice": 0}
    # ... and exactly what the tables say.
    want = expected_board(world.db, DEPTS)
    for dept in DEPTS:
        assert {k: got[dept][k] for k in want[dept]} == want[dept], dept
    # The auditor of the region sees the same board.
    aud = ok(world.get("auditor", "/v1/board"))
    assert aud["departments"] == body["departments"]

    # The held card is confirmed: now it is live and counts as yellow; LY-ZJJ stays red.
    world.act("supervisor", world.held, "confirm")
    got = {x["dept"]: x for x in ok(world.get("supervisor", "/v1/board"))["departments"]}
    assert (got["LY-ZJJ"]["held"], got["LY-ZJJ"]["live"]) == (
        0, {"red": 2, "yellow": 1, "notice": 0})
    # Both reds closed: the worst is now the yellow.
    world.act("supervisor", world.reds[0], "resolve")
    world.act("supervisor", world.reds[1], "revoke")
    got = {x["dept"]: x for x in ok(world.get("supervisor", "/v1/board"))["departments"]}
    assert (got["LY-ZJJ"]["worst"], got["LY-ZJJ"]["live"]) == (
        "yellow", {"red": 0, "yellow": 1, "notice": 0})


def test_department_drill_down(world):
    body = ok(world.get("supervisor", "/v1/board/LY-GGZY"))
    assert (body["dept"], body["name"], body["region"], body["worst"]) == (
        "LY-GGZY", "洛阳市公共资源交易中心", "410300", "red")
    assert body["held"] == 0 and body["other_alerts"] == []
    assert body["items"] == [{"item": "GGZY-002", "name": "招标公告发布审核", "worst": "red",
                              "live": {"red": 1, "yellow": 1, "notice": 0}, "open_cases": 1}]
    assert body["cases"] == [{
        "case": GGZY_CASE, "item": "GGZY-002", "status": "accepted", "worst": "red",
        "live": {"red": 1, "yellow": 1, "notice": 0},
        "deadline": {"committed": "2026-03-03", "statutory": "2026-03-05"},
        "counted_days": world.db.scalar("SELECT counted_days FROM cases WHERE case_no = %s",
                                        (GGZY_CASE,)),
        "limits": {"committed": 1, "statutory": 3}}]
    assert (body["cases_total"], body["other_alerts_total"]) == (1, 0)

    body = ok(world.get("supervisor", "/v1/board/LY-ZJJ"))
    assert (body["worst"], body["held"]) == ("red", 1)
    # Caseless live alerts, newest first, as GET /v1/alerts shows them; held and resolved
    # ones are not among them.
    assert [a["id"] for a in body["other_alerts"]] == [world.reds[1], world.reds[0]]
    listed = ok(world.get("supervisor", "/v1/alerts?dept=LY-ZJJ&status=acknowledged,appealed"))
    assert body["other_alerts"] == listed["alerts"]
    assert (body["cases_total"], body["other_alerts_total"]) == (0, 2)
    assert body["items"] == [] and body["cases"] == []   # the decided case is not open

    body = ok(world.get("supervisor", "/v1/board/LY-SCJGJ"))
    assert body["worst"] == "clear"
    assert body["items"] == [{"item": "SCJG-003", "name": "食品经营许可", "worst": "clear",
                              "live": {"red": 0, "yellow": 0, "notice": 0}, "open_cases": 1}]
    assert [(c["case"], c["status"], c["worst"]) for c in body["cases"]] == [
        (SCJG_CASE, "accepted", "clear")]
    assert ok(world.get("supervisor", "/v1/board/LY-NOPE"), 404) == {
        "error": "no such department"}


def test_a_long_department_says_how_many_it_left_out(world):
    """A department with more open cases than the 500 shown says how many there are, so the
    console can say 前500件，共N件 instead of passing 500 off as all (found by an audit)."""
    world.db.query("INSERT INTO cases (dept, case_no, item, status, counted_days)"
                   " SELECT 'LY-SCJGJ', 'LY-SCJGJ-2026-96' || lpad(n::text, 4, '0'), 'SCJG-003',"
                   " 'accepted', 1 FROM generate_series(1, 520) n")
    body = ok(world.get("supervisor", "/v1/board/LY-SCJGJ"))
    assert len(body["cases"]) == 500
    assert body["cases_total"] == 521   # the 520 and the fixture's own open case
    board = {d["dept"]: d for d in ok(world.get("supervisor", "/v1/board"))["departments"]}
    assert board["LY-SCJGJ"]["open_cases"] == 521


def shanghai_day_end(day):
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI) + timedelta(days=1)


def counts_working(day, calendar):
    kind = calendar.get(day)
    return kind == "workday" if kind else day.weekday() < 5 and kind != "holiday"


def test_case_timeline(world):
    body = ok(world.get("supervisor", "/v1/cases/LY-SCJGJ/" + SCJG_CASE))
    ids = [e["id"] for e in world.scjg]
    # Events in business-time order, whatever the order they came in.
    assert [(e["id"], e["type"], e["at"]) for e in body["events"]] == [
        (ids[0], "approval.accepted", "2026-03-02T09:15:00+08:00"),
        (ids[1], "approval.extended", "2026-03-03T10:00:00+08:00"),
        (ids[2], "approval.suspended", "2026-03-04T10:00:00+08:00"),
        (ids[3], "approval.resumed", "2026-03-06T10:00:00+08:00")]
    assert [e["body"] for e in body["events"]] == world.scjg
    assert all(e["received_at"].endswith("+08:00") for e in body["events"])
    assert body["clock"] == [
        {"kind": "suspended", "from": "2026-03-04T10:00:00+08:00",
         "to": "2026-03-06T10:00:00+08:00", "days": 5, "procedure": "hearing",
         "event": ids[2]},
        {"kind": "extended", "at": "2026-03-03T10:00:00+08:00", "days": 5, "effective": True,
         "event": ids[1]}]
    assert (body["counted_days"], body["suspended_days"]) == (4, 2)
    assert body["limits"] == {"committed": 15, "statutory": 25}     # extension included
    assert body["facts"]["kind"] == "approval"
    assert body["facts"]["accepted_at"] == "2026-03-02T09:15:00+08:00"
    assert (body["facts"]["closed_at"], body["facts"]["result"]) == (None, None)
    assert body["facts"]["applicant"] == USCC

    # The days agree with the spans: a working day after the acceptance counts unless a
    # suspension covers its end (24:00), up to today.
    with open(CALENDAR, newline="", encoding="utf-8") as f:
        calendar = {date.fromisoformat(r["date"]): r["kind"] for r in csv.DictReader(f)}
    spans = [(datetime.fromisoformat(s["from"]),
              datetime.fromisoformat(s["to"]) if s["to"] else None)
             for s in body["clock"] if s["kind"] == "suspended"]
    counted = suspended = 0
    day = date(2026, 3, 3)
    while day <= date(2026, 3, 10):
        if counts_working(day, calendar):
            end = shanghai_day_end(day)
            if any(a <= end and (b is None or end < b) for a, b in spans):
                suspended += 1
            else:
                counted += 1
        day += timedelta(days=1)
    assert (counted, suspended) == (body["counted_days"], body["suspended_days"])

    # A case row without events (made by hand): its stored days, no span, no event.
    world.db.query("INSERT INTO cases (dept, case_no, item, status, counted_days)"
                   " VALUES ('LY-SCJGJ', 'LY-SCJGJ-2026-950099', 'SCJG-003', 'accepted', 7)")
    body = ok(world.get("supervisor", "/v1/cases/LY-SCJGJ/LY-SCJGJ-2026-950099"))
    assert (body["clock"], body["events"], body["counted_days"]) == ([], [], 7)

    # The red case (accepted past both deadlines: red at once): its alert carries status_at.
    body = ok(world.get("dept-LY-GGZY", "/v1/cases/LY-GGZY/" + GGZY_CASE))
    assert body["clock"] == []
    assert sorted((a["rule"], a["status"]) for a in body["alerts"]) == [
        ("APR-DEADLINE-RED", "open"), ("APR-DELAY-UNREPORTED", "open")]
    for a in body["alerts"]:
        at = world.db.scalar("SELECT status_at FROM alerts WHERE id = %s", (a["id"],))
        assert datetime.fromisoformat(a["status_at"]) == at.replace(microsecond=0)


def test_a_suspension_still_running(world):
    case = "LY-SCJGJ-2026-950009"
    accepted = approval("LY-SCJGJ", case, "accepted", "2026-03-02T09:15:00+08:00",
                        item="SCJG-003")
    stop = approval("LY-SCJGJ", case, "suspended", "2026-03-05T09:00:00+08:00",
                    kind="testing", days=10)
    world.post("LY-SCJGJ", [accepted, stop])
    body = ok(world.get("auditor", "/v1/cases/LY-SCJGJ/" + case))
    assert body["status"] == "suspended"
    assert body["clock"] == [{"kind": "suspended", "from": "2026-03-05T09:00:00+08:00",
                              "to": None, "days": 10, "procedure": "testing",
                              "event": stop["id"]}]
    # 03-03, 03-04 count; 03-05, 06, 09, 10 are suspended at their end.
    assert (body["counted_days"], body["suspended_days"]) == (2, 4)
    assert body["deadline"] == {"committed": None, "statutory": None}


def test_scope(world):
    # A department: itself only; 404 for another; 403 on statistics.
    body = ok(world.get("dept-LY-ZJJ", "/v1/board"))
    assert [x["dept"] for x in body["departments"]] == ["LY-ZJJ"]
    assert body["departments"][0]["live"]["red"] == 2
    # Held alerts are not issued to the department: GET /v1/alerts does not show them to it,
    # and its board counts none (the supervisor's counts the one there is).
    assert ok(world.get("dept-LY-ZJJ", "/v1/alerts?status=held"))["alerts"] == []
    assert body["departments"][0]["held"] == 0
    own = ok(world.get("dept-LY-ZJJ", "/v1/board/LY-ZJJ"))
    assert (own["dept"], own["held"]) == ("LY-ZJJ", 0)
    assert ok(world.get("supervisor", "/v1/board/LY-ZJJ"))["held"] == 1
    assert ok(world.get("dept-LY-ZJJ", "/v1/board/LY-GGZY"), 404) == {
        "error": "no such department"}
    for path in ("/v1/stats/ontime", "/v1/stats/cards", "/v1/scores"):
        assert world.get("dept-LY-ZJJ", path).status == 403, path

    # A supervisor of Kaifeng: no department, nothing of Luoyang, empty statistics.
    kf = "supervisor-kf"
    body = ok(world.get(kf, "/v1/board"))
    assert (body["region"], body["departments"]) == ("410200", [])
    assert ok(world.get(kf, "/v1/board/LY-ZJJ"), 404) == {"error": "no such department"}
    assert ok(world.get(kf, "/v1/board/LY-NOPE"), 404) == {"error": "no such department"}
    assert ok(world.get(kf, "/v1/cases/LY-SCJGJ/" + SCJG_CASE), 404) == {"error": "no such case"}
    assert ok(world.get(kf, "/v1/stats/ontime?month=2026-03")) == {
        "month": "2026-03", "departments": []}
    cards = ok(world.get(kf, "/v1/stats/cards?months=2"))
    assert cards == {"months": [{"month": "2026-02", "red": 0, "yellow": 0, "notice": 0},
                                {"month": "2026-03", "red": 0, "yellow": 0, "notice": 0}]}
    assert ok(world.get(kf, "/v1/scores?period=2026-03")) == {"period": "2026-03",
                                                              "departments": []}


def num(x):
    return None if x is None else float(x)


def test_statistics_equal_the_views(world):
    db = world.db
    body = ok(world.get("supervisor", "/v1/stats/ontime?month=2026-03"))
    assert body["month"] == "2026-03"
    rows = {r[0]: r[1:] for r in db.query(
        "SELECT dept, decided, on_time_committed, on_time_rate FROM esup_stats.dept_month"
        " WHERE period = '2026-03-01'")}
    assert [x["dept"] for x in body["departments"]] == DEPTS
    for x in body["departments"]:
        decided, on_time, rate = rows.get(x["dept"], (0, 0, None))
        assert (x["decided"], x["on_time"], x["rate"]) == (decided, on_time, num(rate)), x
    zj = {x["dept"]: x for x in body["departments"]}["LY-ZJJ"]
    assert (zj["decided"], zj["on_time"], zj["rate"], zj["name"]) == (
        1, 1, 1.0, "洛阳市住房和城乡建设局")
    # Without a month: the business month.
    assert ok(world.get("auditor", "/v1/stats/ontime")) == body

    body = ok(world.get("supervisor", "/v1/stats/cards?months=3"))
    assert [m["month"] for m in body["months"]] == ["2026-01", "2026-02", "2026-03"]
    valid = {(r[0], r[1]): int(r[2]) for r in db.query(
        "SELECT label, severity, sum(valid) FROM esup_stats.alerts_month GROUP BY 1, 2")}
    for m in body["months"]:
        for s in ("red", "yellow", "notice"):
            assert m[s] == valid.get((m["month"], s), 0), (m, s)
    # Three reds (one resolved, still a valid card), the GGZY red; the HBJ yellow and the GGZY
    # delay never reported (APR-DELAY-UNREPORTED); the held card was never issued.
    assert (body["months"][2]["red"], body["months"][2]["yellow"]) == (4, 2)
    default = ok(world.get("supervisor", "/v1/stats/cards"))["months"]
    assert len(default) == 12 and default[-1]["month"] == "2026-03"
    assert default[-3:] == body["months"]

    body = ok(world.get("auditor", "/v1/scores?period=2026-03"))
    rows = db.query("SELECT rank, dept, dept_name, score, decided, on_time_rate, red, yellow,"
                    " notice, bottom FROM esup_scores('2026-03')")
    assert body["period"] == "2026-03"
    assert [(x["rank"], x["dept"], x["name"], num(x["score"]), x["decided"],
             num(x["on_time_rate"]), x["red"], x["yellow"], x["notice"], x["bottom"])
            for x in body["departments"]] == [
        (r[0], r[1], r[2], num(r[3]), r[4], num(r[5]), r[6], r[7], r[8], r[9]) for r in rows]
    assert any(x["score"] is not None for x in body["departments"])
    assert ok(world.get("auditor", "/v1/scores")) == body
    quarter = ok(world.get("auditor", "/v1/scores?period=2026-Q1"))
    assert quarter["period"] == "2026-Q1" and len(quarter["departments"]) == 5


def exact(r):
    """The reply's body with its numbers read as the decimals written in it."""
    assert r.status == 200, (r.status, r.body)
    return json.loads(r.body.decode(), parse_float=Decimal)


def test_statistics_print_the_databases_decimals(world):
    """Rates and scores are written as the database's numerics, digit for digit: 0.8571, not
    the nearest binary double's 0.85709999999999997 (jansson's default 17 digits). February
    gets a department with 6 of 7 decisions on time, straight into the rollup."""
    db = world.db
    db.query("INSERT INTO stat_case_day (dept, item, day, received, accepted, decided, approved,"
             " on_time_committed, on_time_statutory, days_used_sum, days_used_max)"
             " VALUES ('LY-HBJ', 'HB-001', '2026-02-10', 7, 7, 7, 7, 6, 7, 21, 5)")
    for month in ("2026-02", "2026-03"):
        rates = dict(db.query("SELECT dept, on_time_rate FROM esup_stats.dept_month"
                              " WHERE label = %s", (month,)))
        r = world.get("supervisor", "/v1/stats/ontime?month=" + month)
        body = exact(r)
        assert {x["dept"]: x["rate"] for x in body["departments"]} == {
            d: rates.get(d) for d in DEPTS}
        scores = {row[0]: row[1:] for row in db.query(
            "SELECT dept, score, on_time_rate, satisfaction_rate, complaint_rate"
            " FROM esup_scores(%s)", (month,))}
        r = world.get("auditor", "/v1/scores?period=" + month)
        assert {x["dept"]: (x["score"], x["on_time_rate"], x["satisfaction_rate"],
                            x["complaint_rate"]) for x in exact(r)["departments"]} == scores
    assert b'"on_time_rate":0.8571' in world.get("auditor", "/v1/scores?period=2026-02").body
    r = world.get("supervisor", "/v1/stats/ontime?month=2026-02")
    assert b'"rate":0.8571' in r.body and b"0.8570999" not in r.body, r.body


BAD = [
    ("/v1/stats/ontime?month=2026-13", "month"),
    ("/v1/stats/ontime?month=2026-3", "month"),
    ("/v1/stats/ontime?month=0000-01", "month"),
    ("/v1/stats/cards?months=0", "months"),
    ("/v1/stats/cards?months=37", "months"),
    ("/v1/stats/cards?months=-1", "months"),
    ("/v1/scores?period=2026-Q5", "period"),
    ("/v1/scores?period=26", "period"),
    ("/v1/scores?period=2026-11-01", "period"),
]


def test_statistics_refuse_bad_parameters(esupd):
    with esupd.client("supervisor") as c:
        for path, field in BAD:
            r = c.request("GET", path)
            body = ok(r, 400)
            assert body["error"]["field"] == field, (path, body)
            assert body["error"]["got"] == path.split("=", 1)[1], (path, body)
        assert c.request("GET", "/v1/stats/cards?month=3").status == 400   # an unknown name
        assert c.request("GET", "/v1/board/LY-ZJJ/x").status == 404
