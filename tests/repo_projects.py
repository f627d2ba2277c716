"""Real projects no one here wrote, as git repositories, for repository-mode tests.

API (import from tests: ``from repo_projects import PROJECTS, make_repo, commit``)::

    PROJECTS: dict[str, Project]       # "toolz", "inflection" (flat, no dependency),
                                       # "isodate" (src layout, depends on six),
                                       # "iniconfig" (a dependency of pytest itself)
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
    """passed + skipped of the project's own suite on its sdist (CPython 3.11); 0: not
    counted here (the breadth suite takes its truth from a host venv instead)."""
    bug: Bug
    deps: tuple[str, ...] = field(default_factory=tuple)
    host: tuple[str, ...] = ()
    """pip arguments for the test needs of a host venv, as the project's CI installs them
    (the project itself is installed editable, and pytest, besides)."""
    features: tuple[str, ...] = ()
    """What this project brings to the breadth set (layout, config place, ...)."""
    variant: str = ""
    """A mechanical change of the pytest configuration's place, committed with the import
    (``.pytest.ini``: pytest.ini renamed, or setup.cfg's ``[tool:pytest]`` moved there;
    ``tool.pytest``: ``[tool.pytest.ini_options]``
    as pytest 9's native ``[tool.pytest]`` table), for places no released project uses."""
    tag: bool = True
    """The import is tagged with the version, as upstream tags its releases."""

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
    # pytest itself depends on it: the shadowing case (src layout, version from git)
    "iniconfig": Project("iniconfig", "2.3.1", "src", 54,
                         Bug("src/iniconfig/__init__.py",
                             "        yield from sorted(section, key=lineof)",
                             "        yield from sorted(section, key=lineof, reverse=True)"),
                         deps=("pytest-xdist>=3.8",)),
}


BREADTH = {
    **PROJECTS,
    "pluggy": Project("pluggy", "1.6.0", "src", 0, Bug(
        "src/pluggy/_manager.py",
        "        return any(plugin == val for val in self._name2plugin.values())",
        "        return all(plugin == val for val in self._name2plugin.values())"),
        host=(".[testing]",), features=("pytest depends on it", "tox.ini [pytest]",
                                        "setuptools-scm", "testing/ folder")),
    "humanize": Project("humanize", "4.10.0", "src", 0, Bug(
        "src/humanize/filesize.py", "    base = 1024 if (gnu or binary) else 1000",
        "    base = 1024 if (gnu or binary) else 1024"),
        host=(".[tests]",), features=("hatch-vcs", "[tool.pytest.ini_options]", "--cov")),
    "click": Project("click", "8.1.7", "src", 0, Bug(
        "src/click/utils.py", "        filename = os.path.basename(filename)",
        "        filename = os.path.dirname(filename)"),
        host=("-r", "requirements/tests.txt"),
        features=("setup.cfg [tool:pytest]", "pinned requirement files")),
    "jinja2": Project("jinja2", "3.1.4", "src", 0, Bug(
        "src/jinja2/filters.py", "    return soft_str(s).capitalize()",
        "    return soft_str(s).title()"), deps=("MarkupSafe",),
        host=("-r", "requirements/tests.txt"), variant="tool.pytest",
        features=("[tool.pytest] (native)", "conflicting requirement files",
                  "runtime dependency")),
    "cachetools": Project("cachetools", "5.5.0", "src", 0, Bug(
        "src/cachetools/__init__.py", "            self.__counter[key] -= 1\n        return value",
        "            self.__counter[key] += 1\n        return value"),
        host=("pytest-cov",), features=("unittest suites", "tox [testenv] deps")),
    "more-itertools": Project("more-itertools", "10.5.0", "flat", 0, Bug(
        "more_itertools/more.py", "            return iterable[-1]",
        "            return iterable[0]"), features=("unittest suites", "flit")),
    "six": Project("six", "1.16.0", "flat", 0, Bug(
        "six.py", '        return s.encode("latin-1")', '        return s.encode("utf-8")'),
        variant=".pytest.ini",
        features=("single module", "test module at the root", ".pytest.ini")),
    "parse": Project("parse", "1.20.2", "flat", 0, Bug(
        "parse.py", "        return name in self.named", "        return name not in self.named"),
        features=("single module",)),
    "tabulate": Project("tabulate", "0.9.0", "flat", 0, Bug(
        "tabulate/__init__.py", '    fmt = "{0:^%ds}" % width',
        '    fmt = "{0:^%ds}" % (width + 1)'),
        features=("test/ folder", "setuptools-scm")),
    "python-dateutil": Project("python-dateutil", "2.9.0.post0", "src", 0, Bug(
        "src/dateutil/relativedelta.py", "        year = (self.year or other.year)+self.years",
        "        year = (self.year or other.year)-self.years"),
        deps=("six",), host=("pytest<9", "-r", "requirements-dev.txt"),
        features=("setuptools-scm", "runtime dependency", "time zones")),
    "jsonschema": Project("jsonschema", "4.23.0", "flat", 0, Bug(
        "jsonschema/_types.py", "    return isinstance(instance, list)",
        "    return isinstance(instance, tuple)"),
        deps=("attrs", "jsonschema-specifications", "referencing", "rpds-py"),
        features=("tests inside the package", "noxfile", "hatch-vcs",
                  "runtime dependencies")),
    "parso": Project("parso", "0.8.4", "flat", 0, Bug(
        "parso/utils.py",
        "        if string.endswith('\\n') or string.endswith('\\r') or string == '':",
        "        if string.endswith('\\n') or string.endswith('\\r'):"),
        host=(".[testing]",), features=("pytest.ini", "doctests", "testpaths",
                                        "test/ folder", "usefixtures")),
    "structlog": Project("structlog", "26.1.0", "src", 0, Bug(
        "src/structlog/_log_levels.py", '    if method_name == "exception":',
        '    if method_name == "exceptions":'),
        host=("pytest-asyncio>=0.17", "pytest-randomly", "simplejson", "time-machine>=2.14.1"),
        features=("hatch-vcs", "dependency groups (include-group)", "--import-mode=importlib",
                  "pytest-asyncio", "pytest-randomly")),
}
"""The breadth set (tests/breadth.py, bench/run.py breadth): PROJECTS and more."""

