"""督办 escalation (daemon/escalation.c, schema/009_escalation.sql): an alert not acknowledged
within its ack deadline (working hours after issued_at) is escalated one region up, and one not
resolved within its resolve deadline (working days) one more, never above the top region. The
alerts are crafted in SQL (issued_at chosen); the daemon's business clock is set with
[testing] clock_offset_s; the deadlines cross a weekend, 清明 2026 and the calendar's
holidays from config/calendar.csv. Every check waits for a condition, never for time."""

import signal
import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from conftest import SANITIZER_MARKS, daemons_apart, finish_daemons, offset_to, wait_for
from test_lifecycle import check_config, config_line, sample_config

SHANGHAI = timezone(timedelta(hours=8))
# Fast rounds and small batches so that a restart or a second daemon lands mid-way.
JOBS = {"interval_ms": "50", "batch": "5"}


def at(text):
    return datetime.fromisoformat(text)


def craft(db, severity, region, issued, dept="LY-SCJGJ"):
    """One open alert raised (and issued) at `issued`, as the owner would write it."""
    key = "APR-DEADLINE-%s|%s|craft-%s-%s" % (severity.upper(), dept, region, time.monotonic_ns())
    rows = db.query(
        "WITH a AS (INSERT INTO alerts (rule, severity, dept, case_no, dedup_key, message,"
        " since, raised_at, status, status_at, region, issued_at)"
        " VALUES (%s, %s, %s, NULL, %s, 'crafted', %s, %s, 'open', %s, %s, %s) RETURNING id)"
        " INSERT INTO alert_actions (alert_id, action, actor, note, at, from_state, to_state)"
        " SELECT id, 'raise', 'esupd', 'crafted', %s, NULL, 'open' FROM a RETURNING alert_id",
        ("APR-DEADLINE-" + severity.upper(), severity, dept, key, issued, issued, issued,
         region, issued, issued))
    return rows[0][0]


def escalations(db, alert):
    return db.query("SELECT note, at, to_state FROM alert_actions"
                    " WHERE alert_id = %s AND action = 'escalate' ORDER BY id", (alert,))


def level(db, alert):
    return db.query("SELECT escalation_level, escalated_to, escalated_for, escalate_at,"
                    " escalate_deadline FROM alerts WHERE id = %s", (alert,))[0]


def planned(db, alert):
    return db.query("SELECT NOT escalate_pending FROM alerts WHERE id = %s", (alert,))[0][0]


def act_as_esupd(db, alert, deadline, instant, expected_level):
    return db.query("SELECT outcome FROM esup_escalate_due(%s, %s, 'test', %s, %s)",
                    (alert, deadline, instant, expected_level), user="esupd")[0][0]


def start(daemon_factory, instant, **overrides):
    config = {"jobs": dict(JOBS), "testing": {"clock_offset_s": offset_to(instant)}}
    config.update(overrides)
    return daemon_factory(**config).start()


def test_boundary_across_weekend_and_holiday(refdb, daemon_factory):
    # red: ack within 4 working hours. Friday 15:00 + 4 h crosses the weekend: Monday 11:00.
    weekend = craft(refdb, "red", "410302", "2026-03-06T15:00:00+08:00")
    # yellow: 8 working hours. Friday 16:00 before 清明 (04-04..04-06 off): Tuesday 16:00.
    holiday = craft(refdb, "yellow", "410302", "2026-04-03T16:00:00+08:00")
    # a control alert long due, so that a round is known to have run
    control = craft(refdb, "red", "410302", "2026-03-02T09:00:00+08:00")
    d = start(daemon_factory, "2026-03-09T10:50:00+08:00")
    wait_for(lambda: len(escalations(refdb, control)) >= 1, 20, "the control alert escalated")
    wait_for(lambda: planned(refdb, weekend) and planned(refdb, holiday), 20, "the plans")
    # not yet: the business clock is minutes before the deadline
    assert escalations(refdb, weekend) == []
    lv = level(refdb, weekend)
    assert lv[0] == 0 and lv[4] == "ack"
    assert lv[3] == at("2026-03-09T11:00:00+08:00")
    lv = level(refdb, holiday)
    assert lv[3] == at("2026-04-07T16:00:00+08:00") and lv[4] == "ack"
    d.stop()
    # The compare-and-set at the boundary: one second before does nothing, at it escalates.
    assert act_as_esupd(refdb, weekend, "ack", "2026-03-09T10:59:59+08:00", 0) == "stale"
    assert escalations(refdb, weekend) == []
    assert act_as_esupd(refdb, weekend, "ack", "2026-03-09T11:00:00+08:00", 0) == "done"
    assert act_as_esupd(refdb, weekend, "ack", "2026-03-09T11:00:00+08:00", 0) == "stale"
    assert len(escalations(refdb, weekend)) == 1
    assert act_as_esupd(refdb, holiday, "ack", "2026-04-07T15:59:59+08:00", 0) == "stale"
    # the daemon itself, once its clock has passed the holiday deadline
    d.config["testing"]["clock_offset_s"] = offset_to("2026-04-07T16:00:00+08:00")
    d.write()
    d.start()
    wait_for(lambda: len(escalations(refdb, holiday)) == 1, 20, "the holiday alert escalated")
    note, when, state = escalations(refdb, holiday)[0]
    assert "not acknowledged within 8 working hours" in note
    assert "2026-04-07T16:00:00+08:00" in note and state == "open"
    assert when >= at("2026-04-07T16:00:00+08:00")
    assert level(refdb, holiday)[:2] == (1, "410300")
    # its resolve deadline (5 working days) is next: end of Monday 04-13
    wait_for(lambda: planned(refdb, holiday), 20, "the holiday alert planned again")
    lv = level(refdb, holiday)
    assert lv[3] == at("2026-04-14T00:00:00+08:00") and lv[4] == "resolve"


