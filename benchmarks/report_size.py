"""The HTML report against pytest-html: file size and time to open, on the same suite.

Generates the benchmark suite (``benchmarks/suite.py``: 5,000 tests with failures,
skips and captured output), runs it once with ``--jb-live-report`` and once with
pytest-html's ``--html … --self-contained-html``, then opens each file from
``file://`` in headless Chromium, alternating A/B, and reports medians:

- size: bytes on disk;
- ready: navigation start until the page is usable. Ours: the viewer's own
  ``readyAt`` (every event applied and the first frame painted). pytest-html's:
  the first poll (every 10 ms) that finds all result rows in its table.

Run: ``python benchmarks/report_size.py [--tests 5000] [--runs 5] [--skip-pytest-html]``.
``--synthetic 20000`` skips pytest and builds our report from a generated recording of
that many tests (``viewer_render.generate_recording``), to time large runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from suite import write_suite

CHROME_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--window-size=1400,900",
)


def run_pytest(suite: Path, *args: str) -> tuple[float, int]:
    """Seconds the run took, and how many tests it reported."""
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", *args],
                          cwd=suite, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    summary = [line for line in done.stdout.splitlines()
               if re.search(r"\d+ (?:passed|failed)", line) and not line.startswith("jb-live")]
    counts = re.findall(r"(\d+) (?:passed|failed|skipped)", summary[-1] if summary else "")
    return took, sum(int(n) for n in counts)


def new_driver() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (*CHROME_FLAGS, f"--user-data-dir={tempfile.mkdtemp(prefix='jb-bench-')}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"),
                            options=options)


def open_ours(driver: Any, path: Path, timeout: float = 120) -> float:
    driver.get(path.as_uri())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = driver.execute_script(
            "return window.__jbLive && window.__jbLive.readyAt")
        if ready:
            return float(ready) / 1000
        time.sleep(0.01)
    raise TimeoutError(f"{path} did not become ready in {timeout} s")


def open_pytest_html(driver: Any, path: Path, tests: int, timeout: float = 300) -> float:
    driver.get(path.as_uri())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = driver.execute_script(
            "return document.querySelectorAll('#results-table tbody.results-table-row')"
            ".length >= arguments[0] ? performance.now() : null", tests)
        if now:
            return float(now) / 1000
        time.sleep(0.01)
    raise TimeoutError(f"{path} did not show {tests} rows in {timeout} s")


def synthetic_report(tests: int, work: Path) -> float:
    """Write ours.html from a generated recording; the seconds the report build took."""
    import json

    from viewer_render import generate_recording

    from pytest_jbrealtime.shared.recording import FORMAT_NAME
    from pytest_jbrealtime.tools.report import write_report

    events = generate_recording(tests)
    recording = work / "synthetic.jsonl"
    header = {"format": FORMAT_NAME, "version": 1, "run_id": events[0]["run_id"]}
    with open(recording, "w", encoding="utf-8") as out:
        for item in (header, *events):
            out.write(json.dumps(item, separators=(",", ":")) + "\n")
    started = time.perf_counter()
    write_report(recording, work / "ours.html")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-pytest-html", action="store_true")
    parser.add_argument("--synthetic", type=int, default=0, metavar="N",
                        help="time our report of a generated N-test recording instead")
    parser.add_argument("--keep", type=Path, default=None, help="keep the files in this folder")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="jb-report-bench-"))
    ours = work / "ours.html"
    theirs = work / "pytest-html.html"
    if args.synthetic:
        tests = args.synthetic
        args.skip_pytest_html = True
        took_ours = synthetic_report(tests, work)
        print(f"report of a generated {tests}-test recording: built in {took_ours:.2f} s, "
              f"{ours.stat().st_size:,} bytes")
    else:
        suite = write_suite(work / "suite", args.tests)
        took_ours, tests = run_pytest(suite, "--jb-live-port", "0", "--jb-live-report",
                                      str(ours))
        print(f"pytest --jb-live-report: {tests} tests, {took_ours:.1f} s, "
              f"{ours.stat().st_size:,} bytes")
    if not args.skip_pytest_html:
        took_theirs, _ = run_pytest(suite, "-p", "no:jbrealtime", "--html", str(theirs),
                                    "--self-contained-html")
        print(f"pytest --html --self-contained-html: {took_theirs:.1f} s, "
              f"{theirs.stat().st_size:,} bytes")

    ready_ours: list[float] = []
    ready_theirs: list[float] = []
    for _ in range(args.runs):  # alternating A/B, a fresh browser each time (cold cache)
        driver = new_driver()
        try:
            ready_ours.append(open_ours(driver, ours))
        finally:
            driver.quit()
        if not args.skip_pytest_html:
            driver = new_driver()
            try:
                ready_theirs.append(open_pytest_html(driver, theirs, tests))
            finally:
                driver.quit()

    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}")
    print(f"tests: {tests}, runs: {args.runs} (alternating, medians)")
    print("| report | size | ready (median) | ready (min-max) |")
    print("|---|---|---|---|")
    print(f"| --jb-live-report | {ours.stat().st_size / 1024:,.0f} KiB | "
          f"{statistics.median(ready_ours):.2f} s | "
          f"{min(ready_ours):.2f}-{max(ready_ours):.2f} s |")
    if ready_theirs:
        print(f"| pytest-html --self-contained-html | {theirs.stat().st_size / 1024:,.0f} KiB | "
              f"{statistics.median(ready_theirs):.2f} s | "
              f"{min(ready_theirs):.2f}-{max(ready_theirs):.2f} s |")
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        for file in (ours, theirs):
            if file.exists():
                shutil.copy(file, args.keep / file.name)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
