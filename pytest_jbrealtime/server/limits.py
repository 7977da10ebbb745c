"""What one viewer may cost the server: connections, messages, and unsent bytes.

:class:`ViewerLimits` sits between the token gate and the app and wraps every
viewer socket's ``receive``/``send``:

- a pool per user (the token's ``sub``): the connection past the limit closes the
  oldest one (4009); a cap on viewers overall: past it, the newcomer gets 1013;
- a message rate per viewer (token bucket): past it, 1008;
- a write cap: bytes handed to the socket's transport that the kernel has not taken
  yet. A frame that would pass it waits until the peer reads; a viewer that has not
  read for ``slow_seconds`` is closed with 4008 and its transport aborted shortly
  after, so a viewer that never reads costs at most the cap (or one frame);
- a sweep that ends viewers whose transport uvicorn is closing (keepalive timeout)
  without waiting for a buffer that a frozen peer will never drain;
- a text message longer than a frame's bound goes out as WebSocket fragments, each
  encoded and written only when the write cap has room, so one event's size (a test's
  captured output: 10 MB and more in JSON) is never what a stuck viewer holds.

Frame size (1009) and ping/pong are uvicorn's, configured in ``server/core.py``; the
handshake deadline is in ``server/deadline.py``; the numbers themselves in
``shared/limit_config.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from websockets.exceptions import InvalidState, ProtocolError
from websockets.protocol import Protocol as WebSocketConnection

from pytest_jbrealtime.protocol import CloseCode
from pytest_jbrealtime.server.metrics import text_size
from pytest_jbrealtime.shared.auth import BROWSER_PROTOCOL
from pytest_jbrealtime.shared.limit_config import VIEWER_SOCKET
from pytest_jbrealtime.shared.limit_config import ServerLimits as ServerLimits

# After a viewer's app has ended, how long its transport may take to flush before it
# is aborted (a peer that stopped reading never lets a graceful close finish).
CLOSE_GRACE = 5.0
SWEEP_INTERVAL = 0.5
# How often a viewer held back by the write cap looks whether its peer has read.
DRAIN_POLL = 0.02
# The scope["state"] key under which the outer guard leaves the connection's transport.
TRANSPORT_KEY = "jb_live_transport"
# A text message of more characters than this goes out in fragments of this many: at
# most 4 bytes a character, a fragment is at most a frame's bound (limit_config.py).
FRAGMENT_CHARS = VIEWER_SOCKET.max_send_bytes // 4


def frame_size(message: Message) -> int:
    """Bytes of a ``websocket.send`` message's payload."""
    text = message.get("text")
    if text is not None:
        return text_size(text)
    return len(message.get("bytes") or b"")


def transport_of(send: Send) -> asyncio.WriteTransport | None:
    """The socket transport behind uvicorn's ``send`` (a method of its protocol object).

    ASGI has no way to ask how many bytes are still waiting to be written; uvicorn's
    protocols keep their transport in ``.transport``. Another server: None, and the
    write cap is off.
    """
    protocol = getattr(send, "__self__", None)
    transport = getattr(protocol, "transport", None)
    return transport if isinstance(transport, asyncio.WriteTransport) else None


def websocket_of(send: Send) -> Any | None:
    """uvicorn's WebSocket protocol behind ``send`` (its ``conn``: a websockets sans-I/O
    connection), to write one message as fragments, which ASGI cannot ask for; None
    behind another server or protocol: messages then go out whole."""
    protocol = getattr(send, "__self__", None)
    conn = getattr(protocol, "conn", None)
    if isinstance(conn, WebSocketConnection) and hasattr(protocol, "close_sent"):
        return protocol
    return None


class ViewerClosed(OSError):
    """Raised into the app's send once a limit has closed its viewer (an OSError, so
    the viewer code treats it like any other vanished peer)."""


