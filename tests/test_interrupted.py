"""The last word of an interrupted run: real runs killed with SIGTERM mid-test (serial,
and an xdist worker killed under the controller) and ones stopped with Ctrl-C (serial
and under xdist); the recording holds a ``test_interrupted`` event whose stack names
the function the test was in."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_jbrealtime.shared.last_words import parse_dump
from tests.held_run import Viewer
from tests.hub_support import HubProcess, Shard
from tests.support import watch_sync
from tests.test_never_hurt import events_in_report
from tests.test_stacks import (
    GATE,
    PARALLEL,
    SLEEPER,
    SLEEPS,
    SPINNER,
    SPINS,
    TIMEOUT,
    StackViewer,
    suite,
)


def recorded(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def recorded_after_death(path: Path) -> list[dict[str, Any]]:
    """The recording of a run whose pytest died: the server, which outlives it, writes
    the last word and then closes the file (renamed from PATH.partial) a moment later."""
    deadline = time.monotonic() + TIMEOUT
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never closed"
        time.sleep(0.1)
    return recorded(path)


def interrupted(events: list[dict[str, Any]], test_id: str) -> dict[str, Any]:
    found = [e for e in events if e.get("type") == "test_interrupted" and e["test_id"] == test_id]
    assert len(found) == 1, [e.get("type") for e in events]
    return found[0]


def check_last_stack(event: dict[str, Any], function: str,
                     file: str = "test_sleepy.py") -> None:
    assert isinstance(event["seq"], int)
    current = [t for t in event["threads"] if t["current"]]
    assert len(current) == 1 and event["threads"][0] is current[0], event["threads"]
    functions = [f["function"] for f in current[0]["frames"]]
    assert function in functions, functions
    frame = current[0]["frames"][functions.index(function)]
    assert frame["file"].endswith(file) and frame["code"], frame


async def wait_started(url: str, *test_ids: str) -> None:
    stacks = StackViewer(await Viewer.connect(url))
    try:
        for test_id in test_ids:
            await stacks.started(test_id)
    finally:
        await stacks.viewer.close()


def test_sigterm_mid_test_leaves_the_running_tests_last_stack(
    tmp_path: Path, start_live: Any
) -> None:
    directory, gates = suite(tmp_path)
    record = tmp_path / "run.jsonl"
    run = start_live(directory, "--jb-live-record", str(record),
                     env={"JB_TEST_GATE_DIR": str(gates)})
    asyncio.run(wait_started(run.ws_url(), SLEEPS))
    run.process.send_signal(signal.SIGTERM)
    # Killed as SIGTERM kills it: the plugin changes nothing about that.
    assert run.wait(TIMEOUT) == -signal.SIGTERM
    # The server outlives pytest, writes the last word, and closes the recording.
    event = interrupted(recorded_after_death(record), SLEEPS)
    assert event["reason"] == "terminated (SIGTERM)" and event["worker"] == "main"
    check_last_stack(event, SLEEPER)
    assert event["threads"][0]["frames"][-1]["function"] == SLEEPER, "blocked in time.sleep"
    # pytest wrote no report (it was killed); the recording makes one, last word included.
    report = tmp_path / "report.html"
    made = subprocess.run([sys.executable, "-m", "pytest_jbrealtime", "report", str(record),
                           "-o", str(report)], capture_output=True, text=True, timeout=TIMEOUT)
    assert made.returncode == 0, made.stderr
    check_last_stack(interrupted(events_in_report(report), SLEEPS), SLEEPER)


KILLED_WORKER_SUITE = f"""
import os, pathlib, signal, time

def {SLEEPER}():
    once = pathlib.Path(os.environ["JB_TEST_GATE_DIR"]) / "killed"
    if not once.exists():  # xdist runs the test again on a new worker: that one passes
        once.touch()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)

def test_sleeps():
    {SLEEPER}()
"""


def test_a_worker_killed_with_sigterm_leaves_its_tests_last_stack(
    tmp_path: Path, start_live: Any
) -> None:
    directory, gates = suite(tmp_path)
    (directory / "test_sleepy.py").write_text(KILLED_WORKER_SUITE)
    (gates / "spins").touch()
    record = tmp_path / "run.jsonl"
    run = start_live(directory, "-n", "2", "--dist", "loadfile", "--jb-live-record", str(record),
                     env={"JB_TEST_GATE_DIR": str(gates)})
    # The worker is gone, the run goes on and ends as xdist ends it (a failure).
    assert run.wait(TIMEOUT) == 1, run.output
    events = recorded(record)
    crash = [e for e in events if e.get("type") == "worker_crashed"]
    assert len(crash) == 1 and crash[0]["test_id"].endswith(SLEEPS), (crash, run.output)
    event = interrupted(events, crash[0]["test_id"])
    assert event["reason"] == "worker crashed (SIGTERM)" and event["worker"] == crash[0]["worker"]
    check_last_stack(event, SLEEPER)
    assert event["seq"] > crash[0]["seq"]


KILLED_HARD_SUITE = GATE + f"""
import signal

