"""The hub's Starlette application: the run list, each run's viewer, and the producers.

Routes (all behind the token gate; a hub token has no ``run`` claim):

- ``/`` the run list (viewer/hub.html, hub.js), ``/api/runs`` its data;
- ``/runs/{run_id}/`` the viewer for one run (the run server's viewer files: it finds
  its socket relative to the page), ``/runs/{run_id}/ws/{client_id}`` its socket,
  ``/runs/{run_id}/api/run`` the run's summary, ``/runs/{run_id}/screenshots/ID.png``
  its screenshots (uploaded by its producers, ``hub/screenshots.py``): the address a
  ``screenshot_captured`` event carries (``/screenshots/ID.png``), taken relative to
  the run's page as the viewer does;
- ``/ws/producer`` for pytest processes (producer role), see ``hub/intake.py``.

The viewer socket is the run server's own ``ViewerConnection``: a cursor into the
run's log, with the same protocol, resume and limits.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp
from starlette.websockets import WebSocket

from pytest_jbrealtime.hub.backends.base import LogBackend, StoreUnavailable
from pytest_jbrealtime.hub.history import HubHistory
from pytest_jbrealtime.hub.history_routes import history_routes
from pytest_jbrealtime.hub.intake import HubIntake
from pytest_jbrealtime.hub.names import valid_run_id
from pytest_jbrealtime.hub.runlog import HubRun
from pytest_jbrealtime.hub.screenshots import HubScreenshots
from pytest_jbrealtime.protocol import CloseCode
from pytest_jbrealtime.server.app import SECURITY_HEADERS, TokenGate, viewer_directory
from pytest_jbrealtime.server.auth import TokenAuthority
from pytest_jbrealtime.server.guard import HostOriginGuard
from pytest_jbrealtime.server.limits import ServerLimits, ViewerLimits
from pytest_jbrealtime.server.screenshots import SCREENSHOT_ID
from pytest_jbrealtime.server.stacks import StackService, stack_endpoint
from pytest_jbrealtime.server.viewers import CLIENT_ID, ViewerConnection

# A run's page: its link (``/runs/ID/?token=…``) trades the token for the cookie.
RUN_PAGE = re.compile(r"/runs/[A-Za-z0-9_.-]{1,64}/")


@dataclass
class Hub:
    """What the hub's routes share."""

    backend: LogBackend
    authority: TokenAuthority
    limits: ServerLimits = field(default_factory=ServerLimits)
    screenshots: HubScreenshots = field(default_factory=lambda: HubScreenshots(None, 0))
    history: HubHistory | None = None
    intake: HubIntake = field(init=False)

    def __post_init__(self) -> None:
        self.intake = HubIntake(self.backend, self.screenshots, self.history)

    def with_stacks(self, run: HubRun) -> HubRun:
        """The run, able to answer stack requests (asked down its shards' connections)."""
        if run.registry.stacks is None:
            run.registry.stacks = StackService(run.log, self.intake.stacks.fetch_for(run.run_id))
        return run

    async def stacks_of(self, request: Request) -> StackService | None:
        run_id = request.path_params["run_id"]
        run = await self.backend.open_run(run_id) if valid_run_id(run_id) else None
        return None if run is None else self.with_stacks(run).registry.stacks


def create_hub_app(hub: Hub) -> ASGIApp:
    viewer_files = viewer_directory()

    async def viewer_socket(websocket: WebSocket) -> None:
        run_id = websocket.path_params["run_id"]
        client_id = websocket.path_params["client_id"]
        await websocket.accept()
        if not CLIENT_ID.match(client_id):
            await websocket.close(code=CloseCode.POLICY, reason="client id: 1-64 of [A-Za-z0-9_.-]")
            return
        try:
            run = await hub.backend.open_run(run_id) if valid_run_id(run_id) else None
        except StoreUnavailable:
            await websocket.close(code=CloseCode.TRY_LATER, reason="log store unavailable")
            return
        if run is None:
            # Not (yet) here: a viewer opened before the run started tries again.
            await websocket.close(code=CloseCode.UNKNOWN_RUN, reason="no such run (yet)")
            return
        viewer = ViewerConnection(websocket, client_id, hub.with_stacks(run).registry)
        run.registry.add(viewer)
        try:
            await viewer.serve()
        finally:
            run.registry.remove(viewer)

    async def list_runs(request: Request) -> JSONResponse:
        try:
            runs = await hub.backend.list_runs()
        except StoreUnavailable as exc:
            return JSONResponse({"error": f"log store unavailable: {exc}"}, status_code=503)
        if hub.history is not None:
            # Duration, pass rate, new failures, project and branch from the history.
            try:
                known = {r["run_id"]: r for r in await hub.history.read(
                    hub.history.database.runs)}
            except Exception:  # the run list without them beats no run list
                known = {}
            for run in runs:
                run["history"] = known.get(run.get("run_id"))
        return JSONResponse({"runs": runs})

    async def run_info(request: Request) -> JSONResponse:
        run_id = request.path_params["run_id"]
        run = await hub.backend.open_run(run_id) if valid_run_id(run_id) else None
        if run is None:
            return JSONResponse({"error": "no such run"}, status_code=404)
        info: dict[str, Any] = {**run.listing(), "finished": run.log.finished}
        return JSONResponse(info)

    async def screenshot(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        screenshot_id = request.path_params["screenshot_id"]
        found = hub.screenshots.find(run_id, screenshot_id)
        if found is not None:
            return FileResponse(found, media_type="image/png")
        # Received by another hub on the same Redis: from the store, kept here after.
        png = (await hub.backend.shared_screenshot(run_id, screenshot_id)
               if valid_run_id(run_id) and SCREENSHOT_ID.match(screenshot_id) else None)
        if png is None:
            return PlainTextResponse("not found", status_code=404)
        await asyncio.to_thread(hub.screenshots.put, run_id, screenshot_id, png)
        return Response(png, media_type="image/png")

    async def home(request: Request) -> FileResponse:
        return FileResponse(viewer_files / "hub.html", media_type="text/html")

    async def run_page_without_slash(request: Request) -> RedirectResponse:
        return RedirectResponse(f"/runs/{request.path_params['run_id']}/", status_code=307)

    async def not_found(request: Request) -> PlainTextResponse:
        return PlainTextResponse("not found", status_code=404)

    viewer_static = StaticFiles(directory=viewer_files, html=True, check_dir=False)
    routes = [
        WebSocketRoute("/ws/producer", hub.intake.serve),
        WebSocketRoute("/runs/{run_id}/ws/{client_id}", viewer_socket),
        Route("/", home),
        Route("/api/runs", list_runs),
        *history_routes(lambda: hub.history),
        Route("/api/{rest:path}", not_found),
        Route("/runs/{run_id}/api/run", run_info),
        Route("/runs/{run_id}/api/stack", stack_endpoint(hub.stacks_of)),
        Route("/runs/{run_id}/api/{rest:path}", not_found),
        Route("/runs/{run_id}/screenshots/{screenshot_id}.png", screenshot),
        Route("/runs/{run_id}/screenshots/{rest:path}", not_found),
        Route("/runs/{run_id}", run_page_without_slash),
        Mount("/runs/{run_id}", viewer_static),
        Mount("/", viewer_static),  # hub.js and the style sheet
    ]
    app = Starlette(routes=routes)
    app.state.hub = hub
    gate = TokenGate(ViewerLimits(app, hub.limits), hub.authority, page_paths=RUN_PAGE)
    return HostOriginGuard(gate, hub.limits.allowed_hosts, hub.limits.allowed_origins,
                           headers=SECURITY_HEADERS)
