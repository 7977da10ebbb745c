"""How long the viewer takes to render a finished 20,000-test run, in headless Chromium.

Generates a recording (events as docs/protocol.md defines them), embeds it in the viewer page
the way the HTML report does (a ``jb-live-recording`` JSON block), serves it from 127.0.0.1
with the server's Content-Security-Policy, and measures, over fresh page loads:

- ready: navigation start until the page has applied every event and painted (the viewer sets
  ``data-ready`` on <html> after the first frame following the render);
- filter: switching the status filter to "failures" and back, until both lists are built;
- search: typing a query into the search box, until the list is rebuilt;
- scroll: jumping to the end of the list and back, until the rows there are rendered;
- find (search.js): `status:failed`; a word looked for in every test's failure text and output
  the first time (each test's haystack built) and again; sorting by duration and back; the
  worker timeline's and the slowest view's draws;
- scrub: the timeline scrubber moved from the end to the middle of the run (a fresh store fed
  the first half of the events, the page rebuilt), on to three quarters (only the events in
  between applied), back to a quarter (a rebuild again), and back to the end.

Run: ``python benchmarks/viewer_render.py [--tests 20000] [--runs 5] [--gzip]``.
"""

from __future__ import annotations

import argparse
import base64
import functools
import gzip
import http.server
import json
import os
import random
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

VIEWER_DIR = Path(__file__).resolve().parent.parent / "viewer"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self' ws: wss:"
)
RESULTS = ["passed"] * 90 + ["failed"] * 3 + ["skipped"] * 4 + ["xfailed", "xpassed", "error"]


def generate_recording(n_tests: int, seed: int = 1) -> list[dict[str, Any]]:
    """A finished serial run of ``n_tests`` tests, as the protocol's event log."""
    rng = random.Random(seed)
    run_id = uuid.UUID(int=rng.getrandbits(128)).hex
    clock = datetime(2026, 11, 30, 7, 30, tzinfo=timezone.utc)
    events: list[dict[str, Any]] = []

    def emit(event_type: str, **fields: Any) -> None:
        stamp = clock.strftime("%Y-%m-%dT%H:%M:%S.") + f"{clock.microsecond // 1000:03d}Z"
        base = {"type": event_type, "seq": len(events) + 1, "run_id": run_id}
        events.append({**base, "timestamp": stamp, "worker": "main", **fields})

    tests = list(_collected_tests(n_tests))
    emit(
        "session_started",
        args=["-q", "tests/"],
        rootdir="/src/shop",
        start_time="2026-11-30T07:30:00.000Z",
        host="ci-runner-7",
        pid=4242,
        versions={"python": "3.11.7", "pytest": "9.0.3", "pytest_jbrealtime": "0.1.0"},
    )
    emit("collection_finished", total=len(tests), tests=tests, errors=[])
    counts = dict.fromkeys(["passed", "failed", "error", "skipped", "xfailed", "xpassed"], 0)
    for test in tests:
        test_id = test["test_id"]
        result = rng.choice(RESULTS)
        duration = round(rng.expovariate(1 / 0.02), 4)
        emit("test_started", test_id=test_id, test_name=test["name"], file=test["file"],
             estimated_duration=round(duration * rng.uniform(0.8, 1.2), 4))
        for index, step in enumerate(["setup", "call", "teardown"], start=1):
            emit("test_progress", test_id=test_id, step_index=index, step_name=step,
                 progress_percentage=round(100 * (index - 1) / 3, 1), status="running")
            clock += timedelta(seconds=duration / 3)
        failing = result in ("failed", "error")
        emit(
            "test_completed",
            test_id=test_id,
            result=result,
            duration=duration,
            summary="AssertionError: assert 41 == 42" if failing else "",
            longrepr=_traceback(test["name"]) if failing else None,
            sections=[{"name": "Captured stdout call", "content": "checking the cart\n" * 3}]
            if failing
            else [],
            phases={"setup": "passed", "call": result, "teardown": "passed"},
            subtests=[],
        )
        counts[result] += 1
    emit("session_finished", exit_status=1 if counts["failed"] or counts["error"] else 0,
         duration=(clock - datetime(2026, 11, 30, 7, 30, tzinfo=timezone.utc)).total_seconds(),
         total=len(tests), counts={**counts, "subtests passed": 0, "subtests failed": 0})
    return events