class MessageRate:
    """Token bucket: ``rate`` messages a second, bursts of up to ``rate``."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(rate, 1.0)
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class GuardedSocket:
    """One viewer socket's receive/send, with its limits applied."""

    def __init__(
        self, receive: Receive, send: Send, transport: asyncio.WriteTransport | None,
        limits: ServerLimits, user: str,
    ) -> None:
        self._receive = receive
        self._send = send
        self.transport = transport
        self._websocket = websocket_of(send) if transport is not None else None
        self.limits = limits
        self.user = user
        self.rate = MessageRate(limits.messages_per_second)
        self.accepted = False
        self.close_code: int | None = None
        self.close_reason = ""
        self._closed = asyncio.Event()

    async def receive(self) -> Message:
        if not self.accepted:
            return await self._receive()  # the handshake's websocket.connect
        if self.close_code is not None:
            return {"type": "websocket.disconnect", "code": self.close_code}
        incoming = asyncio.ensure_future(self._receive())
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            await asyncio.wait({incoming, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
        if not incoming.done():
            incoming.cancel()
            return {"type": "websocket.disconnect", "code": self.close_code or 1006}
        message: Message = incoming.result()
        if message["type"] == "websocket.receive" and not self.rate.take():
            await self.close(CloseCode.POLICY, "more than "
                             f"{self.limits.messages_per_second:g} messages a second")
            return {"type": "websocket.disconnect", "code": CloseCode.POLICY}
        return message

    async def send(self, message: Message) -> None:
        if self.close_code is not None:
            if message["type"] == "websocket.accept" and not self.accepted:
                # Closed by its pool while its handshake was under way (another socket
                # of the user came in): finish the handshake to say why, cleanly.
                self.accepted = True
                with contextlib.suppress(Exception):
                    await self._send(message)
                    await self._send({"type": "websocket.close", "code": self.close_code,
                                      "reason": self.close_reason})
            raise ViewerClosed(f"closed by the server ({self.close_code})")
        transport = self.transport
        if message["type"] == "websocket.send" and transport is not None:
            text = message.get("text")
            if (self._websocket is not None and text is not None
                    and len(text) > FRAGMENT_CHARS):
                await self._send_fragments(transport, self._websocket, text)
                return
            await self._wait_for_room(transport, frame_size(message))
        await self._send(message)
        if message["type"] == "websocket.accept":
            self.accepted = True
            if transport is not None:
                # Never let uvicorn pause our sends below the cap: past it we close
                # instead, so the close frame is never stuck behind a paused writer.
                transport.set_write_buffer_limits(high=2**62)

    async def _send_fragments(self, transport: asyncio.WriteTransport, websocket: Any,
                              text: str) -> None:
        """One text message as fragments of FRAGMENT_CHARS characters, each encoded and
        written once the write cap has room for it (uvicorn would encode and frame the
        whole message at once: two copies of it per viewer, then a third in the buffer).
        Pings and a close may go between fragments (RFC 6455, 5.4)."""
        conn = websocket.conn
        for start in range(0, len(text), FRAGMENT_CHARS):
            chunk = text[start:start + FRAGMENT_CHARS].encode()
            await self._wait_for_room(transport, len(chunk))
            if websocket.close_sent or transport.is_closing():
                self.gone()
                raise ViewerClosed("connection closing")
            last = start + FRAGMENT_CHARS >= len(text)
            try:
                if start == 0:
                    conn.send_text(chunk, fin=last)
                else:
                    conn.send_continuation(chunk, fin=last)
            except (InvalidState, ProtocolError) as exc:
                raise ViewerClosed(f"connection closing: {exc}") from None
            transport.write(b"".join(conn.data_to_send()))

    async def _wait_for_room(self, transport: asyncio.WriteTransport, size: int) -> None:
        """Hold the frame back while it would take the unsent bytes past the write cap.

        A frame always goes out onto an empty buffer, so a viewer that never reads holds
        at most the cap, or one frame if that is bigger. Slow is behind in *time*: one
        that has not made room within ``slow_seconds`` is closed (4008); a fast reader
        of big frames only waits a moment, whatever one snapshot of its buffer says.
        """
        cap = self.limits.write_cap
        deadline = time.monotonic() + self.limits.slow_seconds
        while True:
            if transport.is_closing():
                self.gone()
                raise ViewerClosed("connection closing")
            if self.close_code is not None:
                raise ViewerClosed(f"closed by the server ({self.close_code})")
            buffered = transport.get_write_buffer_size()
            if not buffered or buffered + size <= cap:
                return
            if time.monotonic() > deadline:
                await self.close(CloseCode.TOO_SLOW, f"too slow: {buffered} bytes unread for "
                                 f"{self.limits.slow_seconds:g} s; reconnect and resume")
                raise ViewerClosed("write cap passed")
            await asyncio.sleep(DRAIN_POLL)

    async def close(self, code: int, reason: str) -> None:
        """Close with ``code`` (once) and end the app's receive; abort a stuck transport."""
        if self.close_code is not None:
            return
        self.close_code = code
        self.close_reason = reason
        self._closed.set()
        if self.accepted:
            with contextlib.suppress(Exception):  # the peer may already be gone
                await self._send({"type": "websocket.close", "code": code, "reason": reason})
        if self.transport is not None and code == CloseCode.TOO_SLOW:
            # It does not read: flush what it may still read, then FIN; abort later.
            self.transport.close()
        self.abort_later()

    def gone(self) -> None:
        """The transport is closing under us (keepalive timeout): end the app now."""
        if self.close_code is None:
            self.close_code = 1006
            self._closed.set()
            self.abort_later()

    def abort_later(self) -> None:
        if self.transport is not None:
            asyncio.get_running_loop().call_later(CLOSE_GRACE, self.transport.abort)


def accept_message(scope: Scope) -> Message:
    """``websocket.accept``, choosing the browser's subprotocol when it offered it (a
    browser fails a handshake that answers none of the subprotocols it offered)."""
    if BROWSER_PROTOCOL in scope.get("subprotocols", []):
        return {"type": "websocket.accept", "subprotocol": BROWSER_PROTOCOL}
    return {"type": "websocket.accept"}


async def accept_and_close(scope: Scope, receive: Receive, send: Send, code: int,
                           reason: str) -> None:
    """Refuse a WebSocket with a close code the client can read (a close before accept
    would be a bare HTTP 403)."""
    await receive()
    await send(accept_message(scope))
    await send({"type": "websocket.close", "code": code, "reason": reason})


class ViewerLimits:
    """ASGI middleware applying :class:`ServerLimits` to viewer sockets."""

    def __init__(self, app: ASGIApp, limits: ServerLimits) -> None:
        self.app = app
        self.limits = limits
        self.pools: dict[str, list[GuardedSocket]] = {}
        self.sockets: set[GuardedSocket] = set()
        self.refused = {CloseCode.TRY_LATER: 0, CloseCode.REPLACED: 0}
        self._sweep: asyncio.TimerHandle | None = None
        self._closing: set[asyncio.Future[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.get("state") or {}
        claims = state.get("claims") or {}
        if scope["type"] != "websocket" or claims.get("role") != "viewer":
            await self.app(scope, receive, send)
            return
        if len(self.sockets) >= self.limits.max_viewers:
            self.refused[CloseCode.TRY_LATER] += 1
            await accept_and_close(scope, receive, send, CloseCode.TRY_LATER,
                                   f"the server takes {self.limits.max_viewers} viewers")
            return
        transport = state.get(TRANSPORT_KEY) or transport_of(send)
        sock = GuardedSocket(receive, send, transport, self.limits, str(claims.get("sub", "")))
        self._admit(sock)
        try:
            await self.app(scope, sock.receive, sock.send)
        finally:
            self.sockets.discard(sock)
            pool = self.pools.get(sock.user, [])
            if sock in pool:
                pool.remove(sock)
            if not pool:
                self.pools.pop(sock.user, None)
            sock.abort_later()

    def _admit(self, sock: GuardedSocket) -> None:
        pool = self.pools.setdefault(sock.user, [])
        pool.append(sock)
        self.sockets.add(sock)
        while len(pool) > self.limits.max_user_connections:
            oldest = pool.pop(0)
            self.refused[CloseCode.REPLACED] += 1
            closing = asyncio.ensure_future(oldest.close(
                CloseCode.REPLACED,
                f"more than {self.limits.max_user_connections} connections of this user; "
                "the oldest is closed",
            ))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        if self._sweep is None:
            self._sweep = asyncio.get_running_loop().call_later(SWEEP_INTERVAL, self._sweep_closing)

    def _sweep_closing(self) -> None:
        self._sweep = None
        for sock in list(self.sockets):
            if sock.transport is not None and sock.transport.is_closing():
                sock.gone()
        if self.sockets:
            self._sweep = asyncio.get_running_loop().call_later(SWEEP_INTERVAL, self._sweep_closing)
