"""Where a run's browser screenshots are: ``RUN_DIR/screenshots/ID.png``.

The images are files under the run's folder (written by the pytest process, see
``pytest_jbrealtime/screenshots.py``), never held in memory: a run may take
thousands. The route (``server/routes.py``) sits behind the app's TokenGate.
"""

from __future__ import annotations

import re
from pathlib import Path

from pytest_jbrealtime.screenshots import SCREENSHOTS_DIRECTORY

# What ScreenshotStore mints; anything else never reaches the file system.
SCREENSHOT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def screenshot_path(run_dir: Path, screenshot_id: str) -> Path:
    return run_dir / SCREENSHOTS_DIRECTORY / f"{screenshot_id}.png"


def find_screenshot(run_dir: Path | None, screenshot_id: str) -> Path | None:
    """The screenshot's file in the run's folder, if the id is well formed and it exists."""
    if run_dir is None or not SCREENSHOT_ID.match(screenshot_id):
        return None
    path = screenshot_path(run_dir, screenshot_id)
    return path if path.is_file() else None
