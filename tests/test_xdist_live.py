"""pytest-xdist: a parallel run streams as completely as a serial one, worker by worker.

Whole ``pytest --jb-live -n 2`` runs in a subprocess, watched by a real WebSocket
client; the terminal's own ``-v`` lines (``[gw0] [ 50%] PASSED …``) and summary are
the reference for which worker ran what and for the counts.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.support import LiveProcess, Watched, of_test, watch_reacting, watch_sync

VERBOSE_LINE = re.compile(
    r"^\[(gw\d+)\] \[\s*\d+%\] (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS|RERUN) (\S+)"
)
SUMMARY_LINE = re.compile(r"^=+ (.*?) in [\d.]+s")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIMEOUT = 240

LIFECYCLE_SUITE = {
    "test_alpha": """
import pytest

class TestGroup:
    def test_one(self): pass
    def test_two(self): assert 1 == 2
    @pytest.mark.skip(reason="not here")
    def test_three(self): pass

@pytest.mark.parametrize("n", range(4))
def test_param(n): assert n < 3
""",
    "test_beta": """
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("setup broke")

def test_uses_broken(broken): pass

@pytest.mark.parametrize("n", range(5))
def test_more(n): print("output", n)

@pytest.mark.xfail(reason="known")
def test_known(): assert 0
""",
}


# -- helpers ----------------------------------------------------------------------------


def terminal_workers(output: str) -> dict[str, set[str]]:
    """test id -> the workers the terminal says ran it (``-v`` under xdist)."""
    found: dict[str, set[str]] = {}
    for line in output.splitlines():
        match = VERBOSE_LINE.match(line)
        if match:
            found.setdefault(match.group(3), set()).add(match.group(1))
    return found


def terminal_counts(output: str) -> dict[str, int]:
    """The final summary line's counts, keyed the way session_finished keys them."""
    lines = [m for m in (SUMMARY_LINE.match(line) for line in output.splitlines()) if m]
    assert lines, output
    counts: dict[str, int] = {}
    for part in lines[-1].group(1).split(", "):
        number, _, name = part.partition(" ")
        name = {"errors": "error", "warnings": "warning"}.get(name, name)
        if name != "warning":
            counts[name] = int(number)
    return counts


def nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {name: n for name, n in counts.items() if n}


def check_complete_stream(watched: Watched, output: str, workers: set[str]) -> None:
    """Every collected test started and completed once, by the worker the terminal names."""
    assert watched.seqs == list(range(1, len(watched.events) + 1))
    (collection,) = watched.of_type("collection_finished")
    test_ids = [t["test_id"] for t in collection["tests"]]
    assert test_ids
    by_terminal = terminal_workers(output)
    for test_id in test_ids:
        started = of_test(watched, test_id, "test_started")
        completed = of_test(watched, test_id, "test_completed")
        assert len(started) == 1 and len(completed) == 1, (test_id, started, completed)
        worker = started[0]["worker"]
        assert worker in workers
        # Everything about the test, from the controller or the worker, says that worker.
        assert {e["worker"] for e in of_test(watched, test_id)} == {worker}, test_id
        assert by_terminal[test_id] == {worker}, (test_id, by_terminal.get(test_id))
        events = of_test(watched, test_id)
        assert events[0]["type"] == "test_started" and events[-1]["type"] == "test_completed"
    started_workers = {e["worker"] for e in watched.of_type("worker_started")}
    finished_workers = {e["worker"] for e in watched.of_type("worker_finished")}
    assert started_workers == finished_workers == workers
    (finished,) = watched.of_type("session_finished")
    assert finished["worker"] == "main" and finished["total"] == len(test_ids)
    assert nonzero(finished["counts"]) == terminal_counts(output)
    assert watched.events[-1]["type"] == "session_finished"


