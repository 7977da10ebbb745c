"""How much a test's duration varies run to run: the ground for ``--jb-live-stall-after auto``.

    python benchmarks/stall_rule.py --runs 4 -- tests/test_settings.py tests/test_recording.py

Runs pytest on the given arguments ``--runs`` times (each with ``--jb-live-record``),
reads every test's duration from each recording, and compares each run's duration of a
test with the one before (which is what ``auto`` has: the last duration in the
history). Reported: the distribution of the ratios (this run / the one before), the
largest absolute growth, and for each candidate rule (factor times the last duration, at least
a floor) how many test runs it would have called stalled — false alarms, since none of
these tests hangs.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CANDIDATES = [(3.0, 1.0), (5.0, 5.0), (10.0, 10.0), (10.0, 1.0), (20.0, 10.0)]


def durations(record: Path) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in record.read_text().splitlines():
        event = json.loads(line)
        if event.get("type") == "test_completed" and event.get("result") == "passed":
            found[event["test_id"]] = float(event["duration"])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("pytest_args", nargs="+")
    options = parser.parse_args()
    runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as folder:
        for index in range(options.runs):
            record = Path(folder) / f"run{index}.jsonl"
            subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p",
                 "no:cacheprovider", "--jb-live-record", str(record), *options.pytest_args],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            runs.append(durations(record))
    ratios: list[float] = []
    pairs: list[tuple[float, float]] = []
    for before, after in itertools.pairwise(runs):
        for test_id, duration in after.items():
            if test_id in before:
                pairs.append((before[test_id], duration))
                ratios.append(duration / max(before[test_id], 1e-6))
    ratios.sort()

    def quantile(q: float) -> float:
        return round(ratios[min(len(ratios) - 1, int(q * len(ratios)))], 2)

    alarms = {
        f"{factor:g}x, at least {floor:g} s": sum(1 for b, a in pairs if a > max(floor, factor * b))
        for factor, floor in CANDIDATES
    }
    long_pairs = [(b, a) for b, a in pairs if b >= 1.0]
    print(json.dumps({
        "args": options.pytest_args, "runs": options.runs, "tests": len(runs[-1]),
        "compared": len(pairs), "load_1m": round(os.getloadavg()[0], 2),
        "ratio_p50": quantile(0.5), "ratio_p99": quantile(0.99), "ratio_max": ratios[-1],
        "ratio_max_tests_over_1s": round(max((a / b for b, a in long_pairs), default=0), 2),
        "largest_growth_s": round(max((a - b for b, a in pairs), default=0), 2),
        "false_alarms": alarms,
    }, indent=2))


if __name__ == "__main__":
    main()
