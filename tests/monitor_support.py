"""Helpers for the monitor and metrics tests: a watcher that reacts while the run goes on.

The inner suites block on signal files (with a deadline) and the outer test creates
them when it has seen what it waits for, so nothing sleeps to synchronise.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import websockets

from tests.support import Watched, unpack

# Put into an inner suite: blocks until the outer test creates the file.
WAIT_FOR_FILE = '''
import os, time
from pathlib import Path

def wait_for_file(name, timeout=90):
    path = Path(os.environ["SIGNAL_DIR"]) / name
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"signal {name} never came")
        time.sleep(0.02)
'''


def signal(directory: Path, name: str) -> None:
    (directory / name).write_text("go")


async def follow(
    url: str,
    on_event: Callable[[dict[str, Any], Watched], None],
    first_messages: list[dict[str, Any]] | None = None,
    timeout: float = 120,
) -> Watched:
    """Like ``support.watch``, calling ``on_event`` for each event as it arrives."""
    watched = Watched()

    async def run() -> None:
        async with websockets.connect(url, max_size=None) as ws:
            for message in first_messages or []:
                await ws.send(json.dumps(message))
            try:
                async for frame in ws:
                    for message in unpack(json.loads(frame)):
                        if "seq" in message:
                            watched.events.append(message)
                            on_event(message, watched)
                        else:
                            watched.others.append(message)
            finally:
                watched.close_code = ws.close_code

    await asyncio.wait_for(run(), timeout)
    return watched


def follow_sync(url: str, on_event: Callable[[dict[str, Any], Watched], None],
                **kwargs: Any) -> Watched:
    return asyncio.run(follow(url, on_event, **kwargs))
