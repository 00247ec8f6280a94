"""POST /v1/events?dry_run=1 (docs/protocol.md, "Dry runs"): the answer a real POST would get,
plus "dry_run": true, and nothing stored. Each answer class (accepted, duplicate of a stored
event, duplicate within the request, refused by validation, refused by the database, another
department's event, warnings) is sent first as a dry run, then for real: the two bodies are
equal but for dry_run, and the dry run left every table as it was. An event that raises an
alert raises none in a dry run (no row, no log line, no count, no NOTIFY). Dry runs interleaved with real
requests from concurrent clients never take a real event with them. A dry run is refused like
a real POST (401, 403, 413, 415, 429, 503 with the database down); a bad dry_run is a 400 that
names it; dry runs are counted in esup_dry_run_events_total, never in esup_events_total.

One daemon and database for the module: its sweeper and periodic jobs run only at start, so
that nothing but the requests of a test changes the tables between two snapshots."""

import json
import re
import threading
import time
import urllib.request

import psycopg
import pytest

from conftest import (Daemon, event, finish_daemons, free_port, migrated_database, offset_to,
                      wait_for)

NOW = "2026-03-11T16:05:00+08:00"
DEPT = "LY-ZJJ"
QUEUE_MAX = 200          # [ingest] queue_max_events: a larger request is busy (429)
EVENTS_MAX = 300         # [limits] max_events_per_request: a larger one is too large (413)
ALERT_LINE = re.compile(r"alert \w+: #")


@pytest.fixture(scope="module")
def d(pg, certs, workdir, request):
    db = migrated_database(pg, certs, workdir, "dry_run", samples=True)
    daemon = Daemon(db, certs, workdir / db.name,
                    testing={"clock_offset_s": offset_to(NOW)},
                    rules={"disable": "APR-LATE-REPORT"},
                    sweeper={"interval_ms": 3600000}, jobs={"interval_ms": 3600000},
                    ingest={"queue_max_events": QUEUE_MAX},
                    limits={"max_events_per_request": EVENTS_MAX},
                    metrics={"listen": "127.0.0.1:%d" % free_port()})
    yield daemon.start()
    finish_daemons([daemon], request)


def snapshot(db):
    """{table: md5 of all its rows} of every table of the database but the system's
    (partitions through their parents); sequences may move, tables may not."""
    tables = db.query(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition"
        "  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')")
    names = sorted(t for (t,) in tables)
    assert {"public.events", "public.event_ids", "public.cases", "public.alerts",
            "public.alert_actions", "public.deliveries", "public.event_chain_heads",
            "public.event_chain_daily", "public.stat_event_day", "public.stat_case_day",
            "public.stat_alert_day"} <= set(names), names
    sql = " UNION ALL ".join(
        "SELECT %s, count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
        " FROM %s t" % ("'%s'" % n, n) for n in names)
    return {name: (count, digest) for name, count, digest in db.query(sql)}


def metrics(d):
    """{(name, frozenset of labels): value} from the loopback metrics listener."""
    from test_metrics import parse
    url = "http://%s/metrics" % d.config["metrics"]["listen"]
    with urllib.request.urlopen(url, timeout=10) as resp:
        return parse(resp.read().decode("utf-8"))


def family(samples, name):
    return {labels: v for (n, labels), v in samples.items() if n == name}


def alert_lines(d):
    return len(ALERT_LINE.findall(d.log_text()))


def post(d, events, query="?dry_run=1", who="dept-" + DEPT, retry=True):
    """The answer to events sent as NDJSON to /v1/events + query; with retry a 429 or 503 is
    resent (for up to a minute, then returned)."""
    body = "".join((e if isinstance(e, str) else json.dumps(e, ensure_ascii=False)) + "\n"
                   for e in events).encode()
    give_up = time.monotonic() + 60
    with d.client(who) as c:
        while True:
            r = c.request("POST", "/v1/events" + query, body, "application/x-ndjson")
            if not retry or r.status not in (429, 503) or time.monotonic() > give_up:
                return r
            time.sleep(0.05)   # as a client backs off; the next answer decides


