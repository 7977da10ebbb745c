"""Stacks on demand: a viewer asks for a running test's stack and gets it from the
process running it — serially, on xdist workers, and on a hub shard.

Real runs: the inner suite has one test blocked in ``time.sleep`` and one spinning in
pure Python, each inside a function with a name found nowhere else, each held until
the outer test opens its gate. The answer must name that function. The 1 s target is
measured in benchmarks/stack_latency.py; the waits here are generous (loaded machine).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from pytest_jbrealtime.server.stacks import (
    FINISHED,
    NOT_RUNNING,
    UNAVAILABLE,
    UNKNOWN,
    RunningTest,
    StackService,
    StackUnavailable,
)
from pytest_jbrealtime.shared.log import EventLog
from pytest_jbrealtime.shared.stack_responder import StackResponder, ask_responder, current_stacks
from tests.held_run import Viewer
from tests.hub_support import HubProcess, Shard, mint
from tests.support import LiveProcess

SLEEPER = "dozing_in_a_distinctively_named_sleeper"
SPINNER = "spinning_in_a_distinctively_named_loop"
GATE = """
import os, pathlib, time

def _gate(name):
    return pathlib.Path(os.environ["JB_TEST_GATE_DIR"]) / name
"""
# Two files, so that ``--dist loadfile`` puts them on two workers at once.
SLEEPY_FILE = GATE + f'''
def {SLEEPER}():
    deadline = time.monotonic() + 240
    while not _gate("sleeps").exists() and time.monotonic() < deadline:
        time.sleep(0.5)

def test_sleeps():
    {SLEEPER}()
'''
SPINNY_FILE = GATE + f'''
def {SPINNER}():
    deadline = time.monotonic() + 240
    turns = 0
    while time.monotonic() < deadline:
        turns += 1
        if turns % 200000 == 0 and _gate("spins").exists():
            return

def test_spins():
    {SPINNER}()

def test_last():
    pass
'''
SLEEPS = "test_sleepy.py::test_sleeps"
SPINS = "test_spinny.py::test_spins"
LAST = "test_spinny.py::test_last"
PARALLEL = ("-n", "2", "--dist", "loadfile")
TIMEOUT = 120.0


def suite(tmp_path: Path) -> tuple[Path, Path]:
    directory = tmp_path / "suite"
    directory.mkdir()
    (directory / "test_sleepy.py").write_text(SLEEPY_FILE)
    (directory / "test_spinny.py").write_text(SPINNY_FILE)
    (directory / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    gates = tmp_path / "gates"
    gates.mkdir()
    return directory, gates


class StackViewer:
    """A viewer that watches events and asks for stacks."""

    def __init__(self, viewer: Viewer) -> None:
        self.viewer = viewer
        self.seen = 0

    async def until(self, predicate: Any, timeout: float = TIMEOUT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            while self.seen < len(self.viewer.messages):
                message = self.viewer.messages[self.seen]
                self.seen += 1
                if predicate(message):
                    return message
            try:
                await self.viewer.next_message(max(deadline - time.monotonic(), 0.01))
            except asyncio.TimeoutError:
                tail = [(m.get("type"), m.get("test_id"), m.get("message"))
                        for m in self.viewer.messages[-15:]]
                raise AssertionError(f"not received in {timeout} s; last: {tail}") from None

    async def started(self, test_id: str) -> dict[str, Any]:
        """Until the test's call has begun (its ``call`` phase event). Its
        ``test_started`` alone can come while it is still in setup: the run server
        asks for held events once pytest's pipe has been quiet for 60 ms (publisher.py),
        and a worker's setup on a loaded machine takes longer than that."""
        self.seen = 0  # it may have come before the last answer
        return await self.until(
            lambda m: m.get("type") == "test_progress" and m.get("test_id") == test_id
            and m.get("step_name") == "call")

    async def ask(self, test_id: str) -> tuple[dict[str, Any], float]:
        """The stack (or error) answer for ``test_id`` and how long it took."""
        self.seen = len(self.viewer.messages)  # answers come after the request
        began = time.monotonic()
        await self.viewer.send({"type": "stack_request", "test_id": test_id})
        answer = await self.until(
            lambda m: m.get("test_id") == test_id and (
                m.get("type") == "stack"
                or (m.get("type") == "error" and m.get("request") == "stack_request")),
            timeout=30)
        return answer, time.monotonic() - began


