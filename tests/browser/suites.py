"""Generated test suites that the browser tests run under ``pytest --jb-live``."""

from __future__ import annotations

import re
import textwrap

# One test of every outcome pytest counts, and a class, so the page groups by class too.
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
