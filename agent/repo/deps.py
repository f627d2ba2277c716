"""A repository's dependencies as its CI installs them: what its environment image gets.

The project's runtime dependencies, plus **one** coherent test set, the first of (as a CI
reads them; agent/repo/deps_read.py reads each):

1. the tox env that runs the tests (``[testenv]`` deps and extras);
2. a nox session named like a test run (literal ``session.install`` arguments);
3. a dependency group ``test``, ``tests``, ``testing`` or ``dev`` (PEP 735);
4. an extra of those names, or ``tests_require``;
5. a test requirements file (``requirements/tests.txt``, ``requirements-dev.txt``, ...).

Never the union of every file: pins of a docs or typing file do not belong to the tests
and may contradict them. A requirement on the project itself (``attrs[tests-mypy]``) is
replaced by those extras' requirements; when the set pins pytest, its pins of pytest's own
dependencies (pluggy, iniconfig, ...) are kept by name only, since the image's pytest runs.
Then the undeclared but obvious needs are added and listed: the
plugins the pytest settings use (``--cov`` -> pytest-cov, ``required_plugins``, ...) and
pytest itself. pytest and ruff are left out of the requirements: the check image brings
its pinned ones (a constraints file holds them during the install). Two requirements of
one name that no version satisfies together are a ``DependencyConflict`` naming both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from codemend.agent.repo import deps_read as read
from codemend.agent.repo.layout import pytest_settings, words
from codemend.sandbox.errors import BadInput
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

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
NO_TEST_SET = "none declared"
PYTEST_DEPS = frozenset({"pluggy", "iniconfig", "packaging", "exceptiongroup", "tomli",
                         "colorama", "pygments"})
"""pytest's own dependencies: a test set's pins of them follow its pinned pytest."""


class DependencyConflict(BadInput):
    """Two declarations of the chosen set cannot be installed together (exit 2)."""


@dataclass(frozen=True)
class Declarations:
    """What to install, normalised and sorted, and where it was declared."""

    requirements: tuple[str, ...]
    sources: tuple[str, ...]
    """Every file part a requirement came from (runtime and the test set)."""
    test_source: str = NO_TEST_SET
    """The one test set used, e.g. ``tox.ini [testenv]``, ``pyproject.toml extra [test]``."""
    added: tuple[str, ...] = ()
    """Undeclared needs that were added (pytest itself, plugins the pytest settings use)."""

    def key(self, base_id: str) -> str:
        """The environment image's key: these declarations on this check image."""
        from codemend.sandbox.envimage import env_key
        return env_key(base_id, self.requirements)


def test_set(files: Mapping[str, str]) -> tuple[str, read.Found]:
    """The first declared test set, in the order a CI would use it, and its name."""
    choices = [("tox test env", lambda: read.tox_env(files)),
               ("nox test session", lambda: read.nox_session(files)),
               *((f"dependency group {n}", lambda n=n: read.group(files, n))
                 for n in read.TEST_NAMES),
               *((f"extra [{n}]", lambda n=n: read.extra(files, n)) for n in read.TEST_NAMES),
               ("tests_require", lambda: read.tests_require(files)),
               *((path, lambda p=path: read.requirements_file(files, p) if p in files else None)
                 for path in read.REQUIREMENT_FILES)]
    for name, get in choices:
        found = get()
        if found is not None:
            where = list(dict.fromkeys(src for _, src in found))
            if len(where) == 1 and not name.startswith(("tox", "nox")):
                return where[0], found
            return (f"{name} ({', '.join(where)})" if where else name), found
    return NO_TEST_SET, []


def plugins(files: Mapping[str, str]) -> list[str]:
    """Plugins the pytest settings need: ``required_plugins``, and plugin-only options."""
    opts = pytest_settings(files).options
    out = list(words(opts.get("required_plugins")))
    for arg in words(opts.get("addopts")):
        flag = arg.split("=", 1)[0]
        if flag in PLUGIN_OPTIONS or flag.startswith("--cov"):
            out.append(PLUGIN_OPTIONS.get(flag, "pytest-cov"))
    out += [dist for key, dist in PLUGIN_SETTINGS.items() if key in opts]
    return list(dict.fromkeys(out))


