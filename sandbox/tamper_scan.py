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

from codemend.sandbox import tamper_rules as rules
from codemend.sandbox.source import as_bytes, encoding_problem
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
IMPORT_FUNCS = {"__import__", "import_module"}
NAMESPACES = {"globals", "locals", "vars", "__dict__"}
COMPARERS = ("__eq__", "__ne__", "__hash__")


@dataclass(frozen=True)
class Sign:
    """One piece of tamper evidence."""

    code: str
    what: str
    where: str = ""
    fatal: bool = False

    @property
    def severity(self) -> str:
        """``fatal``: the sign refuses the candidate; ``advisory``: evidence shown to people."""
        return "fatal" if self.fatal else "advisory"

    def __str__(self) -> str:
        mark = " [fail]" if self.fatal else ""
        where = f" {self.where}:" if self.where else ""
        return f"{self.code}{mark}{where} {self.what}"


# -- static scan ---------------------------------------------------------------------------
class _Scanner(ast.NodeVisitor):
    """Collects signs in one module; names are resolved through its imports."""

    def __init__(self, path: str, strings: dict[str, str] | None = None) -> None:
        self.path = path
        self.aliases: dict[str, str] = {}
        self.strings = strings or {}
        """Names bound once to a string built from literals (for ``rules.fold``)."""
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
        if isinstance(node, ast.Call) and node.args:  # __import__("unittest.mock").mock.ANY
            func, target = self.dotted(node.func), self.fold(node.args[0])
            if not target or func not in ("__import__", "importlib.import_module"):
                return ""
            parts.append(target.split(".")[0] if func == "__import__" else target)
        elif isinstance(node, ast.Name):
            parts.append(self.aliases.get(node.id, node.id))
        else:
            return ""
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
            self.mock_use(full, node)
        else:
            self.check_name(node.attr, node)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in ("exit", "quit", "exec", "compile", "__builtins__", "SystemExit") or \
                node.id in SKIP_NAMES:
            self.check_name(node.id, node)
        elif node.id in self.aliases:
            self.check_name(self.aliases[node.id], node)
            self.mock_use(self.aliases[node.id], node)

    def mock_use(self, full: str, node: ast.AST) -> None:
        name = rules.mock_name(full)
        if name:
            self.add("T124", f"uses unittest.mock's {name} outside the tests: a test double "
                     "or an object equal to anything makes assertions pass", node, fatal=True)

    def fold(self, node: ast.AST | None) -> str | None:
        return rules.fold(node, self.strings)

    def callee(self, func: ast.AST) -> tuple[str, bool]:
        """The dotted name a call goes to, and whether it was reached through a string
        (``getattr(builtins, "__imp" + "ort__")``, ``vars(builtins)["__import__"]``)."""
        key = None
        if isinstance(func, ast.Call) and self.dotted(func.func) == "getattr" and \
                len(func.args) >= 2:
            key = self.fold(func.args[1])
        elif isinstance(func, ast.Subscript):
            key = self.fold(func.slice)
        if key is not None:
            return key, True
        return self.dotted(func), False

    def visit_Call(self, node: ast.Call) -> None:
        name, by_string = self.callee(node.func)
        if by_string and name.rsplit(".", 1)[-1] in IMPORT_FUNCS:
            self.add("T122", f"reaches {name} through a string: an obfuscated import",
                     node, fatal=True)
        elif name in rules.IMPORTERS and node.args:
            self.import_call(name, node.args[0], node)
        elif name in ("getattr", "setattr", "delattr") and len(node.args) >= 2:
            self.attribute_by_string(name, self.fold(node.args[1]), node)
        if name.endswith("sys.modules.get") or name.endswith("sys.modules.pop"):
            self.module_by_string(node.args[0] if node.args else None, node)
        self.generic_visit(node)

    def import_call(self, name: str, arg: ast.AST, node: ast.AST) -> None:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            self.imported(arg.value, node)
            return
        target = self.fold(arg)
        if rules.is_target(target):
            self.add("T122", f"imports {target} through a computed name ({name}): an "
                     "obfuscated import of the test framework or of importlib", node,
                     fatal=True)
        elif target is not None:
            self.imported(target, node)
        else:
            self.add("T123", f"imports a module whose name is only known at run time ({name})",
                     node)

    def attribute_by_string(self, name: str, key: str | None, node: ast.AST) -> None:
        if key is None:
            return
        if key in IMPORT_FUNCS:
            self.add("T122", f"reaches {key} through {name}: an obfuscated import", node,
                     fatal=True)
        elif key.startswith("pytest_") and name == "setattr":
            self.add("T102", f"defines a pytest hook through setattr ({key})", node, fatal=True)
        elif key in COMPARERS and name == "setattr" and isinstance(node, ast.Call) and \
                len(node.args) == 3 and isinstance(node.args[2], ast.Lambda):
            self.function(node.args[2], key)

    def module_by_string(self, key_node: ast.AST | None, node: ast.AST) -> None:
        key = self.fold(key_node)
        if rules.is_target(key):
            self.add("T122", f"reaches {key} through sys.modules: an obfuscated import of "
                     "the test framework or of importlib", node, fatal=True)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        base = node.value
        owner = self.dotted(base.func) if isinstance(base, ast.Call) else self.dotted(base)
        if owner.endswith("sys.modules"):
            self.module_by_string(node.slice, node)
        elif owner.rsplit(".", 1)[-1] in NAMESPACES | {"__builtins__", "builtins"}:
            key = self.fold(node.slice)
            if key and key.startswith("pytest_"):
                self.add("T102", f"defines or reaches a pytest hook through a namespace "
                         f"({key})", node, fatal=True)
            elif key in IMPORT_FUNCS and not isinstance(node.ctx, ast.Load):
                self.add("T122", f"replaces {key}", node, fatal=True)
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
        how = rules.ignores_argument(node, name) if name in COMPARERS else None
        if how:
            self.add("T105", f"defines {name} that ignores its argument ({how}): "
                     "assertions comparing its objects would test nothing", node, fatal=True)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self.function(node, node.name)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name) and isinstance(node.value, ast.Lambda):
                self.function(node.value, target.id)
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        """A class built by ``type(name, bases, {"__eq__": lambda s, o: True})``."""
        for key, value in zip(node.keys, node.values, strict=True):
            name = self.fold(key) if key is not None else None
            if name in COMPARERS and isinstance(value, ast.Lambda):
                self.function(value, name)
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


