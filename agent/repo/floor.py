"""The floor of a suite that could not start at baseline: the test ids of the pristine test
files, read on their own (the runner's own ``ast`` inventory, no code run), every one of
which must run in the candidate. Without it, a candidate could skip every test whose
baseline gave no outcome, with a skip raised from source and its location hidden
(``__tracebackhide__``), and pass.

A test that may skip itself is left out: one whose own code (decorators included), class
or module names the skip machinery, and every test when a ``conftest.py`` does. So are
tests the project's own settings may leave out: those of a file pytest reported nothing
of (``--ignore``, ``collect_ignore``; a file that fails or skips at import is still
reported), marked tests when ``addopts`` selects by marker (``-m``), and every test when
it selects by name (``-k``, ``--deselect``).
"""

from __future__ import annotations

import ast
import importlib.util
import posixpath
import re
from functools import cache
from pathlib import Path
from types import ModuleType

from codemend import sandbox
from codemend.agent.repo.layout import words
from codemend.agent.repo.snapshot import RepoSnapshot

SKIP_WORDS = re.compile(r"\b(skip|skipif|xfail|importorskip|SkipTest|skipTest|skipUnless|"
                        r"skipIf|expectedFailure)\b|def\s+pytest_\w+")
RAN = ("passed", "failed", "error")


@cache
def _inventory() -> ModuleType:
    """The runner's inventory module (one definition of what pytest must collect)."""
    path = Path(sandbox.__file__).resolve().parent / "runner" / "codemend_inventory.py"
    spec = importlib.util.spec_from_file_location("codemend_host_inventory", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _skippable(source: str, tree: ast.Module, test_id: str) -> bool:
    """The test's own lines, its classes' headers or the module's top level name skips."""
    names = test_id.split("::")[1:]
    body, nodes = tree.body, []
    top = [n for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                      ast.ClassDef))]
    for name in names:
        node = next((n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                       ast.ClassDef)) and n.name == name), None)
        if node is None:
            return True  # not found as the inventory saw it: do not guess
        nodes.append(node)
        body = getattr(node, "body", [])
    texts = [ast.get_source_segment(source, n) or "" for n in top]
    for node in nodes:
        texts += [ast.get_source_segment(source, d) or "" for d in node.decorator_list]
        if isinstance(node, ast.ClassDef):
            texts += [ast.get_source_segment(source, n) or "" for n in node.body
                      if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    texts.append(ast.get_source_segment(source, nodes[-1]) or "")
    return any(SKIP_WORDS.search(t) for t in texts)


def _selects(snap: RepoSnapshot) -> set[str]:
    """The selection options among the project's ``addopts``."""
    opts = words(snap.pytest.options.get("addopts"))
    return {o.split("=", 1)[0] for o in opts if o.split("=", 1)[0] in ("-m", "-k", "--deselect")}


def _marked(tree: ast.Module, test_id: str) -> bool:
    """The test, its classes or its module carry a decorator or ``pytestmark``."""
    if any(isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "pytestmark"
                                             for t in n.targets) for n in tree.body):
        return True
    body = tree.body
    for name in test_id.split("::")[1:]:
        node = next((n for n in body if getattr(n, "name", None) == name), None)
        if node is None or getattr(node, "decorator_list", None):
            return True
        body = getattr(node, "body", [])
    return False


def must_run(snap: RepoSnapshot) -> list[str]:
    """Test ids of the snapshot's test modules that cannot skip themselves and that the
    project's settings select."""
    selects = _selects(snap)
    if selects & {"-k", "--deselect"} or any(
            posixpath.basename(p) == "conftest.py" and SKIP_WORDS.search(snap.files.get(p, ""))
            for p in snap.test_files):
        return []
    out: list[str] = []
    for path in snap.test_modules:
        source = snap.files.get(path)
        if source is None:
            continue
        try:
            tree = ast.parse(source)
            ids = _inventory().test_ids(path, source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue  # pytest reports it as a collection error
        out += [i for i in ids if not _skippable(source, tree, i)
                and not ("-m" in selects and _marked(tree, i))]
    return out


def not_run(ids: list[str], outcomes: dict[str, str]) -> list[tuple[str, str]]:
    """``(id, what happened)`` for each id with no run in ``outcomes`` (a parametrized
    test ran when any of its cases ran), among the files pytest reported on."""
    by_test: dict[str, list[str]] = {}
    for cid, outcome in outcomes.items():
        by_test.setdefault(cid.split("[", 1)[0], []).append(outcome)
    files = {cid.split("::", 1)[0] for cid in outcomes}
    out = []
    for tid in ids:
        if tid.split("::", 1)[0] not in files:
            continue  # left out by the project's settings (--ignore, collect_ignore)
        got = by_test.get(tid, [])
        if not any(o in RAN for o in got):
            out.append((tid, got[0] if got else "missing"))
    return out
