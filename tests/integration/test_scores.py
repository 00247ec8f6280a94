"""绩效评估 (schema/016_scores.sql, docs/auditing.md): esup_scores(period) on a worked example whose
numbers are computed by hand below, the ranking and its tie-break, the bottom (末位) flag, weight
versions (a later change leaves an earlier period's scores alone), bad period arguments,
row-level security (a person ranks only the departments it may see), and esupd writing its
[scores] section as a weight version at start and on reload.

The rollups are written directly by the superuser: this module checks the formula over them,
not how they are kept (that is 014's tests' work). One database for the module.
"""

import re
import signal
import subprocess
from decimal import Decimal

import psycopg
import pytest
from psycopg import errors

import conftest
from conftest import (offset_to, CALENDAR, ESUPD, ITEMS, SANITIZER_MARKS, Daemon, as_daemon_user, dbsetup,
                      finish_daemons, sanitizer_env, wait_for)
from test_alert_states import COUNTY_DEPT, REGIONS, migrated_database

A, B, C, D, E, F = "LY-SCJGJ", "LY-ZJJ", "LY-HBJ", "LY-ZRZYJ", "LY-GGZY", COUNTY_DEPT
COMPONENTS = ["on_time", "satisfaction", "complaints", "red", "yellow", "notice", "bottom_count"]
DEFAULTS = dict(zip(COMPONENTS, map(Decimal, ["60", "20", "20", "5", "2", "0.5", "1"])))

# The rollup rows of the example: (table, key columns, counters).
ROWS = [
    # A: March: 10 decided, 9 on time; 18 of 20 evaluations satisfied; 3 of 4 complaints
    # closed on time; valid cards: 1 red (a second revoked), 2 yellow, 1 notice (two more
    # dismissed or cancelled).
    ("stat_case_day", dict(dept=A, item="SCJG-001", day="2026-03-02"), dict(decided=6, on_time_committed=6)),
    ("stat_case_day", dict(dept=A, item="SCJG-002", day="2026-03-31"), dict(decided=4, on_time_committed=3)),
    ("stat_case_day", dict(dept=A, item="", day="2026-03-15"),
     dict(complaints_closed=4, complaints_closed_on_time=3)),
    ("stat_event_day", dict(dept=A, day="2026-03-03"), dict(evaluations_satisfied=10, evaluations_unsatisfied=1)),
    ("stat_event_day", dict(dept=A, day="2026-03-20"), dict(evaluations_satisfied=8, evaluations_unsatisfied=1)),
    ("stat_alert_day", dict(dept=A, rule="APR-DEADLINE-RED", severity="red", day="2026-03-10"),
     dict(raised=2, valid=1, revoked=1)),
    ("stat_alert_day", dict(dept=A, rule="APR-DEADLINE-YELLOW", severity="yellow", day="2026-03-10"),
     dict(raised=2, valid=2)),
    ("stat_alert_day", dict(dept=A, rule="APR-DEADLINE-NOTICE", severity="notice", day="2026-03-11"),
     dict(raised=3, valid=1, dismissed=1, cancelled=1)),
    # A outside March: a red card on 28 February (Q1 and the year), ten late decisions on
    # 1 April and in May three of four on time and a red card (the year).
    ("stat_alert_day", dict(dept=A, rule="APR-DEADLINE-RED", severity="red", day="2026-02-28"),
     dict(raised=1, valid=1)),
    ("stat_case_day", dict(dept=A, item="SCJG-001", day="2026-04-01"), dict(decided=10)),
    ("stat_case_day", dict(dept=A, item="SCJG-001", day="2026-05-06"), dict(decided=4, on_time_committed=3)),
    ("stat_alert_day", dict(dept=A, rule="APR-DEADLINE-RED", severity="red", day="2026-05-07"),
     dict(raised=1, valid=1)),
    # B: 4 of 4 on time, one yellow card; a hundred red cards in 2025 count for no 2026 period.
    ("stat_case_day", dict(dept=B, item="ZJ-001", day="2026-03-05"), dict(decided=4, on_time_committed=4)),
    ("stat_alert_day", dict(dept=B, rule="APR-DEADLINE-YELLOW", severity="yellow", day="2026-03-06"),
     dict(raised=1, valid=1)),
    ("stat_alert_day", dict(dept=B, rule="APR-DEADLINE-RED", severity="red", day="2025-12-31"),
     dict(raised=100, valid=100)),
    # C: 2 of 3 on time, 1 of 3 satisfied, no complaint closed.
    ("stat_case_day", dict(dept=C, item="HB-001", day="2026-03-09"), dict(decided=3, on_time_committed=2)),
    ("stat_event_day", dict(dept=C, day="2026-03-09"), dict(evaluations_satisfied=1, evaluations_unsatisfied=2, events=9)),
    # D: B's score exactly (5 of 5, one yellow): the tie goes to the lower code.
    ("stat_case_day", dict(dept=D, item="ZR-001", day="2026-03-20"), dict(decided=5, on_time_committed=5)),
    ("stat_alert_day", dict(dept=D, rule="APR-SUPPLEMENT-LATE", severity="yellow", day="2026-03-21"),
     dict(raised=1, valid=1)),
    # E: nothing at all. F (a county's): 1 of 2 on time and twelve red cards.
    ("stat_case_day", dict(dept=F, item="SCJG-001", day="2026-03-12"), dict(decided=2, on_time_committed=1)),
    ("stat_alert_day", dict(dept=F, rule="APR-DEADLINE-RED", severity="red", day="2026-03-13"),
     dict(raised=12, valid=12)),
    # A statistical finding judges the rates the score already weighs: it costs nothing.
    ("stat_alert_day", dict(dept=A, rule="STA-ONTIME-LOW", severity="yellow", day="2026-03-20"),
     dict(raised=1, valid=1)),
]

