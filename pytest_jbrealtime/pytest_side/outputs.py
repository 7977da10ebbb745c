"""What a watched run leaves behind, and how its link is shown.

``RunOutputs`` belongs to a ``LiveRun``: it tells the server process where to record
(``--jb-live-record``, or a file in the run folder when only a report is wanted),
writes the HTML report from that recording once the server process has closed it
(``--jb-live-report``), adds the job summary and the failures' annotations under GitHub
Actions (with a hub's verdicts on a hub run), and formats the
viewer link for the CI that runs us (``ci.py``). Every failure here is a warning:
the run's result never depends on it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_jbrealtime.pytest_side.live_server import LiveServer
from pytest_jbrealtime.shared import ci
from pytest_jbrealtime.shared.settings import LiveSettings
from pytest_jbrealtime.shared.unpatched import clock

if TYPE_CHECKING:
    from pytest_jbrealtime.shared.stalls import StallNotices


class RunOutputs:
    def __init__(
        self,
        config: pytest.Config,
        settings: LiveSettings,
        warn: Callable[[str], None],
        write_line: Callable[[str], None],
    ) -> None:
        self.config = config
        self.settings = settings
        self.warn = warn
        self.write_line = write_line
        self.provider = ci.detect()
        # The run's stall alerts (stalls.StallNotices, set by LiveRun) for the job summary.
        self.stall_notices: StallNotices | None = None
        base = Path(config.invocation_params.dir)
        self.record_path = base / settings.jb_live_record if settings.jb_live_record else None
        self.report_path = base / settings.jb_live_report if settings.jb_live_report else None
        self.recorded_to: Path | None = None
        self.exit_status: int | None = None
        self._started = clock.monotonic()

    # -- start ------------------------------------------------------------------------

    def prepare(self, server: LiveServer) -> None:
        """Before the server starts: where it records the run."""
        target = self.record_path
        if target is None and self.report_path is not None:
            target = server.run_dir / "recording.jsonl"
        if target is None:
            return
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.warn(f"cannot create the folder of the recording {target}: {exc}; "
                      "the run is not recorded")
            return
        server.record_path = self.recorded_to = target

    def link_line(self, prefix: str, server: LiveServer) -> str:
        """The line that gives the viewer: the link, or (``--jb-live-link key``) the bare
        address and the key apart, so that what the browser's history keeps opens nothing."""
        return ci.credential_line(prefix, server.url, server.link_token,
                                  self.settings.jb_live_link, self.settings.jb_live_public_url,
                                  self.provider)

    def started(self, server: LiveServer) -> None:
        if not self.settings.jb_live_open:
            return
        if self.provider is not None:
            self.write_line("jb-live: not opening a browser under CI (--jb-live-open)")
            return
        ci.open_in_browser(server.url if self.settings.jb_live_link == "key"
                           else server.viewer_link)

    @property
    def link_in_summary(self) -> bool:
        """Print the link again at the end? Not under CI: the token goes in one line only."""
        return self.provider is None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.exit_status = int(exitstatus)

    # -- end ---------------------------------------------------------------------------

    def finish(self, server: LiveServer) -> None:
        """After the server process has stopped (and closed the recording)."""
        try:
            # (The server's warnings reached the terminal as they came: LiveServer.)
            report = self._write_report()
            if self.record_path is not None and self.recorded_to is not None:
                self._say_recorded(server.recording)
            if self.provider == "github":
                # Annotations and summary once the stream has ended: a hub run's verdicts
                # are then the hub's.
                failures = self._failures(server)
                for line in ci.github_annotations(failures):
                    self.write_line(line)
                self._github_summary(report, ci.tokenless(
                    ci.public_link(server.viewer_link, self.settings.jb_live_public_url)),
                    failures)
        except Exception as exc:  # the run is over; its result must not change
            self.warn(f"finishing the run's outputs failed: {exc!r}")

    def _say_recorded(self, outcome: dict[str, Any] | None) -> None:
        """"recording written" only when the server process says it wrote it all."""
        replay = f"replay with: python -m pytest_jbrealtime replay {self.record_path}"
        if outcome is None:
            self.write_line(f"jb-live: the recording {self.record_path} may be incomplete "
                            f"(the live server did not confirm it); {replay}")
        elif outcome.get("complete"):
            self.write_line(f"jb-live: recording written to {self.record_path}; {replay}")
        elif outcome.get("events"):
            self.write_line(f"jb-live: the recording {self.record_path} is incomplete: it "
                            f"holds the first {outcome['events']} events; {replay}")
        # else: not recorded at all, which its warning said.

    def _write_report(self) -> Path | None:
        if self.report_path is None or self.recorded_to is None:
            return None
        from pytest_jbrealtime.shared.recording import RecordingError, read_recording
        from pytest_jbrealtime.tools.report import ReportError, describe, write_report

        try:
            recording = read_recording(self.recorded_to)
            summary = write_report(recording, self.report_path,
                                   self.settings.jb_live_report_budget)
        except (RecordingError, ReportError, OSError) as exc:
            self.warn(f"the HTML report could not be written: {exc}")
            return None
        except Exception as exc:  # never into pytest: the run is over, its result stands
            self.warn(f"the HTML report could not be written: {exc!r}")
            return None
        for problem in recording.problems:
            self.warn(f"recording {problem}")
        self.write_line(f"jb-live: {describe(summary)}")
        return self.report_path

    def _failures(self, server: LiveServer) -> list[ci.Failure]:
        """The run's failures with their verdicts: on a hub, the hub's history's (so a CI
        machine that keeps no cache gets them), this machine's where the hub gave none."""
        session_plugin = self.config.pluginmanager.get_plugin("jb-live-session")
        failures: list[ci.Failure] = list(getattr(session_plugin, "failures", ()))
        if not self.settings.jb_live_hub or not failures:
            return failures
        from pytest_jbrealtime.pytest_side.hub_link import HubLink

        if not isinstance(server, HubLink):
            return failures
        judged, unjudged = ci.with_verdicts(failures, server.verdicts)
        if unjudged:
            self.warn(f"the hub {server.hub_url} gave no verdict for {unjudged} of "
                      f"{len(failures)} failed tests ({server.verdicts_missing}); the job "
                      "summary and annotations give them this machine's verdicts (from "
                      "pytest's cache; none without one)")
        return judged

    def _github_summary(self, report: Path | None, live_link: str | None,
                        failures: list[ci.Failure]) -> None:
        session_plugin = self.config.pluginmanager.get_plugin("jb-live-session")
        # pytest's summary line's counts, as session_finished has them (one way of counting).
        final_counts = getattr(session_plugin, "final_counts", None)
        counts = dict(final_counts() if final_counts is not None else {})
        text = ci.step_summary(
            counts, self.exit_status, clock.monotonic() - self._started,
            report=Path(self.settings.jb_live_report or report) if report else None,
            recording=Path(self.settings.jb_live_record) if self.settings.jb_live_record
            else None,
            environ=os.environ,
            live_link=live_link,
            failures=failures,
            stalled=self.stall_notices.summary_lines() if self.stall_notices else (),
        )
        try:
            ci.append_step_summary(text)
        except OSError as exc:
            self.warn(f"cannot write the GitHub job summary: {exc}")
