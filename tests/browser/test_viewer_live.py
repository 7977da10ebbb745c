"""The viewer page watching real ``pytest --jb-live`` runs, in headless Chromium."""

from __future__ import annotations

import json
import os
import signal
import textwrap
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from selenium.webdriver import Chrome

from tests.browser.suites import MIXED_SUITE, pytest_outcome
from tests.browser.viewer_page import ViewerPage
from tests.support import LiveProcess, wait_until

pytestmark = pytest.mark.browser

StartLive = Callable[..., LiveProcess]


def test_counts_match_pytest_outcome(
    suite_dir: pytest.Pytester, start_live: StartLive, driver: Chrome
) -> None:
    suite_dir.makepyfile(test_mixed=MIXED_SUITE)
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1")
    page = ViewerPage(driver).open(run.wait_for_link())
    page.wait_finished()
    assert run.wait() == 1

    expected = pytest_outcome(run.output)
    assert expected == {"passed": 3, "failed": 2, "error": 1, "skipped": 1,
                        "xfailed": 1, "xpassed": 1}
    counts = page.counts()
    assert {k: counts[k] for k in expected} == expected
    assert counts["running"] == counts["queued"] == 0
    assert counts["total"] == 9
    assert page.run_status() == ("finished", "1")
    assert page.statuses()["test_mixed.py::TestGroup::test_param[3]"] == "failed"
    # The page watched from the start, so the end of the run arrived live: it gets a toast
    # (which goes away by itself: test_viewer_triage.py).
    page.wait_for(lambda: any(t.get_attribute("data-kind") in ("finished", "success")
                              for t in page.find_all("toast")))
    # The server closes with 1000 once the viewer has everything: no reconnect follows.
    page.wait_for(lambda: page.connection_state() == "disconnected")
    assert page.store_health()["connects"] == 1


# The run blocks in test_gate until the test creates the release file, so "mid-run" is a
# state the test controls rather than a race against the clock.
GATED_SUITE = textwrap.dedent(
    """
    import pathlib
    import time

    import pytest

    RELEASE = pathlib.Path(__file__).with_name("release")

    @pytest.mark.parametrize("n", range({before}))
    def test_before(n):
        time.sleep({pause})
        assert n % 7 != 6

    def test_gate():
        deadline = time.monotonic() + 60
        while not RELEASE.exists():
            assert time.monotonic() < deadline, "the test never released the gate"
            time.sleep(0.01)

    @pytest.mark.parametrize("n", range({after}))
    def test_after(n):
        time.sleep({pause})
    """
)


def write_gated_suite(
    directory: Path, before: int = 20, after: int = 20, pause: float = 0.0
) -> Path:
    (directory / "test_gated.py").write_text(
        GATED_SUITE.format(before=before, after=after, pause=pause), encoding="utf-8")
    return directory / "release"


def page_state(page: ViewerPage) -> dict[str, object]:
    return {"counts": page.counts(), "run": page.run_status(), "statuses": page.statuses()}


def test_mid_run_and_after_run_pages_agree(
    suite_dir: pytest.Pytester, start_live: StartLive, driver: Chrome
) -> None:
    release = write_gated_suite(suite_dir.path)
    run = start_live(suite_dir.path, "--jb-live-linger", "60")
    link = run.wait_for_link()

    early = ViewerPage(driver).open(link)
    early.wait_for(lambda: early.statuses().get("test_gated.py::test_gate") == "running")
    assert early.run_status()[0] == "running"
    assert early.counts()["queued"] == 20
    release.touch()
    early.wait_finished()
    # Opened after the run: the lingering server replays the whole log.
    driver.switch_to.new_window("tab")
    late = ViewerPage(driver).open(link)
    late.wait_finished()

    late_state = page_state(late)
    assert late.counts()["failed"] == 2
    assert late.counts()["passed"] == 39
    assert late.run_status() == ("finished", "1")
    driver.switch_to.window(driver.window_handles[0])
    assert page_state(early) == late_state


