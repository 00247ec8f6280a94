"""督办 escalation benchmark (not part of tests/run; run it by hand:
`ESUP_BUILD=build python3 -m pytest tests/integration/bench_escalation.py -s`).

The escalation job claims that its cost follows the number of changed and due alerts, not the
number of live ones (schema/009_escalation.sql). This measures the time for esupd to escalate
DUE alerts whose ack deadline has passed, first with no other live alert in the database (the
baseline), then with IDLE more live alerts that are planned but not due, in the same run. The
ratio should stay near 1 however large IDLE is.

Knobs (environment): ESUP_BENCH_DUE (default 1000), ESUP_BENCH_IDLE (50000).
"""

import os
import time

from conftest import wait_for
from test_escalation import offset_to

DUE = int(os.environ.get("ESUP_BENCH_DUE", "1000"))
IDLE = int(os.environ.get("ESUP_BENCH_IDLE", "50000"))

# Open red alerts issued at `issued` in county 410302, with their raise action, as the owner
# would write them.
CRAFT = """
WITH a AS (
  INSERT INTO alerts (rule, severity, dept, case_no, dedup_key, message, since, raised_at,
                      status, status_at, region, issued_at)
  SELECT 'APR-DEADLINE-RED', 'red', 'LY-SCJGJ', NULL, %(prefix)s || g, 'bench', %(issued)s,
         %(issued)s, 'open', %(issued)s, '410302', %(issued)s
    FROM generate_series(1, %(count)s) g RETURNING id)
INSERT INTO alert_actions (alert_id, action, actor, note, at, from_state, to_state)
SELECT id, 'raise', 'esupd', 'bench', %(issued)s, NULL, 'open' FROM a
"""


# The job's two reads (daemon/escalation.c), as of a business time with nothing due.
PENDING = "SELECT id FROM alerts WHERE escalate_pending ORDER BY id LIMIT 100"
DUE_SQL = ("SELECT id FROM alerts WHERE escalate_at <= '2026-03-02T14:00:00+08:00'"
           " ORDER BY escalate_at, id LIMIT 100")


def craft(db, prefix, count, issued):
    db.query(CRAFT, {"prefix": prefix, "count": count, "issued": issued})


def escalated(db, prefix):
    return db.scalar("SELECT count(*) FROM alerts WHERE dedup_key LIKE %s"
                     " AND escalation_level > 0", (prefix + "%",))


def timed_escalation(db, prefix):
    start = time.monotonic()
    craft(db, prefix, DUE, "2026-03-02T09:00:00+08:00")   # ack deadline 13:00: due
    wait_for(lambda: escalated(db, prefix) == DUE, 600, "%d escalations" % DUE, interval=0.2)
    return time.monotonic() - start


def test_escalation_cost_follows_due_alerts(refdb, daemon_factory):
    daemon_factory(jobs={"interval_ms": "100", "batch": "100"}, log={"level": "warning"},
                   testing={"clock_offset_s": offset_to("2026-03-02T14:00:00+08:00")}).start()
    base = timed_escalation(refdb, "due-a-")
    # IDLE live alerts not due until tomorrow (ack deadline 2026-03-03 09:30), all planned
    craft(refdb, "idle-", IDLE, "2026-03-02T13:30:00+08:00")
    wait_for(lambda: refdb.scalar("SELECT count(*) FROM alerts WHERE escalate_pending") == 0,
             600, "the idle alerts planned", interval=0.5)
    loaded = timed_escalation(refdb, "due-b-")
    print("\nescalating %d due alerts: %.2f s alone, %.2f s beside %d idle live alerts "
          "(ratio %.2f)" % (DUE, base, loaded, IDLE, loaded / base))
    for sql in (PENDING, DUE_SQL):
        plan = refdb.query("EXPLAIN (ANALYZE, COSTS OFF) " + sql)
        print("\n".join(row[0] for row in plan))
    assert loaded < base * 2 + 1, "escalation slows down with the number of live alerts"
