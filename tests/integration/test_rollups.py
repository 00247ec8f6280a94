"""Statistics rollups (migration 014, issue 9 item 1): triggers keep stat_* in the writing
transaction. Randomized histories, written as the owner (cases facts) and pushed through esupd
(events, alerts, their state changes), must leave esup_stats_check() empty, equal a rebuild,
and agree with counts taken directly over what the test wrote. One database and one esupd for
the module; seeded randomness (ROLLUP_SEED overrides the seed)."""

import os
import random
import signal
import threading
import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from conftest import (CALENDAR, ITEMS, SAMPLES, SUPERVISION_TABLES, USCC_A, Daemon, Database,
                      chown_daemon, dbsetup, default_config, finish_daemons, free_port,
                      register, wait_for, write_config)
import conftest

SEED = int(os.environ.get("ROLLUP_SEED", "20260302"))
SHANGHAI = timezone(timedelta(hours=8))
LATE_HOURS = 48
USCC_B = "91410300MA9LD7HU5K"
STAT_TABLES = {
    "stat_case_day": ("dept", "item", "day"),
    "stat_event_day": ("dept", "day"),
    "stat_penalty_day": ("dept", "day", "band", "office"),
    "stat_alert_day": ("dept", "rule", "severity", "day"),
    "stat_enterprise_day": ("applicant", "dept", "day"),
}


@pytest.fixture(scope="module")
def shared(pg, certs, workdir, request):
    """A migrated database with the sample reference data and one esupd (late_report_hours 48,
    FEE-NO-REVIEW held for confirmation so that alerts are confirmed and cancelled too)."""
    testdir = workdir / "rollups-shared"
    testdir.mkdir(mode=0o755)
    chown_daemon(testdir)
    name = "esup_rollups_%d" % next(conftest._counter)
    dbsetup(pg, "init", dbname=name)
    db = Database(pg, name)
    conf = testdir / "migrate.conf"
    write_config(conf, default_config(db, certs, testdir, free_port()))
    conftest.subprocess.run([str(conftest.ESUPD), "-c", str(conf), "--migrate"], check=True,
                            capture_output=True, timeout=120, env=conftest.sanitizer_env(),
                            cwd=testdir, **conftest.as_daemon_user())
    register(db, certs)
    db.load("calendar", CALENDAR)
    db.load("items", ITEMS)
    for table in SUPERVISION_TABLES:
        db.load(table, SAMPLES / (table + ".csv"))
    daemon = Daemon(db, certs, testdir, rules={"late_report_hours": LATE_HOURS})
    daemon.start()
    # Every test counts late reports by LATE_HOURS: the rollups take it from stat_settings,
    # which esupd's job writes after start (the log line comes after the COMMIT). Waited for
    # here, not only in test_settings_written_by_esupd: a test run alone (or first on its
    # worker) posted its events before it and the triggers counted with the default 24 hours.
    wait_for(lambda: "statistics: late_report_hours is now %d (was 24)" % LATE_HOURS
             in daemon.log_text(), 30,
             "esupd to write [rules] late_report_hours into stat_settings")
    yield daemon
    finish_daemons([daemon], request)


def owner(db):
    conn = psycopg.connect(db.conninfo("esup_admin"), autocommit=True)
    conn.execute("SET ROLE esup_owner")
    return conn


def check(db):
    return db.query("SELECT * FROM esup_stats_check()")


def test_settings_written_by_esupd(shared):
    # The log line comes after the COMMIT: wait for it, not for the row.
    wait_for(lambda: "statistics: late_report_hours is now 48 (was 24)" in shared.log_text(),
             30, "esupd to write [rules] late_report_hours into stat_settings")
    assert shared.db.scalar("SELECT late_report_hours FROM stat_settings") == LATE_HOURS


def test_writer_cannot_write_rollups(shared):
    with psycopg.connect(shared.db.conninfo("esupd"), autocommit=True) as conn:
        for sql in ("INSERT INTO stat_event_day (dept, day, events) VALUES ('LY-ZJJ', '2026-03-02', 5)",
                    "UPDATE stat_case_day SET decided = decided + 1",
                    "UPDATE stat_settings SET late_report_hours = 1",
                    "SELECT esup_stats_rebuild()"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)


# ---------------------------------------------------------------- cases, written directly

CASE_DEPT = "LY-ZRZYJ"
ITEMS_DIRECT = ["ZR-A", "ZR-B"]
DAY0 = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)


