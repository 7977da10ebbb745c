"""The system monitor: system_status samples and resource alerts, from real runs and units."""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import textwrap
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import pytest

from pytest_jbrealtime.server.monitor import (
    AlertTracker,
    MonitorConfig,
    RunProgress,
    SystemMonitor,
)
from pytest_jbrealtime.server.sampler import SystemSampler
from pytest_jbrealtime.shared.log import EventLog
from tests.monitor_support import WAIT_FOR_FILE, follow_sync, signal
from tests.support import LiveProcess, Watched, watch_sync

StartLive = Callable[..., LiveProcess]
SUBSCRIBE_MONITOR = [{"type": "subscribe", "group": "system_monitor"}]


def epoch(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()


def statuses(watched: Watched) -> list[dict[str, Any]]:
    return watched.of_type("system_status")


# -- real runs ----------------------------------------------------------------------------


def test_system_status_at_interval_with_plausible_values(
    suite_dir: pytest.Pytester, start_live: StartLive
) -> None:
    """A test that starts a subprocess; the samples see it, the tests, and the interval."""
    suite_dir.makepyfile(
        test_busy=WAIT_FOR_FILE + textwrap.dedent(
            """
            import subprocess, sys

            def test_with_child():
                child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                                         stdin=subprocess.PIPE)
                try:
                    wait_for_file("enough")
                finally:
                    child.stdin.close()
                    child.wait()

            def test_after():
                pass
            """
        )
    )
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1",
                     "--jb-live-monitor-interval", "0.2",
                     env={"SIGNAL_DIR": str(suite_dir.path)})
    during_test: list[dict[str, Any]] = []

    def on_event(event: dict[str, Any], watched: Watched) -> None:
        if event["type"] != "system_status" or event["active_tests"] != 1:
            return
        during_test.append(event)
        # pytest, the server process and the test's child: the tree has at least 3.
        if len([e for e in during_test if e["process_count"] >= 3]) >= 10:
            signal(suite_dir.path, "enough")

    watched = follow_sync(run.ws_url(), on_event, first_messages=SUBSCRIBE_MONITOR)
    assert run.wait() == 0, run.output
    assert watched.seqs == list(range(1, len(watched.events) + 1))
    assert watched.events[-1]["type"] == "session_finished"

    samples = statuses(watched)
    times = [epoch(s) for s in samples]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert 0.15 <= statistics.median(gaps) <= 0.3, gaps
    total_memory = psutil.virtual_memory().total
    for sample in samples:
        assert 0 <= sample["cpu_usage"] <= 100
        assert 0 < sample["memory_usage"] < 100
        assert sample["process_count"] >= 2
        assert 10 * 2**20 < sample["process_rss"] < total_memory
        assert sample["process_cpu"] >= 0
        assert sample["open_files"] > 3
        assert sample["disk_free"] > 0
        assert 0 < sample["disk_usage"] < 100
        assert sample["interval"] == 0.2
        assert sample["sampler_errors"] == 0
    with_child = [e for e in during_test if e["process_count"] >= 3]
    assert len(with_child) >= 10
    assert {(e["active_tests"], e["queue_size"]) for e in with_child} == {(1, 1)}


def test_xdist_workers_are_in_the_process_tree(
    suite_dir: pytest.Pytester, start_live: StartLive
) -> None:
    suite_dir.makepyfile(
        test_par=WAIT_FOR_FILE + "def test_a():\n    wait_for_file('seen')\n"
        "def test_b():\n    wait_for_file('seen')\n"
    )
    run = start_live(suite_dir.path, "-n", "2", "--jb-live-wait-viewers", "1",
                     "--jb-live-monitor-interval", "0.2",
                     env={"SIGNAL_DIR": str(suite_dir.path)})
    biggest = 0

    def on_event(event: dict[str, Any], watched: Watched) -> None:
        nonlocal biggest
        if event["type"] == "system_status":
            biggest = max(biggest, event["process_count"])
            # pytest, its server and two workers.
            if event["process_count"] >= 4:
                signal(suite_dir.path, "seen")

    follow_sync(run.ws_url(), on_event, first_messages=SUBSCRIBE_MONITOR)
    assert run.wait() == 0, run.output
    assert biggest >= 4


