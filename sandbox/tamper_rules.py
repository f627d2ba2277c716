"""Helpers of the static scan (tamper_scan.py) that read what an expression computes
without running it: strings built from literals (an obfuscated ``__import__("py" +
"test")``), comparison methods that ignore their argument (``__eq__`` returning
``1 == 1``), and references to ``unittest.mock``'s always-equal objects and doubles.
Best effort by design: they see literals and simple data flow, not arbitrary code.
"""

from __future__ import annotations

import ast
import operator
from typing import Any

IMPORT_TARGETS = {"pytest", "_pytest", "pluggy", "py", "importlib", "imp"}
"""Modules whose import through a computed name is tamper (T122)."""
IMPORTERS = {"__import__", "importlib.import_module", "importlib.__import__",
             "importlib.util.find_spec", "importlib.util.spec_from_file_location",
             "importlib.machinery.SourceFileLoader", "imp.load_source", "imp.load_module"}
"""Callables that import (or locate for import) the module named by their first argument."""
MOCK_MODULES = ("unittest.mock", "mock")
MOCK_NAMES = {"ANY", "DEFAULT", "sentinel", "Mock", "MagicMock", "NonCallableMock",
              "NonCallableMagicMock", "AsyncMock", "PropertyMock", "create_autospec"}
"""``unittest.mock`` objects that equal anything or stand in for real values (T124)."""
UNKNOWN = object()
_MAX = 4096  # longest string the folder builds (a guard against ``"x" * 10**9``)
_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
            ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
            ast.Is: operator.is_, ast.IsNot: operator.is_not,
            ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}
_SAME_TRUE, _SAME_FALSE = (ast.Eq, ast.Is, ast.LtE, ast.GtE), (ast.NotEq, ast.IsNot, ast.Lt,
                                                             ast.Gt)


# -- strings computed from literals --------------------------------------------------------
def fold(node: ast.AST | None, names: dict[str, str] | None = None) -> str | None:
    """The string ``node`` always evaluates to, when it is built from literals (``+``,
    ``*``, f-strings, ``join``, ``replace``, case changes, slices, ``chr``, ``bytes``
    decoding) and from ``names`` (variables bound once to such a string); else None."""
    value = _fold(node, names or {}, 0)
    return value if isinstance(value, str) else None


def _fold(node: ast.AST | None, names: dict[str, str], depth: int) -> Any:
    if node is None or depth > 40:
        return None
    f = lambda n: _fold(n, names, depth + 1)  # noqa: E731
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, (str, bytes, int)) else None
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = f(node.operand)
        return -value if isinstance(value, int) else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
        return _binop(f(node.left), f(node.right), node.op)
    if isinstance(node, ast.JoinedStr):
        parts = [f(v if isinstance(v, ast.Constant) else v.value
                   if isinstance(v, ast.FormattedValue) and v.format_spec is None
                   and v.conversion == -1 else None) for v in node.values]
        return "".join(str(p) for p in parts) if all(isinstance(p, (str, int)) for p in parts) \
            else None
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        return _slice(f(node.value), node.slice, f)
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [f(e) for e in node.elts]
        return items if all(isinstance(i, str) for i in items) else None
    if isinstance(node, ast.Call):
        return _call(node, f)
    return None


def _binop(a: Any, b: Any, op: ast.operator) -> Any:
    if isinstance(op, ast.Add) and type(a) is type(b) and isinstance(a, (str, bytes)):
        return a + b if len(a) + len(b) <= _MAX else None
    if isinstance(op, ast.Mult) and isinstance(a, (str, bytes)) and isinstance(b, int):
        return a * b if 0 <= len(a) * b <= _MAX else None
    return None


def _slice(value: Any, s: ast.Slice, f) -> Any:
    if not isinstance(value, (str, bytes)):
        return None
    given = [x for x in (s.lower, s.upper, s.step) if x is not None]
    bounds = [None if x is None else f(x) for x in (s.lower, s.upper, s.step)]
    if sum(isinstance(b, int) for b in bounds) != len(given) or bounds[2] == 0:
        return None
    return value[slice(*bounds)]


def _call(node: ast.Call, f) -> Any:
    func, args = node.func, [f(a) for a in node.args]
    if node.keywords or any(a is None for a in args):
        return None
    if isinstance(func, ast.Name):
        if func.id == "chr" and len(args) == 1 and isinstance(args[0], int) and \
                0 <= args[0] < 0x110000:
            return chr(args[0])
        if func.id in ("str", "bytes") and len(args) == 1 and isinstance(args[0], str):
            return args[0] if func.id == "str" else None
        if func.id == "reversed" and len(args) == 1 and isinstance(args[0], str):
            return args[0][::-1]
        return None
    if not isinstance(func, ast.Attribute):
        return None
    obj = f(func.value)
    if isinstance(obj, str) and func.attr == "join" and len(args) == 1 and \
            isinstance(args[0], (list, str)):
        out = obj.join(args[0])
        return out if len(out) <= _MAX else None
    if isinstance(obj, (str, bytes)) and func.attr in ("lower", "upper", "strip", "lstrip",
                                                       "rstrip", "title", "swapcase") and \
            not args:
        return getattr(obj, func.attr)()
    if isinstance(obj, str) and func.attr == "replace" and len(args) == 2 and \
            all(isinstance(a, str) for a in args):
        out = obj.replace(*args)
        return out if len(out) <= _MAX else None
    if isinstance(obj, bytes) and func.attr == "decode" and len(args) <= 1:
        try:
            return obj.decode(*args)
        except (UnicodeDecodeError, LookupError, TypeError):
            return None
    if isinstance(func.value, ast.Name) and func.value.id == "bytes" and \
            func.attr == "fromhex" and len(args) == 1 and isinstance(args[0], str):
        try:
            return bytes.fromhex(args[0])
        except ValueError:
            return None
    return None


