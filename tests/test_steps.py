"""User steps, progress and custom events: whole watched runs, and the validation rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import pytest_jbrealtime
from pytest_jbrealtime.pytest_side.publisher import EventPublisher
from pytest_jbrealtime.pytest_side.steps import (
    MAX_CUSTOM_DATA_BYTES,
    InvalidEventError,
    StepTracker,
    validate_custom_event,
)
from tests.support import ListSink, LiveProcess, Watched, watch_sync

STEPS_SUITE = """
import pytest

import pytest_jbrealtime
from pytest_jbrealtime import step


@step("helper step")
def helper():
    return 42


def test_nested(jb_live):
    with step("outer"):
        with jb_live.step("inner"):
            pass
        assert helper() == 42
    jb_live.progress(90, "almost there")
    jb_live.emit("cart.item_added", {"sku": "A1", "qty": 2})


def test_failing_step():
    with step("will fail"):
        raise ValueError("boom")


@pytest.fixture
def prepared():
    with step("prepare"):
        pass
    yield
    with step("clean up"):
        pass


def test_fixture_steps(prepared):
    with step("act"):
        pass


def test_emit_validation(jb_live):
    with pytest.raises(pytest_jbrealtime.InvalidEventError, match="reserved"):
        jb_live.emit("test_completed", {})
    with pytest.raises(pytest_jbrealtime.InvalidEventError, match="malformed"):
        jb_live.emit("Bad Type!", {})
    with pytest.raises(pytest_jbrealtime.InvalidEventError, match="not JSON"):
        jb_live.emit("ok.type", {"x": object()})
    with pytest.raises(ValueError, match="0 to 100"):
        jb_live.progress(150)
