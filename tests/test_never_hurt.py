"""Whatever happens to the live server, the run is the run: every test runs, the exit
status is the one pytest gives without the plugin, and there is one clear warning."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
import websockets

from pytest_jbrealtime.shared.recording import read_recording
from tests.held_run import HeldRun
from tests.redis_support import redis_server_fixture  # noqa: F401
from tests.support import LiveProcess, unpack, wait_until, watch_sync

MIXED_SUITE = """
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("fixture breaks")

def test_passes():
    pass

def test_fails():
    assert 1 == 2

def test_errors(broken):
    pass

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass

@pytest.mark.xfail(reason="known")
def test_xfails():
    assert 0
"""
SUMMARY = re.compile(r"=+ (.*\d+ \w+.*) in [\d.]+s")


def plain_pytest(directory: Path, *args: str, **extra_env: str) -> tuple[int, str]:
    """Exit status and summary of the same suite without the plugin."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env.update(extra_env)
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:randomly", *args],
                          cwd=directory, capture_output=True, text=True, errors="replace",
                          env=env, timeout=120)
    return done.returncode, summary_of(done.stdout)


def summary_of(output: str) -> str:
    matches = SUMMARY.findall(output)
    assert matches, output
    return str(matches[-1])


def live_pytest(directory: Path, *args: str) -> tuple[int, str, list[str], str]:
    """The suite with ``--jb-live`` (no link needed): status, summary, warning lines."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "--jb-live", *args],
        cwd=directory, capture_output=True, text=True, errors="replace", env=env, timeout=120)
    output = done.stdout + done.stderr
    warnings = [line for line in output.splitlines() if "jb-live: WARNING" in line]
    return done.returncode, summary_of(done.stdout), warnings, output


@pytest.fixture
def mixed(suite_dir: pytest.Pytester) -> Path:
    suite_dir.makepyfile(test_mixed=MIXED_SUITE)
    return suite_dir.path


def test_a_taken_port_falls_back_to_a_free_one(mixed: Path) -> None:
    expected = plain_pytest(mixed)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status, summary, warnings, output = live_pytest(mixed, "--jb-live-port", str(port))
    link_ports = set(re.findall(r"watch this run at http://127\.0\.0\.1:(\d+)/", output))
    assert (status, summary) == expected
    assert len(warnings) == 1
    assert f"port {port} is taken" in warnings[0]
    assert len(link_ports) == 1 and str(port) not in link_ports


def test_a_refused_bind_leaves_the_run_unwatched(mixed: Path) -> None:
    """203.0.113.1 (TEST-NET-3) is no address of this machine: bind fails."""
    expected = plain_pytest(mixed)
    status, summary, warnings, _ = live_pytest(mixed, "--jb-live-host", "203.0.113.1",
                                            "--jb-live-port", "0")
    assert (status, summary) == expected
    assert len(warnings) == 1
    assert "could not start" in warnings[0] and "unwatched" in warnings[0]


def test_binding_all_interfaces_warns_in_the_header(mixed: Path) -> None:
    expected = plain_pytest(mixed)
    status, summary, warnings, _ = live_pytest(mixed, "--jb-live-host", "0.0.0.0",
                                            "--jb-live-port", "0")
    assert (status, summary) == expected
    assert len(warnings) == 1
    assert "reachable from other machines" in warnings[0]


def server_process_of(run: LiveProcess) -> psutil.Process:
    children = psutil.Process(run.process.pid).children()
    servers = [c for c in children if "pytest_jbrealtime.server.process" in " ".join(c.cmdline())]
    assert len(servers) == 1, children
    return servers[0]


def is_gone(process: psutil.Process) -> bool:
    """Exited (a zombie until pytest reaps it counts as exited)."""
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_the_server_killed_mid_run(tmp_path: Path) -> None:
    plain_dir = tmp_path / "plain"
    run = HeldRun(tmp_path / "live")
    try:
        server = server_process_of(run.live)
        server.kill()
        wait_until(lambda: is_gone(server), timeout=10)
        status = run.release()
        output = run.live.output
    finally:
        run.kill()
    expected_status, expected_summary = plain_pytest_of_held(plain_dir)
    assert status == expected_status == 1
    assert summary_of(output) == expected_summary
    warnings = [line for line in output.splitlines() if "jb-live: WARNING" in line]
    assert len(warnings) == 1, output
    assert "server stopped" in warnings[0] and "goes on" in warnings[0]


def plain_pytest_of_held(directory: Path) -> tuple[int, str]:
    from tests.held_run import HELD_SUITE

    directory.mkdir()
    (directory / "test_held.py").write_text(HELD_SUITE)
    (directory / "gate").touch()
    return plain_pytest(directory, "-p", "no:cacheprovider",
                        JB_TEST_GATE=str(directory / "gate"))


LAST_TEST_TIME = """
import os, pathlib, time

@__import__("pytest").mark.parametrize("n", range(100))  # ~2 MiB: under kernel buffers + cap
def test_loud(n):
    print(("loud line %d " % n).ljust(127, "~") * 160)

def test_last():
    pathlib.Path("last_test_ended").write_text(repr(time.time()))
