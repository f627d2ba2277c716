"""Fast iterations on big suites (agent/repo/select.py, RepoKind.workspace/judge): a
candidate is first checked on the tests its change can reach, and the whole suite runs
only to verify one that passes them."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from codemend.agent.repo.kind import RepoKind
from codemend.agent.repo.select import costs, reachable, restrict, selection
from codemend.agent.repo.snapshot import from_files
from codemend.agent.repotask import SUITE_TARGET, RepoTask
from codemend.agent.state import RunState, TaskInfo
from codemend.sandbox.report import CheckReport, LintReport, TestCase, TestReport

FILES = {
    "pkg/__init__.py": "",
    "pkg/geo.py": "from pkg.units import scale\n\n\ndef area(w, h):\n    return scale(w * h)\n",
    "pkg/units.py": "def scale(x):\n    return x\n",
    "pkg/text.py": "def shout(s):\n    return s.upper()\n",
    "tests/test_geo.py": "from pkg.geo import area\n",
    "tests/test_units.py": "from pkg import units\n",
    "tests/test_text.py": "from pkg.text import shout\n",
    "tests/test_more_text.py": "from pkg.text import shout\n",
}
SIZES = {"tests/test_geo.py": 100, "tests/test_units.py": 100, "tests/test_text.py": 500,
         "tests/test_more_text.py": 500}


def report(outcomes: dict[str, str], times: dict[str, float] | None = None,
           duration_s: float = 1.0) -> CheckReport:
    cases = [TestCase(id=i, outcome=o, duration_s=(times or {}).get(i.split("::")[0], 0.0))
             for i, o in outcomes.items()]
    failed = sum(o == "failed" for o in outcomes.values())
    return CheckReport(verdict="fail" if failed else "pass", duration_s=duration_s,
                       lint=LintReport(ok=True),
                       tests=TestReport(ok=not failed, passed=len(cases) - failed,
                                        failed=failed, cases=cases))


def suite(failing: str = "", only: set[str] | None = None) -> dict[str, str]:
    out = {}
    for path, n in SIZES.items():
        if only is None or path in only:
            out.update({f"{path}::test_{k}": "passed" for k in range(n)})
    if failing:
        out[failing] = "failed"
    return out


TARGET = "tests/test_geo.py::test_0"
BASELINE = report(suite(TARGET))
SNAP = from_files(Path("/repo"), FILES, {})
FIX = {"pkg/units.py": "def scale(x):\n    return x  # fixed\n"}


def test_the_tests_a_change_can_reach_through_the_import_graph():
    near = reachable(FILES, ["pkg/units.py"])
    assert near == {"pkg/units.py": 0, "pkg/geo.py": 1, "tests/test_units.py": 1,
                    "tests/test_geo.py": 2}
    assert selection(SNAP, FIX, [TARGET], BASELINE) == ["tests/test_geo.py",
                                                         "tests/test_units.py"]
    # the text tests cannot reach pkg/units.py: not run while healing
    assert "tests/test_text.py" not in reachable(FILES, ["pkg/units.py"])


def test_the_whole_suite_when_a_quick_check_would_not_save_much():
    small = report({TARGET: "failed", "tests/test_units.py::test_0": "passed"})
    assert selection(SNAP, FIX, [TARGET], small) is None  # a small suite
    assert selection(SNAP, FIX, [SUITE_TARGET], BASELINE) is None
    assert selection(SNAP, {"tests/test_geo.py": "x = 1\n"}, [TARGET], BASELINE) is None
    text = {"pkg/text.py": "def shout(s):\n    return s.upper()  # x\n"}
    # the reachable text files are over the budget: the quick check is the target's file
    assert selection(SNAP, text, [TARGET], BASELINE) == ["tests/test_geo.py"]
    # the targets' own files are most of the suite: no quick check
    targets = ["tests/test_text.py::test_0", "tests/test_more_text.py::test_0"]
    assert selection(SNAP, text, targets, BASELINE) is None


def test_a_quick_check_within_the_budget_keeps_the_targets_files():
    many = {**FILES, **{f"tests/test_u{k}.py": "from pkg import units\n" for k in range(6)}}
    sizes = {**SIZES, **{f"tests/test_u{k}.py": 100 for k in range(6)}}
    base = report({**{f"{p}::t{k}": "passed" for p, n in sizes.items() for k in range(n)},
                   TARGET: "failed"})
    chosen = selection(from_files(Path("/repo"), many, {}), FIX, [TARGET], base)
    assert chosen is not None and "tests/test_geo.py" in chosen
    # no times: a quarter of 1,701 cases, the target's file of 101 included, leaves room
    # for 3 of the 7 files of 100 that reach it
    assert len(chosen) == 4


def timed(sizes: dict[str, tuple[int, float]], failing: str = TARGET, overhead: float = 0.0,
          ) -> CheckReport:
    """A baseline whose files have (cases, seconds per case), taking ``overhead`` seconds
    more than its cases' times add up to."""
    outcomes = {f"{p}::t{k}": "passed" for p, (n, _) in sizes.items() for k in range(n)}
    times = {p: t for p, (_, t) in sizes.items()}
    total = sum(n * t for n, t in sizes.values()) + overhead
    return report({**outcomes, failing: "failed"}, times, total)


