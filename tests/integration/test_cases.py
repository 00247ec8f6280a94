"""The approval-case pipeline end to end: alerts raised in the ingest transaction, the sweeper's
deadline ladder, dedup, supersede and resolve, reference data reloads, GET /v1/cases, and the
sample feed evaluated by the daemon exactly as `esupctl eval` evaluates it.

Every test gets a fresh database with the calendar and the sample catalogue loaded (refdb) and
sets the daemon's business clock with [testing] clock_offset_s, so the dates below are those of
the 2026 calendar whatever day the suite runs. Deadlines are reckoned by hand in the comments.
"""

import json
import re
import signal
import subprocess
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

from conftest import (BUILD, CALENDAR, DEPTS, ITEMS, SAMPLES, SUPERVISION_TABLES, event,
                      offset_to, wait_for)

ESUPCTL = BUILD / "contrib" / "esupctl"
# The instant the sample feed is written for (tests/rules/run-golden, contrib/quickstart).
SAMPLE_NOW = "2026-11-23T12:00:00+08:00"


def at(text):
    return datetime.fromisoformat(text)


def near(t, instant):
    """t is the business clock shortly after it was set to instant (whole seconds: the
    offset is rounded up, and the daemon's clock truncates)."""
    return at(instant) - timedelta(seconds=2) <= t < at(instant) + timedelta(seconds=60)


def test_offset_to_never_reads_early():
    # esupd's business clock is time(NULL) + the offset. Computed in the second half of a
    # second, a rounded offset made it read a second before the instant until the next
    # second began (test_board_api saw 11:59:59 for 12:00:00).
    instant = "2026-03-10T12:00:00+08:00"
    wait_for(lambda: 0.6 <= time.time() % 1 <= 0.9, 5, "the second half of a second",
             interval=0.01)
    offset = int(offset_to(instant))
    assert int(time.time()) + offset >= at(instant).timestamp()


def start(daemon_factory, instant, **overrides):
    """esupd with its business clock at `instant`, sweeping every 100 ms, without 督办. Late
    reporting is off unless a test turns it on: these tests send past events on purpose."""
    # No 督办 either: these tests jump the clock by days past unacknowledged cards, and whether
    # the escalation job or the sweeper's next rung came first would be a race (seen once in a
    # clean-clone CI: a yellow card escalated before red superseded it).
    config = {"sweeper": {"interval_ms": "100"},
              "testing": {"clock_offset_s": offset_to(instant)},
              "rules": {"disable": "APR-LATE-REPORT"},
              "escalation": {"%s_%s" % (k, s): "0" for k in ("ack_hours", "resolve_days")
                             for s in ("notice", "yellow", "red")}}
    for section, values in overrides.items():
        config.setdefault(section, {}).update(values)
    return daemon_factory(**config).start()


def reload(d):
    """SIGHUP, and waits for the daemon to report the reload complete and for what follows it:
    the rules are loaded again and the sweeper marks every open case due (sweeper_rederive).
    Until then a case row may still change under the test: a sweep already running when the
    rules came in raises its alerts first, and the re-derive then makes the case due again."""
    def rederived():
        text = d.log_text()
        return text.count("rules changed: ") + text.count("rules unchanged since")
    done = d.log_text().count("reload complete")
    before = rederived()
    d.signal(signal.SIGHUP)
    wait_for(lambda: d.log_text().count("reload complete") > done, 10, "the reload to complete")
    wait_for(lambda: rederived() > before, 10,
             "the open cases marked for re-derivation after the reload (or found current)")


def settle(d, db):
    """Waits until no case is due on the business clock: the sweeper has evaluated every case
    the last reload marked, so the case rows hold their next check."""
    offset = int(d.config["testing"]["clock_offset_s"])
    wait_for(lambda: db.scalar("SELECT count(*) FROM cases WHERE next_check_at <= to_timestamp(%s)",
                               (time.time() + offset,)) == 0,
             30, "the sweeper to evaluate every due case")


def move_clock(d, instant):
    """Sets the business clock to `instant` (a reload)."""
    d.config["testing"]["clock_offset_s"] = offset_to(instant)
    d.write()
    reload(d)


def ev(dept, case, kind, when, **fields):
    return event(dept=dept, type="approval." + kind, at=when, case=case, **fields)


def post(d, dept, events):
    """Sends events as a department must: resending on 429/503 (nothing stored)."""
    with d.client("dept-" + dept) as c:
        r = c.post_events_committed(events)
    assert r.status == 200, r.body
    assert [x["status"] for x in r.json()["results"]] == ["accepted"] * len(events), r.body
    return r


def alerts(db, case):
    """The case's alerts in order: dicts of the columns tests look at."""
    rows = db.query("SELECT id, rule, severity, status, superseded_by, since, dedup_key,"
                    " evidence FROM alerts WHERE case_no = %s ORDER BY id", (case,))
    keys = ("id", "rule", "severity", "status", "superseded_by", "since", "key", "evidence")
    return [dict(zip(keys, r)) for r in rows]


