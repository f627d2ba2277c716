"""A workspace: the set of files one check sees. Solution files and test files."""

from __future__ import annotations

import io
import json
import posixpath
import tarfile
from pathlib import Path, PurePosixPath
from typing import Literal

from codemend.sandbox.errors import BadInput
from pydantic import BaseModel, Field, field_validator

MAX_FILE_BYTES = 4 << 20
MAX_FILES = 2000
CONFIG_FILES = frozenset({"conftest.py", "pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini",
                          "sitecustomize.py", "usercustomize.py"})
"""Files that configure pytest or Python itself: only tests may bring them, never ``files``."""


def is_config_file(path: str) -> bool:
    """True for a pytest/Python configuration file (by name) or a ``.pth`` file."""
    name = posixpath.basename(path.replace("\\", "/"))
    return name in CONFIG_FILES or name.endswith(".pth")


def check_relpath(path: str) -> str:
    """Return ``path`` normalised, or raise ValueError if it is absolute or escapes."""
    if not path or "\x00" in path:
        raise ValueError("empty path or a path with a NUL byte")
    if path.startswith(("/", "\\")) or (len(path) > 1 and path[1] == ":"):
        raise ValueError(f"{path!r} is absolute; give a path relative to the workspace")
    norm = posixpath.normpath(path.replace("\\", "/"))
    if norm == "." or norm.startswith("../") or norm == "..":
        raise ValueError(f"{path!r} points outside the workspace")
    return norm


class Workspace(BaseModel):
    """Files by relative POSIX path. ``files`` are the code under check (linted);
    ``tests`` are the test files (collected by pytest). Both are read-only inside.

    ``mode="task"`` (spec tasks, ``codemend check``) runs pytest with codemend's own
    settings on ``tests`` and lints ``files`` with codemend's rules. ``mode="repo"`` (an
    existing repository, see codemend.agent.repo) runs the project as it runs itself:
    its pytest settings and test paths, its ruff settings when it has them, ``src/`` on
    sys.path for a src layout; the static tamper scan is left to the caller, which scans
    changed lines only (``tamper.scan_changed``)."""

    files: dict[str, str] = Field(default_factory=dict)
    tests: dict[str, str] = Field(default_factory=dict)
    mode: Literal["task", "repo"] = "task"
    binary: dict[str, bytes] = Field(default_factory=dict)
    """Repository mode: files that are not UTF-8 text, delivered byte for byte."""
    python_paths: list[str] = Field(default_factory=list)
    """Repository mode: folders put on sys.path before the root (``["src"]``)."""
    ruff_settings: bool = False
    """Repository mode: lint with the project's ruff settings (else codemend's rules)."""
    select: list[str] = Field(default_factory=list)
    """Repository mode: run only these test files (a quick check, agent/repo/select.py);
    empty: the project's own test paths."""
    disabled_plugins: list[str] = Field(default_factory=list)
    """Repository mode: plugins the project's options turn off (``-p no:NAME``); the runner
    never names them with ``-p``."""
    coverage: dict[str, list[list[int]]] = Field(default_factory=dict)
    """Repository mode: measure these files' changed lines (``{path: [[first, last],
    ...]}``) with coverage.py during the test run (a fix's verifying run only)."""

    @field_validator("files", "tests", "binary")
    @classmethod
    def _paths(cls, value: dict) -> dict:
        return {check_relpath(k): v for k, v in value.items()}

    @field_validator("python_paths", "select")
    @classmethod
    def _path_list(cls, value: list[str]) -> list[str]:
        return [check_relpath(v) for v in value]

    def tar_bytes(self) -> bytes:
        """The workspace as an uncompressed tar, files under ``files/``; a repository's
        settings for the runner in ``meta/repo.json``."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            members = {rel: text.encode("utf-8", errors="surrogateescape")
                       for rel, text in {**self.files, **self.tests}.items()}
            members.update(self.binary)
            for rel, data in members.items():
                _add(tar, f"files/{rel}", data)
            if self.mode == "repo":
                _add(tar, "meta/repo.json", json.dumps(self.repo_meta()).encode())
        return buf.getvalue()

    def repo_meta(self) -> dict:
        meta = {"python_paths": self.python_paths, "ruff_settings": self.ruff_settings,
                "tests": self.test_paths}
        if self.disabled_plugins:
            meta["disabled_plugins"] = self.disabled_plugins
        return {**meta, "select": self.select} if self.select else meta

    @property
    def size_bytes(self) -> int:
        return sum(len(t.encode("utf-8", "surrogateescape")) for t in
                   [*self.files.values(), *self.tests.values()]) + \
            sum(len(b) for b in self.binary.values())

    def planted_config(self) -> list[str]:
        """Configuration files among ``files`` (the code under check). A ``conftest.py``
        there makes the verdict ``fail`` (tamper sign T106: pytest would run it); the others
        are ignored by the sandbox and only flagged (T107)."""
        return sorted(p for p in self.files if is_config_file(p))

    @property
    def lint_paths(self) -> list[str]:
        if self.mode == "repo":
            return ["."]  # the project's own includes and excludes decide
        return sorted(p for p in self.files if p.endswith(".py"))

    @property
    def test_paths(self) -> list[str]:
        """Task mode: pytest's arguments. Repository mode: the test files inventoried
        before the run (pytest itself follows the project's ``testpaths``)."""
        if self.mode == "repo":
            return sorted(p for p in self.tests if p.endswith(".py"))
        return sorted(self.tests)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o444
    tar.addfile(info, io.BytesIO(data))


def _read_tree(root: Path, what: str) -> dict[str, str]:
    """Read the regular files below ``root``; symlinks are never followed."""
    if root.is_symlink() or not root.is_dir():
        raise BadInput(f"{what} {root}: not a directory (give a folder of Python files)")
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        parts = PurePosixPath(rel).parts
        if any(p.startswith(".") or p in ("__pycache__", "node_modules") for p in parts):
            continue
        if path.is_symlink() or not path.is_file():
            continue
        if path.stat().st_size > MAX_FILE_BYTES:
            raise BadInput(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB; "
                           "the sandbox only takes source files")
        out[rel] = path.read_bytes().decode("utf-8", errors="surrogateescape")
        if len(out) > MAX_FILES:
            raise BadInput(f"{root}: more than {MAX_FILES} files; check a smaller folder")
    return out


def _is_test(rel: str) -> bool:
    name = posixpath.basename(rel)
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py")
                                     or name == "conftest.py")


def workspace_from_dirs(code_dir: Path, tests_dir: Path | None = None) -> Workspace:
    """Build a workspace for ``codemend check DIR [--tests DIR]``."""
    code = _read_tree(code_dir, "DIR")
    if tests_dir is not None:
        tests = {f"tests/{k}": v for k, v in _read_tree(tests_dir, "--tests").items()}
        # the user's own conftest.py files configure their tests: they are test files
        tests.update({k: v for k, v in code.items() if posixpath.basename(k) == "conftest.py"
                      and not k.startswith("tests/")})
        files = {k: v for k, v in code.items() if not k.startswith("tests/") and k not in tests}
    else:
        tests = {k: v for k, v in code.items() if _is_test(k)}
        files = {k: v for k, v in code.items() if k not in tests}
    if not any(p.endswith(".py") for p in [*files, *tests]):
        raise BadInput(f"{code_dir}: no Python files to check")
    return Workspace(files=files, tests=tests)
