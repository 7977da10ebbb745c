"""The plugin's share of the pytest process's time, from a profile: steady across machines.

    python benchmarks/profile_share.py [--tests 5000] [--suite mixed|trivial]

Wall-clock ratios on a shared 2-core VM drift by 10-20% between runs, more than the
few percent the plugin costs. This runs the benchmark suite once under cProfile with
``--jb-live`` (one viewer reading everything, as in overhead.py) and adds up the
cumulative time of every hook the plugin implements (each a separate entry from
pluggy; ``pytest_configure``/``pytest_unconfigure`` include the server's start and
stop). Divided by the profile's total, that is the plugin's share of pytest's work,
which does not depend on how fast the machine happens to be. cProfile inflates small
calls, and the plugin's hooks are small calls: read the share as an upper bound.
"""

from __future__ import annotations

import argparse
import os
import pstats
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from live_link import PytestOutput
from overhead import _viewer
from suite import SUITES

PACKAGE = f"{os.sep}pytest_jbrealtime{os.sep}"


def plugin_share(profile: Path) -> tuple[float, float, list[tuple[float, str]]]:
    stats = pstats.Stats(str(profile))
    total = stats.total_tt  # type: ignore[attr-defined]
    hooks: list[tuple[float, str]] = []
    for (path, line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        if PACKAGE in path and name.startswith("pytest_"):
            cumulative = row[3]
            hooks.append((cumulative, f"{Path(path).name}:{line} {name}"))
    hooks.sort(reverse=True)
    return sum(c for c, _ in hooks), total, hooks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=5000)
    parser.add_argument("--suite", choices=sorted(SUITES), default="mixed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        suite = SUITES[args.suite](Path(tmp) / "suite", args.tests)
        profile = Path(tmp) / "live.prof"
        command = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "pytest", "-q",
                   "-p", "no:randomly", str(suite), "--jb-live", "--jb-live-port", "0"]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True)
        output = PytestOutput(process)
        link = output.link()
        received: list[int] = []
        viewer = threading.Thread(target=_viewer, args=(link.host, link.token, received))
        viewer.start()
        output.wait()
        process.wait()
        viewer.join(30)
        share, total, hooks = plugin_share(profile)
    print(f"{args.tests} tests, {len(received)} events to the viewer")
    print(f"plugin hooks: {share:.2f} s of {total:.2f} s profiled = {100 * share / total:.2f}%")
    for cumulative, where in hooks[:12]:
        print(f"  {cumulative:6.3f} s  {where}")


if __name__ == "__main__":
    main()
