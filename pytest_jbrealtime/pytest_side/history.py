"""What earlier runs tell this one: each test's recent results, durations and step count.

Kept in pytest's cache (``.pytest_cache``), so it needs no setup, vanishes with
``--cache-clear`` and is not kept under ``-p no:cacheprovider``. Only a test that ran
gets a result added: a run with ``-k`` or ``--lf`` leaves the others' history alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from pytest_jbrealtime.protocol.events import HistoryInfo, PastResult
from pytest_jbrealtime.shared.unpatched import clock
from pytest_jbrealtime.shared.verdicts import (
    LETTER_RESULTS,
    RECENT_IN_EVENT,
    RESULT_LETTERS,
    median,
    verdict,
)

HISTORY_KEY = "jb_live/history"
STEPS_KEY = "jb_live/steps"
HISTORY_VERSION = 1
# Results kept per test (enough to see a test flip); the event carries fewer.
KEEP_RESULTS = 20
# A test that has not run for this long is forgotten (renamed or deleted tests).
FORGET_AFTER_DAYS = 90

# A test's history is one short string in the cache file, ``"DAY LETTERS DURATION …"``
# (``verdicts.RESULT_LETTERS``), so 20,000 tests load and save fast and a verdict reads
# the letters without a dict per earlier run (docs/benchmarks.md).
_LETTERS = frozenset(LETTER_RESULTS)


@dataclass(frozen=True)
class Entry:
    """One test's kept results, newest first: letters, durations as written and read."""

    letters: str = ""
    texts: tuple[str, ...] = ()
    durations: tuple[float, ...] = ()


NOTHING = Entry()


def encode_entry(day: int, results: list[PastResult]) -> str:
    """``"DAY LETTERS DURATION …"``: the day it last ran, then its results, newest first."""
    codes = "".join(RESULT_LETTERS[p["result"]] for p in results)
    return " ".join([str(day), codes, *(format(p["duration"], ".4g") for p in results)])


def parse_entry(entry: object) -> tuple[int, Entry]:
    """The day and results of an ``encode_entry`` string; ``(0, NOTHING)`` if it is not
    one (a hand-edited or foreign cache file is a fresh start, not a crash)."""
    if not isinstance(entry, str):
        return 0, NOTHING
    day, _, rest = entry.partition(" ")
    codes, *texts = rest.split(" ")
    try:
        day_number = int(day)
        durations = tuple(map(float, texts))
    except ValueError:
        return 0, NOTHING
    if len(codes) != len(texts) or not _LETTERS.issuperset(codes):
        return 0, NOTHING
    return day_number, Entry(codes, tuple(texts), durations)


def decode_entry(entry: object) -> tuple[int, list[PastResult]]:
    day, parsed = parse_entry(entry)
    return day, past_results(parsed)


def past_results(entry: Entry, limit: int | None = None) -> list[PastResult]:
    return [{"result": LETTER_RESULTS[letter], "duration": duration}
            for letter, duration in zip(entry.letters[:limit], entry.durations, strict=False)]


@dataclass(frozen=True)
class Prepared:
    """What judging a test needs from its entry, worked out before the test runs: the
    letters, the median duration of its passes, the results an event carries."""

    entry: Entry
    median_passed: float | None
    recent: list[PastResult]


def prepared(entry: Entry) -> Prepared:
    median_passed = median(
        [d for letter, d in zip(entry.letters, entry.durations, strict=True) if letter == "P"]
    )
    return Prepared(entry, median_passed, past_results(entry, RECENT_IN_EVENT))


NOTHING_PREPARED = prepared(NOTHING)


def today() -> int:
    return int(clock.time() // 86400)


class RunHistory:
    def __init__(self, cache: pytest.Cache | None, day: int | None = None) -> None:
        self._cache = cache
        self._day = today() if day is None else day
        stored = self._load(HISTORY_KEY)
        entries = stored.get("tests") if stored.get("version") == HISTORY_VERSION else None
        self._entries: dict[str, Any] = entries if isinstance(entries, dict) else {}
        self.step_counts: dict[str, int] = self._load(STEPS_KEY)
        self._parsed: dict[str, Entry] = {}
        self._prepared: dict[str, Prepared] = {}
        self._new_results: dict[str, tuple[str, float]] = {}
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

    def _parse(self, test_id: str) -> Entry:
        parsed = self._parsed.get(test_id)
        if parsed is None:
            parsed = self._parsed[test_id] = parse_entry(self._entries.get(test_id))[1]
        return parsed

    def past(self, test_id: str) -> list[PastResult]:
        """The test's results in earlier runs, newest first."""
        return past_results(self._parse(test_id))

    def prepare(self, test_ids: list[str]) -> None:
        """Work out what judging these tests needs, all at once (at the collection's
        end): one loop over the entries cost about half the same work done test by test
        between pytest's hooks, where every cache is cold (docs/benchmarks.md)."""
        entries, made = self._entries, self._prepared
        for test_id in test_ids:
            if test_id in entries and test_id not in made:
                made[test_id] = prepared(self._parse(test_id))

    def _prepared_for(self, test_id: str) -> Prepared:
        made = self._prepared.get(test_id)
        if made is None:
            if test_id not in self._entries:  # a new test, or no history at all
                return NOTHING_PREPARED
            made = self._prepared[test_id] = prepared(self._parse(test_id))
        return made

    def estimated_duration(self, test_id: str) -> float | None:
        durations = self._prepared_for(test_id).entry.durations
        return durations[0] if durations else None

    def judge(
        self, test_id: str, result: str, duration: float, *, passed_on_rerun: bool = False
    ) -> HistoryInfo:
        """``history_info`` for this result (the hot path: once per test, on pytest's
        thread; what does not depend on the result is prepared)."""
        made = self._prepared_for(test_id)
        median_passed = made.median_passed
        return {
            "verdict": verdict(result, duration, made.entry.letters, median_passed,
                               passed_on_rerun=passed_on_rerun),
            # Shared by the events of the test's attempts: events are read-only.
            "recent": made.recent,
            "median_duration": None if median_passed is None else round(median_passed, 6),
        }

    def record(self, test_id: str, result: str, duration: float, step_count: int) -> None:
        """This run's result of a test (a rerun attempt is not one: do not record it)."""
        if result in RESULT_LETTERS:
            self._new_results[test_id] = (RESULT_LETTERS[result], duration)
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
        day = str(self._day)
        keep = KEEP_RESULTS - 1
        for test_id, (letter, duration) in self._new_results.items():
            entry = self._parse(test_id)
            entries[test_id] = " ".join(
                [day, letter + entry.letters[:keep], format(duration, ".4g"),
                 *entry.texts[:keep]]
            )
        self._cache.set(HISTORY_KEY, {"version": HISTORY_VERSION, "tests": entries})
        self._cache.set(STEPS_KEY, {**self.step_counts, **self._new_step_counts})
