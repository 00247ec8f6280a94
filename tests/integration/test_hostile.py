"""The hostile-input matrix: bodies and headers a hostile (or broken) department might send,
each with the answer it must get, nothing bad stored, and the daemon still serving.

Raw HTTP framing (duplicate Content-Length, bare LF, missing Host...) is in the listener's
tests; this matrix is about what is inside a well-framed request. esupd runs with its default
limits (8 MiB body, 64 KiB event, depth 16, 5000 events per request). One daemon and one
database serve the whole matrix (a fresh pair costs seconds per case): each case checks that
what it added to `events` is exactly what the answer said was accepted, each once.
"""

import gzip
import json
import subprocess
import time

import pytest

from conftest import (ESUPD, SANITIZER_MARKS, USCC_A, Daemon, Database, _counter,
                      as_daemon_user, chown_daemon, default_config, event, free_port, register,
                      sanitizer_env, statuses, write_config)

BODY_MAX, EVENT_MAX, DEPTH_MAX, EVENTS_MAX = 8388608, 65536, 16, 5000
JSON, NDJSON = "application/json", "application/x-ndjson"
OK = ("accepted", None, None)


def rejected(field, expected):
    """A per-event result: rejected, naming `field`, `expected` part of what it expected."""
    return ("rejected", field, expected)


def js(*events):
    return json.dumps(list(events), ensure_ascii=False).encode()


def nd(*lines):
    return b"".join((ln if isinstance(ln, bytes) else json.dumps(ln).encode()) + b"\n"
                    for ln in lines)


def raw(ev, **replace):
    """An event as JSON bytes, with some values spliced in verbatim (bytes JSON would not
    let json.dumps write: raw NUL, invalid UTF-8, lone surrogates, numbers)."""
    ev = dict(ev)
    for k in replace:
        ev[k] = "@@%s@@" % k
    text = json.dumps(ev, ensure_ascii=False).encode()
    for k, v in replace.items():
        text = text.replace(b'"@@%s@@"' % k.encode(), v)
    return text


def arr(*parts):
    return b"[" + b",".join(parts) + b"]"


def nested(depth):
    v = "deep"
    for _ in range(depth):
        v = [v]
    return v


def fee(**fields):
    ev = dict(type="fee.collected", case=None, fee_item="ZJ-017", amount="12.50",
              payer={"uscc": USCC_A})
    ev.update(fields)
    return event(**ev)