"""


def test_shutdown_is_bounded_with_a_viewer_that_stopped_reading(
    suite_dir: pytest.Pytester, start_live
) -> None:
    suite_dir.makepyfile(test_end=LAST_TEST_TIME)
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1")
    port = int(run.wait_for_link().split(":")[2].split("/")[0])

    async def stop_reading() -> websockets.ClientConnection:
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect(("127.0.0.1", port))
        return await websockets.connect(run.ws_url("stuck"), sock=raw, max_queue=1,
                                        compression=None, max_size=None)

    loop = asyncio.new_event_loop()
    try:
        stuck = loop.run_until_complete(stop_reading())
        server = server_process_of(run)
        assert run.wait(120) == 0
        exited = time.time()
        last_test_ended = float((suite_dir.path / "last_test_ended").read_text())
        # The target is ~2 s (docs/benchmarks.md); this bound only catches a hang.
        assert exited - last_test_ended < 10
        wait_until(lambda: is_gone(server), timeout=10)
        # The port is free again at once: a new run gets exactly that port.
        again = start_live(suite_dir.path, "-k", "test_last", "--jb-live-port", str(port))
        assert f"127.0.0.1:{port}/" in again.wait_for_link()
        assert again.wait(60) == 0
        assert "is taken" not in again.output
        loop.run_until_complete(stuck.close())
    finally:
        loop.close()
    assert "jb-live: WARNING" not in run.output


# -- a test's patches never reach the plugin (issue 13, item 1) -----------------------------

# Every target a suite may patch, with a trap that fails whoever calls it. The plugin's
# hooks run while these traps are set (in the test, and around it in fixtures of every
# scope): had it looked any of them up at the moment of use, the run would change.
PATCHED_CONFTEST = '''
import datetime, json, logging, os, socket, time
import pytest

TARGETS = ["time.time", "time.monotonic", "time.perf_counter", "time.gmtime",
           "time.strftime", "os.getpid", "json.dumps", "json.loads", "socket.socket",
           "socket.gethostname", "datetime.datetime", "logging.Logger.handle",
           "logging.Logger.makeRecord"]
# xdist's worker loop itself reads time.perf_counter around each test (xdist/remote.py):
# a trap wider than one test breaks xdist, with or without the plugin.
WIDE_TARGETS = [t for t in TARGETS
                if not (t == "time.perf_counter" and os.environ.get("PYTEST_XDIST_WORKER"))]

def trap(mocker, target):
    """A mock of target that fails its caller: raises, or hands out a MagicMock."""
    boom = RuntimeError(f"{target} is patched by the test")
    mock = mocker.patch(target, side_effect=boom)
    for name in ("now", "utcnow", "fromtimestamp", "today"):
        getattr(mock, name).side_effect = boom
    return mock

@pytest.fixture(scope="session", autouse=True)
def session_clock(session_mocker):
    # The whole session under a wall clock that answers nonsense (a MagicMock).
    session_mocker.patch("time.time")
    session_mocker.patch("datetime.datetime")
'''

PATCHED_MODULE = '''
import time
import pytest
from conftest import TARGETS, WIDE_TARGETS, trap

@pytest.fixture(scope="module", autouse=True)
def module_traps(module_mocker):
    for target in WIDE_TARGETS:
        trap(module_mocker, target)

@pytest.fixture(scope="class")
def class_traps(class_mocker):
    for target in WIDE_TARGETS:
        trap(class_mocker, target)

@pytest.fixture
def function_traps(mocker):
    for target in TARGETS:
        trap(mocker, target)

def test_in_module_traps():
    pass

def test_with_function_traps(function_traps):
    pass

def test_fails_under_traps(function_traps):
    assert 1 == 2

def test_steps_under_traps(function_traps):
    # Published from inside the test: under -n 2 by the worker's sender thread.
    from pytest_jbrealtime import step
    for n in range(3):
        with step(f"step {n} while everything is patched"):
            pass

def test_errors_under_traps(function_traps, not_a_fixture):
    pass

@pytest.mark.usefixtures("class_traps")
class TestUnderClassTraps:
    def test_one(self):
        pass

    @pytest.mark.skip(reason="skipped under traps")
    def test_skipped(self):
        pass

    @pytest.mark.xfail(reason="xfail under traps")
    def test_xfail(self):
        assert 0
'''

PATCHED_CLOCKS = '''
import datetime, json, os, time
import pytest

# The issue's examples: mocked values the test counts on, consumed by nobody else.
def test_elapsed(mocker):
    mocker.patch("time.time", side_effect=[100.0, 102.5])
    start = time.time(); assert time.time() - start == 2.5

def test_after():
    pass

@pytest.mark.parametrize("name", ["monotonic", "perf_counter"])
def test_clock_magicmock(mocker, name):
    mocker.patch(f"time.{name}")
    getattr(time, name)()

@pytest.fixture
def ticking(mocker):
    return mocker.patch("time.monotonic", side_effect=[1.0, 2.0, 3.0])

def test_fixture_values_are_the_tests(ticking):
    assert [time.monotonic() for _ in range(3)] == [1.0, 2.0, 3.0]

def test_pid_and_json(mocker):
    mocker.patch("os.getpid", side_effect=[4242])
    mocker.patch("json.dumps", side_effect=["{}"])
    assert os.getpid() == 4242 and json.dumps({"a": 1}) == "{}"

def test_monkeypatched_clock(monkeypatch):
    def broken():
        raise RuntimeError("time.time is broken in this test")
    monkeypatch.setattr(time, "time", broken)
    monkeypatch.setattr(time, "monotonic", broken)

def test_unittest_mock_decorator():
    from unittest import mock
    with mock.patch("time.perf_counter", side_effect=[5.0]), \\
         mock.patch("time.time", side_effect=[7.0]):
        assert time.perf_counter() == 5.0 and time.time() == 7.0

def test_last():
    pass
'''
PACKAGE_TRAPS = '''
import pytest
from conftest import WIDE_TARGETS, trap

@pytest.fixture(scope="package", autouse=True)
def package_traps(package_mocker):
    for target in WIDE_TARGETS:
        trap(package_mocker, target)
'''
# test_clocks: 9 pass; test_traps: 4 pass, 1 fail, 1 error, 1 skip, 1 xfail; the
# package: 1 pass, 1 fail.
PATCHED_SUMMARY = "2 failed, 14 passed, 1 skipped, 1 xfailed, 1 error"


@pytest.fixture
def patched_suite(pytester: pytest.Pytester) -> Path:
    pytester.makeconftest(PATCHED_CONFTEST)
    pytester.makepyfile(test_traps=PATCHED_MODULE, test_clocks=PATCHED_CLOCKS)
    package = pytester.mkpydir("trapped")
    (package / "conftest.py").write_text(PACKAGE_TRAPS)
    (package / "test_in_package.py").write_text(
        "def test_in_package():\n    pass\n\ndef test_fails_in_package():\n    assert 0\n")
    return pytester.path


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_patched_stdlib_never_reaches_the_plugin(patched_suite: Path, xdist: list[str]) -> None:
    expected = plain_pytest(patched_suite, "-p", "no:cacheprovider", *xdist)
    assert expected == (1, PATCHED_SUMMARY)
    status, summary, warnings, output = live_pytest(patched_suite, "-p", "no:cacheprovider",
                                                    "--jb-live-port", "0", *xdist)
    assert (status, summary) == expected, output
    assert warnings == [], output
    assert "INTERNALERROR" not in output


# Patches a conftest starts at its import and never stops: in effect from before
# pytest_configure, where the plugin starts the server and mints the link's token. Each
# mock counts from a value the suite's tests expect first: a call by the plugin would
# take it (the report: 3 passed without the plugin, another exit status with it).
IMPORT_TIME_CONFTEST = """
import itertools, json, time
from unittest import mock

