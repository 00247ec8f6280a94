"""Every golden case in tests/rules, run through a real esupd and PostgreSQL: the daemon and
`esupctl eval` share libmonitor's evaluation path (mon_eval.h), and this holds them to the
same answers.

One database and one esupd serve all cases (the reference data of run-golden: config/calendar.csv
and config/samples/*.csv); before each case the event and alert tables are emptied. A case's
NAME.args become esupd's [rules] (--disable RULE: `disable`; --param NAME=VALUE: NAME = VALUE).
Its events reach esupd as a department sends them: each when the business clock
([testing] clock_offset_s, moved by SIGHUP) reads its receipt time, in receipt order, posted
by its department. The receipt time is the event's `received_at` where the golden file gives
one (then exactly, to the second: the clock is set to it on a second boundary), else its `at`,
as `esupctl eval` assumes; an event dated after the case's now is received at now (a department
reporting ahead). Lines esupctl refuses are posted too, and esupd must refuse them. Then the
clock is set to the case's now, which re-derives every open case (a reload does), and the
sweeper is awaited until no case is due. The live alerts (rule, severity, dept, case, key,
since, evidence, and what they supersede) and the case rows (item, status, unit, days,
deadlines, level, next check, facts) must be NAME.expected.ndjson's, with two allowances the
stored shapes force, each explained where it is made: an alert keeps the evidence it was raised
with (as_raised), and a case row has no "corrected" list (the ids are checked against the
stored corrections instead).

The statistical rules (STA-*) judge rollups, not a case: no golden case raises them, and their
alerts are left out here.
"""

import json
import shlex
import signal
import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from conftest import REPO, Daemon, finish_daemons, migrated_database, wait_for

RULES = REPO / "tests" / "rules"
CASES = sorted(p.name[: -len(".events.ndjson")] for p in RULES.glob("*.events.ndjson"))
SHANGHAI = timezone(timedelta(hours=8))
LIVE = ("held", "open", "acknowledged", "appealed")

# Golden cases the daemon cannot reproduce, each with its reason. Empty: every case runs.
EXCLUDED = {}

# The tables a case writes; everything else (reference data, principals, settings) stays.
STATE_TABLES = ("events", "event_ids", "cases", "alerts", "alert_actions",
                "deliveries", "event_chain_heads", "event_chain_daily", "stat_case_day",
                "stat_event_day", "stat_penalty_day", "stat_alert_day", "stat_enterprise_day")


def when(text):
    return datetime.fromisoformat(text)


def shanghai(t):
    """An instant as esupctl prints it (RFC 3339 at +08:00), or None."""
    return None if t is None else t.astimezone(SHANGHAI).isoformat()


class LogWatch:
    """Counts lines of the running esupd's log, reading only what was added since last time."""

    def __init__(self, daemon):
        self.path = daemon.runs[-1][1]
        self.pos = 0
        self.counts = {}

    def count(self, text):
        with open(self.path, "rb") as f:
            f.seek(self.pos)
            new = f.read().decode("utf-8", "replace")
        cut = new.rfind("\n") + 1   # whole lines only
        self.pos += len(new[:cut].encode("utf-8", "replace"))
        for line in new[:cut].splitlines():
            for key in ("reload complete", "rules loaded from", "rules changed:"):
                if key in line:
                    self.counts[key] = self.counts.get(key, 0) + 1
            # a reload to the offset already in use re-derives nothing (the rules' digest is
            # the same) and says so: the sweep that follows is as current as a re-derive's
            if "rules unchanged since" in line:
                self.counts["rules changed:"] = self.counts.get("rules changed:", 0) + 1
        return self.counts.get(text, 0)