def random_facts(rnd):
    """New facts for one case: a kind, the days its facts fell on, a result or none."""
    kind = rnd.choice(["approval", "approval", "approval", "complaint", "other"])
    t = DAY0 + timedelta(days=rnd.randrange(4), hours=rnd.randrange(14))
    f = dict(kind=kind, item=rnd.choice(ITEMS_DIRECT) if kind != "complaint" else "",
             received_at=t, accepted_at=None, closed_at=None, result=None, reported=None,
             on_time_committed=None, on_time_statutory=None, replied_at=None,
             reply_on_time=None, close_on_time=None, applicant=None,
             counted_days=rnd.randrange(12), suspended_days=rnd.randrange(3),
             supplements=rnd.randrange(2))
    # An hour before midnight sometimes: the Shanghai day, not the UTC one, counts.
    closed = t + timedelta(days=rnd.randrange(3), hours=rnd.choice([1, 14, 15]))
    if kind == "approval":
        f["accepted_at"] = t + timedelta(hours=rnd.choice([0, 2, 15]))
        f["applicant"] = rnd.choice([None, USCC_A, USCC_B])
        f["result"] = rnd.choice([None, None, "approved", "denied", "refused_intake", "withdrawn"])
        if f["result"] is not None:
            f["closed_at"] = closed
        if f["result"] in ("denied", "refused_intake"):
            f["reported"] = rnd.random() < 0.5
        if f["result"] in ("approved", "denied"):
            f["on_time_committed"] = rnd.random() < 0.7
            f["on_time_statutory"] = f["on_time_committed"] or rnd.random() < 0.5
    elif kind == "complaint":
        if rnd.random() < 0.7:
            f["replied_at"] = t + timedelta(days=rnd.randrange(6))
            f["reply_on_time"] = rnd.random() < 0.6
        if rnd.random() < 0.6:
            f["closed_at"] = closed
            f["result"] = "closed"
            f["close_on_time"] = rnd.random() < 0.6
    else:
        f["received_at"] = None
    return f


def write_case(conn, case_no, f):
    cols = sorted(f)
    conn.execute(
        "INSERT INTO cases AS k (dept, case_no, %s) VALUES (%%s, %%s, %s)"
        " ON CONFLICT (dept, case_no) DO UPDATE SET %s"
        % (", ".join(cols), ", ".join(["%s"] * len(cols)),
           ", ".join("%s = EXCLUDED.%s" % (c, c) for c in cols)),
        [CASE_DEPT, case_no] + [f[c] for c in cols])


def expected_case_day(db):
    """stat_case_day for CASE_DEPT recomputed in Python from the cases rows."""
    rows = db.query("SELECT item, kind, received_at, accepted_at, closed_at, result, reported,"
                    " on_time_committed, on_time_statutory, counted_days, suspended_days,"
                    " replied_at, reply_on_time, close_on_time FROM cases WHERE dept = %s",
                    (CASE_DEPT,))
    out = {}

    def add(item, t, **counts):
        key = (item, t.astimezone(SHANGHAI).date())
        row = out.setdefault(key, {"decided": 0, "approved": 0, "denied": 0, "received": 0,
                                   "accepted": 0, "days_used_sum": 0, "days_used_max": 0,
                                   "refusals_reported": 0, "refusals_unreported": 0,
                                   "withdrawn": 0, "complaints_received": 0,
                                   "complaints_closed": 0, "complaints_closed_on_time": 0,
                                   "complaints_replied_on_time": 0, "on_time_committed": 0})
        for k, v in counts.items():
            row[k] = max(row[k], v) if k == "days_used_max" else row[k] + v

    for (item, kind, rec, acc, closed, result, reported, otc, _ots, used, _susp, replied,
         reply_ok, close_ok) in rows:
        if kind == "approval":
            if rec:
                add(item, rec, received=1)
            if acc:
                add(item, acc, accepted=1)
            if closed and result in ("approved", "denied"):
                add(item, closed, decided=1, **{result: 1}, days_used_sum=used,
                    days_used_max=used, on_time_committed=int(bool(otc)))
            if closed and result in ("denied", "refused_intake"):
                add(item, closed, **{"refusals_reported" if reported else "refusals_unreported": 1})
            if closed and result == "withdrawn":
                add(item, closed, withdrawn=1)
        elif kind == "complaint":
            if rec:
                add(item, rec, complaints_received=1)
            if replied and reply_ok:
                add(item, replied, complaints_replied_on_time=1)
            if closed:
                add(item, closed, complaints_closed=1, complaints_closed_on_time=int(bool(close_ok)))
    return {k: v for k, v in out.items() if any(v.values())}


