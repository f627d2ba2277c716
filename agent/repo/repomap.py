"""A compact map of a repository from ``ast``: modules, classes and functions with their
signatures, and the import graph used to rank files by closeness to the failing frames."""

from __future__ import annotations

import ast
import posixpath
from collections import deque
from functools import lru_cache

SRC_ROOTS = ("src/", "lib/")
MAX_PARSE = 400_000


def module_names(path: str) -> list[str]:
    """The dotted names a file may be imported as (with and without a src/ root)."""
    if not path.endswith(".py"):
        return []
    stem = path[:-3]
    if stem.endswith("/__init__"):
        stem = stem[: -len("/__init__")]
    names = [stem.replace("/", ".")]
    for root in SRC_ROOTS:
        if path.startswith(root):
            names.append(stem[len(root):].replace("/", "."))
    return names


def module_index(files: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for path in sorted(files, key=lambda p: (p.count("/"), p)):
        for name in module_names(path):
            out.setdefault(name, path)
    return out


@lru_cache(maxsize=512)
def parse(source: str) -> ast.Module | None:
    if len(source) > MAX_PARSE:
        return None
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def imported_modules(path: str, source: str) -> list[tuple[str, list[str]]]:
    """(module, names) imported by a file; relative imports resolved against its package."""
    tree = parse(source)
    if tree is None:
        return []
    package = (module_names(path) or [""])[-1]
    if not path.endswith("__init__.py"):
        package = package.rpartition(".")[0]
    out: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join([*parts, *([base] if base else [])])
            out.append((base, [a.name for a in node.names]))
    return out


def resolve(module: str, names: list[str], index: dict[str, str]) -> list[str]:
    """Repository files behind an import (the module, or submodules named in ``names``)."""
    hits = [index[f"{module}.{n}"] for n in names if f"{module}.{n}" in index]
    if module in index:
        hits.insert(0, index[module])
    return hits


def import_graph(files: dict[str, str]) -> dict[str, set[str]]:
    """Undirected: a file and the repository files it imports are neighbours."""
    index = module_index(files)
    graph: dict[str, set[str]] = {p: set() for p in files if p.endswith(".py")}
    for path in graph:
        for module, names in imported_modules(path, files[path]):
            for dep in resolve(module, names, index):
                if dep != path:
                    graph[path].add(dep)
                    graph.setdefault(dep, set()).add(path)
    return graph


def rank_files(files: dict[str, str], seeds: list[str]) -> list[str]:
    """Python files by distance from ``seeds`` in the import graph, then by folder
    closeness, then by path; the seeds come first, in their order."""
    graph = import_graph(files)
    dist: dict[str, int] = {}
    queue = deque()
    for s in seeds:
        if s in graph and s not in dist:
            dist[s] = 0
            queue.append(s)
    while queue:
        cur = queue.popleft()
        for nxt in sorted(graph[cur]):
            if nxt not in dist:
                dist[nxt] = dist[cur] + 1
                queue.append(nxt)
    seed_dirs = {posixpath.dirname(s) for s in seeds}
    order = {s: i for i, s in enumerate(seeds)}

    def key(p: str) -> tuple:
        near_dir = 0 if posixpath.dirname(p) in seed_dirs else 1
        return (dist.get(p, 99), order.get(p, 0), near_dir, p.count("/"), p)

    return sorted(graph, key=key)


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    try:
        args = ast.unparse(node.args)
    except (ValueError, RecursionError):
        args = "..."
    ret = ""
    if node.returns is not None:
        try:
            ret = f" -> {ast.unparse(node.returns)}"
        except (ValueError, RecursionError):
            ret = ""
    prefix = "async def" if isinstance(node, ast.AsyncFunctionDef) else "def"
    return f"{prefix} {node.name}({args}){ret}"


def outline(source: str) -> list[str]:
    """One line per top-level class/function (and method), with line numbers."""
    tree = parse(source)
    if tree is None:
        return ["(does not parse)"]
    lines: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines.append(f"{node.lineno}: {_signature(node)}")
        elif isinstance(node, ast.ClassDef):
            try:
                bases = ", ".join(ast.unparse(b) for b in node.bases)
            except (ValueError, RecursionError):
                bases = "..."
            lines.append(f"{node.lineno}: class {node.name}" + (f"({bases})" if bases else ""))
            lines += [f"{m.lineno}:     {_signature(m)}" for m in node.body
                      if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return lines
