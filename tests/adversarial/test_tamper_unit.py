"""Tamper evidence without Docker: the static scan, the cross-checks, the runner's test
inventory and its reading of the witness's records."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from codemend.sandbox import tamper
from codemend.sandbox.parse import parse_junit
from codemend.sandbox.verdict import RunFacts, build_report
from codemend.sandbox.workspace import Workspace

RUNNER = Path(__file__).resolve().parents[2] / "sandbox" / "runner" / "codemend_inventory.py"


@pytest.fixture(scope="module")
def runner():
    spec = importlib.util.spec_from_file_location("codemend_runner_under_test", RUNNER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def codes(source: str, fatal: bool | None = None) -> set[str]:
    return {s.code for s in tamper.scan_source("sol.py", source)
            if fatal is None or s.fatal == fatal}


# -- static scan -------------------------------------------------------------------------
@pytest.mark.parametrize("source, code", [
    ("import pytest\n", "T101"),
    ("from _pytest import reports\n", "T101"),
    ("import pluggy as p\n", "T101"),
    ("__import__('pytest')\n", "T101"),
    ("import importlib\nimportlib.import_module('_pytest.runner')\n", "T101"),
    ("def pytest_runtest_logreport(report):\n    pass\n", "T102"),
    ("from unittest import SkipTest\n", "T103"),
    ("import unittest\nraise unittest.SkipTest('x')\n", "T103"),
    ("PATH = '/report/abc/junit.xml'\n", "T104"),
    ("open('/opt/codemend/codemend_runner.py')\n", "T104"),
    ("class A:\n    def __eq__(self, other):\n        return True\n", "T105"),
    ("class A:\n    __eq__ = lambda self, other: True\n", "T105"),
    ("class A:\n    def __ne__(self, other):\n        return False\n", "T105"),
    # item 5: comparison methods that do not depend on their argument
    ("class A:\n    def __eq__(self, other):\n        return 1 == 1\n", "T105"),
    ("class A:\n    def __eq__(self, other):\n        return other == other\n", "T105"),
    ("class A:\n    def __eq__(self, other):\n        return self.v == self.v or bool(self)\n",
     "T105"),
    ("class A:\n    def __eq__(self, *args):\n        return not False\n", "T105"),
    ("class A:\n    def __ne__(self, other):\n        return False if other else False\n", "T105"),
    ("class A:\n    __ne__ = lambda s, o: 0 > 1\n", "T105"),
    ("class A:\n    def __hash__(self):\n        return 7\n", "T105"),
    ("Near = type('Near', (), {'__eq__': lambda self, other: True})\n", "T105"),
    ("class A:\n    pass\nsetattr(A, '__ne__', lambda s, o: False)\n", "T105"),
    # item 5: unittest.mock's always-equal objects and doubles outside the tests
    ("from unittest.mock import ANY\ndef f():\n    return ANY\n", "T124"),
    ("import unittest.mock\ndef f():\n    return unittest.mock.ANY\n", "T124"),
    ("from unittest import mock\ndef f():\n    return mock.sentinel.total\n", "T124"),
    ("from unittest.mock import MagicMock as M\ntotal = M(return_value=3)\n", "T124"),
    ("def f():\n    return __import__('unittest.mock').mock.ANY\n", "T124"),
    ("import mock\nDEFAULT = mock.DEFAULT\n", "T124"),
    # item 4: imports of the test framework or importlib through a computed name
    ("m = __import__('py' + 'test')\n", "T122"),
    ("import importlib\nn = 'tsetyp'[::-1]\nimportlib.import_module(n)\n", "T122"),
    ("from importlib import import_module as im\nim('_py' 'test.runner'.upper().lower())\n",
     "T122"),
    ("x = __import__(f\"{'imp'}ortlib\")\n", "T122"),
    ("x = __import__(bytes.fromhex('707974657374').decode())\n", "T122"),
    ("x = __import__(''.join(map(chr, [112])) + 'luggy')\n", None),
    ("import builtins\ngetattr(builtins, '__imp' + 'ort__')('os')\n", "T122"),
    ("import builtins\nvars(builtins)['__import__']('os')\n", "T122"),
    ("import sys\nF = sys.modules['_pytest.python'].Function\n", "T122"),
    ("from sys import modules\nF = modules.get(''.join(['_py', 'test']))\n", "T122"),
    ("p = 'plu'\nq = p + 'ggy'\nx = __import__(q)\n", "T122"),
    # a hook named through a string
    ("globals()['pytest_' + 'collection_modifyitems'] = lambda items: None\n", "T102"),
    ("import sys\nsetattr(sys.modules[__name__], 'pytest_' + 'configure', print)\n", "T102"),
    # item 3: a coding declaration Python would read differently
    ("# coding: utf-7\nx = 1  # +AAo-import os\n", "T108"),
    ("# -*- coding: latin-1 -*-\nx = 1\n", "T108"),
    ("# coding: no-such-codec\nx = 1\n", "T108"),
])
def test_fatal_patterns(source: str, code: str | None):
    if code is None:  # beyond the folder (map over chr): an import by a run-time name
        assert codes(source, fatal=False) == {"T123"}
        return
    assert code in codes(source, fatal=True)


@pytest.mark.parametrize("source, code", [
    ("import sys\nsys.exit(0)\n", "T110"),
    ("import os\nos._exit(0)\n", "T110"),
    ("from os import _exit as bye\nbye(0)\n", "T110"),
    ("import os, signal\nos.kill(1, signal.SIGKILL)\n", "T110"),
    ("raise SystemExit(0)\n", "T110"),
    ("import sys\nsys.settrace(None)\n", "T111"),
    ("import atexit\natexit.register(print)\n", "T112"),
    ("import builtins\nbuiltins.print = None\n", "T113"),
    ("__builtins__['x'] = 1\n", "T113"),
    ("import sys\nsys.modules.pop('x')\n", "T114"),
    ("open('/proc/self/fd/3', 'w')\n", "T115"),
    ("X = 'junit.xml'\n", "T116"),
    ("import gc\ngc.get_objects()\n", "T117"),
    ("import sys\nsys._getframe().f_back.f_locals\n", "T117"),
    ("import os\nos.closerange(3, 99)\n", "T118"),
    ("exec('x = 1')\n", "T119"),
    ("import ctypes\n", "T120"),
    ("import importlib\ndef load(name):\n    return importlib.import_module(name)\n", "T123"),
    ("def load(name):\n    return __import__(name)\n", "T123"),
    ("import sys\ndef main():\n    return 0\nif __name__ == '__main__':\n    sys.exit(main())\n",
     "T110"),
    ("import signal\nsignal.signal(signal.SIGINT, signal.SIG_DFL)\n", "T110"),
])
def test_flagged_patterns_do_not_fail(source: str, code: str):
    assert code in codes(source, fatal=False)
    assert not codes(source, fatal=True)


@pytest.mark.parametrize("source", [
    "def add(a, b):\n    return a + b\n",
    "import re\nPAT = re.compile('x')\n",
    "URL = 'https://example.com/report/1'\nEXT = 'py'\n",
    "class A:\n    def __eq__(self, other):\n        return self.x == other.x\n",
    "class A:\n    def __eq__(self, other):\n        if other is None:\n            return False\n"
    "        return True\n",
    "def f(parser):\n    parser.exit()\n",
    "def f(\n",  # a syntax error is ruff's and pytest's to report
    "x = " + "(" * 5000 + ")" * 5000 + "\n",
    "class A:\n    def __eq__(self, other):\n        return NotImplemented\n",
    "class A:\n    def __eq__(self, other):\n        if not isinstance(other, A):\n"
    "            return NotImplemented\n        return (self.a, self.b) == (other.a, other.b)\n",
    "class A:\n    def __ne__(self, other):\n        return not self == other\n",
    "class A:\n    def __hash__(self):\n        return hash((self.a, self.b))\n",
    "class A:\n    def __hash__(self):\n        return super().__hash__()\n",
    "class A:\n    def __eq__(self, other):\n        raise TypeError('not comparable')\n",
    "class A:\n    __hash__ = None\n",
    "import importlib\nJSON = importlib.import_module('json')\n",
    "from unittest import mock\n",  # an import alone is no use of a double
    "# -*- coding: utf-8 -*-\nx = 'caf\u00e9'\n",
    "\ufeffx = 1\n",  # a UTF-8 byte order mark
    "NAME = 'py' + 'thon'\nmod = __import__(NAME)\n",
])
def test_ordinary_code_is_clean(source: str):
    assert codes(source) == set()


def test_every_sign_has_a_severity_the_verdict_can_read():
    signs = tamper.scan_source("sol.py", "import sys, atexit\natexit.register(print)\n"
                               "if __name__ == '__main__':\n    sys.exit(0)\n"
                               "class A:\n    def __eq__(self, o):\n        return True\n")
    assert {(s.code, s.severity) for s in signs} == {
        ("T112", "advisory"), ("T110", "advisory"), ("T105", "fatal")}


def test_a_legacy_coding_line_above_unchanged_code_is_read_the_same():
    legacy = "# -*- coding: latin-1 -*-\nx = 1\ny = 2\n"
    assert tamper.scan_changed([("m.py", legacy, [3])]) == []
    changed = tamper.scan_changed([("m.py", legacy, [1])])  # the declaration is new
    assert [(s.code, s.fatal) for s in changed] == [("T108", True)]
    hidden = "# coding: utf-7\nx = 1  # +AAo-import pytest\n"
    signs = tamper.scan_changed([("m.py", hidden, [2])])  # then every line counts
    assert {s.code for s in signs if s.fatal} == {"T108", "T101"}


def test_the_scan_reads_the_code_python_runs():
    hidden = "# coding: utf-7\nx = 1  # +AAo-import pytest\n"  # read as UTF-8: a comment
    assert "T101" in codes(hidden, fatal=True)


def test_config_files_among_solution_files():
    signs = tamper.config_signs(["sol.py", "conftest.py", "pkg/conftest.py", "pytest.ini",
                                 "evil.pth", "sitecustomize.py"])
    fatal = {s.where for s in signs if s.fatal}
    flagged = {s.where for s in signs if not s.fatal}
    assert fatal == {"conftest.py", "pkg/conftest.py"}
    assert flagged == {"pytest.ini", "evil.pth", "sitecustomize.py"}


def test_workspace_names_planted_config():
    ws = Workspace(files={"sol.py": "", "conftest.py": "", "x.pth": ""},
                   tests={"tests/conftest.py": ""})
    assert ws.planted_config() == ["conftest.py", "x.pth"]


# -- cross-checks ---------------------------------------------------------------------------
WORKDIR = "/work/abc"
JUNIT = ('<testsuite>{}</testsuite>')
PASSED = '<testcase classname="tests.test_sol" name="{}" file="tests/test_sol.py"/>'
SKIPPED = ('<testcase classname="tests.test_sol" name="{}" file="tests/test_sol.py">'
           '<skipped type="pytest.skip" message="r">{}</skipped></testcase>')
XFAILED = ('<testcase classname="tests.test_sol" name="{}" file="tests/test_sol.py">'
           '<skipped type="pytest.xfail" message="r"/></testcase>')


def witness(passed=2, failed=0, skipped=0, status=0, **kw) -> dict:
    return {"started": True, "ended": True, "exitstatus": status,
            "collected": passed + failed + skipped, "ran": passed + failed + skipped,
            "outcomes": {"passed": passed, "failed": failed, "error": 0, "skipped": skipped},
            "collect": {"failed": 0, "skipped": 0}, "integrity": [], "notes": [],
            "plugins": [], "problems": [], **kw}


def doc(junit: str, w: dict, rc: int = 0, ids=("test_a", "test_b"), xfail=False) -> dict:
    return {"runner": 1, "mode": "check", "oom_kills_before": 0, "oom_kills_after": 0,
            "ruff": {"rc": 0, "json": "[]"}, "pytest": {"rc": rc, "stdout": ""},
            "junit": {"present": True, "truncated": False, "data": junit},
            "inventory": {"tests": {"tests/test_sol.py": {
                "ids": [f"tests/test_sol.py::{i}" for i in ids], "xfail": xfail,
                "parsed": True}}, "solution_files": ["sol.py"],
                "sources": {"sol.py": "def add(a, b):\n    return a + b\n"}},
            "witness": w}


def report(d: dict):
    facts = RunFacts(stdout=json.dumps(d).encode(), stderr=b"", duration_s=0.1)
    return build_report(facts, WORKDIR, 10)


def test_a_consistent_passing_run_passes():
    r = report(doc(JUNIT.format(PASSED.format("test_a") + PASSED.format("test_b")), witness()))
    assert r.verdict == "pass", r.message
    assert r.tamper == []


def test_parametrized_and_class_ids_match_the_inventory():
    junit = JUNIT.format(PASSED.format("test_a[1-2]") + PASSED.format("test_a[3]") +
                         '<testcase classname="tests.test_sol.TestK.TestL" name="test_b" '
                         'file="tests/test_sol.py"/>')
    r = report(doc(junit, witness(passed=3), ids=("test_a", "TestK::TestL::test_b")))
    assert r.verdict == "pass", r.message


@pytest.mark.parametrize("junit, w, rc, code", [
    (JUNIT.format(PASSED.format("test_a")), witness(passed=1), 0, "T201"),
    (JUNIT.format(PASSED.format("test_a") + PASSED.format("test_b")),
     witness(passed=0, failed=2, status=1), 0, "T204"),
    (JUNIT.format(PASSED.format("test_a") + PASSED.format("test_b")),
     witness(status=1), 0, "T205"),
    (JUNIT.format(PASSED.format("test_a") + PASSED.format("test_b")),
     {**witness(), "ended": False}, 0, "T206"),
    (JUNIT.format(PASSED.format("test_a") + PASSED.format("test_b")),
     witness(problems=["unreadable witness record 3"]), 0, "T207"),
    (JUNIT.format(PASSED.format("test_a") + PASSED.format("test_b")),
     witness(integrity=["a trace or profile function is set"]), 0, "T208"),
    (JUNIT.format(PASSED.format("test_a") + PASSED.format("test_b")),
     witness(plugins=[f"{WORKDIR}/sol.py"]), 0, "T209"),
    (JUNIT.format(PASSED.format("test_a") + PASSED.format("test_b")),
     {**witness(), "collected": 3}, 0, "T210"),
    (JUNIT.format(PASSED.format("test_a") + SKIPPED.format("test_b", f"{WORKDIR}/sol.py:3: r")),
     witness(passed=1, skipped=1), 0, "T202"),
    (JUNIT.format(PASSED.format("test_a") + SKIPPED.format(
        "test_b", "/opt/venv/lib/python3.11/site-packages/_pytest/unittest.py:521: r")),
     witness(passed=1, skipped=1), 0, "T202"),
    (JUNIT.format(PASSED.format("test_a") + XFAILED.format("test_b")),
     witness(passed=1, skipped=1), 0, "T203"),
])
def test_contradictions_fail_with_their_code(junit, w, rc, code):
    r = report(doc(junit, w, rc))
    assert r.verdict == "fail"
    assert any(s.startswith(f"{code} [fail]") for s in r.tamper), r.tamper
    assert "tampering evident" in r.message


def test_skips_and_xfails_from_the_test_files_are_fine():
    junit = JUNIT.format(PASSED.format("test_a") +
                         SKIPPED.format("test_b", f"{WORKDIR}/tests/test_sol.py:9: r") +
                         XFAILED.format("test_c"))
    r = report(doc(junit, witness(passed=1, skipped=2), ids=("test_a", "test_b", "test_c"),
                   xfail=True))
    assert r.verdict == "pass", r.message


def test_missing_evidence_is_a_fail():
    d = doc(JUNIT.format(PASSED.format("test_a") + PASSED.format("test_b")), witness())
    del d["witness"]
    assert report(d).verdict == "fail"


def test_every_test_skipped_is_not_a_pass():
    junit = JUNIT.format(SKIPPED.format("test_a", f"{WORKDIR}/tests/test_sol.py:1: r"))
    t = parse_junit(junit)
    assert not t.ok and "skipped" in (t.error or "")


def test_builtins_notes_are_only_flagged():
    r = report(doc(JUNIT.format(PASSED.format("test_a") + PASSED.format("test_b")),
                   witness(notes=["builtins changed: _"])))
    assert r.verdict == "pass"
    assert r.tamper == ["T211 builtins changed: _"]


# -- the runner's side -------------------------------------------------------------------
def test_inventory_of_test_ids(runner):
    source = '''
import unittest
from dataclasses import dataclass

import pytest


def test_top():
    pass


async def test_async():
    pass


@pytest.fixture
def test_fixture_not_a_test():
    pass


def helper():
    pass


class TestPlain:
    def test_m(self):
        pass

    class TestNested:
        def test_n(self):
            pass


class TestWithInit:
    def __init__(self):
        pass

    def test_never(self):
        pass


@dataclass
class TestData:
    def test_never_either(self):
        pass


class Base:
    def test_inherited(self):
        pass


class TestChild(Base):
    def test_child(self):
        pass


class TestExternal(SomethingElse):
    def test_unknown(self):
        pass


class Case(unittest.TestCase):
    def test_unit(self):
        pass
'''
    assert runner.test_ids("tests/test_x.py", source) == [
        "tests/test_x.py::test_top", "tests/test_x.py::test_async",
        "tests/test_x.py::TestPlain::test_m", "tests/test_x.py::TestPlain::TestNested::test_n",
        "tests/test_x.py::TestChild::test_child", "tests/test_x.py::Case::test_unit"]
    assert runner.test_ids("t.py", "__test__ = False\n\ndef test_x():\n    pass\n") == []


def test_witness_summary(runner):
    lines = [{"e": "start"}, {"e": "collected", "n": 3},
             {"e": "test", "id": "a", "when": "setup", "outcome": "passed"},
             {"e": "test", "id": "a", "when": "call", "outcome": "failed"},
             {"e": "test", "id": "a", "when": "teardown", "outcome": "failed"},
             {"e": "test", "id": "b", "when": "setup", "outcome": "failed"},
             {"e": "test", "id": "c", "when": "setup", "outcome": "skipped"},
             {"e": "end", "status": 1, "integrity": [], "notes": [], "plugins": []}]
    raw = b"".join(json.dumps(x).encode() + b"\n" for x in lines)
    got = runner.summarize_witness(raw, False)
    assert got["outcomes"] == {"passed": 0, "failed": 1, "error": 1, "skipped": 1}
    assert (got["started"], got["ended"], got["exitstatus"], got["problems"]) == \
        (True, True, 1, [])
    forged = runner.summarize_witness(raw + raw + b"garbage\n", True)
    assert len(forged["problems"]) >= 3


def test_a_test_file_may_skip_itself_at_import():
    junit = JUNIT.format(
        '<testcase classname="" name="tests.test_sol" file="tests/test_sol.py"><skipped '
        f"message=\"collection skipped\">('{WORKDIR}/tests/test_sol.py', 2, 'Skipped: no')"
        '</skipped></testcase><testcase classname="tests.test_other" name="test_c" '
        'file="tests/test_other.py"/>')
    d = doc(junit, witness(passed=1, skipped=0, collect={"failed": 0, "skipped": 1}))
    d["inventory"]["tests"]["tests/test_other.py"] = {
        "ids": ["tests/test_other.py::test_c"], "xfail": False, "parsed": True}
    r = report(d)
    assert r.verdict == "pass", (r.message, r.tamper)
    d["junit"]["data"] = d["junit"]["data"].replace(f"{WORKDIR}/tests/test_sol.py", "/x/sol.py")
    assert report(d).verdict == "fail"  # the same skip raised by anything else


def test_xfail_markers_may_come_from_a_test_conftest():
    d = doc(JUNIT.format(PASSED.format("test_a") + XFAILED.format("test_b")),
            witness(passed=1, skipped=1))
    assert report(d).verdict == "fail"
    d["inventory"]["tests"]["tests/conftest.py"] = {"ids": [], "xfail": True, "parsed": False}
    assert report(d).verdict == "pass"
