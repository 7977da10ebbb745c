"""The server process: uvicorn serving the app on the socket pytest bound.

Started by :class:`pytest_jbrealtime.pytest_side.live_server.LiveServer` as
``python -m pytest_jbrealtime.server.process SOCKET_FD EVENTS_FD CONTROL_FD``.
It reads event batches from the events pipe into the log, tells pytest how many
viewers are connected over the control pipe, and on ``finish`` lets the viewers
catch up (bounded), closes them and exits. A child process and not a thread: the
server would otherwise share the GIL with the tests (see docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from pytest_jbrealtime.server.app import ServerState, create_app
from pytest_jbrealtime.server.core import access_log_wanted, uvicorn_config
from pytest_jbrealtime.server.interrupted import InterruptedTests
from pytest_jbrealtime.server.limits import ServerLimits
from pytest_jbrealtime.server.redact import configure_server_logging
from pytest_jbrealtime.shared.auth import TokenAuthority
from pytest_jbrealtime.shared.channel import (
    ASK_FOR_HELD_MAX_SECONDS,
    ASK_FOR_HELD_SECONDS,
    CONFIG,
    EVENTS,
    FINISH,
    LOG_LEVEL_ENV,
    PIPE_SIZE,
    FrameDecoder,
)
from pytest_jbrealtime.shared.log import EventLog
from pytest_jbrealtime.shared.recorder import open_recorder, recording_outcome
from pytest_jbrealtime.shared.stack_responder import FLUSH, responder_path
from pytest_jbrealtime.shared.unpatched import clock

if TYPE_CHECKING:
    from pytest_jbrealtime.server.stall_alerts import ServerStallAlerts

# Also paces what viewers get: one read, one log append and one send per viewer at
# most each poll. Under -n 2 on two cores every core is busy and the server's CPU is
# paid in the run's wall time (docs/benchmarks.md, xdist).
POLL_SECONDS = 0.02


class ControlPipe:
    """Status lines to pytest (JSON, one per line). Never blocks the server's loop."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        os.set_blocking(fd, False)

    def send(self, message: dict[str, Any]) -> None:
        # pytest is not reading (or gone): a status line is not worth waiting for.
        with contextlib.suppress(OSError):
            os.write(self._fd, (json.dumps(message) + "\n").encode())


class EventsPipePoller:
    """Reads the events pipe every ``POLL_SECONDS`` instead of waiting on it.

    Waiting would make each of pytest's writes wake this process, and the wakeup is
    paid inside pytest's write call (profiled: about 200 µs a flush on a busy 2-core
    machine, some 5% of a trivial suite). Polled, a write is a copy into the pipe's
    1 MiB buffer; the cost is up to ``POLL_SECONDS`` of extra latency.

    A pipe quiet for ``ASK_FOR_HELD_SECONDS`` may mean pytest holds events published
    just before a long test: the poller asks pytest's stack responder for them
    (pytest_side/publisher.py), and again, less and less often, while the pipe stays
    quiet (shared/channel.py).
    """

    def __init__(self, fd: int, server: LiveServerProcess, decoder: FrameDecoder,
                 responder: Path | None = None) -> None:
        self._fd = fd
        self._server = server
        # The decoder that read the config frame: it may hold the start of the next one.
        self._decoder = decoder
        # pytest's stack responder (None: no run folder, nobody to ask).
        self._responder = responder

    def _ask_for_held_events(self) -> None:
        if self._responder is None:
            return
        # Never waits. A responder that is not there (yet), or whose backlog is full, is
        # asked again at the next ask of the quiet spell.
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as sock:
            sock.setblocking(False)
            sock.connect(str(self._responder))
            sock.send(FLUSH)

    async def run(self) -> None:
        os.set_blocking(self._fd, False)
        quiet_wait = ASK_FOR_HELD_SECONDS
        ask_at = clock.monotonic() + quiet_wait
        try:
            while True:
                try:
                    chunk = os.read(self._fd, PIPE_SIZE)
                except BlockingIOError:
                    now = clock.monotonic()
                    if now >= ask_at:
                        self._ask_for_held_events()
                        quiet_wait = min(2 * quiet_wait, ASK_FOR_HELD_MAX_SECONDS)
                        ask_at = now + quiet_wait
                    await asyncio.sleep(POLL_SECONDS)
                    continue
                quiet_wait = ASK_FOR_HELD_SECONDS
                ask_at = clock.monotonic() + quiet_wait
                if not chunk:
                    return  # pytest closed its end (finished, or died)
                for kind, body in self._decoder.feed(chunk):
                    self._server.on_frame(kind, body)
                await asyncio.sleep(0)  # let the viewers' senders run between chunks
        finally:
            self._server.finish_requested.set()

    def read_available(self) -> None:
        """What pytest has written and the poll has not read yet, now (at the end)."""
        while True:
            try:
                chunk = os.read(self._fd, PIPE_SIZE)
            except OSError:  # BlockingIOError: nothing more; or the pipe is gone
                return
            if not chunk:
                return
            for kind, body in self._decoder.feed(chunk):
                self._server.on_frame(kind, body)


