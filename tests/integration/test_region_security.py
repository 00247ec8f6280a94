"""Row-level security for people who log in to the database (schema/011, docs/reliability.md
"Database privileges"): `esup-dbsetup person add` makes their login roles; each then reads, in
events, event_ids, cases, alerts, alert_actions, silences and the esup_alerts view, only the rows
of its department or region, and acts on alerts with esup_alert_act under the rules the daemon
applies to certificates. The daemon's own role sees everything, as before.

Person roles are cluster-wide: each test's are named after its database and removed at the end
(test_privileges counts the cluster's login roles).
"""

import subprocess

import psycopg
import pytest
from psycopg import errors

from conftest import DBSETUP, dbsetup
from test_alert_states import (COUNTY_DEPT, REGIONS, T1, condition, craft, evaluate,
                               migrated_database, store_event)

TABLES = ("events", "event_ids", "cases", "alerts", "alert_actions", "silences", "esup_alerts")
# suffix -> (role, region, dept)
PEOPLE = {"city": ("supervisor", "410300", None), "county": ("supervisor", "410302", None),
          "zz": ("supervisor", "410100", None), "prov": ("auditor", "410000", None),
          "all": ("auditor", None, None), "scjgj": ("department", None, "LY-SCJGJ")}


def counts(db, role):
    with psycopg.connect(db.conninfo(role), autocommit=True) as conn:
        return {t: conn.execute("SELECT count(*) FROM %s" % t).fetchone()[0] for t in TABLES}


def depts_seen(db, role, table):
    with psycopg.connect(db.conninfo(role), autocommit=True) as conn:
        return sorted(r[0] for r in conn.execute("SELECT DISTINCT dept FROM %s" % table))


@pytest.fixture(scope="module")
def rdb(pg, certs, workdir):
    """Three departments (two of the city, one of a county), a case with an alert and actions in
    each, two silences, and the people of PEOPLE, made by esup-dbsetup."""
    db = migrated_database(pg, certs, workdir, "rls")
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO regions (code, name, level, parent) VALUES (%s, %s, %s, %s)",
                            REGIONS)
            cur.execute("INSERT INTO departments (code, name, region) VALUES (%s, '老城区市场监管局', '410302')",
                        (COUNTY_DEPT,))
    db.alerts = {}
    for dept in ("LY-SCJGJ", "LY-ZJJ", COUNTY_DEPT):
        case = dept + "-RLS-1"
        store_event(db, case, case + "-e1", dept=dept)
        rows = evaluate(db, case, [condition("APR-DEADLINE-YELLOW", "yellow", case, dept=dept)],
                        dept=dept)
        db.alerts[dept] = rows[0][0]
    fp = {name: certs.fingerprints[name] for name in ("supervisor",)}
    with psycopg.connect(db.conninfo("esupd"), autocommit=True) as conn:
        for region in ("410300", "410302"):
            conn.execute("SELECT esup_silence_add_as(%s, NULL, NULL, NULL, %s, %s, %s, '停机')",
                         (fp["supervisor"], region, T1, "2026-03-06T12:00:00+08:00"))
    db.person = {}
    base = db.name.replace("esup_", "p")
    for suffix, (role, region, dept) in PEOPLE.items():
        name = "%s_%s" % (base, suffix)
        args = ["person", "add", name, "--role", role]
        args += ["--region", region] if region else []
        args += ["--dept", dept] if dept else []
        dbsetup(pg, *args, dbname=db.name)
        db.person[suffix] = name
    yield db
    for name in db.person.values():
        dbsetup(pg, "person", "remove", name, dbname=db.name)
    assert not db.query("SELECT rolname FROM pg_roles WHERE rolname = ANY (%s)",
                        (list(db.person.values()),))


def test_a_supervisor_of_another_region_sees_nothing(rdb):
    everything = counts(rdb, "postgres")
    assert all(n > 0 for n in everything.values()), everything
    assert counts(rdb, rdb.person["zz"]) == {t: 0 for t in TABLES}
    # The daemon's role is unaffected.
    assert counts(rdb, "esupd") == everything