def test_ack_then_resolve_up_to_the_top(refdb, daemon_factory, certs):
    county = craft(refdb, "red", "410302", "2026-03-02T09:00:00+08:00")
    city = craft(refdb, "red", "410300", "2026-03-02T09:00:00+08:00")
    acked = craft(refdb, "red", "410302", "2026-03-02T09:00:00+08:00")
    top = craft(refdb, "red", "410000", "2026-03-02T09:00:00+08:00")
    # acknowledged in time (10:00, the ack deadline is 13:00): no ack escalation
    fp = certs.fingerprints["dept-LY-SCJGJ"]
    assert refdb.query("SELECT outcome FROM esup_alert_act_as(%s, %s, 'ack', '已整改', %s)",
                       (fp, acked, "2026-03-02T10:00:00+08:00"))[0][0] == "done"
    start(daemon_factory, "2026-03-10T09:00:00+08:00")

    def settled():
        return (len(escalations(refdb, county)) == 2 and level(refdb, city)[2] == 3
                and len(escalations(refdb, acked)) == 1 and level(refdb, top)[2] == 3)
    wait_for(settled, 20, "every deadline acted on")
    notes = [e[0] for e in escalations(refdb, county)]
    assert "not acknowledged within 4 working hours" in notes[0]
    assert "not resolved within 3 working days" in notes[1]
    assert "resolve deadline 2026-03-06T00:00:00+08:00" in notes[1]
    assert level(refdb, county)[:2] == (2, "410000")
    # the city's alert goes up once, to the province, and no further
    assert len(escalations(refdb, city)) == 1 and level(refdb, city)[:2] == (1, "410000")
    assert level(refdb, city)[3] is None
    # acknowledged in time: only the resolve deadline escalates it
    assert "not resolved" in escalations(refdb, acked)[0][0]
    assert level(refdb, acked)[:2] == (1, "410300")
    # already at the top: never escalated
    assert escalations(refdb, top) == [] and level(refdb, top)[:2] == (0, None)


def test_settings_and_calendar_changes_replan(refdb, daemon_factory):
    alert = craft(refdb, "red", "410302", "2026-03-02T09:00:00+08:00")
    d = start(daemon_factory, "2026-03-02T09:30:00+08:00")
    wait_for(lambda: planned(refdb, alert), 20, "the plan")
    assert level(refdb, alert)[3] == at("2026-03-02T13:00:00+08:00")
    gen = refdb.scalar("SELECT escalate_gen FROM alerts WHERE id = %s", (alert,))
    # a restart with the same settings and calendar plans nothing again
    d.stop()
    d.start()
    other = craft(refdb, "red", "410302", "2026-03-02T09:00:00+08:00")
    wait_for(lambda: planned(refdb, other), 20, "a round of the restarted daemon")
    assert refdb.scalar("SELECT escalate_gen FROM alerts WHERE id = %s", (alert,)) == gen
    # SIGHUP with a shorter ack limit: planned again, deadline 11:00
    d.config["escalation"] = {"ack_hours_red": "2"}
    d.write()
    d.signal(signal.SIGHUP)
    wait_for(lambda: level(refdb, alert)[3] == at("2026-03-02T11:00:00+08:00"), 20,
             "the deadline moved to 11:00")
    # a holiday on that Monday (NOTIFY esup_refdata): the 2 hours run on Tuesday
    refdb.query("INSERT INTO calendar (date, kind, name) VALUES ('2026-03-02', 'holiday', 'test')")
    wait_for(lambda: level(refdb, alert)[3] == at("2026-03-03T11:00:00+08:00"), 20,
             "the deadline moved to Tuesday")
    assert escalations(refdb, alert) == []