"""

NESTED = "test_steps_suite.py::test_nested"
FAILING = "test_steps_suite.py::test_failing_step"
FIXTURE = "test_steps_suite.py::test_fixture_steps"


@pytest.fixture
def steps_suite(pytester: pytest.Pytester) -> pytest.Pytester:
    # The cache stays on: the second run reads the step counts of the first.
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_steps_suite=STEPS_SUITE)
    return pytester


def user_steps(watched: Watched, test_id: str) -> list[tuple[Any, ...]]:
    return [
        (e["step_index"], e["step_name"], e["status"], e["depth"], e["progress_percentage"])
        for e in watched.of_type("test_progress")
        if e["test_id"] == test_id and e.get("kind") == "user"
    ]


def watched_run(suite: pytest.Pytester, start_live: Callable[..., LiveProcess]) -> Watched:
    run = start_live(suite.path, "--jb-live-wait-viewers", "1")
    watched = watch_sync(run.ws_url())
    assert run.wait() == 1, run.output
    return watched


def test_steps_nested_failing_and_placed_by_earlier_runs(
    steps_suite: pytest.Pytester, start_live: Callable[..., LiveProcess]
) -> None:
    first = watched_run(steps_suite, start_live)
    results = {e["test_id"]: e["result"] for e in first.of_type("test_completed")}
    assert results == {
        NESTED: "passed", FAILING: "failed", FIXTURE: "passed",
        "test_steps_suite.py::test_emit_validation": "passed",
    }
    # First run: no step counts known yet, so steps sit at their phase's start.
    assert user_steps(first, NESTED) == [
        (1, "outer", "running", 0, 33.3),
        (2, "inner", "running", 1, 33.3),
        (2, "inner", "passed", 1, 33.3),
        (3, "helper step", "running", 1, 33.3),
        (3, "helper step", "passed", 1, 33.3),
        (1, "outer", "passed", 0, 33.3),
    ]
    parents = [e.get("parent_index") for e in first.of_type("test_progress")
               if e["test_id"] == NESTED and e["status"] == "running" and e.get("kind") == "user"]
    assert parents == [None, 1, 1]
    failed = [e for e in first.of_type("test_progress")
              if e["test_id"] == FAILING and e.get("kind") == "user"]
    assert [(e["step_name"], e["status"]) for e in failed] == [
        ("will fail", "running"), ("will fail", "failed"),
    ]
    assert failed[-1]["error"] == "ValueError: boom"
    progress = [e for e in first.of_type("test_progress") if e.get("kind") == "progress"]
    assert [(e["test_id"], e["progress_percentage"], e["step_name"]) for e in progress] == [
        (NESTED, 90.0, "almost there"),
    ]
    custom = first.of_type("custom")
    assert [(e["test_id"], e["name"], e["data"]) for e in custom] == [
        (NESTED, "cart.item_added", {"sku": "A1", "qty": 2}),
    ]
    # Steps in a fixture move within the setup and teardown phases.
    assert [(s[1], s[4]) for s in user_steps(first, FIXTURE) if s[2] == "running"] == [
        ("prepare", 0.0), ("act", 33.3), ("clean up", 66.7),
    ]

    # Second run: the step counts of the first place each step evenly, never backwards.
    second = watched_run(steps_suite, start_live)
    assert [s[4] for s in user_steps(second, NESTED)] == [33.3, 33.3, 44.4, 44.4, 55.6, 66.7]
    expected = {e.get("expected_steps") for e in second.of_type("test_progress")
                if e["test_id"] == NESTED and e["status"] == "running"
                and e.get("kind") == "user"}
    assert expected == {3}
    for test_id in (NESTED, FAILING, FIXTURE):
        bar = [e["progress_percentage"] for e in second.of_type("test_progress")
               if e["test_id"] == test_id and e.get("kind") != "progress"]
        assert bar == sorted(bar), (test_id, bar)
    fixture_bar = [s[4] for s in user_steps(second, FIXTURE)]
    assert fixture_bar[0] == 0.0 and 0 < fixture_bar[1] < 33.3 and fixture_bar[-1] == 100.0


def test_steps_in_an_xdist_worker_move_within_their_phase(
    steps_suite: pytest.Pytester, start_live: Callable[..., LiveProcess]
) -> None:
    # A worker keeps its test's phase itself (the controller publishes the phases): a
    # fixture's steps sit in setup and teardown, the test's in call, as in a serial run.
    run = start_live(steps_suite.path, "-n", "2", "--jb-live-wait-viewers", "1")
    watched = watch_sync(run.ws_url())
    assert run.wait() == 1, run.output
    assert [(s[1], s[4]) for s in user_steps(watched, FIXTURE) if s[2] == "running"] == [
        ("prepare", 0.0), ("act", 33.3), ("clean up", 66.7),
    ]
    assert {s[4] for s in user_steps(watched, NESTED)} == {33.3}


def test_steps_and_events_are_no_ops_without_the_plugin(steps_suite: pytest.Pytester) -> None:
    # Same suite, same outcomes, with --jb-live absent (emit still validates).
    result = steps_suite.runpytest_subprocess()
    result.assert_outcomes(passed=3, failed=1)


# -- units ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "data", "message"),
    [
        ("test_started", {}, "reserved"),
        ("batch", None, "reserved"),
        ("custom", None, "reserved"),
        ("", None, "malformed"),
        ("Upper", None, "malformed"),
        ("has space", None, "malformed"),
        ("trailing.", None, "malformed"),
        ("x" * 65, None, "malformed"),
        (42, None, "must be a str"),
        ("ok", {"bad": {1, 2}}, "not JSON"),
        ("ok", float("nan"), "not JSON"),
        ("ok", "x" * MAX_CUSTOM_DATA_BYTES, "limit"),
    ],
)
def test_invalid_custom_events_get_a_clear_error(
    event_type: Any, data: Any, message: str
) -> None:
    with pytest.raises(InvalidEventError, match=message):
        validate_custom_event(event_type, data)


def test_valid_custom_event_data_is_copied() -> None:
    data = {"items": [1, 2], "nested": {"a": None}}
    clean = validate_custom_event("shop:cart-updated.v2", data)
    data["items"].append(3)
    assert clean == {"items": [1, 2], "nested": {"a": None}}


def test_step_decorator_recursion_and_outside_a_test(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_jbrealtime.pytest_side import steps

    sink = ListSink()
    publisher = EventPublisher(sink)
    monkeypatch.setattr(steps, "_tracker", StepTracker(publisher))
    monkeypatch.setattr("pytest_jbrealtime.pytest_side.steps.active_publisher", lambda: publisher)

    @pytest_jbrealtime.step("countdown")
    def countdown(n: int) -> int:
        return 0 if n == 0 else 1 + countdown(n - 1)

    # Outside a test, a step shows nowhere and a custom event belongs to no test.
    assert countdown(1) == 1
    pytest_jbrealtime.emit("note", "outside")
    publisher.flush()
    assert [(e["type"], "test_id" in e) for e in sink.events] == [("custom", False)]

    publisher.current_test_id = "t.py::test_x"
    assert countdown(2) == 2
    publisher.flush()
    statuses = [(e["step_index"], e["status"], e["depth"]) for e in sink.events
                if e["type"] == "test_progress"]
    assert statuses == [
        (1, "running", 0), (2, "running", 1), (3, "running", 2),
        (3, "passed", 2), (2, "passed", 1), (1, "passed", 0),
    ]


def test_step_needs_a_name() -> None:
    with pytest.raises(ValueError, match="non-empty name"):
        pytest_jbrealtime.step("  ")
