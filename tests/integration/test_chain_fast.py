"""The event hash chain computed the fast way (migration 018): the running head of a department
travels in a transaction-local setting, and after each statement the rows are checked to
continue their head link by link. The links must be those of 012 (same encoding, esupctl verify
intact), across statements, savepoints and departments interleaved in one statement; a forged
setting must fail the statement; a department's transactions still chain one after the other
while another department's do not wait. SQL only, one database for the module."""

import hashlib
import re
import subprocess

import psycopg
import pytest

import conftest
from conftest import REPO, dbsetup
from test_event_chain import verify

A, B = "LY-SCJGJ", "LY-ZRZYJ"
ROW = ("INSERT INTO events (received_at, dept, event_id, type, at, case_no, item, principal,"
       " body) VALUES (now(), %s, %s, 'approval.step', now() - interval '1 hour', %s, NULL,"
       " 'p', %s)")


@pytest.fixture(scope="module")
def cdb(pg, certs, workdir):
    name = "esup_chain_fast"
    dbsetup(pg, "init", dbname=name)
    db = conftest.Database(pg, name)
    where = workdir / name
    where.mkdir(mode=0o755)
    conftest.chown_daemon(where)
    conf = where / "migrate.conf"
    conftest.write_config(conf, conftest.default_config(db, certs, where, conftest.free_port()))
    proc = subprocess.run([str(conftest.ESUPD), "-c", str(conf), "--migrate"],
                          capture_output=True, text=True, timeout=120,
                          env=conftest.sanitizer_env(), cwd=where, **conftest.as_daemon_user())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return db


def writer(db):
    return psycopg.connect(db.conninfo("esupd"))


def links(db, dept):
    return db.query("SELECT chain_seq, event_id FROM events WHERE dept = %s ORDER BY chain_seq",
                    (dept,))


def head(db, dept):
    rows = db.query("SELECT seq, encode(hash, 'hex') FROM event_chain_heads WHERE dept = %s",
                    (dept,))
    return rows[0] if rows else (0, "0" * 64)


def setting(dept):
    return "esup.chain_" + hashlib.md5(dept.encode()).hexdigest()


def test_hash_is_012s(cdb):
    """018's esup_event_chain_hash against 012's, recreated from its migration file, on rows
    with NULLs, empty strings, multibyte text, old and negative times, large ids."""
    src = (REPO / "schema" / "012_event_chain.sql").read_text()
    body = re.search(r"CREATE FUNCTION esup_event_chain_hash\(.*?\n\$\$;", src, re.S).group(0)
    body = body.replace("CREATE FUNCTION esup_event_chain_hash",
                        "CREATE FUNCTION pg_temp.hash012")
    args = "p, s, d, i, r, t, a, c, m, w, b"
    with psycopg.connect(cdb.conninfo("postgres"), autocommit=True) as conn:
        conn.execute(body)
        rows = conn.execute(
            "WITH v (p, s, d, i, r, t, a, c, m, w, b) AS (VALUES"
            " (decode(repeat('00', 32), 'hex'), 1::bigint, 'LY-SCJGJ', 'e1',"
            "  '2026-03-02 09:00:00.123456+08'::timestamptz, 'approval.step',"
            "  '2026-03-02 08:00+08'::timestamptz, 'C-1', 'SCJG-001', 'p', '{}'::jsonb),"
            " (sha256('x'), 9223372036854775807, '洛阳市', '事件-１', '1969-12-31 23:59:59.5+00',"
            "  '', '1900-01-01 00:00+00', NULL, NULL, '', '{\"名\": \"洛阳\", \"a\": [1, null]}'),"
            " (sha256('y'), 0, NULL, NULL, NULL, NULL, NULL, '', '', NULL, NULL),"
            " (sha256('z'), -5, 'a,b:c', '~', '2100-01-01+00', 't', '2000-01-01+00', ',', ':',"
            "  repeat('é', 300), jsonb_build_object('k', repeat('中', 5000))))"
            " SELECT encode(pg_temp.hash012(%s), 'hex'), encode(esup_event_chain_hash(%s), 'hex')"
            " FROM v" % (args, args)).fetchall()
    assert len(rows) == 4
    for old, new in rows:
        assert old == new


