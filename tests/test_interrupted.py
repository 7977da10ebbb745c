"""The last word of an interrupted run: real runs killed with SIGTERM mid-test (serial,
and an xdist worker killed under the controller) and one stopped with Ctrl-C; the
recording holds a ``test_interrupted`` event whose stack names the function the test
was in."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

from pytest_jbrealtime.shared.last_words import parse_dump
from tests.held_run import Viewer
from tests.test_never_hurt import events_in_report
from tests.test_stacks import SLEEPER, SLEEPS, TIMEOUT, StackViewer, suite


def recorded(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def interrupted(events: list[dict[str, Any]], test_id: str) -> dict[str, Any]:
    found = [e for e in events if e.get("type") == "test_interrupted" and e["test_id"] == test_id]
    assert len(found) == 1, [e.get("type") for e in events]
    return found[0]


def check_last_stack(event: dict[str, Any], function: str) -> None:
    assert isinstance(event["seq"], int)
    current = [t for t in event["threads"] if t["current"]]
    assert len(current) == 1 and event["threads"][0] is current[0], event["threads"]
    functions = [f["function"] for f in current[0]["frames"]]
    assert function in functions, functions
    frame = current[0]["frames"][functions.index(function)]
    assert frame["file"].endswith("test_sleepy.py") and frame["code"], frame


async def wait_started(url: str, test_id: str) -> None:
    stacks = StackViewer(await Viewer.connect(url))
    try:
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
    for _ in range(200):
        if record.exists() and '"test_interrupted"' in record.read_text():
            break
        asyncio.run(asyncio.sleep(0.1))
    event = interrupted(recorded(record), SLEEPS)
    assert event["reason"] == "terminated (SIGTERM)" and event["worker"] == "main"
    check_last_stack(event, SLEEPER)
    assert event["threads"][0]["frames"][-1]["function"] == SLEEPER, "blocked in time.sleep"


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
