"""A pytest plugin for benchmarks only: ``--jb-live`` without issue 18's parts.

    PYTHONPATH=benchmarks pytest -p bare_live --jb-live --jb-live-stall-after off ...

Takes out what issue 18 added to the process that runs the tests, so that a benchmark
can run A (without) and B (the shipped plugin) side by side: the stack responder's
thread (stack_responder.py), the SIGTERM / pytest-timeout last words (last_words.py)
and the per-test resource readings (resources.py). Stall alerts live in the server
process; ``--jb-live-stall-after off`` turns them off there.
"""

from __future__ import annotations

import pytest

from pytest_jbrealtime.shared.last_words import LastWords
from pytest_jbrealtime.shared.stack_responder import StackResponder


def _not_started(self: object) -> bool:
    return False


StackResponder.start = _not_started  # type: ignore[method-assign]
LastWords.arm = _not_started  # type: ignore[method-assign]


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # Registering a blocked name is a no-op (pluggy): no ResourceMeter hooks run.
    config.pluginmanager.set_blocked("jb-live-resources")