def kept_case_day(db):
    cols = ["decided", "approved", "denied", "received", "accepted", "days_used_sum",
            "days_used_max", "refusals_reported", "refusals_unreported", "withdrawn",
            "complaints_received", "complaints_closed", "complaints_closed_on_time",
            "complaints_replied_on_time", "on_time_committed"]
    rows = db.query("SELECT item, day, %s FROM stat_case_day WHERE dept = %%s" % ", ".join(cols),
                    (CASE_DEPT,))
    out = {(r[0], r[1]): dict(zip(cols, r[2:])) for r in rows}
    return {k: v for k, v in out.items() if any(v.values())}


def test_case_facts_moved_at_random(shared):
    """Cases inserted and rewritten at random (kind, item, days, result, counted days going up
    and down): after every step the kept rollups equal a recomputation, and equal the counts
    this test makes itself."""
    db = shared.db
    rnd = random.Random(SEED)
    cases = ["ZR-%03d" % i for i in range(25)]
    with owner(db) as conn:
        for step in range(160):
            write_case(conn, rnd.choice(cases), random_facts(rnd))
            if step % 20 == 19:
                assert check(db) == [], "after step %d" % step
        # A decided case's days lowered (its key's maximum must come down), then moved away.
        conn.execute("UPDATE cases SET result = 'approved', closed_at = %s, counted_days = 40,"
                     " kind = 'approval', item = 'ZR-A', on_time_committed = false"
                     " WHERE dept = %s AND case_no = 'ZR-000'", (DAY0, CASE_DEPT))
        assert db.scalar("SELECT days_used_max FROM stat_case_day WHERE dept = %s"
                         " AND item = 'ZR-A' AND day = '2026-03-02'", (CASE_DEPT,)) == 40
        conn.execute("UPDATE cases SET counted_days = 1 WHERE dept = %s AND case_no = 'ZR-000'",
                     (CASE_DEPT,))
        assert check(db) == []
        conn.execute("UPDATE cases SET item = 'ZR-B' WHERE dept = %s AND case_no = 'ZR-000'",
                     (CASE_DEPT,))
        assert check(db) == []
        # The highest case of its key reopened (no result, its closing instant left): the
        # maximum comes down to the others'.
        conn.execute("UPDATE cases SET counted_days = 50 WHERE dept = %s AND case_no = 'ZR-000'",
                     (CASE_DEPT,))
        conn.execute("UPDATE cases SET result = NULL, on_time_committed = NULL"
                     " WHERE dept = %s AND case_no = 'ZR-000'", (CASE_DEPT,))
        assert check(db) == []
        assert db.scalar("SELECT days_used_max FROM stat_case_day WHERE dept = %s"
                         " AND item = 'ZR-B' AND day = '2026-03-02'", (CASE_DEPT,)) < 50
    assert kept_case_day(db) == expected_case_day(db)
    assert db.scalar("SELECT sum(cases) FROM stat_enterprise_day WHERE dept = %s", (CASE_DEPT,)) \
        == db.scalar("SELECT count(*) FROM cases WHERE dept = %s AND kind = 'approval'"
                     " AND result IN ('approved', 'denied') AND applicant IS NOT NULL", (CASE_DEPT,))


def test_clock_updates_write_nothing(shared):
    """The sweeper moves open cases' clocks all the time; that must not touch a rollup row (the
    WHEN clause keeps the trigger from running), nor must re-deriving a decided case to the
    same facts."""
    db = shared.db
    with owner(db) as conn:
        write_case(conn, "ZR-CLOCK", dict(kind="approval", item="ZR-A", received_at=DAY0,
                                          accepted_at=DAY0, counted_days=1))
        write_case(conn, "ZR-DONE", dict(kind="approval", item="ZR-A", received_at=DAY0,
                                         accepted_at=DAY0, closed_at=DAY0, result="approved",
                                         on_time_committed=True, counted_days=3))
        before = db.query("SELECT xmin::text, * FROM stat_case_day WHERE dept = %s ORDER BY item, day",
                          (CASE_DEPT,))
        conn.execute("UPDATE cases SET counted_days = counted_days + 1, suspended_days = 1,"
                     " next_check_at = now(), level = 'notice', evaluated_at = now()"
                     " WHERE dept = %s AND case_no = 'ZR-CLOCK'", (CASE_DEPT,))
        conn.execute("UPDATE cases SET evaluated_at = now(), next_check_at = NULL"
                     " WHERE dept = %s AND case_no = 'ZR-DONE'", (CASE_DEPT,))
        after = db.query("SELECT xmin::text, * FROM stat_case_day WHERE dept = %s ORDER BY item, day",
                         (CASE_DEPT,))
    assert after == before
    assert check(db) == []