# By hand, default weights (on_time 60, satisfaction 20, complaints 20; 5, 2 and 0.5 points off
# per red, yellow and notice card; one bottom):
#   A March: 100 × (60×0.9 + 20×0.9 + 20×0.75) / 100 = 87, less 5 + 2×2 + 0.5      = 77.50
#   A Q1:    87, less 2×5 + 4 + 0.5                                                 = 72.50
#   A 2026:  on time 12 of 24 = 0.5: 100 × (30 + 18 + 15) / 100 = 63, less 3×5+4+0.5 = 43.50
#   B:       100 × 60×1 / 60 (no evaluation, no complaint: left out) = 100, less 2   = 98.00
#   C:       100 × (60×2/3 + 20×1/3) / 80 = 58.333…                                 = 58.33
#   D:       as B                                                                   = 98.00
#   E:       no rate at all and no card: nothing to judge, listed last without score or rank
#   F:       100 × 0.5 = 50, less 12×5 = -10, clamped                               = 0.00
# columns: dept, decided, on_time_rate, red, yellow, notice, satisfaction_rate, complaint_rate,
# score, rank, bottom
MARCH = [
    (B, 4, "1.0000", 0, 1, 0, None, None, "98.00", 1, False),
    (D, 5, "1.0000", 0, 1, 0, None, None, "98.00", 2, False),
    (A, 10, "0.9000", 1, 2, 1, "0.9000", "0.7500", "77.50", 3, False),
    (C, 3, "0.6667", 0, 0, 0, "0.3333", None, "58.33", 4, False),
    (F, 2, "0.5000", 12, 0, 0, None, None, "0.00", 5, True),
    (E, 0, None, 0, 0, 0, None, None, None, None, False),
]
Q1 = [r if r[0] != A else (A, 10, "0.9000", 2, 2, 1, "0.9000", "0.7500", "72.50", 3, False)
      for r in MARCH]
YEAR = [
    (B, 4, "1.0000", 0, 1, 0, None, None, "98.00", 1, False),
    (D, 5, "1.0000", 0, 1, 0, None, None, "98.00", 2, False),
    (C, 3, "0.6667", 0, 0, 0, "0.3333", None, "58.33", 3, False),
    (A, 24, "0.5000", 3, 2, 1, "0.9000", "0.7500", "43.50", 4, False),
    (F, 2, "0.5000", 12, 0, 0, None, None, "0.00", 5, True),
    (E, 0, None, 0, 0, 0, None, None, None, None, False),
]
NAMES = {A: ("洛阳市市场监督管理局", "410300"), B: ("洛阳市住房和城乡建设局", "410300"),
         C: ("洛阳市生态环境局", "410300"), D: ("洛阳市自然资源和规划局", "410300"),
         E: ("洛阳市公共资源交易中心", "410300"), F: ("老城区市场监管局", "410302")}
