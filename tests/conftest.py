from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import LiveProcess

pytest_plugins = ["pytester"]


@pytest.fixture
def suite_dir(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory with an ini that keeps the inner runs plain."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\n")
    return pytester


@pytest.fixture
def start_live() -> Iterator[Callable[..., LiveProcess]]:
    """Start ``pytest --jb-live`` runs; any still running at teardown are killed."""
    runs: list[LiveProcess] = []

    def start(directory: Path, *args: str, env: dict[str, str] | None = None) -> LiveProcess:
        run = LiveProcess(directory, *args, env=env)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.kill()


@pytest.fixture
def running() -> Iterator[list[Any]]:
    """Processes a test starts (hubs, shards); killed at its end, whatever happened."""
    started: list[Any] = []
    yield started
    for process in started:
        process.kill()
