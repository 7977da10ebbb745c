"""Hooks this plugin offers other plugins (registered in plugin.py's ``pytest_addhooks``).

Implement them in a conftest.py or a plugin, as with any pytest hook; pytest checks
the argument names against these specs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest


@pytest.hookspec
def pytest_jb_live_event(
    event: Mapping[str, Any], emit: Callable[[str, Any], None], config: pytest.Config
) -> None:
    """An event was published from this process; ``emit(type, data)`` adds a custom event.

    ``event`` is read-only: ``type``, its fields (docs/protocol.md), ``worker``, and
    ``ts`` (epoch seconds; ``seq`` and ``timestamp`` come later, from the server).
    """
