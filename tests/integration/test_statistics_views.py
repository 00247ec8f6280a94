"""The statistics views (schema/015, issue 9 items 2 and 8; docs/auditing.md).

One database and one esupd for the module. A seeded random history of approval, complaint,
fee, penalty, inspection and evaluation events goes through esupd shuffled (out of order, most
of it long after it happened), some of its alerts are appealed and revoked or dismissed, and
then every esup_stats view must equal a count made directly over events, cases and esup_alerts
in the same snapshot. The views' own arithmetic (Shanghai periods, labels, rates, yuan) is also
checked over rollup rows written by hand. Auditors and leaders made by esup-dbsetup read only
their region's rows through the views and can write nothing.
"""

import datetime as dt
import random
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import psycopg
import pytest
from psycopg import errors

import conftest
from conftest import Daemon, dbsetup, finish_daemons
from test_alert_states import REGIONS, migrated_database
from test_cases import offset_to

SEED = 20260915
SH = dt.timezone(dt.timedelta(hours=8))
NOW = "2026-04-15T10:00:00+08:00"            # the daemon's business clock at its start
MINE = ["LY-SCJGJ", "LY-ZJJ", "LY-HBJ"]      # the departments the history is about
COUNTY = "410302"                            # LY-HBJ is moved here: a county department
ITEMS = {d: ["%s-%03d" % (p, n) for n in range(1, 5)]
         for d, p in (("LY-SCJGJ", "SCJG"), ("LY-ZJJ", "ZJ"), ("LY-HBJ", "HB"))}
FEES = {"LY-SCJGJ": "SCJG-F002", "LY-ZJJ": "ZJ-017", "LY-HBJ": "HB-F001"}
OFFICERS = {"LY-SCJGJ": ("P0031", "41030021001357"), "LY-ZJJ": ("P0471", "41030021002218"),
            "LY-HBJ": ("P0721", "41030021003105")}
USCC = ["91410300MA44ABCD1R", "91410300MA9LD7HU5K", "91410300MA9N5R2K8Q", "91410304MA48P3RM2X"]
UNITS = ("day", "month", "quarter", "year")
# people: suffix -> (role, region)
PEOPLE = {"aud_city": ("auditor", "410300"), "lead_county": ("leader", COUNTY),
          "lead_zz": ("leader", "410100")}

# ---------------------------------------------------------------- a random history


def stamp(rnd, day, hour=None):
    """An instant on Shanghai day `day`, sometimes written in UTC: 00:30 and 23:30 fall on
    another UTC day, so a view that groups by UTC days is caught."""
    hour = rnd.choice((0, 8, 9, 15, 23)) if hour is None else hour
    t = dt.datetime.combine(day, dt.time(hour, rnd.choice((5, 30, 55))), SH)
    if rnd.random() < 0.4:
        return t.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    return t.isoformat()


