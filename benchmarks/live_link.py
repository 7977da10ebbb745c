"""The live link a watched pytest prints, read the same way by every benchmark.

A benchmark starts ``pytest --jb-live`` with its output on a pipe, waits for the line
``jb-live: watch this run at http://HOST/?token=TOKEN`` and connects to HOST. After the
link pytest goes on printing (progress dots, a verbose test's output): nobody reading the
pipe would stop the run on a full pipe, so :class:`PytestOutput` reads all of it in a
daemon thread from the start, keeps the last lines (for an error, or a caller that prints
pytest's summary line) and notes when the output ended (pytest is exiting).

    output = PytestOutput(process)
    link = output.link()          # LiveLink(host, token, url, run_id)
    ...
    ended = output.wait()         # time.perf_counter() when pytest's output ended

or ``read_live_link(process)`` where only the link is wanted.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass

import jwt

from pytest_jbrealtime.protocol.constants import LINK_PREFIX

LINK = re.compile(re.escape(LINK_PREFIX) + r" (http://(\S+?)/\?token=(\S+))")

# How many of pytest's last lines an error shows.
TAIL_LINES = 40


@dataclass(frozen=True)
class LiveLink:
    """Where a watched run is served and the viewer token its link carries."""

    host: str  # host:port of the run's server
    token: str
    url: str  # the whole link, for a browser
    run_id: str  # the token's ``run`` claim, for minting other viewers' tokens

    @classmethod
    def find(cls, line: str) -> LiveLink | None:
        match = LINK.search(line)
        if match is None:
            return None
        url, host, token = match.groups()
        # Only read here; the server checks the signature.
        claims = jwt.decode(token, options={"verify_signature": False})
        return cls(host=host, token=token, url=url, run_id=str(claims["run"]))


class PytestOutput:
    """Reads a pytest process's (combined) output to its end in a daemon thread.

    ``keep_all`` keeps every line in :attr:`lines`; otherwise only the last
    ``TAIL_LINES`` are kept there.
    """

    def __init__(self, process: subprocess.Popen[str], keep_all: bool = False) -> None:
        if process.stdout is None:
            raise ValueError("pytest's output is not on a pipe (stdout=subprocess.PIPE)")
        self.process = process
        self._stdout = process.stdout
        self.lines: deque[str] = deque(maxlen=None if keep_all else TAIL_LINES)
        self.ended_at: float | None = None  # time.perf_counter() at the end of the output
        self._link: LiveLink | None = None
        self._link_or_end = threading.Event()
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._read, name="pytest-output", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for line in self._stdout:
                self.lines.append(line)
                if self._link is None:
                    self._link = LiveLink.find(line)
                    if self._link is not None:
                        self._link_or_end.set()
        finally:
            self.ended_at = time.perf_counter()
            self._stdout.close()
            self._ended.set()
            self._link_or_end.set()

    @property
    def last_line(self) -> str:
        """pytest's last line so far, stripped (its summary once the output ended)."""
        return self.lines[-1].strip() if self.lines else ""

    def link(self, timeout: float = 300) -> LiveLink:
        """The run's live link, once pytest printed it. Exits the benchmark, with pytest's
        last lines, when pytest ended without one or printed none in ``timeout`` seconds
        (then pytest is killed: nobody will watch it)."""
        if self._link_or_end.wait(timeout) and self._link is not None:
            return self._link
        if self._ended.is_set():
            why = "pytest's output ended without a live link"
            with contextlib.suppress(subprocess.TimeoutExpired):
                why += f" (pytest's exit status: {self.process.wait(10)})"
        else:
            self.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
            self._ended.wait(10)  # its last lines, complete
            why = f"pytest printed no live link in {timeout:g} s (killed)"
        raise SystemExit(f"{why}; its last lines:\n" + "".join(self.lines))

    def wait(self, timeout: float | None = None) -> float:
        """Waits for the end of pytest's output; returns when it ended
        (``time.perf_counter()``). Raises ``TimeoutError`` if it has not in ``timeout``."""
        if not self._ended.wait(timeout):
            raise TimeoutError(f"pytest's output has not ended in {timeout:g} s")
        assert self.ended_at is not None
        return self.ended_at


def read_live_link(process: subprocess.Popen[str], timeout: float = 300) -> LiveLink:
    """The live link of a watched pytest; its output goes on being read (and dropped but
    for the last lines) in a daemon thread so that a full pipe never stops the run."""
    return PytestOutput(process).link(timeout)
