"""Task specs: read a TOML spec, validate it, and build sandbox workspaces from it.

Every problem with a spec is a ``BadInput`` whose message is one line:
``{spec file}: {field}: {what is wrong}; {how to fix}``. Nothing else escapes
``load_task`` (see docs/ARCHITECTURE.md, "Task spec (TOML)").
"""

from __future__ import annotations

import posixpath
import stat
import sys
import tomllib
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from codemend.sandbox.errors import BadInput
from codemend.sandbox.workspace import Workspace, check_relpath, is_config_file
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

MAX_SPEC_BYTES = 1 << 20
MAX_TEST_BYTES = 1 << 20
FIX_HINTS = {
    "name": "use letters, digits, '_', '.' and '-', e.g. name = \"slugify\"",
    "prompt": 'say what the model should write, e.g. prompt = """Write ..."""',
    "solution": 'give a relative .py path or a list of them, e.g. solution = "slugify.py"',
    "limits": "write a [limits] table with max_iterations and/or check_timeout_s",
    "max_iterations": "use a whole number from 1 to 100",
    "check_timeout_s": "use a number of seconds from 1 to 600",
    "tests": 'add [[tests]] tables, each with path = "tests/test_x.py" or source = """..."""',
    "hidden_tests": "write [[hidden_tests]] tables, each with path = ... or source = ...",
    "path": "give a path relative to the spec's folder as a string",
    "source": "give the test code as a string",
}
TYPE_WORDS = {"string_type": "a string", "int_type": "a whole number", "float_type": "a number",
              "list_type": "a list", "model_type": "a table", "dict_type": "a table",
              "model_attributes_type": "a table"}


def show(value: Any) -> str:
    """A short, one-line description of a TOML value for error messages."""
    if isinstance(value, str | int | float):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return {list: "a list", dict: "a table"}.get(type(value), f"a {type(value).__name__}")


def field_name(loc: tuple[Any, ...]) -> str:
    """``("tests", 0, "path")`` -> ``tests[0].path``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def explain(error: Any, loc: tuple[Any, ...]) -> str:
    """Turn one pydantic error into ``what is wrong; how to fix``."""
    kind = error["type"]
    if kind == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    key = next((p for p in reversed(loc) if isinstance(p, str)), "")
    hint = FIX_HINTS.get(key, "check the spec format in docs/ARCHITECTURE.md")
    got = show(error.get("input"))
    if kind == "extra_forbidden":
        model = (SpecFile if len(loc) == 1 else Limits if loc[0] == "limits" else TestEntry)
        allowed = ", ".join(model.model_fields)
        return f"unknown field {key!r}; the fields allowed here are {allowed}"
    if kind == "missing":
        return f"is required; {hint}"
    if kind in TYPE_WORDS:
        return f"expected {TYPE_WORDS[kind]}, got {got}; {hint}"
    if kind == "too_short":
        return f"needs at least one entry; {hint}"
    if kind in ("string_too_short", "blank"):
        return f"is empty; {hint}"
    if kind == "string_pattern_mismatch":
        return f"{got} has characters that are not allowed; {hint}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"{got} is out of range; {hint}"
    return f"{error['msg'].lower()} (got {got}); {hint}"


def _solution_path(value: str) -> str:
    """A file the agent writes: relative, a ``.py`` module, neither a test nor a config file."""
    norm = _normalise(value, "the workspace")
    base = posixpath.basename(norm)
    if is_config_file(base.lower()):
        raise ValueError(f"{value!r} would configure pytest or Python, not hold the solution; "
                         "pick an ordinary module name such as solution.py")
    if not base.endswith(".py") or base == ".py":
        raise ValueError(f"{value!r} is not a .py file; name the solution module, e.g. "
                         "solution.py")
    if base.startswith("test_") or base.endswith("_test.py"):
        raise ValueError(f"{value!r} is named like a test file; pick a module name that does "
                         "not start with test_ or end with _test.py")
    top = norm.split("/")[0].removesuffix(".py")
    if top in sys.stdlib_module_names:
        raise ValueError(f"{value!r} would be imported as the standard library's {top!r} "
                         "module (and hide it from the tests); pick a name Python does not "
                         f"use, e.g. my_{top}.py")
    return norm


def _as_list(value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return value
    raise ValueError(f"expected a path string or a list of them, got {show(value)}; "
                     'write solution = "slug.py" or solution = ["pkg/a.py", "pkg/b.py"]')


def _normalise(value: str, inside: str) -> str:
    """``check_relpath`` with a message that says which folder the path must stay in."""
    try:
        return check_relpath(value)
    except ValueError:
        pass
    if not value or "\x00" in value:
        what = f"{value!r} is empty or holds a NUL byte"
    elif value.startswith(("/", "\\")) or value[1:2] == ":":
        what = f"{value!r} is an absolute path"
    else:
        what = f"{value!r} points outside {inside}"
    raise ValueError(f"{what}; give a path relative to {inside}")


def _non_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "is blank")
    return value


class Limits(BaseModel):
    """The optional ``[limits]`` table."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    max_iterations: int = Field(default=6, ge=1, le=100)
    """Most sandbox checks one run may spend before it escalates to a person."""
    check_timeout_s: float = Field(default=60.0, ge=1, le=600)
    """Wall-clock limit of one sandbox check, in seconds."""