def case_row(db, case):
    rows = db.query("SELECT status, level, committed_day::text, statutory_day::text,"
                    " next_check_at, evaluated_at FROM cases WHERE case_no = %s", (case,))
    assert len(rows) == 1, "case %s: %d rows in cases" % (case, len(rows))
    keys = ("status", "level", "committed_day", "statutory_day", "next_check", "evaluated_at")
    return dict(zip(keys, rows[0]))


def wait_alert(db, case, rule, status="open", timeout=15):
    def found():
        return [a for a in alerts(db, case) if a["rule"] == rule and a["status"] == status]
    return wait_for(found, timeout, "%s %s on %s" % (status, rule, case))[0]


def actions(db, alert_id):
    return [r[0] for r in db.query("SELECT action FROM alert_actions WHERE alert_id = %s"
                                   " ORDER BY at, action", (alert_id,))]


# GGZY-002 招标公告发布审核: 1 committed, 3 statutory working days, no notice (warn_days 0).
# Accepted Monday 2026-03-02: committed deadline Tue 03-03 24:00 (yellow from 03-04 00:00:01),
# statutory Thu 03-05 24:00 (red from 03-06 00:00:01; the 督办 deadline, 3 working days after
# 03-03, is 03-06 24:00, later).
GGZY = "LY-GGZY"
QUICK_CASE = "LY-GGZY-2026-900001"


def accept_quick_case(d):
    post(d, GGZY, [ev(GGZY, QUICK_CASE, "accepted", "2026-03-02T09:30:00+08:00",
                      item="GGZY-002")])


def sweep_to_yellow(d, db):
    accept_quick_case(d)
    row = case_row(db, QUICK_CASE)
    assert (row["status"], row["level"]) == ("accepted", None)
    assert (row["committed_day"], row["statutory_day"]) == ("2026-03-03", "2026-03-05")
    assert row["next_check"] == at("2026-03-04T00:00:01+08:00")
    assert alerts(db, QUICK_CASE) == []
    move_clock(d, "2026-03-04T10:00:00+08:00")
    yellow = wait_alert(db, QUICK_CASE, "APR-DEADLINE-YELLOW")
    settle(d, db)
    return yellow


def test_refusal_without_reason_alerts_at_ingest(daemon_factory, refdb):
    d = start(daemon_factory, "2026-03-11T16:05:00+08:00")
    case = "LY-ZJJ-2026-900001"
    decided = ev("LY-ZJJ", case, "decided", "2026-03-11T16:00:00+08:00", result="denied",
                 report="LY-ZJJ-BPZ-2026-011", solution="补齐预售资金监管协议后重新申请")
    with psycopg.connect(refdb.conninfo("postgres"), autocommit=True) as listener:
        heard = []
        listener.add_notify_handler(heard.append)
        listener.execute("LISTEN esup_alert")
        post(d, "LY-ZJJ", [ev("LY-ZJJ", case, "accepted", "2026-03-09T09:30:00+08:00",
                              item="ZJ-004"), decided])

        # Acknowledged means committed: the alert is there as soon as the answer is.
        found = alerts(refdb, case)
        assert [(a["rule"], a["severity"], a["status"]) for a in found] == [
            ("APR-REFUSAL-NO-REASON", "yellow", "open")]
        alert = found[0]
        assert alert["key"] == "APR-REFUSAL-NO-REASON|LY-ZJJ|" + case
        assert alert["since"] == at("2026-03-11T16:00:00+08:00")
        assert decided["id"] in alert["evidence"]
        assert actions(refdb, alert["id"]) == ["raise"]

        def notified():
            listener.execute("SELECT 1")   # lets psycopg read what arrived
            return [json.loads(n.payload) for n in heard]
        payload = wait_for(notified, 5, "NOTIFY esup_alert %d" % alert["id"])[0]
        assert {k: payload[k] for k in ("id", "action", "rule", "severity", "dept", "case",
                                        "state")} == {
            "id": alert["id"], "action": "raise", "rule": "APR-REFUSAL-NO-REASON",
            "severity": "yellow", "dept": "LY-ZJJ", "case": case, "state": "open"}

    line = r"alert raised: #%d\b[^\n]*" % alert["id"]
    wait_for(lambda: re.search(line, d.log_text()), 5, "the daemon to log alert #%d" % alert["id"])
    logged = re.search(line, d.log_text()).group(0)
    for part in ("APR-REFUSAL-NO-REASON", "yellow", "LY-ZJJ", case):
        assert part in logged, logged


