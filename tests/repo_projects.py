"""Real projects no one here wrote, as git repositories, for repository-mode tests.

API (import from tests: ``from repo_projects import PROJECTS, make_repo, commit``)::

    PROJECTS: dict[str, Project]       # "toolz", "inflection" (flat, no dependency),
                                       # "isodate" (src layout, depends on six)
    sdist(project) -> Path             # the project's source distribution, downloaded
                                       # once into the cache folder
    make_repo(project, dest) -> Path   # unpack it into dest/NAME, git init, commit
                                       # everything ("import"); returns the work tree
    commit(repo, message, files={})    # write {path: text} into repo, commit; returns sha
    project_repo fixture               # indirect-parametrized: make_repo(PROJECTS[param],
                                       # tmp_path); pytest.mark.parametrize("project_repo",
                                       # ["toolz"], indirect=True)

Each ``Project`` says its ``layout``, its runtime dependencies (``deps``), the test
count of its own suite (``tests``: passed + skipped, for assertions) and a ``bug``: a
one-line change to one source file (``path``, ``old`` -> ``new``) that makes at least
one of its tests fail, for tests that commit a bug on top and heal it.

Sdists come from the package registry with ``pip download --no-binary NAME --no-deps
NAME==VER`` (the project itself from source; its build backend from wheels, which is
much faster than building that from source too) into ``$CODEMEND_TEST_CACHE/sdists``
(default ``~/.cache/codemend-tests/sdists``). Their code is never committed here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Bug:
    path: str
    old: str
    new: str


@dataclass(frozen=True)
class Project:
    name: str
    version: str
    layout: str
    tests: int
    """passed + skipped of the project's own suite on its sdist (CPython 3.11)."""
    bug: Bug
    deps: tuple[str, ...] = field(default_factory=tuple)

    @property
    def folder(self) -> str:
        return f"{self.name.replace('-', '_')}-{self.version}"


PROJECTS = {
    "toolz": Project("toolz", "1.2.0", "flat", 193,
                     Bug("toolz/itertoolz.py", "    return next(iter(seq))",
                         "    return next(iter(seq[1:]))")),
    "inflection": Project("inflection", "0.5.1", "flat", 455,
                          Bug("inflection/__init__.py", "    return word.replace('_', '-')",
                              "    return word.replace('_', '+')")),
    "isodate": Project("isodate", "0.6.1", "src", 18,
                       Bug("src/isodate/duration.py",
                           "        negduration = Duration(years=-self.years, months=-self.months)",
                           "        negduration = Duration(years=-self.years, months=self.months)"),
                       deps=("six",)),
}


def cache_dir() -> Path:
    root = os.environ.get("CODEMEND_TEST_CACHE") or str(Path.home() / ".cache" / "codemend-tests")
    return Path(root) / "sdists"


def sdist(project: Project) -> Path:
    """The project's sdist, downloaded once (pip's own client) into the cache folder."""
    dest = cache_dir()
    stem = f"{project.folder}.tar.gz"
    found = dest / stem
    if found.is_file():
        return found
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / f".{project.folder}.{os.getpid()}.part"  # pytest workers download side by side
    shutil.rmtree(tmp, ignore_errors=True)
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                           "--no-binary", project.name, "--dest", str(tmp),
                           f"{project.name}=={project.version}"], capture_output=True, text=True)
    got = sorted(tmp.glob("*.tar.gz")) if proc.returncode == 0 else []
    if not got:
        shutil.rmtree(tmp, ignore_errors=True)
        pytest.fail(f"could not download the sdist of {project.name}=={project.version}: "
                    f"{proc.stderr.strip()[-400:]}")
    got[0].replace(found)  # atomic: a worker that lost the race replaces an equal file
    shutil.rmtree(tmp, ignore_errors=True)
    return found


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
           "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.invalid"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env).stdout.strip()


def make_repo(project: Project, dest: Path) -> Path:
    """Unpack the sdist into ``dest``, ``git init`` it and commit everything."""
    with tarfile.open(sdist(project)) as tar:
        tar.extractall(dest, filter="data")
    repo = dest / project.folder
    for junk in repo.rglob("__pycache__"):
        shutil.rmtree(junk)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"import {project.name} {project.version}")
    return repo


def commit(repo: Path, message: str, files: dict[str, str] | None = None) -> str:
    """Write ``files`` into ``repo`` and commit them (and any other change)."""
    for rel, text in (files or {}).items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def commit_bug(repo: Path, project: Project) -> str:
    """Commit the project's known bug on top; returns the new sha."""
    path = repo / project.bug.path
    text = path.read_text()
    assert text.count(project.bug.old) == 1, f"{project.bug.path}: bug anchor not found once"
    return commit(repo, "introduce a bug", {project.bug.path: text.replace(project.bug.old,
                                                                           project.bug.new)})


@pytest.fixture
def project_repo(request, tmp_path) -> Path:
    return make_repo(PROJECTS[request.param], tmp_path)
