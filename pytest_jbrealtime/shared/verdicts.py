"""What a test's recent results say about its result now: the ``history`` of ``test_completed``.

Pure: no pytest, no I/O. The plugin (from pytest's cache, history.py) and the hub (from
its database) both hand it the earlier results and publish what it returns, so the
rules are written once.

Earlier results are handed over as one letter each (``RESULT_LETTERS``), newest first:
the verdict runs once per test on pytest's thread, and string operations on a short
string cost a fraction of a loop over dicts (docs/benchmarks.md, history).
"""

from __future__ import annotations

from collections.abc import Sequence

# The wire types (Verdict, PastResult, HistoryInfo) live with the other events.
from pytest_jbrealtime.protocol.constants import FAILURE_RESULTS
from pytest_jbrealtime.protocol.events import HistoryInfo, PastResult, Verdict

# The results a history keeps, one letter each. "rerun" is an attempt, not a result.
RESULT_LETTERS = {
    "passed": "P", "failed": "F", "error": "E", "skipped": "S",
    "xfailed": "x", "xpassed": "X", "crashed": "C",
}
LETTER_RESULTS = {letter: result for result, letter in RESULT_LETTERS.items()}
# Results that count as the test failing ("0") / working ("1"); the others (a skip)
# say nothing about it and are left out of the comparisons.
FAILING = FAILURE_RESULTS
WORKING = frozenset({"passed", "xfailed", "xpassed"})
_STATES = str.maketrans(
    {RESULT_LETTERS[r]: ("0" if r in FAILING else "1" if r in WORKING else None)
     for r in RESULT_LETTERS}
)

# "slower": at least this many times its median and at least this much more (seconds).
SLOWER_FACTOR = 2.0
SLOWER_MARGIN = 0.5
# "flaky": its outcome changed at least this often over now and the recent results.
FLAKY_FLIPS = 2
# Earlier results sent with each test_completed (the store keeps more, for flips).
RECENT_IN_EVENT = 10



def letters(results: Sequence[str]) -> str:
    """Results as letters; one the history does not keep becomes a skip's (neutral)."""
    return "".join(RESULT_LETTERS.get(r, "S") for r in results)


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


def flips(results: str) -> int:
    """How often the outcome changed between working and failing, over result letters."""
    states = results.translate(_STATES)
    # "01" and "10" never overlap themselves, so counting each finds every change.
    return states.count("01") + states.count("10")


def verdict(
    result: str,
    duration: float,
    earlier: str,
    median_passed: float | None,
    *,
    passed_on_rerun: bool = False,
) -> Verdict:
    """The verdict for ``result`` now, given the earlier results as letters (newest
    first) and the median duration of the earlier runs that passed."""
    if not earlier:
        return "new_test"
    if result == "passed" and passed_on_rerun:
        return "flaky"
    now = RESULT_LETTERS.get(result, "S")
    states = earlier.translate(_STATES)
    if flips(now + earlier) >= FLAKY_FLIPS:
        return "flaky"
    last_failed = states[:1] == "0"
    if result in FAILING:
        return "known_failure" if last_failed else "new_failure"
    if result in WORKING and last_failed:
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
        "verdict": verdict(result, duration, letters([p["result"] for p in recent]),
                           median_passed, passed_on_rerun=passed_on_rerun),
        "recent": list(recent[:RECENT_IN_EVENT]),
        "median_duration": None if median_passed is None else round(median_passed, 6),
    }
