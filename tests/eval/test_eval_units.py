"""The pure parts of eval: the pass@k estimator, the summary figures, the results file
(torn last line, no duplicates), HumanEval's docstring examples and suite loading."""

from __future__ import annotations

import io
import json
import math
import time
from itertools import combinations
from pathlib import Path

import pytest
from codemend.agent.eval import humaneval
from codemend.agent.eval.results import ResultsFile, busy_seconds, pass_at_k, summarize
from codemend.agent.eval.suite import load_suite
from codemend.sandbox.errors import BadInput

EXAMPLES = Path(__file__).resolve().parents[2] / "tasks" / "examples"


@pytest.mark.parametrize(("n", "c"), [(5, 0), (5, 1), (5, 3), (6, 6), (7, 2)])
def test_pass_at_k_is_the_chance_that_k_draws_hold_a_pass(n, c):
    """The unbiased estimator equals the exact share of k-subsets with at least one pass."""
    outcomes = [True] * c + [False] * (n - c)
    for k in range(1, n + 1):
        subsets = list(combinations(outcomes, k))
        exact = sum(any(s) for s in subsets) / len(subsets)
        assert math.isclose(pass_at_k(n, c, k), exact)


def rec(task, sample, *, first, healed, iterations, tokens=10, checks=2, status=None,
        started=0.0, wall=1.0):
    return {"id": f"{task}#{sample}", "task": task, "sample": sample, "pass_first": first,
            "pass_healed": healed, "iterations": iterations, "tokens": tokens,
            "checks": checks, "model_calls": iterations, "max_iterations": 4,
            "status": status or ("solved" if healed else "escalated"),
            "started": started, "wall_s": wall}


def test_summary_figures():
    records = [rec("a", 0, first=True, healed=True, iterations=1, started=0, wall=2),
               rec("a", 1, first=False, healed=True, iterations=3, started=1, wall=2),
               rec("b", 0, first=False, healed=False, iterations=4, started=10, wall=1),
               rec("b", 1, first=False, healed=True, iterations=2, started=10, wall=1)]
    s = summarize(records, samples=2, max_iterations=4)
    assert (s["tasks"], s["jobs"], s["samples"]) == (2, 4, 2)
    assert s["pass_first"] == 1 / 4 and s["pass_healed"] == 3 / 4
    assert s["mean_iterations"] == 10 / 4 and s["p95_iterations"] == 4
    assert s["tokens_per_solved"] == 40 / 3
    assert s["busy_s"] == 4.0 and s["checks_per_s"] == 8 / 4.0  # [0,3] and [10,11]
    # pass@2: task a has 2 passes of 2 -> 1; task b 1 of 2 -> 1; first try: a 1/2 -> 1, b 0
    assert s["pass_at_k"] == {"1": 3 / 4, "2": 1.0}
    assert s["pass_at_k_first"] == {"1": 1 / 4, "2": 0.5}
    assert [p["pass_rate"] for p in s["healing"]] == [1 / 4, 2 / 4, 3 / 4, 3 / 4]
    assert (s["solved"], s["escalated"], s["failed"]) == (3, 1, 0)
    assert summarize(records[:1], samples=1, max_iterations=4)["pass_at_k"] is None


def test_busy_seconds_merges_overlaps():
    spans = [{"started": a, "wall_s": w} for a, w in [(0, 5), (1, 1), (4, 3), (20, 1)]]
    assert busy_seconds(spans) == 8.0


def test_results_file_drops_a_torn_line_and_refuses_duplicates(tmp_path):
    path = tmp_path / "results.jsonl"
    good = json.dumps({"id": "t#0", "x": 1})
    path.write_text(good + "\n" + '{"id": "t#1", "x"')  # killed mid-write
    results = ResultsFile(path)
    assert list(results.records) == ["t#0"]
    assert results.append({"id": "t#1", "x": 2}) is True
    assert results.append({"id": "t#0", "x": 3}) is False
    results.close()
    lines = path.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["t#0", "t#1"]


def test_humaneval_examples_are_literal_asserts():
    problems = humaneval.load_problems()
    assert len(problems) == 164
    # a doctest whose expected value runs into the closing quotes of the docstring
    assert list(humaneval.examples_of(problems["HumanEval/2"])) == [("truncate_number(3.5)", 0.5)]
    # inline arrows and words: f(x) ➞ y, f(x) => true
    assert ("will_it_fly([3, 2, 3], 9)", True) in humaneval.examples_of(problems["HumanEval/72"])
    assert ("is_simple_power(1, 4)", True) in humaneval.examples_of(problems["HumanEval/76"])
    # a call with a non-literal argument is no example
    assert not any("is_happy(a)" in c for c, _ in humaneval.examples_of(problems["HumanEval/80"]))
    # a docstring example the canonical solution contradicts is left out
    assert not any("1000" in c for c, _ in humaneval.examples_of(problems["HumanEval/47"]))
    info = humaneval.task_info(problems["HumanEval/2"])
    assert "pytest.approx(0.5)" in info.tests[humaneval.VISIBLE]
    assert "def check(candidate)" in info.hidden_tests[humaneval.HIDDEN]
    assert "check" not in info.tests[humaneval.VISIBLE]
    with_examples = sum(bool(list(humaneval.examples_of(p))) for p in problems.values())
    assert with_examples >= 130


