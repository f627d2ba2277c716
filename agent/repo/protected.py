"""The one list of paths a fix may not change, shared by `codemend fix` and `repair` (through
``RepoSnapshot`` and the repository kind) and by `ci github publish` (agent/ci/policy.py).

Three kinds, from the strictest:

* **never**: CI and repository plumbing (``.github/``, ``.git/``, ``.gitmodules``, ...) and
  every file that Python or pytest reads at start-up that is not plain source: ``*.pth``,
  ``*.dist-info/``, ``*.egg-info/``, ``*.egg-link``, ``*.egg``, ``sitecustomize.py``,
  ``usercustomize.py``, ``__pycache__/``, ``*.pyc``. No flag lets a fix change them: a
  work tree that holds a ``*.dist-info/entry_points.txt`` is an installed distribution to
  ``importlib.metadata``, and its ``pytest11`` entry point is a plugin pytest loads.
* **tests**: test modules (``python_files`` under ``testpaths``), ``conftest.py`` anywhere,
  everything in ``tests/``, ``test/``, ``testing/`` folders, ``__init__.py`` in a
  ``testpaths`` folder that holds a test module itself (``test_packages``; every one under
  ``testpaths`` when the file list is not known). A package's own ``__init__.py`` under a
  ``testpaths`` entry such as ``src`` or the package (doctests, tests inside the package)
  is source: a fix may change it.
* **configuration**: how the project is built, linted or tested: pyproject.toml (all of it),
  pytest.toml, .pytest.toml, pytest.ini, .pytest.ini, tox.ini, setup.cfg, setup.py,
  ruff.toml, .ruff.toml, noxfile.py, .coveragerc, mypy.ini, .flake8, Makefile, MANIFEST.in,
  requirements and constraints files.

Tests and configuration may change only with ``--allow-test-edits``. Names are matched as
pytest and Python match them (case-sensitive, any folder depth), and a path that leaves the
repository is refused outright.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Iterable

from codemend.agent.repo.layout import PytestSettings, is_test_file, is_test_module

OUTSIDE = "a path outside the repository"
CI = "CI or repository configuration"
STARTUP = "a file Python or pytest reads at start-up (not plain source)"
TEST = "a test file"
CONFIG = "build, test, lint or CI configuration"

CI_DIRS = (".github/", ".git/", ".circleci/", ".gitlab/")
CI_FILES = frozenset({".gitlab-ci.yml", ".gitmodules", ".gitattributes",
                      ".pre-commit-config.yaml", "azure-pipelines.yml", "Jenkinsfile",
                      ".travis.yml", "bitbucket-pipelines.yml"})
STARTUP_NAMES = frozenset({"sitecustomize.py", "usercustomize.py", "__pycache__"})
STARTUP_SUFFIXES = (".pth", ".pyc", ".pyo", ".egg-link", ".egg", ".dist-info", ".egg-info")
"""Matched on every part of the path: a folder ``x.dist-info/`` protects all it holds."""
CONFIG_NAMES = frozenset({"pyproject.toml", "pytest.toml", ".pytest.toml", "pytest.ini",
                          ".pytest.ini", "tox.ini", "setup.cfg", "setup.py", "ruff.toml",
                          ".ruff.toml", "noxfile.py", ".coveragerc", "mypy.ini", ".flake8",
                          "Makefile", "MANIFEST.in"})
CONFIG_GLOBS = ("requirements*.txt", "requirements*.in", "constraints*.txt")
DEFAULT_SETTINGS = PytestSettings()


def _outside(path: str) -> bool:
    norm = posixpath.normpath(path)
    return (not path or path.startswith("/") or "\\" in path or "\0" in path
            or norm == ".." or norm.startswith("../") or norm == ".")


def never_reason(path: str) -> str | None:
    """Why no flag lets a fix change ``path`` (None: a flag may)."""
    if _outside(path):
        return OUTSIDE
    norm = posixpath.normpath(path)
    parts = norm.split("/")
    if norm.startswith(CI_DIRS) or parts[-1] in CI_FILES or norm in (".github", ".git"):
        return CI
    if any(p in STARTUP_NAMES or p.endswith(STARTUP_SUFFIXES) for p in parts):
        return STARTUP
    return None


def _in_testpaths(path: str, settings: PytestSettings) -> bool:
    folders = [t.strip("/") for t in settings.testpaths if t.strip("/") not in ("", ".")]
    return any(path.startswith(f + "/") for f in folders)


def test_packages(paths: Iterable[str], settings: PytestSettings | None = None
                  ) -> frozenset[str]:
    """The folders that hold a test module themselves ("" for the top)."""
    settings = settings or DEFAULT_SETTINGS
    return frozenset(posixpath.dirname(p) for p in paths if is_test_module(p, settings))


def reason(path: str, settings: PytestSettings | None = None, allow_test_edits: bool = False,
           packages: frozenset[str] | None = None) -> str | None:
    """Why a fix may not change ``path`` (None: it may). ``settings``: the project's pytest
    settings (which files are tests); pytest's defaults when not known. ``packages``: the
    baseline's ``test_packages`` (None: not known, so every ``__init__.py`` under
    ``testpaths`` is a test file)."""
    never = never_reason(path)
    if never or allow_test_edits:
        return never
    settings = settings or DEFAULT_SETTINGS
    norm = posixpath.normpath(path)
    name = posixpath.basename(norm)
    if is_test_file(norm, settings) or (
            name == "__init__.py" and _in_testpaths(norm, settings)
            and (packages is None or posixpath.dirname(norm) in packages)):
        return TEST
    if name in CONFIG_NAMES or any(fnmatch.fnmatchcase(name, g) for g in CONFIG_GLOBS):
        return CONFIG
    return None


def is_config_file(path: str) -> bool:
    """Configuration of building, linting, testing or CI (the snapshot's ``config_files``)."""
    if _outside(path):
        return False
    name = posixpath.basename(path)
    return (never_reason(path) is not None or name == "conftest.py" or name in CONFIG_NAMES
            or any(fnmatch.fnmatchcase(name, g) for g in CONFIG_GLOBS))
