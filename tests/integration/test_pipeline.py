"""The writer's transaction goes to PostgreSQL in as few round trips as its statements allow
(issue 12): db.c runs the session in libpq's pipeline mode, ingest queues the BEGIN with the
INSERT (which also creates and locks the case rows) and the histories' read of the batch's
cases behind it, the case evaluation its apply with the defer, and ingest the COMMIT with
those: two round trips for a one-event request of a new case (BEGIN, INSERT and history;
apply, defer and COMMIT), where one at a time took eight.

Nothing here is timed. esupd reaches the database through a proxy that records what it sends
on each connection; a trigger holds a statement in the server on an advisory lock the test
holds, and the statements that need nothing from its answer must reach the proxy while it
waits (one statement at a time, none would). The same proxy checks that a failure in the
middle of such a pipeline is the batch's failure alone: the COMMIT chained behind a
statement that failed does not run, esupd rolls the transaction back, nothing of the batch
stays, and the session goes on. Each round trip is one pipeline segment (one Sync), so that
its statements leave in one write.
"""

import json
import os
import re
import selectors
import socket
import threading

import psycopg
import pytest

from conftest import event, hold_events, ndjson, statuses, wait_for


class TurnProxy:
    """TCP on 127.0.0.1 to the cluster's Unix socket; records each connection's bursts from
    esupd (the bytes it sent between two answers of the server)."""

    def __init__(self, socket_path):
        self.socket_path = socket_path
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.conns = []          # one list of bursts (bytes) per connection
        self.closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            server = socket.socket(socket.AF_UNIX)
            server.connect(self.socket_path)
            bursts = []
            with self.lock:
                self.conns.append(bursts)
            threading.Thread(target=self._pump, args=(client, server, bursts),
                             daemon=True).start()

    def _pump(self, client, server, bursts):
        sel = selectors.DefaultSelector()
        sel.register(client, selectors.EVENT_READ, server)
        sel.register(server, selectors.EVENT_READ, client)
        answered = True   # the server spoke last (or nobody yet): esupd's next bytes start a turn
        try:
            while True:
                for key, _ in sel.select():
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
                    with self.lock:
                        if key.fileobj is client:
                            if answered:
                                bursts.append(b"")
                                answered = False
                            bursts[-1] += data
                        else:
                            answered = True
        except OSError:
            return
        finally:
            client.close()
            server.close()

    def writer(self):
        """The bursts of esupd's writer: the connection that sent ingest's INSERT (the tests
        run one writer connection)."""
        with self.lock:
            found = [b for b in self.conns if any(b"ingest_insert" in x for x in b)]
            assert len(found) == 1, "one writer connection"
            return list(found[0])

    def close(self):
        self.closing = True
        self.listener.close()


@pytest.fixture
def proxy(db):
    pg = db.pg
    p = TurnProxy(os.path.join(str(pg.dir), ".s.PGSQL.%d" % pg.port))
    yield p
    p.close()


def proxied_conninfo(db, proxy):
    conninfo = db.conninfo("esupd")
    conninfo = re.sub(r"host=\S+", "host=127.0.0.1", conninfo)
    conninfo = re.sub(r"port=\S+", "port=%d" % proxy.port, conninfo)
    return conninfo + " sslmode=disable"


def post(d, events):
    with d.client("dept-LY-SCJGJ") as c:
        r = c.request("POST", "/v1/events", ndjson(events), "application/x-ndjson")
        assert r.status == 200, r.body
        return statuses(r.json())


LOCK = 4243
HOLD = """
CREATE FUNCTION test_hold() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.case_no = '%s' AND (NEW.evaluated_at IS NOT NULL) = %s THEN
        PERFORM pg_advisory_xact_lock_shared(%d);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER test_hold BEFORE INSERT OR UPDATE ON cases
    FOR EACH ROW EXECUTE FUNCTION test_hold()"""


