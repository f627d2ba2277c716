"""Readers of one kind of dependency declaration each, from file texts (never by running
anything): the project's runtime dependencies, and the candidate test sets a CI may install
(a tox test env, a nox test session, a dependency group, an extra, a test requirements file).

Each reader returns ``[(requirement line, source)]``: the source names the file and the part
of it, so a conflict can name both sides (agent/repo/deps.py chooses and checks).
"""

from __future__ import annotations

import ast
import configparser
import posixpath
import re
import tomllib
from collections.abc import Mapping

Found = list[tuple[str, str]]
TEST_NAMES = ("test", "tests", "testing", "dev")
"""Names of extras, groups and requirement files that hold a project's test needs, in order."""
REQUIREMENT_FILES = tuple(
    f"{stem}.txt" for stem in (
        "requirements/tests", "requirements/test", "requirements/testing",
        "requirements-test", "requirements-tests", "requirements_test", "requirements-testing",
        "test-requirements", "test_requirements", "tests/requirements",
        "requirements/dev", "requirements-dev", "requirements_dev", "dev-requirements"))
"""Test requirement files, most specific first."""
TEST_FACTORS = {"test", "tests", "testing", "pytest"}
TOX_ENVS = ("testenv", "testenv:py", "testenv:test", "testenv:tests", "testenv:pytest")


def toml(files: Mapping[str, str], name: str) -> dict:
    try:
        return tomllib.loads(files[name]) if name in files else {}
    except (tomllib.TOMLDecodeError, ValueError):
        return {}


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _ini(text: str) -> configparser.ConfigParser | None:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    return parser


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def requirements_file(files: Mapping[str, str], path: str, seen: set[str] | None = None) -> Found:
    """Requirement lines of one requirements file, each with the file it is in; ``-r``
    includes inside the repository are followed; options, local paths and editable
    installs are left out."""
    seen = set() if seen is None else seen
    if path in seen or path not in files:
        return []
    seen.add(path)
    out: Found = []
    for raw in files[path].splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if include := re.fullmatch(r"(?:-r|--requirement)[\s=]*(\S+)", line):
            inc = posixpath.normpath(posixpath.join(posixpath.dirname(path), include[1]))
            out += requirements_file(files, inc, seen)
        elif line and not line.startswith(("-", ".", "/")) and "://" not in line.split("@")[0]:
            out.append((line.rstrip("\\").strip(), path))
    return out


def runtime(files: Mapping[str, str]) -> Found:
    """What the project needs to run: ``[project] dependencies`` (or a dynamic file),
    setup.cfg ``install_requires``, literal ``install_requires`` in setup.py, and a
    top-level requirements.txt (what ``pip install -r requirements.txt`` gets)."""
    doc = toml(files, "pyproject.toml")
    project = doc.get("project")
    project = project if isinstance(project, dict) else {}
    out: Found = [(r, "pyproject.toml [project] dependencies")
                  for r in _strings(project.get("dependencies"))]
    dynamic = doc.get("tool", {}).get("setuptools", {}).get("dynamic", {}) if isinstance(
        doc.get("tool"), dict) else {}
    spec = dynamic.get("dependencies") if isinstance(dynamic, dict) else None
    for path in _strings(spec.get("file") if isinstance(spec, dict) else None) or (
            [spec["file"]] if isinstance(spec, dict) and isinstance(spec.get("file"), str)
            else []):
        out += requirements_file(files, path)
    cfg = _ini(files["setup.cfg"]) if "setup.cfg" in files else None
    if cfg is not None:
        out += [(r, "setup.cfg install_requires")
                for r in _lines(cfg.get("options", "install_requires", fallback=""))]
    out += [(r, "setup.py install_requires") for r in _setup_py(files).get("install_requires", [])]
    return out + requirements_file(files, "requirements.txt")


def _setup_py(files: Mapping[str, str]) -> dict[str, list[str]]:
    """Literal lists given to ``setup(...)`` in setup.py (never run): install_requires,
    tests_require and extras as ``extra:NAME``."""
    try:
        tree = ast.parse(files.get("setup.py", ""))
    except (SyntaxError, ValueError, RecursionError):
        return {}
    out: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        for kw in node.keywords if isinstance(node, ast.Call) else []:
            try:
                value = ast.literal_eval(kw.value)
            except (ValueError, TypeError, SyntaxError, RecursionError):
                continue
            if kw.arg in ("install_requires", "tests_require"):
                out[kw.arg] = _strings(value)
            elif kw.arg == "extras_require" and isinstance(value, dict):
                out.update({f"extra:{k}": _strings(v) for k, v in value.items()})
    return out


def project_name(files: Mapping[str, str]) -> str | None:
    """The distribution's own name (pyproject, setup.cfg or a literal in setup.py)."""
    project = toml(files, "pyproject.toml").get("project")
    if isinstance(project, dict) and isinstance(project.get("name"), str):
        return project["name"]
    cfg = _ini(files["setup.cfg"]) if "setup.cfg" in files else None
    if cfg is not None and cfg.get("metadata", "name", fallback=""):
        return cfg.get("metadata", "name")
    found = re.search(r"""\bname\s*=\s*['"]([\w.\-]+)['"]""", files.get("setup.py", ""))
    return found[1] if found else None


