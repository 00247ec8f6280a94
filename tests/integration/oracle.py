"""oracle: what the fault suites and the two-daemon test stream, and how they judge the result.

The workload is the Luoyang sample feed (config/samples/events), replicated: replica r renames
every event id and case number with a "-rNNNN" suffix, so each replica is a fresh set of cases
that raises the same alerts. Left out are the penalty.* and inspection.* events: their rules
read other cases about the same party (cross-case context), whose verdict depends on which case
arrived first, and the oracle below evaluates everything at once.

The business clock ([testing] clock_offset_s) starts at BUSINESS_START, a few seconds before
the midnight at which some sample cases move on (a special procedure overruns at
2026-11-25 00:00:01): the sweeper has to raise those alerts during the run. The next case
transition is days later, so any evaluation instant between TRANSITION and QUIET_UNTIL gives
the same open alerts, which makes the comparison deterministic.

The oracle, after the daemons are stopped:
- acknowledged but missing = 0 and stored twice = 0 (events and event_ids, per dept and id);
- the open alerts in the database, as (rule, dept, case, severity, dedup key), equal those
  `esupctl eval` derives at the same business time from the stored events (with their stored
  receipt times) and the reference data exported by esup_refdata_csv();
- no case is due at that instant (the sweeper caught up), no condition has two live alerts,
  and no condition was raised twice (one alerts row per dedup key).
"""

import collections
import datetime
import itertools
import json
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from esupclient import StreamSender

REPO = Path(__file__).resolve().parents[2]
FEEDS = REPO / "config" / "samples" / "events"
SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))
BUSINESS_START = datetime.datetime(2026, 11, 24, 23, 59, 55, tzinfo=SHANGHAI)
TRANSITION = datetime.datetime(2026, 11, 25, 0, 0, 1, tzinfo=SHANGHAI)
QUIET_UNTIL = datetime.datetime(2026, 11, 26, 0, 0, 1, tzinfo=SHANGHAI)
LEFT_OUT = ("penalty.", "inspection.")
REFDATA_TABLES = ("calendar", "items", "fee_items", "penalty_tiers", "filing_offices",
                  "officers", "enterprises", "regions", "hearing_thresholds")


def clock_offset(start=None):
    """The [testing] clock_offset_s that puts the business clock at `start` (seconds since
    the epoch; default BUSINESS_START) now."""
    return int((start or BUSINESS_START.timestamp()) - time.time())


def business_now(offset):
    return datetime.datetime.fromtimestamp(time.time() + offset, SHANGHAI)


def feed_templates():
    """dept -> that department's sample events in file order (approval feed first)."""
    feeds = collections.defaultdict(list)
    for kind in ("approval", "supervision"):
        for path in sorted((FEEDS / kind).glob("*.ndjson")):
            for line in path.read_text(encoding="utf-8").splitlines():
                ev = json.loads(line)
                if line.strip() and not ev["type"].startswith(LEFT_OUT):
                    feeds[ev["dept"]].append(ev)
    return dict(feeds)


def replica(events, r):
    """The events with ids and case numbers made unique to replica r."""
    out = []
    for ev in events:
        ev = dict(ev, id="%s-r%04d" % (ev["id"], r))
        if "case" in ev:
            ev["case"] = "%s-r%04d" % (ev["case"], r)
        out.append(ev)
    return out


class ReplicatedFeed:
    """An endless sequence of one department's events, replica after replica. Two feeds made
    alike yield the same events, so two senders can race each other with the same ids."""

    def __init__(self, templates):
        self.templates = templates

    def __iter__(self):
        for r in itertools.count():
            yield from replica(self.templates, r)


class FeedSender(StreamSender):
    """A StreamSender over an endless feed that stops, between requests, once `stop` is set.
    With several ports it fails over to the next one when a connection breaks (a killed
    daemon); a 429/503 is resent to the same daemon after `pause`, as a client must."""

    def __init__(self, make_client, feed, ports=(), stop=None, **kw):
        super().__init__(make_client, [], max_retries=10 ** 9, **kw)
        self.feed = feed
        self.ports = list(ports)
        self.stop = stop or threading.Event()
        self.client = None
        self.failovers = 0
        self.ok = None
        self.thread = threading.Thread(target=self._thread, daemon=True)

    def _note(self, what):
        super()._note(what)
        if isinstance(what, str) and len(self.ports) > 1 and self.client is not None:
            i = self.ports.index(self.client.port) if self.client.port in self.ports else -1
            self.client.port = self.ports[(i + 1) % len(self.ports)]
            self.failovers += 1

    def run(self, progress=None):
        self.client = self.make_client()
        events = iter(self.feed)
        try:
            while not self.stop.is_set():
                part = list(itertools.islice(events, self.chunk))
                self.events += part
                if not self._send_chunk(self.client, part):
                    return False
                if progress is not None:
                    progress(len(self.acked))
                if self.gap:
                    time.sleep(self.gap)
            return True
        finally:
            self.client.close()

    def _thread(self):
        try:
            self.ok = self.run()
        except Exception as e:  # reported by finish(): a thread cannot fail a test itself
            self.error = repr(e)
            self.ok = False

    def start(self):
        self.thread.start()
        return self