class History:
    def __init__(self, seed):
        self.rnd = random.Random(seed)
        self.events = []
        self.n = 0

    def add(self, dept, type, day, case=None, **fields):
        self.n += 1
        ev = {"id": "sv-%05d" % self.n, "dept": dept, "type": type, "at": stamp(self.rnd, day)}
        if case:
            ev["case"] = case
        ev.update(fields)
        self.events.append(ev)

    def day(self):
        return dt.date(2026, 2, 20) + dt.timedelta(days=self.rnd.randrange(50))

    def approval(self, dept, k):
        r = self.rnd
        case, item = "%s-SV-A%03d" % (dept, k), r.choice(ITEMS[dept])
        who = {"uscc": r.choice(USCC)} if r.random() < 0.8 else {}
        party = {"applicant": who} if who else {}
        t = self.day()
        self.add(dept, "approval.received", t, case, item=item, **party)
        if r.random() < 0.25:
            self.add(dept, "approval.supplement_requested", t + dt.timedelta(days=1), case)
            self.add(dept, "approval.supplement_received", t + dt.timedelta(days=3), case)
            t += dt.timedelta(days=3)
        if r.random() < 0.1:
            extra = {"report": "不予受理通知书"} if r.random() < 0.5 else {}
            self.add(dept, "approval.refused_intake", t + dt.timedelta(days=1), case,
                     reason="材料不全", **extra)
            return
        t += dt.timedelta(days=r.randrange(3))
        self.add(dept, "approval.accepted", t, case, item=item, **party)
        if r.random() < 0.1:
            self.add(dept, "approval.withdrawn", t + dt.timedelta(days=r.randrange(1, 9)), case)
            return
        if r.random() < 0.2:
            self.add(dept, "approval.suspended", t + dt.timedelta(days=2), case, kind="hearing",
                     days=5)
            self.add(dept, "approval.resumed", t + dt.timedelta(days=6), case)
        if r.random() < 0.8:
            denied = r.random() < 0.25
            extra = {"reason": "不符合条件"} if denied else {}
            if denied and r.random() < 0.6:
                extra["report"] = "不予批准报告"
            result = "denied" if denied else "approved"
            self.add(dept, "approval.decided", t + dt.timedelta(days=r.randrange(1, 30)), case,
                     result=result, **extra)
            if r.random() < 0.15:   # a correction: decided again, on another day
                self.add(dept, "approval.decided", t + dt.timedelta(days=r.randrange(1, 30)),
                         case, result=result, **extra)

    def complaint(self, dept, k):
        r, case, t = self.rnd, "%s-SV-C%03d" % (dept, k), self.day()
        self.add(dept, "complaint.received", t, case, subject="办事拖延")
        if r.random() < 0.8:
            t += dt.timedelta(days=r.randrange(1, 12))
            self.add(dept, "complaint.replied", t, case)
            if r.random() < 0.7:
                self.add(dept, "complaint.closed", t + dt.timedelta(days=r.randrange(1, 25)), case)

    def others(self, dept, k):
        r = self.rnd
        amount = r.choice(("120.00", "35.50", "2999.99"))
        self.add(dept, "fee.collected", self.day(), fee_item=FEES[dept], amount=amount,
                 payer={"uscc": r.choice(USCC)}, reviewer="张审核")
        if r.random() < 0.3:
            self.add(dept, "fee.refunded", self.day(), fee_item=FEES[dept], amount="20.25")
        if r.random() < 0.5:
            extra = {}
            if r.random() < 0.7:
                extra["filing"] = {"office": r.choice(("jianfuban", "youhuaban", "city")),
                                   "ref": "备-%d" % k}
            self.add(dept, "penalty.decided", self.day(), "%s-SV-P%03d" % (dept, k),
                     party={"uscc": r.choice(USCC)}, violation="HB-05", severity="general",
                     amount=r.choice(("800.00", "3000.00", "9999.99", "12000.50")),
                     hearing_notice=True, **extra)
        if r.random() < 0.5:
            officer, cert = OFFICERS[dept]
            self.add(dept, "inspection.started", self.day(), "%s-SV-I%03d" % (dept, k),
                     enterprise={"uscc": r.choice(USCC)},
                     officers=[{"id": officer, "certificate": cert}])
        # Evaluations, some within late_report_hours of the clock (not late).
        day = dt.date(2026, 4, 15) if r.random() < 0.3 else self.day()
        self.add(dept, "evaluation.received", day, satisfied=r.random() < 0.7)

    @classmethod
    def make(cls, seed):
        h = cls(seed)
        for dept in MINE:
            for k in range(14):
                h.approval(dept, k)
            for k in range(3):
                h.complaint(dept, k)
            for k in range(5):
                h.others(dept, k)
        for ev in h.events:    # the evaluation's hour must not be after the clock
            if ev["type"] == "evaluation.received" and ev["at"].startswith("2026-04-15"):
                ev["at"] = "2026-04-15T08:30:00+08:00"
        h.rnd.shuffle(h.events)
        return h.events


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def vdb(pg, certs, workdir, request):
    """The module's database with reference data, LY-HBJ moved to a county, the history
    ingested by esupd, a few alerts revoked or dismissed, and the people of PEOPLE."""
    db = migrated_database(pg, certs, workdir, "stats")
    db.load("calendar", conftest.CALENDAR)
    db.load("items", conftest.ITEMS)
    for table in ("enterprises", "filing_offices"):
        db.load(table, conftest.SAMPLES / (table + ".csv"))
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as conn:
        conn.cursor().executemany(
            "INSERT INTO regions (code, name, level, parent) VALUES (%s, %s, %s, %s)", REGIONS)
        conn.execute("UPDATE departments SET region = %s WHERE code = 'LY-HBJ'", (COUNTY,))
    where = workdir / (db.name + "-daemon")
    where.mkdir(mode=0o755)
    conftest.chown_daemon(where)
    daemon = Daemon(db, certs, where, testing={"clock_offset_s": offset_to(NOW)})
    made = [daemon]
    daemon.start()
    try:
        history = History.make(SEED)
        ingest(daemon, history)
        ingest(daemon, corrections(history))
        settle_alerts(db, certs)
    finally:
        daemon.stop()
        finish_daemons(made, request)
    db.person = {}
    base = db.name.replace("esup_", "p")
    for suffix, (role, region) in PEOPLE.items():
        name = "%s_%s" % (base, suffix)
        dbsetup(pg, "person", "add", name, "--role", role, "--region", region, dbname=db.name)
        db.person[suffix] = name
    yield db
    for name in db.person.values():
        dbsetup(pg, "person", "remove", name, dbname=db.name)


