"""Writes only where asked: --apply, --branch and a repair session's write refuse a path
through a symbolic link or into a submodule (agent/repo/paths.py), on real git repositories."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from codemend.agent.repair.target import WorkTree
from codemend.agent.repo.git import commit_on_branch
from codemend.agent.repo.output import apply_to_worktree
from codemend.agent.repo.paths import UnsafePath, check_writable, unsafe_reason
from codemend.sandbox.errors import BadInput


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c",
                           "user.email=t@example.org", *args], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, Path, str]:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg/core.py").write_text("x = 1\n")
    os.symlink(outside, root / "linked")  # a tracked symlink to a folder outside
    os.symlink("core.py", root / "pkg/alias.py")
    git(tmp_path, "init", "-q", str(root))
    git(root, "add", "-A")
    git(root, "update-index", "--add", "--cacheinfo",
        f"160000,{'1' * 40},vendored")  # a submodule (gitlink), not checked out
    git(root, "commit", "-qm", "init")
    return root, outside, git(root, "rev-parse", "HEAD")


def test_links_and_submodules_are_refused(repo):
    root, _, head = repo
    assert unsafe_reason(root, "pkg/core.py") is None
    assert unsafe_reason(root, "pkg/new/deep.py") is None
    assert "linked is a symbolic link" in unsafe_reason(root, "linked/evil.py")
    assert "pkg/alias.py is a symbolic link" in unsafe_reason(root, "pkg/alias.py")
    assert "vendored is a submodule" in unsafe_reason(root, "vendored/x.py")
    assert "outside the repository" in unsafe_reason(root, "../x.py")
    (root / "inner").mkdir()
    (root / "inner/.git").write_text("gitdir: elsewhere\n")
    assert "inner is a submodule" in unsafe_reason(root, "inner/x.py")
    with pytest.raises(UnsafePath, match="linked is a symbolic link"):
        check_writable(root, ["pkg/core.py", "linked/evil.py"], head)


def test_apply_branch_and_repair_write_nothing_through_a_link(repo):
    root, outside, head = repo
    base = {"pkg/core.py": "x = 1\n"}
    bad = {"pkg/core.py": "x = 2\n", "linked/evil.py": "boom\n"}
    with pytest.raises(BadInput, match="--apply: linked/evil.py: linked is a symbolic link"):
        apply_to_worktree(root, base, bad)
    with pytest.raises(BadInput, match="--branch fix: vendored/x.py: vendored is a submodule"):
        commit_on_branch(root, head, {"vendored/x.py": "boom\n"}, "fix", "m")
    with pytest.raises(UnsafePath):
        WorkTree(root, base).write(bad, {})
    assert list(outside.iterdir()) == [] and (root / "pkg/core.py").read_text() == "x = 1\n"
    assert git(root, "branch", "--list", "fix") == ""
    # an honest change is written, committed and repaired as before
    good = {"pkg/core.py": "x = 2\n", "pkg/new.py": "y = 1\n"}
    apply_to_worktree(root, base, good)
    assert (root / "pkg/new.py").read_text() == "y = 1\n"
    commit = commit_on_branch(root, head, good, "fix", "m")
    assert git(root, "show", f"{commit}:pkg/core.py") == "x = 2"