def test_one_alert_per_condition(daemon_factory, refdb):
    """Resending, fresh events on the same case, and many sweeps: one alert per key."""
    d = start(daemon_factory, "2026-03-11T16:05:00+08:00")
    denied = "LY-ZJJ-2026-900002"
    batch = [ev("LY-ZJJ", denied, "accepted", "2026-03-09T09:30:00+08:00", item="ZJ-004"),
             ev("LY-ZJJ", denied, "decided", "2026-03-11T16:00:00+08:00", result="denied")]
    post(d, "LY-ZJJ", batch)
    # GGZY-002 accepted Monday 03-09: yellow since 03-11 00:00:01, red only from 03-13.
    late = "LY-GGZY-2026-900002"
    post(d, GGZY, [ev(GGZY, late, "accepted", "2026-03-09T09:00:00+08:00", item="GGZY-002")])
    wait_alert(refdb, late, "APR-DEADLINE-YELLOW")

    with d.client("dept-LY-ZJJ") as c:
        assert c.post_events(batch).json()["duplicate"] == 2
    post(d, "LY-ZJJ", [ev("LY-ZJJ", denied, "step", "2026-03-11T16:02:00+08:00",
                          step="archive", handler="P0402")])
    post(d, GGZY, [ev(GGZY, late, "step", "2026-03-11T15:00:00+08:00", step="review",
                      handler="P0901")])
    # Each reload with other rules (here the business clock a second on) marks the open cases
    # due: the sweeper evaluates the late case again (a second later each time, so that its
    # evaluated_at tells the sweeps apart).
    for _ in range(3):
        before = case_row(refdb, late)["evaluated_at"]
        time.sleep(1.05)
        d.config["testing"]["clock_offset_s"] = str(int(d.config["testing"]["clock_offset_s"]) + 1)
        d.write()
        reload(d)
        wait_for(lambda: case_row(refdb, late)["evaluated_at"] > before, 10,
                 "the sweeper to evaluate %s again" % late)
    time.sleep(0.5)   # a few more sweeps with nothing due

    dup = refdb.query("SELECT dedup_key, count(*) FROM alerts GROUP BY 1 HAVING count(*) > 1")
    assert dup == []
    assert sorted((a["rule"], a["status"]) for a in alerts(refdb, denied)) == [
        ("APR-ORDER-STEP-AFTER-DECISION", "open"), ("APR-REFUSAL-NO-REASON", "open"),
        ("APR-REFUSAL-NO-REPORT", "open"), ("APR-REPORT-NO-SOLUTION", "open")]
    assert sorted((a["rule"], a["status"]) for a in alerts(refdb, late)) == [
        ("APR-DEADLINE-YELLOW", "open"), ("APR-DELAY-UNREPORTED", "open")]


def test_sweeper_raises_yellow_when_the_committed_deadline_passes(daemon_factory, refdb):
    d = start(daemon_factory, "2026-03-02T10:00:00+08:00")
    yellow = sweep_to_yellow(d, refdb)
    assert yellow["severity"] == "yellow"
    assert yellow["since"] == at("2026-03-04T00:00:01+08:00")
    assert yellow["key"] == "APR-DEADLINE-YELLOW|LY-GGZY|" + QUICK_CASE
    row = case_row(refdb, QUICK_CASE)
    assert row["level"] == "yellow"
    assert row["next_check"] == at("2026-03-06T00:00:01+08:00")   # the red card
    raised = refdb.scalar("SELECT raised_at FROM alerts WHERE id = %s", (yellow["id"],))
    assert near(raised, "2026-03-04T10:00:00+08:00"), raised


def test_red_supersedes_yellow(daemon_factory, refdb):
    d = start(daemon_factory, "2026-03-02T10:00:00+08:00")
    yellow = sweep_to_yellow(d, refdb)
    move_clock(d, "2026-03-06T10:00:00+08:00")
    red = wait_alert(refdb, QUICK_CASE, "APR-DEADLINE-RED")
    assert red["severity"] == "red"
    assert red["since"] == at("2026-03-06T00:00:01+08:00")
    assert red["evidence"] == yellow["evidence"]
    now = {a["id"]: a for a in alerts(refdb, QUICK_CASE) if a["rule"].startswith("APR-DEADLINE")}
    assert set(now) == {yellow["id"], red["id"]}
    # The delay never reported (APR-DELAY-UNREPORTED, docs/rules.md) is no rung of the ladder:
    # red does not supersede it.
    assert [a["status"] for a in alerts(refdb, QUICK_CASE)
            if a["rule"] == "APR-DELAY-UNREPORTED"] == ["open"]
    assert now[yellow["id"]]["status"] == "superseded"
    assert now[yellow["id"]]["superseded_by"] == red["id"]
    assert actions(refdb, yellow["id"]) == ["raise", "supersede"]
    settle(d, refdb)
    row = case_row(refdb, QUICK_CASE)
    assert (row["level"], row["next_check"]) == ("red", None)   # nothing climbs past red


