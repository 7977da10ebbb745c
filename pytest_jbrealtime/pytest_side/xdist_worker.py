"""The xdist worker's side of a watched run: publish what only the worker knows.

Lifecycle events come from the controller (``xdist_controller.py``). A worker
publishes only what happens inside its tests — user steps, ``emit``, Selenium
actions, screenshots, log records — through its own :class:`EventPublisher`, made
the active one, so that code calling ``active_publisher()`` works unchanged. Its
sink is a producer connection to the controller's server (``producer_client.py``).

Before xdist relays a report or a test's end, the worker makes sure the server has
received what it published in that phase (``ProducerConnection.sync``, only when it
sent something), so each test's events stay in order in the run's log.

A run published to a hub has no server on the controller: there the sink is
:class:`ChannelRelay`, which sends the events up xdist's own channel to the controller
(``xdist_controller.py`` forwards them to the hub). That channel also carries the
worker's ``logstart`` and reports, so the order needs no waiting at all.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_jbrealtime.protocol.compact import expanded
from pytest_jbrealtime.pytest_side.producer_client import ProducerConnection
from pytest_jbrealtime.pytest_side.publisher import (
    EventPublisher,
    active_publisher,
    publish_interrupt,
    set_active_publisher,
)
from pytest_jbrealtime.pytest_side.resources import ResourceMeter
from pytest_jbrealtime.pytest_side.steps import active_tracker
from pytest_jbrealtime.shared.last_words import LastWords
from pytest_jbrealtime.shared.settings import LiveSettings
from pytest_jbrealtime.shared.stack_responder import StackResponder

WORKERINPUT_KEY = "jb_live"
RELAY_EVENT = "jb_live_events"  # xdist_controller's name for these messages
WORKER_PLUGIN_NAME = "jb-live-worker"
CLOSE_TIMEOUT = 5.0


def start_worker(config: pytest.Config, settings: LiveSettings) -> None:
    """Called from ``plugin.pytest_configure`` on an xdist worker of a watched run."""
    info = getattr(config, "workerinput", {}).get(WORKERINPUT_KEY)
    if not info:  # the controller is not watching (its server did not start)
        return
    worker = WorkerPublishing(config, info)
    config.pluginmanager.register(worker, WORKER_PLUGIN_NAME)
    from pytest_jbrealtime.pytest_side.user_events import UserEventsPlugin

    # Steps, emit, Selenium and screenshots as in a serial run; screenshots are
    # written into the controller's run folder (same machine), which its server serves.
    run_dir = Path(info["run_dir"]) if info.get("run_dir") else None
    config.pluginmanager.register(
        UserEventsPlugin(settings, worker.publisher, None, run_dir, config.pluginmanager),
        "jb-live-user-events",
    )
    from pytest_jbrealtime.pytest_side.event_hook import EVENT_HOOK_NAME, EventHook

    # A worker's stderr reaches the controller's terminal only when it crashes: good enough
    # for another plugin's broken hook, which must not stop the worker.
    config.pluginmanager.register(
        EventHook(config, worker.publisher, lambda m: print(f"jb-live: WARNING: {m}",
                                                            file=sys.stderr)),
        EVENT_HOOK_NAME,
    )


class WorkerPublishing:
    def __init__(self, config: pytest.Config, info: dict[str, Any]) -> None:
        self.config = config
        self.worker = str(config.workerinput["workerid"])  # type: ignore[attr-defined]
        self.connection: ProducerConnection | ChannelRelay = (
            ChannelRelay(config) if info.get("relay")
            else ProducerConnection(info["url"], info["token"])
        )
        self.publisher = EventPublisher(self.connection, worker=self.worker)
        self.connection.start()
        set_active_publisher(self.publisher)
        self._attempts: dict[str, int] = {}
        self._reports = 0
        self._closed = False
        # Per-test CPU and memory of this worker, on each teardown report (resources.py).
        self.resources = ResourceMeter()
        # Stacks on demand (stack_responder.py), in the controller's run folder.
        self.stacks: StackResponder | None = None
        if info.get("run_dir"):
            publisher = self.publisher
            self.stacks = StackResponder(info["run_dir"], self.worker,
                                         lambda: publisher.current_test_id)
            self.stacks.start()
        # SIGTERM mid-test: the last words for the controller's server (last_words.py).
        self.last_words: LastWords | None = None
        if info.get("run_dir") and not info.get("relay"):
            self.last_words = LastWords(info["run_dir"], self.worker)
            self.last_words.arm()

    def _settle(self) -> None:
        """Everything published so far has reached the server (bounded wait)."""
        self.publisher.flush()
        self.connection.sync()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logstart(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self.publisher.flush()  # what came before this test is not held behind its start
        self.resources.test_started()
        self.publisher.current_phase = "setup"  # the controller publishes the phases
        attempt = self._attempts[nodeid] = self._attempts.get(nodeid, 0) + 1
        self._reports = 0
        # After the controller's test_started and its setup phase event.
        self.connection.after = {nodeid: [attempt, 1]}
        self.publisher.current_test_id = nodeid

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        self.publisher.flush()  # as serially: nothing waits behind a long call
        self.publisher.current_phase = "call"

    # tryfirst: before xdist's own hook sends the report to the controller.
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.resources.measure(report)
        if not hasattr(report, "context") and (  # a subtest's report is mid-call
                report.when == "call" or (report.when == "setup" and not report.passed)):
            self.publisher.current_phase = "teardown"  # what runs next
        self._settle()
        nodeid = report.nodeid
        if report.when in ("setup", "call") and not hasattr(report, "context"):
            # The controller publishes one phase event for this report; what the
            # worker publishes from now on follows it.
            self._reports += 1
            self.connection.after = {nodeid: [self._attempts.get(nodeid, 1), 1 + self._reports]}

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logfinish(self, nodeid: str, location: tuple[str, int | None, str]) -> None:
        self._settle()
        self.publisher.current_test_id = None
        self.connection.after = {}
        tracker = active_tracker()
        if tracker is not None:  # its steps are over (steps.py)
            tracker.test_finished(nodeid)

    @pytest.hookimpl(tryfirst=True)
    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        """Ctrl-C in a terminal reaches the workers too: the stack the interrupt unwound
        here, before pytest formats it (the controller, asking the responder later,
        would find pytest's reporting code). Not when the controller already took this
        test's last word (``last_word_for``): one ``test_interrupted`` a test."""
        stacks = self.stacks
        with stacks.last_word_lock if stacks is not None else contextlib.nullcontext():
            test_id = self.publisher.current_test_id
            # From now on the responder answers "no test": the controller's ask finds none.
            self.publisher.current_test_id = None
            if test_id is None or (stacks is not None and stacks.last_word_for == test_id):
                return
        publish_interrupt(self.publisher, test_id, excinfo.tb)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # Inside xdist's wrapper, which sends ``workeroutput`` to the controller after.
        self.close()
        output: dict[str, Any] = self.config.workeroutput  # type: ignore[attr-defined]
        output["jb_live_dropped"] = self.connection.dropped
        if self.connection.problem:
            output["jb_live_problem"] = self.connection.problem

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.publisher.current_test_id = None
        if self.stacks is not None:
            self.stacks.stop()
        if self.last_words is not None:
            self.last_words.disarm()
        self.resources.close()
        self.publisher.flush()
        self.connection.close(CLOSE_TIMEOUT)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.close()
        if active_publisher() is self.publisher:
            set_active_publisher(None)


_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, default=str)