class LiveServerProcess:
    def __init__(self, config: dict[str, Any], control: ControlPipe) -> None:
        self.config = config
        self.control = control
        self.log = EventLog(config["run_id"])
        self.state = ServerState(
            log=self.log,
            authority=TokenAuthority(config["secret"], run_id=config["run_id"]),
            run_info=config.get("run_info", {}),
            metrics_public=bool(config.get("metrics_public", False)),
            run_dir=Path(config["run_dir"]) if config.get("run_dir") else None,
            limits=ServerLimits.from_config(config.get("limits")),
        )
        # The recording is the log written to disk as it grows (--jb-live-record).
        self.recorder = open_recorder(config, lambda m: control.send({"warning": m}))
        if self.recorder is not None:
            self.log.listeners.append(self.recorder)
        self.finish_requested = asyncio.Event()
        # SIGTERM (pytest's Ctrl-C during --jb-live-linger): end now, in order.
        self.stop_now = asyncio.Event()
        # pytest says when the run is over; the pipe closing without it means pytest died.
        self.finish_received = False
        self.linger = 0.0
        self.drain_timeout = float(config.get("drain_timeout", 1.0))
        self.alerts = self.stall_alerts()
        # The last words of test processes killed mid-test (server/interrupted.py).
        assert self.state.registry.stacks is not None
        self.interrupted = InterruptedTests(self.log, self.state.run_dir,
                                            self.state.registry.stacks.whereabouts)

    def on_frame(self, kind: str, body: Any) -> None:
        if kind == EVENTS:
            # Through the intake: xdist workers' held events go in where they fit.
            self.state.producers.from_pipe(body)
        elif kind == FINISH:
            self.finish_received = True
            self.linger = float(body.get("linger", 0.0))
            self.drain_timeout = float(body.get("drain_timeout", self.drain_timeout))
            self.finish_requested.set()

    def start_monitor(self) -> asyncio.Task[None] | None:
        """The system monitor (monitor.py) in this process, if the run asked for it."""
        plain = self.config.get("monitor")
        if not plain:
            return None
        try:
            from pytest_jbrealtime.server.monitor import MonitorConfig, SystemMonitor

            monitor = SystemMonitor(MonitorConfig.from_dict(plain), self.log,
                                    on_status=self.state.registry.metrics.note_status)
        except Exception as exc:  # psutil missing or broken: the run goes on unmonitored
            print(f"jb-live: system monitor off: {exc!r}", file=sys.stderr, flush=True)
            self.control.send({"warning": f"system monitor off: {exc!r}"})
            return None
        return asyncio.create_task(monitor.run())

    def stall_alerts(self) -> ServerStallAlerts | None:
        """Stall alerts (server/stall_alerts.py) unless the run turned them off; made
        before the first frame is read, so that they see every test start."""
        setting = self.config.get("stall_after", "off")
        if setting in (None, "off"):
            return None
        from pytest_jbrealtime.server.stacks import local_fetch
        from pytest_jbrealtime.server.stall_alerts import ServerStallAlerts

        return ServerStallAlerts(self.log, setting, local_fetch(self.state.run_dir),
                                 self.state.run_dir)

    async def report_viewer_count(self) -> None:
        registry = self.state.registry
        while True:
            await registry.count_changed.wait()
            registry.count_changed.clear()
            self.control.send({"viewers": len(registry.viewers)})

    def on_sigterm(self) -> None:
        """Stop lingering (or serving) at once; viewers are closed as at the run's end:
        1000, "run finished", once they have the whole run (1001 if it never finished)."""
        self.stop_now.set()
        self.finish_requested.set()

    async def run(self, sock: socket.socket, events_fd: int, decoder: FrameDecoder) -> None:
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            # Only in the main thread of the server process (not in thread mode).
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self.on_sigterm)
        run_dir = self.config.get("run_dir")
        pipe = EventsPipePoller(events_fd, self, decoder,
                                responder_path(run_dir, "main") if run_dir else None)
        poller = asyncio.create_task(pipe.run())
        server = uvicorn.Server(uvicorn_config(create_app(self.state), self.state.limits,
                                               access_log=access_log_wanted()))
        # startup/shutdown by hand instead of serve(): uvicorn's main loop ticks every
        # 0.1 s and would add that to the end of every run.
        server.config.load()
        server.lifespan = server.config.lifespan_class(server.config)
        await server.startup(sockets=[sock])
        if not server.started:
            return
        counter = asyncio.create_task(self.report_viewer_count())
        monitor = self.start_monitor()
        stalls = asyncio.create_task(self.alerts.run()) if self.alerts is not None else None
        await self.finish_requested.wait()
        # A SIGTERM (pytest's Ctrl-C or cancel during the linger) can come between two
        # polls: what pytest wrote before it (the run's end, FINISH) goes in first, so the
        # recording is whole and pytest's folder is not taken for an orphan's.
        pipe.read_available()
        # pytest died before session_finished: nothing held back for it stays out,
        # and what its tests were doing goes in.
        self.state.producers.merge(force=True)
        self.interrupted.run_killed()
        if self.linger > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stop_now.wait(), self.linger)
        await self._drain()
        poller.cancel()
        counter.cancel()
        for task in (monitor, stalls):
            if task is not None:
                task.cancel()
        if self.recorder is not None:
            self.recorder.close()  # before "drained": pytest reads it for the report next
        outcome = recording_outcome(self.config, self.recorder)
        if outcome is not None:
            self.control.send({"recording": outcome})
        self.control.send({"drained": True})
        self.log.close()
        with contextlib.suppress(asyncio.TimeoutError, Exception):
            await asyncio.wait_for(server.shutdown(), timeout=0.5)

    async def _drain(self) -> None:
        """Let viewers receive the end of the run and close them, for a bounded time."""
        registry = self.state.registry
        registry.close_when_caught_up()
        deadline = asyncio.get_running_loop().time() + self.drain_timeout
        while registry.viewers and asyncio.get_running_loop().time() < deadline:
            registry.count_changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(registry.count_changed.wait(), timeout=0.05)


