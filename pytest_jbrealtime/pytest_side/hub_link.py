"""``pytest --jb-live-hub URL``: the run published to a hub instead of served here.

:class:`HubLink` stands where a run's own ``LiveServer`` would (``live_run.py``): the
publisher's sink, the link printed in the terminal (the run's page on the hub; no
token in it: viewers use their own), the run folder for screenshots (the producer
sends each image to the hub with its event), and the local
recording (``--jb-live-record``), which this process writes itself since no server
process does, and, once stopped, the verdicts the hub's history gave the run's tests
(for the CI outputs). The connection is ``producer.HubProducer``'s thread.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pytest_jbrealtime.pytest_side.hub_producer import NO_TOKEN, SPOOL_BYTES, TOKEN_ENV, HubProducer
from pytest_jbrealtime.pytest_side.hub_spool import Spool
from pytest_jbrealtime.pytest_side.janitor import FolderJanitor
from pytest_jbrealtime.pytest_side.live_server import LiveServer
from pytest_jbrealtime.shared.channel import LOG_LEVEL_ENV
from pytest_jbrealtime.shared.listening import ServerStartError
from pytest_jbrealtime.shared.log import EventLog
from pytest_jbrealtime.shared.recorder import RecordingWriter, open_recorder, recording_outcome
from pytest_jbrealtime.shared.recording import SCREENSHOTS_DIRECTORY
from pytest_jbrealtime.shared.unpatched import clock, system


def producer_socket_url(hub_url: str) -> str:
    parts = urlsplit(hub_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/ws/producer", "", ""))


def page_url(hub_url: str, path: str) -> str:
    parts = urlsplit(hub_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + path, "", ""))


def default_shard() -> str:
    return f"{system.gethostname()[:40]}-{system.getpid()}".replace("/", "-")


class HubLink(LiveServer):
    def __init__(
        self,
        hub_url: str,
        run_id: str,
        shard: str | None,
        run_info: dict[str, Any],
        warn: Callable[[str], None],
        end_wait: float,
        expected_shards: int = 0,
        stall_after: float | str = "off",
        on_stalled: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        super().__init__(host="127.0.0.1", port=0, run_id=run_id, run_info=run_info, warn=warn)
        self.hub_url = hub_url
        self.shard = shard or default_shard()
        self.end_wait = end_wait
        self.expected_shards = expected_shards
        self.producer: HubProducer | None = None
        # Stall alerts are this process's to raise: the hub does not know the option.
        self.stall_after = stall_after
        self.on_stalled = on_stalled
        self.recorder: RecordingWriter | None = None
        # The hub's verdicts of this run's tests (its acks bring them), once stopped; and
        # why some may be missing. The CI outputs use them (outputs.py, docs/ci.md).
        self.verdicts: dict[str, str] = {}
        self.verdicts_missing = "the hub's history judged none of them"
        self._janitor: FolderJanitor | None = None

    def _configured_secret(self) -> str | None:
        return None  # this process signs nothing: the hub's tokens are the hub's

    @property
    def url(self) -> str:
        return page_url(self.hub_url, f"/runs/{self.run_id}/")

    @property
    def link_token(self) -> str | None:
        # The hub's page takes the hub's viewer tokens (hub/mint.py), never this process's.
        return None

    @property
    def viewer_link(self) -> str:
        return self.url

    def start(self) -> None:
        token = os.environ.get(TOKEN_ENV) or None
        local_log: EventLog | None = None
        if self.record_path is not None:
            self.recorder = open_recorder(
                {"record_path": str(self.record_path), "run_id": self.run_id,
                 "run_info": self.run_info, "run_dir": str(self.run_dir)},
                lambda m: self._control_messages.append({"warning": m}),
            )
            if self.recorder is not None:
                local_log = EventLog(self.run_id)
                local_log.listeners.append(self.recorder)
        if not os.environ.get(LOG_LEVEL_ENV):  # (kept for its logs otherwise)
            # No server process here to remove the run folder if pytest dies.
            with contextlib.suppress(OSError):
                self._janitor = FolderJanitor(self.run_dir)
        try:
            spool = Spool(self.run_dir / "hub-spool.jsonl", SPOOL_BYTES)
        except OSError as exc:
            raise ServerStartError(f"cannot create the hub buffer: {exc}") from None
        self.producer = HubProducer(
            producer_socket_url(self.hub_url), token, self.run_id, self.shard,
            {**self.run_info, "shard": self.shard}, spool, local_log, self.expected_shards,
            screenshots_dir=self.run_dir / SCREENSHOTS_DIRECTORY, run_dir=self.run_dir,
            stall_after=self.stall_after, on_stalled=self.on_stalled,
        )
        # SIGTERM: the last word is out, the process ends next (pytest_side/hub_producer.py).
        self.producer.before_exit = self._close_recording
        self.producer.start()
        if token is None:
            self._warn(f"{TOKEN_ENV} is not set: the run is not published to the hub "
                       f"{self.hub_url} (a producer token: python -m pytest_jbrealtime token "
                       "--role producer)")

    def send_batch(self, events: list[dict[str, Any]]) -> None:
        if self.producer is not None:
            self.producer.send_batch(events)

    def wait_for_viewers(self, count: int, timeout: float) -> bool:
        """Wait until the hub says ``count`` viewers watch the run (on any of its hubs)."""
        deadline = clock.monotonic() + timeout
        while True:
            producer = self.producer
            if producer is None:
                return False
            self.viewer_count = producer.viewer_count
            if self.viewer_count >= count:
                return True
            if producer.fatal is not None or clock.monotonic() >= deadline:
                return False
            clock.sleep(0.05)

    def _close_recording(self) -> None:
        if self.recorder is not None:
            self.recorder.close()

    def close(self, timeout: float) -> None:
        self.stop(linger=0.0)

    def remove_run_dir(self) -> None:
        super().remove_run_dir()
        janitor, self._janitor = self._janitor, None
        if janitor is not None:
            if self.run_dir.exists():  # kept on purpose (the run's server failed)
                janitor.keep()
            else:
                janitor.release()

    def stop(self, linger: float) -> None:
        producer, self.producer = self.producer, None
        if producer is None:
            return
        delivered = producer.stop(self.end_wait)
        self.verdicts = dict(producer.verdicts)
        if self.recorder is not None:
            self.recorder.close()
        self.recording = recording_outcome(
            {"record_path": str(self.record_path) if self.record_path else None}, self.recorder)
        spool = producer.spool
        reason = producer.fatal or producer.first_problem or "no answer"
        if not delivered:
            self.verdicts_missing = f"it did not get the whole run: {reason}"
        if not delivered and producer.fatal != NO_TOKEN:
            dropped = f", {spool.dropped} dropped when the buffer was full" if spool.dropped else ""
            where = (f"; the run's recording: {self.record_path}" if self.recorder is not None
                     else "")
            self._warn(f"the hub {self.hub_url} did not get {producer.undelivered} of "
                       f"{spool.last + spool.dropped} events ({reason}{dropped}){where}")
        spool.close()
