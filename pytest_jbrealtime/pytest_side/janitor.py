"""Removing a run's temporary folder when pytest dies without doing it.

A run on its own server needs nothing here: the server process is the folder's last
user and removes it when pytest's pipe closes without "finish" (server/process.py).
A run published to a hub has no server process; its folder (the hub buffer, the
stack responders' sockets) would stay behind after ``os._exit``, SIGKILL or
pytest-timeout's thread method. ``FolderJanitor`` is a small child process that
waits on a pipe only pytest holds open and removes the folder when it closes: at
pytest's end, whatever the end was. It costs one interpreter start (``-S``, no site
packages) and a blocked read; nothing wakes while the run goes on.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pytest_jbrealtime.shared.unpatched import system

# os.read returns b"" when every holder of the pipe's write end is gone.
_SCRIPT = "import os, shutil, sys\nos.read(0, 1)\nshutil.rmtree(sys.argv[1], ignore_errors=True)\n"


class FolderJanitor:
    """Removes ``folder`` once this process's end of a pipe closes."""

    def __init__(self, folder: Path) -> None:
        read_fd, self._write_fd = os.pipe()  # not inherited by other children (PEP 446)
        try:
            self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
                [sys.executable, "-S", "-c", _SCRIPT, str(folder)],
                stdin=read_fd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                # Not in pytest's process group: Ctrl-C in the terminal is not for it.
                start_new_session=True,
            )
        finally:
            system.close(read_fd)

    def keep(self) -> None:
        """Leave the folder (it is kept for its logs): stop without removing it."""
        if self._process is not None:
            self._process.kill()
        self.release()

    def release(self) -> None:
        """pytest ends normally: the janitor removes what is left, and exits."""
        if self._write_fd >= 0:
            system.close(self._write_fd)
            self._write_fd = -1
        process, self._process = self._process, None
        if process is not None:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
