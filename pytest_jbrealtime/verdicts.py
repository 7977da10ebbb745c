"""What a test's recent results say about its result now: the ``history`` of ``test_completed``.

Pure: no pytest, no I/O. The plugin (from pytest's cache, history.py) and the hub (from
its database) both hand it the earlier results and publish what it returns, so the
rules are written once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypedDict

Verdict = Literal[
    "new_test", "new_failure", "known_failure", "fixed", "flaky", "slower", "stable"
]
VERDICTS: tuple[Verdict, ...] = (
    "new_test", "new_failure", "known_failure", "fixed", "flaky", "slower", "stable"
)

# Results that count as the test failing / working; any other (skipped, rerun, an
# unknown plugin's) says nothing about it and is left out of the comparisons.
FAILING = frozenset({"failed", "error", "crashed"})
WORKING = frozenset({"passed", "xfailed", "xpassed"})

# "slower": at least this many times its median and at least this much more (seconds).
SLOWER_FACTOR = 2.0
SLOWER_MARGIN = 0.5
# "flaky": its outcome changed at least this often over now and the recent results.
FLAKY_FLIPS = 2
# Earlier results sent with each test_completed (the store keeps more, for flips).
RECENT_IN_EVENT = 10


class PastResult(TypedDict):
    """One earlier run of a test."""

    result: str
    duration: float


class HistoryInfo(TypedDict):
    """``test_completed.history`` (docs/protocol.md)."""

    verdict: Verdict
    recent: list[PastResult]
    median_duration: float | None


def median_duration(recent: Sequence[PastResult]) -> float | None:
    """The median duration of the earlier runs that passed (None if none did)."""
    durations = sorted(p["duration"] for p in recent if p["result"] == "passed")
    if not durations:
        return None
    middle = len(durations) // 2
    if len(durations) % 2:
        return durations[middle]
    return (durations[middle - 1] + durations[middle]) / 2


def flips(results: Sequence[str]) -> int:
    """How often the outcome changed between working and failing (others skipped)."""
    count = 0
    previous: bool | None = None
    for result in results:
        if result in FAILING:
            state = False
        elif result in WORKING:
            state = True
        else:
            continue
        if previous is not None and state != previous:
            count += 1
        previous = state
    return count


def verdict(
    result: str,
    duration: float,
    recent: Sequence[PastResult],
    *,
    passed_on_rerun: bool = False,
    median: float | None = None,
) -> Verdict:
    """The verdict for ``result`` given ``recent`` (earlier results, newest first).

    ``median`` is ``median_duration(recent)`` when the caller has it already.
    """
    if not recent:
        return "new_test"
    if result == "passed" and passed_on_rerun:
        return "flaky"
    if flips([result, *(p["result"] for p in recent)]) >= FLAKY_FLIPS:
        return "flaky"
    last = next((p["result"] for p in recent if p["result"] in FAILING | WORKING), None)
    if result in FAILING:
        return "known_failure" if last in FAILING else "new_failure"
    if result in WORKING and last in FAILING:
        return "fixed"
    if result == "passed":
        if median is None:
            median = median_duration(recent)
        if (median is not None and duration >= SLOWER_FACTOR * median
                and duration - median >= SLOWER_MARGIN):
            return "slower"
    return "stable"


def history_info(
    result: str, duration: float, recent: Sequence[PastResult], *, passed_on_rerun: bool = False
) -> HistoryInfo:
    """The ``history`` field of a ``test_completed`` event."""
    median = median_duration(recent)
    return {
        "verdict": verdict(result, duration, recent, passed_on_rerun=passed_on_rerun,
                           median=median),
        "recent": list(recent[:RECENT_IN_EVENT]),
        "median_duration": None if median is None else round(median, 6),
    }