def held(db):
    return db.scalar("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                     " AND objid = %s AND NOT granted", (LOCK,))


def sent_while_held(db, daemon_factory, proxy, at_apply, wanted):
    """Holds the INSERT of the event (at_apply False) or the case's apply (True) in the server
    and returns once esupd's writer sent everything in wanted meanwhile; then lets it go."""
    ev = event()
    if at_apply:
        db.query(HOLD % (ev["case"], "true", LOCK))
    else:
        hold_events(db, "NEW.event_id = '%s'" % ev["id"], LOCK)
    d = daemon_factory(database={"conninfo": proxied_conninfo(db, proxy)},
                       ingest={"writers": 1}).start()
    answers = []
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK,))
        t = threading.Thread(target=lambda: answers.append(post(d, [ev])))
        t.start()
        wait_for(lambda: held(db) == 1, 30, "the statement to wait on the test's lock")

        def after_held():
            text = b"".join(proxy.writer())
            return all(w in text[text.index(ev["id"].encode()):] for w in wanted)
        wait_for(after_held, 30, "esupd to send %s before the held statement's answer" % wanted)
        assert held(db) == 1 and t.is_alive()
        holder.execute("SELECT pg_advisory_unlock(%s)", (LOCK,))
    t.join(60)
    assert answers == [["accepted"]]
    assert db.query("SELECT evaluated_at IS NOT NULL FROM cases WHERE dept = %s AND case_no = %s",
                    (ev["dept"], ev["case"])) == [(True,)]


def test_the_commit_goes_out_with_the_apply(db, daemon_factory, proxy):
    sent_while_held(db, daemon_factory, proxy, True, [b"cases_apply", b"COMMIT"])


def test_the_history_read_goes_out_with_the_insert(db, daemon_factory, proxy):
    # The INSERT stores the event and locks its case; the read of the case's history is sent
    # behind it without waiting for its answer.
    sent_while_held(db, daemon_factory, proxy, False, [b"cases_load"])


def frontend_messages(stream):
    """The messages esupd sent on one connection (its bursts joined): (type, body) after the
    startup packet (no SSLRequest: the proxy's conninfo disables TLS)."""
    out = []
    pos = int.from_bytes(stream[:4], "big")
    while pos + 5 <= len(stream):
        kind = stream[pos:pos + 1]
        size = int.from_bytes(stream[pos + 1:pos + 5], "big")
        out.append((kind, stream[pos + 5:pos + 1 + size]))
        pos += 1 + size
    return out


def test_each_round_trip_is_one_segment(db, daemon_factory, proxy):
    # libpq writes to the server at each segment's Sync, and the server starts on the first
    # write while the second waits for esupd to run again: the statements that go out
    # together are one segment, each chained to the one before (the history's read to the
    # INSERT, the defer to the apply, the COMMIT to the last of them). A one-event request
    # of a new case is two Syncs from its BEGIN to its COMMIT; it was four.
    ev = event()
    d = daemon_factory(database={"conninfo": proxied_conninfo(db, proxy)},
                       ingest={"writers": 1}).start()
    assert post(d, [ev]) == ["accepted"]
    msgs = frontend_messages(b"".join(proxy.writer()))
    insert = next(i for i, (k, b) in enumerate(msgs) if k == b"B" and ev["id"].encode() in b)
    begin = max(i for i, (k, b) in enumerate(msgs[:insert]) if k == b"P" and b"BEGIN" in b)
    commit = next(i for i, (k, b) in enumerate(msgs) if i > insert and k == b"P"
                  and b"COMMIT" in b)
    window = msgs[begin:commit + 5]
    kinds = [k for k, _ in window]
    assert kinds.count(b"S") == 2, kinds
    first = kinds.index(b"S")
    names = [b for k, b in window[:first] if k == b"B"]
    assert any(b.startswith(b"\0ingest_insert\0") for b in names), names
    assert any(b.startswith(b"\0cases_load\0") for b in names), names
    rest = window[first + 1:]
    assert any(k == b"B" and b.startswith(b"\0cases_apply\0") for k, b in rest), rest
    assert any(k == b"P" and b"COMMIT" in b for k, b in rest)


