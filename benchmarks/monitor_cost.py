"""What the system monitor costs: the sampler's own CPU, per sample and at its interval.

    python benchmarks/monitor_cost.py [--seconds 20] [--rounds 3] [--children 8]

A stand-in for a run's process tree is started first: this process plays pytest and
starts ``--children`` sleeping Python processes (xdist workers, a browser and its
driver), two of them with a child of their own.

1. Per sample: ``SystemMonitor`` sampling back to back (psutil calls plus building and
   appending the events to an ``EventLog``), CPU time of this process per sample,
   median of rounds of 100.
2. At the interval: a fresh process runs an asyncio loop for ``--seconds`` either idle
   (A) or with ``SystemMonitor.run()`` at the default 1 s interval (B), alternating
   A, B, A, B, …; its CPU time (user + system, all threads) is read from /proc by psutil
   after the loop ends. (B - A) / seconds is the monitor's share of one core.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pytest_jbrealtime.server.monitor import MonitorConfig, SystemMonitor
from pytest_jbrealtime.shared.log import EventLog

SLEEPER = (
    "import sys, time\n"
    "if len(sys.argv) > 1:\n"
    "    import subprocess\n"
    "    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3600)'])\n"
    "time.sleep(3600)\n"
)

LOOP = """
import asyncio, sys, time
sys.path.insert(0, {root!r})
from pytest_jbrealtime.shared.log import EventLog
from pytest_jbrealtime.server.monitor import MonitorConfig, SystemMonitor

async def main(with_monitor: bool, seconds: float) -> None:
    log = EventLog("b" * 32)
    task = None
    if with_monitor:
        config = MonitorConfig(interval=1.0, pytest_pid={pid}, disk_paths=({root!r}, "/tmp"))
        task = asyncio.create_task(SystemMonitor(config, log).run())
    await asyncio.sleep(seconds)
    if task is not None:
        task.cancel()
    print(len(log))

asyncio.run(main(sys.argv[1] == "monitor", float(sys.argv[2])))
input()  # hold on, so the parent can read our CPU time before we exit
"""


def start_tree(children: int) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen([sys.executable, "-c", SLEEPER, *(["grandchild"] if n < 2 else [])])
        for n in range(children)
    ]


def per_sample(rounds: int, per_round: int) -> tuple[float, int]:
    log = EventLog("a" * 32)
    config = MonitorConfig(interval=1.0, pytest_pid=os.getpid(),
                           disk_paths=(str(Path.cwd()), "/tmp"))
    monitor = SystemMonitor(config, log)
    times = []
    processes = 0
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(per_round):
            fields = monitor.tick_fields()
            monitor.record(fields)
            processes = fields["process_count"]
        times.append((time.process_time() - start) / per_round)
    return statistics.median(times), processes


def loop_cpu(with_monitor: bool, seconds: float) -> tuple[float, int]:
    import psutil

    code = LOOP.format(root=str(Path(__file__).resolve().parent.parent), pid=os.getpid())
    child = subprocess.Popen(
        [sys.executable, "-c", code, "monitor" if with_monitor else "idle", str(seconds)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert child.stdout is not None and child.stdin is not None
    events = int(child.stdout.readline())
    times = psutil.Process(child.pid).cpu_times()
    child.stdin.write("\n")
    child.stdin.close()
    child.wait()
    return times.user + times.system, events


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--children", type=int, default=8)
    args = parser.parse_args()
    tree = start_tree(args.children)
    try:
        time.sleep(1.0)  # let the stand-in processes start (setup, not a measurement)
        sample_cpu, processes = per_sample(rounds=7, per_round=100)
        print(f"per sample: {sample_cpu * 1000:.3f} ms CPU for a tree of {processes} processes"
              f" = {sample_cpu * 100:.3f}% of a core at a 1 s interval")
        idle, monitored, events = [], [], 0
        for _ in range(args.rounds):
            idle.append(loop_cpu(False, args.seconds)[0])
            cpu, events = loop_cpu(True, args.seconds)
            monitored.append(cpu)
        a, b = statistics.median(idle), statistics.median(monitored)
        print(f"process CPU over {args.seconds:g} s, medians of {args.rounds}: "
              f"idle loop {a:.3f} s, with the monitor {b:.3f} s ({events} events)")
        print(f"monitor at 1 s interval: {(b - a) / args.seconds * 100:.3f}% of one core")
        print(f"{datetime.now(timezone.utc):%Y-%m-%d}, {platform.machine()}, "
              f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
              f"load average {os.getloadavg()[0]:.1f}")
    finally:
        import psutil

        for process in tree:
            for grandchild in psutil.Process(process.pid).children(recursive=True):
                grandchild.kill()
            process.kill()
            process.wait()


if __name__ == "__main__":
    main()
