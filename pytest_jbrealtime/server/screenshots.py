"""Serving the run's browser screenshots: ``GET /screenshots/{screenshot_id}.png``.

The images are files under the run's folder (written by the pytest process, see
``pytest_jbrealtime/screenshots.py``), never held in memory: a run may take
thousands. The route sits behind the app's TokenGate like every other one.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response

from pytest_jbrealtime.screenshots import SCREENSHOTS_DIRECTORY

# What ScreenshotStore mints; anything else never reaches the file system.
SCREENSHOT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def screenshot_path(run_dir: Path, screenshot_id: str) -> Path:
    return run_dir / SCREENSHOTS_DIRECTORY / f"{screenshot_id}.png"


def screenshot_endpoint(run_dir: Path | None) -> Callable[[Request], Awaitable[Response]]:
    async def serve_screenshot(request: Request) -> Response:
        screenshot_id = request.path_params["screenshot_id"]
        if run_dir is None or not SCREENSHOT_ID.match(screenshot_id):
            return PlainTextResponse("not found", status_code=404)
        path = screenshot_path(run_dir, screenshot_id)
        if not path.is_file():
            return PlainTextResponse("not found", status_code=404)
        return FileResponse(path, media_type="image/png")

    return serve_screenshot
