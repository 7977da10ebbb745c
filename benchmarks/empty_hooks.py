"""A pytest plugin for benchmarks only: the per-test hooks the live plugin implements,
with nothing in them.

    PYTHONPATH=benchmarks pytest -p empty_hooks -p no:jbrealtime ...

Used by ``instructions.py --compare plain,hooks``: what pytest's hook calls alone cost a
test — pluggy's dispatch to one more implementation of ``pytest_runtest_logstart``,
``pytest_runtest_logreport`` (three reports a test) and ``pytest_runtest_logfinish`` —
before a plugin that watches each test does anything. That is the floor any such plugin
(the live plugin, pytest-reportlog) pays per test, whatever its own code costs.
"""

from __future__ import annotations

from typing import Any


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    pass


def pytest_runtest_logreport(report: Any) -> None:
    pass


def pytest_runtest_logfinish(nodeid: str, location: Any) -> None:
    pass
