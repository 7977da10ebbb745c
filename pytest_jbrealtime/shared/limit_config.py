"""The servers' limits as numbers: chosen in pytest, enforced in the server process.

Every limit of the three servers (a run's, ``replay``'s and the hub's) is set here and
nowhere else: the tunable ones in :class:`ServerLimits` (options ``--jb-live-max-*``,
the hub's flags), the fixed ones per socket role in :data:`VIEWER_SOCKET` and
:data:`PRODUCER_SOCKET`. ``server/core.py`` hands them to uvicorn, ``server/limits.py``
enforces the rest. Apart from both so that pytest, which only fills them in, imports
neither asyncio nor starlette for it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from pytest_jbrealtime.shared.settings import DEFAULT_SETTINGS, LiveSettings

_D = DEFAULT_SETTINGS  # the options' defaults (settings.py), not written twice


@dataclass(frozen=True)
class SocketRole:
    """What one kind of WebSocket may send the server (the same on every server)."""

    name: str
    # Largest message taken, in bytes; a bigger one closes the socket with 1009. Checked
    # on the frame header, before the payload is read (websockets' max_size).
    max_frame_bytes: int
    # Longest string the server echoes back (a ``ping``'s ``id``).
    max_echo_chars: int = 64
    # Largest frame the server sends it: a batch stops before passing it (an event
    # bigger than that alone goes in a frame of its own). Small frames keep what one
    # socket holds unsent near the write cap whatever the events' size.
    max_send_bytes: int = 256 * 1024


# Viewers send subscribe/resume/ping/ack: a few hundred bytes; 64 KiB is generous.
VIEWER_SOCKET = SocketRole("viewer", 64 * 1024)
# Producers send a run's collection (every test id) in one event, and screenshots.
PRODUCER_SOCKET = SocketRole("producer", 16 * 1024 * 1024)
PRODUCER_PATH = "/ws/producer"
# A connection that has not completed a request (a WebSocket: its authenticated
# handshake) this long after connecting is aborted (server/deadline.py).
HANDSHAKE_TIMEOUT = 5.0
# Connections waiting for a complete request at once (past it the oldest is aborted),
# and at most this share of the descriptor limit; new connections a second.
PENDING_CONNECTIONS = 256
PENDING_SHARE_OF_DESCRIPTORS = 0.25
NEW_CONNECTIONS_PER_SECOND = 500.0
# The soft descriptor limit a server raises itself to, when the hard limit allows.
WANTED_DESCRIPTORS = 65536


def socket_role(path: str) -> SocketRole:
    """The role a WebSocket's path serves; the token must grant the same role."""
    return PRODUCER_SOCKET if path == PRODUCER_PATH else VIEWER_SOCKET


@dataclass(frozen=True)
class ServerLimits:
    """The server's limits; travels to the server process inside the config frame."""

    messages_per_second: float = _D.jb_live_max_message_rate
    max_user_connections: int = _D.jb_live_max_user_connections
    max_viewers: int = _D.jb_live_max_viewers
    write_cap: int = _D.jb_live_write_cap
    # "Slow" is behind in time: a viewer whose unsent bytes stay over the write cap this
    # long is closed (4008); until then the server waits for it to read.
    slow_seconds: float = 10.0
    ping_interval: float = _D.jb_live_ping_interval
    ping_timeout: float = _D.jb_live_ping_timeout
    # A hub's runs not yet ended, joined by one producer token, and in all (each keeps
    # its log and state in memory; issue 15: one token joined 1,500 runs in 3 s).
    max_live_runs_per_token: int = 20
    max_live_runs: int = 200
    allowed_origins: tuple[str, ...] = ()
    # Host names (besides IP literals and this machine's names) a request may be for.
    allowed_hosts: tuple[str, ...] = ()

    def to_config(self) -> dict[str, Any]:
        plain = asdict(self)
        plain["allowed_origins"] = list(self.allowed_origins)
        plain["allowed_hosts"] = list(self.allowed_hosts)
        return plain

    @classmethod
    def from_config(cls, plain: dict[str, Any] | None) -> ServerLimits:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in (plain or {}).items() if k in known}
        for name in ("allowed_origins", "allowed_hosts"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)


def limits_from_settings(settings: LiveSettings) -> ServerLimits:
    """The server's limits for a run's settings (options ``--jb-live-max-*`` and co)."""
    origins = list(settings.jb_live_allow_origin)
    hosts = [settings.jb_live_host]
    public_url = settings.jb_live_public_url
    if public_url:
        parts = urlsplit(public_url)
        origins.append(f"{parts.scheme}://{parts.netloc}")
        hosts.append(parts.hostname or "")
    return ServerLimits(
        messages_per_second=settings.jb_live_max_message_rate,
        max_user_connections=settings.jb_live_max_user_connections,
        max_viewers=settings.jb_live_max_viewers,
        write_cap=settings.jb_live_write_cap,
        ping_interval=settings.jb_live_ping_interval,
        ping_timeout=settings.jb_live_ping_timeout,
        allowed_origins=tuple(origins),
        allowed_hosts=tuple(h for h in hosts if h),
    )
