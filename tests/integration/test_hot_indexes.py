"""The daemon's hot alert queries keep using their indexes as alerts pile up (issue 12).

For every condition of every evaluation, esup_apply_evaluation() asks whether the condition has
a live alert (alerts_live_key, migration 008) and, when not, whether it was raised before and
closed (alerts_key_since, migration 007: "a closed alert stays closed"). Without the second
index that question read every closed alert, so ingest slowed down as history grew (issue 12
measured 2.4 ms a call, 12.9 ms with 50 000 closed alerts). Nothing here is timed: with a few
thousand closed alerts and fresh statistics, the plans PostgreSQL actually runs inside the
function (auto_explain's nested statements, sent to this session as LOG messages) must be index
scans, under both the custom plans PL/pgSQL starts with and the generic plan it settles on.
"""

import json
import re

import psycopg
import pytest

from conftest import migrated_database

RULE = "APR-LATE-REPORT"
CLOSED = ("resolved", "dismissed", "revoked", "superseded")


@pytest.fixture(scope="module")
def alerts_db(pg, certs, workdir):
    db = migrated_database(pg, certs, workdir, "hot_indexes", samples=True)
    # 4 000 closed alerts of 4 000 cases, and 1 000 more of one department-wide key (each with
    # its own `since`, as a rule judging figures raises them): both shapes of history. Each has
    # the action row that esup_alert_state_recorded() requires at COMMIT.
    db.query("""
        WITH a AS (
          INSERT INTO alerts (rule, severity, dept, case_no, dedup_key, message, since,
                              raised_at, status, status_at, region)
          SELECT %(rule)s, 'yellow', 'LY-SCJGJ', CASE WHEN g <= 4000 THEN 'HOT-' || g END,
                 CASE WHEN g <= 4000 THEN %(rule)s || '|LY-SCJGJ|HOT-' || g
                      ELSE %(rule)s || '|LY-SCJGJ' END,
                 'closed', timestamptz '2026-01-01 00:00+08' + g * interval '1 minute',
                 now(), (%(closed)s::text[])[1 + g %% 4], now(), '410300'
            FROM generate_series(1, 5000) g
          RETURNING id, status)
        INSERT INTO alert_actions (alert_id, action, actor, actor_role, note, at, from_state, to_state)
        SELECT id, 'raise', 'test', 'system', '', now(), NULL, status FROM a""",
             {"rule": RULE, "closed": list(CLOSED)})
    # And 2 000 live (open) alerts of as many other cases: what a city's board carries.
    db.query("""
        WITH a AS (
          INSERT INTO alerts (rule, severity, dept, case_no, dedup_key, message, since,
                              raised_at, status, status_at, region, issued_at)
          SELECT %(rule)s, 'yellow', 'LY-SCJGJ', 'LIVE-' || g, %(rule)s || '|LY-SCJGJ|LIVE-' || g,
                 'open', timestamptz '2026-02-01 00:00+08' + g * interval '1 minute', now(),
                 'open', now(), '410300', now()
            FROM generate_series(1, 2000) g
          RETURNING id, status)
        INSERT INTO alert_actions (alert_id, action, actor, actor_role, note, at, from_state, to_state)
        SELECT id, 'raise', 'test', 'system', '', now(), NULL, status FROM a""", {"rule": RULE})
    db.query("ANALYZE alerts")
    db.query("ANALYZE alert_actions")
    return db


def nested_plans(db, evaluation, plan_cache_mode, function="esup_apply_evaluation"):
    """Applies `evaluation` (rolled back) and returns the plans of the statements run inside
    esup_apply_evaluation (or function, given the evaluation it takes), as auto_explain logs
    them."""
    plans = []
    with psycopg.connect(db.conninfo("postgres")) as conn:
        conn.add_notice_handler(lambda diag: plans.append(diag.message_primary or ""))
        conn.execute("LOAD 'auto_explain'")
        conn.execute("SET auto_explain.log_min_duration = 0")
        conn.execute("SET auto_explain.log_nested_statements = on")
        conn.execute("SET plan_cache_mode = " + plan_cache_mode)
        conn.execute("SET client_min_messages = log")
        rows = conn.execute("SELECT * FROM %s(%%s::jsonb, now())" % function,
                            (json.dumps(evaluation),)).fetchall()
        conn.rollback()
    return rows, plans


def plan_of(plans, marker):
    found = [p for p in plans if marker in p]
    assert found, "no statement with %r among:\n%s" % (marker, "\n---\n".join(plans))
    return found[0]


@pytest.mark.parametrize("mode", ["force_custom_plan", "force_generic_plan"])
@pytest.mark.parametrize("key,since_minutes", [("|LY-SCJGJ|HOT-77", 77), ("|LY-SCJGJ", 4500)])
def test_closed_alert_check_uses_index(alerts_db, mode, key, since_minutes):
    since = alerts_db.scalar("SELECT (timestamptz '2026-01-01 00:00+08' + %s * interval '1 minute')::text",
                             (since_minutes,))
    evaluation = {"dept": "LY-SCJGJ", "conditions": [
        {"rule": RULE, "severity": "yellow", "key": RULE + key, "since": since,
         "message": "again", "evidence": []}]}
    rows, plans = nested_plans(alerts_db, evaluation, mode)
    # The condition was raised and closed before: it stays closed, nothing is raised.
    assert rows == []
    closed = plan_of(plans, "'resolved', 'dismissed'")
    assert "Seq Scan on alerts" not in closed, closed
    assert "Index Scan using alerts_key_since on alerts" in closed, closed
    live = plan_of(plans, "a.status, a.suppressed_by")
    assert "Seq Scan on alerts" not in live, live
    # Any of the partial indexes of live alerts answers it from the live alerts alone.
    assert any(i in live for i in ("alerts_live_key", "alerts_rule_live", "alerts_board")), live


