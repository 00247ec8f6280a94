"""The console's charts (console/charts.js) and case timeline (console/timeline.js) in Chromium,
against a real esupd holding real data: the sample feed (config/samples/events: cases with
suspensions, extensions and cards; an open suspension in November) plus a few cases
decided in November, so that the business month (the business clock is the sample feed's
instant, 2026-11-23 12:00) has on-time rates, cards and scores to draw, and a department with
nothing at all (no rate, no score).

What is checked is what a person reads: every department, month, event, suspension, extension,
deadline and alert of the endpoints' JSON has its SVG element with the right data attributes,
nothing else has one, bars are ordered and sized by their values, and labels do not overlap.
The JSON is that of the very requests the page made (read from Chromium's network log), asked
again with curl as the same principal.
"""

import re
from urllib.parse import urlsplit

import pytest

from browser import _browser_policy_cleanup, browser  # noqa: F401 (fixtures)
from conftest import event, offset_to, wait_for
from test_cases import sample_files

NOW = "2026-11-23T12:00:00+08:00"     # the instant the sample feed is written for
CJK = re.compile(r"[\u4e00-\u9fff]")


def ev(dept, case, kind, when, **fields):
    return event(dept=dept, id="%s-%s" % (case, kind.replace("_", "")), type="approval." + kind,
                 at="2026-11-%sT%s:00+08:00" % tuple(when.split()), case=case, **fields)


# Cases decided in November. SCJG-004 allows 5 working days committed, 15 statutory; ZJ-004 7
# and 10. SCJGJ: one on time, one decided after its committed deadline (2026-11-09): 1 of 2,
# and a yellow card; ZJJ: 1 of 1. The others decide nothing in November (rate null).
SCJ, ZJJ, QUIET = "LY-SCJGJ", "LY-ZJJ", "LY-KJJ"
ONTIME_CASE, LATE_CASE, ZJJ_CASE = SCJ + "-2026-NOV-1", SCJ + "-2026-NOV-2", ZJJ + "-2026-NOV-1"
NOVEMBER = {
    SCJ: [
        ev(SCJ, ONTIME_CASE, "accepted", "02 09:00", item="SCJG-004"),
        ev(SCJ, ONTIME_CASE, "decided", "04 15:00", result="approved"),
        # five events on one day: their labels must stack, not overlap
        ev(SCJ, LATE_CASE, "received", "02 09:00", item="SCJG-004"),
        ev(SCJ, LATE_CASE, "supplement_requested", "02 09:20", materials="营业执照"),
        ev(SCJ, LATE_CASE, "supplement_received", "02 09:40"),
        ev(SCJ, LATE_CASE, "accepted", "02 10:00", item="SCJG-004"),
        ev(SCJ, LATE_CASE, "step", "02 10:30", step="review", handler="P0101"),
        ev(SCJ, LATE_CASE, "decided", "20 11:00", result="denied", reason="不符合条件",
           report="LY-SCJGJ-BPZ-2026-031"),
    ],
    ZJJ: [
        ev(ZJJ, ZJJ_CASE, "accepted", "03 09:00", item="ZJ-004"),
        ev(ZJJ, ZJJ_CASE, "decided", "05 10:00", result="approved"),
    ],
}


@pytest.fixture
def loaded(daemon_factory, refdb):
    """esupd at the business instant NOW, the sample feed and November's cases stored and
    evaluated, the sweeper caught up."""
    offset = offset_to(NOW)
    # a department with nothing at all: no rate (无办结) and no score (无可评)
    refdb.query("INSERT INTO departments (code, name, region) VALUES (%s, '洛阳市科学技术局', '410300')",
                (QUIET,))
    d = daemon_factory(sweeper={"interval_ms": "100"}, testing={"clock_offset_s": offset},
                       rules={"disable": "APR-LATE-REPORT"}).start()
    for path in sample_files():
        r = d.curl("/v1/events", "dept-" + path.stem, data=path.read_bytes(),
                   content_type="application/x-ndjson")
        assert r.status == 200 and r.json()["rejected"] == 0, (path, r.body)
    for dept, events in NOVEMBER.items():
        with d.client("dept-" + dept) as c:
            r = c.post_events_committed(events)
        assert r.status == 200 and [x["status"] for x in r.json()["results"]] == \
            ["accepted"] * len(events), r.body

    def caught_up():
        return refdb.scalar("SELECT count(*) FROM cases WHERE next_check_at <= now()"
                            " + make_interval(secs => %s)", (int(offset),)) == 0
    wait_for(caught_up, 30, "the sweeper to catch up")
    return d


