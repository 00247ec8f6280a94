"""Costs that must not grow with history (docs/reliability.md), shown structurally: the plans
and the rows a case evaluation reads, never a timing. contrib/bench/history measures the rates.

- The "closed alert stays closed" check of esup_apply_evaluation finds the condition's closed
  alerts through an index, whatever the number of closed alerts (auto_explain shows the plan
  the function really runs).
- One department's heavy requests do not hold another's small one for more than about one
  transaction: principals take turns at the writer.
- A penalty's cross-case context is one index probe per partition for the one earlier
  penalty the first-offence rule needs: a party with more earlier penalties than a case may
  hold events (10,000) is still judged, and judged right on both sides of the window.
"""

import json
import re
import threading

import psycopg

from conftest import event, wait_for

PARTY = "91410305MA45N8QX60"
CLOSED = 5000

# Closed alerts as years of ingest and supervision leave them, written directly.
CLOSED_ALERTS = """
WITH a AS (
INSERT INTO alerts (rule, severity, dept, case_no, dedup_key, message, since, status)
SELECT 'PEN-NOT-LOWEST', 'notice', 'LY-HBJ', 'OLD-' || g, 'PEN-NOT-LOWEST|LY-HBJ|OLD-' || g,
       'old', timestamptz '2025-01-01 00:00+08' + g * interval '1 minute',
       (ARRAY['resolved', 'dismissed', 'revoked', 'superseded'])[1 + g %% 4]
  FROM generate_series(1, %(n)s) g
 RETURNING id, status
)
INSERT INTO alert_actions (alert_id, action, actor, note, at, from_state, to_state)
SELECT id, 'close', 'history', '', now(), 'open', status FROM a
"""

# penalty.decided events against PARTY in their own cases of LY-HBJ, one a minute back from
# `last`, stored as ingest stores them.
PENALTIES = """
INSERT INTO events (seq, received_at, dept, event_id, type, at, case_no, item, principal, body)
OVERRIDING SYSTEM VALUE
SELECT nextval('events_seq'), now(), 'LY-HBJ', %(prefix)s::text || g, 'penalty.decided', t,
       %(prefix)s::text || g, NULL, 'history',
       jsonb_build_object('id', %(prefix)s::text || g, 'dept', 'LY-HBJ', 'type', 'penalty.decided',
                          'case', %(prefix)s::text || g,
                          'at', to_char(t AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD"T"HH24:MI:SS"+08:00"'),
                          'party', jsonb_build_object('uscc', %(party)s::text),
                          'violation', 'HB-05', 'severity', 'general', 'amount', '5000.00',
                          'filing', jsonb_build_object('office', 'youhuaban', 'ref', 'R' || g))
  FROM generate_series(1, %(n)s) g, LATERAL (SELECT %(last)s::timestamptz - g * interval '1 minute' AS t) x
"""


def test_closed_alert_check_uses_an_index(db):
    with psycopg.connect(db.conninfo("esup_admin"), autocommit=True) as conn:
        conn.execute("SET ROLE esup_owner")
        conn.execute(CLOSED_ALERTS, {"n": CLOSED})
        conn.execute("ANALYZE alerts")
    key, since = "PEN-NOT-LOWEST|LY-HBJ|OLD-7", "2025-01-01T00:07:00+08:00"
    evaluation = {"dept": "LY-HBJ", "case": "", "conditions": [
        {"rule": "PEN-NOT-LOWEST", "severity": "notice", "key": key, "supersedes": "",
         "since": since, "message": "again", "evidence": []}]}
    with psycopg.connect(db.conninfo("postgres")) as conn:
        raised, plans = auto_explained(conn, "SELECT * FROM esup_apply_evaluation(%s::jsonb, now())",
                                       (json.dumps(evaluation),))
        conn.rollback()
    assert raised == [], "a closed condition was raised again: %r" % raised
    check = [p for p in plans if "'resolved'" in p and "since" in p and "Query Text" in p]
    assert check, "no plan of the closed-alert check among:\n" + "\n---\n".join(plans)
    assert "Seq Scan on alerts" not in check[0], check[0]
    assert "Index" in check[0] and "alerts_key_since" in check[0], check[0]


