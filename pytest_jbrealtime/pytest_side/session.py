"""LivePlugin: turns pytest's lifecycle into events.

These hooks are the hot path: each builds a dict and publishes it, nothing more. The
work of encoding and sending happens in the server process.
"""

from __future__ import annotations

import platform
import warnings
from typing import TYPE_CHECKING

import pytest

from pytest_jbrealtime import __version__
from pytest_jbrealtime.protocol import COUNT_KEYS, split_node_id
from pytest_jbrealtime.protocol.collection import collection_events
from pytest_jbrealtime.protocol.events import (
    CollectedTest,
    CollectionError,
    HistoryInfo,
    SessionFinished,
    SessionStarted,
    TestCompleted,
)
from pytest_jbrealtime.pytest_side.history import RunHistory
from pytest_jbrealtime.pytest_side.publisher import EventPublisher, publish_interrupt
from pytest_jbrealtime.pytest_side.reports import (
    MAX_SUMMARY_CHARS,
    TestRecord,
    one_line_summary,
    phase_after,
    pytest_warning_fields,
    report_category,
    truncated,
)
from pytest_jbrealtime.pytest_side.resources import ResourceMeter
from pytest_jbrealtime.pytest_side.steps import active_tracker
from pytest_jbrealtime.shared import ci
from pytest_jbrealtime.shared.text import as_text, clipped
from pytest_jbrealtime.shared.timestamps import iso_timestamp
from pytest_jbrealtime.shared.unpatched import clock, system
from pytest_jbrealtime.shared.verdicts import FAILING

if TYPE_CHECKING:
    from _pytest.nodes import Node

