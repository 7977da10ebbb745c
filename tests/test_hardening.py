"""Hardening, round two (issue 15): each attack replayed against a real run server,
bounded in count and time, on loopback; the server's memory and descriptors measured
with psutil where the attack was about them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.held_run import HeldRun, mint


@pytest.fixture(scope="module")
def held(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeldRun]:
    run = HeldRun(tmp_path_factory.mktemp("hardening"))
    yield run
    assert run.release() == 1
    run.kill()


async def outcome(url: str) -> str:
    """What one handshake came to: ``open`` (served), ``close <code>``, ``http <status>``."""
    try:
        async with websockets.connect(url, open_timeout=30) as ws:
            # Long enough for every other handshake of the crowd to have come in.
            deadline = asyncio.get_running_loop().time() + 5
            try:
                while True:
                    left = deadline - asyncio.get_running_loop().time()
                    await asyncio.wait_for(ws.recv(), max(left, 0.001))
            except TimeoutError:
                return "open"
            except ConnectionClosed as closed:
                return f"close {closed.rcvd.code if closed.rcvd else 'none'}"
    except InvalidStatus as refused:
        return f"http {refused.response.status_code}"


def test_same_user_handshakes_at_once_get_4009_never_500(held: HeldRun) -> None:
    """Finding 8: handshakes of one user over the pool at the same moment made the
    pool close a socket whose handshake was still under way; its ``accept`` raised and
    uvicorn answered HTTP 500 with a traceback in the log."""
    user = mint(held.run_id, sub="crowd")

    async def crowd() -> list[str]:
        urls = [held.ws_url(user, client_id=f"c{i}") for i in range(40)]
        return list(await asyncio.gather(*(outcome(url) for url in urls)))

    results = asyncio.run(crowd())
    assert not [r for r in results if r.startswith("http")], results
    assert set(results) <= {"open", "close 4009", "close 1013"}, results
    assert results.count("close 4009") >= 30, results
    log = held.server_log()
    assert "Exception in ASGI application" not in log and "Traceback" not in log, log[-3000:]
