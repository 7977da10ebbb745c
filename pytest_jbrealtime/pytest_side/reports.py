"""What pytest's reports say about a test: its category, its one-line summary, its result.

Pure reading of ``pytest.TestReport``s (and warnings), for ``session.LivePlugin``: the
category pytest's terminal counts a report under, the line a failure is summed up in,
and a test's one result from the reports of its phases and subtests.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import pytest

from pytest_jbrealtime.protocol.events import PytestWarning, Subtest
from pytest_jbrealtime.shared.text import as_text, clipped, keep_end

MAX_SECTION_CHARS = 256 * 1024
MAX_SUMMARY_CHARS = 1000


def report_category(report: pytest.TestReport) -> str:
    """The category pytest's terminal summary counts this report under."""
    outcome: str = report.outcome  # str: plugins add outcomes pytest's Literal lacks
    if outcome == "rerun":  # pytest-rerunfailures
        return "rerun"
    is_subtest = hasattr(report, "context") and report.when == "call"
    if hasattr(report, "wasxfail"):
        if outcome == "skipped":
            return "xfailed"
        if outcome == "passed":
            return "xpassed"
    if outcome == "failed":
        return "failed" if report.when == "call" else "error"
    if is_subtest:
        return f"subtests {outcome}"
    if outcome == "skipped":
        return "skipped"
    return "passed" if report.when == "call" else ""


def one_line_summary(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if longrepr is None:
        return report.outcome
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, line, reason)
        return str(longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    message = getattr(crash, "message", None) or str(longrepr)
    first = message.strip().splitlines()[0] if message.strip() else report.outcome
    return clipped(first, MAX_SUMMARY_CHARS)


def pytest_warning_fields(
    warning_message: warnings.WarningMessage, when: str, nodeid: str
) -> PytestWarning:
    """A ``pytest_warning`` event's fields (docs/protocol.md)."""
    category = warning_message.category
    return {
        "test_id": nodeid or None,
        "category": getattr(category, "__name__", str(category)),
        "message": truncated(str(warning_message.message)),
        "filename": str(warning_message.filename),
        "lineno": warning_message.lineno,
        "when": when,
    }


def truncated(text: object) -> str:
    """Captured output or a traceback, as text, its end kept when too long (text.py)."""
    return keep_end(as_text(text), MAX_SECTION_CHARS)


@dataclass
class TestRecord:
    """What the reports of one test have said so far."""

    test_id: str
    reports: dict[str, pytest.TestReport] = field(default_factory=dict)
    subtests: list[Subtest] = field(default_factory=list)
    subtest_categories: list[str] = field(default_factory=list)
    # Each failed subtest's one-line message, for the test's summary.
    subtest_failures: list[str] = field(default_factory=list)

    def result(self) -> tuple[str, pytest.TestReport | None]:
        """The test's one result, and the report that decided it."""
        teardown = self.reports.get("teardown")
        for when in ("setup", "call"):
            report = self.reports.get(when)
            if report is not None and report_category(report) not in ("", "passed"):
                return report_category(report), report
        if teardown is not None and teardown.outcome in ("failed", "rerun"):
            return report_category(teardown), teardown
        call = self.reports.get("call")
        return ("passed", call) if call is not None else ("error", None)


def phase_after(report: pytest.TestReport, runs_calls: bool = True) -> str | None:
    """The phase that begins as ``report``'s phase ends, as pytest's runner goes on: the
    call after a passed setup (none with ``--setup-only``: ``runs_calls`` False), the
    teardown after any other setup and after the call, nothing after the teardown.

    A subtest's report ends no phase (it is logged mid-call): the caller leaves it out.
    """
    if report.when == "setup":
        return "call" if report.passed and runs_calls else "teardown"
    return "teardown" if report.when == "call" else None
