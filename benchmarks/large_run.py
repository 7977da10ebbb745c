"""A very large live run: the server's memory, the frames a reader gets, a late joiner.

    python benchmarks/large_run.py [--tests 100000] [--no-browser]

Runs ``--tests`` trivial tests (one parametrized function) with ``--jb-live``, one
WebSocket reader connected from the start (``--jb-live-wait-viewers 1``) that reads
every frame, and ``--jb-live-linger`` so the finished run stays served. It reports:

- the server process's resident memory when the run has finished, and its peak
  (``VmHWM`` in /proc), and pytest's wall and CPU time (the run, not the plugin's share);
- the reader: events and frames received, the largest frame in bytes, how it ended
  (a reading viewer must never be closed as slow);
- a late joiner in headless Chromium (Debian's chromium and chromedriver): the live
  page opened on the finished run, timed from navigation until it has applied the
  last event (``run-status`` carries the exit status only once ``session_finished``,
  the last event, is applied) and painted.

Issue 21's goals: no frame over 1 MiB, the reader never closed, the server's memory at
most 300 MB at 100,000 tests, the late joiner shown everything within 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from late_joiner import WAIT_FOR_END
from live_link import read_live_link

MIB = 1024 * 1024


def write_suite(directory: Path, tests: int) -> None:
    (directory / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    (directory / "test_tiny.py").write_text(
        "import pytest\n\n"
        f"@pytest.mark.parametrize('n', range({tests}))\n"
        "def test_tiny(n):\n    pass\n"
    )


def peak_and_current_rss(pid: int) -> tuple[float, float]:
    """(VmHWM, VmRSS) of a process in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            fields[name] = int(value.split()[0]) / 1024
    return fields["VmHWM"], fields["VmRSS"]


def server_process(pytest_pid: int) -> psutil.Process:
    for child in psutil.Process(pytest_pid).children(recursive=True):
        if "pytest_jbrealtime" in " ".join(child.cmdline()):
            return child
    raise RuntimeError("no server process found under pytest")


async def read_all(url: str) -> dict[str, Any]:
    events = frames = largest = 0
    close_code: int | None = None
    async with websockets.connect(url, max_size=None, compression=None) as socket:
        try:
            async for frame in socket:
                frames += 1
                largest = max(largest, len(frame))
                message = json.loads(frame)
                batch = (message["messages"] if message.get("type") == "batch"
                         else [message])
                for event in batch:
                    if "seq" in event:
                        events += 1
                        if event["type"] == "session_finished":
                            return {"events": events, "frames": frames, "largest": largest,
                                    "closed": None}
        except websockets.ConnectionClosed as closed:
            close_code = closed.rcvd.code if closed.rcvd else None
    return {"events": events, "frames": frames, "largest": largest, "closed": close_code}


def late_joiner_seconds(link: str) -> float:
    """Open the finished run's page in headless Chromium; seconds until all is applied."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    with tempfile.TemporaryDirectory() as profile:
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--no-first-run", "--window-size=1440,900",
                     f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"),
                                  options=options)
        try:
            driver.set_script_timeout(120)
            driver.get(link)
            # From the navigation's start (performance.now() is 0 there) to the first
            # frame painted after session_finished was applied.
            elapsed_ms = driver.execute_async_script(WAIT_FOR_END)
            shown = driver.execute_script(
                "return document.getElementById('progress').getAttribute('aria-valuenow')")
            if str(shown) != "100":
                raise RuntimeError(f"the late joiner's progress is {shown}, not 100")
            return float(elapsed_ms) / 1000
        finally:
            driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=100_000)
    parser.add_argument("--no-browser", action="store_true", help="skip the late joiner")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        write_suite(directory, args.tests)
        env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
        env["PYTHONUNBUFFERED"] = "1"
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "--jb-live",
             "--jb-live-port", "0", "--jb-live-wait-viewers", "1", "--jb-live-linger", "600"],
            cwd=directory, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        link = read_live_link(process)
        reader = asyncio.run(read_all(f"ws://{link.host}/ws/reader?token={link.token}"))
        run_seconds = time.monotonic() - started
        pytest_cpu = psutil.Process(process.pid).cpu_times()
        server = server_process(process.pid)
        time.sleep(1)  # the server has handed out its last frames
        peak, current = peak_and_current_rss(server.pid)
        late_started = time.monotonic()
        late_reader = asyncio.run(
            read_all(f"ws://{link.host}/ws/late-reader?token={link.token}"))
        late_reader_seconds = time.monotonic() - late_started
        late = None if args.no_browser else late_joiner_seconds(link.url)
        peak_after_late, _ = peak_and_current_rss(server.pid)
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()

    load = os.getloadavg()[0]
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {load:.1f}")
    print(f"tests: {args.tests}, pytest wall {run_seconds:.1f} s (to session_finished), "
          f"pytest CPU {pytest_cpu.user + pytest_cpu.system:.1f} s")
    print(f"reader: {reader['events']} events in {reader['frames']} frames, largest "
          f"{reader['largest'] / 1024:.0f} KiB ({reader['largest'] / MIB:.2f} MiB), "
          f"closed: {reader['closed'] or 'no'}")
    print(f"server RSS after the run: {current:.0f} MiB, peak {peak:.0f} MiB"
          + (f" (peak {peak_after_late:.0f} MiB with the late joiner)" if late else ""))
    print(f"late joiner in Python (websockets, every frame parsed): "
          f"{late_reader['events']} events in {late_reader_seconds:.2f} s")
    if late is not None:
        print(f"late joiner in headless Chromium: everything applied and painted "
              f"{late:.2f} s after navigation")


if __name__ == "__main__":
    main()
