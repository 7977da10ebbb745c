"""Helpers for hub tests: a hub subprocess, pytest shards publishing to it, tokens.

A hub is a real ``python -m pytest_jbrealtime serve`` process; a shard is a real
``pytest --jb-live-hub URL`` process; viewers are real WebSocket clients
(``tests.support.watch``). Every wait is on a condition with a deadline.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

from pytest_jbrealtime.protocol import COUNT_KEYS
from pytest_jbrealtime.shared.auth import TokenAuthority

HUB_SECRET = "hub-tests-secret-" + "y" * 40
HUB_LINE = re.compile(r"jb-live hub: serving on http://(\S+?)/")
SUMMARY = re.compile(r"^=* ?(?:(\d+ \w+(?:, )?)+) in [\d.]+s", re.M)
COUNT = re.compile(r"(\d+) (passed|failed|error|errors|skipped|xfailed|xpassed|warnings?)")
AUTHORITY = TokenAuthority(HUB_SECRET, run_id=None)


def mint(role: str, subject: str = "tests", run: str | None = None,
         project: str | None = None) -> str:
    """A hub token; a producer token names every run (project "") unless told."""
    if role == "producer" and run is None and project is None:
        project = ""
    return AUTHORITY.mint(role, 3600, subject=subject, run=run, project=project)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def base_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **extra}
    env.pop("PYTEST_ADDOPTS", None)
    return env


class OutputReader:
    """A subprocess's merged output, read by a thread; wait for a line with a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: re.Pattern[str] | str, timeout: float = 60) -> re.Match[str]:
        compiled = re.compile(pattern) if isinstance(pattern, str) else pattern
        with self._changed:
            found: list[re.Match[str]] = []

            def seen() -> bool:
                for line in self.lines:
                    match = compiled.search(line)
                    if match:
                        found.append(match)
                        return True
                return not self._thread.is_alive()

            self._changed.wait_for(seen, timeout)
        if not found:
            raise AssertionError(f"{compiled.pattern!r} not in the output:\n{self.text}")
        return found[0]

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def join(self, timeout: float = 10) -> None:
        self._thread.join(timeout)
        if not self._thread.is_alive() and self.process.stdout is not None:
            self.process.stdout.close()


class HubProcess:
    """``python -m pytest_jbrealtime serve`` in a subprocess."""

    def __init__(self, data: Path, port: int = 0, redis_url: str | None = None,
                 *args: str) -> None:
        self.data = data
        self.redis_url = redis_url
        self.extra = args
        self.port = port
        self.process: subprocess.Popen[str] | None = None
        self.output: OutputReader | None = None
        self.start()

    def start(self) -> None:
        command = [sys.executable, "-m", "pytest_jbrealtime", "serve", "--port", str(self.port),
                   "--data", str(self.data), *self.extra]
        if self.redis_url:
            command += ["--redis-url", self.redis_url]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
            env=base_env(JB_LIVE_SECRET=HUB_SECRET),
        )
        self.output = OutputReader(self.process)
        address = self.output.wait_for(HUB_LINE, timeout=30).group(1)
        self.port = int(address.rsplit(":", 1)[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def viewer_url(self, run_id: str, client_id: str = "test-viewer",
                   token: str | None = None) -> str:
        return (f"ws://127.0.0.1:{self.port}/runs/{run_id}/ws/{client_id}"
                f"?token={token or mint('viewer')}")

    @property
    def producer_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/producer"

    def get_json(self, path: str, token: str | None = None) -> Any:
        request = urllib.request.Request(
            f"{self.url}{path}", headers={"Authorization": f"Bearer {token or mint('viewer')}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def runs(self) -> dict[str, dict[str, Any]]:
        return {run["run_id"]: run for run in self.get_json("/api/runs")["runs"]}

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        if self.output is not None:
            self.output.join()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.output is not None:
            self.output.join()


class Shard:
    """``pytest --jb-live-hub URL`` on a directory, in a subprocess."""

    def __init__(self, directory: Path, hub_url: str, *args: str, run_id: str | None = None,
                 token: str | None = None, env: dict[str, str] | None = None) -> None:
        command = [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider",
                   "--jb-live-hub", hub_url, *args]
        if run_id:
            command += ["--jb-live-run-id", run_id]
        extra = dict(env or {})
        extra["JB_LIVE_TOKEN"] = token if token is not None else mint("producer", "ci")
        self.process = subprocess.Popen(
            command, cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            errors="replace",  # pytest prints what a test's output holds, not always UTF-8
            env=base_env(**extra),
        )
        self.output = OutputReader(self.process)

    def wait(self, timeout: float = 120) -> int:
        code = self.process.wait(timeout)
        self.output.join()
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.output.join()

    @property
    def text(self) -> str:
        return self.output.text

    def counts(self) -> dict[str, int]:
        """pytest's own final counts, from its summary line, keyed as session_finished keys
        them (every COUNT_KEYS key, zeros included)."""
        lines = [line for line in self.output.lines if re.search(r" in [\d.]+s", line)]
        assert lines, f"no summary line:\n{self.text}"
        counts = dict.fromkeys(COUNT_KEYS, 0)
        for number, name in COUNT.findall(lines[-1]):
            name = {"errors": "error", "warning": "warnings"}.get(name, name)
            counts[name] = int(number)
        return counts


async def _watch_until(url: str, predicate: Any, timeout: float) -> bool:
    import asyncio

    import websockets

    from tests.support import unpack

    async def run() -> bool:
        async with websockets.connect(url, max_size=None) as ws:
            async for frame in ws:
                for message in unpack(json.loads(frame)):
                    if "seq" in message and predicate(message):
                        return True
        return False

    try:
        return await asyncio.wait_for(run(), timeout)
    finally:
        # Let the closed transport's callbacks run before asyncio.run closes the loop
        # (otherwise its socket is only freed by the garbage collector: ResourceWarning).
        for _ in range(3):
            await asyncio.sleep(0)


def wait_for_event(url: str, predicate: Any, timeout: float = 60) -> None:
    """Watch (again, while the run is not there yet) until an event matches."""
    import asyncio
    import time

    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no matching event within {timeout} s")
        try:
            if asyncio.run(_watch_until(url, predicate, remaining)):
                return
        except (OSError, asyncio.TimeoutError):
            pass
        except Exception as exc:  # closed (4004: no such run yet): look again shortly
            if "4004" not in str(exc):
                raise
        time.sleep(0.05)


def png_image(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG of one colour (a browser decodes it; the hub checks the signature)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height))
            + chunk(b"IEND", b""))


# A stand-in WebDriver for suites that take screenshots without a browser: the real
# ``pytest_jbrealtime.screenshot`` path (alert check, file, event), a fixed image.
FAKE_DRIVER = '''
from selenium.common.exceptions import NoAlertPresentException


class ImageDriver:
    def __init__(self, png):
        self.png = png

    def execute(self, command, params=None):
        raise NoAlertPresentException()

    def get_screenshot_as_png(self):
        return self.png
'''


def get_bytes(url: str, token: str | None = None,
              cookie: str | None = None) -> tuple[int, bytes]:
    """Status and body of a GET (an error status is returned, not raised)."""
    import urllib.error

    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if cookie is not None:
        headers["Cookie"] = cookie
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:  # an HTTPError holds the response's socket
            return exc.code, b""
