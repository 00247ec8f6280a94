"""The supervision console end to end: a real esupd and PostgreSQL, and Debian's Chromium
(headless, driven by selenium) presenting one principal's client certificate (browser.py).

One daemon for the module, its business clock at the sample feed's instant, the sample feed
pushed by each department with its certificate as contrib/quickstart does (late reporting off:
the feed is history). Each test works out what it expects from the database at the time it
looks, so the tests do not depend on each other's order. Screenshots of every step go to the
test's directory (ESUP_KEEP=1 keeps them); so do chromedriver logs while a test runs.
"""

import itertools
import time

import psycopg
import pytest
from selenium.webdriver.common.by import By

from browser import _browser_policy_cleanup, browser  # noqa: F401 (fixtures)
from conftest import (CALENDAR, ITEMS, SAMPLES, SUPERVISION_TABLES, Daemon, add_principal,
                      chown_daemon, event, finish_daemons, migrated_database, offset_to,
                      wait_for)

SAMPLE_NOW = "2026-11-23T12:00:00+08:00"
LIVE = ("open", "acknowledged", "appealed")
LIVE_QUERY = "/v1/alerts?status=open,acknowledged,appealed"
SEVERITIES = ("red", "yellow", "notice")
OTHER_REGION = "410200"
_cases = itertools.count(1)


def sample_files():
    """Every sample feed, in the order quickstart pushes the history."""
    return [p for kind in ("supervision", "approval")
            for p in sorted((SAMPLES / "events" / kind).glob("*.ndjson"))]


def post(d, dept, events):
    """Sends events as a department must: resending on 429/503 (nothing stored)."""
    with d.client("dept-" + dept) as c:
        r = c.post_events_committed(events)
    assert r.status == 200, r.body
    assert [x["status"] for x in r.json()["results"]] == ["accepted"] * len(events), r.body


def wait_sweeper(d, db):
    """Until no case is due at the business clock: the sweeper has caught up."""
    offset = int(d.config["testing"]["clock_offset_s"])
    wait_for(lambda: db.scalar("SELECT count(*) FROM cases WHERE next_check_at <= now()"
                               " + make_interval(secs => %s)", (offset,)) == 0,
             30, "the sweeper to catch up")


# Two departments beyond the sample's five, both without any event in the sample feed: one
# stays quiet all along (a clear tile whatever the tests do), the other, with one catalogue
# item and a certificate of its own, is where test (b) raises a red alert.
QUIET = ("LY-TJJ", "洛阳市统计局", "410300")
TARGET = ("LY-WJW", "洛阳市卫生健康委员会", "410300")
TARGET_ITEM = "WJ-001,LY-WJW,医疗机构执业登记,45,20,working,,,"


@pytest.fixture(scope="module")
def sample(pg, certs, workdir, request):
    """(daemon, database): esupd at SAMPLE_NOW with the sample feed stored and evaluated."""
    db = migrated_database(pg, certs, workdir, "console")
    with psycopg.connect(db.conninfo("esup_admin"), autocommit=True) as conn:
        conn.execute("SET ROLE esup_owner")
        for dept in (QUIET, TARGET):
            conn.execute("INSERT INTO departments (code, name, region) VALUES (%s, %s, %s)", dept)
    add_principal(db, certs, "dept-" + TARGET[0], "department", dept=TARGET[0])
    items = workdir / (db.name + "-items.csv")
    items.write_text(ITEMS.read_text(encoding="utf-8").rstrip("\n") + "\n" + TARGET_ITEM + "\n",
                     encoding="utf-8")
    items.chmod(0o644)
    db.load("calendar", CALENDAR)
    db.load("items", items)
    for table in SUPERVISION_TABLES:
        db.load(table, SAMPLES / (table + ".csv"))
    where = workdir / (db.name + "-esupd")
    where.mkdir(mode=0o755)
    chown_daemon(where)
    d = Daemon(db, certs, where, sweeper={"interval_ms": "100"},
               testing={"clock_offset_s": offset_to(SAMPLE_NOW)},
               rules={"disable": "APR-LATE-REPORT"})
    made = [d]
    try:
        d.start()
        for path in sample_files():
            r = d.curl("/v1/events", "dept-" + path.stem, data=path.read_bytes(),
                       content_type="application/x-ndjson")
            assert r.status == 200 and r.json()["rejected"] == 0, (path, r.body)
        wait_sweeper(d, db)
        yield d, db
    finally:
        finish_daemons(made, request)