def plain_exit_status(directory: Path, *args: str) -> int:
    """The same run without the plugin: the status the plugin must not change."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", *args],
        cwd=directory, env=env, capture_output=True, timeout=TIMEOUT,
    )
    return done.returncode


# -- lifecycle -------------------------------------------------------------------------


@pytest.mark.parametrize("dist", ["load", "loadfile", "loadscope", "worksteal"])
def test_parallel_run_streams_every_test_once_with_its_worker(
    suite_dir: pytest.Pytester, start_live: Callable[..., LiveProcess], dist: str
) -> None:
    suite_dir.makepyfile(**LIFECYCLE_SUITE)
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1", "-v",
                     "-n", "2", "--dist", dist)
    watched = watch_sync(run.ws_url(), timeout=TIMEOUT)
    assert run.wait(TIMEOUT) == 1, run.output
    check_complete_stream(watched, run.output, {"gw0", "gw1"})
    results = {e["test_id"]: e["result"] for e in watched.of_type("test_completed")}
    assert results["test_beta.py::test_uses_broken"] == "error"
    assert results["test_beta.py::test_known"] == "xfailed"
    assert results["test_alpha.py::TestGroup::test_three"] == "skipped"
    # The phases come from the relayed reports, in order, for each test.
    phases = [e["step_name"] for e in of_test(watched, "test_alpha.py::TestGroup::test_two",
                                                "test_progress")]
    assert phases == ["setup", "call", "teardown"]
    broken = [e["step_name"] for e in of_test(watched, "test_beta.py::test_uses_broken",
                                                "test_progress")]
    assert broken == ["setup", "teardown"]


# -- what only a worker knows -------------------------------------------------------------

STEPS_SUITE = """
import os
import time
from pathlib import Path

import pytest
import pytest_jbrealtime

def wait_for_gate(name):
    gate = Path(os.environ["JB_TEST_GATE_DIR"]) / name
    deadline = time.monotonic() + 120
    while not gate.exists():
        assert time.monotonic() < deadline, f"the watcher never opened gate {name}"
        time.sleep(0.02)

@pytest.fixture
def account():
    with pytest_jbrealtime.step("create account"):
        pass
    yield "admin"
    pytest_jbrealtime.emit("audit.cleanup", {"account": "admin"})

def test_checkout(account):
    with pytest_jbrealtime.step("open cart"):
        pytest_jbrealtime.emit("cart.items", {"count": 3})
    with pytest_jbrealtime.step("wait for the watcher"):
        wait_for_gate("steps-seen")

@pytest.mark.parametrize("n", range(6))
def test_other(n):
    with pytest_jbrealtime.step(f"work {n}"):
        pass
"""


def steps_suite_watcher(gates: Path) -> tuple[Callable[[Watched], None], dict[str, Any]]:
    """A ``react`` for STEPS_SUITE: opens its gate once the checkout test is seen blocked in
    its step (so what came before arrived live), noting whether it had completed then."""
    checkout = "test_shop.py::test_checkout"
    seen: dict[str, Any] = {}

    def react(watched: Watched) -> None:
        if (gates / "steps-seen").exists():
            return
        names = [e.get("step_name") for e in of_test(watched, checkout, "test_progress")]
        if "wait for the watcher" in names:
            # The test is still blocked in its step: these events came live.
            seen["completed_before_gate"] = bool(of_test(watched, checkout, "test_completed"))
            (gates / "steps-seen").touch()

    return react, seen


def check_steps_suite_stream(watched: Watched) -> None:
    """STEPS_SUITE's events: each test's, from one worker, in the order they happened."""
    checkout = "test_shop.py::test_checkout"
    events = of_test(watched, checkout)
    worker = events[0]["worker"]
    assert worker in ("gw0", "gw1")
    assert all(e["worker"] == worker for e in events)
    order = [(e["type"], e.get("step_name") or e.get("name"), e.get("status")) for e in events]
    assert order == [
        ("test_started", None, None),
        ("test_progress", "setup", "running"),
        ("test_progress", "create account", "running"),
        ("test_progress", "create account", "passed"),
        ("test_progress", "call", "running"),
        ("test_progress", "open cart", "running"),
        ("custom", "cart.items", None),
        ("test_progress", "open cart", "passed"),
        ("test_progress", "wait for the watcher", "running"),
        ("test_progress", "wait for the watcher", "passed"),
        ("test_progress", "teardown", "running"),
        ("custom", "audit.cleanup", None),
        ("test_completed", None, None),
    ]
    for n in range(6):
        names = [e.get("step_name") for e in of_test(watched, f"test_shop.py::test_other[{n}]")]
        assert names.count(f"work {n}") == 2


def test_steps_and_emit_inside_a_worker_stream_live_and_in_order(
    suite_dir: pytest.Pytester, start_live: Callable[..., LiveProcess], tmp_path: Path
) -> None:
    suite_dir.makepyfile(test_shop=STEPS_SUITE)
    gates = tmp_path / "gates"
    gates.mkdir()
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1", "-v", "-n", "2",
                     env={"JB_TEST_GATE_DIR": str(gates)})
    react, seen = steps_suite_watcher(gates)

    watched = watch_reacting(run.ws_url(), react)
    assert run.wait(TIMEOUT) == 0, run.output
    assert seen == {"completed_before_gate": False}
    check_complete_stream(watched, run.output, {"gw0", "gw1"})
    check_steps_suite_stream(watched)


SELENIUM_SUITE = """
from selenium.webdriver.common.by import By

