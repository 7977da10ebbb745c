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