def dry_then_real(d, events):
    """Sends events as a dry run, checks that it changed nothing, then for real; returns the
    real answer after checking that the dry run's was the same but for dry_run."""
    db = d.db
    before, lines = snapshot(db), alert_lines(d)
    dry = post(d, events)
    assert dry.status == 200, dry.body
    assert snapshot(db) == before, "a dry run changed the tables"
    assert alert_lines(d) == lines, "a dry run logged an alert"
    real = post(d, events, query="")
    assert real.status == 200, real.body
    dry_body, real_body = dry.json(), real.json()
    assert dry_body.pop("dry_run") is True
    assert "dry_run" not in real_body
    assert dry_body == real_body
    return real_body


def ev(**fields):
    return event(dept=DEPT, **fields)


def correction(case, of, action="void", at="2026-03-11T16:04:00+08:00"):
    return ev(type="event.corrected", case=case, at=at, of=of, action=action,
              reason="sent by mistake")


def statuses(body):
    return [r["status"] for r in body["results"]]


def test_database_down(d):
    """With the database unreachable a dry run is answered as a real POST: 503 with
    Retry-After; once the database is back, a dry run answers again and stores nothing.
    First of the module, while no case is open: back up, the daemon loads the rules again and
    finds them those the open cases were derived under (or re-derives them: waited for, so
    that no sweep runs on under the next test)."""
    db = d.db
    def rederived_lines():
        text = d.log_text()
        return text.count("open cases to re-derive") + text.count("rules unchanged since")
    rederived = rederived_lines()
    with db.pg.connect() as admin:
        admin.execute('ALTER DATABASE "%s" ALLOW_CONNECTIONS false' % db.name)
        try:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                          " WHERE datname = %s", (db.name,))
            wait_for(lambda: d.healthz().status == 503, 30, "/healthz to report the database down")
            for events in ([ev(item="ZJ-004")], [ev(type="approval.extended", dayz=20)]):
                dry = post(d, events, retry=False)
                real = post(d, events, query="", retry=False)
                assert dry.status == real.status == 503, (dry.body, real.body)
                assert int(dry.header("Retry-After")) >= 1
                assert set(dry.json()) == set(real.json()) == {"error"}   # which connection
        finally:
            admin.execute('ALTER DATABASE "%s" ALLOW_CONNECTIONS true' % db.name)
    wait_for(lambda: d.healthz().status == 200, 30, "/healthz to report the database up")
    wait_for(lambda: rederived_lines() > rederived, 30,
             "the sweeper to find the open cases current under the rules loaded again")
    offset = int(d.config["testing"]["clock_offset_s"])
    wait_for(lambda: db.scalar("SELECT count(*) FROM cases WHERE next_check_at <="
                               " now() + make_interval(secs => %s)", (offset,)) == 0,
             60, "the sweeper to evaluate every case it marked due")
    before = snapshot(db)
    r = post(d, [ev(item="ZJ-004")])
    assert r.status == 200 and r.json()["dry_run"] is True and statuses(r.json()) == ["accepted"]
    assert snapshot(db) == before


def test_accepted(d):
    a, b = ev(item="ZJ-004"), ev(item="ZJ-004")
    body = dry_then_real(d, [a, b])
    assert statuses(body) == ["accepted", "accepted"]
    assert d.db.event_counts(DEPT).get(a["id"]) == 1


def test_duplicate_of_a_stored_event(d):
    stored = ev(item="ZJ-004")
    assert statuses(post(d, [stored], query="").json()) == ["accepted"]
    body = dry_then_real(d, [stored, ev(item="ZJ-004")])
    assert statuses(body) == ["duplicate", "accepted"]


