"""What ``publish`` accepts from an artifact: the patch is untrusted until it passes here.

The artifact was made by a job that ran model-written code, so it may be forged. The paths
a patch touches are read by ``git apply`` itself (the same parser that will apply it), never
by a regex of our own, and checked against the one list `codemend fix` uses too
(agent/repo/protected.py): CI and repository plumbing and files Python or pytest reads at
start-up (``*.pth``, ``*.dist-info/``, ``sitecustomize.py``, ...) are never allowed; tests
and build, test or lint configuration (all of ``pyproject.toml``, ``pytest.toml``,
``setup.cfg``, ``tox.ini``, requirements, ...) only with ``--allow-test-edits``, which the
workflow's author, never the artifact, decides. Which files are tests follows the
project's own pytest settings at the recorded commit. Shapes a source fix never needs are
refused too: symlinks, submodules, binary patches, mode changes.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from codemend.agent.ci.errors import Refused
from codemend.agent.repo import protected
from codemend.agent.repo.layout import PYTEST_FILES, PytestSettings
from codemend.agent.repo.layout import pytest_settings as layout_settings


@dataclass(frozen=True)
class Limits:
    """Size caps for one patch (``--max-files``, ``--max-patch-bytes``)."""

    max_files: int = 25
    max_bytes: int = 256 * 1024
    allow_test_edits: bool = False


def protected_reason(path: str, allow_test_edits: bool = False,
                     settings: PytestSettings | None = None,
                     packages: frozenset[str] | None = None) -> str | None:
    """Why ``path`` may not be changed by a published patch, or None when it may.
    ``packages``: the folders holding test modules at the recorded commit (None: unknown,
    so every ``__init__.py`` under ``testpaths`` counts as a test file)."""
    return protected.reason(path, settings, allow_test_edits, packages)


def tracked_files(cwd: Path) -> list[str] | None:
    """Every file tracked at HEAD (the recorded commit); None when git cannot say."""
    res = subprocess.run(["git", "ls-tree", "-r", "-z", "--name-only", "HEAD"], cwd=cwd,
                         capture_output=True, check=False)
    if res.returncode != 0:
        return None
    return [p for p in res.stdout.decode("utf-8", errors="surrogateescape").split("\0") if p]


def pytest_settings(cwd: Path) -> PytestSettings:
    """The project's pytest settings as committed at HEAD (the recorded commit)."""
    files = {}
    for name in PYTEST_FILES:
        res = subprocess.run(["git", "show", f"HEAD:{name}"], cwd=cwd, capture_output=True,
                             check=False)
        if res.returncode == 0:
            files[name] = res.stdout.decode("utf-8", errors="replace")
    return layout_settings(files)


def _git_apply(args: list[str], patch: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "apply", *args, str(patch)], cwd=cwd, capture_output=True,
                          text=True, check=False)


def patch_paths(patch: Path, cwd: Path) -> list[str]:
    """Every path the patch names (both sides of a rename), as ``git apply`` reads it."""
    res = _git_apply(["--numstat", "-z"], patch, cwd)
    if res.returncode != 0:
        raise Refused(f"the patch is not a patch git can read: {res.stderr.strip()[:300]}")
    fields = res.stdout.split("\0")
    paths: list[str] = []
    i = 0
    while i < len(fields):
        head = fields[i]
        if not head:
            i += 1
            continue
        added, _deleted, path = head.split("\t", 2)
        if added == "-":
            raise Refused("the patch changes a binary file; a source fix never needs one")
        if path:  # plain entry
            paths.append(path)
            i += 1
        else:  # rename or copy: old and new follow as two fields
            paths.extend(fields[i + 1:i + 3])
            i += 3
    return paths


_MODE = re.compile(r"^\s*(create|delete) mode (\d+) |^\s*mode change (\d+) => (\d+) ")


def _check_modes(patch: Path, cwd: Path) -> None:
    res = _git_apply(["--summary"], patch, cwd)
    for line in res.stdout.splitlines():
        m = _MODE.match(line)
        if not m:
            continue
        if m.group(3):
            raise Refused(f"the patch changes a file mode ({line.strip()}); a source fix never needs it")
        if m.group(2) not in ("100644",):
            raise Refused(f"the patch makes a symlink, submodule or executable ({line.strip()})")


def vet_patch(patch: Path, cwd: Path, limits: Limits) -> list[str]:
    """Refuse (raise Refused) unless the patch is a small source-only change; return its paths."""
    size = patch.stat().st_size
    if size == 0:
        raise Refused("fix.patch is empty")
    if size > limits.max_bytes:
        raise Refused(f"fix.patch is {size} bytes, over the cap of {limits.max_bytes} "
                      "(--max-patch-bytes)")
    paths = patch_paths(patch, cwd)
    if not paths:
        raise Refused("fix.patch changes no file")
    files = sorted(set(paths))
    if len(files) > limits.max_files:
        raise Refused(f"fix.patch changes {len(files)} files, over the cap of {limits.max_files} "
                      "(--max-files)")
    settings = pytest_settings(cwd)
    tracked = tracked_files(cwd)
    packages = None if tracked is None else protected.test_packages(tracked, settings)
    for path in files:
        reason = protected_reason(path, limits.allow_test_edits, settings, packages)
        if reason:
            raise Refused(f"fix.patch touches {path}: {reason}; codemend never publishes "
                          "such a change (see README, CI bot)")
    _check_modes(patch, cwd)
    return files