def test_late_decision_resolves_the_sweepers_yellow(daemon_factory, refdb):
    d = start(daemon_factory, "2026-03-02T10:00:00+08:00")
    yellow = sweep_to_yellow(d, refdb)
    # Decided on Tuesday 03-03 16:00, within the deadline, but reported on Wednesday.
    post(d, GGZY, [ev(GGZY, QUICK_CASE, "decided", "2026-03-03T16:00:00+08:00",
                      result="approved")])
    found = alerts(refdb, QUICK_CASE)
    # The yellow card and the delay report it was due (APR-DELAY-UNREPORTED) go together.
    assert sorted((a["rule"], a["status"]) for a in found) == [
        ("APR-DEADLINE-YELLOW", "resolved"), ("APR-DELAY-UNREPORTED", "resolved")]
    assert yellow["id"] in [a["id"] for a in found]
    assert actions(refdb, yellow["id"]) == ["raise", "resolve"]
    who = refdb.query("SELECT actor, at FROM alert_actions WHERE alert_id = %s"
                      " AND action = 'resolve'", (yellow["id"],))
    assert who[0][0] == "esupd"
    assert near(who[0][1], "2026-03-04T10:00:00+08:00"), who
    row = case_row(refdb, QUICK_CASE)
    assert (row["status"], row["level"], row["next_check"]) == ("decided", None, None)


def test_calendar_replacement_rederives_deadlines(daemon_factory, refdb, testdir):
    # SCJG-003 食品经营许可 (10/20 working days) accepted Monday 2026-03-02: counted days
    # 03-03…03-06, 03-09…03-13, 03-16: committed 03-16; statutory 03-30 (docs/rules.md, case A).
    d = start(daemon_factory, "2026-03-02T10:00:00+08:00")
    case = "LY-SCJGJ-2026-900003"
    post(d, "LY-SCJGJ", [ev("LY-SCJGJ", case, "accepted", "2026-03-02T09:15:00+08:00",
                            item="SCJG-003")])
    row = case_row(refdb, case)
    assert (row["committed_day"], row["statutory_day"]) == ("2026-03-16", "2026-03-30")

    # A day off on Tuesday 03-10 (inside both windows) moves both deadlines by a working day.
    extra = testdir / "calendar-extra.csv"
    extra.write_text(CALENDAR.read_text(encoding="utf-8") + "2026-03-10,holiday,临时停工\n",
                     encoding="utf-8")
    refdb.load("calendar", extra)

    def moved(committed, statutory):
        row = case_row(refdb, case)
        return (row["committed_day"], row["statutory_day"]) == (committed, statutory)
    wait_for(lambda: moved("2026-03-17", "2026-03-31"), 15,
             "the deadlines to move to 2026-03-17 and 2026-03-31")
    # And back when the official calendar is loaded again.
    refdb.load("calendar", CALENDAR)
    wait_for(lambda: moved("2026-03-16", "2026-03-30"), 15, "the deadlines to move back")

    # A calendar the database takes but libmonitor refuses (a "workday" on a Tuesday): the
    # daemon says so and keeps the rules it has, so its holiday moves nothing.
    bad = testdir / "calendar-bad.csv"
    bad.write_text(CALENDAR.read_text(encoding="utf-8") + "2026-03-10,holiday,临时停工\n"
                   "2026-07-07,workday,误录\n", encoding="utf-8")
    refdb.load("calendar", bad)
    wait_for(lambda: "reference table calendar refused" in d.log_text(), 15,
             "the daemon to refuse the calendar")
    post(d, "LY-SCJGJ", [ev("LY-SCJGJ", case, "step", "2026-03-02T09:50:00+08:00",
                            step="review", handler="P0021")])
    assert moved("2026-03-16", "2026-03-30")
    assert d.running()


