"""The statistical rules in esupd (daemon/stat_rules.c, libmonitor/stats.c, schema/017): the
stat-rules job reads the rollups over windows of Shanghai days ending the day before the
business clock's, and raises each finding once, as an alert without a case keyed by the month
(or, for dealing days, the year) of judgment.

One database and one daemon for the module, with the business clock at NOW and the job every
second. A few real events are posted first, for the findings' evidence (a late decision, a fee,
a late-reported event, an inspection); then the rollup rows are written as the owner, in one
transaction, with absolute values on the days those events fall on, so the counts are this
test's own whatever the triggers counted of them. Five departments: each has one family over its threshold and the other four exactly
at theirs, so each must get exactly one alert, of its own rule. Boundary cases of every rule are
in tests/unit/test_stats.c.
"""

import re
from datetime import datetime

import psycopg
import pytest

from conftest import (migrated_database, offset_to, CALENDAR, ITEMS, SAMPLES, Daemon, event,
                      finish_daemons, wait_for)

NOW = "2026-04-15T10:00:00+08:00"
# The window is 2026-03-16..2026-04-14 (30 days); the baseline the 90 days before it, from
# 2025-12-16; dealing days 2026's up to 2026-04-14 (the year's, within the 365 days).
IN_WINDOW = "2026-04-10"
FIRST_DAY = "2026-03-16"
LAST_BASELINE_DAY = "2026-03-15"
BASELINE = "2026-02-01"
TODAY = "2026-04-15"

USCC_OVER = "91410311MA47R2TD0Y"     # 11 dealing days: 6 with LY-GGZY, 5 with LY-HBJ
USCC_AT = "91410300MA44ABCD1R"       # 10 dealing days, all with LY-SCJGJ

# dept -> the rule it alone breaks
OVER = {"LY-SCJGJ": "STA-ONTIME-LOW", "LY-ZJJ": "STA-FEES-SPIKE", "LY-HBJ": "STA-ALERTS-SPIKE",
        "LY-ZRZYJ": "STA-LATE-REPORTING", "LY-GGZY": "STA-DEALING-DAYS"}


@pytest.fixture(scope="module")
def d(pg, certs, workdir, request):
    db = migrated_database(pg, certs, workdir, "stat_rules")
    testdir = workdir / db.name
    # What the events posted for evidence need: a catalogue and calendar for the late case.
    db.load("calendar", CALENDAR)
    db.load("items", ITEMS)
    db.load("fee_items", SAMPLES / "fee_items.csv")
    daemon = Daemon(db, certs, testdir, testing={"clock_offset_s": offset_to(NOW)},
                    statistics={"interval_s": 1})
    yield daemon.start()
    finish_daemons([daemon], request)


def rounds(d):
    return re.findall(r"stat-rules: as of .*, window (\S+): .* (\d+) alerts raised", d.log_text())


def wait_rounds(d, n):
    """Waits until n more rounds have finished; the first of them may have begun earlier."""
    before = len(rounds(d))
    wait_for(lambda: len(rounds(d)) >= before + n, 30, "%d stat-rules rounds" % n, interval=0.1)
    return rounds(d)[before:]


def post(d, dept, events):
    with d.client("dept-" + dept) as c:
        r = c.post_events_committed(events)
    assert r.status == 200, r.body
    assert all(x["status"] == "accepted" for x in r.json()["results"]), r.body


def fee(dept, item, amount):
    return event(dept=dept, type="fee.collected", case=None, fee_item=item, amount=amount,
                 at=IN_WINDOW + "T10:00:00+08:00", payer={"uscc": USCC_AT}, reviewer="P0456")


# The figures, per department: at the threshold unless the department is the one over it.
def case_rows(dept):
    on_time = 17 if OVER[dept] == "STA-ONTIME-LOW" else 18
    rows = [(dept, "SCJG-001", IN_WINDOW, 20, on_time)]
    if dept == "LY-ZJJ":
        rows.append((dept, "SCJG-001", TODAY, 100, 0))   # today's: not in the window yet
    return rows


def event_rows(dept):
    late = 6 if OVER[dept] == "STA-LATE-REPORTING" else 5
    fees = 200001 if OVER[dept] == "STA-FEES-SPIKE" else 200000
    # window: 100 events, `late` late, net fees; baseline: 3000.00 yuan net over 3 windows
    # (the first day's row is zeros: it overwrites what the triggers counted of the late case)
    return [(dept, IN_WINDOW, 100, late, fees + 50000, 50000),
            (dept, FIRST_DAY, 0, 0, 0, 0),
            (dept, BASELINE, 0, 0, 350000, 50000)]


