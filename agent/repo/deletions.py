"""No silent deletion: the top-level functions and classes, and the methods of top-level
classes, that a candidate removes from a module the base had. Such a candidate is not
``fixed`` unless the run allows deletions (``--allow-deletions``); the names are written
to ``report.json`` (``removed``) and, when allowed, to the PR body."""

from __future__ import annotations

import ast

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
Def = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def _body_defs(body: list[ast.stmt]) -> list[Def]:
    """Definitions in a body, including those under top-level ``if``/``try`` (a fallback
    import, a platform switch)."""
    out: list[Def] = []
    for node in body:
        if isinstance(node, _DEFS):
            out.append(node)
        elif isinstance(node, (ast.If, ast.Try, ast.TryStar)):
            for part in (node.body, node.orelse, getattr(node, "finalbody", [])):
                out += _body_defs(part)
            for handler in getattr(node, "handlers", []):
                out += _body_defs(handler.body)
    return out


def defined_names(source: str) -> set[str] | None:
    """``name`` for top-level functions and classes, ``Class.method`` for methods (None:
    the source does not parse)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    names: set[str] = set()
    for node in _body_defs(tree.body):
        names.add(node.name)
        if isinstance(node, ast.ClassDef):
            names |= {f"{node.name}.{m.name}" for m in _body_defs(node.body)}
    return names


def removed(base: dict[str, str], overlay: dict[str, str]) -> list[str]:
    """``path::name`` of every definition the overlay removes from a base module."""
    out = []
    for path in sorted(overlay):
        old = base.get(path)
        if old is None or not path.endswith(".py") or old == overlay[path]:
            continue
        before, after = defined_names(old), defined_names(overlay[path])
        if before is None or after is None:
            continue  # unparseable: the tests and lint say so
        out += [f"{path}::{name}" for name in sorted(before - after)]
    return out
