"""The live core end to end: a real `pytest --jb-live` run, real WebSocket viewers."""

from __future__ import annotations

import asyncio
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import websockets

from pytest_jbrealtime.protocol import COUNT_KEYS
from tests.support import Watched, unpack, wait_until, watch, watch_sync

MIXED_SUITE = '''
import unittest
import pytest

def test_pass():
    print("some output")

def test_fail():
    assert {"a": 1} == {"a": 2}

@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")

def test_error(broken):
    pass

@pytest.mark.skip(reason="not today")
def test_skip():
    pass

@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert False

@pytest.mark.xfail(reason="fixed?", strict=False)
def test_xpass():
    pass

@pytest.mark.parametrize("n", [1, 2, 3])
def test_param(n):
    assert n != 2

class TestGroup:
    def test_in_class(self):
        pass

def test_subtests(subtests):
    for i in range(3):
        with subtests.test(msg="case", i=i):
            assert i != 1

class UnitCase(unittest.TestCase):
    def test_subtest(self):
        for i in range(2):
            with self.subTest(i=i):
                self.assertEqual(i, 0)
'''

# "3 passed", "2 subtests failed" in pytest's last line (each ends at ", " or " in 0.1s").
SUMMARY_COUNT = re.compile(r"(\d+) ([a-z][a-z ]*?)(?=, | in [\d.]+s)")

JUNIT_CATEGORY = {
    "passed": "passed", "xpassed": "passed", "failed": "failure", "error": "error",
    "skipped": "skipped", "xfailed": "skipped",
}


def junit_results(path: Path) -> dict[str, str]:
    results = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        module_and_class = case.get("classname", "").split(".")
        name = case.get("name", "")
        results[f"{'.'.join(module_and_class)}::{name}"] = kinds[0] if kinds else "passed"
    return results


def as_junit_key(test_id: str) -> str:
    file, _, rest = test_id.partition("::")
    parts = [file.removesuffix(".py").replace("/", "."), *rest.split("::")]
    return f"{'.'.join(parts[:-1])}::{parts[-1]}"


def assert_complete(watched: Watched) -> None:
    """Every event of the run, seq 1..N, in order, each once, from start to finish."""
    assert watched.seqs == list(range(1, len(watched.seqs) + 1))
    assert watched.events[0]["type"] == "session_started"
    assert watched.events[-1]["type"] == "session_finished"
    run_ids = {e["run_id"] for e in watched.events}
    assert len(run_ids) == 1


def test_viewer_from_the_start_sees_every_result_as_junitxml_does(
    suite_dir: pytest.Pytester, start_live
) -> None:
    suite_dir.makepyfile(test_mixed=MIXED_SUITE)
    junit = suite_dir.path / "junit.xml"
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1", f"--junitxml={junit}")
    watched = watch_sync(run.ws_url())
    assert run.wait() == 1
    assert_complete(watched)
    assert watched.close_code == 1000

    completed = {e["test_id"]: e for e in watched.of_type("test_completed")}
    expected = junit_results(junit)
    assert {as_junit_key(t): JUNIT_CATEGORY[e["result"]] for t, e in completed.items()} == expected
    assert completed["test_mixed.py::test_xfail"]["result"] == "xfailed"
    assert completed["test_mixed.py::test_xpass"]["result"] == "xpassed"
    assert completed["test_mixed.py::test_error"]["result"] == "error"
    assert "fixture exploded" in completed["test_mixed.py::test_error"]["longrepr"]
    assert completed["test_mixed.py::test_fail"]["summary"].startswith("AssertionError")
    assert completed["test_mixed.py::test_skip"]["summary"] == "not today"
    stdout = completed["test_mixed.py::test_pass"]["sections"]
    assert {"name": "Captured stdout call", "content": "some output\n"} in stdout

    subtests = completed["test_mixed.py::test_subtests"]["subtests"]
    assert [s["result"] for s in subtests] == ["passed", "failed", "passed"]
    assert subtests[1]["description"] == "[case] (i=1)"
    unit = completed["test_mixed.py::UnitCase::test_subtest"]["subtests"]
    assert [s["result"] for s in unit] == ["passed", "failed"]

    # The counts are the terminal's, to the letter.
    finished = watched.of_type("session_finished")[0]
    summary_line = run.output.strip().splitlines()[-1]
    terminal = {
        {"errors": "error", "warning": "warnings"}.get(name, name): int(number)
        for number, name in SUMMARY_COUNT.findall(summary_line)
    }
    assert terminal.get("failed") and terminal.get("passed"), summary_line  # it was read
    assert {name: n for name, n in finished["counts"].items() if n} == terminal
    assert set(COUNT_KEYS) <= finished["counts"].keys()  # zeros too (docs/protocol.md)
    assert finished["exit_status"] == 1
    assert finished["total"] == len(watched.of_type("collection_finished")[0]["tests"])

    started = watched.of_type("session_started")[0]
    assert started["versions"]["pytest"] == pytest.__version__
    assert started["rootdir"] == str(suite_dir.path)


