"""Event ingest over the wire: statuses, body formats, department scoping, stored rows."""

import json

from conftest import DEPTS, SAMPLES, event, ndjson, statuses


def test_roundtrip_with_curl(esupd, db, certs):
    first = event(id="sj-000123-1")
    bad = event(id="sj-000123-x", at="2026-03-02 09:15")
    r = esupd.curl("/v1/events", "dept-LY-SCJGJ", data=ndjson([first, bad]),
                   content_type="application/x-ndjson")
    assert r.returncode == 0, r.stderr
    assert r.status == 200, r.body
    body = r.json()
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (1, 0, 1)
    assert [(x["index"], x["id"], x["status"]) for x in body["results"]] == [
        (0, "sj-000123-1", "accepted"), (1, "sj-000123-x", "rejected")]
    assert body["results"][1]["error"]["field"] == "at"

    # Acknowledged means committed: the rows are there now, without waiting.
    rows = db.query("SELECT dept, event_id, type, case_no, item, principal, body, at"
                    " FROM events")
    assert len(rows) == 1
    dept, event_id, type_, case_no, item, principal, stored, at = rows[0]
    assert (dept, event_id, type_, case_no, item) == (
        "LY-SCJGJ", "sj-000123-1", "approval.accepted", first["case"], "SCJG-001")
    assert principal == certs.fingerprints["dept-LY-SCJGJ"]
    assert stored["applicant"] == first["applicant"]
    assert at.isoformat() == "2026-03-02T01:15:00+00:00"

    second = event(id="sj-000123-2")
    r = esupd.curl("/v1/events", "dept-LY-SCJGJ", data=ndjson([first, second]),
                   content_type="application/x-ndjson")
    assert r.status == 200, r.body
    body = r.json()
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (1, 1, 0)
    assert statuses(body) == ["duplicate", "accepted"]
    assert db.event_counts() == {"sj-000123-1": 1, "sj-000123-2": 1}
    assert db.scalar("SELECT count(*) FROM event_ids") == 2


def test_body_formats(esupd, db):
    with esupd.client("dept-LY-SCJGJ") as c:
        # NDJSON with a bad line between two good ones, CRLF line ends and a blank line.
        a, b = event(), event()
        body = (json.dumps(a) + "\r\n" + '{"id":"broken", "dept":' + "\r\n\r\n"
                + json.dumps(b) + "\n").encode()
        r = c.request("POST", "/v1/events", body, "application/x-ndjson")
        assert r.status == 200, r.body
        res = r.json()
        assert statuses(res) == ["accepted", "rejected", "accepted"]
        assert [x["index"] for x in res["results"]] == [0, 1, 2]

        # One JSON object.
        o = event()
        r = c.request("POST", "/v1/events", json.dumps(o).encode(), "application/json")
        assert r.status == 200, r.body
        assert statuses(r.json()) == ["accepted"]
        assert r.json()["results"][0]["id"] == o["id"]

        # A JSON array with a non-object and an invalid event among valid ones.
        x, y = event(), event()
        arr = [x, 42, event(type="approval.accepted", item=None), y]
        r = c.request("POST", "/v1/events", json.dumps(arr).encode(),
                      "application/json; charset=utf-8")
        assert r.status == 200, r.body
        res = r.json()
        assert statuses(res) == ["accepted", "rejected", "rejected", "accepted"]
        assert (res["accepted"], res["duplicate"], res["rejected"]) == (2, 0, 2)
        assert res["results"][2]["error"]["field"] == "item"

        # The same events again, as NDJSON: all duplicates, nothing stored twice.
        r = c.post_events([a, b, o, x, y])
        assert statuses(r.json()) == ["duplicate"] * 5

    counts = db.event_counts()
    assert counts == {e["id"]: 1 for e in (a, b, o, x, y)}


def test_event_of_another_department_is_rejected(esupd, db):
    foreign = event(dept="LY-SCJGJ")
    own = event(dept="LY-ZJJ")
    with esupd.client("dept-LY-ZJJ") as c:
        r = c.post_events([foreign])
        assert r.status == 200, r.body
        res = r.json()
        assert statuses(res) == ["rejected"]
        assert res["results"][0]["error"]["field"] == "dept"
        assert "LY-SCJGJ" in res["results"][0]["error"]["got"]
        assert db.scalar("SELECT count(*) FROM events") == 0

        r = c.post_events([foreign, own], fmt="json")
        assert statuses(r.json()) == ["rejected", "accepted"]
    assert db.event_counts() == {own["id"]: 1}
    assert db.scalar("SELECT count(*) FROM events WHERE dept = 'LY-SCJGJ'") == 0


