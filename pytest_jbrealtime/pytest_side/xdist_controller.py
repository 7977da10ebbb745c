"""The xdist controller's side of a watched run: every event says which worker it is about.

xdist relays each worker's ``logstart`` / ``logreport`` / ``logfinish`` to the
controller, where ``session.LivePlugin`` turns them into events as in a serial run.
This plugin adds what a parallel run needs on top:

- the worker: each relay runs with the publisher's ``worker`` set to the relaying
  node's id (``gw0`` …), so every event published while xdist handles a worker's
  message carries it, whatever hook publishes it;
- the phases: ``pytest_runtest_setup/call/teardown`` only run on the workers, so the
  phase events come from the relayed reports (setup done: ``call`` begins …);
- collection (the controller collects nothing; the first worker's ids stand in);
- worker life: ``worker_started``, ``worker_finished``, ``worker_crashed``;
- each worker's producer address and token, passed in ``workerinput``;
- on a hub run (``relay``), no server here to connect to: workers send their own
  events up xdist's channel (a ``jb_live_events`` message, ``xdist_worker.py``) and
  this plugin forwards them into the run's stream. The channel is the one that carries
  the worker's ``logstart`` and reports, in order, and DSession handles its messages in
  that order: a worker's step lands after its test's ``test_started`` and phase, and
  before the phase or ``test_completed`` that the next report makes, with no ``after``
  bookkeeping and no waiting on the worker.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from pytest_jbrealtime.protocol import PRODUCER_TOKEN_SECONDS, split_node_id
from pytest_jbrealtime.protocol.events import (
    CollectedTest,
    TestInterrupted,
    WorkerCrashed,
    WorkerFinished,
    WorkerStarted,
)
from pytest_jbrealtime.pytest_side.reports import phase_after
from pytest_jbrealtime.pytest_side.xdist_worker import RELAY_EVENT, WORKERINPUT_KEY
from pytest_jbrealtime.shared.unpatched import system

if TYPE_CHECKING:
    from pytest_jbrealtime.pytest_side.live_run import LiveRun
    from pytest_jbrealtime.pytest_side.session import LivePlugin

ANY_ADDRESS = {"0.0.0.0", "::", ""}
# How long Ctrl-C waits for the workers' stacks (all asked at once; a live one answers
# in milliseconds).
LAST_WORDS_TIMEOUT = 2.0
# How long a crashed worker's exit status is waited for (a dead process has it at once).
CRASH_WAIT = 1.0


def worker_exit_code(node: Any) -> int | None:
    """How a crashed worker's process ended (``Popen.returncode``: -9 for SIGKILL), if
    execnet's process handle says within ``CRASH_WAIT`` (its end of the pipe closes a
    moment before the kernel has the status); None when it cannot tell."""
    popen = getattr(getattr(getattr(node, "gateway", None), "_io", None), "popen", None)
    if not isinstance(popen, subprocess.Popen):
        return None
    try:
        code: int | None = popen.wait(CRASH_WAIT)
    except (subprocess.TimeoutExpired, OSError):
        return None
    return code


def tests_from_ids(ids: list[str]) -> list[CollectedTest]:
    """``collection_finished`` entries from node ids alone (the controller has no items)."""
    tests: list[CollectedTest] = []
    for test_id in ids:
        node_id = split_node_id(test_id)
        tests.append(
            {
                "test_id": test_id,
                "file": node_id.file,
                "cls": node_id.cls,
                "name": node_id.name,
                "markers": [],
            }
        )
    return tests


class XdistController:
    """Registered as ``jb-live-xdist`` on a watched run when pytest-xdist is installed."""

    def __init__(self, live_run: LiveRun, session_plugin: LivePlugin, relay: bool = False) -> None:
        assert live_run.server is not None and live_run.publisher is not None
        self.config = live_run.config
        self.server = live_run.server
        self.publisher = live_run.publisher
        self.warn = live_run.warn
        self.session_plugin = session_plugin
        self.relay = relay
        self.active = False
        self._collection_published = False
        # worker id -> the test it runs now (for worker_crashed)
        self.running: dict[str, str] = {}

    # -- setting the workers up ------------------------------------------------------

    @property
    def producer_url(self) -> str:
        host = self.server.host
        if host in ANY_ADDRESS:
            host = "127.0.0.1" if host != "::" else "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"ws://{host}:{self.server.port}/ws/producer"

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        worker = str(node.gateway.id)
        if self.relay:
            node.workerinput[WORKERINPUT_KEY] = {"relay": True,
                                                 "run_dir": str(self.server.run_dir)}
            # xdist sets this method as the channel's callback right after this hook;
            # DSession then calls ``worker_jb_live_events`` for each relayed batch.
            self._install_relay_handler()
            node.process_from_remote = self._relaying(node, node.process_from_remote)
            return
        node.workerinput[WORKERINPUT_KEY] = {
            "url": self.producer_url,
            "token": self.server.authority.mint("producer", PRODUCER_TOKEN_SECONDS, subject=worker),
            "run_dir": str(self.server.run_dir),
        }

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        dsession = self.config.pluginmanager.get_plugin("dsession")
        if dsession is None:  # xdist installed but not distributing: a serial run
            # Out of the way of every test's hooks (pluggy calls each plugin's, even
            # one that returns at once: measurable on a suite of trivial tests).
            self.config.pluginmanager.unregister(self)
            return
        self.active = True
        # The relayed reports' phases are this plugin's to publish, with their worker's
        # name (below); the session plugin's own would say them twice.
        self.session_plugin.phases_from_reports = False
        # DSession calls ``self.worker_<event>(node=…, …)`` for each message from a
        # worker; wrapping those on the instance stamps everything the relay publishes.
        for name in dir(type(dsession)):
            relay = getattr(dsession, name, None)
            if name.startswith("worker_") and callable(relay):
                setattr(dsession, name, self._stamped(relay))
        self._install_relay_handler()

    def _install_relay_handler(self) -> None:
        dsession = self.config.pluginmanager.get_plugin("dsession")
        name = f"worker_{RELAY_EVENT}"
        if self.relay and dsession is not None and name not in vars(dsession):
            setattr(dsession, name, self._stamped(self._worker_events))

    def _relaying(self, node: Any, process: Callable[[Any], None]) -> Callable[[Any], None]:
        """xdist's handler of a worker's messages, taking ours too (in its receiver thread)."""

        def process_from_remote(eventcall: Any) -> None:
            if isinstance(eventcall, tuple) and eventcall[0] == RELAY_EVENT:
                # Queued for the main thread behind the worker's earlier messages.
                node.notify_inproc(RELAY_EVENT, node=node, text=eventcall[1].get("text", ""))
                return
            process(eventcall)

        return process_from_remote

    def _worker_events(self, node: Any, text: str) -> None:
        try:
            events = system.json_loads(text)
        except ValueError:
            return
        if isinstance(events, list):
            self.publisher.forward([e for e in events if isinstance(e, dict) and "type" in e])

    def _stamped(self, relay: Callable[..., Any]) -> Callable[..., Any]:
        publisher = self.publisher

        def relay_with_worker(**kwargs: Any) -> Any:
            gateway = getattr(kwargs.get("node"), "gateway", None)
            publisher.worker = str(getattr(gateway, "id", None) or "main")
            try:
                return relay(**kwargs)
            finally:
                publisher.worker = "main"

        return relay_with_worker

    # -- collection ----------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if self._collection_published:
            return
        self._collection_published = True
        self.publisher.worker = "main"  # the run's collection, not one worker's
        self.session_plugin.publish_collection(tests_from_ids(list(ids)))

    # -- one test: phases from the relayed reports ---------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        if not self.active:
            return
        self.running[self.publisher.worker] = nodeid
        self.publisher.publish_phase(nodeid, "setup")

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not self.active or hasattr(report, "context"):  # subtests end no phase
            return
        next_phase = phase_after(report)
        if next_phase is not None:
            self.publisher.publish_phase(report.nodeid, next_phase)
        if report.when == "setup":
            # As serially when a call begins: nothing waits behind a long test (the
            # worker's own events of this test are held until its start is logged).
            self.publisher.flush()

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logfinish(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        if not self.active:
            return
        self.running.pop(self.publisher.worker, None)

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """Ctrl-C on the controller: its workers are still in their tests (xdist stops
        them after this hook), so each one's stack comes from its responder now
        (last_words.py), as a ``test_interrupted`` of that worker."""
        if not self.active or not self.running:
            return
        from pytest_jbrealtime.shared.last_words import ask_workers

        running = dict(self.running)
        try:
            answered = ask_workers(self.server.run_dir, running, LAST_WORDS_TIMEOUT)
            for worker, threads in sorted(answered.items()):
                self.publisher.worker = worker
                interrupted: TestInterrupted = {
                    "test_id": running[worker], "reason": "KeyboardInterrupt", "threads": threads}
                try:
                    self.publisher.publish("test_interrupted", interrupted)
                finally:
                    self.publisher.worker = "main"
            self.publisher.flush()
        except Exception:  # the run is ending; its last word is not worth a crash
            pass

    # -- worker life ----------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodeready(self, node: Any) -> None:
        info = getattr(node, "workerinfo", {}) or {}
        version = info.get("version_info")
        started: WorkerStarted = {
            "python": ".".join(str(v) for v in version[:3]) if version else None,
        }
        self.publisher.publish("worker_started", started)
        self.publisher.flush()

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        worker = str(getattr(getattr(node, "gateway", None), "id", "?"))
        if error is None:
            output = getattr(node, "workeroutput", {}) or {}
            dropped = int(output.get("jb_live_dropped", 0))
            problem = output.get("jb_live_problem")
            if problem:
                self.warn(
                    f"worker {worker}: {problem}; its steps, browser actions and other "
                    f"events from inside tests are missing from the stream ({dropped} dropped)"
                )
            finished: WorkerFinished = {"dropped_events": dropped}
            self.publisher.publish("worker_finished", finished)
        else:
            fields: WorkerCrashed = {"error": str(error)}
            test_id = self.running.pop(worker, None)
            if test_id is not None:
                fields["test_id"] = test_id
            code = worker_exit_code(node)
            if code is not None and code < 0:
                with contextlib.suppress(ValueError):
                    fields["signal"] = signal.Signals(-code).name
            elif code:
                fields["exit_code"] = code
            self.publisher.publish("worker_crashed", fields)
        self.publisher.flush()
