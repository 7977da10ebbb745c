"""Links in CI logs: the GitHub Actions annotation and job summary, public URLs, --jb-live-open.

Whole runs are real ``pytest --jb-live`` subprocesses with the CI's environment set;
the formatting rules of the other CIs are unit-tested on ``ci.py``.
"""

from __future__ import annotations

import socket
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_jbrealtime.shared import ci
from tests.history_support import SUITE as STORY_SUITE
from tests.hub_support import HubProcess, Shard
from tests.support import LINK, watch_sync

SUITE = """
import pytest

def test_ok():
    pass

def test_bad():
    assert 0

@pytest.mark.skip(reason="no")
def test_skip():
    pass
"""

# Every CI marker blanked: the outer run may itself be under CI.
NO_CI = {variable: "" for variable, _ in ci.PROVIDERS}


def github_env(tmp_path: Path) -> dict[str, str]:
    return {**NO_CI, "CI": "true", "GITHUB_ACTIONS": "true",
            "GITHUB_STEP_SUMMARY": str(tmp_path / "step_summary.md"),
            "GITHUB_SERVER_URL": "https://github.example", "GITHUB_REPOSITORY": "acme/shop",
            "GITHUB_RUN_ID": "4242"}


def test_github_actions_notice_and_job_summary(
    suite_dir: pytest.Pytester, start_live: Any, tmp_path: Path
) -> None:
    suite_dir.makepyfile(test_suite=SUITE)
    summary_file = tmp_path / "step_summary.md"
    summary_file.write_text("## earlier step\n")
    run = start_live(suite_dir.path, "--jb-live-report", "out/report.html",
                     "--jb-live-record", "out/run.jsonl.gz", env=github_env(tmp_path))
    assert run.wait() == 1
    output = run.output
    token = run.token
    assert token

    notice = [line for line in output.splitlines() if line.startswith("::notice")]
    assert notice == [f"::notice title=pytest live viewer::jb-live: watch this run at "
                      f"{run.link}"]
    # The token is in that one line and nowhere else: not in the log, not in the summary.
    assert output.count(token) == 1
    summary = summary_file.read_text()
    assert summary.startswith("## earlier step\n")  # appended, not overwritten
    assert token not in summary
    assert "### pytest failed: 1 passed, 1 failed, 1 skipped" in summary
    assert "| passed | failed | skipped |" in summary
    assert "| 1 | 1 | 1 |" in summary
    assert "HTML report: `out/report.html`" in summary
    assert "https://github.example/acme/shop/actions/runs/4242" in summary
    assert "Recording: `out/run.jsonl.gz`" in summary
    assert token not in (suite_dir.path / "out" / "report.html").read_text()


def test_public_url_replaces_the_links_base(suite_dir: pytest.Pytester, start_live: Any) -> None:
    suite_dir.makepyfile(test_suite="def test_ok(): pass\n")
    run = start_live(suite_dir.path, "--jb-live-public-url", "https://ci-7.example.com:9000/",
                     env=NO_CI)
    assert run.wait() == 0
    lines = [line for line in run.output.splitlines() if "watch this run at" in line]
    assert lines, run.output
    for line in lines:
        assert line.startswith("jb-live: watch this run at https://ci-7.example.com:9000/?token=")
    assert LINK.search(run.output) is None  # no http://127.0.0.1 link anywhere


def test_bad_public_url_is_a_usage_error(suite_dir: pytest.Pytester, start_live: Any) -> None:
    suite_dir.makepyfile(test_suite="def test_ok(): pass\n")
    run = start_live(suite_dir.path, "--jb-live-public-url", "ci-7.example.com", env=NO_CI)
    assert run.wait() == 4
    assert "--jb-live-public-url: invalid value 'ci-7.example.com'" in run.output


def test_open_starts_the_local_browser_on_the_link(
    suite_dir: pytest.Pytester, start_live: Any, tmp_path: Path
) -> None:
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "fake-browser"
    browser.write_text(f'#!/bin/sh\necho "$1" > "{opened}.part" && mv "{opened}.part" "{opened}"\n')
    browser.chmod(browser.stat().st_mode | stat.S_IEXEC)
    # The test waits until the browser was started, so the run outlives the opening thread.
    suite_dir.makepyfile(test_suite=f"""
import os, time
def test_waits_for_the_browser():
    deadline = time.monotonic() + 30
    while not os.path.exists({str(opened)!r}) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert os.path.exists({str(opened)!r})
""")
    run = start_live(suite_dir.path, "--jb-live-open", env={**NO_CI, "BROWSER": str(browser)})
    assert run.wait() == 0, run.output
    assert opened.read_text().strip() == run.link


