"""What the model sees of a repository run, within a token budget.

In order of priority: the failing tests (ids, messages, tracebacks), the source around
the frames they touch and the definitions the failing tests import, the changes made so
far and why they fell short, then a map of the repository (``repomap``) ranked by
closeness to the failing frames. Tokens are estimated at 4 characters each; the model
never gets the whole repository.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Callable

from codemend.agent.repo import repomap
from codemend.agent.repotask import SUITE_TARGET
from codemend.sandbox.parse import trim
from codemend.sandbox.report import CheckReport
from codemend.sandbox.source import split_lines

CHARS_PER_TOKEN = 4
WINDOW = 12
MAX_REGION_LINES = 80
SYSTEM = (
    "You are a careful senior Python engineer fixing bugs in an existing repository. Change "
    "the library code so the failing tests pass; never edit, skip or weaken tests, their "
    "configuration or CI files. Keep changes small and in the repository's style.")
FORMAT = (
    "## How to answer\nGive each change as a SEARCH/REPLACE block: the file's path on its own "
    "line, then\n<<<<<<< SEARCH\n(the exact current lines)\n=======\n(the new lines)\n"
    ">>>>>>> REPLACE\nThe SEARCH lines must match the current file exactly, once. For a small "
    "file you may instead send the whole file in a fenced block whose first line is "
    "`# file: <path>`.")
_SHORT = re.compile(r"^(?P<path>[^\s:][^:\n]*\.py):(?P<line>\d+):", re.MULTILINE)
_LONG = re.compile(r'File "(?P<path>[^"]+\.py)", line (?P<line>\d+)')


def tokens(text: str) -> int:
    return -(-len(text) // CHARS_PER_TOKEN)


def frames(traceback: str, files: dict[str, str]) -> list[tuple[str, int]]:
    """(path, line) of every traceback frame in a repository file, outermost first."""
    out: list[tuple[str, int]] = []
    for m in [*_SHORT.finditer(traceback), *_LONG.finditer(traceback)]:
        path = m["path"]
        if path not in files:  # /work/<token>/pkg/x.py inside the sandbox
            parts = path.split("/")
            path = next(("/".join(parts[i:]) for i in range(len(parts))
                         if "/".join(parts[i:]) in files), "")
        if path and (path, int(m["line"])) not in out:
            out.append((path, int(m["line"])))
    return out


def _enclosing(source: str, line: int) -> tuple[int, int]:
    """The innermost def/class around ``line`` (if short), else a window around it."""
    tree = repomap.parse(source)
    best = (max(1, line - WINDOW), line + WINDOW)
    if tree is None:
        return best
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            end = node.end_lineno or node.lineno
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if start <= line <= end and end - start <= MAX_REGION_LINES and (
                    best[1] - best[0] > end - start or best == (max(1, line - WINDOW),
                                                                 line + WINDOW)):
                best = (start, end)
    return best


def _definitions(source: str, names: list[str]) -> list[tuple[int, int]]:
    tree = repomap.parse(source)
    if tree is None:
        return []
    return [(min([n.lineno, *(d.lineno for d in n.decorator_list)]), n.end_lineno or n.lineno)
            for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                 ast.ClassDef)) and n.name in names]


def regions(report: CheckReport, targets: list[str], files: dict[str, str],
            is_test_module: Callable[[str], bool]) -> tuple[list[tuple[str, int, int]], list[str]]:
    """Source regions to show, most relevant first, and the seed files for the map."""
    out: list[tuple[str, int, int]] = []
    seeds: list[str] = []
    index = repomap.module_index(files)
    failing = [c for c in report.tests.cases if c.id in targets or c.outcome in ("failed",
                                                                                  "error")]
    for case in failing:
        fs = frames(case.traceback or case.message, files)
        test_file = case.id.split("::")[0]
        if test_file in files and all(p != test_file for p, _ in fs):
            fs.insert(0, (test_file, 1))
        for path, line in reversed(fs):  # innermost frame first
            if not is_test_module(path):
                out.append((path, *_enclosing(files[path], line)))
                seeds.append(path)
        for path, line in fs:
            if is_test_module(path):
                if line > 1:
                    out.append((path, *_enclosing(files[path], line)))
                seeds.append(path)
                for module, names in repomap.imported_modules(path, files[path]):
                    for dep in repomap.resolve(module, names, index):
                        if not is_test_module(dep):
                            seeds.append(dep)
                            spans = _definitions(files[dep], names) or [(1, 60)]
                            out += [(dep, a, b) for a, b in spans]
    return _dedupe(out), list(dict.fromkeys(seeds))


def _dedupe(items: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    seen: list[tuple[str, int, int]] = []
    for path, a, b in items:
        if not any(p == path and x <= a and b <= y for p, x, y in seen):
            seen.append((path, a, b))
    return seen


def _region_text(path: str, source: str, a: int, b: int) -> str:
    lines = split_lines(source)  # numbered as Python numbers them in tracebacks
    b = min(b, len(lines))
    body = "\n".join(lines[a - 1:b])
    return f"`{path}` lines {a}-{b}:\n```python\n{body}\n```"


def failures_text(report: CheckReport, targets: list[str], budget: int) -> str:
    parts: list[str] = []
    cases = {c.id: c for c in report.tests.cases}
    for t in targets:
        if t == SUITE_TARGET:
            parts.append(f"- the test suite does not run: {report.tests.error or report.message}"
                         + (f"\n  ```\n  {trim(report.output, 400, 1200)}\n  ```"
                            if report.output else ""))
            continue
        c = cases.get(t)
        if c is None:
            parts.append(f"- {t}: missing from the run")
            continue
        entry = f"- {c.id} ({c.outcome}): {trim(c.message, 300, 0)}"
        if c.traceback:
            entry += "\n  ```\n  " + trim(c.traceback, 500, 900).replace("\n", "\n  ") + "\n  ```"
        if tokens("\n".join([*parts, entry])) > budget:
            parts.append(f"- ... and {len(targets) - len(parts)} more failing tests")
            break
        parts.append(entry)
    return "\n".join(parts)


def diff_text(base: dict[str, str], overlay: dict[str, str]) -> str:
    out: list[str] = []
    for path in sorted(overlay):
        out += difflib.unified_diff(split_lines(base.get(path, "")), split_lines(overlay[path]),
                                    f"a/{path}", f"b/{path}", lineterm="", n=2)
    return "\n".join(out)


def repo_map(files: dict[str, str], seeds: list[str], budget: int) -> str:
    lines: list[str] = []
    used = 0
    ranked = repomap.rank_files(files, seeds)
    for i, path in enumerate(ranked):
        entry = "\n".join([f"{path}", *(f"  {x}" for x in repomap.outline(files[path]))])
        cost = tokens(entry) + 1
        if used + cost > budget:
            if len(ranked) > i:
                lines.append(f"... {len(ranked) - i} more modules not shown")
            break
        lines.append(entry)
        used += cost
    return "\n".join(lines)


def build_messages(*, files: dict[str, str], base: dict[str, str], overlay: dict[str, str],
                   report: CheckReport, targets: list[str], budget_tokens: int,
                   feedback: str | None = None, hint: str | None = None,
                   is_test: Callable[[str], bool]) -> list[dict[str, str]]:
    """The chat for one model call. ``files`` is the candidate (base + overlay),
    ``report`` the check the failures come from, ``feedback`` why the last candidate fell
    short (or why the reply could not be applied)."""
    remaining = budget_tokens - tokens(SYSTEM) - tokens(FORMAT) - 50
    sections: list[str] = []
    fail = failures_text(report, targets, max(200, remaining * 35 // 100))
    sections.append("## Failing tests to fix\n" + fail)
    remaining -= tokens(sections[-1])
    for title, text in (("## A person's hint", hint),
                        ("## Why your last change was not accepted", feedback),
                        ("## Your changes so far (not yet accepted)", diff_text(base, overlay)
                         if overlay else None)):
        if text:
            block = f"{title}\n{trim(text, remaining * CHARS_PER_TOKEN // 4, 400)}"
            sections.append(block)
            remaining -= tokens(block)
    found, seeds = regions(report, targets, files, is_test)
    shown: list[str] = []
    source_budget = remaining * 65 // 100
    for path, a, b in found:
        text = _region_text(path, files[path], a, b)
        if tokens("\n\n".join([*shown, text])) > source_budget:
            continue
        shown.append(text)
    if shown:
        sections.append("## Source around the failures (current code)\n" + "\n\n".join(shown))
        remaining -= tokens(sections[-1])
    if remaining > 60:
        sections.append("## Repository map (line: definition)\n"
                        + repo_map(files, seeds, remaining - 20))
    sections.append(FORMAT)
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": "\n\n".join(sections)}]
