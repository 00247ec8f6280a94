"""Chromium, driven by selenium, presenting one client certificate: the console's browser tests.

How a headless Chromium comes to present a given principal's certificate without a dialog
(proved by the harness's own test, test_console.py::test_browser_presents_its_certificate):
  - HOME is a directory of the test's own; Chromium on Linux keeps its NSS database in
    $HOME/.pki/nssdb. The harness makes it (certutil -N --empty-password), imports ONE client
    certificate and its key as PKCS#12 (pk12util -W '') and trusts the test CA for TLS
    servers (certutil -A -t "C,,"): no --ignore-certificate-errors anywhere.
  - the managed policy AutoSelectCertificateForUrls in
    /etc/chromium/policies/managed/esup-tests.json selects, for https://127.0.0.1:*, the
    certificate issued by the test CA (filter ISSUER CN = the CA's CN, which devcerts makes
    unique per CA). The file is shared by every test session on the machine (each with its
    own CA): entries are added under a lock and never replace another session's; Chromium
    merges the filters of one pattern. Writing it needs root: anyone else gets a clear failure.
  - the profile (--user-data-dir) lives under that HOME too; both go at teardown.
Without the policy Chromium waits for a choice nobody makes: a page load then times out, and
the harness says which of these steps is the likely culprit.
"""

import base64
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
POLICY_DIR = Path("/etc/chromium/policies/managed")
POLICY = POLICY_DIR / "esup-tests.json"
POLICY_LOCK = POLICY_DIR / ".esup-tests.lock"
PATTERN = "https://127.0.0.1:*"
WINDOW = (1366, 768)
# Upper bounds, not expectations: on a loaded 2-core machine Chromium's renderer has taken 17 s
# to start; a wait ends as soon as its condition holds.
PAGE_LOAD_TIMEOUT = 60
READY_TIMEOUT = 45

try:
    from selenium import webdriver
    from selenium.common.exceptions import (StaleElementReferenceException, TimeoutException,
                                            WebDriverException)
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:   # reported by require_tools, as a failure, when a test wants a browser
    webdriver = None