# suffix -> (role, region, dept)
PEOPLE = {"city": ("auditor", "410300", None), "county": ("supervisor", "410302", None),
          "scjgj": ("department", None, A)}


def insert(conn, table, key, counters):
    cols = list(key) + list(counters)
    conn.execute("INSERT INTO %s (%s) VALUES (%s)" % (table, ", ".join(cols), ", ".join(["%s"] * len(cols))),
                 list(key.values()) + list(counters.values()))


@pytest.fixture(scope="module")
def sdb(pg, certs, workdir):
    db = migrated_database(pg, certs, workdir, "scores")
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO regions (code, name, level, parent) VALUES (%s, %s, %s, %s)",
                            REGIONS)
        conn.execute("INSERT INTO departments (code, name, region) VALUES (%s, '老城区市场监管局', '410302')",
                     (F,))
        for table, key, counters in ROWS:
            insert(conn, table, key, counters)
    db.person = {}
    base = db.name.replace("esup_", "p")
    for suffix, (role, region, dept) in PEOPLE.items():
        name = "%s_%s" % (base, suffix)
        args = ["person", "add", name, "--role", role]
        args += ["--region", region] if region else []
        args += ["--dept", dept] if dept else []
        dbsetup(pg, *args, dbname=db.name)
        db.person[suffix] = name
    db.conns = {}
    yield db
    for conn in db.conns.values():
        conn.close()
    for name in db.person.values():
        dbsetup(pg, "person", "remove", name, dbname=db.name)


def conn_of(db, user):
    """One connection per role for the module (connections cost more than these queries)."""
    if user not in db.conns:
        db.conns[user] = psycopg.connect(db.conninfo(user), autocommit=True)
    return db.conns[user]


def scores(db, period, user="esupd"):
    """esup_scores(period) as user, in order, with the decimals as strings."""
    rows = conn_of(db, user).execute("SELECT * FROM esup_scores(%s)", (period,)).fetchall()
    return [tuple(str(v) if isinstance(v, Decimal) else v for v in r) for r in rows]


def short(rows):
    """Without dept_name, region and period_label (checked on their own)."""
    return [r[:1] + r[4:] for r in rows]


def set_weights(db, at, weights, user="esupd"):
    return conn_of(db, user).execute("SELECT esup_score_weights_set(%s, %s, %s::numeric[])",
                                     (at, list(weights), [str(v) for v in weights.values()])).fetchone()[0]


def test_worked_example_month_quarter_year(sdb):
    march = scores(sdb, "2026-03")
    assert short(march) == MARCH
    assert [(r[0], r[1], r[2], r[3]) for r in march] == [
        (r[0],) + NAMES[r[0]] + ("2026-03",) for r in MARCH]
    assert short(scores(sdb, "2026-Q1")) == Q1
    assert {r[3] for r in scores(sdb, "2026-Q1")} == {"2026-Q1"}
    assert short(scores(sdb, "2026")) == YEAR
    # The owner (and the superuser) compute the same; a month without data lists every
    # department, by code, with neither score nor rank, and flags nobody.
    assert scores(sdb, "2026-03", user="postgres") == march
    june = scores(sdb, "2026-06")
    assert [(r[0], r[12], r[13], r[11]) for r in june] == [
        (d, None, False, None) for d in sorted(NAMES)]
    # 2025: B's hundred red cards take it to 0; ranked alone, it is nobody's bottom.
    assert [(r[0], r[11], r[12], r[13]) for r in scores(sdb, "2025") if r[12] is not None] == [
        (B, "0.00", 1, False)]


