"""Least privilege in the database, tried as each role (docs/reliability.md, "Database privileges").

Every check connects as the role it is about and tries the forbidden thing: the login roles
the system uses (esupd, the daemon; esup_admin, migrations and reference data) can neither
become the superuser nor own or bypass anything, and the daemon changes alerts only through
esup_apply_evaluation, which writes an action row for every change and refuses what the stored
events do not bear out. The last test builds a cluster with the quickstart's authentication
(esup-dbsetup local-auth) and logs in as the daemon's OS user.
"""

import json
import re
import shutil
import subprocess

import psycopg
import pytest
from psycopg import errors

from conftest import DBSETUP, DAEMON_USER, REPO, PgCluster, dbsetup, wait_for

# Predefined roles that reach outside the database: programs and files as the postgres OS user.
SERVER_ROLES = ("pg_execute_server_program", "pg_read_server_files", "pg_write_server_files")
# What the system logs in as; anything else that can log in is a person's or the superuser's.
SYSTEM_LOGINS = ("esup_admin", "esupd")
T0 = "2026-03-02T09:00:00+08:00"


def connect(db, role):
    return psycopg.connect(db.conninfo(role), autocommit=True)


def refused(conn, sql, params=None, error=errors.InsufficientPrivilege):
    """Runs sql, which must fail with error; returns the message."""
    with pytest.raises(error) as caught:
        conn.execute(sql, params)
    return str(caught.value)


def login_roles(db):
    """Every role that can log in except the bootstrap superuser (oid 10)."""
    return [r[0] for r in db.query("SELECT rolname FROM pg_roles WHERE rolcanlogin AND oid <> 10"
                                   " ORDER BY rolname")]


def store_event(db, case, event_id, dept="LY-SCJGJ"):
    """Stores one event the way esupd's writer does, as esupd."""
    with connect(db, "esupd") as conn:
        conn.execute(
            "WITH s AS (SELECT nextval('events_seq') AS seq, now() AS r),"
            " i AS (INSERT INTO event_ids (dept, event_id, seq, received_at)"
            "       SELECT %(d)s, %(i)s, seq, r FROM s)"
            " INSERT INTO events (seq, received_at, dept, event_id, type, at, case_no, item,"
            "                     principal, body) OVERRIDING SYSTEM VALUE"
            " SELECT seq, r, %(d)s, %(i)s, 'approval.accepted', %(t)s, %(c)s, 'SCJG-001', 'test',"
            "        '{}' FROM s", {"d": dept, "i": event_id, "t": T0, "c": case})


def condition(rule, severity, case, evidence, supersedes=None, dept="LY-SCJGJ", key=None):
    return {"rule": rule, "severity": severity, "key": key or "%s|%s|%s" % (rule, dept, case),
            "supersedes": supersedes, "since": T0, "message": rule, "evidence": evidence}


def evaluation(case, conditions, dept="LY-SCJGJ"):
    return {"dept": dept, "case": case, "item": "SCJG-001", "status": "accepted",
            "unit": "working", "committed_days": 5, "statutory_days": 10, "counted_days": 1,
            "suspended_days": 0, "committed_day": "2026-03-09", "statutory_day": "2026-03-16",
            "level": None, "next_check": None, "conditions": conditions}


def apply(db, ev, at="2026-03-05T12:00:00+08:00", role="esupd"):
    with connect(db, role) as conn:
        return conn.execute("SELECT alert_id, action, rule FROM esup_apply_evaluation(%s, %s)",
                            (json.dumps(ev), at)).fetchall()


def raised_alert(db, case="LY-SCJGJ-PRIV-1"):
    store_event(db, case, case + "-e1")
    rows = apply(db, evaluation(case, [condition("APR-DEADLINE-NOTICE", "notice", case,
                                                 [case + "-e1"])]))
    assert [r[1] for r in rows] == ["raised"], rows
    return rows[0][0]


# ---------------------------------------------------------------- roles


