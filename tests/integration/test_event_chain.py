"""Tamper evidence (migration 012, issue 9 item 6): each department's events form a hash chain
that `esupctl verify` recomputes, naming the first broken link after a superuser alters,
deletes, inserts or reorders rows; the daily head that esupd publishes catches a rebuild.
esupctl finds the database like psql (item 7): libpq's environment or --conninfo."""

import os
import subprocess
import threading

import psycopg
import pytest

from conftest import (offset_to, BUILD, REPO, Daemon, Database, chown_daemon, dbsetup, event,
                      finish_daemons, wait_for)

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


def tamper(db, sql, params=None):
    """As the PostgreSQL superuser with triggers off (append-only and chain alike)."""
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(sql, params)


def row_id(db, event_id):
    return db.scalar("SELECT seq FROM events WHERE event_id = %s", (event_id,))


def broken_line(r):
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith(DEPT_A + ": ")]
    assert len(lines) == 1, r.stdout
    return lines[0]


@pytest.fixture
def six(esupd, db):
    """Six events of DEPT_A (chain_seq 1..6 = a-0..a-5) and two of another department."""
    ids = ingest(esupd, DEPT_A, 6, "a")
    ingest(esupd, "LY-ZRZYJ", 2, "b")
    r = verify(db)
    assert r.returncode == 0 and "LY-ZRZYJ: intact: 2 events" in r.stdout, r.stdout
    # esupd's chain-daily job publishes the day's head once, at its first round after the
    # events (within a second). Wait for it: published later, in the middle of a test, it
    # would copy a tampered head (test_head_mismatch saw "daily head mismatch" first).
    wait_for(lambda: [r[1] for r in daily(db, DEPT_A)] == [6], 10, "the day's head published")
    return ids


def test_content_altered(db, six):
    tamper(db, "UPDATE events SET body = body || '{\"x\": 1}' WHERE event_id = 'a-3'")
    line = broken_line(verify(db))
    assert line == ("%s: broken at seq 4, event a-3 (row %d): content altered: the stored"
                    " hash is not the hash of the row" % (DEPT_A, row_id(db, "a-3")))
    # The other department is unaffected and still reported intact.
    assert "LY-ZRZYJ: intact: 2 events" in verify(db).stdout
    assert verify(db, "--dept", "LY-ZRZYJ").returncode == 0


def test_row_deleted(db, six):
    tamper(db, "DELETE FROM events WHERE event_id = 'a-2'")
    line = broken_line(verify(db, "--dept", DEPT_A))
    assert line == ("%s: broken at seq 4, event a-3 (row %d): row deleted (gap): seq 3..3"
                    " missing after event a-1" % (DEPT_A, row_id(db, "a-3")))
    # Deleted and renumbered to hide the gap: the link names a row that is gone.
    tamper(db, "UPDATE events SET chain_seq = chain_seq - 1 WHERE dept = %s AND chain_seq > 3",
           (DEPT_A,))
    line = broken_line(verify(db, "--dept", DEPT_A))
    assert line.startswith("%s: broken at seq 3, event a-3 (row %d): row deleted: the row it"
                           " links to is not in the chain" % (DEPT_A, row_id(db, "a-3"))), line


def test_last_row_deleted(db, six):
    tamper(db, "DELETE FROM events WHERE event_id = 'a-5'")
    line = broken_line(verify(db, "--dept", DEPT_A))
    assert line == ("%s: broken at seq 6: row deleted (gap): seq 6..6 missing at the end"
                    " (the head is at seq 6)" % DEPT_A)


FORGE = ("WITH n AS (SELECT nextval('events_seq') AS seq)"
         " INSERT INTO events (seq, received_at, dept, event_id, type, at, case_no, item,"
         " principal, body, chain_seq, prev_hash, hash) OVERRIDING SYSTEM VALUE"
         " SELECT n.seq, p.received_at, p.dept, 'forged', p.type, p.at,"
         " p.case_no, p.item, p.principal, p.body, %s, p.hash, esup_event_chain_hash(p.hash,"
         " n.seq, p.dept, 'forged', p.received_at, p.type, p.at, p.case_no,"
         " p.item, p.principal, p.body) FROM events p, n WHERE p.event_id = 'a-1'")