UNITS = {**FILES, "tests/test_fast.py": "from pkg.units import scale\n"}


def test_the_budget_is_a_share_of_the_suites_time_not_of_its_cases():
    base = timed({"tests/test_geo.py": (100, 0.01), "tests/test_units.py": (50, 2.0),
                  "tests/test_fast.py": (450, 0.01), "tests/test_text.py": (500, 0.3),
                  "tests/test_more_text.py": (500, 0.3)})
    # a quarter of 405.5 s: the target's file (1 s) and the 450 fast cases (4.5 s), not the
    # 50 slow ones (100 s), though they are far fewer cases
    assert selection(from_files(Path("/repo"), UNITS, {}), FIX, [TARGET], base) == [
        "tests/test_fast.py", "tests/test_geo.py"]


def test_nearest_first_then_cheapest_first_within_a_distance():
    files = {**FILES, "tests/test_a.py": "from pkg.units import scale\n",
             "tests/test_b.py": "from pkg.units import scale\n",
             "tests/test_far.py": "from pkg.geo import area\n"}
    sizes = {"tests/test_geo.py": (100, 0.01), "tests/test_a.py": (100, 0.31),
             "tests/test_b.py": (100, 0.2), "tests/test_far.py": (100, 0.05),
             "tests/test_text.py": (500, 0.3)}
    base = timed(sizes)  # 207 s; a quarter: 51.75 s
    snap = from_files(Path("/repo"), files, {})
    # distance 1: b (20 s) before a (31 s), which no longer fits; distance 2: far (5 s)
    assert selection(snap, FIX, [TARGET], base) == [
        "tests/test_b.py", "tests/test_far.py", "tests/test_geo.py"]
    # with room for everything near, the farther file still comes last
    roomy = timed({**sizes, "tests/test_text.py": (500, 1.0)})
    assert selection(snap, FIX, [TARGET], roomy) == [
        "tests/test_a.py", "tests/test_b.py", "tests/test_far.py", "tests/test_geo.py"]


def test_a_files_cost_carries_its_share_of_the_untimed_start_up_and_collection():
    # 20 s of cases in a 100 s check: the 80 s left are spread over the 1,000 cases, so the
    # 900 instant cases of a data file cost 72 s and the 100 slow ones 28 s
    base = timed({"tests/test_data.py": (900, 0.0), "tests/test_geo.py": (100, 0.2)},
                 failing="tests/test_geo.py::t0", overhead=80.0)
    cost = costs(base)
    assert round(cost["tests/test_data.py"], 6) == 72.0
    assert round(sum(cost.values()), 6) == round(base.duration_s, 6)
    # no durations at all (an old report): cases are counted
    flat = report(suite(TARGET), duration_s=0.0)
    assert costs(flat)["tests/test_text.py"] == 500


