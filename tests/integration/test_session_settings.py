"""esupd's own database sessions run without PostgreSQL's JIT (issue 12).

esupd's statements are short and each runs once per batch; compiling one with LLVM costs more
than running it. The one-case evaluation statement (jsonb_array_elements x a set-returning
PL/pgSQL call, estimated at 1,000 rows a call) was estimated above jit_above_cost, and 13 ms of a
one-event request's 22 ms went to compiling it. Nothing here is timed: the role's sessions are
given a JIT threshold of zero, so that any statement would be compiled with JIT on, and
auto_explain logs the plan of every statement they run; no plan of esupd's may carry a JIT
section (but the one of the statement that turns it off, planned while it is still on).
"""

import contextlib
import re

import psycopg
import pytest

import bench_fill
import bench_sweeper

from conftest import event, ndjson, statuses, wait_for

AUTO_EXPLAIN = (
    "session_preload_libraries = 'auto_explain'",
    "auto_explain.log_min_duration = 0",
    "auto_explain.log_format = text",
)


@contextlib.contextmanager
def role_settings(db, *settings):
    """settings for esupd's sessions begun inside (ALTER ROLE ... IN DATABASE)."""
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as conn:
        for setting in settings:
            conn.execute("ALTER ROLE esupd IN DATABASE %s SET %s" % (db.name, setting))
    try:
        yield
    finally:
        with psycopg.connect(db.conninfo("postgres"), autocommit=True) as conn:
            conn.execute("ALTER ROLE esupd IN DATABASE %s RESET ALL" % db.name)


@pytest.fixture
def explained_db(db):
    if not db.scalar("SELECT pg_jit_available()"):
        pytest.skip("this PostgreSQL has no JIT provider (postgresql-15's llvmjit)")
    with role_settings(db, *AUTO_EXPLAIN, "jit_above_cost = 0"):
        yield db


def test_esupds_statements_are_not_jit_compiled(explained_db, daemon_factory, pg):
    # The role's settings are in force for a new session of esupd's: a session that had JIT on
    # would compile this one with the zero threshold.
    with psycopg.connect(explained_db.conninfo("esupd")) as conn:
        assert conn.execute("SHOW jit_above_cost").fetchone()[0] == "0"
        assert conn.execute("SHOW jit").fetchone()[0] == "on"
    mark = pg.log.stat().st_size
    d = daemon_factory().start()
    ev = event()
    with d.client("dept-LY-SCJGJ") as c:
        r = c.request("POST", "/v1/events", ndjson([ev]), "application/x-ndjson")
        assert r.status == 200, r.body
        assert statuses(r.json()) == ["accepted"]

    def logged():
        with open(pg.log, errors="replace") as f:
            f.seek(mark)
            return f.read()
    # The statement that applies the case's evaluation names esup_apply_evaluation; its plan is
    # logged once it has run, which it has before the answer above.
    wait_for(lambda: "esup_apply_evaluation" in logged(), 30,
             "auto_explain to log the evaluation statement of esupd's session")
    d.stop()
    plans = logged().split("LOG:  duration:")[1:]
    # The statement that turns JIT off is planned while it is still on.
    plans = [p for p in plans if "set_config('jit', 'off'" not in p]
    assert len(plans) > 5 and any("esup_apply_evaluation" in p for p in plans), plans
    assert [p for p in plans if "JIT:" in p] == []


def statement_log(pg, mark):
    with open(pg.log, errors="replace") as f:
        f.seek(mark)
        return f.read()


def post_one(d):
    with d.client("dept-LY-SCJGJ") as c:
        r = c.request("POST", "/v1/events", ndjson([event()]), "application/x-ndjson")
    return r


@pytest.fixture
def logged_db(db):
    with role_settings(db, "log_min_duration_statement = 0"):
        yield db