def {SLEEPER}():
    once = _gate("killed")
    if once.exists():  # xdist runs the test again on a new worker: that one passes
        return
    deadline = time.monotonic() + 240
    while not _gate("kill").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    once.touch()
    os.kill(os.getpid(), signal.SIGKILL)

def test_sleeps():
    {SLEEPER}()
"""


def run_killed_with_sigkill(tmp_path: Path, start_live: Any,
                            *args: str) -> tuple[Any, Path, dict[str, Any]]:
    """A ``-n 2`` run whose worker SIGKILLs itself in SLEEPS once that test's stall
    alert (with its stack) is out: the run, its recording and the alert."""
    directory, gates = suite(tmp_path)
    (directory / "test_sleepy.py").write_text(KILLED_HARD_SUITE)
    (gates / "spins").touch()
    record = tmp_path / "run.jsonl"
    run = start_live(directory, *PARALLEL, "--jb-live-record", str(record),
                     "--jb-live-stall-after", "1", *args,
                     env={"JB_TEST_GATE_DIR": str(gates)})

    async def kill_after_the_stall_alert() -> dict[str, Any]:
        stacks = StackViewer(await Viewer.connect(run.ws_url()))
        try:
            stalled = await stacks.until(lambda m: m.get("type") == "test_stalled"
                                         and m.get("test_id") == SLEEPS and m["threads"])
            (gates / "kill").touch()
            return stalled
        finally:
            await stacks.viewer.close()

    stalled = asyncio.run(kill_after_the_stall_alert())
    assert run.wait(TIMEOUT) == 1, run.output  # the worker died; xdist reports it
    return run, record, stalled


def test_a_worker_killed_with_sigkill_is_recorded_with_its_stall_alerts_stack(
    tmp_path: Path, start_live: Any
) -> None:
    """Nothing runs in a SIGKILLed process, so there is no stack from its end: the crash
    says which signal it was, and the test's last stall alert's stack is offered,
    labelled as such."""
    run, record, stalled = run_killed_with_sigkill(tmp_path, start_live)
    events = recorded(record)
    crash = [e for e in events if e.get("type") == "worker_crashed"]
    assert len(crash) == 1 and crash[0]["test_id"] == SLEEPS, (crash, run.output)
    assert crash[0]["signal"] == "SIGKILL", crash
    event = interrupted(events, SLEEPS)
    assert event["reason"] == "worker crashed (SIGKILL)" and event["seq"] > crash[0]["seq"]
    assert "nothing runs in a process killed with SIGKILL" in event["stack_note"], event
    assert "stall alert" in event["stack_note"] and event["taken_at"] == stalled["taken_at"]
    assert event["threads"] == stalled["threads"]
    check_last_stack(event, SLEEPER)


def test_pytest_killed_with_sigkill_is_recorded_without_a_stack(
    tmp_path: Path, start_live: Any
) -> None:
    directory, gates = suite(tmp_path)
    record = tmp_path / "run.jsonl"
    run = start_live(directory, "--jb-live-record", str(record),
                     env={"JB_TEST_GATE_DIR": str(gates)})
    asyncio.run(wait_started(run.ws_url(), SLEEPS))
    run.process.send_signal(signal.SIGKILL)
    assert run.wait(TIMEOUT) == -signal.SIGKILL
    event = interrupted(recorded_after_death(record), SLEEPS)
    assert event["reason"] == "pytest ended" and event["threads"] == [], event
    assert event["stack_note"].startswith("no stack from its end: the process ended without"), \
        event


def test_ctrl_c_mid_test_records_where_the_test_was(tmp_path: Path, start_live: Any) -> None:
    directory, gates = suite(tmp_path)
    record = tmp_path / "run.jsonl"
    report = tmp_path / "report.html"
    run = start_live(directory, "--jb-live-record", str(record), "--jb-live-report", str(report),
                     env={"JB_TEST_GATE_DIR": str(gates)})
    asyncio.run(wait_started(run.ws_url(), SLEEPS))
    run.process.send_signal(signal.SIGINT)
    assert run.wait(TIMEOUT) == 2, run.output  # pytest's "interrupted"
    event = interrupted(recorded(record), SLEEPS)
    assert event["reason"] == "KeyboardInterrupt"
    check_last_stack(event, SLEEPER)
    assert recorded(record)[-1]["type"] == "session_finished"
    # The report's viewer has it too (its detail shows the stack the run ended on).
    check_last_stack(interrupted(events_in_report(report), SLEEPS), SLEEPER)


def test_a_faulthandler_dump_is_read_innermost_last() -> None:
    dump = (
        "Thread 0x00007f81f7f7b6c0 (most recent call first):\n"
        '  File "/x/threading.py", line 982 in run\n\n'
        "Current thread 0x00007f81f8dc2b80 (most recent call first):\n"
        f'  File "{os.__file__}", line 3 in inner\n'
        '  File "/x/_pytest/runner.py", line 120 in runtestprotocol\n'
        '  File "/x/main.py", line 8 in <module>'
    )
    threads = parse_dump(dump)
    assert [t["current"] for t in threads] == [True, False]
    assert [f["function"] for f in threads[0]["frames"]] == [
        "<module>", "runtestprotocol", "inner"]
    assert threads[0]["frames"][-1]["code"]  # the source line, read from the file
    assert parse_dump("") == [] and parse_dump("garbage\n") == []


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "xdist"])
def test_sigterm_on_a_hub_shard_leaves_the_running_tests_last_stack_on_the_hub(
    tmp_path: Path, running: list[Any], parallel: bool
) -> None:
    """No server process outlives a hub shard: the signal only dumps the stacks, the
    producer's thread sends the last word to the hub (and the local recording), then
    the same SIGTERM ends the process as it would have. Under xdist the signal is the
    controller's and its workers' responders answer for their tests."""
    hub = HubProcess(tmp_path / "data")
    running.append(hub)
    directory, gates = suite(tmp_path)
    record = tmp_path / "shard.jsonl"
    shard = Shard(directory, hub.url, "--jb-live-record", str(record),
                  *(PARALLEL if parallel else ()), run_id="termed",
                  env={"JB_TEST_GATE_DIR": str(gates)})
    running.append(shard)
    deadline = time.monotonic() + TIMEOUT
    while "termed" not in hub.runs():
        assert time.monotonic() < deadline, shard.text
        time.sleep(0.05)
    asyncio.run(wait_started(hub.viewer_url("termed"), SLEEPS, *([SPINS] if parallel else [])))
    shard.process.send_signal(signal.SIGTERM)
    assert shard.wait(TIMEOUT) == -signal.SIGTERM, shard.text  # as SIGTERM ends it
    # The hub's run log has it (a viewer reads it from the start).
    watched = watch_sync(hub.viewer_url("termed"), until_type="test_interrupted",
                         timeout=TIMEOUT)
    event = interrupted(watched.events, SLEEPS)
    assert event["reason"] == "terminated (SIGTERM)", event
    assert event["worker"].startswith("gw") if parallel else event["worker"] == "main", event
    check_last_stack(event, SLEEPER)
    assert event["threads"][0]["frames"][-1]["function"] == SLEEPER, "blocked in time.sleep"
    if parallel:
        check_last_stack(interrupted(watched.events, SPINS), SPINNER, "test_spinny.py")
    # So has the shard's own recording, closed (renamed from PATH.partial) before the end.
    check_last_stack(interrupted(recorded(record), SLEEPS), SLEEPER)


def test_ctrl_c_under_xdist_records_where_each_worker_was(
    tmp_path: Path, start_live: Any
) -> None:
    """SIGINT to the controller (as a supervisor sends it): the workers are still in
    their tests when it handles the interrupt; each one's stack is asked for then."""
    directory, gates = suite(tmp_path)
    record = tmp_path / "run.jsonl"
    run = start_live(directory, *PARALLEL, "--jb-live-record", str(record),
                     env={"JB_TEST_GATE_DIR": str(gates)})
    asyncio.run(wait_started(run.ws_url(), SLEEPS, SPINS))
    run.process.send_signal(signal.SIGINT)
    assert run.wait(TIMEOUT) == 2, run.output  # pytest's "interrupted", as without us
    events = recorded(record)
    started = {e["test_id"]: e["worker"] for e in events if e.get("type") == "test_started"}
    for test_id, function, file in ((SLEEPS, SLEEPER, "test_sleepy.py"),
                                    (SPINS, SPINNER, "test_spinny.py")):
        event = interrupted(events, test_id)
        assert event["reason"] == "KeyboardInterrupt", event
        assert event["worker"] == started[test_id] and event["worker"].startswith("gw")
        check_last_stack(event, function, file)
    assert events[-1]["type"] == "session_finished"