real_dumps = json.dumps
mock.patch("time.time", side_effect=itertools.count(100.0)).start()
mock.patch("time.monotonic", side_effect=itertools.count(1.0)).start()
DUMPS = mock.patch("json.dumps", side_effect=real_dumps).start()
"""
IMPORT_TIME_TESTS = """
import logging, time
from conftest import DUMPS

def test_clocks_start_where_the_suite_set_them():
    assert [time.time(), time.time()] == [100.0, 101.0]
    assert [time.monotonic(), time.monotonic()] == [1.0, 2.0]

def test_json_is_the_suites_alone():
    assert DUMPS.call_count == 0

def test_logs_a_lone_surrogate():
    logging.getLogger("suite").warning("lone \\udcff surrogate")
"""


def test_patches_a_conftest_starts_at_import_never_reach_the_plugin(
    suite_dir: pytest.Pytester,
) -> None:
    """The token's time and its JSON were read through the patched modules in
    pytest_configure: the suite's mocked clock lost its first values (a StopIteration
    for a mock of a few values) and the run ended differently. (``os.getpid`` is left
    out: the run folder's ``tempfile.mkdtemp`` looks it up in the os module at each
    call, as the standard library does; docs/security.md.)"""
    suite_dir.makeconftest(IMPORT_TIME_CONFTEST)
    suite_dir.makepyfile(test_import_time=IMPORT_TIME_TESTS)
    expected = plain_pytest(suite_dir.path, "-p", "no:cacheprovider")
    assert expected == (0, "3 passed")
    status, summary, warnings, output = live_pytest(suite_dir.path, "-p", "no:cacheprovider",
                                                    "--jb-live-port", "0")
    assert (status, summary) == expected, output
    assert warnings == [], output


# Code that runs in the pytest process (or its xdist workers): the entry point
# (plugin.py), the package's API (__init__.py), pytest_side/ and shared/ (but unpatched.py,
# which binds the originals). Not only while tests run: a conftest's patches, started at its
# import, are in effect from before pytest_configure (the options, the link's token, the
# monitor's settings). The rest runs in the server or hub process (server/, hub/) or after
# the run (tools/, the CLI).
PYTEST_SIDE_EXCLUDED = {"unpatched.py"}
PATCHABLE = {
    "time": {"time", "monotonic", "perf_counter", "sleep", "gmtime", "localtime", "strftime",
             "time_ns", "monotonic_ns"},
    "os": {"getpid", "read", "write", "close"},
    "json": {"dumps", "loads"},
    "socket": {"socket", "gethostname", "getaddrinfo", "create_connection"},
    "select": {"select"},
    "marshal": {"dumps"},
    "datetime": {"datetime", "date"},
}


def pytest_side_modules() -> list[Path]:
    package = Path(__file__).resolve().parent.parent / "pytest_jbrealtime"
    files = [package / "__init__.py", package / "plugin.py"]
    files += sorted((package / "pytest_side").glob("*.py"))
    files += [p for p in sorted((package / "shared").glob("*.py"))
              if p.name not in PYTEST_SIDE_EXCLUDED]
    return files


def test_the_pytest_side_calls_nothing_a_test_can_patch() -> None:
    """Each call goes through unpatched.py; a new ``time.time()`` in a hook fails here."""
    import ast

    found = []
    for path in pytest_side_modules():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)
                    and node.func.attr in PATCHABLE.get(node.func.value.id, ())):
                found.append(f"{path.name}:{node.lineno}: {node.func.value.id}.{node.func.attr}")
    assert found == []


# -- text UTF-8 cannot hold is repaired, never fatal (issue 13, item 2) -----------------------

UNENCODABLE_SUITE = r'''
import logging, os

NAME = os.fsdecode(b"caf\xe9.txt")  # a lone surrogate: "caf\udce9.txt"

def test_logs_a_file_name():
    logging.warning("skipping %s", NAME)
    logging.warning("a pair %s joined", "\ud83d\ude00")

def test_asserts_with_it():
    assert NAME == "cafe.txt", f"bad name {NAME}"

def test_prints_invalid_utf8_and_nul():
    os.write(1, b"raw \xff\xfe bytes\n")
    print("nul\x00here")
    assert 0

def test_after():
    pass
'''
REPAIRED_NAME = "caf\ufffd.txt"


def test_unencodable_text_reaches_viewer_recording_and_report(
    suite_dir: pytest.Pytester, start_live
) -> None:
    suite_dir.makepyfile(test_text=UNENCODABLE_SUITE)
    expected = plain_pytest(suite_dir.path)
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1", "--jb-live-record",
                     "run.jsonl", "--jb-live-report", "report.html")
    watched = watch_sync(run.ws_url())
    assert run.wait(120) == expected[0] == 1
    assert summary_of(run.output) == expected[1]
    assert "jb-live: WARNING" not in run.output
    assert "jb-live: recording written to" in run.output
    # The stream went to its end and closed cleanly.
    assert watched.close_code == 1000
    assert len(watched.of_type("session_finished")) == 1
    completed = {e["test_id"].split("::")[1]: e for e in watched.of_type("test_completed")}
    assert len(completed) == 4
    logged = "".join(s["content"] for s in completed["test_logs_a_file_name"]["sections"])
    assert f"skipping {REPAIRED_NAME}" in logged
    assert "a pair \U0001f600 joined" in logged  # a surrogate pair survives, joined
    asserted = completed["test_asserts_with_it"]
    assert f"bad name {REPAIRED_NAME}" in asserted["summary"]
    assert f"bad name {REPAIRED_NAME}" in asserted["longrepr"]
    printed = "".join(s["content"] for s in completed["test_prints_invalid_utf8_and_nul"]
                      ["sections"])
    assert "raw \ufffd\ufffd bytes" in printed and "nul\x00here" in printed
    # The recording holds the same events, whole; the report was made from it.
    recording = read_recording(suite_dir.path / "run.jsonl")
    assert recording.problems == [] and recording.finished
    assert recording.events == watched.events
    assert events_in_report(suite_dir.path / "report.html") == watched.events


def test_unencodable_text_under_xdist_ends_as_xdist_ends_it(suite_dir: pytest.Pytester) -> None:
    """xdist itself cannot send a report holding a lone surrogate to its controller
    (execnet: "strings must be utf-8 encodable"): the plain run ends in INTERNALERROR,
    exit 3, on this suite. The plugin repairs its own copy of the text and leaves the
    worker's report alone, so the run ends exactly as the plain one: it neither adds a
    failure nor hides xdist's (a plugin that "fixed" it would change the exit status)."""
    suite_dir.makepyfile(test_text=UNENCODABLE_SUITE)
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:randomly", "-n", "2",
                               *args], cwd=suite_dir.path, capture_output=True, text=True,
                              errors="replace", env=env, timeout=120)

    plain, live = run(), run("--jb-live", "--jb-live-port", "0")
    assert plain.returncode == pytest.ExitCode.INTERNAL_ERROR, plain.stdout
    assert "surrogates not allowed" in plain.stdout
    assert live.returncode == plain.returncode, live.stdout
    assert "surrogates not allowed" in live.stdout
    assert "jb-live: WARNING" not in live.stdout + live.stderr


