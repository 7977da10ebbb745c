"""The handshake deadline: a connection must send a whole request within N seconds.

uvicorn arms its keep-alive timeout only after a response, so a socket that connects
and sends nothing (or half a request, a byte at a time) would be held open for ever.
Every request on this server carries its token, so "no complete request yet" is "not
authenticated yet": such a socket is aborted when the deadline passes.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, aborting connections that do not finish a request in time."""

    handshake_timeout = 5.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_deadline()  # the next request on a kept-alive connection, too

    def connection_lost(self, exc: Exception | None) -> None:
        handle = getattr(self, "_deadline", None)
        if handle is not None:
            handle.cancel()
        super().connection_lost(exc)

    def _arm_deadline(self) -> None:
        # The request that was current when armed: a new one replaces ``self.cycle``.
        self._deadline_cycle = self.cycle
        self._deadline = self.loop.call_later(self.handshake_timeout, self._deadline_passed)

    def _deadline_passed(self) -> None:
        transport = self.transport
        if transport.is_closing() or transport.get_protocol() is not self:
            return  # closed already, or upgraded to a WebSocket (authenticated then)
        if self.cycle is self._deadline_cycle:
            transport.abort()


def deadline_protocol(timeout: float) -> type[DeadlineH11Protocol]:
    """The protocol class for uvicorn's ``Config(http=…)`` with this deadline."""
    return type("DeadlineH11Protocol", (DeadlineH11Protocol,), {"handshake_timeout": timeout})
