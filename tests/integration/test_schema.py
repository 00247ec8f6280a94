"""The JSON Schema of an event (libmonitor's mon_event_schema, built from the validator's own
tables): `esupctl schema` prints a valid draft 2020-12 schema, GET /v1/schema serves the same
document to every role, every sample and golden event gets the same verdict from the schema
(Debian's python3-jsonschema) as from the validator (`esupctl check`), and so does a corpus of
good events and single mutations of them. What a schema cannot say (check digits, a
replacement's envelope compared with its correction's) is listed in KNOWN_DIFFERENCES and
asserted to differ, never skipped.

Numbers are read as Decimal on both sides (schema and events): multipleOf 0.01 is decimal
arithmetic in JSON Schema, and binary floats would refuse amounts such as 0.07."""

import itertools
import json
import re
import subprocess
from decimal import Decimal

import jsonschema

from conftest import BUILD, REPO, SAMPLES, add_principal, wait_for
from test_bad_input import BAD_EVENTS

ESUPCTL = BUILD / "contrib" / "esupctl"
USCC = "91410300MA44ABCD1R"
CHECKED = re.compile(r"-:(\d+): ")


def citizen_id(first17):
    """first17 with its ISO 7064 MOD 11-2 check character."""
    total = sum(int(c) * (2 ** (17 - i) % 11) for i, c in enumerate(first17))
    return first17 + "10X98765432"[total % 11]


CITIZEN = citizen_id("41030219850312002")


