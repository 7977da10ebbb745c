"""What earlier runs tell this one: each test's duration and step count.

Kept in pytest's cache (``.pytest_cache``), so estimates need no setup and vanish
with ``--cache-clear`` like every other cached value.
"""

from __future__ import annotations

from typing import Any

import pytest

DURATIONS_KEY = "jb_live/durations"
STEPS_KEY = "jb_live/steps"


class RunHistory:
    def __init__(self, cache: pytest.Cache | None) -> None:
        self._cache = cache
        self.durations: dict[str, float] = self._load(DURATIONS_KEY)
        self.step_counts: dict[str, int] = self._load(STEPS_KEY)
        self._new_durations: dict[str, float] = {}
        self._new_step_counts: dict[str, int] = {}

    def _load(self, key: str) -> dict[str, Any]:
        if self._cache is None:
            return {}
        value = self._cache.get(key, {})
        return value if isinstance(value, dict) else {}

    def estimated_duration(self, test_id: str) -> float | None:
        return self.durations.get(test_id)

    def record(self, test_id: str, duration: float, step_count: int) -> None:
        self._new_durations[test_id] = round(duration, 6)
        if step_count:
            self._new_step_counts[test_id] = step_count

    def save(self) -> None:
        if self._cache is None or not (self._new_durations or self._new_step_counts):
            return
        self._cache.set(DURATIONS_KEY, {**self.durations, **self._new_durations})
        self._cache.set(STEPS_KEY, {**self.step_counts, **self._new_step_counts})