def test_statements_savepoints_and_interleaving(cdb):
    """One transaction of the writer: two statements, departments interleaved within one,
    a savepoint rolled back between them; the chains continue without gap or fork."""
    with writer(cdb) as conn:
        conn.execute(ROW, (A, "s1-a1", "c", "{}"))
        with conn.cursor() as cur:
            cur.executemany(ROW, [(A, "s1-a2", "c", "{}"), (B, "s1-b1", "c", "{}")])
        conn.execute("INSERT INTO events (received_at, dept, event_id, type, at, principal, body)"
                     " SELECT now(), d, i, 'approval.step', now(), 'p', '{}'"
                     " FROM (VALUES (1, %s, 's2-a3'), (2, %s, 's2-b2'), (3, %s, 's2-a4'),"
                     " (4, %s, 's2-b3')) v (o, d, i) ORDER BY o", (A, B, A, B))
        conn.execute("SAVEPOINT x")
        conn.execute(ROW, (A, "gone-1", "c", "{}"))
        conn.execute(ROW, (A, "gone-2", "c", "{}"))
        conn.execute("ROLLBACK TO SAVEPOINT x")
        conn.execute(ROW, (A, "s3-a5", "c", "{}"))
        conn.commit()
    with writer(cdb) as conn:      # the next transaction starts from the heads
        conn.execute(ROW, (B, "t2-b4", "c", "{}"))
        conn.commit()
    assert links(cdb, A) == [(1, "s1-a1"), (2, "s1-a2"), (3, "s2-a3"), (4, "s2-a4"),
                             (5, "s3-a5")]
    assert links(cdb, B) == [(1, "s1-b1"), (2, "s2-b2"), (3, "s2-b3"), (4, "t2-b4")]
    assert head(cdb, A)[0] == 5 and head(cdb, B)[0] == 4
    r = verify(cdb)
    assert r.returncode == 0, r.stdout
    assert "%s: intact: 5 events" % A in r.stdout and "%s: intact: 4 events" % B in r.stdout


def test_forged_setting_fails_the_statement(cdb):
    """The writer may set any setting; one that does not name the department's real head
    makes the statement fail, and nothing of it is stored."""
    conn0 = writer(cdb)
    conn0.execute(ROW, (A, "f-0", "c", "{}"))
    conn0.commit()
    conn0.close()
    seq, hexhash = head(cdb, A)
    before = links(cdb, A)
    forged = ["%d:%s" % (seq, "ab" * 32),            # the head's number, another hash
              "%d:%s" % (seq + 1, hexhash),            # a number ahead of the head
              "%d:%s" % (seq - 1, hexhash),            # a number behind it
              "%d:%s" % (seq + 5, "00" * 32)]
    for value in forged:
        with writer(cdb) as conn:
            conn.execute("SELECT set_config(%s, %s, false)", (setting(A), value))
            with pytest.raises(psycopg.errors.IntegrityConstraintViolation,
                               match="does not continue its head"):
                conn.execute(ROW, (A, "forged", "c", "{}"))
    assert links(cdb, A) == before
    # The real head in the setting (nothing forged): chained as usual.
    with writer(cdb) as conn:
        conn.execute("SELECT set_config(%s, %s, false)", (setting(A), "%d:%s" % (seq, hexhash)))
        conn.execute(ROW, (A, "f-1", "c", "{}"))
        conn.commit()
    assert links(cdb, A)[-1] == (seq + 1, "f-1")
    assert verify(cdb, "--dept", A).returncode == 0


def test_department_transactions_chain_in_turn(cdb):
    """While a transaction of A that inserted is open, another of A waits for it (its lock
    times out here) and one of B does not; after the first commits the second proceeds."""
    t1 = writer(cdb)
    t1.execute(ROW, (A, "x-1", "c", "{}"))
    try:
        with writer(cdb) as t2:
            t2.execute("SET lock_timeout = '200ms'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                t2.execute(ROW, (A, "x-2", "c", "{}"))
        with writer(cdb) as t3:
            t3.execute("SET lock_timeout = '200ms'")
            t3.execute(ROW, (B, "y-1", "c", "{}"))
            t3.commit()
        t1.commit()
    finally:
        t1.close()
    with writer(cdb) as t2:
        t2.execute(ROW, (A, "x-2", "c", "{}"))
        t2.commit()
    assert [r[1] for r in links(cdb, A)[-2:]] == ["x-1", "x-2"]
    r = verify(cdb)
    assert r.returncode == 0, r.stdout
