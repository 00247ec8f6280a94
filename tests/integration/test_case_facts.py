"""Case facts (migration 013, issue 9): what statistics read from `cases` — kind, received,
accepted and closed instants, result, refusal report, supplements, on time against the
committed and statutory limits, a complaint's answer and closure in time, the applicant —
written by esup_apply_evaluation from libmonitor's evaluation in the transaction that stored
the events, and re-derived when a late or out-of-order event moves the case; the sweeper
writes them through the same function.

One database and daemon for the module; the business clock stands at NOW (the sample feed's
instant, contrib/quickstart's default), after every event, so nothing depends on when the test
runs. The facts the daemon stores for the whole sample feed are those `esupctl eval` prints:
one writer (mon_case_facts_json) on both paths. SCJG-001 is 10 committed / 20 statutory working
days: accepted Monday 2026-03-02, its committed last day is 03-16 and its statutory 03-30
(March 2026 has no holiday); a complaint received 03-02 is to be answered by 03-09 24:00 (5
working days) and closed by 03-23 24:00 (15).
"""

import itertools
import json
import subprocess
import tempfile
from datetime import timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from conftest import (migrated_database, offset_to, BUILD, CALENDAR, ITEMS, SAMPLES,
                      SUPERVISION_TABLES, Daemon, finish_daemons, wait_for, REPO, Database, chown_daemon, dbsetup, register)

NOW = "2026-11-23T12:00:00+08:00"
DEPT = "LY-SCJGJ"
USCC = "91410300MA44ABCD1R"
CST = timezone(timedelta(hours=8))
_seq = itertools.count(1)

FACTS = ("kind", "received_at", "accepted_at", "closed_at", "result", "reported", "supplements",
         "on_time_committed", "on_time_statutory", "replied_at", "reply_on_time",
         "close_on_time", "applicant")


@pytest.fixture(scope="module")
def daemon(pg, certs, workdir, request):
    """One database and daemon (the same steps as conftest's db, refdb and esupd)."""
    db = migrated_database(pg, certs, workdir, "case_facts")
    testdir = workdir / db.name
    db.load("calendar", CALENDAR)
    db.load("items", ITEMS)
    for table in SUPERVISION_TABLES:
        db.load(table, SAMPLES / (table + ".csv"))
    d = Daemon(db, certs, testdir, testing={"clock_offset_s": offset_to(NOW)},
               rules={"disable": "APR-LATE-REPORT"})
    yield d.start()
    finish_daemons([d], request)


def new_case(prefix):
    return "%s-FACTS-%s-%03d" % (DEPT, prefix, next(_seq))


def ev(case, type, at, **fields):
    e = {"id": "%s-%d" % (case, next(_seq)), "dept": DEPT, "type": type,
         "at": at + "+08:00", "case": case}
    e.update(fields)
    return e


def post(d, *events):
    with d.client("dept-" + DEPT) as c:
        r = c.post_events_committed(list(events))
    assert r.status == 200, r.body
    assert all(x["status"] == "accepted" for x in r.json()["results"]), r.body


def facts(d, case):
    """The case's facts, instants as Shanghai wall-clock text."""
    rows = d.db.query("SELECT " + ", ".join(FACTS) + " FROM cases WHERE dept = %s AND case_no = %s",
                      (DEPT, case))
    assert len(rows) == 1, rows
    out = dict(zip(FACTS, rows[0]))
    for k in ("received_at", "accepted_at", "closed_at", "replied_at"):
        if out[k] is not None:
            out[k] = out[k].astimezone(CST).strftime("%Y-%m-%dT%H:%M:%S")
    return out