class TestEntry(BaseModel):
    """One ``[[tests]]`` or ``[[hidden_tests]]`` table: a file path or inline source."""

    __test__ = False  # not a pytest class
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    path: str | None = None
    """A test file, relative to the spec's folder; it keeps that path in the workspace."""
    source: Annotated[str, AfterValidator(_non_blank)] | None = None
    """Inline test code (instead of ``path``)."""
    name: str | None = None
    """Workspace path of inline ``source``; defaults to a numbered name."""

    @model_validator(mode="after")
    def _one_of(self) -> TestEntry:
        if (self.path is None) == (self.source is None):
            raise ValueError("give exactly one of `path` or `source`; use path = "
                             '"tests/test_x.py" or source = """..."""')
        if self.name is not None and self.source is None:
            raise ValueError("`name` only goes with inline `source`; drop it, a path-test "
                             "keeps its own path")
        return self


class SpecFile(BaseModel):
    """The TOML document, exactly as written. Unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    """Short task name: letters, digits, ``_``, ``.`` and ``-``."""
    prompt: Annotated[str, AfterValidator(_non_blank)]
    """What the model is asked to write."""
    solution: Annotated[list[Annotated[str, AfterValidator(_solution_path)]],
                        BeforeValidator(_as_list), Field(min_length=1)]
    """The file(s) the agent writes, relative to the workspace root."""
    limits: Limits = Field(default_factory=Limits)
    tests: list[TestEntry] = Field(min_length=1)
    """Visible tests: shown to the model, read-only in the sandbox."""
    hidden_tests: list[TestEntry] = Field(default_factory=list)
    """Hidden tests: never shown to the model; they must pass too."""


class Task(BaseModel):
    """A loaded, validated task: everything a run needs, test sources included."""

    model_config = ConfigDict(frozen=True)

    name: str
    prompt: str
    solution_files: list[str]
    tests: dict[str, str]
    """Visible tests: workspace path -> source."""
    hidden_tests: dict[str, str]
    """Hidden tests: workspace path -> source (never shown to the model)."""
    max_iterations: int
    check_timeout_s: float
    spec_path: Path

    def workspace(self, files: dict[str, str], *, hidden: bool = False) -> Workspace:
        """The files under check plus the visible tests (and the hidden ones if asked).

        A file in ``files`` that sits on a test's path is dropped: tests always win.
        """
        tests = {**self.tests, **self.hidden_tests} if hidden else dict(self.tests)
        return Workspace(files={k: v for k, v in files.items() if k not in tests}, tests=tests)


def load_task(path: Path) -> Task:
    """Load and validate the spec at ``path``; raise ``BadInput`` (one line) when it is bad."""
    path = Path(path)
    where = str(path).replace("\n", "\\n")
    raw = _read_toml(path, where)
    try:
        spec = SpecFile.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        loc = error["loc"]
        if loc[:1] == ("solution",) and isinstance(raw.get("solution"), str):
            loc = ("solution", *loc[2:])  # the single string was wrapped in a list
        raise BadInput(f"{where}: {field_name(loc)}: {explain(error, loc)}") from None
    base = path.parent
    tests = _collect(spec.tests, "tests", base, where)
    hidden = _collect(spec.hidden_tests, "hidden_tests", base, where)
    _check_clashes(spec.solution, tests, hidden, where)
    return Task(name=spec.name, prompt=spec.prompt, solution_files=list(spec.solution),
                tests={p: src for p, (_, src) in tests.items()},
                hidden_tests={p: src for p, (_, src) in hidden.items()},
                max_iterations=spec.limits.max_iterations,
                check_timeout_s=spec.limits.check_timeout_s,
                spec_path=path.absolute())


def _read_toml(path: Path, where: str) -> dict[str, Any]:
    """Read the spec file (size-capped) and parse it as TOML."""
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise BadInput(f"{where}: is a folder; give the spec's .toml file, e.g. "
                           f"{path / 'spec.toml'}")
        if not stat.S_ISREG(st.st_mode):
            raise BadInput(f"{where}: not a regular file; give the spec's .toml file")
        with path.open("rb") as fh:
            data = fh.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError:
        raise BadInput(f"{where}: no such file; check the path to the spec") from None
    except (OSError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise BadInput(f"{where}: cannot read it ({why}); check the path and its "
                       "permissions") from None
    if len(data) > MAX_SPEC_BYTES:
        raise BadInput(f"{where}: larger than {MAX_SPEC_BYTES >> 20} MiB; keep big test files "
                       "beside the spec and point at them with [[tests]] path")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{where}: not UTF-8 text (bad byte at offset {exc.start}); save the "
                       "spec as UTF-8 TOML") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{where}: invalid TOML: {exc}; fix the syntax there") from None
    except RecursionError:
        raise BadInput(f"{where}: invalid TOML: values nested too deeply; flatten them") from None


def _collect(entries: list[TestEntry], field: str, base: Path,
             where: str) -> dict[str, tuple[str, str]]:
    """Workspace path -> (field location, source) for each test entry, in order."""
    default_dir, stem = (("tests", "test_inline") if field == "tests"
                         else ("hidden", "test_hidden_inline"))
    out: dict[str, tuple[str, str]] = {}
    for i, entry in enumerate(entries):
        if entry.source is not None:
            loc = f"{field}[{i}].name"
            rel = _relpath(entry.name or f"{default_dir}/{stem}_{i}.py", loc, where)
            source = entry.source
        else:
            loc = f"{field}[{i}].path"
            rel = _relpath(entry.path or "", loc, where)
            source = _read_test(base, rel, entry.path or "", f"{where}: {loc}")
        if rel in out:
            raise BadInput(f"{where}: {loc}: {rel!r} is already used by {out[rel][0]}; give "
                           "each test its own file")
        out[rel] = (loc, source)
    return out


def _relpath(value: str, loc: str, where: str) -> str:
    try:
        rel = _normalise(value, "the spec's folder")
    except ValueError as exc:
        raise BadInput(f"{where}: {loc}: {exc}") from None
    if not rel.endswith(".py"):
        raise BadInput(f"{where}: {loc}: {value!r} is not a .py file; name test files "
                       "test_<something>.py")
    return rel


def _read_test(base: Path, rel: str, given: str, prefix: str) -> str:
    """Read a test file below ``base``: it must stay inside, be UTF-8 and at most 1 MiB."""
    full = base / rel
    try:
        inside = full.resolve().is_relative_to(base.resolve())
        st = full.stat() if inside else None
    except FileNotFoundError:
        raise BadInput(f"{prefix}: {given!r} does not exist; give a path relative to the "
                       "spec's folder") from None
    except (OSError, RuntimeError, ValueError) as exc:
        raise BadInput(f"{prefix}: {given!r} cannot be read ({exc}); check the file") from None
    if st is None:
        raise BadInput(f"{prefix}: {given!r} resolves outside the spec's folder (a symlink?); "
                       "keep test files inside the spec's folder")
    if stat.S_ISDIR(st.st_mode):
        raise BadInput(f"{prefix}: {given!r} is a folder; list each test file on its own")
    if not stat.S_ISREG(st.st_mode):
        raise BadInput(f"{prefix}: {given!r} is not a regular file; point at a .py file")
    if st.st_size > MAX_TEST_BYTES:
        raise BadInput(f"{prefix}: {given!r} is larger than {MAX_TEST_BYTES >> 20} MiB; split "
                       "it into smaller test files")
    try:
        with open(full, "rb") as fh:
            data = fh.read(MAX_TEST_BYTES + 1)
        if len(data) > MAX_TEST_BYTES:
            raise BadInput(f"{prefix}: {given!r} is larger than {MAX_TEST_BYTES >> 20} MiB; "
                           "split it into smaller test files")
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{prefix}: {given!r} is not UTF-8 text (bad byte at offset "
                       f"{exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise BadInput(f"{prefix}: {given!r} cannot be read ({exc.strerror}); check the "
                       "file's permissions") from None


def _check_clashes(solution: list[str], tests: dict[str, tuple[str, str]],
                   hidden: dict[str, tuple[str, str]], where: str) -> None:
    """No two files on one path; no two test modules (or a test and the solution) share a
    module name, which pytest's default import mode cannot hold apart."""
    seen: dict[str, str] = {}
    for i, rel in enumerate(solution):
        if rel in seen:
            raise BadInput(f"{where}: solution[{i}]: {rel!r} is listed twice; list each file "
                           "once")
        seen[rel] = f"solution[{i}]"
    modules = {PurePosixPath(rel).parts[0].removesuffix(".py"): loc for rel, loc in seen.items()}
    for rel, (loc, _) in [*tests.items(), *hidden.items()]:
        if rel in seen:
            raise BadInput(f"{where}: {loc}: {rel!r} is also {seen[rel]}; give each file its "
                           "own path")
        seen[rel] = loc
        module = posixpath.basename(rel).removesuffix(".py")
        if module in modules:
            raise BadInput(f"{where}: {loc}: module name {module!r} is already used by "
                           f"{modules[module]}; pytest imports test files by base name, so "
                           "rename this file")
        modules[module] = loc