def api(d, principal, path):
    r = d.curl(path, principal)
    assert r.status == 200, (path, r.status, r.body)
    return r.json()


def page_request(b, prefix):
    """The path (with its query) of the page's request to prefix (the last one)."""
    paths = []
    for url in b.request_urls():
        u = urlsplit(url)
        if u.path == prefix:
            paths.append(u.path + ("?" + u.query if u.query else ""))
    assert paths, "the page never asked for %s (asked: %s)" % (prefix, b.request_urls())
    return paths[-1]


# Reads an SVG's elements matching a selector: their attributes, box, the words they show (of
# their <text>s, tooltips aside) and their own tooltip.
READ = """
const root = document.querySelector(arguments[0]);
if (!root) return null;
return Array.from(root.querySelectorAll(arguments[1])).map((n) => {
  const attrs = {};
  for (const a of n.attributes) attrs[a.name] = a.value;
  const box = n.getBBox();
  const t = n.querySelector(':scope > title');
  const own = (e) => Array.from(e.childNodes).filter((c) => c.nodeType === 3).map((c) => c.data).join('');
  const label = n.tagName === 'text' ? own(n) : Array.from(n.querySelectorAll('text')).map(own).join(' ');
  return {attrs: attrs, x: box.x, y: box.y, w: box.width, h: box.height,
          text: label, title: t ? t.textContent : null};
});
"""


def read(b, root, selector):
    got = b.execute_script(READ, root, selector)
    assert got is not None, "no %s on the page" % root
    return got


def texts(b, root):
    return [t["text"] for t in read(b, root, "text")]


def overlaps(boxes):
    """Pairs of boxes (x, y, w, h, label) that intersect by more than half a pixel."""
    bad = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            if (min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]) > 0.5 and
                    min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]) > 0.5):
                bad.append((a[4], b[4]))
    return bad


def check_ontime(b, data):
    svg = "#chart-ontime svg"
    bars = read(b, svg, ".bar")
    rated = [x for x in data["departments"] if x["rate"] is not None]
    unrated = [x for x in data["departments"] if x["rate"] is None]
    assert rated and unrated, data   # the data exercise both
    assert sorted(x["attrs"]["data-dept"] for x in bars) == sorted(x["dept"] for x in rated)
    by_dept = {x["dept"]: x for x in rated}
    for bar in bars:
        assert float(bar["attrs"]["data-rate"]) == pytest.approx(by_dept[bar["attrs"]["data-dept"]]["rate"])
        assert bar["title"] and CJK.search(bar["title"]), bar
    # ordered by rate, highest first; lengths proportional to the rate (100 % = the full axis)
    order = [x["attrs"]["data-dept"] for x in sorted(bars, key=lambda x: x["y"])]
    assert [by_dept[d]["rate"] for d in order] == sorted((x["rate"] for x in rated), reverse=True)
    full = max(x["w"] / x_rate for x, x_rate in ((x, by_dept[x["attrs"]["data-dept"]]["rate"]) for x in bars)
               if x_rate > 0)
    for bar in bars:
        assert bar["w"] == pytest.approx(max(1, full * by_dept[bar["attrs"]["data-dept"]]["rate"]), abs=1)
    words = texts(b, svg)
    assert words.count("无办结") == len(unrated)
    assert "按时办结率 · " + data["month"] in words
    assert "100%" in words and "0%" in words   # the axis


