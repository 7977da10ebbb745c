"""The standard library as it was when the plugin loaded.

Tests patch ``time.time``, ``time.monotonic``, ``os.getpid``, ``json.dumps``,
``socket.socket`` … (``unittest.mock``, pytest-mock, ``monkeypatch``), in the test or
in a fixture of any scope, so a patch can be in effect while pytest runs our hooks. A
hook that looked ``time.time`` up at the moment of use would take the test's mocked
values (``StopIteration`` from a ``side_effect`` list, a ``MagicMock`` where a float
belongs) and break the run. So everything the hooks, the publisher, the pipe and the
sender threads call is taken from here: bound when ``plugin.py`` is imported, which
pytest does before any conftest or test module.

Kept as fields of objects, not as module globals: freezegun replaces the real
functions wherever a module's namespace holds them, and would swap ours too (a frozen
``monotonic`` would make every bounded wait of the plugin endless).
"""

from __future__ import annotations

import json
import marshal
import os
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from time import struct_time
from typing import Any


@dataclass(frozen=True)
class Clock:
    time: Callable[[], float]
    monotonic: Callable[[], float]
    perf_counter: Callable[[], float]
    gmtime: Callable[[float], struct_time]
    strftime: Callable[[str, struct_time], str]
    sleep: Callable[[float], None]


@dataclass(frozen=True)
class System:
    getpid: Callable[[], int]
    read: Callable[[int, int], bytes]
    write: Callable[[int, bytes | bytearray | memoryview], int]
    close: Callable[[int], None]
    select: Callable[..., tuple[list[Any], list[Any], list[Any]]]
    json_dumps: Callable[..., str]
    json_loads: Callable[..., Any]
    marshal_dumps: Callable[[Any], bytes]
    socket: type[socket.socket]
    gethostname: Callable[[], str]
    getaddrinfo: Callable[..., list[Any]]


clock = Clock(
    time=time.time,
    monotonic=time.monotonic,
    perf_counter=time.perf_counter,
    gmtime=time.gmtime,
    strftime=time.strftime,
    sleep=time.sleep,
)

system = System(
    getpid=os.getpid,
    read=os.read,
    write=os.write,
    close=os.close,
    select=select.select,
    json_dumps=json.dumps,
    json_loads=json.loads,
    marshal_dumps=marshal.dumps,
    socket=socket.socket,
    gethostname=socket.gethostname,
    getaddrinfo=socket.getaddrinfo,
)


class _BoundTime:
    """A stand-in for the ``time`` module inside a library our threads run: its clocks
    are the ones bound here, anything else is the real module's."""

    def __init__(self) -> None:
        self.time = clock.time
        self.monotonic = clock.monotonic
        self.perf_counter = clock.perf_counter
        self.sleep = clock.sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def shield_websockets_sync() -> None:
    """Give websockets' sync client the clocks bound here.

    The hub producer's thread talks to the hub through it for the whole run, and it
    reads ``time.monotonic`` at every call (each deadline of ``recv(timeout=…)``, its
    keepalive pings): a test that patches the clock had its mocked values taken by our
    thread (``StopIteration`` in the test, a dead producer). Its modules look ``time``
    up in their own globals, so that name is pointed at the bound clocks; for a test of
    the user's that drives websockets' sync client, patching ``time`` no longer reaches
    websockets' timeouts either (nothing else changes).
    """
    import websockets.sync.connection
    import websockets.sync.utils

    for module in (websockets.sync.utils, websockets.sync.connection):
        if getattr(module, "time", None) is time:
            module.time = _BoundTime()  # type: ignore[attr-defined]
