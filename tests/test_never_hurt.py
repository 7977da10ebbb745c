"""Whatever happens to the live server, the run is the run: every test runs, the exit
status is the one pytest gives without the plugin, and there is one clear warning."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import websockets

from tests.held_run import HeldRun
from tests.support import LiveProcess, wait_until

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
                          cwd=directory, capture_output=True, text=True, env=env, timeout=120)
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
        cwd=directory, capture_output=True, text=True, env=env, timeout=120)
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