def auto_explained(conn, sql, params, analyze=False):
    """Runs sql with auto_explain on, nested statements included: (rows, plans)."""
    plans = []
    conn.add_notice_handler(lambda d: plans.append(d.message_primary or ""))
    for setting in ("LOAD 'auto_explain'", "SET auto_explain.log_min_duration = 0",
                    "SET auto_explain.log_nested_statements = on",
                    "SET auto_explain.log_analyze = %s" % ("on" if analyze else "off"),
                    "SET client_min_messages = log"):
        conn.execute(setting)
    return conn.execute(sql, params).fetchall(), plans


def test_latest_penalty_reads_one_row(db):
    """The first-offence lookup stops at the party's latest earlier penalty: however many it
    has, no step of the plan reads more than a few rows."""
    with psycopg.connect(db.conninfo("esup_admin"), autocommit=True) as conn:
        conn.execute("SET ROLE esup_owner")
        conn.execute(PENALTIES, {"prefix": "P-", "n": 3000, "party": PARTY,
                                 "last": "2026-03-19 10:00+08"})
        conn.execute("ANALYZE events")
    with psycopg.connect(db.conninfo("postgres")) as conn:
        rows, plans = auto_explained(
            conn, "SELECT case_no FROM esup_latest_penalty(%s, '2025-03-19 00:00+08',"
            " '2026-03-20 10:00+08', 'LY-HBJ', 'P-1')", (PARTY,), analyze=True)
    # P-1 is the latest (10:00 less a minute) but the asking case's own: the next one.
    assert rows == [("P-2",)]
    inner = [p for p in plans if "esup_event_subject" in p and "ORDER BY" in p]
    assert inner, "\n---\n".join(plans)
    read = [int(n) for n in re.findall(r"actual time=\S+ rows=(\d+)", inner[0])]
    assert read and max(read) <= 3, inner[0]


def post_until_committed(d, dept, events):
    """Sends as a client must (a 429 or 503 is sent again); the statuses."""
    with d.client("dept-" + dept, timeout=120) as c:
        r = c.post_events_committed(events)
    assert r.status == 200, r.body
    return [x["status"] for x in r.json()["results"]]


def decided(case, when, amount):
    return {"id": case, "dept": "LY-HBJ", "type": "penalty.decided", "at": when, "case": case,
            "party": {"uscc": PARTY}, "violation": "HB-05", "severity": "minor", "amount": amount,
            "filing": {"office": "jianfuban", "ref": "J-" + case}}


def rules_of(db, case):
    return sorted(r for (r,) in db.query("SELECT rule FROM alerts WHERE case_no = %s", (case,)))


def test_party_with_long_history_is_judged(daemon_factory, refdb):
    db = refdb
    with psycopg.connect(db.conninfo("esup_admin"), autocommit=True) as conn:
        conn.execute("SET ROLE esup_owner")
        # More earlier penalties within the first-offence window than a case may hold...
        conn.execute(PENALTIES, {"prefix": "IN-", "n": 10001, "party": PARTY,
                                 "last": "2026-03-19 10:00+08"})
        conn.execute("ANALYZE events")
    d = daemon_factory(log={"level": "info"}).start()
    # ...and a minor fine above the tier's floor (1000): not the lowest, and no first offence.
    assert post_until_committed(d, "LY-HBJ", [decided("NEW-1", "2026-03-20T10:00:00+08:00",
                                                      "2000.00")]) == ["accepted"]
    wait_for(lambda: db.scalar("SELECT count(*) FROM cases WHERE case_no = 'NEW-1'"
                               " AND evaluated_at IS NOT NULL") == 1, 30,
             "the case to be evaluated")
    assert rules_of(db, "NEW-1") == ["PEN-NOT-LOWEST"]
    assert "not evaluated" not in d.log_text(), d.log_tail()