def test_live_alerts_of_a_case_use_an_index(alerts_db):
    """An evaluation of a case first looks for the case's live alerts whose condition is gone
    (`a.dept = d AND a.case_no = c AND a.status IN (live…)`): by an index on the case
    (alerts_board or alerts_case), not by reading every alert or every live alert."""
    case = "HOT-LIVE-1"
    with psycopg.connect(alerts_db.conninfo("esup_admin")) as conn:
        conn.execute("SET ROLE esup_owner")
        seq = conn.execute(
            "WITH e AS (INSERT INTO events (received_at, dept, event_id, type, at, case_no, item,"
            " principal, body) VALUES (now(), 'LY-SCJGJ', 'hot-1', 'approval.received', now(),"
            " %s, 'SCJG-001', 'test', '{}') RETURNING seq, received_at)"
            " INSERT INTO event_ids (dept, event_id, seq, received_at)"
            " SELECT 'LY-SCJGJ', 'hot-1', seq, received_at FROM e RETURNING seq", (case,)).fetchone()
        assert seq
    evaluation = {"dept": "LY-SCJGJ", "case": case, "item": "SCJG-001", "status": "received",
                  "unit": "working", "committed_days": 10, "statutory_days": 20,
                  "counted_days": 0, "suspended_days": 0, "conditions": []}
    for mode in ("force_custom_plan", "force_generic_plan"):
        rows, plans = nested_plans(alerts_db, evaluation, mode)
        assert rows == []
        live = plan_of(plans, "a.id, a.rule, a.severity, a.message, a.status FROM alerts a")
        assert "Seq Scan on alerts" not in live, live
        assert re.search(r"Index Cond: \(\(dept = [^)]*\) AND \(case_no = ", live), live


def test_quiet_cases_look_for_live_alerts_by_an_index(alerts_db):
    """A batch's quiet cases (esup_apply_evaluations, schema/029) are those without a live
    alert: the one statement that writes them asks that of each case by an index on the case,
    not by reading the alerts, under both kinds of plan."""
    cases = ["HOT-QUIET-%d" % n for n in range(3)]
    with psycopg.connect(alerts_db.conninfo("esup_admin")) as conn:
        conn.execute("SET ROLE esup_owner")
        for case in cases:
            conn.execute(
                "WITH e AS (INSERT INTO events (received_at, dept, event_id, type, at, case_no,"
                " item, principal, body) VALUES (now(), 'LY-SCJGJ', %s, 'approval.received',"
                " now(), %s, 'SCJG-001', 'test', '{}') RETURNING seq, received_at)"
                " INSERT INTO event_ids (dept, event_id, seq, received_at)"
                " SELECT 'LY-SCJGJ', %s, seq, received_at FROM e", (case, case, case))
    evaluations = [{"dept": "LY-SCJGJ", "case": case, "item": "SCJG-001", "status": "received",
                    "unit": "working", "committed_days": 10, "statutory_days": 20,
                    "counted_days": 0, "suspended_days": 0, "conditions": [],
                    "facts": {"kind": "approval"}} for case in cases]
    for mode in ("force_custom_plan", "force_generic_plan"):
        rows, plans = nested_plans(alerts_db, evaluations, mode, "esup_apply_evaluations")
        assert rows == []
        quiet = plan_of(plans, "Insert on cases")
        assert "Seq Scan on alerts" not in quiet, quiet
        assert re.search(r"Index Cond: \(\(dept = [^)]*\) AND \(case_no = ", quiet), quiet
        # none of them went through esup_apply_evaluation
        assert not [p for p in plans if "a.id, a.rule, a.severity, a.message, a.status" in p]


CASE_LOOKUP = "SELECT 1 FROM events e WHERE e.dept = $1 AND e.case_no = $2"


def test_a_cases_events_are_found_by_the_case_index_on_empty_partitions(db):
    """The generic plan of a case's event lookup (esup_apply_evaluation's check that the case
    has stored events, esup_check_condition's evidence) probes (dept, case_no) on every
    partition, also on partitions without rows or statistics: such a plan is kept for the
    session while the partition fills. Before migration 026 the index on (dept, chain_seq),
    created later, won the planner's tie there and the plan read every event of the
    department's month (schema/026_case_lookup_index.sql)."""
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as conn:
        # Partitions made after the migration, as esupd's maintenance makes them.
        conn.execute("SELECT esup_ensure_partitions(6)")
        parts = [r[0] for r in conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'events'::regclass").fetchall()]
        assert len(parts) >= 8 and "events_default" in parts
        conn.execute("SET plan_cache_mode = force_generic_plan")
        conn.execute("PREPARE lookup(text, text) AS " + CASE_LOOKUP)
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN EXECUTE lookup('LY-SCJGJ', 'LY-SCJGJ-2026-000001')").fetchall())
    scans = re.findall(r"Scan using (\S+) on (\S+)", plan)
    assert sorted(p for _, p in scans) == sorted(parts), plan
    for index, part in scans:
        assert index.startswith(part + "_dept_case_no_idx"), plan
    assert "Filter" not in plan, plan