def test_no_login_role_is_superuser_owner_or_bypassrls(db):
    assert login_roles(db) == sorted(SYSTEM_LOGINS)
    for role in SYSTEM_LOGINS:
        attrs = db.query("SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication,"
                         " rolbypassrls FROM pg_roles WHERE rolname = %s", (role,))
        assert attrs == [(False,) * 5], (role, "super, createrole, createdb, replication, bypassrls",
                                         attrs)
        owned = db.query(
            "SELECT 'table ' || relname FROM pg_class WHERE relowner = %(r)s::regrole"
            " UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE proowner = %(r)s::regrole"
            " UNION ALL SELECT 'schema ' || nspname FROM pg_namespace"
            "  WHERE nspowner = %(r)s::regrole"
            " UNION ALL SELECT 'database ' || datname FROM pg_database"
            "  WHERE datdba = %(r)s::regrole", {"r": role})
        assert owned == [], (role, owned)
        for server_role in SERVER_ROLES:
            assert not db.scalar("SELECT pg_has_role(%s, %s, 'MEMBER')", (role, server_role)), \
                (role, server_role)
    # The schema belongs to the NOLOGIN owner, which cannot create roles either.
    assert db.query("SELECT rolcanlogin, rolsuper, rolcreaterole, rolbypassrls FROM pg_roles"
                    " WHERE rolname = 'esup_owner'") == [(False, False, False, False)]
    foreign = db.query("SELECT relname, relowner::regrole::text FROM pg_class c"
                       " JOIN pg_namespace n ON n.oid = c.relnamespace"
                       " WHERE n.nspname = 'public' AND relowner <> 'esup_owner'::regrole")
    assert foreign == []
    assert db.scalar("SELECT datdba::regrole::text FROM pg_database WHERE datname = %s",
                     (db.name,)) == "esup_owner"
    assert not db.scalar("SELECT pg_has_role('esupd', 'esup_owner', 'MEMBER')")


def test_login_roles_cannot_reach_the_server_or_make_roles(db):
    """As each login role, and as every role it may SET ROLE to: no road to the superuser."""
    for login in login_roles(db):
        with connect(db, login) as conn:
            becomes = [r[0] for r in conn.execute(
                "SELECT rolname FROM pg_roles WHERE pg_has_role(session_user, oid, 'MEMBER')"
                " AND rolname NOT LIKE 'pg\\_%' ORDER BY rolname").fetchall()]
            for role in becomes:
                conn.execute("SET ROLE %s" % role)
                for server_role in SERVER_ROLES:
                    refused(conn, "GRANT %s TO %s" % (server_role, login))
                refused(conn, "COPY (SELECT 1) TO PROGRAM 'true'")
                refused(conn, "CREATE ROLE esup_intruder")
                refused(conn, "ALTER ROLE %s SUPERUSER" % login)
                refused(conn, "ALTER ROLE %s CREATEROLE BYPASSRLS" % login)
                refused(conn, "GRANT esup_owner TO %s" % login)
                conn.execute("RESET ROLE")


def test_login_roles_cannot_touch_the_append_only_tables(db):
    """Logged in, neither system role can switch off a trigger or drop what it writes to; only
    esup_admin can act as the owner, and only by saying SET ROLE (what migrations do)."""
    for login in login_roles(db):
        with connect(db, login) as conn:
            for table, trigger in (("events", "events_append_only"),
                                   ("event_ids", "event_ids_append_only"),
                                   ("alert_actions", "alert_actions_append_only")):
                refused(conn, "ALTER TABLE %s DISABLE TRIGGER %s" % (table, trigger))
                refused(conn, "ALTER TABLE %s DISABLE TRIGGER ALL" % table)
                refused(conn, "DROP TABLE %s" % table)
            refused(conn, "SET session_replication_role = replica")
    with connect(db, "esupd") as conn:
        refused(conn, "SET ROLE esup_owner")
        refused(conn, "SET ROLE esup_admin")