class Golden:
    def __init__(self, daemon, db):
        self.d = daemon
        self.db = db
        self.log = LogWatch(daemon)

    def reset(self):
        # esupd's periodic jobs (the chain's daily head, the statistical rules) read these
        # tables in their own order while the TRUNCATE takes them one by one: PostgreSQL may
        # break the deadlock by aborting the TRUNCATE (seen in a sanitizer run), which is then
        # simply tried again.
        for attempt in range(5):
            try:
                self.db.query("SET session_replication_role = replica; TRUNCATE %s CASCADE"
                              % ", ".join(STATE_TABLES))
                return
            except psycopg.errors.DeadlockDetected:
                if attempt == 4:
                    raise

    def reload(self, offset, rules):
        """Writes the clock offset and the rules, SIGHUPs, and waits until the new rules are in
        and the open cases re-derived."""
        before = {k: self.log.count(k) for k in ("reload complete", "rules loaded from",
                                                 "rules changed:")}
        self.d.config["testing"]["clock_offset_s"] = str(offset)
        self.d.config["rules"] = dict(rules)   # compared by set_clock: keep it a copy
        self.d.write()
        self.d.signal(signal.SIGHUP)
        for key, n in before.items():
            wait_for(lambda: self.log.count(key) > n, 30, "esupd: " + key, interval=0.01)

    def set_clock(self, instant, rules, exact=False):
        """The business clock reads `instant` now (exact: at this second boundary, which the
        caller's next request then falls in). Within a case the clock never goes back: an
        instant a few seconds ahead is waited for, one a few seconds behind (not exact) is
        taken as now."""
        target = int(instant.timestamp())
        if rules == self.d.config.get("rules"):
            offset = int(self.d.config["testing"]["clock_offset_s"])
            business = int(time.time()) + offset
            if business <= target <= business + 5:
                time.sleep(max(0.0, target - offset - time.time() + 0.02))
                return
            if target < business <= target + 5 and not exact:
                return
        while True:
            boundary = int(time.time()) + 2
            # Not exact: the clock reads a second or two past the instant, never before it
            # (esupd's clock is whole seconds; an event received before its `at` would be
            # one from the future).
            self.reload(target - (boundary if exact else int(time.time()) - 1), rules)
            # The sweep the reload started is over before anything is delivered: a clock that
            # jumps is the test's doing, and a sweep judging an instant before a delivery must
            # not be applied after it.
            self.wait_swept()
            if not exact:
                return
            if time.time() < boundary:
                time.sleep(boundary - time.time() + 0.02)
                return

    def business_now(self):
        return time.time() + int(self.d.config["testing"]["clock_offset_s"])

    def wait_swept(self):
        def none_due():
            return self.db.scalar("SELECT count(*) FROM cases WHERE next_check_at <="
                                  " to_timestamp(%s)", (self.business_now(),)) == 0
        wait_for(none_due, 30, "the sweeper to evaluate every due case", interval=0.02)


@pytest.fixture(scope="module")
def golden(pg, certs, workdir, request):
    db = migrated_database(pg, certs, workdir, "golden", samples=True)
    where = workdir / db.name
    # No 督办: escalation would change the alerts between a case's events and its check.
    off = {"%s_%s" % (k, s): 0 for k in ("ack_hours", "resolve_days")
           for s in ("notice", "yellow", "red")}
    d = Daemon(db, certs, where, sweeper={"interval_ms": "50"}, escalation=off,
               testing={"clock_offset_s": "0"})
    d.start()
    yield Golden(d, db)
    finish_daemons([d], request)


def case_rules(name):
    """NAME.args as esupd's [rules] section."""
    path = RULES / (name + ".args")
    args = shlex.split(path.read_text()) if path.exists() else []
    rules, disable = {}, []
    for flag, value in zip(args[::2], args[1::2]):
        if flag == "--disable":
            disable.append(value)
        elif flag == "--param":
            key, _, v = value.partition("=")
            rules[key] = v
        else:
            pytest.fail("%s.args: %s has no esupd equivalent" % (name, flag))
    assert len(args) % 2 == 0, "%s.args: %r" % (name, args)
    if disable:
        rules["disable"] = " ".join(disable)
    return rules


def near_midnight(t):
    """Deadlines fall a second after a local midnight (24:00 of their last day): an event dated
    within seconds of one is delivered to the second, or a sweep in between would judge the
    case without it."""
    local = t.astimezone(SHANGHAI)
    seconds = local.hour * 3600 + local.minute * 60 + local.second
    return seconds <= 5 or seconds >= 86400 - 5