def test_approval_denied_on_the_last_day(daemon):
    case = new_case("A")
    post(daemon,
         ev(case, "approval.received", "2026-03-02T09:00:00", item="SCJG-001",
            applicant={"uscc": USCC, "name": "洛阳华信精密机械有限公司"}),
         ev(case, "approval.supplement_requested", "2026-03-02T09:30:00"),
         ev(case, "approval.supplement_requested", "2026-03-02T09:40:00"),
         ev(case, "approval.accepted", "2026-03-02T10:00:00", item="SCJG-001"),
         ev(case, "approval.decided", "2026-03-16T23:59:59", result="denied", reason="不符合条件",
            report="LY-SCJGJ-BPZ-2026-001"))
    assert facts(daemon, case) == {
        "kind": "approval", "received_at": "2026-03-02T09:00:00",
        "accepted_at": "2026-03-02T10:00:00", "closed_at": "2026-03-16T23:59:59",
        "result": "denied", "reported": True, "supplements": 2, "on_time_committed": True,
        "on_time_statutory": True, "replied_at": None, "reply_on_time": None,
        "close_on_time": None, "applicant": USCC}
    assert daemon.db.query("SELECT counted_days FROM cases WHERE case_no = %s", (case,)) == [(10,)]


def test_refused_intake_without_report_and_withdrawn(daemon):
    refused, withdrawn = new_case("R"), new_case("W")
    post(daemon,
         ev(refused, "approval.received", "2026-03-02T09:00:00", item="SCJG-001"),
         ev(refused, "approval.refused_intake", "2026-03-03T09:00:00", reason="材料不全"),
         ev(withdrawn, "approval.accepted", "2026-03-02T10:00:00", item="SCJG-001"),
         ev(withdrawn, "approval.withdrawn", "2026-03-04T10:00:00"))
    f = facts(daemon, refused)
    assert (f["result"], f["reported"], f["closed_at"], f["accepted_at"], f["applicant"]) == \
        ("refused_intake", False, "2026-03-03T09:00:00", None, None)
    assert f["on_time_committed"] is None and f["on_time_statutory"] is None
    f = facts(daemon, withdrawn)
    assert (f["result"], f["reported"], f["on_time_committed"]) == ("withdrawn", None, None)


def test_late_suspension_rederives_on_time(daemon):
    """Decided on 03-17: a day late, until the suspension 03-04 10:00 → 03-06 00:00 arrives
    (after the decision was stored): 03-04 does not count, the last day moves to 03-17."""
    case = new_case("S")
    post(daemon,
         ev(case, "approval.accepted", "2026-03-02T09:00:00", item="SCJG-001"),
         ev(case, "approval.decided", "2026-03-17T16:00:00", result="approved"))
    f = facts(daemon, case)
    assert (f["on_time_committed"], f["on_time_statutory"]) == (False, True)
    post(daemon,
         ev(case, "approval.suspended", "2026-03-04T10:00:00", kind="hearing", days=5,
            approver="P1"),
         ev(case, "approval.resumed", "2026-03-06T00:00:00"))
    f = facts(daemon, case)
    assert (f["on_time_committed"], f["on_time_statutory"]) == (True, True)
    assert daemon.db.query("SELECT committed_day::text, suspended_days FROM cases"
                           " WHERE case_no = %s", (case,)) == [("2026-03-17", 1)]


def test_out_of_order_acceptance(daemon):
    """The decision arrives first: no clock, on time unknown; the acceptance, sent after it
    with an earlier business time, starts the clock and the facts follow."""
    case = new_case("O")
    post(daemon, ev(case, "approval.decided", "2026-03-16T15:00:00", result="approved"))
    f = facts(daemon, case)
    assert (f["kind"], f["result"], f["accepted_at"], f["on_time_committed"]) == \
        ("approval", "approved", None, None)
    post(daemon, ev(case, "approval.accepted", "2026-03-02T10:00:00", item="SCJG-001",
                    applicant={"uscc": USCC}))
    f = facts(daemon, case)
    assert (f["accepted_at"], f["on_time_committed"], f["on_time_statutory"], f["applicant"]) == \
        ("2026-03-02T10:00:00", True, True, USCC)


def test_complaint(daemon):
    """Answered a second after its deadline (late), closed in time."""
    case = new_case("C")
    post(daemon,
         ev(case, "complaint.received", "2026-03-02T10:00:00", subject="办事拖延"),
         ev(case, "complaint.replied", "2026-03-10T00:00:01"),
         ev(case, "complaint.closed", "2026-03-23T17:00:00"))
    assert facts(daemon, case) == {
        "kind": "complaint", "received_at": "2026-03-02T10:00:00", "accepted_at": None,
        "closed_at": "2026-03-23T17:00:00", "result": "closed", "reported": None,
        "supplements": 0, "on_time_committed": None, "on_time_statutory": None,
        "replied_at": "2026-03-10T00:00:01", "reply_on_time": False, "close_on_time": True,
        "applicant": None}


