"""A late joiner of a finished run in headless Chromium, served by ``replay --final``.

    python benchmarks/late_joiner.py RECORDING [--rounds 3] [--profile] [--variant NAME=DIR]

``benchmarks/large_run.py`` times the same page against the live run's own server, but
a 100,000-test run takes minutes of pytest each time. Here a recording of such a run
(``pytest --jb-live-record run.jsonl``) is served by ``python -m pytest_jbrealtime
replay --final`` (the same server, log and viewer sockets) and the live page is opened
on it ``--rounds`` times, each in a fresh Chromium, timed from navigation until
``session_finished`` (the last event) is applied and painted.

``--profile`` takes a CPU profile of the page (the Chrome DevTools protocol's
``Profiler``) in the first round and prints where its time went: self time by
function, and the share of idle, garbage collection and the rest; and the server
process's CPU seconds over the round. ``--variant base=DIR`` serves the same recording
from another source tree too (``git archive main | tar -x -C DIR``), and alternates
between the two round by round.
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_link import PytestOutput

# Resolves with performance.now() at the first frame painted once the page shows the run's
# end (its exit status); large_run.py waits with it too.
WAIT_FOR_END = """
    const done = arguments[arguments.length - 1];
    const check = () => {
      const status = document.getElementById('run-status');
      if (status && status.dataset.exitStatus !== '') {
        requestAnimationFrame(() => done(performance.now()));
      } else {
        setTimeout(check, 20);
      }
    };
    check();
"""


# When the page's socket opened and its first and last frames arrived (performance.now()).
SOCKET_TIMES = """
    window.__jbSocketTimes = {open: null, first: null, last: null, frames: 0, sent: []};
    const Original = window.WebSocket;
    window.WebSocket = class extends Original {
      constructor(...args) {
        super(...args);
        const times = window.__jbSocketTimes;
        this.addEventListener('open', () => { times.open = performance.now(); });
        const send = this.send.bind(this);
        this.send = (data) => {
          times.sent.push([performance.now(), String(data).slice(0, 40)]);
          send(data);
        };
        this.addEventListener('message', () => {
          const now = performance.now();
          if (times.first === null) times.first = now;
          times.last = now;
          times.frames += 1;
        });
      }
    };
