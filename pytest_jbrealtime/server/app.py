"""The Starlette application: the viewer page, the viewer socket, and the run's API.

Every route sits behind :class:`TokenGate`; nothing with data in it is reachable without
a token (the viewer's own files are public code).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pytest_jbrealtime.protocol import CloseCode
from pytest_jbrealtime.server.guard import HostOriginGuard
from pytest_jbrealtime.server.limits import ServerLimits, ViewerLimits, accept_message
from pytest_jbrealtime.server.metrics import METRICS_PATH, metrics_routes
from pytest_jbrealtime.server.producers import ProducerIntake
from pytest_jbrealtime.server.routes import run_routes
from pytest_jbrealtime.server.screenshots import find_screenshot
from pytest_jbrealtime.server.stacks import StackService, local_fetch
from pytest_jbrealtime.server.viewers import ViewerRegistry
from pytest_jbrealtime.shared.auth import TOKEN_PROTOCOL_PREFIX, InvalidToken, TokenAuthority
from pytest_jbrealtime.shared.limit_config import PRODUCER_PATH, socket_role
from pytest_jbrealtime.shared.log import EventLog
from pytest_jbrealtime.shared.recording import SCREENSHOTS_DIRECTORY

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


def _token_from(scope: Scope) -> str | None:
    """The request's token: in the query (links, scripts), a bearer header (the viewer's
    fetches, scrapers) or, on a WebSocket, a ``jb-live-token.<token>`` subprotocol (what a
    browser can send there). Never a cookie: a cookie goes to every port of the host.

    Starlette's ``HTTPConnection`` reads the query and headers of an HTTP request and of
    a WebSocket handshake alike.
    """
    connection = HTTPConnection(scope)
    token = connection.query_params.get("token")
    if token:
        return token
    scheme, _, credentials = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    for offered in scope.get("subprotocols", []) if scope["type"] == "websocket" else []:
        if offered.startswith(TOKEN_PROTOCOL_PREFIX):
            return str(offered[len(TOKEN_PROTOCOL_PREFIX):])
    return None


# The viewer's own files (no data in them): served without a token, so that a page can
# load and then send the token it keeps (viewer/credential.js). At a run server's root or
# a hub run's page; a path with a further folder (screenshots/…, api/…) is not one.
STATIC_PAGE = re.compile(
    r"(?:/runs/[A-Za-z0-9_.-]{1,64})?/?(?:[A-Za-z0-9_-]+\.(?:html|js|css|json|svg|ico|png))?")


class TokenGate:
    """Lets a request through only with a valid token; adds the security headers.

    The viewer's files are public code (:data:`STATIC_PAGE`); everything with data in it
    (the API, sockets, screenshots) needs the token. A browser page keeps its link's
    token itself (viewer/credential.js) and sends it; no cookie is set or read.
    """

    def __init__(
        self, app: ASGIApp, authority: TokenAuthority, public_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.authority = authority
        self.public_paths = public_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        role = socket_role(scope["path"]).name
        try:
            scope.setdefault("state", {})["claims"] = self.authority.verify(
                _token_from(scope), role)
        except InvalidToken:
            if scope["type"] != "http" or not self._public(scope):
                await self._refuse(scope, receive, send)
                return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _public(self, scope: Scope) -> bool:
        path = scope["path"]
        return path in self.public_paths or (
            scope["method"] in ("GET", "HEAD") and STATIC_PAGE.fullmatch(path) is not None)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            # Accept, then close: a close before accept is an HTTP 403 and the
            # client could not tell a bad token from any other refusal.
            await receive()
            await send(accept_message(scope))
            await send({"type": "websocket.close", "code": CloseCode.BAD_TOKEN,
                        "reason": "invalid token"})
            return
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                *SECURITY_HEADERS]})
        await send({"type": "http.response.body",
                    "body": b"401: this needs the link with its token\n"})


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
