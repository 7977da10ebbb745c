"""What triage needs from the pytest side (issue 16): ``pytest_warning`` events, one per
warning pytest counts; ``categories`` on ``test_completed`` summing to pytest's summary
line; ``--jb-live-editor``; and a run under xdist telling its workers' warnings too."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from pytest_jbrealtime.shared.editor import PRESETS, parse_editor
from tests.browser.suites import TRIAGE_SUITE, summary_counts
from tests.support import LiveProcess, watch_sync

StartLive = Callable[..., LiveProcess]


def test_editor_presets_templates_and_refusals() -> None:
    assert parse_editor("off") is None and parse_editor("") is None
    assert parse_editor("VSCode") == PRESETS["vscode"] == "vscode://file/{path}:{line}"
    assert parse_editor("pycharm") == "pycharm://open?file={path}&line={line}"
    template = "https://ide.example/open?f={path}&l={line}"
    assert parse_editor(template) == template
    for bad in ("javascript:alert('{path}')", "data:text/html,{path}", "emacs",
                "https://ide.example/open"):
        with pytest.raises(ValueError):
            parse_editor(bad)


def test_bad_editor_is_a_usage_error(suite_dir: pytest.Pytester) -> None:
    suite_dir.makepyfile("def test_x(): pass")
    result = suite_dir.runpytest("--jb-live", "--jb-live-editor", "notepad")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--jb-live-editor: invalid value 'notepad'*"])


@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
def test_warnings_and_categories_are_pytests_own(
    suite_dir: pytest.Pytester, start_live: StartLive, xdist: bool
) -> None:
    suite_dir.makepyfile(test_triage=TRIAGE_SUITE)
    (suite_dir.path / "release").touch()
    args = ["-n", "2"] if xdist else []
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1", "--jb-live-editor",
                     "pycharm", *args)
    watched = watch_sync(run.ws_url())
    assert run.wait() == 1
    pytest_counts = summary_counts(run.output)

    warnings = watched.of_type("pytest_warning")
    assert len(warnings) == pytest_counts["warnings"] == 2
    finished = watched.of_type("session_finished")[0]
    assert finished["counts"]["warnings"] == 2
    # session_finished (and the CI summary made from it) counts as pytest's line does.
    assert {k: finished["counts"].get(k) for k in pytest_counts} == pytest_counts
    by_category = {w["category"]: w for w in warnings}
    assert set(by_category) == {"DeprecationWarning", "UserWarning"}
    deprecation = by_category["DeprecationWarning"]
    assert deprecation["message"] == "deprecated thing 12 used"
    assert deprecation["test_id"] == "test_triage.py::test_warns"
    assert deprecation["filename"].endswith("test_triage.py") and deprecation["lineno"] > 0
    assert deprecation["when"] == "runtest"

    started = watched.of_type("session_started")[0]
    assert started["editor_url"] == PRESETS["pycharm"]
    assert started["invocation_dir"] == str(suite_dir.path)

    # The categories of all test_completed events are pytest's line, subtests apart.
    tally: Counter[str] = Counter()
    subtests: Counter[str] = Counter()
    for event in watched.of_type("test_completed"):
        tally.update(event["categories"])
        subtests.update(s["result"] for s in event["subtests"])
    assert tally["passed"] == pytest_counts["passed"]
    assert tally["error"] == pytest_counts["error"] == 1
    assert tally["rerun"] == pytest_counts["rerun"] == 1
    assert tally["failed"] + subtests["failed"] == pytest_counts["failed"]
    assert subtests == {"passed": 2, "failed": 1}

    # The flaky test's attempts: each with its own captured output (pytest keeps adding
    # every attempt's to the item's sections; each event carries only its attempt's).
    attempts = [e for e in watched.of_type("test_completed")
                if e["test_id"] == "test_triage.py::test_flaky"]
    assert [e["result"] for e in attempts] == ["rerun", "passed"]
    assert [[s["content"] for s in e["sections"]] for e in attempts] == [
        ["attempt 1\n"], ["attempt 2\n"]]
