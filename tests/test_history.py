"""Local history (pytest_jbrealtime/pytest_side/history.py) in a real pytest cache, and whole runs.

The whole-run test is the issue's: three runs of one suite in which one test starts
failing, one keeps failing, one is fixed, one flips and one becomes slow.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_jbrealtime.pytest_side.history import (
    FORGET_AFTER_DAYS,
    HISTORY_KEY,
    KEEP_RESULTS,
    RunHistory,
    decode_entry,
    encode_entry,
)
from tests.history_support import STORY, SUITE
from tests.support import LiveProcess, watch_sync


@pytest.fixture
def cache(pytester: pytest.Pytester) -> pytest.Cache:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    config = pytester.parseconfigure()
    assert config.cache is not None
    return config.cache


def test_entry_round_trip() -> None:
    results = [{"result": "passed", "duration": 0.0123}, {"result": "crashed", "duration": 61.5},
               {"result": "xfailed", "duration": 1e-06}]
    assert decode_entry(encode_entry(20400, results)) == (20400, results)  # type: ignore[arg-type]
    assert decode_entry("20400 ") == (20400, [])
    for broken in ("", "x P 1", "20400 Q 1", "20400 P", "20400 PP 1", "20400 P one", 7, None):
        assert decode_entry(broken) == (0, [])


def test_results_accumulate_newest_first_and_bounded(cache: pytest.Cache) -> None:
    for run in range(KEEP_RESULTS + 5):
        history = RunHistory(cache)
        assert len(history.past("t::a")) == min(run, KEEP_RESULTS)
        history.record("t::a", "failed" if run % 2 else "passed", float(run), 0)
        history.save()
    past = RunHistory(cache).past("t::a")
    assert len(past) == KEEP_RESULTS
    assert [p["duration"] for p in past[:3]] == [24.0, 23.0, 22.0]
    assert [p["result"] for p in past[:3]] == ["passed", "failed", "passed"]
    assert RunHistory(cache).estimated_duration("t::a") == 24.0


def test_only_tests_that_ran_get_a_result(cache: pytest.Cache) -> None:
    first = RunHistory(cache)
    first.record("t::a", "passed", 0.1, 0)
    first.record("t::b", "failed", 0.2, 0)
    first.save()
    second = RunHistory(cache)  # a -k run: only b ran
    second.record("t::b", "passed", 0.3, 0)
    second.save()
    third = RunHistory(cache)
    assert third.past("t::a") == [{"result": "passed", "duration": 0.1}]
    assert [p["result"] for p in third.past("t::b")] == ["passed", "failed"]


def test_a_rerun_attempt_and_unknown_results_are_not_kept(cache: pytest.Cache) -> None:
    history = RunHistory(cache)
    history.record("t::a", "rerun", 0.1, 0)
    history.record("t::b", "subtests passed", 0.1, 0)
    history.save()
    assert RunHistory(cache).past("t::a") == []
    assert RunHistory(cache).past("t::b") == []


def test_tests_not_run_for_months_are_forgotten(cache: pytest.Cache) -> None:
    old = RunHistory(cache, day=1000)
    old.record("t::gone", "passed", 0.1, 0)
    old.save()
    recent = RunHistory(cache, day=1000 + FORGET_AFTER_DAYS)
    recent.record("t::kept", "passed", 0.1, 0)
    recent.save()
    assert RunHistory(cache).past("t::gone") != []
    later = RunHistory(cache, day=1001 + FORGET_AFTER_DAYS)
    later.record("t::kept", "passed", 0.1, 0)
    later.save()
    assert RunHistory(cache).past("t::gone") == []


def test_an_unreadable_or_old_format_cache_is_a_fresh_start(cache: pytest.Cache) -> None:
    for value in ([1, 2], {"version": 99, "tests": {"t::a": "1 P 1"}},
                  {"version": 1, "tests": {"t::a": 5, "t::b": "junk"}}):
        cache.set(HISTORY_KEY, value)
        history = RunHistory(cache)
        assert history.past("t::a") == [] and history.past("t::b") == []
        history.record("t::c", "passed", 1.0, 0)
        history.save()
        assert RunHistory(cache).past("t::c") == [{"result": "passed", "duration": 1.0}]


def test_without_a_cache_nothing_is_kept() -> None:
    history = RunHistory(None)
    assert not history.kept
    history.record("t::a", "passed", 0.1, 0)
    history.save()
    assert history.past("t::a") == []


# -- whole runs ----------------------------------------------------------------

def verdicts_of_run(
    start_live: Callable[..., LiveProcess], directory: Path, run: int, *args: str
) -> dict[str, dict[str, Any]]:
    (directory / "run.txt").write_text(str(run))
    live = start_live(directory, "--jb-live-wait-viewers", "1", *args)
    watched = watch_sync(live.ws_url())
    live.wait()
    return {
        e["test_id"].rpartition("::")[2]: e["history"]
        for e in watched.of_type("test_completed")
    }


def test_three_runs_get_the_right_verdicts_live(
    pytester: pytest.Pytester, start_live: Callable[..., LiveProcess]
) -> None:
    pytester.makepyfile(test_story=SUITE)
    runs = [verdicts_of_run(start_live, pytester.path, run) for run in (1, 2, 3)]
    for name, expected in STORY.items():
        assert [run[name]["verdict"] for run in runs] == expected, name
    third = runs[2]
    assert [p["result"] for p in third["test_flips"]["recent"]] == ["failed", "passed"]
    assert [p["result"] for p in third["test_keeps_failing"]["recent"]] == ["failed", "failed"]
    assert third["test_slows_down"]["median_duration"] < 0.3
    assert third["test_starts_failing"]["recent"][0]["result"] == "passed"


def test_k_and_lf_runs_do_not_make_the_others_new_and_cache_clear_forgets(
    pytester: pytest.Pytester, start_live: Callable[..., LiveProcess]
) -> None:
    pytester.makepyfile(test_story=SUITE)
    verdicts_of_run(start_live, pytester.path, 1)
    only = verdicts_of_run(start_live, pytester.path, 1, "-k", "test_stable")
    assert list(only) == ["test_stable"]
    assert only["test_stable"]["verdict"] == "stable"
    # --lf: only the two that failed run; they are known failures, not new tests.
    last_failed = verdicts_of_run(start_live, pytester.path, 1, "--lf")
    assert {name: h["verdict"] for name, h in last_failed.items()} == {
        "test_keeps_failing": "known_failure", "test_fixed": "known_failure"}
    after = verdicts_of_run(start_live, pytester.path, 1)
    assert [p["result"] for p in after["test_fixed"]["recent"]] == ["failed", "failed"]
    assert len(after["test_stable"]["recent"]) == 2
    assert len(after["test_flips"]["recent"]) == 1
    cleared = verdicts_of_run(start_live, pytester.path, 1, "--cache-clear")
    assert {h["verdict"] for h in cleared.values()} == {"new_test"}


def test_no_cacheprovider_means_no_history(
    pytester: pytest.Pytester, start_live: Callable[..., LiveProcess]
) -> None:
    pytester.makepyfile(test_story=SUITE)
    for _ in range(2):
        verdicts = verdicts_of_run(start_live, pytester.path, 1, "-p", "no:cacheprovider")
        assert set(verdicts.values()) == {None}
    assert not (pytester.path / ".pytest_cache").exists()


def test_passing_on_a_rerun_is_flaky_live(
    pytester: pytest.Pytester, start_live: Callable[..., LiveProcess]
) -> None:
    pytester.makepyfile(test_rerun="""
        from pathlib import Path

        def test_second_try():
            marker = Path(__file__).with_name("tried")
            if not marker.exists():
                marker.write_text("1")
                assert False, "first attempt"
    """)
    (pytester.path / "run.txt").write_text("0")
    live = start_live(pytester.path, "--jb-live-wait-viewers", "1")
    watch_sync(live.ws_url())
    assert live.wait() == 1
    (pytester.path / "tried").unlink()
    live = start_live(pytester.path, "--jb-live-wait-viewers", "1", "--reruns", "1")
    watched = watch_sync(live.ws_url())
    assert live.wait() == 0
    completed = watched.of_type("test_completed")
    assert [e["result"] for e in completed] == ["rerun", "passed"]
    assert completed[0]["history"] is None
    assert completed[1]["history"]["verdict"] == "flaky"
    assert completed[1]["history"]["recent"][0]["result"] == "failed"