def _encodable(event: dict[str, Any]) -> bool:
    try:
        _encoder.encode(event)
    except (TypeError, ValueError):
        return False
    return True


class ChannelRelay:
    """A worker's event sink on a hub run: xdist's channel to the controller.

    Each batch is one message (JSON text, so any value travels), sent at once: the
    channel keeps it in order with the ``logstart`` and reports xdist sends on it.
    Same face as :class:`ProducerConnection` for :class:`WorkerPublishing`.
    """

    def __init__(self, config: pytest.Config) -> None:
        # xdist's WorkerInteractor (registered without a name): its ``sendevent``.
        self._send: Any = None
        for plugin in config.pluginmanager.get_plugins():
            if type(plugin).__name__ == "WorkerInteractor" and callable(
                getattr(plugin, "sendevent", None)
            ):
                self._send = plugin.sendevent
        self.after: dict[str, list[int]] = {}  # unused: the channel keeps the order
        self.dropped = 0
        self.problem: str | None = (
            None if self._send is not None
            else "this pytest-xdist has no worker channel to relay events on"
        )

    def start(self) -> None:
        pass

    def send_batch(self, events: list[dict[str, Any]]) -> None:
        if self._send is None:
            self.dropped += len(events)
            return
        events = expanded(events)  # events only on the channel (see ProducerConnection)
        try:
            text = _encoder.encode(events)
        except (TypeError, ValueError):  # one is not JSON at all (a cycle): only it is lost
            kept = [event for event in events if _encodable(event)]
            self.dropped += len(events) - len(kept)
            text = _encoder.encode(kept)
        try:
            self._send(RELAY_EVENT, text=text)
        except Exception as exc:  # the controller is gone: the tests go on
            self.dropped += len(events)
            if self.problem is None:
                self.problem = f"cannot relay events to the controller ({exc!r})"[:300]

    def sync(self) -> None:
        pass  # sent in order with xdist's own messages: nothing to wait for

    def close(self, timeout: float) -> None:
        pass
