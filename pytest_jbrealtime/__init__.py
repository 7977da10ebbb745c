"""pytest-jbrealtime: watch a pytest run live in a browser.

The plugin itself is switched on with ``pytest --jb-live``; this module holds the
API that tests and other plugins call while a run is being watched. The package is laid
out by process: ``pytest_side/`` runs in pytest (entry point: ``plugin.py``), ``server/``
in the run server, ``hub/`` in the hub, ``tools/`` after the run, ``shared/`` and
``protocol/`` anywhere (map: docs/architecture.md).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pytest-jbrealtime")
except PackageNotFoundError:  # running from a checkout that is not installed
    __version__ = "0.0.0"

# After __version__: the modules below import the package, which must have it by then.
from pytest_jbrealtime.pytest_side.selenium import screenshot, watch
from pytest_jbrealtime.pytest_side.steps import InvalidEventError, emit, progress, step

__all__ = [
    "InvalidEventError",
    "__version__",
    "emit",
    "progress",
    "screenshot",
    "step",
    "watch",
]
