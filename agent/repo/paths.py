"""Writes only where asked: a path a fix writes (``--apply``, ``--branch``, a repair
session's write, and every edit of a reply) must be a file of the repository itself. Every
parent is resolved inside the repository, and a path that passes through a symbolic link or
into a submodule (a gitlink in the index or the commit, or a folder holding its own
``.git``) is refused: ``open()`` would follow the link out of the repository, and a
submodule's files belong to another repository."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from codemend.agent.repo import protected

LINK, GITLINK = "120000", "160000"


class UnsafePath(ValueError):
    """A path a fix may not write; the message names it and says why."""


def _prefixes(rel: str) -> list[str]:
    parts = rel.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]


def _git_modes(root: Path, rel: str, commit: str | None) -> dict[str, str]:
    """Modes of ``rel`` and its parents as git records them (``commit``: that commit's
    tree, else the index). Empty when git cannot say (not a repository)."""
    args = ["ls-tree", "-z", commit] if commit else ["ls-files", "-s", "-z"]
    done = subprocess.run(["git", "-C", str(root), *args, "--", *_prefixes(rel)],
                          capture_output=True, check=False)
    out = {}
    for entry in done.stdout.decode("utf-8", "surrogateescape").split("\0"):
        meta, _, path = entry.partition("\t")
        if path and meta:
            out[path] = meta.split()[0]
    return out


def _disk_reason(root: Path, rel: str) -> str | None:
    parts = rel.split("/")
    here = root
    for i, part in enumerate(parts):
        here = here / part
        shown = "/".join(parts[:i + 1])
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            return None  # the rest does not exist yet: created as plain folders
        except OSError as exc:
            return f"{shown} cannot be read ({exc.strerror})"
        if stat.S_ISLNK(st.st_mode):
            return f"{shown} is a symbolic link"
        last = i == len(parts) - 1
        if not last and not stat.S_ISDIR(st.st_mode):
            return f"{shown} is not a folder"
        if not last and os.path.lexists(here / ".git"):
            return f"{shown} is a submodule (another repository)"
        if last and not stat.S_ISREG(st.st_mode):
            return f"{shown} is not a regular file"
    return None


def unsafe_reason(root: Path, rel: str, commit: str | None = None) -> str | None:
    """Why writing ``rel`` in the repository at ``root`` would write somewhere else (None:
    it would not). ``commit``: also check that commit's tree (``--branch``)."""
    if protected.never_reason(rel) == protected.OUTSIDE:
        return f"{rel} is {protected.OUTSIDE}"
    reason = _disk_reason(root, rel)
    if reason:
        return reason
    for where in ([None, commit] if commit else [None]):
        for path, mode in sorted(_git_modes(root, rel, where).items()):
            if mode == LINK and path in _prefixes(rel):
                return f"{path} is a symbolic link"
            if mode == GITLINK and path in _prefixes(rel):
                return f"{path} is a submodule (another repository)"
    return None


def check_writable(root: Path, paths: list[str], commit: str | None = None) -> None:
    """Raise ``UnsafePath`` naming every path that may not be written."""
    bad = [f"{p}: {r}" for p in sorted(paths) if (r := unsafe_reason(root, p, commit))]
    if bad:
        raise UnsafePath("; ".join(bad[:5]) + (" ..." if len(bad) > 5 else ""))