def events_in_report(path: Path) -> list[dict[str, Any]]:
    """The events an HTML report carries (report.py: gzip + base64 JSON in the page)."""
    import base64
    import gzip
    import json

    from pytest_jbrealtime.tools.report import RECORDING_ELEMENT_ID

    page = path.read_text(encoding="utf-8")
    # The last such element: the viewer's inlined script may name it before.
    found = re.findall(f'<script type="application/json" id="{RECORDING_ELEMENT_ID}">'
                       r"(\{.*?)</script>", page, re.S)
    assert found, "no recording in the report"
    payload = json.loads(found[-1])
    events: list[dict[str, Any]] = json.loads(gzip.decompress(base64.b64decode(payload["data"])))
    return events


# -- over-long output keeps its end (issue 13, item 6) -----------------------------------------

LONG_OUTPUT_SUITE = '''
def test_loud_then_fails():
    for n in range(40_000):
        print(f"line {n:06d} of the early output")
    print("the last words before the failure")
    assert 0, "failed after a lot of output"
'''


def test_over_long_output_keeps_its_end(suite_dir: pytest.Pytester, start_live) -> None:
    from pytest_jbrealtime.pytest_side.reports import MAX_SECTION_CHARS

    suite_dir.makepyfile(test_long=LONG_OUTPUT_SUITE)
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1")
    watched = watch_sync(run.ws_url())
    assert run.wait(120) == 1
    (completed,) = watched.of_type("test_completed")
    (section,) = [s for s in completed["sections"] if s["name"] == "Captured stdout call"]
    content = section["content"]
    printed = 40_000 * len("line 000000 of the early output\n") + len(
        "the last words before the failure\n")
    assert printed > MAX_SECTION_CHARS
    # The end is there, whole; the start is cut at a line, and the first line says how much.
    assert content.endswith("line 039999 of the early output\nthe last words before the failure\n")
    marker, first_kept, *_ = content.split("\n", 2)
    assert first_kept.startswith("line ") and first_kept.endswith(" of the early output")
    cut = int(re.search(r"(\d+) characters cut from the start", marker).group(1))
    assert cut == printed - len(content) + len(marker) + 1
    assert len(content) - len(marker) - 1 <= MAX_SECTION_CHARS
    assert "failed after a lot of output" in completed["longrepr"]


