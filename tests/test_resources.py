"""Per-test resources on real runs: each test_completed carries the CPU seconds and the
memory growth of the process that ran the test, serially and from xdist workers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser.test_resources_view import HEAVY_SUITE


@pytest.mark.parametrize("args", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_each_test_carries_its_own_cpu_and_memory(tmp_path: Path, args: tuple[str, ...]) -> None:
    (tmp_path / "test_heavy.py").write_text(HEAVY_SUITE)
    record = tmp_path / "run.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "--jb-live-record", str(record), *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    completed = {e["test_id"].rsplit("::", 1)[1]: e
                 for e in map(json.loads, record.read_text().splitlines())
                 if e.get("type") == "test_completed"}
    burns, leaks, idles = (completed[n] for n in ("test_burns_cpu", "test_leaks_memory",
                                                    "test_idles"))
    assert 0.9 <= burns["cpu_seconds"] < 5, burns
    assert idles["cpu_seconds"] < 0.3, idles
    assert leaks["rss_growth"] >= 60 * 1024 * 1024, leaks  # 64 MiB touched and kept
    assert abs(idles["rss_growth"]) < 16 * 1024 * 1024, idles
    if args:
        assert {burns["worker"], leaks["worker"]} <= {"gw0", "gw1"}
