"""Stall alerts: a test running past its threshold gets a ``test_stalled`` event.

The rule (``--jb-live-stall-after``, docs/protocol.md):

- ``SECONDS``: that, for every test;
- ``auto`` (the default): ``STALL_FACTOR`` times the test's duration in the last run
  that recorded it (``estimated_duration`` of its ``test_started``, from the plugin's
  history), never under ``STALL_MIN`` seconds; ``STALL_NO_HISTORY`` seconds for a test
  with no history (docs/benchmarks.md, *Stall rule*, for why these numbers);
- ``off``: no alerts.

An alert fires at the threshold and again, with a fresh stack, each time the test's
running time doubles (2, 4 … times the threshold). :class:`StallWatch` is the rule and
the clock only; whoever serves the run drives it — the run's server process
(``server/process.py``), or on a hub run the producer's thread in pytest
(``pytest_side/hub_producer.py``) — since both already see every event go by and can reach the
test's process (``stack_responder.py``).
Nothing in the test process wakes for it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from typing import Any

from pytest_jbrealtime.shared.unpatched import clock as _clock
from pytest_jbrealtime.shared.unpatched import system

STALL_FACTOR = 10.0
STALL_MIN = 10.0
STALL_NO_HISTORY = 60.0


def stall_threshold(setting: float | str | None, estimated: object) -> float | None:
    """The test's threshold in seconds under ``setting``, or None (``off``)."""
    if setting is None or setting == "off":
        return None
    if isinstance(setting, (int, float)):
        return float(setting)
    if isinstance(estimated, (int, float)) and not isinstance(estimated, bool) and estimated > 0:
        return max(STALL_MIN, STALL_FACTOR * float(estimated))
    return STALL_NO_HISTORY


@dataclass(frozen=True)
class RunningTest:
    """Where a running test runs: its worker (``main``, ``gw0`` …) and, on a hub, shard."""

    test_id: str
    worker: str
    shard: str | None


@dataclass
class Watched:
    test: RunningTest
    started: float
    threshold: float
    next_alert: float  # seconds of running time


@dataclass(frozen=True)
class Stall:
    test: RunningTest
    running_for: float
    threshold: float


class StallWatch:
    """Running tests and when each is next due an alert."""

    def __init__(self, setting: float | str | None, clock: Any = None) -> None:
        self.setting = setting
        # The unpatched clock (unpatched.py): a test's frozen time must not freeze this.
        self._clock = clock or _clock.monotonic
        self._running: dict[str, Watched] = {}

    @property
    def enabled(self) -> bool:
        return self.setting not in (None, "off")

    def observe(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        test_id = event.get("test_id")
        if kind == "test_started" and isinstance(test_id, str):
            threshold = stall_threshold(self.setting, event.get("estimated_duration"))
            if threshold is None:
                return
            shard = event.get("shard")
            test = RunningTest(test_id, str(event.get("worker") or "main"),
                               shard if isinstance(shard, str) else None)
            self._running[test_id] = Watched(test, self._clock(), threshold, threshold)
        elif kind == "test_completed" and isinstance(test_id, str):
            self._running.pop(test_id, None)
        elif kind in ("session_finished", "shard_finished"):
            self._running.clear()

    def due(self) -> list[Stall]:
        """The tests due an alert now; each is then due again when its time doubles."""
        now = self._clock()
        stalls = []
        for watched in self._running.values():
            running_for = now - watched.started
            if running_for >= watched.next_alert:
                stalls.append(Stall(watched.test, running_for, watched.threshold))
                while watched.next_alert <= running_for:
                    watched.next_alert *= 2
        return stalls

    def seconds_to_next(self) -> float | None:
        """How long until the next alert is due (None: nothing is watched)."""
        if not self._running:
            return None
        now: float = self._clock()
        return max(0.0, min(w.started + w.next_alert - now for w in self._running.values()))


def stalled_event(stall: Stall, answer: dict[str, Any]) -> dict[str, Any]:
    """The ``test_stalled`` event (unstamped) for ``stall`` with the process's answer."""
    event: dict[str, Any] = {
        "type": "test_stalled",
        "test_id": stall.test.test_id,
        "worker": stall.test.worker,
        "running_for": round(stall.running_for, 3),
        "threshold": round(stall.threshold, 3),
        "threads": [],
    }
    if "error" in answer:
        event["stack_error"] = str(answer["error"])[:500]
    elif answer.get("test_id") not in (None, stall.test.test_id):
        event["stack_error"] = "the test finished while its stack was taken"
    else:
        event["threads"] = answer.get("threads", [])
        event["taken_at"] = answer.get("taken_at")
    return event


def describe_stall(event: dict[str, Any]) -> str:
    """One line for people: the terminal, a CI annotation, the job summary."""
    where = f" on {event['worker']}" if event.get("worker") not in (None, "main") else ""
    innermost = ""
    current = [t for t in event.get("threads") or [] if t.get("current")]
    if current and current[0].get("frames"):
        frame = current[0]["frames"][-1]
        innermost = f"; now in {frame.get('function')} ({frame.get('file')}:{frame.get('line')})"
    return (f"{event.get('test_id')} has run {event.get('running_for', 0):.0f} s{where}, past "
            f"its stall threshold of {event.get('threshold', 0):g} s{innermost}")


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


class StallNotices:
    """In the run's pytest process: stall alerts as they come, told at once, kept for the end.

    They come from another thread (the stack responder's, or the hub link's) while a
    test runs with its output captured: the line goes to a copy of pytest's own stdout
    taken before any test (``os.dup(1)`` at configure time), so it reaches the terminal
    or the CI log now, not when the test ends (or never, if the job is killed). Under
    GitHub Actions it is a ``::warning`` annotation.
    """

    def __init__(self, github: bool) -> None:
        self.github = github
        self._lock = threading.Lock()
        # test id -> its latest alert, in the order the tests first stalled
        self.latest: dict[str, dict[str, Any]] = {}
        try:
            self._fd = os.dup(1)
        except OSError:
            self._fd = -1

    def note(self, event: dict[str, Any]) -> None:
        if not isinstance(event, dict) or not isinstance(event.get("test_id"), str):
            return
        with self._lock:
            self.latest[event["test_id"]] = event
        text = describe_stall(event)
        # On a line of its own: pytest may be mid-line (its progress dots), and a
        # workflow command counts only at the start of a line.
        if self.github:
            line = f"\n::warning title=Stalled test::{_escape_data(text)}\n"
        else:
            line = f"\njb-live: STALLED {text} (its stack is in the viewer)\n"
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                system.write(self._fd, line.encode("utf-8", "replace"))

    def summary_lines(self) -> list[str]:
        with self._lock:
            return [describe_stall(event) for event in self.latest.values()]

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                system.close(fd)