def test_a_statement_failing_inside_the_pipeline_rolls_back_its_batch(db, daemon_factory,
                                                                     proxy):
    bad, good = event(), event()
    # The poisoned case's row takes its lock (evaluated_at still null) but not its evaluation:
    # the apply fails, with the defer and the COMMIT already sent behind it.
    db.query("""
        CREATE FUNCTION test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.case_no = '%s' AND NEW.evaluated_at IS NOT NULL THEN
                RAISE EXCEPTION 'poisoned case';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER test_poison BEFORE INSERT OR UPDATE ON cases
            FOR EACH ROW EXECUTE FUNCTION test_poison()""" % bad["case"])
    d = daemon_factory(database={"conninfo": proxied_conninfo(db, proxy)},
                       ingest={"writers": 1}).start()
    with d.client("dept-LY-SCJGJ") as c:
        r = c.request("POST", "/v1/events", ndjson([bad]), "application/x-ndjson")
        assert r.status == 503, r.body   # failed in its batch, then alone
    assert post(d, [good]) == ["accepted"]
    sent = [t for t in proxy.writer() if bad["id"].encode() in t and b"BEGIN" in t]
    assert len(sent) == 2, "the batch, then the request alone"
    both = (bad["id"], good["id"])
    stored = {r[0] for r in db.query("SELECT event_id FROM events WHERE event_id = ANY(%s)", (list(both),))}
    ids = {r[0] for r in db.query("SELECT event_id FROM event_ids WHERE event_id = ANY(%s)", (list(both),))}
    assert stored == ids == {good["id"]}
    assert db.query("SELECT 1 FROM cases WHERE dept = %s AND case_no = %s",
                    (bad["dept"], bad["case"])) == []
    assert "failed at case evaluation" in d.log_text()


# A case's own events beyond what one evaluation takes (MON_CASE_EVENTS_MAX), stored as ingest
# stores them, with the case's row made by hand without a bound (read whole).
CROWDED = """
INSERT INTO events (seq, received_at, dept, event_id, type, at, case_no, item, principal, body)
OVERRIDING SYSTEM VALUE
SELECT nextval('events_seq'), now(), %(dept)s, 'crowd-' || g, 'approval.accepted',
       timestamptz '2026-03-02 09:00+08', %(case)s, 'SCJG-001', 'history',
       %(body)s::jsonb || jsonb_build_object('id', 'crowd-' || g)
  FROM generate_series(1, 10000) g;
INSERT INTO cases (dept, case_no, next_check_at) VALUES (%(dept)s, %(case)s, now() + interval '30 days')
"""


VERSIONS_OF_CASES = """
CREATE TABLE test_case_versions (xid bigint, case_no text);
GRANT INSERT ON test_case_versions TO PUBLIC;
CREATE FUNCTION test_count_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO test_case_versions VALUES (txid_current() % 4294967296, NEW.case_no);
    RETURN NULL;
END $$;
CREATE TRIGGER test_count_version AFTER UPDATE ON cases
    FOR EACH ROW EXECUTE FUNCTION test_count_version()"""


def test_the_lock_writes_no_version_of_an_existing_case(refdb, daemon_factory):
    # The INSERT's lock of an existing case row only locks it (ON CONFLICT DO UPDATE ... WHERE
    # false): the apply writes the row's one new version of the transaction. A second version
    # inserted into each of cases' five indexes for every case of every batch. The lock still
    # lowers events_from when an earlier event was stored (test_case_bound.py).
    db = refdb
    db.query(VERSIONS_OF_CASES)
    d = daemon_factory(ingest={"writers": 1}).start()
    first = event()
    assert post(d, [first]) == ["accepted"]
    second = event(type="approval.supplement_requested", case=first["case"],
                   at="2026-03-03T10:00:00+08:00")
    assert post(d, [second]) == ["accepted"]
    xid = db.scalar("SELECT xmin::text::bigint FROM event_ids WHERE event_id = %s",
                    (second["id"],))
    assert db.scalar("SELECT count(*) FROM test_case_versions WHERE xid = %s AND case_no = %s",
                     (xid, first["case"])) == 1
    # that one version is the apply's: the row as it stands was written by the transaction
    assert db.scalar("SELECT xmin::text::bigint FROM cases WHERE case_no = %s",
                     (first["case"],)) == xid