def test_duplicate_within_the_request(d):
    twice = ev(item="ZJ-004")
    body = dry_then_real(d, [twice, ev(item="ZJ-004"), twice])
    assert statuses(body) == ["accepted", "accepted", "duplicate"]


def test_refused_by_validation(d):
    body = dry_then_real(d, [ev(type="approval.extended", dayz=20), ev(at="2026-03-02 09:15:00"),
                             "{not json", ev(item="ZJ-004")])
    assert statuses(body) == ["rejected", "rejected", "rejected", "accepted"]
    assert body["results"][0]["error"]["field"] == "days"
    assert body["results"][1]["error"]["field"] == "at"


def test_refused_by_the_database(d):
    """A correction of an event that is not there (the INSERT's own check), beside one of an
    event stored before and one of an event earlier in the same request."""
    stored = ev(item="ZJ-004")
    assert statuses(post(d, [stored], query="").json()) == ["accepted"]
    earlier = ev(item="ZJ-004")
    body = dry_then_real(d, [
        correction(stored["case"], "no-such-event"),
        correction(stored["case"], stored["id"]),
        earlier,
        correction(earlier["case"], earlier["id"]),
        correction(earlier["case"], stored["id"])])   # another case's: refused
    assert statuses(body) == ["rejected", "accepted", "accepted", "accepted", "rejected"]
    assert body["results"][0]["error"]["field"] == "of"
    assert body["results"][0]["error"]["got"] == '"no-such-event"'
    assert body["results"][4]["error"]["field"] == "of"


def test_another_departments_event(d):
    body = dry_then_real(d, [event(dept="LY-SCJGJ"), ev(item="ZJ-004")])
    assert statuses(body) == ["rejected", "accepted"]
    assert body["results"][0]["error"]["field"] == "dept"


def test_warnings_for_unknown_fields(d):
    body = dry_then_real(d, [ev(type="approval.extended", days=20, aprover="P0012"),
                             ev(type="approval.extended", dayz=20)])
    assert statuses(body) == ["accepted", "rejected"]
    assert body["results"][0]["warnings"][0]["nearest"] == "approver"
    assert body["results"][1]["warnings"][0]["nearest"] == "days"


def test_every_class_in_one_request_as_json(d):
    stored = ev(item="ZJ-004")
    assert statuses(post(d, [stored], query="").json()) == ["accepted"]
    twice = ev(item="ZJ-004", zzqqxx=1)
    events = [stored, twice, twice, ev(type="approval.extended", dayz=20),
              correction(stored["case"], "missing"), event(dept="LY-HBJ")]
    db = d.db
    before = snapshot(db)
    with d.client("dept-" + DEPT) as c:
        dry = c.request("POST", "/v1/events?dry_run=1", json.dumps(events).encode(),
                        "application/json")
        assert snapshot(db) == before
        real = c.request("POST", "/v1/events", json.dumps(events).encode(), "application/json")
    assert dry.status == real.status == 200, (dry.body, real.body)
    dry_body, real_body = dry.json(), real.json()
    assert dry_body.pop("dry_run") is True and dry_body == real_body
    assert statuses(real_body) == ["duplicate", "accepted", "duplicate", "rejected", "rejected",
                                   "rejected"]
    assert (real_body["accepted"], real_body["duplicate"], real_body["rejected"]) == (1, 2, 3)