def test_bad_period_is_refused(sdb):
    conn = conn_of(sdb, "esupd")
    for period in ["2026-3", "2026-13", "2026-00", "2026-Q5", "2026-Q0", "2026q1", "2026-q1", "26",
                   "", " 2026", "2026 ", "2026-03-01", "0000", "2026-03\n", "March 2026", None]:
        with pytest.raises(errors.InvalidParameterValue,
                           match=r"period must be a month YYYY-MM, a quarter YYYY-Qn or a year "
                                 r"YYYY, got ") as e:
            conn.execute("SELECT * FROM esup_scores(%s)", (period,))
        got = "NULL" if period is None else "'%s'" % period
        assert e.value.diag.message_primary.endswith("got " + got), e.value
        assert "esup_scores('2026-Q1')" in e.value.diag.message_hint


def test_people_rank_only_what_they_see(sdb):
    p = sdb.person
    # The city's auditor sees the county's department too (410302 is under 410300).
    assert scores(sdb, "2026-03", p["city"]) == scores(sdb, "2026-03")
    # The county's: one department, ranked first, and alone it is nobody's bottom.
    county = scores(sdb, "2026-03", p["county"])
    assert short(county) == [(F, 2, "0.5000", 12, 0, 0, None, None, "0.00", 1, False)]
    assert short(scores(sdb, "2026-03", p["scjgj"])) == [
        next(r for r in MARCH if r[0] == A)[:9] + (1, False)]
    # A group member without a people row sees nothing either.
    bare = sdb.name.replace("esup_", "p") + "_bare"
    sdb.query("CREATE ROLE %s LOGIN IN ROLE esup_auditor" % bare)
    try:
        assert scores(sdb, "2026-03", bare) == []
    finally:
        sdb.query("DROP ROLE %s" % bare)
    # People read the weights but cannot write them.
    with psycopg.connect(sdb.conninfo(p["city"]), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM score_weights").fetchone()[0] >= 7
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("SELECT esup_score_weights_set(now(), %s, %s::numeric[])",
                         (COMPONENTS, ["1"] * 7))
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("UPDATE score_weights SET weight = 0")


def test_weight_versions_leave_earlier_periods_alone(sdb):
    before = {p: scores(sdb, p) for p in ("2026-03", "2026-Q1", "2026", "2026-04")}
    new = dict(DEFAULTS, on_time=Decimal(80), red=Decimal(10), bottom_count=2)
    assert str(set_weights(sdb, "2026-04-15T10:00:00+08:00", new)) == "2026-04-15"
    # The same weights again, that day or later: no new version.
    assert set_weights(sdb, "2026-04-15T23:00:00+08:00", new) is None
    assert set_weights(sdb, "2026-04-20T09:00:00+08:00", new) is None
    assert sdb.scalar("SELECT count(*) FROM score_weights WHERE valid_from > '2026-01-01'") == 7
    # Periods that began before 15 April keep the weights they had.
    assert {p: scores(sdb, p) for p in before} == before
    # May: A alone has data: 100 × 0.75 (only the on-time rate) − 10 = 65, ranked alone (no
    # bottom among one); the others have nothing to judge and are listed by code.
    may = [(r[0], r[11], r[12], r[13]) for r in scores(sdb, "2026-05")]
    assert may == [(A, "65.00", 1, False)] + [(d, None, None, False) for d in sorted(NAMES)
                                              if d != A]
    # Q2 began on 1 April, before the change: the defaults. A: 3 of 14 on time (1 April and
    # May), nothing else but May's red card: 100 × 3/14 − 5 = 16.428… = 16.43.
    q2 = {r[0]: r[11] for r in scores(sdb, "2026-Q2")}
    assert q2[A] == "16.43"
    # A second change on the same day replaces that day's version.
    assert str(set_weights(sdb, "2026-04-15T18:00:00+08:00", dict(new, red=Decimal(8)))) == "2026-04-15"
    assert {r[0]: r[11] for r in scores(sdb, "2026-05")}[A] == "67.00"
    assert sdb.query("SELECT weight FROM score_weights WHERE valid_from = '2026-04-15'"
                     " AND component = 'red'") == [(Decimal(8),)]
    assert {p: scores(sdb, p) for p in before} == before


def test_weight_setter_checks_its_arguments(sdb):
    bad_names = dict(DEFAULTS)
    del bad_names["notice"]
    bad_names["warning"] = Decimal(1)
    with pytest.raises(errors.InvalidParameterValue, match="one weight for each of"):
        set_weights(sdb, "2026-07-01T10:00:00+08:00", bad_names)
    with pytest.raises(errors.InvalidParameterValue, match="one weight for each of"):
        set_weights(sdb, None, DEFAULTS)
    with pytest.raises(errors.CheckViolation):
        set_weights(sdb, "2026-07-01T10:00:00+08:00", dict(DEFAULTS, red=Decimal(-1)))
    with pytest.raises(errors.CheckViolation):
        set_weights(sdb, "2026-07-01T10:00:00+08:00", dict(DEFAULTS, bottom_count=Decimal("1.5")))
    assert sdb.scalar("SELECT count(*) FROM score_weights"
                      " WHERE valid_from BETWEEN '2026-07-01' AND '2026-12-31'") == 0


def weights_at(db, day):
    return dict(db.query("SELECT component, weight FROM score_weights WHERE valid_from = %s",
                         (day,)))


def test_esupd_writes_its_scores_section(sdb, certs, workdir, request):
    where = workdir / (sdb.name + "-daemon")
    where.mkdir(mode=0o755)
    conftest.chown_daemon(where)
    sdb.load("calendar", CALENDAR)
    sdb.load("items", ITEMS)
    section = {"on_time": "70", "satisfaction": "15", "complaints": "15.5", "red": "3",
               "yellow": "1.25", "notice": "0", "bottom_count": "2"}
    daemon = Daemon(sdb, certs, where, scores=section,
                    testing={"clock_offset_s": offset_to("2030-06-15T12:00:00+08:00")})
    try:
        daemon.start()
        want = {k: Decimal(v) for k, v in section.items()}
        wait_for(lambda: weights_at(sdb, "2030-06-15") == want, 20, "the [scores] version")
        assert "scores: [scores] weights {70.00,15.00,15.50,3.00,1.25,0.00,2} written as the " \
               "version in effect from 2030-06-15" in daemon.log_text()
        # A reload with other weights replaces the day's version.
        daemon.config["scores"]["notice"] = "0.75"
        daemon.write()
        done = daemon.log_text().count("reload complete")
        daemon.signal(signal.SIGHUP)
        wait_for(lambda: daemon.log_text().count("reload complete") > done, 10, "the reload")
        want["notice"] = Decimal("0.75")
        wait_for(lambda: weights_at(sdb, "2030-06-15") == want, 20, "the reloaded version")
        # A restart with the same weights writes nothing.
        assert daemon.stop() == 0
        daemon.start()
        wait_for(lambda: "are the version in effect" in daemon.log_tail(), 20,
                 "the restarted daemon to compare its weights")
        assert daemon.log_text().count("written as the version in effect from") == 2
    finally:
        finish_daemons([daemon], request)
    # 2026's scores were not touched by the 2030 versions.
    assert short(scores(sdb, "2026-03")) == MARCH


@pytest.mark.parametrize("values,message", [
    ({"red": "1.234"}, r"red: expected a number from 0 to 100\.00 with at most two decimals"),
    ({"on_time": "-1"}, r"on_time: expected a number from 0 to 1000\.00"),
    ({"notice": "1e2"}, r"notice: expected a number"),
    ({"yellow": "100.01"}, r"yellow: expected a number from 0 to 100\.00"),
    ({"bottom_count": "1.5"}, r"bottom_count: expected an integer from 0 to 1000"),
    ({"on_time": "0", "satisfaction": "0.00", "complaints": "0"},
     r"\[scores\] on_time, satisfaction and complaints must not all be 0"),
    ({"weight": "1"}, r'unknown option "weight" in section \[scores\]'),
])
def test_bad_scores_section_is_refused(sdb, certs, workdir, values, message):
    where = workdir / ("%s-conf-%d" % (sdb.name, next(conftest._counter)))
    where.mkdir(mode=0o755)
    d = Daemon(sdb, certs, where, scores=values)
    proc = subprocess.run([str(ESUPD), "-n", "-c", str(d.conf_path)], capture_output=True,
                          text=True, timeout=60, env=sanitizer_env(), **as_daemon_user())
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and re.search(message, out), out
    assert not any(m in out for m in SANITIZER_MARKS), out