TIMED_OUT_SUITE = f"""
import os, pathlib, time, pytest

def {SLEEPER}():
    once = pathlib.Path(os.environ["JB_TEST_GATE_DIR"]) / "timed-out"
    if not once.exists():  # xdist runs the test again on a new worker: that one passes
        once.touch()
        time.sleep(60)

@pytest.mark.timeout(2, method="thread")
def test_sleeps():
    {SLEEPER}()
"""


def test_pytest_timeout_thread_method_leaves_the_tests_last_stack(
    tmp_path: Path, start_live: Any
) -> None:
    """pytest-timeout's thread method ends the process with ``os._exit(1)`` (no signal):
    the stack it had when its time was up is still recorded, with the reason."""
    directory, gates = suite(tmp_path)
    (directory / "test_sleepy.py").write_text(TIMED_OUT_SUITE)
    (directory / "test_spinny.py").unlink()
    record = tmp_path / "run.jsonl"
    run = start_live(directory, "--jb-live-record", str(record),
                     env={"JB_TEST_GATE_DIR": str(gates)})
    assert run.wait(TIMEOUT) == 1, run.output  # pytest-timeout's os._exit(1), as without us
    assert "Timeout" in run.output  # its own dump still went to the terminal
    event = interrupted(recorded_after_death(record), SLEEPS)
    assert event["reason"] == "pytest-timeout (thread method, 2 s)", event
    check_last_stack(event, SLEEPER)
    assert event["threads"][0]["frames"][-1]["function"] == SLEEPER, "blocked in time.sleep"
    # The timer thread that took it is no news: pytest-timeout prints its own.
    assert not any("timeout_timer" in f["function"] for t in event["threads"]
                   for f in t["frames"]), event["threads"]