def test_each_person_sees_its_scope(rdb):
    city = ["LY-LCQ-SCJGJ", "LY-SCJGJ", "LY-ZJJ"]
    want = {"city": city, "prov": city, "all": city, "county": [COUNTY_DEPT], "scjgj": ["LY-SCJGJ"],
            "zz": []}
    for suffix, depts in want.items():
        for table in ("events", "event_ids", "cases", "alerts", "esup_alerts"):
            assert depts_seen(rdb, rdb.person[suffix], table) == depts, (suffix, table)
        with psycopg.connect(rdb.conninfo(rdb.person[suffix]), autocommit=True) as conn:
            actions = conn.execute("SELECT DISTINCT a.dept FROM alert_actions x"
                                   " JOIN alerts a ON a.id = x.alert_id ORDER BY 1").fetchall()
            assert [r[0] for r in actions] == depts, suffix
            assert conn.execute("SELECT count(*) FROM alert_actions").fetchone()[0] == rdb.scalar(
                "SELECT count(*) FROM alert_actions x JOIN alerts a ON a.id = x.alert_id"
                " WHERE a.dept = ANY (%s)", (depts,))
            silences = [r[0] for r in conn.execute("SELECT region FROM silences ORDER BY 1")]
            assert silences == {"city": ["410300", "410302"], "prov": ["410300", "410302"],
                                "all": ["410300", "410302"], "county": ["410302"],
                                "scjgj": [], "zz": []}[suffix], suffix
            # Its own people row, nobody else's.
            assert [r[0] for r in conn.execute("SELECT rolname FROM people")] == [rdb.person[suffix]]


def test_partitions_and_groups_without_a_person_row(rdb):
    partitions = [r[0] for r in rdb.query("SELECT inhrelid::regclass::text FROM pg_inherits"
                                          " WHERE inhparent = 'events'::regclass")]
    assert "events_default" in partitions and len(partitions) >= 2
    with psycopg.connect(rdb.conninfo(rdb.person["city"]), autocommit=True) as conn:
        for part in partitions:
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute("SELECT count(*) FROM %s" % part)
        # Setting role to the group keeps the person's own scope (session_user).
        conn.execute("SET ROLE esup_supervisor")
        assert conn.execute("SELECT count(*) FROM alerts").fetchone()[0] == 3
    # A hand-made member of the group, with no people row, sees nothing.
    name = rdb.name.replace("esup_", "p") + "_bare"
    rdb.query("CREATE ROLE %s LOGIN IN ROLE esup_auditor" % name)
    try:
        assert counts(rdb, name) == {t: 0 for t in TABLES}
    finally:
        rdb.query("DROP ROLE %s" % name)


def act(db, who, alert, action, note="说明"):
    with psycopg.connect(db.conninfo(who), autocommit=True) as conn:
        return conn.execute("SELECT * FROM esup_alert_act(%s, %s, %s)",
                            (alert, action, note)).fetchone()


def test_people_act_in_psql_under_the_same_rules(rdb):
    mine, other, county = (rdb.alerts[d] for d in ("LY-SCJGJ", "LY-ZJJ", COUNTY_DEPT))
    p = rdb.person
    assert act(rdb, p["scjgj"], other, "ack") == ("not_found", None, None)
    assert act(rdb, p["scjgj"], mine, "resolve")[:2] == ("forbidden", "open")
    assert act(rdb, p["scjgj"], mine, "ack", "  ")[:2] == ("bad_request", "open")
    assert act(rdb, p["scjgj"], mine, "ack", "已整改")[:2] == ("done", "acknowledged")
    assert act(rdb, p["prov"], mine, "resolve") == ("forbidden", None, None)
    assert act(rdb, p["zz"], mine, "resolve")[:2] == ("not_found", None)
    assert act(rdb, p["county"], mine, "resolve")[:2] == ("not_found", None)
    assert act(rdb, p["county"], county, "escalate", "逾期")[:2] == ("done", "open")
    assert act(rdb, p["city"], mine, "resolve", "整改到位")[:2] == ("done", "resolved")
    assert rdb.query("SELECT action, actor, actor_role FROM alert_actions WHERE alert_id = %s"
                     " ORDER BY id", (mine,)) == [
        ("raise", "esupd", "system"), ("ack", p["scjgj"], "department"),
        ("resolve", p["city"], "supervisor")]
    # The escalated county alert: the city's supervisor saw it already (by prefix); the escalation
    # is recorded for the city.
    assert rdb.query("SELECT escalation_level, escalated_to FROM alerts WHERE id = %s", (county,)) \
        == [(1, "410300")]
    with psycopg.connect(rdb.conninfo(p["city"]), autocommit=True) as conn:
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("UPDATE alerts SET status = 'dismissed' WHERE id = %s", (other,))
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM esup_alert_act_as('00', %s, 'resolve', 'x', now())", (other,))


