"""The event subject has one meaning: schema/005's esup_event_subject() (SQL, which the daemon's
context query and index use) and libmonitor's mon_event_subject() (which the rules and
mon_context_select use) agree on every event type libmonitor knows.

The types come from libmonitor itself (tests/helpers/event_subject --types), so a type added
later is covered without editing this file; its sample event comes from the golden cases or the
sample feeds, and a type with none fails here by name. Each sample is tried as it is and with
party and enterprise (the fields the subject reads; unknown fields elsewhere) absent, or naming
a company (uscc) or a person (id), alone or together; the variants libmonitor refuses are left
out, and every type keeps at least its sample.
"""

import copy
import json
import subprocess

import pytest

from conftest import BUILD, REPO

HELPER = BUILD / "tests" / "helpers" / "event_subject"
SAMPLE_FILES = sorted((REPO / "tests" / "rules").glob("*.events.ndjson")) + sorted(
    (REPO / "config" / "samples" / "events").glob("*/*.ndjson"))
USCC = "91410305MA45N8QX60"
CITIZEN = "410303199003081524"
SUBJECT_TYPES = {"penalty.decided": "party", "inspection.started": "enterprise"}


def libmonitor(args=(), stdin=""):
    proc = subprocess.run([str(HELPER), *args], input=stdin, capture_output=True, text=True,
                          timeout=60, check=True)
    return proc.stdout.splitlines()


def samples():
    """type -> the first valid-looking event of that type in the golden cases and samples."""
    found = {}
    for path in SAMPLE_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if isinstance(ev, dict) and isinstance(ev.get("type"), str):
                ev.pop("received_at", None)   # a golden case's receipt time, not a field
                found.setdefault(ev["type"], ev)
    return found


def variants(ev):
    """(label, event): the sample, and party/enterprise absent or set every way."""
    identities = {"none": None, "uscc": {"uscc": USCC}, "id": {"id": CITIZEN}}
    out = [("as sent", ev)]
    for party in identities:
        for enterprise in identities:
            v = copy.deepcopy(ev)
            for field, who in (("party", party), ("enterprise", enterprise)):
                v.pop(field, None)
                if identities[who] is not None:
                    v[field] = dict(identities[who])
            out.append(("party %s, enterprise %s" % (party, enterprise), v))
    return out


def test_every_type_has_a_sample():
    types = libmonitor(["--types"])
    assert len(types) >= 28 and "penalty.decided" in types and "inspection.started" in types
    missing = sorted(set(types) - set(samples()))
    assert not missing, ("no golden case or sample feed has an event of type %s: add one so the "
                         "subject agreement covers it" % ", ".join(missing))


def test_sql_and_libmonitor_agree(db):
    by_type = samples()
    cases = []
    for t in libmonitor(["--types"]):
        if t in by_type:
            cases += [(t, label, ev) for label, ev in variants(by_type[t])]
    answers = libmonitor(stdin="".join(json.dumps(ev, ensure_ascii=False) + "\n"
                                       for _, _, ev in cases))
    assert len(answers) == len(cases)
    valid = [(t, label, ev, None if a == "-" else a)
             for (t, label, ev), a in zip(cases, answers) if not a.startswith("invalid")]
    refused = {(t, label) for (t, label, _), a in zip(cases, answers) if a.startswith("invalid")}
    assert not [t for t, label in refused if label == "as sent"], "samples libmonitor refuses"

    rows = db.query("SELECT esup_event_subject(t, b::jsonb) FROM unnest(%s::text[], %s::text[])"
                    " WITH ORDINALITY AS x(t, b, n) ORDER BY n",
                    ([t for t, _, _, _ in valid],
                     [json.dumps(ev, ensure_ascii=False) for _, _, ev, _ in valid]))
    disagree = ["%s (%s): SQL %r, libmonitor %r" % (t, label, sql, c)
                for (t, label, _, c), (sql,) in zip(valid, rows) if sql != c]
    assert not disagree, "\n".join(disagree)

    # The comparison covers what matters: both identities of both subject types, and a
    # subject-less answer for every other type.
    got = {(t, label): c for t, label, _, c in valid}
    def label(field, mine, other):
        who = {field: mine, ("enterprise" if field == "party" else "party"): other}
        return "party %s, enterprise %s" % (who["party"], who["enterprise"])
    for t, field in SUBJECT_TYPES.items():
        assert got[(t, label(field, "uscc", "none"))] == USCC
        assert got[(t, label(field, "id", "none"))] == CITIZEN
        assert got[(t, label(field, "id", "uscc"))] == CITIZEN
        assert (t, label(field, "none", "uscc")) in refused   # the field is required
    assert all(c is None for t, _, _, c in valid if t not in SUBJECT_TYPES)
    assert {t for t, _, _, _ in valid} == set(libmonitor(["--types"]))


@pytest.mark.parametrize("body", [
    {"party": {"uscc": USCC, "id": CITIZEN}},   # both: libmonitor refuses it before any rule
])
def test_refused_identities_never_reach_sql(body):
    ev = dict(samples()["penalty.decided"], **body)
    assert libmonitor(stdin=json.dumps(ev) + "\n")[0].startswith("invalid party")
