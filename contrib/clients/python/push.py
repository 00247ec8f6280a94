#!/usr/bin/env python3
"""push.py: send a department's NDJSON feed to esupd, as a department's own system would.

An example to read and copy (Python 3 standard library only: ssl + http.client), from
docs/integrating.md. esupctl push does the same with a resumable state file and a progress bar:
use it for a nightly batch, or this when your system sends by itself.

    python3 push.py --url https://esup.example:8443 --cert dept.crt --key dept.key \\
                    --cacert ca.crt [--batch 500] events.ndjson

What esupd answers (docs/protocol.md, "POST /v1/events"), and what this client does about it:

  200  every event of the batch has a result, in input order: "accepted" (stored now),
       "duplicate" (same dept + id stored before: harmless) or "rejected" (not stored; "error"
       says field, expected, got). Print them and go on with the next batch.
  429  the writer queue is full, or this certificate holds too many connections; 503  esupd
       is not ready (database unreachable, shutting down). Nothing of the batch was stored:
       wait Retry-After seconds and send the SAME batch again.
  connection lost or timed out: we do not know whether the batch was stored. Send it again
       anyway: esupd is idempotent on dept + id, an event stored the first time now comes back
       "duplicate". Never skip a batch that was not answered.
  400 401 403 413 415 ...: the request itself is wrong (bad body, no or unregistered
       certificate, batch too large): resending will not help. Stop and fix it.

Output: one line per batch, one line per rejected event (its line in the file, id and error)
and per warning (an unknown field, often a misspelling, stored but not read), then a summary "N events in B batches: A accepted, D duplicate, R rejected". Exit status: 0 when
nothing was rejected, 1 when some event was rejected, 2 on a refusal or a usage error, 3 when
esupd stayed unavailable for --give-up seconds.
"""

import argparse
import http.client
import json
import random
import ssl
import sys
import time
import urllib.parse


def connect(url, ctx, timeout):
    """One HTTPS connection, kept alive across batches (http.client reuses it until esupd or
    the network closes it)."""
    return http.client.HTTPSConnection(url.hostname, url.port or 443, context=ctx,
                                       timeout=timeout)


def error_message(answer):
    """The "error" of a whole-request refusal: {"error": "..."} or {"error": {field...}}."""
    try:
        return json.loads(answer)["error"]
    except (ValueError, KeyError, TypeError):
        return answer[:200].decode("utf-8", "replace")


def main():
    p = argparse.ArgumentParser(description="Send an NDJSON feed to esupd in batches.")
    p.add_argument("--url", required=True, help="esupd's base URL, https://host:port")
    p.add_argument("--cert", required=True, help="the department's certificate (PEM)")
    p.add_argument("--key", required=True, help="its private key (PEM)")
    p.add_argument("--cacert", required=True, help="the CA that issued esupd's certificate (PEM)")
    p.add_argument("--batch", type=int, default=500, help="events per request (at most 5000)")
    p.add_argument("--give-up", type=float, default=600,
                   help="seconds of 429/503/connection loss on one batch before stopping")
    p.add_argument("file", help="NDJSON: one event per line")
    args = p.parse_args()

    url = urllib.parse.urlsplit(args.url.rstrip("/"))
    # Mutual TLS: verify esupd's certificate (and its name) against the CA, present ours.
    try:
        ctx = ssl.create_default_context(cafile=args.cacert)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(args.cert, args.key)
        # (line number, text) of every non-blank line; esupd skips blank lines too.
        with open(args.file, encoding="utf-8") as f:
            lines = [(n, text.rstrip("\r\n")) for n, text in enumerate(f, 1) if text.strip()]
    except (OSError, ValueError) as e:      # ssl.SSLError is an OSError
        print("push.py: %s" % e, file=sys.stderr)
        return 2

    conn = connect(url, ctx, timeout=120)
    totals = {"accepted": 0, "duplicate": 0, "rejected": 0}
    batches = 0
    for start in range(0, len(lines), args.batch):
        batch = lines[start:start + args.batch]
        batches += 1
        name = "batch %d (lines %d-%d)" % (batches, batch[0][0], batch[-1][0])
        body = "".join(text + "\n" for _, text in batch).encode("utf-8")
        backoffs, first_try = 0, time.monotonic()
        while True:
            try:
                conn.request("POST", url.path + "/v1/events", body=body,
                             headers={"Content-Type": "application/x-ndjson"})
                resp = conn.getresponse()
                status, answer = resp.status, resp.read()
                retry_after = resp.getheader("Retry-After")
                if resp.will_close:           # e.g. "Connection: close" with a 429
                    conn.close()
                problem = None if status not in (429, 503) else "HTTP %d (%s)" % (
                    status, error_message(answer))
            except (OSError, http.client.HTTPException) as e:
                # A refused handshake (esupd's certificate not trusted, or ours refused: esupd
                # sends an alert) will not heal by resending: stop.
                if isinstance(e, ssl.SSLCertVerificationError) or "ALERT" in str(
                        getattr(e, "reason", "")):
                    print("%s: TLS refused: %s" % (name, e), flush=True)
                    return 2
                # No answer: stored or not, we cannot tell. Reconnect and resend the same
                # batch; what was stored comes back "duplicate".
                conn.close()
                conn = connect(url, ctx, timeout=120)
                retry_after, problem = None, "connection lost (%s)" % e.__class__.__name__
            if problem is None:
                break
            if time.monotonic() - first_try > args.give_up:
                print("%s: %s; giving up after %.0f s" % (name, problem, args.give_up), flush=True)
                return 3
            # Retry-After when esupd gave one; else exponential backoff with full jitter (a
            # random wait up to 0.5 s, doubling with each such retry up to 30 s) so that many
            # clients do not come back all at once.
            if retry_after is not None and retry_after.isdigit():
                wait, why = float(retry_after), "Retry-After"
            else:
                wait, why = random.uniform(0, min(30.0, 0.5 * 2 ** backoffs)), "backoff"
                backoffs += 1
            print("%s: %s, retrying in %.1f s (%s)" % (name, problem, wait, why), flush=True)
            time.sleep(wait)

        if status != 200:
            # 400, 401, 403, 413, 415, ...: the request is wrong; sending it again will not help.
            print("%s: HTTP %d: %s" % (name, status, answer.decode("utf-8", "replace").strip()),
                  flush=True)
            return 2
        result = json.loads(answer)
        for key in totals:
            totals[key] += result[key]
        print("%s: %d accepted, %d duplicate, %d rejected"
              % (name, result["accepted"], result["duplicate"], result["rejected"]), flush=True)
        # One result per event, in input order: "index" is the event's place in the batch.
        for r in result["results"]:
            line = batch[r["index"]][0]
            if r["status"] == "rejected":
                e = r["error"]
                print("  line %d: rejected %s: %s: expected %s, got %s"
                      % (line, r.get("id", "(no id)"), e["field"] or "(event)", e["expected"],
                         e["got"]), flush=True)
            # Unknown fields are stored but warned about: often a misspelled optional field.
            for w in r.get("warnings", []):
                print("  line %d: warning %s: %s: %s%s"
                      % (line, r.get("id", "(no id)"), w["field"], w["message"],
                         " (did you mean %s?)" % w["nearest"] if w.get("nearest") else ""),
                      flush=True)
    conn.close()
    print("%d events in %d batches: %d accepted, %d duplicate, %d rejected"
          % (len(lines), batches, totals["accepted"], totals["duplicate"], totals["rejected"]),
          flush=True)
    return 1 if totals["rejected"] else 0


if __name__ == "__main__":
    sys.exit(main())
