"""Fan-out with coalesced wake-ups: bursts of producer frames reach every viewer whole.

The hub wakes a run's viewers once per short interval, not once per producer frame, and
viewers at the same cursor share one frame (server/viewers.py). Not timed: what a
burst must still give every viewer is every event, once, in order.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
import websockets

from pytest_jbrealtime.server.frames import MAX_BATCH, FrameCache, build_frame
from pytest_jbrealtime.server.viewers import ViewerConnection, ViewerRegistry
from pytest_jbrealtime.shared.log import EventLog
from tests.hub_support import HubProcess, mint
from tests.redis_support import RedisServer, redis_server_fixture  # noqa: F401
from tests.support import Watched
from tests.test_hub import assert_whole_log

PRODUCERS = 3
FRAMES = 60
EVENTS_PER_FRAME = 10
VIEWERS = 20


@pytest.fixture
def hubs() -> Iterator[list[HubProcess]]:
    started: list[HubProcess] = []
    yield started
    for hub in started:
        hub.kill()


async def burst(producer_url: str, run_id: str, index: int, start: asyncio.Event) -> None:
    """One producer: joins, then at ``start`` sends all its frames without waiting for
    an ack (they reach the hub back to back), then its end."""
    headers = {"Authorization": f"Bearer {mint('producer')}"}
    async with websockets.connect(producer_url, additional_headers=headers) as ws:
        await ws.send(json.dumps({"type": "join", "run_id": run_id, "shard": f"p{index}",
                                  "producer": f"producer-{index}", "shards": PRODUCERS}))
        assert json.loads(await ws.recv())["type"] == "joined"
        await start.wait()
        number = 0
        for _ in range(FRAMES):
            events = [{"type": "burst_event", "p": index, "n": number + i + 1}
                      for i in range(EVENTS_PER_FRAME)]
            await ws.send(json.dumps({"type": "publish", "run_id": run_id,
                                      "first": number + 1, "events": events}))
            number += EVENTS_PER_FRAME
        await ws.send(json.dumps({"type": "publish", "run_id": run_id, "first": number + 1,
                                  "events": [{"type": "session_finished", "exit_status": 0,
                                              "counts": {}, "total": 0}]}))
        # Acks (and viewer counts) until every frame is acknowledged.
        while True:
            reply = json.loads(await ws.recv())
            if reply["type"] == "ack" and reply.get("last", 0) >= number + 1:
                return


async def viewer(url: str, ready: asyncio.Event) -> Watched:
    """Reads the run until the hub closes it (1000 once it has it all)."""
    watched = Watched()
    async with websockets.connect(url, max_size=None) as ws:
        watched.add_frame(await ws.recv())  # hello: connected
        ready.set()
        try:
            async for frame in ws:
                watched.add_frame(frame)
        finally:
            watched.close_code = ws.close_code
    return watched


async def burst_run(hubs: list[HubProcess], run_id: str) -> list[Watched]:
    start = asyncio.Event()
    producers = [asyncio.create_task(burst(hubs[i % len(hubs)].producer_url, run_id, i, start))
                 for i in range(PRODUCERS)]
    # The run exists once a producer joined; then viewers connect, then the burst.
    for _ in range(200):
        if run_id in hubs[0].runs():
            break
        await asyncio.sleep(0.05)
    readies = [asyncio.Event() for _ in range(VIEWERS)]
    viewers = [asyncio.create_task(viewer(hubs[i % len(hubs)].viewer_url(run_id, f"v{i}"),
                                          readies[i]))
               for i in range(VIEWERS)]
    await asyncio.wait_for(asyncio.gather(*(ready.wait() for ready in readies)), 60)
    start.set()
    await asyncio.wait_for(asyncio.gather(*producers), 120)
    return await asyncio.wait_for(asyncio.gather(*viewers), 120)


@pytest.mark.parametrize("store", ["memory", "two hubs on redis"])
def test_a_burst_reaches_every_viewer_whole_in_order_once(
    tmp_path: Path, hubs: list[HubProcess], store: str, request: pytest.FixtureRequest,
) -> None:
    if store == "memory":
        hubs.append(HubProcess(tmp_path / "hub"))
    else:
        redis: RedisServer = request.getfixturevalue("redis_server")
        hubs += [HubProcess(tmp_path / "a", 0, redis.url), HubProcess(tmp_path / "b", 0, redis.url)]
    watched = asyncio.run(burst_run(hubs, "burst"))

    first = watched[0]
    for seen in watched:
        assert seen.close_code == 1000  # the whole run, then closed as finished
        assert_whole_log(seen)  # gap-free seqs, each producer's events once and in order
        assert seen.events == first.events  # every viewer the same log
    for index in range(PRODUCERS):
        numbers = [e["n"] for e in first.events
                   if e["type"] == "burst_event" and e["p"] == index]
        assert numbers == list(range(1, FRAMES * EVENTS_PER_FRAME + 1))
    assert [e["type"] for e in first.events].count("session_finished") == 1
    assert first.events[-1]["type"] == "session_finished"


# -- the parts, in one event loop --------------------------------------------------


class CountedWakes:
    """Stands in for a connection in a registry: counts its wake-ups."""

    def __init__(self) -> None:
        self.wakes = 0

    def wake(self) -> None:
        self.wakes += 1


def test_appends_in_quick_succession_wake_each_viewer_once() -> None:
    """The hub's delay: 50 producer frames within it make one wake-up of each viewer."""
    delay = 0.005

    async def scenario() -> list[int]:
        log = EventLog("run")
        registry = ViewerRegistry(log, wake_delay=delay)
        viewers = [CountedWakes() for _ in range(10)]
        registry.viewers.update(cast(ViewerConnection, v) for v in viewers)
        for number in range(50):  # 50 producer frames within one loop turn
            log.extend([{"type": "burst_event", "n": number}])
        assert all(v.wakes == 0 for v in viewers)  # none yet: one wake-up is due
        await asyncio.sleep(delay + 0.05)
        counts = [v.wakes for v in viewers]
        log.extend([{"type": "burst_event", "n": 50}])  # a later append: woken again
        await asyncio.sleep(delay + 0.05)
        return counts + [v.wakes for v in viewers]

    counts = asyncio.run(scenario())
    assert counts == [1] * 10 + [2] * 10