def test_first_offence_window_is_kept(daemon_factory, refdb):
    db = refdb
    with psycopg.connect(db.conninfo("esup_admin"), autocommit=True) as conn:
        conn.execute("SET ROLE esup_owner")
        # The party's penalties all lie before the window (365 days before 2026-03-20).
        conn.execute(PENALTIES, {"prefix": "OUT-", "n": 2000, "party": PARTY,
                                 "last": "2025-03-19 23:59+08"})
        conn.execute("ANALYZE events")
    d = daemon_factory().start()
    assert post_until_committed(d, "LY-HBJ", [decided("NEW-2", "2026-03-20T10:00:00+08:00",
                                                      "1000.00")]) == ["accepted"]
    wait_for(lambda: db.scalar("SELECT count(*) FROM cases WHERE case_no = 'NEW-2'"
                               " AND evaluated_at IS NOT NULL") == 1, 30,
             "the case to be evaluated")
    assert rules_of(db, "NEW-2") == ["PEN-FIRST-MINOR"]
    # Penalties within the window, of other cases: NEW-3 has the old ones before it, NEW-4
    # has NEW-2 the day before. Neither is a first offence.
    assert post_until_committed(d, "LY-HBJ", [
        decided("NEW-3", "2025-06-01T10:00:00+08:00", "1000.00"),
        decided("NEW-4", "2026-03-21T10:00:00+08:00", "1000.00")]) == ["accepted"] * 2
    wait_for(lambda: db.scalar("SELECT count(*) FROM cases WHERE case_no IN ('NEW-3', 'NEW-4')"
                               " AND evaluated_at IS NOT NULL") == 2, 30,
             "the cases to be evaluated")
    assert rules_of(db, "NEW-3") == []
    assert rules_of(db, "NEW-4") == []


def test_small_request_waits_one_transaction(daemon_factory, refdb):
    """Four requests of one department queue behind a stalled transaction, then one of
    another: the other department's commits next, not after all four. One writer connection:
    the order of one writer's transactions is the subject (with two, the other department's
    goes beside the stalled one, test_writers.py)."""
    db = refdb
    d = daemon_factory(ingest={"batch_max_events": "10", "writers": "1"}, log={"level": "debug"},
                       limits={"max_connections_per_principal": "8"}).start()
    assert post_until_committed(d, "LY-ZJJ", [event(dept="LY-ZJJ")]) == ["accepted"]
    results = {}

    def send(name, dept, events):
        with d.client("dept-" + dept, timeout=120) as c:
            results[name] = c.post_events(events)

    def queued():
        return d.log_text().count("ingest: queued")

    threads = []
    with psycopg.connect(db.conninfo("esup_admin")) as hold:
        hold.execute("SET ROLE esup_owner")
        # The writer's next INSERT waits for this lock: the first request is in flight.
        hold.execute("LOCK TABLE event_ids IN SHARE MODE")
        sends = [("A%d" % i, "LY-SCJGJ", [event(id="A%d-%d" % (i, n)) for n in range(10)])
                 for i in range(1, 5)] + [("B", "LY-ZJJ", [event(dept="LY-ZJJ", id="B-1")])]
        for name, dept, events in sends:
            before = queued()
            t = threading.Thread(target=send, args=(name, dept, events))
            t.start()
            threads.append(t)
            wait_for(lambda: queued() > before, 30, "esupd to queue request " + name)
        hold.rollback()
    for t in threads:
        t.join(120)
    assert {k: r.status for k, r in results.items()} == dict.fromkeys(results, 200)
    seq = dict(db.query("SELECT event_id, seq FROM event_ids WHERE event_id LIKE 'A%%'"
                        " OR event_id = 'B-1'"))
    first = {name: min(v for k, v in seq.items() if k.startswith(name + "-"))
             for name in ("A1", "A2", "A3", "A4")}
    assert first["A1"] < seq["B-1"] < min(first["A2"], first["A3"], first["A4"]), (seq["B-1"], first)
