"""A hub shared by teams (issue 15, findings 6 and 7): each attack against a real hub.

Team A's runs are ``team-a-*``, team B's ``team-b-*``; each team's producer token names
its project. Producer tokens reach only their runs, events only the hub may write are
refused, live runs are capped per token and in all, and a run's log file is open only
while it is written (psutil counts the hub's descriptors).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import websockets

from tests.held_run import close_code_of
from tests.hub_support import AUTHORITY, HubProcess, mint
from tests.redis_support import RedisServer, redis_server_fixture  # noqa: F401
from tests.support import watch_sync


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubProcess]:
    started = HubProcess(tmp_path / "data", 0, None, "--max-live-runs", "250",
                         "--max-live-runs-per-token", "12")
    yield started
    started.stop()


async def producer(hub: HubProcess, token: str, run_id: str,
                   events: list[dict[str, Any]] | None = None,
                   screenshot: bytes | None = None) -> dict[str, Any]:
    """Join ``run_id`` and publish; the replies, and the close code if it was closed."""
    replies: list[dict[str, Any]] = []
    code = None
    async with websockets.connect(f"{hub.producer_url}?token={token}", max_size=None) as ws:
        try:
            await ws.send(json.dumps({"type": "join", "run_id": run_id, "shard": "s",
                                      "producer": "p", "shards": 1}))
            replies.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            if screenshot is not None:
                header = json.dumps({"type": "screenshot", "run_id": run_id,
                                     "screenshot_id": "000001-aa"}).encode()
                await ws.send(header + b"\n" + screenshot)
            if events is not None:
                await ws.send(json.dumps({"type": "publish", "run_id": run_id, "first": 1,
                                          "events": events}))
                replies.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
            await ws.close()
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else None
    if code is None and ws.close_code not in (None, 1000):
        code = ws.close_code
    return {"replies": replies, "code": code}


def test_a_producer_token_reaches_only_its_project_or_run(hub: HubProcess) -> None:
    team_a, team_b = mint("producer", "a", project="team-a-"), mint("producer", "b",
                                                                      project="team-b-")
    finished = [{"type": "session_started"},
                {"type": "test_completed", "test_id": "t.py::test_a", "result": "passed"},
                {"type": "session_finished", "exit_status": 0, "total": 1,
                 "counts": {"passed": 1}}]
    own = asyncio.run(producer(hub, team_a, "team-a-1", finished))
    assert own["replies"][0]["type"] == "joined" and own["code"] is None
    watch_sync(hub.viewer_url("team-a-1"), until_type="session_finished")
    before = hub.runs()["team-a-1"]

    # Team B's token against team A's finished run: join, events and a screenshot.
    png = b"\x89PNG\r\n\x1a\n" + b"b" * 100
    flood = [{"type": "test_completed", "test_id": f"t.py::x{i}", "result": "passed"}
             for i in range(999)]
    attack = asyncio.run(producer(hub, team_b, "team-a-1", flood, png))
    assert attack["code"] == 4003, attack
    assert "team-b-" in attack["replies"][0]["message"]
    after = hub.runs()["team-a-1"]
    assert (after["status"], after["counts"], after["events"]) == (
        "finished", before["counts"], before["events"])
    # A token for one run; and one naming nothing is not a producer token on a hub.
    one_run = mint("producer", "c", run="team-a-7")
    assert asyncio.run(producer(hub, one_run, "team-a-7"))["code"] is None
    assert asyncio.run(producer(hub, one_run, "team-a-8"))["code"] == 4003
    unscoped = AUTHORITY.mint("producer", 600, subject="d")
    assert asyncio.run(producer(hub, unscoped, "team-a-9"))["code"] == 4003
    assert set(hub.runs()) == {"team-a-1", "team-a-7"}


def test_a_viewer_token_of_a_project_sees_only_its_runs(hub: HubProcess) -> None:
    for run_id in ("team-a-1", "team-b-1"):
        asyncio.run(producer(hub, mint("producer"), run_id))
    team_b_viewer = mint("viewer", "b-viewer", project="team-b-")
    assert set(hub.runs()) == {"team-a-1", "team-b-1"}  # the hub's own link: every run
    assert set(hub.get_json("/api/runs", team_b_viewer)["runs"][0]) >= {"run_id"}
    assert [r["run_id"] for r in hub.get_json("/api/runs", team_b_viewer)["runs"]] == [
        "team-b-1"]
    assert hub.get_json("/runs/team-b-1/api/run", team_b_viewer)["run_id"] == "team-b-1"
    with pytest.raises(urllib.error.HTTPError) as hidden:
        hub.get_json("/runs/team-a-1/api/run", team_b_viewer)
    hidden.value.close()
    assert hidden.value.code == 404
    assert asyncio.run(close_code_of(hub.viewer_url("team-a-1", token=team_b_viewer))) == 4004


def test_events_only_the_hub_writes_are_refused(hub: HubProcess) -> None:
    token = mint("producer", "a", project="team-a-")
    for forged in ({"type": "shard_joined", "shard": "x", "producer": "p",
                    "expected_shards": 10**9},
                   {"type": "shard_finished", "exit_status": 0},
                   {"type": "shard_resumed", "shard": "s"}):
        reply = asyncio.run(producer(hub, token, "team-a-1", [forged]))["replies"][1]
        assert reply["type"] == "error" and "the hub's own" in reply["message"], reply
    listed = hub.runs()["team-a-1"]
    assert listed["expected_shards"] == 1 and listed["shards"] == 1
    assert listed["status"] == "live"


def test_live_runs_are_capped_and_their_logs_not_held_open(hub: HubProcess) -> None:
    """Finding 6: one token joined 1,500 runs in 3 s, each kept its log file open, and
    ~1,015 joins exhausted a 1,024-descriptor hub. Now 12 live runs per token, 250 in
    all, and no descriptor per run."""
    assert hub.process is not None
    process = psutil.Process(hub.process.pid)
    fds_before = process.num_fds()

    async def joins(token: str, prefix: str, count: int) -> list[int | None]:
        results = []
        for i in range(count):
            results.append((await producer(hub, token, f"{prefix}{i}"))["code"])
        return results

    one = asyncio.run(joins(mint("producer", "greedy", project="g-"), "g-", 20))
    assert one[:12] == [None] * 12 and one[12:] == [1013] * 8
    others = [asyncio.run(joins(mint("producer", f"t{t}", project=f"t{t}-"), f"t{t}-", 12))
              for t in range(21)]
    codes = [code for batch in others for code in batch]
    assert codes.count(None) == 250 - 12 and codes.count(1013) == 21 * 12 - (250 - 12)
    fds_after = process.num_fds()
    print(f"250 live runs joined, {8 + codes.count(1013)} joins refused: hub descriptors "
          f"{fds_before} -> {fds_after}, RSS {process.memory_info().rss / 2**20:.0f} MiB")
    assert fds_after - fds_before < 20
    # A run that ends makes room for its token again.
    asyncio.run(producer(hub, mint("producer", "greedy", project="g-"), "g-0",
                         [{"type": "session_finished", "exit_status": 0, "total": 0,
                           "counts": {}}]))
    assert asyncio.run(joins(mint("producer", "greedy", project="g-"), "g-new", 1)) == [None]


async def stay_joined(hub: HubProcess, token: str, run_id: str,
                      ) -> tuple[websockets.ClientConnection | None, str]:
    """Join ``run_id`` and stay connected (the shard is alive while it is): the open
    connection, or None and why the join was refused (``CODE message``)."""
    ws = await websockets.connect(f"{hub.producer_url}?token={token}")
    await ws.send(json.dumps({"type": "join", "run_id": run_id, "shard": "s",
                              "producer": "p", "shards": 1}))
    try:
        reply = json.loads(await asyncio.wait_for(ws.recv(), 20))
        if reply["type"] == "joined":
            return ws, "joined"
        await asyncio.wait_for(ws.recv(), 20)
        return None, f"no close: {reply}"
    except websockets.ConnectionClosed as closed:
        code = closed.rcvd.code if closed.rcvd is not None else None
        return None, f"{code} {reply.get('message', '')}"


@pytest.mark.redis
def test_live_run_caps_hold_across_hubs_on_one_redis(
    tmp_path: Path, redis_server: RedisServer, running: list[Any],
) -> None:
    """The caps on live runs were counted per hub process: two hubs on one Redis took
    twice a token's runs. Now Redis counts them in the join's own script: a burst of
    joins through both hubs at once gets exactly the token's room, and the runs of a hub
    that died stop counting once the other hub has given up on their shards."""
    caps = ("--max-live-runs-per-token", "4", "--max-live-runs", "6", "--shard-timeout", "2")
    hub_a = HubProcess(tmp_path / "a", 0, redis_server.url, *caps)
    hub_b = HubProcess(tmp_path / "b", 0, redis_server.url, *caps)
    running += [hub_a, hub_b]
    greedy = mint("producer", "greedy", project="g-")
    other = mint("producer", "other", project="u-")
    open_sockets: list[websockets.ClientConnection] = []

    async def join(hub: HubProcess, token: str, run_id: str) -> str:
        ws, outcome = await stay_joined(hub, token, run_id)
        if ws is not None:
            open_sockets.append(ws)
        return outcome

    async def scenario() -> None:
        assert [await join(hub_a, greedy, "g-0"), await join(hub_a, greedy, "g-1"),
                await join(hub_b, greedy, "g-2")] == ["joined"] * 3
        # Six joins at once, through both hubs: room for one more.
        burst = await asyncio.gather(*(join(hub_a if i % 2 else hub_b, greedy, f"g-{i}")
                                       for i in range(3, 9)))
        assert burst.count("joined") == 1, burst
        assert all(o.startswith("1013 this token has 4 live runs") for o in burst
                   if o != "joined"), burst
        assert await join(hub_b, other, "u-0") == "joined"
        assert await join(hub_a, other, "u-1") == "joined"
        refused = await join(hub_b, other, "u-2")  # the seventh live run, on either hub
        assert refused.startswith("1013 the hub has 6 live runs"), refused
        assert (await join(hub_a, other, "u-2")).startswith("1013 the hub has 6"), refused
        listed = hub_b.runs()
        assert sorted(r for r in listed if r.startswith("g-")) == sorted(
            ["g-0", "g-1", "g-2"] + [f"g-{i}" for i in range(3, 9) if burst[i - 3] == "joined"])
        # Hub A dies with g-0, g-1 and u-1 live: hub B ends them once their shards have
        # been gone for the shard timeout, and the slots are free again.
        hub_a.kill()
        killed = time.monotonic()
        outcome = ""
        while time.monotonic() - killed < 60:
            outcome = await join(hub_b, other, "u-2")
            if outcome == "joined":
                break
            await asyncio.sleep(0.5)
        assert outcome == "joined", outcome
        assert time.monotonic() - killed > 1.5  # not before the shard timeout
        assert hub_b.runs()["g-0"]["status"] == "interrupted"
        # g-0 and g-1 no longer count for the greedy token either.
        assert await join(hub_b, greedy, "g-new") == "joined"
        for ws in open_sockets:
            await ws.close()

    asyncio.run(scenario())