class Streams:
    """Several FeedSenders in threads, one stop switch, progress as acknowledged events."""

    def __init__(self, senders):
        self.senders = senders
        self.stop = threading.Event()
        for s in senders:
            s.stop = self.stop

    def start(self):
        for s in self.senders:
            s.start()
        return self

    def acked(self):
        return sum(len(s.acked) for s in self.senders)

    def alive(self):
        return all(s.thread.is_alive() for s in self.senders)

    def errors(self):
        return ["%s" % s.error for s in self.senders if s.ok is False or s.error]

    def wait_acked(self, n, wait_for, timeout=300):
        """Waits for n acknowledged events in all; fails if a sender gave up."""
        wait_for(lambda: self.acked() >= n or not self.alive(), timeout,
                 "%d acknowledged events (at %d)" % (n, self.acked()))
        assert self.alive(), "a client stopped early: %s" % self.errors()

    def finish(self, timeout=300):
        self.stop.set()
        for s in self.senders:
            s.thread.join(timeout)
        assert not any(s.thread.is_alive() for s in self.senders), "a client did not finish"
        assert all(s.ok for s in self.senders), "a client gave up: %s" % self.errors()

    def refusals(self):
        total = collections.Counter()
        for s in self.senders:
            total.update(s.refusals)
        return dict(total)


def dept_senders(daemon_ports, ca_client, chunk=20, pause=0.1, racing=("LY-SCJGJ",)):
    """One sender per department of the feed, spread over the ports in turn; with two ports or
    more, each department in `racing` gets a second sender sending the same events to the next
    port (the same ids on two daemons at once). ca_client(port, dept) -> a Client."""
    senders = []
    templates = feed_templates()
    for i, dept in enumerate(sorted(templates)):
        copies = 2 if len(daemon_ports) > 1 and dept in racing else 1
        for c in range(copies):
            k = (i + c) % len(daemon_ports)
            ports = daemon_ports[k:] + daemon_ports[:k]
            senders.append(FeedSender(lambda p=ports[0], d=dept: ca_client(p, d),
                                      ReplicatedFeed(templates[dept]), ports=ports,
                                      chunk=chunk, pause=pause))
    return senders


# ---------------------------------------------------------------- the verdict


@dataclass
class Verdict:
    sent: int = 0
    acked: int = 0
    rejected: int = 0
    stored: int = 0
    missing: int = 0             # acknowledged, not stored
    doubled: int = 0             # stored more than once
    unacked_stored: int = 0      # stored, never acknowledged
    alerts_db: int = 0           # open alerts in the database
    alerts_eval: int = 0         # alerts esupctl eval derives
    only_db: list = field(default_factory=list)
    only_eval: list = field(default_factory=list)
    live_twice: int = 0          # dedup keys with two live alerts
    raised_twice: list = field(default_factory=list)   # dedup keys with two alert rows
    due_at_eval: int = 0         # cases the sweeper had not caught up with
    evaluated_at: str = ""
    cases: int = 0
    refusals: dict = field(default_factory=dict)

    def problems(self):
        p = []
        for name in ("missing", "doubled", "rejected", "unacked_stored", "live_twice",
                     "due_at_eval"):
            if getattr(self, name):
                p.append("%s = %d" % (name, getattr(self, name)))
        if self.only_db or self.only_eval:
            p.append("open alerts differ from esupctl eval at %s: only in the database %s;"
                     " only in esupctl eval %s" % (self.evaluated_at, self.only_db[:10],
                                                    self.only_eval[:10]))
        if self.raised_twice:
            p.append("raised twice: %s" % self.raised_twice[:10])
        return p

    def summary(self):
        return ("sent %d, acknowledged %d, stored %d, missing %d, doubled %d, cases %d,"
                " open alerts %d = esupctl eval %d, raised twice %d, refusals %s"
                % (self.sent, self.acked, self.stored, self.missing, self.doubled, self.cases,
                   self.alerts_db, self.alerts_eval, len(self.raised_twice), self.refusals))


