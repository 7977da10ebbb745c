"""What one test cost the process that ran it: CPU seconds and resident memory growth.

:class:`ResourceMeter` (one in each process that runs tests: serial pytest's, each xdist
worker's) reads the process's CPU time and resident size when a test starts and again
when its teardown report is logged, and puts the difference on that report as
``jb_resources`` — a plain dict, so xdist carries it to the controller with the report
(``TestReport`` serialises its attributes). ``LivePlugin`` adds it to the test's
``test_completed`` as ``cpu_seconds`` and ``rss_growth``. It has no hooks of its own:
the hooks that already run for every test call it (``LivePlugin``, and
``WorkerPublishing`` before xdist sends a report), four hook calls a test fewer.

Cheap by construction (docs/benchmarks.md): ``time.process_time()`` (one
``clock_gettime``) and one ``pread`` of ``/proc/self/statm`` on a file kept open, twice
per test. Elsewhere than Linux the memory figure is the growth of the peak RSS
(``getrusage``), which never shrinks: a lower bound of what the test added.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

import pytest

from pytest_jbrealtime.shared.unpatched import system

# Bound at import (unpatched.py's reason): a test's patched os must not change these.
_pread = getattr(os, "pread", None)
# On an object, not a module global: freezegun swaps the real clocks it finds in modules.
_CLOCKS = {"process_time": time.process_time}
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
RESOURCES_ATTR = "jb_resources"


def _peak_rss() -> int:
    try:
        import resource
    except ImportError:  # Windows
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


class ResourceMeter:
    """Measures each test of the process that runs it (see the module's docstring)."""

    def __init__(self) -> None:
        self._statm = -1
        if _pread is not None:
            with contextlib.suppress(OSError):
                self._statm = os.open("/proc/self/statm", os.O_RDONLY)
        self._cpu = 0.0
        self._rss = 0

    def rss(self) -> int:
        """Resident bytes now (Linux), else the peak so far."""
        if self._statm >= 0 and _pread is not None:
            try:
                fields = _pread(self._statm, 128, 0).split()
                return int(fields[1]) * _PAGE
            except (OSError, IndexError, ValueError):
                pass
        return _peak_rss()

    def test_started(self) -> None:
        """At a test's ``logstart``."""
        self._cpu = _CLOCKS["process_time"]()
        self._rss = self.rss()

    def measure(self, report: pytest.TestReport) -> None:
        """At each report's ``logreport``: the teardown's gets what the test cost, before
        an xdist worker sends it to the controller."""
        # Not over a worker's measure: on the xdist controller the report is relayed.
        if report.when == "teardown" and not hasattr(report, RESOURCES_ATTR):
            setattr(report, RESOURCES_ATTR, {
                "cpu_seconds": round(_CLOCKS["process_time"]() - self._cpu, 6),
                "rss_growth": self.rss() - self._rss,
            })

    def close(self) -> None:
        fd, self._statm = self._statm, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                system.close(fd)
