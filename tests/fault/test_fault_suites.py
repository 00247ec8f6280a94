"""The fault suites: while clients stream the replicated sample feed and resend whatever was not
acknowledged, one fault is injected again and again; then the oracle (tests/integration/oracle.py)
judges what the database holds. Short forms by default (tests/run); ESUP_FAULT_LONG=1 for the
long forms (tests/fault/run --long). ESUP_FAULT_RESULTS names a file that gets one JSON line of
numbers per suite. See tests/fault/README.md."""

import json
import os
import signal
import time

import pytest

import oracle
from esup_fixtures import BUILD, wait_for
from esupclient import Client

LONG = os.environ.get("ESUP_FAULT_LONG") == "1"
ESUPCTL = BUILD / "contrib" / "esupctl"

# suite: (count short, count long, acknowledged events between faults short, long).
# For the outage the count is its length in seconds (one outage).
PLAN = {
    "kill9": (3, 30, 200, 1000),
    "pg_immediate": (2, 10, 200, 1000),
    "outage": (5, 60, 300, 2000),
    "sighup": (10, 100, 50, 200),
    "sigterm": (2, 10, 200, 1000),
}


def plan(name):
    short, long_, between_short, between_long = PLAN[name]
    return (long_, between_long) if LONG else (short, between_short)


def record(name, count, seconds, verdict):
    path = os.environ.get("ESUP_FAULT_RESULTS")
    line = dict(suite=name, count=count, seconds=round(seconds, 1), **verdict.__dict__)
    line["only_db"], line["only_eval"] = len(verdict.only_db), len(verdict.only_eval)
    line["raised_twice"] = len(verdict.raised_twice)
    print("\n%s x%d in %.0fs: %s" % (name, count, seconds, verdict.summary()))
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(line) + "\n")


class Bed:
    """One esupd on the test database with the business clock at oracle.BUSINESS_START."""

    def __init__(self, daemon_factory, db, pg, certs, testdir):
        self.offset = oracle.clock_offset()
        self.d = daemon_factory(testing={"clock_offset_s": self.offset})
        self.db, self.pg, self.certs, self.dir = db, pg, certs, testdir

    def client(self, port, dept):
        cert, key = self.certs.pair("dept-" + dept)
        return Client(port, self.certs.ca, cert, key, timeout=20)

    def kill9(self):
        run = self.d.runs[-1]
        run[0].kill()
        run[0].wait()
        run[2] = 0   # killed by the test, not a crash: problems() still reads its log

    def run(self, name, inject, count, between):
        """Streams, injects `count` faults with `between` acknowledged events before each and
        after the last, stops everything and returns the oracle's verdict."""
        self.d.start()
        streams = oracle.Streams(oracle.dept_senders([self.d.port], self.client)).start()
        started = time.monotonic()
        try:
            for i in range(count):
                streams.wait_acked(streams.acked() + between, wait_for)
                inject(i)
            streams.wait_acked(streams.acked() + between, wait_for)
        except BaseException:
            streams.stop.set()
            raise
        finally:
            if not self.pg.running:
                self.pg.start()
        streams.finish()
        seconds = time.monotonic() - started
        if not self.d.running():
            self.d.start()
        oracle.wait_swept(self.db, self.offset, wait_for)
        code = self.d.stop()
        assert code == 0, "esupd exited with %s after SIGTERM:\n%s" % (code, self.d.log_tail())
        at = oracle.business_now(self.offset)
        assert at < oracle.QUIET_UNTIL, "the run outlasted the quiet window of the feed"
        verdict = oracle.judge(self.db, streams.senders, ESUPCTL, self.dir, at)
        record(name, count, seconds, verdict)
        errors = oracle.log_errors(self.d.log_text())
        assert not errors, errors[:10]
        assert not verdict.problems(), "\n".join(verdict.problems())
        assert verdict.alerts_db > 0 and verdict.acked > 0
        return verdict


@pytest.fixture
def bed(daemon_factory, refdb, pg, certs, testdir):
    return Bed(daemon_factory, refdb, pg, certs, testdir)


def test_kill9(bed):
    count, between = plan("kill9")

    def inject(i):
        bed.kill9()
        bed.d.start()
    bed.run("kill9", inject, count, between)


def test_pg_immediate_stop(bed):
    count, between = plan("pg_immediate")

    def inject(i):
        bed.pg.stop("immediate")
        bed.pg.start()
    bed.run("pg_immediate", inject, count, between)


def test_outage(bed):
    seconds, between = plan("outage")

    def inject(i):
        bed.pg.stop("fast")
        time.sleep(seconds)   # the fault itself: the database is away this long
        bed.pg.start()
    v = bed.run("outage", inject, 1, between)
    assert v.refusals.get(503, 0) > 0, "no client was told 503 during the outage"


def test_sighup(bed):
    count, between = plan("sighup")

    def inject(i):
        bed.d.signal(signal.SIGHUP)
    reloads = lambda: bed.d.log_text().count("reload complete")  # noqa: E731
    bed.run("sighup", inject, count, between)
    assert reloads() == count, "%d reloads logged, %d SIGHUPs sent" % (reloads(), count)


def test_sigterm(bed):
    count, between = plan("sigterm")

    def inject(i):
        code = bed.d.stop()
        assert code == 0, "esupd exited with %s after SIGTERM:\n%s" % (code, bed.d.log_tail())
        bed.d.start()
    bed.run("sigterm", inject, count, between)
