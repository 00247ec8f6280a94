"""Hearing thresholds through esupd (issue 11 item 1): the `hearing_thresholds` table (a
department's own 听证 standard, 022_filing.sql) loads at start like the other supervision
tables, a change to it reaches the running daemon (NOTIFY esup_refdata, as SIGHUP would), and
[rules] that still name the parameter it replaced are refused with the new names.

The sample table gives LY-SWJ (a tax bureau) 国税发〔1996〕190号's thresholds: 2,000 yuan for
a citizen, 10,000 for an organisation; every other department keeps Henan's 5,000 / 50,000
(hearing_citizen_yuan, hearing_organisation_yuan).
"""

import itertools
import subprocess

import pytest

from conftest import (migrated_database, offset_to, CALENDAR, ITEMS, SAMPLES, SANITIZER_MARKS,
                      SUPERVISION_TABLES, ESUPD, Daemon, as_daemon_user,
                      finish_daemons, sanitizer_env, wait_for)

NOW = "2026-04-10T12:00:00+08:00"
USCC = "91410300MA9LD7HU5K"
_seq = itertools.count(1)


@pytest.fixture(scope="module")
def daemon(pg, certs, workdir, request):
    db = migrated_database(pg, certs, workdir, "hearing")
    db.load("calendar", CALENDAR)
    db.load("items", ITEMS)
    for table in SUPERVISION_TABLES:
        db.load(table, SAMPLES / (table + ".csv"))
    d = Daemon(db, certs, workdir / db.name, testing={"clock_offset_s": offset_to(NOW)})
    yield d.start()
    finish_daemons([d], request)


def decide(d, dept, amount, party=None):
    """A penalty.decided of `amount` yuan, filed with its office, without a hearing notice;
    returns its case number."""
    n = next(_seq)
    case = "%s-HT-%03d" % (dept, n)
    fen = round(float(amount) * 100)
    office = "city" if fen >= 1000000 else "youhuaban" if fen >= 300000 else "jianfuban"
    event = {"id": "%s-ht-%d" % (dept, n), "dept": dept, "type": "penalty.decided",
             "at": "2026-03-30T15:00:00+08:00", "case": case,
             "party": party or {"uscc": USCC}, "violation": "ZR-35", "severity": "general",
             "amount": amount, "filing": {"office": office, "ref": "BA-%d" % n}}
    with d.client("dept-" + dept) as c:
        r = c.post_events_committed([event])
    assert r.status == 200, r.body
    assert [x["status"] for x in r.json()["results"]] == ["accepted"], r.body
    return case


def hearing_alerts(d, dept, case):
    return d.db.query("SELECT message FROM alerts WHERE rule = 'PEN-NO-HEARING' AND dept = %s"
                      " AND case_no = %s", (dept, case))


def test_department_standard_from_the_database(daemon):
    # LY-SWJ's own standard: an organisation from 10,000, a citizen from 2,000.
    case = decide(daemon, "LY-SWJ", "10000.00")
    [(message,)] = hearing_alerts(daemon, "LY-SWJ", case)
    assert "an organisation's threshold 10000.00 yuan, LY-SWJ: 税务行政处罚听证程序实施办法" in message
    assert hearing_alerts(daemon, "LY-SWJ", decide(daemon, "LY-SWJ", "9999.99")) == []
    case = decide(daemon, "LY-SWJ", "2000.00", {"id": "410303199003081524"})
    assert len(hearing_alerts(daemon, "LY-SWJ", case)) == 1
    # Another department keeps the province's: 30,000 to a company is lawful without notice.
    assert hearing_alerts(daemon, "LY-ZRZYJ", decide(daemon, "LY-ZRZYJ", "30000.00")) == []


def test_table_change_reaches_the_running_daemon(daemon, tmp_path):
    rows = tmp_path / "hearing_thresholds.csv"
    rows.write_text("dept,party_kind,min_amount,basis\n"
                    "LY-ZRZYJ,organisation,20000.00,test: a ministry's standard\n",
                    encoding="utf-8")
    rows.chmod(0o644)
    reloads = daemon.log_text().count("rules loaded from")
    daemon.db.load("hearing_thresholds", rows)
    wait_for(lambda: daemon.log_text().count("rules loaded from") > reloads, 30,
             "the rules reloaded after hearing_thresholds changed")
    case = decide(daemon, "LY-ZRZYJ", "20000.00")
    [(message,)] = hearing_alerts(daemon, "LY-ZRZYJ", case)
    assert "LY-ZRZYJ: test: a ministry's standard" in message
    # LY-SWJ's rows went with the replaced table: Henan's thresholds again.
    assert hearing_alerts(daemon, "LY-SWJ", decide(daemon, "LY-SWJ", "10000.00")) == []
    daemon.db.load("hearing_thresholds", SAMPLES / "hearing_thresholds.csv")


@pytest.mark.parametrize("name,new", [("hearing_threshold", "hearing_citizen_yuan and "
                                       "hearing_organisation_yuan"),
                                      ("filing_days", "filing_grace_days")])
def test_retired_parameter_refused(daemon, testdir, name, new):
    daemon.config["rules"] = {name: "5"}
    path = testdir / "old.conf"
    daemon.write(path)
    path.chmod(0o644)
    proc = subprocess.run([str(ESUPD), "-n", "-c", str(path)], capture_output=True, text=True,
                          timeout=60, env=sanitizer_env(), **as_daemon_user())
    out = proc.stdout + proc.stderr
    del daemon.config["rules"]
    assert not any(m in out for m in SANITIZER_MARKS), out
    assert proc.returncode != 0, out
    assert name in out and new in out, out
