"""meson install: every path of the packaging contract (docs/operations.md, "Build and
install") is installed, relative to the build's own prefix and directories, and the installed
configuration is the production one. The Debian package installs exactly these files
(debian/*.install); contrib/pkgtest tests the package itself, on a fresh Debian 12 root.

Installs $ESUP_BUILD with `meson install --destdir` into a temporary directory (no rebuild,
no PostgreSQL, a second or two).
"""

import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import BUILD, REPO


def build_options():
    out = subprocess.run(["meson", "introspect", "--buildoptions", str(BUILD)],
                         check=True, capture_output=True, text=True).stdout
    return {o["name"]: o["value"] for o in json.loads(out)}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(destdir, options): $ESUP_BUILD installed under destdir."""
    dest = tmp_path_factory.mktemp("install")
    subprocess.run(["meson", "install", "-C", str(BUILD), "--no-rebuild", "--quiet",
                    "--destdir", str(dest)], check=True, capture_output=True, text=True)
    return dest, build_options()


def under(dest, opts, option, *rest):
    """The installed path of option's directory (relative ones are under prefix) + rest."""
    d = Path(opts[option])
    if not d.is_absolute():
        d = Path(opts["prefix"]) / d
    return dest / d.relative_to("/") / Path(*rest)


def unit_dir(opts):
    d = opts["systemdsystemunitdir"]
    if d == "":
        pc = subprocess.run(["pkg-config", "--variable=systemdsystemunitdir", "systemd"],
                            capture_output=True, text=True)
        d = pc.stdout.strip() if pc.returncode == 0 and pc.stdout.strip() else "/lib/systemd/system"
    return d


def test_contract_paths_installed(installed):
    dest, o = installed
    expect = [
        under(dest, o, "sbindir", "esupd"),
        under(dest, o, "bindir", "esupctl"),
        under(dest, o, "sbindir", "esup-dbsetup"),
        under(dest, o, "sysconfdir", "esup", "esupd.conf"),
        under(dest, o, "datadir", "esup", "calendar.csv"),
        under(dest, o, "mandir", "man1", "esupctl.1"),
        under(dest, o, "mandir", "man8", "esupd.8"),
        under(dest, o, "mandir", "man8", "esup-dbsetup.8"),
        under(dest, o, "libdir", "libmonitor.so.0"),
        under(dest, o, "libdir", "libmonitor.so"),
        under(dest, o, "libdir", "pkgconfig", "libmonitor.pc"),
        under(dest, o, "includedir", "monitor", "mon_event.h"),
    ]
    # Every doc and every sample file of the source tree, none forgotten in a list.
    expect += [under(dest, o, "datadir", "doc", "esup", p.name)
               for p in sorted((REPO / "docs").glob("*.md"))]
    # and the event's JSON Schema, generated at build time by `esupctl schema`
    schema = under(dest, o, "datadir", "doc", "esup", "event.schema.json")
    expect.append(schema)
    # and the client examples of docs/integrating.md
    expect += [under(dest, o, "datadir", "doc", "esup", "examples", "clients", name)
               for name in ("push.py", "Push.java")]
    samples = REPO / "config" / "samples"
    expect += [under(dest, o, "datadir", "esup", "samples", p.relative_to(samples))
               for p in sorted(samples.rglob("*")) if p.is_file()]
    missing = [str(p.relative_to(dest)) for p in expect if not p.is_file()]
    assert not missing, f"not installed: {missing}"
    printed = subprocess.run([str(BUILD / "contrib" / "esupctl"), "schema"], check=True,
                             capture_output=True).stdout
    assert schema.read_bytes() == printed
    for prog in ("esupd", "esup-dbsetup"):
        mode = under(dest, o, "sbindir", prog).stat().st_mode
        assert mode & 0o111 == 0o111, f"{prog} is not executable: {oct(mode)}"


def test_unit_installed_and_its_documentation_too(installed):
    dest, o = installed
    d = unit_dir(o)
    if d == "no":
        pytest.skip("this build was configured with -Dsystemdsystemunitdir=no")
    unit = dest / d.lstrip("/") / "esupd.service"
    assert unit.is_file(), f"not installed: {unit.relative_to(dest)}"
    text = unit.read_text()
    # The unit names the documentation and the programs by their /usr paths: with
    # prefix /usr (the package) they must be exactly there.
    docs = re.findall(r"^Documentation=file://(\S+)", text, re.M)
    assert docs, "the unit has no Documentation=file:// line"
    for doc in docs:
        assert under(dest, o, "datadir", "doc", "esup", Path(doc).name).is_file(), doc
        if o["prefix"] == "/usr":
            assert (dest / doc.lstrip("/")).is_file(), f"{doc} named by the unit is not installed"
    if o["prefix"] == "/usr":
        for prog in re.findall(r"^Exec\w*=[-@!+:]*(/\S+)", text, re.M):
            if prog.startswith("/usr/"):
                assert (dest / prog.lstrip("/")).is_file(), f"{prog} named by the unit is not installed"


def test_installed_config_is_production(installed):
    dest, o = installed
    conf = under(dest, o, "sysconfdir", "esup", "esupd.conf").read_text()
    assert re.search(r"^user = esup$", conf, re.M), "installed esupd.conf: [server] user is not esup"
    assert re.search(r"^owner_conninfo = host=/var/run/postgresql dbname=esup user=esup_admin$",
                     conf, re.M), "installed esupd.conf: owner_conninfo is not the esup_admin login"
    # Otherwise it is config/esupd.conf, line for line.
    src = (REPO / "config" / "esupd.conf").read_text().splitlines()
    got = conf.splitlines()
    assert len(src) == len(got)
    differ = [(a, b) for a, b in zip(src, got) if a != b]
    assert [a for a, _ in differ] == ["user =", "owner_conninfo ="], differ
    # The daemon accepts it as a configuration (esupd -n may still refuse the missing files of
    # a test machine: certificates, the user; what must not fail is the parsing).
    esupd = BUILD / "daemon" / "esupd"
    r = subprocess.run([str(esupd), "-n", "-c", str(under(dest, o, "sysconfdir", "esup", "esupd.conf"))],
                       capture_output=True, text=True)
    assert "unknown option" not in r.stderr and "unknown section" not in r.stderr, r.stderr
