"""Recording a run: its event log written to disk as JSON lines (format: recording.py).

The writer is a listener of the event log: in the server process (``server/process.py``),
in the hub's memory backend, and in pytest on a hub run (``pytest_side/hub_link.py``).
It flushes after every batch, so ``tail -f PATH.partial`` follows the run (PATH is
the name once it is closed) and a crash of the run loses nothing that was flushed;
screenshots are copied beside the recording.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import IO, Any

from pytest_jbrealtime.protocol import PROTOCOL_VERSION
from pytest_jbrealtime.shared.log import LoggedEvent, iso_timestamp
from pytest_jbrealtime.shared.recording import (
    FORMAT_NAME,
    FORMAT_VERSION,
    screenshot_url_path,
    screenshots_dir_for,
)
from pytest_jbrealtime.shared.text import json_text, short_error
from pytest_jbrealtime.shared.unpatched import clock


class RecordingWriter:
    """Appends logged events to a recording; a listener of ``EventLog`` in the server.

    Screenshots named by ``screenshot_captured`` events are looked up in the run
    folder (``run_dir``) at the event's URL path and copied beside the recording.
    Every failure turns into one ``warn`` call and stops the recording; the run
    and the live server go on.
    """

    def __init__(
        self,
        path: Path,
        run_id: str,
        run_info: dict[str, Any],
        run_dir: Path | None,
        warn: Callable[[str], None],
    ) -> None:
        self.path = path
        self.run_dir = run_dir
        self.screenshots_dir = screenshots_dir_for(path)
        self._warn = warn
        self._pending_screenshots: list[PurePosixPath] = []
        self.events_written = 0
        # Why the recording stopped before the run's end, if it did.
        self.failure: str | None = None
        self._screenshot_warned = False
        self._raw: IO[bytes] | None = None
        self._whole_bytes = 0  # the file's size after the last whole batch
        self._file: IO[bytes] | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written beside PATH and renamed at the end. pytest decides its rootdir before
        # it knows our options, so the value of ``--jb-live-record PATH`` counts as a
        # test path when the file exists: an xdist worker started after the file
        # appeared would choose another rootdir than the controller and collect other
        # test ids ("Different tests were collected"). PATH never appears mid-run.
        # A device, a pipe or a link (/dev/stdout, a FIFO) is written as it is.
        self.writing_path = path
        if not path.is_symlink() and (path.is_file() or not path.exists()):
            self.writing_path = path.with_name(path.name + ".partial")
        self._raw = open(self.writing_path, "wb")  # noqa: SIM115 - open for the whole run
        self._file = self._raw
        if path.name.endswith(".gz"):
            self._file = gzip.GzipFile(  # type: ignore[assignment]  # GzipFile is an IO[bytes]
                filename="", fileobj=self._raw, mode="wb", compresslevel=6, mtime=0
            )
        header = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "protocol": PROTOCOL_VERSION,
            "run_id": run_id,
            "created": iso_timestamp(clock.time()),
            "run_info": run_info,
            "screenshots": self.screenshots_dir.name,
        }
        self._write_text(json_text(header) + "\n")

    def _write_text(self, text: str) -> None:
        assert self._file is not None and self._raw is not None
        self._file.write(text.encode("utf-8"))
        # A gzip flush is a sync flush: what is written so far can be decompressed.
        self._file.flush()
        if self._file is not self._raw:
            self._raw.flush()
        self._whole_bytes = self._raw.tell()

    def __call__(self, entries: list[LoggedEvent]) -> None:
        if self._file is None:
            return
        try:
            self._write_text("".join(entry.text + "\n" for entry in entries))
            self.events_written += len(entries)
        except Exception as exc:  # the recording is lost, the run is not
            self._fail(f"writing the recording {self.path} failed ({short_error(exc)}); "
                       f"it holds the first {self.events_written} events")
            if self._file is None and not self.path.name.endswith(".gz"):
                # Without the part of the batch that did fit: the file ends on a whole
                # event, as the warning says (a gzip stream cut short reads to its cut).
                with contextlib.suppress(OSError):
                    os.truncate(self.path, self._whole_bytes)  # (renamed by close)
            return
        for entry in entries:
            if entry.type != "screenshot_captured":
                continue
            try:
                self._copy_screenshot(entry.event.get("screenshot_url"), keep_pending=True)
            except OSError as exc:
                if not self._screenshot_warned:
                    self._screenshot_warned = True
                    self._warn(f"copying a screenshot beside the recording failed: {exc}")

    def _copy_screenshot(self, url: object, keep_pending: bool) -> None:
        url_path = screenshot_url_path(url)
        if url_path is None or self.run_dir is None:
            return
        source = self.run_dir.joinpath(*url_path.parts[1:])
        if not source.is_file():
            # Written after its event was published? Try again when the run ends.
            if keep_pending:
                self._pending_screenshots.append(url_path)
            return
        self.screenshots_dir.mkdir(parents=True, exist_ok=True)
        target = self.screenshots_dir / url_path.name
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        try:
            os.link(source, target)  # screenshots never change once written
        except OSError:
            shutil.copyfile(source, target)

    def _fail(self, message: str) -> None:
        self.failure = message
        self.close()
        self._warn(message)

    def close(self) -> None:
        pending, self._pending_screenshots = self._pending_screenshots, []
        for url_path in pending:
            with contextlib.suppress(OSError):
                self._copy_screenshot(str(url_path), keep_pending=False)
        file, raw = self._file, self._raw
        self._file = self._raw = None
        for stream in (file, raw):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if raw is not None and self.writing_path != self.path:
            try:
                os.replace(self.writing_path, self.path)
            except OSError as exc:
                self.failure = self.failure or f"renaming {self.writing_path} failed"
                self._warn(f"the recording is in {self.writing_path}: renaming it to "
                           f"{self.path} failed ({short_error(exc)})")


def recording_outcome(
    config: dict[str, Any], recorder: RecordingWriter | None
) -> dict[str, Any] | None:
    """What became of the recording the config asked for, for pytest to say (outputs.py):
    ``{"events": n, "complete": bool}``; None when no recording was asked for."""
    if not config.get("record_path"):
        return None
    if recorder is None:
        return {"events": 0, "complete": False}
    return {"events": recorder.events_written, "complete": recorder.failure is None}


def open_recorder(
    config: dict[str, Any], warn: Callable[[str], None]
) -> RecordingWriter | None:
    """The writer the server process's config asks for (``record_path``), or None."""
    record_path = config.get("record_path")
    if not record_path:
        return None
    run_dir = config.get("run_dir")
    try:
        return RecordingWriter(
            Path(record_path),
            run_id=str(config["run_id"]),
            run_info=dict(config.get("run_info") or {}),
            run_dir=Path(run_dir) if run_dir else None,
            warn=warn,
        )
    except Exception as exc:  # the run is not recorded; it goes on
        warn(f"cannot write the recording {record_path} ({short_error(exc)}); "
             "the run is not recorded")
        return None
