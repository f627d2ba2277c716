"""How a repository is laid out: its pytest settings, test files and import layout (the
paths a fix must not change are in protected.py).

Everything here reads file *texts* (a ``{path: text}`` mapping), never the disk, so the
same rules classify the snapshot and a candidate's new files.
"""

from __future__ import annotations

import configparser
import fnmatch
import posixpath
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_PYTHON_FILES = ("test_*.py", "*_test.py")
TEST_DIRS = frozenset({"tests", "test", "testing"})
"""Folders whose every file is a test file (helpers and data included)."""
PYTEST_FILES = ("pytest.toml", ".pytest.toml", "pytest.ini", ".pytest.ini", "pyproject.toml",
                "tox.ini", "setup.cfg")
"""Where pytest looks for its settings, in its own order of precedence."""
RUFF_FILES = ("ruff.toml", ".ruff.toml")


@dataclass(frozen=True)
class PytestSettings:
    """The part of the project's pytest settings that decides which files are tests."""

    source: str | None = None
    """The file the settings came from (None: pytest's defaults)."""
    testpaths: tuple[str, ...] = ()
    python_files: tuple[str, ...] = DEFAULT_PYTHON_FILES
    options: dict[str, object] = field(default_factory=dict)


def words(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return ()


def _ini_section(text: str, section: str) -> dict[str, object] | None:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    return dict(parser[section]) if parser.has_section(section) else None


def _toml(text: str) -> dict:
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError):
        return {}


def _pytest_options(name: str, text: str) -> dict[str, object] | None:
    """The pytest section of one configuration file, or None if it has none."""
    if name in ("pytest.ini", ".pytest.ini"):
        return _ini_section(text, "pytest") or {}  # pytest.ini counts even when empty
    if name in ("pytest.toml", ".pytest.toml"):
        table = _toml(text).get("pytest")
        return table if isinstance(table, dict) else {}  # counts even when empty
    if name == "pyproject.toml":
        tool = _toml(text).get("tool", {})
        pytest = tool.get("pytest") if isinstance(tool, dict) else None
        if not isinstance(pytest, dict):
            return None
        ini = pytest.get("ini_options")
        return ini if isinstance(ini, dict) else {k: v for k, v in pytest.items()}
    if name == "tox.ini":
        return _ini_section(text, "pytest")
    if name == "setup.cfg":
        return _ini_section(text, "tool:pytest")
    return None


def pytest_settings(files: Mapping[str, str]) -> PytestSettings:
    """The root's pytest settings, found the way pytest finds them."""
    for name in PYTEST_FILES:
        if name in files:
            opts = _pytest_options(name, files[name])
            if opts is not None:
                return PytestSettings(source=name, testpaths=words(opts.get("testpaths")),
                                      python_files=words(opts.get("python_files"))
                                      or DEFAULT_PYTHON_FILES, options=opts)
    return PytestSettings()


def has_ruff_settings(files: Mapping[str, str]) -> bool:
    """True when the project configures ruff (ruff.toml, .ruff.toml or [tool.ruff])."""
    if any(name in files for name in RUFF_FILES):
        return True
    tool = _toml(files["pyproject.toml"]).get("tool", {}) if "pyproject.toml" in files else {}
    return isinstance(tool, dict) and isinstance(tool.get("ruff"), dict)


def _under(path: str, folder: str) -> bool:
    folder = folder.strip("/")
    return folder in ("", ".") or path == folder or path.startswith(folder + "/") or \
        fnmatch.fnmatchcase(path.split("/")[0], folder)


def is_test_module(path: str, settings: PytestSettings) -> bool:
    """A module pytest would collect tests from (by ``python_files`` under ``testpaths``)."""
    name = posixpath.basename(path)
    if not name.endswith(".py") or name == "conftest.py":
        return False
    if not any(fnmatch.fnmatchcase(name, pat) for pat in settings.python_files):
        return False
    return not settings.testpaths or any(_under(path, tp) for tp in settings.testpaths)


def is_test_file(path: str, settings: PytestSettings) -> bool:
    """A test file: a test module, a ``conftest.py``, or anything in a tests/ folder."""
    parts = path.split("/")
    return is_test_module(path, settings) or parts[-1] == "conftest.py" or \
        any(p in TEST_DIRS for p in parts[:-1])


def layout_of(paths: list[str]) -> str:
    """``src`` when Python code lives under ``src/``, else ``flat``."""
    return "src" if any(p.startswith("src/") and p.endswith(".py") for p in paths) else "flat"
