"""What `--jb-live` costs a run: plain pytest against pytest with the live server and one
viewer reading everything, in the same session, alternating, medians of several runs.

    python benchmarks/overhead.py [--runs 5] [--tests 5000] [--suite mixed|trivial]
                                  [--variants plain,live,...]

Variants: ``plain`` (no plugin), ``live`` (server in its child process, the default),
``live-thread`` (server in a thread of pytest, JB_LIVE_SERVER_MODE=thread),
``reportlog`` (pytest-reportlog writing a file), ``html`` (pytest-html, self-contained),
``live-bare`` (``live`` without issue 18's stack responder, last words, per-test
resources and stall alerts: benchmarks/bare_live.py; compare with
``--variants live-bare,live``).
``--suite mixed`` is benchmarks/suite.py's 5,000 tests of real kinds; ``--suite trivial``
is N tests that do nothing (the worst case for any per-test cost). Each run is the wall
time of the whole pytest process, its own CPU seconds, and the CPU seconds of pytest
and its children together (the server process; what a 2-core machine pays for). The
viewer is a real WebSocket client in this (benchmark) process, connecting as soon as
the link is printed; it checks it received every event.
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

import psutil
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_link import PytestOutput
from pairing import paired_ratio
from suite import SUITES


def _viewer(host: str, token: str, received: list[int]) -> None:
    async def run() -> None:
        async with websockets.connect(f"ws://{host}/ws/bench?token={token}",
                                      max_size=None) as ws:
            async for frame in ws:
                message = json.loads(frame)
                messages = message["messages"] if message["type"] == "batch" else [message]
                received.extend(m["seq"] for m in messages if "seq" in m)

    asyncio.run(run())


def _cpu_seconds(process: subprocess.Popen[str]) -> tuple[float, float]:
    """CPU seconds of the pytest process itself, and of it with its reaped children
    (the server process), read from the zombie before it is reaped. Less noisy than
    wall time on a shared machine."""
    proc = psutil.Process(process.pid)
    deadline = time.monotonic() + 30
    while proc.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
        time.sleep(0.005)
    times = proc.cpu_times()
    own = float(times.user + times.system)
    return own, own + float(times.children_user + times.children_system)


def run_once(variant: str, suite: Path, out: Path) -> tuple[float, float, float, str]:
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", str(suite)]
    env = {**os.environ}
    env.pop("JB_LIVE", None)
    if variant.startswith("live"):
        args += ["--jb-live", "--jb-live-port", "0"]
        if variant == "live-thread":
            env["JB_LIVE_SERVER_MODE"] = "thread"
        elif variant == "live-bare":
            args += ["-p", "bare_live", "--jb-live-stall-after", "off"]
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(Path(__file__).resolve().parent), env.get("PYTHONPATH")) if p)
    elif variant == "reportlog":
        args += ["--report-log", str(out / "log.jsonl")]
    elif variant == "html":
        args += ["--html", str(out / "report.html"), "--self-contained-html"]
    if not variant.startswith("live"):
        args += ["-p", "no:jbrealtime"]
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=env)
    output = PytestOutput(process)
    received: list[int] = []
    viewer: threading.Thread | None = None
    if variant.startswith("live"):
        link = output.link()
        viewer = threading.Thread(target=_viewer, args=(link.host, link.token, received))
        viewer.start()
    elapsed = output.wait() - started  # stdout closed: pytest is exiting
    cpu, cpu_all = _cpu_seconds(process)
    process.wait()
    if viewer is not None:
        viewer.join(30)
        if received != list(range(1, len(received) + 1)) or not received:
            raise SystemExit(f"viewer missed events: got {len(received)}")
    return elapsed, cpu, cpu_all, output.last_line


def compare(variants: list[str], suite: Path, out: Path, runs: int,
            label: str) -> None:
    """Run each variant ``runs`` times, alternating, and print the table (the first
    variant is the base of every ratio)."""
    times: dict[str, list[float]] = {v: [] for v in variants}
    cpus: dict[str, list[float]] = {v: [] for v in variants}
    cpus_all: dict[str, list[float]] = {v: [] for v in variants}
    run_once(variants[0], suite, out)  # warm the OS caches
    for index in range(runs):
        # A B, then B A: a drift during the round does not favour one side.
        for variant in variants if index % 2 == 0 else variants[::-1]:
            elapsed, cpu, cpu_all, tail = run_once(variant, suite, out)
            times[variant].append(elapsed)
            cpus[variant].append(cpu)
            cpus_all[variant].append(cpu_all)
            print(f"run {index + 1} {variant:12s} {elapsed:7.2f} s wall {cpu:7.2f} s cpu"
                  f" {cpu_all:7.2f} s cpu with server   {tail}", flush=True)
    base = statistics.median(times[variants[0]])
    base_cpu = statistics.median(cpus[variants[0]])
    print()
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, "
          f"Python {platform.python_version()}, {label}, median of {runs}")
    print("| variant | wall (s) | wall ratio | per-round wall ratio | pytest CPU (s) "
          "| CPU ratio | per-round CPU ratio | CPU with server (s) | per-round ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for variant in variants:
        median = statistics.median(times[variant])
        cpu = statistics.median(cpus[variant])
        paired = paired_ratio(times[variants[0]], times[variant])
        paired_cpu = paired_ratio(cpus[variants[0]], cpus[variant])
        cpu_all = statistics.median(cpus_all[variant])
        paired_all = paired_ratio(cpus_all[variants[0]], cpus_all[variant])
        print(f"| {variant} | {median:.2f} | {median / base:.3f}x | {paired:.3f}x | "
              f"{cpu:.2f} | {cpu / base_cpu:.3f}x | {paired_cpu:.3f}x | "
              f"{cpu_all:.2f} | {paired_all:.3f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tests", type=int, default=5000)
    parser.add_argument("--suite", choices=sorted(SUITES), default="mixed")
    parser.add_argument("--variants", default="plain,live,live-thread")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        suite = SUITES[args.suite](Path(tmp) / "suite", args.tests)
        compare(args.variants.split(","), suite, Path(tmp), args.runs,
                f"{args.tests} {args.suite} tests")


if __name__ == "__main__":
    main()
