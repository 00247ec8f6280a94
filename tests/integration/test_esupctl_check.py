"""esupctl check: NDJSON feeds validated offline, as esupd's POST /v1/events validates them
before the database. One line per refused event and per warning, a summary line, exit 1
when an event was refused; and on a mixed feed the same refusals as a real esupd."""

import json
import re
import subprocess
from pathlib import Path

from conftest import BUILD, SAMPLES, event, statuses

ESUPCTL = BUILD / "contrib" / "esupctl"
GOOD = sorted((SAMPLES / "events").glob("*/*.ndjson"))


def check(*args, stdin=b""):
    proc = subprocess.run([str(ESUPCTL), "check", *map(str, args)], input=stdin,
                          capture_output=True, timeout=60)
    assert b"Sanitizer" not in proc.stderr, proc.stderr.decode()
    return proc.returncode, proc.stdout.decode().splitlines(), proc.stderr.decode()


def feed(lines):
    return "".join((ln if isinstance(ln, str) else json.dumps(ln, ensure_ascii=False)) + "\n"
                   for ln in lines).encode()


def test_sample_feeds_are_valid():
    assert GOOD
    code, out, err = check(*GOOD)
    total = sum(1 for f in GOOD for ln in f.read_text().splitlines() if ln.strip())
    assert code == 0, (out, err)
    # the samples carry eval's own received_at once: a warning, not a refusal
    assert out[-1] == "%d events: %d valid, 0 refused, 1 warnings" % (total, total)
    assert all(": warning: " in ln for ln in out[:-1]), out


def test_java_time_is_refused_with_the_hint(tmp_path):
    path = tmp_path / "march.ndjson"
    path.write_bytes(feed([event(id="ok-1"), event(id="java-1", at="2026-03-02T10:00:00+0800"),
                           event(id="ok-2")]))
    code, out, err = check(path)
    assert code == 1, (out, err)
    assert out == [
        '%s:2: java-1: at: expected an RFC 3339 date-time with a colon in the offset, such as '
        '2026-03-02T10:00:00+08:00, got "2026-03-02T10:00:00+0800"' % path,
        "3 events: 2 valid, 1 refused, 0 warnings"]
    assert err == ""


def test_not_json_blank_lines_and_stdin():
    code, out, _ = check(stdin=feed([event(id="ok-1"), "", "  ", "not json at all",
                                     event(id="ok-2")]))
    assert code == 1
    assert len(out) == 2, out
    assert out[0].startswith("-:4: (no id): expected a JSON object on one line, got "), out
    assert out[1] == "3 events: 2 valid, 1 refused, 0 warnings"


def test_bom_gbk_and_impossible_times_are_named(tmp_path):
    # a Notepad export with a byte order mark, a GBK one, a date and a Java time that fail
    good = feed([event(id="ok-1"), event(id="ok-2")])
    (tmp_path / "bom.ndjson").write_bytes(b"\xef\xbb\xbf" + good)
    gbk = feed([event(id="gbk-1")]).decode()     # the applicant's name is Chinese
    (tmp_path / "gbk.ndjson").write_bytes(gbk.encode("gb18030"))
    (tmp_path / "at.ndjson").write_bytes(feed([event(id="feb-30", at="2026-02-30T09:15:00+08:00"),
                                               event(id="java", at="2026-11-20T09:15+08:00")]))
    code, out, _ = check(tmp_path / "bom.ndjson", tmp_path / "gbk.ndjson", tmp_path / "at.ndjson")
    assert code == 1
    assert out[0] == ("%s:1: (no id): expected UTF-8 text without a byte order mark, got a UTF-8 "
                      "byte order mark (EF BB BF)" % (tmp_path / "bom.ndjson")), out
    assert re.fullmatch(r"%s:1: \(no id\): expected UTF-8 text, got byte 0x[C-F][0-9A-F] at "
                        r"column \d+ is not UTF-8 \(GBK or GB18030\? iconv -f GB18030 -t UTF-8\)"
                        % re.escape(str(tmp_path / "gbk.ndjson")), out[1]), out
    assert out[2:] == [
        "%s:1: feb-30: at: expected a date that exists (no such day: February 2026 has 28 days), "
        'got "2026-02-30T09:15:00+08:00"' % (tmp_path / "at.ndjson"),
        "%s:2: java: at: expected an RFC 3339 date-time: seconds are required, such as "
        '2026-11-20T09:15:00+08:00, got "2026-11-20T09:15+08:00"' % (tmp_path / "at.ndjson"),
        "5 events: 1 valid, 4 refused, 0 warnings"], out


