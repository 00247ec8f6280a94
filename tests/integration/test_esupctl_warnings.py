"""esupctl eval and unknown fields: each is told on stderr (line, path, type, nearest known
name) while the evaluation on stdout and the exit status stay those of the event without the
field. No database: esupctl eval reads reference files."""

import json
import subprocess
import tempfile
from pathlib import Path

from conftest import BUILD, CALENDAR, ITEMS, SAMPLES, SUPERVISION_TABLES

NOW = "2026-03-20T12:00:00+08:00"
ACCEPTED = {"id": "zj-0220-1", "dept": "LY-ZJJ", "type": "approval.accepted",
            "at": "2026-03-02T10:20:00+08:00", "case": "LY-ZJJ-2026-000220", "item": "ZJ-001",
            "received_at": "2026-03-02T10:25:00+08:00"}
EXTENDED = {"id": "zj-0220-2", "dept": "LY-ZJJ", "type": "approval.extended",
            "at": "2026-03-10T09:00:00+08:00", "case": "LY-ZJJ-2026-000220", "days": 10}


def evaluate(events):
    with tempfile.TemporaryDirectory(prefix="esup-refdata-") as refdata:
        Path(refdata, "calendar.csv").symlink_to(CALENDAR)
        Path(refdata, "items.csv").symlink_to(ITEMS)
        for table in SUPERVISION_TABLES:
            Path(refdata, table + ".csv").symlink_to(SAMPLES / (table + ".csv"))
        feed = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events).encode()
        proc = subprocess.run([str(BUILD / "contrib" / "esupctl"), "eval", "--refdata", refdata,
                               "--now", NOW], input=feed, capture_output=True, timeout=60)
    assert b"Sanitizer" not in proc.stderr, proc.stderr.decode()
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


def test_eval_tells_unknown_fields_on_stderr():
    # The case: a misspelled approver is kept, the extension is still unapproved,
    # and the warning says why.
    typo = dict(EXTENDED, aprover="P0012", applicant={"nmae": "x"}, zzqqxx=1)
    code, out, err = evaluate([ACCEPTED, typo])
    base_code, base_out, base_err = evaluate([ACCEPTED, EXTENDED])
    assert (code, out) == (base_code, base_out) == (0, base_out)
    assert "APR-EXTENSION-UNAPPROVED" in out
    assert base_err == ""                      # received_at is eval's own field
    assert err.splitlines() == [
        "esupctl: line 2: field aprover: not a field of approval.extended; "
        "did you mean approver?",
        "esupctl: line 2: field applicant: not a field of approval.extended",
        "esupctl: line 2: field zzqqxx: not a field of approval.extended",
    ]


def test_eval_tells_a_refused_events_unknown_fields():
    refused = {k: v for k, v in EXTENDED.items() if k != "days"}
    refused["dayz"] = 10
    code, out, err = evaluate([ACCEPTED, refused])
    assert code == 1                           # an invalid line, as before
    assert err.splitlines() == [
        "esupctl: line 2: days: expected a whole number of days from 1 to 3650, "
        "got (missing)",
        "esupctl: line 2: field dayz: not a field of approval.extended; did you mean days?",
    ]


def test_the_sample_feed_has_no_unknown_fields():
    # The Luoyang demo feed is what newcomers copy: it carried `name` on approval.received,
    # `subject` on inquiry.received, `title` on trade.announced and `winner` on trade.awarded,
    # none of them in docs/protocol.md, so the README's own `esupctl eval` example warned.
    feeds = sorted((SAMPLES / "events").glob("*/*.ndjson"))
    assert feeds
    for feed in feeds:
        events = [json.loads(line) for line in feed.read_text(encoding="utf-8").splitlines()
                  if line.strip()]
        code, out, err = evaluate(events)
        assert "not a field" not in err, "%s:\n%s" % (feed, err)