def test_alert_counts_in_opposite_orders_do_not_deadlock(shared):
    """Two transactions raise alerts of one department under two keys in opposite orders,
    interleaved: counted at once they would each hold one counter row and wait for the other's
    (a deadlock); noted and counted at COMMIT in key order, both commit."""
    db = shared.db
    sql = ("WITH a AS (INSERT INTO alerts (rule, severity, dept, dedup_key, message, since,"
           " raised_at, status, issued_at) VALUES (%s, %s, 'LY-ZRZYJ', %s, 'test', %s, %s, 'open', %s)"
           " RETURNING id, raised_at)"
           " INSERT INTO alert_actions (alert_id, action, actor, actor_role, at, to_state)"
           " SELECT id, 'raise', 'test', 'system', raised_at, 'open' FROM a")
    t = DAY0 + timedelta(days=20)
    keys = [("APR-DEADLINE-NOTICE", "notice"), ("APR-DEADLINE-YELLOW", "yellow")]
    with owner(db) as c1, owner(db) as c2:
        # Counted at once, c1's second insert would wait on c2's first: fail, do not hang.
        c1.execute("SET lock_timeout = '5s'")
        c2.execute("SET lock_timeout = '5s'")
        c1.execute("BEGIN")
        c2.execute("BEGIN")
        c1.execute(sql, (*keys[0], "dl-1a", t, t, t))
        c2.execute(sql, (*keys[1], "dl-2b", t, t, t))
        c1.execute(sql, (*keys[1], "dl-1b", t, t, t))
        c2.execute(sql, (*keys[0], "dl-2a", t, t, t))
        done = []
        worker = threading.Thread(target=lambda: (c2.execute("COMMIT"), done.append(2)))
        c1.execute("COMMIT")
        worker.start()
        worker.join(30)
        assert done == [2]
    assert db.query("SELECT rule, raised, valid FROM stat_alert_day WHERE dept = 'LY-ZRZYJ'"
                    " AND day = %s ORDER BY rule", (t.date(),)) == \
        [("APR-DEADLINE-NOTICE", 2, 2), ("APR-DEADLINE-YELLOW", 2, 2)]
    assert check(db) == []


# ---------------------------------------------------------------- histories through esupd

ITEMS_BY_DEPT = {"LY-SCJGJ": ["SCJG-001", "SCJG-002", "SCJG-004"],
                 "LY-ZJJ": ["ZJ-001", "ZJ-002", "ZJ-003"],
                 "LY-HBJ": ["HB-001", "HB-003"]}
OFFICERS = {"LY-HBJ": {"id": "P0721", "certificate": "41030021003105"},
            "LY-SCJGJ": {"id": "P0031", "certificate": "41030021001357"}}
SUSPEND_KINDS = ["hearing", "testing", "expert_review", "public_notice"]
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]


def uscc(n):
    """A valid unified social credit code of a made-up enterprise (check digit as value.c)."""
    body = "91410300MA%07d" % n
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(body, USCC_WEIGHTS))
    return body + USCC_CHARS[(31 - total % 31) % 31]


# Parties of penalties and inspections: many, so that no enterprise's history (which the
# cross-case rules load for each of its events) grows large.
PARTIES = [uscc(n) for n in range(40)]


