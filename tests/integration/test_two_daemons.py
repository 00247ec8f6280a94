"""Several esupd on one database: two daemons on two ports ingest and sweep the same database;
clients are spread over both (one department's events go to both at once, the same ids
racing), one daemon is killed with -9 mid-stream and its clients fail over to the other.
The oracle (oracle.py) holds as for one daemon: nothing acknowledged is lost or stored twice,
the open alerts are what `esupctl eval` derives, no condition has two live alerts or was
raised twice, and neither daemon nor PostgreSQL logs a deadlock or a duplicate key."""

import re
import signal

import psycopg
import pytest

import oracle
from conftest import BUILD, daemons_apart, event, finish_daemons, wait_for
from esupclient import Client, StreamSender

ESUPCTL = BUILD / "contrib" / "esupctl"
# Small sweeper batches, swept often, so that both sweepers take due cases at the transition.
SWEEPER = {"batch": 4, "interval_ms": 200}


@pytest.fixture
def two(refdb, certs, testdir, request):
    """Two esupd configurations (not started) on the same database, each in its own directory,
    with the same business clock; stopped and checked like daemon_factory's."""
    offset = oracle.clock_offset(oracle.TRANSITION.timestamp() - 10)
    made = daemons_apart(refdb, certs, testdir, testing={"clock_offset_s": offset},
                         sweeper=SWEEPER, log={"level": "debug"})
    yield made, offset
    finish_daemons(made, request)


def swept_cases(daemon):
    return sum(int(n) for n in re.findall(r"sweeper: (\d+) cases re-derived", daemon.log_text()))


def test_two_daemons_one_killed(two, refdb, pg, certs, testdir):
    (a, b), offset = two
    pg_log_start = pg.log.stat().st_size
    a.start()
    b.start()

    def client(port, dept):
        cert, key = certs.pair("dept-" + dept)
        return Client(port, certs.ca, cert, key, timeout=20)
    streams = oracle.Streams(oracle.dept_senders([a.port, b.port], client)).start()
    try:
        streams.wait_acked(600, wait_for)
        run = a.runs[-1]
        run[0].kill()            # mid-stream: its clients must fail over to b
        run[0].wait()
        run[2] = 0               # killed by the test, not a crash
        streams.wait_acked(streams.acked() + 600, wait_for)
        a.start()
        # both daemons up while the business clock crosses the transition: both sweep
        wait_for(lambda: oracle.business_now(offset) > oracle.TRANSITION, 60,
                 "the business clock to pass the transition")
        streams.wait_acked(streams.acked() + 600, wait_for)
    except BaseException:
        streams.stop.set()
        raise
    streams.finish()
    failovers = sum(s.failovers for s in streams.senders)
    oracle.wait_swept(refdb, offset, wait_for)
    for d in (a, b):
        assert d.stop() == 0, d.log_tail()
    at = oracle.business_now(offset)
    verdict = oracle.judge(refdb, streams.senders, ESUPCTL, testdir, at)
    print("\ntwo daemons: %s; failovers %d; cases swept by a %d, by b %d"
          % (verdict.summary(), failovers, swept_cases(a), swept_cases(b)))
    assert not verdict.problems(), "\n".join(verdict.problems())
    assert verdict.alerts_db > 0
    assert failovers > 0, "no client failed over from the killed daemon"
    with open(pg.log, errors="replace") as f:
        f.seek(pg_log_start)
        pg_errors = oracle.log_errors(f.read())
    errors = oracle.log_errors(a.log_text() + b.log_text()) + pg_errors
    assert not errors, errors[:10]


def test_rederive_locks_cases_in_order(daemon_factory, refdb):
    """A change of rules or reference data makes every esupd re-derive all open cases. The
    marking (esup_rederive_step, a step at a time since migration 032) must lock the cases in
    (dept, case) order, as a batch does, or it deadlocks with a batch of another esupd. Here a transaction of the test stands in for that batch: it holds
    the case that sorts first, the re-derivation starts, then it takes the case that sorts last
    but lies first in the table."""
    d = daemon_factory().start()
    first, last = "LY-SCJGJ-2026-lock-a", "LY-SCJGJ-2026-lock-z"
    sender = StreamSender(lambda: d.client("dept-LY-SCJGJ"),
                          [event(case=last), event(case=first)], chunk=1)
    assert sender.run(), sender.error
    assert sorted(sender.acked.values()) == ["accepted", "accepted"], sender.rejected
    order = [row[0] for row in refdb.query("SELECT case_no FROM cases ORDER BY ctid")]
    assert order == [last, first], "precondition: the table holds %s first" % last
    waiting = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
               " AND wait_event_type = 'Lock' AND query LIKE '%%esup_rederive_step%%'")
    lock = "SELECT 1 FROM cases WHERE dept = 'LY-SCJGJ' AND case_no = %s FOR UPDATE"
    before = d.log_text().count("open cases to re-derive")
    with psycopg.connect(refdb.conninfo("postgres")) as conn:
        conn.execute(lock, (first,))
        # other rules (loading the same ones re-derives nothing)
        d.config.setdefault("rules", {})["disable"] = "APR-LATE-REPORT"
        d.write()
        d.signal(signal.SIGHUP)
        wait_for(lambda: refdb.scalar(waiting) == 1, 30,
                 "the re-derivation to wait for the case the test holds")
        conn.execute(lock, (last,))   # a deadlock, if the re-derivation already holds it
        conn.commit()
    wait_for(lambda: d.log_text().count("open cases to re-derive") > before, 30,
             "the re-derivation to finish")
    assert "deadlock detected" not in d.log_text(), d.log_tail()