def test_reconnects_lose_and_duplicate_nothing(
    suite_dir: pytest.Pytester, start_live: StartLive, driver: Chrome
) -> None:
    release = write_gated_suite(suite_dir.path, before=150, after=150, pause=0.004)
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1")
    page = ViewerPage(driver).open(run.wait_for_link())

    def reconnect() -> None:
        before = page.store_health()["connects"]
        driver.execute_script("window.__jbLive.client.reconnectNow();")
        page.wait_for(lambda: page.store_health()["connects"] > before
                      and page.connection_state() == "connected")

    # Drop the connection while events stream in, while the run is held, and after it.
    page.wait_for(lambda: page.store_health()["lastSeq"] > 20)
    reconnect()
    page.wait_for(lambda: page.statuses().get("test_gated.py::test_gate") == "running")
    for _ in range(3):
        reconnect()
    release.touch()
    reconnect()
    page.wait_finished()
    assert run.wait() == 1

    health = page.store_health()
    assert health["connects"] >= 6
    assert health["resets"] == 0
    assert health["seqErrors"] == 0
    assert health["eventCount"] == health["lastSeq"] == health["finalSeq"]
    statuses = page.statuses()
    assert len(statuses) == 301
    assert set(statuses.values()) == {"passed", "failed"}
    assert page.counts()["failed"] == list(statuses.values()).count("failed") == 21


def test_server_gone_shows_reconnecting(
    suite_dir: pytest.Pytester, start_live: StartLive, driver: Chrome
) -> None:
    write_gated_suite(suite_dir.path)
    run = start_live(suite_dir.path)
    page = ViewerPage(driver).open(run.wait_for_link())
    page.wait_for(lambda: page.statuses().get("test_gated.py::test_gate") == "running")
    # Kill the server process (pytest's child) outright: the socket dies without a close
    # frame, as on a crash or a network cut, and the page must keep trying.
    pid = run.process.pid
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        os.kill(int(child), signal.SIGKILL)
    page.wait_for(lambda: page.connection_state() == "reconnecting")
    page.wait_for(lambda: "Reconnecting in" in page.text("connection-state"))
    assert page.find("reconnect-now").is_displayed()


def test_filter_search_and_jump_to_first_failure(
    suite_dir: pytest.Pytester, start_live: StartLive, driver: Chrome
) -> None:
    suite_dir.makepyfile(test_mixed=MIXED_SUITE)
    run = start_live(suite_dir.path, "--jb-live-linger", "60")
    page = ViewerPage(driver).open(run.wait_for_link())
    page.wait_finished()
    assert page.visible_count() == 9

    page.set_status_filter("failed")
    page.wait_for(lambda: page.visible_count() == 2)
    rows = page.rendered_rows()
    assert {r["status"] for r in rows} == {"failed"}
    assert {r["id"] for r in rows} == {"test_mixed.py::test_fail",
                                      "test_mixed.py::TestGroup::test_param[3]"}

    page.search("PARAM")  # case-insensitive, on the whole node id
    page.wait_for(lambda: page.visible_count() == 1)
    assert [r["id"] for r in page.rendered_rows()] == ["test_mixed.py::TestGroup::test_param[3]"]

    page.set_status_filter("all")
    page.wait_for(lambda: page.visible_count() == 3)
    page.search("")
    page.set_status_filter("xpassed")
    page.wait_for(lambda: page.visible_count() == 1)

    # Jumping clears a filter that hides the failure, selects it and shows its detail.
    page.find("jump-first-failure").click()
    page.wait_for(lambda: page.visible_count() == 9)
    detail = page.find("test-detail")
    page.wait_for(lambda: "test_fail" in page.text("detail-name"))
    assert "assert 1 == 2" in page.text("traceback")
    assert "about to fail" in detail.text
    selected = driver.find_elements("css selector", '[data-testid="test-row"].selected')
    assert [r.get_attribute("data-test-id") for r in selected] == ["test_mixed.py::test_fail"]


INJECTION = "<img src=x onerror=alert(1)>"


