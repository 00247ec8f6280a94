"""Hostile and broken input: clear errors naming the field, nothing stored, service goes on."""

import json

import pytest

from conftest import event, ndjson, statuses

LIMITS = {"max_body_bytes": 8192, "max_line_bytes": 4096, "max_events_per_request": 20,
          "max_json_depth": 16}


@pytest.fixture
def small(daemon_factory):
    """esupd with small limits, so that exceeding them is cheap."""
    return daemon_factory(limits=LIMITS).start()


def served_normally(d, db, stored_before):
    """The next request after the bad ones is served and stored as usual."""
    good = event()
    with d.client("dept-LY-SCJGJ") as c:
        r = c.post_events([good])
    assert r.status == 200, r.body
    assert statuses(r.json()) == ["accepted"]
    assert db.scalar("SELECT count(*) FROM events") == stored_before + 1
    assert d.running()


def test_malformed_json_gets_400(small, db):
    for body in (b'{"id": "x", "dept": ', b"\x00\x01garbage", b"", b"[1, 2,]"):
        with small.client("dept-LY-SCJGJ") as c:
            r = c.request("POST", "/v1/events", body, "application/json")
        assert r.status == 400, (body, r.status, r.body)
        err = r.json()["error"]
        assert err["field"] == ""
        assert err["expected"] == "a JSON object or array of objects"
        assert err["got"], body
    assert db.scalar("SELECT count(*) FROM events") == 0
    served_normally(small, db, 0)


def test_oversized_body_and_too_many_events_get_413(small, db):
    big = ndjson([event(note="x" * 200) for _ in range(40)])
    assert len(big) > LIMITS["max_body_bytes"]
    r = small.curl("/v1/events", "dept-LY-SCJGJ", data=big, content_type="application/x-ndjson")
    assert r.status == 413, (r.returncode, r.stderr, r.body)

    many = [event() for _ in range(LIMITS["max_events_per_request"] + 1)]
    for fmt in ("ndjson", "json"):
        with small.client("dept-LY-SCJGJ") as c:
            r = c.post_events(many, fmt=fmt)
        assert r.status == 413, (fmt, r.body)
    assert db.scalar("SELECT count(*) FROM events") == 0

    exactly = many[:LIMITS["max_events_per_request"]]
    with small.client("dept-LY-SCJGJ") as c:
        r = c.post_events(exactly)
    assert r.status == 200 and r.json()["accepted"] == len(exactly)
    served_normally(small, db, len(exactly))


def test_unsupported_content_type_gets_415(small, db):
    with small.client("dept-LY-SCJGJ") as c:
        r = c.request("POST", "/v1/events", ndjson([event()]), "text/plain")
    assert r.status == 415, r.body
    assert db.scalar("SELECT count(*) FROM events") == 0
    served_normally(small, db, 0)


def nested(depth):
    v = "deep"
    for _ in range(depth):
        v = [v]
    return v


# (description, event, field the error must name, text the error must echo back)
BAD_EVENTS = [
    ("impossible date", event(at="2026-02-30T10:00:00+08:00"), "at", "2026-02-30"),
    ("hour 24", event(at="2026-03-02T24:00:00+08:00"), "at", "24:00"),
    ("no offset", event(at="2026-03-02T09:15:00"), "at", "2026-03-02T09:15:00"),
    ("missing item", event(item=None), "item", "(missing)"),
    ("missing case", event(case=None), "case", "(missing)"),
    ("missing amount", event(type="fee.collected", case=None, fee_item="ZJ-017",
                             payer={"uscc": "91410300MA44ABCD1R"}), "amount", "(missing)"),
    ("three decimals", event(type="fee.collected", case=None, fee_item="ZJ-017",
                             amount="12.345", payer={"uscc": "91410300MA44ABCD1R"}),
     "amount", "12.345"),
    ("bad check digit", event(applicant={"uscc": "91410300MA44ABCD1A"}), "applicant.uscc",
     "91410300MA44ABCD1A"),
    ("unknown type", event(type="approval.teleported"), "type", "approval.teleported"),
    ("bad enum", event(type="approval.suspended", kind="nap", days=3), "kind", "nap"),
    ("id too long", event(id="x" * 65), "id", "xxxx"),
]


