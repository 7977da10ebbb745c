"""The run server's CPU per event, in one process, without the noise of a whole run.

    python benchmarks/server_cpu.py [--tests 20000] [--rounds 5]

Makes the events a run of N trivial tests publishes (test_started, three
test_progress, test_completed per test, with the publisher's fields), hands them to the
server side in the batches a run's pipe carries (marshal frames of ``FLUSH_EVENTS``),
and times what the server does with each: decode the frame, stamp, encode the JSON
text (log.EventLog.extend). Two encoders alternate in each round: orjson (shipped)
and json's C encoder (what it replaced). Sending to viewers is not included.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pytest_jbrealtime.shared import text
from pytest_jbrealtime.shared.channel import EVENTS, FLUSH_EVENTS, FrameDecoder, encode_frame
from pytest_jbrealtime.shared.log import EventLog


def run_events(tests: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    now = time.time()
    for n in range(tests):
        test_id = f"tests/test_trivial_{n // 100:03d}.py::test_{n % 100}"
        common = {"ts": now + n * 0.0006, "worker": "main"}
        events.append({"type": "test_started", "test_id": test_id, "test_name": f"test_{n}",
                       "file": test_id.partition("::")[0], "estimated_duration": 0.0004,
                       **common})
        for index, (phase, share) in enumerate((("setup", 0.0), ("call", 33.3),
                                                ("teardown", 66.7)), start=1):
            events.append({"type": "test_progress", "test_id": test_id, "step_index": index,
                           "step_name": phase, "progress_percentage": share,
                           "status": "running", **common})
        events.append({"type": "test_completed", "test_id": test_id, "result": "passed",
                       "duration": 0.000412, "summary": "passed", "longrepr": None,
                       "sections": [], "phases": {"setup": "passed", "call": "passed",
                                                  "teardown": "passed"},
                       "subtests": [], **common})
    return events


def server_seconds(frames: bytes, use_orjson: bool) -> float:
    saved = text.orjson
    if not use_orjson:
        text.orjson = None  # type: ignore[assignment]
    try:
        log = EventLog("bench")
        decoder = FrameDecoder()
        started = time.process_time()
        for _kind, body in decoder.feed(frames):
            log.extend(body)
        return time.process_time() - started
    finally:
        text.orjson = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    events = run_events(args.tests)
    frames = b"".join(encode_frame(EVENTS, events[i:i + FLUSH_EVENTS])
                      for i in range(0, len(events), FLUSH_EVENTS))
    results: dict[str, list[float]] = {"orjson": [], "json": []}
    for index in range(args.rounds):
        order = ["orjson", "json"] if index % 2 == 0 else ["json", "orjson"]
        for name in order:
            results[name].append(server_seconds(frames, name == "orjson"))
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}, "
          f"Python {platform.python_version()}, {len(events)} events "
          f"({args.tests} trivial tests), median of {args.rounds} rounds (CPU seconds)")
    print("| encoder | CPU (s) | µs per event |")
    print("|---|---|---|")
    for name, seconds in results.items():
        median = statistics.median(seconds)
        print(f"| {name} | {median:.3f} | {1e6 * median / len(events):.2f} |")


if __name__ == "__main__":
    main()
