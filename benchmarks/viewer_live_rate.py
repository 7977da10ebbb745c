"""Does the live page keep up with a run publishing ~2,000 events a second?

A real ``pytest --jb-live`` run of a generated suite (trivial tests, paced by an autouse
fixture to ``--rate`` events a second) is watched by the viewer page in headless Chromium.
Each test makes five events (``test_started``, three phase ``test_progress``,
``test_completed``) and two more per user step (``--steps``, ``pytest_jbrealtime.step``: a
``test_progress`` at its start and its end), so the rate is reached with fewer tests a
second than pytest's own per-test cost allows on a busy machine. The run waits for the
page (``--jb-live-wait-viewers 1``) and records its events
(``--jb-live-record``), whose ``timestamp`` is when pytest published each one.

Before the page's own script runs, a hook wraps ``LiveView.flush`` (the one place events are
applied to the store and the page re-rendered) to log ``[last seq applied, Date.now()]``
after each call (and how long the call took). An event is *shown* at the end of the first
flush whose last seq is at or past its own; its lag is that time minus its timestamp (the
same machine's clock on both sides; timestamps have millisecond resolution). It includes the
publisher's batching (up to 20 ms), the pipe to the server process, the server, the socket,
the client, the wait for the next animation frame, and applying and rendering.

Events published before the page had applied its first batch are backlog, not live, and
are left out.

Run: ``python benchmarks/viewer_live_rate.py [--tests 3000] [--steps 5] [--rate 2000] [--runs 3]``.
Needs /usr/bin/chromium and /usr/bin/chromedriver; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.live_link import PytestOutput  # noqa: E402
from benchmarks.viewer_render import make_driver  # noqa: E402
from pytest_jbrealtime.shared.recording import read_recording  # noqa: E402

EVENTS_PER_TEST = 5

CONFTEST = textwrap.dedent(
    """
    import os
    import time

    import pytest

    TESTS_PER_SECOND = float(os.environ["PACE_TESTS_PER_SECOND"])
    pace = {"start": None, "count": 0}

    @pytest.fixture(autouse=True)
    def paced():
        # Each test starts on its slot of a steady schedule (none when pytest is behind it).
        now = time.perf_counter()
        if pace["start"] is None:
            pace["start"] = now
        due = pace["start"] + pace["count"] / TESTS_PER_SECOND
        pace["count"] += 1
        if due > now:
            time.sleep(due - now)
        yield
    """
)

SUITE = textwrap.dedent(
    """
    import pytest
    import pytest_jbrealtime

    @pytest.mark.parametrize("n", range({per_file}))
    def test_trivial(n):
        for index in range({steps}):
            with pytest_jbrealtime.step(f"step {{index}}"):
                assert n >= 0
    """
)

# Installed before any page script: once main.js publishes its debug handle, wrap the view's
# flush to log what it applied and when.
FLUSH_LOGGER = """
window.__flushLog = [];
window.__receiveLog = [];
Object.defineProperty(window, '__jbLive', {
  configurable: true,
  set(handle) {
    const view = handle.view;
    const enqueue = view.enqueue.bind(view);
    view.enqueue = (message) => {
      if (typeof message.seq === 'number') window.__receiveLog.push(message.seq, Date.now());
      enqueue(message);
    };
    const flush = view.flush.bind(view);
    view.flush = () => {
      const started = performance.now();
      flush();
      window.__flushLog.push(view.liveStore.lastSeq, Date.now(), performance.now() - started);
    };
    Object.defineProperty(window, '__jbLive',
      { value: handle, writable: true, configurable: true });
  },
  get() { return undefined; },
});
"""


def write_suite(directory: Path, tests: int, steps: int, rate: float) -> dict[str, str]:
    (directory / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (directory / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    per_file = 500
    for index in range(0, tests, per_file):
        count = min(per_file, tests - index)
        (directory / f"test_rate_{index // per_file:03d}.py").write_text(
            SUITE.format(per_file=count, steps=steps), encoding="utf-8")
    return {"PACE_TESTS_PER_SECOND": str(rate / events_per_test(steps))}


def events_per_test(steps: int) -> int:
    return EVENTS_PER_TEST + 2 * steps


def epoch_ms(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1000


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def one_run(tests: int, steps: int, rate: float, tmp: Path, index: int) -> dict[str, Any]:
    suite = tmp / f"suite-{index}"
    suite.mkdir()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **write_suite(suite, tests, steps, rate)}
    env.pop("PYTEST_ADDOPTS", None)
    recording = suite / "run.jsonl"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "--jb-live",
               "--jb-live-port", "0", "--jb-live-wait-viewers", "1",
               "--jb-live-monitor-interval", "0", "--jb-live-record", str(recording)]
    process = subprocess.Popen(command, cwd=suite, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    output = PytestOutput(process)
    driver = make_driver(str(tmp / f"profile-{index}"))
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": FLUSH_LOGGER})
        driver.get(output.link(60).url)
        exit_status = process.wait(600)
        output.wait(10)
        deadline = time.monotonic() + 60
        while not driver.execute_script(
                "return window.__jbLive && window.__jbLive.view.liveStore.finished !== null"):
            if time.monotonic() > deadline:
                raise SystemExit("the page never showed the end of the run")
            time.sleep(0.1)
        flat = driver.execute_script("return window.__flushLog")
        received_flat = driver.execute_script("return window.__receiveLog")
        stats = driver.execute_script("return window.__jbLive.client.stats")
    finally:
        driver.quit()
        if process.poll() is None:
            process.kill()
    flushes = [(int(flat[i]), float(flat[i + 1])) for i in range(0, len(flat), 3)]
    flush_ms = [float(flat[i + 2]) for i in range(0, len(flat), 3)]
    received = {int(received_flat[i]): float(received_flat[i + 1])
                for i in range(0, len(received_flat), 2)}
    events = read_recording(recording).events
    test_events = [e for e in events if e["type"] in
                   ("test_started", "test_progress", "test_completed")]
    span_s = (epoch_ms(test_events[-1]["timestamp"]) - epoch_ms(test_events[0]["timestamp"])) / 1000
    lags: list[float] = []
    receive_lags: list[float] = []
    worst: list[tuple[float, int, str]] = []
    cursor = 0
    live_from = flushes[0][1]
    for event in events:
        while cursor < len(flushes) and flushes[cursor][0] < event["seq"]:
            cursor += 1
        if cursor == len(flushes):
            raise SystemExit(f"event {event['seq']} was never shown")
        published = epoch_ms(event["timestamp"])
        if published < live_from:
            continue  # backlog: published before the page was watching
        lag = flushes[cursor][1] - published
        lags.append(lag)
        if event["seq"] in received:
            receive_lags.append(received[event["seq"]] - published)
        worst.append((lag, event["seq"], event["type"]))
    worst.sort(reverse=True)
    return {
        "exit_status": exit_status, "events": len(events), "rate": len(test_events) / span_s,
        "span_s": span_s, "flushes": len(flushes), "frames": stats["frames"],
        "median": statistics.median(lags), "p95": percentile(lags, 0.95),
        "p99": percentile(lags, 0.99), "max": max(lags),
        "over_1s": sum(1 for lag in lags if lag > 1000), "measured": len(lags),
        "received_median": statistics.median(receive_lags),
        "received_p99": percentile(receive_lags, 0.99), "received_max": max(receive_lags),
        "worst": worst[:3], "flush_median_ms": statistics.median(flush_ms),
        "flush_max_ms": max(flush_ms),
        "busy": sum(flush_ms) / (flushes[-1][1] - flushes[0][1] or 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=3000)
    parser.add_argument("--steps", type=int, default=5, help="user steps per test")
    parser.add_argument("--rate", type=float, default=2000, help="events a second to pace to")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    per_test = events_per_test(args.steps)
    print(f"{args.tests} tests of {per_test} events, paced to {args.rate:g} events/s "
          f"({args.rate / per_test:.0f} tests/s); load average {os.getloadavg()[0]:.1f}")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for index in range(args.runs):
            result = one_run(args.tests, args.steps, args.rate, Path(tmp), index)
            results.append(result)
            print(f"  run {index + 1}: {result['events']} events in {result['span_s']:.1f} s "
                  f"= {result['rate']:.0f} events/s; page applied them in {result['flushes']} "
                  f"frames ({result['frames']} socket frames; applying and rendering took "
                  f"{result['flush_median_ms']:.1f} ms a frame, at most "
                  f"{result['flush_max_ms']:.0f} ms, {100 * result['busy']:.0f}% of the time); "
                  f"lag median {result['median']:.0f} ms, p95 {result['p95']:.0f} ms, "
                  f"p99 {result['p99']:.0f} ms, "
                  f"max {result['max']:.0f} ms; {result['over_1s']} events over 1 s "
                  f"(of {result['measured']}; exit status {result['exit_status']}); "
                  f"received by the page's client: lag median {result['received_median']:.0f} "
                  f"ms, p99 {result['received_p99']:.0f} ms, max {result['received_max']:.0f} ms;"
                  " worst "
                  + ", ".join(f"{lag:.0f} ms (seq {seq} {kind})"
                              for lag, seq, kind in result["worst"]))
    median = statistics.median
    print(json.dumps({key: round(median(r[key] for r in results), 1)
                      for key in ("rate", "median", "p95", "p99", "max", "over_1s",
                                  "received_median", "received_p99", "received_max")}))


if __name__ == "__main__":
    main()
