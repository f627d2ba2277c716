"""Repository mode's pure parts: edits, verification, baseline targets, context budget,
scoped autofix and the patch (applied with real git)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from codemend.agent.extract import FormatError
from codemend.agent.repo import context
from codemend.agent.repo.baseline import run_baseline
from codemend.agent.repo.edits import apply_edits
from codemend.agent.repo.kind import scoped
from codemend.agent.repo.output import patch_text
from codemend.agent.repo.snapshot import from_files
from codemend.agent.repo.verify import (
    changed_lines,
    changed_signs,
    file_problems,
    findings,
    verify,
)
from codemend.agent.repotask import SUITE_TARGET, RepoTask
from codemend.sandbox.report import CheckReport, Finding, LintReport, TestCase, TestReport

LIB = "import builtins\n\n\ndef area(w, h):\n    return w + h\n\n\ndef name():\n    return 'x'\n"
TEST = "from pkg.geo import area\n\n\ndef test_area():\n    assert area(2, 3) == 6\n"
BASE = {"pkg/__init__.py": "", "pkg/geo.py": LIB, "tests/test_geo.py": TEST,
        "pyproject.toml": "[project]\nname = 'pkg'\n", ".github/workflows/ci.yml": "on: push\n",
        "pkg/dup.py": "x = 1\nx = 1\nx = 1\n"}


def snap(files=None):
    return from_files(Path("/repo"), dict(files or BASE), {})


def sr(path, old, new):
    return f"{path}\n<<<<<<< SEARCH\n{old}=======\n{new}>>>>>>> REPLACE\n"


# -- edits ----------------------------------------------------------------------------
def test_search_replace_and_whole_file_edits_apply():
    reply = ("Fix:\n```python\n" + sr("pkg/geo.py", "    return w + h\n", "    return w * h\n")
             + "```\n\n```python\n# file: pkg/new.py\nX = 1\n```\n")
    out = apply_edits(reply, BASE, {})
    assert out == {"pkg/geo.py": LIB.replace("w + h", "w * h"), "pkg/new.py": "X = 1\n"}


def test_an_empty_search_creates_a_file_and_reverting_drops_it_from_the_overlay():
    assert apply_edits(sr("pkg/util.py", "", "Y = 2\n"), BASE, {}) == {"pkg/util.py": "Y = 2\n"}
    changed = {"pkg/geo.py": LIB.replace("w + h", "w * h")}
    back = apply_edits(sr("pkg/geo.py", "    return w * h\n", "    return w + h\n"), BASE, changed)
    assert back == {}


def test_trailing_blanks_and_crlf_files_still_match():
    crlf = {"a.py": "x = 1\r\ny = 2\r\n"}
    assert apply_edits(sr("a.py", "y = 2\n", "y = 3\n"), crlf, {}) == {"a.py": "x = 1\r\ny = 3\r\n"}
    spaced = {"a.py": "x = 1   \ny = 2\n"}
    assert apply_edits(sr("a.py", "x = 1\n", "x = 5\n"), spaced, {}) == {"a.py": "x = 5\ny = 2\n"}


@pytest.mark.parametrize("reply, needle", [
    ("no code at all", "held no edits"),
    (sr("pkg/geo.py", "    return 42\n", "    return 0\n"), "is not in the file"),
    (sr("pkg/dup.py", "x = 1\n", "x = 2\n"), "occurs 3 times"),
    (sr("pkg/missing.py", "x\n", "y\n"), "no such file"),
    (sr("pkg/geo.py", "", "x\n"), "an empty SEARCH only creates new files"),
    (sr("../outside.py", "", "x\n"), "points outside"),
    ("```python\n# file: /etc/passwd\nx\n```", "is absolute"),
    ("```python\n# file: .git/hooks/pre-commit\nx\n```", "inside .git"),
    ("pkg/geo.py\n<<<<<<< SEARCH\n    return w + h\n", "no `=======`"),
    ("```python\n# file: pkg/geo.py\ndef area(w, h):\n", "not closed"),
])
def test_edits_that_do_not_apply_are_format_errors_for_the_model(reply, needle):
    with pytest.raises(FormatError) as err:
        apply_edits(reply, BASE, {})
    assert needle in err.value.message and "SEARCH/REPLACE" in err.value.message


def test_one_bad_edit_applies_none():
    reply = sr("pkg/geo.py", "    return w + h\n", "    return w * h\n") + sr("pkg/x.py", "a\n", "b\n")
    with pytest.raises(FormatError):
        apply_edits(reply, BASE, {})


# -- what counts as a change ----------------------------------------------------------
def test_changed_lines_are_the_added_or_modified_ones():
    assert changed_lines("a\nb\nc\n", "a\nB\nc\nd\n") == {2, 4}
    assert changed_lines(None, "x\ny\n") == {1, 2}
    assert changed_lines("a\nb\n", "a\n") == set()


def test_tests_and_config_are_protected_unless_allowed_ci_and_startup_files_always():
    s = snap()
    for path in ("tests/test_geo.py", "tests/conftest.py", "pyproject.toml", "pytest.ini",
                 "pytest.toml", ".pytest.toml", "tox.ini", "setup.cfg", "ruff.toml",
                 "src/conftest.py"):
        assert file_problems(s, path, "x = 1\n", False), path
        assert not file_problems(s, path, BASE.get(path, "") + "# note\n", True), path
    for path in (".github/workflows/ci.yml", "pkg/x.pth", "pkg-1.0.dist-info/entry_points.txt",
                 "pkg.egg-info/entry_points.txt", "pkg.egg-link", "sitecustomize.py",
                 "pkg/usercustomize.py", "pkg/__pycache__/geo.cpython-312.pyc", "pkg/geo.pyc"):
        assert file_problems(s, path, "x = 1\n", True), path
    assert file_problems(s, "pkg/geo.py", LIB.replace("w + h", "w * h"), False) == []


def test_allowed_test_edits_still_refuse_skips_and_dropped_assertions():
    s = snap()
    skip = "import pytest\n" + TEST.replace("def test_area", "@pytest.mark.skip\ndef test_area")
    assert "skips or expects failure" in file_problems(s, "tests/test_geo.py", skip, True)[0]
    weaker = TEST.replace("    assert area(2, 3) == 6\n", "    area(2, 3)\n")
    assert "fewer assertions" in file_problems(s, "tests/test_geo.py", weaker, True)[0]


def test_tamper_scan_sees_changed_lines_only():
    s = snap()
    # `import builtins` is the library's own code, untouched: not flagged
    assert file_problems(s, "pkg/geo.py", LIB.replace("w + h", "w * h"), False) == []
    assert changed_signs(s, {"pkg/geo.py": LIB.replace("w + h", "w * h")}).fatal == []
    planted = LIB.replace("    return w + h\n", "    import sys\n    sys.exit(0)\n")
    fatal = changed_signs(s, {"pkg/geo.py": planted}).fatal
    assert [(f.code, f.where) for f in fatal] == [("T110", "pkg/geo.py:6")]
    problems = verify(report([(A, "passed"), (B, "passed"), (C, "passed")], verdict="pass"),
                      BASELINE, TASK, s, {"pkg/geo.py": planted}).message
    assert "tamper evidence on a changed line: T110 pkg/geo.py:6" in problems


MAIN = 'def main():\n    return 0\n\n\nif __name__ == "__main__":\n    import sys\n' \
    '    sys.exit(main())\n'


@pytest.mark.parametrize("added, advisory", [
    (MAIN, ["T110"]),
    ("import atexit\natexit.register(print)\n", ["T112"]),
    ("import signal\nsignal.signal(signal.SIGTERM, signal.SIG_DFL)\n", ["T110"]),
    ("import sys\nsys.exit(main())\n", []),  # outside a __main__ guard: still fatal
    ("import os\nif __name__ == '__main__':\n    os._exit(0)\n", []),
])
def test_exits_in_a_main_guard_atexit_and_signal_are_advisory(added, advisory):
    new = LIB + "\n\n" + added
    got = changed_signs(snap(), {"pkg/geo.py": new})
    assert sorted({a.code for a in got.advisory}) == advisory
    assert (got.fatal == []) is bool(advisory)
    checked = report([(A, "passed"), (B, "passed"), (C, "passed")], verdict="pass")
    assert (verify(checked, BASELINE, TASK, snap(), {"pkg/geo.py": new}).verdict == "pass") \
        is bool(advisory)
    assert findings(snap(), {"pkg/geo.py": new})["advisory"] == [str(a) for a in got.advisory]


# -- verification against the baseline -------------------------------------------------
def report(cases, findings=(), verdict="fail", error=None, tamper=()):
    tc = [TestCase(id=i, outcome=o) for i, o in cases]
    counts = {k: sum(o == k for _, o in cases) for k in ("passed", "failed", "error", "skipped")}
    tests = TestReport(ok=False, passed=counts["passed"], failed=counts["failed"],
                       errors=counts["error"], skipped=counts["skipped"], cases=tc, error=error)
    lint = LintReport(ok=not findings, findings=[Finding(code=c, message="m", path=p, line=n, column=1)
                                                 for p, n, c in findings])
    return CheckReport(verdict=verdict, duration_s=0.1, lint=lint, tests=tests,
                       tamper=list(tamper))


A, B, C = "tests/test_geo.py::test_a", "tests/test_geo.py::test_b", "tests/test_geo.py::test_c"
BASELINE = report([(A, "failed"), (B, "passed"), (C, "passed")])
TASK = RepoTask(root="/repo", base_id="x", targets=[A])
FIXED = {"pkg/geo.py": LIB.replace("w + h", "w * h")}


def test_a_candidate_that_passes_every_rule_is_verified():
    got = verify(report([(A, "passed"), (B, "passed"), (C, "passed")]), BASELINE, TASK, snap(),
                 FIXED)
    assert got.verdict == "pass" and got.message == ""


@pytest.mark.parametrize("cases, needle", [
    ([(A, "failed"), (B, "passed"), (C, "passed")], f"target {A} is failed"),
    ([(A, "skipped"), (B, "passed"), (C, "passed")], f"target {A} is skipped"),
    ([(A, "passed"), (B, "failed"), (C, "passed")], f"{B} passed at baseline and is now failed"),
    ([(A, "passed"), (B, "passed")], "2 tests collected, 3 at baseline"),
    ([(A, "passed"), (B, "passed"), (C, "passed"), ("tests/test_new.py::t", "error")],
     "tests/test_new.py::t now error"),
])
def test_a_candidate_short_of_any_rule_is_not_verified(cases, needle):
    got = verify(report(cases), BASELINE, TASK, snap(), FIXED)
    assert got.verdict == "fail" and needle in got.message


def test_flaky_tests_are_neither_targets_nor_regressions():
    task = TASK.model_copy(update={"flaky": [C]})
    got = verify(report([(A, "passed"), (B, "passed"), (C, "failed")]), BASELINE, task, snap(),
                 FIXED)
    assert got.verdict == "pass"


def test_only_new_lint_findings_on_changed_lines_count():
    new = FIXED["pkg/geo.py"]
    line = new.splitlines().index("    return w * h") + 1
    old_finding = ("pkg/geo.py", 1, "F401")  # present at baseline on an unchanged line
    base = report([(A, "failed"), (B, "passed"), (C, "passed")], findings=[old_finding])
    ok = verify(report([(A, "passed"), (B, "passed"), (C, "passed")], findings=[old_finding]),
                base, TASK, snap(), FIXED)
    assert ok.verdict == "pass" and ok.lint.findings == []
    bad = verify(report([(A, "passed"), (B, "passed"), (C, "passed")],
                        findings=[old_finding, ("pkg/geo.py", line, "E711")]),
                 base, TASK, snap(), FIXED)
    assert bad.verdict == "fail" and [f.code for f in bad.lint.findings] == ["E711"]


def test_a_suite_that_cannot_start_is_a_target_satisfied_when_it_runs():
    broken = report([], error="pytest was interrupted")
    task = TASK.model_copy(update={"targets": [SUITE_TARGET]})
    assert "does not run" in verify(broken, broken, task, snap(), FIXED).message
    ran = report([("tests/test_geo.py::test_area", "passed")])
    assert verify(ran, broken, task, snap(), FIXED).verdict == "pass"
    # the pristine test files' ids are the floor: one that does not run is a regression
    for outcome in ("skipped", None):
        other = report([(B, "passed")] + ([("tests/test_geo.py::test_area", outcome)]
                                          if outcome else []))
        got = verify(other, broken, task, snap(), FIXED)
        assert got.verdict == "fail", outcome
        assert ("tests/test_geo.py::test_area (in the test files) did not run: "
                f"{outcome or 'missing'}") in got.message


def test_forged_results_caught_by_the_sandbox_are_never_verified():
    forged = report([(A, "passed"), (B, "passed"), (C, "passed")],
                    tamper=["T201 [fail] the witness saw failures the report hides"])
    assert "tamper evidence from the run" in verify(forged, BASELINE, TASK, snap(), FIXED).message


# -- baseline -------------------------------------------------------------------------
class Replay:
    """A Sandbox stand-in that returns given reports in order (and counts the checks)."""

    def __init__(self, *reports):
        self.reports = list(reports)
        self.calls = 0

    def check(self, workspace, *, timeout_s=None):
        self.calls += 1
        return self.reports.pop(0)


def test_baseline_reruns_failures_once_and_sets_flaky_tests_aside():
    first = report([(A, "failed"), (B, "failed"), (C, "passed")])
    second = report([(A, "failed"), (B, "passed"), (C, "passed")])
    sb = Replay(first, second)
    got = run_baseline(sb, snap(), 30)
    assert (got.targets, got.flaky, sb.calls) == ([A], [B], 2)


def test_a_clean_baseline_runs_once():
    sb = Replay(report([(A, "passed")], verdict="pass"))
    got = run_baseline(sb, snap(), 30)
    assert got.clean and sb.calls == 1


# -- scoped autofix, context, patch -----------------------------------------------------
def test_autofix_is_kept_only_where_the_candidate_changed():
    base = "import os\nx=1\n\n\ndef f():\n    return 1\n"
    cand = "import os\nx=1\n\n\ndef f():\n    return  2\n"
    fixed = "import os\n\nx = 1\n\n\ndef f():\n    return 2\n"
    assert scoped(base, cand, fixed) == "import os\nx=1\n\n\ndef f():\n    return 2\n"


def big_repo(n=120):
    files = dict(BASE)
    for i in range(n):
        files[f"pkg/mod{i}.py"] = "".join(f"def fn{i}_{j}(a, b=1):\n    return a + b\n\n\n"
                                          for j in range(30))
    return files


def test_the_prompt_fits_its_budget_and_puts_the_failing_code_first():
    files = big_repo()
    tb = "tests/test_geo.py:5: in test_area\n    assert area(2, 3) == 6\nE   assert 5 == 6"
    base = report([(A, "failed")]).model_copy(deep=True)
    base.tests.cases[0].id = "tests/test_geo.py::test_area"
    base.tests.cases[0].traceback = tb
    s = from_files(Path("/repo"), files, {})
    for budget in (1500, 5000):
        msgs = context.build_messages(files=files, base=files, overlay={}, report=base,
                                      targets=["tests/test_geo.py::test_area"],
                                      budget_tokens=budget, is_test=s.is_test_file)
        text = "\n".join(m["content"] for m in msgs)
        assert context.tokens(text) <= budget
        assert "    return w + h" in text  # the imported function's source
        assert "more modules not shown" in text  # the map was cut, not the whole repository
        repo_map = text.split("## Repository map")[1]
        assert repo_map.index("pkg/geo.py") < repo_map.index("pkg/mod0.py")


def git(repo, *args, stdin=None):
    return subprocess.run(["git", "-C", str(repo), *args], input=stdin, capture_output=True,
                          text=True, check=True).stdout


def test_the_patch_applies_with_git_apply(tmp_path):
    base = {"a.py": "x = 1\ny = 2\n", "noeol.py": "last = 1", "keep.py": "k = 0\n"}
    for p, t in base.items():
        (tmp_path / p).write_text(t)
    git(tmp_path, "init", "-q")
    overlay = {"a.py": "x = 1\ny = 3\n", "noeol.py": "last = 2", "new/mod.py": "n = 1\n"}
    patch = patch_text(base, overlay)
    git(tmp_path, "apply", "--check", "-", stdin=patch)
    git(tmp_path, "apply", "-", stdin=patch)
    for p, t in overlay.items():
        assert (tmp_path / p).read_text() == t
    assert (tmp_path / "keep.py").read_text() == "k = 0\n"
