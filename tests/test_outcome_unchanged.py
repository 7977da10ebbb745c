"""`--jb-live` never changes a run: same exit status, same terminal output (bar the link
lines), for every kind of run; and the run's end is bounded whatever the viewers do."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import websockets.sync.client

from pytest_jbrealtime.shared.ci import PROVIDERS
from tests.support import LiveProcess, wait_until

SUITES = {
    "passing": "def test_a(): pass\ndef test_b(): pass\n",
    "failing": "def test_a(): pass\ndef test_b(): assert 1 == 2, 'boom'\n",
    "erroring": (
        "import pytest\n@pytest.fixture\ndef f(): raise ValueError('setup broke')\n"
        "def test_a(f): pass\n"
    ),
    "skipped": "import pytest\n@pytest.mark.skip(reason='x')\ndef test_a(): pass\n",
    "xfail": (
        "import pytest\n@pytest.mark.xfail\ndef test_a(): assert 0\n"
        "@pytest.mark.xfail(strict=True)\ndef test_b(): pass\n"
    ),
    "collection_error": "import not_a_module_anywhere\ndef test_a(): pass\n",
    "no_tests": "x = 1\n",
}
CI_VARIABLES = {variable for variable, _ in PROVIDERS}
TIMING = re.compile(r"\d+\.\d+s( \(\d+:\d+:\d+\))?")


def run_pytest(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=directory, capture_output=True, text=True, timeout=120,
        # Not as CI: under CI the link is printed once, in the form CI shows best.
        env={k: v for k, v in os.environ.items()
             if not k.startswith("JB_LIVE") and k not in CI_VARIABLES},
    )


def comparable(output: str) -> list[str]:
    # The '=' padding of the summary line depends on the time's length (9.9s, 10.1s).
    return [TIMING.sub("<t>", line).strip("= ") for line in output.splitlines()
            if not line.startswith("jb-live:")]


@pytest.mark.parametrize(
    ("kind", "extra"),
    [(kind, []) for kind in sorted(SUITES)]
    + [("failing", ["-q"]), ("failing", ["-x", "-rA"]), ("passing", ["--no-header", "-v"])],
)
def test_same_exit_status_and_output_with_and_without(
    pytester: pytest.Pytester, kind: str, extra: list[str]
) -> None:
    pytester.makepyfile(test_suite=SUITES[kind])
    plain = run_pytest(pytester.path, *extra)
    live = run_pytest(pytester.path, *extra, "--jb-live", "--jb-live-port", "0")
    assert live.returncode == plain.returncode
    assert comparable(live.stdout) == comparable(plain.stdout)
    assert live.stderr == plain.stderr
    # The link is shown even where the header is hidden (-q).
    assert live.stdout.count("jb-live: watch this run at http://127.0.0.1:") == 2


INTERRUPTED = '''
import os, pathlib, time

def test_long():
    pathlib.Path(os.environ["STARTED"]).touch()
    time.sleep(60)
'''


def interrupt(directory: Path, *args: str) -> tuple[int, str]:
    started = directory / "started"
    started.unlink(missing_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=directory,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "STARTED": str(started)},
    )
    wait_until(started.exists, timeout=60)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    return process.returncode, output


def test_ctrl_c_interrupts_the_same_way(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_slow=INTERRUPTED)
    plain_code, plain_output = interrupt(pytester.path)
    live_code, live_output = interrupt(pytester.path, "--jb-live", "--jb-live-port", "0")
    assert live_code == plain_code == pytest.ExitCode.INTERRUPTED
    assert "KeyboardInterrupt" in live_output
    assert comparable(live_output)[-1] == comparable(plain_output)[-1]


ASYNC_SUITE = '''
import asyncio
import pytest
import pytest_asyncio

@pytest_asyncio.fixture
async def value():
    await asyncio.sleep(0)
    return 41

@pytest.mark.asyncio
async def test_marked(value):
    assert value + 1 == 42

async def test_unmarked_runs_only_in_auto_mode():
    await asyncio.sleep(0)
'''


@pytest.mark.parametrize("mode", ["auto", "strict"])
def test_pytest_asyncio_suites_run_unchanged(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makeini(f"[pytest]\nasyncio_mode = {mode}\n"
                     "asyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_async=ASYNC_SUITE)
    plain = run_pytest(pytester.path)
    live = run_pytest(pytester.path, "--jb-live", "--jb-live-port", "0")
    assert live.returncode == plain.returncode
    assert comparable(live.stdout) == comparable(plain.stdout)
    expected = "2 passed" if mode == "auto" else "1 failed, 1 passed"
    assert expected in live.stdout


def test_run_ends_promptly_with_a_viewer_that_stopped_reading(pytester: pytest.Pytester) -> None:
    # Enough output that the stalled viewer's socket buffers fill up.
    pytester.makepyfile(test_many="""
import pytest
@pytest.mark.parametrize("n", range(3000))
def test_n(n):
    print("x" * 200)
""")
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    run = LiveProcess(pytester.path, "--jb-live-wait-viewers", "1", "-q")
    try:
        # A real client that connects and then never reads a frame.
        with websockets.sync.client.connect(run.ws_url("stalled"), max_size=None) as ws:
            ws.socket.setsockopt(__import__("socket").SOL_SOCKET,
                                 __import__("socket").SO_RCVBUF, 4096)
            wait_until(lambda: "passed" in run.output, timeout=120)
            finished_at = time.monotonic()
            assert run.wait(timeout=60) == 0
            # The drain waits at most 1 s for viewers; generous here (loaded CI
            # machines), the precise figure is in docs/benchmarks.md.
            assert time.monotonic() - finished_at < 10
    finally:
        run.kill()


def test_port_taken_falls_back_to_a_free_port(pytester: pytest.Pytester) -> None:
    import socket

    pytester.makepyfile(test_a="def test_a(): pass\n")
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    try:
        result = run_pytest(pytester.path, "--jb-live", "--jb-live-port", str(taken))
    finally:
        blocker.close()
    assert result.returncode == 0
    link_port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", result.stdout).group(1))
    assert link_port != taken


def test_server_that_cannot_start_is_one_warning(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_a="def test_a(): pass\ndef test_b(): assert 0\n")
    plain = run_pytest(pytester.path)
    # 192.0.2.1 (TEST-NET-1) is not an address of this machine: bind fails.
    live = run_pytest(pytester.path, "--jb-live", "--jb-live-host", "192.0.2.1")
    assert live.returncode == plain.returncode == 1
    warnings = [line for line in live.stdout.splitlines() if line.startswith("jb-live:")]
    assert len(warnings) == 1
    assert "could not start" in warnings[0]
    assert comparable(live.stdout) == comparable(plain.stdout)
