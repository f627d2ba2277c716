"""A small stand-in for ``agent.repo.snapshot.load_repo`` until that lands: the files of a
git work tree (tracked plus untracked-but-not-ignored), as the sandbox sees them."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from codemend.sandbox.errors import BadInput

MAX_BYTES = 32 << 20


@dataclass
class RepoSnapshot:
    root: Path
    head: str
    files: dict[str, str] = field(default_factory=dict)


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          check=True).stdout


def load_repo(path: Path | str, max_bytes: int = MAX_BYTES) -> RepoSnapshot:
    root = Path(path)
    if not root.is_dir():
        raise BadInput(f"{root}: not a folder; give the work tree of a git repository")
    try:
        top = Path(_git(root, "rev-parse", "--show-toplevel").strip())
    except subprocess.CalledProcessError:
        raise BadInput(f"{root}: not a git repository (run `git init` first)") from None
    try:
        head = _git(top, "rev-parse", "--verify", "-q", "HEAD").strip()
    except subprocess.CalledProcessError:
        head = ""
    names = _git(top, "ls-files", "-co", "--exclude-standard", "-z").split("\0")
    files: dict[str, str] = {}
    total = 0
    for rel in sorted(n for n in names if n):
        p = top / rel
        if p.is_symlink() or not p.is_file():
            continue
        data = p.read_bytes()
        total += len(data)
        if total > max_bytes:
            raise BadInput(f"{top}: larger than {max_bytes >> 20} MiB of files; fix a smaller "
                           "repository")
        files[rel] = data.decode("utf-8", errors="surrogateescape")
    return RepoSnapshot(root=top.resolve(), head=head, files=files)
