"""The report survives a cancel (issue 16, item 7): a run with ``--jb-live-report`` that
gets SIGTERM (a cancelled CI job) or SIGINT (Ctrl-C; GitHub Actions' first word) at any
point after its last test still leaves a complete report: in another plugin's
``pytest_sessionfinish``, ``pytest_terminal_summary`` or ``pytest_unconfigure``, during
``--jb-live-linger``, and while the report itself is being written. And the guard that
makes it so (pytest_side/cancel.py), with real signals."""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import signal
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_jbrealtime.pytest_side.cancel import CancelGuard
from tests.browser.suites import TRIAGE_SUITE
from tests.support import LiveProcess

StartLive = Callable[..., LiveProcess]

SIGNALS = pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT],
                                  ids=["SIGTERM", "SIGINT"])

SMALL_SUITE = """
def test_passes():
    pass

def test_fails():
    assert 1 == 2
"""

# Another plugin busy after the last test: it says where it is, then takes 3 s there.
HOLDING_CONFTEST = textwrap.dedent(
    """
    import os
    import pathlib
    import time

    import pytest

    def hold(where):
        if os.environ.get("HOLD_IN") == where:
            pathlib.Path("holding").write_text(where)
            time.sleep(3)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(session):
        hold("sessionfinish")

    def pytest_terminal_summary(terminalreporter):
        hold("terminal_summary")

    def pytest_unconfigure(config):
        hold("unconfigure")
    """
)


def events_of(html: str) -> list[dict[str, Any]]:
    """The events a report embeds (docs/viewer.md: JSON, or gzip+base64 of it)."""
    match = re.search(r'<script type="application/json" id="jb-live-recording">([\[{].*?)</script>',
                      html, re.S)
    assert match, "the report embeds no recording"
    content = json.loads(match.group(1).replace("<\\/", "</"))
    if isinstance(content, dict):
        content = json.loads(gzip.decompress(base64.b64decode(content["data"])))
    return list(content)


def assert_complete(html: str, tests: int) -> None:
    assert html.rstrip().endswith("</html>")
    events = events_of(html)
    assert events[-1]["type"] == "session_finished"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    completed = {e["test_id"] for e in events if e["type"] == "test_completed"}
    assert len(completed) == tests


