"""Phase records (protocol/compact.py) as the publisher (pytest_side/publisher.py) hands them over.

Unit tests with a list as the sink; the whole path (pipe, server, viewer) is in
test_live_stream.py and test_xdist_live.py, which see every phase as a ``test_progress``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import Any

import pytest

from pytest_jbrealtime.protocol.compact import expanded, phase_event
from pytest_jbrealtime.protocol.events import phase_progress
from pytest_jbrealtime.pytest_side.publisher import EventPublisher
from tests.monitor_support import WAIT_FOR_FILE, signal
from tests.support import LiveProcess, Watched, watch_reacting, watch_sync


class ListSink:
    def __init__(self) -> None:
        self.batches: list[list[Any]] = []

    def send_batch(self, events: list[Any]) -> None:
        self.batches.append(list(events))

    def close(self, timeout: float) -> None:
        pass

    def items(self) -> list[Any]:
        return [item for batch in self.batches for item in batch]


def test_phase_records_become_the_events_publish_makes() -> None:
    sink = ListSink()
    publisher = EventPublisher(sink, worker="gw3")
    publisher.publish_phase("t.py::test_a", "call")
    publisher.publish("test_progress", phase_progress("t.py::test_a", "call"))
    publisher.flush()
    record, event = sink.items()
    assert isinstance(record, tuple)
    made = phase_event(record)
    assert made.pop("ts") == pytest.approx(event.pop("ts"), abs=5)
    assert made == event
    assert made["worker"] == "gw3"


def test_expanded_keeps_the_order_and_the_dicts() -> None:
    first = {"type": "test_started", "test_id": "a"}
    batch: list[Any] = [first, ("a", "setup", 1.0, "main"), {"type": "custom"}]
    events = expanded(batch)
    assert events[0] is first
    assert [e["type"] for e in events] == ["test_started", "test_progress", "custom"]
    assert events[1]["step_name"] == "setup"


def test_an_observer_sees_a_phase_as_an_event() -> None:
    sink = ListSink()
    publisher = EventPublisher(sink)
    seen: list[dict[str, Any]] = []
    publisher.observer = seen.append
    publisher.publish_phase("t.py::test_a", "setup")
    assert seen and seen[0]["type"] == "test_progress" and seen[0]["step_name"] == "setup"


GENERAL_PATH_ONLY = '''
import os
from pytest_jbrealtime.pytest_side.session import LivePlugin

if os.environ.get("JB_TEST_GENERAL_PATH"):
    LivePlugin._passed_plainly = lambda self, nodeid, record: False
'''

MIXED_SUITE = '''
import pytest

def test_plain():
    pass

def test_prints():
    print("output makes it no plain pass")

def test_fails():
    assert 1 + 1 == 3

@pytest.mark.xfail(reason="known")
def test_xfails():
    assert False

@pytest.mark.xfail(reason="fixed")
def test_xpasses():
    pass

def test_also_plain():
    assert 1 + 1 == 2
'''

# What differs between two runs of the same tests whatever the path.
_OF_THE_RUN = ("run_id", "seq", "ts", "timestamp", "duration", "cpu_seconds", "rss_growth")


@pytest.mark.parametrize("history", [False, True], ids=["no history", "history"])
def test_a_passed_tests_records_reach_a_viewer_as_the_general_paths_events(
    suite_dir: pytest.Pytester, start_live: Callable[..., LiveProcess], history: bool
) -> None:
    """Start and pass records (protocol/compact.py), through the real pipe and server,
    give a viewer the same events as the session plugin's general path; tests that are
    no plain pass (output, a failure, xfail, xpass) come out as they did. With history
    (pytest's cache on, one earlier run kept), the verdicts and estimates alike."""
    suite_dir.makeconftest(GENERAL_PATH_ONLY)
    suite_dir.makepyfile(test_plain=MIXED_SUITE)
    cache = suite_dir.path / ".pytest_cache"
    if history:
        suite_dir.makeini("[pytest]\n")
        earlier = start_live(suite_dir.path)
        assert earlier.wait() == 1, earlier.output
        kept = suite_dir.path / "kept_cache"
        shutil.copytree(cache, kept)
    seen: dict[str, list[dict[str, Any]]] = {}
    for path, env in (("records", {}), ("general", {"JB_TEST_GENERAL_PATH": "1"})):
        if history:  # each path starts from the same earlier run
            shutil.rmtree(cache)
            shutil.copytree(kept, cache)
        run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1",
                         env={**os.environ, **env})
        watched = watch_sync(run.ws_url())
        assert run.wait() == 1, run.output
        seen[path] = [{k: v for k, v in e.items() if k not in _OF_THE_RUN}
                      for e in watched.events
                      if e["type"] in ("test_started", "test_progress", "test_completed")]
        completed = watched.of_type("test_completed")
        assert {type(e["cpu_seconds"]) for e in completed} == {float}
        assert {type(e["rss_growth"]) for e in completed} == {int}
    assert len(seen["records"]) == 30  # six tests: a start, three phases, an end each
    ended = [e for e in seen["records"] if e["type"] == "test_completed"]
    assert [e["result"] for e in ended] == [
        "passed", "passed", "failed", "xfailed", "xpassed", "passed"]
    if history:
        assert [e["history"]["verdict"] for e in ended] == [
            "stable", "stable", "known_failure", "stable", "stable", "stable"]
        assert all(len(e["history"]["recent"]) == 1 for e in ended)
        started = [e for e in seen["records"] if e["type"] == "test_started"]
        assert all(isinstance(e["estimated_duration"], float) for e in started)
    else:
        assert all(e["history"] is None for e in ended)
    assert seen["records"] == seen["general"]


