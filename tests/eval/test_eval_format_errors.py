"""An eval counts the replies whose edits could not be used: ``format_errors`` per run in
results.jsonl and ``format_errors_per_call`` in summary.json."""

from __future__ import annotations

from codemend.agent.eval.job import record
from codemend.agent.eval.jobspec import Job
from codemend.agent.eval.results import summarize
from codemend.agent.eval.suite import EvalTask
from codemend.agent.runs import Outcome
from codemend.agent.state import Attempt, RunState, TaskInfo

TASK = TaskInfo(name="add", prompt="Write add(a, b).", solution_files=["sol.py"],
                tests={"tests/test_sol.py": "def test_add():\n    assert True\n"})


def run_record(verdicts: list[str], sample: int = 0) -> dict:
    attempts = [Attempt(n=k, node="generate" if k == 1 else "fix", files={}, verdict=v)
                for k, v in enumerate(verdicts, 1)]
    state = RunState(run_id=f"add.s{sample}", task=TASK, model="m", iteration=len(verdicts),
                     model_calls=len(verdicts), attempts=attempts)
    solved = verdicts[-1] == "pass"
    out = Outcome(run_id=state.run_id, status="solved" if solved else "failed", state=state)
    return record(Job(EvalTask(id="add", info=TASK, max_iterations=4), sample), out,
                  started_at=0.0, wall_s=1.0)


def test_format_errors_are_counted_per_run_and_per_model_call():
    first = run_record(["format_error", "format_error", "fail", "pass"])
    second = run_record(["fail", "format_error"], sample=1)
    assert (first["format_errors"], second["format_errors"]) == (2, 1)
    assert first["checks"] == 2  # an unusable reply is never checked
    s = summarize([first, second], samples=2, max_iterations=4)
    assert s["format_errors"] == 3 and s["model_calls"] == 6
    assert s["format_errors_per_call"] == 3 / 6


def test_no_calls_no_rate_and_older_lines_count_zero():
    line = run_record(["pass"])
    del line["format_errors"]  # a results.jsonl written before the counter existed
    s = summarize([line], samples=1, max_iterations=4)
    assert (s["format_errors"], s["format_errors_per_call"]) == (0, 0.0)
    assert summarize([], samples=1, max_iterations=4)["format_errors_per_call"] is None