def sample_feeds():
    """(department, path) of every sample feed: config/samples/events/approval/DEPT.ndjson
    and .../supervision/DEPT.ndjson; the basename names the department that sends it."""
    return [(p.stem, p) for kind in ("approval", "supervision")
            for p in sorted((SAMPLES / "events" / kind).glob("*.ndjson"))]


def test_sample_feeds(esupd, db):
    """The sample feed of config/samples is valid: every event of every file is accepted
    with its department's certificate, and a resend is all duplicates."""
    feeds = sample_feeds()
    assert {d for d, _ in feeds} == set(DEPTS)
    sent = {}
    for dept, path in feeds:
        data = path.read_bytes()
        lines = [ln for ln in data.splitlines() if ln.strip()]
        assert lines, path
        r = esupd.curl("/v1/events", "dept-" + dept, data=data,
                       content_type="application/x-ndjson")
        assert r.status == 200, r.body
        res = r.json()
        bad = [x for x in res["results"] if x["status"] != "accepted"]
        assert bad == [], path
        # unknown fields are context (an item's name, esupctl eval's received_at), none
        # of them close to a known name: no misspelling in the samples
        typos = [(x["id"], w) for x in res["results"] for w in x.get("warnings", [])
                 if w["nearest"] is not None]
        assert typos == [], path
        r = esupd.curl("/v1/events", "dept-" + dept, data=data,
                       content_type="application/x-ndjson")
        assert r.json()["duplicate"] == len(lines), path
        sent[dept] = sent.get(dept, 0) + len(lines)
    for dept, n in sent.items():
        counts = db.event_counts(dept)
        assert len(counts) == n and set(counts.values()) == {1}, dept


def test_unknown_field_warnings(esupd, db):
    """Unknown fields are accepted, stored and warned about, per event, with the nearest
    known name; accepted, duplicate and rejected results alike; a clean event has no
    `warnings` key."""
    typo = event(type="approval.extended", days=20, aprover="P0012")
    far = event(type="approval.extended", days=20, approver="P0012", zzqqxx=1)
    clean = event(type="approval.extended", days=20, approver="P0012")
    refused = event(type="approval.extended", dayz=20)
    nested = event(applicant={"uscc": "91410300MA44ABCD1R", "nmae": "洛阳"})
    r = esupd.curl("/v1/events", "dept-LY-SCJGJ",
                   data=ndjson([typo, far, clean, refused, nested]),
                   content_type="application/x-ndjson")
    assert r.status == 200, r.body
    res = r.json()["results"]
    assert [x["status"] for x in res] == ["accepted", "accepted", "accepted", "rejected",
                                          "accepted"]
    assert res[0]["warnings"] == [{"field": "aprover",
                                   "message": "not a field of approval.extended",
                                   "nearest": "approver"}]
    assert res[1]["warnings"] == [{"field": "zzqqxx",
                                   "message": "not a field of approval.extended",
                                   "nearest": None}]
    assert "warnings" not in res[2]
    assert res[3]["error"]["field"] == "days"
    assert res[3]["warnings"] == [{"field": "dayz",
                                   "message": "not a field of approval.extended",
                                   "nearest": "days"}]
    assert res[4]["warnings"] == [{"field": "applicant.nmae",
                                   "message": "not a field of applicant in approval.accepted",
                                   "nearest": "name"}]
    # Accepted means stored as sent, the unknown field too.
    stored = db.query("SELECT body FROM events WHERE event_id = %s", (typo["id"],))
    assert stored[0][0]["aprover"] == "P0012"

    # A resend is a duplicate, told the same; so is an event refused for its department.
    foreign = event(dept="LY-ZJJ", type="approval.extended", days=20, aprover="P0012")
    with esupd.client("dept-LY-SCJGJ") as c:
        r = c.post_events([typo, clean, foreign], fmt="json")
    assert r.status == 200, r.body
    res = r.json()["results"]
    assert [x["status"] for x in res] == ["duplicate", "duplicate", "rejected"]
    assert res[0]["warnings"][0]["nearest"] == "approver"
    assert "warnings" not in res[1]
    assert res[2]["error"]["field"] == "dept"
    assert res[2]["warnings"][0]["field"] == "aprover"
