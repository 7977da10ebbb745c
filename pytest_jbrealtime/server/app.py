"""The Starlette application: the viewer page, the viewer socket, and the run's API.

Every route sits behind :class:`TokenGate`; nothing is reachable without a token.
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pytest_jbrealtime.log import EventLog
from pytest_jbrealtime.protocol import CloseCode
from pytest_jbrealtime.screenshots import SCREENSHOTS_DIRECTORY
from pytest_jbrealtime.server.auth import COOKIE_NAME, InvalidToken, TokenAuthority
from pytest_jbrealtime.server.guard import HostOriginGuard
from pytest_jbrealtime.server.limit_config import PRODUCER_PATH, socket_role
from pytest_jbrealtime.server.limits import ServerLimits, ViewerLimits
from pytest_jbrealtime.server.metrics import METRICS_PATH, metrics_routes
from pytest_jbrealtime.server.producers import ProducerIntake
from pytest_jbrealtime.server.routes import run_routes
from pytest_jbrealtime.server.screenshots import find_screenshot
from pytest_jbrealtime.server.stacks import StackService, local_fetch
from pytest_jbrealtime.server.viewers import ViewerRegistry

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


def viewer_directory() -> Path:
    """The viewer's static files: inside the wheel, or beside the package in a checkout."""
    packaged = Path(__file__).resolve().parent.parent / "viewer"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent.parent / "viewer"


@dataclass
class ServerState:
    """What the routes share: the run's log, its viewers, and who may get in."""

    log: EventLog
    authority: TokenAuthority
    registry: ViewerRegistry = field(init=False)
    # xdist workers' events (server/producers.py), merged into the same log.
    producers: ProducerIntake = field(init=False)
    run_info: dict[str, Any] = field(default_factory=dict)
    # /metrics without a token, for a Prometheus that cannot send one (--jb-live-metrics-public).
    metrics_public: bool = False
    # Where the run's files (screenshots) are; None when the server has no run folder.
    run_dir: Path | None = None
    # Where the screenshots are, if not in the run folder (replay: the recording's).
    screenshots: Path | None = None
    # Connection, rate and size limits, allowed hosts and origins (server/limits.py).
    limits: ServerLimits = field(default_factory=ServerLimits)

    def __post_init__(self) -> None:
        self.registry = ViewerRegistry(self.log)
        self.producers = ProducerIntake(self.log)
        # Stacks of running tests, from their processes' responders in the run folder.
        self.registry.stacks = StackService(self.log, local_fetch(self.run_dir))

    @property
    def screenshots_dir(self) -> Path | None:
        if self.screenshots is not None:
            return self.screenshots
        return self.run_dir / SCREENSHOTS_DIRECTORY if self.run_dir is not None else None


def _token_from(scope: Scope) -> tuple[str | None, bool]:
    """The request's token and whether it came in the query string.

    Starlette's ``HTTPConnection`` reads the query, headers and cookies of an HTTP
    request and of a WebSocket handshake alike.
    """
    connection = HTTPConnection(scope)
    token = connection.query_params.get("token")
    if token:
        return token, True
    scheme, _, credentials = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip(), False  # scrapers (Prometheus)
    return connection.cookies.get(COOKIE_NAME), False


class TokenGate:
    """Lets a request through only with a valid token; adds the security headers.

    The page link carries the token once: ``GET /?token=…`` answers with a cookie
    (HttpOnly, SameSite=Lax) and a redirect to the bare URL, so the token leaves
    the address bar and the browser history.
    """

    def __init__(
        self, app: ASGIApp, authority: TokenAuthority, public_paths: frozenset[str] = frozenset(),
        page_paths: re.Pattern[str] | None = None,
    ) -> None:
        self.app = app
        self.authority = authority
        self.public_paths = public_paths
        # Pages besides "/" whose link trades its token for the cookie (the hub's runs).
        self.page_paths = page_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        token, from_query = _token_from(scope)
        role = socket_role(scope["path"]).name
        try:
            scope.setdefault("state", {})["claims"] = self.authority.verify(token, role)
        except InvalidToken:
            if scope["type"] != "http" or scope["path"] not in self.public_paths:
                await self._refuse(scope, receive, send)
                return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        if from_query and scope["method"] == "GET" and self._is_page(scope["path"]):
            await self._trade_for_cookie(self._browser_token(scope), send, scope["path"])
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            # Accept, then close: a close before accept is an HTTP 403 and the
            # client could not tell a bad token from any other refusal.
            await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": CloseCode.BAD_TOKEN,
                        "reason": "invalid token"})
            return
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                *SECURITY_HEADERS]})
        await send({"type": "http.response.body",
                    "body": b"401: this page needs the link with its token\n"})

    def _is_page(self, path: str) -> bool:
        pages = self.page_paths
        return path == "/" or (pages is not None and bool(pages.fullmatch(path)))

    def _browser_token(self, scope: Scope) -> str:
        """A token of the browser's own: everyone opens the same link, but the per-user
        connection pool must count each browser apart. It expires with the link."""
        claims = scope["state"]["claims"]
        remaining = max(1, int(claims["exp"] - time.time()))
        return self.authority.mint("viewer", remaining, subject=f"browser-{secrets.token_hex(8)}")

    async def _trade_for_cookie(self, token: str, send: Send, location: str = "/") -> None:
        # Lax, not Strict: a hub run's link (no token) clicked on a CI page or in a chat
        # must find the cookie; other sites' scripts and sockets still never send it.
        cookie = f"{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Lax"
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", location.encode()),
                                (b"set-cookie", cookie.encode()),
                                *SECURITY_HEADERS]})
        await send({"type": "http.response.body", "body": b""})


class ServerRun:
    """The run server's one run, as the shared routes (server/routes.py) see it."""

    def __init__(self, state: ServerState) -> None:
        self.log = state.log
        self.registry = state.registry
        self._state = state

    def summary(self) -> dict[str, Any]:
        return dict(self._state.run_info)

    async def screenshot(self, screenshot_id: str) -> Path | None:
        return find_screenshot(self._state.screenshots_dir, screenshot_id)


def create_app(state: ServerState) -> ASGIApp:
    run = ServerRun(state)

    async def the_run(connection: HTTPConnection) -> ServerRun:
        return run

    async def not_found(request: Request) -> PlainTextResponse:
        return PlainTextResponse("not found", status_code=404)

    routes = [
        # Before /ws/{client_id}: the gate asks this path for the producer role.
        WebSocketRoute(PRODUCER_PATH, state.producers.serve),
        *run_routes("", the_run),
        *metrics_routes(state),
        Route("/api/{rest:path}", not_found),
        Mount("/", StaticFiles(directory=viewer_directory(), html=True, check_dir=False)),
    ]
    app = Starlette(routes=routes)
    app.state.live = state
    public = frozenset({METRICS_PATH}) if state.metrics_public else frozenset()
    gate = TokenGate(ViewerLimits(app, state.limits), state.authority, public_paths=public)
    return HostOriginGuard(gate, state.limits.allowed_hosts, state.limits.allowed_origins,
                           headers=SECURITY_HEADERS)