PHASES_SUITE = MIXED_SUITE + '''

@pytest.fixture
def broken():
    raise RuntimeError("setup fails")

def test_setup_error(broken):
    pass

@pytest.mark.skip(reason="not here")
def test_skipped():
    pass

def test_subtests(subtests):
    for n in range(2):
        with subtests.test(n=n):
            assert n == 0

@pytest.fixture
def teardown_fails():
    yield
    raise RuntimeError("teardown fails")

def test_teardown_error(teardown_fails):
    pass
'''

WHICH_PHASE_HOOKS = '''
import os

from pytest_jbrealtime.pytest_side.session import PHASE_HOOKS_NAME

def pytest_sessionfinish(session):
    hooks = session.config.pluginmanager.get_plugin(PHASE_HOOKS_NAME)
    with open(os.environ["PHASES_FROM"], "w") as out:
        out.write("hooks" if hooks is not None else "reports")
'''


def test_phases_from_the_reports_are_the_phase_hooks_events(
    suite_dir: pytest.Pytester, start_live: Callable[..., LiveProcess]
) -> None:
    """A test's phases are published from its reports (three hook calls a test fewer),
    or where pytest-rerunfailures reruns from pytest's phase hooks (its attempts'
    reports come after the attempt; `--reruns 0` asks for its way of running): a viewer
    sees the same events either way, for a pass, output, a failure, xfail, xpass, an
    error in setup and in teardown, a skip and subtests."""
    suite_dir.makeconftest(WHICH_PHASE_HOOKS)
    suite_dir.makepyfile(test_phases=PHASES_SUITE)
    seen: dict[str, list[dict[str, Any]]] = {}
    for args in (["--reruns", "0"], []):
        which = suite_dir.path / "phases_from"
        run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1", *args,
                         env={**os.environ, "PHASES_FROM": str(which)})
        watched = watch_sync(run.ws_url())
        assert run.wait() == 1, run.output
        seen[which.read_text()] = [
            {k: v if k != "subtests" else [(s["description"], s["result"]) for s in v]
             for k, v in e.items() if k not in _OF_THE_RUN}  # a subtest's repr: an address
            for e in watched.events
            if e["type"] in ("test_started", "test_progress", "test_completed")]
    assert set(seen) == {"hooks", "reports"}
    phases = [(e["test_id"].rpartition("::")[2], e["step_name"])
              for e in seen["reports"] if e["type"] == "test_progress"]
    # A setup that fails or skips is followed by the teardown, not the call.
    assert [p for t, p in phases if t == "test_setup_error"] == ["setup", "teardown"]
    assert [p for t, p in phases if t == "test_skipped"] == ["setup", "teardown"]
    assert [p for t, p in phases if t == "test_subtests"] == ["setup", "call", "teardown"]
    assert [p for t, p in phases if t == "test_teardown_error"] == [
        "setup", "call", "teardown"]
    assert seen["reports"] == seen["hooks"]