# ---------------------------------------------------------------- what the database says


def departments(db, region="410300"):
    """Department codes in a region's scope (prefix rule), ordered."""
    prefix = region.rstrip("0") if region else ""
    return [r[0] for r in db.query("SELECT code FROM departments WHERE region LIKE %s"
                                   " ORDER BY code", (prefix + "%",))]


def live_counts(db):
    """dept -> {red, yellow, notice} of live alerts (open, acknowledged, appealed)."""
    counts = {code: dict.fromkeys(SEVERITIES, 0) for code in departments(db)}
    for dept, sev, n in db.query("SELECT dept, severity, count(*) FROM alerts WHERE dept IS NOT"
                                 " NULL AND status = ANY(%s) GROUP BY dept, severity",
                                 (list(LIVE),)):
        counts.setdefault(dept, dict.fromkeys(SEVERITIES, 0))[sev] = n
    return counts


def worst(counts):
    return next((s for s in SEVERITIES if counts[s] > 0), "clear")


def board_expected(db):
    return {dept: (worst(c), c) for dept, c in live_counts(db).items()}


def items_of(db, dept):
    return [r[0] for r in db.query("SELECT code FROM items WHERE dept = %s ORDER BY code",
                                   (dept,))]


# ---------------------------------------------------------------- what the browser shows


def console(b, route, view):
    """Opens the console at a hash route and waits for its view to be ready."""
    b.open("/console/#" + route)
    return b.wait_ready(view)


def go(b, route, view):
    """Moves to another route inside the page (no reload) and waits for the view."""
    b.execute_script("location.hash = arguments[0]", route)
    return b.wait_ready(view)


def tiles(b):
    """dept -> (data-worst, {red, yellow, notice}) of every tile on the board."""
    return {t["dept"]: (t["worst"], {s: int(t[s]) for s in SEVERITIES})
            for t in b.execute_script("""
        return Array.from(document.querySelectorAll('#board .tile[data-dept]')).map((t) => ({
            dept: t.dataset.dept, worst: t.dataset.worst,
            red: t.querySelector('.count-red').textContent.trim(),
            yellow: t.querySelector('.count-yellow').textContent.trim(),
            notice: t.querySelector('.count-notice').textContent.trim()}));""")}


def buttons(b):
    return sorted(e.get_attribute("data-action")
                  for e in b.find_elements(By.CSS_SELECTOR, "#alert-actions button.act[data-action]"))


def history(b):
    return [e.get_attribute("data-action")
            for e in b.find_elements(By.CSS_SELECTOR, "#alert-history li.action[data-action]")]


def alert_status(b):
    return b.execute_script("var a = document.getElementById('alert');"
                            " return a ? a.getAttribute('data-status') : null;")


def set_marker(b):
    """A value on the window object: it survives only if the page is never reloaded."""
    marker = "m%d" % time.monotonic_ns()
    b.execute_script("window.__esupMarker = arguments[0]", marker)
    return marker


def marker(b):
    return b.execute_script("return window.__esupMarker || null")


def offered(d, name, alert_id):
    r = d.curl("/v1/alerts/%d" % alert_id, name)
    assert r.status == 200, r.body
    return sorted(x["action"] for x in r.json().get("allowed", []))


CSP_MARKS = ("Content Security Policy", "Content-Security-Policy", "Refused to")


def assert_clean(b, also=()):
    """(e) every request went to the daemon itself; (f) the browser logged no CSP refusal."""
    urls = b.request_urls()
    assert urls, "%s: no request in the performance log" % b.name
    stray = [u for u in urls if not u.startswith(b.base_url + "/")
             and not u.startswith(("data:", "about:", "blob:")) and u not in also]
    assert not stray, "%s: requests that left the daemon: %s" % (b.name, stray)
    csp = [e["message"] for e in b.console_log() if any(m in e["message"] for m in CSP_MARKS)]
    assert not csp, "%s: CSP refusals: %s" % (b.name, csp)
    return urls