def test_other_kind(daemon):
    case = new_case("X")
    post(daemon, ev(case, "inquiry.received", "2026-03-02T10:00:00"),
         ev(case, "inquiry.answered", "2026-03-02T11:00:00"))
    f = facts(daemon, case)
    assert f["kind"] == "other" and all(f[k] is None for k in FACTS
                                         if k not in ("kind", "supplements"))


def test_sweeper_writes_the_facts(daemon):
    """An open complaint past both limits: ingest finds both missed. With its facts wiped and
    the case made due, the sweeper's evaluation writes them again."""
    case = new_case("SW")
    post(daemon, ev(case, "complaint.received", "2026-03-02T10:00:00"))
    f = facts(daemon, case)
    assert (f["result"], f["reply_on_time"], f["close_on_time"]) == (None, False, False)
    daemon.db.query("UPDATE cases SET reply_on_time = NULL, close_on_time = NULL,"
                    " kind = 'other', received_at = NULL, next_check_at = '2000-01-01'"
                    " WHERE dept = %s AND case_no = %s", (DEPT, case))
    wait_for(lambda: facts(daemon, case)["reply_on_time"] is False, 30,
             "the sweeper to re-derive the facts")
    f = facts(daemon, case)
    assert (f["kind"], f["received_at"], f["close_on_time"]) == \
        ("complaint", "2026-03-02T10:00:00", False)


def test_evaluation_without_facts_keeps_them(daemon):
    """A hand-written evaluation (no "facts") keeps the row's facts."""
    case = new_case("H")
    post(daemon,
         ev(case, "approval.accepted", "2026-03-02T10:00:00", item="SCJG-001"),
         ev(case, "approval.decided", "2026-03-05T10:00:00", result="approved"))
    before = facts(daemon, case)
    daemon.db.query("SELECT * FROM esup_apply_evaluation(jsonb_build_object('dept', %s::text,"
                    " 'case', %s::text, 'item', 'SCJG-001', 'status', 'decided', 'unit', 'working',"
                    " 'committed_days', 10, 'statutory_days', 20, 'counted_days', 3,"
                    " 'suspended_days', 0, 'conditions', '[]'::jsonb), now())", (DEPT, case))
    assert facts(daemon, case) == before
    assert before["result"] == "approved" and before["on_time_committed"] is True


def sample_files():
    return [p for kind in ("supervision", "approval")
            for p in sorted((SAMPLES / "events" / kind).glob("*.ndjson"))]


