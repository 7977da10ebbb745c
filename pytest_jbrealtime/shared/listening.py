"""Binding a server's port: the run server's (bound in pytest), replay's and the hub's.

The socket is bound before the server starts, so its address is known (and printed) at
once and a port already taken falls back to any free one on the same host.
"""

from __future__ import annotations

import errno
import socket

from pytest_jbrealtime.shared.unpatched import system


class ServerStartError(Exception):
    """The server could not be started; the run goes on without it."""


def bind_listening_socket(host: str, port: int) -> socket.socket:
    """Bind ``host:port``; if that port is taken, any free port on the same host."""
    try:
        infos = system.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ServerStartError(f"cannot resolve host {host!r}: {exc}") from None
    family, _, _, _, address = infos[0]
    candidates = [port, 0] if port != 0 else [0]
    last_error: OSError | None = None
    for candidate in candidates:
        sock = system.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address[0], candidate, *address[2:]))
            sock.listen(128)
        except OSError as exc:
            sock.close()
            last_error = exc
            if exc.errno == errno.EADDRINUSE:
                continue
            break
        sock.set_inheritable(True)
        return sock
    raise ServerStartError(f"cannot bind {host}:{port}: {last_error}")