def load_schema():
    proc = subprocess.run([str(ESUPCTL), "schema"], capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert b"Sanitizer" not in proc.stderr
    return json.loads(proc.stdout, parse_float=Decimal)


SCHEMA = load_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def schema_accepts(ev):
    return VALIDATOR.is_valid(ev)


def validator_refuses(lines):
    """The 1-based line numbers `esupctl check` refuses (libmonitor's mon_event_from_json, as
    esupd runs it on one line of a POST /v1/events body)."""
    proc = subprocess.run([str(ESUPCTL), "check"], input="".join(l + "\n" for l in lines).encode(),
                          capture_output=True, timeout=300)
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert "Sanitizer" not in err, err
    assert proc.returncode in (0, 1), err
    refused = set()
    for line in out.splitlines()[:-1]:                   # the last is the summary
        m = CHECKED.match(line)
        assert m, line
        if ": warning: " not in line:                   # no id of the corpus holds that
            refused.add(int(m.group(1)))
    assert out.splitlines()[-1].startswith("%d events: " % len(lines)), out[-200:]
    return refused


def to_json(value):
    """value as JSON text, a Decimal written as the number it is (not as a float)."""
    numbers = []

    def mark(v):
        if isinstance(v, Decimal):
            numbers.append(v)
            return "\x00%d\x00" % (len(numbers) - 1)
        if isinstance(v, dict):
            return {k: mark(x) for k, x in v.items()}
        if isinstance(v, list):
            return [mark(x) for x in v]
        return v
    text = json.dumps(mark(value), ensure_ascii=False)
    return re.sub(r'"\\u0000(\d+)\\u0000"', lambda m: str(numbers[int(m.group(1))]), text)


def verdicts(events):
    """[(schema accepts, validator accepts)] for each event (a str: JSON text as it is)."""
    lines = [e if isinstance(e, str) else to_json(e) for e in events]
    refused = validator_refuses(lines)
    return [(schema_accepts(json.loads(l, parse_float=Decimal)), i + 1 not in refused)
            for i, l in enumerate(lines)]


# ---------------------------------------------------------------- the corpus

_seq = itertools.count(1)


def ev(type, case=True, **fields):
    n = next(_seq)
    e = {"id": "sc-%05d" % n, "dept": "LY-ZJJ", "type": type, "at": "2026-03-02T09:15:00+08:00"}
    if case:
        e["case"] = "LY-ZJJ-2026-S%05d" % n
    e.update(fields)
    return e


FILING = {"office": "youhuaban", "ref": "YHB-BA-2026-018"}


def good_events():
    """One valid event of every type, most optional fields given."""
    return [
        ev("approval.received", item="ZJ-001", applicant={"uscc": USCC, "name": "华信"}),
        ev("approval.supplement_requested", materials="图纸\n说明"),
        ev("approval.supplement_received"),
        ev("approval.accepted", item="ZJ-001", applicant={"id": CITIZEN}),
        ev("approval.refused_intake", reason="不符合", report="R-1", refused_by="section",
           report_to="head", solution="补正", filing=FILING),
        ev("approval.step", step="review.1", handler="王"),
        ev("approval.suspended", kind="expert_review", days=10, approver="P1"),
        ev("approval.resumed"),
        ev("approval.extended", days=3650, approver="P1"),
        ev("approval.decided", result="denied", reason="x", refused_by="deputy_head",
           report_to="head"),
        ev("approval.withdrawn"),
        ev("fee.collected", case=False, fee_item="ZJ-017", amount="1234.50",
           payer={"uscc": USCC}, reviewer="李", filing=dict(FILING, amount=100,
                                                          filed_at="2026-03-01T08:00:00Z")),
        ev("fee.refunded", case=False, fee_item="ZJ-017", amount=Decimal("12.5"), of="x"),
        ev("penalty.decided", party={"uscc": USCC}, violation="SCJG-W-031", severity="minor",
           amount="5000", hearing_notice=True, first_offence=False, filing=FILING,
           measures=["fine", "confiscation"], confiscated_value="300.00"),
        ev("penalty.filed", filing=FILING),
        ev("penalty.hearing_held"),
        ev("inspection.started", enterprise={"uscc": USCC},
           officers=[{"id": "O-1", "certificate": "C1"}, {"id": "O-2", "certificate": "C2"}]),
        ev("inspection.ended"),
        ev("complaint.received", subject="噪音", against="LY-HBJ"),
        ev("complaint.replied"),
        ev("complaint.closed"),
        ev("evaluation.received", case=False, satisfied=False, window="3号窗口"),
        ev("evaluation.rectified", note="已整改"),
        ev("inquiry.received"),
        ev("inquiry.answered"),
        ev("trade.announced", documents_issued="2026-03-01T09:00:00+08:00",
           bid_deadline="2026-03-21T09:00:00+08:00"),
        ev("trade.bids_opened"),
        ev("trade.awarded", publicity_start="2026-03-22T09:00:00+08:00",
           publicity_end="2026-03-25T09:00:00+08:00"),
        ev("event.corrected", case=False, of="sc-00001", action="void", reason="录入错误"),
        ev("event.corrected", of="sc-00006", action="replace", reason="改", replacement={
            "type": "approval.step", "at": "2026-03-02T10:00:00+08:00", "step": "review.2"}),
        ev("fee.filed", filing=dict(FILING, amount="99.99"), fee_item="ZJ-017"),
        ev("approval.delay_reported", by="section", report_to="superior", reason="疫情"),
    ]


WRONG_TYPES = (None, True, 12345, Decimal("1.5"), "", "x", [], {}, ["x"])


def generic_mutations(good):
    """Each field of each good event removed, or given a value of each JSON type."""
    out = []
    for base in good:
        for key in base:
            if key == "id":
                continue
            out.append({k: v for k, v in dict(base, id="sc-r%05d" % next(_seq)).items()
                        if k != key})
            for wrong in WRONG_TYPES:
                out.append(dict(base, id="sc-m%05d" % next(_seq), **{key: wrong}))
    return out


def with_(base, **fields):
    e = dict(base, id="sc-t%05d" % next(_seq))
    e.update(fields)
    return {k: v for k, v in e.items() if v is not None}


def targeted_mutations(good):
    by_type = {}
    for g in good:
        by_type.setdefault(g["type"], g)
    acc, fee, pen = by_type["approval.accepted"], by_type["fee.collected"], \
        by_type["penalty.decided"]
    ins, step = by_type["inspection.started"], by_type["approval.step"]
    cor = next(g for g in good if g.get("action") == "replace")
    out = []
    # tokens: alphabet and length
    for v in ("a" * 64, "a" * 65, "a b", "a:b", "a/b", "a.b_c-d", "a\n", "é", "a+b"):
        out += [with_(acc, id=v), with_(acc, dept=v), with_(acc, case=v), with_(acc, item=v),
                with_(step, step=v)]
    # free text: length in characters, control characters
    for v in ("x" * 256, "x" * 257, "中" * 256, "中" * 257, "a\tb", "a\nb", "a\u0085b",
              "a\u007fb", "a\u0000b", "a\u009fb", "a\u00a0b", "😀" * 256):
        out += [with_(step, handler=v), with_(by_type["approval.supplement_requested"],
                                              materials=v)]
    out += [with_(step, handler="x" * 2000), with_(by_type["approval.supplement_requested"],
                                                   materials="x" * 2000 + "y")]
    out += [with_(by_type["approval.supplement_requested"], materials="x" * 2000)]
    # days
    for v in (0, 1, 3650, 3651, -1, Decimal("5.5"), "5"):
        out.append(with_(by_type["approval.extended"], days=v))
    # money, as a string and as a number
    for v in ("0", "0.5", "0.50", "0.505", "1.", ".5", "-1", "+1", "1e3", " 1", "1 ",
              "999999999999.99", "1000000000000", "000000000000000000001.00",
              "0" * 33, "1,000", "１", Decimal("0.07"), Decimal("1234.56"), Decimal("1.005"),
              Decimal("-0.01"), 0, 999999999999, 1000000000000, Decimal("999999999999.99"),
              Decimal("1E+2"), Decimal("1e-2"), Decimal("1e-3")):
        out.append(with_(fee, amount=v))
    # times
    for v in ("2026-03-02T09:15:00Z", "2026-03-02t09:15:00z", "2026-03-02T09:15:00.123456789Z",
              "2026-03-02T09:15:00.1234567890Z", "2026-03-02T09:15:00.Z",
              "2026-03-02T09:15:00+0800", "2026-03-02 09:15:00+08:00", "2026-03-02T09:15+08:00",
              "2026-03-02T09:15:60+08:00", "2026-03-02T09:60:00+08:00", "1969-12-31T23:59:59Z",
              "1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2024-02-29T00:00:00Z",
              "2023-02-29T00:00:00Z", "2000-02-29T00:00:00Z", "2100-02-29T00:00:00Z",
              "1972-02-29T00:00:00Z", "1970-02-29T00:00:00Z", "2400-02-29T00:00:00Z",
              "2026-04-31T00:00:00Z", "2026-06-30T00:00:00Z", "2026-13-01T00:00:00Z",
              "2026-00-10T00:00:00Z", "2026-03-00T00:00:00Z", "2026-03-02T09:15:00+14:00",
              "2026-03-02T09:15:00+14:01", "2026-03-02T09:15:00-13:59",
              "2026-03-02T09:15:00+08:60", "2026-03-02T09:15:00-00:00",
              "2026-03-02T09:15:00+08:00\n", "2026-3-2T09:15:00+08:00", "20260302T091500Z"):
        out += [with_(acc, at=v), with_(by_type["trade.announced"], bid_deadline=v)]
    # identifiers (shape only: check digits are KNOWN_DIFFERENCES)
    for v in ("91410300MA44ABCD1", "91410300MA44ABCD1RR", "91410300MA44ABCDIR",
              "91410300ma44abcd1r"):
        out.append(with_(acc, applicant={"uscc": v}))
    for v in (CITIZEN[:17], CITIZEN + "1", CITIZEN[:17] + "x", citizen_id("41030218990312002"),
              citizen_id("41030219851312002"), citizen_id("41030219850300002")):
        out.append(with_(acc, applicant={"id": v}))
    # parties: exactly one of uscc and id
    out += [with_(acc, applicant={"uscc": USCC, "id": CITIZEN}), with_(acc, applicant={}),
            with_(acc, applicant={"name": "x"}), with_(acc, applicant={"uscc": USCC, "name": ""})]
    # filings, officers, measures
    out += [with_(by_type["penalty.filed"], filing={"office": "youhuaban"}),
            with_(by_type["penalty.filed"], filing={"ref": "x", "office": "a b"}),
            with_(by_type["penalty.filed"], filing=dict(FILING, amount="1.234")),
            with_(by_type["penalty.filed"], filing=dict(FILING, filed_at="2026-03-02")),
            with_(ins, officers=[]), with_(ins, officers=[{"id": "O-1"}]),
            with_(ins, officers=["O-1"]),
            with_(ins, officers=[{"id": "O-%d" % i, "certificate": "C"} for i in range(50)]),
            with_(ins, officers=[{"id": "O-%d" % i, "certificate": "C"} for i in range(51)]),
            with_(pen, measures=[], confiscated_value=None),
            with_(pen, measures=["fine", "fine"], confiscated_value=None),
            with_(pen, measures=["fine", "nap"], confiscated_value=None),
            with_(pen, measures=["fine"]),                          # value without confiscation
            with_(pen, confiscated_value=None),                     # confiscation without value
            with_(pen, measures=None),                              # a value, no measures
            with_(pen, measures=None, confiscated_value=None),
            with_(pen, measures=["fine", "confiscation", "licence_revocation",
                                 "production_stop", "closure", "qualification_downgrade",
                                 "practice_restriction"])]
    # envelope by type: case and item
    out += [with_(acc, item=None), with_(acc, case=None), with_(fee, case="LY-ZJJ-1"),
            with_(acc, type="approval.teleported"), with_(acc, type="event.corrected")]
    # corrections
    rep = cor["replacement"]
    out += [with_(cor, replacement=None), with_(cor, action="void"),
            with_(by_type["event.corrected"], action="undo"),
            with_(cor, replacement=dict(rep, type="event.corrected")),
            with_(cor, replacement=dict(rep, type="approval.nap")),
            with_(cor, replacement=dict(rep, step="a b")),
            with_(cor, replacement={k: v for k, v in rep.items() if k != "at"}),
            with_(cor, replacement={k: v for k, v in rep.items() if k != "step"}),
            with_(cor, replacement=dict(rep, type="approval.accepted", applicant={"id": CITIZEN})),
            with_(cor, replacement=dict(rep, type="approval.accepted", item="ZJ-001")),
            with_(cor, replacement=dict(rep, case=cor["case"], dept="LY-ZJJ")),
            with_(cor, replacement="x"), with_(cor, replacement=[])]
    # not an object
    out += ["[]", "1", '"x"', "null"]
    return out


# (what, event, schema's verdict): the schema accepts, the validator refuses (or the reverse).
def known_differences():
    acc = ev("approval.accepted", item="ZJ-001", applicant={"uscc": USCC})
    cor = ev("event.corrected", of="sc-1", action="replace", reason="改", replacement={
        "type": "approval.step", "at": "2026-03-02T10:00:00+08:00", "step": "s"})
    void = ev("event.corrected", case=False, of="sc-1", action="replace", reason="改",
              replacement={"type": "approval.step", "at": "2026-03-02T10:00:00+08:00",
                           "step": "s"})
    return [
        ("a credit code's check digit", with_(acc, applicant={"uscc": "91410300MA44ABCD1A"}),
         True),
        ("an identity number's check character",
         with_(acc, applicant={"id": CITIZEN[:17] + ("1" if CITIZEN[17] != "1" else "2")}),
         True),
        ("an identity number's impossible birth date (31 February)",
         with_(acc, applicant={"id": citizen_id("41030219850231002")}), True),
        ("a replacement's id other than the correction's",
         with_(cor, replacement=dict(cor["replacement"], id="other")), True),
        ("a replacement's dept other than the correction's",
         with_(cor, replacement=dict(cor["replacement"], dept="LY-HBJ")), True),
        ("a replacement's case other than the correction's",
         with_(cor, replacement=dict(cor["replacement"], case="LY-ZJJ-OTHER")), True),
        ("a replacement of a case event by a correction without a case", void, True),
        ("an amount beyond a double's precision (esupd reads the nearest double, 0.1)",
         with_(ev("fee.collected", case=False, fee_item="ZJ-017", payer={"uscc": USCC}),
               amount=Decimal("0.1000000000000000000001")), False),
    ]


# ---------------------------------------------------------------- tests


def test_esupctl_schema_is_a_valid_2020_12_schema():
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    # every type of the validator, and its allowed values, are in the schema
    proc = subprocess.run([str(ESUPCTL), "schema", "extra"], capture_output=True, timeout=30)
    assert proc.returncode == 2
    types = SCHEMA["properties"]["type"]["enum"]
    assert len(types) == len(set(types)) == 31
    assert {g["type"] for g in good_events()} == set(types)
    assert SCHEMA["$defs"]["approval.suspended"]["properties"]["kind"]["enum"][0] == "hearing"
    # unknown fields are allowed (they are warnings), at every level
    assert "additionalProperties" not in to_json(SCHEMA)


def test_samples_and_golden_events_agree():
    files = sorted(p for p in (SAMPLES / "events").rglob("*") if p.is_file()) + \
        sorted((REPO / "tests" / "rules").glob("*.events.ndjson"))
    lines = []
    for f in files:
        lines += [l for l in f.read_text(encoding="utf-8").splitlines() if l.strip()]
    parsed = []
    for l in lines:
        try:
            parsed.append(json.loads(l, parse_float=Decimal))
        except ValueError:
            parsed.append(None)
    refused = validator_refuses(lines)
    accepted = 0
    for i, (line, e) in enumerate(zip(lines, parsed)):
        if e is None:
            assert i + 1 in refused, line                # not JSON: the schema has no say
            continue
        assert schema_accepts(e) == (i + 1 not in refused), line
        accepted += i + 1 not in refused
    assert accepted > 500 and len(refused) >= 2


def test_good_events_and_single_mutations_agree():
    good = good_events()
    corpus = good + generic_mutations(good) + targeted_mutations(good) + \
        [b[1] for b in BAD_EVENTS]
    results = verdicts(corpus)
    assert results[:len(good)] == [(True, True)] * len(good)
    disagree = [(e, s, v) for e, (s, v) in zip(corpus, results) if s != v]
    # Two of the corpus are KNOWN_DIFFERENCES: test_bad_input's bad check digit, and the
    # replacing correction with its case removed (its approval.step replacement needs one).
    known = [(e, True, False) for e in corpus if isinstance(e, dict) and (
        e.get("applicant") == {"uscc": "91410300MA44ABCD1A"} or
        (e.get("type") == "event.corrected" and e.get("action") == "replace" and "case" not in e
         and e.get("replacement") == good[29]["replacement"]))]
    assert len(known) == 2
    assert disagree == known, "\n".join(map(repr, disagree))
    refused = sum(1 for s, v in results if not v)
    assert refused > 500 and len(results) - refused > 150, (refused, len(results))


def test_times_agree():
    # 29 February of every year around now and of every century year; every offset hour with
    # the minutes at their edges; every day-of-month edge of every month.
    years = list(range(1960, 2130)) + list(range(2000, 10000, 100)) + [9996, 9999]
    times = ["%04d-02-29T00:00:00+08:00" % y for y in years]
    times += ["2026-03-02T09:15:00%s%02d:%s" % (sign, h, m) for sign in "+-"
              for h in range(0, 16) for m in ("00", "30", "59", "60")]
    times += ["2026-%02d-%02dT23:59:59.5Z" % (mo, d) for mo in range(0, 14) for d in (0, 28, 29,
                                                                                     30, 31, 32)]
    events = [ev("approval.accepted", item="ZJ-001", at=t) for t in times]
    results = verdicts(events)
    assert [t for t, (s, v) in zip(times, results) if s != v] == []
    assert 0 < sum(1 for s, v in results if v) < len(results)


def test_bad_input_cases_are_refused_by_the_schema_too():
    results = verdicts([b[1] for b in BAD_EVENTS if b[0] != "bad check digit"])
    assert results == [(False, False)] * (len(BAD_EVENTS) - 1)


def test_known_differences_differ_as_listed():
    cases = known_differences()
    results = verdicts([c[1] for c in cases])
    assert [(what, r) for (what, _, s), r in zip(cases, results)] == \
        [(what, (s, not s)) for what, _, s in cases]


def test_get_v1_schema_equals_esupctl_schema(esupd, db, certs):
    add_principal(db, certs, "monitor-schema", "monitor")
    for who in ("dept-LY-SCJGJ", "supervisor", "auditor"):
        with esupd.client(who) as c:
            r = c.request("GET", "/v1/schema")
        assert r.status == 200, (who, r.body)
        assert r.header("content-type") == "application/schema+json"
        assert json.loads(r.body, parse_float=Decimal) == SCHEMA

    def monitor_reads():
        with esupd.client("monitor-schema") as c:
            return c.request("GET", "/v1/schema").status == 200
    wait_for(monitor_reads, 30, "esupd to let the new monitor read /v1/schema")
    with esupd.client("dept-LY-SCJGJ") as c:
        assert c.request("POST", "/v1/schema", b"{}", "application/json").status == 405
    with esupd.client("dept-LY-SCJGJ") as c:
        r = c.request("HEAD", "/v1/schema")
    assert (r.status, r.header("content-type"), r.body) == (200, "application/schema+json", b"")
    with esupd.client() as c:
        assert c.request("GET", "/v1/schema").status == 401
    with esupd.client("unknown") as c:
        assert c.request("GET", "/v1/schema").status == 403