def test_open_is_skipped_under_ci(
    suite_dir: pytest.Pytester, start_live: Any, tmp_path: Path
) -> None:
    suite_dir.makepyfile(test_suite="def test_ok(): pass\n")
    run = start_live(suite_dir.path, "--jb-live-open",
                     env={**NO_CI, "CI": "true", "BROWSER": str(tmp_path / "absent")})
    assert run.wait() == 0
    assert "not opening a browser under CI" in run.output


# -- ci.py ----------------------------------------------------------------------------


@pytest.mark.parametrize(("environ", "provider"), [
    ({}, None),
    ({"CI": "true"}, "ci"),
    ({"CI": "false"}, None),
    ({"CI": "true", "GITHUB_ACTIONS": "true"}, "github"),
    ({"CI": "true", "GITLAB_CI": "true"}, "gitlab"),
    ({"BUILDKITE": "true", "CI": "true"}, "buildkite"),
    ({"JENKINS_URL": "https://jenkins.example/"}, "jenkins"),
])
def test_detect(environ: dict[str, str], provider: str | None) -> None:
    assert ci.detect(environ) == provider


def test_link_line_forms() -> None:
    link = "http://127.0.0.1:8765/?token=abc.def-ghi"
    prefix = "jb-live: watch this run at"
    assert ci.link_line(prefix, link, None) == f"{prefix} {link}"
    assert ci.link_line(prefix, link, "gitlab") == f"{prefix} {link}"
    assert ci.link_line(prefix, link, "buildkite") == (
        f"{prefix} \x1b]1339;url='{link}';content='{link}'\x07")
    # GitHub workflow commands: % and newlines escaped in the message.
    assert ci.link_line("50% done\n", link, "github") == (
        f"::notice title=pytest live viewer::50%25 done%0A {link}")


def test_public_link_keeps_the_token_and_the_base_path() -> None:
    link = "http://127.0.0.1:8765/?token=T"
    assert ci.public_link(link, None) == link
    assert ci.public_link(link, "https://ci.example") == "https://ci.example/?token=T"
    assert ci.public_link(link, "https://proxy.example/live/") == (
        "https://proxy.example/live/?token=T")


def test_step_summary_without_github_run_url() -> None:
    text = ci.step_summary({"passed": 3}, 0, 1.25, report=None, recording=None, environ={})
    assert text.startswith("### pytest passed: 3 passed in 1.2 s")
    assert "| 3 |" in text


def test_append_step_summary_needs_the_variable(tmp_path: Path) -> None:
    assert ci.append_step_summary("x", environ={}) is None
    target = tmp_path / "summary.md"
    assert ci.append_step_summary("one\n", environ={"GITHUB_STEP_SUMMARY": str(target)}) == target
    assert ci.append_step_summary("two\n", environ={"GITHUB_STEP_SUMMARY": str(target)}) == target
    assert target.read_text() == "one\ntwo\n"


def test_failures_new_first_in_the_summary_and_annotations() -> None:
    failures = [
        ci.Failure("t.py::known", "failed", "assert `x`", "known_failure"),
        ci.Failure("t.py::flaky", "error", "boom", "flaky"),
        ci.Failure("t.py::new", "failed", "assert 1 == 2", "new_failure"),
        ci.Failure("t.py::unjudged", "crashed", "worker died", None),
    ]
    text = ci.step_summary({"failed": 4}, 1, 1.0, report=None, recording=None, environ={},
                           failures=failures)
    listed = [line for line in text.splitlines() if line.startswith("- **")]
    assert listed == [
        "- **new failure** `t.py::new`: assert 1 == 2",
        "- **crashed** `t.py::unjudged`: worker died",
        "- **flaky** `t.py::flaky`: boom",
        "- **known failure** `t.py::known`: assert 'x'",
    ]
    assert "#### Failures: 4, 1 new" in text
    first = ci.github_annotations(failures)[0]
    assert first == "::error title=New failure::t.py::new: assert 1 == 2"
    many = [ci.Failure(f"t.py::k{i}", "failed", "x", "known_failure") for i in range(40)]
    assert len(ci.github_annotations(many)) == ci.ANNOTATIONS
    assert "- … and 10 more" in ci.step_summary({}, 1, None, None, None, {}, failures=many)