def test_suite_loading_and_its_bad_input(tmp_path):
    suite = load_suite(str(EXAMPLES), "scripted", only=["safe_stats", "slugify"])
    assert [t.id for t in suite.tasks] == ["safe_stats", "slugify"]
    assert all(t.replies for t in suite.tasks)
    with pytest.raises(BadInput, match="no replies.toml"):
        load_suite(str(EXAMPLES), "scripted", only=["iso_week"])
    with pytest.raises(BadInput, match="no such folder"):
        load_suite(str(tmp_path / "nope"), "scripted")
    with pytest.raises(BadInput, match="humaneval has no replies"):
        load_suite("humaneval", "scripted")
    with pytest.raises(BadInput, match="no task '999'"):
        load_suite("humaneval", "ollama:x", only=["999"])
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps({"HumanEval/0": ["a"], "HumanEval/0#1": ["b"]}))
    task = load_suite("humaneval", f"scripted:{mapping}", only=["0"]).tasks[0]
    assert (task.replies_for(0), task.replies_for(1), task.replies_for(2)) == (("a",), ("b",),
                                                                               ("a",))
    with pytest.raises(BadInput, match="no entry for task 'HumanEval/1'"):
        load_suite("humaneval", f"scripted:{mapping}", only=["1"])
    repos = tmp_path / "repos"
    (repos / "r1" / ".git").mkdir(parents=True)
    with pytest.raises(BadInput, match="a repository suite has no replies of its own"):
        load_suite(str(repos), "scripted")
    suite = load_suite(str(repos), "ollama:m")
    assert suite.kind == "repos" and suite.tasks[0].repo == str(repos / "r1")


def test_clean_jobs_count_apart_from_the_rates():
    """A repository with no bug at baseline is neither a pass nor a miss: every rate and
    iteration figure is over the other jobs, and the four outcomes add up to the jobs."""
    clean = {**rec("c", 0, first=False, healed=False, iterations=0, checks=0),
             "status": "clean"}
    records = [rec("a", 0, first=True, healed=True, iterations=1),
               rec("a", 1, first=False, healed=True, iterations=3),
               rec("b", 0, first=False, healed=False, iterations=4),
               rec("b", 1, first=False, healed=False, iterations=2, status="failed"),
               clean, {**clean, "id": "c#1", "sample": 1}]
    s = summarize(records, samples=2, max_iterations=4)
    assert (s["jobs"], s["scored"], s["clean"], s["tasks"]) == (6, 4, 2, 3)
    assert s["solved"] + s["escalated"] + s["failed"] + s["clean"] == s["jobs"]
    assert (s["solved"], s["escalated"], s["failed"]) == (2, 1, 1)
    assert s["pass_first"] == 1 / 4 and s["pass_healed"] == 2 / 4
    assert s["mean_iterations"] == 10 / 4
    assert [p["pass_rate"] for p in s["healing"]] == [1 / 4, 1 / 4, 2 / 4, 2 / 4]
    assert s["pass_at_k"] == {"1": (1 + 0) / 2, "2": (1 + 0) / 2}  # tasks a and b only
    # a task with one clean sample of two has no pass@2 (it is not "1.0", as the
    # estimator would say of 0 passes in 1 sample)
    mixed = [*records[:4], clean, {**rec("c", 1, first=False, healed=False, iterations=4)}]
    assert summarize(mixed, samples=2, max_iterations=4)["pass_at_k"] == {
        "1": (1 + 0 + 0) / 3, "2": (1 + 0) / 2}
    only_clean = summarize([clean], samples=1, max_iterations=4)
    assert (only_clean["pass_healed"], only_clean["mean_iterations"]) == (None, None)
    from codemend.agent.eval.report import markdown

    report = markdown({"suite": "s", "model": "m"}, s, records, None)
    assert "| clean (every test passes at baseline) | 2 |" in report
    assert "| solved / escalated / failed | 2 / 1 / 1 |" in report


class Sandbox:
    """Passes a solution that returns 3; after ``down_after`` checks Docker is "gone"."""

    def __init__(self, down_after: int | None = None) -> None:
        self.down_after, self.checked_at = down_after, []

    def check(self, workspace, *, timeout_s=None):
        from codemend.sandbox.errors import InfraError
        from codemend.sandbox.report import CheckReport, LintReport, TestReport

        if self.down_after is not None and len(self.checked_at) >= self.down_after:
            raise InfraError("the Docker daemon is gone")
        self.checked_at.append(time.time())
        ok = "return 3" in workspace.files["sol.py"]
        return CheckReport(verdict="pass" if ok else "fail", duration_s=0.1,
                           lint=LintReport(ok=True, findings=[]),
                           tests=TestReport(ok=ok, passed=int(ok), failed=int(not ok)))

    def autofix(self, workspace):
        from codemend.sandbox.base import FixResult

        return FixResult(files=dict(workspace.files))

    def close(self):
        pass