"""


def make_driver(profile: str) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--window-size=1440,900", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"),
                            options=options)


def summarize(profile: dict[str, Any], top: int = 25) -> None:
    """Self time by function (name, file:line) and by kind, from a CDP profile."""
    nodes = {node["id"]: node for node in profile["nodes"]}
    deltas = profile["timeDeltas"]
    self_us: collections.Counter[int] = collections.Counter()
    for sample, delta in zip(profile["samples"], [*deltas[1:], 0], strict=True):
        self_us[sample] += delta
    total = sum(self_us.values()) or 1
    by_function: collections.Counter[str] = collections.Counter()
    by_kind: collections.Counter[str] = collections.Counter()
    for node_id, micros in self_us.items():
        frame = nodes[node_id]["callFrame"]
        name = frame["functionName"] or "(anonymous)"
        url = frame["url"].rsplit("/", 1)[-1]
        where = f"{url}:{frame['lineNumber'] + 1}" if url else ""
        by_function[f"{name} {where}".strip()] += micros
        if name in ("(idle)", "(garbage collector)", "(program)"):
            by_kind[name] += micros
        else:
            by_kind["script" if url else "native"] += micros
    print(f"  profile: {total / 1e6:.2f} s sampled")
    # Per half second: where the page's main thread was (idle: waiting for frames).
    buckets: dict[int, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    at = 0
    for sample, delta in zip(profile["samples"], [*deltas[1:], 0], strict=True):
        at += delta
        name = nodes[sample]["callFrame"]["functionName"]
        kind = name if name in ("(idle)", "(garbage collector)", "(program)") else "script"
        buckets[at // 500_000][kind] += delta
    for bucket in sorted(buckets):
        shares = buckets[bucket]
        print(f"    {bucket / 2:4.1f} s: " + ", ".join(
            f"{kind.strip('()')} {micros / 1000:3.0f}" for kind, micros in sorted(shares.items())))
    for kind, micros in by_kind.most_common():
        print(f"    {kind:24s} {micros / 1e6:6.2f} s {100 * micros / total:5.1f}%")
    for name, micros in by_function.most_common(top):
        print(f"    {micros / 1e6:6.2f} s {100 * micros / total:5.1f}%  {name}")
    # Inclusive time of the page's own entry points: parsing frames, applying them,
    # feeding the panels, rendering.
    parent = {child: node["id"] for node in profile["nodes"]
              for child in node.get("children", ())}
    inclusive: collections.Counter[str] = collections.Counter()
    for node_id, micros in self_us.items():
        seen = set()
        current: int | None = node_id
        while current is not None:
            frame = nodes[current]["callFrame"]
            name = f"{frame['functionName']} {frame['url'].rsplit('/', 1)[-1]}"
            if name not in seen:
                seen.add(name)
                inclusive[name] += micros
            current = parent.get(current)
    print("  inclusive:")
    for name, micros in inclusive.most_common(top + 10):
        print(f"    {micros / 1e6:6.2f} s {100 * micros / total:5.1f}%  {name}")


def one_round(link: str, server: psutil.Process, work: Path, index: int,
              profile: bool, name: str = "") -> float:
    driver = make_driver(str(work / f"chromium-{index}"))
    try:
        driver.set_script_timeout(300)
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": SOCKET_TIMES})
        if profile:
            driver.execute_cdp_cmd("Profiler.enable", {})
            driver.execute_cdp_cmd("Profiler.setSamplingInterval", {"interval": 200})
            driver.execute_cdp_cmd("Profiler.start", {})
        cpu_before = sum(server.cpu_times()[:2])
        driver.get(link)
        elapsed = float(driver.execute_async_script(WAIT_FOR_END)) / 1000
        cpu_server = sum(server.cpu_times()[:2]) - cpu_before
        shown = driver.execute_script(
            "return document.getElementById('progress').getAttribute('aria-valuenow')")
        stats = driver.execute_script("return window.__jbLive.client.stats")
        errors = driver.execute_script("return window.__jbLive.store.seqErrors")
        if str(shown) != "100" or errors:
            raise RuntimeError(f"progress {shown}, seq errors {errors}")
        times = driver.execute_script("return window.__jbSocketTimes")
        print(f"  {name} {elapsed:.2f} s, {stats['events']} events in "
              f"{stats['frames']} frames, server CPU {cpu_server:.2f} s, "
              f"load {os.getloadavg()[0]:.1f}; socket open at {times['open'] / 1000:.2f} s, "
              f"first frame {times['first'] / 1000:.2f} s, last {times['last'] / 1000:.2f} s")
        if profile:
            summarize(driver.execute_cdp_cmd("Profiler.stop", {})["profile"])
        return elapsed
    finally:
        driver.quit()


def start_server(recording: Path, checkout: Path | None) -> tuple[subprocess.Popen[str], str]:
    """``replay --final`` of the recording, from ``checkout`` (a source tree) if given."""
    env = dict(os.environ)
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout.resolve())
    # From the checkout's folder: `python -m` puts the working directory first on the
    # path, before PYTHONPATH (run from this checkout, it would import this one).
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest_jbrealtime", "replay", str(recording.resolve()),
         "--final", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env=env, cwd=checkout)
    link = PytestOutput(process).link(300).url
    server = psutil.Process(process.pid)
    # The log is fed at once after the link; wait until the server is idle.
    while server.cpu_percent(0.5) > 20:
        pass
    return process, link


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recording", type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=DIR",
                        help="also serve from this source tree (e.g. `git archive main`), "
                             "alternating with this checkout round by round")
    args = parser.parse_args()

    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}; {args.recording.name}")
    variants: list[tuple[str, Path | None]] = [("this checkout", None)]
    for text in args.variant:
        name, _, folder = text.partition("=")
        variants.append((name, Path(folder)))
    servers: list[subprocess.Popen[str]] = []
    try:
        links = []
        for _, checkout in variants:
            process, link = start_server(args.recording, checkout)
            servers.append(process)
            links.append(link)
        times: dict[str, list[float]] = {name: [] for name, _ in variants}
        with tempfile.TemporaryDirectory() as folder:
            for index in range(args.rounds):
                # Alternating order, so that neither is always first on a machine whose
                # load drifts.
                order = list(range(len(variants)))
                if index % 2:
                    order.reverse()
                for which in order:
                    name = variants[which][0]
                    times[name].append(one_round(
                        links[which], psutil.Process(servers[which].pid), Path(folder),
                        index * len(variants) + which, args.profile and index == 0, name))
        for name, seconds in times.items():
            print(f"{name}: median {statistics.median(seconds):.2f} s "
                  f"(min {min(seconds):.2f}, max {max(seconds):.2f}, {len(seconds)} rounds)")
    finally:
        for process in servers:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
