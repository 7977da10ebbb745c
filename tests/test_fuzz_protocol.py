"""Property-based fuzzing of the viewer protocol against a live server while a run streams.

Thousands of random frames (hypothesis) go to a real server: garbage must each get one
``error`` and leave the connection up, valid messages must get none. Meanwhile the run
keeps publishing; afterwards the server still answers, a well-behaved viewer has the
complete log, and the run's exit status is what the suite gives.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_jbrealtime.protocol import COUNT_KEYS
from pytest_jbrealtime.server.viewers import GROUP
from tests.held_run import HeldRun, Viewer, mint

# test_stream publishes custom events until the fuzzing is over, so the log grows
# all the while (then two more tests, one failing: exit status 1).
STREAMING_SUITE = '''
import os, pathlib, time
from pytest_jbrealtime.pytest_side.publisher import active_publisher

def test_before():
    pass

def test_hold():
    gate = pathlib.Path(os.environ["JB_TEST_GATE"])
    publisher = active_publisher()
    assert publisher is not None
    deadline = time.monotonic() + 600
    tick = 0
    while not gate.exists():
        assert time.monotonic() < deadline, "the fuzzer never finished"
        tick += 1
        publisher.publish("custom", {"name": "tick", "data": {"n": tick}})
        time.sleep(0.005)

def test_after_fails():
    assert 1 == 2
'''
VALID_TYPES = ("subscribe", "unsubscribe", "resume", "ping", "ack")
JSON_LEAF = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
             | st.text(max_size=40))
JSON_VALUE = st.recursive(JSON_LEAF, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                          max_leaves=20)

# (frame, whether it must get exactly one error)
valid = st.one_of(
    st.builds(lambda i: {"type": "ping", "id": i},
              st.none() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
              | st.text(max_size=30)),
    st.builds(lambda n: {"type": "ack", "seq": n},
              st.integers(min_value=-(2**70), max_value=2**70)),
    st.builds(lambda g: {"type": "subscribe", "group": g},
              st.sampled_from(["general", "system_monitor", "test_a.py::test_b[1]"])),
    st.builds(lambda g: {"type": "unsubscribe", "group": g},
              st.sampled_from(["system_monitor", "test_x.py::test_y"])),
).map(lambda m: (json.dumps(m), False))
wrong_fields = st.one_of(
    st.builds(lambda v: {"type": "ack", "seq": v},
              JSON_VALUE.filter(lambda v: not isinstance(v, int) or isinstance(v, bool))),
    st.builds(lambda v: {"type": "resume", "run_id": v, "last_seq": 1},
              JSON_VALUE.filter(lambda v: not isinstance(v, str))),
    st.builds(lambda v: {"type": "resume", "run_id": "r", "last_seq": v},
              JSON_VALUE.filter(lambda v: not isinstance(v, int) or isinstance(v, bool))),
    st.builds(lambda v: {"type": "subscribe", "group": v},
              JSON_VALUE.filter(lambda v: not isinstance(v, str))),
    st.builds(lambda v: {"type": "subscribe", "group": v},
              st.text(max_size=40).filter(lambda t: not GROUP.match(t))),
    st.builds(lambda v: {"type": "ping", "id": v},
              (st.lists(JSON_LEAF, max_size=3) | st.dictionaries(st.text(max_size=5), JSON_LEAF,
                                                                 max_size=3) | st.floats())),
    # Echoed back, so bounded: longer than 64 characters, or more than JS can hold.
    st.builds(lambda v: {"type": "ping", "id": v},
              st.text(min_size=65, max_size=200) | st.integers(min_value=2**53)
              | st.integers(max_value=-(2**53))),
    st.builds(lambda t: {"type": t}, st.text(max_size=30).filter(lambda t: t not in VALID_TYPES)),
    st.builds(lambda d: d, st.dictionaries(st.text(max_size=8).filter(lambda k: k != "type"),
                                           JSON_VALUE, max_size=4)),
).map(lambda m: (json.dumps(m), True))
not_objects = JSON_VALUE.filter(lambda v: not isinstance(v, dict)).map(
    lambda v: (json.dumps(v), True))
not_json = st.text(st.characters(exclude_categories=("Cs",)), max_size=200).filter(
    lambda t: not _is_json(t)).map(lambda t: (t, True))
binary = st.binary(max_size=200).map(lambda b: (b, True))
deep = st.integers(min_value=1, max_value=30_000).map(lambda n: ("[" * n + "]" * n, True))
FRAME = st.one_of(valid, wrong_fields, not_objects, not_json, binary, deep)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


class LoopThread:
    """One event loop for the whole fuzz run, so one connection serves every example."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def streaming(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeldRun]:
    # The fuzzer is one user sending far more than 20 messages a second on purpose:
    # the rate limit has its own test; here it would only end every example early.
    run = HeldRun(tmp_path_factory.mktemp("fuzz"), "--jb-live-max-message-rate", "100000",
                  suite=STREAMING_SUITE)
    yield run
    run.kill()


def test_thousands_of_random_frames_leave_the_server_and_the_run_whole(
    streaming: HeldRun,
) -> None:
    loops = LoopThread()
    try:
        # No client keepalive pings: websockets draws their payload from the random
        # module, in the loop thread, which hypothesis would see mid-generation.
        quiet = {"ping_interval": None}
        watcher: Viewer = loops.run(Viewer.connect(streaming.ws_url(client_id="watcher"),
                                                   **quiet))
        reader = asyncio.run_coroutine_threadsafe(watcher.closed_code(timeout=300), loops.loop)
        fuzzer: Viewer = loops.run(Viewer.connect(streaming.ws_url(
            mint(streaming.run_id, sub="fuzzer"), client_id="fuzzer"), **quiet))
        sent = {"frames": 0, "errors": 0}

        @settings(max_examples=600, deadline=None, database=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                         HealthCheck.filter_too_much])
        @given(frames=st.lists(FRAME, min_size=1, max_size=8))
        def throw(frames: list[tuple[str | bytes, bool]]) -> None:
            async def exchange() -> list[dict[str, Any]]:
                for frame, _ in frames:
                    await fuzzer.send(frame)
                return await fuzzer.roundtrip(timeout=30)

            before = loops.run(exchange())
            errors = [m for m in before if m.get("type") == "error"]
            expected = sum(1 for _, bad in frames if bad)
            assert len(errors) == expected, (frames, errors)
            sent["frames"] += len(frames)
            sent["errors"] += expected

        throw()
        assert sent["frames"] >= 2000
        # Afterwards: the server answers HTTP and a fresh viewer, the fuzzer is still up.
        assert httpx.get(streaming.http_url("/api/run")).status_code == 200
        late: Viewer = loops.run(Viewer.connect(streaming.ws_url(client_id="late"), **quiet))
        loops.run(late.roundtrip())
        loops.run(late.close())
        loops.run(fuzzer.roundtrip())
        loops.run(fuzzer.close())
        streaming.gate.touch()
        assert reader.result(300) == 1000
    finally:
        loops.close()
    assert streaming.live.wait(120) == 1
    events = [m for m in watcher.messages if "seq" in m]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "session_finished"
    assert events[-1]["exit_status"] == 1
    assert events[-1]["counts"] == {**dict.fromkeys(COUNT_KEYS, 0), "passed": 2, "failed": 1}
    assert len([e for e in events if e["type"] == "custom"]) > 10  # it streamed meanwhile
    assert "1 failed, 2 passed" in streaming.live.output