def esupctl_cases(feed, now):
    """`esupctl eval` over feed: its case lines."""
    with tempfile.TemporaryDirectory(prefix="esup-refdata-") as refdata:
        Path(refdata, "calendar.csv").symlink_to(CALENDAR)
        Path(refdata, "items.csv").symlink_to(ITEMS)
        for table in SUPERVISION_TABLES:
            Path(refdata, table + ".csv").symlink_to(SAMPLES / (table + ".csv"))
        proc = subprocess.run([str(BUILD / "contrib" / "esupctl"), "eval", "--refdata", refdata,
                               "--now", now, "--disable", "APR-LATE-REPORT"], input=feed,
                              capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"Sanitizer" not in proc.stderr, proc.stderr.decode()
    return [r for r in map(json.loads, proc.stdout.decode().splitlines()) if r["kind"] == "case"]


def iso(t):
    return None if t is None else t.astimezone(CST).isoformat()


def test_sample_feed_facts_match_esupctl(daemon):
    for path in sample_files():
        with daemon.client("dept-" + path.stem) as c:
            r = c.post_events_committed([json.loads(ln) for ln in path.read_text().splitlines()
                                         if ln.strip()])
        assert r.status == 200 and r.json()["rejected"] == 0, (path, r.body)
    want = {(c["dept"], c["case"]): c["facts"] for c in
            esupctl_cases(b"".join(p.read_bytes() for p in sample_files()), NOW)}
    rows = daemon.db.query("SELECT dept, case_no, " + ", ".join(FACTS) + " FROM cases")
    got = {}
    for row in rows:
        f = dict(zip(FACTS, row[2:]))
        for k in ("received_at", "accepted_at", "closed_at", "replied_at"):
            f[k] = iso(f[k])
        if tuple(row[:2]) in want:
            got[tuple(row[:2])] = f
    assert set(got) == set(want)
    assert got == want, [(k, got[k], want[k]) for k in want if got[k] != want[k]][:5]
    kinds = {f["kind"] for f in want.values()}
    results = {f["result"] for f in want.values()}
    assert kinds == {"approval", "complaint", "other"}, kinds
    assert {"approved", "denied", "closed", None} <= results, results


def test_cases_of_an_older_schema_get_their_facts(pg, certs, workdir, request):
    """A database of migrations 001-012 holds a decided case derived without facts. After the
    later migrations, esupd's sweeper re-derives it: its facts, and so the rollups, appear."""
    name = "esup_facts_upgrade"
    dbsetup(pg, "init", dbname=name)
    schema = sorted((REPO / "schema").glob("0*.sql"))
    first_new = [p.name for p in schema].index("013_case_facts.sql")
    db = Database(pg, name)
    case = "%s-FACTS-OLD-001" % DEPT
    body = [ev(case, "approval.accepted", "2026-03-02T10:00:00", item="SCJG-001"),
            ev(case, "approval.decided", "2026-03-10T16:00:00", result="approved")]
    with psycopg.connect(pg.conninfo(name, "esup_admin"), autocommit=True) as conn:
        def apply(path):
            with conn.transaction():
                conn.execute("SET LOCAL ROLE esup_owner")
                conn.execute(path.read_text())
                conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                             (int(path.name[:3]), path.name))
        with conn.transaction():     # as esupd --migrate does first
            conn.execute("SET LOCAL ROLE esup_owner")
            conn.execute("CREATE TABLE schema_migrations (version int PRIMARY KEY,"
                         " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        for path in schema[:first_new]:
            apply(path)
        with conn.transaction():     # what esupd of that schema stored and derived
            conn.execute("SET LOCAL ROLE esup_owner")
            for e in body:
                seq = conn.execute(
                    "INSERT INTO events (received_at, dept, event_id, type, at, case_no, item,"
                    " principal, body) VALUES ('2026-03-10 17:00+08', %s, %s, %s, %s, %s, %s,"
                    " 'p', %s) RETURNING seq",
                    (DEPT, e["id"], e["type"], e["at"], case, e.get("item"),
                     json.dumps(e))).fetchone()[0]
                conn.execute("INSERT INTO event_ids VALUES (%s, %s, %s, '2026-03-10 17:00+08')",
                             (DEPT, e["id"], seq))
            conn.execute("INSERT INTO cases (dept, case_no, item, status, committed_days,"
                         " statutory_days, counted_days) VALUES (%s, %s, 'SCJG-001', 'decided',"
                         " 10, 20, 7)", (DEPT, case))
        for path in schema[first_new:]:
            apply(path)
    register(db, certs)
    db.load("calendar", CALENDAR)
    db.load("items", ITEMS)
    testdir = workdir / name
    testdir.mkdir(mode=0o755)
    chown_daemon(testdir)
    d = Daemon(db, certs, testdir, testing={"clock_offset_s": offset_to(NOW)})
    try:
        d.start()
        wait_for(lambda: db.query("SELECT result, on_time_committed FROM cases WHERE case_no = %s",
                                  (case,)) == [("approved", True)], 60,
                 "the sweeper to re-derive the older case's facts")
        assert db.query("SELECT sum(decided), sum(on_time_committed) FROM stat_case_day"
                        " WHERE dept = %s AND day = '2026-03-10'", (DEPT,)) == [(1, 1)]
        assert db.query("SELECT * FROM esup_stats_check()", user="postgres") == []
    finally:
        finish_daemons([d], request)
