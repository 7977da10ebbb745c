"""What a viewer that never reads costs the run server, in its RSS and in the kernel.

    python benchmarks/never_reading_memory.py [--stuck 0 10 40] [--wide]

A run of 60 tests printing 250 KB each (``--wide``: the same 249 characters a line in a
4-byte character, about 1 MB an event) holds at its last test while: a first viewer
reads the whole log; then N viewers connect that never read (4 KiB receive buffer, each
its own user), and a fast viewer reads the whole log beside them; 3 s later the server
process's RSS (psutil: before, and the peak sampled every 50 ms) and what the kernel
holds unsent on the server's sockets (``ss -tm``: Send-Q, and skmem's wmem) are noted.
RSS is the process's own memory: the write cap's buffer in the transport, frames being
written; the kernel's socket buffers are not in it. One run per N.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import jwt
import psutil
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_link import read_live_link

from pytest_jbrealtime.shared.auth import AUDIENCE

SECRET = "benchmark-secret-" + "b" * 48
MIB = 2**20
SUITE = '''
import os, pathlib, time
import pytest

@pytest.mark.parametrize("n", range(60))
def test_verbose(n):
    print(("line %d of a verbose test " % n).ljust(249, FILL) * 1000)

def test_hold():
    gate = pathlib.Path(os.environ["GATE"])
    deadline = time.monotonic() + 300
    while not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
'''


def mint(run_id: str, user: str) -> str:
    now = int(time.time())
    return jwt.encode({"aud": AUDIENCE, "iat": now, "exp": now + 3600, "role": "viewer",
                       "sub": user, "run": run_id}, SECRET, algorithm="HS256")


def kernel_unsent(pid: int) -> tuple[int, int]:
    """Bytes the kernel holds unsent on the process's TCP sockets: Send-Q, skmem wmem."""
    lines = subprocess.run(["ss", "-tnmp"], capture_output=True, text=True).stdout.splitlines()
    send_q = wmem = 0
    for index, line in enumerate(lines):
        if f"pid={pid}," not in line:
            continue
        send_q += int(line.split()[2])
        memory = lines[index + 1] if index + 1 < len(lines) else ""
        found = re.search(r"skmem:\(([^)]*)\)", memory)
        for part in found.group(1).split(",") if found else []:
            if re.fullmatch(r"w\d+", part):
                wmem += int(part[1:])
    return send_q, wmem


class Peak:
    def __init__(self, process: psutil.Process) -> None:
        self.process = process
        self.value = process.memory_info().rss
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.stop.wait(0.05):
            try:
                self.value = max(self.value, self.process.memory_info().rss)
            except psutil.Error:
                return


async def read_all(url: str, until: str, seen: asyncio.Event) -> None:
    async with websockets.connect(url, max_size=None) as ws:
        async for frame in ws:
            if isinstance(frame, str) and until in frame:
                seen.set()


async def measure(host: str, run_id: str, server: psutil.Process, stuck: int) -> dict[str, Any]:
    first_seen = asyncio.Event()
    tasks = [asyncio.create_task(read_all(f"ws://{host}/ws/first?token={mint(run_id, 'a')}",
                                          "::test_hold", first_seen))]
    await asyncio.wait_for(first_seen.wait(), 300)
    await asyncio.sleep(1)
    before = server.memory_info().rss
    peak = Peak(server)
    address, port = host.rsplit(":", 1)
    sockets = []
    for i in range(stuck):
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.connect((address, int(port)))
        sockets.append(await websockets.connect(
            f"ws://{host}/ws/n{i}?token={mint(run_id, f'n{i}')}", sock=raw, max_queue=1,
            max_size=None, compression=None))
    fast_seen = asyncio.Event()
    tasks.append(asyncio.create_task(read_all(
        f"ws://{host}/ws/fast?token={mint(run_id, 'b')}", "::test_hold", fast_seen)))
    await asyncio.wait_for(fast_seen.wait(), 300)
    await asyncio.sleep(3)
    send_q, wmem = kernel_unsent(server.pid)
    peak.stop.set()
    for ws in sockets:
        ws.transport.abort()
    for task in tasks:
        task.cancel()
    growth = (peak.value - before) / MIB
    return {"stuck": stuck, "rss_before_mib": round(before / MIB, 1),
            "rss_peak_growth_mib": round(growth, 1),
            "per_stuck_viewer_mib": round(growth / stuck, 2) if stuck else None,
            "kernel_send_q_mib": round(send_q / MIB, 1), "kernel_wmem_mib": round(wmem / MIB, 1)}


def run_once(stuck: int, wide: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        fill = '"\\U0001F600"' if wide else '"."'
        (folder / "test_verbose.py").write_text(SUITE.replace("FILL", fill))
        env = {**os.environ, "JB_LIVE_SECRET": SECRET, "GATE": str(folder / "gate")}
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
             "--jb-live", "--jb-live-port", "0"],
            cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            # Read on to the end: a verbose run would otherwise stop on a full pipe.
            link = read_live_link(process)
            server = next(child for child in psutil.Process(process.pid).children(recursive=True)
                          if "pytest_jbrealtime.server.process" in " ".join(child.cmdline()))
            result = asyncio.run(measure(link.host, link.run_id, server, stuck))
        finally:
            (folder / "gate").touch()
            try:
                process.wait(120)
            except subprocess.TimeoutExpired:
                process.kill()
        return {"events": "~1 MB" if wide else "250 KB", **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stuck", type=int, nargs="+", default=[0, 10, 40])
    parser.add_argument("--wide", action="store_true", help="4-byte characters: ~1 MB events")
    args = parser.parse_args()
    for stuck in args.stuck:
        print(json.dumps(run_once(stuck, args.wide)), flush=True)


if __name__ == "__main__":
    main()
