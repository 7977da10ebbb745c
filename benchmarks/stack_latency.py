"""How long a stack request takes to answer, by what the test is doing.

    python benchmarks/stack_latency.py [--asks 30] [-n 2]

A real ``pytest --jb-live`` run of three tests, each held until this script opens its
gate: one sleeping (``time.sleep``), one spinning in pure Python, one hashing in C
without the GIL (``hashlib`` on 32 MiB). For each, ``--asks`` stack requests, one at a
time (0.1 s apart: a viewer may send 20 messages a second), over a real WebSocket;
reported: median, p95 and max milliseconds from sending ``stack_request`` to receiving
the ``stack``, and whether every answer named the test's function. With ``-n 2`` the
tests run on xdist workers (asked through the worker's responder instead of the main
process's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_link import PytestOutput

SUITE = '''
import hashlib, os, pathlib, time

def _open(name):
    return (pathlib.Path(os.environ["GATES"]) / name).exists()

def held_in_sleep():
    while not _open("sleep"):
        time.sleep(0.5)

def held_in_python():
    turns = 0
    while True:
        turns += 1
        if turns % 200000 == 0 and _open("python"):
            return

def held_in_c_without_the_gil():
    data = b"x" * (32 << 20)
    while not _open("c"):
        hashlib.sha256(data).digest()

def test_sleep():
    held_in_sleep()

def test_python():
    held_in_python()

def test_c():
    held_in_c_without_the_gil()
'''
CASES = [("sleep", "held_in_sleep"), ("python", "held_in_python"),
         ("c", "held_in_c_without_the_gil")]


async def measure(url: str, gates: Path, asks: int) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    async with websockets.connect(url, max_size=None) as ws:
        started: set[str] = set()
        answers: list[dict[str, Any]] = []

        async def next_matching(predicate: Any, timeout: float = 120) -> dict[str, Any]:
            """The first answer matching, or an empty dict once ``predicate({})`` holds."""
            deadline = time.monotonic() + timeout
            while True:
                for index, message in enumerate(answers):
                    if predicate(message):
                        del answers[index]
                        return message
                if predicate({}):
                    return {}
                frame = json.loads(await asyncio.wait_for(
                    ws.recv(), max(deadline - time.monotonic(), 0.01)))
                for message in frame["messages"] if frame.get("type") == "batch" else [frame]:
                    if message.get("type") == "test_started":
                        started.add(message["test_id"])
                    elif "seq" not in message:
                        answers.append(message)

        for case, function in CASES:
            test_id = f"test_stack_bench.py::test_{case}"
            await next_matching(lambda m, t=test_id: not m and t in started)
            took: list[float] = []
            named = 0
            for _ in range(asks):
                began = time.perf_counter()
                await ws.send(json.dumps({"type": "stack_request", "test_id": test_id}))
                answer = await next_matching(lambda m, t=test_id: m.get("test_id") == t and (
                    m.get("type") == "stack" or m.get("request") == "stack_request"))
                took.append((time.perf_counter() - began) * 1000)
                current = [t for t in answer.get("threads", []) if t.get("current")]
                if current and function in [f["function"] for f in current[0]["frames"]]:
                    named += 1
                await asyncio.sleep(0.1)  # under the server's 20 messages/s per viewer
            took.sort()
            results[case] = {
                "median_ms": round(statistics.median(took), 1),
                "p95_ms": round(took[int(0.95 * (len(took) - 1))], 1),
                "max_ms": round(took[-1], 1),
                "named": f"{named}/{asks}",
            }
            (gates / case).touch()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--asks", type=int, default=30)
    parser.add_argument("-n", dest="workers", default="")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        (directory / "test_stack_bench.py").write_text(SUITE)
        gates = directory / "gates"
        gates.mkdir()
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                   "--jb-live", "--jb-live-port", "0", "test_stack_bench.py"]
        if options.workers:
            command += ["-n", options.workers]
        process = subprocess.Popen(command, cwd=directory, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True,
                                   env={**os.environ, "GATES": str(gates)})
        output = PytestOutput(process)
        link = output.link()
        try:
            results = asyncio.run(measure(f"ws://{link.host}/ws/bench?token={link.token}",
                                          gates, options.asks))
        finally:
            for case, _ in CASES:
                (gates / case).touch()
            output.wait(120)
            process.wait(120)
    load = os.getloadavg()
    print(json.dumps({"workers": options.workers or "serial", "asks": options.asks,
                      "cpus": os.cpu_count(), "load_1m": round(load[0], 2),
                      "results": results}, indent=2))


if __name__ == "__main__":
    main()