def test_html_in_test_data_is_shown_as_text(
    suite_dir: pytest.Pytester, start_live: StartLive, driver: Chrome
) -> None:
    suite_dir.makepyfile(test_inject=textwrap.dedent(
        f"""
        import pytest

        @pytest.mark.parametrize("markup", [{INJECTION!r}])
        def test_x(markup):
            print(markup)
            assert markup == "<b>bold</b>"
        """
    ))
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1", "--jb-live-linger", "60")
    page = ViewerPage(driver).open(run.wait_for_link())
    page.wait_finished()
    test_id = f"test_inject.py::test_x[{INJECTION}]"
    assert page.statuses() == {test_id: "failed"}

    page.find("jump-first-failure").click()
    page.wait_for(lambda: page.text("detail-name") == f"test_x[{INJECTION}]")
    rows = page.rendered_rows()
    assert [r["text"].split("\n")[0] for r in rows] == [f"test_x[{INJECTION}]"]
    assert INJECTION in page.text("traceback")
    assert INJECTION in page.find("test-detail").text
    # Failures are announced in the header's failure counter (the latest one by name).
    assert INJECTION in page.text("failure-feed")
    # Nothing became markup: no image element anywhere, no alert, no CSP violation report.
    assert driver.find_elements("css selector", "img") == []
    assert driver.execute_script("return typeof window.alert") == "function"
    assert page.csp_violations() == []


def test_events_bigger_than_a_frame_arrive_whole(
    suite_dir: pytest.Pytester, start_live: StartLive, driver: Chrome
) -> None:
    """An event over 64 Ki characters reaches a viewer as WebSocket fragments (issue 15:
    what a viewer that never reads holds stays under the write cap); the browser joins
    them into the one message, in order, with nothing lost or repeated."""
    suite_dir.makepyfile(test_big=textwrap.dedent(
        """
        import pytest

        @pytest.mark.parametrize("n", range(3))
        def test_big(n):
            print("\\u00e9" * 300000 + "end of output %d" % n)
            assert n != 1
        """
    ))
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1", "--jb-live-linger", "60")
    page = ViewerPage(driver).open(run.wait_for_link())
    page.wait_finished()
    assert page.statuses() == {f"test_big.py::test_big[{n}]": "failed" if n == 1 else "passed"
                               for n in range(3)}
    health = page.store_health()
    assert health["seqErrors"] == 0 and health["duplicates"] == 0 and health["connects"] == 1
    assert health["lastSeq"] == health["finalSeq"]
    page.find("jump-first-failure").click()
    page.wait_for(lambda: "end of output 1" in page.find("test-detail").text)


def test_a_late_joiner_of_a_large_finished_run_catches_up_and_feeds_the_panels(
    suite_dir: pytest.Pytester, start_live: StartLive, driver: Chrome
) -> None:
    """Opened on a finished run of 3,000 tests, the page renders at most every 500 ms
    until it has the log's length (views.js); at the end everything is shown, and the
    panels were fed every event once."""
    suite_dir.makepyfile(test_many=textwrap.dedent("""
        import pytest

        @pytest.mark.parametrize("n", range(3000))
        def test_n(n):
            assert n % 1000 != 999
    """))
    run = start_live(suite_dir.path, "-q", "--jb-live-linger", "120")
    link = run.wait_for_link()
    wait_until(lambda: "serving the finished run" in run.output, timeout=120)
    page = ViewerPage(driver).open(link)
    page.wait_finished(timeout=120)
    counts = page.counts()
    assert (counts["passed"], counts["failed"], counts["total"]) == (2997, 3, 3000)
    assert page.run_status() == ("finished", "1")
    health = page.store_health()
    assert health["lastSeq"] == health["finalSeq"] and health["seqErrors"] == 0
    fed = driver.execute_script("""
        const view = window.__jbLive.view;
        return {backlog: view.panelBacklog.length, catchUpTo: view.catchUpTo,
                slowest: view.slowest.tests.size};
    """)
    assert fed == {"backlog": 0, "catchUpTo": health["finalSeq"], "slowest": 3000}, fed


