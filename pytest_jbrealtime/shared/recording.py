"""Recordings: the format of a run's event log on disk, and reading it back.

A recording is one header line, then one event per line, exactly as the live
protocol (docs/protocol.md) sends it: ``{"type": …, "seq": …, "run_id": …}``. A name
ending in ``.gz`` is gzip-compressed. Screenshots are in a folder named after the
recording (``run.jsonl`` -> ``run.screenshots/``). The writer is ``recorder.py``.

The reader keeps what it can: a truncated last line, a corrupt line or a gzip
stream cut short is reported with its line number and the good events are kept.
Only a file that is no recording at all, or one of a newer format, is refused.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from pytest_jbrealtime.shared.text import json_text
from pytest_jbrealtime.shared.unpatched import system

FORMAT_NAME = "pytest-jbrealtime-recording"
FORMAT_VERSION = 1
# Reading an older format: UPGRADES[v] turns an event of format v into one of v + 1.
# A format change adds an entry here, so every older file stays readable.
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}
MAX_PROBLEMS = 20
_GZIP_MAGIC = b"\x1f\x8b"


class RecordingError(Exception):
    """The file cannot be read as a recording at all (or is of a newer format)."""


# A live run's screenshots: RUN_DIR/screenshots/ID.png, written by the pytest side and
# served from there by the run server; a recording keeps its own (screenshots_dir_for).
SCREENSHOTS_DIRECTORY = "screenshots"


def screenshots_dir_for(path: Path) -> Path:
    """The folder beside a recording that holds its screenshots: run.jsonl.gz -> run.screenshots."""
    name = path.name
    for suffix in (".gz", ".jsonl", ".ndjson", ".json"):
        name = name.removesuffix(suffix)
    return path.with_name(f"{name or 'recording'}.screenshots")


def screenshot_url_path(url: object) -> PurePosixPath | None:
    """The path part of a screenshot URL the server serves, or None (external, data:)."""
    if not isinstance(url, str) or not url:
        return None
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return None
    path = PurePosixPath("/" + unquote(parts.path).lstrip("/"))
    if ".." in path.parts or path.name in ("", "/"):
        return None
    return path


@dataclass(frozen=True)
class RecordingProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class Recording:
    """A recording read back: its header, its good events, and what was wrong."""

    path: Path
    header: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    # The JSON text of each event as recorded (re-encoded only when upgraded).
    texts: list[str] = field(default_factory=list)
    problems: list[RecordingProblem] = field(default_factory=list)
    more_problems: int = 0
    lines: int = 0

    @property
    def run_id(self) -> str:
        run_id = self.header.get("run_id")
        if isinstance(run_id, str) and run_id:
            return run_id
        return str(self.events[0]["run_id"]) if self.events else "unknown"

    @property
    def finished(self) -> bool:
        return bool(self.events) and self.events[-1]["type"] == "session_finished"

    @property
    def screenshots_dir(self) -> Path:
        name = self.header.get("screenshots")
        if isinstance(name, str) and name and "/" not in name and name not in (".", ".."):
            return self.path.with_name(name)
        return screenshots_dir_for(self.path)

    def screenshot_file(self, event: dict[str, Any]) -> Path | None:
        """The copied image of a ``screenshot_captured`` event, if the folder has it."""
        url_path = screenshot_url_path(event.get("screenshot_url"))
        if url_path is None:
            return None
        candidate = self.screenshots_dir / url_path.name
        return candidate if candidate.is_file() else None

    def describe(self) -> str:
        """One paragraph for the terminal: what was read and where it went wrong."""
        last = self.events[-1]["seq"] if self.events else 0
        text = f"{self.path}: {len(self.events)} events (up to seq {last})"
        if not self.finished:
            text += "; the run did not finish in this recording (no session_finished)"
        for problem in self.problems:
            text += f"\n  {problem}"
        if self.more_problems:
            text += f"\n  … and {self.more_problems} more problems"
        return text


def _iter_text_lines(path: Path, problems: Callable[[str], None]) -> Iterator[tuple[str, bool]]:
    """Each line of the file, decoded, and whether it ended with a newline.

    gzip is recognised by its magic bytes, and decompressed incrementally so that a
    stream cut short (the run was killed) still yields everything before the cut.
    """
    with open(path, "rb") as raw:
        start = raw.read(2)
        raw.seek(0)
        chunks: Iterator[bytes]
        if start == _GZIP_MAGIC:
            chunks = _gunzip_chunks(raw, problems)
        else:
            chunks = iter(lambda: raw.read(1 << 20), b"")
        pending = b""
        for chunk in chunks:
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line.decode("utf-8", errors="replace"), True
        if pending:
            yield pending.decode("utf-8", errors="replace"), False


def _gunzip_chunks(raw: IO[bytes], problems: Callable[[str], None]) -> Iterator[bytes]:
    decompressor = zlib.decompressobj(wbits=31)
    member_started = False
    data = raw.read(1 << 20)
    while data:
        member_started = True
        try:
            yield decompressor.decompress(data)
        except zlib.error as exc:
            problems(f"the gzip data is corrupt ({exc}); reading stopped there")
            return
        if decompressor.eof:
            # Concatenated gzip members (e.g. appended files): go on with the next one.
            data = decompressor.unused_data
            decompressor = zlib.decompressobj(wbits=31)
            member_started = False
            if data:
                continue
        data = raw.read(1 << 20)
    if member_started:
        yield decompressor.flush()
        if not decompressor.eof:
            problems("the gzip stream ends early (the run stopped while writing?)")


def _parse_header(path: Path, text: str) -> dict[str, Any]:
    not_recording = (
        f"{path}: line 1: not a pytest-jbrealtime recording "
        f"(expected a header line with \"format\": \"{FORMAT_NAME}\")"
    )
    try:
        header = system.json_loads(text)
    except ValueError:
        raise RecordingError(not_recording) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise RecordingError(not_recording)
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RecordingError(f"{path}: line 1: unknown recording format version {version!r}")
    if version > FORMAT_VERSION:
        raise RecordingError(
            f"{path}: recording format version {version} is newer than this "
            f"pytest-jbrealtime reads (up to version {FORMAT_VERSION}); "
            "upgrade pytest-jbrealtime to read it"
        )
    return header


def read_recording(path: Path | str) -> Recording:
    """Read a recording; RecordingError if it is none (or too new) to read at all."""
    path = Path(path)
    stream_problems: list[str] = []
    lines = _iter_text_lines(path, stream_problems.append)
    try:
        first = next(lines, None)
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read: {exc}") from None
    if first is None:
        raise RecordingError(f"{path}: empty file, not a recording")
    recording = Recording(path=path, header=_parse_header(path, first[0]), lines=1)
    upgrades = [UPGRADES[v] for v in range(recording.header["version"], FORMAT_VERSION)]

    def problem(line: int, message: str) -> None:
        if len(recording.problems) < MAX_PROBLEMS:
            recording.problems.append(RecordingProblem(line, message))
        else:
            recording.more_problems += 1

    last_seq = 0
    number = 1
    for number, (text, had_newline) in enumerate(lines, start=2):
        recording.lines = number
        if not text.strip():
            continue
        try:
            event = system.json_loads(text)
        except ValueError as exc:
            if had_newline:
                problem(number, f"not valid JSON ({exc}); line skipped")
            else:
                problem(number, "the file ends in the middle of this line (truncated)")
            continue
        if not (
            isinstance(event, dict)
            and isinstance(event.get("type"), str)
            and isinstance(event.get("seq"), int)
        ):
            problem(number, "not an event (needs a \"type\" string and a \"seq\" number); skipped")
            continue
        if event["seq"] <= last_seq:
            problem(number, f"seq {event['seq']} comes after seq {last_seq}; skipped")
            continue
        if event["seq"] != last_seq + 1:
            problem(number, f"seq {event['seq']} follows seq {last_seq}: events are missing")
        last_seq = event["seq"]
        for upgrade in upgrades:
            event = upgrade(event)
        recording.events.append(event)
        recording.texts.append(json_text(event) if upgrades else text)
    for message in stream_problems:
        problem(number + 1, message)
    return recording
