"""Replay: ``python -m pytest_jbrealtime replay`` serves a recording to real viewers.

Recordings come from real ``pytest --jb-live-record`` runs (or are written here when
a test needs exact timestamps); the replay server is a real subprocess, the viewer a
real WebSocket client.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pytest_jbrealtime.protocol import CloseCode
from pytest_jbrealtime.shared.recording import FORMAT_NAME, read_recording
from tests.held_run import close_code_of
from tests.support import LinkedProcess, wait_until, watch_sync

SUITE = """
import pytest

def test_ok():
    print("output")

def test_bad():
    assert 1 == 2

@pytest.mark.parametrize("n", range(5))
def test_param(n):
    pass
"""


class ReplayProcess(LinkedProcess):
    """``python -m pytest_jbrealtime replay …`` in a subprocess, its output read as it comes."""

    def __init__(self, *args: str) -> None:
        super().__init__([sys.executable, "-m", "pytest_jbrealtime", "replay", "--port", "0",
                          *args])

    def ws_url(self, client_id: str = "replay-test", token: str | None = None) -> str:
        return super().ws_url(client_id, token)

    def run_info(self) -> dict[str, Any]:
        self.ws_url()
        response = httpx.get(f"http://{self.host}/api/run", params={"token": self.token})
        response.raise_for_status()
        info: dict[str, Any] = response.json()
        return info

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        code = self.process.wait()
        self._reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code


@pytest.fixture
def start_replay() -> Iterator[Any]:
    replays: list[ReplayProcess] = []

    def start(*args: str) -> ReplayProcess:
        replays.append(ReplayProcess(*args))
        return replays[-1]

    yield start
    for replay in replays:
        replay.stop()


@pytest.fixture
def recorded_run(suite_dir: pytest.Pytester, start_live: Any) -> tuple[Path, list[dict[str, Any]]]:
    """A recording made by an earlier run, and what a live viewer of that run received."""
    suite_dir.makepyfile(test_suite=SUITE)
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1",
                     "--jb-live-record", "run.jsonl")
    watched = watch_sync(run.ws_url())
    assert run.wait() == 1
    return suite_dir.path / "run.jsonl", watched.events


def test_replay_serves_what_the_live_viewer_received(
    recorded_run: tuple[Path, list[dict[str, Any]]], start_replay: Any
) -> None:
    path, live_events = recorded_run
    replay = start_replay(str(path), "--final")
    replayed = watch_sync(replay.ws_url())
    assert replayed.events == live_events
    assert replayed.close_code == 1000  # everything sent, as at the end of a live run
    assert "replay complete" in replay.output
    # A viewer that resumes mid-way gets the rest, once, as live.
    middle = live_events[len(live_events) // 2]["seq"]
    resumed = watch_sync(replay.ws_url(), first_messages=[
        {"type": "resume", "run_id": live_events[0]["run_id"], "last_seq": middle}])
    assert resumed.events == live_events[middle:]
    assert replay.stop() == 0


def test_replay_link_key_prints_the_address_and_the_key_apart(
    recorded_run: tuple[Path, list[dict[str, Any]]], start_replay: Any
) -> None:
    """``replay --link key``, as ``--jb-live-link key``: the bare address, which opens
    nothing, and the key beside it, which does."""
    path, live_events = recorded_run
    replay = start_replay(str(path), "--final", "--link", "key")
    assert replay.wait_for_link() == f"http://{replay.host}/"
    assert f"  key: {replay.token}" in replay.output
    assert asyncio.run(close_code_of(f"ws://{replay.host}/ws/keyless")) == CloseCode.BAD_TOKEN
    assert watch_sync(replay.ws_url()).events == live_events


def test_truncated_recording_replays_up_to_the_cut_and_says_where(
    recorded_run: tuple[Path, list[dict[str, Any]]], start_replay: Any, tmp_path: Path
) -> None:
    path, live_events = recorded_run
    lines = path.read_bytes().split(b"\n")
    keep = len(lines) // 2  # the header and keep - 1 events, then half a line
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(b"\n".join(lines[:keep]) + b"\n" + lines[keep][: len(lines[keep]) // 2])
    good = live_events[: keep - 1]

    replay = start_replay(str(cut), "--final")
    replayed = watch_sync(replay.ws_url())
    assert replayed.events == good
    output = replay.output
    assert f"line {keep + 1}: the file ends in the middle of this line (truncated)" in output
    assert f"replay stopped at event {good[-1]['seq']}" in output
    assert replay.run_info()["finished"] is False


def _timed_recording(path: Path, offsets: list[float]) -> list[dict[str, Any]]:
    from pytest_jbrealtime.shared.log import iso_timestamp

    start = 1_800_000_000.0
    events = [{"type": "test_started", "seq": i + 1, "run_id": "a" * 32,
               "timestamp": iso_timestamp(start + offset), "worker": "main",
               "test_id": f"t.py::test_{i}"} for i, offset in enumerate(offsets)]
    events[-1]["type"] = "session_finished"
    header = {"format": FORMAT_NAME, "version": 1, "run_id": "a" * 32}
    path.write_text("".join(json.dumps(x) + "\n" for x in [header, *events]))
    return events


def test_replay_in_real_time_holds_back_what_has_not_happened_yet(
    tmp_path: Path, start_replay: Any
) -> None:
    # Two events at the start, the last an hour later: at real speed the log holds
    # two; ten thousand times faster (0.36 s), all three arrive.
    path = tmp_path / "timed.jsonl"
    events = _timed_recording(path, [0.0, 0.0, 3600.0])
    slow = start_replay(str(path), "--speed", "1")
    wait_until(lambda: slow.run_info()["events"] == 2)
    assert slow.run_info()["finished"] is False
    partial = watch_sync(slow.ws_url(), stop_after_seq=2)
    assert partial.events == events[:2]

    fast = start_replay(str(path), "--speed", "10000")
    assert watch_sync(fast.ws_url()).events == events


def test_not_a_recording_is_refused_with_the_line(tmp_path: Path, start_replay: Any) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are my notes\n")
    replay = start_replay(str(path))
    assert replay.process.wait(30) == 2
    replay.stop()
    assert "line 1: not a pytest-jbrealtime recording" in replay.output


def test_replay_reads_a_gzip_recording(tmp_path: Path, start_replay: Any) -> None:
    import gzip

    plain = tmp_path / "timed.jsonl"
    events = _timed_recording(plain, [0.0, 0.5, 1.0])
    packed = tmp_path / "timed.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_recording(packed).events == events
    replay = start_replay(str(packed), "--final")
    assert watch_sync(replay.ws_url()).events == events


def test_replay_serves_the_recorded_screenshots(tmp_path: Path, start_replay: Any) -> None:
    path = tmp_path / "shots.jsonl"
    events = _timed_recording(path, [0.0, 0.1, 0.2])
    events[1] = {**events[1], "type": "screenshot_captured", "screenshot_id": "000001-ab",
                 "screenshot_url": "/screenshots/000001-ab.png"}
    header = {"format": FORMAT_NAME, "version": 1, "run_id": "a" * 32,
              "screenshots": "shots.screenshots"}
    path.write_text("".join(json.dumps(x) + "\n" for x in [header, *events]))
    (tmp_path / "shots.screenshots").mkdir()
    image = b"\x89PNG\r\n\x1a\n not really a png"
    (tmp_path / "shots.screenshots" / "000001-ab.png").write_bytes(image)

    replay = start_replay(str(path), "--final")
    assert watch_sync(replay.ws_url()).events == events
    url = f"http://{replay.host}/screenshots/000001-ab.png"
    assert httpx.get(url, params={"token": replay.token}).content == image
    assert httpx.get(url).status_code == 401  # behind the token, as live