def own_thread_of(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["type"] == "stack", answer
    assert "seq" not in answer, "a stack is an answer, not an event"
    current = [t for t in answer["threads"] if t["current"]]
    assert len(current) == 1, answer
    assert answer["threads"][0] is current[0], "the test's own thread comes first"
    return current[0]


def check_names(answer: dict[str, Any], function: str, test_id: str) -> None:
    thread = own_thread_of(answer)
    functions = [f["function"] for f in thread["frames"]]
    assert function in functions, functions
    # Innermost last: the named function is below the test function, near the end.
    assert functions.index(function) > functions.index(test_id.rsplit("::", 1)[1])
    frame = thread["frames"][functions.index(function)]
    assert frame["file"].endswith(test_id.split("::")[0])
    assert isinstance(frame["line"], int) and frame["line"] > 0
    assert frame["code"], frame
    if function == SLEEPER:
        below = thread["frames"][functions.index(SLEEPER) + 1:]
        if below:
            # Between two sleeps it looks at its gate file, for microseconds: a stack
            # taken then (a stall alert's, on a loaded machine) ends in pathlib.
            assert all(f["function"] == "_gate" or f["file"].endswith("pathlib.py")
                       for f in below), below
            assert "_gate(" in frame["code"], frame
        else:  # blocked in time.sleep, a C call: the sleeper is the innermost frame
            assert "time.sleep" in frame["code"], frame
    assert answer["test_id"] == test_id
    assert isinstance(answer["taken_at"], str) and answer["taken_at"].endswith("Z")


async def check_both_answered(stacks: StackViewer, gates: Path, parallel: bool) -> dict[str, Any]:
    """Ask for both held tests' stacks (one at a time serially); the workers that ran them."""
    workers: dict[str, Any] = {}
    await stacks.started(SLEEPS)
    answer, took = await stacks.ask(SLEEPS)
    check_names(answer, SLEEPER, SLEEPS)
    workers[SLEEPS] = answer["worker"]
    print(f"sleeper answered in {took * 1000:.0f} ms")
    if not parallel:
        error, _ = await stacks.ask(SPINS)
        assert error["type"] == "error" and error["reason"] == NOT_RUNNING, error
        (gates / "sleeps").touch()
    await stacks.started(SPINS)
    answer, took = await stacks.ask(SPINS)
    check_names(answer, SPINNER, SPINS)
    workers[SPINS] = answer["worker"]
    print(f"spinner answered in {took * 1000:.0f} ms")
    if not parallel:
        error, _ = await stacks.ask(SLEEPS)
        assert error["type"] == "error" and error["reason"] == FINISHED, error
    error, _ = await stacks.ask("test_spinny.py::test_no_such_test")
    assert error["type"] == "error" and error["reason"] == UNKNOWN, error
    return workers


def get_stack(url: str, token: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        body = refused.read()
        return refused.code, json.loads(body) if body.startswith(b"{") else {"text": body}


# -- whole runs -------------------------------------------------------------------------


def run_serial_or_xdist(tmp_path: Path, start_live: Any, *args: str) -> dict[str, Any]:
    directory, gates = suite(tmp_path)
    parallel = bool(args)
    run: LiveProcess = start_live(directory, "-v", *args,
                                  env={"JB_TEST_GATE_DIR": str(gates)})
    url = run.ws_url()

    async def scenario() -> dict[str, Any]:
        stacks = StackViewer(await Viewer.connect(url))
        try:
            workers = await check_both_answered(stacks, gates, parallel)
            # Tools get the same over HTTP with the viewer token.
            status, answer = await asyncio.to_thread(
                get_stack, f"{run.http_base}/api/stack?test_id={SPINS}", run.token)
            assert status == 200, answer
            check_names(answer, SPINNER, SPINS)
            status, answer = await asyncio.to_thread(
                get_stack, f"{run.http_base}/api/stack?test_id=nope", run.token)
            assert (status, answer["reason"]) == (404, UNKNOWN)
            status, _ = await asyncio.to_thread(
                get_stack, f"{run.http_base}/api/stack?test_id={SPINS}", "not-a-token")
            assert status == 401
            return workers
        finally:
            (gates / "sleeps").touch()
            (gates / "spins").touch()
            await stacks.viewer.close()

    workers = asyncio.run(scenario())
    assert run.wait(TIMEOUT) == 0, run.output
    assert "WARNING" not in run.output, run.output
    # The responders are gone with their processes: nothing left in the run folder.
    assert not list(directory.glob("**/stack-*.sock"))
    return workers


def test_stacks_of_a_serial_run(tmp_path: Path, start_live: Any) -> None:
    workers = run_serial_or_xdist(tmp_path, start_live)
    assert workers == {SLEEPS: "main", SPINS: "main"}


def test_stacks_of_xdist_workers(tmp_path: Path, start_live: Any) -> None:
    workers = run_serial_or_xdist(tmp_path, start_live, *PARALLEL)
    assert set(workers.values()) == {"gw0", "gw1"}, workers


def test_stacks_of_a_hub_shard(tmp_path: Path, running: list[Any]) -> None:
    hub = HubProcess(tmp_path / "data")
    running.append(hub)
    directory, gates = suite(tmp_path)
    shard = Shard(directory, hub.url, "-v", *PARALLEL, run_id="stacked",
                  env={"JB_TEST_GATE_DIR": str(gates)})
    running.append(shard)
    deadline = time.monotonic() + 60
    while "stacked" not in hub.runs():
        assert time.monotonic() < deadline, shard.text
        time.sleep(0.05)

    async def scenario() -> dict[str, Any]:
        stacks = StackViewer(await Viewer.connect(hub.viewer_url("stacked")))
        try:
            workers = await check_both_answered(stacks, gates, parallel=True)
            status, answer = await asyncio.to_thread(
                get_stack, f"{hub.url}/runs/stacked/api/stack?test_id={SLEEPS}", mint("viewer"))
            assert status == 200, answer
            check_names(answer, SLEEPER, SLEEPS)
            assert answer["shard"]
            return workers
        finally:
            (gates / "sleeps").touch()
            (gates / "spins").touch()
            await stacks.viewer.close()

    workers = asyncio.run(scenario())
    assert set(workers.values()) == {"gw0", "gw1"}, workers
    assert shard.wait(TIMEOUT) == 0, shard.text


# -- units ------------------------------------------------------------------------------


def test_responder_answers_and_stops(tmp_path: Path) -> None:
    responder = StackResponder(tmp_path, "main", lambda: "t::x")
    assert responder.start()
    try:
        answer = ask_responder(responder.path, timeout=10)
        assert answer["test_id"] == "t::x" and answer["worker"] == "main"
        names = [t["name"] for t in answer["threads"]]
        assert "jb-live-stacks" not in names, "the responder leaves itself out"
        assert answer["threads"][0]["current"]
        functions = [f["function"] for f in answer["threads"][0]["frames"]]
        # Innermost last: asking. Taken as the request arrives, the asking thread may
        # not have gone from its sendall to reading the answer yet (a loaded machine).
        assert functions[-2:] == ["ask_responder", "_read_to_end"] or (
            functions[-1] == "ask_responder"), functions[-3:]
    finally:
        responder.stop()
    assert not responder.path.exists()
    assert "no stack responder" in ask_responder(responder.path, timeout=1)["error"]


def test_deep_recursion_is_cut_from_the_outside() -> None:
    def down(n: int) -> list[dict[str, Any]]:
        return down(n - 1) if n else current_stacks(None)

    threads = down(300)
    mine = next(t for t in threads if any(f["function"].endswith("down") for f in t["frames"]))
    assert len(mine["frames"]) == 120 and mine["omitted_frames"] > 180
    assert mine["frames"][-1]["function"] == "current_stacks"


def test_service_reasons_and_a_process_that_moved_on() -> None:
    log = EventLog("r")
    answers: list[dict[str, Any]] = []

    async def fetch(test: RunningTest) -> dict[str, Any]:
        if not answers:
            raise StackUnavailable("gone")
        return answers.pop(0)

    service = StackService(log, fetch)
    log.extend([{"type": "collection_finished", "tests": [{"test_id": "a"}, {"test_id": "b"}]},
                {"type": "test_started", "test_id": "a", "worker": "gw1"}])

    async def scenario() -> None:
        assert (await service.stack("b"))["reason"] == NOT_RUNNING
        assert (await service.stack("zz"))["reason"] == UNKNOWN
        assert (await service.stack("a"))["reason"] == UNAVAILABLE
        answers.append({"test_id": "b", "threads": []})
        assert (await service.stack("a"))["reason"] == FINISHED
        answers.append({"test_id": "a", "taken_at": "T", "threads": [{"name": "x"}]})
        reply = await service.stack("a")
        assert reply == {"type": "stack", "test_id": "a", "worker": "gw1", "taken_at": "T",
                         "threads": [{"name": "x"}]}
        log.extend([{"type": "test_completed", "test_id": "a"}])
        assert (await service.stack("a"))["reason"] == FINISHED

    asyncio.run(scenario())