def test_every_event_has_the_common_fields(suite_dir: pytest.Pytester, start_live) -> None:
    suite_dir.makepyfile(test_a="def test_a(): pass\n")
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1")
    watched = watch_sync(run.ws_url())
    run.wait()
    for event in watched.events:
        assert {"type", "seq", "run_id", "timestamp", "worker"} <= set(event)
        assert event["timestamp"].endswith("Z")
    per_test = [e for e in watched.events if e["type"].startswith("test_")]
    assert per_test and all(e["test_id"] == "test_a.py::test_a" for e in per_test)
    phases = [e["step_name"] for e in watched.of_type("test_progress")]
    assert phases == ["setup", "call", "teardown"]
    assert [o["type"] for o in watched.others][:1] in (["hello"], ["viewers"])


MARKED_SUITE = """
import pytest

pytestmark = pytest.mark.slow

@pytest.mark.parametrize("n", [1, pytest.param(2, marks=pytest.mark.flaky_case)])
def test_plain(n):
    pass

@pytest.mark.ui
class TestOuter:
    @pytest.mark.login
    def test_method(self):
        pass

    class TestInner:
        def test_deep(self):
            pass
"""


def test_collection_lists_each_test_with_its_class_and_markers(
    suite_dir: pytest.Pytester, start_live
) -> None:
    suite_dir.makeini("[pytest]\nmarkers =\n    slow\n    flaky_case\n    ui\n    login\n")
    suite_dir.makepyfile(test_marks=MARKED_SUITE)
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1")
    watched = watch_sync(run.ws_url())
    assert run.wait() == 0, run.output
    (collection,) = watched.of_type("collection_finished")
    listed = {t["test_id"]: (t["file"], t["cls"], t["name"], t["markers"])
              for t in collection["tests"]}
    assert listed == {
        "test_marks.py::test_plain[1]": ("test_marks.py", None, "test_plain[1]",
                                         ["parametrize", "slow"]),
        "test_marks.py::test_plain[2]": ("test_marks.py", None, "test_plain[2]",
                                         ["flaky_case", "parametrize", "slow"]),
        "test_marks.py::TestOuter::test_method": ("test_marks.py", "TestOuter", "test_method",
                                                  ["login", "slow", "ui"]),
        "test_marks.py::TestOuter::TestInner::test_deep": (
            "test_marks.py", "TestInner", "test_deep", ["slow", "ui"]),
    }


GATED_SUITE = '''
import os, time, pathlib

def test_first():
    pass

def test_gate():
    # Waits until the test says the viewer is in, so the viewer joins mid-run.
    gate = pathlib.Path(os.environ["GATE"])
    deadline = time.monotonic() + 60
    while not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.01)

def test_last():
    pass
'''


def test_viewer_joining_mid_run_and_resuming_misses_nothing(
    suite_dir: pytest.Pytester, start_live
) -> None:
    suite_dir.makepyfile(test_gated=GATED_SUITE)
    gate = suite_dir.path / "gate"
    run = start_live(suite_dir.path, env={"GATE": str(gate)})

    async def scenario() -> tuple[list[dict], Watched]:
        # Join while test_gate is running, read a little, drop the connection.
        first: list[dict] = []
        async with websockets.connect(run.ws_url("viewer-1")) as ws:
            while not any(e["type"] == "test_started" and e["test_id"].endswith("test_gate")
                          for e in first):
                frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
                first += [m for m in unpack(frame) if "seq" in m]
        gate.touch()
        # Come back as the same viewer with what it has; get exactly the rest.
        rest = await watch(
            run.ws_url("viewer-1"),
            first_messages=[{"type": "resume", "run_id": first[0]["run_id"],
                             "last_seq": first[-1]["seq"]}],
        )
        return first, rest

    first, rest = asyncio.run(scenario())
    assert run.wait() == 0
    combined = Watched(events=first + rest.events)
    assert_complete(combined)
    assert rest.events[0]["seq"] == first[-1]["seq"] + 1


