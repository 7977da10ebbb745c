"""A run's project and branch labels (pytest_side/labels.py): files and environment only."""

from __future__ import annotations

from pathlib import Path

from pytest_jbrealtime.pytest_side.labels import git_head_branch, run_labels


def test_options_win_over_ci_and_git(tmp_path: Path) -> None:
    env = {"GITHUB_REPOSITORY": "acme/shop", "GITHUB_REF_NAME": "main"}
    assert run_labels("mine", "topic", tmp_path, env) == ("mine", "topic")
    assert run_labels(None, None, tmp_path, env) == ("acme/shop", "main")
    # A pull request's source branch, not the merge ref.
    assert run_labels(None, None, tmp_path, {**env, "GITHUB_HEAD_REF": "fix-1"})[1] == "fix-1"
    assert run_labels(None, None, tmp_path, {"CI_PROJECT_PATH": "g/p",
                                             "CI_COMMIT_REF_NAME": "dev"}) == ("g/p", "dev")
    assert run_labels(None, None, tmp_path, {"GIT_BRANCH": "origin/release"})[1] == "release"


def test_git_head_read_from_the_work_tree_and_a_linked_worktree(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/feature/x\n")
    (repo / "tests").mkdir()
    assert git_head_branch(repo / "tests") == "feature/x"
    assert run_labels(None, None, repo / "tests", {}) == ("tests", "feature/x")
    linked = tmp_path / "linked"
    linked.mkdir()
    (repo / ".git" / "worktrees" / "linked").mkdir(parents=True)
    (repo / ".git" / "worktrees" / "linked" / "HEAD").write_text("ref: refs/heads/other\n")
    (linked / ".git").write_text(f"gitdir: {repo / '.git' / 'worktrees' / 'linked'}\n")
    assert git_head_branch(linked) == "other"
    (repo / ".git" / "HEAD").write_text("3f0c9a1e2b\n")  # detached
    assert git_head_branch(repo) is None
    assert run_labels(None, None, repo, {})[1] == ""
