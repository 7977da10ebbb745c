"""Many viewers: 100 connected at once, then 500 connection attempts in one second.

    python benchmarks/many_viewers.py [--viewers 100] [--storm 500] [--tests 5000]
                                      [--rate EVENTS_PER_S]

The run waits until all viewers are connected (``--jb-live-wait-viewers``), then
streams the benchmark suite (benchmarks/suite.py). Each viewer is a real WebSocket
client (one asyncio loop in this process) with its own user (tokens minted with
JB_LIVE_SECRET, so the per-user pool does not apply); delivery latency is the time a
frame arrives here minus the event's ``timestamp`` (set in the pytest process when the
event is published; same clock, millisecond resolution). Once the first events have
arrived, ``--storm`` further connections are opened, spread over one second: with the
default cap of 100 viewers they are refused with 1013, and the 100 must not notice.

``--rate 2000`` paces the run at about 2,000 events a second (a conftest.py makes each
test wait for its turn), the rate issue 21's goal names; without it the suite runs at
its own pace. The pace the run had (events published a second from the first test's
start to the last one's end) is reported beside the latencies.
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
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import jwt
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from live_link import PytestOutput
from suite import write_suite

from pytest_jbrealtime.shared.auth import AUDIENCE

SECRET = "benchmark-secret-" + "b" * 48


# Events a test publishes: its start, three phases and its end (a skipped test fewer;
# `--tests 1000` makes 1,900 tests of benchmarks/suite.py, 9,412 events in all).
EVENTS_PER_TEST = 5


def write_pacing(suite: Path, events_per_s: float) -> None:
    """A conftest.py that starts test n no sooner than n / tests-per-second after the
    first: an even rate, whatever each test itself costs."""
    interval = EVENTS_PER_TEST / events_per_s
    (suite / "conftest.py").write_text(
        "import time\n\n"
        "import pytest\n\n"
        "_turn = {'start': None, 'n': 0}\n\n\n"
        "@pytest.fixture(autouse=True)\n"
        "def _paced():\n"
        "    now = time.monotonic()\n"
        "    if _turn['start'] is None:\n"
        "        _turn['start'] = now\n"
        "    _turn['n'] += 1\n"
        f"    delay = _turn['start'] + _turn['n'] * {interval!r} - now\n"
        "    if delay > 0:\n"
        "        time.sleep(delay)\n")


def token_for(run_id: str, user: str) -> str:
    now = int(time.time())
    return jwt.encode({"aud": AUDIENCE, "iat": now, "exp": now + 3600, "role": "viewer",
                       "sub": user, "run": run_id}, SECRET, algorithm="HS256")


def epoch_of(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


class ViewerStats:
    def __init__(self) -> None:
        self.latencies: list[tuple[float, float]] = []  # (arrival, latency)
        self.seqs: list[int] = []
        self.published: list[tuple[float, str]] = []  # (when, type) of each event
        self.close_code: int | None = None


async def viewer(url: str, stats: ViewerStats, sampled: bool) -> None:
    """Every viewer checks it got every event (cheaply: counting them); the sampled ones
    also parse every frame for latency. Parsing 100 full streams would make this one
    process the bottleneck and measure the client, not the server."""
    async with websockets.connect(url, max_size=None, open_timeout=60) as ws:
        try:
            async for frame in ws:
                arrived = time.time()
                if not sampled:
                    count = frame.count('"seq":')
                    first = stats.seqs[-1] + 1 if stats.seqs else 1
                    stats.seqs.extend(range(first, first + count))
                    continue
                message = json.loads(frame)
                messages = message["messages"] if message["type"] == "batch" else [message]
                for m in messages:
                    if "seq" in m:
                        stats.seqs.append(m["seq"])
                        published = epoch_of(m["timestamp"])
                        stats.latencies.append((arrived, arrived - published))
                        stats.published.append((published, m["type"]))
        finally:
            stats.close_code = ws.close_code


async def attempt(url: str, outcomes: Counter[str]) -> None:
    try:
        async with websockets.connect(url, open_timeout=30) as ws:
            await asyncio.wait_for(ws.recv(), 30)
            await asyncio.wait_for(ws.recv(), 30)
            outcomes["served"] += 1
    except websockets.ConnectionClosed as closed:
        outcomes[f"closed {closed.rcvd.code if closed.rcvd else 'without code'}"] += 1
    except Exception as exc:
        outcomes[type(exc).__name__] += 1


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def bench(host: str, run_id: str, args: argparse.Namespace) -> dict[str, object]:
    stats = [ViewerStats() for _ in range(args.viewers)]
    tasks = []
    for index, one in enumerate(stats):
        url = f"ws://{host}/ws/v{index}?token={token_for(run_id, f'user{index}')}"
        tasks.append(asyncio.create_task(viewer(url, one, sampled=index % 10 == 0)))
    while not any(s.seqs for s in stats):
        await asyncio.sleep(0.01)
    storm_outcomes: Counter[str] = Counter()
    storm_start = time.time()
    storm = []
    for index in range(args.storm):
        url = f"ws://{host}/ws/s{index}?token={token_for(run_id, f'storm{index}')}"
        storm.append(asyncio.create_task(attempt(url, storm_outcomes)))
        await asyncio.sleep(1.0 / args.storm)
    await asyncio.gather(*storm)
    storm_end = time.time()
    await asyncio.gather(*tasks)
    all_latencies = [lat for s in stats for _, lat in s.latencies]
    published = next(s.published for s in stats if s.published)
    tests = [at for at, kind in published if kind.startswith("test_")]
    during = [at for at, _ in published if min(tests) <= at <= max(tests)]
    kinds = Counter(kind for _, kind in published)
    in_storm = [lat for s in stats for at, lat in s.latencies if storm_start <= at <= storm_end]
    complete = all(s.seqs == list(range(1, len(s.seqs) + 1)) and s.seqs for s in stats)
    lengths = {len(s.seqs) for s in stats}
    return {
        "complete": complete and len(lengths) == 1,
        "events": max(lengths),
        "close_codes": Counter(s.close_code for s in stats),
        "p50": percentile(all_latencies, 0.5), "p99": percentile(all_latencies, 0.99),
        "max": max(all_latencies),
        "storm_p50": percentile(in_storm, 0.5) if in_storm else float("nan"),
        "storm_p99": percentile(in_storm, 0.99) if in_storm else float("nan"),
        "storm_seconds": storm_end - storm_start,
        "storm_outcomes": dict(storm_outcomes),
        # The run's pace: events a second from the first test's start to the last
        # one's end (the wait for the viewers and the collection apart).
        "events_per_s": len(during) / (max(tests) - min(tests)),
        "kinds": dict(kinds.most_common(6)),
    }


def run_once(suite: Path, args: argparse.Namespace) -> dict[str, object]:
    env = {**os.environ, "JB_LIVE_SECRET": SECRET}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", str(suite),
               "--jb-live", "--jb-live-port", "0", "--jb-live-wait-viewers", str(args.viewers),
               "--jb-live-wait-timeout", "120"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=env)
    output = PytestOutput(process)
    link = output.link()
    result = asyncio.run(bench(link.host, link.run_id, args))
    process.wait()
    output.wait(10)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=100)
    parser.add_argument("--storm", type=int, default=500)
    parser.add_argument("--tests", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=float, default=0.0,
                        help="events a second to pace the run at (0: the suite's own pace)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        suite = write_suite(Path(tmp) / "suite", args.tests)
        if args.rate:
            write_pacing(suite, args.rate)
        results = []
        for index in range(args.runs):
            result = run_once(suite, args)
            results.append(result)
            print(f"run {index + 1}: {result}", flush=True)
    print()
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, {args.tests} tests, "
          f"{args.viewers} viewers, {args.storm} attempts in ~1 s, median of {args.runs}")
    rates = [float(r["events_per_s"]) for r in results]  # type: ignore[arg-type]
    print(f"| events/s a viewer saw | {statistics.median(rates):,.0f} |")
    for key in ("p50", "p99", "max", "storm_p50", "storm_p99"):
        values = [float(r[key]) for r in results]  # type: ignore[arg-type]
        print(f"| {key} delivery latency | {statistics.median(values) * 1000:.0f} ms |")
    print(f"| every viewer got every event | {all(r['complete'] for r in results)} |")


if __name__ == "__main__":
    main()
