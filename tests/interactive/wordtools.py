"""A small broken module for repair sessions, and model replies that fix it step by step.

The baseline has two failing tests (``count_words``, ``initials``) and one lint finding
(E741, which ruff cannot fix by itself). ``code(fixed)`` is the module with the named bugs
fixed; ``reply(summary, fixed)`` is a model reply carrying it.
"""

from __future__ import annotations

import json
from pathlib import Path

TESTS = '''
from wordtools import count_words, initials, shout


def test_count_words():
    assert count_words("a  b c") == 3
    assert count_words("") == 0


def test_initials():
    assert initials("ada lovelace") == "AL"


def test_shout():
    assert shout("hi") == "HI!"
'''

BUGGY = {
    "count": '    return len(text.split(" "))\n',
    "initials": '    return "".join(w[0] for w in name.split())\n',
    "lint": '    l = text.upper()\n    return l + "!"\n',
}
FIXED = {
    "count": "    return len(text.split())\n",
    "initials": '    return "".join(w[0].upper() for w in name.split())\n',
    "lint": '    loud = text.upper()\n    return loud + "!"\n',
}


def code(fixed: set[str] | frozenset[str] = frozenset()) -> str:
    part = {k: (FIXED if k in fixed else BUGGY)[k] for k in BUGGY}
    return ('"""Small word helpers."""\n\n\n'
            f"def count_words(text: str) -> int:\n{part['count']}\n\n"
            f"def initials(name: str) -> str:\n{part['initials']}\n\n"
            f"def shout(text: str) -> str:\n{part['lint']}")


def reply(summary: str, fixed: set[str]) -> str:
    return f"{summary}\n\n```python\n{code(fixed)}```\n"


def make_task(folder: Path, replies: list[str] | None = None, *, max_iterations: int = 6,
              broken: bool = True) -> Path:
    """Write spec.toml, the buggy wordtools.py beside it and replies.toml; return the spec."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / "spec.toml"
    spec.write_text(
        'name = "wordtools"\n'
        'prompt = """Fix `wordtools.py`: count_words counts words split on any whitespace, '
        'initials gives the upper-case first letters, shout upper-cases and adds "!"."""\n'
        'solution = "wordtools.py"\n\n'
        f"[limits]\nmax_iterations = {max_iterations}\ncheck_timeout_s = 60\n\n"
        f'[[tests]]\nname = "tests/test_wordtools.py"\nsource = """{TESTS}"""\n')
    if broken:
        (folder / "wordtools.py").write_text(code())
    if replies is not None:
        write_replies(folder / "replies.json", replies)
    return spec


def write_replies(path: Path, replies: list[str]) -> Path:
    path.write_text(json.dumps({"replies": replies}))
    return path
