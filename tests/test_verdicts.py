"""The verdict rules (pytest_jbrealtime/shared/verdicts.py), as pure functions."""

from __future__ import annotations

import pytest

from pytest_jbrealtime.protocol.events import PastResult
from pytest_jbrealtime.shared.verdicts import (
    RECENT_IN_EVENT,
    flips,
    history_info,
    letters,
    median_duration,
    verdict,
)


def past(*results: str, duration: float = 1.0) -> list[PastResult]:
    return [{"result": r, "duration": duration} for r in results]


@pytest.mark.parametrize(
    ("result", "recent", "expected"),
    [
        ("passed", [], "new_test"),
        ("failed", [], "new_test"),
        ("failed", past("passed", "passed"), "new_failure"),
        ("error", past("passed"), "new_failure"),
        ("crashed", past("passed"), "new_failure"),
        ("failed", past("failed", "failed"), "known_failure"),
        ("failed", past("error", "passed"), "known_failure"),
        ("passed", past("failed", "failed"), "fixed"),
        ("xfailed", past("failed"), "fixed"),
        ("passed", past("passed", "passed"), "stable"),
        ("skipped", past("passed"), "stable"),
        ("skipped", past("failed"), "stable"),
        # Skipped runs say nothing: "last time" is the last run that passed or failed.
        ("failed", past("skipped", "passed"), "new_failure"),
        ("failed", past("skipped", "failed"), "known_failure"),
        ("passed", past("skipped", "failed"), "fixed"),
        ("failed", past("skipped"), "new_failure"),
        # Flipped twice: now and in the recent runs.
        ("passed", past("failed", "passed"), "flaky"),
        ("failed", past("passed", "failed"), "flaky"),
        ("passed", past("passed", "failed", "passed"), "flaky"),
        ("passed", past("passed", "passed", "failed", "failed"), "stable"),
    ],
)
def test_verdict(result: str, recent: list[PastResult], expected: str) -> None:
    assert history_info(result, 1.0, recent)["verdict"] == expected


def test_passing_on_a_rerun_is_flaky() -> None:
    assert verdict("passed", 1.0, "P", 1.0, passed_on_rerun=True) == "flaky"
    # A test that failed every attempt is just failing.
    assert verdict("failed", 1.0, "P", 1.0, passed_on_rerun=True) == "new_failure"
    # Without history there is nothing to compare with: new first.
    assert verdict("passed", 1.0, "", None, passed_on_rerun=True) == "new_test"


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (2.0, "slower"),       # twice the median, 1 s more
        (1.99, "stable"),      # not quite twice
        (0.2, "stable"),
    ],
)
def test_slower_needs_twice_the_median(duration: float, expected: str) -> None:
    recent = past("passed", "passed", duration=1.0)
    assert history_info("passed", duration, recent)["verdict"] == expected


def test_slower_needs_half_a_second_more() -> None:
    fast = past("passed", "passed", "passed", duration=0.1)
    assert history_info("passed", 0.59, fast)["verdict"] == "stable"  # 5.9x, 0.49 s more
    assert history_info("passed", 0.6, fast)["verdict"] == "slower"


def test_slower_only_for_a_pass_and_against_passed_runs() -> None:
    assert verdict("failed", 9.0, "F", 1.0) == "known_failure"
    # A failure's duration (a timeout, say) is not the test's usual time.
    assert history_info("passed", 5.0, past("skipped", "passed", duration=0.0))["verdict"] == (
        "slower")
    assert history_info("passed", 5.0, past("skipped", "skipped"))["verdict"] == "stable"
    assert history_info("passed", 5.0, past("failed", duration=0.1))["verdict"] == "fixed"


def test_median_duration_of_passed_runs() -> None:
    recent: list[PastResult] = [
        {"result": "passed", "duration": 3.0},
        {"result": "failed", "duration": 100.0},
        {"result": "passed", "duration": 1.0},
        {"result": "passed", "duration": 2.0},
        {"result": "passed", "duration": 10.0},
    ]
    assert median_duration(recent) == 2.5
    assert median_duration(recent[:3]) == 2.0
    assert median_duration(past("failed")) is None
    assert median_duration([]) is None


def test_flips_ignore_skips_and_unknown_results() -> None:
    assert flips(letters(["passed", "skipped", "failed", "rerun", "passed"])) == 2
    assert flips(letters(["failed", "error", "crashed"])) == 0
    assert flips(letters(["xfailed", "failed", "xpassed"])) == 2
    assert flips("PFPFP") == 4
    assert flips("") == 0


def test_history_info_is_the_event_field() -> None:
    recent = past(*["passed"] * 20, duration=0.25)
    info = history_info("failed", 0.3, recent)
    assert info == {
        "verdict": "new_failure",
        "recent": recent[:RECENT_IN_EVENT],
        "median_duration": 0.25,
    }
    assert history_info("passed", 0.1, []) == {
        "verdict": "new_test", "recent": [], "median_duration": None,
    }
