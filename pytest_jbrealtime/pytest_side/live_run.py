"""LiveRun: one watched run — its server, its publisher, its session plugin, its link.

Created by ``plugin.pytest_configure`` when ``--jb-live`` is on, on the controller
(or a serial run), never on an xdist worker.
"""

from __future__ import annotations

import ipaddress
import platform
from collections.abc import Callable

import pytest

from pytest_jbrealtime import __version__
from pytest_jbrealtime.protocol import LINK_PREFIX
from pytest_jbrealtime.pytest_side.cancel import CancelGuard
from pytest_jbrealtime.pytest_side.event_hook import EVENT_HOOK_NAME, EventHook
from pytest_jbrealtime.pytest_side.history import RunHistory
from pytest_jbrealtime.pytest_side.live_server import LiveServer
from pytest_jbrealtime.pytest_side.outputs import RunOutputs
from pytest_jbrealtime.pytest_side.publisher import EventPublisher, set_active_publisher
from pytest_jbrealtime.pytest_side.resources import ResourceMeter
from pytest_jbrealtime.pytest_side.session import LivePlugin
from pytest_jbrealtime.shared.last_words import LastWords
from pytest_jbrealtime.shared.limit_config import limits_from_settings
from pytest_jbrealtime.shared.listening import ServerStartError
from pytest_jbrealtime.shared.monitor_config import monitor_config
from pytest_jbrealtime.shared.settings import LiveSettings
from pytest_jbrealtime.shared.stack_responder import StackResponder
from pytest_jbrealtime.shared.stalls import StallNotices
from pytest_jbrealtime.shared.unpatched import system


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class LiveRun:
    def __init__(
        self, config: pytest.Config, settings: LiveSettings, warn: Callable[[str], None]
    ) -> None:
        self.config = config
        self.settings = settings
        self.warn = warn
        self.server: LiveServer | None = None
        self.publisher: EventPublisher | None = None
        self.stacks: StackResponder | None = None
        self.last_words: LastWords | None = None
        self.resources: ResourceMeter | None = None
        self._link_shown = False
        # Recording, report, CI link forms and summary (outputs.py, ci.py).
        self.outputs = RunOutputs(config, settings, warn, self._write_line)
        # Stall alerts as the server (or the hub link) reports them (stalls.py).
        self.stalls = StallNotices(github=self.outputs.provider == "github")
        self.outputs.stall_notices = self.stalls
        # SIGTERM after the last test (a cancelled CI job) still leaves the outputs.
        self.cancel = CancelGuard()

    def start(self, run_id: str) -> bool:
        """Start the server and the session plugin; False (and a warning) if it cannot."""
        from pytest_jbrealtime.pytest_side.labels import run_labels

        project, branch = run_labels(self.settings.jb_live_project,
                                     self.settings.jb_live_branch, self.config.rootpath)
        run_info = {
            "host": system.gethostname(),
            "python": platform.python_version(),
            "pytest_jbrealtime": __version__,
            # What a hub keeps the run's history under (hub/history.py).
            "project": project,
            "branch": branch,
        }
        server: LiveServer
        if self.settings.jb_live_hub:
            # Published to a hub instead of served here (pytest_side/hub_link.py).
            from pytest_jbrealtime.pytest_side.hub_link import HubLink

            server = HubLink(self.settings.jb_live_hub, run_id, self.settings.jb_live_shard,
                             run_info, warn=self.warn, end_wait=self.settings.jb_live_hub_wait,
                             expected_shards=self.settings.jb_live_shards,
                             stall_after=self.settings.jb_live_stall_after,
                             on_stalled=self.stalls.note)
        else:
            server = LiveServer(
                host=self.settings.jb_live_host,
                port=self.settings.jb_live_port,
                run_id=run_id,
                run_info=run_info,
                warn=self.warn,
                extra_config={
                    "monitor": monitor_config(self.settings, str(self.config.rootpath)),
                    "metrics_public": self.settings.jb_live_metrics_public,
                    "limits": limits_from_settings(self.settings).to_config(),
                    "stall_after": self.settings.jb_live_stall_after,
                },
            )
        self.outputs.prepare(server)
        try:
            server.start()
        except ServerStartError as exc:
            self.warn(f"the live server could not start ({exc}); the run goes on unwatched")
            return False
        self.server = server
        self.config.pluginmanager.register(self.outputs, "jb-live-outputs")
        self.outputs.started(server)
        self.publisher = EventPublisher(server)
        set_active_publisher(self.publisher)
        # Stacks on demand: a thread blocked on a socket until someone asks.
        publisher = self.publisher
        # On a hub run nobody asks it for held events: the session flushes at each call.
        hub_producer = getattr(server, "producer", None)
        self.stacks = StackResponder(server.run_dir, "main", lambda: publisher.current_test_id,
                                     on_stalled=self.stalls.note,
                                     on_flush=publisher.flush if hub_producer is None else None)
        # The run server asks after a quiet pipe (server/process.py): no flush per test.
        publisher.held_events_asked = self.stacks.start() and hub_producer is None
        # SIGTERM mid-test: every thread's stack into the run folder, for the server
        # (last_words.py); on a hub run, for the producer's thread, which sends it and
        # then lets the signal end the process (pytest_side/hub_producer.py).
        self.last_words = LastWords(
            server.run_dir, "main", chain=hub_producer is None,
            on_timeout=hub_producer.last_word if hub_producer is not None else None)
        if self.last_words.arm() and hub_producer is not None:
            hub_producer.watch_sigterm(self.last_words.path, self.last_words.end_from_thread)
        # Per-test CPU and memory, measured where the tests run (resources.py).
        self.resources = ResourceMeter()
        history = RunHistory(getattr(self.config, "cache", None))
        session_plugin = LivePlugin(self.config, self.publisher, history, self.resources,
                                    editor_url=self.settings.jb_live_editor)
        self.config.pluginmanager.register(
            EventHook(self.config, self.publisher, self.warn), EVENT_HOOK_NAME
        )
        self.config.pluginmanager.register(session_plugin, "jb-live-session")
        # Workers publish to their controller's server; on a hub run, through the
        # controller itself (xdist's own channel, see xdist_controller.py).
        if self.config.pluginmanager.hasplugin("xdist"):
            from pytest_jbrealtime.pytest_side.xdist_controller import XdistController

            self.config.pluginmanager.register(
                XdistController(self, session_plugin, relay=bool(self.settings.jb_live_hub)),
                "jb-live-xdist",
            )
        from pytest_jbrealtime.pytest_side.user_events import UserEventsPlugin

        self.config.pluginmanager.register(
            UserEventsPlugin(self.settings, self.publisher, session_plugin, server.run_dir,
                             self.config.pluginmanager),
            "jb-live-user-events",
        )
        return True

    @property
    def link_line(self) -> str:
        assert self.server is not None
        return self.outputs.link_line(LINK_PREFIX, self.server)

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        if self.server is None:
            return []
        self._link_shown = True
        lines = [self.link_line]
        if not is_loopback(self.settings.jb_live_host):
            lines.append(
                f"jb-live: WARNING: serving on {self.settings.jb_live_host}, "
                "reachable from other machines; anyone with the link can watch"
            )
        return lines

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # `-q` and `--no-header` hide the header, but the user still needs the link.
        if self.server is None:
            return
        if not self._link_shown:
            self._link_shown = True
            self._write_line(self.link_line)
        self._flush_terminal()  # the header's link, before any test can take its time

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        wanted = self.settings.jb_live_wait_viewers
        if self.server is None or self.publisher is None or wanted <= 0:
            return
        self.publisher.flush()
        self._write_line(f"jb-live: waiting for {wanted} viewer(s) to connect …")
        if not self.server.wait_for_viewers(wanted, self.settings.jb_live_wait_timeout):
            self.warn(
                f"{self.server.viewer_count} of {wanted} viewer(s) connected within "
                f"{self.settings.jb_live_wait_timeout:g} s; running anyway"
            )

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # The tests are over: SIGTERM is the cancel guard's from here on.
        if self.last_words is not None:
            self.last_words.disarm()
        if self.server is not None:
            self.cancel.arm()

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.server is not None and self.outputs.link_in_summary:
            terminalreporter.write_line(self.link_line)
        for line in self.stalls.summary_lines():
            terminalreporter.write_line(f"jb-live: stalled: {line}", yellow=True)

    def _write_line(self, line: str) -> None:
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        if terminal is not None:
            terminal.write_line(line)
        self._flush_terminal()

    def _flush_terminal(self) -> None:
        # A CI log is a pipe, where stdout is block-buffered: unflushed, the link would
        # show up only once the run has printed a few KiB more, or at its end.
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        if terminal is not None:
            terminal.flush()

    def stop(self, linger: bool = True) -> None:
        """End the run's stream: bounded, and never raising into pytest. A Ctrl-C
        meanwhile ends the linger, never the outputs (cancel.py). ``linger=False``: the
        session is being torn down by an exception already, so no one is kept waiting."""
        try:
            with self.cancel.finishing():
                self._stop(may_linger=linger)
        finally:
            self.cancel.release()  # after finishing: the handlers there were, SIGTERM last

    def _stop(self, may_linger: bool) -> None:
        server, publisher = self.server, self.publisher
        self.server = self.publisher = None
        set_active_publisher(None)
        if self.stacks is not None:
            self.stacks.stop()
        if self.last_words is not None:
            self.last_words.disarm()
        if self.resources is not None:
            self.resources.close()
        if server is None or publisher is None:
            return
        session_plugin = self.config.pluginmanager.get_plugin("jb-live-session")
        if session_plugin is not None:
            session_plugin.finish_if_skipped()
        publisher.flush()
        # Cancelled already (SIGTERM or Ctrl-C since the last test): no linger, the outputs
        # at once.
        linger = self.settings.jb_live_linger if may_linger else 0.0
        if linger > 0 and not self.cancel.cancelled:
            self._write_line(
                f"jb-live: serving the finished run for {linger:g} s more (Ctrl-C to stop)"
            )
        try:
            with self.cancel.lingering():
                server.stop(linger=0.0 if self.cancel.cancelled else linger)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM during the linger: its end, early
            pass
        except Exception as exc:  # the run is over; a stop error must not change its status
            self.warn(f"stopping the live server failed: {exc!r}")
        self.outputs.finish(server)
        self.stalls.close()
        server.remove_run_dir()