class History:
    """A seeded random history: the events, and what the test expects of the rollups."""

    def __init__(self, rnd, now):
        self.rnd = rnd
        self.now = now
        self.events = []
        self.n = 0
        self.cases = {}     # (dept, case) -> expected facts: kind, result, reported, days

    def at(self, t):
        """Business times clear of the late threshold's edge (received_at is when posted). The
        expected facts take their times through it too: a time it moves 6 hours back may
        cross midnight in Shanghai (this failed only when run between about 01:00 and 06:00
        Shanghai time, when the edge fell on such hours)."""
        t = min(t, self.now - timedelta(minutes=5))
        age = self.now - t
        if timedelta(hours=LATE_HOURS - 3) < age < timedelta(hours=LATE_HOURS + 3):
            t -= timedelta(hours=6)
        return t

    def add(self, dept, type, t, case=None, **fields):
        self.n += 1
        ev = {"id": "ru-%05d" % self.n, "dept": dept, "type": type,
              "at": self.at(t).isoformat(timespec="seconds")}
        if case is not None:
            ev["case"] = case
        ev.update(fields)
        self.events.append(ev)
        return ev

    def approval(self, dept, i):
        rnd = self.rnd
        case = "%s-RU-%04d" % (dept, i)
        item = rnd.choice(ITEMS_BY_DEPT[dept])
        t = self.now - timedelta(days=rnd.randrange(0, 40), hours=rnd.randrange(0, 20))
        party = rnd.choice([None, {"uscc": USCC_A}, {"uscc": USCC_B}])
        common = {"item": item}
        if party:
            common["applicant"] = party
        self.add(dept, "approval.received", t, case, **common)
        fact = {"kind": "approval", "result": None, "applicant": party and party["uscc"],
                "received": self.at(t), "accepted": None}
        self.cases[(dept, case)] = fact
        t += timedelta(hours=rnd.randrange(1, 30))
        if rnd.random() < 0.3:
            self.add(dept, "approval.supplement_requested", t, case, materials="补充材料")
            t += timedelta(hours=rnd.randrange(1, 20))
            self.add(dept, "approval.supplement_received", t, case)
            t += timedelta(hours=2)
        if rnd.random() < 0.12:
            report = rnd.random() < 0.5
            fields = {"reason": "材料不符合法定形式"}
            if report:
                fields["report"] = "BPZ-%d" % i
            self.add(dept, "approval.refused_intake", t, case, **fields)
            fact.update(result="refused_intake", reported=report, closed=self.at(t))
            return
        self.add(dept, "approval.accepted", t, case, **common)
        fact["accepted"] = self.at(t)
        t += timedelta(days=rnd.randrange(0, 8), hours=rnd.randrange(0, 8))
        if rnd.random() < 0.25:
            self.add(dept, "approval.suspended", t, case, kind=rnd.choice(SUSPEND_KINDS),
                     days=rnd.randrange(2, 6), approver="P0012")
            t += timedelta(days=rnd.randrange(1, 5))
            self.add(dept, "approval.resumed", t, case)
        if rnd.random() < 0.1:
            self.add(dept, "approval.extended", t, case, days=5, approver="P0001")
        t += timedelta(days=rnd.randrange(0, 12), hours=rnd.randrange(0, 8))
        outcome = rnd.choice(["approved", "approved", "denied", "withdrawn", "open"])
        if t >= self.now - timedelta(minutes=10) or outcome == "open":
            return
        if outcome == "withdrawn":
            self.add(dept, "approval.withdrawn", t, case)
            fact.update(result="withdrawn", closed=self.at(t))
            return
        fields = {"result": outcome}
        report = outcome == "denied" and rnd.random() < 0.5
        if outcome == "denied":
            fields["reason"] = "不符合条件"
            if report:
                fields["report"] = "BPZ-D-%d" % i
        self.add(dept, "approval.decided", t, case, **fields)
        fact.update(result=outcome, reported=report if outcome == "denied" else None, closed=self.at(t))

    def complaint(self, i):
        rnd = self.rnd
        dept, case = "LY-SCJGJ", "LY-SCJGJ-TS-%04d" % i
        t = self.now - timedelta(days=rnd.randrange(0, 30), hours=rnd.randrange(0, 20))
        self.add(dept, "complaint.received", t, case, subject="窗口态度", against="SCJG-001")
        fact = {"kind": "complaint", "received": self.at(t), "closed": None}
        self.cases[(dept, case)] = fact
        t += timedelta(days=rnd.randrange(0, 8), hours=1)
        if rnd.random() < 0.7 and t < self.now:
            self.add(dept, "complaint.replied", t, case)
            t += timedelta(days=rnd.randrange(0, 10), hours=1)
            if rnd.random() < 0.7 and t < self.now:
                self.add(dept, "complaint.closed", t, case)
                fact["closed"] = self.at(t)

    def others(self, i):
        rnd = self.rnd
        t = self.now - timedelta(days=rnd.randrange(0, 40), hours=rnd.randrange(0, 23))
        kind = rnd.randrange(5)
        if kind == 2 and i % 4:
            kind = rnd.choice([0, 1, 3, 4])   # few penalties: each costs esupd a second or more
        if kind == 0:
            amount = rnd.choice(["1200.00", "35.5", 800, "2999.99", 120.25])
            fields = {"fee_item": "ZJ-017", "amount": amount, "payer": {"uscc": USCC_A}}
            if rnd.random() < 0.4:
                fields["reviewer"] = "P0456"
            self.add("LY-ZJJ", "fee.collected", t, **fields)
        elif kind == 1:
            self.add("LY-ZJJ", "fee.refunded", t, fee_item="ZJ-017",
                     amount=rnd.choice(["100.00", "35.5", 20]))
        elif kind == 2:
            fields = {"party": {"uscc": rnd.choice(PARTIES)}, "violation": "HB-05",
                      "severity": "general", "amount": rnd.choice(["500", "4000.50", 15000, "9999.99"]),
                      "hearing_notice": True}
            if rnd.random() < 0.5:
                fields["filing"] = {"office": rnd.choice(["jianfuban", "youhuaban", "city"]),
                                    "ref": "BA-%d" % i}
            self.add("LY-HBJ", "penalty.decided", t, "LY-HBJ-CF-%04d" % i, **fields)
        elif kind == 3:
            dept = rnd.choice(["LY-HBJ", "LY-SCJGJ"])
            self.add(dept, "inspection.started", t, "%s-JC-%04d" % (dept, i),
                     enterprise={"uscc": rnd.choice(PARTIES)},
                     officers=[OFFICERS[dept]], filing={"office": "city", "ref": "JC-%d" % i})
        else:
            self.add("LY-SCJGJ", "evaluation.received", t, satisfied=rnd.random() < 0.7,
                     window="W3")


