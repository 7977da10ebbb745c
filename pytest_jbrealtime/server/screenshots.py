"""Where a run's browser screenshots are: ``RUN_DIR/screenshots/ID.png`` live, the
recording's screenshot folder in ``replay``.

The images are files under the run's folder (written by the pytest process, see
``pytest_jbrealtime/pytest_side/screenshots.py``), never held in memory: a run may take
thousands. The route (``server/routes.py``) sits behind the app's TokenGate.
"""

from __future__ import annotations

import re
from pathlib import Path

# What ScreenshotStore mints; anything else never reaches the file system.
SCREENSHOT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def find_screenshot(folder: Path | None, screenshot_id: str) -> Path | None:
    """The screenshot's file in ``folder``, if the id is well formed and it exists."""
    if folder is None or not SCREENSHOT_ID.match(screenshot_id):
        return None
    path = folder / f"{screenshot_id}.png"
    return path if path.is_file() else None
