"""Connections that have not authenticated yet: a deadline, a count and a rate.

uvicorn arms its keep-alive timeout only after a response, so a socket that connects
and sends nothing (or half a request, a byte at a time) would be held open for ever.
Every request on this server carries its token, so "no complete request yet" is "not
authenticated yet": such a socket is aborted when the deadline passes.

A flood of them would still hold a descriptor each until then, and at a 1,024-descriptor
limit the server could accept nothing else (issue 15). :class:`PendingConnections`
keeps their number under a cap well below the descriptor limit by aborting the
*oldest* when a new one comes (a real request completes within milliseconds, so it is
never the oldest for long), and refuses connections past a rate.
"""

from __future__ import annotations

import asyncio
import time

from uvicorn.protocols.http.h11_impl import H11Protocol

from pytest_jbrealtime.shared.limit_config import (
    NEW_CONNECTIONS_PER_SECOND,
    PENDING_CONNECTIONS,
    PENDING_SHARE_OF_DESCRIPTORS,
)


class PendingConnections:
    """The connections of one server waiting for a complete request, oldest first."""

    def __init__(self, limit: int, rate: float) -> None:
        self.limit = limit
        self.rate = rate
        self._tokens = rate
        self._updated = time.monotonic()
        self._waiting: dict[int, asyncio.Transport] = {}
        self.evicted = self.refused = 0

    def take_rate(self) -> bool:
        """A new connection within the rate (token bucket, bursts of one second's)."""
        now = time.monotonic()
        self._tokens = min(self.rate, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens < 1:
            self.refused += 1
            return False
        self._tokens -= 1
        return True

    def wait(self, key: int, transport: asyncio.Transport) -> None:
        """``key``'s connection waits for a request now (again: it becomes the newest)."""
        self._waiting.pop(key, None)
        self._waiting[key] = transport
        while len(self._waiting) > self.limit:
            oldest = next(iter(self._waiting))
            self._waiting.pop(oldest).abort()
            self.evicted += 1

    def done(self, key: int) -> None:
        self._waiting.pop(key, None)

    def __len__(self) -> int:
        return len(self._waiting)


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, aborting connections that do not finish a request in time."""

    handshake_timeout = 5.0
    pending = PendingConnections(PENDING_CONNECTIONS, NEW_CONNECTIONS_PER_SECOND)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self.pending.take_rate():
            transport.abort()
            return
        self._arm_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_deadline()  # the next request on a kept-alive connection, too

    def handle_websocket_upgrade(self, event: object) -> None:
        # Upgraded: authenticated in its handshake, limited by the app (server/limits.py).
        self.pending.done(id(self))
        super().handle_websocket_upgrade(event)  # type: ignore[arg-type]

    def connection_lost(self, exc: Exception | None) -> None:
        self.pending.done(id(self))
        handle = getattr(self, "_deadline", None)
        if handle is not None:
            handle.cancel()
        super().connection_lost(exc)

    def _arm_deadline(self) -> None:
        # The request that was current when armed: a new one replaces ``self.cycle``.
        self._deadline_cycle = self.cycle
        self._deadline = self.loop.call_later(self.handshake_timeout, self._deadline_passed)
        self.pending.wait(id(self), self.transport)

    def _deadline_passed(self) -> None:
        transport = self.transport
        if transport.is_closing() or transport.get_protocol() is not self:
            return  # closed already, or upgraded to a WebSocket (authenticated then)
        if self.cycle is self._deadline_cycle:
            self.pending.done(id(self))
            transport.abort()


def deadline_protocol(timeout: float, descriptors: int) -> type[DeadlineH11Protocol]:
    """The protocol class for uvicorn's ``Config(http=…)``: this deadline, and a cap on
    waiting connections well below ``descriptors`` (the process's soft limit)."""
    limit = max(8, min(PENDING_CONNECTIONS, int(descriptors * PENDING_SHARE_OF_DESCRIPTORS)))
    return type("DeadlineH11Protocol", (DeadlineH11Protocol,), {
        "handshake_timeout": timeout,
        "pending": PendingConnections(limit, NEW_CONNECTIONS_PER_SECOND),
    })
