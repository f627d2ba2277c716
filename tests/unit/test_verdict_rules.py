"""Verification rules of issue 17 without Docker: removed definitions, outcomes that ran
at baseline, and the floor of a suite that could not start."""

from __future__ import annotations

from pathlib import Path

from codemend.agent.repo import deletions, floor
from codemend.agent.repo.snapshot import from_files
from codemend.agent.repo.verify import verify
from codemend.agent.repotask import SUITE_TARGET, RepoTask
from test_repo_loop import BASELINE, LIB, TASK, A, B, C, report, snap

SHOP = '''import os


def total(xs):
    return sum(xs)


class Cart:
    def add(self, x):
        pass

    def clear(self):
        pass


try:
    from fast import speedup
except ImportError:
    def speedup(f):
        return f
'''


def test_removed_definitions_are_named():
    gone = SHOP.replace("    def clear(self):\n        pass\n", "").replace(
        "def total(xs):\n    return sum(xs)\n", "")
    assert deletions.removed({"shop.py": SHOP}, {"shop.py": gone}) == [
        "shop.py::Cart.clear", "shop.py::total"]
    assert deletions.removed({"shop.py": SHOP}, {"shop.py": SHOP.replace("def speedup",
                                                                         "def speed_up")}) \
        == ["shop.py::speedup"]
    # a new file, an unparseable one or an added definition removes nothing
    assert deletions.removed({}, {"new.py": "x = 1\n"}) == []
    assert deletions.removed({"shop.py": SHOP}, {"shop.py": "def (\n"}) == []
    assert deletions.removed({"shop.py": SHOP}, {"shop.py": SHOP + "\n\ndef more():\n    pass\n"}) == []


def test_a_removal_is_refused_unless_allowed():
    checked = report([(A, "passed"), (B, "passed"), (C, "passed")], verdict="pass")
    cut = {"pkg/geo.py": LIB.replace("w + h", "w * h").replace(
        "\n\ndef name():\n    return 'x'\n", "")}
    refused = verify(checked, BASELINE, TASK, snap(), cut)
    assert refused.verdict == "fail" and "the change removes pkg/geo.py::name" in refused.message
    allowed = TASK.model_copy(update={"allow_deletions": True})
    assert verify(checked, BASELINE, allowed, snap(), cut).verdict == "pass"


def test_a_test_that_ran_at_baseline_may_not_be_skipped_even_when_flaky():
    flaky = TASK.model_copy(update={"flaky": [C]})
    fixed = {"pkg/geo.py": LIB.replace("w + h", "w * h")}
    ok = report([(A, "passed"), (B, "passed"), (C, "failed")])
    assert verify(ok, BASELINE, flaky, snap(), fixed).verdict == "pass"
    for outcome in ("skipped", None):
        cases = [(A, "passed"), (B, "passed")] + ([(C, outcome)] if outcome else [])
        got = verify(report(cases), BASELINE, flaky, snap(), fixed)
        assert got.verdict == "fail" and f"{C} passed at baseline and is now " \
            f"{outcome or 'missing'}" in got.message


TESTS = '''import sys

import pytest


def test_plain():
    pass


@pytest.mark.skipif(sys.platform == "win32", reason="posix")
def test_posix():
    pass


class TestGroup:
    def test_one(self):
        pass

    def test_two(self):
        pytest.skip("not yet")
'''


def test_the_floor_leaves_out_tests_that_may_skip_themselves():
    s = from_files(Path("/r"), {"pkg.py": "", "tests/test_x.py": TESTS}, {})
    assert floor.must_run(s) == ["tests/test_x.py::test_plain",
                                 "tests/test_x.py::TestGroup::test_one"]
    assert floor.not_run(["t.py::a", "t.py::b", "t.py::c"], {
        "t.py::a[1]": "skipped", "t.py::a[2]": "passed", "t.py::b": "skipped"}) == [
        ("t.py::b", "skipped"), ("t.py::c", "missing")]
    skipping = from_files(Path("/r"), {"pkg.py": "", "tests/test_x.py": TESTS,
                                       "tests/conftest.py": "import pytest\npytest.skip\n"}, {})
    assert floor.must_run(skipping) == []


def test_the_floor_applies_only_when_the_baseline_suite_could_not_start():
    fixed = {"pkg/geo.py": LIB.replace("w + h", "w * h")}
    checked = report([(A, "passed"), (B, "passed"), (C, "passed")])
    assert verify(checked, BASELINE, TASK, snap(), fixed).verdict == "pass"
    broken = report([], error="pytest was interrupted")
    task = RepoTask(root="/repo", base_id="x", targets=[SUITE_TARGET])
    assert "did not run" in verify(checked, broken, task, snap(), fixed).message


def test_the_pristine_harness_keeps_the_base_tests():
    """A candidate that reaches a check holding a test edit, a new pytest.toml or a
    dist-info entry point (a person's --edit, say) is checked with the base's files."""
    from codemend.agent.repo.kind import harness

    s = snap()
    overlay = {"pkg/geo.py": LIB.replace("w + h", "w * h"),
               "tests/test_geo.py": "def test_area():\n    pass\n",
               "pytest.toml": "[pytest]\naddopts = ['-p', 'pkg.plug']\n",
               "pkg-1.dist-info/entry_points.txt": "[pytest11]\nx = pkg.plug\n"}
    ws = harness(s, TASK, overlay)
    assert ws.files["pkg/geo.py"] == overlay["pkg/geo.py"]
    assert ws.tests["tests/test_geo.py"] == s.files["tests/test_geo.py"]
    assert "pytest.toml" not in ws.files and "pkg-1.dist-info/entry_points.txt" not in ws.files
    allowed = harness(s, TASK.model_copy(update={"allow_test_edits": True}), overlay)
    assert allowed.tests["tests/test_geo.py"] == overlay["tests/test_geo.py"]
    assert "pytest.toml" in allowed.files  # configuration, allowed with test edits
    assert "pkg-1.dist-info/entry_points.txt" not in allowed.files  # never


def test_the_floor_leaves_out_what_the_projects_settings_leave_out():
    marked = ("import pytest\n\n\ndef test_plain():\n    pass\n\n\n@pytest.mark.slow\n"
              "def test_slow():\n    pass\n")
    files = {"pkg.py": "", "tests/test_x.py": marked, "tests/test_y.py": "def test_y():\n    pass\n"}
    plain = from_files(Path("/r"), files, {})
    assert floor.must_run(plain) == ["tests/test_x.py::test_plain", "tests/test_x.py::test_slow",
                                     "tests/test_y.py::test_y"]
    by_marker = from_files(Path("/r"), {**files, "pytest.ini": "[pytest]\naddopts = -m 'not slow'\n"}, {})
    assert floor.must_run(by_marker) == ["tests/test_x.py::test_plain", "tests/test_y.py::test_y"]
    by_name = from_files(Path("/r"), {**files, "pytest.ini": "[pytest]\naddopts = -k plain\n"}, {})
    assert floor.must_run(by_name) == []
    # a file pytest reported nothing of was left out by the settings (--ignore); one it
    # reported on (a skip at import included) must run all its tests
    ran = {"tests/test_x.py::test_plain": "passed", "tests/test_x.py::test_slow": "skipped"}
    assert floor.not_run(floor.must_run(plain), ran) == [("tests/test_x.py::test_slow", "skipped")]
