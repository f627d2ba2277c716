"""``fix.patch``, made by git: the base and the changed texts go into a private, temporary
repository as two trees, and ``git diff-tree`` writes the patch. Git then decides line
ends, "No newline at end of file" markers, quoting of odd paths and binary hunks, so the
patch applies with ``git apply`` to the starting commit, whatever the files hold (a form
feed, a lone ``\\r``, a missing last newline). The user's repository is only read (for
file modes), never written.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from codemend.agent.repo import git

ISOLATED = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0"}
"""The temporary repository ignores the user's git settings (diff prefixes, hooks...)."""


def modes_at(root: Path | None, head: str | None, paths: list[str]) -> dict[str, str]:
    """The git file modes of ``paths`` at ``head`` (``100755`` for scripts); empty when
    there is no repository or commit to read them from."""
    if root is None or not head or not paths or not (root / ".git").exists():
        return {}
    out = git.git(root, "ls-tree", "-z", head, "--", *paths, check=False)
    modes = {}
    for entry in out.split("\0"):
        meta, _, path = entry.partition("\t")
        if path and meta.split()[0] in ("100644", "100755"):
            modes[path] = meta.split()[0]
    return modes


def _blobs(repo: Path, env: dict[str, str], texts: list[str]) -> list[str]:
    """Write each text as a blob, byte-exact (no filters); their object ids in order."""
    files = repo.parent / "texts"
    files.mkdir()
    paths = []
    for n, text in enumerate(texts):
        p = files / str(n)
        p.write_bytes(text.encode("utf-8", errors="surrogateescape"))
        paths.append(str(p))
    listed = "".join(p + "\n" for p in paths).encode()
    out = git.git(repo, "hash-object", "-w", "--no-filters", "--stdin-paths", stdin=listed,
                  env=env)
    return out.split()


def _tree(repo: Path, env: dict[str, str], name: str, entries: list[tuple[str, str, str]]
          ) -> str:
    env = {**env, "GIT_INDEX_FILE": str(repo.parent / name)}
    info = "".join(f"{mode} {blob}\t{path}\0" for mode, blob, path in entries).encode(
        "utf-8", errors="surrogateescape")
    git.git(repo, "update-index", "--add", "-z", "--index-info", stdin=info, env=env)
    return git.git(repo, "write-tree", env=env).strip()


def git_patch(base: Mapping[str, str], overlay: Mapping[str, str | None],
              modes: Mapping[str, str] | None = None) -> str:
    """A patch from ``base`` (path -> text) to ``base`` with ``overlay`` applied (None
    deletes), as ``git diff`` writes it; ``modes``: git modes of existing files."""
    paths = sorted(p for p in overlay if base.get(p) != overlay[p])
    if not paths:
        return ""
    modes = modes or {}
    with tempfile.TemporaryDirectory(prefix="codemend-patch-") as tmp:
        repo = Path(tmp) / "repo.git"
        env = {**ISOLATED, "GIT_DIR": str(repo), "GIT_OBJECT_DIRECTORY": str(repo / "objects"),
               "GIT_ALTERNATE_OBJECT_DIRECTORIES": ""}
        git.git(Path(tmp), "init", "-q", "--bare", str(repo), env=env)
        old = [p for p in paths if base.get(p) is not None]
        new = [p for p in paths if overlay[p] is not None]
        blobs = _blobs(repo, env, [base[p] for p in old] + [overlay[p] or "" for p in new])
        before = [(modes.get(p, "100644"), b, p) for p, b in zip(old, blobs, strict=False)]
        after = [(modes.get(p, "100644"), b, p) for p, b in zip(new, blobs[len(old):],
                                                                 strict=True)]
        diff = git.git(repo, "diff-tree", "-r", "-p", "--binary", "--no-renames",
                       "--no-ext-diff", "--no-textconv", "--src-prefix=a/", "--dst-prefix=b/",
                       _tree(repo, env, "before", before), _tree(repo, env, "after", after),
                       env=env)
    return diff
