"""The log backend seam: one test body, run against the memory backend and Redis Streams."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_jbrealtime.hub.backends import backend_for_url
from pytest_jbrealtime.hub.backends.base import LiveQuota, LiveRunsFull, LogBackend, UnknownRun
from pytest_jbrealtime.hub.runlog import HubRun
from pytest_jbrealtime.hub.runstate import merged_session_finished
from tests.redis_support import redis_server_fixture  # noqa: F401

StoreFactory = Callable[[], LogBackend]


@pytest.fixture(params=["memory", "redis"])
def new_backend(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Backends on one store: a second one is a restarted hub (memory) or another hub (Redis)."""
    url = None
    if request.param == "redis":
        url = request.getfixturevalue("redis_server").url
        request.applymarker(pytest.mark.redis)

    def make() -> LogBackend:
        return backend_for_url(url, tmp_path / "data", retention_seconds=3600)

    return make


def numbered(events: list[dict[str, Any]], shard: str, first: int) -> list[dict[str, Any]]:
    """As the intake hands them on: tagged, numbered, a shard's end as shard_finished."""
    out = []
    for offset, event in enumerate(events):
        event = {**event, "shard": shard, "shard_seq": first + offset, "ts": 1.0e9 + offset}
        if event["type"] == "session_finished":
            event["type"] = "shard_finished"
        out.append(event)
    return out