# ---------------------------------------------------------------- the harness itself


def refusal_without_reason(d, dept, item, day="2026-03-11"):
    """An approval refused without a reason: a yellow APR-REFUSAL-NO-REASON, open, at ingest
    (its report and solution given, so it is the case's only card). Returns the case number."""
    case = "%s-2026-97%04d" % (dept, next(_cases))
    post(d, dept, [event(dept=dept, type="approval.accepted", case=case, item=item,
                         at=day + "T09:30:00+08:00"),
                   event(dept=dept, type="approval.decided", case=case, result="denied",
                         report="%s-BPZ-2026-9%02d" % (dept, next(_cases)),
                         solution="补正后重新申请", at=day + "T16:00:00+08:00")])
    return case


def case_alert(db, case, rule):
    rows = db.query("SELECT id FROM alerts WHERE case_no = %s AND rule = %s", (case, rule))
    assert len(rows) == 1, (case, rule, rows)
    return rows[0][0]


def test_browser_presents_its_certificate(sample, browser):
    """Chromium trusts the test CA through its NSS database (no certificate error ignored)
    and presents, unasked, the one certificate it holds: what it shows for an API URL is
    what curl gets with the same certificate, and the principals' answers differ by scope."""
    d, db = sample
    browsers = [browser(n, d) for n in ("supervisor", "dept-LY-ZJJ")]
    seen = {}
    for b in browsers:
        want = d.curl(LIVE_QUERY + "&limit=500", b.name)
        assert want.status == 200, want.body
        got = b.json(LIVE_QUERY + "&limit=500")
        assert got == want.json(), b.name
        seen[b.name] = {a["dept"] for a in got["alerts"]}
        b.shot("alerts-json")
    assert seen["dept-LY-ZJJ"] == {"LY-ZJJ"}, seen
    assert seen["supervisor"] >= {"LY-ZJJ", "LY-HBJ", "LY-SCJGJ"}, seen
    for b in browsers:
        assert b.started_s < 30, "chromium took %.1fs to start" % b.started_s
        assert (b.home / ".pki" / "nssdb" / "cert9.db").exists()
        assert_clean(b)
    # Each browser's HOME (NSS database, profile) is its own and goes with it.
    homes = [b.home for b in browsers]
    browser.close()
    assert not [h for h in homes if h.exists()], homes
    assert not [b for b in browsers if b.service.is_connectable()], "chromedriver still running"


# ---------------------------------------------------------------- (a) the board


