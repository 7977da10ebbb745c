"""A viewer that never reads: does it slow the run, grow the server, or delay others?

    python benchmarks/slow_viewer.py [--runs 5] [--tests 5000]

Two variants of the same run, alternating: ``reader`` (one well-behaved viewer reading
everything) and ``reader+stuck`` (the same, plus a viewer that connects with a 4 KiB
receive buffer, no compression, and never reads). Reported per variant, medians: the
pytest wall time (the ratio is the cost of the stuck viewer), the well-behaved
viewer's delivery latency (arrival here minus the event's ``timestamp``), the server
process's peak RSS (sampled every 20 ms), the stuck viewer's close code, and the time
from ``session_finished`` to pytest's exit (shutdown with a viewer that stopped reading).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psutil
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_link import PytestOutput
from pairing import paired_ratio
from suite import write_suite


def epoch_of(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


async def reader(url: str, result: dict[str, Any]) -> None:
    latencies: list[float] = []
    seqs: list[int] = []
    async with websockets.connect(url, max_size=None) as ws:
        async for frame in ws:
            arrived = time.time()
            message = json.loads(frame)
            for m in message["messages"] if message["type"] == "batch" else [message]:
                if "seq" in m:
                    seqs.append(m["seq"])
                    latencies.append(arrived - epoch_of(m["timestamp"]))
                    if m["type"] == "session_finished":
                        result["finished_at"] = epoch_of(m["timestamp"])
    result["latencies"] = latencies
    result["complete"] = bool(seqs) and seqs == list(range(1, len(seqs) + 1))


async def stuck(host: str, url: str, result: dict[str, Any], done: threading.Event) -> None:
    address, port = host.rsplit(":", 1)
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect((address, int(port)))
    ws = await websockets.connect(url, sock=raw, max_queue=1, compression=None, max_size=None)
    result["stuck_connected"] = True
    await asyncio.to_thread(done.wait)
    try:  # afterwards: read what is left, to see how the server closed it
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    except websockets.ConnectionClosed as closed:
        result["stuck_close"] = closed.rcvd.code if closed.rcvd else "no close frame"
    except TimeoutError:
        result["stuck_close"] = "still open"
        await ws.close()


def run_once(variant: str, suite: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", str(suite),
               "--jb-live", "--jb-live-port", "0", "--jb-live-wait-viewers",
               "2" if variant == "reader+stuck" else "1"]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    output = PytestOutput(process)
    result: dict[str, Any] = {}
    done = threading.Event()
    threads: list[threading.Thread] = []
    peak_rss = [0]
    link = output.link()
    url = f"ws://{link.host}/ws/%s?token={link.token}"
    threads.append(threading.Thread(
        target=asyncio.run, args=(reader(url % "reader", result),)))
    if variant == "reader+stuck":
        threads.append(threading.Thread(
            target=asyncio.run, args=(stuck(link.host, url % "stuck", result, done),)))
    threads.append(threading.Thread(target=sample_rss, args=(process.pid, peak_rss, done),
                                    daemon=True))
    for thread in threads:
        thread.start()
    output.wait()
    process.wait()
    exited = time.time()
    result["wall"] = time.perf_counter() - started
    done.set()
    for thread in threads:
        thread.join(60)
    result["shutdown"] = exited - result.get("finished_at", exited)
    result["peak_rss_mib"] = peak_rss[0] / 2**20
    return result


def sample_rss(pytest_pid: int, peak: list[int], done: threading.Event) -> None:
    parent = psutil.Process(pytest_pid)
    while not done.is_set():
        try:
            for child in parent.children():
                peak[0] = max(peak[0], child.memory_info().rss)
        except psutil.Error:
            return
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tests", type=int, default=5000)
    args = parser.parse_args()
    variants = ["reader", "reader+stuck"]
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        suite = write_suite(Path(tmp) / "suite", args.tests)
        run_once("reader", suite)  # warm the OS caches
        for index in range(args.runs):
            # A B, then B A: a drift during the round does not favour one side.
            for variant in variants if index % 2 == 0 else variants[::-1]:
                one = run_once(variant, suite)
                results[variant].append(one)
                latencies = one["latencies"]
                print(f"run {index + 1} {variant:13s} wall {one['wall']:6.2f} s  "
                      f"p99 {1000 * sorted(latencies)[int(0.99 * len(latencies))]:5.0f} ms  "
                      f"rss {one['peak_rss_mib']:5.1f} MiB  shutdown {one['shutdown']:.2f} s  "
                      f"complete {one['complete']}  stuck {one.get('stuck_close', '-')}",
                      flush=True)
    print()
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{args.tests} tests, median of {args.runs}")
    print("| variant | wall (s) | ratio | per-round ratio | reader p50 / p99 latency (ms) "
          "| server peak RSS (MiB) | shutdown after last event (s) | stuck viewer closed with |")
    print("|---|---|---|---|---|---|---|---|")
    base = statistics.median(r["wall"] for r in results["reader"])
    for variant in variants:
        runs = results[variant]
        wall = statistics.median(r["wall"] for r in runs)
        p50 = statistics.median(sorted(r["latencies"])[len(r["latencies"]) // 2] for r in runs)
        p99 = statistics.median(sorted(r["latencies"])[int(0.99 * len(r["latencies"]))]
                                for r in runs)
        rss = statistics.median(r["peak_rss_mib"] for r in runs)
        shutdown = statistics.median(r["shutdown"] for r in runs)
        closes = sorted({str(r.get("stuck_close", "-")) for r in runs})
        paired = paired_ratio([r["wall"] for r in results["reader"]], [r["wall"] for r in runs])
        print(f"| {variant} | {wall:.2f} | {wall / base:.3f}x | {paired:.3f}x | {1000 * p50:.0f} / "
              f"{1000 * p99:.0f} | {rss:.1f} | {shutdown:.2f} | {', '.join(closes)} |")


if __name__ == "__main__":
    main()