import pytest_jbrealtime


def test_login(browser, site, wait_for_gate):
    browser.get(site + "/login")
    browser.find_element(By.ID, "username").send_keys("admin")
    browser.find_element(By.ID, "password").send_keys("pw")
    browser.find_element(By.CSS_SELECTOR, "#login").click()
    assert browser.find_element(By.ID, "greeting").text == "Welcome, admin"
    pytest_jbrealtime.screenshot(browser, "welcome")
    wait_for_gate("screenshot-fetched")


def test_plain():
    pass
"""


@pytest.mark.browser
def test_selenium_inside_a_worker_streams_actions_and_serves_its_screenshots(
    suite_dir: pytest.Pytester, start_live: Callable[..., LiveProcess], tmp_path: Path
) -> None:
    from tests.selenium_suite import SITE, missing_browser

    problem = missing_browser()
    if problem is not None:
        pytest.fail(problem)  # installed here; a skip would hide an untested feature
    suite_dir.makeconftest(SITE)
    suite_dir.makepyfile(test_site=SELENIUM_SUITE)
    gates = tmp_path / "gates"
    gates.mkdir()
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1", "-v", "-n", "2",
                     env={"JB_TEST_GATE_DIR": str(gates)})
    login = "test_site.py::test_login"
    seen: dict[str, Any] = {}

    def react(watched: Watched) -> None:
        if (gates / "screenshot-fetched").exists():
            return
        shots = [e for e in of_test(watched, login, "screenshot_captured")
                 if e.get("name") == "welcome"]
        if shots:
            seen["shot"] = httpx.get(f"{run.http_base}{shots[0]['screenshot_url']}",
                                     params={"token": run.token}, timeout=30)
            seen["completed_before_gate"] = bool(of_test(watched, login, "test_completed"))
            (gates / "screenshot-fetched").touch()

    watched = watch_reacting(run.ws_url(), react)
    assert run.wait(TIMEOUT) == 0, run.output
    check_complete_stream(watched, run.output, {"gw0", "gw1"})
    assert seen["completed_before_gate"] is False
    assert seen["shot"].status_code == 200
    assert seen["shot"].content.startswith(PNG_SIGNATURE)
    worker = of_test(watched, login, "test_started")[0]["worker"]
    actions = of_test(watched, login, "browser_action")
    assert actions and {e["worker"] for e in actions} == {worker}
    assert any(e["action"] == "click" for e in actions), actions
    pages = of_test(watched, login, "page_loaded")
    assert any(e["url"].endswith("/login") for e in pages)


# -- worker life -------------------------------------------------------------------------

CRASH_SUITE = {
    "test_crash": """
import os

def test_before(): pass

def test_dies():
    os._exit(1)

def test_after(): pass
""",
    "test_others": """
import pytest

@pytest.mark.parametrize("n", range(6))
def test_fine(n): pass
""",
}


def test_a_worker_killed_mid_test_is_a_crash_and_the_run_ends_as_without_the_plugin(
    suite_dir: pytest.Pytester, start_live: Callable[..., LiveProcess]
) -> None:
    suite_dir.makepyfile(**CRASH_SUITE)
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1", "-v", "-n", "2")
    watched = watch_sync(run.ws_url(), timeout=TIMEOUT)
    status = run.wait(TIMEOUT)
    assert status == plain_exit_status(suite_dir.path, "-n", "2") == 1, run.output
    assert watched.seqs == list(range(1, len(watched.events) + 1))
    dies = "test_crash.py::test_dies"
    (crashed,) = watched.of_type("worker_crashed")
    (started,) = of_test(watched, dies, "test_started")
    (completed,) = of_test(watched, dies, "test_completed")
    assert crashed["worker"] == started["worker"] == completed["worker"]
    assert crashed["test_id"] == dies
    assert completed["result"] == "crashed"
    assert "crashed" in completed["summary"]
    # xdist replaces the dead worker; every other test completes once.
    assert len(watched.of_type("worker_started")) == 3
    for test_id in ("test_crash.py::test_before", "test_crash.py::test_after",
                    *(f"test_others.py::test_fine[{n}]" for n in range(6))):
        assert [e["result"] for e in of_test(watched, test_id, "test_completed")] == ["passed"]
    (finished,) = watched.of_type("session_finished")
    assert nonzero(finished["counts"]) == terminal_counts(run.output) == {"failed": 1, "passed": 8}
    assert finished["exit_status"] == status


UNREACHABLE_CONFTEST = """
import socket

