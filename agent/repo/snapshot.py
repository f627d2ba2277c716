"""Read a git work tree into a ``RepoSnapshot``: the files a fix works on, and what the
sandbox must know to run the project's own suite (layout, tests, configuration).

The files are exactly ``git ls-files -co --exclude-standard``: tracked files plus untracked
files that are not ignored. Tracked files deleted from the work tree are skipped, symlinks
are never followed, binary files are kept as bytes. Reading is all a snapshot does: the
work tree and its branches are never changed here.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from codemend.agent.repo import layout, protected
from codemend.sandbox.errors import BadInput
from codemend.sandbox.workspace import Workspace

DEFAULT_MAX_BYTES = 32 << 20
DEFAULT_MAX_FILES = 5000
OWN_DIR = ".codemend/"
"""codemend's own outputs inside a repository: never part of the workspace."""


@dataclass(frozen=True)
class RepoSnapshot:
    """One repository as read at one moment. Paths are relative POSIX paths."""

    root: Path
    files: dict[str, str]
    """Text files (UTF-8), byte-exact: line endings are kept."""
    binary: dict[str, bytes]
    """Files that are not UTF-8 text: delivered to the sandbox untouched, never edited."""
    head: str | None
    """The HEAD commit sha (None in a repository without commits)."""
    branch: str | None
    """The current branch (None when HEAD is detached)."""
    dirty: bool
    """True when tracked files are changed or untracked, non-ignored files exist."""
    layout: str
    """``src`` (code under src/, put on sys.path) or ``flat`` (the root is importable)."""
    pytest: layout.PytestSettings
    test_files: list[str]
    """Test modules, conftest.py files and everything in tests/ folders (sorted)."""
    config_files: list[str]
    """Files that configure building, linting, testing or CI (sorted)."""
    ruff_settings: bool
    """True when the project configures ruff; else the sandbox lints with codemend's rules."""
    skipped: list[str] = field(default_factory=list)
    """Listed paths that were not read: symlinks, submodules, deleted files."""

    @property
    def python_paths(self) -> list[str]:
        """Folders pytest puts on sys.path inside the sandbox (its ``pythonpath`` setting):
        the project's own, plus ``src`` for a src layout. Empty: the project's as is."""
        if self.layout != "src":
            return []
        own = list(layout.words(self.pytest.options.get("pythonpath")))
        return own if "src" in own else [*own, "src"]

    @property
    def disabled_plugins(self) -> list[str]:
        """Plugins the project's own options turn off (``-p no:NAME`` in its addopts): the
        sandbox never names them with ``-p``, which would turn them back on."""
        args = layout.words(self.pytest.options.get("addopts"))
        values = [b for a, b in zip(args, args[1:], strict=False) if a == "-p"]
        values += [a[2:] for a in args if a.startswith("-pno:")]
        return sorted({v[3:] for v in values if v.startswith("no:") and v[3:]})

    @property
    def test_modules(self) -> list[str]:
        return [p for p in self.test_files if layout.is_test_module(p, self.pytest)]

    def is_test_file(self, path: str) -> bool:
        """Also for paths that are not in the snapshot (a file a fix adds)."""
        return layout.is_test_file(path, self.pytest)

    def protected(self, path: str, allow_test_edits: bool = False) -> str | None:
        """Why a fix may not change ``path`` (protected.py: tests, their configuration,
        files Python reads at start-up; the first two with ``allow_test_edits``)."""
        return protected.reason(path, self.pytest, allow_test_edits,
                                protected.test_packages([*self.files, *self.binary],
                                                        self.pytest))

    def is_protected(self, path: str) -> bool:
        return self.protected(path) is not None

    def workspace(self, changes: Mapping[str, str | None] | None = None) -> Workspace:
        """The repository-mode workspace, with ``changes`` applied (text by path; None
        deletes). Test files go to ``tests``, the rest of the text to ``files``."""
        text = dict(self.files)
        binary = dict(self.binary)
        for path, new in (changes or {}).items():
            binary.pop(path, None)
            if new is None:
                text.pop(path, None)
            else:
                text[path] = new
        tests = {p: t for p, t in text.items() if self.is_test_file(p)}
        return Workspace(mode="repo", files={p: t for p, t in text.items() if p not in tests},
                         tests=tests, binary=binary, python_paths=self.python_paths,
                         ruff_settings=self.ruff_settings,
                         disabled_plugins=self.disabled_plugins)

    @property
    def size_bytes(self) -> int:
        return sum(len(t.encode("utf-8", "surrogateescape")) for t in self.files.values()) + \
            sum(len(b) for b in self.binary.values())


