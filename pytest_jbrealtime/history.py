"""What earlier runs tell this one: each test's recent results, durations and step count.

Kept in pytest's cache (``.pytest_cache``), so it needs no setup, vanishes with
``--cache-clear`` and is not kept under ``-p no:cacheprovider``. Only a test that ran
gets a result added: a run with ``-k`` or ``--lf`` leaves the others' history alone.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from pytest_jbrealtime.verdicts import PastResult

HISTORY_KEY = "jb_live/history"
STEPS_KEY = "jb_live/steps"
HISTORY_VERSION = 1
# Results kept per test (enough to see a test flip); the event carries fewer.
KEEP_RESULTS = 20
# A test that has not run for this long is forgotten (renamed or deleted tests).
FORGET_AFTER_DAYS = 90

# One letter per result: a test's history is one short string in the cache file, so
# 20,000 tests load and save in milliseconds (docs/benchmarks.md).
RESULT_CODES = {
    "passed": "P", "failed": "F", "error": "E", "skipped": "S",
    "xfailed": "x", "xpassed": "X", "crashed": "C",
}
CODE_RESULTS = {code: result for result, code in RESULT_CODES.items()}


def encode_entry(day: int, results: list[PastResult]) -> str:
    """``"DAY P0.0123 F1.5 …"``: the day it last ran, then its results, newest first."""
    parts = [str(day)]
    parts.extend(RESULT_CODES[p["result"]] + format(p["duration"], ".4g") for p in results)
    return " ".join(parts)


def decode_entry(entry: str) -> tuple[int, list[PastResult]]:
    """The day and results of an ``encode_entry`` string; ``(0, [])`` if it is not one."""
    try:
        day_text, *parts = entry.split(" ")
        return int(day_text), [
            {"result": CODE_RESULTS[part[0]], "duration": float(part[1:])} for part in parts
        ]
    except (ValueError, KeyError, IndexError, AttributeError):
        return 0, []


def today() -> int:
    return int(time.time() // 86400)


class RunHistory:
    def __init__(self, cache: pytest.Cache | None, day: int | None = None) -> None:
        self._cache = cache
        self._day = today() if day is None else day
        stored = self._load(HISTORY_KEY)
        entries = stored.get("tests") if stored.get("version") == HISTORY_VERSION else None
        self._entries: dict[str, Any] = entries if isinstance(entries, dict) else {}
        self.step_counts: dict[str, int] = self._load(STEPS_KEY)
        self._decoded: dict[str, list[PastResult]] = {}
        self._new_results: dict[str, PastResult] = {}
        self._new_step_counts: dict[str, int] = {}

    @property
    def kept(self) -> bool:
        """Whether this run keeps history at all (False without pytest's cache)."""
        return self._cache is not None

    def _load(self, key: str) -> dict[str, Any]:
        if self._cache is None:
            return {}
        value = self._cache.get(key, {})
        return value if isinstance(value, dict) else {}

    def past(self, test_id: str) -> list[PastResult]:
        """The test's results in earlier runs, newest first (decoded once, when asked)."""
        known = self._decoded.get(test_id)
        if known is None:
            entry = self._entries.get(test_id)
            known = decode_entry(entry)[1] if isinstance(entry, str) else []
            self._decoded[test_id] = known
        return known

    def estimated_duration(self, test_id: str) -> float | None:
        past = self.past(test_id)
        return past[0]["duration"] if past else None

    def record(self, test_id: str, result: str, duration: float, step_count: int) -> None:
        """This run's result of a test (a rerun attempt is not one: do not record it)."""
        if result in RESULT_CODES:
            self._new_results[test_id] = {"result": result, "duration": duration}
        if step_count:
            self._new_step_counts[test_id] = step_count

    def save(self) -> None:
        if self._cache is None or not (self._new_results or self._new_step_counts):
            return
        oldest = self._day - FORGET_AFTER_DAYS
        entries: dict[str, str] = {}
        for test_id, entry in self._entries.items():
            if test_id in self._new_results or not isinstance(entry, str):
                continue
            # Only the day is read here: an entry this run did not touch stays as it was.
            day_text = entry.partition(" ")[0]
            if day_text.isdigit() and int(day_text) >= oldest:
                entries[test_id] = entry
        for test_id, result in self._new_results.items():
            recent = [result, *self.past(test_id)][:KEEP_RESULTS]
            entries[test_id] = encode_entry(self._day, recent)
        self._cache.set(HISTORY_KEY, {"version": HISTORY_VERSION, "tests": entries})
        self._cache.set(STEPS_KEY, {**self.step_counts, **self._new_step_counts})
