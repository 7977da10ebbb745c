"""The viewer replaying an embedded recording (the HTML report case), and the module rules
that let the report inline the viewer's modules into one script."""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver import Chrome

from tests.browser.suites import MIXED_SUITE
from tests.browser.viewer_page import ViewerPage
from tests.support import LiveProcess, watch_sync

IMPORT_LINE = re.compile(r"^import \{ [\w, ]+ \} from '\./([\w-]+\.js)';$")
TOP_LEVEL_NAME = re.compile(r"^(?:export )?(?:async )?(?:function\*?|const|let|var|class) (\w+)")


def viewer_modules(viewer_dir: Path) -> list[str]:
    return list(json.loads((viewer_dir / "modules.json").read_text(encoding="utf-8")))


def test_modules_can_be_concatenated(viewer_dir: Path) -> None:
    """Imports only at the top and only of earlier modules, no default or list exports, no
    dynamic import, and no top-level name declared in two modules."""
    modules = viewer_modules(viewer_dir)
    # Every module the page loads (main.js and what it imports, transitively) is listed; other
    # pages' scripts in viewer/ (hub.js for hub.html) are not the report's business.
    entry = re.search(r'<script type="module" src="\./([\w-]+\.js)">',
                      (viewer_dir / "index.html").read_text(encoding="utf-8"))
    assert entry, "index.html loads no module"
    loaded, pending = set(), [entry.group(1)]
    while pending:
        module = pending.pop()
        if module not in loaded:
            loaded.add(module)
            source = (viewer_dir / module).read_text(encoding="utf-8")
            pending += re.findall(r"^import .* from '\./([\w-]+\.js)';$", source, re.M)
    assert sorted(modules) == sorted(loaded)
    declared: dict[str, str] = {}
    for position, module in enumerate(modules):
        source = (viewer_dir / module).read_text(encoding="utf-8")
        assert "export default" not in source, module
        assert not re.search(r"^export \{", source, re.M), module
        assert not re.search(r"\bimport\(", source), module
        for line in source.splitlines():
            if line.startswith("import"):
                match = IMPORT_LINE.match(line)
                assert match, f"{module}: {line!r} is not a one-line named import"
                assert match.group(1) in modules[:position], f"{module} imports a later module"
            name = TOP_LEVEL_NAME.match(line)
            if name:
                assert name.group(1) not in declared, (
                    f"{name.group(1)} declared in {declared.get(name.group(1))} and {module}")
                declared[name.group(1)] = module


def recording_block(events: list[dict[str, Any]], *, compress: bool) -> str:
    text = json.dumps(events)
    if compress:
        data = base64.b64encode(gzip.compress(text.encode())).decode()
        text = json.dumps({"encoding": "gzip+base64", "data": data})
    # `</script>` inside the JSON would end the element; `<\/` is the same JSON string.
    return ('<script type="application/json" id="jb-live-recording">'
            + text.replace("</", "<\\/") + "</script>")


def single_file_page(viewer_dir: Path, block: str) -> str:
    """The viewer as one file, the way the report inlines it: CSS in <style>, the modules
    in dependency order with their import lines dropped, in one module script."""
    script = "\n".join(
        line
        for module in viewer_modules(viewer_dir)
        for line in (viewer_dir / module).read_text(encoding="utf-8").splitlines()
        if not line.startswith("import ")
    )
    html = (viewer_dir / "index.html").read_text(encoding="utf-8")
    html = re.sub(r'<link rel="stylesheet"[^>]*>',
                  lambda _m: "<style>" + (viewer_dir / "style.css").read_text() + "</style>", html)
    html = re.sub(r'<script type="module" src="[^"]*"></script>',
                  lambda _m: '<script type="module">' + script.replace("</", "<\\/") + "</script>",
                  html)
    return html.replace("</body>", block + "\n</body>")


