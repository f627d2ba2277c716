"""The CI bot's stage: a bare ``origin`` with a failing branch, a checkout of the failing
commit (detached, as actions/checkout leaves it), and artifacts as ``propose`` writes them."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = "acme/widget"
TOKEN = "ghs_test_token_123"
GOOD = ("def mean(xs):\n    if not xs:\n        raise ValueError('mean of nothing')\n"
        "    return sum(xs) / len(xs)\n")
BUGGY = GOOD.replace("/ len(xs)", "/ (len(xs) + 1)")
TESTS = ("from widget.ops import mean\n\n\ndef test_mean():\n    assert mean([1, 2, 3]) == 2\n\n\n"
         "def test_one():\n    assert mean([4]) == 4\n")


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    import os

    base = {**os.environ, "GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
            "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}
    res = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                         env={**base, **(env or {})}, check=False)
    assert res.returncode == 0, f"git {args}: {res.stderr}"
    return res.stdout.strip()


@dataclass
class Stage:
    origin: Path
    checkout: Path
    dev: Path  # the developer's clone, used to push new commits
    failing: str  # the failing commit on `feature`
    main: str
    tmp: Path

    def refs(self) -> dict[str, str]:
        out = git(self.origin, "for-each-ref", "--format=%(refname) %(objectname)")
        return dict(line.split() for line in out.splitlines())

    def artifact(self, name: str = "art", *, patch: str | None = None, status: str = "fixed",
                 commit: str | None = None, branch: str = "feature", report: dict | None = None,
                 repository: str = REPOSITORY) -> Path:
        folder = self.tmp / name
        folder.mkdir()
        if patch is None:
            patch = fix_patch(self)
        if status == "fixed":
            (folder / "fix.patch").write_text(patch)
        rep = report or {"status": status, "run_id": "r-20261202-abc", "iterations": 2,
                         "model_calls": 2, "tokens": {"prompt": 900, "completion": 120},
                         "targets": ["tests/test_ops.py::test_mean", "tests/test_ops.py::test_one"],
                         "baseline": {"passed": 0, "failed": 2, "errors": 0, "skipped": 0, "collected": 2},
                         "final": {"passed": 2, "failed": 0, "errors": 0, "skipped": 0, "collected": 2}}
        (folder / "report.json").write_text(json.dumps(rep))
        (folder / "summary.md").write_text("summary\n")
        meta = {"version": 1, "repository": repository, "base_branch": branch,
                "commit": commit or self.failing, "run_id": "r-20261202-abc", "status": status,
                "workflow_run_id": "77", "model": "scripted:replies.toml"}
        (folder / "meta.json").write_text(json.dumps(meta))
        return folder


def fix_patch(stage: Stage, content: str = GOOD, path: str = "widget/ops.py") -> str:
    """A real `git diff` from the failing commit to a version with ``content`` at ``path``."""
    work = stage.tmp / "patchwork"
    if not work.exists():
        git(stage.tmp, "clone", "-q", str(stage.origin), str(work))
    git(work, "fetch", "-q", "origin")
    git(work, "checkout", "-q", "--detach", stage.failing)
    git(work, "reset", "-q", "--hard")
    target = work / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content)
    git(work, "add", "-A")
    diff = git(work, "diff", "--cached", "--binary") + "\n"
    git(work, "reset", "-q", "--hard")
    return diff


def widget(dev: Path) -> None:
    """A small hand-made project (flat layout) on ``main``; the bug comes on ``feature``."""
    (dev / "widget").mkdir(parents=True)
    (dev / "tests").mkdir()
    (dev / "widget/__init__.py").write_text("")
    (dev / "widget/ops.py").write_text(GOOD)
    (dev / "tests/test_ops.py").write_text(TESTS)
    (dev / "pyproject.toml").write_text('[project]\nname = "widget"\nversion = "0"\n')


def widget_bug(dev: Path) -> None:
    (dev / "widget/ops.py").write_text(BUGGY)


def make_stage(tmp_path: Path, populate=widget, bug=widget_bug) -> Stage:
    """origin (bare) with ``main`` from ``populate`` and ``feature`` = main + ``bug``."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    dev = tmp_path / "dev"
    git(tmp_path, "clone", "-q", str(origin), str(dev))
    populate(dev)
    git(dev, "add", "-A")
    git(dev, "commit", "-qm", "import")
    git(dev, "push", "-q", "origin", "main")
    main = git(dev, "rev-parse", "HEAD")
    git(dev, "checkout", "-qb", "feature")
    bug(dev)
    git(dev, "commit", "-qam", "a faster version")
    git(dev, "push", "-q", "origin", "feature")
    failing = git(dev, "rev-parse", "HEAD")
    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", str(origin), str(checkout))
    git(checkout, "checkout", "-q", "--detach", failing)
    return Stage(origin, checkout, dev, failing, main, tmp_path)