def day(ev):
    return datetime.fromisoformat(ev["at"]).astimezone(SHANGHAI).date()


def fen(amount):
    return round(float(amount) * 100)


def band(f):
    return "jianfuban" if f < 300000 else "youhuaban" if f < 1000000 else "city"


def expected_event_days(hist):
    out = {}
    for ev in hist.events:
        row = out.setdefault((ev["dept"], day(ev)), {
            "events": 0, "late_reported": 0, "supplement_requests": 0, "fees_collected": 0,
            "fees_collected_fen": 0, "fees_refunded": 0, "fees_refunded_fen": 0,
            "inspections": 0, "evaluations_satisfied": 0, "evaluations_unsatisfied": 0,
            "complaints_received": 0, "complaints_replied": 0, "complaints_closed": 0})
        row["events"] += 1
        row["late_reported"] += hist.now - datetime.fromisoformat(ev["at"]) > timedelta(hours=LATE_HOURS)
        t = ev["type"]
        row["supplement_requests"] += t == "approval.supplement_requested"
        if t == "fee.collected":
            row["fees_collected"] += 1
            row["fees_collected_fen"] += fen(ev["amount"])
        if t == "fee.refunded":
            row["fees_refunded"] += 1
            row["fees_refunded_fen"] += fen(ev["amount"])
        row["inspections"] += t == "inspection.started"
        if t == "evaluation.received":
            row["evaluations_satisfied" if ev["satisfied"] else "evaluations_unsatisfied"] += 1
        for what in ("received", "replied", "closed"):
            row["complaints_" + what] += t == "complaint." + what
    return out


def act(conn, fp, alert_id, action, note="测试"):
    return conn.execute("SELECT outcome FROM esup_alert_act_as(%s, %s, %s, %s, NULL)",
                        (fp, alert_id, action, note)).fetchone()[0]