def test_board_colours_every_department(sample, browser):
    """Every department in scope has a tile whose colour and counts are the database's live
    alerts; the sample instant has at least one red and one clear department. The board fits
    1366x768 without horizontal scrolling, and the wall display at 1920x1080."""
    d, db = sample
    sup = browser("supervisor", d)
    console(sup, "/board", "board")
    # Background jobs (stat rules, escalation) may still change an alert: the board follows
    # live, so both sides are read again until they agree.
    got = {}

    def agree():
        got["db"], got["board"] = board_expected(db), tiles(sup)
        return got["db"] == got["board"]
    try:
        wait_for(agree, 10, "the board to show the database's live alerts")
    finally:
        sup.shot("board")
    assert got["board"] == got["db"], (got["board"], got["db"])
    colours = [w for w, _ in got["db"].values()]
    assert "red" in colours and "clear" in colours, colours
    assert sorted(got["board"]) == departments(db)
    for dept, (w, _) in got["db"].items():
        tile = sup.find_element(By.CSS_SELECTOR, '#board .tile[data-dept="%s"]' % dept)
        assert tile.find_element(By.CSS_SELECTOR, 'a[href="#/dept/%s"]' % dept)
        name = db.scalar("SELECT name FROM departments WHERE code = %s", (dept,))
        assert name in tile.text, (dept, tile.text)
    assert sup.execute_script("return document.documentElement.scrollWidth"
                              " <= document.documentElement.clientWidth"), "horizontal scroll"
    assert sup.find_element(By.CSS_SELECTOR, "#live").get_attribute("data-state") in (
        "live", "connecting")
    me = sup.find_element(By.ID, "me").text
    assert "supervisor" in me and "410300" in me, me

    # Drill down: the red department's page, then one of its red cases' timeline.
    red = next(dept for dept, (w, _) in sorted(got["db"].items()) if w == "red")
    sup.find_element(By.CSS_SELECTOR, '#board .tile[data-dept="%s"] a[href="#/dept/%s"]'
                     % (red, red)).click()
    sup.wait_ready("dept")
    assert sup.find_element(By.ID, "dept").get_attribute("data-dept") == red
    shown = db.scalar("SELECT count(*) FROM cases WHERE dept = %s AND (status IN"
                      " ('received', 'accepted', 'suspended') OR case_no IN (SELECT case_no FROM"
                      " alerts WHERE dept = %s AND status IN ('open', 'acknowledged', 'appealed')"
                      " AND case_no IS NOT NULL))", (red, red))
    assert sup.find_element(By.ID, "dept-cases-title").text == "案件（%d）" % shown
    sup.shot("dept-" + red)
    assert_clean(sup)

    # The wall display: the same browser, its window made 1920x1080.
    wall = sup
    wall.set_window_size(1920, 1080)
    go(wall, "/board?wall=1", "board")
    assert wall.execute_script("return window.innerWidth") == 1920
    assert len(tiles(wall)) == len(departments(db))
    assert not wall.find_element(By.ID, "nav").is_displayed(), "the wall display shows the nav"
    assert wall.execute_script("return document.documentElement.scrollWidth"
                               " <= document.documentElement.clientWidth")
    wall.shot("board-wall")
    assert_clean(wall)


# ---------------------------------------------------------------- (b) live


def test_a_new_red_alert_turns_its_tile_red_live(sample, browser):
    """An approval accepted in March and never decided is past its statutory deadline at the
    sample instant: pushing it raises a red alert, and the board open in the browser turns
    that department's tile red without reloading the page."""
    d, db = sample
    expected = board_expected(db)
    target = next((dept for dept, (w, _) in sorted(expected.items())
                   if w != "red" and items_of(db, dept)), None)
    assert target, "every department with catalogue items is red already: %s" % expected
    sup = browser("supervisor", d)
    console(sup, "/board", "board")
    sup.wait(lambda: sup.find_element(By.ID, "live").get_attribute("data-state") == "live",
             "the alert stream to connect")
    before = tiles(sup)[target]
    assert before[0] != "red", before
    mark = set_marker(sup)
    sup.shot("before-" + target)

    case = "%s-2026-98%04d" % (target, next(_cases))
    item = items_of(db, target)[0]
    post(d, target, [event(dept=target, type="approval.accepted", case=case, item=item,
                           at="2026-03-02T09:30:00+08:00")])
    wait_for(lambda: db.query("SELECT 1 FROM alerts WHERE case_no = %s AND severity = 'red'"
                              " AND status = 'open'", (case,)), 15, "a red alert on " + case)
    sup.wait(lambda: tiles(sup)[target][0] == "red", "the %s tile to turn red" % target)
    sup.shot("after-" + target)
    assert marker(sup) == mark, "the page was reloaded"
    after = tiles(sup)[target]
    assert after[1]["red"] == before[1]["red"] + 1, (before, after)
    assert after == board_expected(db)[target]
    assert_clean(sup)


# ---------------------------------------------------------------- (c) working an alert