def alert_rows(dept):
    now = 11 if OVER[dept] == "STA-ALERTS-SPIKE" else 10
    # the baseline's last day and the window's first: an off-by-one would count 25 against 0
    return [(dept, "APR-DEADLINE-YELLOW", "yellow", LAST_BASELINE_DAY, 15),
            (dept, "APR-DEADLINE-YELLOW", "yellow", FIRST_DAY, now),
            (dept, "STA-ONTIME-LOW", "yellow", FIRST_DAY, 50)]   # findings do not feed findings


ENTERPRISE_ROWS = [(USCC_OVER, "LY-GGZY", IN_WINDOW, 1, 5, 1),
                   (USCC_OVER, "LY-HBJ", "2026-01-01", 1, 5, 0),   # the year's first day
                   (USCC_AT, "LY-SCJGJ", IN_WINDOW, 2, 9, 1),
                   (USCC_AT, "LY-SCJGJ", "2025-12-31", 1, 30, 0)]   # the year before: 2025's


def write_rollups(db):
    with psycopg.connect(db.conninfo("postgres")) as conn:   # one transaction
        with conn.cursor() as cur:
            for dept in OVER:
                cur.executemany(
                    "INSERT INTO stat_case_day (dept, item, day, decided, on_time_committed)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (dept, item, day) DO UPDATE"
                    " SET decided = EXCLUDED.decided, on_time_committed = EXCLUDED.on_time_committed",
                    case_rows(dept))
                cur.executemany(
                    "INSERT INTO stat_event_day (dept, day, events, late_reported,"
                    " fees_collected_fen, fees_refunded_fen) VALUES (%s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (dept, day) DO UPDATE SET events = EXCLUDED.events,"
                    " late_reported = EXCLUDED.late_reported,"
                    " fees_collected_fen = EXCLUDED.fees_collected_fen,"
                    " fees_refunded_fen = EXCLUDED.fees_refunded_fen", event_rows(dept))
                cur.executemany(
                    "INSERT INTO stat_alert_day (dept, rule, severity, day, raised, valid)"
                    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (dept, rule, severity, day)"
                    " DO UPDATE SET valid = EXCLUDED.valid",
                    [r + (r[4],) for r in alert_rows(dept)])
            cur.executemany(
                "INSERT INTO stat_enterprise_day (applicant, dept, day, cases, days_used_sum,"
                " inspections) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (applicant, dept, day)"
                " DO UPDATE SET days_used_sum = EXCLUDED.days_used_sum,"
                " inspections = EXCLUDED.inspections", ENTERPRISE_ROWS)


def sta_alerts(db):
    return db.query("SELECT dept, rule, severity, case_no, dedup_key, status, since, evidence,"
                    " message FROM alerts WHERE rule LIKE 'STA-%' ORDER BY dept")


def late_case():
    """LY-SCJGJ's SCJG-001 (10 committed working days) accepted 03-16, decided 04-10: late."""
    accepted = event("LY-SCJGJ", at=FIRST_DAY + "T09:00:00+08:00", applicant=None)   # no dealings
    decided = event("LY-SCJGJ", type="approval.decided", case=accepted["case"],
                    at=IN_WINDOW + "T11:00:00+08:00", result="approved")
    return [accepted, decided]


def inspection():
    return event("LY-GGZY", type="inspection.started", at=IN_WINDOW + "T14:00:00+08:00",
                 enterprise={"uscc": USCC_OVER, "name": "洛阳伊洛纺织有限公司"},
                 officers=[{"id": "P0721", "certificate": "41030021003105"}],
                 filing={"office": "youhuaban", "ref": "YHB-JC-2026-099"})