def _git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True)
    except FileNotFoundError as exc:
        raise BadInput("git is not installed: repository mode needs git on PATH") from exc
    if check and proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise BadInput(f"{root}: git {args[0]} failed: {(err or ['?'])[-1][:200]}")
    return proc


def _repo_root(path: Path) -> Path:
    if not path.exists():
        raise BadInput(f"{path}: no such folder")
    if not path.is_dir():
        raise BadInput(f"{path}: not a folder (give the work tree of a git repository)")
    proc = _git(path, "rev-parse", "--show-toplevel", check=False)
    if proc.returncode != 0:
        raise BadInput(f"{path}: not a git repository (run `git init` and commit first)")
    return Path(proc.stdout.decode().strip())


def _read_files(root: Path, max_bytes: int, max_files: int):
    listed = _git(root, "ls-files", "-co", "--exclude-standard", "-z").stdout
    text: dict[str, str] = {}
    binary: dict[str, bytes] = {}
    skipped: list[str] = []
    total = 0
    for raw in sorted(set(listed.split(b"\0")) - {b""}):
        rel = raw.decode("utf-8", "surrogateescape")
        if rel.startswith(OWN_DIR):
            continue
        try:
            st = os.lstat(root / rel)
        except OSError:
            skipped.append(rel)  # tracked, deleted from the work tree
            continue
        if not stat.S_ISREG(st.st_mode):
            skipped.append(rel)  # a symlink or a submodule: never followed
            continue
        total += st.st_size
        if total > max_bytes or len(text) + len(binary) >= max_files:
            raise BadInput(f"{root}: the repository is over the size cap ({max_bytes >> 20} MiB, "
                           f"{max_files} files); raise the cap or fix a smaller repository")
        data = (root / rel).read_bytes()
        try:
            if b"\0" in data:
                raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL byte")
            text[rel] = data.decode("utf-8")
        except UnicodeDecodeError:
            binary[rel] = data
    return text, binary, skipped


def _dirty(root: Path) -> bool:
    out = _git(root, "status", "--porcelain", "-z", "--untracked-files=normal").stdout
    entries = [e for e in out.split(b"\0") if e]
    return any(not e[3:].startswith(OWN_DIR.encode()) for e in entries if len(e) > 3)


def load_repo(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES,
              max_files: int = DEFAULT_MAX_FILES) -> RepoSnapshot:
    """Read the git work tree at ``path``. Bad input (not a folder, not a git repository,
    over the size cap, no tests) raises ``BadInput`` (exit 2) with one line."""
    root = _repo_root(Path(path))
    text, binary, skipped = _read_files(root, max_bytes, max_files)
    head = _git(root, "rev-parse", "--verify", "-q", "HEAD", check=False)
    branch = _git(root, "symbolic-ref", "-q", "--short", "HEAD", check=False)
    return from_files(root, text, binary,
                      head=head.stdout.decode().strip() or None if head.returncode == 0 else None,
                      branch=branch.stdout.decode().strip() or None if branch.returncode == 0
                      else None, dirty=_dirty(root), skipped=skipped)


def from_files(root: Path, text: dict[str, str], binary: dict[str, bytes], *,
               head: str | None = None, branch: str | None = None, dirty: bool = False,
               skipped: list[str] | None = None) -> RepoSnapshot:
    """A snapshot from files already read (``load_repo``, or a run's stored base): the
    layout, tests and settings are derived from the texts alone."""
    settings = layout.pytest_settings(text)
    paths = sorted([*text, *binary])
    tests = [p for p in paths if layout.is_test_file(p, settings)]
    if not any(layout.is_test_module(p, settings) for p in tests):
        where = f" under {', '.join(settings.testpaths)}" if settings.testpaths else ""
        raise BadInput(f"{root}: no tests found (no {' or '.join(settings.python_files)} "
                       f"files{where}); add tests first")
    return RepoSnapshot(
        root=root, files=text, binary=binary, head=head, branch=branch, dirty=dirty,
        layout=layout.layout_of(paths), pytest=settings, test_files=tests,
        config_files=[p for p in paths if protected.is_config_file(p)],
        ruff_settings=layout.has_ruff_settings(text), skipped=list(skipped or []))


def nearest_tag(snap: RepoSnapshot) -> str | None:
    """The nearest tag reachable from the snapshot's commit (``git describe --tags``), for
    projects whose version comes from git; None without one (or without the repository)."""
    if snap.head is None or not (snap.root / ".git").exists():
        return None
    try:
        proc = _git(snap.root, "describe", "--tags", "--abbrev=0", snap.head, check=False)
    except BadInput:
        return None
    return proc.stdout.decode("utf-8", "replace").strip() or None if proc.returncode == 0 \
        else None