# -- a recording that fails says so, in one line (issue 13, item 2) ---------------------------

FILE_SIZE_LIMIT_CONFTEST = '''
import resource
# Every file this run (and its server process) writes stops at 32 KB: the recording
# fails part of the way, as on a full disk.
resource.setrlimit(resource.RLIMIT_FSIZE, (32_000, 32_000))
'''
MANY_TESTS = '''
import pytest

@pytest.mark.parametrize("n", range(150))
def test_prints(n):
    print("output of a test " * 12)
'''


def test_a_failed_recording_is_not_called_written(suite_dir: pytest.Pytester) -> None:
    suite_dir.makeconftest(FILE_SIZE_LIMIT_CONFTEST)
    suite_dir.makepyfile(test_many=MANY_TESTS)
    expected = plain_pytest(suite_dir.path)
    status, summary, warnings, output = live_pytest(suite_dir.path, "--jb-live-port", "0",
                                                    "--jb-live-record", "run.jsonl")
    assert (status, summary) == expected
    assert len(warnings) == 1, output
    assert "writing the recording" in warnings[0] and "File too large" in warnings[0]
    assert len(warnings[0]) < 400
    assert "recording written" not in output
    said = re.search(r"the recording \S+ is incomplete: it holds the first (\d+) events",
                     output)
    assert said, output
    # It holds what it says, each event whole: the part of a batch that fit was cut off.
    recording = read_recording(suite_dir.path / "run.jsonl")
    assert len(recording.events) == int(said.group(1)) > 0
    assert recording.problems == [] and not recording.finished


def test_an_unwritable_recording_is_not_called_written(suite_dir: pytest.Pytester) -> None:
    suite_dir.makepyfile(test_many="def test_a():\n    pass\n")
    status, summary, warnings, output = live_pytest(suite_dir.path, "--jb-live-port", "0",
                                                    "--jb-live-record", "/dev/full")
    assert (status, summary) == plain_pytest(suite_dir.path)
    assert len(warnings) == 1, output
    assert "cannot write the recording /dev/full" in warnings[0]
    assert "No space left on device" in warnings[0] and "not recorded" in warnings[0]
    assert "recording written" not in output and "incomplete" not in output
    # Written as it is: a device is never replaced by a file (PATH.partial is for files).
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    assert not os.path.exists("/dev/full.partial")


# -- a long test id can be subscribed to (issue 13, item 3) -----------------------------------

LONG_ID_SUITE = '''
import pytest

@pytest.mark.parametrize("value", [1, 2], ids=["v" * 20_000, "w" * 70_000])
def test_long(value):
    pass

def test_short():
    pass
'''


def test_a_long_test_id_can_be_subscribed_to(suite_dir: pytest.Pytester, start_live) -> None:
    from pytest_jbrealtime.server.viewers import MAX_TEST_ID_CHARS

    suite_dir.makepyfile(test_ids=LONG_ID_SUITE)
    run = start_live(suite_dir.path, "--jb-live-linger", "60")
    wait_until(lambda: "serving the finished run" in run.output, timeout=60)
    long_id = f"test_ids.py::test_long[{'v' * 20_000}]"
    too_long = f"test_ids.py::test_long[{'w' * 70_000}]"
    assert len(long_id) > 1024 and len(too_long) > MAX_TEST_ID_CHARS
    events = asyncio.run(subscribe_when_paused(run.ws_url(), f"test_{long_id}"))
    assert {e["test_id"] for e in events} == {long_id}
    assert events[-1]["type"] == "test_completed" and events[-1]["result"] == "passed"
    # Past the limit: refused, with the limit named (the frame itself still fits).
    error = asyncio.run(first_error(run.ws_url("refused"), {
        "type": "subscribe", "group": f"test_{too_long[:MAX_TEST_ID_CHARS + 1]}"}))
    assert error == f"group's test id is longer than {MAX_TEST_ID_CHARS} characters"