def test_each_rule_over_its_threshold_raises_once(d):
    # Evidence to be found, all in the window: a fee of LY-ZJJ, an event of LY-ZRZYJ reported
    # five days late, LY-SCJGJ's late decision, LY-GGZY's inspection of the enterprise. (With
    # the rollup triggers they count too: write_rollups then overwrites their days.)
    fee_zjj = fee("LY-ZJJ", "ZJ-017", "2000.01")
    late_zr = fee("LY-ZRZYJ", "ZR-F003", "10.00")
    case = late_case()
    visit = inspection()
    post(d, "LY-ZJJ", [fee_zjj])
    post(d, "LY-ZRZYJ", [late_zr])
    post(d, "LY-SCJGJ", case)
    post(d, "LY-GGZY", [visit])
    assert d.db.query("SELECT result, on_time_committed FROM cases WHERE case_no = %s",
                      (case[0]["case"],)) == [("approved", False)]
    wait_rounds(d, 1)
    assert sta_alerts(d.db) == []   # nothing to judge yet
    # Rule modes apply to them as to any rule: this one's findings wait for confirmation (待发).
    fp = d.certs.fingerprints["supervisor"]
    assert d.db.query("SELECT outcome, rule_mode FROM esup_rule_mode_as(%s, %s, 'hold', %s, %s)",
                      (fp, "STA-LATE-REPORTING", "试运行", NOW), user="esupd") == [("done", "hold")]
    write_rollups(d.db)
    done = wait_rounds(d, 2)
    assert done[-1][0] == "2026-03-16..2026-04-14"
    alerts = sta_alerts(d.db)
    assert [(a[0], a[1]) for a in alerts] == sorted(OVER.items()), alerts
    by_rule = {a[1]: a for a in alerts}
    for dept, rule, severity, case_no, key, status, since, evidence, message in alerts:
        assert case_no is None
        assert status == ("held" if rule == "STA-LATE-REPORTING" else "open")
        assert severity == {"STA-ONTIME-LOW": "yellow", "STA-FEES-SPIKE": "yellow",
                            "STA-DEALING-DAYS": "yellow", "STA-ALERTS-SPIKE": "notice",
                            "STA-LATE-REPORTING": "notice"}[rule]
        if rule == "STA-DEALING-DAYS":
            assert key == "STA-DEALING-DAYS|%s|2026" % USCC_OVER
            assert since == datetime.fromisoformat("2026-01-01T00:00:00+08:00")
            assert "11 days" in message and "6 with LY-GGZY" in message
        else:
            assert key == "%s|%s||2026-04" % (rule, dept)
            assert since == datetime.fromisoformat("2026-04-01T00:00:00+08:00")
    assert by_rule["STA-FEES-SPIKE"][7] == [fee_zjj["id"]]
    assert by_rule["STA-ONTIME-LOW"][7] == [case[1]["id"]]
    assert by_rule["STA-DEALING-DAYS"][7] == [visit["id"]]
    assert by_rule["STA-ALERTS-SPIKE"][7] == []   # its alerts are rollup rows only
    assert "2000.01 yuan" in by_rule["STA-FEES-SPIKE"][8]
    assert late_zr["id"] in by_rule["STA-LATE-REPORTING"][7]
    assert "6.0% (6 of 100" in by_rule["STA-LATE-REPORTING"][8]
    assert "85.0% (17 of 20" in by_rule["STA-ONTIME-LOW"][8]
    assert "11 valid alerts" in by_rule["STA-ALERTS-SPIKE"][8]
    assert d.db.scalar("SELECT count(*) FROM alert_actions x JOIN alerts a ON a.id = x.alert_id"
                       " WHERE a.rule LIKE 'STA-%%' AND x.action = 'raise'") == 5

    # Later rounds judge the same figures and raise nothing new.
    again = wait_rounds(d, 2)   # both began after the round that raised them
    assert [r[1] for r in again] == ["0", "0"]
    assert sta_alerts(d.db) == alerts


def test_a_closed_finding_stays_closed_for_its_period(d):
    """Resolved by a person, the month's finding is not raised again while it holds."""
    wait_for(lambda: len(sta_alerts(d.db)) == 5, 30, "the five findings")
    alert = d.db.scalar("SELECT id FROM alerts WHERE rule = 'STA-ONTIME-LOW'")
    fp = d.certs.fingerprints["supervisor"]
    d.db.query("SELECT * FROM esup_alert_act_as(%s, %s, 'resolve', '已整改', %s)",
               (fp, alert, NOW), user="esupd")
    assert d.db.scalar("SELECT status FROM alerts WHERE id = %s", (alert,)) == "resolved"
    wait_rounds(d, 2)
    assert d.db.scalar("SELECT count(*) FROM alerts WHERE rule = 'STA-ONTIME-LOW'") == 1
