"""What local history (pytest_jbrealtime/pytest_side/history.py) costs a run at 20,000 tests.

A real pytest cache directory is filled with a full history (every test with
``KEEP_RESULTS`` results), then, per round:

- load: ``RunHistory(cache)``, what ``--jb-live`` does at start (reads the cache file);
- judge: ``judge()`` (the verdict and the ``history`` field) for every test, what ``test_completed``
  adds to each test on pytest's thread (reported per test);
- save: a result recorded for every test and ``save()``, what the session's end does;
- save, -k: only 100 tests ran (the file is still rewritten whole).

Times are this process's CPU time (``time.process_time``), not wall time: on the
shared, loaded 2-core machine the wall clock mostly measures the other processes.

Run: ``python benchmarks/history_cost.py [--tests 20000] [--rounds 7]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _pytest.cacheprovider import Cache
from _pytest.config import get_config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pytest_jbrealtime.pytest_side.history import HISTORY_KEY, KEEP_RESULTS, RunHistory

RESULTS = ("passed",) * 17 + ("failed", "skipped", "error")


def test_ids(count: int) -> list[str]:
    return [f"tests/test_module_{i // 50:03d}.py::TestGroup::test_case_{i}[param-{i % 7}]"
            for i in range(count)]


def fill(cache: Cache, ids: list[str], rng: random.Random) -> None:
    for _ in range(KEEP_RESULTS):
        history = RunHistory(cache)
        for test_id in ids:
            history.record(test_id, rng.choice(RESULTS), rng.uniform(0.001, 2.0), 0)
        history.save()


def one_round(cache: Cache, ids: list[str], rng: random.Random) -> dict[str, float]:
    started = time.process_time()
    history = RunHistory(cache)
    loaded = time.process_time()
    for test_id in ids:
        history.judge(test_id, rng.choice(RESULTS), 0.5)
    judged = time.process_time()
    for test_id in ids:
        history.record(test_id, rng.choice(RESULTS), rng.uniform(0.001, 2.0), 0)
    recorded = time.process_time()
    history.save()
    saved = time.process_time()
    partial = RunHistory(cache)
    for test_id in ids[:100]:
        partial.record(test_id, "passed", 0.1, 0)
    partial_started = time.process_time()
    partial.save()
    partial_saved = time.process_time()
    return {
        "load_ms": (loaded - started) * 1000,
        "judge_us_per_test": (judged - loaded) / len(ids) * 1e6,
        "save_ms": (saved - recorded) * 1000,
        "save_k_ms": (partial_saved - partial_started) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()
    rng = random.Random(20)
    ids = test_ids(options.tests)
    with tempfile.TemporaryDirectory() as tmp:
        cache = Cache(Path(tmp) / ".pytest_cache", get_config(), _ispytest=True)
        fill(cache, ids, rng)
        rounds = [one_round(cache, ids, rng) for _ in range(options.rounds)]
        size = cache._getvaluepath(HISTORY_KEY).stat().st_size
    print(f"{time.strftime('%Y-%m-%d')}, {platform.node()}, Python {platform.python_version()}, "
          f"{os.cpu_count()} cores; {options.tests} tests x {KEEP_RESULTS} results, "
          f"{options.rounds} rounds, medians (min-max); load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"cache file: {size / 1e6:.2f} MB")
    for key in rounds[0]:
        values = [r[key] for r in rounds]
        print(f"{key:>18}: {statistics.median(values):8.2f}  "
              f"({min(values):.2f}-{max(values):.2f})")


if __name__ == "__main__":
    main()