# (id, Content-Type, body, HTTP status, per-event results (200) or the error (400/413):
#  (expected prefix, text in got))
G = event  # a good event, made fresh for each row
CASES = [
    # sizes and counts
    ("huge-ndjson-line", NDJSON, nd(G(), G(pad="x" * 100000), G()), 200,
     [OK, rejected("", "a line of at most 65536 bytes"), OK]),
    ("huge-json-event", JSON, js(G(), G(pad="x" * 100000), G()), 200,
     [OK, rejected("", "an event of at most 65536 bytes"), OK]),
    ("huge-lone-object", JSON, json.dumps(G(pad="x" * 100000)).encode(), 200,
     [rejected("", "an event of at most 65536 bytes")]),
    ("json-5001-events", JSON, js(*[G() for _ in range(EVENTS_MAX + 1)]), 413,
     ("at most 5000 events", "5001 events")),
    ("json-10000-tiny-events", JSON, b"[" + b",".join([b"{}"] * 10000) + b"]", 413,
     ("at most 5000 events", "10000 events")),
    ("ndjson-10000-tiny-events", NDJSON, b"{}\n" * 10000, 413,
     ("at most 5000 events", "10000 events")),
    ("json-8MiB-of-empty-objects", JSON, b"[" + b",".join([b"{}"] * ((BODY_MAX - 1) // 3)) + b"]",
     413, ("at most 5000 events", "2796202 events")),
    ("json-exactly-5000-events", JSON, js(*[G() for _ in range(EVENTS_MAX)]), 200,
     [OK] * EVENTS_MAX),
    # nesting
    ("json-deep-event", JSON, js(G(), G(extra=nested(40)), G()), 200,
     [OK, rejected("", "JSON nested at most 16 deep"), OK]),
    ("ndjson-deep-event", NDJSON, nd(G(), G(extra=nested(40)), G()), 200,
     [OK, rejected("", "JSON nested at most 16 deep"), OK]),
    ("json-depth-exactly-16", JSON, js(G(extra=nested(15))), 200, [OK]),
    ("json-5000-brackets", JSON, b"[" * 5000 + b"]" * 5000, 400,
     ("a JSON object or array", "at most 2048 levels of nesting")),
    ("json-unbalanced", JSON, b"[" + json.dumps(G()).encode()[:-1] + b"]", 400,
     ("a JSON object or array", "'}' closing the object expected")),
    # bytes that are not text
    ("json-nul-in-string", JSON, arr(raw(G()), raw(G(), note=b'"a\x00b"'), raw(G())), 200,
     [OK, rejected("", "a JSON object"), OK]),
    ("json-nul-between-events", JSON, arr(raw(G()), b"\x00" + raw(G())), 400,
     ("a JSON object or array", "an event expected")),
    ("ndjson-nul-line", NDJSON, nd(G(), b"\x00", raw(G(), note=b'"\x00"'), G()), 200,
     [OK, rejected("", "a JSON object on one line"), rejected("", "a JSON object on one line"),
      OK]),
    ("json-escaped-nul", JSON, arr(raw(G()), raw(G(), note=b'"a\\u0000b"')), 200,
     [OK, rejected("", "a JSON object")]),
    ("json-invalid-utf8", JSON, arr(raw(G(), note=b'"\xff\xfe"'), raw(G())), 200,
     [rejected("", "UTF-8 text"), OK]),
    ("json-overlong-utf8", JSON, arr(raw(G(), note=b'"\xc0\xaf"'), raw(G())), 200,
     [rejected("", "UTF-8 text"), OK]),
    ("ndjson-overlong-utf8-in-id", NDJSON, nd(raw(G(), id=b'"a\xe0\x80\xafb"'), G()), 200,
     [rejected("", "UTF-8 text"), OK]),
    ("ndjson-gbk", NDJSON, nd(G(), raw(G(), note='"洛阳"'.encode("gbk")), G()), 200,
     [OK, rejected("", "UTF-8 text"), OK]),
    ("json-lone-high-surrogate", JSON, arr(raw(G(), note=b'"\\ud800"'), raw(G())), 200,
     [rejected("", "a JSON object"), OK]),
    ("json-lone-low-surrogate", JSON, arr(raw(G()), raw(G(), note=b'"x\\udc00"')), 200,
     [OK, rejected("", "a JSON object")]),
    ("json-surrogate-pair-is-fine", JSON, arr(raw(G(), pad=b'"\\ud83d\\ude00"')), 200, [OK]),
    ("json-bom", JSON, b"\xef\xbb\xbf" + js(G()), 400,
     ("UTF-8 text without a byte order mark", "a UTF-8 byte order mark (EF BB BF)")),
    ("ndjson-bom", NDJSON, b"\xef\xbb\xbf" + nd(G(), G()), 200,
     [rejected("", "UTF-8 text without a byte order mark"), OK]),
    ("id-control-characters", JSON, js(G(id="a\u0001b"), G()), 200,
     [rejected("id", "a string of 1 to 64"), OK]),
    ("id-10KiB", JSON, js(G(id="k" * 10240), G()), 200,
     [rejected("id", "a string of 1 to 64"), OK]),
    # values
    # money is a string or a number with at most two decimals, stored exactly (protocol.md):
    # an exponent is accepted when the value is whole fen, refused when it is not
    ("money-as-exponent-number", JSON, arr(raw(fee(), amount=b"1.25e2"), raw(fee())), 200,
     [OK, OK]),
    ("money-exponent-not-fen", JSON, arr(raw(fee(), amount=b"1.2345e1"), raw(fee())), 200,
     [rejected("amount", ""), OK]),
    ("money-exponent-overflow", JSON, arr(raw(fee(), amount=b"1e400"), raw(fee())), 200,
     [rejected("", "a JSON object"), OK]),
    ("money-as-exponent-string", JSON, js(fee(amount="1.25e2"), fee()), 200,
     [rejected("amount", ""), OK]),
    ("money-huge", JSON, js(fee(amount="9" * 400), fee()), 200,
     [rejected("amount", ""), OK]),
    ("money-negative", JSON, arr(raw(fee(), amount=b"-1.5"), raw(fee())), 200,
     [rejected("amount", ""), OK]),
    ("duplicate-keys-in-array", JSON, arr(raw(G()), b'{"id":"dup-1","id":"dup-2"}', raw(G())), 200,
     [OK, rejected("", "a JSON object"), OK]),
    ("duplicate-keys-lone-object", JSON, raw(G())[:-1] + b',"dept":"LY-ZJJ"}', 400,
     ("a JSON object or array", "duplicate")),
    ("duplicate-keys-ndjson", NDJSON, nd(raw(G())[:-1] + b',"type":"x"}', G()), 200,
     [rejected("", "a JSON object on one line"), OK]),
    ("scalars-in-array", JSON, arr(raw(G()), b"1", b'"s"', b"null", b"true", b"[]", b"1e999"), 200,
     [OK] + [rejected("", "a JSON object")] * 6),
    ("other-department", JSON, js(G(dept="LY-ZJJ"), G()), 200,
     [rejected("dept", "this certificate's department"), OK]),
    # whole bodies that are not events
    ("empty-json", JSON, b"", 400, ("a JSON object or array", "'[' or '{' expected")),
    ("empty-ndjson", NDJSON, b"", 200, []),
    ("json-scalar-body", JSON, b'"text"', 400, ("a JSON object or array", "near '\"text\"'")),
    ("json-trailing-garbage", JSON, js(G()) + b" x", 400,
     ("a JSON object or array", "the end of the body expected")),
    ("json-trailing-comma", JSON, js(G())[:-1] + b",]", 400,
     ("a JSON object or array", "an event expected")),
    # headers
    ("content-type-with-charset", JSON + "; charset=utf-8", js(G()), 200, [OK]),
    ("content-type-upper-case", "Application/JSON", js(G()), 200, [OK]),
    ("content-type-text", "text/plain", js(G()), 415, None),
    ("content-type-form", "application/x-www-form-urlencoded", b"a=1", 415, None),
    ("content-type-json-seq", "application/json-seq", b"\x1e" + js(G()), 415, None),
    ("content-type-missing", None, js(G()), 415, None),
    ("content-type-prefix", "application/jsonx", js(G()), 415, None),
]


def post(d, content_type, body, headers=None, deadline=60):
    """POST /v1/events as a client must: resend on 429/503 (Retry-After) until the deadline."""
    end = time.monotonic() + deadline
    while True:
        with d.client("dept-LY-SCJGJ", timeout=120) as c:
            r = c.request("POST", "/v1/events", body, content_type, headers)
        if r.status not in (429, 503) or time.monotonic() > end:
            return r
        time.sleep(min(float(r.header("Retry-After") or 1), 2))


def check_answer(r, status, expect):
    """The answer is the expected one; returns the ids it says were accepted."""
    assert r.status == status, (r.status, r.body[:300])
    if status == 200:
        res = r.json()
        assert len(res["results"]) == len(expect), res
        for (want, field, expected), got in zip(expect, res["results"]):
            assert got["status"] == want, (got, want)
            if want == "rejected":
                assert got["error"]["field"] == field, got
                assert expected in got["error"]["expected"], got
        return [got["id"] for got in res["results"] if got["status"] == "accepted"]
    if expect is not None:
        err = r.json()["error"]
        assert err["field"] == "", err
        assert err["expected"].startswith(expect[0]), err
        assert expect[1] in err["got"], err
    return []


@pytest.fixture(scope="module")
def matrix(pg, certs, workdir):
    """(esupd, database) for the whole module, made as the db and daemon_factory fixtures
    make theirs; at the end the daemon must exit 0 with no sanitizer report."""
    testdir = workdir / ("t%03d-hostile-matrix" % next(_counter))
    testdir.mkdir(mode=0o755)
    chown_daemon(testdir)
    name = "esup_%d" % next(_counter)
    with pg.connect() as conn:
        conn.execute("CREATE DATABASE %s OWNER esup_owner" % name)
    db = Database(pg, name)
    conf = testdir / "migrate.conf"
    write_config(conf, default_config(db, certs, testdir, free_port()))
    proc = subprocess.run([str(ESUPD), "-c", str(conf), "--migrate"], capture_output=True,
                          text=True, timeout=120, env=sanitizer_env(), cwd=testdir,
                          **as_daemon_user())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not any(m in proc.stdout + proc.stderr for m in SANITIZER_MARKS)
    with pg.connect() as conn:
        conn.execute("GRANT esup_writer TO esupd")
    register(db, certs)
    d = Daemon(db, certs, testdir).start()
    yield d, db
    d.stop()
    problems = d.problems()
    if problems:
        print("---- esupd log (%s) ----\n%s" % (d.dir, d.log_tail(120)))
    assert not problems, problems


@pytest.mark.parametrize("content_type,body,status,expect",
                         [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_hostile_input(matrix, content_type, body, status, expect):
    d, db = matrix
    assert len(body) <= BODY_MAX
    before = db.event_counts()
    accepted = check_answer(post(d, content_type, body), status, expect)
    # nothing bad stored: exactly the accepted events, each once
    after = db.event_counts()
    assert {i: n for i, n in after.items() if i not in before} == {i: 1 for i in accepted}
    assert all(after[i] == n for i, n in before.items())
    # and the daemon goes on: healthy, and the next request is served and stored
    assert d.running()
    assert d.healthz().status == 200
    good = event()
    r = post(d, NDJSON, json.dumps(good).encode() + b"\n")
    assert r.status == 200 and statuses(r.json()) == ["accepted"], r.body
    assert db.event_counts().get(good["id"]) == 1


def test_hostile_content_encoding(matrix):
    """A coded body is refused with 415, never stored: a gzip body, and a plain body that
    claims to be gzip (before, the header was ignored and that one was stored as sent)."""
    d, db = matrix
    before = db.event_counts()
    for body, coding in ((gzip.compress(js(event())), "gzip"), (js(event()), "gzip"),
                         (js(event()), "identity, gzip")):
        r = post(d, JSON, body, {"Content-Encoding": coding})
        assert r.status == 415, (coding, r.status, r.body)
        assert "Content-Encoding" in r.json()["error"], r.body
    assert db.event_counts() == before
    good = event()
    r = post(d, JSON, js(good), {"Content-Encoding": "identity"})
    assert r.status == 200 and statuses(r.json()) == ["accepted"], r.body
    assert d.healthz().status == 200
