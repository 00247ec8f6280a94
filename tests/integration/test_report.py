"""The monthly 通报 (issue 9 item 5): `esupctl report --month M [--region R] [--out DIR]` writes a
self-contained HTML report (inline SVG, no script, no URL) and the same tables as CSV, from the
statistics views (esup_stats.dept_month), esup_scores and the published daily chain heads.

One database for the module: known rollup rows for six months over four Luoyang departments (one
of them in a county, one named with '<&>') and one of another city, written as the superuser
straight into the rollup tables the views read; the CSV files must equal the views, and the HTML
must print (headless Chromium to PDF, poppler to PNG) to pages that are not blank."""

import csv
import hashlib
import os
import random
import re
import shutil
import subprocess
from decimal import Decimal

import psycopg
import pytest

from conftest import BUILD, dbsetup
from test_alert_states import COUNTY_DEPT, REGIONS, migrated_database

ESUPCTL = BUILD / "contrib" / "esupctl"
MONTHS = ["2025-10", "2025-11", "2025-12", "2026-01", "2026-02", "2026-03"]
CITY = ["LY-SCJGJ", "LY-ZJJ", "LY-HBJ", COUNTY_DEPT]
OTHER = "ZZ-SCJGJ"          # a department of 郑州 (410100): outside Luoyang
HOSTILE = "洛阳市市场监督管理局<&>\"'"
RULES = [("APR-DEADLINE-YELLOW", "yellow"), ("APR-DEADLINE-RED", "red"),
         ("APR-DEADLINE-NOTICE", "notice")]
FILES = ["report-2026-03.html"] + ["report-2026-03-%s.csv" % t
                                   for t in ("departments", "cards", "ranking", "trend")]


def head_hash(dept, day):
    return hashlib.sha256(("%s/%s" % (dept, day)).encode()).digest()


def fill(db):
    """Known rollup rows (deterministic), regions, the two extra departments, daily heads."""
    rnd = random.Random(9)
    case_rows, event_rows, alert_rows = [], [], []
    for dept in CITY + [OTHER]:
        for m in MONTHS:
            if dept == "LY-HBJ" and m == "2026-03":
                continue      # no business this month: no row in the views
            for day in ("%s-03" % m, "%s-17" % m):
                decided = rnd.randint(0, 12)
                on_time = rnd.randint(0, decided)
                used_max = rnd.randint(1, 25) if decided else 0
                case_rows.append((dept, "ITEM-%d" % rnd.randint(1, 2), day, rnd.randint(0, 15),
                                  rnd.randint(0, 14), decided, decided - 1 if decided else 0,
                                  1 if decided else 0, on_time, on_time,
                                  decided * used_max // 2 + used_max, used_max,
                                  rnd.randint(0, 5), rnd.randint(0, 2), rnd.randint(0, 3)))
                event_rows.append((dept, day, rnd.randint(20, 90), rnd.randint(0, 5),
                                   rnd.randint(0, 3), rnd.randint(1, 9) * 12345,
                                   rnd.randint(0, 2) * 5000, rnd.randint(0, 4),
                                   rnd.randint(0, 2), rnd.randint(0, 3)))
                for rule, severity in RULES:
                    raised = rnd.randint(0, 4)
                    revoked = rnd.randint(0, raised)
                    alert_rows.append((dept, rule, severity, day, raised, raised - revoked,
                                       revoked))
    with psycopg.connect(db.conninfo("postgres"), autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO regions (code, name, level, parent) VALUES (%s, %s, %s, %s)",
                            REGIONS)
            cur.execute("INSERT INTO departments (code, name, region) VALUES"
                        " (%s, '老城区市场监管局', '410302'), (%s, '郑州市市场监督管理局', '410100')",
                        (COUNTY_DEPT, OTHER))
            cur.execute("UPDATE departments SET name = %s WHERE code = 'LY-SCJGJ'", (HOSTILE,))
            cur.executemany(
                "INSERT INTO stat_case_day (dept, item, day, received, accepted, decided, approved,"
                " denied, on_time_committed, on_time_statutory, days_used_sum, days_used_max,"
                " suspended_days_sum, refused_intake, complaints_received)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (dept, item, day) DO NOTHING", case_rows)
            cur.executemany(
                "INSERT INTO stat_event_day (dept, day, events, late_reported, fees_collected,"
                " fees_collected_fen, fees_refunded_fen, evaluations_satisfied,"
                " evaluations_unsatisfied, complaints_received)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", event_rows)
            cur.executemany(
                "INSERT INTO stat_alert_day (dept, rule, severity, day, raised, valid, revoked)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)", alert_rows)
            for day in ("2026-03-30", "2026-03-31", "2026-04-01"):
                for i, dept in enumerate(CITY + [OTHER]):
                    cur.execute("INSERT INTO event_chain_daily (day, dept, seq, hash, published_at)"
                                " VALUES (%s, %s, %s, %s, %s::date + interval '30 seconds')",
                                (day, dept, 100 * (i + 1) + int(day[-2:]), head_hash(dept, day), day))


