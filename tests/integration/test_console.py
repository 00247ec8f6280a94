"""The supervision console end to end: a real esupd and PostgreSQL, and Debian's Chromium
(headless, driven by selenium) presenting one principal's client certificate (browser.py).
Screenshots of each step go to the test's directory (ESUP_KEEP=1 keeps them)."""

import time
from datetime import datetime

from browser import _browser_policy_cleanup, browser  # noqa: F401 (fixtures)
from conftest import event

LIVE = "/v1/alerts?status=open,acknowledged,appealed"


def offset_to(instant):
    return str(round(datetime.fromisoformat(instant).timestamp() - time.time()))


def start(daemon_factory, instant, **overrides):
    """esupd with its business clock at `instant`, sweeping every 100 ms, late reporting off
    (the tests send past events on purpose)."""
    config = {"sweeper": {"interval_ms": "100"},
              "testing": {"clock_offset_s": offset_to(instant)},
              "rules": {"disable": "APR-LATE-REPORT"}}
    for section, values in overrides.items():
        config.setdefault(section, {}).update(values)
    return daemon_factory(**config).start()


def post(d, dept, events):
    """Sends events as a department must: resending on 429/503 (nothing stored)."""
    with d.client("dept-" + dept) as c:
        r = c.post_events_committed(events)
    assert r.status == 200, r.body
    assert [x["status"] for x in r.json()["results"]] == ["accepted"] * len(events), r.body


def refusal_without_reason(d, dept, n, day="2026-03-11"):
    """An approval refused without a reason: a yellow APR-REFUSAL-NO-REASON at ingest."""
    case = "%s-2026-9%05d" % (dept, n)
    item = {"LY-ZJJ": "ZJ-004"}[dept]
    post(d, dept, [event(dept=dept, type="approval.accepted", case=case, item=item,
                         at=day + "T09:30:00+08:00"),
                   event(dept=dept, type="approval.decided", case=case, result="denied",
                         report="%s-BPZ-2026-%03d" % (dept, n), at=day + "T16:00:00+08:00")])
    return case


def test_browser_presents_its_certificate(daemon_factory, refdb, browser):
    """The harness itself: Chromium trusts the test CA through its NSS database (no
    certificate error ignored) and presents, unasked, the one certificate it holds; the
    daemon answers each browser as that principal (what Chromium shows is what curl gets
    with the same certificate, and the principals' answers differ)."""
    d = start(daemon_factory, "2026-03-11T16:05:00+08:00")
    case = refusal_without_reason(d, "LY-ZJJ", 1)
    browsers = [browser(n, d) for n in ("supervisor", "dept-LY-ZJJ", "dept-LY-HBJ")]
    seen = {}
    for b in browsers:
        want = d.curl(LIVE, b.name)
        assert want.status == 200, want.body
        got = b.json(LIVE)
        assert got == want.json(), (b.name, got, want.json())
        seen[b.name] = [(a["dept"], a["case"], a["rule"]) for a in got["alerts"]]
        b.shot("alerts-json")
    mine = [("LY-ZJJ", case, "APR-REFUSAL-NO-REASON")]
    assert seen == {"supervisor": mine, "dept-LY-ZJJ": mine, "dept-LY-HBJ": []}, seen
    for b in browsers:
        assert b.started_s < 15, "chromium took %.1fs to start" % b.started_s
        urls = b.request_urls()
        assert urls and all(u.startswith(b.base_url + "/") for u in urls), urls