def is_target(module: str | None) -> bool:
    """True for a module name in (or under) ``IMPORT_TARGETS``."""
    return bool(module) and module.split(".")[0] in IMPORT_TARGETS


# -- comparison methods that ignore their argument --------------------------------------------
def constant(node: ast.AST | None) -> Any:
    """The value ``node`` always has when it is built from constants (``1 == 1``,
    ``not False``, ``x == x``, ``a if c else a``); else ``UNKNOWN``."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name) and node.id == "NotImplemented":
        return NotImplemented
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        v = constant(node.operand)
        return UNKNOWN if v is UNKNOWN else not v
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        if tautology(node) is not None:
            return tautology(node)
        a, b = constant(node.left), constant(node.comparators[0])
        if a is UNKNOWN or b is UNKNOWN:
            return UNKNOWN
        try:
            return bool(_COMPARE[type(node.ops[0])](a, b))
        except Exception:  # noqa: BLE001 - a comparison Python would refuse
            return UNKNOWN
    if isinstance(node, ast.BoolOp):
        values = [constant(v) for v in node.values]
        if UNKNOWN in values:
            return UNKNOWN
        pick = all if isinstance(node.op, ast.And) else any
        return pick(bool(v) for v in values)
    if isinstance(node, ast.IfExp):
        a, b = constant(node.body), constant(node.orelse)
        return a if a is not UNKNOWN and b is not UNKNOWN and a == b else UNKNOWN
    return UNKNOWN


def tautology(node: ast.Compare) -> bool | None:
    """``x == x`` (True) or ``x != x`` (False); None for any other comparison."""
    if len(node.ops) != 1 or ast.dump(node.left) != ast.dump(node.comparators[0]):
        return None
    if isinstance(node.ops[0], _SAME_TRUE):
        return True
    return False if isinstance(node.ops[0], _SAME_FALSE) else None


def ignores_argument(fn: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, name: str
                     ) -> str | None:
    """How a comparison or hash method ignores what it compares (None: it does not):
    every return is the same constant, or the argument (``other`` of ``__eq__`` and
    ``__ne__``, ``self`` of ``__hash__``) is never read. Methods that only return
    ``NotImplemented`` or raise are left alone: they compare nothing."""
    a = fn.args
    params = [p.arg for p in (*a.posonlyargs, *a.args)]
    index = 0 if name == "__hash__" else 1
    param = params[index] if len(params) > index else a.vararg.arg if a.vararg else None
    returns = [fn.body] if isinstance(fn, ast.Lambda) else \
        [r.value for r in _own_nodes(fn) if isinstance(r, ast.Return) and r.value is not None]
    values = [constant(r) for r in returns]
    if not returns or all(v is NotImplemented for v in values) or param is None:
        return None
    if UNKNOWN not in values and len({repr(v) for v in values}) == 1:
        return f"always returns {values[0]!r}"
    if not _reads(fn, param, allow_super=name == "__hash__"):
        return f"never reads {param}"
    return None


def _own_nodes(fn: ast.AST):
    """The nodes of a function's body, not those of functions or classes inside it."""
    todo = list(ast.iter_child_nodes(fn))
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                                 ast.ClassDef)):
            todo.extend(ast.iter_child_nodes(node))


def _reads(fn: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, param: str,
           allow_super: bool) -> bool:
    """True when the body reads ``param`` other than in ``x == x``-style comparisons, or
    could read it indirectly (``locals()``, ``vars()``, frames; ``super()`` for self)."""
    indirect = {"locals", "vars", "_getframe", "currentframe", "eval", "exec"}
    if allow_super:
        indirect.add("super")
    todo: list[ast.AST] = list(fn.body) if isinstance(fn.body, list) else [fn.body]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Compare) and tautology(node) is not None:
            continue
        if isinstance(node, ast.Name) and (node.id == param or node.id in indirect):
            return True
        if isinstance(node, ast.Attribute) and node.attr in indirect:
            return True
        todo.extend(ast.iter_child_nodes(node))
    return False


def mock_name(dotted: str) -> str | None:
    """The ``unittest.mock`` name a resolved dotted name refers to (``unittest.mock.ANY``
    -> ``ANY``), or None."""
    for module in MOCK_MODULES:
        if dotted.startswith(module + "."):
            first = dotted[len(module) + 1:].split(".")[0]
            return first if first in MOCK_NAMES else None
    return None
