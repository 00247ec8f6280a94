"""Tamper evidence (migration 012, issue 9 item 6): each department's events form a hash chain
that `esupctl verify` recomputes, naming the first broken link after a superuser alters,
deletes, inserts or reorders rows; the daily head that esupd publishes catches a rebuild.
esupctl finds the database like psql (item 7): libpq's environment or --conninfo."""

import os
import subprocess
import threading

import psycopg
import pytest

from conftest import BUILD, event, wait_for

ESUPCTL = BUILD / "contrib" / "esupctl"
DEPT_A = "LY-SCJGJ"


def verify(db, *args, env_conn=True, conninfo=None):
    """esupctl verify ARGS against db, found through PG* variables (or --conninfo)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if env_conn:
        env.update(PGHOST=str(db.pg.dir), PGPORT=str(db.pg.port), PGDATABASE=db.name,
                   PGUSER="postgres")
    argv = [str(ESUPCTL), "verify", *args]
    if conninfo is not None:
        argv += ["--conninfo", conninfo]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert "Sanitizer" not in r.stderr, r.stderr
    return r


def ingest(esupd, dept, n, tag):
    c = esupd.client("dept-" + dept)
    events = [event(dept=dept, id="%s-%d" % (tag, i)) for i in range(n)]
    r = c.post_events_committed(events)
    assert r.status == 200, (r.status, r.body, esupd.log_tail())
    return [e["id"] for e in events]


def chain(db, dept):
    return db.query("SELECT chain_seq, event_id, encode(prev_hash, 'hex'), encode(hash, 'hex')"
                    " FROM events WHERE dept = %s ORDER BY chain_seq", (dept,))


def test_intact_chain_and_duplicates(esupd, db):
    ids = ingest(esupd, DEPT_A, 5, "a")
    rows = chain(db, DEPT_A)
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0][2] == "0" * 64
    assert all(rows[i][2] == rows[i - 1][3] for i in range(1, 5))
    r = verify(db)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "%s: intact: 5 events" % DEPT_A in r.stdout
    # A resent duplicate does not extend the chain.
    c = esupd.client("dept-" + DEPT_A)
    resp = c.post_events_committed([event(dept=DEPT_A, id=ids[2])])
    assert resp.status == 200 and resp.json()["duplicate"] == 1
    assert db.query("SELECT seq FROM event_chain_heads WHERE dept = %s", (DEPT_A,)) == [(5,)]
    assert len(chain(db, DEPT_A)) == 5
    assert verify(db, "--dept", DEPT_A).returncode == 0
