"""Statistics rollups (migration 014, issue 9 item 1): triggers keep stat_* in the writing
transaction. Randomized histories, written as the owner (cases facts) and pushed through esupd
(events, alerts, their state changes), must leave esup_stats_check() empty, equal a rebuild,
and agree with counts taken directly over what the test wrote. One database and one esupd for
the module; seeded randomness (ROLLUP_SEED overrides the seed)."""

import os
import random
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
    yield daemon
    finish_daemons([daemon], request)


def owner(db):
    conn = psycopg.connect(db.conninfo("esup_admin"), autocommit=True)
    conn.execute("SET ROLE esup_owner")
    return conn


def check(db):
    return db.query("SELECT * FROM esup_stats_check()")


def snapshot(db):
    """Every rollup's rows, all-zero rows left out (a moved case leaves them)."""
    out = {}
    for table, key in STAT_TABLES.items():
        rows = db.query("SELECT * FROM %s ORDER BY %s" % (table, ", ".join(key)))
        out[table] = [r for r in rows if any(v != 0 for v in r[len(key):])]
    return out


def test_settings_written_by_esupd(shared):
    wait_for(lambda: shared.db.scalar("SELECT late_report_hours FROM stat_settings") == LATE_HOURS,
             30, "esupd to write [rules] late_report_hours into stat_settings")
    assert "statistics: late_report_hours is now 48 (was 24)" in shared.log_text()


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


def random_facts(rnd, rows):
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
            write_case(conn, rnd.choice(cases), random_facts(rnd, None))
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