def test_a_replan_does_not_wait_for_an_alert_another_transaction_holds(refdb, daemon_factory):
    # Planning every live alert again took each alert's row lock in turn and waited for those
    # ingest held, which could be waiting for one it had taken: a deadlock (two daemons
    # ingesting, test_two_daemons). Now the alerts held are skipped and marked on a later
    # round. While the test's transaction holds one alert, the others take the new settings;
    # once it lets go, that one does too.
    alert = craft(refdb, "red", "410302", "2026-03-02T09:00:00+08:00")
    held = craft(refdb, "red", "410302", "2026-03-02T09:00:00+08:00")
    d = start(daemon_factory, "2026-03-02T09:30:00+08:00")
    wait_for(lambda: planned(refdb, alert) and planned(refdb, held), 20, "the plans")
    assert level(refdb, held)[3] == at("2026-03-02T13:00:00+08:00")
    with psycopg.connect(refdb.conninfo("postgres")) as holder:
        with holder.transaction():
            holder.execute("SELECT 1 FROM alerts WHERE id = %s FOR UPDATE", (held,))
            d.config["escalation"] = {"ack_hours_red": "2"}
            d.write()
            d.signal(signal.SIGHUP)
            wait_for(lambda: level(refdb, alert)[3] == at("2026-03-02T11:00:00+08:00"), 20,
                     "the free alert's deadline moved to 11:00")
            assert level(refdb, held)[3] == at("2026-03-02T13:00:00+08:00")
            assert "1 held by other transactions" in d.log_text()
    wait_for(lambda: level(refdb, held)[3] == at("2026-03-02T11:00:00+08:00"), 20,
             "the held alert's deadline moved to 11:00 once let go")
    assert refdb.scalar("SELECT replan_left FROM escalation_settings") is None


def test_a_replan_that_failed_is_tried_again(refdb, daemon_factory):
    # A replan that fails (here a trigger refuses the settings' change, counting the tries in
    # a sequence, which no rollback takes back) is tried again on the next rounds, not left
    # until the next change or restart; once the refusal is gone, it goes through.
    alert = craft(refdb, "red", "410302", "2026-03-02T09:00:00+08:00")
    d = start(daemon_factory, "2026-03-02T09:30:00+08:00")
    wait_for(lambda: planned(refdb, alert), 20, "the plan")
    refdb.query("""
        CREATE SEQUENCE test_tries;
        CREATE FUNCTION test_refuse() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
        BEGIN
            PERFORM nextval('test_tries');
            RAISE EXCEPTION 'test: refused';
        END $$;
        CREATE TRIGGER test_refuse BEFORE UPDATE ON escalation_settings
            FOR EACH ROW EXECUTE FUNCTION test_refuse()""")
    d.config["escalation"] = {"ack_hours_red": "2"}
    d.write()
    d.signal(signal.SIGHUP)
    wait_for(lambda: "test: refused" in d.log_text(), 20, "the replan to fail")
    wait_for(lambda: refdb.scalar("SELECT last_value FROM test_tries") >= 5, 20,
             "the replan to be tried again, round after round")
    assert level(refdb, alert)[3] == at("2026-03-02T13:00:00+08:00")
    refdb.query("DROP TRIGGER test_refuse ON escalation_settings")
    wait_for(lambda: level(refdb, alert)[3] == at("2026-03-02T11:00:00+08:00"), 20,
             "the deadline moved to 11:00")


