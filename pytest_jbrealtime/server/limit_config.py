"""The server's limits as numbers: chosen in pytest, enforced in the server process.

Apart from ``limits.py`` (the enforcing middleware) so that pytest, which only fills
them in, imports neither asyncio nor starlette for it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from pytest_jbrealtime.settings import DEFAULT_SETTINGS, LiveSettings

_D = DEFAULT_SETTINGS  # the options' defaults (settings.py), not written twice


@dataclass(frozen=True)
class ServerLimits:
    """The server's limits; travels to the server process inside the config frame."""

    max_message_bytes: int = 64 * 1024
    messages_per_second: float = _D.jb_live_max_message_rate
    max_user_connections: int = _D.jb_live_max_user_connections
    max_viewers: int = _D.jb_live_max_viewers
    write_cap: int = _D.jb_live_write_cap
    ping_interval: float = _D.jb_live_ping_interval
    ping_timeout: float = _D.jb_live_ping_timeout
    handshake_timeout: float = 5.0
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
