"""Test ids from pytest's JUnit report are pytest's node ids, also for a test collected in
another module than the one defining it: jsonschema's suite builds one TestCase class per
draft in ``test_jsonschema_test_suite.py`` from functions defined in ``_suite.py``, and its
2,090 failing tests of a bug collapsed into 726 ids of ``_suite.py``."""

from __future__ import annotations

import json

from codemend.sandbox.parse import parse_junit
from codemend.sandbox.verdict import RunFacts, build_report

SUITE = "pkg/tests/test_suite.py"
CASE = ('<testcase classname="pkg.tests.test_suite.{cls}" name="test_minimum" '
        'file="pkg/tests/_suite.py" line="3">{body}</testcase>')
FAIL = '<failure message="boom">trace</failure>'
JUNIT = "<testsuite>{}</testsuite>".format("".join([
    CASE.format(cls="TestDraft4", body=FAIL), CASE.format(cls="TestDraft7", body=FAIL),
    '<testcase classname="pkg.tests.test_other" name="test_plain" '
    'file="pkg/tests/test_other.py"/>',
    '<testcase classname="pkg.tests.test_other.TestKlass" name="test_m" '
    'file="pkg/tests/test_other.py"/>',
    '<testcase classname="pkg.tests.test_other" name="test_imported" '
    'file="pkg/tests/helpers.py"/>']))
FILES = frozenset({SUITE, "pkg/tests/_suite.py", "pkg/tests/test_other.py",
                   "pkg/tests/helpers.py", "pkg/__init__.py"})
IDS = [f"{SUITE}::TestDraft4::test_minimum", f"{SUITE}::TestDraft7::test_minimum",
       "pkg/tests/test_other.py::test_plain", "pkg/tests/test_other.py::TestKlass::test_m",
       "pkg/tests/test_other.py::test_imported"]


def test_a_test_defined_in_another_module_gets_the_id_of_the_module_collecting_it():
    got = parse_junit(JUNIT, FILES)
    assert [c.id for c in got.cases] == IDS
    assert (got.failed, got.passed) == (2, 3)


def test_the_report_names_the_ids_from_the_runners_inventory_of_files():
    doc = {"runner": 1, "mode": "check", "oom_kills_before": 0, "oom_kills_after": 0,
           "ruff": {"rc": 0, "json": "[]"}, "pytest": {"rc": 1, "stdout": ""},
           "junit": {"present": True, "truncated": False, "data": JUNIT},
           "inventory": {"tests": {SUITE: {"ids": [], "xfail": False, "parsed": True},
                                   "pkg/tests/test_other.py": {"ids": [], "xfail": False,
                                                               "parsed": True}},
                         "solution_files": ["pkg/__init__.py", "pkg/tests/_suite.py",
                                            "pkg/tests/helpers.py", {"not": "a name"}],
                         "sources": {}}}
    facts = RunFacts(stdout=json.dumps(doc).encode(), stderr=b"", duration_s=0.1)
    got = build_report(facts, "/work/repo", 10, repo=True)
    assert [c.id for c in got.tests.cases] == IDS, got.message