BIG = Project("dateparser", "1.2.0", "flat", 0, Bug(
    "dateparser/timezone_parser.py",
    "                date_string = date_string[: start + 1] + date_string[stop:]",
    "                date_string = date_string[:start] + date_string[stop:]"),
    deps=("python-dateutil", "pytz", "regex", "tzlocal"), host=("-r", "tests/requirements.txt"),
    features=("about 23,800 tests",))
"""A big suite, for quick checks (bench/run.py quick)."""
BIG_OPTIONAL = ("tests/test_dateparser_data_integrity.py", "tests/test_hijri.py",
                "tests/test_jalali.py", "tests/test_language_detect.py")
"""BIG's test modules that need optional extras (fasttext is a C++ build): left out."""


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
        top = {m.name.split("/", 1)[0] for m in tar.getmembers()}
        tar.extractall(dest, filter="data")
    assert len(top) == 1, f"{project.name}: the sdist has no single top folder: {top}"
    repo = dest / top.pop()
    for junk in repo.rglob("__pycache__"):
        shutil.rmtree(junk)
    if project.variant:
        move_config(repo, project.variant)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"import {project.name} {project.version}")
    if project.tag:
        git(repo, "tag", project.version)
    return repo


def move_config(repo: Path, variant: str) -> None:
    """Move the project's pytest settings to a place pytest reads them from too."""
    if variant == ".pytest.ini":  # pytest.ini renamed, or setup.cfg's section moved there
        if (repo / "pytest.ini").is_file():
            (repo / "pytest.ini").rename(repo / ".pytest.ini")
            return
        cfg = (repo / "setup.cfg").read_text()
        head, sep, rest = cfg.partition("[tool:pytest]\n")
        assert sep, "no [tool:pytest] section in setup.cfg"
        body, nxt, tail = rest.partition("\n[")
        (repo / ".pytest.ini").write_text("[pytest]\n" + body.rstrip("\n") + "\n")
        (repo / "setup.cfg").write_text(head + (nxt.lstrip("\n") + tail if nxt else ""))
        return
    assert variant == "tool.pytest", variant
    path = repo / "pyproject.toml"
    text = path.read_text()
    assert text.count("[tool.pytest.ini_options]") == 1
    path.write_text(text.replace("[tool.pytest.ini_options]", "[tool.pytest]"))


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