def export_refdata(db, directory):
    directory.mkdir(parents=True, exist_ok=True)
    for table in REFDATA_TABLES:
        text = db.scalar("SELECT esup_refdata_csv(%s::regclass)", (table,))
        (directory / (table + ".csv")).write_text(text, encoding="utf-8")
    return directory


def export_events(db, path):
    """The stored events as NDJSON in arrival order, each with its stored receipt time (the
    whole second, as the daemon reads it back)."""
    rows = db.query("SELECT body::text, floor(extract(epoch FROM received_at))::bigint"
                    " FROM events ORDER BY seq")
    with open(path, "w", encoding="utf-8") as f:
        for body, received in rows:
            ev = json.loads(body)
            ev["received_at"] = datetime.datetime.fromtimestamp(received, SHANGHAI).isoformat()
            f.write(json.dumps(ev, ensure_ascii=False) + "\n")
    return len(rows)


def esupctl_alerts(esupctl, refdata, events, at):
    with open(events, "rb") as stdin:
        proc = subprocess.run([str(esupctl), "eval", "--refdata", str(refdata), "--now",
                               at.isoformat()], stdin=stdin, capture_output=True, timeout=600)
    assert proc.returncode == 0, "esupctl eval: %s" % proc.stderr.decode(errors="replace")
    rows = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    return collections.Counter((r["rule"], r["dept"], r["case"], r["severity"], r["key"])
                               for r in rows if r["kind"] == "alert")


def judge(db, senders, esupctl, workdir, at):
    """The verdict on a finished run; every daemon must be stopped. `at`: the business time
    to compare alerts at (between TRANSITION and QUIET_UNTIL)."""
    v = Verdict(evaluated_at=at.isoformat())
    acked, sent = set(), set()
    for s in senders:
        sent.update((e["dept"], e["id"]) for e in s.events)
        acked.update((e["dept"], e["id"]) for e in s.events if e["id"] in s.acked)
        v.rejected += len(s.rejected)
    v.refusals = Streams(senders).refusals() if senders else {}
    v.sent, v.acked = len(sent), len(acked)
    counts = collections.Counter()
    for dept, eid, n in db.query("SELECT dept, event_id, count(*) FROM events GROUP BY 1, 2"):
        counts[(dept, eid)] = n
    ids = dict(((d, e), n) for d, e, n in
               db.query("SELECT dept, event_id, count(*) FROM event_ids GROUP BY 1, 2"))
    v.stored = len(counts)
    v.missing = sum(1 for k in acked if counts.get(k, 0) == 0)
    v.doubled = sum(1 for n in counts.values() if n > 1) + sum(1 for n in ids.values() if n > 1)
    v.unacked_stored = sum(1 for k in counts if k not in acked)
    v.cases = db.scalar("SELECT count(*) FROM cases")
    v.due_at_eval = db.scalar("SELECT count(*) FROM cases WHERE next_check_at <= %s", (at,))
    # The statistical rules (STA-*) judge the rollups over time windows, not one case's events:
    # esupctl eval has nothing to derive them from (test_stat_rules.py covers them).
    live = collections.Counter(tuple(r) for r in db.query(
        "SELECT rule, dept, coalesce(case_no, ''), severity, dedup_key FROM alerts"
        " WHERE status IN ('open', 'acknowledged') AND rule NOT LIKE 'STA-%'"))
    v.live_twice = db.scalar("SELECT count(*) FROM (SELECT dedup_key FROM alerts WHERE status"
                             " IN ('open', 'acknowledged') GROUP BY 1 HAVING count(*) > 1) x")
    v.raised_twice = [r[0] for r in db.query(
        "SELECT dedup_key FROM alerts GROUP BY 1 HAVING count(*) > 1 ORDER BY 1")]
    refdata = export_refdata(db, workdir / "oracle-refdata")
    events = workdir / "oracle-events.ndjson"
    export_events(db, events)
    derived = esupctl_alerts(esupctl, refdata, events, at)
    v.alerts_db, v.alerts_eval = sum(live.values()), sum(derived.values())
    v.only_db = sorted((live - derived).elements())
    v.only_eval = sorted((derived - live).elements())
    return v


def wait_swept(db, offset, wait_for, timeout=60):
    """Waits until the business clock has passed TRANSITION and no case is due any more."""
    def swept():
        now = business_now(offset)
        return now > TRANSITION and db.scalar(
            "SELECT count(*) FROM cases WHERE next_check_at <= %s", (now,)) == 0
    wait_for(swept, timeout, "the sweeper to catch up past %s" % TRANSITION.isoformat())


def log_errors(text, marks=("deadlock detected", "duplicate key value",
                            "could not serialize")):
    return [line for line in text.splitlines() if any(m in line for m in marks)]