def test_bad_events_name_the_field(small, db):
    with small.client("dept-LY-SCJGJ") as c:
        r = c.post_events([e for _, e, _, _ in BAD_EVENTS])
    assert r.status == 200, r.body
    res = r.json()
    assert res["rejected"] == len(BAD_EVENTS) and res["accepted"] == 0
    for (what, _, field, got), result in zip(BAD_EVENTS, res["results"]):
        assert result["status"] == "rejected", what
        err = result["error"]
        assert err["field"] == field, (what, err)
        assert err["expected"], (what, err)
        assert got in err["got"], (what, err)
    assert db.scalar("SELECT count(*) FROM events") == 0
    served_normally(small, db, 0)


# Java's usual forms: still refused, each with the same date and time in the right form;
# a date or time that does not exist: refused, saying which part.
TIME_HINTS = [
    ("2026-03-02T10:00:00+0800",
     "an RFC 3339 date-time with a colon in the offset, such as 2026-03-02T10:00:00+08:00"),
    ("2026-04-11T16:45:30",
     "an RFC 3339 date-time with an offset, such as 2026-04-11T16:45:30+08:00"),
    ("2026-05-20 08:05:00+08:00",
     "an RFC 3339 date-time with T between date and time, such as 2026-05-20T08:05:00+08:00"),
    ("2026-06-30 23:59:59", "an RFC 3339 date-time with T between date and time and an offset,"
     " such as 2026-06-30T23:59:59+08:00"),
    # Java's OffsetDateTime.toString() at zero seconds
    ("2026-11-20T09:15+08:00",
     "an RFC 3339 date-time: seconds are required, such as 2026-11-20T09:15:00+08:00"),
    # the right form, but no such date or time
    ("2026-02-30T09:15:00+08:00", "a date that exists (no such day: February 2026 has 28 days)"),
    ("2026-03-02T24:00:00+08:00", "a time that exists (no such hour: 24; hours are 00 to 23, "
     "and midnight ending a day is 00:00:00 of the next)"),
    ("2026-03-02T09:15:60+08:00", "a time that exists (no such second: 60; seconds are 00 to 59,"
     " leap seconds are not sent)"),
]


def test_wrong_time_forms_are_refused_with_the_corrected_example(small, db):
    bad = [event(at=at) for at, _ in TIME_HINTS]
    bad.append(event(type="fee.filed", filing={"office": "city", "ref": "BA-1",
                                              "filed_at": "2026-03-04T08:30:00-0530"}))
    with small.client("dept-LY-SCJGJ") as c:
        r = c.post_events(bad, fmt="ndjson")
    assert r.status == 200, r.body
    res = r.json()
    assert statuses(res) == ["rejected"] * len(bad)
    for (at, hint), result in zip(TIME_HINTS, res["results"]):
        assert result["error"] == {"field": "at", "expected": hint, "got": json.dumps(at)}
    assert res["results"][-1]["error"]["field"] == "filing.filed_at"
    assert res["results"][-1]["error"]["expected"] == (
        "an RFC 3339 date-time with a colon in the offset, such as 2026-03-04T08:30:00-05:30")
    assert db.scalar("SELECT count(*) FROM events") == 0
    served_normally(small, db, 0)


def test_nesting_too_deep_rejects_that_event_alone(small, db):
    ok1, deep, ok2 = event(), event(extra=nested(40)), event()
    with small.client("dept-LY-SCJGJ") as c:
        r = c.post_events([ok1, deep, ok2])
    assert r.status == 200, r.body
    res = r.json()
    assert statuses(res) == ["accepted", "rejected", "accepted"]
    assert "deep" in res["results"][1]["error"]["expected"]
    stored = db.event_counts()
    assert deep["id"] not in stored and len(stored) == 2

    # Nested far beyond any sane parser depth: refused, never a crash.
    with small.client("dept-LY-SCJGJ") as c:
        r = c.request("POST", "/v1/events", b"[" * 5000 + b"]" * 5000, "application/json")
    assert r.status in (400, 413), r.body
    served_normally(small, db, 2)


def test_bad_lines_in_ndjson_are_rejected_alone(small, db):
    good = [event() for _ in range(3)]
    lines = [json.dumps(good[0]), "not json at all", json.dumps(good[1]), "[1,2,3]",
             json.dumps(event(at="2026-02-30T10:00:00+08:00")), json.dumps(good[2])]
    with small.client("dept-LY-SCJGJ") as c:
        r = c.post_events(lines)
    assert r.status == 200, r.body
    assert statuses(r.json()) == ["accepted", "rejected", "accepted", "rejected", "rejected",
                                  "accepted"]
    assert db.event_counts() == {e["id"]: 1 for e in good}
