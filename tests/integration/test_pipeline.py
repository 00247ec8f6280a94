"""The writer's transaction goes to PostgreSQL in as few round trips as its statements allow
(issue 12): db.c runs the session in libpq's pipeline mode, ingest queues the BEGIN with the
INSERT, the case evaluation its lock with the history's read and its apply with the defer, and
ingest the COMMIT with those. Nothing here is timed. esupd reaches the database through a
proxy in this test that counts, on each connection, the turns: each time esupd sends after
PostgreSQL has answered. A one-event request of a new case is three turns (BEGIN and INSERT;
lock and history; apply, defer and COMMIT); one at a time it was eight.

The same proxy checks that a failure in the middle of such a pipeline is the batch's failure
alone: the COMMIT sent behind a statement that failed answers ROLLBACK, nothing of the batch
stays, the other requests are stored after their retry alone, and the session goes on.
"""

import os
import re
import selectors
import socket
import threading

import pytest

from conftest import event, ndjson, statuses


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


def turns_of(bursts, marker):
    """The turns from the one that carried marker (the batch's rows) to its COMMIT."""
    first = [i for i, b in enumerate(bursts) if marker in b]
    assert first, "the batch's rows went out"
    for i in range(first[0], len(bursts)):
        if b"COMMIT" in bursts[i]:
            return bursts[first[0]:i + 1]
    raise AssertionError("no COMMIT after the batch's INSERT")


def post(d, events):
    with d.client("dept-LY-SCJGJ") as c:
        r = c.request("POST", "/v1/events", ndjson(events), "application/x-ndjson")
        assert r.status == 200, r.body
        return statuses(r.json())


def test_a_one_event_request_is_three_round_trips(db, daemon_factory, proxy):
    d = daemon_factory(database={"conninfo": proxied_conninfo(db, proxy)},
                       ingest={"writers": 1}).start()
    # the first request prepares the session's named statements: take the second
    assert post(d, [event()]) == ["accepted"]
    ev = event()
    assert post(d, [ev]) == ["accepted"]
    turns = turns_of(proxy.writer(), ev["id"].encode())
    assert len(turns) == 3, [t[:160] for t in turns]
    assert b"BEGIN" in turns[0]
    assert b"cases_apply" in turns[-1] and b"COMMIT" in turns[-1]
    assert db.query("SELECT evaluated_at IS NOT NULL FROM cases WHERE dept = %s AND case_no = %s",
                    (ev["dept"], ev["case"])) == [(True,)]


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
    applied = [t for t in proxy.writer() if b"cases_apply" in t and b"COMMIT" in t]
    assert len(applied) >= 3, "the COMMIT went out behind each apply"
    both = (bad["id"], good["id"])
    stored = {r[0] for r in db.query("SELECT event_id FROM events WHERE event_id = ANY(%s)", (list(both),))}
    ids = {r[0] for r in db.query("SELECT event_id FROM event_ids WHERE event_id = ANY(%s)", (list(both),))}
    assert stored == ids == {good["id"]}
    assert db.query("SELECT 1 FROM cases WHERE dept = %s AND case_no = %s",
                    (bad["dept"], bad["case"])) == []
    assert "failed at case evaluation" in d.log_text()