def test_an_alert_worked_from_open_to_resolved(sample, browser):
    """The department acknowledges (a note is required, and refused without one) and the
    supervisor resolves, each in their own browser; each sees the other's step live in the
    alert page and the alert list; only the actions the daemon allows are offered."""
    d, db = sample
    case = refusal_without_reason(d, "LY-ZJJ", "ZJ-004")
    alert_id = case_alert(db, case, "APR-REFUSAL-NO-REASON")
    route = "/alert/%d" % alert_id
    sup = browser("supervisor", d)
    dep = browser("dept-LY-ZJJ", d)
    console(sup, route, "alert")
    console(dep, route, "alert")
    marks = {b.name: set_marker(b) for b in (sup, dep)}
    for b in (sup, dep):
        assert alert_status(b) == "open"
        assert buttons(b) == offered(d, b.name, alert_id), b.name
        assert history(b) == ["raise"], history(b)
        b.shot("1-open")
    assert "ack" in buttons(dep) and "resolve" not in buttons(dep), buttons(dep)
    assert "resolve" in buttons(sup) and "ack" not in buttons(sup), buttons(sup)
    assert "reject" not in buttons(sup) and "confirm" not in buttons(sup), buttons(sup)
    assert sup.find_elements(By.CSS_SELECTOR, "#alert-actions button.act-silence")
    assert not dep.find_elements(By.CSS_SELECTOR, "button.act-silence")

    # An acknowledgement without a note: refused in Chinese, nothing sent.
    dep.find_element(By.CSS_SELECTOR, '#alert-actions button.act[data-action="ack"]').click()
    dep.wait(lambda: dep.find_element(By.ID, "act-error").is_displayed()
             and dep.find_element(By.ID, "act-error").text.strip(), "the note-required error")
    err = dep.find_element(By.ID, "act-error")
    assert "说明" in err.text, err.text
    assert db.scalar("SELECT status FROM alerts WHERE id = %s", (alert_id,)) == "open"
    dep.shot("2-ack-without-note")

    dep.find_element(By.ID, "act-note").send_keys("已核实，补充不予许可理由")
    dep.find_element(By.CSS_SELECTOR, '#alert-actions button.act[data-action="ack"]').click()
    dep.wait(lambda: alert_status(dep) == "acknowledged", "the department's page to show 已回告")
    sup.wait(lambda: alert_status(sup) == "acknowledged" and history(sup) == ["raise", "ack"],
             "the supervisor's page to show the acknowledgement live")
    for b in (sup, dep):
        b.wait_ready("alert")
        assert buttons(b) == offered(d, b.name, alert_id), b.name
        b.shot("3-acknowledged")
    assert "ack" not in buttons(dep) and "resolve" in buttons(sup)
    ack = sup.find_element(By.CSS_SELECTOR, '#alert-history li.action[data-action="ack"]')
    assert "已核实" in ack.text and "dept-LY-ZJJ" in ack.text, ack.text

    # The department watches the list while the supervisor resolves.
    go(dep, "/alerts?dept=LY-ZJJ&rule=APR-REFUSAL-NO-REASON", "alerts")
    row = '#alerts tr.alert-row[data-id="%d"]' % alert_id
    assert dep.find_element(By.CSS_SELECTOR, row).get_attribute("data-status") == "acknowledged"
    sup.find_element(By.ID, "act-note").send_keys("理由已补正")
    sup.find_element(By.CSS_SELECTOR, '#alert-actions button.act[data-action="resolve"]').click()
    sup.wait(lambda: alert_status(sup) == "resolved"
             and history(sup) == ["raise", "ack", "resolve"], "the alert to be resolved")
    sup.wait_ready("alert")
    assert buttons(sup) == offered(d, "supervisor", alert_id) == [], buttons(sup)
    sup.shot("4-resolved")
    dep.wait(lambda: dep.find_element(By.CSS_SELECTOR, row).get_attribute("data-status")
             == "resolved", "the department's list to show 已解除 live")
    dep.shot("4-list-resolved")
    assert db.scalar("SELECT status FROM alerts WHERE id = %s", (alert_id,)) == "resolved"
    for b in (sup, dep):
        assert marker(b) == marks[b.name], "%s: the page was reloaded" % b.name
        assert_clean(b)


# ---------------------------------------------------------------- (d) another region