def ingest(daemon, events):
    """In batches of 30 per department, each in random order: a case's events come over several
    requests, out of order."""
    by_dept = defaultdict(list)
    for ev in events:
        by_dept[ev["dept"]].append(ev)
    for dept, evs in by_dept.items():
        client = daemon.client("dept-" + dept)
        for i in range(0, len(evs), 30):
            r = client.post_events_committed(evs[i:i + 30])
            assert r.status == 200, (r.status, r.body, daemon.log_tail())
            assert r.json()["accepted"] == len(evs[i:i + 30]), r.body


def corrections(events):
    """After the history: each department voids its first fee.collected and replaces its
    second (a corrected amount), so esup_stats.corrections_month has rows of both kinds."""
    out, seen = [], defaultdict(int)
    for ev in sorted(events, key=lambda e: e["id"]):
        if ev["type"] != "fee.collected" or seen[ev["dept"]] >= 2:
            continue
        seen[ev["dept"]] += 1
        fix = {"id": ev["id"] + "-fix", "dept": ev["dept"], "type": "event.corrected",
               "at": ev["at"], "of": ev["id"], "reason": "录入错误"}
        if seen[ev["dept"]] == 1:
            fix["action"] = "void"
        else:
            replacement = {k: v for k, v in ev.items() if k not in ("id", "dept")}
            replacement["amount"] = "100.00"
            fix.update(action="replace", replacement=replacement)
        out.append(fix)
    return out


def settle_alerts(db, certs):
    """Appeals and revokes some open alerts, dismisses others (as the daemon would for a
    department's and a supervisor's certificates)."""
    sup = certs.fingerprints["supervisor"]
    with psycopg.connect(db.conninfo("esupd"), autocommit=True) as conn:
        rows = conn.execute("SELECT id, dept FROM alerts WHERE status = 'open' ORDER BY id").fetchall()
        assert len(rows) >= 6, rows
        for n, (alert, dept) in enumerate(rows[:9]):
            if n % 3 == 0:
                dept_fp = certs.fingerprints["dept-" + dept]
                assert conn.execute("SELECT outcome FROM esup_alert_act_as(%s, %s, 'appeal', '时限计算有误', now())",
                                    (dept_fp, alert)).fetchone() == ("done",)
                action = "revoke"
            elif n % 3 == 1:
                action = "dismiss"
            else:
                continue
            assert conn.execute("SELECT outcome FROM esup_alert_act_as(%s, %s, %s, '核实', now())",
                                (sup, alert, action)).fetchone() == ("done",)


# ---------------------------------------------------------------- what the views should say


def day_of(column):
    return "(%s AT TIME ZONE 'Asia/Shanghai')::date" % column


# (dept, day, counter, value) straight from cases, events and esup_alerts; the counters are
# those of the rollup tables (days_used_max is a maximum, the rest sums).
DIRECT_DAYS = """
SELECT dept, {ra}, 'received', 1 FROM cases WHERE kind = 'approval' AND received_at IS NOT NULL
UNION ALL SELECT dept, {aa}, 'accepted', 1 FROM cases WHERE kind = 'approval' AND accepted_at IS NOT NULL
UNION ALL SELECT dept, {ca}, k, v FROM cases, LATERAL (VALUES ('decided', 1), (result, 1),
	('on_time_committed', on_time_committed::int), ('on_time_statutory', on_time_statutory::int),
	('days_used_sum', counted_days), ('days_used_max', counted_days),
	('suspended_days_sum', suspended_days)) x (k, v)
	WHERE kind = 'approval' AND result IN ('approved', 'denied')
UNION ALL SELECT dept, {ca}, result, 1 FROM cases WHERE result IN ('refused_intake', 'withdrawn')
UNION ALL SELECT dept, {ca}, CASE WHEN reported THEN 'refusals_reported' ELSE 'refusals_unreported' END, 1
	FROM cases WHERE result IN ('denied', 'refused_intake')
UNION ALL SELECT dept, {ra}, 'complaints_received', 1 FROM cases WHERE kind = 'complaint' AND received_at IS NOT NULL
UNION ALL SELECT dept, {pa}, 'complaints_replied_on_time', 1 FROM cases WHERE kind = 'complaint' AND reply_on_time
UNION ALL SELECT dept, {ca}, 'complaints_closed', 1 FROM cases WHERE kind = 'complaint' AND result = 'closed'
UNION ALL SELECT dept, {ca}, 'complaints_closed_on_time', 1 FROM cases WHERE kind = 'complaint' AND close_on_time
UNION ALL SELECT dept, {at}, 'events', 1 FROM events
UNION ALL SELECT dept, {at}, 'late_reported', 1 FROM events
	WHERE received_at - at > make_interval(hours => (SELECT late_report_hours FROM stat_settings))
UNION ALL SELECT dept, {at}, CASE type WHEN 'approval.supplement_requested' THEN 'supplement_requests'
	WHEN 'inspection.started' THEN 'inspections' END, 1 FROM events
	WHERE type IN ('approval.supplement_requested', 'inspection.started')
UNION ALL SELECT dept, {at}, CASE type WHEN 'fee.collected' THEN 'fees_collected_fen' ELSE 'fees_refunded_fen' END,
	((body->>'amount')::numeric * 100)::bigint FROM events WHERE type IN ('fee.collected', 'fee.refunded')
UNION ALL SELECT dept, {at}, CASE WHEN (body->>'satisfied')::boolean THEN 'evaluations_satisfied'
	ELSE 'evaluations_unsatisfied' END, 1 FROM events WHERE type = 'evaluation.received'
UNION ALL SELECT dept, {at}, k, v FROM events, LATERAL (VALUES ('penalties', 1::bigint),
	('amount_fen', ((body->>'amount')::numeric * 100)::bigint)) x (k, v) WHERE type = 'penalty.decided'
UNION ALL SELECT dept, {ra_alert}, CASE WHEN valid THEN severity ELSE status END, 1 FROM esup_alerts
	WHERE valid OR status IN ('revoked', 'dismissed')
""".format(ra=day_of("received_at"), aa=day_of("accepted_at"), ca=day_of("closed_at"),
           pa=day_of("replied_at"), at=day_of("at"), ra_alert=day_of("raised_at"))