def test_row_inserted(db, six):
    # A forged row, correctly linked after a-1, claiming a-2's place.
    tamper(db, FORGE, (3,))
    line = broken_line(verify(db))
    assert line == ("%s: broken at seq 3, event forged (row %d): row inserted: event a-2 holds"
                    " seq 3 too" % (DEPT_A, row_id(db, "forged")))


def test_row_inserted_and_renumbered(db, six):
    tamper(db, "UPDATE events SET chain_seq = chain_seq + 1 WHERE dept = %s AND chain_seq >= 3",
           (DEPT_A,))
    tamper(db, FORGE, (3,))
    line = broken_line(verify(db))
    assert line == ("%s: broken at seq 4, event a-2 (row %d): row inserted: it links to event"
                    " a-1 at seq 2, not to event forged at seq 3" % (DEPT_A, row_id(db, "a-2")))


def test_rows_reordered(db, six):
    tamper(db, "UPDATE events SET chain_seq = 7 - chain_seq WHERE dept = %s"
           " AND chain_seq IN (3, 4)", (DEPT_A,))
    line = broken_line(verify(db))
    assert line == ("%s: broken at seq 3, event a-3 (row %d): rows reordered: it links to event"
                    " a-2 at seq 4, not to event a-1 at seq 2" % (DEPT_A, row_id(db, "a-3")))


def test_head_mismatch(db, six):
    tamper(db, "UPDATE event_chain_heads SET hash = sha256('x') WHERE dept = %s", (DEPT_A,))
    line = broken_line(verify(db))
    assert line.startswith("%s: broken at seq 7: head mismatch: the head says seq 6 hash "
                           % DEPT_A), line


REBUILD = """DO $$
DECLARE
	r record;
	prev bytea;
BEGIN
	SELECT hash INTO prev FROM events WHERE dept = 'LY-SCJGJ' AND chain_seq = 1;
	FOR r IN SELECT * FROM events WHERE dept = 'LY-SCJGJ' AND chain_seq >= 2
			ORDER BY chain_seq LOOP
		UPDATE events SET prev_hash = prev, hash = esup_event_chain_hash(prev, r.seq, r.dept,
			r.event_id, r.received_at, r.type, r.at, r.case_no, r.item, r.principal, r.body)
		 WHERE seq = r.seq RETURNING hash INTO prev;
	END LOOP;
	UPDATE event_chain_heads SET hash = prev WHERE dept = 'LY-SCJGJ';
END
$$"""


def daily(db, dept):
    return db.query("SELECT day::text, seq, encode(hash, 'hex') FROM event_chain_daily"
                    " WHERE dept = %s ORDER BY day", (dept,))


def test_daily_head_catches_a_rebuild(daemon_factory, db):
    d = daemon_factory(testing={"clock_offset_s": offset_to("2026-03-02T23:59:00+08:00")}).start()
    ingest(d, DEPT_A, 5, "a")
    wait_for(lambda: daily(db, DEPT_A), 10, "the day's head published")
    [(day, seq, head)] = daily(db, DEPT_A)
    assert (day, seq) == ("2026-03-02", 5)
    assert head == chain(db, DEPT_A)[4][3]
    wait_for(lambda: "event chain head 2026-03-02: dept %s seq 5 hash %s" % (DEPT_A, head)
             in d.log_text(), 10, "the head in the log")
    ingest(d, DEPT_A, 3, "c")
    d.stop()
    assert daily(db, DEPT_A) == [("2026-03-02", 5, head)]      # once a day
    # The next Shanghai day (by the business clock) gets its own row.
    d2 = daemon_factory(testing={"clock_offset_s": offset_to("2026-03-03T00:01:00+08:00")}).start()
    wait_for(lambda: len(daily(db, DEPT_A)) == 2, 10, "the next day's head")
    assert daily(db, DEPT_A)[1][:2] == ("2026-03-03", 8)
    d2.stop()
    assert verify(db).returncode == 0
    # An owner alters a row and rebuilds the chain from there: every link is consistent
    # again, but the published head of 2026-03-02 no longer matches seq 5.
    tamper(db, "UPDATE events SET body = body || '{\"x\": 1}' WHERE event_id = 'a-1'")
    assert "content altered" in broken_line(verify(db))
    tamper(db, REBUILD)
    line = broken_line(verify(db))
    assert line == ("%s: broken at seq 5, event a-4 (row %d): daily head mismatch: the head"
                    " published for 2026-03-02 was %s at seq 5" % (DEPT_A, row_id(db, "a-4"),
                                                                   head))