def require_tools():
    """Fails (never skips) when something the browser tests need is missing."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    missing += [t for t in ("certutil", "pk12util", "openssl") if shutil.which(t) is None]
    if webdriver is None:
        missing.append("python3-selenium")
    if missing:
        pytest.fail("the console's browser tests need chromium, chromium-driver, "
                    "python3-selenium and libnss3-tools (tests/run installs them); missing: "
                    + ", ".join(missing), pytrace=False)


def ca_common_name(ca):
    """The CN of the CA certificate's subject (devcerts: 'esup dev CA <8 hex>')."""
    out = subprocess.run(["openssl", "x509", "-in", str(ca), "-noout", "-subject",
                          "-nameopt", "multiline,utf8"], check=True, capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        key, _, value = line.strip().partition("=")
        if key.strip() == "commonName":
            return value.strip()
    raise RuntimeError("no commonName in the subject of %s:\n%s" % (ca, out))


def policy_entry(ca_cn):
    return json.dumps({"pattern": PATTERN, "filter": {"ISSUER": {"CN": ca_cn}}},
                      sort_keys=True)


def same_entry(a, b):
    """Two entries of the policy's list (JSON strings) say the same, whatever their spacing."""
    try:
        return json.loads(a) == json.loads(b)
    except (TypeError, ValueError):
        return a == b


def install_policy(ca_cn):
    """Adds this CA's entry to the shared policy file (kept: other sessions may use it too;
    one entry per CA, the file stays small as CAs are per test session)."""
    if os.geteuid() != 0:
        pytest.fail("the browser tests write the Chromium policy %s (AutoSelectCertificateForUrls"
                    ", so that Chromium presents the test certificate without asking): run "
                    "them as root, as tests/run does" % POLICY, pytrace=False)
    try:
        POLICY_DIR.mkdir(parents=True, exist_ok=True)
        with open(POLICY_LOCK, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            entries = []
            with contextlib.suppress(FileNotFoundError, ValueError, TypeError):
                entries = list(json.loads(POLICY.read_text())["AutoSelectCertificateForUrls"])
            entry = policy_entry(ca_cn)
            if any(same_entry(e, entry) for e in entries):
                return
            entries.append(entry)
            tmp = POLICY.with_suffix(".tmp%d" % os.getpid())
            tmp.write_text(json.dumps({"AutoSelectCertificateForUrls": entries}, indent=1) + "\n")
            tmp.chmod(0o644)
            tmp.replace(POLICY)
    except OSError as e:
        pytest.fail("cannot write the Chromium policy %s: %s" % (POLICY, e), pytrace=False)


def remove_policy(ca_cn):
    """Takes this CA's entry out again (the CA is gone with the session); the file goes with
    the last entry."""
    with contextlib.suppress(OSError), open(POLICY_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            entries = list(json.loads(POLICY.read_text())["AutoSelectCertificateForUrls"])
        except (OSError, ValueError, TypeError, KeyError):
            return
        entries = [e for e in entries if not same_entry(e, policy_entry(ca_cn))]
        if not entries:
            POLICY.unlink()
            return
        tmp = POLICY.with_suffix(".tmp%d" % os.getpid())
        tmp.write_text(json.dumps({"AutoSelectCertificateForUrls": entries}, indent=1) + "\n")
        tmp.chmod(0o644)
        tmp.replace(POLICY)


def run(*cmd):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(map(str, cmd)), proc.returncode,
                                                     proc.stdout, proc.stderr))


def make_nssdb(home, ca, crt, key, nickname):
    """$HOME/.pki/nssdb with one client certificate (and its key) and the CA trusted."""
    nss = home / ".pki" / "nssdb"
    nss.mkdir(parents=True, mode=0o700)
    db = "sql:%s" % nss
    run("certutil", "-N", "-d", db, "--empty-password")
    p12 = home / "client.p12"
    run("openssl", "pkcs12", "-export", "-in", crt, "-inkey", key, "-name", nickname,
        "-out", p12, "-passout", "pass:")
    run("pk12util", "-i", p12, "-d", db, "-W", "")
    p12.unlink()
    run("certutil", "-A", "-d", db, "-n", "esup test CA", "-t", "C,,", "-i", ca)
    return nss


class Browser:
    """One Chromium for one principal. Attribute access falls through to the selenium driver
    (b.get(url), b.find_element(...), b.execute_script(...)), so it is used as one."""

    def __init__(self, name, base_url, home, shots_dir, driver, service_log):
        self.name = name
        self.base_url = base_url
        self.home = home
        self.shots_dir = shots_dir
        self.driver = driver
        self.service_log = service_log
        self._perf = []
        self._console = []
        self.started_s = None

    def __getattr__(self, attr):
        return getattr(self.__dict__["driver"], attr)

    def url(self, path):
        return self.base_url + path

    def open(self, path):
        """Loads https://127.0.0.1:PORT{path}; a page that never loads is most likely a
        certificate nobody selected (policy, NSS database): say so."""
        try:
            self.driver.get(self.url(path))
        except TimeoutException:
            pytest.fail("%s: %s did not load within %ds. Chromium is probably waiting for a "
                        "client-certificate choice: check %s (issuer CN) and %s/.pki/nssdb"
                        % (self.name, path, PAGE_LOAD_TIMEOUT, POLICY, self.home))
        return self

    def body_text(self):
        return self.driver.find_element("tag name", "body").text

    def json(self, path):
        """Opens a JSON URL and returns the document Chromium shows (its <pre>'s text)."""
        self.open(path)
        text = self.driver.execute_script("return document.body ? document.body.innerText : ''")
        try:
            return json.loads(text)
        except ValueError:
            pytest.fail("%s: %s is not JSON in the browser: %r" % (self.name, path, text[:500]))

    def shot(self, name):
        """A PNG of the window in the test's directory: <principal>-<name>.png."""
        path = self.shots_dir / ("%s-%s.png" % (self.name, name))
        self.driver.save_screenshot(str(path))
        return path

    def full_shot(self, name):
        """A PNG of the whole page (beyond the window), through the DevTools protocol."""
        path = self.shots_dir / ("%s-%s-full.png" % (self.name, name))
        data = self.driver.execute_cdp_cmd("Page.captureScreenshot",
                                           {"format": "png", "captureBeyondViewport": True})
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def _drain(self):
        self._perf += self.driver.get_log("performance")
        self._console += self.driver.get_log("browser")

    def performance_messages(self):
        """Every DevTools message of the performance log since the start (accumulated: the
        driver hands each entry out once)."""
        self._drain()
        return [json.loads(e["message"])["message"] for e in self._perf]

    def request_urls(self):
        """Every URL the page asked for (Network.requestWillBeSent), in order, since start."""
        return [m["params"]["request"]["url"] for m in self.performance_messages()
                if m.get("method") == "Network.requestWillBeSent"]

    def console_log(self):
        """Every browser-log entry (console messages, CSP reports, failed loads) so far."""
        self._drain()
        return list(self._console)

    def wait(self, predicate, what, timeout=READY_TIMEOUT):
        try:
            # A live redraw may replace an element between two calls of the predicate.
            return WebDriverWait(self.driver, timeout, poll_frequency=0.05,
                                 ignored_exceptions=(StaleElementReferenceException,)).until(
                lambda d: predicate())
        except TimeoutException:
            pytest.fail("%s: timed out after %ds waiting for %s (at %s)"
                        % (self.name, timeout, what, self.driver.current_url))

    def wait_ready(self, view, timeout=READY_TIMEOUT):
        """Waits for <body data-view=VIEW data-ready="1">: the view's data fetched and drawn."""
        script = ("var b = document.body; return b ? [b.getAttribute('data-view'),"
                  " b.getAttribute('data-ready')] : null;")
        seen = []

        def ready():
            state = self.driver.execute_script(script)
            seen[:] = [state]
            return state == [view, "1"]
        try:
            WebDriverWait(self.driver, timeout, poll_frequency=0.05,
                          ignored_exceptions=(StaleElementReferenceException,)).until(
                lambda d: ready())
        except TimeoutException:
            self.shot("not-ready-" + view)
            pytest.fail("%s: view %r not ready after %ds (body data-view, data-ready = %s) at %s"
                        % (self.name, view, timeout, seen[0] if seen else None,
                           self.driver.current_url))
        return self

    def quit(self):
        with contextlib.suppress(Exception):
            self.driver.quit()


class BrowserFactory:
    """browser(name, daemon=None, size=(1366, 768)) -> a Browser presenting name's certificate
    (certs.pair(name): a PRINCIPALS name or one added with add_principal), on daemon's port (the
    test's `esupd` fixture when None). Every Browser is quit and its HOME removed at teardown."""

    def __init__(self, certs, testdir, request):
        require_tools()
        self.certs = certs
        self.testdir = testdir
        self.request = request
        self.ca_cn = ca_common_name(certs.ca)
        install_policy(self.ca_cn)
        self.made = []

    def __call__(self, name, daemon=None, size=WINDOW):
        if daemon is None:
            daemon = self.request.getfixturevalue("esupd")
        crt, key = self.certs.pair(name)
        home = self.testdir / ("chromium-%s-%d" % (name, len(self.made) + 1))
        home.mkdir(mode=0o700)
        make_nssdb(home, self.certs.ca, crt, key, name)
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for arg in ("--headless=new", "--no-sandbox", "--window-size=%d,%d" % size,
                    "--user-data-dir=%s" % (home / "profile"), "--disable-dev-shm-usage",
                    "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-default-apps", "--disable-gpu",
                    "--lang=zh-CN", "--force-device-scale-factor=1"):
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        env = dict(os.environ, HOME=str(home), LANGUAGE="zh_CN", TZ="Asia/Shanghai")
        log = home / "chromedriver.log"
        started = time.monotonic()
        try:
            driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER), env=env,
                                                      log_path=str(log)), options=options)
        except WebDriverException as e:
            pytest.fail("chromium did not start for %s: %s\n%s" % (
                name, e.msg, log.read_text(errors="replace")[-3000:] if log.exists() else ""))
        driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT)
        b = Browser(name, "https://127.0.0.1:%d" % daemon.port, home, self.testdir, driver, log)
        b.started_s = time.monotonic() - started
        # What Chromium loaded by itself before the test asked for anything (its new-tab page,
        # chrome:// URLs) is not the console's doing: the tab goes to about:blank and the logs
        # start empty.
        driver.get("about:blank")
        driver.get_log("performance")
        driver.get_log("browser")
        self.made.append(b)
        return b

    def close(self):
        """Quits every browser made so far and removes its HOME; notes the start-up times in
        the test's directory (browser-timings.txt)."""
        failed = getattr(self.request.node, "rep_call", None)
        failed = failed is not None and failed.failed
        if self.made:
            with open(self.testdir / "browser-timings.txt", "a") as f:
                for b in self.made:
                    f.write("%s: chromium and chromedriver up in %.2fs\n" % (b.name, b.started_s))
        for b in self.made:
            if failed:
                with contextlib.suppress(Exception):
                    b.shot("at-failure")
                with contextlib.suppress(Exception):
                    for e in b.console_log():
                        print("browser log (%s): %s %s" % (b.name, e.get("level"), e.get("message")))
            b.quit()
            shutil.rmtree(b.home, ignore_errors=True)
        self.made = []


@pytest.fixture
def browser(certs, testdir, request):
    """The factory: browser("supervisor") -> a Browser (a selenium driver for that principal)."""
    factory = BrowserFactory(certs, testdir, request)
    yield factory
    factory.close()


@pytest.fixture(scope="session", autouse=True)
def _browser_policy_cleanup(certs):
    """Takes the session CA's entry out of the shared policy file at the end of the session."""
    yield
    remove_policy(ca_common_name(certs.ca))