def check_cards(b, data):
    svg = "#chart-cards svg"
    bars = read(b, svg, ".bar")
    want = sorted((m["month"], s, m[s]) for m in data["months"] for s in ("red", "yellow", "notice")
                  if m[s] > 0)
    assert want, data
    got = sorted((x["attrs"]["data-month"], x["attrs"]["data-severity"], int(x["attrs"]["data-count"]))
                 for x in bars)
    assert got == want
    # heights proportional to counts; a month's segments stacked without gaps, red lowest
    unit = max(x["h"] / int(x["attrs"]["data-count"]) for x in bars)
    for bar in bars:
        assert bar["h"] == pytest.approx(unit * int(bar["attrs"]["data-count"]), abs=0.6)
        assert bar["title"] and CJK.search(bar["title"])
    for m in data["months"]:
        column = sorted((x for x in bars if x["attrs"]["data-month"] == m["month"]),
                        key=lambda x: -x["y"])
        assert [x["attrs"]["data-severity"] for x in column] == \
            [s for s in ("red", "yellow", "notice") if m[s] > 0]
        for low, high in zip(column, column[1:]):
            assert high["y"] + high["h"] == pytest.approx(low["y"], abs=0.6)
    words = texts(b, svg)
    totals = [str(m["red"] + m["yellow"] + m["notice"]) for m in data["months"]]
    for t in set(totals):
        assert words.count(t) >= totals.count(t), (t, words)
    assert "每月预警（有效红黄牌）" in words
    assert {"红牌", "黄牌", "提示"} <= set(words)   # the legend


def check_ranking(b, data):
    svg = "#chart-ranking svg"
    bars = read(b, svg, ".bar")
    scored = [x for x in data["departments"] if x["score"] is not None]
    unscored = [x for x in data["departments"] if x["score"] is None]
    assert scored and unscored, data
    assert sorted(x["attrs"]["data-dept"] for x in bars) == sorted(x["dept"] for x in scored)
    by_dept = {x["dept"]: x for x in scored}
    order = [x["attrs"]["data-dept"] for x in sorted(bars, key=lambda x: x["y"])]
    assert order == [x["dept"] for x in sorted(scored, key=lambda x: (x["rank"], x["dept"]))]
    full = max(x["w"] / float(by_dept[x["attrs"]["data-dept"]]["score"]) * 100 for x in bars
               if float(by_dept[x["attrs"]["data-dept"]]["score"]) > 0)
    for bar in bars:
        s = float(by_dept[bar["attrs"]["data-dept"]]["score"])
        assert bar["w"] == pytest.approx(max(1, full * s / 100), abs=1)
        assert float(bar["attrs"]["data-score"]) == pytest.approx(s)
        assert CJK.search(bar["title"])
    words = texts(b, svg)
    assert words.count("末位") == sum(1 for x in scored if x["bottom"])
    assert words.count("无可评") == len(unscored)
    for x in scored:
        assert str(x["rank"]) in words
    assert "绩效评估排名 · " + data["period"] in words


def test_charts_draw_the_statistics(loaded, browser):
    d = loaded
    b = browser("supervisor", daemon=d)
    b.open("/console/#/charts").wait_ready("charts")
    ontime = api(d, "supervisor", page_request(b, "/v1/stats/ontime"))
    cards = api(d, "supervisor", page_request(b, "/v1/stats/cards"))
    scores = api(d, "supervisor", page_request(b, "/v1/scores"))
    b.full_shot("charts")
    # the data are the test's: November's rates as sent; the sample feed's cards, raised now
    assert ontime["month"] == "2026-11"
    rates = {x["dept"]: (x["decided"], x["on_time"]) for x in ontime["departments"]}
    assert rates[SCJ] == (2, 1) and rates[ZJJ] == (1, 1) and rates["LY-HBJ"] == rates[QUIET] == (0, 0)
    assert [x["score"] for x in scores["departments"] if x["dept"] == QUIET] == [None]
    assert [m["month"] for m in cards["months"]][-1] == "2026-11"
    last = cards["months"][-1]
    assert last["red"] > 0 and last["yellow"] > 0 and last["notice"] > 0, last
    check_ontime(b, ontime)
    check_cards(b, cards)
    check_ranking(b, scores)
    severe = [e for e in b.console_log() if e.get("level") == "SEVERE"]
    assert not severe, severe