def test_the_same_rules_rederive_nothing(daemon_factory, refdb):
    """Issue 12: a start, a reload or a reconnect that loads the rules the open cases were last
    re-derived under marks none of them due (it used to mark all: 50 minutes of sweeping for
    200,000 open cases at every start); other rules still re-derive every open case."""
    d = start(daemon_factory, "2026-03-02T10:00:00+08:00")
    case = "LY-SCJGJ-2026-900004"
    post(d, "LY-SCJGJ", [ev("LY-SCJGJ", case, "accepted", "2026-03-02T09:15:00+08:00",
                            item="SCJG-003")])
    settle(d, refdb)
    evaluated = case_row(refdb, case)["evaluated_at"]
    digest = refdb.scalar("SELECT digest FROM rules_applied")

    def unchanged_lines():
        return d.log_text().count("rules unchanged since the open cases were last re-derived")

    # A SIGHUP with nothing changed.
    seen = unchanged_lines()
    reload(d)
    assert unchanged_lines() == seen + 1, d.log_tail()
    assert case_row(refdb, case)["evaluated_at"] == evaluated
    # A restart: the same build, tables and [rules].
    assert d.stop() == 0
    seen = unchanged_lines()
    d.start()
    wait_for(lambda: unchanged_lines() > seen, 15, "the restarted esupd to find the rules applied")
    assert case_row(refdb, case)["evaluated_at"] == evaluated
    assert refdb.scalar("SELECT digest FROM rules_applied") == digest
    # A reconnect of the reader (its backend killed): the rules load again, and are the same.
    seen = unchanged_lines()
    refdb.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = 'esupd reader'")
    wait_for(lambda: unchanged_lines() > seen, 30, "the reconnected esupd to find the rules applied")
    assert case_row(refdb, case)["evaluated_at"] == evaluated
    # Other [rules]: every open case again. The business clock counts whole seconds, and the
    # steps above can all fall within the second of the first evaluation: the re-derive is
    # told by a later evaluated_at only once that second is over (the test's clock, not
    # floored, runs up to a second ahead of the daemon's).
    offset = int(d.config["testing"]["clock_offset_s"])
    wait_for(lambda: time.time() + offset >= evaluated.timestamp() + 2, 5,
             "the business clock to pass the first evaluation's second")
    changed = d.log_text().count("rules changed: 1 open cases to re-derive")
    d.config["rules"]["disable"] = "APR-LATE-REPORT,APR-REFUSAL-NO-REASON"
    d.write()
    reload(d)
    assert d.log_text().count("rules changed: 1 open cases to re-derive") == changed + 1
    assert refdb.scalar("SELECT digest FROM rules_applied") != digest
    settle(d, refdb)
    assert case_row(refdb, case)["evaluated_at"] > evaluated


def test_new_rules_mark_the_open_cases_a_step_at_a_time(daemon_factory, refdb):
    """Issue 12: when the rules change, the open cases are marked due a step of
    [sweeper] rederive_batch at a time (migration 032). One statement used to mark them all,
    holding every open case until it had the last: 4-8 s for 200,000 open cases, during which a
    department's event for any open case waited. Here the last case is held by another
    transaction: the cases before it are still marked and re-derived, and an event for one of
    them is stored meanwhile. esupd is killed then; started again with the same rules, it takes
    the marking up where it stopped, and the last case is re-derived too."""
    d = start(daemon_factory, "2026-03-02T10:00:00+08:00", sweeper={"rederive_batch": "1"})
    cases = ["LY-SCJGJ-2026-90010%d" % i for i in range(4)]
    post(d, "LY-SCJGJ", [ev("LY-SCJGJ", c, "accepted", "2026-03-02T09:15:00+08:00",
                            item="SCJG-003") for c in cases])
    settle(d, refdb)
    evaluated = {c: case_row(refdb, c)["evaluated_at"] for c in cases}
    offset = int(d.config["testing"]["clock_offset_s"])
    wait_for(lambda: time.time() + offset >= max(evaluated.values()).timestamp() + 2, 5,
             "the business clock to pass the first evaluations' second")

    def rederived(c):
        return case_row(refdb, c)["evaluated_at"] > evaluated[c]
    with psycopg.connect(refdb.conninfo("postgres")) as holder:
        holder.execute("SELECT 1 FROM cases WHERE case_no = %s FOR UPDATE", (cases[-1],))
        changed = d.log_text().count("rules changed: ")
        d.config["rules"]["disable"] = "APR-LATE-REPORT,APR-REFUSAL-NO-REASON"
        d.write()
        d.signal(signal.SIGHUP)
        wait_for(lambda: all(rederived(c) for c in cases[:-1]), 30,
                 "the open cases before the held one to be marked and re-derived")
        assert not rederived(cases[-1])
        assert refdb.scalar("SELECT marking FROM rules_applied") is True
        assert d.log_text().count("rules changed: ") == changed   # said once all are marked
        # A department's event for a case already marked is stored while the marking waits.
        post(d, "LY-SCJGJ", [ev("LY-SCJGJ", cases[0], "step", "2026-03-02T10:30:00+08:00",
                                step="review", handler="P0012")])
        # Killed in the middle, the marking is taken up by the next start of the same rules.
        # The killed daemon's step, waiting in the server for the held case, still marks it
        # and commits once the case is let go; with a step of one case it cannot know that
        # was the last (a full step answers "more"), so the marking is left unfinished
        # whichever comes first, that commit or the restarted daemon's load of the rules
        # (which waits for the step's lock on the rules_applied row).
        d.proc.kill()
        d.proc.wait(10)
        d.runs[-1][2] = 0   # killed on purpose
        holder.rollback()
    assert not rederived(cases[-1])
    d.start()
    wait_for(lambda: "taking up the unfinished marking" in d.log_text(), 30,
             "the restarted esupd to take up the marking")
    wait_for(lambda: d.log_text().count("open cases marked to re-derive under the rules applied")
             == 1, 30, "the marking to finish once the last case is let go")
    settle(d, refdb)
    assert rederived(cases[-1])
    assert refdb.scalar("SELECT marking FROM rules_applied") is False