def test_random_history_through_esupd(shared, certs):
    db = shared.db
    rnd = random.Random(SEED + 1)
    assert db.query("SELECT outcome FROM esup_rule_mode_as(%s, 'FEE-NO-REVIEW', 'hold', %s)",
                    (certs.fingerprints["supervisor"], "rollup test: held fees"))[0][0] == "done"
    hist = History(rnd, datetime.now(SHANGHAI))
    for i in range(70):
        hist.approval(rnd.choice(list(ITEMS_BY_DEPT)), i)
    for i in range(12):
        hist.complaint(i)
    for i in range(70):
        hist.others(i)
    # Out of order: each department's events in shuffled batches, so decisions arrive before
    # acceptances and cases are re-derived by late events.
    by_dept = {}
    for ev in hist.events:
        by_dept.setdefault(ev["dept"], []).append(ev)
    t0 = time.monotonic()
    for dept, evs in sorted(by_dept.items()):
        rnd.shuffle(evs)
        c = shared.client("dept-" + dept)
        for k in range(0, len(evs), 40):
            resp = c.post_events_committed(evs[k:k + 40])
            assert resp.status == 200, (resp.status, resp.body)
            body = resp.json()
            assert body["accepted"] == len(evs[k:k + 40]), body
    print("%d events posted in %.1fs" % (len(hist.events), time.monotonic() - t0))
    assert check(db) == []

    # Alert state changes: acknowledged, appealed and revoked, dismissed, confirmed, cancelled.
    done = {"revoke": 0, "dismiss": 0, "cancel": 0, "confirm": 0}
    fp = certs.fingerprints
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as conn:
        alerts = conn.execute("SELECT id, dept, status FROM alerts ORDER BY id").fetchall()
        for alert_id, dept, status in alerts:
            r = rnd.random()
            if status == "held":
                what = "cancel" if r < 0.5 else "confirm"
                assert act(conn, fp["supervisor"], alert_id, what) == "done"
                done[what] += 1
            elif status == "open" and r < 0.2:
                assert act(conn, fp["dept-" + dept], alert_id, "appeal") == "done"
                if act(conn, fp["supervisor"], alert_id, "revoke") == "done":
                    done["revoke"] += 1
            elif status == "open" and r < 0.4:
                if act(conn, fp["supervisor"], alert_id, "dismiss") == "done":
                    done["dismiss"] += 1
            elif status == "open" and r < 0.6:
                act(conn, fp["dept-" + dept], alert_id, "ack")
    assert done["cancel"] > 0 and done["confirm"] > 0 and done["revoke"] > 0
    assert check(db) == []

    # The events' counts, day by day, as this test counts what it sent.
    kept = {(r[0], r[1]): dict(zip(
        ["events", "late_reported", "supplement_requests", "fees_collected",
         "fees_collected_fen", "fees_refunded", "fees_refunded_fen", "inspections",
         "evaluations_satisfied", "evaluations_unsatisfied", "complaints_received",
         "complaints_replied", "complaints_closed"], r[2:]))
        for r in db.query("SELECT * FROM stat_event_day"
                          " WHERE dept IN ('LY-SCJGJ', 'LY-ZJJ', 'LY-HBJ')")}
    assert kept == expected_event_days(hist)
    assert sum(v["late_reported"] for v in kept.values()) > 0

    # Penalties by band and office; inspections by enterprise.
    pen = {}
    ins = {}
    for ev in hist.events:
        if ev["type"] == "penalty.decided":
            k = (day(ev), band(fen(ev["amount"])), ev.get("filing", {}).get("office", ""))
            n, f = pen.get(k, (0, 0))
            pen[k] = (n + 1, f + fen(ev["amount"]))
        if ev["type"] == "inspection.started":
            k = (ev["enterprise"]["uscc"], ev["dept"], day(ev))
            ins[k] = ins.get(k, 0) + 1
    assert {(r[0], r[1], r[2]): (r[3], r[4]) for r in db.query(
        "SELECT day, band, office, penalties, amount_fen FROM stat_penalty_day"
        " WHERE dept = 'LY-HBJ'")} == pen
    assert {(r[0], r[1], r[2]): r[3] for r in db.query(
        "SELECT applicant, dept, day, inspections FROM stat_enterprise_day"
        " WHERE inspections > 0")} == ins

    # The cases' counts (their facts derived by libmonitor from the shuffled events).
    approvals = [f for f in hist.cases.values() if f["kind"] == "approval"]
    totals = dict(zip(["received", "accepted", "approved", "denied", "refused_intake",
                       "withdrawn", "refusals_reported", "refusals_unreported",
                       "complaints_received", "complaints_closed"],
                      db.query("SELECT sum(received), sum(accepted), sum(approved), sum(denied),"
                               " sum(refused_intake), sum(withdrawn), sum(refusals_reported),"
                               " sum(refusals_unreported), sum(complaints_received),"
                               " sum(complaints_closed) FROM stat_case_day"
                               " WHERE dept <> %s", (CASE_DEPT,))[0]))
    want = {"received": len(approvals),
            "accepted": sum(f["accepted"] is not None for f in approvals),
            "complaints_received": sum(f["kind"] == "complaint" for f in hist.cases.values()),
            "complaints_closed": sum(f["kind"] == "complaint" and f["closed"] is not None
                                     for f in hist.cases.values()),
            "refusals_reported": sum(bool(f.get("reported")) for f in approvals),
            "refusals_unreported": sum(f["result"] in ("denied", "refused_intake")
                                       and not f.get("reported") for f in approvals)}
    for result in ("approved", "denied", "refused_intake", "withdrawn"):
        want[result] = sum(f["result"] == result for f in approvals)
    assert totals == want
    decided_days = {}
    for f in approvals:
        if f["result"] in ("approved", "denied"):
            k = f["closed"].astimezone(SHANGHAI).date()
            decided_days[k] = decided_days.get(k, 0) + 1
    assert dict(db.query("SELECT day, sum(decided) FROM stat_case_day WHERE dept <> %s"
                         " GROUP BY day HAVING sum(decided) > 0", (CASE_DEPT,))) == decided_days
    ent = {}
    for f in approvals:
        if f["result"] in ("approved", "denied") and f["applicant"]:
            ent[f["applicant"]] = ent.get(f["applicant"], 0) + 1
    assert dict(db.query("SELECT applicant, sum(cases) FROM stat_enterprise_day"
                         " WHERE dept <> %s GROUP BY 1 HAVING sum(cases) > 0", (CASE_DEPT,))) == ent

    # Alerts: the final states this test brought about.
    got = db.query("SELECT sum(revoked), sum(dismissed), sum(cancelled), sum(raised), sum(valid)"
                   " FROM stat_alert_day")[0]
    assert got[:3] == (done["revoke"], done["dismiss"], done["cancel"])
    assert got[3:] == tuple(db.query("SELECT count(*), count(*) FILTER (WHERE valid)"
                                     " FROM esup_alerts")[0])
    # Alert changes were noted for their COMMIT and moved then: nothing is left pending.
    assert db.scalar("SELECT count(*) FROM stat_alert_pending") == 0

    # A rebuild, with the rollups locked against concurrent writers, finds the same rows.
    with owner(db) as conn:
        with conn.transaction():
            conn.execute("LOCK TABLE stat_case_day, stat_event_day, stat_penalty_day,"
                         " stat_alert_day, stat_enterprise_day IN EXCLUSIVE MODE")
            kept_rows = {t: [r for r in conn.execute("SELECT * FROM %s ORDER BY %s" % (t, ", ".join(k)))
                             if any(v != 0 for v in r[len(k):])] for t, k in STAT_TABLES.items()}
            conn.execute("SELECT esup_stats_rebuild()")
            rebuilt = {t: conn.execute("SELECT * FROM %s ORDER BY %s" % (t, ", ".join(k))).fetchall()
                       for t, k in STAT_TABLES.items()}
    assert kept_rows == rebuilt


