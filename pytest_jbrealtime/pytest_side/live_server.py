"""The pytest side of the live server: bind, spawn the server process, feed it, stop it.

pytest binds the port itself, so the link is known and printed at once and a taken
port falls back to a free one before anything else happens; the bound socket is
handed to the server process (``server/process.py``), which starts serving it while
the tests already run (connections queue in the listen backlog meanwhile).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from threading import get_ident as _get_ident
from typing import Any

from pytest_jbrealtime.protocol import RUN_VIEWER_TOKEN_SECONDS
from pytest_jbrealtime.shared.auth import MIN_SECRET_BYTES, TokenAuthority, new_secret
from pytest_jbrealtime.shared.channel import (
    CONFIG,
    EVENTS,
    FINISH,
    LOG_LEVEL_ENV,
    PipeWriter,
    encode_frame,
)
from pytest_jbrealtime.shared.listening import ServerStartError, bind_listening_socket
from pytest_jbrealtime.shared.text import clipped, repaired
from pytest_jbrealtime.shared.unpatched import clock, system

# The token secret, if not a random one per run (never a command-line option: argv is public).
SECRET_ENV = "JB_LIVE_SECRET"
# "process" (the default) or "thread": where the server runs. The thread mode exists
# to measure the choice again (benchmarks/overhead.py); see docs/benchmarks.md.
SERVER_MODE = os.environ.get("JB_LIVE_SERVER_MODE", "process")
DRAIN_TIMEOUT = 1.0
# How long the end of the run may wait for the pipe to take what is still pending.
FINAL_DRAIN_TIMEOUT = 2.0
# How often a batch also reads the server's status lines (warnings, viewer count):
# a select per batch was 2% of the plugin's time in pytest (profiled, one per test).
CONTROL_READ_SECONDS = 0.1
MAX_WARNING_CHARS = 1000


class LiveServer:
    """A running server process and the pipes to it. Also the publisher's event sink."""

    def __init__(
        self,
        host: str,
        port: int,
        run_id: str,
        run_info: dict[str, Any],
        warn: Callable[[str], None],
        extra_config: dict[str, Any] | None = None,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.run_id = run_id
        self.run_info = run_info
        self._warn = warn
        # More of the server's config frame (the monitor's settings, metrics options).
        self.extra_config = dict(extra_config or {})
        self.port = 0
        self.viewer_count = 0
        self.run_dir = Path(tempfile.mkdtemp(prefix="jb-live-"))
        # Where the server process records the log (shared/recorder.py); set before start().
        self.record_path: Path | None = None
        self._secret = self._configured_secret() or new_secret()
        self.authority = TokenAuthority(self._secret, run_id=run_id)
        self.viewer_token = self.authority.mint("viewer", RUN_VIEWER_TOKEN_SECONDS)
        self._process: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None
        self._writer: PipeWriter | None = None
        self._control_fd = -1
        self._control_buffer = b""
        self._next_control_read = 0.0
        # pytest's thread: the only one that reads the control pipe and warns (the stack
        # responder's thread also hands batches over, when the server asks: publisher.py).
        self._owner_thread = _get_ident()
        self._control_messages: list[dict[str, Any]] = []
        self._warned_broken = False
        # What became of the recording (recorder.recording_outcome), once the server
        # has closed it; None if it never said (no recording, or the server died).
        self.recording: dict[str, Any] | None = None

    def _configured_secret(self) -> str | None:
        """A secret the user set (JB_LIVE_SECRET; a hub shares one), if long enough."""
        secret = os.environ.get(SECRET_ENV)
        if not secret:
            return None
        if len(secret.encode()) < MIN_SECRET_BYTES:
            self._warn(f"{SECRET_ENV} is shorter than {MIN_SECRET_BYTES} bytes and is not "
                       "used; this run signs its tokens with a random secret")
            return None
        return secret

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    @property
    def link_token(self) -> str | None:
        """The key the printed line gives a viewer (None: the page needs none from it)."""
        return self.viewer_token

    @property
    def viewer_link(self) -> str:
        return f"{self.url}?token={self.viewer_token}"

    def start(self) -> None:
        sock = bind_listening_socket(self.host, self.requested_port)
        self.port = sock.getsockname()[1]
        if self.requested_port and self.port != self.requested_port:
            self._warn(f"port {self.requested_port} is taken; the live server uses {self.port}")
        events_r, events_w = os.pipe()
        control_r, control_w = os.pipe()
        try:
            if SERVER_MODE == "thread":
                from pytest_jbrealtime.server.process import run_server

                self._thread = threading.Thread(
                    target=run_server, args=(sock.detach(), events_r, control_w),
                    name="jb-live-server", daemon=True,
                )
                self._thread.start()
            else:
                self._process = self._spawn(sock, events_r, control_w)
        except OSError as exc:
            for fd in (events_r, events_w, control_r, control_w):
                system.close(fd)
            raise ServerStartError(f"cannot start the server process: {exc}") from None
        finally:
            # The child has its copies; ours would keep the port bound after it exits.
            sock.close()
        if self._thread is None:
            system.close(events_r)
            system.close(control_w)
        self._control_fd = control_r
        os.set_blocking(control_r, False)
        self._writer = PipeWriter(events_w)
        self._writer.write(
            encode_frame(
                CONFIG,
                {**self.extra_config, "pytest_pid": system.getpid(),
                 "run_id": self.run_id, "secret": self._secret, "run_info": self.run_info,
                 "run_dir": str(self.run_dir), "drain_timeout": DRAIN_TIMEOUT,
                 "record_path": str(self.record_path) if self.record_path else None},
            )
        )

    def _spawn(self, sock: socket.socket, events_r: int, control_w: int) -> subprocess.Popen[bytes]:
        package_parent = str(Path(__file__).resolve().parent.parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (package_parent, env.get("PYTHONPATH", "")) if p
        )
        with open(self.run_dir / "server.log", "wb") as server_log:
            return subprocess.Popen(
                [sys.executable, "-m", "pytest_jbrealtime.server.process",
                 str(sock.fileno()), str(events_r), str(control_w)],
                pass_fds=(sock.fileno(), events_r, control_w),
                stdin=subprocess.DEVNULL,
                stdout=server_log,
                stderr=server_log,
                # Its own session: Ctrl-C on the terminal interrupts pytest, which
                # then stops the server in order, instead of killing it mid-send.
                start_new_session=True,
                cwd=self.run_dir,
                env=env,
            )

    # -- EventSink --------------------------------------------------------------

    def send_batch(self, events: list[dict[str, Any]]) -> None:
        if self._writer is None:
            return
        self._writer.write(encode_frame(EVENTS, events))
        if _get_ident() != self._owner_thread:
            return  # the responder's thread: control lines and warnings wait for pytest's
        now = clock.monotonic()
        if now >= self._next_control_read:
            self._next_control_read = now + CONTROL_READ_SECONDS
            self._read_control(0)
        if self._writer.broken and not self._warned_broken:
            self._warned_broken = True
            self._warn(
                "the live server stopped; the run goes on without it "
                f"(server log: {self.run_dir / 'server.log'})"
            )

    def close(self, timeout: float) -> None:
        self.stop(linger=0.0)

    # -- control pipe -------------------------------------------------------------

    def _read_control(self, timeout: float) -> None:
        if self._control_fd < 0:
            return
        ready, _, _ = system.select([self._control_fd], [], [], max(timeout, 0))
        if not ready:
            return
        try:
            chunk = system.read(self._control_fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            system.close(self._control_fd)
            self._control_fd = -1
            return
        self._control_buffer += chunk
        *lines, self._control_buffer = self._control_buffer.split(b"\n")
        for line in lines:
            try:
                message = system.json_loads(line)
            except ValueError:
                continue
            if "viewers" in message:
                self.viewer_count = int(message["viewers"])
            if "warning" in message:
                # Short and printable whatever the server put in it (text.py).
                self._warn(clipped(repaired(str(message["warning"])), MAX_WARNING_CHARS))
            if isinstance(message.get("recording"), dict):
                self.recording = message["recording"]
            self._control_messages.append(message)

    def _wait_control(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = clock.monotonic() + timeout
        while not condition():
            remaining = deadline - clock.monotonic()
            if remaining <= 0 or self._control_fd < 0:
                return condition()
            self._read_control(remaining)
        return True

    def wait_for_viewers(self, count: int, timeout: float) -> bool:
        return self._wait_control(lambda: self.viewer_count >= count, timeout)

    # -- stopping -----------------------------------------------------------------

    def remove_run_dir(self) -> None:
        """Delete the run's temporary folder once the outputs are written: what the user
        asked to keep (recording, report, their screenshots) was copied out of it.
        Kept when the server failed, or when server logging was asked for
        (``JB_LIVE_SERVER_LOG_LEVEL``), for its server.log."""
        if not self._warned_broken and not os.environ.get(LOG_LEVEL_ENV):
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def stop(self, linger: float) -> None:
        """Tell the server the run is over; wait a bounded time for it to finish."""
        process, thread, writer = self._process, self._thread, self._writer
        if writer is None or (process is None and thread is None):
            return
        self._process = self._thread = None
        interrupted = False
        try:
            writer.write(encode_frame(FINISH, {"linger": linger, "drain_timeout": DRAIN_TIMEOUT}))
            writer.drain(timeout=FINAL_DRAIN_TIMEOUT)
        except KeyboardInterrupt:  # Ctrl-C (or a cancel) while handing over: no linger
            interrupted = True
        writer.close()
        drained = lambda: any("drained" in m for m in self._control_messages)  # noqa: E731
        try:
            try:
                if interrupted:
                    raise KeyboardInterrupt
                self._wait_control(drained, timeout=linger + DRAIN_TIMEOUT + 0.5)
            except KeyboardInterrupt:
                if process is None:
                    raise
                # Ctrl-C (during --jb-live-linger): the server stops lingering and closes
                # its viewers as at the linger's end, "run finished", so they do not
                # reconnect in vain. A second Ctrl-C stops waiting for it.
                with contextlib.suppress(OSError):
                    process.send_signal(signal.SIGTERM)
                self._wait_control(drained, timeout=DRAIN_TIMEOUT + 0.5)
            if thread is not None:
                thread.join(timeout=0.5)  # a daemon thread: abandoned if it hangs
            elif process is not None:
                process.wait(timeout=0.5)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            if process is not None:
                process.kill()
                process.wait()
        finally:
            if self._control_fd >= 0:
                system.close(self._control_fd)
                self._control_fd = -1