async def subscribe_when_paused(url: str, group: str) -> list[dict[str, Any]]:
    """Leave ``general``, make sure the server's sender is idle (a ping's pong), then
    join ``group``: its events up to its ``test_completed`` (the run is over: only the
    subscription itself can set the sender going again)."""
    import json

    events: list[dict[str, Any]] = []
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "unsubscribe", "group": "general"}))
        await ws.send(json.dumps({"type": "ping", "id": "paused"}))
        subscribed = False
        async with asyncio.timeout(30):
            async for frame in ws:
                for received in unpack(json.loads(frame)):
                    if received.get("type") == "pong" and not subscribed:
                        subscribed = True
                        await ws.send(json.dumps({"type": "subscribe", "group": group}))
                    elif "seq" in received and subscribed:  # (general's, if any, came first)
                        events.append(received)
                        if received["type"] == "test_completed":
                            return events
    raise AssertionError("the connection closed")


async def first_error(url: str, message: dict[str, Any]) -> str:
    """Send one message and return the text of the first ``error`` frame the server sends."""
    import json

    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(json.dumps(message))
        async with asyncio.timeout(30):
            async for frame in ws:
                for received in unpack(json.loads(frame)):
                    if received.get("type") == "error":
                        return str(received["message"])
    raise AssertionError("no error frame")


# -- pytest dies: its server removes the run's temporary folder (issue 13, item 4) -------------

DYING_SUITES = {
    "os_exit": "import os\ndef test_a():\n    pass\ndef test_exits():\n    os._exit(3)\n",
    "sigterm": ("import os, signal\ndef test_a():\n    pass\n"
                "def test_terminated():\n    os.kill(os.getpid(), signal.SIGTERM)\n"),
    "timeout_thread": ("import time, pytest\ndef test_a():\n    pass\n"
                       "@pytest.mark.timeout(2, method='thread')\n"
                       "def test_hangs():\n    time.sleep(60)\n"),
}


@pytest.mark.parametrize("death", sorted(DYING_SUITES))
def test_the_run_folder_goes_when_pytest_dies(
    suite_dir: pytest.Pytester, tmp_path: Path, death: str
) -> None:
    suite_dir.makepyfile(test_dies=DYING_SUITES[death])
    plain = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:randomly"],
                           cwd=suite_dir.path, capture_output=True, timeout=120)
    temp = tmp_path / "temp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTEST_ADDOPTS", "JB_LIVE_SERVER_LOG_LEVEL")}
    live = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "--jb-live", "--jb-live-port", "0"],
        cwd=suite_dir.path, capture_output=True, timeout=120, env={**env, "TMPDIR": str(temp)})
    assert live.returncode == plain.returncode != 0
    # The server saw pytest's end of the pipe close without "finish", and cleaned up.
    wait_until(lambda: not list(temp.glob("jb-live-*")), timeout=30)


