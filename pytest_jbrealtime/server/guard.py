"""Host and Origin checks: the outermost layer, before any token is looked at.

- Host (DNS rebinding): a page on ``evil.test`` whose name is made to resolve to
  127.0.0.1 reaches this server as ``Host: evil.test``. Only IP literals (a rebinding
  needs a name), this machine's names, the bound host, the public URL's host and the
  allowed origins' hosts are served; anything else gets 403.
- Origin (cross-site WebSocket hijacking): a browser sends the Origin of the page that
  opens a WebSocket, and cookies go along with it. The handshake is refused (403)
  unless the Origin is the server's own (the Host the request came to) or exactly one
  of ``--jb-live-allow-origin``. Clients that are not browsers send no Origin; they
  still need a token.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from pytest_jbrealtime.protocol import CloseCode
from pytest_jbrealtime.server.limits import TRANSPORT_KEY, transport_of

PLAIN_TEXT = (b"content-type", b"text/plain; charset=utf-8")


def normalize_origin(origin: str) -> str | None:
    """``scheme://host[:port]`` lowercased, default port dropped; None if not an origin."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = 80 if parts.scheme == "http" else 443
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def split_host(host_header: str) -> str:
    """The host name of a Host header, lowercased, without port or trailing dot."""
    value = host_header.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def machine_names() -> set[str]:
    names = {"localhost"}
    for name in (socket.gethostname(), socket.getfqdn()):
        if name:
            names.add(name.lower().rstrip("."))
    return names


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class HostOriginGuard:
    """Refuses requests for a foreign Host and WebSocket handshakes from a foreign Origin."""

    def __init__(
        self, app: ASGIApp, allowed_hosts: Iterable[str], allowed_origins: Iterable[str],
        headers: Iterable[tuple[bytes, bytes]] = (),
    ) -> None:
        self.app = app
        # The security headers every response carries (CSP, nosniff), refusals too.
        self.headers = [PLAIN_TEXT, *headers]
        self.allowed_origins = {o for o in map(normalize_origin, allowed_origins) if o}
        self.allowed_hosts = machine_names() | {split_host(h) for h in allowed_hosts if h}
        self.allowed_hosts |= {split_host(urlsplit(o).netloc) for o in self.allowed_origins}

    def host_allowed(self, host_header: str | None) -> bool:
        if not host_header:
            return False
        name = split_host(host_header)
        return is_ip_literal(name) or name in self.allowed_hosts

    def origin_allowed(self, origin: str, host_header: str) -> bool:
        normalized = normalize_origin(origin)
        if normalized is None:  # "null" (sandboxed frames, file://) or garbage
            return False
        own = {normalize_origin(f"{scheme}://{host_header}") for scheme in ("http", "https")}
        return normalized in own or normalized in self.allowed_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = _header(scope, b"host")
        if not self.host_allowed(host):
            await self._refuse(scope, receive, send, b"403: this server does not serve that Host\n")
            return
        if scope["type"] == "websocket":
            origin = _header(scope, b"origin")
            if origin is not None and not self.origin_allowed(origin, host or ""):
                await self._refuse(scope, receive, send, b"403: Origin not allowed\n")
                return
            # Kept for the write cap (limits.py), before any layer wraps ``send``.
            scope.setdefault("state", {})[TRANSPORT_KEY] = transport_of(send)
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, body: bytes) -> None:
        if scope["type"] == "websocket":
            await receive()
            # A close before accept: the client sees HTTP 403.
            await send({"type": "websocket.close", "code": CloseCode.POLICY})
            return
        await send({"type": "http.response.start", "status": 403, "headers": self.headers})
        await send({"type": "http.response.body", "body": body})