def check_timeline(b, case):
    svg = "#timeline svg"
    # events: one marker each, in business-time order, named in Chinese
    marks = read(b, svg, ".tl-event")
    assert [(m["attrs"]["data-id"], m["attrs"]["data-type"]) for m in marks] == \
        [(e["id"], e["type"]) for e in case["events"]]
    for m in marks:
        assert CJK.search(m["text"]) and CJK.search(m["title"]), m
    # suspensions and extensions: the clock's, by their events
    susp = read(b, svg, ".tl-suspended")
    assert [s["attrs"]["data-event"] for s in susp] == \
        [k["event"] for k in case["clock"] if k["kind"] == "suspended"]
    ext = read(b, svg, ".tl-extended")
    assert [x["attrs"]["data-event"] for x in ext] == \
        [k["event"] for k in case["clock"] if k["kind"] == "extended"]
    # deadlines: one line per deadline the case has
    lines = read(b, svg, ".tl-deadline")
    assert sorted(x["attrs"]["data-kind"] for x in lines) == \
        sorted(k for k, v in case["deadline"].items() if v is not None)
    for x in lines:
        word = "承诺时限" if x["attrs"]["data-kind"] == "committed" else "法定时限"
        assert word in x["text"] and case["deadline"][x["attrs"]["data-kind"]] in x["text"]
    # alerts: every one of the case, in its severity
    alerts = read(b, svg, ".tl-alert")
    assert sorted(int(a["attrs"]["data-id"]) for a in alerts) == sorted(a["id"] for a in case["alerts"])
    sev = {a["id"]: a for a in case["alerts"]}
    for a in alerts:
        x = sev[int(a["attrs"]["data-id"])]
        assert a["attrs"]["data-severity"] == x["severity"] and x["rule"] in a["title"]
    # no label overlaps another
    boxes = [(t["x"], t["y"], t["w"], t["h"], t["text"])
             for t in read(b, svg, ".tl-event text, .tl-alert text, .tl-deadline text, .tl-now text")]
    assert not overlaps(boxes), overlaps(boxes)
    return susp


def open_case(b, d, dept, case_no):
    """Opens the case view (a new hash in the same page: waits for that case to be drawn)."""
    b.open("/console/#/case/%s/%s" % (dept, case_no))
    b.wait(lambda: b.execute_script(
        "var c = document.querySelector('#case'); return c && c.getAttribute('data-case') ==="
        " arguments[0] && document.body.getAttribute('data-ready') === '1' &&"
        " document.querySelector('#timeline svg') !== null", case_no), "case %s drawn" % case_no)
    b.wait_ready("case")
    return api(d, "supervisor", "/v1/cases/%s/%s" % (dept, case_no))


def test_case_timeline(loaded, browser):
    d = loaded
    b = browser("supervisor", daemon=d)

    # March: a hearing (suspended 03-06, resumed 03-20), then 10 days' extension, decided
    case = open_case(b, d, "LY-ZRZYJ", "LY-ZRZYJ-2026-000402")
    assert [e["id"] for e in case["events"]] == ["zr-000402-%d" % i for i in range(7)]
    assert [(k["kind"], k["event"]) for k in case["clock"]] == [
        ("suspended", "zr-000402-3"), ("extended", "zr-000402-5")]
    susp = check_timeline(b, case)
    assert "open" not in susp[0]["attrs"]["class"].split()
    b.full_shot("case-402")

    # November: a public notice still running at the business instant: the bar reaches now
    case = open_case(b, d, "LY-ZRZYJ", "LY-ZRZYJ-2026-000420")
    assert [(k["kind"], k["to"]) for k in case["clock"]] == [("suspended", None)]
    susp = check_timeline(b, case)
    assert "open" in susp[0]["attrs"]["class"].split()
    now = read(b, "#timeline svg", ".tl-now line")
    assert len(now) == 1
    assert susp[0]["x"] + susp[0]["w"] == pytest.approx(now[0]["x"], abs=1.5)

    # five events on 2 November, a denial on the 20th, a card: labels stacked, none overlapping
    case = open_case(b, d, SCJ, LATE_CASE)
    assert len(case["events"]) == 6 and case["alerts"], case
    check_timeline(b, case)
    names = [m["text"] for m in read(b, "#timeline svg", ".tl-event")]
    assert names[0].startswith("收件") and names[3].startswith("受理") and names[-1].startswith("不予许可")
    b.full_shot("case-late")
    severe = [e for e in b.console_log() if e.get("level") == "SEVERE"]
    assert not severe, severe