def test_an_alert_in_a_dry_run_is_raised_nowhere(d):
    """A denial without a reason raises APR-REFUSAL-NO-REASON at ingest: not in a dry run (no
    alert, no alert step, no log line, no count, no NOTIFY), then for real. A dry run of the
    correction that would take it back leaves it open; the real correction resolves it."""
    case = "LY-ZJJ-2026-970001"
    accepted = ev(type="approval.accepted", case=case, item="ZJ-004",
                  at="2026-03-09T09:30:00+08:00")
    denied = ev(type="approval.decided", case=case, at="2026-03-11T16:00:00+08:00",
                result="denied", report="LY-ZJJ-BPZ-2026-011", solution="补齐材料后重新申请")
    void = correction(case, denied["id"])
    rule = ("esup_alerts_raised_total",
            frozenset({("rule", "APR-REFUSAL-NO-REASON"), ("severity", "yellow")}))
    count_before = metrics(d).get(rule, 0)
    heard = []
    with psycopg.connect(d.db.conninfo("postgres"), autocommit=True) as listener:
        listener.add_notify_handler(lambda n: heard.append(json.loads(n.payload)))
        listener.execute("LISTEN esup_alert")

        body = dry_then_real(d, [accepted, denied])
        assert statuses(body) == ["accepted", "accepted"]
        # dry_then_real saw no table change and no alert line in the dry run; the real one raised
        alerts = d.db.query("SELECT id, rule, status FROM alerts WHERE case_no = %s", (case,))
        assert [(r, s) for _, r, s in alerts] == [("APR-REFUSAL-NO-REASON", "open")], alerts
        assert metrics(d).get(rule, 0) == count_before + 1

        # the case is stored now: a dry run of the correction would take the alert back
        before, lines = snapshot(d.db), alert_lines(d)
        r = post(d, [void])
        assert r.status == 200 and statuses(r.json()) == ["accepted"], r.body
        assert snapshot(d.db) == before and alert_lines(d) == lines
        r = post(d, [void], query="")
        assert r.status == 200 and statuses(r.json()) == ["accepted"], r.body
        assert d.db.query("SELECT status FROM alerts WHERE id = %s", (alerts[0][0],)) == \
            [("resolved",)]

        # NOTIFY comes at COMMIT, in commit order: once the real correction's step is heard,
        # a dry run's would have been heard before it. Every step heard is a stored one.
        steps = {i for (i,) in d.db.query("SELECT id FROM alert_actions WHERE alert_id = %s",
                                          (alerts[0][0],))}
        wait_for(lambda: listener.execute("SELECT 1") and
                 steps <= {n["action_id"] for n in heard}, 30, "NOTIFY of every alert step")
    assert sorted(n["action_id"] for n in heard) == sorted(steps), heard
    assert alert_lines(d) > lines
    assert metrics(d).get(rule, 0) == count_before + 1


def test_metrics(d):
    before = metrics(d)
    stored = ev(item="ZJ-004")
    assert statuses(post(d, [stored], query="?dry_run=0").json()) == ["accepted"]
    middle = metrics(d)
    r = post(d, [stored, ev(item="ZJ-004"), ev(item="ZJ-004"), ev(type="approval.extended"),
                 event(dept="LY-SCJGJ")])
    assert r.status == 200 and r.json()["dry_run"] is True
    after = metrics(d)

    # dry_run=0 is a real POST: esup_events_total, not the dry runs' counter
    ev_total = "esup_events_total"
    key = frozenset({("department", DEPT), ("type", "approval.accepted"), ("result", "accepted")})
    assert family(middle, ev_total).get(key, 0) == family(before, ev_total).get(key, 0) + 1
    assert family(middle, "esup_dry_run_events_total") == \
        family(before, "esup_dry_run_events_total")

    # the dry run: its own counter only, by the principal's department and the result
    assert family(after, ev_total) == family(middle, ev_total)
    dry = family(after, "esup_dry_run_events_total")
    was = family(middle, "esup_dry_run_events_total")

    def moved(result):
        k = frozenset({("department", DEPT), ("result", result)})
        return dry.get(k, 0) - was.get(k, 0)
    assert (moved("accepted"), moved("duplicate"), moved("rejected")) == (2, 1, 2)
    assert all(("department", DEPT) in k for k in dry), dry
    for name in ("esup_commit_duration_seconds_count", "esup_batch_events_count"):
        assert after.get((name, frozenset()), 0) == middle.get((name, frozenset()), 0), name


