"""contrib/quickstart's demo business clock: fixed once per var/ and never stepped back.

The quickstart is sourced (it defines its functions and returns when sourced) and its
clock_offset is run against a fixed var/ directory, with `date +%s` answered by a shim on
PATH so that the wall clock moves by exactly the seconds the test says: no sleeping, no
timing. The whole quickstart (build, cluster, daemon) is tests/quickstart/run, not here.
"""
import os
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "contrib" / "quickstart"

# date +%s prints the content of $FAKE_NOW_FILE; anything else is the real date.
DATE_SHIM = """#!/bin/sh
if [ "$#" -eq 1 ] && [ "$1" = "+%s" ]; then
	cat "$FAKE_NOW_FILE"
	exit 0
fi
exec /usr/bin/date "$@"
"""

# Calls clock_offset once per wall-clock second given, setting the fake clock before each,
# and prints one line per call: "offset", then what it said on stderr, if anything.
SCRIPT = r"""
source "$1"
VAR=$2
shift 2
for now in "$@"; do
	echo "$now" >"$FAKE_NOW_FILE"
	OFFSET=$(clock_offset 2>"$VAR/stderr")
	echo "$OFFSET"
	cat "$VAR/stderr"
done
"""


def offsets(tmp_path, demo_now, walls, var=None):
    """clock_offset's answers at the given wall-clock seconds, with var/ at var."""
    shim = tmp_path / "shim"
    shim.mkdir(exist_ok=True)
    (shim / "date").write_text(DATE_SHIM)
    (shim / "date").chmod(0o755)
    var = var or tmp_path / "var"
    var.mkdir(exist_ok=True)
    env = dict(os.environ, PATH=f"{shim}:{os.environ['PATH']}",
               FAKE_NOW_FILE=str(tmp_path / "now"), ESUP_DEMO_NOW=demo_now)
    out = subprocess.run(["bash", "-c", SCRIPT, "sh", str(QUICKSTART), str(var)]
                         + [str(w) for w in walls],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines(), var


def test_offset_is_computed_once_and_kept(tmp_path):
    # 2026-11-23T12:00:00+08:00 is 1795406400, the wall clock 100000 s later
    wall = 1795406400 + 100000
    lines, var = offsets(tmp_path, "2026-11-23T12:00:00+08:00", [wall, wall + 7, wall + 3600])
    assert lines == ["-100000", "-100000", "-100000"]
    assert (var / "clock_offset").read_text() == "-100000 2026-11-23T12:00:00+08:00\n"


def test_demo_now_with_spaces_is_kept(tmp_path):
    # Before the fix the file was "DEMO_NOW OFFSET" read back with `read a b`: a DEMO_NOW
    # with a space never matched, so each write_config recomputed the offset and the
    # business clock stepped back by the seconds between them.
    wall = 1795406400 + 100000
    lines, _ = offsets(tmp_path, "2026-11-23 12:00:00+08:00", [wall, wall + 7])
    assert lines == ["-100000", "-100000"]


def test_another_demo_now_does_not_step_the_clock(tmp_path):
    wall = 1795406400 + 100000
    _, var = offsets(tmp_path, "2026-11-23T12:00:00+08:00", [wall])
    lines, _ = offsets(tmp_path, "2026-11-20T12:00:00+08:00", [wall + 60], var=var)
    assert lines[0] == "-100000"
    assert "ESUP_DEMO_NOW=2026-11-20T12:00:00+08:00 ignored" in lines[1]
    lines, _ = offsets(tmp_path, "now", [wall + 120], var=var)
    assert lines[0] == "-100000"


def test_wall_clock_demo_keeps_its_zero(tmp_path):
    lines, var = offsets(tmp_path, "now", [2000000000, 2000000050])
    assert lines == ["0", "0"]
    assert (var / "clock_offset").read_text() == "0 now\n"


def test_older_quickstarts_file_is_read(tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    (var / "clock_offset").write_text("2026-11-23T12:00:00+08:00 -805525\n")
    lines, _ = offsets(tmp_path, "2026-11-23T12:00:00+08:00", [2000000000], var=var)
    assert lines == ["-805525"]
