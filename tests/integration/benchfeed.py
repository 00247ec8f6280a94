"""The feed of the ingest benchmarks (contrib/bench/run, contrib/bench/ingest): realistic
approval cases, as departments send them.

Each case is four events - approval.received, approval.accepted, an approval.step (review) and
approval.decided (approved) - of one of its department's items (config/samples/items.csv). Dates
are relative to now (Asia/Shanghai offset): an ordinary case started 3 to 20 hours ago and is
decided within two hours of its start, so it is on time and reported within the 24 hours of
`late_report_hours`; nothing alerts. Each case's events are sent in order on one connection
(one stream), as a department's system sends them. Shares, each a fraction of the cases:

  late          the case started 30 to 44 hours ago: every event is reported late
                (APR-LATE-REPORT), decided within its deadline
  out_of_order  its decision is sent before its review step (the step lands behind it and the
                case is derived again from its history)
  alerting      a re-entered old case, started 15 to 40 days ago and decided now: past its
                committed and usually its statutory deadline (yellow/red card) and reported late

A case is drawn alerting first, then late, then ordinary; out of order is drawn independently.
The draw is seeded, so the same arguments give the same feed (but dates move with now).
"""

import csv
import random
from datetime import datetime, timedelta, timezone

from conftest import ITEMS

SHANGHAI = timezone(timedelta(hours=8))


def dept_items():
    with open(ITEMS, newline="", encoding="utf-8") as f:
        out = {}
        for row in csv.DictReader(f):
            out.setdefault(row["dept"], []).append(row["code"])
    return out


def _at(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S+08:00")


def streams(tag, events, nstreams, depts, late=0.0, out_of_order=0.0, alerting=0.0, seed=12,
            now=None):
    """`events` events (the last case may be short) in `nstreams` lists, one per
    connection; stream i holds only cases of depts[i % len(depts)]. Event ids are
    "<tag>-<n>", case numbers "<dept>-<tag>-<n>"."""
    rng = random.Random(seed)
    now = (now or datetime.now(timezone.utc)).astimezone(SHANGHAI).replace(microsecond=0)
    items = dept_items()
    out = [[] for _ in range(nstreams)]
    made = 0
    case = 0
    while made < events:
        s = case % nstreams
        dept = depts[s % len(depts)]
        item = items[dept][case % len(items[dept])]
        case_no = "%s-%s-%06d" % (dept, tag, case)
        draw = rng.random()
        if draw < alerting:
            t0 = now - timedelta(days=rng.uniform(15, 40))
            gaps = (0, 600, 3600, None)        # decided "now" (a few minutes ago)
        elif draw < alerting + late:
            t0 = now - timedelta(hours=rng.uniform(30, 44))
            gaps = (0, 600, 3600, 7200)
        else:
            t0 = now - timedelta(hours=rng.uniform(3, 20))
            gaps = (0, 600, 3600, 7200)
        kinds = [("approval.received", {"item": item}),
                 ("approval.accepted", {"item": item}),
                 ("approval.step", {"step": "review", "handler": "P0012"}),
                 ("approval.decided", {"result": "approved"})]
        evs = []
        for k, ((typ, fields), gap) in enumerate(zip(kinds, gaps)):
            at = now - timedelta(minutes=5) if gap is None else t0 + timedelta(seconds=gap)
            e = {"id": "%s-%d" % (tag, made), "dept": dept, "type": typ, "at": _at(at),
                 "case": case_no}
            e.update(fields)
            evs.append(e)
            made += 1
            if made == events:
                break
        if len(evs) == 4 and rng.random() < out_of_order:
            evs[2], evs[3] = evs[3], evs[2]
        out[s].extend(evs)
        case += 1
    return out


def flat(parts):
    """All events of the streams, stream after stream."""
    return [e for s in parts for e in s]
