"""What the plugin costs pytest's own thread, in CPU seconds per test and per event.

    python benchmarks/main_thread_cpu.py [--tests 5000] [--rounds 5]
                                         [--checkout OLD=/path/to/old/checkout ...]

Runs N trivial tests plain and with ``--jb-live`` (no viewer: pytest's thread does the
same work with or without one), rounds alternating A B / B A, and reads the CPU time
of pytest's main thread alone (``time.thread_time()`` at the very end of the run, from
a small plugin this script passes with ``-p``). That leaves out what runs beside it
and is paid elsewhere: the server process, the publisher's flush timer, the pipe's
writer thread, the stack responder. Wall time and process CPU on a shared 2-core
machine scatter by more than the plugin costs a test; one thread's CPU time much less.
valgrind's instruction counts (``instructions.py``) cannot judge a time-based hand-off
(the flush timer): under valgrind 20 ms of wall time is a fiftieth of the work.

``--checkout NAME=PATH`` adds a variant running the plugin from another checkout's
``pytest_jbrealtime`` (e.g. ``git worktree add /tmp/old HEAD~3``), to compare code
versions in one run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pairing import paired_ratio
from suite import write_trivial_suite

PROBE = '''
import time

import pytest

@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    print(f"\\nmain-thread-cpu {time.thread_time():.6f}", flush=True)
'''
MARK = "main-thread-cpu "


def run_once(suite: Path, probe_dir: Path, live: bool, checkout: Path | None) -> tuple[float, int]:
    """pytest's main-thread CPU seconds, and the events the run published."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly",
               "-p", "no:cacheprovider", "-p", "main_thread_probe", str(suite)]
    recording = suite.parent / "run.jsonl"
    if live:
        command += ["--jb-live", "--jb-live-port", "0", "--jb-live-record", str(recording)]
    else:
        command += ["-p", "no:jbrealtime"]
    env = {**os.environ}
    env.pop("JB_LIVE", None)
    env["PYTHONPATH"] = os.pathsep.join(
        str(p) for p in (checkout, probe_dir, env.get("PYTHONPATH")) if p)
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith(MARK)]
    if result.returncode != 0 or not lines:
        raise SystemExit(f"pytest failed ({result.returncode}):\n{result.stdout[-2000:]}"
                         f"\n{result.stderr[-2000:]}")
    events = 0
    if live:
        with recording.open(encoding="utf-8") as log:
            events = sum(1 for line in log if '"seq"' in line)
        recording.unlink()
    return float(lines[-1].removeprefix(MARK)), events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--checkout", action="append", default=[],
                        help="NAME=PATH: a variant with the plugin from PATH")
    args = parser.parse_args()
    variants: list[tuple[str, bool, Path | None]] = [("plain", False, None),
                                                     ("live", True, None)]
    for spec in args.checkout:
        name, _, path = spec.partition("=")
        variants.append((name, True, Path(path).resolve()))
    cpu: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    events: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        probe_dir = Path(tmp) / "probe"
        probe_dir.mkdir()
        (probe_dir / "main_thread_probe.py").write_text(PROBE)
        suite = write_trivial_suite(Path(tmp) / "suite", args.tests)
        run_once(suite, probe_dir, False, None)  # warm the OS caches
        for index in range(args.rounds):
            for name, live, checkout in variants if index % 2 == 0 else variants[::-1]:
                seconds, count = run_once(suite, probe_dir, live, checkout)
                cpu[name].append(seconds)
                events[name] = count
                print(f"round {index + 1} {name:8s} {seconds:7.3f} s main-thread CPU"
                      f"  {count} events  load {os.getloadavg()[0]:.1f}", flush=True)
    print()
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, {args.tests} "
          f"trivial tests, {args.rounds} rounds")
    print("| variant | main-thread CPU (s) | ratio to plain (per round) | added per test "
          "| added per event |")
    print("|---|---|---|---|---|")
    for name, live, _ in variants:
        median = statistics.median(cpu[name])
        if not live:
            print(f"| {name} | {median:.3f} | 1.000x | | |")
            continue
        added = statistics.median(b - a for a, b in zip(cpu["plain"], cpu[name], strict=True))
        print(f"| {name} | {median:.3f} | {paired_ratio(cpu['plain'], cpu[name]):.3f}x "
              f"| {added / args.tests * 1e6:.1f} µs | {added / events[name] * 1e6:.2f} µs |")


if __name__ == "__main__":
    main()
