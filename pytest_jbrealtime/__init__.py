"""pytest-jbrealtime: watch a pytest run live in a browser.

The plugin itself is switched on with ``pytest --jb-live``; this module holds the
API that tests and other plugins call while a run is being watched. The package is laid
out by process: ``pytest_side/`` runs in pytest (entry point: ``plugin.py``), ``server/``
in the run server, ``hub/`` in the hub, ``tools/`` after the run, ``shared/`` and
``protocol/`` anywhere (map: docs/architecture.md).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

try:
    __version__ = version("pytest-jbrealtime")
except PackageNotFoundError:  # running from a checkout that is not installed
    __version__ = "0.0.0"

# After __version__: the modules below import the package, which must have it by then.
from pytest_jbrealtime.pytest_side.selenium import screenshot, watch
from pytest_jbrealtime.pytest_side.steps import InvalidEventError, emit, progress, step


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """``-p pytest_jbrealtime`` names this package, not the plugin: pytest registers the
    package, which has no options, and ``--jb-live`` was "unrecognized" (exit 4) where
    entry points are not loaded (PYTEST_DISABLE_PLUGIN_AUTOLOAD=1). Registered so, the
    package registers the plugin under its entry point's name, which ``-p jbrealtime``
    and autoloading use too: either then finds it there and loads it only once, and
    ``-p no:jbrealtime`` still blocks it. Pytest calls this only for ``-p
    pytest_jbrealtime``; autoloading and ``-p jbrealtime`` load ``plugin.py`` alone."""
    from pytest_jbrealtime import plugin

    name = plugin.ENTRY_POINT_NAME
    if pluginmanager.is_blocked(name) or pluginmanager.get_plugin(name) is not None:
        return
    pluginmanager.register(plugin, name)


__all__ = [
    "InvalidEventError",
    "__version__",
    "emit",
    "progress",
    "screenshot",
    "step",
    "watch",
]
