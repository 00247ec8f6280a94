"""Several writer connections ([ingest] writers, issue 12): departments are stored side by side,
and a department's requests one transaction at a time, in order.

Nothing is timed. A trigger makes the writer that stores a department's event wait for an
advisory lock this test holds; while it waits, another department's request must be answered
(with one writer it waits behind), and the department's second request must not be in a
transaction of its own (it would wait on the same lock: two waiters). Once the lock is
released, both of the department's requests are stored, the first one first.
"""

import threading

import psycopg

from conftest import DEPTS, event, hold_events, ndjson, statuses, wait_for

LOCK = 4242
HELD_DEPT, OTHER_DEPT = DEPTS[0], DEPTS[1]


def post(d, dept, events, out=None):
    with d.client("dept-" + dept, timeout=60) as c:
        r = c.request("POST", "/v1/events", ndjson(events), "application/x-ndjson")
    if out is not None:
        out.append(r)
    return r


def waiting_writers(db):
    return db.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                     " AND objid = %s AND NOT granted", (LOCK,))


def test_departments_are_stored_side_by_side_and_each_in_order(db, daemon_factory):
    hold_events(db, "NEW.dept = '%s'" % HELD_DEPT, LOCK)
    d = daemon_factory(ingest={"writers": 2}, log={"level": "debug"}).start()
    first, second = event(dept=HELD_DEPT), event(dept=HELD_DEPT)
    answers = []
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK,))
        t1 = threading.Thread(target=post, args=(d, HELD_DEPT, [first], answers))
        t1.start()
        wait_for(lambda: waiting_writers(db) == 1, 30, "the first request's writer to wait")
        queued = d.log_text().count("ingest: queued")
        t2 = threading.Thread(target=post, args=(d, HELD_DEPT, [second], answers))
        t2.start()
        wait_for(lambda: d.log_text().count("ingest: queued") > queued, 30,
                 "the department's second request to be queued")
        # Another department goes by on the other writer meanwhile.
        r = post(d, OTHER_DEPT, [event(dept=OTHER_DEPT)])
        assert r.status == 200 and statuses(r.json()) == ["accepted"], r.body
        # The held department's second request waits for its first, outside any transaction.
        assert waiting_writers(db) == 1
        assert t1.is_alive() and t2.is_alive() and answers == []
        holder.execute("SELECT pg_advisory_unlock(%s)", (LOCK,))
    t1.join(60)
    t2.join(60)
    assert [a.status for a in answers] == [200, 200], [a.body for a in answers]
    assert [statuses(a.json()) for a in answers] == [["accepted"], ["accepted"]]
    order = db.query("SELECT event_id FROM events WHERE dept = %s AND event_id IN (%s, %s)"
                     " ORDER BY chain_seq", (HELD_DEPT, first["id"], second["id"]))
    assert [r[0] for r in order] == [first["id"], second["id"]]


def test_each_writer_is_a_session_of_its_own(db, daemon_factory):
    d = daemon_factory(ingest={"writers": 3}).start()
    names = lambda: sorted(r[0] for r in db.query(
        "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name LIKE 'esupd writer%%'"))
    wait_for(lambda: names() == ["esupd writer", "esupd writer2", "esupd writer3"], 30,
             "three writer sessions")
    r = post(d, HELD_DEPT, [event(dept=HELD_DEPT)])
    assert r.status == 200 and statuses(r.json()) == ["accepted"], r.body
