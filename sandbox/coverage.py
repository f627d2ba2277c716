"""Diff coverage, host side: the runner's result read into plain data.

The result is written by the tested process (sandbox/runner/codemend_coverage.py), so it is
as hostile as the JUnit report: read capped, checked shape by shape, every value coerced.
``read(doc)``: None when the check did not ask for coverage, else ``{"files": {path:
{"statements": [n], "executed": [n], "tests": {"n": [test ids]}} | {"error": text}} | None,
"error": text | None}`` (changed lines only; ``tests`` lists, per executed line, the tests
that ran it, ``""`` standing for lines run while modules loaded).
"""

from __future__ import annotations

import json
from typing import Any

from codemend.sandbox.report import clean_text

MAX_FILES = 200
MAX_LINES = 100_000
MAX_IDS = 300


def _failed(error: str) -> dict[str, Any]:
    return {"files": None, "error": error}


def _lines(value: Any) -> list[int]:
    if not isinstance(value, list):
        raise ValueError("not a list of line numbers")
    out = {n for n in value[:MAX_LINES] if isinstance(n, int) and not isinstance(n, bool)
           and 0 < n < 1 << 24}
    return sorted(out)


def _file(entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise ValueError("not an object")
    if "error" in entry:
        return {"error": clean_text(str(entry["error"])[:300])}
    statements = _lines(entry.get("statements"))
    executed = sorted(set(_lines(entry.get("executed"))) & set(statements))
    raw = entry.get("tests")
    raw = raw if isinstance(raw, dict) else {}
    tests = {}
    for n in executed:
        ids = raw.get(str(n))
        ids = ids if isinstance(ids, list) else []
        tests[str(n)] = [clean_text(i[:500]) for i in ids[:MAX_IDS] if isinstance(i, str)]
    return {"statements": statements, "executed": executed, "tests": tests}


def read(doc: dict) -> dict[str, Any] | None:
    got = doc.get("coverage")
    if got is None:
        return None
    if not isinstance(got, dict) or not got.get("present"):
        why = got.get("error") if isinstance(got, dict) else None
        return _failed("the test run wrote no coverage result"
                       + (f" ({clean_text(str(why)[:200])})" if why else ""))
    if got.get("truncated"):
        return _failed("the coverage result was larger than the sandbox reads")
    try:
        files = json.loads(str(got.get("data", "")))["files"]
        return {"files": {clean_text(str(rel)[:500]): _file(entry)
                          for rel, entry in list(files.items())[:MAX_FILES]}, "error": None}
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        return _failed(f"the coverage result is unreadable ({type(exc).__name__})")