def deliveries(name, now):
    """[(receipt instant, exact, dept, [lines])] in receipt order: the case's POSTs. exact: the
    receipt must be that second (a given received_at, or an event near midnight)."""
    lines = (RULES / (name + ".events.ndjson")).read_bytes().splitlines()
    parsed = []
    for raw in lines:
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except ValueError:
            obj = None
        parsed.append((raw, obj if isinstance(obj, dict) else None))
    first_dept = next((o["dept"] for _, o in parsed if o and isinstance(o.get("dept"), str)),
                      None)
    posts, order = {}, []
    first_receipt = None
    for raw, obj in parsed:
        explicit = obj is not None and "received_at" in obj
        try:
            receipt = when(obj["received_at"] if explicit else obj["at"])
        except (TypeError, KeyError, ValueError):
            receipt = None   # a line esupctl refuses: sent with the first delivery
        exact = explicit or (receipt is not None and near_midnight(receipt))
        if explicit:
            assert receipt <= now, "%s: received after now" % name
            obj = {k: v for k, v in obj.items() if k != "received_at"}
            raw = json.dumps(obj, ensure_ascii=False).encode()
        elif receipt is not None:
            receipt = min(receipt, now)
        dept = obj.get("dept") if obj and isinstance(obj.get("dept"), str) else first_dept
        key = (receipt, exact, dept)
        if key not in posts:
            posts[key] = []
            order.append(key)
        posts[key].append(raw)
        if receipt is not None and (first_receipt is None or receipt < first_receipt):
            first_receipt = receipt
    keyed = [((k[0] or first_receipt or now), k[1], k[2], posts[k]) for k in order]
    keyed.sort(key=lambda p: p[0])   # stable: file order among equal receipts
    return keyed


def post(g, dept, lines):
    with g.d.client("dept-" + dept) as c:
        r = c.post_events_committed(lines)
    assert r.status == 200, r.body
    return [x["status"] for x in r.json()["results"]]


def expected(name):
    rows = [json.loads(line) for line in
            (RULES / (name + ".expected.ndjson")).read_text(encoding="utf-8").splitlines()]
    return ([r for r in rows if r["kind"] == "alert"], [r for r in rows if r["kind"] == "case"])


def daemon_alerts(db):
    rows = db.query(
        "SELECT a.id, a.rule, a.severity, a.dept, coalesce(a.case_no, ''), a.dedup_key, a.since,"
        " a.evidence, (SELECT array_agg(s.rule ORDER BY s.id) FROM alerts s"
        "  WHERE s.superseded_by = a.id), a.raised_at"
        " FROM alerts a WHERE a.status = ANY (%s) AND a.rule NOT LIKE 'STA-%%'", (list(LIVE),))
    return [{"rule": r[1], "severity": r[2], "dept": r[3], "case": r[4], "key": r[5],
             "since": shanghai(r[6]), "evidence": r[7], "superseded": r[8] or [],
             "raised_at": r[9]} for r in rows]


def as_raised(want, got, received):
    """The golden alert as the daemon holds it: an alert keeps the evidence it was raised
    with (esup_apply_evaluation does not rewrite a live alert), so a later event that completes
    the condition (a late reply, a late filing, the late decision) is in esupctl's evidence and
    not in the stored alert's. The stored evidence is then the golden evidence up to the events
    received at or after the alert was raised (the same second is either side: a sweep and a
    delivery may share it)."""
    if got is None:
        return want
    n = len(got["evidence"])
    later = want["evidence"][n:]
    if want["evidence"][:n] == got["evidence"] and all(
            received.get(e) is not None and received[e] >= got["raised_at"] for e in later):
        return dict(want, evidence=got["evidence"])
    return want


def daemon_cases(db):
    rows = db.query(
        "SELECT dept, case_no, item, status, unit, committed_days, counted_days, suspended_days,"
        " committed_day::text, statutory_day::text, level, next_check_at, kind, received_at,"
        " accepted_at, closed_at, result, reported, supplements, on_time_committed,"
        " on_time_statutory, replied_at, reply_on_time, close_on_time, applicant FROM cases")
    out = []
    for r in rows:
        facts = dict(zip(("kind", "received_at", "accepted_at", "closed_at", "result",
                          "reported", "supplements", "on_time_committed", "on_time_statutory",
                          "replied_at", "reply_on_time", "close_on_time", "applicant"), r[12:]))
        for k in ("received_at", "accepted_at", "closed_at", "replied_at"):
            facts[k] = shanghai(facts[k])
        out.append({"dept": r[0], "case": r[1], "item": r[2] or None, "status": r[3],
                    "unit": r[4] if r[5] > 0 else None, "counted_days": r[6],
                    "suspended_days": r[7], "deadline": {"committed": r[8], "statutory": r[9]},
                    "level": r[10], "next_check": shanghai(r[11]), "facts": facts})
    return out


