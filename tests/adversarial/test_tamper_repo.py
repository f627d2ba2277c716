"""Repository-mode tamper rules without Docker: changed-line scanning, and which
cross-checks stay fatal when the project's own settings run its suite."""

from __future__ import annotations

import json

import pytest
from codemend.sandbox import tamper
from codemend.sandbox.verdict import RunFacts, build_report
from test_tamper_unit import JUNIT, PASSED, SKIPPED, WORKDIR, doc, witness

LIBRARY = '''import builtins
import sys


def install(name, module):
    sys.modules[name] = module
    builtins.__dict__.setdefault("_", None)


def add(a, b):
    return a + b
'''


def test_unchanged_library_code_is_not_flagged():
    # the whole-file scan flags ordinary library code; a change elsewhere must not
    assert {s.code for s in tamper.scan_source("lib.py", LIBRARY)} >= {"T113", "T114"}
    assert tamper.scan_changed([("lib.py", LIBRARY, [11])]) == []


def test_a_changed_line_is_scanned_with_the_files_imports():
    new = LIBRARY.replace("    return a + b", "    sys.modules.clear()\n    return a + b")
    signs = tamper.scan_changed([("lib.py", new, [11])])
    assert [(s.code, s.where) for s in signs] == [("T114", "lib.py:11")]


@pytest.mark.parametrize("added, code", [
    ("import pytest\n", "T101"),
    ("def pytest_collection_modifyitems(items):\n    items.clear()\n", "T102"),
    ("import unittest\nraise unittest.SkipTest('later')\n", "T103"),
    ("class Any:\n    def __eq__(self, other):\n        return True\n", "T105"),
])
def test_fatal_patterns_in_changed_lines(added, code):
    new = LIBRARY + added
    first = LIBRARY.count("\n") + 1
    lines = range(first, first + added.count("\n"))
    signs = tamper.scan_changed([("lib.py", new, lines)])
    assert code in {s.code for s in signs if s.fatal}


def test_a_multi_line_statement_counts_when_any_of_its_lines_changed():
    src = "import sys\nx = sys.modules.get(\n    'a',\n    None,\n)\n"
    assert [s.code for s in tamper.scan_changed([("m.py", src, [4])])] == ["T114"]
    assert tamper.scan_changed([("m.py", src, [1])]) == []  # the import alone is harmless


def test_non_python_and_unparseable_files_are_skipped():
    assert tamper.scan_changed([("a.txt", "import pytest\n", [1]),
                                ("b.py", "def (\n", [1])]) == []


def _report(d: dict, repo: bool):
    facts = RunFacts(stdout=json.dumps(d).encode(), stderr=b"", duration_s=0.1)
    return build_report(facts, WORKDIR, 10, repo=repo)


def test_repo_mode_skips_the_whole_file_scan_and_config_signs():
    d = doc(JUNIT.format(PASSED.format("test_a") + PASSED.format("test_b")), witness())
    d["inventory"]["solution_files"] = ["pyproject.toml", "lib.py"]
    d["inventory"]["sources"] = {"lib.py": LIBRARY}
    assert {t[:4] for t in _report(d, repo=False).tamper} >= {"T107", "T113"}
    r = _report(d, repo=True)
    assert r.verdict == "pass" and r.tamper == []


def test_a_deselected_test_is_evidence_in_repo_mode_only():
    d = doc(JUNIT.format(PASSED.format("test_a")), witness(passed=1))
    assert _report(d, repo=False).verdict == "fail"
    r = _report(d, repo=True)
    assert r.verdict == "pass" and [t[:4] for t in r.tamper] == ["T201"]


def test_forged_passes_stay_fatal_in_repo_mode():
    junit = JUNIT.format(PASSED.format("test_a") + PASSED.format("test_b"))
    forged = doc(junit, witness(passed=0, failed=2, status=1))  # JUnit says pass, pytest did not
    r = _report(forged, repo=True)
    assert r.verdict == "fail" and any(t.startswith("T204 [fail]") for t in r.tamper)


@pytest.mark.parametrize("origin, fatal", [("lib.py", True), ("/opt/venv/lib/plugin.py", False)])
def test_a_skip_from_library_code_is_fatal_in_repo_mode(origin, fatal):
    where = origin if origin.startswith("/") else f"{WORKDIR}/{origin}"
    junit = JUNIT.format(PASSED.format("test_a") + SKIPPED.format("test_b", f"{where}:3: skip"))
    d = doc(junit, witness(passed=1, skipped=1))
    d["inventory"]["solution_files"] = ["lib.py"]
    r = _report(d, repo=True)
    assert any(t.startswith("T202") for t in r.tamper)
    assert (r.verdict == "fail") is fatal