def test_the_writers_statements_are_prepared_once_per_session(logged_db, daemon_factory, pg):
    # With every statement logged, a Parse of a named statement is "parse NAME:", its runs
    # "execute NAME:"; an unnamed statement is parsed with every run ("<unnamed>"). Only the
    # writer's lines count (by its backend's pid): the sweeper runs the same statements on its
    # own session when a case falls due. One writer connection: with more, a request finds
    # another idle while the first runs the partition upkeep.
    def writer_pid():
        return logged_db.scalar("SELECT pid FROM pg_stat_activity WHERE datname ="
                                " current_database() AND application_name = 'esupd writer'")

    def writer_log(pid):
        tag = "[%d] LOG:" % pid
        return "\n".join(line for line in statement_log(pg, mark).splitlines() if tag in line)

    mark = pg.log.stat().st_size
    d = daemon_factory(ingest={"writers": 1}).start()
    pid = writer_pid()
    for _ in range(3):
        r = post_one(d)
        assert r.status == 200 and statuses(r.json()) == ["accepted"], r.body
    text = writer_log(pid)
    for name in ("ingest_insert", "cases_load", "cases_apply"):
        assert text.count("parse %s:" % name) == 1, name
        assert text.count("execute %s:" % name) == 3, name
    # A new session of the writer prepares them again, once.
    lost = d.log_text().count("database writer: connection lost")
    logged_db.query("SELECT pg_terminate_backend(%s)", (pid,))
    wait_for(lambda: d.log_text().count("database writer: connected") == 2, 30,
             "the writer to reconnect")
    assert d.log_text().count("database writer: connection lost") == lost + 1
    pid = writer_pid()
    for _ in range(2):
        r = post_one(d)
        assert r.status == 200 and statuses(r.json()) == ["accepted"], r.body
    text = writer_log(pid)
    assert text.count("parse ingest_insert:") == 1
    assert text.count("execute ingest_insert:") == 2
    assert text.count("parse cases_apply:") == 1


def test_a_session_whose_prepared_statement_is_refused_as_unsupported_starts_afresh(
        db, daemon_factory):
    # A plan prepared before a migration changed a result type fails with SQLSTATE 0A000
    # ("cached plan must not change result type") at every run: esupd answers that request
    # unavailable and reconnects, and the resend runs in a new session. The refusal is
    # staged with a trigger raising that SQLSTATE. One writer connection, named "writer".
    d = daemon_factory(ingest={"writers": 1}).start()
    r = post_one(d)
    assert r.status == 200, r.body
    db.query("""
        CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'cached plan must not change result type'
              USING ERRCODE = 'feature_not_supported'; END $$;
        CREATE TRIGGER test_refuse BEFORE INSERT ON event_ids
            FOR EACH ROW EXECUTE FUNCTION test_refuse()""")
    connected = d.log_text().count("database writer: connected")
    r = post_one(d)
    assert r.status == 503, r.body
    wait_for(lambda: "prepared statement ingest_insert: cached plan must not change result"
             " type; reconnecting" in d.log_text(), 15, "esupd to drop the session")
    wait_for(lambda: d.log_text().count("database writer: connected") > connected, 30,
             "the writer to reconnect")
    db.query("DROP TRIGGER test_refuse ON event_ids")
    r = post_one(d)
    assert r.status == 200 and statuses(r.json()) == ["accepted"], r.body


def explained(db):
    """auto_explain for esupd's sessions begun inside: every plan, nested statements too."""
    return role_settings(db, *AUTO_EXPLAIN, "auto_explain.log_nested_statements = on")


def plans_of(pg, mark, pid):
    """The plans backend pid logged since mark."""
    chunks = re.split(r"\[(\d+)\] LOG:  duration:", statement_log(pg, mark))
    return [p for b, p in zip(chunks[1::2], chunks[2::2]) if int(b) == pid]