def extra(files: Mapping[str, str], name: str) -> Found | None:
    """The extra ``name`` from pyproject, setup.cfg or setup.py (None: not declared)."""
    project = toml(files, "pyproject.toml").get("project")
    extras = project.get("optional-dependencies") if isinstance(project, dict) else None
    if isinstance(extras, dict) and name in extras:
        return [(r, f"pyproject.toml extra [{name}]") for r in _strings(extras[name])]
    cfg = _ini(files["setup.cfg"]) if "setup.cfg" in files else None
    if cfg is not None and cfg.has_option("options.extras_require", name):
        return [(r, f"setup.cfg extra [{name}]")
                for r in _lines(cfg.get("options.extras_require", name))]
    found = _setup_py(files).get(f"extra:{name}")
    return None if found is None else [(r, f"setup.py extra [{name}]") for r in found]


def tests_require(files: Mapping[str, str]) -> Found | None:
    cfg = _ini(files["setup.cfg"]) if "setup.cfg" in files else None
    if cfg is not None and cfg.has_option("options", "tests_require"):
        return [(r, "setup.cfg tests_require") for r in _lines(cfg.get("options",
                                                                       "tests_require"))]
    found = _setup_py(files).get("tests_require")
    return None if found is None else [(r, "setup.py tests_require") for r in found]


def group(files: Mapping[str, str], name: str, seen: frozenset = frozenset()) -> Found | None:
    """A ``[dependency-groups]`` group with its ``include-group`` entries resolved."""
    table = toml(files, "pyproject.toml").get("dependency-groups")
    if not isinstance(table, dict) or name not in table or name in seen:
        return None
    out: Found = []
    for item in table[name] if isinstance(table[name], list) else []:
        if isinstance(item, str):
            out.append((item, f"pyproject.toml dependency group {name}"))
        elif isinstance(item, dict) and isinstance(item.get("include-group"), str):
            out += group(files, item["include-group"], seen | {name}) or []
    return out


def tox_env(files: Mapping[str, str]) -> Found | None:
    """The deps and extras of the tox env that runs the tests (``[testenv]`` or a
    ``testenv:py``/``test``/``tests``/``pytest`` section); factor-conditional lines and
    substitutions other than ``{toxinidir}`` are left out."""
    text = files.get("tox.ini") or _legacy_tox(files)
    cfg = _ini(text) if text else None
    if cfg is None:
        return None
    where = "tox.ini" if "tox.ini" in files else "pyproject.toml [tool.tox]"
    for env in TOX_ENVS:
        if not cfg.has_section(env):
            continue
        deps = _factored(cfg.get(env, "deps", fallback=""))
        extras = [e for line in _factored(cfg.get(env, "extras", fallback=""))
                  for e in re.split(r"[\s,]+", line) if e]
        if not deps and not extras:
            continue
        out: Found = []
        for line in deps:
            line = line.replace("{toxinidir}/", "").replace("{toxinidir}", ".")
            if "{" in line:
                continue
            if line.startswith("-r"):
                out += requirements_file(files, posixpath.normpath(line[2:].strip()))
            elif not line.startswith(("-", ".", "/")):
                out.append((line, f"{where} [{env}] deps"))
        for name in extras:
            out += extra(files, name) or []
        return out
    return None


def _factored(value: str) -> list[str]:
    """Lines of a tox setting; a factor-conditional line (``py38: x``, ``tests: y``) only
    when one of its factors names the test run itself."""
    out = []
    for line in _lines(value):
        cond = re.match(r"^([\w,{}\-.!]+):\s*(.*)$", line)
        if cond is None:
            out.append(line)
        elif set(re.split(r"[,{}]", cond[1])) & TEST_FACTORS and cond[2]:
            out.append(cond[2])
    return out


def _legacy_tox(files: Mapping[str, str]) -> str:
    tox = toml(files, "pyproject.toml").get("tool", {})
    tox = tox.get("tox") if isinstance(tox, dict) else None
    legacy = tox.get("legacy_tox_ini") if isinstance(tox, dict) else None
    return legacy if isinstance(legacy, str) else ""


def nox_session(files: Mapping[str, str]) -> Found | None:
    """Literal ``session.install(...)`` arguments of a nox session named like a test run."""
    try:
        tree = ast.parse(files.get("noxfile.py", ""))
    except (SyntaxError, ValueError, RecursionError):
        return None
    for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef) and "test" in n.name):
        args = [a.value for call in ast.walk(fn) if isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute) and call.func.attr == "install"
                for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if not args:
            continue
        out: Found = []
        for i, arg in enumerate(args):
            if i and args[i - 1] in ("-r", "--requirement"):
                out += requirements_file(files, posixpath.normpath(arg))
            elif m := re.fullmatch(r"\.\[([\w,\-]+)\]", arg):
                for name in m.group(1).split(","):
                    out += extra(files, name) or []
            elif not arg.startswith(("-", ".", "/")):
                out.append((arg, f"noxfile.py {fn.name}"))
        return out
    return None