def _collected_tests(n_tests: int) -> Iterator[dict[str, Any]]:
    per_file = 100
    for index in range(n_tests):
        module = f"tests/area_{index // 2000:02d}/test_feature_{index // per_file:04d}.py"
        cls = f"TestCase{(index // 25) % 4}" if index % per_file >= 50 else None
        name = f"test_behaviour_{index % 25:02d}[case-{index}]"
        parts = [module, cls, name] if cls else [module, name]
        yield {"test_id": "::".join(parts), "file": module, "cls": cls, "name": name,
               "markers": ["slow"] if index % 10 == 0 else []}


def _traceback(name: str) -> str:
    return (
        f"    def {name.split('[')[0]}(cart):\n"
        "        cart.add('apple', 2)\n"
        ">       assert cart.total() == 42\n"
        "E       assert 41 == 42\n"
        "E        +  where 41 = <Cart items=1>.total()\n\n"
        "tests/test_cart.py:17: AssertionError"
    )


def embed_recording(events: list[dict[str, Any]], *, compress: bool) -> str:
    """The viewer's index.html with the recording in a ``jb-live-recording`` block."""
    if compress:
        raw = gzip.compress(json.dumps(events, separators=(",", ":")).encode())
        payload = json.dumps({"encoding": "gzip+base64", "data": base64.b64encode(raw).decode()})
    else:
        payload = json.dumps(events, separators=(",", ":"))
    # `</` inside a script element would end it early; JSON allows the escaped form.
    block = (
        '<script type="application/json" id="jb-live-recording">'
        + payload.replace("</", "<\\/")
        + "</script>\n"
    )
    html = (VIEWER_DIR / "index.html").read_text(encoding="utf-8")
    return html.replace("</body>", block + "</body>")


