"""Helpers for tests that watch a real ``pytest --jb-live`` run.

A run is a real pytest subprocess with the plugin on; a watcher is a real WebSocket
client (the ``websockets`` library). Nothing here sleeps to synchronise: every wait
is on a condition with a deadline.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets

LINK = re.compile(r"jb-live: watch this run at (http://(\S+?)/\?token=(\S+))")
# `--jb-live-link key`: the bare address, then the key.
ADDRESS_AND_KEY = re.compile(r"jb-live: watch this run at (http://(\S+?)/)  key: (\S+)")


def unpack(frame: dict[str, Any]) -> list[dict[str, Any]]:
    """The events in one server frame (a ``batch`` holds several)."""
    if frame.get("type") == "batch":
        return list(frame["messages"])
    return [frame]


class ListSink:
    """An event sink that keeps what it is given (unit tests of the publishing side)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def send_batch(self, events: list[dict[str, Any]]) -> None:
        self.events.extend(events)

    def close(self, timeout: float) -> None:
        pass


class LinkedProcess:
    """A subprocess that prints a viewer link (pytest --jb-live, replay), read as it comes."""

    def __init__(self, command: list[str], cwd: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        full_env.pop("PYTEST_ADDOPTS", None)
        self.process = subprocess.Popen(
            command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            # pytest prints what a test's output holds, not always UTF-8.
            text=True, errors="replace", env=full_env,
        )
        self.lines: list[str] = []
        self._link_found = threading.Event()
        self.link = self.host = self.token = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            match = LINK.search(line) or ADDRESS_AND_KEY.search(line)
            if match and not self._link_found.is_set():
                self.link, self.host, self.token = match.groups()
                self._link_found.set()
        self._link_found.set()

    def wait_for_link(self, timeout: float = 30) -> str:
        if not self._link_found.wait(timeout) or not self.link:
            self.process.kill()
            raise AssertionError("no viewer link printed:\n" + "".join(self.lines))
        return self.link

    def ws_url(self, client_id: str = "test-viewer", token: str | None = None) -> str:
        self.wait_for_link()
        return f"ws://{self.host}/ws/{client_id}?token={token or self.token}"

    @property
    def http_base(self) -> str:
        self.wait_for_link()
        return f"http://{self.host}"

    def wait(self, timeout: float = 60) -> int:
        code = self.process.wait(timeout)
        self._reader.join(timeout)
        self._close_pipe()
        return code

    def _close_pipe(self) -> None:
        if self.process.stdout is not None and not self._reader.is_alive():
            self.process.stdout.close()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(5)
        self._close_pipe()


class LiveProcess(LinkedProcess):
    """``pytest --jb-live`` on a directory, in a subprocess, with its link parsed."""

    def __init__(self, directory: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.directory = directory
        super().__init__(
            [sys.executable, "-m", "pytest", "--jb-live", "--jb-live-port", "0",
             "-p", "no:randomly", *args],
            cwd=directory, env=env,
        )


@dataclass
class Watched:
    """What one viewer received: events (with seq) and the other messages, in order."""

    events: list[dict[str, Any]] = field(default_factory=list)
    others: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None

    @property
    def seqs(self) -> list[int]:
        return [e["seq"] for e in self.events]

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == event_type]

    def add_frame(self, text: str | bytes) -> None:
        for message in unpack(json.loads(text)):
            (self.events if "seq" in message else self.others).append(message)


async def watch(
    url: str,
    first_messages: list[dict[str, Any]] | None = None,
    stop_after_seq: int | None = None,
    until_type: str | None = None,
    timeout: float = 60,
) -> Watched:
    """Connect, send ``first_messages``, read until the server closes.

    Or until an event with seq ``stop_after_seq``, or of type ``until_type``, arrives.
    """
    watched = Watched()

    async def run() -> None:
        async with websockets.connect(url, max_size=None) as ws:
            for message in first_messages or []:
                await ws.send(json.dumps(message))
            try:
                async for frame in ws:
                    watched.add_frame(frame)
                    last = watched.events[-1] if watched.events else None
                    if last is not None and (
                        (stop_after_seq is not None and last["seq"] >= stop_after_seq)
                        or (until_type is not None and last["type"] == until_type)
                    ):
                        return
            finally:
                watched.close_code = ws.close_code

    await asyncio.wait_for(run(), timeout)
    return watched


def watch_sync(url: str, **kwargs: Any) -> Watched:
    return asyncio.run(watch(url, **kwargs))


def watch_reacting(url: str, react: Callable[[Watched], None], timeout: float = 240) -> Watched:
    """Watch a run to its end, calling ``react`` after every frame (to open gates)."""
    watched = Watched()

    async def run() -> None:
        async with websockets.connect(url, max_size=None) as ws:
            try:
                async for frame in ws:
                    watched.add_frame(frame)
                    react(watched)
            finally:
                watched.close_code = ws.close_code

    asyncio.run(asyncio.wait_for(run(), timeout))
    return watched


def of_test(watched: Watched, test_id: str, *types: str) -> list[dict[str, Any]]:
    """The events of one test, of the given types (all of them if none given)."""
    return [
        e for e in watched.events
        if e.get("test_id") == test_id and (not types or e["type"] in types)
    ]


def wait_until(condition: Any, timeout: float = 30, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def server_process_of(pytest_pid: int) -> int:
    """The run server: the child of pytest started as ``pytest_jbrealtime.server.process``."""
    import psutil

    for child in psutil.Process(pytest_pid).children(recursive=True):
        if "pytest_jbrealtime.server.process" in " ".join(child.cmdline()):
            return child.pid
    raise AssertionError("no server process under the pytest run")