def test_rules_loaded_while_the_sweepers_connection_is_down_apply_on_its_return(daemon_factory,
                                                                              refdb):
    """Rules loaded while the sweeper's connection is down (the reader came back first, or a
    SIGHUP came during the outage) are applied as soon as the sweeper reconnects. The sweeper's
    tick found its connection down and re-armed for its whole interval: with a long interval
    the re-derivation waited that long (a clean-clone CI's test_dry_run::test_database_down
    timed out on it, once in six runs)."""
    d = start(daemon_factory, "2026-03-02T10:00:00+08:00", sweeper={"interval_ms": "3600000"},
              database={"reconnect_min_ms": "4000", "reconnect_max_ms": "4000"})

    def rederived():
        text = d.log_text()
        return text.count("rules changed: ") + text.count("rules unchanged since")
    wait_for(lambda: rederived() == 1, 15, "the started esupd to find the rules applied")
    lost = d.log_text().count("database sweeper: connection lost")
    refdb.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = 'esupd sweeper'")
    wait_for(lambda: d.log_text().count("database sweeper: connection lost") > lost, 15,
             "esupd to see its sweeper's connection lost")
    connected = d.log_text().count("database sweeper: connected")
    loaded = d.log_text().count("rules loaded from")
    d.signal(signal.SIGHUP)
    wait_for(lambda: d.log_text().count("rules loaded from") > loaded, 10,
             "the rules to load again")
    wait_for(lambda: d.log_text().count("database sweeper: connected") > connected, 15,
             "the sweeper to reconnect")
    text = d.log_text()
    assert text.rfind("rules loaded from") < text.rfind("database sweeper: connected"), \
        "the rules were to load while the sweeper's connection was down:\n" + d.log_tail()
    wait_for(lambda: rederived() == 2, 15,
             "the rules loaded during the outage to be applied once the sweeper is back")
    assert d.log_text().count("database sweeper: connected") == connected + 1, d.log_tail()


def test_shutdown_lets_a_sweep_in_flight_finish(daemon_factory, refdb):
    """SIGTERM during a sweep: esupd exits only once the sweep has committed. It used to exit
    as soon as the ingest was drained, destroying the sweeper's connection under the case
    evaluation in flight, whose memory only its query's callback frees (a clang-san run
    reported the leak). The test holds the events table so that the sweep's history read
    waits, stops esupd, and lets the sweep go."""
    d = start(daemon_factory, "2026-03-02T10:00:00+08:00")
    case = "LY-SCJGJ-2026-900005"
    post(d, "LY-SCJGJ", [ev("LY-SCJGJ", case, "accepted", "2026-03-02T09:15:00+08:00",
                            item="SCJG-003")])
    settle(d, refdb)
    next_check = case_row(refdb, case)["next_check"]
    offset = int(d.config["testing"]["clock_offset_s"])
    assert next_check.timestamp() > time.time() + offset
    waiting = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
               " AND application_name = 'esupd sweeper' AND wait_event_type = 'Lock'")
    with psycopg.connect(refdb.conninfo("postgres")) as hold:
        hold.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        refdb.query("UPDATE cases SET next_check_at = to_timestamp(%s) WHERE case_no = %s",
                    (time.time() + offset - 1, case))
        wait_for(lambda: refdb.scalar(waiting) == 1, 30,
                 "the sweep to wait for the events table the test holds")
        d.signal(signal.SIGTERM)
        # esupd says which it does: waits for the sweep, or (before) exits at once
        wait_for(lambda: re.search("finishing the sweep in flight|batches finished; exiting",
                                   d.log_text()), 10, "esupd to stop or say what it waits for")
        assert "batches finished; exiting" not in d.log_text(), d.log_tail()
        assert d.running(), d.log_tail()
        hold.rollback()
    wait_for(lambda: not d.running(), 30, "esupd to exit once the sweep committed")
    assert d.stop() == 0, d.log_tail()   # exited already: no second SIGTERM
    # the sweep committed: the case's next check is its own again, not the past one set here
    assert case_row(refdb, case)["next_check"] == next_check


