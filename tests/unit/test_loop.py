"""The loop's decisions with a fake sandbox and the scripted model, on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from codemend.agent.graph import build_graph
from codemend.agent.models.scripted import ScriptedModel
from codemend.agent.nodes import Deps
from codemend.agent.prompts import fixer_messages, generator_messages
from codemend.agent.routing import better, route_after_check, stuck_reason
from codemend.agent.runs import RunStore
from codemend.agent.state import Attempt, RunState, TaskInfo
from codemend.sandbox.base import FixResult
from codemend.sandbox.report import CheckReport, Finding, LintReport, TestCase, TestReport
from codemend.sandbox.workspace import Workspace

SNAPSHOT = Path(__file__).parent / "snapshots" / "graph.mmd"
TASK = TaskInfo(name="add", prompt="Write add(a, b).", solution_files=["sol.py"],
                tests={"tests/test_sol.py": "from sol import add\n\ndef test_add():\n"
                       "    assert add(1, 2) == 3\n"},
                hidden_tests={"hidden/test_secret.py": "SECRET_HIDDEN_MARKER = 1\n"})


def code(body: str) -> str:
    return f"```python\n{body}\n```"


def report(passed: int, failed: int, *, lint: list[Finding] | None = None,
           ids: tuple[str, ...] = ()) -> CheckReport:
    cases = [TestCase(id=i, outcome="passed") for i in ids[:passed]]
    cases += [TestCase(id=f"tests/test_sol.py::test_{k}", outcome="failed",
                       message=f"AssertionError: case {k}", traceback=f"TB-LINE-{k}")
              for k in range(failed)]
    lint = lint or []
    ok = failed == 0
    return CheckReport(verdict="pass" if ok and not lint else "fail", duration_s=0.1,
                       lint=LintReport(ok=not lint, findings=lint),
                       tests=TestReport(ok=ok, passed=passed, failed=failed, cases=cases))


class FakeSandbox:
    """Returns the report mapped to the solution's code (a dict lookup), records calls."""

    def __init__(self, by_code: dict[str, CheckReport], fixed: dict[str, str] | None = None):
        self.by_code, self.fixed, self.calls = by_code, fixed or {}, []

    def check(self, workspace: Workspace, *, timeout_s: float | None = None) -> CheckReport:
        self.calls.append(workspace)
        return self.by_code[workspace.files["sol.py"].strip()]

    def autofix(self, workspace: Workspace) -> FixResult:
        src = workspace.files["sol.py"].strip()
        return FixResult(files={"sol.py": self.fixed.get(src, src) + "\n"})

    def close(self) -> None:
        pass


def run(tmp_path, replies, sandbox, max_iterations=6):
    store = RunStore(tmp_path / "state")
    deps = Deps(model=ScriptedModel.from_replies(replies), sandbox=sandbox)
    store.register("r", "add", "scripted", str(tmp_path / "out"))
    return store, deps, store.start("r", TASK, "scripted", max_iterations, deps)


def test_graph_shape_snapshot():
    assert build_graph().get_graph().draw_mermaid() == SNAPSHOT.read_text()


def test_autofix_runs_without_a_model_call(tmp_path):
    unused = Finding(code="F401", message="unused", path="sol.py", line=1, column=1,
                     fixable=True)
    sb = FakeSandbox({"import os\nA": report(1, 0, lint=[unused]), "A": report(1, 0)},
                     fixed={"import os\nA": "A"})
    store, deps, out = run(tmp_path, [code("import os\nA")], sb)
    assert out.status == "solved"
    assert [(a.node, a.verdict) for a in out.state.attempts] == [("generate", "fail"),
                                                                  ("autofix", "pass")]
    assert out.state.model_calls == 1
    # hidden tests ran after the visible pass, in their own check
    assert "hidden/test_secret.py" in sb.calls[-1].tests
    store.close()


def test_same_failure_three_times_escalates_early(tmp_path):
    sb = FakeSandbox({"A": report(0, 1), "B": report(0, 1), "C": report(0, 1)})
    store, deps, out = run(tmp_path, [code("A"), code("B"), code("C"), code("D")], sb,
                           max_iterations=10)
    assert out.status == "escalated" and "same failure" in out.reason
    assert out.state.iteration == 3
    store.close()


def test_identical_code_escalates_early(tmp_path):
    sb = FakeSandbox({"A": report(0, 1), "B": report(1, 2, ids=("x",))})
    store, deps, out = run(tmp_path, [code("A"), code("B"), code("A")], sb, max_iterations=10)
    assert out.status == "escalated" and "attempt 1 again" in out.reason
    store.close()


