"""A case's events are read from the partitions that can hold them (schema/027, issue 12): the
case row keeps events_from, a time no event of the case was received before, and the
history's read and esup_apply_evaluation's check start there. What must hold: the bound is
the case's first receipt time; a writer that stored an earlier event of the case while another
made the row lowers it before it commits (two daemons: one department's events can reach both);
a row without one (a case from before 027) is read whole and stays without. The evidence that
a read saw the whole history is the case row: the item and acceptance time come from the
approval.accepted, the status from the decision that came later.

Nothing is timed: a writer is held by a trigger waiting for an advisory lock the test holds.
"""

import threading
import time

import psycopg
import pytest

import bench_fill
from conftest import daemons_apart, event, finish_daemons, hold_events, statuses, wait_for

LOCK = 4343
DEPT = "LY-SCJGJ"
DAY = 86400


def post(d, events, out=None):
    """Posts events, resending on 503 as a department must; the answer, also appended to out."""
    with d.client("dept-" + DEPT, timeout=60) as c:
        r = c.post_events_committed(events)
    if out is not None:
        out.append(r)
    return r


def accepted(case):
    return event(dept=DEPT, case=case, at="2026-03-02T09:15:00+08:00")


def decided(case):
    return event(dept=DEPT, case=case, type="approval.decided",
                 at="2026-03-05T16:00:00+08:00", result="approved")


def case_row(db, case):
    rows = db.query("SELECT events_from, item, accepted_at IS NOT NULL, status FROM cases"
                    " WHERE dept = %s AND case_no = %s", (DEPT, case))
    assert len(rows) == 1, rows
    return dict(zip(("events_from", "item", "accepted", "status"), rows[0]))


def first_received(db, case):
    return db.scalar("SELECT min(received_at) FROM events WHERE dept = %s AND case_no = %s",
                     (DEPT, case))


def assert_whole_history(db, case):
    row = case_row(db, case)
    assert row["item"] == "SCJG-001" and row["accepted"], row
    assert row["status"] != "received", row


@pytest.fixture
def two(db, certs, testdir, request):
    """Two esupd (not started) on the same database."""
    made = daemons_apart(db, certs, testdir, log={"level": "debug"})
    yield made
    finish_daemons(made, request)


def test_the_bound_is_the_first_receipt_and_an_older_month_is_still_read(db, daemon_factory):
    # The case is accepted 100 days ago by the business clock (its event in an older month's
    # partition, or the default one), decided now: the decision's read reaches back to it.
    case = "LY-SCJGJ-2026-B00001"
    with bench_fill.owner(db) as conn:
        conn.execute(bench_fill.partitions_sql(
            "date_trunc('month', now() AT TIME ZONE 'UTC') - interval '13 months'", 13))
    old = daemon_factory(testing={"clock_offset_s": -100 * DAY})
    old.start()
    first = accepted(case)
    first_id = first["id"]
    r = post(old, [first])
    assert r.status == 200 and statuses(r.json()) == ["accepted"], r.body
    old.stop()
    row = case_row(db, case)
    assert row["events_from"] == first_received(db, case), row
    assert row["events_from"].timestamp() < time.time() - 99 * DAY
    assert db.scalar("SELECT tableoid::regclass::text FROM events WHERE event_id = %s",
                     (first_id,)) != "events_default"
    d = daemon_factory().start()
    r = post(d, [decided(case)])
    assert r.status == 200 and statuses(r.json()) == ["accepted"], r.body
    assert_whole_history(db, case)
    assert case_row(db, case)["events_from"] == first_received(db, case)


def test_a_case_without_a_bound_is_read_whole_and_stays_without(db, daemon_factory):
    # A case from before migration 027: its row has no events_from. Its events are all read
    # (the decision sees the acceptance), and the row does not take the batch's time as a
    # bound: that would hide the acceptance from every later read.
    case = "LY-SCJGJ-2026-B00002"
    d = daemon_factory().start()
    r = post(d, [accepted(case)])
    assert r.status == 200, r.body
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as su:
        su.execute("UPDATE cases SET events_from = NULL WHERE dept = %s AND case_no = %s",
                   (DEPT, case))
    # A second afterwards, so that the batch's receipt time is later than the acceptance's.
    wait_for(lambda: time.time() > first_received(db, case).timestamp() + 1.5, 5,
             "the clock to pass the acceptance's second")
    r = post(d, [decided(case)])
    assert r.status == 200 and statuses(r.json()) == ["accepted"], r.body
    assert_whole_history(db, case)
    assert case_row(db, case)["events_from"] is None


def test_a_writer_that_stored_an_earlier_event_lowers_the_bound(db, two):
    # Daemon a stores the acceptance and is held before its transaction takes the case row;
    # daemon b, a second later, stores the decision, makes the row (its bound: b's receipt
    # time) and commits. When a goes on, it must lower the bound to its own receipt time, or
    # every later read of the case would miss the acceptance.
    a, b = two
    case = "LY-SCJGJ-2026-B00003"
    first, second = accepted(case), decided(case)
    hold_events(db, "NEW.event_id = '%s'" % first["id"], LOCK)
    a.start()
    b.start()
    answers = []
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK,))
        t = threading.Thread(target=post, args=(a, [first], answers))
        t.start()
        wait_for(lambda: db.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                                   " AND objid = %s AND NOT granted", (LOCK,)) == 1, 30,
                 "a's writer to wait")
        # a received the acceptance before its writer waited, so no later than now: b receives
        # the decision in a later second (receipt times are whole seconds).
        waiting = time.time()
        wait_for(lambda: int(time.time()) > int(waiting), 5, "the next second")
        r = post(b, [second])
        assert r.status == 200 and statuses(r.json()) == ["accepted"], r.body
        made = case_row(db, case)["events_from"]
        assert made == first_received(db, case), "b's bound is its receipt time"
        holder.execute("SELECT pg_advisory_unlock(%s)", (LOCK,))
        t.join(60)
    assert not t.is_alive()
    assert answers[0].status == 200 and statuses(answers[0].json()) == ["accepted"], \
        answers[0].body
    bound = case_row(db, case)["events_from"]
    assert bound == first_received(db, case) and bound < made, (bound, made)
    # A later read (a's evaluation of the acceptance, and b's of a third event) has it all.
    assert_whole_history(db, case)
    r = post(b, [event(dept=DEPT, case=case, type="approval.step", step="审查",
                       at="2026-03-03T10:00:00+08:00")])
    assert r.status == 200, r.body
    assert_whole_history(db, case)