def test_get_case(daemon_factory, refdb):
    # Case A of docs/rules.md at Friday 2026-03-13 09:00: SCJG-003 accepted Monday 03-02;
    # counted so far 03-03…03-06 and 03-09…03-13 (today included): 9 days. Committed deadline
    # 03-16 (day 10), statutory 03-30 (day 20). The notice (2 days ahead) holds from the end of
    # day 8 (03-12); the next rung is the yellow card at 03-17 00:00:01.
    d = start(daemon_factory, "2026-03-13T09:00:00+08:00")
    dept, case = "LY-SCJGJ", "LY-SCJGJ-2026-900004"
    accepted = ev(dept, case, "accepted", "2026-03-02T09:15:00+08:00", item="SCJG-003")
    step = ev(dept, case, "step", "2026-03-04T10:00:00+08:00", step="review", handler="P0021")
    post(d, dept, [step, accepted])
    path = "/v1/cases/%s/%s" % (dept, case)

    r = d.curl(path, "supervisor")
    assert r.status == 200, r.body
    whole = r.json()
    body = dict(whole)
    got_alerts = body.pop("alerts")
    # The console's additions (test_board_api.py covers them in depth): the events in
    # business-time order, no span on the clock, the facts of the cases row.
    events = body.pop("events")
    assert [(e["id"], e["type"], e["at"]) for e in events] == [
        (accepted["id"], "approval.accepted", "2026-03-02T09:15:00+08:00"),
        (step["id"], "approval.step", "2026-03-04T10:00:00+08:00")]
    assert events[1]["body"] == step
    assert body.pop("clock") == []
    assert body.pop("corrections") == []   # test_corrections.py lists some
    facts = body.pop("facts")
    assert (facts["kind"], facts["accepted_at"], facts["closed_at"]) == (
        "approval", "2026-03-02T09:15:00+08:00", None)
    assert body == {
        "dept": dept, "case": case, "item": "SCJG-003", "status": "accepted",
        "unit": "working", "counted_days": 9, "suspended_days": 0,
        "limits": {"committed": 10, "statutory": 20},
        "deadline": {"committed": "2026-03-16", "statutory": "2026-03-30"},
        "level": "notice", "next_check": "2026-03-17T00:00:01+08:00"}
    assert len(got_alerts) == 1
    notice = got_alerts[0]
    assert notice["id"] == refdb.scalar("SELECT id FROM alerts WHERE case_no = %s", (case,))
    assert {k: notice[k] for k in ("rule", "severity", "status", "since")} == {
        "rule": "APR-DEADLINE-NOTICE", "severity": "notice", "status": "open",
        "since": "2026-03-13T00:00:01+08:00"}
    assert "2026-03-16" in notice["message"]
    assert accepted["id"] in notice["evidence"]
    assert near(at(notice["raised_at"]), "2026-03-13T09:00:00+08:00"), notice

    for reader in ("dept-" + dept, "auditor"):
        r = d.curl(path, reader)
        assert r.status == 200, (reader, r.body)
        assert r.json() == whole, reader
    assert d.curl(path, "dept-LY-ZJJ").status == 403
    assert d.curl("/v1/cases/%s/LY-SCJGJ-2026-999999" % dept, "supervisor").status == 404
    assert d.curl("/v1/cases/%s/LY-SCJGJ-2026-999999" % dept, "dept-" + dept).status == 404


def sample_files():
    """Every sample feed, in the order quickstart pushes them."""
    return [p for kind in ("supervision", "approval")
            for p in sorted((SAMPLES / "events" / kind).glob("*.ndjson"))]