def _name(line: str) -> str:
    try:
        return canonicalize_name(Requirement(line).name)
    except InvalidRequirement:
        return line.strip()


def check_conflicts(found: read.Found) -> None:
    """Raise ``DependencyConflict`` for two requirements of one name (same markers) whose
    specifiers no pinned version of either satisfies."""
    parsed: dict[tuple[str, str], list[tuple[Requirement, str]]] = {}
    for line, source in found:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        parsed.setdefault((canonicalize_name(req.name), str(req.marker or "")), []).append(
            (req, source))
    for reqs in parsed.values():
        for i, (a, src_a) in enumerate(reqs):
            for b, src_b in reqs[i + 1:]:
                if _incompatible(a, b):
                    raise DependencyConflict(
                        f"dependency conflict: {a} ({src_a}) and {b} ({src_b}) cannot both be "
                        "installed; make the two declarations agree")


def _incompatible(a: Requirement, b: Requirement) -> bool:
    pins = [s.version for r in (a, b) for s in r.specifier if s.operator in ("==", "===")
            and "*" not in s.version]
    return any(not (a.specifier.contains(v, prereleases=True)
                    and b.specifier.contains(v, prereleases=True)) for v in pins)


def _own(files: Mapping[str, str], found: read.Found) -> read.Found:
    """The project's requirements on itself (``attrs[tests-mypy]`` in attrs' own extra)
    replaced by those extras' requirements: the work tree is the project."""
    own = read.project_name(files)
    if own is None:
        return found
    out: read.Found = []
    todo, seen = list(found), set()
    while todo:
        line, src = todo.pop(0)
        try:
            req = Requirement(line)
        except InvalidRequirement:
            out.append((line, src))
            continue
        if canonicalize_name(req.name) != canonicalize_name(own):
            out.append((line, src))
            continue
        for name in sorted(req.extras - seen):
            seen.add(name)
            todo += read.extra(files, name) or []
    return out


def _unpin_tool_deps(found: read.Found) -> read.Found:
    """When the test set pins its own pytest, its pins of pytest's own dependencies belong
    to that pytest; the image's pytest is used, so those are kept by name only."""
    pinned = any(_name(line) == "pytest" and "==" in line for line, _ in found)
    if not pinned:
        return found
    return [(_unpinned(line) if _name(line) in PYTEST_DEPS else line, src)
            for line, src in found]


def _unpinned(line: str) -> str:
    req = Requirement(line)
    return req.name + (f"; {req.marker}" if req.marker else "")


def read_declarations(files: Mapping[str, str]) -> Declarations:
    """Runtime dependencies and the one test set, normalised (``packaging``), deduplicated,
    sorted, conflicts refused; unparseable lines are kept as written so that pip names
    them when it refuses."""
    source, tests = test_set(files)
    found = read.runtime(files) + _unpin_tool_deps(_own(files, tests))
    declared = {_name(line) for line, _ in found}
    added = [p for p in ["pytest", *plugins(files)] if _name(p) not in declared]
    found += [(p, "pytest settings") for p in added if _name(p) != "pytest"]
    check_conflicts([(line, src) for line, src in found if _name(line) not in PROVIDED])
    reqs: set[str] = set()
    for line, _ in found:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            reqs.add(line.strip())
            continue
        if canonicalize_name(req.name) not in PROVIDED:
            reqs.add(str(req))
    return Declarations(requirements=tuple(sorted(reqs)),
                        sources=tuple(dict.fromkeys(src for _, src in found)),
                        test_source=source, added=tuple(added))


class DepsFields(TypedDict):
    deps_source: str
    deps_added: list[str]


def deps_fields(snap: Any) -> DepsFields:
    """What ``RepoTask`` records of the declarations (for report.json); ``snap``: a
    ``RepoSnapshot``."""
    decl = read_declarations(snap.files)
    return {"deps_source": decl.test_source, "deps_added": list(decl.added)}


def requirement_name(text: str) -> str:
    """The distribution a requirement line names (the line itself if it cannot be parsed)."""
    try:
        return Requirement(text).name
    except InvalidRequirement:
        return text.strip()
