"""One server core: the run server, ``replay`` and the hub hold the same WebSocket limits.

Each test runs against the three real servers (a ``pytest --jb-live`` run, a
``python -m pytest_jbrealtime replay`` process, a ``python -m pytest_jbrealtime serve``
hub), all configured by ``server/core.py``: no permessage-deflate, a viewer's frame
capped at 64 KiB, echoed fields bounded, a handshake deadline. Issue 15, finding 3:
the hub took 16 MiB compressed viewer frames and the replay server had no limit at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import websockets

from pytest_jbrealtime.shared.limit_config import PRODUCER_SOCKET, VIEWER_SOCKET
from pytest_jbrealtime.shared.log import iso_timestamp
from pytest_jbrealtime.shared.recording import FORMAT_NAME
from tests.held_run import HeldRun, Viewer, raw_connection, seconds_until_closed
from tests.hub_support import HubProcess, mint
from tests.support import LinkedProcess, server_process_of

MIB = 1024 * 1024


@dataclass
class Served:
    """A server under test: where its viewers connect, and its process."""

    name: str
    viewer_url: Callable[[str], str]
    host: str
    port: int
    pid: int


def live_recording(path: Path) -> None:
    """A recording whose last event is an hour after the first: replayed at real speed,
    the run stays live (its viewers are not closed at the end)."""
    start = 1_800_000_000.0
    events = [{"type": "test_started", "seq": i + 1, "run_id": "c" * 32,
               "timestamp": iso_timestamp(start + offset), "worker": "main",
               "test_id": f"t.py::test_{i}"} for i, offset in enumerate([0.0, 3600.0])]
    header = {"format": FORMAT_NAME, "version": 1, "run_id": "c" * 32}
    path.write_text("".join(json.dumps(x) + "\n" for x in [header, *events]))


async def join_hub_run(hub: HubProcess, run_id: str) -> None:
    async with websockets.connect(f"{hub.producer_url}?token={mint('producer')}") as ws:
        await ws.send(json.dumps({"type": "join", "run_id": run_id, "shard": "s",
                                  "producer": "p", "shards": 1}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "joined"


@pytest.fixture(scope="module", params=["run", "replay", "hub"])
def served(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp(request.param)
    if request.param == "run":
        held = HeldRun(folder)
        try:
            yield Served("run", lambda client: held.ws_url(client_id=client),
                         "127.0.0.1", held.port, server_process_of(held.live.process.pid))
        finally:
            held.release()
            held.kill()
    elif request.param == "replay":
        live_recording(folder / "live.jsonl")
        replay = LinkedProcess([sys.executable, "-m", "pytest_jbrealtime", "replay",
                                "--port", "0", str(folder / "live.jsonl")])
        try:
            replay.wait_for_link()
            port = int(replay.host.rsplit(":", 1)[1])
            yield Served("replay", lambda client: replay.ws_url(client), "127.0.0.1", port,
                         replay.process.pid)
        finally:
            replay.kill()
    else:
        hub = HubProcess(folder / "data")
        try:
            asyncio.run(join_hub_run(hub, "core-run"))
            assert hub.process is not None
            yield Served("hub", lambda client: hub.viewer_url("core-run", client),
                         "127.0.0.1", hub.port, hub.process.pid)
        finally:
            hub.stop()


def test_no_compression_and_a_viewer_frame_over_64_kib_closes_1009(served: Served) -> None:
    async def attempt() -> tuple[int, int]:
        bystander = await Viewer.connect(served.viewer_url("bystander"))
        async with websockets.connect(served.viewer_url("bomb"), compression="deflate",
                                      max_size=None) as ws:
            assert ws.response is not None
            # Offered, never accepted: the client has to send every byte plain.
            assert "Sec-WebSocket-Extensions" not in ws.response.headers
            await ws.send("x" * VIEWER_SOCKET.max_frame_bytes)  # the largest allowed
            at_limit = json.loads(await asyncio.wait_for(ws.recv(), 10))
            while at_limit["type"] != "error":
                at_limit = json.loads(await asyncio.wait_for(ws.recv(), 10))
            with contextlib.suppress(websockets.ConnectionClosed):
                await ws.send("x" * (VIEWER_SOCKET.max_frame_bytes + 1))
            code = await Viewer(ws).closed_code()
        await bystander.roundtrip()  # untouched
        await bystander.close()
        return code, len(at_limit["message"])

    code, _ = asyncio.run(attempt())
    assert code == 1009


def test_a_ping_id_is_echoed_only_when_short(served: Served) -> None:
    async def pings() -> list[dict[str, object]]:
        viewer = await Viewer.connect(served.viewer_url("pinger"))
        answers = []
        for ping_id in ("k" * VIEWER_SOCKET.max_echo_chars, "k" * 65, 2**53, -(2**53) + 1):
            await viewer.send({"type": "ping", "id": ping_id})
            answer = await viewer.next_message()
            while answer["type"] not in ("pong", "error"):
                answer = await viewer.next_message()
            answers.append(answer)
        await viewer.close()
        return answers

    short, long_id, too_large, smallest = asyncio.run(pings())
    assert short == {**short, "type": "pong", "id": "k" * VIEWER_SOCKET.max_echo_chars}
    assert long_id["type"] == "error" and "k" * 65 not in str(long_id)
    assert too_large["type"] == "error"
    assert smallest == {**smallest, "type": "pong", "id": -(2**53) + 1}


def test_a_silent_socket_is_cut_at_the_handshake_deadline(served: Served) -> None:
    with raw_connection(served.host, served.port) as sock:
        seconds = seconds_until_closed(sock, timeout=30)
    assert 4.0 <= seconds < 20.0, seconds


def test_inflating_viewer_frames_cost_the_server_nothing(served: Served) -> None:
    """The attack of finding 3: four viewer sockets offering deflate and sending frames
    that would be 16 MiB inflated. Refused at the frame's header: the server's memory
    hardly moves (it was 1.4 GiB on the hub)."""
    server = psutil.Process(served.pid)
    before = server.memory_info().rss

    async def attack(client: str) -> int:
        async with websockets.connect(served.viewer_url(client), compression="deflate",
                                      max_size=None) as ws:
            with contextlib.suppress(websockets.ConnectionClosed):
                await ws.send(" " * (16 * MIB - 1024))
            return await Viewer(ws).closed_code()

    async def attacks() -> list[int]:
        return list(await asyncio.gather(*(attack(f"bomb-{i}") for i in range(4))))

    start = time.monotonic()
    codes = asyncio.run(attacks())
    growth = (server.memory_info().rss - before) / MIB
    print(f"{served.name}: 4 x 16 MiB viewer frames, server RSS {before / MIB:.0f} MiB "
          f"+{growth:.1f} MiB, {time.monotonic() - start:.2f} s")
    assert codes == [1009] * 4
    assert growth < 24, growth


def test_a_producer_frame_may_be_larger_than_a_viewer_frame(tmp_path: Path) -> None:
    hub = HubProcess(tmp_path / "data")

    async def big_frame() -> dict[str, object]:
        url = f"{hub.producer_url}?token={mint('producer')}"
        async with websockets.connect(url, max_size=None) as ws:
            await ws.send("y" * (VIEWER_SOCKET.max_frame_bytes * 4))  # not JSON: an error
            answer: dict[str, object] = json.loads(await asyncio.wait_for(ws.recv(), 10))
            with contextlib.suppress(websockets.ConnectionClosed):
                await ws.send("y" * (PRODUCER_SOCKET.max_frame_bytes + 1))
            assert await Viewer(ws).closed_code() == 1009
            return answer

    try:
        assert asyncio.run(big_frame())["type"] == "error"
    finally:
        hub.stop()