@pytest.fixture
def recorded_run(suite_dir: pytest.Pytester, start_live: Callable[..., LiveProcess]) -> list[Any]:
    """The events a real WebSocket viewer received from a real run of the mixed suite."""
    suite_dir.makepyfile(test_mixed=MIXED_SUITE)
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1")
    watched = watch_sync(run.ws_url())
    assert run.wait() == 1
    return watched.events


def assert_shows_mixed_run(page: ViewerPage) -> None:
    page.wait_finished()
    assert page.counts() == {"passed": 3, "failed": 2, "error": 1, "skipped": 1, "xfailed": 1,
                             "xpassed": 1, "running": 0, "queued": 0, "total": 9}
    assert page.run_status() == ("finished", "1")
    assert page.connection_state() == "recording"
    assert page.statuses()["test_mixed.py::test_error"] == "error"
    # A recording is history: no toasts for its failures.
    assert page.find_all("toast") == []


@pytest.mark.browser
@pytest.mark.parametrize("compress", [False, True], ids=["json", "gzip+base64"])
def test_served_page_replays_embedded_recording(
    recorded_run: list[Any], compress: bool, viewer_dir: Path, tmp_path: Path,
    serve_dir: Callable[[Path], str], driver: Chrome,
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    for path in viewer_dir.iterdir():
        (site / path.name).write_bytes(path.read_bytes())
    page_html = (viewer_dir / "index.html").read_text(encoding="utf-8")
    block = recording_block(recorded_run, compress=compress)
    (site / "index.html").write_text(page_html.replace("</body>", block + "\n</body>"))
    page = ViewerPage(driver).open(serve_dir(site))
    assert_shows_mixed_run(page)
    assert page.csp_violations() == []


@pytest.mark.browser
def test_single_file_report_works_from_file_url(
    recorded_run: list[Any], viewer_dir: Path, tmp_path: Path, driver: Chrome
) -> None:
    report = tmp_path / "report.html"
    report.write_text(single_file_page(viewer_dir, recording_block(recorded_run, compress=True)))
    page = ViewerPage(driver).open(report.as_uri())
    assert_shows_mixed_run(page)
    page.find("jump-first-failure").click()
    page.wait_for(lambda: "assert 1 == 2" in page.text("traceback"))


def recorded_event(seq: int, event_type: str, **fields: Any) -> dict[str, Any]:
    return {"type": event_type, "seq": seq, "run_id": "a" * 32,
            "timestamp": f"2026-11-30T07:30:00.{seq:03d}Z", "worker": "main", **fields}


@pytest.mark.browser
def test_recording_with_markup_in_a_closing_tag_stays_text(
    viewer_dir: Path, tmp_path: Path, driver: Chrome
) -> None:
    """`</script>` in test output must neither end the recording block nor become markup."""
    nasty = "</script><script>window.__owned = 1</script><img src=x>"
    test_id = f"t.py::test_x[{nasty}]"
    events = [
        recorded_event(1, "session_started", args=[], rootdir="/p",
                       start_time="2026-11-30T07:30:00.000Z"),
        recorded_event(2, "collection_finished", total=1, errors=[], tests=[
            {"test_id": test_id, "file": "t.py", "cls": None, "name": f"test_x[{nasty}]",
             "markers": []}]),
        recorded_event(3, "test_completed", test_id=test_id, result="failed", duration=0.1,
                       summary=nasty, longrepr=nasty, phases={"call": "failed"}, subtests=[],
                       sections=[{"name": "Captured stdout call", "content": nasty}]),
    ]
    report = tmp_path / "report.html"
    report.write_text(single_file_page(viewer_dir, recording_block(events, compress=False)))
    page = ViewerPage(driver).open(report.as_uri())
    page.find("jump-first-failure").click()
    page.wait_for(lambda: page.text("traceback") == nasty)
    assert driver.execute_script("return window.__owned") is None
    assert driver.find_elements("css selector", "img") == []
    assert page.text("detail-name") == f"test_x[{nasty}]"