def test_github_lists_new_failures_first_after_earlier_runs(
    pytester: pytest.Pytester, start_live: Any, tmp_path: Path
) -> None:
    pytester.makepyfile(test_story=STORY_SUITE)
    for run in (1, 2):
        (pytester.path / "run.txt").write_text(str(run))
        start_live(pytester.path).wait()
    (pytester.path / "run.txt").write_text("3")
    run = start_live(pytester.path, env=github_env(tmp_path))
    assert run.wait() == 1
    errors = [line for line in run.output.splitlines() if line.startswith("::error")]
    assert errors == [
        "::error title=New failure::test_story.py::test_starts_failing: assert 3 < 3",
        "::error title=Known failure::test_story.py::test_keeps_failing: assert 3 == 0",
    ]
    summary = (tmp_path / "step_summary.md").read_text()
    assert "#### Failures: 2, 1 new" in summary
    assert summary.index("test_starts_failing") < summary.index("test_keeps_failing")


def test_the_link_reaches_a_piped_log_while_the_run_waits(
    suite_dir: pytest.Pytester, start_live: Any
) -> None:
    """A CI log is a pipe: block-buffered unless flushed. The link must be there while
    the run waits for its viewer, not once it gives up waiting."""
    suite_dir.makepyfile(test_suite="def test_ok(): pass\n")
    run = start_live(suite_dir.path, "--jb-live-wait-viewers", "1",
                     "--jb-live-wait-timeout", "120",
                     env={**NO_CI, "GITHUB_ACTIONS": "true", "PYTHONUNBUFFERED": ""})
    run.wait_for_link(60)
    assert run.process.poll() is None, run.output
    watch_sync(run.ws_url(), timeout=120)
    assert run.wait(120) == 0


def test_a_hub_runs_link_goes_in_the_job_summary_too(
    suite_dir: pytest.Pytester, tmp_path: Path, running: list[Any]
) -> None:
    """On a hub the run's page carries no token (viewers bring their own): the link is
    the annotation and is in the job summary, where a run's own tokened link is not."""
    hub = HubProcess(tmp_path / "hub")
    running.append(hub)
    suite_dir.makepyfile(test_suite=SUITE)
    shard = Shard(suite_dir.path, hub.url, "--jb-live-report", "out/report.html",
                  run_id="ci-42", env=github_env(tmp_path))
    running.append(shard)
    assert shard.wait() == 1, shard.text
    page = f"{hub.url}/runs/ci-42/"
    notice = [line for line in shard.text.splitlines() if line.startswith("::notice")]
    assert notice == [f"::notice title=pytest live viewer::jb-live: watch this run at {page}"]
    summary = (tmp_path / "step_summary.md").read_text()
    assert f"- Live viewer on the hub: [{page}]({page})" in summary
    assert "HTML report: `out/report.html`" in summary
    assert "token" not in summary.replace("viewer link", "")


def run_errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("::error")]


def test_a_hub_runs_ci_outputs_carry_the_hubs_verdicts(
    pytester: pytest.Pytester, tmp_path: Path, running: list[Any]
) -> None:
    """A CI machine that keeps no cache (``-p no:cacheprovider``: Shard) publishes the
    story three times to a hub: its annotations and job summary take the hub's verdicts,
    new failures first, as the hub's viewers see them."""
    hub = HubProcess(tmp_path / "hub")
    running.append(hub)
    pytester.makepyfile(test_story=STORY_SUITE)
    outputs = []
    for run in (1, 2, 3):
        (pytester.path / "run.txt").write_text(str(run))
        summary_file = tmp_path / f"summary-{run}.md"
        shard = Shard(pytester.path, hub.url, run_id=f"ci-{run}",
                      env={**github_env(tmp_path), "GITHUB_STEP_SUMMARY": str(summary_file)})
        running.append(shard)
        assert shard.wait() == 1, shard.text
        assert "WARNING" not in shard.text, shard.text
        outputs.append((run_errors(shard.text), summary_file.read_text()))
    assert not (pytester.path / ".pytest_cache").exists()  # no local history at all

    errors, summary = outputs[1]
    assert errors == [
        "::error title=New failure::test_story.py::test_flips: assert 2 != 2",
        "::error title=Known failure::test_story.py::test_keeps_failing: assert 2 == 0",
        "::error title=Known failure::test_story.py::test_fixed: assert 2 == 3",
    ]
    errors, summary = outputs[2]
    assert errors == [
        "::error title=New failure::test_story.py::test_starts_failing: assert 3 < 3",
        "::error title=Known failure::test_story.py::test_keeps_failing: assert 3 == 0",
    ]
    assert "#### Failures: 2, 1 new" in summary
    listed = [line for line in summary.splitlines() if line.startswith("- **")]
    assert listed == [
        "- **new failure** `test_story.py::test_starts_failing`: assert 3 < 3",
        "- **known failure** `test_story.py::test_keeps_failing`: assert 3 == 0",
    ]


