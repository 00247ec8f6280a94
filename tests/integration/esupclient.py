"""esupclient: a small HTTPS client for esupd, as a department system would use it.

Python's ssl + http.client with client certificates (one keep-alive connection per Client),
a helper that runs curl the way the README tells operators to, and a resending stream sender
used by the fault tests. Kept free of pytest so it can be used from a shell as well.
"""

import http.client
import json
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field


@dataclass
class Response:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def header(self, name):
        return self.headers.get(name.lower())


def tls_context(ca, cert=None, key=None, max_version=None):
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if max_version is not None:
        ctx.maximum_version = max_version
    if cert is not None:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


class Client:
    """One keep-alive TLS connection to esupd. Reconnects only when told to (reconnect())
    or after the previous connection failed, so tests can tell whether a connection survived."""

    def __init__(self, port, ca, cert=None, key=None, timeout=30.0, max_version=None):
        self.port = port
        self.timeout = timeout
        self.ctx = tls_context(ca, cert, key, max_version)
        self.conn = None

    def connect(self):
        self.close()
        self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx,
                                                timeout=self.timeout)
        self.conn.connect()
        return self.conn

    def local_port(self):
        """The client side port of the current connection (None when not connected)."""
        if self.conn is None or self.conn.sock is None:
            return None
        return self.conn.sock.getsockname()[1]

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, method, path, body=None, content_type=None, headers=None):
        if self.conn is None or self.conn.sock is None:
            self.connect()
        hdrs = dict(headers or {})
        if content_type is not None:
            hdrs["Content-Type"] = content_type
        try:
            self.conn.request(method, path, body=body, headers=hdrs)
            resp = self.conn.getresponse()
            data = resp.read()
        except BaseException:
            self.close()
            raise
        if resp.will_close:
            self.close()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)

    def healthz(self):
        return self.request("GET", "/healthz")

    def post_events(self, events, fmt="ndjson"):
        """events: a list of dicts (or of raw str/bytes lines for NDJSON)."""
        if fmt == "ndjson":
            lines = [e if isinstance(e, (str, bytes)) else json.dumps(e, ensure_ascii=False)
                     for e in events]
            body = b"".join((ln.encode() if isinstance(ln, str) else ln) + b"\n" for ln in lines)
            return self.request("POST", "/v1/events", body, "application/x-ndjson")
        if fmt == "json":
            body = json.dumps(events, ensure_ascii=False).encode()
            return self.request("POST", "/v1/events", body, "application/json")
        raise ValueError(fmt)

    def post_events_committed(self, events, fmt="ndjson", deadline=60.0):
        """post_events as a client must send them: a 429 or 503 means nothing was stored,
        so the same request is sent again after its Retry-After, until another answer comes
        or the deadline (seconds) passes; then the last answer is returned."""
        give_up = time.monotonic() + deadline
        while True:
            resp = self.post_events(events, fmt)
            if resp.status not in (429, 503) or time.monotonic() > give_up:
                return resp
            try:
                wait = float(resp.header("retry-after") or 1)
            except ValueError:
                wait = 1.0
            time.sleep(min(max(wait, 0.05), max(give_up - time.monotonic(), 0.05)))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def handshake_refused(port, ca, cert, key, max_version=None):
    """True when the server refuses this client certificate: no HTTP response ever comes.
    With TLS 1.3 the client's side of the handshake completes before the server has looked
    at the certificate, so the refusal (an alert) shows up on the first read instead."""
    ctx = tls_context(ca, cert, key, max_version)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"GET /v1/alerts HTTP/1.1\r\nHost: localhost\r\n\r\n")
                data = tls.recv(4096)
                return not data.startswith(b"HTTP/")
    except (ssl.SSLError, ConnectionError):
        return True


@dataclass
class CurlResult:
    returncode: int
    status: int
    body: bytes
    stderr: str

    def json(self):
        return json.loads(self.body.decode("utf-8"))


def curl(port, path, ca, cert=None, key=None, data=None, content_type=None, method=None,
         timeout=30):
    """Runs curl as an operator would. status is 0 when no HTTP response came back."""
    cmd = ["curl", "-sS", "--max-time", str(timeout), "--cacert", str(ca),
           "-o", "-", "-w", "\n%{http_code}"]
    if cert is not None:
        cmd += ["--cert", str(cert), "--key", str(key)]
    if content_type is not None:
        cmd += ["-H", "Content-Type: " + content_type]
    if data is not None:
        cmd += ["--data-binary", "@-"]
    if method is not None:
        cmd += ["-X", method]
    cmd.append("https://127.0.0.1:%d%s" % (port, path))
    if isinstance(data, str):
        data = data.encode()
    proc = subprocess.run(cmd, input=data, capture_output=True, timeout=timeout + 10)
    body, _, code = proc.stdout.rpartition(b"\n")
    try:
        status = int(code)
    except ValueError:
        status = 0
    return CurlResult(proc.returncode, status, body, proc.stderr.decode(errors="replace"))


@dataclass
class StreamSender:
    """Sends events in requests of `chunk`, resending whatever was not acknowledged
    (429/503 or a broken connection) until everything is acknowledged or the retry budget
    is spent. Records what the daemon acknowledged so a test can check it against the rows."""
    make_client: object
    events: list
    chunk: int = 10
    max_retries: int = 400
    pause: float = 0.1   # after a refusal, before resending
    gap: float = 0.0     # after an acknowledged request: paces the stream
    acked: dict = field(default_factory=dict)     # id -> status (accepted/duplicate)
    rejected: dict = field(default_factory=dict)  # id -> error
    refusals: dict = field(default_factory=dict)  # what made us resend: status or exception
    retries: int = 0
    error: str = ""

    def _note(self, what):
        self.refusals[what] = self.refusals.get(what, 0) + 1

    def _send_chunk(self, client, part):
        while True:
            try:
                resp = client.post_events(part)
            except (OSError, http.client.HTTPException) as e:
                self._note(type(e).__name__)
                client.close()
            else:
                if resp.status == 200:
                    for r in resp.json()["results"]:
                        if r["status"] == "rejected":
                            self.rejected[r["id"]] = r.get("error")
                        else:
                            self.acked[r["id"]] = r["status"]
                    return True
                if resp.status not in (429, 503):
                    self.error = "unexpected HTTP %d: %r" % (resp.status, resp.body[:200])
                    return False
                self._note(resp.status)
            self.retries += 1
            if self.retries > self.max_retries:
                self.error = "retry budget spent"
                return False
            time.sleep(self.pause)

    def run(self, progress=None):
        client = self.make_client()
        try:
            for start in range(0, len(self.events), self.chunk):
                if not self._send_chunk(client, self.events[start:start + self.chunk]):
                    return False
                if progress is not None:
                    progress(len(self.acked))
                if self.gap:
                    time.sleep(self.gap)
            return True
        finally:
            client.close()