def test_pytest_timeout_on_a_hub_shard_leaves_the_tests_last_stack_on_the_hub(
    tmp_path: Path, running: list[Any]
) -> None:
    hub = HubProcess(tmp_path / "data")
    running.append(hub)
    directory, gates = suite(tmp_path)
    (directory / "test_sleepy.py").write_text(TIMED_OUT_SUITE)
    (directory / "test_spinny.py").unlink()
    shard = Shard(directory, hub.url, run_id="timed", env={"JB_TEST_GATE_DIR": str(gates)})
    running.append(shard)
    assert shard.wait(TIMEOUT) == 1, shard.text  # pytest-timeout's os._exit(1)
    watched = watch_sync(hub.viewer_url("timed"), until_type="test_interrupted",
                         timeout=TIMEOUT)
    event = interrupted(watched.events, SLEEPS)
    assert event["reason"] == "pytest-timeout (thread method, 2 s)", event
    check_last_stack(event, SLEEPER)


def test_pytest_timeout_on_an_xdist_worker_leaves_the_tests_last_stack(
    tmp_path: Path, start_live: Any
) -> None:
    directory, gates = suite(tmp_path)
    (directory / "test_sleepy.py").write_text(TIMED_OUT_SUITE)
    record = tmp_path / "run.jsonl"
    (gates / "spins").touch()
    run = start_live(directory, *PARALLEL, "--jb-live-record", str(record),
                     env={"JB_TEST_GATE_DIR": str(gates)})
    assert run.wait(TIMEOUT) == 1, run.output  # the worker died; xdist reports it
    events = recorded(record)
    crash = [e for e in events if e.get("type") == "worker_crashed"]
    assert len(crash) == 1 and crash[0]["test_id"] == SLEEPS, (crash, run.output)
    event = interrupted(events, SLEEPS)
    assert event["reason"] == "pytest-timeout (thread method, 2 s)", event
    assert event["worker"] == crash[0]["worker"] and event["seq"] > crash[0]["seq"]
    check_last_stack(event, SLEEPER)


def test_pytest_timeouts_function_is_its_own_again_after_the_tests(tmp_path: Path) -> None:
    import pytest_timeout

    from pytest_jbrealtime.shared.last_words import LastWords

    original = pytest_timeout.timeout_timer
    words = LastWords(tmp_path, "main")
    words.arm()
    try:
        assert pytest_timeout.timeout_timer is not original
        assert pytest_timeout.timeout_timer.__wrapped__ is original
    finally:
        words.disarm()
    assert pytest_timeout.timeout_timer is original
    assert not list(tmp_path.iterdir()), "nothing left in the run folder"
