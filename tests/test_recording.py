"""Recordings: what the server writes is what a live viewer received, as it happens.

The end-to-end tests run a real ``pytest --jb-live-record`` subprocess and a real
WebSocket viewer; the reader's handling of broken files is tested on files made
here, byte by byte.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from pytest_jbrealtime.shared import recording as recording_module
from pytest_jbrealtime.shared.recording import (
    FORMAT_NAME,
    RecordingError,
    read_recording,
    screenshots_dir_for,
)
from tests.support import wait_until, watch_sync

SUITE = """
import pytest

def test_ok():
    print("some output")

def test_bad():
    assert 1 == 2, "ünïcödé mismatch"

@pytest.mark.skip(reason="not here")
def test_skipped():
    pass

@pytest.mark.parametrize("n", range(3))
def test_param(n):
    pass
"""

# A test that holds the run until the outer test creates the file it waits for.
BLOCKING_SUITE = """
import os, time

def test_first():
    pass

def test_blocks():
    deadline = time.monotonic() + 60
    while not os.path.exists(os.environ["JB_TEST_GO"]) and time.monotonic() < deadline:
        time.sleep(0.01)
"""


def _events_in(path: Path) -> list[dict[str, Any]]:
    """What a reader sees of a recording right now (it may still be written)."""
    try:
        return read_recording(path).events
    except RecordingError:
        return []


@pytest.mark.parametrize("name", ["run.jsonl", "run.jsonl.gz"])
def test_recording_equals_what_a_live_viewer_received(
    suite_dir: pytest.Pytester, start_live: Any, name: str
) -> None:
    suite_dir.makepyfile(test_suite=SUITE)
    target = suite_dir.path / "records" / name
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1",
                     "--jb-live-record", f"records/{name}")
    watched = watch_sync(run.ws_url())
    assert run.wait() == 1
    assert f"recording written to {target}" in run.output

    recording = read_recording(target)
    assert recording.problems == []
    assert recording.finished
    assert recording.header["format"] == FORMAT_NAME
    assert recording.header["version"] == 1
    assert recording.header["run_id"] == watched.events[0]["run_id"]
    assert "secret" not in json.dumps(recording.header)
    assert recording.events == watched.events
    assert [json.loads(text) for text in recording.texts] == watched.events
    if name.endswith(".gz"):
        assert target.read_bytes()[:2] == b"\x1f\x8b"
    else:  # plain JSON lines, one per event after the header
        assert len(target.read_text(encoding="utf-8").splitlines()) == len(watched.events) + 1


def test_recording_is_written_while_the_run_goes_on(
    suite_dir: pytest.Pytester, start_live: Any
) -> None:
    suite_dir.makepyfile(test_blocking=BLOCKING_SUITE)
    go = suite_dir.path / "go"
    target = suite_dir.path / "run.jsonl"
    run = start_live(suite_dir.path, "--jb-live-record", "run.jsonl",
                     env={"JB_TEST_GO": str(go)})
    try:
        # test_blocks has started and is still running: its start is on disk already,
        # in PATH.partial (PATH appears at the end: see the xdist test below).
        partial = suite_dir.path / "run.jsonl.partial"
        wait_until(lambda: any(e["type"] == "test_started"
                               and e["test_id"].endswith("test_blocks")
                               for e in _events_in(partial)))
        assert run.process.poll() is None
        assert not any(e["type"] == "session_finished" for e in _events_in(partial))
        assert not target.exists()
    finally:
        go.touch()
    assert run.wait() == 0
    assert read_recording(target).finished
    assert not partial.exists()


# Each test looks for the recording's final path while the run goes on.
RECORD_ABSENT_SUITE = """
import os, time

def check():
    time.sleep(0.2)
    assert not os.path.exists(os.environ["JB_TEST_RECORD"])
    assert os.path.exists(os.environ["JB_TEST_RECORD"] + ".partial")