def test_reload_writes_new_late_report_hours(shared):
    """SIGHUP with another [rules] late_report_hours: esupd writes it; events stored from then
    on are judged by it (those stored before keep their counts: docs/operations.md)."""
    shared.config["rules"]["late_report_hours"] = "36"
    shared.write()
    shared.signal(signal.SIGHUP)
    wait_for(lambda: "statistics: late_report_hours is now 36 (was 48)" in shared.log_text(),
             30, "esupd to write the reloaded late_report_hours")
    assert shared.db.scalar("SELECT late_report_hours FROM stat_settings") == 36
    at = datetime.now(SHANGHAI) - timedelta(hours=40)    # late under 36 h, not under 48 h
    before = shared.db.scalar("SELECT coalesce(sum(late_reported), 0) FROM stat_event_day"
                              " WHERE dept = 'LY-GGZY'")
    resp = shared.client("dept-LY-GGZY").post_events_committed([
        {"id": "ru-reload-1", "dept": "LY-GGZY", "type": "evaluation.received",
         "at": at.isoformat(timespec="seconds"), "satisfied": True}])
    assert resp.status == 200 and resp.json()["accepted"] == 1, resp.body
    assert shared.db.scalar("SELECT sum(late_reported) FROM stat_event_day"
                            " WHERE dept = 'LY-GGZY'") == before + 1
