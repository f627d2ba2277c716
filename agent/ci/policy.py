"""What ``publish`` accepts from an artifact: the patch is untrusted until it passes here.

The artifact was made by a job that ran model-written code, so it may be forged. The paths
a patch touches are read by ``git apply`` itself (the same parser that will apply it), never
by a regex of our own, and checked against a deny list that is deliberately broad:

* CI and repository plumbing: anything under ``.github/`` or ``.git/``, ``.gitlab-ci.yml``,
  ``.gitmodules``, ``.gitattributes``, ``.pre-commit-config.yaml``, ``.circleci/``,
  ``azure-pipelines.yml``, ``Jenkinsfile`` -- never allowed.
* Tests: any path with a ``test``/``tests``/``testing`` folder, ``test_*.py``, ``*_test.py``,
  ``conftest.py``.
* Configuration and build: ``pyproject.toml`` (all of it, not only its tool sections: a
  dependency pin or build hook changes what CI runs as much as a pytest option does),
  ``setup.cfg``, ``setup.py``, ``tox.ini``, ``pytest.ini``, ``noxfile.py``, ``ruff.toml``,
  ``.ruff.toml``, ``.coveragerc``, ``mypy.ini``, ``.flake8``, ``Makefile``,
  ``requirements*.txt``, ``constraints*.txt``, ``MANIFEST.in``, ``sitecustomize.py``,
  ``usercustomize.py`` and ``*.pth``.
* Shapes a source fix never needs: symlinks, submodules, binary patches, mode changes.

Tests and configuration (not CI plumbing) can be let through with ``--allow-test-edits``,
which the workflow's author, never the artifact, decides.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from codemend.agent.ci.errors import Refused

CI_PATHS = (".github/", ".git/", ".circleci/", ".gitlab/")
CI_FILES = frozenset({".gitlab-ci.yml", ".gitmodules", ".gitattributes", ".pre-commit-config.yaml",
                      "azure-pipelines.yml", "Jenkinsfile", ".travis.yml", "bitbucket-pipelines.yml"})
TEST_DIRS = frozenset({"test", "tests", "testing"})
CONFIG_FILES = frozenset({"pyproject.toml", "setup.cfg", "setup.py", "tox.ini", "pytest.ini",
                          "noxfile.py", "ruff.toml", ".ruff.toml", ".coveragerc", "mypy.ini", ".flake8",
                          "Makefile", "MANIFEST.in", "sitecustomize.py", "usercustomize.py",
                          "conftest.py"})
CONFIG_GLOBS = ("requirements*.txt", "constraints*.txt", "*.pth")


@dataclass(frozen=True)
class Limits:
    """Size caps for one patch (``--max-files``, ``--max-patch-bytes``)."""

    max_files: int = 25
    max_bytes: int = 256 * 1024
    allow_test_edits: bool = False


def protected_reason(path: str, allow_test_edits: bool = False) -> str | None:
    """Why ``path`` may not be changed by a published patch, or None when it may."""
    norm = posixpath.normpath(path)
    if norm.startswith(("/", "../")) or norm == "..":
        return "a path outside the repository"
    name = posixpath.basename(norm)
    if norm.startswith(CI_PATHS) or name in CI_FILES or norm in (".github", ".git"):
        return "CI or repository configuration"
    if allow_test_edits:
        return None
    parts = norm.split("/")
    if name == "conftest.py" or any(p in TEST_DIRS for p in parts[:-1]) or (
            name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))):
        return "a test file"
    if name in CONFIG_FILES or any(fnmatch.fnmatch(name, g) for g in CONFIG_GLOBS):
        return "test, lint or build configuration"
    return None


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
    for path in files:
        reason = protected_reason(path, limits.allow_test_edits)
        if reason:
            raise Refused(f"fix.patch touches {path}: {reason}; codemend never publishes "
                          "such a change (see README, CI bot)")
    _check_modes(patch, cwd)
    return files
