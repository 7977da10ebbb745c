"""Links that work in CI logs: which CI runs us, and the link in the form it shows best.

GitHub Actions turns a ``::notice`` workflow command into an annotation on the run's
page, and ``$GITHUB_STEP_SUMMARY`` into the job summary; Buildkite renders its
``ESC ]1339`` sequence as a link; GitLab, Jenkins and the rest link a plain URL.
The token is in the one link line and nowhere else (not in the summary); a hub run's
link carries none (viewers bring their own), so that one goes in the summary too.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

from pytest_jbrealtime.protocol import COUNT_KEYS

NOTICE_TITLE = "pytest live viewer"
# Tests, not subtests: the summary line's order.
COUNT_ORDER = tuple(k for k in COUNT_KEYS if not k.startswith("subtests "))

# (environment variable, provider) in the order they are checked: a specific CI sets
# CI=true as well, so the generic one comes last.
PROVIDERS = (
    ("GITHUB_ACTIONS", "github"),
    ("GITLAB_CI", "gitlab"),
    ("BUILDKITE", "buildkite"),
    ("JENKINS_URL", "jenkins"),
    ("CIRCLECI", "circleci"),
    ("TF_BUILD", "azure"),
    ("TEAMCITY_VERSION", "teamcity"),
    ("CI", "ci"),
)


def detect(environ: Mapping[str, str] | None = None) -> str | None:
    """The CI this process runs under ("github", "gitlab", …, "ci"), or None."""
    env = os.environ if environ is None else environ
    for variable, provider in PROVIDERS:
        value = env.get(variable, "")
        if value and value.lower() not in ("0", "false", "no"):
            return provider
    return None


def public_link(link: str, public_url: str | None) -> str:
    """The link with its scheme and host (and base path) replaced by ``public_url``."""
    if not public_url:
        return link
    query = urlsplit(link).query
    return f"{public_url.rstrip('/')}/" + (f"?{query}" if query else "")


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


# How a server's terminal line gives a viewer its credential (`--jb-live-link`, and
# `--link` of replay and the hub): `url`, one link with the key in it (one click; the
# browser's history keeps it); `key`, the bare address and the key apart (the page asks
# for the key; nothing in the history opens the run).
LINK_FORMS = ("url", "key")
# The `key` form: what follows the address on the line, then the key.
KEY_SEPARATOR = "  key: "


def add_link_form_argument(parser: argparse.ArgumentParser) -> None:
    """``--link`` of a command that serves a page (replay, the hub): as ``--jb-live-link``."""
    parser.add_argument("--link", choices=LINK_FORMS, default=LINK_FORMS[0],
                        help="how the printed line gives the key: url (default: one link with "
                             "the key in it; the browser's history keeps it) or key (the "
                             "address and the key apart; the page asks for the key)")


def credential_line(prefix: str, address: str, token: str | None, form: str,
                    public_url: str | None, provider: str | None = None) -> str:
    """The line that opens a server's page: ``address`` (``http://HOST:PORT/`` or a
    page under it) with ``token`` in the ``url`` form, or beside it in the ``key`` form.
    ``token`` None: the page needs none from this line (a hub run's page)."""
    if token is None:
        return link_line(prefix, public_link(address, public_url), provider)
    if form == "key":
        return (f"{link_line(prefix, public_link(address, public_url), provider)}"
                f"{KEY_SEPARATOR}{token}")
    return link_line(prefix, public_link(f"{address}?token={token}", public_url), provider)


def link_line(prefix: str, link: str, provider: str | None) -> str:
    """The one line that carries the viewer link, in the CI's best form."""
    if provider == "github":
        title = _escape_property(NOTICE_TITLE)
        return f"::notice title={title}::{_escape_data(f'{prefix} {link}')}"
    if provider == "buildkite":
        return f"{prefix} \x1b]1339;url='{link}';content='{link}'\x07"
    return f"{prefix} {link}"


def tokenless(link: str) -> str | None:
    """The link if it can be shown anywhere (no token in it, as a hub run's page), else None."""
    return None if "token" in parse_qs(urlsplit(link).query) else link


class Failure(NamedTuple):
    """A test that failed, with what its history says (verdicts.py; None: no history)."""

    test_id: str
    result: str
    summary: str
    verdict: str | None


# New failures first: "did I break this?" is the first question of a red run. A new
# test's failure is new too; then flaky tests, then the ones that failed before.
FAILURE_RANK = {"new_failure": 0, "new_test": 0, None: 0, "flaky": 1, "known_failure": 2}
FAILURE_WORDS = {"new_failure": "new failure", "new_test": "new test", "flaky": "flaky",
                 "known_failure": "known failure"}
FAILURES_LISTED = 30
ANNOTATIONS = 10  # GitHub shows 10 error annotations per step


def ordered_failures(failures: Sequence[Failure]) -> list[Failure]:
    """New failures first, then flaky, then known; the run's order within each."""
    return sorted(failures, key=lambda f: FAILURE_RANK.get(f.verdict, 2))


def with_verdicts(
    failures: Sequence[Failure], verdicts: Mapping[str, str]
) -> tuple[list[Failure], int]:
    """The failures with the verdicts of another history (a hub's: test_id -> verdict)
    where it has one, their own elsewhere; and how many it had none for."""
    judged = [f._replace(verdict=verdicts[f.test_id]) if f.test_id in verdicts else f
              for f in failures]
    return judged, sum(1 for f in failures if f.test_id not in verdicts)


def failures_markdown(failures: Sequence[Failure]) -> list[str]:
    if not failures:
        return []
    new = sum(1 for f in failures if f.verdict == "new_failure")
    lines = [f"#### Failures: {len(failures)}" + (f", {new} new" if new else ""), ""]
    ordered = ordered_failures(failures)
    for failure in ordered[:FAILURES_LISTED]:
        word = FAILURE_WORDS.get(failure.verdict or "", failure.result)
        summary = failure.summary.replace("`", "'")
        lines.append(f"- **{word}** `{failure.test_id}`: {summary}")
    if len(ordered) > FAILURES_LISTED:
        lines.append(f"- … and {len(ordered) - FAILURES_LISTED} more")
    return [*lines, ""]


def github_annotations(failures: Sequence[Failure]) -> list[str]:
    """``::error`` workflow commands for the failures, new ones first (GitHub shows ten)."""
    lines = []
    for failure in ordered_failures(failures)[:ANNOTATIONS]:
        title = FAILURE_WORDS.get(failure.verdict or "", failure.result).capitalize()
        lines.append(f"::error title={_escape_property(title)}::"
                     f"{_escape_data(f'{failure.test_id}: {failure.summary}')}")
    return lines


def counts_text(counts: Mapping[str, int]) -> str:
    parts = [f"{counts[k]} {k}" for k in COUNT_ORDER if counts.get(k)]
    parts += [f"{v} {k}" for k, v in counts.items() if k not in COUNT_ORDER and v]
    return ", ".join(parts) or "no tests ran"


def github_run_url(environ: Mapping[str, str]) -> str | None:
    server, repo, run_id = (
        environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    )
    if server and repo and run_id:
        return f"{server}/{repo}/actions/runs/{run_id}"
    return None


def step_summary(
    counts: Mapping[str, int],
    exit_status: int | None,
    duration: float | None,
    report: Path | None,
    recording: Path | None,
    environ: Mapping[str, str],
    live_link: str | None = None,
    failures: Sequence[Failure] = (),
    stalled: Sequence[str] = (),
) -> str:
    """The Markdown entry for ``$GITHUB_STEP_SUMMARY``: counts, failures (new ones first)
    and where the files are.

    ``live_link`` must carry no token (``tokenless``): the summary is readable by anyone
    who can read the job.
    """
    verdict = "passed" if exit_status == 0 else "failed" if exit_status is not None else "ended"
    took = f" in {duration:.1f} s" if duration is not None else ""
    lines = [f"### pytest {verdict}: {counts_text(counts)}{took}", ""]
    # Columns for what happened (session_finished counts zeros too).
    shown = [k for k in COUNT_ORDER if counts.get(k)] or ["passed", "failed"]
    lines += ["| " + " | ".join(shown) + " |", "|" + "---|" * len(shown),
              "| " + " | ".join(str(counts.get(k, 0)) for k in shown) + " |", ""]
    lines += failures_markdown(failures)
    run_url = github_run_url(environ)
    where = f" (upload it as an artifact; artifacts are listed on [this run]({run_url}))" \
        if run_url else " (upload it as an artifact to open it after the job)"
    if live_link is not None:
        lines.append(f"- Live viewer on the hub: [{live_link}]({live_link}) "
                     "(open the hub with your viewer link first)")
    if report is not None:
        lines.append(f"- HTML report: `{report}`{where}; it opens from disk, no server needed")
    if recording is not None:
        lines.append(f"- Recording: `{recording}`; watch it again with "
                     f"`python -m pytest_jbrealtime replay {recording.name}`")
    if stalled:
        # Test ids and paths are the run's text: shown as code, never as Markdown.
        lines += ["", f"#### Stalled tests ({len(stalled)})", ""]
        lines += [f"- `{line.replace('`', chr(39))}`" for line in stalled]
    return "\n".join(lines) + "\n\n"


def append_step_summary(text: str, environ: Mapping[str, str] | None = None) -> Path | None:
    """Append to the job summary file GitHub Actions names; None when there is none."""
    env = os.environ if environ is None else environ
    target = env.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    with open(target, "a", encoding="utf-8") as summary:
        summary.write(text)
    return Path(target)


def open_in_browser(link: str) -> None:
    """Open the viewer in the local browser, off pytest's main thread.

    ``webbrowser.open`` may start a browser process and wait for it; the run must
    not wait with it.
    """

    def run() -> None:
        import webbrowser

        try:
            webbrowser.open(link, new=2)
        except Exception as exc:  # no browser: the link is printed anyway
            print(f"jb-live: could not open a browser: {exc}", file=sys.stderr)

    threading.Thread(target=run, name="jb-live-open", daemon=True).start()