def shard_events(name: str, results: list[str]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [{"type": "session_started"}]
    for index, result in enumerate(results):
        test_id = f"test_{name}.py::test_{index}"
        events.append({"type": "test_started", "test_id": test_id})
        events.append({"type": "test_completed", "test_id": test_id, "result": result})
    counts: dict[str, int] = {}
    for result in results:
        counts[result] = counts.get(result, 0) + 1
    events.append({"type": "session_finished", "exit_status": 1 if "failed" in counts else 0,
                   "duration": 1.5, "total": len(results), "counts": counts})
    return events


async def caught_up(run: HubRun, length: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while len(run.log) < length:
        assert time.monotonic() < deadline, f"{len(run.log)} of {length} events"
        await asyncio.sleep(0.01)


@pytest.mark.asyncio
async def test_backend_contract(new_backend: StoreFactory) -> None:
    backend = new_backend()
    await backend.start()
    try:
        assert await backend.open_run("r1") is None
        with pytest.raises(UnknownRun):
            await backend.append("r1", "a", numbered([{"type": "x"}], "a", 1))
        assert (await backend.join("r1", "a", "producer-a", {}, 2)).last == 0
        assert (await backend.join("r1", "b", "producer-b", {}, 2)).last == 0
        events_a = numbered(shard_events("a", ["passed", "failed", "passed"]), "a", 1)
        events_b = numbered(shard_events("b", ["passed", "skipped"]), "b", 1)

        first = await backend.append("r1", "a", events_a[:3])
        assert (first.last, first.ended) == (3, None)
        # A reconnect: join again, and the frame sent twice goes in once.
        assert (await backend.join("r1", "a", "producer-a", {}, 2)).last == 3
        again = await backend.append("r1", "a", events_a[:-1])
        assert (again.last, again.ended) == (len(events_a) - 1, None)
        # Shard a ends; the run waits for b.
        assert (await backend.append("r1", "a", events_a[-1:])).ended is None
        await backend.append("r1", "b", events_b[:-1])
        ending = await backend.append("r1", "b", events_b[-1:])
        assert ending.ended is not None and set(ending.ended) == {"a", "b"}
        # ... said once, even when the end is sent again.
        assert (await backend.append("r1", "b", events_b[-1:])).ended is None
        await backend.append("r1", None, [merged_session_finished(ending.ended)])

        total = 2 + len(events_a) + len(events_b) + 1
        run = await backend.open_run("r1")
        assert run is not None
        await caught_up(run, total)
        logged = [entry.event for entry in run.log.read_after(0, total + 10)]
        assert [e["seq"] for e in logged] == list(range(1, total + 1))
        assert [e["type"] for e in logged][:2] == ["shard_joined", "shard_joined"]
        for shard, sent in (("a", events_a), ("b", events_b)):
            mine = [e for e in logged if e.get("shard") == shard and "shard_seq" in e]
            assert [e["shard_seq"] for e in mine] == list(range(1, len(sent) + 1))
            assert [e["type"] for e in mine] == [e["type"] for e in sent]
        assert logged[-1]["type"] == "session_finished"
        assert logged[-1]["counts"] == {"passed": 3, "failed": 1, "skipped": 1}
        assert run.log.finished
        for entry in run.log.read_after(0, total):
            assert json.loads(entry.text) == entry.event

        listing = {r["run_id"]: r for r in await backend.list_runs()}["r1"]
        assert listing["status"] == "finished"
        assert listing["counts"] == {"passed": 3, "failed": 1, "skipped": 1}
        assert (listing["shards"], listing["shards_finished"], listing["total"]) == (2, 2, 5)
        assert listing["events"] == total
        assert listing["duration"] == 1.5  # the longest shard's

        # Another producer under a name already taken gets a name of its own.
        assert (await backend.join("r2", "ci", "one", {}, 0)).shard == "ci"
        assert (await backend.join("r2", "ci", "two", {}, 0)).shard == "ci.2"

        # The same store seen by another backend: a restarted hub, or another hub.
        other = new_backend()
        await other.start()
        try:
            copy = await other.open_run("r1")
            assert copy is not None
            await caught_up(copy, total)
            assert [e.text for e in copy.log.read_after(0, total)] == [
                e.text for e in run.log.read_after(0, total)]
            assert (await other.join("r1", "a", "producer-a", {}, 2)).last == len(events_a)
            listed = {r["run_id"]: r for r in await other.list_runs()}
            assert listed["r1"]["counts"] == listing["counts"]
            assert [r["run_id"] for r in await other.list_runs()][-1] == "r1"  # newest first
        finally:
            await other.close()
    finally:
        await backend.close()


async def finished_run(backend: LogBackend, run_id: str) -> None:
    await backend.join(run_id, "only", "p", {}, 0)
    events = numbered(shard_events("x", ["passed"]), "only", 1)
    ending = await backend.append(run_id, "only", events)
    assert ending.ended is not None
    await backend.append(run_id, None, [merged_session_finished(ending.ended)])


@pytest.mark.asyncio
async def test_memory_backend_deletes_runs_past_their_retention(tmp_path: Path) -> None:
    from pytest_jbrealtime.hub.backends.memory import MemoryBackend

    backend = MemoryBackend(tmp_path / "data", retention_seconds=3600)
    await backend.start()
    try:
        await finished_run(backend, "old")
        folder = tmp_path / "data" / "runs" / "old"
        assert (folder / "log.jsonl").is_file()
        assert backend.expire(now=time.time() + 60) == []
        assert backend.expire(now=time.time() + 3600 + 60) == ["old"]
        assert not folder.exists()
        assert await backend.open_run("old") is None
        assert await backend.list_runs() == []
    finally:
        await backend.close()


@pytest.mark.redis
@pytest.mark.asyncio
async def test_redis_backend_lets_finished_runs_expire(redis_server: Any) -> None:
    from pytest_jbrealtime.hub.backends.redis_streams import RedisBackend, log_key, meta_key

    backend = RedisBackend(redis_server.url, retention_seconds=3600)
    await backend.start()
    try:
        await backend.join("live", "only", "p", {}, 0)
        await finished_run(backend, "done")
        for key in (meta_key("done"), log_key("done")):
            assert 3500 < await backend.redis.ttl(key) <= 3600
        assert await backend.redis.ttl(meta_key("live")) == -1  # no expiry while live
        await backend.redis.delete(meta_key("done"), log_key("done"))  # as if expired
        assert [r["run_id"] for r in await backend.list_runs()] == ["live"]
        assert await backend.redis.zrange("jblive:runs", 0, -1) == [b"live"]
    finally:
        await backend.close()


@pytest.mark.asyncio
async def test_backend_lifecycle_contract(new_backend: StoreFactory) -> None:
    """Shards gone for the timeout end their run once; one coming back opens it again;
    a finished run leaves memory and is read back whole."""
    from pytest_jbrealtime.hub.runstate import interrupted_session_finished

    backend = new_backend()
    await backend.start()
    try:
        await backend.join("gone", "a", "pa", {}, 3)
        await backend.join("gone", "b", "pb", {}, 3)
        await backend.append("gone", "a", numbered(shard_events("a", ["passed"]), "a", 1))
        await backend.append("gone", "b", numbered(shard_events("b", ["failed"])[:3], "b", 1))
        await backend.heartbeat({("gone", "b")})
        assert await backend.claim_abandoned(0.3) == []  # b was here just now
        await asyncio.sleep(0.5)
        await backend.heartbeat({("gone", "b")})  # still connected: still alive
        assert await backend.claim_abandoned(0.3) == []
        await asyncio.sleep(0.5)  # b's producer went away
        [claimed] = await backend.claim_abandoned(0.3)
        assert (claimed.run_id, claimed.vanished, claimed.missing) == ("gone", ["b"], 1)
        assert set(claimed.summaries) == {"a"}
        assert await backend.claim_abandoned(0.3) == []  # claimed once
        end = interrupted_session_finished(claimed.summaries, claimed.vanished,
                                           claimed.missing, 0.3)
        await backend.append("gone", None, [end])
        listing = {r["run_id"]: r for r in await backend.list_runs()}["gone"]
        assert (listing["status"], listing["exit_status"]) == ("interrupted", 2)
        assert listing["counts"] == {"passed": 1}

        other = new_backend()  # a restarted hub, or another hub
        await other.start()
        try:
            assert await other.claim_abandoned(0.0) == []  # ended: nothing to claim
            listed = {r["run_id"]: r for r in await other.list_runs()}["gone"]
            assert (listed["status"], listed["exit_status"]) == ("interrupted", 2)
            # b comes back after all (its hub was down long): the run is open again.
            assert (await other.join("gone", "b", "pb", {}, 3)).last == 3
            run = await other.open_run("gone")
            assert run is not None
            await caught_up(run, 2 + 4 + 3 + 1 + 1)
            assert run.log.read_after(0, 100)[-1].event["type"] == "shard_resumed"
            listed = {r["run_id"]: r for r in await other.list_runs()}["gone"]
            assert listed["status"] == "live"
        finally:
            await other.close()

        # A finished run leaves memory once unused, and comes back whole.
        await finished_run(backend, "done")
        run = await backend.open_run("done")
        assert run is not None
        await caught_up(run, 6)
        texts = [e.text for e in run.log.read_after(0, 100)]
        assert await backend.evict(60.0) == []
        await asyncio.sleep(0.2)
        # (Memory: "gone" too, ended as far as this instance knows; Redis: it is live.)
        assert "done" in await backend.evict(0.1)
        listed = {r["run_id"]: r for r in await backend.list_runs()}["done"]
        assert (listed["status"], listed["loaded"]) == ("finished", False)
        again = await backend.open_run("done")
        assert again is not None and again is not run
        await caught_up(again, len(texts))
        assert [e.text for e in again.log.read_after(0, 100)] == texts
        assert again.log.finished
    finally:
        await backend.close()


@pytest.mark.asyncio
async def test_live_run_quota_contract(new_backend: StoreFactory) -> None:
    """The caps on live runs, taken in the join's own step: a run counts for its token
    once, a refused join joins nothing, an ended run frees its slot."""
    backend = new_backend()
    await backend.start()
    try:
        mine, theirs = LiveQuota("token-a", 2, 3), LiveQuota("token-b", 2, 3)
        await backend.join("a1", "s", "p", {}, 1, mine)
        await backend.join("a1", "s2", "p", {}, 1, mine)  # the same run: counted once
        await backend.join("a2", "s", "p", {}, 1, mine)
        with pytest.raises(LiveRunsFull, match="this token has 2 live runs"):
            await backend.join("a3", "s", "p", {}, 1, mine)
        assert await backend.open_run("a3") is None  # nothing joined
        await backend.join("b1", "s", "p", {}, 1, theirs)
        with pytest.raises(LiveRunsFull, match="the hub has 3 live runs"):
            await backend.join("b2", "s", "p", {}, 1, theirs)
        await backend.join("a1", "s3", "p", {}, 1, theirs)  # live already: no new slot
        # a1 ends: its slot is free for token a (a3) and in all.
        await backend.append("a1", None, [merged_session_finished({})])
        await backend.join("a3", "s", "p", {}, 1, mine)
        with pytest.raises(LiveRunsFull, match="the hub has 3 live runs"):
            await backend.join("b2", "s", "p", {}, 1, theirs)
        await backend.join("b2", "s", "p", {}, 1)  # without a quota: not counted
    finally:
        await backend.close()