# ---------------------------------------------------------------- alerts


def test_daemon_cannot_change_alerts_but_through_the_function(db):
    alert = raised_alert(db)
    with connect(db, "esupd") as conn:
        refused(conn, "UPDATE alerts SET status = 'dismissed' WHERE id = %s", (alert,))
        refused(conn, "DELETE FROM alerts WHERE id = %s", (alert,))
        refused(conn, "INSERT INTO alerts (rule, severity, dept, dedup_key, message, since)"
                      " VALUES ('APR-DEADLINE-RED', 'red', 'LY-SCJGJ', 'forged', 'x', now())")
        refused(conn, "INSERT INTO alert_actions (alert_id, action, actor) VALUES (%s, 'dismiss',"
                      " 'supervisor')", (alert,))
        refused(conn, "TRUNCATE alerts, alert_actions")
        refused(conn, "UPDATE alert_actions SET note = 'x'")
        # Reading stays allowed: GET /v1/cases shows a case's alerts.
        assert conn.execute("SELECT status FROM alerts WHERE id = %s", (alert,)).fetchone() \
            == ("open",)
    assert db.scalar("SELECT status FROM alerts WHERE id = %s", (alert,)) == "open"


def test_every_change_the_function_makes_has_its_action_row(db):
    case = "LY-SCJGJ-PRIV-2"
    notice = raised_alert(db, case)
    store_event(db, case, case + "-e2")
    yellow = condition("APR-DEADLINE-YELLOW", "yellow", case, [case + "-e2"],
                       supersedes="APR-DEADLINE-NOTICE")
    rows = apply(db, evaluation(case, [yellow]), at="2026-03-10T12:00:00+08:00")
    assert [r[1] for r in rows] == ["raised"]
    yellow_id = rows[0][0]
    # The condition stops holding (a late event): resolved by the rules, with its row.
    rows = apply(db, evaluation(case, []), at="2026-03-11T12:00:00+08:00")
    assert rows == [(yellow_id, "resolved", "APR-DEADLINE-YELLOW")]

    actions = db.query("SELECT alert_id, action, actor, from_state, to_state,"
                       " to_char(at AT TIME ZONE 'Asia/Shanghai', 'MM-DD HH24'), note <> ''"
                       " FROM alert_actions ORDER BY id")
    assert actions == [
        (notice, "raise", "esupd", None, "open", "03-05 12", True),
        (yellow_id, "raise", "esupd", None, "open", "03-10 12", True),
        (notice, "supersede", "esupd", "open", "superseded", "03-10 12", True),
        (yellow_id, "resolve", "esupd", "open", "resolved", "03-11 12", True),
    ]
    # Each alert is in the state its last action says.
    assert db.query("SELECT a.id FROM alerts a WHERE a.status IS DISTINCT FROM"
                    " (SELECT x.to_state FROM alert_actions x WHERE x.alert_id = a.id"
                    "  ORDER BY x.id DESC LIMIT 1)") == []


def test_no_state_change_without_its_action_row(db):
    """Not even the owner (here the superuser, standing for any code running as the owner,
    such as issue 8's supervisor functions) changes an alert's state without saying so."""
    alert = raised_alert(db)
    with connect(db, "postgres") as conn:
        message = refused(conn, "UPDATE alerts SET status = 'dismissed' WHERE id = %s", (alert,))
        assert "without an alert_actions row" in message
        with conn.transaction():
            conn.execute("UPDATE alerts SET status = 'dismissed' WHERE id = %s", (alert,))
            conn.execute("INSERT INTO alert_actions (alert_id, action, actor, note, from_state,"
                         " to_state) VALUES (%s, 'dismiss', 'supervisor', 'false alarm', 'open',"
                         " 'dismissed')", (alert,))
        # An action row that says another state than the alert has is no record of it either.
        with pytest.raises(errors.InsufficientPrivilege):
            with conn.transaction():
                conn.execute("UPDATE alerts SET status = 'open' WHERE id = %s", (alert,))
                conn.execute("INSERT INTO alert_actions (alert_id, action, actor, to_state)"
                             " VALUES (%s, 'reopen', 'supervisor', 'acknowledged')", (alert,))
    assert db.scalar("SELECT status FROM alerts WHERE id = %s", (alert,)) == "dismissed"