class _CSPHandler(http.server.SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve(directory: Path) -> http.server.ThreadingHTTPServer:
    handler = functools.partial(_CSPHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def make_driver(user_data_dir: str) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--window-size=1440,900", f"--user-data-dir={user_data_dir}",
    ):
        options.add_argument(flag)
    service = Service(executable_path="/usr/bin/chromedriver")
    return webdriver.Chrome(service=service, options=options)


# Runs in the page: times a filter switch, a search and a scroll to the end, in milliseconds.
INTERACTION_SCRIPT = """
const view = window.__jbLive.view;
const t0 = performance.now();
view.setFilter('failures'); view.flush();
view.setFilter('all'); view.flush();
const t1 = performance.now();
const search = document.querySelector('[data-testid=search]');
search.value = 'feature_0150';
search.dispatchEvent(new Event('input'));
view.flush();
const t2 = performance.now();
const list = document.querySelector('[data-testid=test-list]');
list.scrollTop = list.scrollHeight;
view.list.render();
list.scrollTop = 0;
view.list.render();
const t3 = performance.now();
const shown = document.querySelector('[data-testid=visible-count]').textContent;
const find = (query) => {
  const t = performance.now(); view.setQuery(query); view.flush(); return performance.now() - t;
};
const status = find('status:failed');
const failedShown = document.querySelector('[data-testid=visible-count]').textContent;
const coldWord = find('zzz-in-no-test');
const warmWord = find('zzz-in-no-test-either');
find('');
const t4 = performance.now();
view.setSort('duration'); view.flush();
const t5 = performance.now();
view.setSort('order'); view.flush();
const t6 = performance.now();
view.timeline.draw();
const t7 = performance.now();
view.slowest.draw();
const t8 = performance.now();
return {filter: t1 - t0, search: t2 - t1, scroll: t3 - t2,
        shown, status, failedShown, coldWord, warmWord, sortDuration: t5 - t4, sortBack: t6 - t5,
        timeline: t7 - t6, bars: view.timeline.root.dataset.bars, slowest: t8 - t7};
"""


# Runs in the page: times timeline scrubbing (LiveView.showAt), in milliseconds.
SCRUB_SCRIPT = """
const view = window.__jbLive.view;
const last = view.liveStore.lastSeq;
const time = (action) => { const t = performance.now(); action(); return performance.now() - t; };
const middle = time(() => view.showAt(Math.round(last / 2)));
const counts = view.store.displayCounts();
const forward = time(() => view.showAt(Math.round(last * 3 / 4)));
const back = time(() => view.showAt(Math.round(last / 4)));
const end = time(() => view.showLatest());
return {middle, forward, back, end, middlePassed: counts.passed, middleQueued: counts.queued};
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--gzip", action="store_true", help="embed the recording gzip+base64")
    args = parser.parse_args()

    from selenium.webdriver.support.ui import WebDriverWait

    events = generate_recording(args.tests)
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp, "site")
        shutil.copytree(VIEWER_DIR, site)
        page = embed_recording(events, compress=args.gzip)
        (site / "index.html").write_text(page, encoding="utf-8")
        server = serve(site)
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        print(f"{args.tests} tests, {len(events)} events, page {len(page) / 1e6:.1f} MB"
              f"{' (gzip+base64)' if args.gzip else ''}")
        driver = make_driver(str(Path(tmp, "profile")))
        ready, filters, searches, scrolls, scrubs = [], [], [], [], []
        finds: list[dict[str, Any]] = []
        try:
            for run in range(args.runs):
                started = time.perf_counter()
                driver.get(url)
                WebDriverWait(driver, 60).until(
                    lambda d: d.execute_script("return document.documentElement.dataset.ready"))
                wall = (time.perf_counter() - started) * 1000
                ready.append(driver.execute_script("return window.__jbLive.readyAt"))
                total = driver.find_element("css selector", "[data-testid=count-total]").text
                assert total == str(args.tests), total
                timings = driver.execute_script(INTERACTION_SCRIPT)
                filters.append(timings["filter"])
                searches.append(timings["search"])
                scrolls.append(timings["scroll"])
                finds.append(timings)
                scrub = driver.execute_script(SCRUB_SCRIPT)
                scrubs.append(scrub)
                print(f"  run {run + 1}: ready {ready[-1]:.0f} ms (driver wall {wall:.0f} ms), "
                      f"filter {timings['filter']:.0f} ms, search {timings['search']:.0f} ms "
                      f"({timings['shown']} shown), scroll {timings['scroll']:.1f} ms; "
                      f"scrub to the middle {scrub['middle']:.0f} ms "
                      f"({scrub['middlePassed']} passed, {scrub['middleQueued']} queued), "
                      f"forward {scrub['forward']:.0f} ms, back {scrub['back']:.0f} ms, "
                      f"to the end {scrub['end']:.0f} ms")
                print(f"    find: status:failed {timings['status']:.0f} ms "
                      f"({timings['failedShown']} shown), a word in every failure and output "
                      f"{timings['coldWord']:.0f} ms cold / {timings['warmWord']:.0f} ms warm, "
                      f"sort by duration {timings['sortDuration']:.0f} ms "
                      f"(back {timings['sortBack']:.0f} ms), timeline draw "
                      f"{timings['timeline']:.0f} ms ({timings['bars']} bars), slowest "
                      f"{timings['slowest']:.1f} ms")
        finally:
            driver.quit()
            server.shutdown()
    median = statistics.median
    print(f"median of {args.runs}: ready {median(ready):.0f} ms, filter {median(filters):.0f} ms, "
          f"search {median(searches):.0f} ms, scroll {median(scrolls):.1f} ms; scrub middle "
          f"{median(s['middle'] for s in scrubs):.0f} ms, forward "
          f"{median(s['forward'] for s in scrubs):.0f} ms, back "
          f"{median(s['back'] for s in scrubs):.0f} ms, "
          f"end {median(s['end'] for s in scrubs):.0f} ms")
    print("median find: " + ", ".join(
        f"{key} {median(f[key] for f in finds):.0f} ms"
        for key in ("status", "coldWord", "warmWord", "sortDuration", "sortBack", "timeline",
                    "slowest")))


if __name__ == "__main__":
    main()