def test_a_supervisor_of_another_region_sees_nothing_here(sample, certs, browser):
    """A supervisor of 410200 sees no tile, and the console shows nothing for a 410300
    alert, department or case (the API's 404, not the data)."""
    d, db = sample
    name = "supervisor-410200"
    if name not in certs.fingerprints or not db.query(
            "SELECT 1 FROM principals WHERE subject = %s", ("CN=" + name,)):
        add_principal(db, certs, name, "supervisor", region=OTHER_REGION)
    wait_for(lambda: d.curl("/v1/alerts", name).status == 200, 10,
             "esupd to know the 410200 supervisor")
    alert_id, dept, case = db.query(
        "SELECT id, dept, case_no FROM alerts WHERE case_no IS NOT NULL AND status = ANY(%s)"
        " ORDER BY id LIMIT 1", (list(LIVE),))[0]
    other = browser(name, d)
    console(other, "/board", "board")
    assert not other.find_elements(By.CSS_SELECTOR, "#main .load-error"), \
        other.find_element(By.ID, "main").text
    assert other.find_elements(By.ID, "board") and tiles(other) == {}, tiles(other)
    assert d.curl("/v1/board", name).json()["departments"] == []
    assert OTHER_REGION in other.find_element(By.ID, "me").text
    other.shot("board")
    for route, view, path in (("/alert/%d" % alert_id, "alert", "/v1/alerts/%d" % alert_id),
                              ("/dept/" + dept, "dept", "/v1/board/" + dept),
                              ("/case/%s/%s" % (dept, case), "case",
                               "/v1/cases/%s/%s" % (dept, case))):
        assert d.curl(path, name).status == 404, path
        go(other, route, view)
        assert other.find_elements(By.CSS_SELECTOR, "#main .load-error"), route
        for data in ("#alert-evidence .event", "#alert-history li", "#alert-actions button.act",
                     ".item-row", ".case-row", ".alert-row", "#timeline svg"):
            assert not other.find_elements(By.CSS_SELECTOR, data), (route, data)
        other.shot(view)
    go(other, "/alerts?status=open,acknowledged,appealed", "alerts")
    assert not other.find_elements(By.CSS_SELECTOR, "#alerts tr.alert-row"), "alerts listed"
    assert_clean(other)


# ---------------------------------------------------------------- (e, f) host and CSP


def test_every_view_stays_on_the_host_under_the_csp(sample, browser):
    """Every view, visited as the supervisor: every URL the page asked for is the daemon's,
    and the browser logged no CSP refusal. The check can fail: an inline script injected
    afterwards is refused, and the refusal shows in the same log."""
    d, db = sample
    sup = browser("supervisor", d)
    alert_id, dept, case, rule = db.query(
        "SELECT id, dept, case_no, rule FROM alerts WHERE case_no IS NOT NULL AND status = ANY(%s)"
        " AND rule LIKE 'APR-%%' ORDER BY severity = 'red' DESC, id LIMIT 1", (list(LIVE),))[0]
    console(sup, "/board", "board")
    for route, view, drawn in (
            ("/dept/" + dept, "dept", ["#dept .case-row[data-case='%s']" % case]),
            ("/alerts?dept=%s&rule=%s" % (dept, rule), "alerts", ["#alerts tr.alert-row[data-id='%d']" % alert_id]),
            ("/alert/%d" % alert_id, "alert", ["#alert-evidence .event", "#alert-history li"]),
            ("/case/%s/%s" % (dept, case), "case", ["#timeline svg .tl-event",
                                                    "#timeline svg .tl-alert[data-id='%d']"
                                                    % alert_id]),
            ("/charts", "charts", ["#chart-ontime svg", "#chart-cards svg",
                                   "#chart-ranking svg"])):
        go(sup, route, view)
        sup.shot(view)
        for sel in drawn:
            assert sup.find_elements(By.CSS_SELECTOR, sel), (route, sel)
    sup.full_shot("charts")
    urls = assert_clean(sup)
    paths = {u[len(sup.base_url):].split("?")[0] for u in urls}
    assert paths >= {"/console/", "/console/app.js", "/console/common.js", "/console/charts.js",
                     "/console/timeline.js", "/console/console.css", "/v1/me", "/v1/board",
                     "/v1/alerts/stream"}, sorted(paths)

    sup.execute_script("var s = document.createElement('script');"
                       " s.textContent = 'window.__inline = 1'; document.body.appendChild(s);")
    sup.wait(lambda: any("Content Security Policy" in e["message"] for e in sup.console_log()),
             "the CSP refusal of an injected inline script")
    assert sup.execute_script("return window.__inline || null") is None