def test_only_a_case_left_unevaluated_is_deferred(db, daemon_factory):
    # Of one request's two cases, libmonitor refuses the history of the one with more events
    # than an evaluation takes: that case stays unevaluated and is looked at again in an hour
    # (not at every sweep); the other is evaluated and keeps the next check it computed. The
    # defer goes out only when a case was not evaluated.
    crowded, ok = event(), event()
    body = json.dumps({k: v for k, v in crowded.items() if k != "id"})
    d = daemon_factory(ingest={"writers": 1}).start()
    with psycopg.connect(db.conninfo("esup_admin"), autocommit=True) as conn:
        conn.execute("SET ROLE esup_owner")
        for sql in CROWDED.strip().split(";\n"):
            conn.execute(sql, {"dept": crowded["dept"], "case": crowded["case"], "body": body})
    sent = db.scalar("SELECT now()")
    assert post(d, [crowded, ok]) == ["accepted", "accepted"]
    rows = {r[0]: r[1:] for r in db.query(
        "SELECT case_no, evaluated_at IS NOT NULL, next_check_at > %s + interval '50 minutes'"
        " AND next_check_at < %s + interval '70 minutes' FROM cases"
        " WHERE case_no IN (%s, %s)", (sent, sent, crowded["case"], ok["case"]))}
    assert rows[crowded["case"]] == (False, True), rows
    assert rows[ok["case"]][0] is True, rows
    wait_for(lambda: "case %s/%s not evaluated" % (crowded["dept"], crowded["case"])
             in d.log_text(), 10, "the refusal's log line")


STATEMENTS_ON_CASES = """
CREATE TABLE test_case_statements (xid bigint);
GRANT INSERT ON test_case_statements TO PUBLIC;
CREATE FUNCTION test_count_statement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO test_case_statements VALUES (txid_current() % 4294967296);
    RETURN NULL;
END $$;
CREATE TRIGGER test_count_statement AFTER INSERT ON cases
    FOR EACH STATEMENT EXECUTE FUNCTION test_count_statement()"""

CASE_COLUMNS = ("item, status, unit, committed_days, statutory_days, counted_days, suspended_days,"
                " committed_day, statutory_day, level, next_check_at, evaluated_at, kind,"
                " received_at, accepted_at, closed_at, result, reported, supplements,"
                " on_time_committed, on_time_statutory, replied_at, reply_on_time,"
                " close_on_time, applicant")


def test_quiet_cases_are_written_by_one_statement(refdb, daemon_factory):
    # Of a request's cases, those with no condition and no live alert (quiet: most of a
    # department's) are written by one upsert for all (esup_apply_evaluations, schema/029);
    # a case with a live alert goes through esup_apply_evaluation, its own upsert included.
    # A statement trigger counts the statements that write `cases` in the request's
    # transaction: the INSERT's lock of the rows, the quiet cases' upsert and the one case's
    # own (one per case before: 22). The rows are the same on both paths.
    db = refdb
    db.query(STATEMENTS_ON_CASES)
    d = daemon_factory(ingest={"writers": 1}).start()
    at = db.scalar("SELECT to_char((now() - interval '1 hour') AT TIME ZONE 'Asia/Shanghai',"
                   " 'YYYY-MM-DD\"T\"HH24:MI:SS+08:00')")
    quiet = [event(at=at) for _ in range(21)]
    alerted = event(at=at)
    db.query("WITH a AS (INSERT INTO alerts (rule, severity, dept, case_no, dedup_key, message,"
             " since, status) VALUES ('APR-LATE-REPORT', 'notice', %s, %s, %s, 'by hand', now(),"
             " 'open') RETURNING id) INSERT INTO alert_actions (alert_id, action, actor, note, at,"
             " from_state, to_state) SELECT id, 'raise', 'test', '', now(), NULL, 'open' FROM a",
             (alerted["dept"], alerted["case"],
              "APR-LATE-REPORT|%s|%s" % (alerted["dept"], alerted["case"])))
    assert post(d, quiet + [alerted]) == ["accepted"] * 22
    xid = db.scalar("SELECT xmin::text::bigint FROM event_ids WHERE event_id = %s",
                    (alerted["id"],))
    assert db.scalar("SELECT count(*) FROM test_case_statements WHERE xid = %s", (xid,)) == 3
    # the one case's live alert, whose condition does not hold, was resolved on its path
    assert db.scalar("SELECT status FROM alerts WHERE case_no = %s", (alerted["case"],)) \
        == "resolved"
    assert db.scalar("SELECT count(*) FROM alerts WHERE case_no = ANY(%s)",
                     ([e["case"] for e in quiet],)) == 0
    rows = db.query("SELECT case_no, %s FROM cases WHERE case_no = ANY(%%s)" % CASE_COLUMNS,
                    ([e["case"] for e in quiet + [alerted]],))
    assert len(rows) == 22
    written = {r[1:] for r in rows}
    assert len(written) == 1, rows     # the same facts, clock and time on both paths
    assert rows[0][1] == "SCJG-001" and rows[0][12] is not None, rows[0]   # item, evaluated_at
