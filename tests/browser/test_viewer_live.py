"""The viewer page watching real ``pytest --jb-live`` runs, in headless Chromium."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.browser.viewer_page import ViewerPage
from tests.support import LiveProcess

pytestmark = pytest.mark.browser

StartLive = Callable[..., LiveProcess]

MIXED_SUITE = textwrap.dedent(
    """
    import pytest

    @pytest.fixture
    def broken():
        raise RuntimeError("fixture broke")

    def test_pass():
        pass

    def test_fail():
        print("about to fail")
        assert 1 == 2

    def test_error(broken):
        pass

    def test_skip():
        pytest.skip("not today")

    @pytest.mark.xfail(reason="known bug", strict=False)
    def test_xfail():
        assert False

    @pytest.mark.xfail(reason="fixed already", strict=False)
    def test_xpass():
        pass

    class TestGroup:
        @pytest.mark.parametrize("n", [1, 2, 3])
        def test_param(self, n):
            assert n != 3
    """
)

SUMMARY_WORDS = {"passed", "failed", "error", "errors", "skipped", "xfailed", "xpassed"}


def pytest_outcome(output: str) -> dict[str, int]:
    """Counts from pytest's own final summary line, e.g. ``2 failed, 3 passed in 0.1s``."""
    summary = [line for line in output.splitlines() if re.search(r" in [\d.]+s", line)][-1]
    counts = dict.fromkeys(["passed", "failed", "error", "skipped", "xfailed", "xpassed"], 0)
    for number, word in re.findall(r"(\d+) (\w+)", summary):
        if word in SUMMARY_WORDS:
            counts["error" if word == "errors" else word] = int(number)
    return counts


def test_counts_match_pytest_outcome(
    suite_dir: pytest.Pytester, start_live: StartLive, driver: object
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
    # The page watched from the start, so the failures arrived live: one toast each
    # (the list keeps the latest few) and one for the end of the run.
    page.wait_for(lambda: any(t.get_attribute("data-kind") in ("finished", "success")
                              for t in page.find_all("toast")))
    # The server closes with 1000 once the viewer has everything: no reconnect follows.
    page.wait_for(lambda: page.connection_state() == "disconnected")
    assert page.store_health()["connects"] == 1