def test_start_and_pass_records_expand_to_their_events() -> None:
    """Each record's fields land where protocol/compact.py says."""
    sink = ListSink()
    publisher = EventPublisher(sink, worker="main")
    publisher.publish_started("t.py::test_a", "test_a", "t.py", None)
    publisher.publish_passed("t.py::test_a", 0.5, 0.25, 4096, None)
    publisher.flush()
    started, completed = expanded(sink.items())
    assert started["type"] == "test_started" and started["file"] == "t.py"
    assert completed["type"] == "test_completed" and completed["result"] == "passed"
    assert (completed["duration"], completed["cpu_seconds"], completed["rss_growth"]) == (
        0.5, 0.25, 4096)


HELD_SUITE = '''
def test_quick():
    pass

def test_held():
    from pytest_jbrealtime.pytest_side.publisher import active_publisher
    publisher = active_publisher()
    # No flush before this call: the server must ask for what came before it.
    assert publisher is not None and publisher.held_events_asked
    wait_for_file("release")
'''


# The race a monitor test lost in CI: the server asks during a quiet spell and gets
# nothing (the flush resets the publisher's 20 ms clock), then pytest publishes the next
# test's start within 20 ms and holds it through that whole test. The quick test makes
# that happen: quiet long enough to be asked for nothing, then a flush of nothing.
HELD_AFTER_AN_EMPTY_ASK = HELD_SUITE.replace("""
def test_quick():
    pass
""", """
def test_quick():
    import time
    from pytest_jbrealtime.pytest_side.publisher import active_publisher
    time.sleep(0.4)
    active_publisher().flush()
""")


@pytest.mark.parametrize(("plugins", "suite"), [
    (["--reruns", "0"], HELD_SUITE), ([], HELD_SUITE), ([], HELD_AFTER_AN_EMPTY_ASK),
], ids=["phase hooks", "phases from reports", "after an ask that got nothing"])
def test_a_long_tests_start_reaches_viewers_when_the_server_asks_for_it(
    suite_dir: pytest.Pytester, start_live: Callable[..., LiveProcess], plugins: list[str],
    suite: str,
) -> None:
    """pytest's thread no longer flushes before each call: its events published just
    before a long test are held until the run server, its pipe quiet, asks the stack
    responder for them. A viewer sees the held test start, and its call begin, while
    it holds; the test ends only once the viewer saw that (or after 90 s, failing).
    The server asks again while the pipe stays quiet: an ask may find nothing held
    and come just before what is."""
    assert HELD_AFTER_AN_EMPTY_ASK != HELD_SUITE
    suite_dir.makepyfile(test_held=WAIT_FOR_FILE + suite)
    run = start_live(suite_dir.path, "--jb-live-monitor-interval", "0",
                     "--jb-live-wait-viewers", "1", *plugins,
                     env={**os.environ, "SIGNAL_DIR": str(suite_dir.path)})

    def release_once_the_call_is_seen(watched: Watched) -> None:
        calls = [e for e in watched.events if e["type"] == "test_progress"
                 and e["test_id"].endswith("::test_held") and e["step_name"] == "call"]
        if calls and not (suite_dir.path / "release").exists():
            signal(suite_dir.path, "release")

    watched = watch_reacting(run.ws_url(), release_once_the_call_is_seen, timeout=120)
    assert run.wait() == 0, run.output
    assert [e["result"] for e in watched.of_type("test_completed")] == ["passed", "passed"]



def test_a_flush_from_another_thread_keeps_the_batches_in_order() -> None:
    """The stack responder's thread flushes (the server asked) while pytest's thread
    publishes and flushes: the batch the responder took reaches the sink before any
    batch taken after it, even when the responder is slow to hand it over."""
    import threading

    tests_thread = threading.get_ident()

    class SlowHandOverSink(ListSink):
        def __init__(self) -> None:
            super().__init__()
            self.responder_took = threading.Event()
            self.tests_thread_sent = threading.Event()

        def send_batch(self, events: list[Any]) -> None:
            if threading.get_ident() == tests_thread:
                self.tests_thread_sent.set()
            else:  # the responder: hand over only once pytest's thread sent (or 0.5 s)
                self.responder_took.set()
                self.tests_thread_sent.wait(0.5)
            super().send_batch(events)

    sink = SlowHandOverSink()
    publisher = EventPublisher(sink)
    publisher.publish_phase("t.py::test_a", "call")
    responder = threading.Thread(target=publisher.flush)
    responder.start()
    assert sink.responder_took.wait(5)
    publisher.publish_phase("t.py::test_b", "call")
    publisher.flush()  # waits for the responder's hand-over
    responder.join()
    assert [item[0] for item in sink.items()] == ["t.py::test_a", "t.py::test_b"]
