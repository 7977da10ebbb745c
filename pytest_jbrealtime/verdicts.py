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
_TELLING = FAILING | WORKING

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


def median(durations: Sequence[float]) -> float | None:
    if not durations:
        return None
    ordered = sorted(durations)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def median_duration(recent: Sequence[PastResult]) -> float | None:
    """The median duration of the earlier runs that passed (None if none did)."""
    return median([p["duration"] for p in recent if p["result"] == "passed"])


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
    earlier: Sequence[str],
    median_passed: float | None,
    *,
    passed_on_rerun: bool = False,
) -> Verdict:
    """The verdict for ``result`` now, given the earlier results (newest first) and the
    median duration of the earlier runs that passed."""
    if not earlier:
        return "new_test"
    if result == "passed" and passed_on_rerun:
        return "flaky"
    if flips([result, *earlier]) >= FLAKY_FLIPS:
        return "flaky"
    last = next((r for r in earlier if r in _TELLING), None)
    if result in FAILING:
        return "known_failure" if last in FAILING else "new_failure"
    if result in WORKING and last in FAILING:
        return "fixed"
    if (result == "passed" and median_passed is not None
            and duration >= SLOWER_FACTOR * median_passed
            and duration - median_passed >= SLOWER_MARGIN):
        return "slower"
    return "stable"


def history_info(
    result: str,
    duration: float,
    recent: Sequence[PastResult],
    *,
    passed_on_rerun: bool = False,
) -> HistoryInfo:
    """The ``history`` field of a ``test_completed`` event."""
    median_passed = median_duration(recent)
    return {
        "verdict": verdict(result, duration, [p["result"] for p in recent], median_passed,
                           passed_on_rerun=passed_on_rerun),
        "recent": list(recent[:RECENT_IN_EVENT]),
        "median_duration": None if median_passed is None else round(median_passed, 6),
    }