def test_person_add_refuses_and_updates(rdb, pg, tmp_path):
    def run(*args):
        return subprocess.run([str(DBSETUP), "-h", str(pg.dir), "-p", str(pg.port), "-d", rdb.name,
                               "person", *args], capture_output=True, text=True, timeout=60)
    for args in (["add", "esupd", "--role", "auditor"], ["add", "pg_x", "--role", "auditor"],
                 ["add", "Bad-Name", "--role", "auditor"], ["add", "px", "--role", "owner"],
                 ["add", "px", "--role", "department"],
                 ["add", "px", "--role", "supervisor", "--dept", "LY-SCJGJ"],
                 ["add", "px", "--role", "supervisor", "--region", "4103"]):
        proc = run(*args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
    assert not rdb.query("SELECT 1 FROM pg_roles WHERE rolname IN ('px', 'pg_x')")
    # Rerun: a supervisor becomes an auditor of another region, and changes group.
    name = rdb.person["zz"]
    dbsetup(pg, "person", "add", name, "--role", "auditor", "--region", "410300", dbname=rdb.name)
    try:
        assert rdb.query("SELECT role, region FROM people WHERE rolname = %s", (name,)) == \
            [("auditor", "410300")]
        assert rdb.query("SELECT pg_has_role(%s, 'esup_auditor', 'MEMBER'),"
                         " pg_has_role(%s, 'esup_supervisor', 'MEMBER')", (name, name)) == \
            [(True, False)]
        assert counts(rdb, name)["alerts"] == 3
    finally:
        dbsetup(pg, "person", "add", name, "--role", "supervisor", "--region", "410100",
                dbname=rdb.name)
    assert counts(rdb, name)["alerts"] == 0
    # Peer authentication: the OS user is mapped to the role in local-auth's pg_ident.conf.
    ident = tmp_path / "pg_ident.conf"
    ident.write_text("esup       postgres  postgres\n")
    extra = "%s_peer" % rdb.name.replace("esup_", "p")
    dbsetup(pg, "person", "add", extra, "--role", "auditor", "--datadir", tmp_path,
            "--os-user", "wang", dbname=rdb.name)
    assert ident.read_text().splitlines()[-1].split() == ["esup", "wang", extra]
    dbsetup(pg, "person", "remove", extra, "--datadir", tmp_path, dbname=rdb.name)
    assert ident.read_text() == "esup       postgres  postgres\n"
    assert not rdb.query("SELECT 1 FROM pg_roles WHERE rolname = %s", (extra,))
    assert not rdb.query("SELECT 1 FROM people WHERE rolname = %s", (extra,))


def test_department_staff_see_an_alert_once_issued(rdb):
    """A department's staff do not see their alert while it is held (待发), cancelled (never
    issued) or suppressed, nor its action rows, nor can they act on it (not_found, as for
    another department's); once confirmed it is theirs. Supervisors and auditors see every
    state. Last in the module: it adds alerts the counts above do not expect."""
    p = rdb.person
    hidden = {state: craft(rdb, state) for state in ("held", "cancelled", "suppressed")}
    confirmed = craft(rdb, "held")
    ids = list(hidden.values()) + [confirmed]

    def seen(who, table="alerts", column="id"):
        with psycopg.connect(rdb.conninfo(who), autocommit=True) as conn:
            return sorted(r[0] for r in conn.execute(
                "SELECT DISTINCT %s FROM %s WHERE %s = ANY (%%s)"
                % (column, table, column), (ids,)))

    for who in ("city", "prov", "all"):
        assert seen(p[who]) == sorted(ids), who
    for table in ("alerts", "esup_alerts"):
        assert seen(p["scjgj"], table) == [], table
    assert seen(p["scjgj"], "alert_actions", "alert_id") == []
    for alert in hidden.values():
        assert act(rdb, p["scjgj"], alert, "ack", "已整改") == ("not_found", None, None)
    assert act(rdb, p["scjgj"], confirmed, "appeal", "申诉") == ("not_found", None, None)

    assert act(rdb, p["city"], confirmed, "confirm", "核实, 下发")[:2] == ("done", "open")
    assert seen(p["scjgj"]) == seen(p["scjgj"], "esup_alerts") == [confirmed]
    with psycopg.connect(rdb.conninfo(p["scjgj"]), autocommit=True) as conn:
        assert conn.execute("SELECT action, from_state, to_state FROM alert_actions"
                            " WHERE alert_id = %s ORDER BY id", (confirmed,)).fetchall() == [
            ("raise", None, "held"), ("confirm", "held", "open")]
    assert act(rdb, p["scjgj"], confirmed, "ack", "已整改")[:2] == ("done", "acknowledged")