def spec_task(tid: str, replies: list[str]):
    from codemend.agent.eval.suite import EvalTask
    from codemend.agent.state import TaskInfo

    info = TaskInfo(name=tid, prompt="Write add(a, b).", solution_files=["sol.py"],
                    tests={"tests/test_sol.py": "def test_add():\n    pass\n"})
    return EvalTask(tid, info, 4, tuple(replies))


GOOD = "```python\ndef add(a, b):\n    return 3\n```"
BAD = "```python\ndef add(a, b):\n    return 0\n```"


def test_task_ids_that_differ_only_in_unsafe_characters_are_two_runs(tmp_path):
    """Repository folders "a b" and "a-b": before, both were run a-b.s0, and the second job
    read the first one's outcome as its own."""
    from codemend.agent.eval.job import run_job
    from codemend.agent.eval.jobspec import Job, ModelSpec
    from codemend.agent.runs import RunStore

    spaced, dashed = Job(spec_task("a b", [GOOD]), 0), Job(spec_task("a-b", [BAD, BAD]), 0)
    assert spaced.run_id != dashed.run_id
    assert dashed.run_id == "a-b.s0"  # an id that is already safe keeps its run id
    with RunStore(tmp_path / "state") as store:
        first = run_job(spaced, store, Sandbox(), ModelSpec("scripted"))
        second = run_job(dashed, store, Sandbox(), ModelSpec("scripted"))
        assert (first["task"], first["status"]) == ("a b", "solved")
        assert (second["task"], second["status"]) == ("a-b", "escalated")
        assert store.meta(dashed.run_id)["task"] == "a-b"


def test_a_resumed_run_counts_the_time_of_its_checks_before_the_kill(tmp_path, monkeypatch):
    """Docker goes away after the first check: the job stops, resumable. The resumed job's
    record counts both checks, so its busy time must cover the first one too, and all of the
    resumed driver's wall time (the model is slow to build here, as on a loaded machine:
    the driver's span once began after it, and busy time fell short of wall time)."""
    from codemend.agent.eval.job import run_job
    from codemend.agent.eval.jobspec import Job, ModelSpec
    from codemend.agent.runs import RunStore
    from codemend.sandbox.errors import InfraError

    build = ModelSpec.build

    def slow_build(self, *args):
        time.sleep(0.2)
        return build(self, *args)

    monkeypatch.setattr(ModelSpec, "build", slow_build)

    job = Job(spec_task("add", [BAD, GOOD]), 0)
    down = Sandbox(down_after=1)
    with RunStore(tmp_path / "state") as store:
        with pytest.raises(InfraError):
            run_job(job, store, down, ModelSpec("scripted"))
    resumed_at = time.time()
    with RunStore(tmp_path / "state") as store:
        rec = run_job(job, store, Sandbox(), ModelSpec("scripted"))
    assert (rec["status"], rec["checks"], rec["iterations"]) == ("solved", 2, 2)
    (first_check,) = down.checked_at
    assert first_check < resumed_at <= rec["started"]
    assert any(a <= first_check <= b for a, b in rec["spans"]), rec["spans"]
    assert rec["busy_s"] >= rec["wall_s"] + (first_check - rec["spans"][0][0]) - 0.01
    s = summarize([rec], samples=1, max_iterations=4)
    assert s["busy_s"] >= rec["busy_s"] - 0.01 and s["busy_s"] > rec["wall_s"]


def test_ctrl_c_stops_new_jobs_and_writes_the_ones_in_flight(tmp_path):
    """The first Ctrl-C stops the executor and keeps reading: the runs in flight finish and
    are written (on Ray their run stores are temporary: unwritten, they would be lost)."""
    from codemend.agent.eval import command
    from codemend.agent.eval.jobspec import Job
    from codemend.agent.eval.results import ResultsFile
    from rich.console import Console

    jobs = [Job(spec_task(t, [GOOD]), 0) for t in ("a", "b", "c")]
    line = lambda job: {"id": job.id, "pass_healed": True}  # noqa: E731

    class Executor:
        stopped = False

        def run(self, todo):
            yield todo[0], line(todo[0])
            raise KeyboardInterrupt  # the person presses Ctrl-C while b runs

        def finished(self):
            assert self.stopped, "stop() comes before the runs in flight are read"
            yield jobs[1], line(jobs[1])

        def stop(self):
            self.stopped = True

    results = ResultsFile(tmp_path / "results.jsonl")
    with pytest.raises(KeyboardInterrupt):
        command._drive(Executor(), jobs, jobs, results, Console(file=io.StringIO()))
    results.close()
    again = ResultsFile(tmp_path / "results.jsonl")
    again.close()
    assert list(again.records) == ["a#0", "b#0"]
