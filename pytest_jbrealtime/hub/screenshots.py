"""Screenshots on the hub: uploaded by producers, kept with the run, served to its viewers.

A producer sends each screenshot as a binary frame on its ``/ws/producer`` connection
(``hub/intake.py``), just before the publish frame that holds its
``screenshot_captured`` event: the image is stored before the event is in the log,
so a viewer never sees an event whose image is not there yet. The frame is
``HEADER_JSON + b"\\n" + PNG``, the header ``{"type": "screenshot", "run_id": R,
"screenshot_id": S}``.

Images are files beside the run's log, ``DATA/runs/RUN_ID/log.screenshots/ID.png``
(where a recording keeps its screenshots, so ``replay`` and ``report`` of the hub's
``log.jsonl`` show them too): a hub restarted on the same data folder still serves
them, and the memory backend's retention deletes them with the run's folder. With
Redis, each hub keeps the images it received in its own data folder and deletes them
after the retention period (:meth:`HubScreenshots.expire`); docs/hub.md says what
that means for several hubs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from pytest_jbrealtime.server.screenshots import SCREENSHOT_ID
from pytest_jbrealtime.shared.names import valid_run_id
from pytest_jbrealtime.shared.recording import screenshots_dir_for

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A producer's frame is at most 16 MiB (limit_config.PRODUCER_SOCKET): image and header.
MAX_SCREENSHOT_BYTES = 15 * 1024 * 1024
MAX_HEADER_BYTES = 1024
# The run's log in its folder (as the memory backend writes it, backends/memory.py).
LOG_NAME = "log.jsonl"


class ScreenshotFrameError(Exception):
    """A screenshot frame the hub cannot take (answered with an ``error``)."""


def screenshot_frame(run_id: str, screenshot_id: str, png: bytes) -> bytes:
    header = json.dumps({"type": "screenshot", "run_id": run_id, "screenshot_id": screenshot_id})
    return header.encode("ascii") + b"\n" + png


def parse_screenshot_frame(data: bytes) -> tuple[str, str, bytes]:
    """``(run_id, screenshot_id, png)`` of a producer's binary frame."""
    head, newline, png = data.partition(b"\n")
    if not newline or len(head) > MAX_HEADER_BYTES:
        raise ScreenshotFrameError("a binary frame is a screenshot: JSON header, newline, PNG")
    try:
        header: Any = json.loads(head)
    except ValueError:
        raise ScreenshotFrameError("the screenshot header is not JSON") from None
    if not isinstance(header, dict) or header.get("type") != "screenshot":
        raise ScreenshotFrameError("a binary frame is a screenshot (type 'screenshot')")
    run_id, screenshot_id = header.get("run_id"), header.get("screenshot_id")
    if not isinstance(screenshot_id, str) or not SCREENSHOT_ID.match(screenshot_id):
        raise ScreenshotFrameError("screenshot_id: 1-64 of [A-Za-z0-9_-]")
    if not isinstance(run_id, str):
        raise ScreenshotFrameError("the screenshot header needs run_id")
    if not png.startswith(PNG_SIGNATURE):
        raise ScreenshotFrameError("a screenshot must be a PNG")
    if len(png) > MAX_SCREENSHOT_BYTES:
        raise ScreenshotFrameError(f"a screenshot is at most {MAX_SCREENSHOT_BYTES} bytes")
    return run_id, screenshot_id, png


class HubScreenshots:
    """The runs' screenshots in the data folder (nowhere, and never served, without one)."""

    def __init__(self, data_dir: Path | None, retention_seconds: float) -> None:
        self.runs_dir = data_dir / "runs" if data_dir is not None else None
        self.retention_seconds = retention_seconds

    def path(self, run_id: str, screenshot_id: str) -> Path | None:
        if self.runs_dir is None or not valid_run_id(run_id):
            return None
        if not SCREENSHOT_ID.match(screenshot_id):
            return None
        return screenshots_dir_for(self.runs_dir / run_id / LOG_NAME) / f"{screenshot_id}.png"

    def put(self, run_id: str, screenshot_id: str, png: bytes) -> bool:
        """Store one image (again: the same bytes after a producer's reconnect)."""
        path = self.path(run_id, screenshot_id)
        if path is None:
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{screenshot_id}.new")
        temporary.write_bytes(png)
        os.replace(temporary, path)  # a viewer never reads half an image
        return True

    def find(self, run_id: str, screenshot_id: str) -> Path | None:
        path = self.path(run_id, screenshot_id)
        return path if path is not None and path.is_file() else None

    def expire(self, now: float | None = None) -> None:
        """Delete screenshot folders untouched for the retention period (Redis hubs)."""
        if self.runs_dir is None or not self.runs_dir.is_dir():
            return
        now = time.time() if now is None else now
        for folder in self.runs_dir.glob(f"*/{screenshots_dir_for(Path(LOG_NAME)).name}"):
            with contextlib.suppress(OSError):
                newest = max((p.stat().st_mtime for p in folder.iterdir()),
                             default=folder.stat().st_mtime)
                if now - newest >= self.retention_seconds:
                    shutil.rmtree(folder, ignore_errors=True)
                    with contextlib.suppress(OSError):
                        folder.parent.rmdir()  # only if nothing else is in it