def test_viewer_after_the_run_gets_it_all_while_lingering(
    suite_dir: pytest.Pytester, start_live
) -> None:
    suite_dir.makepyfile(test_a="def test_a(): pass\ndef test_b(): pass\n")
    run = start_live(suite_dir.path, "--jb-live-linger", "3")
    wait_until(lambda: "serving the finished run" in run.output, timeout=60)
    watched = watch_sync(run.ws_url())
    assert_complete(watched)
    assert len(watched.of_type("test_completed")) == 2
    assert run.wait() == 0


@pytest.mark.parametrize(
    ("resume", "reason"),
    [
        ({"run_id": "0" * 32, "last_seq": 2}, "unknown run"),
        ({"last_seq": 10_000}, "seq out of range"),
    ],
)
def test_resume_that_cannot_be_honoured_gets_reset_and_full_replay(
    suite_dir: pytest.Pytester, start_live, resume: dict, reason: str
) -> None:
    suite_dir.makepyfile(test_a="def test_a(): pass\n")
    run = start_live(suite_dir.path, "--jb-live-linger", "60")
    wait_until(lambda: "serving the finished run" in run.output, timeout=60)
    run_id = watch_sync(run.ws_url("probe"), until_type="session_finished").events[0]["run_id"]
    message = {"type": "resume", "run_id": run_id, **resume}
    watched = watch_sync(run.ws_url("resumer"), first_messages=[message],
                         until_type="session_finished")
    resets = [o for o in watched.others if o["type"] == "reset"]
    assert resets == [{"type": "reset", "run_id": run_id, "reason": reason}]
    assert_complete(watched)


def test_bad_messages_get_errors_and_the_connection_stays(
    suite_dir: pytest.Pytester, start_live
) -> None:
    suite_dir.makepyfile(test_a="def test_a(): pass\n")
    run = start_live(suite_dir.path, "--jb-live-linger", "60")
    wait_until(lambda: "serving the finished run" in run.output, timeout=60)
    bad = [
        "this is not json",
        "[1, 2]",
        json.dumps({"no": "type"}),
        json.dumps({"type": "launch_missiles"}),
        json.dumps({"type": "subscribe"}),
        json.dumps({"type": "resume", "run_id": "x", "last_seq": "7"}),
        json.dumps({"type": "ack", "seq": True}),
    ]

    async def scenario() -> list[dict]:
        replies: list[dict] = []
        async with websockets.connect(run.ws_url()) as ws:
            for text in bad:
                await ws.send(text)
            await ws.send(json.dumps({"type": "ping", "id": "still-there"}))
            while not any(r.get("type") == "pong" for r in replies):
                for message in unpack(json.loads(await asyncio.wait_for(ws.recv(), 10))):
                    if "seq" not in message:
                        replies.append(message)
        return replies

    replies = asyncio.run(scenario())
    errors = [r["message"] for r in replies if r["type"] == "error"]
    assert errors == [
        "message is not valid JSON",
        "message must be a JSON object",
        "message has no 'type' string",
        "unknown message type 'launch_missiles'",
        "'subscribe' needs field 'group' of type str",
        "'resume' needs field 'last_seq' of type int",
        "'ack' needs field 'seq' of type int",
    ]
    assert next(r for r in replies if r["type"] == "pong")["id"] == "still-there"


def test_subscribing_to_one_test_gives_only_its_events(
    suite_dir: pytest.Pytester, start_live
) -> None:
    suite_dir.makepyfile(test_a="def test_a(): pass\ndef test_b(): pass\n")
    run = start_live(suite_dir.path, "--jb-live-linger", "60")
    wait_until(lambda: "serving the finished run" in run.output, timeout=60)
    watched = watch_sync(
        run.ws_url(),
        first_messages=[
            {"type": "unsubscribe", "group": "general"},
            {"type": "subscribe", "group": "test_test_a.py::test_b"},
        ],
        until_type="test_completed",
    )
    assert watched.events
    assert {e["test_id"] for e in watched.events} == {"test_a.py::test_b"}


def test_estimated_duration_comes_from_the_previous_run(
    pytester: pytest.Pytester, start_live
) -> None:
    pytester.makepyfile(test_a="def test_a(): pass\n")
    estimates = []
    for _ in range(2):
        run = start_live(pytester.path, "--jb-live-wait-viewers", "1")
        watched = watch_sync(run.ws_url())
        assert run.wait() == 0
        estimates.append(watched.of_type("test_started")[0]["estimated_duration"])
    assert estimates[0] is None
    assert isinstance(estimates[1], float) and estimates[1] >= 0