def test_a_new_page_pings_first_so_that_the_server_sends_at_once(
    suite_dir: pytest.Pytester, start_live: StartLive, driver: Chrome
) -> None:
    """The server holds the first event back (up to 200 ms) for a first message that
    may be a resume; a page with nothing to resume pings at once, which ends that wait
    (client.js). After a drop it resumes first, as before."""
    suite_dir.makepyfile(test_two="def test_one():\n    pass\n\n\ndef test_two():\n    pass\n")
    run = start_live(suite_dir.path, "-q", "--jb-live-linger", "60")
    link = run.wait_for_link()
    wait_until(lambda: "serving the finished run" in run.output, timeout=60)
    page = ViewerPage(driver).open(link)
    page.wait_finished()
    client_id = driver.execute_script(
        "return window.__jbLive.client.url.split('/ws/')[1].split('?')[0]")

    def frames_in() -> list[str]:
        debug = httpx.get(f"{run.http_base}/api/debug", params={"token": run.token},
                          timeout=30).json()["frames"]
        return [frame["type"] for frame in debug
                if frame["client"] == client_id and frame["direction"] == "in"]

    wait_until(lambda: len(frames_in()) >= 1)
    assert frames_in()[0] == "ping"
    health = page.store_health()
    assert health["lastSeq"] == health["finalSeq"] and health["seqErrors"] == 0
    # A reconnect resumes where the page was: resume first, no ping.
    before = len(frames_in())
    driver.execute_script("window.__jbLive.client.reconnectNow()")
    wait_until(lambda: "resume" in frames_in()[before:])
    again = [kind for kind in frames_in()[before:] if kind != "ack"]
    assert again[0] == "resume" and "ping" not in again, again
    assert page.store_health()["duplicates"] == 0


def test_a_file_of_more_tests_than_a_call_takes_arguments_is_listed(
    tmp_path: Path, driver: Chrome
) -> None:
    """130,000 tests in one file: the list's file row gathered them with push(...group),
    and a call takes some 125,000 arguments at most: the page stopped there. A finished
    run's recording (its collection, three tests run, the end) served by ``replay``."""
    from pytest_jbrealtime.protocol.collection import collection_events
    from pytest_jbrealtime.protocol.events import CollectedTest
    from pytest_jbrealtime.shared.log import EventLog
    from pytest_jbrealtime.shared.recording import FORMAT_NAME
    from tests.test_replay import ReplayProcess

    total = 130_000
    log = EventLog("b" * 32)
    tests: list[CollectedTest] = [
        {"test_id": f"test_big.py::test_n[{n}]", "file": "test_big.py", "cls": None,
         "name": f"test_n[{n}]", "markers": []} for n in range(total)]
    raw: list[dict[str, object]] = [{"type": "session_started", "args": [], "rootdir": "/r"}]
    raw += [{"type": kind, **fields} for kind, fields in collection_events(tests, [])]
    for n, result in enumerate(("passed", "failed", "passed")):
        test_id = tests[n]["test_id"]
        raw += [{"type": "test_started", "test_id": test_id},
                {"type": "test_completed", "test_id": test_id, "result": result,
                 "duration": 0.001}]
    raw.append({"type": "session_finished", "exit_status": 1, "duration": 1.0})
    log.extend(raw)
    recording = tmp_path / "big.jsonl"
    header = {"format": FORMAT_NAME, "version": 1, "run_id": log.run_id}
    lines = [json.dumps(header), *(entry.text for entry in log.read_after(0, len(log)))]
    recording.write_text("\n".join(lines) + "\n")

    replay = ReplayProcess(str(recording), "--final")
    try:
        page = ViewerPage(driver).open(replay.wait_for_link(60))
        page.wait_finished(timeout=120)
        counts = page.counts()
        assert (counts["total"], counts["passed"], counts["failed"]) == (total, 2, 1)
        rows = driver.execute_script("""
            const rows = window.__jbLive.view.list.rows;
            return {count: rows.length, first: rows[0].kind, fileTests: rows[0].tests.length};
        """)
        assert rows == {"count": total + 1, "first": "file", "fileTests": total}, rows
        assert page.store_health()["seqErrors"] == 0
    finally:
        replay.stop()