def test_one(): check()
def test_two(): check()
def test_three(): check()
def test_four(): check()
"""


def test_recording_outside_the_project_keeps_xdist_workers_on_one_rootdir(
    suite_dir: pytest.Pytester, start_live: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # pytest reads the bare value of ``--jb-live-record PATH`` as a test path when the
    # file exists (it decides its rootdir before plugins add their options). Were PATH
    # created at the start, a worker started after it would pick the folder of PATH as
    # rootdir and collect other ids than the controller: "Different tests were
    # collected", a failed run. Workers restarted mid-run (--max-worker-restart) start
    # after it, always.
    (suite_dir.path / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    suite_dir.makepyfile(test_absent=RECORD_ABSENT_SUITE)
    target = tmp_path_factory.mktemp("elsewhere") / "run.jsonl"
    run = start_live(suite_dir.path, "-n", "2", "--jb-live-record", str(target),
                     env={"JB_TEST_RECORD": str(target)})
    assert run.wait() == 0, run.output
    assert "4 passed" in run.output and "Different tests" not in run.output
    completed = [e["test_id"] for e in read_recording(target).events
                 if e["type"] == "test_completed"]
    assert sorted(completed) == sorted(f"test_absent.py::test_{n}"
                                       for n in ("one", "two", "three", "four"))


def test_recording_survives_a_killed_run(suite_dir: pytest.Pytester, start_live: Any) -> None:
    suite_dir.makepyfile(test_blocking=BLOCKING_SUITE)
    target = suite_dir.path / "run.jsonl.gz"
    run = start_live(suite_dir.path, "--jb-live-record", "run.jsonl.gz",
                     env={"JB_TEST_GO": str(suite_dir.path / "never")})
    wait_until(lambda: any(e.get("test_id", "").endswith("test_blocks")
                           for e in _events_in(suite_dir.path / "run.jsonl.gz.partial")))
    os.kill(run.process.pid, signal.SIGKILL)
    run.wait()
    # The server process sees its pipe close, and closes (and renames) the recording.
    wait_until(lambda: target.exists()
               and (recording := read_recording(target)).problems == []
               and len(recording.events) > 0)
    recording = read_recording(target)
    assert not recording.finished
    completed = [e["test_id"] for e in recording.events if e["type"] == "test_completed"]
    assert completed == ["test_blocking.py::test_first"]
    assert recording.events[-1]["test_id"] == "test_blocking.py::test_blocks"
    assert "did not finish" in recording.describe()


def test_recording_path_that_cannot_be_written_is_a_warning(
    suite_dir: pytest.Pytester, start_live: Any
) -> None:
    suite_dir.makepyfile(test_suite="def test_ok(): pass\n")
    (suite_dir.path / "blocker").write_text("a file where a folder should be")
    run = start_live(suite_dir.path, "--jb-live-record", "blocker/run.jsonl")
    assert run.wait() == 0
    assert "jb-live: WARNING: cannot create the folder of the recording" in run.output
    assert "1 passed" in run.output


# -- the reader, on files made here ------------------------------------------------------


def _header(version: int = 1) -> str:
    return json.dumps({"format": FORMAT_NAME, "version": version, "run_id": "r" * 32,
                       "screenshots": "run.screenshots"})


def _event(seq: int, event_type: str = "test_started", **fields: Any) -> str:
    return json.dumps({"type": event_type, "seq": seq, "run_id": "r" * 32,
                       "timestamp": "2026-11-30T07:30:00.000Z", "worker": "main", **fields})


def _write(path: Path, lines: list[str], tail: str = "") -> Path:
    path.write_text("".join(line + "\n" for line in lines) + tail, encoding="utf-8")
    return path


def test_truncated_last_line_keeps_the_good_part(tmp_path: Path) -> None:
    path = _write(tmp_path / "run.jsonl", [_header(), _event(1), _event(2)],
                  tail=_event(3)[:25])
    recording = read_recording(path)
    assert [e["seq"] for e in recording.events] == [1, 2]
    assert [str(p) for p in recording.problems] == [
        "line 4: the file ends in the middle of this line (truncated)"]
    assert not recording.finished


def test_corrupt_line_is_skipped_with_its_line_number(tmp_path: Path) -> None:
    path = _write(tmp_path / "run.jsonl",
                  [_header(), _event(1), "{not json", _event(3), '["a list"]',
                   _event(4, "session_finished")])
    recording = read_recording(path)
    assert [e["seq"] for e in recording.events] == [1, 3, 4]
    assert [p.line for p in recording.problems] == [3, 4, 5]
    assert "not valid JSON" in recording.problems[0].message
    assert "events are missing" in recording.problems[1].message
    assert "not an event" in recording.problems[2].message
    assert recording.finished


def test_gzip_cut_short_keeps_what_was_flushed(tmp_path: Path) -> None:
    from pytest_jbrealtime.shared.log import LoggedEvent
    from pytest_jbrealtime.shared.recorder import RecordingWriter

    path = tmp_path / "run.jsonl.gz"
    writer = RecordingWriter(path, "r" * 32, {}, None, warn=pytest.fail)
    for seq in range(1, 4):
        event = json.loads(_event(seq))
        writer([LoggedEvent(event, json.dumps(event))])
    # No close(): the process died here. Every batch was sync-flushed.
    recording = read_recording(writer.writing_path)
    assert [e["seq"] for e in recording.events] == [1, 2, 3]
    assert [str(p) for p in recording.problems] == [
        "line 5: the gzip stream ends early (the run stopped while writing?)"]
    writer.close()
    assert read_recording(path).problems == []


def test_not_a_recording_is_refused_at_line_1(tmp_path: Path) -> None:
    for content in ("hello world\n", '{"format": "something-else", "version": 1}\n',
                    _event(1) + "\n"):
        path = tmp_path / "other.jsonl"
        path.write_text(content)
        with pytest.raises(RecordingError, match="line 1: not a pytest-jbrealtime recording"):
            read_recording(path)
    (tmp_path / "empty.jsonl").write_bytes(b"")
    with pytest.raises(RecordingError, match="empty file"):
        read_recording(tmp_path / "empty.jsonl")
    (tmp_path / "binary.gz").write_bytes(gzip.compress(b"\x00\x01 binary")[:-4])
    with pytest.raises(RecordingError, match="not a pytest-jbrealtime recording"):
        read_recording(tmp_path / "binary.gz")


def test_newer_format_version_is_refused_clearly(tmp_path: Path) -> None:
    path = _write(tmp_path / "run.jsonl", [_header(version=99), _event(1)])
    with pytest.raises(RecordingError) as refused:
        read_recording(path)
    message = str(refused.value)
    assert "format version 99 is newer than this pytest-jbrealtime reads (up to version 1)" \
        in message
    assert "upgrade pytest-jbrealtime" in message
    path = _write(tmp_path / "run.jsonl", [_header(version=0), _event(1)])
    with pytest.raises(RecordingError, match="unknown recording format version 0"):
        read_recording(path)


def test_a_newer_reader_upgrades_older_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pretend this reader is of format 2, which renamed a field: a version-1 file
    # is read through the upgrade from 1 to 2.
    def rename(event: dict[str, Any]) -> dict[str, Any]:
        if "test_name" in event:
            event = {**event, "name": event["test_name"]}
            del event["test_name"]
        return event

    monkeypatch.setattr(recording_module, "FORMAT_VERSION", 2)
    monkeypatch.setitem(recording_module.UPGRADES, 1, rename)
    path = _write(tmp_path / "run.jsonl", [_header(version=1), _event(1, test_name="t")])
    recording = read_recording(path)
    assert recording.events[0]["name"] == "t"
    assert "test_name" not in recording.events[0]
    assert json.loads(recording.texts[0]) == recording.events[0]


def test_screenshots_folder_is_named_after_the_recording() -> None:
    assert screenshots_dir_for(Path("/r/run.jsonl.gz")) == Path("/r/run.screenshots")
    assert screenshots_dir_for(Path("/r/run.jsonl")) == Path("/r/run.screenshots")
    assert screenshots_dir_for(Path("/r/nightly")) == Path("/r/nightly.screenshots")
