"""The static half of the tamper evidence (codes ``T1xx``, docs/SECURITY.md): a scan of
solution sources for the test framework, skip machinery, the sandbox's report paths,
process exits, tracing, ``atexit``, ``builtins``/``sys.modules`` patching, ...; and the
configuration files planted among solution files. ``scan_changed`` scans only the lines a
repository-mode candidate changed. The ``Sign`` type is shared with tamper.py.
"""

from __future__ import annotations

import ast
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from codemend.sandbox.workspace import is_config_file

FRAMEWORK = {"pytest", "_pytest", "pluggy", "py"}
SKIP_NAMES = {"SkipTest", "skipTest"}
SANDBOX_PATHS = ("/report/", "/opt/codemend")
SCAN_CAP = 256 << 10  # larger files are flagged, not scanned: solutions are small

# dotted call/attribute name -> (code, what it does); flagged, never fatal by themselves
FLAGGED: dict[str, tuple[str, str]] = {
    **{n: ("T110", "ends or signals processes") for n in (
        "sys.exit", "os._exit", "os.abort", "os.kill", "os.killpg", "exit", "quit",
        "signal.signal", "signal.alarm", "signal.setitimer", "signal.pthread_kill",
        "signal.raise_signal", "signal", "SystemExit")},
    **{n: ("T111", "installs a trace or profile hook") for n in (
        "sys.settrace", "sys.setprofile", "threading.settrace", "threading.setprofile",
        "sys.monitoring")},
    **{n: ("T112", "registers code to run at interpreter exit") for n in (
        "atexit", "atexit.register")},
    **{n: ("T113", "touches builtins") for n in ("builtins", "__builtins__")},
    "sys.modules": ("T114", "reads or patches sys.modules"),
    **{n: ("T117", "inspects frames or the garbage collector") for n in (
        "sys._getframe", "inspect.currentframe", "inspect.stack", "gc.get_objects",
        "gc.get_referrers")},
    **{n: ("T118", "closes or replaces file descriptors") for n in (
        "os.close", "os.closerange", "os.dup2")},
    **{n: ("T119", "runs dynamically built code") for n in ("exec", "compile")},
    "ctypes": ("T120", "uses ctypes"),
}
FRAME_ATTRS = {"f_back", "f_locals", "f_globals", "f_trace", "tb_frame", "gi_frame"}


@dataclass(frozen=True)
class Sign:
    """One piece of tamper evidence."""

    code: str
    what: str
    where: str = ""
    fatal: bool = False

    def __str__(self) -> str:
        mark = " [fail]" if self.fatal else ""
        where = f" {self.where}:" if self.where else ""
        return f"{self.code}{mark}{where} {self.what}"


# -- static scan ---------------------------------------------------------------------------
class _Scanner(ast.NodeVisitor):
    """Collects signs in one module; names are resolved through its imports."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.aliases: dict[str, str] = {}
        self.signs: dict[tuple[str, int], Sign] = {}
        self.spans: dict[tuple[str, int], tuple[int, int]] = {}
        """Lines of the statement (or a compound statement's header) of each sign."""
        self.stmt: ast.stmt | None = None

    def add(self, code: str, what: str, node: ast.AST, fatal: bool = False) -> None:
        line = getattr(node, "lineno", 0)
        self.signs.setdefault((code, line), Sign(code, what, f"{self.path}:{line}", fatal))
        span = (line, getattr(node, "end_lineno", None) or line)
        if not isinstance(node, ast.stmt) and self.stmt is not None:
            span = _header(self.stmt)  # an expression: the statement it belongs to
        self.spans.setdefault((code, line), span)

    def visit(self, node: ast.AST):
        if not isinstance(node, ast.stmt):
            return super().visit(node)
        outer, self.stmt = self.stmt, node
        try:
            return super().visit(node)
        finally:
            self.stmt = outer

    def dotted(self, node: ast.AST) -> str:
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return ""
        parts.append(self.aliases.get(node.id, node.id))
        return ".".join(reversed(parts))

    def imported(self, module: str, node: ast.AST) -> None:
        top = module.split(".")[0]
        if top in FRAMEWORK:
            self.add("T101", f"imports the test framework ({module}); solution code must "
                     "not touch pytest", node, fatal=True)
        if top in ("atexit", "ctypes", "builtins", "signal"):
            self.check_name(top, node)

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            self.aliases[(a.asname or a.name).split(".")[0]] = a.name if a.asname else \
                a.name.split(".")[0]
            self.imported(a.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        self.imported(module, node)
        for a in node.names:
            full = f"{module}.{a.name}" if module else a.name
            self.aliases[a.asname or a.name] = full
            self.check_name(full, node)

    def check_name(self, full: str, node: ast.AST) -> None:
        last = full.rsplit(".", 1)[-1]
        if last in SKIP_NAMES:
            self.add("T103", f"uses test-skipping machinery ({last}): a skipped test "
                     "verifies nothing", node, fatal=True)
        if last in FRAME_ATTRS:
            self.add("T117", f"inspects frames ({last})", node)
        for name in (full, full.split(".")[0]):
            if name in FLAGGED:
                code, what = FLAGGED[name]
                self.add(code, f"{what} ({full})", node)
                return

    def visit_Attribute(self, node: ast.Attribute) -> None:
        full = self.dotted(node)
        if full:
            self.check_name(full, node)
        else:
            self.check_name(node.attr, node)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in ("exit", "quit", "exec", "compile", "__builtins__", "SystemExit") or \
                node.id in SKIP_NAMES:
            self.check_name(node.id, node)
        elif node.id in self.aliases:
            self.check_name(self.aliases[node.id], node)

    def visit_Call(self, node: ast.Call) -> None:
        name = self.dotted(node.func)
        if name in ("__import__", "importlib.import_module") and node.args and \
                isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            self.imported(node.args[0].value, node)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            text = node.value
            if text.startswith(SANDBOX_PATHS) or text == "/report":
                self.add("T104", "names the sandbox's report or runner paths", node, fatal=True)
            elif "junit" in text.lower():
                self.add("T116", "mentions JUnit reports", node)
            if text.startswith("/proc"):
                self.add("T115", f"names a /proc path ({text[:40]})", node)
            if text == "pytest" or text.split(".")[0] in ("_pytest", "pluggy"):
                self.add("T121", f"names the test framework in a string ({text[:40]})", node)

    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda,
                 name: str) -> None:
        if name.startswith("pytest_"):
            self.add("T102", f"defines a pytest hook ({name})", node, fatal=True)
        if name in ("__eq__", "__ne__") and _constant_result(node) is (name == "__eq__"):
            self.add("T105", f"defines {name} that ignores its argument: every equality "
                     "assertion would pass", node, fatal=True)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.function(node, node.name)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name) and isinstance(node.value, ast.Lambda):
                self.function(node.value, target.id)
        self.generic_visit(node)