def test_a_hub_that_does_not_answer_leaves_the_local_verdicts_and_the_exit_status(
    suite_dir: pytest.Pytester, tmp_path: Path, running: list[Any]
) -> None:
    """A "hub" that takes the connection and never answers: the run ends within its
    --jb-live-hub-wait with pytest's own exit status, and the CI outputs fall back to
    this machine's verdicts (none: no cache) with one warning saying so."""
    suite_dir.makepyfile(test_suite=SUITE)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # accepted by the kernel, never answered
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        shard = Shard(suite_dir.path, url, "--jb-live-hub-wait", "2", run_id="ci-silent",
                      env=github_env(tmp_path))
        running.append(shard)
        assert shard.wait() == 1, shard.text  # one test failed, as without the plugin
        took = time.monotonic() - started
    assert took < 60, shard.text
    assert run_errors(shard.text) == ["::error title=Failed::test_suite.py::test_bad: assert 0"]
    warnings = [line for line in shard.text.splitlines() if "gave no verdict" in line]
    assert len(warnings) == 1, shard.text
    assert warnings[0].startswith(f"jb-live: WARNING: the hub {url} gave no verdict for 1 of "
                                  "1 failed tests (it did not get the whole run: ")
    assert warnings[0].endswith("); the job summary and annotations give them this machine's "
                                "verdicts (from pytest's cache; none without one)")
    summary = (tmp_path / "step_summary.md").read_text()
    assert "- **failed** `test_suite.py::test_bad`: assert 0" in summary


def test_hub_verdicts_replace_the_local_ones_where_given() -> None:
    failures = [ci.Failure("t::a", "failed", "x", None),
                ci.Failure("t::b", "failed", "y", "new_failure")]
    judged, unjudged = ci.with_verdicts(failures, {"t::a": "known_failure", "t::c": "stable"})
    assert [f.verdict for f in judged] == ["known_failure", "new_failure"]
    assert unjudged == 1


def test_step_summary_shows_only_a_tokenless_link() -> None:
    assert ci.tokenless("http://127.0.0.1:8765/?token=abc") is None
    assert ci.tokenless("https://hub.example/runs/r1/") == "https://hub.example/runs/r1/"
    text = ci.step_summary({"passed": 1}, 0, 1.0, report=None, recording=None, environ={},
                           live_link="https://hub.example/runs/r1/")
    assert "- Live viewer on the hub: [https://hub.example/runs/r1/]" in text


def test_credential_line_forms() -> None:
    """The one place that writes a server's line: the link, the address and key apart,
    or (no token from this line, a hub run's page) the page alone; a public address
    replaces the host in each."""
    prefix, address = "jb-live: watch this run at", "http://127.0.0.1:8765/"
    assert ci.credential_line(prefix, address, "K", "url", None) == f"{prefix} {address}?token=K"
    assert ci.credential_line(prefix, address, "K", "key", None) == f"{prefix} {address}  key: K"
    assert ci.credential_line(prefix, address, None, "key", None) == f"{prefix} {address}"
    assert ci.credential_line(prefix, address, "K", "key", "https://ci.example/live") == (
        f"{prefix} https://ci.example/live/  key: K")
    assert ci.credential_line(prefix, address, "K", "url", "https://ci.example") == (
        f"{prefix} https://ci.example/?token=K")
