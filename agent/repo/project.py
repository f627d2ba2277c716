"""What installing a repository as its CI does needs: whether it can be installed, its
name, its build requirements, the Python it asks for and the version its git tags give.

Read from file texts only (setup.py is never run here; it runs in the environment
image's build, as ``pip install -e .`` runs it).
"""

from __future__ import annotations

import ast
import configparser
import hashlib
import posixpath
import re
import tomllib
from collections.abc import Mapping

from codemend.agent.repo.snapshot import RepoSnapshot
from codemend.sandbox.envimage import ProjectBuild

VCS_TOOLS = ("setuptools-scm", "setuptools_scm", "hatch-vcs", "setuptools-git-versioning",
             "versioningit", "poetry-dynamic-versioning", "dunamai")
UNTAGGED = "0.1.dev0"
"""What setuptools-scm gives a git checkout without tags; the version when there is none."""
BUILD_FILES = ("pyproject.toml", "setup.cfg", "setup.py", "PKG-INFO", "MANIFEST.in")
"""Files whose content decides what an editable install does (they key the image)."""


def _pyproject(files: Mapping[str, str]) -> dict:
    try:
        return tomllib.loads(files.get("pyproject.toml", ""))
    except (tomllib.TOMLDecodeError, ValueError):
        return {}


def _setup_cfg(files: Mapping[str, str], section: str, key: str) -> str:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(files.get("setup.cfg", ""))
    except configparser.Error:
        return ""
    return parser.get(section, key, fallback="").strip()


def _setup_py(files: Mapping[str, str], key: str) -> str:
    """A literal string keyword given to ``setup(...)`` in setup.py (never run)."""
    try:
        tree = ast.parse(files.get("setup.py", ""))
    except (SyntaxError, ValueError, RecursionError):
        return ""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == key and isinstance(kw.value, ast.Constant) and isinstance(
                        kw.value.value, str):
                    return kw.value.value
    return ""


def installable(files: Mapping[str, str]) -> bool:
    """The repository is a Python project pip can install (``pip install -e .``)."""
    doc = _pyproject(files)
    return "setup.py" in files or isinstance(doc.get("project"), dict) or (
        isinstance(doc.get("build-system"), dict) and "build-backend" in doc["build-system"])


def name(files: Mapping[str, str]) -> str:
    """Its distribution name, canonical ('' when only running setup.py would tell)."""
    project = _pyproject(files).get("project")
    raw = (project.get("name") if isinstance(project, dict) else None) or \
        _setup_cfg(files, "metadata", "name") or _setup_py(files, "name")
    return re.sub(r"[-_.]+", "-", str(raw)).lower() if raw else ""


def requires_python(files: Mapping[str, str]) -> str:
    """The Python versions it declares it supports ('' when it does not say)."""
    project = _pyproject(files).get("project")
    found = project.get("requires-python") if isinstance(project, dict) else None
    return str(found or _setup_cfg(files, "options", "python_requires")
               or _setup_py(files, "python_requires")).strip()


def build_requires(files: Mapping[str, str]) -> tuple[str, ...]:
    system = _pyproject(files).get("build-system")
    reqs = system.get("requires") if isinstance(system, dict) else None
    return tuple(r for r in reqs if isinstance(r, str)) if isinstance(reqs, list) else ()


def version_from_tag(tag: str | None) -> str | None:
    """``v1.2.0`` / ``release-1.2`` / ``1.2.0`` -> the version part, else None."""
    m = re.search(r"(\d+(?:\.\d+)*(?:[-._]?(?:a|b|rc|post|dev)\d*)*)$", tag or "")
    return m.group(1) if m else None


def build_version(files: Mapping[str, str], tag: str | None) -> str | None:
    """The version to give a version-from-git build: the nearest tag's; with no tag, what
    the tool gives an untagged checkout (unless a PKG-INFO says it); None when the build
    does not take its version from git and there is no tag."""
    found = version_from_tag(tag)
    if found or "PKG-INFO" in files:
        return found
    vcs = any(tool in r.lower() for r in build_requires(files) for tool in VCS_TOOLS)
    return UNTAGGED if vcs else None


def _top_level(paths: list[str]) -> list[str]:
    """Packages and top-level modules: an editable install maps these names."""
    out = {posixpath.dirname(p) for p in paths if p.endswith("/__init__.py")}
    out |= {p for p in paths if p.endswith(".py") and posixpath.dirname(p) in ("", "src")}
    return sorted(out)


def project_build(snap: RepoSnapshot, tag: str | None) -> ProjectBuild | None:
    """The editable install of the repository, or None when it is not a project pip can
    install (a folder of modules and tests: it is then only put on sys.path)."""
    if not installable(snap.files):
        return None
    version = build_version(snap.files, tag)
    key = hashlib.sha256()
    for part in (name(snap.files), version or "", *build_requires(snap.files),
                 *_top_level([*snap.files, *snap.binary])):
        key.update(part.encode() + b"\0")
    for path in BUILD_FILES:
        key.update(path.encode() + b"\0" + snap.files.get(path, "").encode() + b"\0")
    files = {p: t.encode("utf-8", "surrogateescape") for p, t in snap.files.items()}
    files.update(snap.binary)
    return ProjectBuild(name=name(snap.files), files=files, key=key.hexdigest()[:16],
                        build_requires=build_requires(snap.files), version=version)
