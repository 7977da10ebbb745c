"""What `--jb-live` costs a parallel run: `pytest -n 2` plain against `pytest -n 2 --jb-live`
with one viewer reading everything, in the same session, alternating, medians.

    python benchmarks/xdist_overhead.py [--runs 5] [--tests 5000] [--workers 2]

The suite is benchmarks/suite.py's (the same 5,000 tests as benchmarks/overhead.py).
Each run is the wall time of the whole pytest process. The viewer is a real WebSocket
client in this process, connecting as soon as the link is printed; it checks that it
received every event, gap-free, and that every test completed once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_link import PytestOutput
from pairing import paired_ratio
from suite import write_suite


def _viewer(host: str, token: str, received: list[dict[str, Any]]) -> None:
    async def run() -> None:
        async with websockets.connect(f"ws://{host}/ws/bench?token={token}",
                                      max_size=None) as ws:
            async for frame in ws:
                message = json.loads(frame)
                messages = message["messages"] if message["type"] == "batch" else [message]
                received.extend(m for m in messages if "seq" in m)

    asyncio.run(run())


def run_once(variant: str, suite: Path, workers: int) -> tuple[float, str]:
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-n", str(workers),
            str(suite)]
    env = {k: v for k, v in os.environ.items() if k not in ("JB_LIVE", "PYTEST_ADDOPTS")}
    if variant == "live":
        args += ["--jb-live", "--jb-live-port", "0"]
    else:
        args += ["-p", "no:jbrealtime"]
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=env)
    output = PytestOutput(process)
    received: list[dict[str, Any]] = []
    viewer: threading.Thread | None = None
    if variant == "live":
        link = output.link()
        viewer = threading.Thread(target=_viewer, args=(link.host, link.token, received))
        viewer.start()
    output.wait()
    process.wait()
    elapsed = time.perf_counter() - started
    tail = output.last_line
    if viewer is not None:
        viewer.join(60)
        seqs = [e["seq"] for e in received]
        completed = [e for e in received if e["type"] == "test_completed"]
        if not seqs or seqs != list(range(1, len(seqs) + 1)):
            raise SystemExit(f"viewer missed events: got {len(seqs)}")
        if len(completed) != len({e["test_id"] for e in completed}):
            raise SystemExit("a test completed twice")
        if any(e["worker"] == "main" for e in completed):
            raise SystemExit("a test_completed without its worker")
        tail += f" ({len(completed)} completed, {len(seqs)} events)"
    return elapsed, tail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tests", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    variants = ["plain", "live"]
    with tempfile.TemporaryDirectory() as tmp:
        suite = write_suite(Path(tmp) / "suite", args.tests)
        times: dict[str, list[float]] = {v: [] for v in variants}
        run_once("plain", suite, args.workers)  # warm the OS caches
        for index in range(args.runs):
            # A B, then B A: a drift during the round does not favour one side.
            for variant in variants if index % 2 == 0 else variants[::-1]:
                elapsed, tail = run_once(variant, suite, args.workers)
                times[variant].append(elapsed)
                print(f"run {index + 1} {variant:6s} {elapsed:7.2f} s   {tail}", flush=True)
    base = statistics.median(times["plain"])
    print()
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{args.tests} tests, -n {args.workers}, median of {args.runs}")
    print("| variant | runs (s) | median (s) | ratio to plain | per-round ratio |")
    print("|---|---|---|---|---|")
    for variant in variants:
        median = statistics.median(times[variant])
        runs = ", ".join(f"{t:.2f}" for t in times[variant])
        paired = paired_ratio(times["plain"], times[variant])
        print(f"| {variant} -n {args.workers} | {runs} | {median:.2f} | {median / base:.3f}x "
              f"| {paired:.3f}x |")


if __name__ == "__main__":
    main()