FORGERIES = {
    "unknown rule": lambda c, e: [condition("APR-MADE-UP", "red", c, [e])],
    "wrong severity": lambda c, e: [condition("APR-DEADLINE-NOTICE", "red", c, [e])],
    "key of another rule": lambda c, e: [condition("APR-DEADLINE-NOTICE", "notice", c, [e],
                                                   key="APR-DEADLINE-RED|LY-SCJGJ|" + c)],
    "supersedes an unknown rule": lambda c, e: [condition("APR-DEADLINE-YELLOW", "yellow", c, [e],
                                                          supersedes="APR-NONE")],
    "no evidence": lambda c, e: [condition("APR-DEADLINE-NOTICE", "notice", c, [])],
    "evidence never stored": lambda c, e: [condition("APR-DEADLINE-NOTICE", "notice", c,
                                                     ["no-such-event"])],
    "evidence of another case": lambda c, e: [condition("APR-DEADLINE-NOTICE", "notice", c,
                                                        ["LY-SCJGJ-PRIV-OTHER-e1"])],
    "evidence of another department": lambda c, e: [condition("APR-DEADLINE-NOTICE", "notice", c,
                                                              ["LY-ZJJ-PRIV-e1"])],
}


def test_forged_evaluations_are_refused(db):
    """Each forgery alone, on one database (a refusal rolls back, so they cannot interfere)."""
    case = "LY-SCJGJ-PRIV-3"
    store_event(db, case, case + "-e1")
    store_event(db, "LY-SCJGJ-PRIV-OTHER", "LY-SCJGJ-PRIV-OTHER-e1")
    store_event(db, case, "LY-ZJJ-PRIV-e1", dept="LY-ZJJ")
    accepted = []
    with connect(db, "esupd") as conn:
        for name, conditions in sorted(FORGERIES.items()):
            try:
                conn.execute("SELECT * FROM esup_apply_evaluation(%s, now())",
                             (json.dumps(evaluation(case, conditions(case, case + "-e1"))),))
                accepted.append(name)
            except errors.CheckViolation as e:
                assert "evaluation refused" in str(e), (name, str(e))
        # A case row the daemon made itself (it may: the clock is its own) is no case.
        conn.execute("INSERT INTO cases (dept, case_no) VALUES ('LY-SCJGJ', 'LY-SCJGJ-EMPTY')")
        message = refused(conn, "SELECT * FROM esup_apply_evaluation(%s, now())",
                          (json.dumps(evaluation("LY-SCJGJ-EMPTY", [])),),
                          error=errors.CheckViolation)
        assert "case without stored events" in message
        # The same through the batch's call (schema/029), where a case with facts, no
        # condition and no live alert is upserted with the other quiet ones: the whole batch
        # is refused, the genuine case beside it too; and a forged condition in a batch is
        # refused as it is alone.
        quiet = [dict(evaluation(case, []), facts={"kind": "approval"}),
                 dict(evaluation("LY-SCJGJ-EMPTY", []), facts={"kind": "approval"})]
        message = refused(conn, "SELECT * FROM esup_apply_evaluations(%s, now())",
                          (json.dumps(quiet),), error=errors.CheckViolation)
        assert "case without stored events" in message and "LY-SCJGJ-EMPTY" in message
        forged = [quiet[0], evaluation(case, FORGERIES["no evidence"](case, case + "-e1"))]
        message = refused(conn, "SELECT * FROM esup_apply_evaluations(%s, now())",
                          (json.dumps(forged),), error=errors.CheckViolation)
        assert "evaluation refused" in message
        assert conn.execute("SELECT evaluated_at FROM cases WHERE case_no = %s",
                            (case,)).fetchall() in ([], [(None,)])
    assert accepted == []
    assert db.scalar("SELECT count(*) FROM alerts") == 0
    # The genuine evaluation next to them goes through.
    rows = apply(db, evaluation(case, [condition("APR-DEADLINE-NOTICE", "notice", case,
                                                 [case + "-e1"])]))
    assert [r[1] for r in rows] == ["raised"]