def test_two_departments_concurrently(db, certs, testdir, request):
    """Two daemons (two writer connections) each ingest for both departments at once: the
    transactions interleave, both chains come out whole and no transaction deadlocks."""
    daemons = []
    for name in ("x", "y"):
        sub = testdir / name
        sub.mkdir(mode=0o755)
        chown_daemon(sub)
        daemons.append(Daemon(db, certs, sub))
    for d in daemons:
        d.start()
    errors = []

    def feed(d, dept, tag):
        try:
            for k in range(15):
                ingest(d, dept, 4, "%s-%d" % (tag, k))
        except AssertionError as e:
            errors.append(e)
    threads = [threading.Thread(target=feed, args=(d, dept, "%s%d" % (dept[-2:], i)))
               for i, d in enumerate(daemons) for dept in (DEPT_A, "LY-ZRZYJ")]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        finish_daemons(daemons, request)
    assert not errors, errors
    for d in daemons:
        assert "deadlock" not in d.log_text()
    r = verify(db)
    assert r.returncode == 0, r.stdout
    assert "%s: intact: 120 events" % DEPT_A in r.stdout
    assert "LY-ZRZYJ: intact: 120 events" in r.stdout
    assert [row[0] for row in chain(db, "LY-ZRZYJ")] == list(range(1, 121))