class Sandbox:
    def __init__(self, outcomes):
        self.outcomes, self.seen = outcomes, []

    def check(self, workspace, timeout_s):
        self.seen.append(list(workspace.select))
        only = set(workspace.select) or None
        return report({i: o for i, o in self.outcomes.items()
                       if only is None or i.split("::")[0] in only})


def run(sandbox_outcomes):
    task = RepoTask(root="/repo", base_id="b", targets=[TARGET])
    info = TaskInfo(name="r", prompt="", solution_files=[], tests={}, kind="repo", repo=task)
    state = RunState(run_id="r1", task=info, model="m", files=FIX)
    bases = SimpleNamespace(snapshot=lambda _: SNAP, baseline=lambda _: BASELINE)
    sandbox = Sandbox(sandbox_outcomes)
    deps = SimpleNamespace(repo_bases=bases, sandbox=sandbox)
    kind = RepoKind()
    ws = kind.workspace(state, deps)
    judged = kind.judge(state, deps, sandbox.check(ws, 10))
    return judged, sandbox.seen


def test_a_passing_quick_check_is_verified_on_the_whole_suite():
    judged, seen = run(suite())
    # the quick check, the whole suite (then diff coverage's own run of the whole suite)
    assert seen[:2] == [["tests/test_geo.py", "tests/test_units.py"], []]
    assert judged.verdict == "pass" and judged.tests.passed == sum(SIZES.values())


def test_a_failing_quick_check_ends_there_and_says_so():
    judged, seen = run(suite(TARGET))
    assert seen == [["tests/test_geo.py", "tests/test_units.py"]]
    assert judged.verdict == "fail" and "quick check of the 2 test file(s)" in judged.message


def test_no_quick_check_when_a_targets_file_is_not_a_test_module():
    # JUnit names the file of a decorator that wraps a test: not a path to run the test by
    decorated = "pkg/geo.py::test_wrapped"
    base = report({**suite(), decorated: "failed"})
    assert selection(SNAP, FIX, [decorated], base) is None
    assert selection(SNAP, FIX, [TARGET, decorated], base) is None


def test_a_regression_outside_the_quick_check_is_caught_by_the_whole_suite():
    judged, seen = run(suite("tests/test_text.py::test_3"))
    assert seen[1] == [] and judged.verdict == "fail"
    assert "tests/test_text.py::test_3" in judged.message


def test_a_failure_only_a_part_of_the_suite_has_is_judged_on_the_whole_suite():
    """A test passing in the whole suite fails when only a part of it runs (structlog: a
    module-level side effect of a test module the quick check left out): the candidate
    whose targets pass is verified on the whole suite, not refused."""
    only_in_part = "tests/test_units.py::test_5"

    class PartSandbox(Sandbox):
        def check(self, workspace, timeout_s):
            got = super().check(workspace, timeout_s)
            if not workspace.select:
                return got
            return report({c.id: "failed" if c.id == only_in_part else c.outcome
                           for c in got.tests.cases})

    task = RepoTask(root="/repo", base_id="b", targets=[TARGET])
    info = TaskInfo(name="r", prompt="", solution_files=[], tests={}, kind="repo", repo=task)
    state = RunState(run_id="r1", task=info, model="m", files=FIX)
    bases = SimpleNamespace(snapshot=lambda _: SNAP, baseline=lambda _: BASELINE)
    sandbox = PartSandbox(suite())
    deps = SimpleNamespace(repo_bases=bases, sandbox=sandbox)
    kind = RepoKind()
    judged = kind.judge(state, deps, sandbox.check(kind.workspace(state, deps), 10))
    assert sandbox.seen[:2] == [["tests/test_geo.py", "tests/test_units.py"], []]
    assert judged.verdict == "pass", judged.message


def test_restrict_keeps_the_chosen_files_cases():
    cut = restrict(BASELINE, ["tests/test_units.py"])
    assert {c.id.split("::")[0] for c in cut.tests.cases} == {"tests/test_units.py"}
