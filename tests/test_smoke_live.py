from __future__ import annotations

import pytest

from tests.support import watch_sync


def test_viewer_waiting_sees_whole_run(suite_dir: pytest.Pytester, start_live) -> None:
    suite_dir.makepyfile(test_a="def test_ok(): pass\ndef test_bad(): assert 0\n")
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1")
    watched = watch_sync(run.ws_url())
    assert run.wait() == 1
    assert watched.seqs == list(range(1, len(watched.events) + 1))
    results = {e["test_id"]: e["result"] for e in watched.of_type("test_completed")}
    assert results == {"test_a.py::test_ok": "passed", "test_a.py::test_bad": "failed"}
    assert watched.close_code == 1000
