"""The producer's on-disk buffer: numbered events, bounded, emptied once acknowledged."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_jbrealtime.pytest_side import hub_spool as spool_module
from pytest_jbrealtime.pytest_side.hub_spool import Spool


def test_events_are_read_back_by_number_in_frames_of_a_size(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", limit_bytes=10_000)
    for number in range(1, 11):
        assert spool.add(b'{"n":%d}' % number)
    assert spool.last == 10
    assert spool.read(1, max_bytes=1_000) == [b'{"n":%d}' % n for n in range(1, 11)]
    assert spool.read(4, max_bytes=20) == [b'{"n":4}', b'{"n":5}']  # 8 bytes a line
    assert spool.read(10, max_bytes=1) == [b'{"n":10}']  # at least one
    assert spool.read(11, max_bytes=1_000) == []
    assert spool.bytes_after(8) == len(b'{"n":9}\n{"n":10}\n')
    spool.close()
    assert not (tmp_path / "spool").exists()


def test_a_full_spool_drops_and_counts_without_numbering(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", limit_bytes=20)
    assert spool.add(b"x" * 9) and spool.add(b"y" * 9)
    assert not spool.add(b"z")
    assert (spool.last, spool.dropped) == (2, 1)
    spool.close()


def test_acknowledged_everything_empties_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool_module, "COMPACT_BYTES", 10)
    spool = Spool(tmp_path / "spool", limit_bytes=10_000)
    for number in range(1, 6):
        spool.add(b'{"n":%d}' % number)
    spool.read(1, 1_000)
    spool.acknowledged(4)  # not all of it: kept
    assert spool.size > 0 and spool.base == 1
    spool.acknowledged(5)
    assert (spool.size, spool.base, spool.last) == (0, 6, 5)
    assert (tmp_path / "spool").stat().st_size == 0
    spool.add(b'{"n":6}')
    assert spool.read(1, 1_000) == [b'{"n":6}']  # numbers go on; older ones are gone
    spool.close()
