"""The ``pytest_jb_live_event`` hook: another plugin (here a conftest) sees every event a
watched run publishes and adds its own, with no module globals."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.support import LiveProcess, watch_sync

CONFTEST = '''
import json, os

SEEN = []

def pytest_jb_live_event(event, emit, config):
    SEEN.append(event["type"])
    if event["type"] == "test_completed":
        emit("audit.completed", {"test": event["test_id"], "result": event["result"]})
    if event["type"] == "session_finished":
        with open(os.path.join(str(config.rootpath), "seen.json"), "w") as f:
            json.dump(SEEN, f)
    if event["type"] == "test_started" and event["test_id"].endswith("test_b"):
        raise RuntimeError("a broken hook")
'''

SUITE = '''
def test_a():
    pass

def test_b():
    assert False
'''


def test_a_conftest_sees_every_event_and_adds_its_own(
    suite_dir: pytest.Pytester, start_live: Callable[..., LiveProcess]
) -> None:
    pytester = suite_dir
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_hooked=SUITE)
    run = start_live(pytester.path, "--jb-live-wait-viewers", "1")
    watched = watch_sync(run.ws_url())
    assert run.wait() == 1, run.output  # test_b's failure, not the broken hook's

    seen = json.loads((pytester.path / "seen.json").read_text())
    published = [e["type"] for e in watched.events]
    # Everything this process published, in order; not the hook's own custom events.
    assert seen == [t for t in published if t not in ("custom", "system_status",
                                                      "resource_alert")]
    assert "audit.completed" not in seen and seen[-1] == "session_finished"

    added = [e for e in watched.of_type("custom") if e["name"] == "audit.completed"]
    assert [(e["data"]["test"], e["data"]["result"], e["test_id"]) for e in added] == [
        ("test_hooked.py::test_a", "passed", "test_hooked.py::test_a"),
        ("test_hooked.py::test_b", "failed", "test_hooked.py::test_b"),
    ]
    # The conftest's exception: said once, the run goes on with its own outcome.
    assert run.output.count("a pytest_jb_live_event hook failed (RuntimeError: a broken hook)") == 1


def test_the_hook_is_declared_so_pytest_checks_its_arguments(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("def pytest_jb_live_event(evnt):\n    pass\n")
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret != pytest.ExitCode.OK
    result.stderr.fnmatch_lines(["*hookimpl definition: pytest_jb_live_event(evnt)*",
                                "*can not be found in the hookspec*"])