class LivePlugin:
    """Registered as ``jb-live`` when ``--jb-live`` is on (see plugin.py)."""

    def __init__(
        self,
        config: pytest.Config,
        publisher: EventPublisher,
        history: RunHistory,
        resources: ResourceMeter,
        editor_url: str | None = None,
    ) -> None:
        self.config = config
        # Per-test CPU and memory of this process (resources.py). On the xdist controller
        # the reports are relayed with their worker's figures, which it leaves alone.
        self.resources = resources
        # The --jb-live-editor link template, for the viewer (editor.py).
        self.editor_url = editor_url
        self.publisher = publisher
        self.history = history
        self.counts: dict[str, int] = {}
        self.collection_errors: list[CollectionError] = []
        self.collected = 0
        self._records: dict[str, TestRecord] = {}
        self._started = clock.time()
        self._step_counts: dict[str, int] = {}
        # Tests that had an attempt repeated by pytest-rerunfailures in this run.
        self._reran: set[str] = set()
        # A rerun test's captured sections so far: pytest keeps adding each attempt's to
        # the item's, so an attempt's own are what follows them (attempt_sections).
        self._sections_before: dict[str, list[tuple[str, str]]] = {}
        # The run's failed tests with their verdicts, for the CI summary (ci.py).
        self.failures: list[ci.Failure] = []
        self._session: pytest.Session | None = None
        self._finished = False
        # Each phase's beginning (test_progress) from the reports: the setup's at the
        # test's logstart, the next one's at each report, as pytest's runner goes on
        # to it at once; three hook calls a test fewer than hooks of their own
        # (docs/benchmarks.md). Where pytest-rerunfailures reruns tests it logs an
        # attempt's reports only after the attempt ran: PhaseHooks publish them then
        # (decided once the collection is known: pytest_collection_finish).
        self.phases_from_reports = True
        self._runs_calls = not config.getoption("setuponly", False)

    # -- session ---------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self._session = session
        started: SessionStarted = {
            "args": list(self.config.invocation_params.args),
            "rootdir": str(self.config.rootpath),
            # Traceback paths are relative to where pytest was started.
            "invocation_dir": str(self.config.invocation_params.dir),
            "editor_url": self.editor_url,
            "start_time": iso_timestamp(self._started),
            "host": system.gethostname(),
            "pid": system.getpid(),
            "versions": {
                "python": platform.python_version(),
                "pytest": pytest.__version__,
                "pytest_jbrealtime": __version__,
            },
        }
        self.publisher.publish("session_started", started)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            error: CollectionError = {"test_id": report.nodeid, "file": report.fspath,
                                      "longrepr": truncated(report.longrepr)}
            self.collection_errors.append(error)
            self.counts["error"] = self.counts.get("error", 0) + 1

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        tests: list[CollectedTest] = []
        # A parent's markers once, not once per test: ``item.iter_markers()`` walks the
        # whole chain for every item (profiled: most of this hook at 5,000 tests).
        chain_markers: dict[int, frozenset[str]] = {}

        def markers_of(node: Node | None) -> frozenset[str]:
            if node is None:
                return frozenset()
            known = chain_markers.get(id(node))
            if known is None:
                known = markers_of(node.parent) | {m.name for m in node.own_markers}
                chain_markers[id(node)] = known
            return known

        if self.history.kept:
            self.history.prepare([item.nodeid for item in session.items])
        flaky = False
        for item in session.items:
            node_id = split_node_id(item.nodeid)
            parent = item.parent
            markers = markers_of(parent) | {m.name for m in item.own_markers}
            flaky = flaky or "flaky" in markers
            tests.append(
                {
                    "test_id": item.nodeid,
                    "file": node_id.file,
                    # The innermost class, as ``item.cls`` says, without its lookup.
                    "cls": parent.name if isinstance(parent, pytest.Class) else None,
                    "name": node_id.name,
                    "markers": sorted(markers),
                }
            )
        if self.phases_from_reports and reruns_asked(self.config, flaky):
            self.phases_from_reports = False
            self.config.pluginmanager.register(PhaseHooks(self.publisher), PHASE_HOOKS_NAME)
        self.publish_collection(tests)

    def publish_collection(self, tests: list[CollectedTest]) -> None:
        """The run's collection, in parts no frame is too small for (collection.py)."""
        self.collected = len(tests)
        for event_type, payload in collection_events(tests, self.collection_errors):
            self.publisher.publish(event_type, payload)
        self.publisher.flush()

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """Ctrl-C mid-test: the test's stack as the interrupt found it (last_words.py).

        Serial runs only: under xdist the tests ran in the workers, gone with the signal.
        """
        test_id = self.publisher.current_test_id
        if test_id is None or self.config.pluginmanager.get_plugin("dsession") is not None:
            return
        publish_interrupt(self.publisher, test_id, excinfo.tb)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self._publish_finished(exitstatus)

    def finish_if_skipped(self) -> None:
        """A Ctrl-C (or an error) in another plugin's pytest_sessionfinish called before
        this one (trylast) skips it: the run still ends with its session_finished, pytest's
        exit status for its tests, so its recording and report are whole."""
        if not self._finished and self._session is not None:
            self._publish_finished(int(self._session.exitstatus))

    def _publish_finished(self, exitstatus: int) -> None:
        self._finished = True
        self.publisher.current_test_id = None
        finished: SessionFinished = {
            "exit_status": int(exitstatus),
            "duration": round(clock.time() - self._started, 6),
            "total": self.collected,
            "counts": self.final_counts(),
        }
        self.publisher.publish("session_finished", finished)
        self.publisher.flush()
        self.history.save()

    def final_counts(self) -> dict[str, int]:
        """The terminal summary line's counts, to the letter (it is what users compare).

        Our own tally is the fallback when there is no terminal (``-p no:terminal``).
        Every ``COUNT_KEYS`` key is there, zeros included (docs/protocol.md).
        """
        counts = dict.fromkeys(COUNT_KEYS, 0)
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        if terminal is None:
            counts.update(self.counts)
            return counts
        for category, reports in terminal.stats.items():
            if not category:
                continue
            shown = sum(1 for r in reports if getattr(r, "count_towards_summary", True))
            if shown:
                counts[category] = shown
        return counts

    def pytest_warning_recorded(
        self,
        warning_message: warnings.WarningMessage,
        when: str,
        nodeid: str,
        location: tuple[str, int, str] | None,
    ) -> None:
        # One event per warning pytest records: the same reports its "N warnings" counts.
        self.publisher.publish("pytest_warning",
                               pytest_warning_fields(warning_message, when, nodeid))

    # -- one test ----------------------------------------------------------------

    def note_user_step(self, test_id: str, step_count: int) -> None:
        """A user step began (steps.py): the test has ``step_count`` steps so far.

        Kept with the test's duration, so the next run can place its steps evenly.
        """
        self._step_counts[test_id] = step_count

    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self.resources.test_started()
        self.publisher.current_test_id = nodeid
        self._records[nodeid] = TestRecord(nodeid)
        self.publisher.publish_started(nodeid, location[2], location[0],
                                       self.history.estimated_duration(nodeid))
        if self.phases_from_reports:
            self.publisher.publish_phase(nodeid, "setup")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.resources.measure(report)
        if str(report.when) == "???":  # xdist's report: the worker running this test died
            self._complete_crashed(report)
            return
        record = self._records.get(report.nodeid)
        if record is None:  # a report without logstart (another plugin's): still count it
            record = self._records[report.nodeid] = TestRecord(report.nodeid)
        # when first: a missing attribute costs hasattr() an exception, three times a test.
        if report.when == "call" and hasattr(report, "context"):
            category = report_category(report)
            record.subtests.append(
                {
                    "description": report._sub_test_description(),
                    "result": category.removeprefix("subtests "),
                    "duration": round(report.duration, 6),
                    "longrepr": truncated(report.longrepr) if report.failed else None,
                }
            )
            record.subtest_categories.append(category)
            if report.failed:
                description = record.subtests[-1]["description"]
                record.subtest_failures.append(
                    f"{description}: {one_line_summary(report)}".strip(": "))
            return
        record.reports[report.when] = report
        if self.phases_from_reports:
            phase = phase_after(report, self._runs_calls)
            if phase == "call":
                self.publisher.publish_call(report.nodeid)
            elif phase is not None:
                self.publisher.publish_phase(report.nodeid, phase)

    def _complete_crashed(self, report: pytest.TestReport) -> None:
        """The test whose xdist worker died: completed as ``crashed``, not left running.

        pytest counts xdist's report as a failure, or as a rerun when
        pytest-rerunfailures schedules the test again.
        """
        record = self._records.pop(report.nodeid, None) or TestRecord(report.nodeid)
        rerun = str(report.outcome) == "rerun"  # pytest-rerunfailures
        categories = record.subtest_categories + [
            report_category(r) for r in record.reports.values()
        ]
        for category in [*categories, "rerun" if rerun else "failed"]:
            if category:
                self.counts[category] = self.counts.get(category, 0) + 1
        own = [c for c in (report_category(r) for r in record.reports.values()) if c]
        longrepr = str(report.longrepr) if report.longrepr is not None else "worker crashed"
        duration = sum(r.duration for r in record.reports.values())
        completed: TestCompleted = {
            "test_id": report.nodeid,
            "result": "rerun" if rerun else "crashed",
            "duration": round(duration, 6),
            "summary": clipped((longrepr.strip() or "worker crashed").splitlines()[0],
                               MAX_SUMMARY_CHARS),
            "longrepr": truncated(longrepr),
            "sections": [],
            "phases": {when: r.outcome for when, r in record.reports.items()},
            "subtests": record.subtests,
            "categories": [*own, "rerun" if rerun else "failed"],
            "history": self._judge(report.nodeid, "rerun" if rerun else "crashed", duration,
                                   longrepr.strip().splitlines()[0]),
        }
        self.publisher.publish("test_completed", completed)

    def _judge(
        self, test_id: str, result: str, duration: float, summary: str
    ) -> HistoryInfo | None:
        """The test's ``history`` verdict, and its result kept for the next runs.

        None when this run keeps no history (no pytest cache) and for an attempt that
        pytest-rerunfailures repeats: only the test's last attempt is its result.
        """
        if result == "rerun":
            self._reran.add(test_id)
            return None
        step_count = self._step_counts.pop(test_id, 0)
        history: HistoryInfo | None = None
        if self.history.kept:  # else nothing is saved: no result to keep a test
            self.history.record(test_id, result, round(duration, 6), step_count)
            history = self.history.judge(test_id, result, duration,
                                         passed_on_rerun=test_id in self._reran)
        if result in FAILING:
            self.failures.append(ci.Failure(test_id, result, summary,
                                            history["verdict"] if history else None))
        return history

    def attempt_sections(
        self, nodeid: str, result: str, sections: list[tuple[str, str]]
    ) -> list[tuple[str, str]]:
        """This attempt's own captured output: pytest-rerunfailures runs the same item
        again, whose report sections still hold the earlier attempts' (each attempt's
        tab in the viewer shows its own)."""
        before = self._sections_before.pop(nodeid, [])
        own = sections[len(before):] if sections[:len(before)] == before else sections
        if result == "rerun":  # another attempt follows
            self._sections_before[nodeid] = list(sections)
        return own

    def _passed_plainly(self, nodeid: str, record: TestRecord) -> bool:
        """The common test, published as a pass record (protocol/compact.py): its
        setup, call and teardown passed, no output, no subtests, no xfail. Its event is
        the one the general path below makes (tests/test_publisher.py compares them);
        False for any other test, which takes that path."""
        reports = record.reports
        teardown = reports.get("teardown")
        if len(reports) != 3 or teardown is None or record.subtests or teardown.sections:
            return False
        for report in reports.values():
            # vars(): a missing attribute costs hasattr() an exception.
            if (report.outcome != "passed" or report.longrepr is not None
                    or "wasxfail" in vars(report)):
                return False
        resources = vars(teardown).get("jb_resources")
        if not isinstance(resources, dict):
            return False
        self._sections_before.pop(nodeid, None)
        self.counts["passed"] = self.counts.get("passed", 0) + 1
        duration = sum(r.duration for r in reports.values())
        self.publisher.publish_passed(
            nodeid, round(duration, 6), resources.get("cpu_seconds"),
            resources.get("rss_growth"), self._judge(nodeid, "passed", duration, "passed"))
        return True

    def pytest_runtest_logfinish(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        record = self._records.pop(nodeid, None)
        self.publisher.current_test_id = None
        tracker = active_tracker()
        if tracker is not None:  # its steps are over (steps.py)
            tracker.test_finished(nodeid)
        if record is None or not record.reports:
            return
        if self._passed_plainly(nodeid, record):
            return
        # Categorised now, not per report: the subtests plugin turns a passed call into
        # a failure (when a subtest failed) only while the terminal reports it.
        own = [c for c in (report_category(r) for r in record.reports.values()) if c]
        for category in [*record.subtest_categories, *own]:
            if category:
                self.counts[category] = self.counts.get(category, 0) + 1
        result, deciding = record.result()
        last = list(record.reports.values())[-1]
        duration = sum(r.duration for r in record.reports.values())
        failed = deciding is not None and deciding.outcome == "failed"
        summary = one_line_summary(deciding or last)
        longrepr = (truncated(deciding.longrepr)
                    if failed and deciding is not None and deciding.longrepr is not None
                    else None)
        failed_subtests = [s for s in record.subtests if s["result"] == "failed"]
        if result == "passed" and failed_subtests:
            # A subtest failed, the test's own call passed (pytest's -rA: PASSED, and a
            # SUBFAILED line). The test failed, as the exit status, junitxml and unittest
            # say; `categories` keep pytest's count of its own call. A skipped subtest
            # leaves the test passed, as unittest and -rA say (docs/protocol.md, Subtests).
            result = "failed"
            count = len(failed_subtests)
            summary = clipped(
                f"{count} subtest{'s' if count > 1 else ''} failed: "
                f"{record.subtest_failures[0] if record.subtest_failures else ''}",
                MAX_SUMMARY_CHARS)
            longrepr = failed_subtests[0]["longrepr"]
        completed: TestCompleted = {
            "test_id": nodeid,
            "result": result,
            "duration": round(duration, 6),
            "summary": summary,
            "longrepr": longrepr,
            "sections": [
                {"name": as_text(name), "content": truncated(content)}
                for name, content in self.attempt_sections(nodeid, result, last.sections)
            ],
            "phases": {when: r.outcome for when, r in record.reports.items()},
            "subtests": record.subtests,
            # What pytest's summary line counts for this test's own reports (subtests
            # apart): the viewer tallies these, so its chips are pytest's numbers.
            "categories": own,
            "history": self._judge(nodeid, result, duration, summary),
        }
        # Measured in the process that ran it (resources.py), carried on the report.
        resources = getattr(record.reports.get("teardown"), "jb_resources", None)
        if isinstance(resources, dict):
            completed["cpu_seconds"] = resources.get("cpu_seconds")
            completed["rss_growth"] = resources.get("rss_growth")
        self.publisher.publish("test_completed", completed)


def reruns_asked(config: pytest.Config, flaky_marker: bool) -> bool:
    """pytest-rerunfailures may rerun a test of this run: it is installed, and its
    options or ini ask for reruns (any count, 0 too: it then runs every test its own
    way) or a test has its ``flaky`` marker. Then it logs each attempt's reports only
    after the attempt."""
    if not config.pluginmanager.hasplugin("rerunfailures"):
        return False
    if flaky_marker or any(config.getoption(option, None) is not None
                           for option in ("reruns", "force_reruns")):
        return True
    try:
        return bool(config.getini("reruns"))
    except ValueError:  # a version without the ini key
        return False


PHASE_HOOKS_NAME = "jb-live-phases"


class PhaseHooks:
    """Each phase's beginning from pytest's own phase hooks, for runs whose reports come
    late (pytest-rerunfailures: ``LivePlugin.phases_from_reports`` is False). Registered
    only there: elsewhere the reports say the same three hook calls a test sooner."""

    def __init__(self, publisher: EventPublisher) -> None:
        self.publisher = publisher

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.publisher.publish_phase(item.nodeid, "setup")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        self.publisher.publish_call(item.nodeid)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        self.publisher.publish_phase(item.nodeid, "teardown")
