"""Tamper signs on a candidate's changed lines, split into fatal and advisory.

The sandbox's static scan (``tamper.scan_changed``) finds the signs; here repository mode
decides which refuse a candidate. A sign the scan marks fatal always refuses. Of the
others, three have everyday uses in a project's code and are advisory: shown in
``report.json`` (``advisory``) and the PR body, never a refusal:

- ``sys.exit(...)`` (or ``exit``, ``quit``, ``SystemExit``) inside an
  ``if __name__ == "__main__":`` guard: it never runs under pytest;
- ``atexit`` (T112);
- ``signal`` handlers and alarms (``signal.*``).

Every other sign on a changed line (``os._exit``, tracing, ``builtins``, ``sys.modules``,
frames, descriptors, ``exec``, ``ctypes``, ...) still refuses.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from codemend.sandbox import tamper
from codemend.sandbox.tamper_scan import Sign

EXITS = frozenset({"sys.exit", "exit", "quit", "SystemExit", "builtins.exit"})
_NAMED = re.compile(r"\(([\w.]+)\)\s*$")


@dataclass
class Signs:
    fatal: list[Sign] = field(default_factory=list)
    advisory: list[Sign] = field(default_factory=list)


def _main_guards(source: str) -> list[tuple[int, int]]:
    """Line spans of top-level ``if __name__ == "__main__":`` blocks."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    spans = []
    for node in tree.body:
        test = node.test if isinstance(node, ast.If) else None
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and \
                isinstance(test.ops[0], ast.Eq):
            sides = [test.left, *test.comparators]
            names = {s.id for s in sides if isinstance(s, ast.Name)}
            consts = {s.value for s in sides if isinstance(s, ast.Constant)}
            if names == {"__name__"} and consts == {"__main__"}:
                spans.append((node.lineno, node.end_lineno or node.lineno))
    return spans


def _line(sign: Sign) -> int:
    tail = sign.where.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def is_advisory(sign: Sign, guards: list[tuple[int, int]]) -> bool:
    if sign.fatal:
        return False
    named = _NAMED.search(sign.what)
    name = named.group(1) if named else ""
    if sign.code == "T112" or name == "signal" or name.startswith("signal."):
        return True
    line = _line(sign)
    return name in EXITS and any(first < line <= last for first, last in guards)


def split(changes: list[tuple[str, str, set[int]]]) -> Signs:
    """The signs on changed lines of ``(path, new text, changed lines)``, fatal first."""
    out = Signs()
    for path, text, lines in changes:
        guards = _main_guards(text) if path.endswith(".py") else []
        for sign in tamper.scan_changed([(path, text, lines)]):
            (out.advisory if is_advisory(sign, guards) else out.fatal).append(sign)
    return out