def _header(stmt: ast.stmt) -> tuple[int, int]:
    """A simple statement's lines; for ``if``/``for``/``with``/... only the lines before
    its body, so a change in the body does not count for the condition."""
    end = getattr(stmt, "end_lineno", None) or stmt.lineno
    body = getattr(stmt, "body", None)
    if isinstance(body, list) and body and not isinstance(stmt, (ast.FunctionDef,
                                                                 ast.AsyncFunctionDef)):
        first = min([body[0].lineno, *(d.lineno for d in getattr(stmt, "decorator_list", []))])
        end = max(stmt.lineno, first - 1)
    return stmt.lineno, end


def _constant_result(node: ast.AST) -> Any:
    """The constant a function always returns (None if it can return anything else)."""
    if isinstance(node, ast.Lambda):
        body = node.body
        return body.value if isinstance(body, ast.Constant) else None
    returns = [n for n in ast.walk(node) if isinstance(n, ast.Return)]
    values = {r.value.value if isinstance(r.value, ast.Constant) else object() for r in returns}
    return values.pop() if len(values) == 1 and returns else None


def _scanned(path: str, source: str) -> _Scanner | None:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    scanner = _Scanner(path)
    try:
        scanner.visit(tree)
    except RecursionError:
        scanner.add("T199", "is too deeply nested to scan", tree)
    return scanner


def scan_source(path: str, source: str) -> list[Sign]:
    """Signs in one solution file. Unparseable code is left to ruff and pytest."""
    if len(source) > SCAN_CAP:
        return [Sign("T199", f"is larger than {SCAN_CAP >> 10} KiB: not scanned", path)]
    scanner = _scanned(path, source)
    if scanner is None:
        return []
    return sorted(scanner.signs.values(), key=lambda s: (s.where, s.code))


def scan_changed(changes: Iterable[tuple[str, str, Iterable[int]]]) -> list[Sign]:
    """Signs on changed lines only (repository mode): ``changes`` holds ``(path, new text,
    changed line numbers)`` triples, lines counted from 1 in the new text. The whole file
    is parsed, so imports and aliases are resolved, but only a sign whose statement
    touches a changed line is kept: ordinary library code around the change (``builtins``,
    ``sys.modules``, ...) is not flagged. Files of any size are scanned."""
    out: list[Sign] = []
    for path, source, lines in changes:
        changed = set(lines)
        if not changed or not path.endswith(".py"):
            continue
        scanner = _scanned(path, source)
        if scanner is None:
            continue
        for key, sign in scanner.signs.items():
            first, last = scanner.spans.get(key, (key[1], key[1]))
            if sign.code == "T199" or any(first <= n <= last for n in changed):
                out.append(sign)
    return sorted(out, key=lambda s: (s.where.rsplit(":", 1)[0], _line(s), s.code))


def _line(sign: Sign) -> int:
    tail = sign.where.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def scan_sources(sources: dict[str, str]) -> list[Sign]:
    """Signs in every solution file, in path order."""
    return [sign for path in sorted(sources) for sign in scan_source(path, sources[path])]


def config_signs(solution_files: list[str]) -> list[Sign]:
    """Configuration files among the solution files: a conftest.py is fatal (pytest runs
    it); the others are flagged (pytest runs with its own ini, Python with ``-s``)."""
    signs = []
    for path in solution_files:
        if posixpath.basename(path) == "conftest.py":
            signs.append(Sign("T106", "is a conftest.py among the solution files: pytest "
                              "would run it; only the tests may configure pytest", path,
                              fatal=True))
        elif is_config_file(path):
            signs.append(Sign("T107", "is a configuration file among the solution files "
                              "(ignored by the sandbox)", path))
    return signs
