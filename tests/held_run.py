"""A live run held open while a test pokes at its server, and tools to poke with.

The inner suite's ``test_hold`` waits (with a deadline) until the outer test touches
the gate file, so the server is certainly up and serving in between; releasing the
gate lets the run finish with a known result (one failure: exit status 1).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jwt
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from pytest_jbrealtime.shared.auth import ALGORITHM, AUDIENCE
from tests.support import LiveProcess, unpack

# Tests set the run's secret (JB_LIVE_SECRET) so they can mint tokens the server
# checks with it: expired ones, ones for another run, producer ones.
SECRET = "tests-only-secret-" + "x" * 50  # 64+ bytes: HS512 tokens in tests too

HELD_SUITE = '''
import os, pathlib, time

def test_before():
    pass

def test_hold():
    gate = pathlib.Path(os.environ["JB_TEST_GATE"])
    deadline = time.monotonic() + 240
    while not gate.exists():
        assert time.monotonic() < deadline, "the outer test never released the gate"
        time.sleep(0.01)

def test_after_fails():
    assert 1 == 2
'''


class HeldRun:
    """``pytest --jb-live`` on HELD_SUITE, waiting at ``test_hold`` until released."""

    def __init__(self, directory: Path, *args: str, env: dict[str, str] | None = None,
                 suite: str = HELD_SUITE) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "test_held.py").write_text(suite)
        (directory / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
        self.gate = directory / "gate"
        full_env = {"JB_TEST_GATE": str(self.gate), "JB_LIVE_SECRET": SECRET,
                    "TMPDIR": str(directory), **(env or {})}
        self.live = LiveProcess(directory, *args, env=full_env)
        self.live.wait_for_link()
        self.directory = directory

    @property
    def token(self) -> str:
        return self.live.token

    @property
    def host(self) -> str:
        return self.live.host

    @property
    def port(self) -> int:
        return int(self.host.rsplit(":", 1)[1])

    @property
    def run_id(self) -> str:
        claims = jwt.decode(self.token, options={"verify_signature": False})
        return str(claims["run"])

    def ws_url(self, token: str | None = None, client_id: str = "t", path: str = "") -> str:
        route = path or f"/ws/{client_id}"
        query = "" if token == "" else f"?token={token or self.token}"
        return f"ws://{self.host}{route}{query}"

    def http_url(self, path: str, token: str | None = None) -> str:
        query = "" if token == "" else f"?token={token or self.token}"
        return f"http://{self.host}{path}{query}"

    def server_log(self) -> str:
        return "\n".join(p.read_text() for p in self.directory.glob("jb-live-*/server.log"))

    def release(self) -> int:
        self.gate.touch()
        return self.live.wait()

    def kill(self) -> None:
        self.gate.touch()
        self.live.kill()


def mint(run_id: str | None, secret: str = SECRET, algorithm: str = ALGORITHM,
         drop: tuple[str, ...] = (), **overrides: Any) -> str:
    """A token like the server's own, with claims changed or dropped."""
    now = int(time.time())
    claims: dict[str, Any] = {"aud": AUDIENCE, "iat": now, "exp": now + 3600,
                              "role": "viewer", "sub": "user", "run": run_id}
    claims.update(overrides)
    for name in drop:
        claims.pop(name, None)
    key = None if algorithm == "none" else secret
    return jwt.encode(claims, key, algorithm=algorithm)


async def close_code_of(url: str, headers: dict[str, str] | None = None,
                        timeout: float = 10, **connect: Any) -> int:
    """The close code a connection gets before any message (or the HTTP status a
    refused handshake gets, as a negative number). ``host``/``port`` in ``connect``:
    where to connect when the URL names another host (its Host header)."""
    try:
        async with websockets.connect(url, additional_headers=headers,
                                      open_timeout=timeout, **connect) as ws:
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), timeout)
            except ConnectionClosed as closed:
                assert closed.rcvd is not None, "closed without a close frame"
                return closed.rcvd.code
    except InvalidStatus as refused:
        return -refused.response.status_code


class Viewer:
    """A connected, well-behaved viewer: keeps every frame, answers a ping on demand."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self._pings = 0

    @classmethod
    async def connect(cls, url: str, **kwargs: Any) -> Viewer:
        ws = await websockets.connect(url, max_size=None, **kwargs)
        viewer = cls(ws)
        while (await viewer.next_message())["type"] != "hello":
            pass  # a "viewers" count may come first
        return viewer

    async def next_message(self, timeout: float = 10) -> dict[str, Any]:
        frame = await asyncio.wait_for(self.ws.recv(), timeout)
        messages = unpack(json.loads(frame))
        self.messages.extend(messages)
        return messages[-1]

    async def send(self, message: Any) -> None:
        await self.ws.send(message if isinstance(message, (str, bytes)) else json.dumps(message))

    async def roundtrip(self, timeout: float = 10) -> list[dict[str, Any]]:
        """Ping and read up to the pong; the messages that came before it."""
        self._pings += 1
        ping_id = f"check-{self._pings}"
        await self.send({"type": "ping", "id": ping_id})
        before: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            frame = await asyncio.wait_for(self.ws.recv(), max(deadline - time.monotonic(), 0))
            for message in unpack(json.loads(frame)):
                self.messages.append(message)
                if message.get("type") == "pong" and message.get("id") == ping_id:
                    return before
                before.append(message)

    async def closed_code(self, timeout: float = 10) -> int:
        """Read until the server closes; its close code."""
        try:
            while True:
                frame = await asyncio.wait_for(self.ws.recv(), timeout)
                self.messages.extend(unpack(json.loads(frame)))
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, "closed without a close frame"
            return closed.rcvd.code

    async def close(self) -> None:
        await self.ws.close()


@contextmanager
def raw_connection(host: str, port: int, timeout: float = 30) -> Iterator[socket.socket]:
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        yield sock
    finally:
        sock.close()


def seconds_until_closed(sock: socket.socket, timeout: float = 30) -> float:
    """Read (and drop) until the peer closes; how long that took."""
    start = time.monotonic()
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return time.monotonic() - start
