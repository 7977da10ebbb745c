"""What the hub's history database costs at 20,000 tests (pytest_jbrealtime/hub/history.py).

A SQLite history (the hub's default; ``--url postgresql://…`` for another) is filled
with ``--runs`` finished runs of one project and branch, ``--tests`` results each. Then,
per round, the calls a hub makes for one more run of that size:

- recent: the earlier results the verdicts need (one query, once per run per hub);
- judge: ``history_info`` for every test against them (on the hub's event loop);
- store: every result written (the intake writes each publish frame's results; here
  in frames of 500);
- finish: the run's totals, and retention;
- compare, trend: the hub pages' queries.

CPU time of this process (the database is in-process for SQLite) and wall time.
Run: ``python benchmarks/hub_history_cost.py [--tests 20000] [--runs 40] [--rounds 3]``.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pytest_jbrealtime.hub.history_db import HistoryDatabase
from pytest_jbrealtime.shared.verdicts import history_info

RESULTS = ("passed",) * 17 + ("failed", "skipped", "error")
FRAME = 500


def timed(call: Callable[[], Any]) -> tuple[Any, float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    value = call()
    return value, (time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000


def store_run(db: HistoryDatabase, run_id: str, ids: list[str], rng: random.Random,
              started: float) -> None:
    db.start_run(run_id, "shop", "main", started)
    rows = [(t, rng.choice(RESULTS), rng.uniform(0.001, 2.0), None) for t in ids]
    for at in range(0, len(rows), FRAME):
        db.add_results(run_id, rows[at:at + FRAME])
    db.finish_run(run_id, started + 60, {"duration": 60.0, "counts": {"passed": len(ids)}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--url", default=None)
    options = parser.parse_args()
    rng = random.Random(20)
    ids = [f"tests/test_module_{i // 50:03d}.py::test_case_{i}" for i in range(options.tests)]
    with tempfile.TemporaryDirectory() as tmp:
        db = HistoryDatabase(options.url or f"sqlite:///{Path(tmp) / 'history.sqlite3'}")
        db.open()
        base = time.time() - 86400
        _, fill_cpu, fill_wall = timed(lambda: [
            store_run(db, f"fill-{n}", ids, rng, base + n * 100) for n in range(options.runs)])
        rounds: list[dict[str, float]] = []
        for number in range(options.rounds):
            run_id = f"round-{number}"
            figures: dict[str, float] = {}
            db.start_run(run_id, "shop", "main", time.time())
            recent, figures["recent_cpu"], figures["recent_wall"] = timed(
                lambda run_id=run_id: db.recent("shop", "main", run_id))
            _, figures["judge_cpu"], figures["judge_wall"] = timed(lambda recent=recent: [
                history_info(rng.choice(RESULTS), 0.5, recent.get(t, [])) for t in ids])
            rows = [(t, rng.choice(RESULTS), 0.5, "stable") for t in ids]
            _, figures["store_cpu"], figures["store_wall"] = timed(
                lambda run_id=run_id, rows=rows: [db.add_results(run_id, rows[at:at + FRAME])
                                                  for at in range(0, len(rows), FRAME)])
            _, figures["finish_cpu"], figures["finish_wall"] = timed(
                lambda run_id=run_id: (db.finish_run(run_id, time.time(), {"counts": {}}),
                                       db.prune(500, 90)))
            _, figures["compare_cpu"], figures["compare_wall"] = timed(
                lambda run_id=run_id: db.compare(run_id))
            _, figures["trend_cpu"], figures["trend_wall"] = timed(
                lambda: db.trend("shop", "main"))
            rounds.append(figures)
        size = sum(f.stat().st_size for f in Path(tmp).iterdir())
        db.close()
    print(f"{time.strftime('%Y-%m-%d')}, {platform.node()}, Python {platform.python_version()}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"{'PostgreSQL' if options.url else 'SQLite'}; {options.tests} tests x "
          f"{options.runs} earlier runs; {options.rounds} rounds, medians (ms)")
    print(f"fill: {fill_cpu / 1000:.1f} s CPU, {fill_wall / 1000:.1f} s wall; "
          f"database {size / 1e6:.0f} MB")
    for key in rounds[0]:
        print(f"{key:>14}: {statistics.median(r[key] for r in rounds):9.1f}")


if __name__ == "__main__":
    main()