def test_rules_table_is_libmonitors_list(db):
    # Each family file holds its rule table (libmonitor/rules.h, the registry).
    source = "".join(p.read_text() for p in sorted((REPO / "libmonitor").glob("*.c")))
    want = {(code, sev.lower()) for code, sev in
            re.findall(r'\{ "([A-Z][A-Z-]+)", MON_SEVERITY_([A-Z]+) \}', source)}
    assert len(want) > 40
    assert set(db.query("SELECT code, severity FROM rules")) == want


# ---------------------------------------------------------------- the quickstart's authentication


def os_psql(pg, os_user, role, dbname="esup"):
    """psql as an OS user over the socket, as role: (exit status, stderr)."""
    proc = subprocess.run(["runuser", "-u", os_user, "--", "psql", "-X", "-w", "-At",
                           "-h", str(pg.dir), "-p", str(pg.port), "-U", role, "-d", dbname,
                           "-c", "SELECT current_user"],
                          capture_output=True, text=True, timeout=60, cwd="/")
    return proc.returncode, proc.stdout.strip(), proc.stderr


@pytest.fixture
def local_auth_cluster(workdir, request):
    base = workdir / "local-auth"
    base.mkdir(mode=0o755)
    cluster = PgCluster(base)
    cluster.init()
    proc = subprocess.run([str(DBSETUP), "local-auth", str(cluster.data), DAEMON_USER, "root"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cluster.start()
    yield cluster
    cluster.stop("immediate")
    shutil.rmtree(base, ignore_errors=True)


def test_quickstart_daemon_user_cannot_become_the_superuser(local_auth_cluster):
    pg = local_auth_cluster
    dbsetup(pg, "init", dbname="esup")        # as root, mapped to postgres
    assert os_psql(pg, DAEMON_USER, "esupd")[:2] == (0, "esupd")
    for role in ("postgres", "esup_admin", "esup_owner"):
        rc, out, err = os_psql(pg, DAEMON_USER, role)
        assert rc != 0 and "authentication failed" in err, (role, rc, out, err)
    assert os_psql(pg, "root", "esup_admin")[:2] == (0, "esup_admin")
    assert os_psql(pg, "postgres", "postgres")[:2] == (0, "postgres")
    rc, out, err = os_psql(pg, "postgres", "esupd")
    assert rc != 0 and "authentication failed" in err
    hba = [line.split() for line in (pg.data / "pg_hba.conf").read_text().splitlines()
           if line.strip() and not line.startswith("#")]
    assert hba == [["local", "all", "all", "peer", "map=esup"]]


def test_daemon_warns_when_its_login_role_is_a_superuser(db, daemon_factory):
    """[database] conninfo with user=postgres: esupd runs (a warning, not a refusal: docs/
    operations.md, "Database") but says, for each connection, which role and what it has;
    its own role, esupd, draws no such line."""
    d = daemon_factory(database={"conninfo": db.conninfo("postgres")}).start()
    warning = re.compile(r"warning: database \S+: login role postgres is a superuser and "
                         r"allowed to bypass row security: .*esup_writer only")
    wait_for(lambda: warning.search(d.log_text()), 10, "the superuser warning")
    assert d.stop() == 0
    d.config["database"]["conninfo"] = db.conninfo("esupd")
    d.write()
    d.start()
    wait_for(lambda: "connected as esupd" in d.runs[-1][1].read_text(), 10, "a connection")
    assert "login role" not in d.runs[-1][1].read_text(), d.log_tail()
