"""What the plugin adds to the pytest process, in instructions: exact on a noisy machine.

    python benchmarks/instructions.py [--tests 100,300] [--compare plain,live]

Wall and CPU seconds on a shared 2-core machine scatter by more than the plugin costs
per test. valgrind's callgrind counts the instructions the pytest process executes
(not its children: the server process is left out, as it runs beside pytest), which
repeat to the instruction whatever else runs. Runs N trivial tests plain and with
``--jb-live`` (no viewer: what pytest's own thread does does not depend on one), at
two suite sizes: the slope between them is the cost per test (and per event, counted
from the live run's recording), free of what a run costs once (starting the server).
``--compare plain,hooks`` counts what the plugin's per-test hooks cost with nothing in
them (empty_hooks.py: pluggy's dispatch alone), ``--compare plain,reportlog`` what
pytest-reportlog adds. ``--compare live-bare,live`` measures instead what issue 18's
parts (stack responder, last words, per-test resources; benchmarks/bare_live.py) add to
the live plugin.
``--steady`` holds still what moves the counts between runs of one version (the
garbage collector, the time-based hand-off; steady_counts.py).
``--main-thread`` counts pytest's main thread alone (callgrind's ``--separate-threads``):
the plugin's threads (the flush timer, the pipe's writer) run beside pytest's work.
valgrind runs some 50x slower than the machine, so a time-based hand-off (the
flush timer's 20 ms) fires some 50x more often per test than it does outside it: the
whole-process count overstates it, the main thread's does not include it.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from suite import write_trivial_suite

TOTAL = re.compile(r"Collected\s*:\s*(\d+)")


THREAD_TOTAL = re.compile(r"^totals:\s*(\d+)", re.MULTILINE)
# A passed test's events (started, three phases, completed): the per-event figure of a
# variant that publishes none.
EVENTS_PER_TRIVIAL_TEST = 5


def instructions(
    suite: Path, out: Path, variant: str, main_thread: bool = False, steady: bool = False
) -> int:
    counts = out / f"{variant}.out"
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={counts}",
               *(["--separate-threads=yes"] if main_thread else []),
               sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", str(suite)]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("JB_LIVE", None)
    if variant.startswith("live"):
        command += ["--jb-live", "--jb-live-port", "0",
                    "--jb-live-record", str(out / f"{variant}.jsonl")]
    else:
        command += ["-p", "no:jbrealtime"]
    if variant == "live-bare":
        command += ["-p", "bare_live", "--jb-live-stall-after", "off"]
    if variant == "hooks":  # the per-test hooks alone, empty (empty_hooks.py)
        command += ["-p", "empty_hooks"]
    if variant == "reportlog":  # pytest-reportlog writing its file (installed separately)
        command += ["--report-log", str(out / "reportlog.jsonl")]
    if steady:  # both variants: the collector off, no time-based hand-off
        command += ["-p", "steady_counts"]
    if variant in ("live-bare", "hooks") or steady:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(Path(__file__).resolve().parent), env.get("PYTHONPATH")) if p)
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if main_thread:  # thread 1's own file: pytest's thread, without the plugin's threads
        match = THREAD_TOTAL.search(Path(f"{counts}-01").read_text())
        if match is None:
            raise SystemExit(f"no main-thread total in {counts}-01")
        return int(match.group(1))
    match = TOTAL.search(result.stderr)
    if match is None:
        raise SystemExit(f"no callgrind total:\n{result.stderr[-2000:]}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", default="100,300")
    parser.add_argument("--compare", default="plain,live",
                        help="A,B: plain, live, live-bare, hooks or reportlog (B's cost over A's)")
    parser.add_argument("--main-thread", action="store_true",
                        help="count pytest's main thread only (--separate-threads=yes)")
    parser.add_argument("--steady", action="store_true",
                        help="counts that repeat between runs: the garbage collector off and "
                             "no time-based hand-off, in both variants (steady_counts.py)")
    args = parser.parse_args()
    small, large = (int(n) for n in args.tests.split(","))
    base, measured = args.compare.split(",")
    rows: dict[int, tuple[int, int, int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for tests in (small, large):
            out = Path(tmp) / str(tests)
            out.mkdir()
            suite = write_trivial_suite(out / "suite", tests)
            plain = instructions(suite, out, base, args.main_thread, args.steady)
            live = instructions(suite, out, measured, args.main_thread, args.steady)
            events = tests * EVENTS_PER_TRIVIAL_TEST  # without a recording (hooks, reportlog)
            if measured.startswith("live"):
                with (out / f"{measured}.jsonl").open(encoding="utf-8") as recording:
                    events = sum(1 for line in recording if '"seq"' in line)
            rows[tests] = (plain, live, events)
            print(f"{tests} tests: {base} {plain:,} instructions, {measured} {live:,} "
                  f"(+{100 * (live - plain) / plain:.2f}%), {events} events", flush=True)
    (plain_s, live_s, events_s), (plain_l, live_l, events_l) = rows[small], rows[large]
    per_test_plain = (plain_l - plain_s) / (large - small)
    per_test_added = ((live_l - plain_l) - (live_s - plain_s)) / (large - small)
    per_event_added = ((live_l - plain_l) - (live_s - plain_s)) / (events_l - events_s)
    print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
          f"Python {platform.python_version()}, trivial tests, slope {small} -> {large}")
    print(f"a trivial test costs {base} {per_test_plain:,.0f} instructions; {measured} adds "
          f"{per_test_added:,.0f} ({100 * per_test_added / per_test_plain:.1f}%), "
          f"{per_event_added:,.0f} instructions an event")


if __name__ == "__main__":
    main()