def test_memory_past_a_low_threshold_alerts_once_and_resolves_once(
    suite_dir: pytest.Pytester, start_live: StartLive
) -> None:
    memory = psutil.virtual_memory()
    # A line a little above today's use, and a test that allocates well past it.
    warning = round(memory.percent + 4, 1)
    allocate = int(memory.total * 0.10)
    suite_dir.makepyfile(
        test_memory=WAIT_FOR_FILE + textwrap.dedent(
            f"""
            def test_allocates():
                blob = b"x" * {allocate}  # written, so the pages are really resident
                wait_for_file("raised")
                del blob
                wait_for_file("resolved")
            """
        )
    )
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1",
                     "--jb-live-monitor-interval", "0.2",
                     "--jb-live-alert-memory", str(warning),
                     "--jb-live-alert-hysteresis", "2",
                     env={"SIGNAL_DIR": str(suite_dir.path)})

    def on_event(event: dict[str, Any], watched: Watched) -> None:
        if event["type"] == "resource_alert" and event["alert_type"] == "high_memory":
            signal(suite_dir.path, event["state"])

    watched = follow_sync(run.ws_url(), on_event, first_messages=SUBSCRIBE_MONITOR)
    assert run.wait() == 0, run.output
    alerts = [e for e in watched.of_type("resource_alert") if e["alert_type"] == "high_memory"]
    assert [(a["state"], a["severity"]) for a in alerts] == [
        ("raised", "warning"), ("resolved", "warning")
    ], alerts
    raised, resolved = alerts
    assert raised["value"] >= warning and raised["threshold"] == warning
    assert resolved["value"] < warning - 2
    assert raised["message"].startswith("memory at ")
    assert f"(threshold {warning:g}%)" in raised["message"]
    # The status samples around the alert agree with it.
    peak = max(s["memory_usage"] for s in statuses(watched))
    assert peak >= warning


def test_monitor_off_sends_no_samples(suite_dir: pytest.Pytester, start_live: StartLive) -> None:
    suite_dir.makepyfile(test_a="def test_ok(): pass\n")
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1",
                     "--jb-live-monitor-interval", "0")
    watched = watch_sync(run.ws_url(), first_messages=SUBSCRIBE_MONITOR)
    assert run.wait() == 0
    assert watched.of_type("test_completed")
    assert statuses(watched) == []


@pytest.mark.parametrize(
    ("option", "value", "complaint"),
    [
        ("--jb-live-alert-memory", "120", "0 < WARNING <= CRITICAL <= 100"),
        ("--jb-live-alert-cpu", "95,90", "0 < WARNING <= CRITICAL <= 100"),
        ("--jb-live-alert-disk", "lots", "WARNING,CRITICAL"),
        ("--jb-live-monitor-interval", "0.001", "0 (off) or a number >= 0.05"),
    ],
)
def test_bad_monitor_options_are_usage_errors(
    suite_dir: pytest.Pytester, option: str, value: str, complaint: str
) -> None:
    suite_dir.makepyfile(test_a="def test_ok(): pass\n")
    result = suite_dir.runpytest_subprocess("--jb-live", "--jb-live-port", "0", option, value)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{option}: invalid value '{value}'*{complaint}*"])


def test_thresholds_from_ini(suite_dir: pytest.Pytester) -> None:
    suite_dir.makeini(
        "[pytest]\naddopts = -p no:cacheprovider\n"
        "jb_live_alert_memory = 70,80\njb_live_monitor_interval = 2.5\n"
    )
    suite_dir.makeconftest(
        textwrap.dedent(
            """
            def pytest_configure(config):
                from pytest_jbrealtime.shared.settings import load_settings
                s = load_settings(config)
                print("settings", s.jb_live_alert_memory, s.jb_live_monitor_interval,
                      s.jb_live_alert_cpu)
            """
        )
    )
    result = suite_dir.runpytest_subprocess("-s")
    result.stdout.fnmatch_lines(["settings (70.0, 80.0) 2.5 (90.0, 98.0)"])


# -- units: alerts ----------------------------------------------------------------------------


def feed(tracker: AlertTracker, values: list[float]) -> list[tuple[str, str]]:
    alerts = [tracker.observe(v) for v in values]
    return [(a["state"], a["severity"]) for a in alerts if a is not None]


def test_value_hovering_at_the_line_gives_one_alert() -> None:
    tracker = AlertTracker("high_memory", "memory", 80, 95, hysteresis=5)
    hovering = [79.9, 80.0, 79.5, 80.5, 78.0, 81.0, 76.0, 80.0]
    assert feed(tracker, hovering) == [("raised", "warning")]
    assert feed(tracker, [74.9]) == [("resolved", "warning")]
    assert feed(tracker, [74.0, 79.0]) == []
    assert feed(tracker, [80.0]) == [("raised", "warning")]


def test_critical_is_its_own_crossing() -> None:
    tracker = AlertTracker("disk_space", "disk", 80, 90, hysteresis=5)
    assert feed(tracker, [92.0]) == [("raised", "critical")]
    assert feed(tracker, [89.0, 91.0, 86.0]) == []  # hovering at critical: no storm
    assert feed(tracker, [84.0, 91.0]) == [("raised", "critical")]  # fell clear, crossed again
    assert feed(tracker, [85.0, 70.0]) == [("resolved", "warning")]  # quietly down, then clear
    assert feed(tracker, [82.0, 93.0]) == [("raised", "warning"), ("raised", "critical")]


