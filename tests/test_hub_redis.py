"""Several hubs on one Redis: one run served by any of them, and Redis losing everything."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests.hub_support import HubProcess, Shard, wait_for_event
from tests.redis_support import RedisServer, redis_server_fixture  # noqa: F401
from tests.support import unpack, watch_sync
from tests.test_hub import SUITE_A, SUITE_B, assert_whole_log, held_suite, results_by_test

pytestmark = pytest.mark.redis


def test_two_hubs_on_one_redis_serve_one_run(tmp_path: Path, redis_server: RedisServer,
                                             running: list[Any]) -> None:
    # Hubs on one Redis share one history database too (PostgreSQL in production; one
    # SQLite file serves two processes on one machine): the run lists then agree.
    history = ("--history-url", f"sqlite:///{tmp_path / 'history.sqlite3'}")
    hub_a = HubProcess(tmp_path / "a", 0, redis_server.url, *history)
    hub_b = HubProcess(tmp_path / "b", 0, redis_server.url, *history)
    running += [hub_a, hub_b]
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_a.py").write_text(SUITE_A)
    (suite / "test_b.py").write_text(SUITE_B)
    # One shard publishes to each hub; a viewer on hub B watches it all as it happens.
    shard_a = Shard(suite, hub_a.url, "test_a.py", "--jb-live-shards", "2", run_id="across",
                    env={"JB_LIVE_SHARD": "a"})
    running.append(shard_a)
    wait_for_event(hub_b.viewer_url("across"), lambda e: e["type"] == "shard_joined")
    live_on_b = watch_sync_in_thread(hub_b.viewer_url("across", "live-b"))
    shard_b = Shard(suite, hub_b.url, "test_b.py", "--jb-live-shards", "2", run_id="across",
                    env={"JB_LIVE_SHARD": "b"})
    running.append(shard_b)
    assert shard_a.wait() == 1
    assert shard_b.wait() == 1
    watched_b = live_on_b.result(timeout=120)
    assert watched_b.close_code == 1000
    assert_whole_log(watched_b)
    finished = watched_b.of_type("session_finished")
    assert len(finished) == 1
    assert finished[0]["counts"] == {
        name: shard_a.counts().get(name, 0) + shard_b.counts().get(name, 0)
        for name in {*shard_a.counts(), *shard_b.counts()}}
    assert len(results_by_test(watched_b)) == 16

    # Hub A serves the same log, text for text.
    watched_a = watch_sync(hub_a.viewer_url("across"))
    assert watched_a.events == watched_b.events
    # A viewer that read part of the run on hub A resumes on hub B: the rest, once.
    middle = len(watched_a.events) // 2
    partial = watch_sync(hub_a.viewer_url("across", "mover"), stop_after_seq=middle)
    last_seq = partial.events[-1]["seq"]
    rest = watch_sync(hub_b.viewer_url("across", "mover"),
                      first_messages=[{"type": "resume", "run_id": "across", "last_seq": last_seq}])
    assert [e["seq"] for e in rest.events] == list(range(last_seq + 1, len(watched_a.events) + 1))
    assert not [m for m in rest.others if m["type"] == "reset"]
    assert hub_a.runs()["across"] == {**hub_b.runs()["across"], "viewers": 0}


class ThreadResult:
    def __init__(self, future: Any) -> None:
        self._future = future

    def result(self, timeout: float) -> Any:
        return self._future.result(timeout)


def watch_sync_in_thread(url: str, **kwargs: Any) -> ThreadResult:
    from concurrent.futures import ThreadPoolExecutor

    executor = ThreadPoolExecutor(max_workers=1)
    future = executor.submit(watch_sync, url, timeout=180, **kwargs)
    executor.shutdown(wait=False)
    return ThreadResult(future)


async def watch_through(url: str, stop: asyncio.Event) -> list[dict[str, Any]]:
    """Everything a viewer gets, reconnecting (with resume) until the run is over."""
    messages: list[dict[str, Any]] = []
    run_id: str | None = None
    last_seq = 0
    while True:
        try:
            async with websockets.connect(url, max_size=None) as ws:
                if run_id is not None:
                    await ws.send(json.dumps({"type": "resume", "run_id": run_id,
                                              "last_seq": last_seq}))
                async for frame in ws:
                    for message in unpack(json.loads(frame)):
                        messages.append(message)
                        if "seq" in message:
                            last_seq = message["seq"]
                            run_id = message["run_id"]
                        elif message["type"] == "reset":
                            last_seq = 0
                if ws.close_code == 1000:
                    return messages
        except (OSError, websockets.ConnectionClosed):
            pass
        if stop.is_set():
            return messages
        await asyncio.sleep(0.1)


def test_redis_restarting_empty_mid_run_loses_nothing(tmp_path: Path,
                                                      redis_server: RedisServer,
                                                      running: list[Any]) -> None:
    hub = HubProcess(tmp_path / "hub", 0, redis_server.url)
    running.append(hub)
    gate = held_suite(tmp_path / "suite")
    shard = Shard(tmp_path / "suite", hub.url, "--jb-live-hub-wait", "120", run_id="redis-lost",
                  env={"JB_TEST_GATE": str(gate)})
    running.append(shard)
    wait_for_event(hub.viewer_url("redis-lost"),
                   lambda e: e["type"] == "test_started" and e["test_id"].endswith("test_hold"))

    async def scenario() -> list[dict[str, Any]]:
        stop = asyncio.Event()
        viewer = asyncio.create_task(watch_through(hub.viewer_url("redis-lost", "through"), stop))
        await asyncio.to_thread(redis_server.restart)  # everything in Redis is gone
        gate.touch()
        assert await asyncio.to_thread(shard.wait) == 1
        messages = await asyncio.wait_for(viewer, 120)
        return messages

    messages = asyncio.run(scenario())
    assert "WARNING" not in shard.text
    # The one hub held the whole run: it put it back, and its viewer simply went on.
    assert hub.output is not None
    assert "Redis had lost it; put back" in hub.output.text, hub.output.text
    # The live viewer: resumed through the loss (no reset), every event once, no gap.
    assert not [m for m in messages if m.get("type") == "reset"]
    live = [m for m in messages if "seq" in m]
    assert [m["seq"] for m in live] == list(range(1, len(live) + 1))
    whole = watch_sync(hub.viewer_url("redis-lost"))
    assert_whole_log(whole)
    assert results_by_test(whole) == {
        "test_held.py::test_before": "passed",
        "test_held.py::test_hold": "passed",
        "test_held.py::test_after_fails": "failed",
    }
    assert whole.of_type("session_finished")[0]["counts"] == shard.counts()
    # It watched to the end (closed with 1000) and saw what a later viewer sees, as it is.
    assert live == whole.events
