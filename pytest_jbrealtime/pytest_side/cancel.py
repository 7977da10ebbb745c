"""CancelGuard: a SIGTERM or a Ctrl-C after the last test still leaves the run's outputs.

A CI job being cancelled sends SIGTERM (GitHub Actions sends SIGINT first), often while
``--jb-live-linger`` serves the finished run; SIGTERM's default action kills pytest before
the report is written, and a KeyboardInterrupt in the middle of writing it leaves none.

- SIGTERM, from the end of the last test on (``arm``): during the linger it ends the
  linger at once (as Ctrl-C does), otherwise it waits; once the outputs are written the
  signal is delivered again, to the handler there was before, so the process still ends
  the way a SIGTERM ends it.
- SIGINT, from the end of the last test on, is noted (no linger after it) and goes on
  as before, a KeyboardInterrupt in whatever other plugin's hook runs; while the plugin
  finishes (``finishing``: the server stopped, the recording read, the report written,
  all bounded) it is held: during the linger (or the wait for the server) it ends that
  wait, anywhere else it only ends the linger before it starts. It is not delivered
  again: the run is over and its status stands, as with a Ctrl-C during the linger.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any


def _in_main_thread() -> bool:
    # Only the main thread may set signal handlers.
    return threading.current_thread() is threading.main_thread()


class CancelGuard:
    def __init__(self) -> None:
        self.received: int | None = None
        self.interrupted = False
        self._previous: Any = None
        self._previous_interrupt: Any = None
        self._armed = False
        self._lingering = False

    @property
    def cancelled(self) -> bool:
        """A SIGTERM or a Ctrl-C came since the guard took them: no linger."""
        return self.received is not None or self.interrupted

    def arm(self) -> None:
        """Hold SIGTERM back from now on, and note a Ctrl-C."""
        if self._armed or not _in_main_thread():
            return
        try:
            self._previous = signal.signal(signal.SIGTERM, self._on_signal)
            self._previous_interrupt = signal.signal(signal.SIGINT, self._on_interrupt)
        except (ValueError, OSError):  # no signals here (embedded interpreter)
            return
        self._armed = True

    def _on_interrupt(self, signum: int, frame: FrameType | None) -> None:
        """Outside ``finishing``: noted, then what a Ctrl-C did before."""
        self.interrupted = True
        previous = self._previous_interrupt
        if callable(previous):
            previous(signum, frame)
        else:  # SIG_DFL or SIG_IGN set by someone else: as Python's own would
            if previous != signal.SIG_IGN:
                raise KeyboardInterrupt

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT:
            self.interrupted = True
        else:
            self.received = signum
        if self._lingering:
            raise KeyboardInterrupt  # the linger's wait ends as on Ctrl-C

    @contextlib.contextmanager
    def finishing(self) -> Iterator[None]:
        """While the plugin stops its server and writes its outputs: Ctrl-C held too."""
        previous: Any = None
        if _in_main_thread():
            with contextlib.suppress(ValueError, OSError):
                previous = signal.signal(signal.SIGINT, self._on_signal)
        try:
            yield
        finally:
            if previous is not None:
                with contextlib.suppress(ValueError, OSError, TypeError):
                    signal.signal(signal.SIGINT, previous)

    @contextlib.contextmanager
    def lingering(self) -> Iterator[None]:
        """While the finished run is served: a SIGTERM or Ctrl-C ends it at once."""
        self._lingering = True
        try:
            yield
        finally:
            self._lingering = False

    def release(self) -> None:
        """The outputs are written: the previous handlers back, and a held SIGTERM to its."""
        if not self._armed:
            return
        self._armed = False
        # Each handler back unless someone set another since (theirs stays).
        for signum, ours, previous in (
            (signal.SIGTERM, self._on_signal, self._previous),
            (signal.SIGINT, self._on_interrupt, self._previous_interrupt),
        ):
            with contextlib.suppress(ValueError, OSError, TypeError):
                if signal.getsignal(signum) == ours:
                    signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        if self.received is not None:
            signal.raise_signal(self.received)
