"""The runs' life on a hub, beyond what producers say: shards that vanish, viewer counts
for waiting producers, and finished runs leaving memory.

Every few seconds (:class:`RunLifecycle`) the hub tells the backend which producers are
connected to it (their shards' last sign of life, shared by every hub on one Redis),
ends the runs whose unfinished shards have all been gone for ``--shard-timeout``
seconds with a ``session_finished`` of status ``interrupted``, and drops from memory the
logs of runs finished more than ``--keep-finished`` seconds ago that nobody reads (the
backend reads them back when a viewer opens one).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pytest_jbrealtime.hub.backends.base import LogBackend, StoreUnavailable, UnknownRun
from pytest_jbrealtime.hub.runstate import interrupted_session_finished

DEFAULT_SHARD_TIMEOUT = 300.0
DEFAULT_KEEP_FINISHED = 600.0
LONGEST_TICK = 2.0
# A hub that just started ends no run for this long (or the shard timeout, if longer):
# producers retry every 4 s at most (producer.LAST_RETRY), plus their connect time.
STARTUP_GRACE = 10.0
# How often a producer's hub looks at the run's viewer count (sent when it changes).
VIEWER_POLL = 0.5
logger = logging.getLogger("pytest_jbrealtime.hub")


class RunLifecycle:
    def __init__(
        self,
        backend: LogBackend,
        connected: Callable[[], set[tuple[str, str]]],
        shard_timeout: float = DEFAULT_SHARD_TIMEOUT,
        keep_finished: float = DEFAULT_KEEP_FINISHED,
        on_end: Callable[[str, dict[str, Any]], Awaitable[None]] | None = None,
    ) -> None:
        self.backend = backend
        # Told of each run ended here as interrupted (the history keeps its totals).
        self.on_end = on_end
        self.connected = connected
        self.shard_timeout = shard_timeout
        self.keep_finished = keep_finished
        # Well within the timeout: a connected shard is never seen as gone.
        self.tick = max(0.1, min(shard_timeout / 4, LONGEST_TICK))
        # A hub that just started gives producers time to (re)connect to it before it
        # ends any run: those that were publishing to it while it was down are
        # reconnecting now, and their shards' last heartbeat is as old as the outage.
        self.grace_until = time.monotonic() + max(shard_timeout, STARTUP_GRACE)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            try:
                await self.step()
            except StoreUnavailable as exc:
                logger.warning("run upkeep: log store unavailable: %s", exc)
            except Exception:
                logger.exception("run upkeep failed")

    async def step(self) -> None:
        await self.backend.heartbeat(self.connected())
        if time.monotonic() > self.grace_until:
            await self.end_abandoned()
        await self.backend.evict(self.keep_finished)

    async def end_abandoned(self) -> None:
        for gone in await self.backend.claim_abandoned(self.shard_timeout):
            event = interrupted_session_finished(gone.summaries, gone.vanished, gone.missing,
                                                 self.shard_timeout)
            logger.warning("run %s interrupted: %s", gone.run_id, event["reason"])
            with contextlib.suppress(UnknownRun):  # expired or lost meanwhile
                await self.backend.append(gone.run_id, None, [event])
                if self.on_end is not None:
                    await self.on_end(gone.run_id, event)


async def push_viewer_counts(
    backend: LogBackend, run_id: str, send: Callable[[str], Awaitable[None]]
) -> None:
    """Tell a producer how many viewers watch its run, whenever that changes
    (``pytest --jb-live-wait-viewers`` waits for them)."""
    sent = 0
    while True:
        try:
            count = await backend.viewer_count(run_id)
        except Exception:  # the store is away: try again at the next poll
            count = sent
        if count != sent:
            try:
                await send(json.dumps({"type": "viewers", "run_id": run_id, "count": count}))
            except Exception:
                return  # the producer is gone; its connection's end cancels us anyway
            sent = count
        await asyncio.sleep(VIEWER_POLL)