def _strings(tree: ast.AST) -> dict[str, str]:
    """Names bound to one string built from literals, anywhere in the module (``n =
    "py" + "test"``); a name bound to anything else, or to two strings, is left out."""
    nodes = [n for n in ast.walk(tree) if isinstance(n, (ast.Assign, ast.AnnAssign,
                                                          ast.AugAssign, ast.NamedExpr))]
    known: dict[str, str] = {}
    for _ in range(2):  # twice: a name may be built from one bound later in the file
        values: dict[str, set[str | None]] = {}
        for n in nodes:
            targets = n.targets if isinstance(n, ast.Assign) else [n.target]
            value = None if isinstance(n, ast.AugAssign) else rules.fold(n.value, known)
            for t in targets:
                if isinstance(t, ast.Name):
                    values.setdefault(t.id, set()).add(value)
        known = {k: only for k, v in values.items()
                 if len(v) == 1 and (only := next(iter(v))) is not None}
    return known


def _scanned(path: str, source: str | bytes) -> _Scanner | None:
    """The scan of ``source`` parsed from its bytes, as Python decodes them (PEP 263)."""
    try:
        tree = ast.parse(as_bytes(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    try:
        scanner = _Scanner(path, _strings(tree))
        scanner.visit(tree)
    except RecursionError:
        scanner = _Scanner(path)
        scanner.add("T199", "is too deeply nested to scan", tree)
    return scanner


def _encoding_sign(path: str, problem: str | None) -> list[Sign]:
    return [Sign("T108", problem, f"{path}:1", fatal=True)] if problem else []


def scan_source(path: str, source: str) -> list[Sign]:
    """Signs in one solution file. Unparseable code is left to ruff and pytest."""
    if len(source) > SCAN_CAP:
        return [Sign("T199", f"is larger than {SCAN_CAP >> 10} KiB: not scanned", path)]
    encoding = _encoding_sign(path, encoding_problem(source))
    scanner = _scanned(path, source)
    if scanner is None:
        return encoding
    return encoding + sorted(scanner.signs.values(), key=lambda s: (s.where, s.code))


def scan_changed(changes: Iterable[tuple[str, str, Iterable[int]]]) -> list[Sign]:
    """Signs on changed lines only (repository mode): ``changes`` holds ``(path, new text,
    changed line numbers)`` triples, lines counted from 1 in the new text as Python's
    tokenizer counts them (``source.changed_lines``). The whole file is parsed, as Python
    decodes it, so imports and aliases are resolved, but only a sign whose statement
    touches a changed line is kept: ordinary library code around the change (``builtins``,
    ``sys.modules``, ...) is not flagged. A file Python would not read as the UTF-8 text
    that was checked is T108, and then every line counts. Files of any size are scanned."""
    out: list[Sign] = []
    for path, source, lines in changes:
        changed = set(lines)
        if not changed or not path.endswith(".py"):
            continue
        encoding = _encoding_sign(path, encoding_problem(source, changed))
        out += encoding
        scanner = _scanned(path, source)
        if scanner is None:
            continue
        for key, sign in scanner.signs.items():
            first, last = scanner.spans.get(key, (key[1], key[1]))
            if sign.code == "T199" or encoding or any(first <= n <= last for n in changed):
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
