"""A pytest plugin for benchmarks only: ``--jb-live`` without issue 18's parts.

    PYTHONPATH=benchmarks pytest -p bare_live --jb-live --jb-live-stall-after off ...

Takes out what issue 18 added to the process that runs the tests, so that a benchmark
can run A (without) and B (the shipped plugin) side by side: the stack responder's
thread (stack_responder.py), the SIGTERM / pytest-timeout last words (last_words.py)
and the per-test resource readings (resources.py). Stall alerts live in the server
process; ``--jb-live-stall-after off`` turns them off there.
"""

from __future__ import annotations

from pytest_jbrealtime.pytest_side.resources import ResourceMeter
from pytest_jbrealtime.shared.last_words import LastWords
from pytest_jbrealtime.shared.stack_responder import StackResponder


def _not_started(self: object) -> bool:
    return False


StackResponder.start = _not_started  # type: ignore[method-assign]
LastWords.arm = _not_started  # type: ignore[method-assign]


def _not_measured(self: object, *args: object) -> None:
    pass


# The session plugin calls the meter at each test's start and reports; here it does nothing.
ResourceMeter.test_started = _not_measured  # type: ignore[method-assign]
ResourceMeter.measure = _not_measured  # type: ignore[method-assign]