def test_a_run_servers_viewers_are_woken_at_once() -> None:
    """No delay (a run's own server): woken by the append itself, not a loop turn later."""
    async def scenario() -> list[int]:
        log = EventLog("run")
        registry = ViewerRegistry(log)
        viewers = [CountedWakes() for _ in range(3)]
        registry.viewers.update(cast(ViewerConnection, v) for v in viewers)
        log.extend([{"type": "burst_event", "n": 0}])
        return [v.wakes for v in viewers]

    assert asyncio.run(scenario()) == [1, 1, 1]


def test_viewers_at_one_cursor_share_one_frame() -> None:
    log = EventLog("run")
    frames = FrameCache(log)
    assert frames.after(0) is None
    log.extend([{"type": "burst_event", "n": n} for n in range(5)])
    frame = frames.after(0)
    assert frame is not None and frames.after(0) is frame  # built once, for all
    assert (frame.last_seq, frame.count) == (5, 5)
    assert frame.text is not None
    sent = json.loads(frame.text)
    assert sent["type"] == "batch" and [m["seq"] for m in sent["messages"]] == [1, 2, 3, 4, 5]
    one = frames.after(4)
    assert one is not None and one.count == 1 and json.loads(one.text or "")["seq"] == 5
    assert frames.after(5) is None
    log.extend([{"type": "burst_event", "n": 5}])
    longer = frames.after(0)
    assert longer is not None and longer is not frame and longer.last_seq == 6
    # A log emptied and refilled (the hub's store lost the run) is not read from old frames.
    log.truncate()
    log.extend([{"type": "other_event"}])
    again = frames.after(0)
    assert again is not None and json.loads(again.text or "")["type"] == "other_event"


def test_a_frame_is_the_same_as_built_for_a_filtering_viewer() -> None:
    log = EventLog("run")
    log.extend([{"type": "burst_event", "n": n, "test_id": f"t{n % 2}"}
                for n in range(MAX_BATCH + 3)])
    shared = FrameCache(log).after(0)
    assert shared is not None
    assert shared == build_frame(log.read_after(0, MAX_BATCH), frozenset({"general"}))
    assert shared.last_seq == MAX_BATCH
    mine = build_frame(log.read_after(0, 10), frozenset({"test_t1"}))
    assert mine.count == 5 and mine.last_seq == 10
    assert [m["n"] for m in json.loads(mine.text or "")["messages"]] == [1, 3, 5, 7, 9]
    none = build_frame(log.read_after(0, 1), frozenset({"test_t1"}))
    assert none == type(none)(1, None, 0)