import pytest

@pytest.hookimpl(trylast=True)
def pytest_configure_node(node):
    # A port nothing listens on: the workers cannot reach the live server.
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    node.workerinput["jb_live"]["url"] = f"ws://127.0.0.1:{port}/ws/producer"
"""


def test_workers_that_cannot_reach_the_server_still_run_and_warn_once_each(
    suite_dir: pytest.Pytester, start_live: Callable[..., LiveProcess]
) -> None:
    suite_dir.makeconftest(UNREACHABLE_CONFTEST)
    suite_dir.makepyfile(test_shop=STEPS_SUITE.replace(
        '        wait_for_gate("steps-seen")', "        pass"))
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1", "-v", "-n", "2")
    watched = watch_sync(run.ws_url(), timeout=TIMEOUT)
    assert run.wait(TIMEOUT) == 0, run.output
    check_complete_stream(watched, run.output, {"gw0", "gw1"})
    for worker in ("gw0", "gw1"):
        warnings = [line for line in run.lines
                    if line.startswith(f"jb-live: WARNING: worker {worker}: cannot connect")]
        assert len(warnings) == 1, run.output
    # Lifecycle still streams; what only the workers knew is gone (and said so).
    assert not watched.of_type("custom")
    dropped = sum(e["dropped_events"] for e in watched.of_type("worker_finished"))
    assert dropped > 0


# -- pytest-rerunfailures -------------------------------------------------------------------

RERUN_SUITE = """
import os
from pathlib import Path

def attempt(name):
    counter = Path(os.environ["JB_TEST_COUNTER_DIR"]) / name
    n = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(n))
    return n

def test_flaky():
    assert attempt("flaky") >= 3

def test_always_fails():
    assert False

def test_passes():
    pass

def test_flaky_in_teardown_too(request):
    n = attempt("teardown")
    request.addfinalizer(lambda: None)
    assert n >= 2