def test_refused_escalation_is_not_retried_for_ever(refdb, daemon_factory):
    # A state machine that refuses escalate from open: the deadline counts as acted on, the
    # refusal is logged once, and the alert does not stay due (it would be taken every round).
    refdb.query("DELETE FROM alert_transitions WHERE action = 'escalate' AND from_state = 'open'"
                " AND actor_role = 'system'")
    alert = craft(refdb, "red", "410302", "2026-03-02T09:00:00+08:00")
    d = start(daemon_factory, "2026-03-02T14:00:00+08:00")
    wait_for(lambda: level(refdb, alert)[2] & 1, 20, "the ack deadline recorded as acted on")
    later = craft(refdb, "red", "410302", "2026-03-02T13:30:00+08:00")
    wait_for(lambda: planned(refdb, later), 20, "a later round")
    assert escalations(refdb, alert) == []
    assert d.log_text().count("alert %d: ack deadline not escalated: illegal" % alert) == 1
    assert level(refdb, alert)[4] == "resolve"


def many(db, n):
    """n county alerts, each with both deadlines long passed."""
    return [craft(db, "red", "410302", "2026-03-02T09:00:00+08:00") for _ in range(n)]


def counts(db, ids):
    return dict(db.query("SELECT a.id, count(x.alert_id) FROM alerts a LEFT JOIN alert_actions x"
                         " ON x.alert_id = a.id AND x.action = 'escalate'"
                         " WHERE a.id = ANY(%s) GROUP BY a.id", (ids,)))


def test_kill_mid_way_neither_loses_nor_repeats(refdb, daemon_factory):
    ids = many(refdb, 40)
    # The test holds five of the alerts (esup_escalate_due skips a held alert as busy), so the
    # kill comes mid-way however fast the rounds run: the first run could finish all 40.
    with psycopg.connect(refdb.conninfo("postgres")) as holder:
        with holder.transaction():
            holder.execute("SELECT 1 FROM alerts WHERE id = ANY(%s) FOR UPDATE", (ids[-5:],))
            d = start(daemon_factory, "2026-03-10T09:00:00+08:00")
            wait_for(lambda: sum(counts(refdb, ids).values()) >= 10, 20, "some escalations")
            run = d.runs[-1]
            run[0].send_signal(signal.SIGKILL)
            run[0].wait()
            run[2] = 0   # killed by the test
    assert sum(counts(refdb, ids[-5:]).values()) == 0
    assert sum(counts(refdb, ids).values()) < 2 * len(ids), "finished before the kill"
    d.start()
    wait_for(lambda: sum(counts(refdb, ids).values()) >= 2 * len(ids), 30, "all escalated")
    assert set(counts(refdb, ids).values()) == {2}
    assert refdb.query("SELECT DISTINCT escalation_level, escalated_to, escalated_for FROM alerts"
                       " WHERE id = ANY(%s)", (ids,)) == [(2, "410000", 3)]


@pytest.fixture
def two(refdb, certs, testdir, request):
    made = daemons_apart(refdb, certs, testdir, jobs=dict(JOBS),
                         testing={"clock_offset_s": offset_to("2026-03-10T09:00:00+08:00")})
    yield made
    finish_daemons(made, request)


def test_two_daemons_escalate_once(refdb, two):
    a, b = two
    a.start(wait=False)
    b.start(wait=False)
    a.wait_healthy()
    b.wait_healthy()
    ids = many(refdb, 40)   # made while both run, so that both take them
    wait_for(lambda: sum(counts(refdb, ids).values()) >= 2 * len(ids), 30, "all escalated")
    assert set(counts(refdb, ids).values()) == {2}
    # both daemons took part (each escalated some)
    assert "escalated to level" in a.log_text() and "escalated to level" in b.log_text()


BAD_OPTIONS = [
    ("work_hours", "work_hours = 17:00-09:00"),
    ("work_hours", "work_hours = 9-17"),
    ("work_hours", "work_hours = 09:00-24:30"),
    ("work_hours", "work_hours = 09:60-17:00"),
    ("ack_hours_red", "ack_hours_red = -1"),
    ("resolve_days_yellow", "resolve_days_yellow = 5d"),
]


def test_escalation_options_checked(daemon_factory, testdir):
    """esupd -n accepts the sample's [escalation] and names the line of a bad value."""
    d = daemon_factory()
    path = sample_config(d, testdir)
    good = check_config(path)
    assert good.returncode == 0, good.stdout + good.stderr
    sample = path.read_text().splitlines()
    for key, bad in BAD_OPTIONS:
        line = config_line(path, key)
        lines = list(sample)
        lines[line - 1] = bad
        path.write_text("\n".join(lines) + "\n")
        proc = check_config(path)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 1, out
        assert "%s:%d:" % (path, line) in out, out
        assert not any(m in out for m in SANITIZER_MARKS), out