def hub_run_env(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A temporary folder of its own for a hub run (TMPDIR), and its environment."""
    from tests.hub_support import mint

    temp = tmp_path / "temp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTEST_ADDOPTS", "JB_LIVE_SERVER_LOG_LEVEL")}
    return temp, {**env, "TMPDIR": str(temp), "JB_LIVE_TOKEN": mint("producer", "ci")}


@pytest.mark.parametrize("death", sorted(DYING_SUITES))
def test_a_hub_runs_folder_goes_when_pytest_dies(
    suite_dir: pytest.Pytester, tmp_path: Path, death: str
) -> None:
    """A run on a hub has no server process of its own: a janitor process waiting on a
    pipe removes the folder (the hub buffer) when pytest ends without doing it."""
    from tests.hub_support import HubProcess

    suite_dir.makepyfile(test_dies=DYING_SUITES[death])
    plain = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:randomly"],
                           cwd=suite_dir.path, capture_output=True, timeout=120)
    temp, env = hub_run_env(tmp_path)
    hub = HubProcess(tmp_path / "hub")
    try:
        live = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:randomly", "--jb-live-hub", hub.url],
            cwd=suite_dir.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        # While the run goes on, its folder holds the hub buffer.
        wait_until(lambda: list(temp.glob("jb-live-*/hub-spool.jsonl")), timeout=60)
        output = live.communicate(timeout=120)[0].decode(errors="replace")
        assert live.returncode == plain.returncode != 0, output
        wait_until(lambda: not list(temp.glob("jb-live-*")), timeout=30)
    finally:
        hub.kill()


def test_a_hub_runs_folder_goes_at_a_normal_end_and_no_janitor_stays(
    suite_dir: pytest.Pytester, tmp_path: Path
) -> None:
    from tests.hub_support import HubProcess

    suite_dir.makepyfile(test_fine="def test_a():\n    pass\n")
    temp, env = hub_run_env(tmp_path)
    hub = HubProcess(tmp_path / "hub")
    try:
        live = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:randomly", "--jb-live-hub", hub.url],
            cwd=suite_dir.path, capture_output=True, timeout=120, env=env)
        assert live.returncode == 0, live.stdout
        assert not list(temp.glob("jb-live-*"))
        janitors = [p for p in psutil.process_iter(["cmdline"])
                    if str(temp) in " ".join(p.info["cmdline"] or ())]
        assert janitors == []
    finally:
        hub.kill()


# -- Ctrl-C during --jb-live-linger closes viewers cleanly (issue 13, item 5) ------------------

def test_ctrl_c_while_lingering_closes_viewers_as_the_run_is_over(
    suite_dir: pytest.Pytester, start_live
) -> None:
    import signal
    from concurrent.futures import ThreadPoolExecutor

    suite_dir.makepyfile(test_linger="def test_a():\n    pass\ndef test_b():\n    assert 0\n")
    expected = plain_pytest(suite_dir.path)
    run = start_live(suite_dir.path, "--jb-live-linger", "120", "--jb-live-wait-viewers", "1")
    with ThreadPoolExecutor(max_workers=1) as pool:
        viewer = pool.submit(watch_sync, run.ws_url(), timeout=180)
        wait_until(lambda: "serving the finished run" in run.output, timeout=60)
        interrupted = time.monotonic()
        run.process.send_signal(signal.SIGINT)
        assert run.wait(60) == expected[0]
        watched = viewer.result(timeout=60)
    # Bounded by the drain, not the linger's 120 s (a generous bound: the machine is busy).
    assert time.monotonic() - interrupted < 30
    assert watched.close_code == 1000  # "run finished": the viewer does not reconnect
    assert len(watched.of_type("session_finished")) == 1
    assert summary_of(run.output) == expected[1]
    assert "jb-live: WARNING" not in run.output


# -- an inherited JB_LIVE=1 does not switch nested runs on (issue 13, item 7) ------------------

NESTED_SUITE = '''
pytest_plugins = ["pytester"]

def foreign(result):
    return [line for line in result.outlines + result.errlines if "jb-live" in line]

def test_inline(pytester):
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert foreign(result) == []

def test_subprocess(pytester):
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    assert foreign(result) == []

def test_asked_on_its_command_line(pytester):
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest_subprocess("--jb-live", "--jb-live-port", "0")
    result.assert_outcomes(passed=1)
    assert any("jb-live: watch this run at" in line for line in result.outlines)
'''


def test_nested_runs_do_not_inherit_jb_live(suite_dir: pytest.Pytester) -> None:
    from tests.hub_support import free_port

    suite_dir.makepyfile(test_nested=NESTED_SUITE)
    expected = plain_pytest(suite_dir.path)
    # The outer run as a user starts it: JB_LIVE=1 and a fixed port in the environment.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST")}
    port = free_port()
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:randomly"],
                          cwd=suite_dir.path, capture_output=True, text=True, errors="replace",
                          timeout=180, env={**env, "JB_LIVE": "1", "JB_LIVE_PORT": str(port)})
    assert (done.returncode, summary_of(done.stdout)) == expected
    assert expected[0] == 0 and expected[1].startswith("3 passed")
    assert f"jb-live: watch this run at http://127.0.0.1:{port}/" in done.stdout
    assert "jb-live: WARNING" not in done.stdout + done.stderr


# -- unittest subTest: one result, said the same way everywhere (issue 13, item 8) ------------

SUBTEST_SUITE = '''
import unittest

class T(unittest.TestCase):
    def test_fails_in_a_subtest(self):
        for i in range(3):
            with self.subTest(i=i):
                self.assertNotEqual(i, 1)

    def test_skips_in_a_subtest(self):
        with self.subTest("ok"):
            pass
        with self.subTest("not here"):
            self.skipTest("skipped inside")

    def test_plain(self):
        pass
'''


def test_subtest_outcomes_agree_in_stream_recording_and_report(
    suite_dir: pytest.Pytester, start_live
) -> None:
    import xml.etree.ElementTree as ET

    suite_dir.makepyfile(test_sub=SUBTEST_SUITE)
    expected = plain_pytest(suite_dir.path, "-rA")
    run = start_live(suite_dir.path, "-rA", "--jb-live-wait-viewers", "1", "--junitxml",
                     "junit.xml", "--jb-live-record", "run.jsonl", "--jb-live-report",
                     "report.html")
    watched = watch_sync(run.ws_url())
    assert run.wait(120) == expected[0] == 1
    assert summary_of(run.output) == expected[1]
    # One set of events: what the viewer got is what was recorded and what the report shows.
    assert read_recording(suite_dir.path / "run.jsonl").events == watched.events
    assert events_in_report(suite_dir.path / "report.html") == watched.events
    completed = {e["test_id"].rsplit("::", 1)[1]: e for e in watched.of_type("test_completed")}
    failing = completed["test_fails_in_a_subtest"]
    assert failing["result"] == "failed"
    assert failing["categories"] == ["passed"]  # pytest's -rA: PASSED for its own call
    assert [s["result"] for s in failing["subtests"]] == ["passed", "failed", "passed"]
    assert failing["summary"] == "1 subtest failed: (i=1): AssertionError: 1 == 1"
    assert "AssertionError: 1 == 1" in failing["longrepr"]
    skipping = completed["test_skips_in_a_subtest"]
    assert skipping["result"] == "passed" and skipping["categories"] == ["passed"]
    assert [s["result"] for s in skipping["subtests"]] == ["passed", "skipped"]
    assert completed["test_plain"]["result"] == "passed"
    # pytest's own words agree where they speak of the test as a whole: junitxml fails
    # exactly the tests streamed as failed; the summary line's counts are the stream's.
    junit = ET.parse(suite_dir.path / "junit.xml").getroot()
    junit_failed = {case.get("name") for case in junit.iter("testcase")
                    if case.find("failure") is not None}
    assert junit_failed == {name for name, e in completed.items() if e["result"] == "failed"}
    (finished,) = watched.of_type("session_finished")
    counted = sorted(f"{n} {c}" for c, n in finished["counts"].items() if n)
    assert counted == sorted(expected[1].split(", "))


@pytest.mark.parametrize("backend", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_unencodable_text_through_the_hub(tmp_path: Path, running: list[Any], backend: str,
                                          request: pytest.FixtureRequest) -> None:
    from tests.hub_support import HubProcess, Shard

    redis_url = request.getfixturevalue("redis_server").url if backend == "redis" else None
    hub = HubProcess(tmp_path / "hub", 0, redis_url)
    running.append(hub)
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_text.py").write_text(UNENCODABLE_SUITE)
    shard = Shard(suite, hub.url, "--jb-live-record", str(tmp_path / "shard.jsonl"),
                  run_id="text")
    running.append(shard)
    assert shard.wait() == 1
    assert "jb-live: WARNING" not in shard.text
    watched = watch_sync(hub.viewer_url("text"))
    assert watched.close_code == 1000
    completed = {e["test_id"].split("::")[1]: e for e in watched.of_type("test_completed")}
    assert len(completed) == 4
    logged = "".join(s["content"] for s in completed["test_logs_a_file_name"]["sections"])
    assert f"skipping {REPAIRED_NAME}" in logged and "a pair \U0001f600 joined" in logged
    assert f"bad name {REPAIRED_NAME}" in completed["test_asserts_with_it"]["summary"]
    # The shard's own recording (written in the pytest process on a hub run) agrees.
    recorded = read_recording(tmp_path / "shard.jsonl")
    assert recorded.problems == [] and recorded.finished
    shard_completed = [e for e in recorded.events if e["type"] == "test_completed"]
    assert [e["sections"] for e in shard_completed] == [
        e["sections"] for e in watched.of_type("test_completed")]


FROZEN_SUITE = '''
import datetime, time
import pytest
from freezegun import freeze_time

@pytest.fixture(scope="module", autouse=True)
def frozen():
    # freezegun swaps the real clock functions wherever a module holds them.
    with freeze_time("2001-02-03 04:05:06"):
        yield

def test_frozen():
    assert datetime.datetime.now().year == 2001 and time.gmtime().tm_year == 2001

@pytest.mark.parametrize("n", range(3))
def test_more(n):
    assert time.monotonic() == time.monotonic()
'''


def test_freezegun_does_not_freeze_the_plugin(suite_dir: pytest.Pytester, start_live) -> None:
    suite_dir.makepyfile(test_frozen=FROZEN_SUITE)
    expected = plain_pytest(suite_dir.path)
    assert expected[0] == 0
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1")
    watched = watch_sync(run.ws_url())
    assert run.wait(120) == 0 and summary_of(run.output) == expected[1]
    assert "jb-live: WARNING" not in run.output
    # The events of the frozen tests carry the real time, not 2001.
    this_year = time.strftime("%Y", time.gmtime())
    stamps = [e["timestamp"] for e in watched.events if e.get("test_id")]
    assert len(watched.of_type("test_completed")) == 4
    assert stamps and all(s.startswith(this_year) for s in stamps)


def test_patched_stdlib_never_reaches_a_hub_run(patched_suite: Path, tmp_path: Path,
                                                running: list[Any]) -> None:
    """On a hub run a thread of pytest's talks to the hub the whole time (websockets'
    sync client, whose deadlines and pings read ``time.monotonic`` at each call)."""
    from tests.hub_support import HubProcess, Shard, mint

    expected = plain_pytest(patched_suite, "-p", "no:cacheprovider")
    assert expected == (1, PATCHED_SUMMARY)
    hub = HubProcess(tmp_path / "hub", 0)
    running.append(hub)
    shard = Shard(patched_suite, hub.url, run_id="patched", token=mint("producer", "ci"))
    running.append(shard)
    assert shard.wait() == expected[0], shard.text
    assert summary_of(shard.text) == expected[1], shard.text
    assert "jb-live: WARNING" not in shard.text
    assert "INTERNALERROR" not in shard.text
    watched = watch_sync(hub.viewer_url("patched"))
    assert watched.of_type("session_finished")[0]["exit_status"] == 1