FIRST = {"day": lambda d: d, "month": lambda d: d.replace(day=1),
         "quarter": lambda d: dt.date(d.year, 3 * ((d.month - 1) // 3) + 1, 1),
         "year": lambda d: d.replace(month=1, day=1)}
LABEL = {"day": lambda p: p.isoformat(), "month": lambda p: p.strftime("%Y-%m"),
         "quarter": lambda p: "%d-Q%d" % (p.year, (p.month + 2) // 3),
         "year": lambda p: str(p.year)}


def rate(a, b, places=4):
    if not b:
        return None
    return (Decimal(a) / Decimal(b)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)


def yuan(fen):
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def expected_dept_rows(counters, unit, names):
    """counters: (dept, day, counter, value) rows -> {(dept, period): the view's row}."""
    sums = defaultdict(lambda: defaultdict(int))
    for dept, day, k, v in counters:
        s = sums[(dept, FIRST[unit](day))]
        s[k] = max(s[k], v) if k == "days_used_max" else s[k] + v
    out = {}
    for (dept, period), s in sums.items():
        name, region = names.get(dept, (None, None))
        out[(dept, period)] = {
            "dept": dept, "dept_name": name, "region": region, "period": period,
            "label": LABEL[unit](period), "received": s["received"], "accepted": s["accepted"],
            "decided": s["decided"], "on_time_committed": s["on_time_committed"],
            "on_time_rate": rate(s["on_time_committed"], s["decided"]),
            "on_time_statutory": s["on_time_statutory"],
            "avg_days": rate(s["days_used_sum"], s["decided"], 2), "max_days": s["days_used_max"],
            "suspended_days": s["suspended_days_sum"], "refused_intake": s["refused_intake"],
            "refusals_reported": s["refusals_reported"],
            "refusals_unreported": s["refusals_unreported"],
            "supplement_requests": s["supplement_requests"], "alerts_red": s["red"],
            "alerts_yellow": s["yellow"], "alerts_notice": s["notice"],
            "alerts_revoked": s["revoked"], "alerts_dismissed": s["dismissed"],
            "fees_collected_yuan": yuan(s["fees_collected_fen"]),
            "fees_refunded_yuan": yuan(s["fees_refunded_fen"]),
            "fees_net_yuan": yuan(s["fees_collected_fen"] - s["fees_refunded_fen"]),
            "penalties": s["penalties"], "penalties_yuan": yuan(s["amount_fen"]),
            "inspections": s["inspections"], "complaints_received": s["complaints_received"],
            "complaints_replied_on_time": s["complaints_replied_on_time"],
            "complaints_closed": s["complaints_closed"],
            "complaints_closed_on_time": s["complaints_closed_on_time"],
            "evaluations_satisfied": s["evaluations_satisfied"],
            "evaluations_unsatisfied": s["evaluations_unsatisfied"],
            "satisfaction_rate": rate(s["evaluations_satisfied"],
                                      s["evaluations_satisfied"] + s["evaluations_unsatisfied"]),
            "events": s["events"], "late_reported": s["late_reported"],
            "approved": s["approved"], "denied": s["denied"], "withdrawn": s["withdrawn"]}
    return out


def view_rows(cur, view, key, where="", params=None):
    cur.execute("SELECT * FROM esup_stats.%s %s" % (view, where), params)
    cols = [c.name for c in cur.description]
    rows = [dict(zip(cols, r)) for r in cur.fetchall()]
    out = {tuple(r[k] for k in key): r for r in rows}
    assert len(out) == len(rows), (view, "duplicate keys")
    return out


def assert_same(got, want, what):
    assert sorted(got) == sorted(want), (what, sorted(set(got) ^ set(want))[:5])
    for k in want:
        assert got[k] == want[k], (what, k, {c: (got[k][c], v) for c, v in want[k].items()
                                             if got[k].get(c) != v})


def dept_names(cur):
    return {r[0]: (r[1], r[2]) for r in cur.execute("SELECT code, name, region FROM departments")}


# Straight from cases, events and esup_alerts, the rows of the other views.
DIRECT = {
    "item_month": ("""
SELECT c.dept, c.item, i.name AS item_name, date_trunc('month', {ca})::date AS period,
       to_char({ca}, 'YYYY-MM') AS label, count(*) AS decided,
       round(avg(counted_days), 2) AS avg_days, max(counted_days)::bigint AS max_days,
       round(count(*) FILTER (WHERE on_time_committed)::numeric / count(*), 4) AS on_time_rate
  FROM cases c LEFT JOIN items i ON i.code = c.item
 WHERE kind = 'approval' AND result IN ('approved', 'denied') GROUP BY 1, 2, 3, 4, 5""",
                   ("dept", "item", "period")),
    "item_all": ("""
SELECT c.dept, c.item, i.name AS item_name, count(*) AS decided,
       round(avg(counted_days), 2) AS avg_days, max(counted_days)::bigint AS max_days,
       round(count(*) FILTER (WHERE on_time_committed)::numeric / count(*), 4) AS on_time_rate
  FROM cases c LEFT JOIN items i ON i.code = c.item
 WHERE kind = 'approval' AND result IN ('approved', 'denied') GROUP BY 1, 2, 3""",
                 ("dept", "item")),
    "enterprise_year": ("""
SELECT x.applicant, n.name, x.year, x.year::text AS label, sum(x.cases)::bigint AS cases,
       sum(x.days + x.inspections)::bigint AS dealing_days, sum(x.inspections)::bigint AS inspections,
       10 AS target, sum(x.days + x.inspections) > 10 AS over_target
  FROM (SELECT applicant, extract(year FROM {ca})::int AS year, 1 AS cases, counted_days AS days,
	       0 AS inspections
	  FROM cases WHERE kind = 'approval' AND applicant IS NOT NULL AND result IN ('approved', 'denied')
	UNION ALL
	SELECT body->'enterprise'->>'uscc', extract(year FROM {at})::int, 0, 0, 1 FROM events
	 WHERE type = 'inspection.started' AND body->'enterprise' ? 'uscc') x
  LEFT JOIN enterprises n ON n.uscc = x.applicant GROUP BY 1, 2, 3, 4""",
                        ("applicant", "year")),
    "alerts_month": ("""
SELECT dept, rule, severity, date_trunc('month', {ra})::date AS period,
       to_char({ra}, 'YYYY-MM') AS label, count(*) AS raised, count(*) FILTER (WHERE valid) AS valid,
       count(*) FILTER (WHERE status = 'revoked') AS revoked,
       count(*) FILTER (WHERE status = 'dismissed') AS dismissed,
       count(*) FILTER (WHERE status = 'cancelled') AS cancelled
  FROM esup_alerts GROUP BY 1, 2, 3, 4, 5""", ("dept", "rule", "severity", "period")),
    "penalties_month": ("""
SELECT e.dept, date_trunc('month', {at})::date AS period, to_char({at}, 'YYYY-MM') AS label,
       coalesce(f.office, '') AS band, coalesce(e.body->'filing'->>'office', '') AS office,
       count(*) AS penalties, sum((e.body->>'amount')::numeric)::numeric(14,2) AS amount_yuan
  FROM events e LEFT JOIN filing_offices f
    ON (e.body->>'amount')::numeric >= f.min_amount
   AND (f.max_amount IS NULL OR (e.body->>'amount')::numeric < f.max_amount)
 WHERE e.type = 'penalty.decided' GROUP BY 1, 2, 3, 4, 5""",
                        ("dept", "period", "band", "office")),
    "corrections_month": ("""
SELECT e.dept, d.name AS dept_name, d.region, date_trunc('month', {at})::date AS period,
       to_char({at}, 'YYYY-MM') AS label,
       count(*) FILTER (WHERE e.body->>'action' = 'void') AS voids,
       count(*) FILTER (WHERE e.body->>'action' = 'replace') AS replaces, count(*) AS corrections
  FROM events e LEFT JOIN departments d ON d.code = e.dept
 WHERE e.type = 'event.corrected' GROUP BY 1, 2, 3, 4, 5""", ("dept", "period")),
}


# ---------------------------------------------------------------- the views over the history


def test_history_produced_every_kind_of_count(vdb):
    """The history is not vacuous: each counter is non-zero somewhere, some events are late
    and some are not, and a month and a quarter boundary are crossed."""
    totals = vdb.query(
        "SELECT sum(received), sum(decided), sum(on_time_committed), sum(decided - on_time_committed),"
        " sum(refused_intake), sum(refusals_reported), sum(refusals_unreported), sum(withdrawn),"
        " sum(supplement_requests), sum(alerts_red + alerts_yellow + alerts_notice),"
        " sum(alerts_revoked), sum(alerts_dismissed), sum(fees_refunded_yuan), sum(penalties),"
        " sum(inspections), sum(complaints_closed), sum(evaluations_unsatisfied),"
        " sum(late_reported), sum(events - late_reported), count(DISTINCT label)"
        " FROM esup_stats.dept_quarter")[0]
    assert all(t and t > 0 for t in totals), totals
    assert totals[-1] == 2
    assert vdb.scalar("SELECT count(DISTINCT label) FROM esup_stats.dept_month") >= 3
    # A correction moved a decision to another day, leaving a rollup row of nothing but zeros
    # that the views must skip.
    assert vdb.scalar("SELECT count(*) FROM stat_case_day WHERE greatest(received, accepted,"
                      " decided, refused_intake, withdrawn, complaints_received,"
                      " complaints_replied_on_time, complaints_closed) = 0") > 0


@pytest.mark.parametrize("unit", UNITS)
def test_department_periods_equal_direct_counts(vdb, unit):
    with psycopg.connect(vdb.conninfo("postgres")) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cur = conn.cursor()
        counters = cur.execute(DIRECT_DAYS).fetchall()
        want = expected_dept_rows(counters, unit, dept_names(cur))
        got = view_rows(cur, "dept_" + unit, ("dept", "period"))
    assert_same(got, want, "dept_" + unit)


@pytest.mark.parametrize("view", sorted(DIRECT))
def test_other_views_equal_direct_counts(vdb, view):
    sql, key = DIRECT[view]
    sql = sql.format(ca=day_of("closed_at"), at=day_of("at"), ra=day_of("raised_at"))
    with psycopg.connect(vdb.conninfo("postgres")) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cur = conn.cursor()
        got = view_rows(cur, view, key)
        cur.execute(sql)
        cols = [c.name for c in cur.description]
        want = {tuple(r[cols.index(k)] for k in key): dict(zip(cols, r)) for r in cur.fetchall()}
    assert want, view
    assert_same(got, want, view)


# ---------------------------------------------------------------- the views' own arithmetic


def test_views_over_rollup_rows_written_by_hand(vdb):
    """Random rollup rows of two departments of their own, written as the superuser and rolled
    back: the period views sum them by Shanghai day, month, quarter and year, across the
    new year, with labels, rates, maxima and yuan as the documentation says."""
    rnd = random.Random(SEED + 1)
    depts = ["VW-A", "VW-B"]
    days = [dt.date(2025, 12, 29) + dt.timedelta(days=n) for n in range(0, 120, 3)]
    counters = []
    with psycopg.connect(vdb.conninfo("postgres")) as conn:
        cur = conn.cursor()
        cur.executemany("INSERT INTO departments (code, name, region) VALUES (%s, %s, '410300')",
                        [(d, "测试" + d) for d in depts])
        case_cols = ["received", "accepted", "decided", "approved", "denied", "on_time_committed",
                     "on_time_statutory", "days_used_sum", "days_used_max", "suspended_days_sum",
                     "refused_intake", "refusals_reported", "refusals_unreported", "withdrawn",
                     "complaints_received", "complaints_replied_on_time", "complaints_closed",
                     "complaints_closed_on_time"]
        event_cols = ["events", "late_reported", "supplement_requests", "fees_collected_fen",
                      "fees_refunded_fen", "inspections", "evaluations_satisfied",
                      "evaluations_unsatisfied"]
        for dept in depts:
            for day in rnd.sample(days, 25):
                for item in rnd.sample(["X-1", "X-2", ""], 2):
                    vals = [rnd.randrange(0, 9) for _ in case_cols]
                    cur.execute("INSERT INTO stat_case_day (dept, item, day, %s) VALUES (%%s, %%s, %%s, %s)"
                                % (", ".join(case_cols), ", ".join(["%s"] * len(case_cols))),
                                [dept, item, day] + vals)
                    counters += [(dept, day, k, v) for k, v in zip(case_cols, vals)]
            for day in rnd.sample(days, 25):
                vals = [rnd.randrange(0, 99999) for _ in event_cols]
                cur.execute("INSERT INTO stat_event_day (dept, day, %s) VALUES (%%s, %%s, %s)"
                            % (", ".join(event_cols), ", ".join(["%s"] * len(event_cols))),
                            [dept, day] + vals)
                counters += [(dept, day, k, v) for k, v in zip(event_cols, vals)]
            for day in rnd.sample(days, 20):
                for sev, rule in (("red", "APR-DEADLINE-RED"), ("yellow", "APR-DEADLINE-YELLOW"),
                                  ("notice", "APR-LATE-REPORT"), ("red", "FEE-FREE-ITEM")):
                    valid, rev, dis = (rnd.randrange(5) for _ in range(3))
                    cur.execute("INSERT INTO stat_alert_day (dept, rule, severity, day, raised, valid,"
                                " revoked, dismissed) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                                (dept, rule, sev, day, valid + rev + dis, valid, rev, dis))
                    counters += [(dept, day, sev, valid), (dept, day, "revoked", rev),
                                 (dept, day, "dismissed", dis)]
            for day in rnd.sample(days, 10):
                for band, office in (("jianfuban", ""), ("city", "city")):
                    n, fen = rnd.randrange(1, 4), rnd.randrange(1, 10 ** 9)
                    cur.execute("INSERT INTO stat_penalty_day (dept, day, band, office, penalties,"
                                " amount_fen) VALUES (%s, %s, %s, %s, %s, %s)",
                                (dept, day, band, office, n, fen))
                    counters += [(dept, day, "penalties", n), (dept, day, "amount_fen", fen)]
        names = dept_names(cur)
        for unit in UNITS:
            want = expected_dept_rows(counters, unit, names)
            got = view_rows(cur, "dept_" + unit, ("dept", "period"), "WHERE dept = ANY (%s)",
                            (depts,))
            assert_same(got, want, "dept_" + unit)
        labels = [r[0] for r in cur.execute("SELECT DISTINCT label FROM esup_stats.dept_quarter"
                                            " WHERE dept = 'VW-A' ORDER BY 1")]
        assert labels == ["2025-Q4", "2026-Q1", "2026-Q2"]
        conn.rollback()


# ---------------------------------------------------------------- documentation and plans


def test_every_view_and_column_is_commented(vdb):
    views = vdb.query("SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c"
                      " JOIN pg_namespace n ON n.oid = c.relnamespace"
                      " WHERE n.nspname = 'esup_stats' ORDER BY 1")
    assert [v[0] for v in views] == sorted(
        ["dept_" + u for u in UNITS] + list(DIRECT)), views
    assert all(v[1] and v[1][0] > "\u2e80" for v in views), views     # Chinese first
    bare = vdb.query("SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
                     " JOIN pg_namespace n ON n.oid = c.relnamespace"
                     " WHERE n.nspname = 'esup_stats' AND a.attnum > 0"
                     "   AND (col_description(c.oid, a.attnum) IS NULL"
                     "        OR col_description(c.oid, a.attnum) < '\u2e80')")
    assert bare == []
    assert vdb.query("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                     " WHERE n.nspname = 'esup_stats'"
                     "   AND NOT coalesce('security_invoker=true' = ANY (c.reloptions), false)") == []


def test_a_month_of_one_department_is_read_by_index(vdb):
    with psycopg.connect(vdb.conninfo("postgres")) as conn:
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN SELECT * FROM esup_stats.dept_month WHERE dept = 'LY-ZJJ'"
            " AND period = '2026-03-01'"))
    for table in ("stat_case_day", "stat_event_day", "stat_alert_day", "stat_penalty_day"):
        assert "%s_month" % table in plan, plan
    assert "Seq Scan" not in plan.replace("Seq Scan on departments", ""), plan


# ---------------------------------------------------------------- auditors and leaders


def test_people_see_their_region_through_the_views(vdb):
    want = {"aud_city": MINE, "lead_county": ["LY-HBJ"], "lead_zz": []}
    for suffix, depts in want.items():
        with psycopg.connect(vdb.conninfo(vdb.person[suffix]), autocommit=True) as conn:
            for view in ["dept_" + u for u in UNITS] + ["item_month", "item_all",
                                                        "alerts_month", "penalties_month"]:
                got = [r[0] for r in conn.execute(
                    "SELECT DISTINCT dept FROM esup_stats.%s ORDER BY 1" % view)]
                assert got == sorted(depts), (suffix, view, got)
            # Their rows are the owner's rows of those departments, not partial sums.
            mine = conn.execute("SELECT dept, period, decided, alerts_red, fees_net_yuan"
                                " FROM esup_stats.dept_month ORDER BY 1, 2").fetchall()
            assert mine == vdb.query("SELECT dept, period, decided, alerts_red, fees_net_yuan"
                                     " FROM esup_stats.dept_month WHERE dept = ANY (%s)"
                                     " ORDER BY 1, 2", (depts,))
            cases = conn.execute("SELECT coalesce(sum(cases), 0) FROM esup_stats.enterprise_year"
                                 ).fetchone()[0]
            assert cases == vdb.scalar("SELECT coalesce(sum(cases), 0) FROM stat_enterprise_day"
                                       " WHERE dept = ANY (%s)", (depts,))
    assert vdb.query("SELECT role, region FROM people WHERE rolname = %s",
                     (vdb.person["lead_county"],)) == [("leader", COUNTY)]
    assert vdb.scalar("SELECT pg_has_role(%s, 'esup_auditor', 'MEMBER')",
                      (vdb.person["lead_county"],))


WRITES = [
    "INSERT INTO events (received_at, dept, event_id, type, at, principal, body)"
    " VALUES (now(), 'LY-HBJ', 'x', 'fee.collected', now(), 'x', '{}')",
    "INSERT INTO event_ids (dept, event_id, seq, received_at) VALUES ('LY-HBJ', 'x', 1, now())",
    "INSERT INTO cases (dept, case_no) VALUES ('LY-HBJ', 'x')",
    "UPDATE cases SET result = 'approved'",
    "DELETE FROM cases",
    "UPDATE alerts SET status = 'revoked'",
    "DELETE FROM alert_actions",
    "INSERT INTO stat_case_day (dept, item, day, decided) VALUES ('LY-HBJ', '', '2026-03-01', 1)",
    "UPDATE stat_event_day SET events = 0",
    "DELETE FROM stat_alert_day",
    "UPDATE stat_settings SET dealing_days_target = 366",
    "UPDATE people SET region = ''",
    "INSERT INTO departments (code, name) VALUES ('X', 'x')",
    "DELETE FROM esup_stats.dept_month",
    "CREATE TABLE esup_stats.mine (x int)",
    "CREATE VIEW mine AS SELECT 1",
]


@pytest.mark.parametrize("suffix", ["aud_city", "lead_county"])
def test_auditors_and_leaders_write_nothing(vdb, suffix):
    with psycopg.connect(vdb.conninfo(vdb.person[suffix]), autocommit=True) as conn:
        for sql in WRITES:
            with pytest.raises((errors.InsufficientPrivilege, errors.ObjectNotInPrerequisiteState)):
                conn.execute(sql)
        alert = conn.execute("SELECT min(id) FROM alerts WHERE status = 'open'").fetchone()[0]
        assert alert is not None
        for action in ("ack", "resolve", "dismiss", "escalate"):
            assert conn.execute("SELECT outcome FROM esup_alert_act(%s, %s, '试试')",
                                (alert, action)).fetchone() == ("forbidden",)
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM esup_alert_act_as('00', %s, 'resolve', 'x', now())", (alert,))
    assert vdb.scalar("SELECT status FROM alerts WHERE id = %s", (alert,)) == "open"
    # Nothing in the catalogue lets the group write: no table or view privilege but SELECT,
    # and no function it may call that runs as the owner and changes anything but
    # esup_alert_act, which refuses it (above).
    writable = vdb.query(
        "SELECT c.oid::regclass::text, p FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,"
        " unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p"
        " WHERE n.nspname IN ('public', 'esup_stats') AND c.relkind IN ('r', 'p', 'v', 'm')"
        "   AND has_table_privilege('esup_auditor', c.oid, p)")
    assert writable == []
    definers = vdb.query(
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname IN ('public', 'esup_stats') AND p.prosecdef AND p.provolatile = 'v'"
        "   AND has_function_privilege('esup_auditor', p.oid, 'EXECUTE')")
    assert definers == [("esup_alert_act(bigint,text,text)",)]


def test_person_add_takes_leader(vdb, pg):
    import subprocess
    r = subprocess.run([str(conftest.DBSETUP), "-h", str(pg.dir), "-p", str(pg.port), "-d", vdb.name,
                        "person", "add", "pleader_x", "--role", "leader", "--dept", "LY-HBJ"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--dept is needed for, and only for" in r.stderr, r.stderr
    r = subprocess.run([str(conftest.DBSETUP), "person", "add", "pleader_x", "--role", "boss"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "supervisor, auditor, leader or department" in r.stderr
    assert not vdb.query("SELECT 1 FROM pg_roles WHERE rolname = 'pleader_x'")