def test_a_few_cases_history_is_read_through_the_case_index(db, daemon_factory, pg):
    # The read of a batch's case histories joins events to the keys given as jsonb, which the
    # planner takes for 100 rows whatever their number: with a few thousand events stored it
    # hashed the keys and scanned the partitions (0.85 of a one-event transaction's 3.3 ms).
    # Told how many keys there are (a LIMIT of their number), it probes the case index for one.
    # The read is esup_case_events' (schema/027): one generic plan per session, which starts
    # only the partitions the cases' events_from leaves: a year of older partitions is there,
    # and a new case's read opens none of them. Nested statements are logged.
    bench_sweeper.populate(db, "OTHER-", 3000)
    db.query("UPDATE cases SET next_check_at = now() + interval '30 days'")   # not the sweeper's
    with bench_fill.owner(db) as conn:
        conn.execute(bench_fill.partitions_sql(
            "date_trunc('month', now() AT TIME ZONE 'UTC') - interval '13 months'", 13))
    older = db.scalar("SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                      " WHERE i.inhparent = 'events'::regclass AND c.relname ~ '^events_\\d{4}_\\d{2}$'"
                      " AND c.relname < 'events_' || to_char(now() AT TIME ZONE 'UTC', 'YYYY_MM')")
    assert older >= 12
    with explained(db):
        mark = pg.log.stat().st_size
        d = daemon_factory(ingest={"writers": 1}).start()
        writer = db.scalar("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                           " AND application_name = 'esupd writer'")
        r = post_one(d)
        assert r.status == 200 and statuses(r.json()) == ["accepted"], r.body
        wait_for(lambda: "FROM events x" in statement_log(pg, mark), 30, "the history read's plan")
        d.stop()
    # The writer's plans only: the sweeper re-derives the open cases when the rules are new.
    plans = [p for p in plans_of(pg, mark, writer)
             if "Query Text: SELECT e.seq, e.dept, e.case_no, e.body::text" in p]
    assert len(plans) == 1, plans
    # The partition that holds the events: probed by the case index, never scanned.
    full = db.scalar("SELECT tableoid::regclass::text FROM events WHERE event_id LIKE 'OTHER-%%'"
                     " LIMIT 1")
    assert "Seq Scan" not in plans[0], plans[0]
    assert re.search(r"Index (Only )?Scan using %s_dept_case_no_idx\S* on %s " % (full, full),
                     plans[0]), plans[0]
    # The months before the new case's first event are pruned before the plan starts.
    removed = re.search(r"Subplans Removed: (\d+)", plans[0])
    assert removed and int(removed.group(1)) >= older, plans[0]


def test_a_case_is_found_by_its_key_after_the_table_grew(db, daemon_factory, pg):
    # The bound of a batch's cases (esup_case_events, schema/027) was read by a PL/pgSQL
    # statement whose generic plan was made while cases held a few rows: it took the
    # (dept, item, closed_at) index for the (dept, case_no) key, and once the table grew it read
    # a department's cases for every key (a one-event request 2 ms slower at low load). Now
    # that read was planned at each call (0.2-0.3 ms of every transaction); since migration 031
    # it asks for each key the first row at or after it in (dept, case_no) order, which only
    # the key's index answers, and keeps its plan. Here the writer's plans are made on a few cases, then
    # 3,000 more arrive (not analyzed), and no plan of the next request looks a case up by
    # another index than its key's.
    with explained(db):
        d = daemon_factory(ingest={"writers": 1}).start()
        writer = db.scalar("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                           " AND application_name = 'esupd writer'")
        for _ in range(6):
            r = post_one(d)
            assert r.status == 200 and statuses(r.json()) == ["accepted"], r.body
        db.query("INSERT INTO cases (dept, case_no, item, next_check_at)"
                 " SELECT 'LY-SCJGJ', 'GROWN-' || g, 'SCJG-00' || (g % 3 + 1),"
                 "  now() + interval '30 days' FROM generate_series(1, 3000) g")
        mark = pg.log.stat().st_size
        r = post_one(d)
        assert r.status == 200 and statuses(r.json()) == ["accepted"], r.body
        wait_for(lambda: "FROM events x" in statement_log(pg, mark), 30, "the history read's plan")
        d.stop()
    plans = "\n".join(plans_of(pg, mark, writer))
    assert "(k.dept, k.case_no) >= (r.d, r.c)" in plans     # the bound's read was logged
    wrong = re.findall(r"Index (?:Only )?Scan using (cases_(?!pkey)\w+) on cases", plans)
    assert not wrong, plans
    assert "Seq Scan on cases" not in plans, plans
    assert re.search(r"Index (?:Only )?Scan using cases_pkey on cases k", plans), plans
