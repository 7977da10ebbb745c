"""The producer's buffer: its events, numbered 1, 2, 3 …, on disk until the hub has them.

Bounded: past ``limit_bytes`` new events are dropped (and counted) rather than let a
hub that never comes back fill the disk. Once the hub has acknowledged everything the
file is emptied, so a run with a live hub keeps only what is in flight. Reading goes
through the page cache (``pread``), so sending does not need a copy in memory.
"""

from __future__ import annotations

import contextlib
import os
from array import array
from pathlib import Path

# Empty the file once everything in it is acknowledged and it has grown past this.
COMPACT_BYTES = 1024 * 1024


class Spool:
    def __init__(self, path: Path, limit_bytes: int) -> None:
        self.path = path
        self.limit_bytes = limit_bytes
        self._file = open(path, "w+b")  # noqa: SIM115 - open for the whole run
        self._offsets = array("q")  # file offset of event number base + i
        self.base = 1
        self.last = 0  # the number of the newest event
        self.size = 0
        self.dropped = 0
        self._unflushed = False

    def add(self, line: bytes) -> bool:
        """Append one event (a line of JSON); False if the spool is full (dropped)."""
        if self.size + len(line) + 1 > self.limit_bytes:
            self.dropped += 1
            return False
        self._offsets.append(self.size)
        self._file.write(line)
        self._file.write(b"\n")
        self.size += len(line) + 1
        self.last += 1
        self._unflushed = True
        return True

    def read(self, first: int, max_bytes: int) -> list[bytes]:
        """Events ``first`` … (at least one if there is one, then up to ``max_bytes``)."""
        first = max(first, self.base)
        if first > self.last:
            return []
        if self._unflushed:
            self._file.flush()
            self._unflushed = False
        start = self._offsets[first - self.base]
        end = start
        index = first - self.base
        count = len(self._offsets)
        while index < count:
            nxt = self._offsets[index + 1] if index + 1 < count else self.size
            if end > start and nxt - start > max_bytes:
                break
            end = nxt
            index += 1
        data = os.pread(self._file.fileno(), end - start, start)
        return data.split(b"\n")[:-1]

    def bytes_after(self, number: int) -> int:
        """Bytes of the events after ``number`` (what is not acknowledged yet)."""
        index = number + 1 - self.base
        if index >= len(self._offsets):
            return 0
        return self.size - self._offsets[max(index, 0)]

    def acknowledged(self, number: int) -> None:
        """The hub has everything up to ``number``: empty the file if that is all of it."""
        if number >= self.last and self.size > COMPACT_BYTES:
            self._file.flush()
            self._file.seek(0)
            self._file.truncate()
            self._offsets = array("q")
            self.base = self.last + 1
            self.size = 0
            self._unflushed = False

    def close(self) -> None:
        self._file.close()
        with contextlib.suppress(OSError):
            self.path.unlink()