@pytest.mark.parametrize("query", [
    "?dry_run=true", "?dry_run=2", "?dry_run=", "?dry_run=yes", "?dry_run=1%20",
    "?dry_run=01", "?dry_run=1&dry_run=1", "?dry_run=0&dry_run=1", "?dryrun=1",
    "?dry_run=1&store=0"])
def test_bad_dry_run_is_refused(d, query):
    before = snapshot(d.db)
    r = post(d, [ev(item="ZJ-004")], query=query, retry=False)
    assert r.status == 400, (query, r.status, r.body)
    err = r.json()["error"]
    assert set(err) == {"field", "expected", "got"}, err
    assert err["field"] == query[1:].split("&")[-1].split("=")[0], err
    if "&" not in query and err["field"] == "dry_run":
        assert "1" in err["expected"] and "0" in err["expected"], err
    assert snapshot(d.db) == before


def test_refused_like_a_real_post(d):
    """401, 403, 415, 413 and 429 are the same for a dry run, and store nothing either."""
    before = snapshot(d.db)
    one = [ev(item="ZJ-004")]
    for query in ("?dry_run=1", ""):
        assert post(d, one, query=query, who=None, retry=False).status == 401
        assert post(d, one, query=query, who="supervisor", retry=False).status == 403
        with d.client("dept-" + DEPT) as c:
            assert c.request("POST", "/v1/events" + query, b"{}", "text/plain").status == 415
        r = post(d, [ev(item="ZJ-004") for _ in range(EVENTS_MAX + 1)], query=query, retry=False)
        assert r.status == 413, r.body
        r = post(d, [ev(item="ZJ-004") for _ in range(QUEUE_MAX + 1)], query=query, retry=False)
        assert r.status == 429 and int(r.header("Retry-After")) >= 1, r.body
    assert snapshot(d.db) == before
    # as many as the queue holds: a whole dry run
    r = post(d, [ev(item="ZJ-004") for _ in range(QUEUE_MAX)])
    assert r.status == 200 and r.json()["dry_run"] is True and r.json()["accepted"] == QUEUE_MAX
    assert snapshot(d.db) == before


def test_dry_runs_beside_real_requests(d):
    """Concurrent clients, half sending dry runs: every real event is acknowledged and stored
    once, no dry-run event is stored, and a dry run of an event a real request stores at the
    same time answers accepted or duplicate, never anything else."""
    real = [[ev(item="ZJ-004") for _ in range(4)] for _ in range(24)]
    dry = [[ev(item="ZJ-004") for _ in range(4)] for _ in range(24)]
    answers, errors = {}, []

    def send(kind, chunks):
        try:
            for chunk in chunks:
                if kind == "real":
                    r = post(d, chunk, query="")
                elif kind == "dry":
                    r = post(d, chunk)
                else:   # a dry run of what a real client sends now
                    r = post(d, chunk)
                assert r.status == 200, r.body
                assert ("dry_run" in r.json()) == (kind != "real"), r.body
                for x in r.json()["results"]:
                    answers.setdefault(kind, []).append((x["id"], x["status"]))
        except Exception as e:   # reported in the main thread
            errors.append(e)

    threads = [threading.Thread(target=send, args=(kind, chunks[i::3]))
               for kind, chunks in (("real", real), ("dry", dry), ("shadow", real))
               for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    real_ids = {e["id"] for chunk in real for e in chunk}
    dry_ids = {e["id"] for chunk in dry for e in chunk}
    assert sorted(answers["real"]) == sorted((i, "accepted") for i in real_ids)
    assert sorted(answers["dry"]) == sorted((i, "accepted") for i in dry_ids)
    assert {s for _, s in answers["shadow"]} <= {"accepted", "duplicate"}
    counts = d.db.event_counts(DEPT)
    assert {i: counts.get(i) for i in real_ids} == {i: 1 for i in real_ids}
    assert not dry_ids & set(counts)
