"""A repository's declared dependencies: what its environment image must install.

Read from file texts only (never by running setup.py): ``[project] dependencies`` and
its test extras, ``[dependency-groups]`` test groups, ``requirements*.txt`` (and
``requirements/*.txt``), ``setup.cfg`` ``[options]``, literal ``install_requires`` /
``tests_require`` / ``extras_require`` in ``setup.py``, and the pytest plugins its pytest
settings use. pytest and ruff are left out: the check image brings its pinned ones.
"""

from __future__ import annotations

import ast
import configparser
import hashlib
import posixpath
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass

from codemend.agent.repo.layout import pytest_settings, words
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

TEST_EXTRAS = ("test", "tests", "testing", "dev")
PROVIDED = frozenset({"pytest", "ruff"})
"""Brought by the check image at its pinned versions; a project's own pin is not used."""
PLUGIN_OPTIONS = {"--cov": "pytest-cov", "-n": "pytest-xdist", "--numprocesses": "pytest-xdist",
                  "--timeout": "pytest-timeout", "--reruns": "pytest-rerunfailures",
                  "--benchmark-skip": "pytest-benchmark", "--hypothesis-show-statistics":
                  "hypothesis"}
PLUGIN_SETTINGS = {"timeout": "pytest-timeout", "asyncio_mode": "pytest-asyncio",
                   "asyncio_default_fixture_loop_scope": "pytest-asyncio", "env": "pytest-env",
                   "mock_use_standalone_module": "pytest-mock"}
"""pytest options and settings that only a plugin understands: the plugin is needed."""


@dataclass(frozen=True)
class Declarations:
    """What to install, normalised and sorted, and where each part was declared."""

    requirements: tuple[str, ...]
    sources: tuple[str, ...]

    def key(self, base_id: str) -> str:
        """The environment image's key: these declarations on this check image."""
        text = "\n".join([base_id, *self.requirements])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _toml(files: Mapping[str, str], name: str) -> dict:
    try:
        return tomllib.loads(files[name]) if name in files else {}
    except (tomllib.TOMLDecodeError, ValueError):
        return {}


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _groups(table: dict, name: str, seen: frozenset = frozenset()) -> list[str]:
    """One dependency group with its ``{include-group = ...}`` entries resolved."""
    out: list[str] = []
    for item in table.get(name, []) if name not in seen else []:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict) and isinstance(item.get("include-group"), str):
            out += _groups(table, item["include-group"], seen | {name})
    return out


def _pyproject(files: Mapping[str, str]) -> list[str]:
    doc = _toml(files, "pyproject.toml")
    project = doc.get("project") if isinstance(doc.get("project"), dict) else {}
    out = _strings(project.get("dependencies"))
    extras = project.get("optional-dependencies")
    groups = doc.get("dependency-groups")
    for name in TEST_EXTRAS:
        if isinstance(extras, dict):
            out += _strings(extras.get(name))
        if isinstance(groups, dict):
            out += _groups(groups, name)
    return out


def _requirements(files: Mapping[str, str], path: str, seen: set[str]) -> list[str]:
    """Requirement lines of one requirements file; ``-r`` includes inside the repository
    are followed, options, local paths and editable installs are left out."""
    if path in seen or path not in files:
        return []
    seen.add(path)
    out = []
    for raw in files[path].splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if line.startswith(("-r ", "--requirement ")):
            inc = posixpath.normpath(posixpath.join(posixpath.dirname(path), line.split()[-1]))
            out += _requirements(files, inc, seen)
        elif line and not line.startswith(("-", ".", "/")) and "://" not in line.split("@")[0]:
            out.append(line)
    return out


def _requirement_files(files: Mapping[str, str]) -> list[str]:
    return sorted(p for p in files if p.endswith((".txt", ".in")) and (
        (posixpath.dirname(p) == "" and posixpath.basename(p).startswith("requirements"))
        or posixpath.dirname(p) == "requirements"))


def _setup_cfg(files: Mapping[str, str]) -> list[str]:
    if "setup.cfg" not in files:
        return []
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(files["setup.cfg"])
    except configparser.Error:
        return []
    out = parser.get("options", "install_requires", fallback="").splitlines()
    out += parser.get("options", "tests_require", fallback="").splitlines()
    for name in TEST_EXTRAS:
        out += parser.get("options.extras_require", name, fallback="").splitlines()
    return [line.strip() for line in out if line.strip()]


def _setup_py(files: Mapping[str, str]) -> list[str]:
    """Literal lists given to ``setup(...)`` in setup.py (never run)."""
    try:
        tree = ast.parse(files.get("setup.py", ""))
    except (SyntaxError, ValueError, RecursionError):
        return []
    out: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        for kw in node.keywords:
            try:
                value = ast.literal_eval(kw.value)
            except (ValueError, TypeError, SyntaxError, RecursionError):
                continue
            if kw.arg in ("install_requires", "tests_require"):
                out += _strings(value) if isinstance(value, list) else []
            elif kw.arg == "extras_require" and isinstance(value, dict):
                for name in TEST_EXTRAS:
                    out += _strings(value.get(name))
    return out


def _plugins(files: Mapping[str, str]) -> list[str]:
    """Plugins the pytest settings need: ``required_plugins``, and plugin-only options."""
    opts = pytest_settings(files).options
    out = list(words(opts.get("required_plugins")))
    args = words(opts.get("addopts"))
    for arg in args:
        flag = arg.split("=", 1)[0]
        if flag in PLUGIN_OPTIONS or any(flag.startswith(f) for f in ("--cov",)):
            out.append(PLUGIN_OPTIONS.get(flag, "pytest-cov"))
    out += [dist for key, dist in PLUGIN_SETTINGS.items() if key in opts]
    return out


def read_declarations(files: Mapping[str, str]) -> Declarations:
    """Every declared dependency, normalised (``packaging``), deduplicated, sorted;
    unparseable lines are kept as written so that pip names them when it refuses."""
    found: dict[str, list[str]] = {"pyproject.toml": _pyproject(files), "setup.cfg":
                                   _setup_cfg(files), "setup.py": _setup_py(files)}
    seen: set[str] = set()
    for path in _requirement_files(files):
        found[path] = _requirements(files, path, seen)
    found["pytest settings"] = _plugins(files)
    reqs: set[str] = set()
    for lines in found.values():
        for line in lines:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                reqs.add(line.strip())
                continue
            if canonicalize_name(req.name) not in PROVIDED:
                reqs.add(str(req))
    return Declarations(requirements=tuple(sorted(reqs)),
                        sources=tuple(k for k, v in found.items() if v))


def requirement_name(text: str) -> str:
    """The distribution a requirement line names (the line itself if it cannot be parsed)."""
    try:
        return Requirement(text).name
    except InvalidRequirement:
        return text.strip()