@pytest.fixture(scope="module")
def rdb(pg, certs, workdir):
    db = migrated_database(pg, certs, workdir, "report")
    fill(db)
    db.auditor = db.name.replace("esup_", "p") + "_county"
    dbsetup(pg, "person", "add", db.auditor, "--role", "auditor", "--region", "410302",
            dbname=db.name)
    yield db
    dbsetup(pg, "person", "remove", db.auditor, dbname=db.name)


def report(db, out, *args, user="postgres", conninfo=None):
    """esupctl report ARGS, the database found through PG* variables (or --conninfo)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(PGHOST=str(db.pg.dir), PGPORT=str(db.pg.port), PGDATABASE=db.name, PGUSER=user)
    argv = [str(ESUPCTL), "report", *args]
    if out is not None:
        argv += ["--out", str(out)]
    if conninfo is not None:
        argv += ["--conninfo", conninfo]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
    return r


def read_csv(path):
    """(column names from the "中文(name)" headings, rows as lists of strings)."""
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "no BOM"
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b""), "not CRLF"
    rows = list(csv.reader(raw[3:].decode("utf-8").splitlines()))
    names = [re.fullmatch(r".+\(([a-z_]+)\)", h).group(1) for h in rows[0]]
    return names, rows[1:]


def text(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "是" if v else "否"
    return str(v)


def view_rows(db, sql, params=()):
    return [[text(v) for v in row] for row in db.query(sql, params)]


@pytest.fixture(scope="module")
def march(rdb, workdir):
    out = workdir / ("%s-out" % rdb.name)
    out.mkdir()
    r = report(rdb, out, "--month", "2026-03")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert r.stdout.splitlines() == [str(out / f) for f in FILES]
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)   # no temporary left
    return out


def test_csv_equals_the_views(rdb, march):
    names, rows = read_csv(march / "report-2026-03-departments.csv")
    want = view_rows(rdb, "SELECT %s FROM esup_stats.dept_month WHERE period = '2026-03-01'"
                     " ORDER BY dept" % ", ".join(names))
    assert rows == want
    assert [r[0] for r in rows] == sorted(["LY-SCJGJ", "LY-ZJJ", COUNTY_DEPT, OTHER])
    # The views count what was stored: received in March for LY-ZJJ.
    received = rdb.scalar("SELECT sum(received) FROM stat_case_day WHERE dept = 'LY-ZJJ'"
                          " AND day >= '2026-03-01' AND day < '2026-04-01'")
    assert rows[[r[0] for r in rows].index("LY-ZJJ")][names.index("received")] == str(received)
    assert rows[[r[0] for r in rows].index("LY-SCJGJ")][names.index("dept_name")] == HOSTILE

    names, rows = read_csv(march / "report-2026-03-cards.csv")
    cols = ", ".join("alerts_red + alerts_yellow + alerts_notice" if n == "alerts_valid" else n
                     for n in names)
    assert rows == view_rows(rdb, "SELECT %s FROM esup_stats.dept_month"
                             " WHERE period = '2026-03-01' ORDER BY dept" % cols)

    names, rows = read_csv(march / "report-2026-03-ranking.csv")
    assert rows == view_rows(rdb, "SELECT %s FROM esup_scores('2026-03') ORDER BY rank, dept"
                             % ", ".join(names))
    assert len(rows) >= 3 and any(r[names.index("bottom")] == "是" for r in rows)


def test_trend_sums_six_months(rdb, march):
    names, rows = read_csv(march / "report-2026-03-trend.csv")
    assert [r[0] for r in rows] == MONTHS
    for row in rows:
        got = dict(zip(names, row))
        agg = rdb.query("SELECT count(*), coalesce(sum(received), 0), coalesce(sum(decided), 0),"
                        " coalesce(sum(on_time_committed), 0), coalesce(sum(alerts_red), 0),"
                        " coalesce(sum(fees_net_yuan), 0)"
                        " FROM esup_stats.dept_month WHERE label = %s", (got["month"],))[0]
        assert [got[k] for k in ("departments", "received", "decided", "on_time_committed",
                                 "alerts_red", "fees_net_yuan")] == [text(v) for v in agg]
        rate = (Decimal(agg[3]) / agg[2]).quantize(Decimal("0.0001")) if agg[2] else None
        assert got["on_time_rate"] == text(rate)


def test_html_is_self_contained_and_escaped(rdb, march):
    html = (march / "report-2026-03.html").read_text(encoding="utf-8")
    low = html.lower()
    for banned in ("<script", "http://", "https://", "url(", "@import", "<link", "src=",
                   "onload", "javascript:"):
        assert banned not in low, banned
    assert html.count("<svg ") == 3 and html.count("</svg>") == 3
    assert "电子监察月度通报" in html and "2026年3月" in html
    assert "@media print" in html
    assert "<&>" not in html and "&lt;&amp;&gt;&quot;&#39;" in html
    # The ranking marks the last; the heads are those of 03-31, not of the day after.
    assert "<tr class=\"bottom\">" in html and "末位</span>" in html
    assert head_hash("LY-ZJJ", "2026-03-31").hex() in html
    assert head_hash("LY-ZJJ", "2026-04-01").hex() not in html
    # The cards of section 三 count the statistical rules' findings; the score's do not, and
    # both say so (docs/auditing.md, "The score").
    assert "含统计规则 STA-* 的发现" in html
    assert "扣分的红黄牌不含统计规则 (STA-*) 的发现" in html
    # The summary says the sums of the month's rows.
    received, decided, on_time, red = rdb.query(
        "SELECT sum(received), sum(decided), sum(on_time_committed), sum(alerts_red)"
        " FROM esup_stats.dept_month WHERE period = '2026-03-01'")[0]
    rate = float((Decimal(on_time) / decided).quantize(Decimal("0.0001"))) * 100   # as in SQL
    assert "共收件 %d 件，办结 %d 件，其中按承诺时限办结 %d 件，按时办结率 %.1f%%；有效红牌 %d 张" % (
        received, decided, on_time, rate, red) in html
    generated = re.search(r"生成时间 (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \(北京时间\)", html)
    assert generated, "no generated-at time"


def test_region_and_row_security(rdb, workdir):
    out = workdir / ("%s-region" % rdb.name)
    out.mkdir()
    r = report(rdb, out, "--month", "2026-03", "--region", "410300")
    assert r.returncode == 0, r.stderr
    _, rows = read_csv(out / "report-2026-03-departments.csv")
    assert [r[0] for r in rows] == sorted(["LY-SCJGJ", "LY-ZJJ", COUNTY_DEPT])
    _, rows = read_csv(out / "report-2026-03-ranking.csv")
    assert OTHER not in [r[1] for r in rows]
    html = (out / "report-2026-03.html").read_text(encoding="utf-8")
    assert "<h1>洛阳市电子监察月度通报</h1>" in html and "郑州" not in html
    # A county auditor, without --region: row-level security leaves the county's department.
    r = report(rdb, out, "--month", "2026-03", user=rdb.auditor)
    assert r.returncode == 0, r.stderr
    for t in ("departments", "cards"):
        _, rows = read_csv(out / ("report-2026-03-%s.csv" % t))
        assert [r[0] for r in rows] == [COUNTY_DEPT], t
    html = (out / "report-2026-03.html").read_text(encoding="utf-8")
    assert "LY-ZJJ" not in html and head_hash(COUNTY_DEPT, "2026-03-31").hex() in html


def test_usage_and_database_errors(rdb, tmp_path):
    for args in (["--month", "2026-13"], ["--month", "2026-3"], [], ["--month", "2026-03", "x"],
                 ["--month", "2026-03", "--region", "4103"], ["--bogus"]):
        r = report(rdb, tmp_path, *args)
        assert r.returncode == 2 and "usage: esupctl report" in r.stderr, (args, r.stderr)
    r = report(rdb, tmp_path, "--month", "2026-03", conninfo="dbname=esup_no_such_db")
    assert r.returncode == 1 and "esup_no_such_db" in r.stderr, r.stderr
    r = report(rdb, tmp_path / "missing" / "deeper", "--month", "2026-03")
    assert r.returncode == 1 and "missing" in r.stderr, r.stderr
    assert list(tmp_path.iterdir()) == []
    # A folder that does not exist yet is made (one level), as the quickstart's var/reports.
    r = report(rdb, tmp_path / "reports", "--month", "2026-03")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "reports" / "report-2026-03.html").is_file()


def pgm_pages(directory):
    """[(width, height, non-white pixels)] of the PGM pages pdftoppm wrote."""
    pages = []
    for p in sorted(directory.glob("page-*.pgm")):
        data = p.read_bytes()
        m = re.match(rb"P5\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
        w, h = int(m.group(1)), int(m.group(2))
        pixels = data[m.end():m.end() + w * h]
        pages.append((w, h, sum(1 for b in pixels if b < 200)))
    return pages


# Chromium on its own, offline: nothing it would fetch (sign-in, updates, metrics) can resolve or
# connect, and the report needs nothing.
CHROMIUM = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-extensions", "--disable-background-networking", "--disable-sync",
            "--disable-component-update", "--disable-default-apps", "--no-default-browser-check",
            "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
            "--no-pdf-header-footer"]


@pytest.mark.skipif(shutil.which("chromium") is None or shutil.which("pdftoppm") is None,
                    reason="chromium and poppler-utils (tests/run installs them)")
def test_prints_to_pages_that_are_not_blank(march, tmp_path):
    pdf = tmp_path / "report.pdf"
    r = subprocess.run(CHROMIUM + ["--user-data-dir=%s" % (tmp_path / "profile"),
                                   "--print-to-pdf=%s" % pdf,
                                   (march / "report-2026-03.html").as_uri()],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and pdf.exists(), r.stderr
    r = subprocess.run(["pdftoppm", "-gray", "-r", "30", str(pdf), str(tmp_path / "page")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    pages = pgm_pages(tmp_path)
    assert 2 <= len(pages) <= 8, pages
    for w, h, ink in pages:
        assert w < h, "not portrait A4"
        assert ink > w * h // 200, pages     # every page carries something
    keep = os.environ.get("ESUP_REPORT_PNG")
    if keep:   # to look at the pages: ESUP_REPORT_PNG=/tmp/pages
        subprocess.run(["pdftoppm", "-png", "-r", "60", str(pdf), keep], check=True, timeout=60)
