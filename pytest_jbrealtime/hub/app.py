"""The hub's Starlette application: the run list, each run's viewer, and the producers.

Routes (all behind the token gate; a token's ``run``/``project`` claims scope what it
reaches, hub/scopes.py):

- ``/`` the run list (viewer/hub.html, hub.js), ``/api/runs`` its data;
- ``/runs/{run_id}/`` the viewer for one run (the run server's viewer files: it finds
  its socket relative to the page), ``/runs/{run_id}/ws/{client_id}`` its socket,
  ``/runs/{run_id}/api/run`` the run's summary, ``/runs/{run_id}/screenshots/ID.png``
  its screenshots (uploaded by its producers, ``hub/screenshots.py``): the address a
  ``screenshot_captured`` event carries (``/screenshots/ID.png``), taken relative to
  the run's page as the viewer does;
- ``/ws/producer`` for pytest processes (producer role), see ``hub/intake.py``.

The run's routes (socket, summary, stacks, screenshots) are the run server's own
(``server/routes.py``), mounted under ``/runs/{run_id}``: a cursor into the run's log,
with the same protocol, resume and limits.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
)
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from pytest_jbrealtime.hub.backends.base import LogBackend, StoreUnavailable
from pytest_jbrealtime.hub.history import HubHistory
from pytest_jbrealtime.hub.history_routes import history_routes
from pytest_jbrealtime.hub.intake import HubIntake
from pytest_jbrealtime.hub.runlog import HubRun
from pytest_jbrealtime.hub.scopes import TokenScope
from pytest_jbrealtime.hub.screenshots import HubScreenshots
from pytest_jbrealtime.server.app import SECURITY_HEADERS, TokenGate, viewer_directory
from pytest_jbrealtime.server.guard import HostOriginGuard
from pytest_jbrealtime.server.limits import ServerLimits, ViewerLimits
from pytest_jbrealtime.server.routes import RunUnavailable, run_routes
from pytest_jbrealtime.server.stacks import StackService
from pytest_jbrealtime.shared.auth import TokenAuthority
from pytest_jbrealtime.shared.limit_config import PRODUCER_PATH
from pytest_jbrealtime.shared.names import valid_run_id


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
        self.intake = HubIntake(self.backend, self.screenshots, self.history, self.limits)

    def with_stacks(self, run: HubRun) -> HubRun:
        """The run, able to answer stack requests (asked down its shards' connections)."""
        if run.registry.stacks is None:
            run.registry.stacks = StackService(run.log, self.intake.stacks.fetch_for(run.run_id))
        return run


class HubServedRun:
    """A run on the hub, as the shared routes (server/routes.py) see it."""

    def __init__(self, hub: Hub, run: HubRun) -> None:
        self.log = run.log
        self.registry = hub.with_stacks(run).registry
        self._hub = hub
        self._run = run

    def summary(self) -> dict[str, Any]:
        return self._run.state.listing()

    async def screenshot(self, screenshot_id: str) -> Path | bytes | None:
        run_id = self._run.run_id
        found = self._hub.screenshots.find(run_id, screenshot_id)
        if found is not None:
            return found
        # Received by another hub on the same Redis: from the store, kept here after.
        png = await self._hub.backend.shared_screenshot(run_id, screenshot_id)
        if png is not None:
            await asyncio.to_thread(self._hub.screenshots.put, run_id, screenshot_id, png)
        return png


def scope_of(connection: HTTPConnection) -> TokenScope:
    """Which runs the request's token reaches (a viewer token naming none: every run)."""
    return TokenScope.of(connection.scope.get("state", {}).get("claims") or {})


def create_hub_app(hub: Hub) -> ASGIApp:
    viewer_files = viewer_directory()

    async def find_run(connection: HTTPConnection) -> HubServedRun | None:
        run_id = connection.path_params["run_id"]
        if not valid_run_id(run_id) or not scope_of(connection).allows(run_id):
            return None  # a run this token may not see is one that is not there
        try:
            run = await hub.backend.open_run(run_id)
        except StoreUnavailable as exc:
            raise RunUnavailable(str(exc)) from None
        return HubServedRun(hub, run) if run is not None else None

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
        scope = scope_of(request)
        return JSONResponse({"runs": [run for run in runs if scope.allows(run["run_id"])]})

    async def home(request: Request) -> FileResponse:
        return FileResponse(viewer_files / "hub.html", media_type="text/html")

    async def run_page_without_slash(request: Request) -> RedirectResponse:
        return RedirectResponse(f"/runs/{request.path_params['run_id']}/", status_code=307)

    async def not_found(request: Request) -> PlainTextResponse:
        return PlainTextResponse("not found", status_code=404)

    viewer_static = StaticFiles(directory=viewer_files, html=True, check_dir=False)
    routes = [
        WebSocketRoute(PRODUCER_PATH, hub.intake.serve),
        *run_routes("/runs/{run_id}", find_run),
        Route("/", home),
        Route("/api/runs", list_runs),
        *history_routes(lambda: hub.history),
        Route("/api/{rest:path}", not_found),
        Route("/runs/{run_id}/api/{rest:path}", not_found),
        Route("/runs/{run_id}/screenshots/{rest:path}", not_found),
        Route("/runs/{run_id}", run_page_without_slash),
        Mount("/runs/{run_id}", viewer_static),
        Mount("/", viewer_static),  # hub.js and the style sheet
    ]
    app = Starlette(routes=routes)
    app.state.hub = hub
    gate = TokenGate(ViewerLimits(app, hub.limits), hub.authority)
    return HostOriginGuard(gate, hub.limits.allowed_hosts, hub.limits.allowed_origins,
                           headers=SECURITY_HEADERS)
