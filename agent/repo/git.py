"""The few git operations repository mode needs, none of which touches the work tree or
the current branch unless asked: status, branch checks, and a commit on a new branch
made with a private index (``GIT_INDEX_FILE``)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from codemend.agent.repo.paths import UnsafePath, check_writable
from codemend.sandbox.errors import BadInput, InfraError

IDENTITY = {"GIT_AUTHOR_NAME": "codemend", "GIT_AUTHOR_EMAIL": "codemend@localhost",
            "GIT_COMMITTER_NAME": "codemend", "GIT_COMMITTER_EMAIL": "codemend@localhost"}


def git(root: Path, *args: str, env: dict[str, str] | None = None, stdin: bytes | None = None,
        check: bool = True) -> str:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], input=stdin, capture_output=True,
                              env={**os.environ, **(env or {})}, check=False)
    except FileNotFoundError as exc:
        raise InfraError("git is not installed; install it (apt-get install git)") from exc
    if check and done.returncode != 0:
        raise InfraError(f"git {' '.join(args[:2])} failed in {root}: "
                         f"{done.stderr.decode(errors='replace').strip()[:300]}")
    return done.stdout.decode("utf-8", errors="surrogateescape")


def dirty(root: Path, ignore: tuple[str, ...] = ()) -> list[str]:
    """Paths with uncommitted changes (untracked, not ignored, included)."""
    out = git(root, "status", "--porcelain", "-z", "--untracked-files=all")
    paths = [e[3:] for e in out.split("\0") if len(e) > 3]
    return [p for p in paths if not p.startswith(ignore)]


def current_branch(root: Path) -> str:
    return git(root, "symbolic-ref", "--quiet", "--short", "HEAD", check=False).strip()


def default_branches(root: Path) -> set[str]:
    names = {"main", "master"}
    remote = git(root, "symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD",
                 check=False).strip()
    if remote:
        names.add(remote.split("/", 1)[-1])
    configured = git(root, "config", "init.defaultBranch", check=False).strip()
    if configured:
        names.add(configured)
    return names


def check_new_branch(root: Path, name: str, head: str) -> None:
    """BadInput unless ``name`` is a valid, new branch that is neither current nor default."""
    if not head:
        raise BadInput(f"--branch {name}: the repository has no commit to branch from")
    if git(root, "check-ref-format", "--branch", name, check=False).strip() != name:
        raise BadInput(f"--branch {name}: not a valid branch name")
    if name == current_branch(root) or name in default_branches(root):
        raise BadInput(f"--branch {name}: is the current or default branch; name a new branch")
    if git(root, "rev-parse", "--verify", "--quiet", f"refs/heads/{name}", check=False).strip():
        raise BadInput(f"--branch {name}: already exists; name a new branch")


def _identity(root: Path) -> dict[str, str]:
    have = git(root, "config", "user.email", check=False).strip()
    return {} if have else IDENTITY


def commit_on_branch(root: Path, head: str, files: dict[str, str], name: str, message: str
                     ) -> str:
    """Commit ``files`` (path -> text) on top of ``head`` as new branch ``name``; return the
    commit id. The work tree, the index and the current branch stay as they are. No path
    through a symbolic link or into a submodule (of the work tree or ``head``) is committed."""
    try:
        check_writable(root, sorted(files), head)
    except UnsafePath as exc:
        raise BadInput(f"--branch {name}: {exc}; no branch was made (the patch is in the "
                       "output folder)") from None
    with tempfile.TemporaryDirectory(prefix="codemend-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), **_identity(root)}
        git(root, "read-tree", head, env=env)
        modes = {}
        for line in git(root, "ls-tree", "-r", "-z", head, "--", *sorted(files)).split("\0"):
            if line:
                meta, _, path = line.partition("\t")
                modes[path] = meta.split()[0]
        for path, text in sorted(files.items()):
            blob = git(root, "hash-object", "-w", "--stdin", "--path", path,
                       stdin=text.encode("utf-8", errors="surrogateescape")).strip()
            git(root, "update-index", "--add", "--cacheinfo",
                f"{modes.get(path, '100644')},{blob},{path}", env=env)
        tree = git(root, "write-tree", env=env).strip()
        commit = git(root, "commit-tree", tree, "-p", head, "-m", message, env=env).strip()
    git(root, "branch", name, commit)
    return commit
