"""A hub shared by teams (issue 15, findings 6 and 7): each attack against a real hub.

Team A's runs are ``team-a-*``, team B's ``team-b-*``; each team's producer token names
its project. Producer tokens reach only their runs, events only the hub may write are
refused, live runs are capped per token and in all, and a run's log file is open only
while it is written (psutil counts the hub's descriptors).
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import websockets

from tests.held_run import close_code_of
from tests.hub_support import AUTHORITY, HubProcess, mint
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