def test_warnings_are_printed_and_do_not_fail(tmp_path):
    typo = event(id="typo-1", type="approval.extended", days=5, aprover="P0012")
    code, out, _ = check("-", stdin=feed([typo]))
    assert code == 0
    assert out == ["-:1: typo-1: warning: aprover: not a field of approval.extended; "
                   "did you mean approver?",
                   "1 events: 1 valid, 0 refused, 1 warnings"]


def test_unreadable_file_is_exit_2(tmp_path):
    code, out, err = check(tmp_path / "missing.ndjson")
    assert code == 2
    assert "missing.ndjson" in err


def test_same_refusals_as_esupd(daemon_factory, db):
    """Every line of a mixed feed: check's verdict is esupd's."""
    nested = "deep"
    for _ in range(20):
        nested = [nested]
    deep = {"x": nested}
    lines = [event(id="m-1"), event(id="m-2", at="2026-03-02 10:00:00"), "[1, 2]",
             event(id="m-3", at="2026-02-30T10:00:00+08:00"), "{\"id\": \"m-4\", ",
             event(id="m-5", **deep), event(id="m-6", type="approval.extended", days=0),
             event(id="m-7", type="approval.extended", days=3, aprover="x"),
             event(id="m-8", applicant={"uscc": "91410300MA44ABCD1A"})]
    body = feed(lines)
    code, out, _ = check(stdin=body)
    d = daemon_factory().start()
    with d.client("dept-LY-SCJGJ") as c:
        r = c.request("POST", "/v1/events", body, "application/x-ndjson")
    assert r.status == 200, r.body
    res = r.json()
    refused = [ln for ln in out[:-1] if ": warning: " not in ln]
    expected = []
    for i, result in enumerate(res["results"]):
        if result["status"] == "rejected":
            e = result["error"]
            expected.append("-:%d: %s: %s%sexpected %s, got %s" % (
                i + 1, result["id"] or "(no id)", e["field"], ": " if e["field"] else "",
                e["expected"], e["got"]))
    assert statuses(res).count("rejected") == 7, res
    assert refused == expected
    assert out[-1] == "9 events: 2 valid, 7 refused, 1 warnings"
    assert code == 1


PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
# (the row of protocol.md's allowed values, an event refused for that field)
ENUMS = [
    ("`kind` (`approval.suspended`)", event(type="approval.suspended", kind="nap", days=3)),
    ("`result` (`approval.decided`)", event(type="approval.decided", result="maybe")),
    ("`severity` (`penalty.decided`)",
     event(type="penalty.decided", party={"uscc": "91410300MA44ABCD1R"}, violation="HB-12",
           severity="huge", amount="0")),
    ("`measures` (`penalty.decided`)",
     event(type="penalty.decided", party={"uscc": "91410300MA44ABCD1R"}, violation="HB-12",
           severity="minor", amount="0", measures=["flogging"])),
    ("`refused_by`, `report_to`, `by` (refusal and delay reports)",
     event(type="approval.delay_reported", by="janitor", report_to="head", reason="x")),
    ("`action` (`event.corrected`)",
     event(type="event.corrected", of="ev-0", action="undo", reason="x")),
]


def test_documented_values_are_the_validators():
    """protocol.md lists exactly the values the validator names when it refuses one."""
    rows = {ln.split(" | ")[0].lstrip("| "): ln for ln in PROTOCOL.read_text().splitlines()
            if ln.startswith("| `")}
    for row, ev in ENUMS:
        code, out, _ = check(stdin=feed([ev]))
        assert code == 1, out
        expected = out[0].split(": expected ", 1)[1].rsplit(", got ", 1)[0]
        values = expected.split(" from ")[-1].split("one of ")[-1].split(", ")
        documented = re.findall(r"`([^`]+)`", rows[row].split(" | ")[1])
        assert documented == values, (row, documented, values)


def test_limits_come_from_the_configuration(tmp_path):
    deep = event(id="d-1", type="approval.resumed", x=[[[["deep"]]]])
    path = tmp_path / "deep.ndjson"
    path.write_bytes(feed([deep]))
    code, out, _ = check(path)
    assert code == 0 and out[-1] == "1 events: 1 valid, 0 refused, 1 warnings", out
    conf = tmp_path / "esupd.conf"
    conf.write_text("[limits]\nmax_json_depth = 4\n")
    code, out, _ = check("-c", conf, path)
    assert code == 1
    assert out == ["%s:1: d-1: expected JSON nested at most 4 deep, got deeper nesting" % path,
                   "1 events: 0 valid, 1 refused, 0 warnings"]
    code, out, err = check("-c", tmp_path / "missing.conf", path)
    assert code == 2 and "missing.conf" in err
