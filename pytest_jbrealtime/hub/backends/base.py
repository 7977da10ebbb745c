"""The log backend seam: what the hub needs from wherever run logs are kept.

A backend owns the runs' order: it gives every event its seq, drops what a producer
sends twice (each producer numbers its events: ``shard_seq``), and says, exactly once,
when the last shard that joined a run has finished. Viewers read a run through the
:class:`~pytest_jbrealtime.hub.runlog.HubRun` that :meth:`LogBackend.open_run` gives:
a local log kept up to date by the backend, read by cursors as on a run's own server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_jbrealtime.hub.runlog import HubRun

RETENTION_CHECK_SECONDS = 3600.0


class UnknownRun(Exception):
    """The run is not in the store (never joined, expired, or lost by the store)."""


class StoreUnavailable(Exception):
    """The store cannot be reached now; the producer keeps its events and sends them again."""


class LiveRunsFull(Exception):
    """A join past a cap on live runs (per token or in all); the text says which."""


@dataclass(frozen=True)
class LiveQuota:
    """Caps on runs not ended yet that a join must stay within (issue 15: one token
    joined 1,500 runs in 3 s). Counted by the store, so hubs sharing one count together;
    checked and taken in the same step as the join."""

    # The producer token's identity (hub/scopes.py ``token_key``).
    token: str
    per_token: int
    total: int

    def refusal(self, which: str, count: int) -> LiveRunsFull:
        if which == "token":
            return LiveRunsFull(f"this token has {count} live runs, the most it may have; "
                                "try again when one has finished")
        return LiveRunsFull(f"the hub has {count} live runs, the most it takes; "
                            "try again later")


@dataclass(frozen=True)
class JoinResult:
    # The name the producer publishes under: its own, or with ``.2`` … when another
    # producer already took it in this run.
    shard: str
    # The highest ``shard_seq`` the run holds from it: it sends again from the next one.
    last: int


@dataclass(frozen=True)
class AppendResult:
    last: int
    # Every shard's end, when this append finished the last shard of the run (once):
    # the hub then appends the run's one ``session_finished``.
    ended: dict[str, dict[str, Any]] | None = None


@dataclass(frozen=True)
class Abandoned:
    """A run whose unfinished shards have all been gone for the shard timeout."""

    run_id: str
    # The ends of the shards that did finish.
    summaries: dict[str, dict[str, Any]]
    # Shards that joined and went away without finishing.
    vanished: list[str]
    # Shards the run waited for (``--jb-live-shards``) that never joined.
    missing: int


class LogBackend:
    """Base class: every method raises ``NotImplementedError``."""

    async def start(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def open_run(self, run_id: str) -> HubRun | None:
        """The run for viewers (its log caught up with the store), or None if unknown."""
        raise NotImplementedError

    async def join(
        self, run_id: str, shard: str, producer: str, info: dict[str, Any],
        expected_shards: int = 0, quota: LiveQuota | None = None,
    ) -> JoinResult:
        """A producer starts (or resumes) publishing into a run; creates the run if new.

        ``expected_shards``: the run ends only once that many shards have finished
        (and every one that joined); without it, once every one that joined has.
        ``quota``: raise :class:`LiveRunsFull` (and join nothing) when the run is not
        live for the token yet and counting it would pass a cap.
        """
        raise NotImplementedError

    async def append(
        self, run_id: str, shard: str | None, events: list[dict[str, Any]]
    ) -> AppendResult:
        """Append events in order, each once.

        With a ``shard``, events carry ``shard_seq`` and those the run already has are
        dropped; ``shard=None`` appends the hub's own events as they are.
        """
        raise NotImplementedError

    async def list_runs(self) -> list[dict[str, Any]]:
        """Every run kept, newest first (``RunState.listing`` entries)."""
        raise NotImplementedError

    # -- the runs' life (hub/lifecycle.py calls these every few seconds) -----------------

    async def heartbeat(self, connected: set[tuple[str, str]]) -> None:
        """These (run, shard) producers are connected to this hub now."""
        raise NotImplementedError

    async def claim_abandoned(self, timeout: float) -> list[Abandoned]:
        """Runs not ended whose unfinished shards were last seen over ``timeout`` s ago.

        Also a run waiting for shards that never joined, once every shard that did has
        finished and none was seen for ``timeout``. Each run is claimed once (by one hub
        of several): the caller appends its ``session_finished``.
        """
        raise NotImplementedError

    async def viewer_count(self, run_id: str) -> int:
        """Viewers watching the run now (on every hub sharing the store)."""
        raise NotImplementedError

    async def evict(self, keep_seconds: float) -> list[str]:
        """Drop from memory the logs of runs that ended over ``keep_seconds`` ago and have
        no viewer; ``open_run`` reads them back from the store when asked."""
        raise NotImplementedError

    # -- screenshots (files on each hub, hub/screenshots.py; shared through the store) ---

    async def share_screenshot(self, run_id: str, screenshot_id: str, png: bytes) -> None:
        """Make an image readable by every hub on the same store (alone: nothing to do)."""

    async def shared_screenshot(self, run_id: str, screenshot_id: str) -> bytes | None:
        """An image another hub on the same store received, or None."""
        return None
