"""The routes of one run, shared by the run server (and replay) and the hub.

A run is served the same wherever it lives: its viewer socket (``ws/{client_id}``),
its summary (``api/run``), its tests' stacks (``api/stack``) and its screenshots
(``screenshots/ID.png``). The run server
mounts them at ``/`` for its one run; the hub at ``/runs/{run_id}`` and finds the run
by its id. Only how a run is found (a :data:`RunLookup`) differs; the handlers are
these, once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from starlette.requests import HTTPConnection, Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from pytest_jbrealtime.protocol import CloseCode
from pytest_jbrealtime.server.limits import ViewerClosed, accept_message
from pytest_jbrealtime.server.screenshots import SCREENSHOT_ID
from pytest_jbrealtime.server.stacks import StackService, stack_endpoint
from pytest_jbrealtime.server.viewers import CLIENT_ID, ViewerConnection, ViewerRegistry
from pytest_jbrealtime.shared.log import EventLog


class RunUnavailable(Exception):
    """The run cannot be looked up now (the hub's store is away): try again later."""


class ServedRun(Protocol):
    """What the shared routes need of a run."""

    @property
    def log(self) -> EventLog: ...

    @property
    def registry(self) -> ViewerRegistry: ...

    def summary(self) -> dict[str, Any]:
        """Fields of ``api/run`` beyond the ones every run has (run_info, listing)."""
        ...

    async def screenshot(self, screenshot_id: str) -> Path | bytes | None:
        """The image (a file, or its bytes) for a well-formed id; None if there is none."""
        ...


# The run a request is for (its path, its token's claims); None: no such run (yet), or
# not one this token may see.
RunLookup = Callable[[HTTPConnection], Awaitable[ServedRun | None]]


def run_routes(prefix: str, lookup: RunLookup) -> list[BaseRoute]:
    """A run's routes under ``prefix`` ("" or e.g. "/runs/{run_id}")."""

    async def viewer_socket(websocket: WebSocket) -> None:
        # A limit closed it (4009, 4008 …) and told it why; nothing to log.
        with contextlib.suppress(ViewerClosed):
            await serve_viewer(websocket, lookup)

    async def run_info(request: Request) -> Response:
        try:
            run = await lookup(request)
        except RunUnavailable as exc:
            return JSONResponse({"error": f"log store unavailable: {exc}"}, status_code=503)
        if run is None:
            return JSONResponse({"error": "no such run"}, status_code=404)
        return JSONResponse({
            **run.summary(),
            "run_id": run.log.run_id,
            "events": len(run.log),
            "finished": run.log.finished,
            "viewers": len(run.registry.viewers),
        })

    async def screenshot(request: Request) -> Response:
        screenshot_id = request.path_params["screenshot_id"]
        try:
            run = await lookup(request)
        except RunUnavailable:
            run = None
        found = (await run.screenshot(screenshot_id)
                 if run is not None and SCREENSHOT_ID.match(screenshot_id) else None)
        if isinstance(found, Path):
            return FileResponse(found, media_type="image/png")
        if isinstance(found, bytes):
            return Response(found, media_type="image/png")
        return PlainTextResponse("not found", status_code=404)

    async def stacks(request: Request) -> StackService | None:
        try:
            run = await lookup(request)
        except RunUnavailable:
            return None
        return run.registry.stacks if run is not None else None

    return [
        WebSocketRoute(f"{prefix}/ws/{{client_id}}", viewer_socket),
        Route(f"{prefix}/api/run", run_info),
        Route(f"{prefix}/api/stack", stack_endpoint(stacks)),
        Route(f"{prefix}/screenshots/{{screenshot_id}}.png", screenshot),
    ]


async def serve_viewer(websocket: WebSocket, lookup: RunLookup) -> None:
    """One viewer socket: checked, attached to its run's registry, served to the end."""
    await websocket.accept(accept_message(websocket.scope).get("subprotocol"))
    if not CLIENT_ID.match(websocket.path_params["client_id"]):
        await websocket.close(code=CloseCode.POLICY, reason="client id: 1-64 of [A-Za-z0-9_.-]")
        return
    try:
        run = await lookup(websocket)
    except RunUnavailable:
        await websocket.close(code=CloseCode.TRY_LATER, reason="log store unavailable")
        return
    if run is None:
        # Not (yet) here: a viewer opened before the run started tries again.
        await websocket.close(code=CloseCode.UNKNOWN_RUN, reason="no such run (yet)")
        return
    viewer = ViewerConnection(websocket, websocket.path_params["client_id"], run.registry)
    run.registry.add(viewer)
    try:
        await viewer.serve()
    finally:
        run.registry.remove(viewer)