def history(db):
    """Every alert of the case and its actions, for a failure's message."""
    rows = db.query("SELECT a.id, a.rule, a.status, a.since, x.action, x.at, x.note"
                    " FROM alerts a JOIN alert_actions x ON x.alert_id = a.id ORDER BY a.id, x.at")
    events = db.query("SELECT event_id, at, received_at FROM events ORDER BY seq")
    return "\n".join(["alerts and actions:"] + ["  %s" % (r,) for r in rows] +
                      ["events (id, at, received):"] + ["  %s" % (r,) for r in events])


def alert_view(a):
    return {k: a[k] for k in ("rule", "severity", "dept", "case", "key", "since", "evidence")}


@pytest.mark.parametrize("name", CASES)
def test_golden_case(golden, name):
    if name in EXCLUDED:
        pytest.skip(EXCLUDED[name])
    g = golden
    now = when((RULES / (name + ".now")).read_text().strip())
    rules = case_rules(name)
    g.reset()
    refused = 0
    for receipt, exact, dept, lines in deliveries(name, now):
        g.set_clock(receipt, rules, exact)
        statuses = post(g, dept, lines)
        refused += statuses.count("rejected")
        if exact:
            got = g.db.query("SELECT event_id, received_at FROM events WHERE received_at <> %s"
                             " AND event_id = ANY (%s)",
                             (receipt, [json.loads(ln).get("id") for ln in lines]))
            assert not got, "%s: not received at %s: %s" % (name, receipt, got)
    exit_path = RULES / (name + ".exit")
    assert (refused > 0) == (exit_path.exists() and exit_path.read_text().strip() == "1"), \
        "%s: esupd refused %d lines" % (name, refused)
    g.set_clock(now, rules)
    g.wait_swept()

    want_alerts, want_cases = expected(name)
    got_alerts = daemon_alerts(g.db)
    received = dict(g.db.query("SELECT event_id, min(received_at) FROM events GROUP BY event_id"))
    by_key = {a["key"]: a for a in got_alerts}
    key = lambda a: (a["dept"], a["case"], a["key"])   # noqa: E731
    assert sorted(map(alert_view, got_alerts), key=key) == \
        sorted((alert_view(as_raised(w, by_key.get(w["key"]), received)) for w in want_alerts),
               key=key), history(g.db)
    # What each alert supersedes: an alert the daemon marked superseded by it is of the rule
    # the condition names, and none of that rule is live on the case beside it.
    for want in want_alerts:
        got = next(a for a in got_alerts if a["key"] == want["key"])
        assert all(s == want["supersedes"] for s in got["superseded"]), (want, got)
        if want["supersedes"]:
            assert not [a for a in got_alerts if a["rule"] == want["supersedes"] and
                        (a["dept"], a["case"]) == (want["dept"], want["case"])], want
    # A case line's "corrected" (the ids corrections in effect voided or replaced) is not a
    # column of cases: esupd applies it to the alerts (resolved "corrected by the
    # department"); here each id must at least be what a stored correction of the case names.
    for c in want_cases:
        for ev_id in c.get("corrected", []):
            assert g.db.scalar("SELECT count(*) FROM events WHERE dept = %s AND case_no = %s"
                               " AND type = 'event.corrected' AND body->>'of' = %s",
                               (c["dept"], c["case"], ev_id)) > 0, (c, ev_id)
    strip = lambda c: {k: v for k, v in c.items() if k not in ("kind", "corrected")}  # noqa: E731
    by_case = lambda c: (c["dept"], c["case"])   # noqa: E731
    assert sorted(daemon_cases(g.db), key=by_case) == sorted(map(strip, want_cases), key=by_case)


def test_every_case_runs():
    """The exclusions name real cases, and few: the daemon reproduces the golden cases."""
    assert set(EXCLUDED) <= set(CASES)
    assert len(EXCLUDED) <= 3
