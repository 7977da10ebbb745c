"""A run's project and branch: what a hub keeps its history under.

``--jb-live-project`` / ``--jb-live-branch`` (or their environment variables) first;
else what the CI says (its repository or project, its branch); else the root
directory's name and git's current branch, read from ``.git/HEAD``. Never a network
call, never a subprocess: files and environment variables only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

# (variable, how to read it) per CI, checked in order; the first set wins.
PROJECT_VARIABLES = (
    "GITHUB_REPOSITORY",  # owner/name
    "CI_PROJECT_PATH",  # GitLab: group/project
    "BUILDKITE_PIPELINE_SLUG",
    "CIRCLE_PROJECT_REPONAME",
    "BUILD_REPOSITORY_NAME",  # Azure Pipelines
    "JOB_NAME",  # Jenkins
)
BRANCH_VARIABLES = (
    "GITHUB_HEAD_REF",  # a pull request's source branch (empty on a push)
    "GITHUB_REF_NAME",
    "CI_COMMIT_REF_NAME",  # GitLab
    "BUILDKITE_BRANCH",
    "CIRCLE_BRANCH",
    "BUILD_SOURCEBRANCHNAME",  # Azure Pipelines
    "BRANCH_NAME",  # Jenkins multibranch
    "GIT_BRANCH",  # Jenkins git plugin: origin/main
)


def _first(names: tuple[str, ...], environ: Mapping[str, str]) -> str | None:
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return value
    return None


def git_head_branch(start: Path) -> str | None:
    """The branch checked out in the git work tree holding ``start`` (None: detached, no git)."""
    for folder in (start, *start.parents):
        dot_git = folder / ".git"
        try:
            if dot_git.is_file():  # a worktree or submodule: "gitdir: PATH"
                target = dot_git.read_text(encoding="utf-8").strip().removeprefix("gitdir:")
                dot_git = (folder / target.strip()).resolve()
            head = (dot_git / "HEAD").read_text(encoding="utf-8").strip()
        except OSError:
            continue
        ref = head.removeprefix("ref:").strip()
        return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
    return None


def run_labels(
    project: str | None, branch: str | None, rootdir: Path,
    environ: Mapping[str, str] | None = None,
) -> tuple[str, str]:
    env = os.environ if environ is None else environ
    project = project or _first(PROJECT_VARIABLES, env) or rootdir.name or "default"
    found = branch or _first(BRANCH_VARIABLES, env) or git_head_branch(rootdir)
    if found and env.get("GIT_BRANCH", "").strip() == found:
        found = found.removeprefix("origin/")
    return project[:200], (found or "")[:200]