def wait_for(condition: Callable[[], bool], run: LiveProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert run.process.poll() is None, run.output
        assert time.monotonic() < deadline, run.output
        time.sleep(0.02)


@SIGNALS
def test_report_survives_cancel_during_linger(
    suite_dir: pytest.Pytester, start_live: StartLive, sig: signal.Signals
) -> None:
    """A cancelled CI job (SIGTERM) or Ctrl-C while the finished run is served."""
    suite_dir.makepyfile(test_triage=TRIAGE_SUITE)
    (suite_dir.path / "release").touch()
    report = suite_dir.path / "report.html"
    run = start_live(suite_dir.path, "--jb-live-report", str(report), "--jb-live-linger", "120")
    wait_for(lambda: "serving the finished run" in run.output, run)
    started = time.monotonic()
    run.process.send_signal(sig)
    code = run.wait(timeout=60)
    assert time.monotonic() - started < 30  # not the 120 s linger
    # SIGTERM still ends the process as SIGTERM does; Ctrl-C ends the linger early.
    assert code == (-signal.SIGTERM if sig == signal.SIGTERM else 1), run.output
    assert report.exists(), run.output
    assert_complete(report.read_text(encoding="utf-8"), 18)  # every test of the suite


@SIGNALS
@pytest.mark.parametrize("where", ["sessionfinish", "terminal_summary", "unconfigure"])
def test_report_survives_cancel_in_another_plugins_hook(
    suite_dir: pytest.Pytester, start_live: StartLive, sig: signal.Signals, where: str
) -> None:
    """After the last test, while another plugin finishes (its pytest_unconfigure is
    called before ours: a Ctrl-C there used to skip ours, and the report with it)."""
    suite_dir.makepyfile(test_small=SMALL_SUITE)
    suite_dir.makeconftest(HOLDING_CONFTEST)
    report = suite_dir.path / "report.html"
    run = start_live(suite_dir.path, "--jb-live-report", str(report), "--jb-live-linger", "60",
                     env={**os.environ, "HOLD_IN": where})
    wait_for((suite_dir.path / "holding").exists, run)
    started = time.monotonic()
    run.process.send_signal(sig)
    code = run.wait(timeout=60)
    assert time.monotonic() - started < 30, run.output  # no 60 s linger after a cancel
    if sig == signal.SIGTERM:
        assert code == -signal.SIGTERM, run.output  # held, then delivered
    else:
        assert code != 0, run.output  # pytest's KeyboardInterrupt, wherever it landed
    assert report.exists(), run.output
    assert_complete(report.read_text(encoding="utf-8"), 2)


def blocked_opening_fifo(pid: int) -> bool:
    """The process sleeps in open() of a FIFO no one reads yet (Linux's wait for the
    other end: `wait_for_partner`, `fifo_open` on older kernels)."""
    try:
        wchan = Path(f"/proc/{pid}/wchan").read_text()
    except OSError:
        return False
    return wchan in ("wait_for_partner", "fifo_open")


@SIGNALS
def test_report_survives_cancel_while_it_is_written(
    suite_dir: pytest.Pytester, start_live: StartLive, sig: signal.Signals
) -> None:
    """The report is written to PATH.partial, then renamed. Made a FIFO here, that write
    waits for this test to read it: the signal lands in the middle of writing the
    report, and what the test then reads is the whole report."""
    suite_dir.makepyfile(test_small=SMALL_SUITE)
    report = suite_dir.path / "report.html"
    partial = suite_dir.path / "report.html.partial"
    os.mkfifo(partial)
    run = start_live(suite_dir.path, "--jb-live-report", str(report))
    wait_for(lambda: blocked_opening_fifo(run.process.pid), run)
    run.process.send_signal(sig)
    time.sleep(0.5)  # the signal handled (a KeyboardInterrupt would end the write now)
    reader = os.open(partial, os.O_RDONLY | os.O_NONBLOCK)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(reader, 1 << 16)
            except BlockingIOError:
                time.sleep(0.01)
                continue
            if not chunk and chunks:
                break  # the writer closed it: the whole report
            if not chunk:  # not opened by the writer (again): it gave up
                assert run.process.poll() is None, run.output
                time.sleep(0.01)
                continue
            chunks.append(chunk)
    finally:
        os.close(reader)
    code = run.wait(timeout=60)
    assert chunks, run.output
    assert_complete(b"".join(chunks).decode("utf-8"), 2)
    assert f"report written to {report}" in run.output
    # SIGTERM is delivered once the outputs are written; Ctrl-C ends no linger here and
    # leaves pytest's own exit status (1: a test failed).
    assert code == (-signal.SIGTERM if sig == signal.SIGTERM else 1), run.output


def test_guard_holds_ctrl_c_while_finishing_and_ends_the_linger_with_it() -> None:
    """In this process's main thread, with real signals."""
    guard = CancelGuard()
    before = signal.getsignal(signal.SIGINT)
    try:
        with guard.finishing():
            signal.raise_signal(signal.SIGINT)  # writing the outputs: held
            assert guard.interrupted and guard.cancelled
            with pytest.raises(KeyboardInterrupt), guard.lingering():
                signal.raise_signal(signal.SIGINT)  # lingering: ends the linger
    except KeyboardInterrupt:
        pytest.fail("a Ctrl-C while finishing reached the outputs")
    assert signal.getsignal(signal.SIGINT) is before
    assert guard.received is None  # a Ctrl-C is not delivered again


def test_guard_delivers_a_held_sigterm_to_the_handler_there_was() -> None:
    seen: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        guard = CancelGuard()
        guard.arm()
        signal.raise_signal(signal.SIGTERM)
        assert seen == [] and guard.received == signal.SIGTERM and guard.cancelled
        guard.release()
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_guard_notes_a_ctrl_c_after_the_last_test_and_passes_it_on() -> None:
    """Another plugin's hook is still interrupted by Ctrl-C; the guard only remembers it
    (so no linger follows) and puts the handlers back."""
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    guard = CancelGuard()
    guard.arm()
    try:
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        assert guard.interrupted and guard.received is None
    finally:
        guard.release()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
