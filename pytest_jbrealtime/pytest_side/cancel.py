"""CancelGuard: a SIGTERM after the last test still leaves the run's outputs.

A CI job being cancelled sends SIGTERM, often while ``--jb-live-linger`` serves the
finished run; its default action kills pytest before the report is written. From the
end of the last test on, the guard holds SIGTERM back: during the linger it ends the
linger at once (as Ctrl-C does), otherwise it waits; once the outputs are written the
signal is delivered again, to the handler there was before, so the process still ends
the way a SIGTERM ends it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any


class CancelGuard:
    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: Any = None
        self._armed = False
        self._lingering = False

    def arm(self) -> None:
        """Hold SIGTERM back from now on (only the main thread may set handlers)."""
        if self._armed or threading.current_thread() is not threading.main_thread():
            return
        try:
            self._previous = signal.signal(signal.SIGTERM, self._on_signal)
        except (ValueError, OSError):  # no signals here (embedded interpreter)
            return
        self._armed = True

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum
        if self._lingering:
            raise KeyboardInterrupt  # the linger's wait ends as on Ctrl-C

    @contextlib.contextmanager
    def lingering(self) -> Iterator[None]:
        """While the finished run is served: a SIGTERM ends it at once."""
        self._lingering = True
        try:
            yield
        finally:
            self._lingering = False

    def release(self) -> None:
        """The outputs are written: the previous handler back, and a held SIGTERM to it."""
        if not self._armed:
            return
        self._armed = False
        with contextlib.suppress(ValueError, OSError, TypeError):
            signal.signal(signal.SIGTERM, self._previous if self._previous is not None
                          else signal.SIG_DFL)
        if self.received is not None:
            signal.raise_signal(self.received)