def test_cpu_alert_needs_a_sustained_load() -> None:
    tracker = AlertTracker("high_cpu", "CPU", 90, float("inf"), hysteresis=5, sustain_samples=3)
    assert feed(tracker, [100, 100, 50, 100, 100]) == []
    assert feed(tracker, [100]) == [("raised", "warning")]
    assert tracker.observe(None) is None  # an unavailable value changes nothing
    assert feed(tracker, [10]) == [("resolved", "warning")]


def test_run_progress_from_the_log() -> None:
    log = EventLog("r" * 32)
    progress = RunProgress()
    log.extend([{"type": "collection_finished", "total": 3, "tests": [], "errors": []},
                {"type": "test_started", "test_id": "a"},
                {"type": "test_started", "test_id": "b"}])
    progress.read(log)
    assert (progress.active_tests, progress.queue_size) == (2, 1)
    log.extend([{"type": "test_completed", "test_id": "a", "result": "rerun"},
                {"type": "test_started", "test_id": "a"},
                {"type": "test_completed", "test_id": "a", "result": "passed"}])
    progress.read(log)
    assert (progress.active_tests, progress.queue_size) == (1, 1)


# -- units: a psutil that fails -------------------------------------------------------------


class Denied(Exception):
    """Stands in for psutil.AccessDenied."""


class Gone(Exception):
    """Stands in for psutil.NoSuchProcess."""


class FailingPsutil:
    """Every call raises, until ``healthy`` is set; then it answers like psutil."""

    def __init__(self) -> None:
        self.healthy = False
        self.calls = 0

    def _maybe_fail(self, error: type[Exception]) -> None:
        self.calls += 1
        if not self.healthy:
            raise error("no")

    def cpu_percent(self, interval: float | None = None) -> float:
        self._maybe_fail(RuntimeError)
        return 12.5

    def virtual_memory(self) -> Any:
        self._maybe_fail(Denied)
        return psutil.virtual_memory()

    def disk_usage(self, path: str) -> Any:
        self._maybe_fail(OSError)
        return psutil.disk_usage(path)

    def Process(self, pid: int) -> Any:  # psutil's name
        self._maybe_fail(Gone)
        return psutil.Process(pid)


def make_monitor(fake: FailingPsutil, interval: float = 0.05) -> tuple[SystemMonitor, EventLog]:
    log = EventLog("f" * 32)
    config = MonitorConfig(interval=interval, pytest_pid=os.getpid(),
                           disk_paths=(str(Path.cwd()),))
    reports: list[str] = []
    monitor = SystemMonitor(config, log, psutil_module=fake, report=reports.append)
    return monitor, log


def test_every_psutil_call_failing_gives_null_fields_not_an_error() -> None:
    fake = FailingPsutil()
    sampler = SystemSampler(os.getpid(), [str(Path.cwd())], psutil_module=fake)
    fields = sampler.sample()
    assert fields["cpu_usage"] is None and fields["memory_usage"] is None
    assert fields["process_rss"] is None and fields["disk_free"] is None
    assert fields["process_count"] == 0
    assert sampler.errors >= 4


def test_sampler_survives_failing_psutil_and_recovers() -> None:
    fake = FailingPsutil()
    monitor, log = make_monitor(fake)

    async def scenario() -> None:
        task = asyncio.create_task(monitor.run())
        await wait_for(lambda: monitor.samples >= 3)
        fake.healthy = True
        healthy_from = monitor.samples
        await wait_for(lambda: monitor.samples >= healthy_from + 3)
        assert not task.done()
        task.cancel()

    asyncio.run(scenario())
    samples = [e.event for e in log.read_after(0) if e.event["type"] == "system_status"]
    assert samples[0]["memory_usage"] is None and samples[0]["sampler_errors"] > 0
    assert samples[-1]["memory_usage"] is not None and samples[-1]["process_rss"] > 0
    assert samples[-1]["cpu_usage"] == 12.5


def test_sampler_survives_an_exception_outside_psutil() -> None:
    fake = FailingPsutil()
    fake.healthy = True
    monitor, log = make_monitor(fake)
    failures = 0

    def broken_sample() -> dict[str, Any]:
        nonlocal failures
        failures += 1
        raise ValueError("a bug in sampling")

    monitor.tick_fields = broken_sample  # type: ignore[method-assign]

    async def scenario() -> None:
        task = asyncio.create_task(monitor.run())
        await wait_for(lambda: failures >= 3)
        assert not task.done()
        task.cancel()

    asyncio.run(scenario())
    assert len(log) == 0


def test_no_sample_after_session_finished() -> None:
    fake = FailingPsutil()
    fake.healthy = True
    monitor, log = make_monitor(fake)

    async def scenario() -> None:
        task = asyncio.create_task(monitor.run())
        await wait_for(lambda: monitor.samples >= 2)
        log.extend([{"type": "session_finished", "exit_status": 0}])
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert log.read_after(len(log) - 1)[0].event["type"] == "session_finished"


async def wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