def eval_sample_feed(now, disable):
    """`esupctl eval` over the whole sample feed, as (alert lines, case lines)."""
    feed = b"".join(p.read_bytes() for p in sample_files())
    with tempfile.TemporaryDirectory(prefix="esup-refdata-") as refdata:
        Path(refdata, "calendar.csv").symlink_to(CALENDAR)
        Path(refdata, "items.csv").symlink_to(ITEMS)
        for table in SUPERVISION_TABLES:
            Path(refdata, table + ".csv").symlink_to(SAMPLES / (table + ".csv"))
        proc = subprocess.run([str(ESUPCTL), "eval", "--refdata", refdata, "--now", now,
                               "--disable", disable], input=feed, capture_output=True,
                              timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    rows = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    return ([r for r in rows if r["kind"] == "alert"], [r for r in rows if r["kind"] == "case"])


BURST_RULES = {"ENF-REPEAT", "ENF-MULTI-DEPT"}


def test_sample_feed_alerts_match_esupctl(daemon_factory, refdb):
    """The daemon (ingest, then the sweeper) and esupctl eval agree on the sample feed."""
    d = start(daemon_factory, SAMPLE_NOW)
    for path in sample_files():
        r = d.curl("/v1/events", "dept-" + path.stem, data=path.read_bytes(),
                   content_type="application/x-ndjson")
        assert r.status == 200 and r.json()["rejected"] == 0, (path, r.body)

    def caught_up():
        return refdb.scalar("SELECT count(*) FROM cases WHERE next_check_at <= now()"
                            " + make_interval(secs => %s)",
                            (int(d.config["testing"]["clock_offset_s"]),)) == 0
    wait_for(caught_up, 30, "the sweeper to catch up")

    want_alerts, want_cases = eval_sample_feed(SAMPLE_NOW, "APR-LATE-REPORT")
    # esupctl eval judges events and cases; the statistical rules (STA-) judge a department's
    # figures in esupd's stat-rules job, which raises them if its round comes after the feed
    # is stored (a race seen under the sanitizers): they are test_stat_rules.py's.
    rows = refdb.query("SELECT rule, severity, dept, case_no, dedup_key, since, evidence"
                       " FROM alerts WHERE status IN ('open', 'acknowledged')"
                       " AND rule NOT LIKE 'STA-%'")
    # A burst of inspections is one alert whichever of its cases raised it first, and which
    # one that is depends on arrival order: compare bursts by key alone.
    def comparable(rule, severity, dept, case, key, since, evidence):
        if rule in BURST_RULES:
            return (rule, severity, None, None, key, since, ())
        return (rule, severity, dept, case, key, since, tuple(evidence))
    got = sorted(comparable(*r) for r in rows)
    # An event judged alone (no case) has case "" in esupctl and NULL in the database.
    want = sorted(comparable(a["rule"], a["severity"], a["dept"], a["case"] or None, a["key"],
                             at(a["since"]), a["evidence"]) for a in want_alerts)
    assert got == want, (sorted(set(got) - set(want)), sorted(set(want) - set(got)))
    assert {r[0] for r in rows} >= {"APR-DEADLINE-NOTICE", "APR-SPECIAL-NOTICE",
                                    "APR-DEADLINE-RED", "APR-ITEM-UNKNOWN"}

    # The approval cases; rows for the supervision events' cases may exist beside them.
    rows = refdb.query("SELECT dept, case_no, item, status, level, committed_day::text,"
                       " statutory_day::text, counted_days, suspended_days FROM cases")

    # An inspection case's level shows a burst only if its own evaluation saw the burst
    # complete, which depends on arrival order (docs/rules.md, bursts): compare it without.
    def comparable_case(dept, case, item, status, level, committed, statutory, counted, suspended):
        if "-JC-" in case:
            level = None
        return (dept, case, item, status, level, committed, statutory, counted, suspended)
    want = sorted(comparable_case(c["dept"], c["case"], c["item"] or "", c["status"], c["level"],
                                  c["deadline"]["committed"], c["deadline"]["statutory"],
                                  c["counted_days"], c["suspended_days"]) for c in want_cases)
    keys = {w[:2] for w in want}
    got = sorted(comparable_case(*r) for r in rows if tuple(r[:2]) in keys)
    assert got == want, (sorted(set(got) - set(want)), sorted(set(want) - set(got)))
    assert {w[0] for w in want} >= set(DEPTS) - {"LY-GGZY"}   # every approval department


def test_a_case_that_cannot_be_evaluated_does_not_hold_the_sweeper(daemon_factory, refdb):
    """A due case without a loadable history (here a row with no events at all) is put off an
    hour instead of being retaken at every sweep, where, earliest in line, it would hold back
    every case behind it. One case per sweep makes the blockage total if it happens."""
    d = start(daemon_factory, "2026-03-02T10:00:00+08:00", sweeper={"batch": "1"})
    refdb.query("INSERT INTO cases (dept, case_no, status, next_check_at)"
                " VALUES ('LY-GGZY', 'LY-GGZY-ORPHAN', 'accepted', '2026-01-01T00:00:00+08:00')",
                user="postgres")
    yellow = sweep_to_yellow(d, refdb)
    assert yellow["severity"] == "yellow"
    orphan = refdb.scalar("SELECT next_check_at FROM cases WHERE case_no = 'LY-GGZY-ORPHAN'")
    assert orphan > at("2026-03-04T10:00:00+08:00"), orphan


def test_context_events_count_once(daemon_factory, refdb):
    """A case with two events about one enterprise must not receive the enterprise's other
    inspections twice: three inspections are three, below a repeat_count of four."""
    d = start(daemon_factory, "2026-03-25T12:00:00+08:00", rules={"repeat_count": "4"})
    firm = {"uscc": "91410307MA9K2C5N1F", "name": "洛阳偃师伊洛纺织有限公司"}
    officers = [{"id": "P0721", "certificate": "41030021003105"}]

    def inspection(case, n, day):
        return event(dept="LY-HBJ", id="%s-%d" % (case, n), type="inspection.started",
                     at="2026-03-%02dT10:00:00+08:00" % day, case=case, enterprise=firm,
                     officers=officers, filing={"office": "youhuaban", "ref": "YHB-%s-%d" % (case, n)})
    post(d, "LY-HBJ", [inspection("LY-HBJ-JC-T1", 1, 23)])
    post(d, "LY-HBJ", [inspection("LY-HBJ-JC-T2", 1, 21), inspection("LY-HBJ-JC-T2", 2, 22)])
    rules = {r[0] for r in refdb.query("SELECT rule FROM alerts")}
    assert "ENF-REPEAT" not in rules, rules