def test_writer_cannot_forge(esupd, db):
    ingest(esupd, DEPT_A, 3, "a")
    refused = [
        "UPDATE events SET hash = sha256('x') WHERE event_id = 'a-1'",
        "UPDATE event_chain_heads SET seq = 0",
        "INSERT INTO event_chain_heads VALUES ('X', 1, sha256('x'))",
        "INSERT INTO event_chain_daily (day, dept, seq, hash) VALUES ('2026-01-01', 'X', 1,"
        " sha256('x'))",
        "DELETE FROM event_chain_daily",
        "ALTER TABLE events DISABLE TRIGGER events_chain",
        "SET session_replication_role = replica",
    ]
    for sql in refused:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.query(sql, user="esupd")
    # Whatever chain values an INSERT names, the trigger sets the real ones.
    db.query("INSERT INTO events (received_at, dept, event_id, type, at, principal, body,"
             " chain_seq, prev_hash, hash) VALUES (now(), %s, 'w-1', 'approval.accepted', now(),"
             " 'p', '{}', 1, sha256('x'), sha256('y'))", (DEPT_A,), user="esupd")
    assert chain(db, DEPT_A)[3][:2] == (4, "w-1")
    assert chain(db, DEPT_A)[3][2] == chain(db, DEPT_A)[2][3]
    assert verify(db).returncode == 0
    # A temporary table of the writer's named like the heads cannot stand in for them.
    with psycopg.connect(db.conninfo("esupd"), autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE event_chain_heads (dept text, seq bigint, hash bytea)")
        conn.execute("INSERT INTO event_chain_heads VALUES (%s, 100, sha256('x'))", (DEPT_A,))
        conn.execute("SET search_path = pg_temp, public")
        conn.execute("INSERT INTO events (received_at, dept, event_id, type, at, principal,"
                     " body) VALUES (now(), %s, 'w-2', 'approval.accepted', now(), 'p', '{}')",
                     (DEPT_A,))
    assert chain(db, DEPT_A)[4][:2] == (5, "w-2")
    assert verify(db).returncode == 0
    # esup_chain_publish writes only the real heads.
    db.query("SELECT * FROM esup_chain_publish(now())", user="esupd")


def test_finds_the_database_like_psql(db):
    r = verify(db)                      # PGHOST, PGPORT, PGDATABASE, PGUSER
    assert r.returncode == 0 and r.stdout == "no events\n", (r.stdout, r.stderr)
    r = verify(db, env_conn=False, conninfo=db.conninfo("postgres"))
    assert r.returncode == 0 and r.stdout == "no events\n", (r.stdout, r.stderr)
    r = verify(db, env_conn=False, conninfo="host=/nonexistent dbname=x")
    assert r.returncode == 2 and "esupctl verify:" in r.stderr, (r.stdout, r.stderr)
    assert verify(db, "--bogus").returncode == 2
    assert verify(db, "extra").returncode == 2
    r = verify(db, "--help")
    assert r.returncode == 0 and "PGHOST" in r.stdout


def test_sql_hash_matches_the_c_vector(db):
    """The trigger's hash (SQL) and esupctl's (C, tests/unit/test_chain_hash.c) on one vector."""
    got = db.scalar(
        "SELECT encode(esup_event_chain_hash(decode(repeat('00', 32), 'hex'), 42, 'LY-SCJGJ',"
        " 'sj-1', to_timestamp(1772414100), 'approval.accepted', to_timestamp(1772414100), NULL,"
        " 'SCJG-001', repeat('ab', 32), '{\"名\": \"洛阳\", \"a\": 1}'::jsonb), 'hex')")
    assert got == "28fcd844a780a47de8e4cc6e8fae7dd278630da0e692ceb8a7e82f15ca7e31cf"


def test_migration_chains_existing_rows(pg):
    """Migration 012 on a database that already holds events (applied by hand after 001-011):
    each department's rows are chained in received order, and verify finds them intact."""
    name = "esup_chain_mig"
    dbsetup(pg, "init", dbname=name)
    schema = sorted((REPO / "schema").glob("0*.sql"))
    chain = [p.name for p in schema].index("012_event_chain.sql")
    with psycopg.connect(pg.conninfo(name, "esup_admin"), autocommit=True) as conn:
        def apply(path):
            with conn.transaction():
                conn.execute("SET LOCAL ROLE esup_owner")
                conn.execute(path.read_text())
        with conn.transaction():     # as esupd --migrate does first
            conn.execute("SET LOCAL ROLE esup_owner")
            conn.execute("CREATE TABLE schema_migrations (version int PRIMARY KEY,"
                         " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
        for path in schema[:chain]:
            apply(path)
        with conn.transaction():
            conn.execute("SET LOCAL ROLE esup_owner")
            # Ids out of received order on purpose; two departments interleaved.
            for seq, minute, dept in [(5, 1, "A"), (1, 2, "B"), (4, 3, "A"), (2, 4, "A"),
                                      (3, 5, "B")]:
                conn.execute(
                    "INSERT INTO events (seq, received_at, dept, event_id, type, at, principal,"
                    " body) OVERRIDING SYSTEM VALUE VALUES (%s, '2026-03-02 09:00+08'::timestamptz"
                    " + make_interval(mins => %s), %s, %s, 'approval.accepted', now(), 'p',"
                    " '{\"k\": 1}')", (seq, minute, dept, "e%d" % seq))
        for path in schema[chain:]:
            apply(path)
    db = Database(pg, name)
    assert db.query("SELECT dept, chain_seq, event_id FROM events ORDER BY dept, chain_seq") == [
        ("A", 1, "e5"), ("A", 2, "e4"), ("A", 3, "e2"), ("B", 1, "e1"), ("B", 2, "e3")]
    r = verify(db)
    assert r.returncode == 0, r.stdout
    assert r.stdout == "A: intact: 3 events\nB: intact: 2 events\n"
