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


def summary_counts(output: str) -> dict[str, int]:
    """Every count of pytest's final line: `4 failed, 9 passed, 2 warnings, 1 error, …`."""
    line = [ln for ln in output.splitlines() if re.search(r" in [\d.]+s", ln)][-1]
    counts = {}
    for number, words in re.findall(r"(\d+) ([a-z][a-z ]*?)(?=,| in )", line.strip("= ")):
        counts["error" if words == "errors" else words] = int(number)
    return counts


def pytest_outcome(output: str) -> dict[str, int]:
    """Counts from pytest's own final summary line, e.g. ``2 failed, 3 passed in 0.1s``."""
    summary = [line for line in output.splitlines() if re.search(r" in [\d.]+s", line)][-1]
    counts = dict.fromkeys(["passed", "failed", "error", "skipped", "xfailed", "xpassed"], 0)
    for number, word in re.findall(r"(\d+) (\w+)", summary):
        if word in SUMMARY_WORDS:
            counts["error" if word == "errors" else word] = int(number)
    return counts


# What a person triages (issue 16): failures of two causes (payloads, timeouts), colour in
# output and messages, a dict comparison, a test that passes on its rerun, a setup error,
# subtests (pytest 9's fixture) and a warnings.warn. The gate test holds the run until the
# test lets it go, so the page is watching before the failures come.
TRIAGE_SUITE = textwrap.dedent(
    """
    import pathlib
    import time
    import warnings

    import pytest

    RELEASE = pathlib.Path(__file__).with_name("release")
    ATTEMPTS = {"flaky": 0}

    def test_gate():
        deadline = time.monotonic() + 60
        while not RELEASE.exists():
            assert time.monotonic() < deadline, "the test never released the gate"
            time.sleep(0.01)

    @pytest.mark.parametrize("api", [17, 23, 42])
    def test_payload(api):
        assert api < 0, f"payload mismatch for api {api}"

    @pytest.mark.parametrize("n", [1, 2])
    def test_timeout(n):
        raise TimeoutError(f"service {n} at {hex(id(object()))} timed out after {n * 1.5} s")

    def test_colour():
        print("\\x1b[32mGREEN\\x1b[0m and \\x1b[1;31mbold red\\x1b[0m")
        for n in range(80):  # output taller than a screen
            print(f"\\x1b[2mline {n}\\x1b[0m")
        assert False, "\\x1b[31mred message\\x1b[0m"

    def test_dict():
        assert {"a": 1, "b": 2, "c": 3} == {"a": 1, "b": 20, "c": 3}

    @pytest.mark.flaky(reruns=2)
    def test_flaky():
        ATTEMPTS["flaky"] += 1
        print(f"attempt {ATTEMPTS['flaky']}")
        assert ATTEMPTS["flaky"] >= 2, "\\x1b[33mnot yet\\x1b[0m"

    @pytest.fixture
    def database():
        raise ConnectionError("database at 10.0.0.7:5432 refused")

    class TestDatabase:  # a class whose only problem is a setup error: "1 error"
        def test_setup_error(self, database):
            pass

    def test_subtests(subtests):
        for i in range(3):
            with subtests.test(msg="check", i=i):
                assert i != 1

    def test_warns():
        warnings.warn("deprecated thing 12 used", DeprecationWarning)
        warnings.warn("careful", UserWarning)

    @pytest.mark.parametrize("n", range(6))
    def test_ok(n):
        pass
    """
)
