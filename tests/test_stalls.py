"""Stall alerts: ``--jb-live-stall-after`` on real runs (serial with the GitHub outputs,
under xdist, on a hub shard), and the rule with an injected clock."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_jbrealtime.shared.stalls import (
    STALL_FACTOR,
    STALL_MIN,
    STALL_NO_HISTORY,
    StallWatch,
    describe_stall,
    stall_threshold,
)
from tests.held_run import Viewer
from tests.hub_support import HubProcess, Shard
from tests.test_stacks import SLEEPER, SLEEPS, TIMEOUT, StackViewer, check_names, suite


def stalled(messages: list[dict[str, Any]], test_id: str) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("type") == "test_stalled" and m["test_id"] == test_id]


async def two_alerts(url: str, gates: Path) -> list[dict[str, Any]]:
    """Watch until the sleeping test has stalled twice (at 2 s and 4 s); then release."""
    stacks = StackViewer(await Viewer.connect(url))
    try:
        for _ in range(2):
            await stacks.until(lambda m: m.get("type") == "test_stalled"
                               and m["test_id"] == SLEEPS)
    finally:
        (gates / "sleeps").touch()
        (gates / "spins").touch()
        await stacks.viewer.close()
    return stalled(stacks.viewer.messages, SLEEPS)


def check_alerts(alerts: list[dict[str, Any]], worker: str | None = None) -> None:
    assert len(alerts) >= 2, alerts
    first, second = alerts[:2]
    for alert in (first, second):
        assert isinstance(alert["seq"], int), "an event, in the log"
        assert alert["threshold"] == 2
        check_names({k: v for k, v in alert.items() if k != "seq"} | {"type": "stack"},
                    SLEEPER, SLEEPS)
        if worker is not None:
            assert alert["worker"] == worker
    assert 2 <= first["running_for"] < 4, first
    # Again when the running time has doubled, with a fresh stack.
    assert second["running_for"] >= 4 and second["seq"] > first["seq"], second
    assert second["taken_at"] > first["taken_at"]


def test_a_serial_run_alerts_records_annotates_and_summarises(
    tmp_path: Path, start_live: Any
) -> None:
    directory, gates = suite(tmp_path)
    summary = tmp_path / "summary.md"
    record = tmp_path / "run.jsonl"
    run = start_live(directory, "--jb-live-stall-after", "2", "--jb-live-record", str(record),
                     env={"JB_TEST_GATE_DIR": str(gates), "GITHUB_ACTIONS": "true",
                          "GITHUB_STEP_SUMMARY": str(summary)})
    alerts = asyncio.run(two_alerts(run.ws_url(), gates))
    check_alerts(alerts, "main")
    assert run.wait(TIMEOUT) == 0, run.output
    # An annotation per alert, printed while the test still ran (before its result).
    warnings = [line for line in run.lines if line.startswith("::warning title=Stalled test::")]
    assert len(warnings) >= 2, run.output
    assert SLEEPS in warnings[0] and SLEEPER in warnings[0]
    assert run.output.index("::warning") < run.output.index("test_sleeps PASSED") \
        if "test_sleeps PASSED" in run.output else True
    text = summary.read_text()
    assert "#### Stalled tests (1)" in text and SLEEPS in text, text
    recorded = [json.loads(line) for line in record.read_text().splitlines()]
    assert len(stalled(recorded, SLEEPS)) >= 2


def test_off_means_no_alert(tmp_path: Path, start_live: Any) -> None:
    directory, gates = suite(tmp_path)
    (gates / "spins").touch()
    run = start_live(directory, "--jb-live-stall-after", "off", "-k", "sleeps",
                     env={"JB_TEST_GATE_DIR": str(gates)})

    async def watch() -> list[dict[str, Any]]:
        stacks = StackViewer(await Viewer.connect(run.ws_url()))
        await stacks.started(SLEEPS)
        await asyncio.sleep(4)  # past where "2" would have alerted twice
        (gates / "sleeps").touch()
        await stacks.until(lambda m: m.get("type") == "session_finished")
        await stacks.viewer.close()
        return stacks.viewer.messages

    messages = asyncio.run(watch())
    assert not stalled(messages, SLEEPS)
    assert run.wait(TIMEOUT) == 0
    assert "STALLED" not in run.output


def test_an_xdist_worker_stalls(tmp_path: Path, start_live: Any) -> None:
    directory, gates = suite(tmp_path)
    run = start_live(directory, "-n", "2", "--dist", "loadfile", "--jb-live-stall-after", "2",
                     env={"JB_TEST_GATE_DIR": str(gates)})
    alerts = asyncio.run(two_alerts(run.ws_url(), gates))
    check_alerts(alerts)
    assert alerts[0]["worker"] in ("gw0", "gw1")
    assert run.wait(TIMEOUT) == 0, run.output
    assert f"jb-live: stalled: {SLEEPS}" in run.output


def test_a_hub_shard_stalls(tmp_path: Path, running: list[Any]) -> None:
    hub = HubProcess(tmp_path / "data")
    running.append(hub)
    directory, gates = suite(tmp_path)
    shard = Shard(directory, hub.url, "--jb-live-stall-after", "2", run_id="stalling",
                  env={"JB_TEST_GATE_DIR": str(gates)})
    running.append(shard)
    deadline = time.monotonic() + 60
    while "stalling" not in hub.runs():
        assert time.monotonic() < deadline, shard.text
        time.sleep(0.05)
    alerts = asyncio.run(two_alerts(hub.viewer_url("stalling"), gates))
    check_alerts(alerts, "main")
    assert alerts[0]["shard"]
    assert shard.wait(TIMEOUT) == 0, shard.text


# -- the rule ---------------------------------------------------------------------------


def test_thresholds() -> None:
    assert stall_threshold("off", 3.0) is None
    assert stall_threshold(2.5, 100.0) == 2.5
    assert stall_threshold("auto", None) == STALL_NO_HISTORY
    assert stall_threshold("auto", 0.001) == STALL_MIN
    assert stall_threshold("auto", 30.0) == STALL_FACTOR * 30.0


def test_alerts_at_the_threshold_then_each_doubling() -> None:
    now = [100.0]
    watch = StallWatch(5.0, clock=lambda: now[0])
    watch.observe({"type": "test_started", "test_id": "a", "worker": "gw1"})
    watch.observe({"type": "test_started", "test_id": "b"})
    assert watch.due() == [] and watch.seconds_to_next() == 5.0
    now[0] = 105.5
    assert [(s.test.test_id, s.test.worker) for s in watch.due()] == [("a", "gw1"), ("b", "main")]
    assert watch.due() == []
    watch.observe({"type": "test_completed", "test_id": "b"})
    now[0] = 110.0
    assert [s.running_for for s in watch.due()] == [10.0]
    now[0] = 150.0  # past 20 and 40 at once: one alert, next at 80
    assert len(watch.due()) == 1 and watch.seconds_to_next() == 30.0
    watch.observe({"type": "session_finished"})
    assert watch.seconds_to_next() is None


@pytest.mark.parametrize("setting", ["off", None])
def test_off_watches_nothing(setting: str | None) -> None:
    watch = StallWatch(setting, clock=lambda: 0.0)
    watch.observe({"type": "test_started", "test_id": "a"})
    assert watch.seconds_to_next() is None and not watch.enabled


def test_the_description_names_where_it_is() -> None:
    line = describe_stall({"test_id": "t.py::test_x", "worker": "gw0", "running_for": 61.2,
                           "threshold": 60, "threads": [{"current": True, "frames": [
                               {"function": "wait", "file": "/a/t.py", "line": 9}]}]})
    assert line == ("t.py::test_x has run 61 s on gw0, past its stall threshold of 60 s; "
                    "now in wait (/a/t.py:9)")