"""


@pytest.mark.parametrize("parallel", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_each_rerun_attempt_is_its_own_attempt_and_counts_match_pytest(
    suite_dir: pytest.Pytester, start_live: Callable[..., LiveProcess], tmp_path: Path,
    parallel: list[str],
) -> None:
    suite_dir.makepyfile(test_flaky=RERUN_SUITE)
    counters = tmp_path / "counters"
    counters.mkdir()
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1", "--reruns", "2",
                     *parallel, env={"JB_TEST_COUNTER_DIR": str(counters)})
    watched = watch_sync(run.ws_url(), timeout=TIMEOUT)
    assert run.wait(TIMEOUT) == 1, run.output
    assert watched.seqs == list(range(1, len(watched.events) + 1))

    def attempts(name: str) -> list[str]:
        return [e["result"] for e in of_test(watched, f"test_flaky.py::{name}", "test_completed")]

    assert attempts("test_flaky") == ["rerun", "rerun", "passed"]
    assert attempts("test_always_fails") == ["rerun", "rerun", "failed"]
    assert attempts("test_passes") == ["passed"]
    assert attempts("test_flaky_in_teardown_too") == ["rerun", "passed"]
    for name in ("test_flaky", "test_always_fails"):
        started = of_test(watched, f"test_flaky.py::{name}", "test_started")
        assert len(started) == 3
        if parallel:  # every attempt of a test runs on its worker
            assert len({e["worker"] for e in of_test(watched, f"test_flaky.py::{name}")}) == 1
    (finished,) = watched.of_type("session_finished")
    assert nonzero(finished["counts"]) == terminal_counts(run.output)
    assert terminal_counts(run.output) == {"failed": 1, "passed": 3, "rerun": 5}


# -- the producer route and the merge, in process ------------------------------------------


def test_producer_frames_are_split_under_the_server_frame_cap() -> None:
    from pytest_jbrealtime.pytest_side.producer_client import MAX_FRAME_CHARS, frame_texts

    events = [{"type": "custom", "data": "x" * 1000, "n": n} for n in range(200)]
    events.append({"type": "custom", "data": "y" * (MAX_FRAME_CHARS + 1)})
    frames, oversized = frame_texts(7, {"t": [1, 1]}, events)
    assert oversized == 1
    assert all(len(f) <= MAX_FRAME_CHARS for f in frames)
    decoded = [json.loads(f) for f in frames]
    assert [d["id"] for d in decoded] == list(range(7, 7 + len(frames)))
    assert [e["n"] for d in decoded for e in d["events"]] == list(range(200))
    assert all(d["after"] == {"t": [1, 1]} for d in decoded)


def test_producer_route_takes_producer_tokens_only_and_acks_after_the_log() -> None:
    import threading

    import uvicorn
    from websockets.sync.client import connect

    from pytest_jbrealtime.server.app import ServerState, create_app
    from pytest_jbrealtime.shared.auth import TokenAuthority, new_secret
    from pytest_jbrealtime.shared.log import EventLog
    from tests.support import wait_until

    authority = TokenAuthority(new_secret(), run_id="r1")
    state = ServerState(log=EventLog("r1"), authority=authority)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(state), log_config=None, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive())
        assert server.started
        base = f"ws://127.0.0.1:{port}"
        viewer, producer = authority.mint("viewer", 60), authority.mint("producer", 60)
        for path, token in (("/ws/producer", viewer), ("/ws/someone", producer)):
            with connect(f"{base}{path}?token={token}") as ws:
                with pytest.raises(websockets.ConnectionClosed):
                    ws.recv(timeout=10)
                assert ws.close_code == 4001
        with connect(f"{base}/ws/producer?token={producer}") as ws:
            ws.send("not json")
            assert json.loads(ws.recv(timeout=10))["type"] == "error"
            ws.send(json.dumps({"type": "publish", "id": 1, "after": {}, "events": [
                {"type": "custom", "name": "n", "data": 1, "worker": "gw3", "seq": 999}]}))
            assert json.loads(ws.recv(timeout=10)) == {"type": "ack", "id": 1}
        (entry,) = state.log.read_after(0)
        assert entry.event["seq"] == 1 and entry.event["worker"] == "gw3"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_merge_puts_a_worker_frame_right_after_its_test_and_phase() -> None:
    from pytest_jbrealtime.server.producers import ProducerIntake, ProducerStream, parse_frame
    from pytest_jbrealtime.shared.log import EventLog

    log = EventLog("r1")
    intake = ProducerIntake(log)
    stream = ProducerStream()
    intake.streams.append(stream)

    def frame(frame_id: int, after: dict[str, list[int]], name: str) -> str:
        return json.dumps({"type": "publish", "id": frame_id, "after": after,
                           "events": [{"type": "custom", "name": name, "test_id": "t"}]})

    def names() -> list[str]:
        return [e.event.get("name") or e.event.get("step_name") or e.event["type"]
                for e in log.read_after(0)]

    intake.add(stream, parse_frame(frame(1, {"t": [1, 1]}, "during setup")))
    intake.add(stream, parse_frame(frame(2, {"t": [1, 2]}, "during call")))
    assert len(log) == 0
    # One batch from the controller with the test's start, phases and end: each held
    # frame goes in right after the event it waits for, not after the batch.
    intake.from_pipe([
        {"type": "test_started", "test_id": "t"},
        {"type": "test_progress", "test_id": "t", "step_name": "setup"},
        {"type": "test_progress", "test_id": "t", "step_name": "call"},
        {"type": "test_progress", "test_id": "t", "step_name": "teardown"},
        {"type": "test_completed", "test_id": "t"},
    ])
    assert names() == ["test_started", "setup", "during setup", "call", "during call",
                       "teardown", "test_completed"]
    assert [e.event["seq"] for e in log.read_after(0)] == list(range(1, 8))
    # A second attempt's frame waits for the second test_started.
    intake.add(stream, parse_frame(frame(3, {"t": [2, 1]}, "attempt 2")))
    assert len(log) == 7
    intake.from_pipe([{"type": "test_started", "test_id": "t"},
                      {"type": "test_progress", "test_id": "t", "step_name": "setup"}])
    assert names()[-3:] == ["test_started", "setup", "attempt 2"]
    # Nothing is held forever: past HOLD_SECONDS a frame goes in as it is ...
    held = parse_frame(frame(4, {"never": [1, 0]}, "orphan"))
    held.deadline = 0.0
    intake.add(stream, held)
    assert names()[-1] == "orphan"
    # ... and what is still held at the end goes in before session_finished.
    intake.add(stream, parse_frame(frame(5, {"never": [1, 0]}, "late")))
    intake.from_pipe([{"type": "session_finished"}])
    assert names()[-2:] == ["late", "session_finished"]
