"""The system monitor: a psutil sampler that publishes ``system_status`` and ``resource_alert``.

It runs in the server process (``server/process.py``), never in pytest's: sampling
there costs the tests no GIL time. It watches the pytest process tree by pid (passed
in the server's config frame), so xdist workers, browsers and their drivers count.
``active_tests`` and ``queue_size`` come from the event log itself, read with a
cursor like a viewer's. Every psutil call is guarded: a process that vanished or a
permission error makes a field ``null`` for one sample, never ends the sampler.

psutil is imported only inside the sampler (``sampler.py``). The pytest side needs only
the sampler's configuration (``monitor_config.py``, kept apart so that pytest does not
import asyncio and a thread pool for it).
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Literal

from pytest_jbrealtime.protocol.events import MachineSample, ResourceAlert, SystemStatus
from pytest_jbrealtime.server.sampler import SystemSampler
from pytest_jbrealtime.shared.log import EventLog, LoggedEvent
from pytest_jbrealtime.shared.monitor_config import CPU_SUSTAIN_SECONDS as CPU_SUSTAIN_SECONDS
from pytest_jbrealtime.shared.monitor_config import NO_CRITICAL as NO_CRITICAL
from pytest_jbrealtime.shared.monitor_config import MonitorConfig as MonitorConfig

# The sample's fields an alert watches.
UsageKey = Literal["cpu_usage", "memory_usage", "disk_usage"]

# -- progress from the log -------------------------------------------------------------


class RunProgress:
    """Tests running now and tests not started yet, read from the event log."""

    def __init__(self) -> None:
        self.cursor = 0
        self.total = 0
        self.started: set[str] = set()
        self.running: set[str] = set()

    def read(self, log: EventLog) -> None:
        while True:
            entries = log.read_after(self.cursor, 10_000)
            if not entries:
                return
            self.apply(entries)
            self.cursor += len(entries)

    def apply(self, entries: Iterable[LoggedEvent]) -> None:
        for entry in entries:
            # Read from what the log keeps beside the text: the sampler parses only
            # the one event that needs it (an older event's dict is parsed back).
            kind = entry.type
            if kind == "test_started" and entry.test_id is not None:
                self.started.add(entry.test_id)
                self.running.add(entry.test_id)
            elif kind == "test_completed" and entry.test_id is not None:
                self.running.discard(entry.test_id)
            elif kind == "collection_finished":
                self.total = int(entry.event.get("total") or 0)
            elif kind == "session_finished":
                self.running.clear()

    @property
    def active_tests(self) -> int:
        return len(self.running)

    @property
    def queue_size(self) -> int:
        return max(0, self.total - len(self.started))


# -- alerts with hysteresis ----------------------------------------------------------------


class AlertTracker:
    """One alert type: raises once per crossing, resolves once below a lower line.

    Raised at ``warning`` (or ``critical``); a value at or above critical while only a
    warning is raised raises again as critical. Nothing more until the value falls
    ``hysteresis`` points below the warning line, which sends one ``resolved``. A value
    hovering at a line therefore gives one alert, not a storm.
    """

    NONE, WARNING, CRITICAL = 0, 1, 2
    SEVERITY: ClassVar[dict[int, str]] = {WARNING: "warning", CRITICAL: "critical"}

    def __init__(
        self,
        alert_type: str,
        what: str,
        warning: float,
        critical: float,
        hysteresis: float,
        sustain_samples: int = 1,
    ) -> None:
        self.alert_type = alert_type
        self.what = what
        self.warning = warning
        self.critical = critical
        self.hysteresis = hysteresis
        self.sustain_samples = max(1, sustain_samples)
        self.level = self.NONE
        self._above = 0  # consecutive samples at or above the warning line

    def observe(self, value: float | None) -> ResourceAlert | None:
        """The ``resource_alert`` fields this value causes, if any."""
        if value is None:
            return None
        self._above = self._above + 1 if value >= self.warning else 0
        sustained = self._above >= self.sustain_samples
        if sustained and value >= self.critical and self.level < self.CRITICAL:
            self.level = self.CRITICAL
            return self._alert("raised", value, self.critical)
        if sustained and self.level == self.NONE:
            self.level = self.WARNING
            return self._alert("raised", value, self.warning)
        if self.level == self.CRITICAL and value < self.critical - self.hysteresis:
            # Quietly back to warning, so that a new crossing of critical is news again.
            self.level = self.WARNING
        if self.level != self.NONE and value < self.warning - self.hysteresis:
            severity = self.SEVERITY[self.level]
            self.level = self.NONE
            return {
                "alert_type": self.alert_type,
                "severity": severity,
                "state": "resolved",
                "message": f"{self.what} back to {value:.1f}% "
                f"(below {self.warning - self.hysteresis:g}%)",
                "value": round(value, 1),
                "threshold": self.warning,
            }
        return None

    def _alert(self, state: str, value: float, threshold: float) -> ResourceAlert:
        return {
            "alert_type": self.alert_type,
            "severity": self.SEVERITY[self.level],
            "state": state,
            "message": f"{self.what} at {value:.1f}% (threshold {threshold:g}%)",
            "value": round(value, 1),
            "threshold": threshold,
        }


class SystemMonitor:
    """Samples every ``interval`` seconds and appends the events to the log."""

    def __init__(
        self,
        config: MonitorConfig,
        log: EventLog,
        psutil_module: Any = None,
        report: Callable[[str], None] | None = None,
        on_status: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.config = config
        self.log = log
        self._on_status = on_status
        self.progress = RunProgress()
        self._report = report or (lambda text: print(text, file=sys.stderr, flush=True))
        self._reported: set[str] = set()
        self.sampler = SystemSampler(
            config.pytest_pid, config.disk_paths, psutil_module, on_error=self._note_error
        )
        sustain = max(1, math.ceil(config.cpu_sustain_seconds / config.interval))
        self.alerts: dict[UsageKey, AlertTracker] = {
            "cpu_usage": AlertTracker("high_cpu", "CPU", *config.cpu_alert,
                                      config.hysteresis, sustain),
            "memory_usage": AlertTracker("high_memory", "memory", *config.memory_alert,
                                         config.hysteresis),
            "disk_usage": AlertTracker("disk_space", "disk", *config.disk_alert,
                                       config.hysteresis),
        }
        self.samples = 0
        self.latest: dict[str, Any] | None = None

    def _note_error(self, what: str, exc: BaseException) -> None:
        # Once per kind of failure: a process that keeps denying access must not fill the log.
        key = f"{what}: {type(exc).__name__}"
        if key not in self._reported:
            self._reported.add(key)
            self._report(f"jb-live monitor: {key}: {exc} (sampling goes on)")

    def events_for(self, fields: MachineSample) -> list[dict[str, Any]]:
        """The raw events (for ``EventLog.extend``) of one sample."""
        now = time.time()
        status: SystemStatus = {
            **fields,
            "active_tests": self.progress.active_tests,
            "queue_size": self.progress.queue_size,
            "interval": self.config.interval,
            "sampler_errors": self.sampler.errors,
        }
        events: list[dict[str, Any]] = [{"type": "system_status", "ts": now, **status}]
        for key, tracker in self.alerts.items():
            alert = tracker.observe(fields.get(key))
            if alert is not None:
                if key == "disk_usage":
                    alert["message"] += f" on {fields.get('disk_path')}"
                events.append({"type": "resource_alert", "ts": now, **alert})
        return events

    def tick_fields(self) -> MachineSample:
        return self.sampler.sample()

    @property
    def done(self) -> bool:
        # session_finished is the last event of a run: nothing may follow it.
        return self.log.finished or self.log.closed

    def record(self, fields: MachineSample) -> None:
        """Append one sample's events (on the loop's thread, like every log append)."""
        if self.done:
            return
        self.progress.read(self.log)
        events = self.events_for(fields)
        self.latest = events[0]
        self.samples += 1
        self.log.extend(events)
        if self._on_status is not None:
            self._on_status(self.log.read_after(len(self.log) - len(events), 1)[0].event)

    async def run(self) -> None:
        """Sample until cancelled. Sampling runs in a thread, so the loop keeps serving."""
        loop = asyncio.get_running_loop()
        # One thread of its own: psutil's CPU clock is per thread, and the default
        # executor may hand a sample to a thread that never took the previous one.
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jb-live-monitor")
        try:
            await loop.run_in_executor(executor, self.sampler.prime)
            await self._sample_every_interval(loop, executor)
        finally:
            executor.shutdown(wait=False)

    async def _sample_every_interval(
        self, loop: asyncio.AbstractEventLoop, executor: ThreadPoolExecutor
    ) -> None:
        next_at = loop.time()
        while True:
            # Fixed rate, not fixed delay; after a stall, skip ahead rather than burst.
            next_at += self.config.interval
            now = loop.time()
            if next_at < now:
                next_at = now
            await asyncio.sleep(next_at - now)
            if self.done:
                return
            try:
                fields = await loop.run_in_executor(executor, self.tick_fields)
                self.record(fields)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let one bad sample end the sampler
                self._note_error("sample", exc)