def test_regression_is_not_kept_as_best_and_best_is_written(tmp_path):
    good = report(2, 1, ids=("t::a", "t::b"))
    worse = report(2, 1, ids=("t::a", "t::c"))  # t::b regressed
    sb = FakeSandbox({"A": good, "B": worse})
    store, deps, out = run(tmp_path, [code("A"), code("B")], sb, max_iterations=2)
    assert out.status == "escalated"
    assert out.state.best == 0 and out.final.files["sol.py"].strip() == "A"
    # resume with a decision: accept takes the best attempt; unsolved, so "failed"
    done = store.resume("r", deps, {"action": "accept"})
    assert done.status == "failed" and done.state.accepted
    store.close()


def test_resume_hint_and_more(tmp_path):
    sb = FakeSandbox({"A": report(0, 1), "B": report(1, 0, ids=("t",))})
    store, deps, out = run(tmp_path, [code("A"), code("B")], sb, max_iterations=1)
    assert out.status == "escalated" and "limit" in out.reason
    seen = []
    real = deps.model.complete
    deps.model.complete = lambda m, call_index=0: (seen.append(m), real(m, call_index=call_index))[1]
    done = store.resume("r", deps, {"action": "hint", "hint": "PLEASE-USE-PLUS"})
    assert done.status == "solved" and done.state.max_iterations == 3
    assert "PLEASE-USE-PLUS" in seen[0][-1]["content"]
    store.close()


def test_hidden_failure_is_not_solved(tmp_path):
    class HiddenFails(FakeSandbox):
        def check(self, workspace, *, timeout_s=None):
            if "hidden/test_secret.py" in workspace.tests:
                return report(1, 1)
            return super().check(workspace, timeout_s=timeout_s)

    store, deps, out = run(tmp_path, [code("A")], HiddenFails({"A": report(1, 0, ids=("t",))}))
    assert out.status == "escalated" and "hidden" in out.reason
    assert out.state.hidden is not None and out.state.hidden.verdict == "fail"
    store.close()


def test_prompts_carry_failures_but_never_hidden_tests():
    r = report(1, 1, ids=("tests/test_sol.py::test_ok",), lint=[
        Finding(code="F821", message="undefined name `x`", path="sol.py", line=2, column=5)])
    msgs = generator_messages(TASK) + fixer_messages(TASK, {"sol.py": "def f():\n    x\n"}, r,
                                                     hint="a hint")
    text = "\n".join(m["content"] for m in msgs)
    fixer = msgs[-1]["content"]
    assert "tests/test_sol.py::test_0" in fixer and "TB-LINE-0" in fixer
    assert "AssertionError: case 0" in fixer and "1 passed, 1 failed" in fixer
    assert "F821" in fixer and "   2 |     x" in fixer and "a hint" in fixer
    assert "SECRET_HIDDEN_MARKER" not in text and "hidden/" not in text
    assert "assert add(1, 2) == 3" in msgs[1]["content"]  # visible tests go to the generator


def test_long_tracebacks_are_trimmed_with_a_count():
    r = report(0, 1)
    r.tests.cases[0].traceback = "HEAD\n" + "x" * 10_000 + "\nTAIL"
    fixer = fixer_messages(TASK, {"sol.py": "A"}, r)[-1]["content"]
    assert "HEAD" in fixer and "TAIL" in fixer and "characters cut" in fixer
    assert len(fixer) < 5000


def _attempt(n, node="fix", verdict="fail", passed=0, sig="s", files=None, ids=()):
    rep = report(passed, 1, ids=ids) if verdict != "pass" else report(passed, 0, ids=ids)
    return Attempt(n=n, node=node, files=files or {"sol.py": str(n)}, verdict=verdict,
                   passed=passed, signature=sig, report=rep)


def test_better_prefers_pass_and_more_passing_without_regressions():
    a = _attempt(1, passed=1, ids=("x",))
    assert better(_attempt(2, passed=2, ids=("x", "y")), a)
    assert not better(_attempt(2, passed=2, ids=("y", "z")), a)
    assert better(_attempt(2, verdict="pass", passed=1, ids=("z",)), a)
    assert not better(_attempt(2, verdict="format_error"), None)


def test_stuck_reason_and_routing():
    assert stuck_reason([_attempt(1), _attempt(2)]) is None
    assert "same failure" in stuck_reason([_attempt(1), _attempt(2), _attempt(3)])
    state = RunState(run_id="r", task=TASK, model="m", max_iterations=2, iteration=2,
                     attempts=[_attempt(1, sig="a"), _attempt(2, sig="b")])
    assert route_after_check(state) == "escalate"
    state.iteration = 1
    assert route_after_check(state) == "fix"


@pytest.mark.parametrize("bad", [{"action": "explode"}, "more"])
def test_unknown_resume_decision_is_refused(tmp_path, bad):
    sb = FakeSandbox({"A": report(0, 1)})
    store, deps, out = run(tmp_path, [code("A")], sb, max_iterations=1)
    with pytest.raises(ValueError, match="unknown resume decision"):
        store.resume("r", deps, bad)
    store.close()
