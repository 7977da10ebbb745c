"""The server core: how uvicorn serves every app of ours (run server, replay, hub).

One :func:`uvicorn_config` for the three, so that none of them can forget a limit:

- no permessage-deflate: each event is encoded once for all viewers and deflate would
  compress it again per viewer (measured: it dominated latency at 100 viewers); and a
  15 KB compressed frame inflating to 16 MB cost a hub 1.4 GiB (issue 15);
- a frame size per socket role (``limit_config.socket_role``), decided from the
  handshake's path before any frame is read: a viewer's 64 KiB, a producer's 16 MiB;
- the handshake deadline, and a cap (count and rate) on connections waiting for it
  (``server/deadline.py``), under a soft descriptor limit raised where allowed;
- the keep-alive pings.
"""

from __future__ import annotations

import contextlib
import logging
import resource
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

from pytest_jbrealtime.server.deadline import deadline_protocol
from pytest_jbrealtime.shared.limit_config import (
    HANDSHAKE_TIMEOUT,
    VIEWER_SOCKET,
    WANTED_DESCRIPTORS,
    ServerLimits,
    socket_role,
)


class RoleSizedWebSocket(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol with the frame size of the socket's role.

    Starts at the viewer's size (the smallest), so a frame sent in the same packet as
    the handshake is held to it too; a producer's path raises it once the request is in.
    """

    def handle_connect(self, event: Request) -> None:
        role = socket_role(event.path.partition("?")[0])
        self.conn.max_message_size = role.max_frame_bytes
        super().handle_connect(event)


def uvicorn_config(app: ASGIApp, limits: ServerLimits, *, access_log: bool = False,
                   **extra: Any) -> uvicorn.Config:
    """The uvicorn configuration of every server of ours."""
    return uvicorn.Config(
        app,
        log_config=None,
        # On only when the log level asks for requests; redacted (server/redact.py).
        access_log=access_log,
        lifespan="off",
        ws=RoleSizedWebSocket,
        ws_max_size=VIEWER_SOCKET.max_frame_bytes,
        ws_per_message_deflate=False,
        ws_ping_interval=limits.ping_interval,
        ws_ping_timeout=limits.ping_timeout,
        # Sockets that send no complete request in time are aborted, and a flood of them
        # held below the descriptor limit (deadline.py).
        http=deadline_protocol(HANDSHAKE_TIMEOUT, raise_descriptor_limit()),
        timeout_graceful_shutdown=1,
        **extra,
    )


def raise_descriptor_limit() -> int:
    """Raise the soft descriptor limit towards the hard one (a common soft limit is 1,024,
    which a viewer crowd and a connection flood share); the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = WANTED_DESCRIPTORS if hard == resource.RLIM_INFINITY else min(hard,
                                                                           WANTED_DESCRIPTORS)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(OSError, ValueError):  # not allowed here: keep what we have
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
    return WANTED_DESCRIPTORS if soft == resource.RLIM_INFINITY else int(soft)


def access_log_wanted() -> bool:
    """Whether the server's log level asks for request lines (JB_LIVE_SERVER_LOG_LEVEL)."""
    return logging.getLogger("uvicorn.error").getEffectiveLevel() <= logging.INFO