def read_config(
    events_fd: int,
) -> tuple[dict[str, Any], list[tuple[str, Any]], FrameDecoder]:
    """The first frame on the events pipe is the configuration (the secret stays off argv).

    Returns it, the frames that came in the same read, and the decoder (which may
    hold the start of the next frame).
    """
    decoder = FrameDecoder()
    while True:
        chunk = os.read(events_fd, 65536)
        if not chunk:
            raise SystemExit("pytest-jbrealtime server: no configuration received")
        frames = decoder.feed(chunk)
        if frames:
            kind, body = frames[0]
            if kind != CONFIG:
                raise SystemExit("pytest-jbrealtime server: first frame must be config")
            return dict(body), frames[1:], decoder


def run_server(sock_fd: int, events_fd: int, control_fd: int) -> None:
    """Serve until pytest says the run is over (or its end of the pipe closes)."""
    config, early, decoder = read_config(events_fd)
    control = ControlPipe(control_fd)
    sock = socket.socket(fileno=sock_fd)

    async def amain() -> LiveServerProcess:
        process = LiveServerProcess(config, control)
        for kind, body in early:
            process.on_frame(kind, body)
        await process.run(sock, events_fd, decoder)
        return process

    process = asyncio.run(amain())
    if not process.finish_received:
        remove_orphaned_run_dir(config)


def remove_orphaned_run_dir(config: dict[str, Any]) -> None:
    """pytest died (``os._exit``, a signal, pytest-timeout's thread method) and cannot
    delete the run's temporary folder: the server, its last user, does. Kept, as pytest
    keeps it, when server logging was asked for (``JB_LIVE_SERVER_LOG_LEVEL``)."""
    run_dir = config.get("run_dir")
    if run_dir and not os.environ.get(LOG_LEVEL_ENV):
        shutil.rmtree(run_dir, ignore_errors=True)


def main(argv: list[str]) -> None:
    sock_fd, events_fd, control_fd = (int(a) for a in argv[:3])
    # Only in the child: in thread mode the logging belongs to pytest.
    configure_server_logging()
    run_server(sock_fd, events_fd, control_fd)
    # Skip interpreter teardown: nothing is left to flush and a stuck viewer
    # connection must not hold the exit.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
