"""loop: the agent loop's own cost per iteration (graph, checkpointing, state) and whether
its memory grows over many iterations. Keys: iterations, overhead_ms_per_iter, rss_growth_mb.

Scripted model, a stub sandbox (no Docker: it answers from a table in microseconds) and real
SQLite checkpointing in a temporary state dir. 10,000 iterations are driven as 1,000 runs of
10 model iterations each (a real run is capped at a handful of iterations); each iteration
is a fix node and a check node, both checkpointed. Time spent inside the stub sandbox and
the scripted model is measured and subtracted, so the figure is the loop's own overhead.
A single long run is measured too, to show how the cost grows with a run's history: its
time and database bytes per iteration against the short runs'. The same short runs are
driven once more on LangGraph's stock SqliteSaver, side by side, for the database's size.
"""

from __future__ import annotations

import gc
import os
import tempfile
import time
from pathlib import Path

from codemend.agent.models.scripted import ScriptedModel
from codemend.agent.nodes import Deps
from codemend.agent.runs import RunStore
from codemend.agent.state import TaskInfo
from codemend.sandbox.base import FixResult
from codemend.sandbox.report import CheckReport, LintReport, TestCase, TestReport
from codemend.sandbox.workspace import Workspace

from bench.common import say, table

TASK = TaskInfo(name="bench", prompt="Write f().", solution_files=["sol.py"],
                tests={"tests/test_sol.py": "from sol import f\n\n\ndef test_f():\n"
                       "    assert f() == 1\n"})
PER_RUN = 10


def _report(k: int, passed: bool) -> CheckReport:
    case = TestCase(id=f"tests/test_sol.py::test_{k}", outcome="passed" if passed else "failed",
                    message="" if passed else f"AssertionError: attempt {k}",
                    traceback="" if passed else f"tests/test_sol.py:5: in test_f\nE  {k}")
    return CheckReport(verdict="pass" if passed else "fail", duration_s=0.0,
                       lint=LintReport(ok=True),
                       tests=TestReport(ok=passed, passed=int(passed), failed=int(not passed),
                                        cases=[case]))


class StubSandbox:
    """Passes the code ``x = PER_RUN``; any other attempt fails with its own message."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.reports = {k: _report(k, k == PER_RUN) for k in range(1, PER_RUN + 1)}

    def check(self, workspace: Workspace, *, timeout_s: float | None = None) -> CheckReport:
        t = time.perf_counter()
        k = int(workspace.files["sol.py"].splitlines()[0].split("=")[1])
        report = self.reports[k]
        self.seconds += time.perf_counter() - t
        return report

    def autofix(self, workspace: Workspace) -> FixResult:
        return FixResult(files=dict(workspace.files))

    def close(self) -> None:
        pass


class TimedModel(ScriptedModel):
    seconds = 0.0

    def complete(self, messages, *, call_index=0):
        t = time.perf_counter()
        try:
            return super().complete(messages, call_index=call_index)
        finally:
            TimedModel.seconds += time.perf_counter() - t


REPLIES = [f"```python\nx = {k}\n```" for k in range(1, PER_RUN + 1)]


def _rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _db_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("runs.sqlite*"))


def _checkpointed(store: RunStore) -> int:
    """Bytes of the run database (the WAL folded in first)."""
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return _db_bytes(store.path.parent)


def _stock_bytes(sandbox: StubSandbox, runs: int) -> int:
    """The same short runs on LangGraph's own SqliteSaver (what codemend used before)."""
    from codemend.agent.graph import build_graph
    from codemend.agent.runs import CHECKPOINT_TYPES
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
    from langgraph.checkpoint.sqlite import SqliteSaver

    with tempfile.TemporaryDirectory(prefix="codemend-bench-") as tmp, RunStore(Path(tmp)) as st:
        st.saver = SqliteSaver(st.conn, serde=JsonPlusSerializer(
            allowed_msgpack_modules=CHECKPOINT_TYPES))
        st.graph = build_graph(st.saver)
        _drive(st, sandbox, runs, PER_RUN, "stock")
        return _checkpointed(st)


def _drive(store: RunStore, sandbox: StubSandbox, runs: int, per_run: int, tag: str
           ) -> tuple[int, float]:
    """Run ``runs`` runs of ``per_run`` iterations; return (iterations, overhead seconds)."""
    TimedModel.seconds, sandbox.seconds = 0.0, 0.0
    replies = REPLIES if per_run == PER_RUN else [
        f"```python\nx = {1 + k % (PER_RUN - 1)}\n# {k}\n```" for k in range(per_run)]
    iterations = 0
    started = time.perf_counter()
    for i in range(runs):
        run_id = f"{tag}-{i}"
        store.register(run_id, "bench", "scripted", "")
        deps = Deps(model=TimedModel.from_replies(replies), sandbox=sandbox)
        out = store.start(run_id, TASK, "scripted", per_run, deps)
        iterations += out.iterations
    wall = time.perf_counter() - started
    return iterations, wall - TimedModel.seconds - sandbox.seconds


def run(iterations: int = 10_000) -> tuple[dict, str]:
    TimedModel.from_replies = classmethod(  # type: ignore[method-assign]
        lambda cls, replies: cls(Path("<memory>"), replies=list(replies)))
    sandbox = StubSandbox()
    with tempfile.TemporaryDirectory(prefix="codemend-bench-") as tmp:
        with RunStore(Path(tmp)) as store:
            _drive(store, sandbox, 20, PER_RUN, "warmup")
            gc.collect()
            rss0 = _rss_mb()
            say(f"loop: {iterations} iterations as {iterations // PER_RUN} runs of {PER_RUN}")
            done, overhead = _drive(store, sandbox, iterations // PER_RUN, PER_RUN, "main")
            gc.collect()
            growth = _rss_mb() - rss0
            short_bytes = _checkpointed(store)
            long_iters, long_overhead = _drive(store, sandbox, 1, 200, "long")
            long_bytes = _checkpointed(store) - short_bytes
        db_mb = _db_bytes(Path(tmp)) / 2**20
    compare_runs = min(100, iterations // PER_RUN)
    with tempfile.TemporaryDirectory(prefix="codemend-bench-") as tmp:
        with RunStore(Path(tmp)) as store:
            _drive(store, sandbox, compare_runs, PER_RUN, "ours")
            ours = _checkpointed(store)
    stock = _stock_bytes(sandbox, compare_runs)
    per_iter = overhead / done * 1000
    result = {"bench": "loop", "iterations": done,
              "overhead_ms_per_iter": round(per_iter, 3), "rss_growth_mb": round(growth, 1),
              "long_run_iterations": long_iters,
              "long_run_ms_per_iter": round(long_overhead / max(long_iters, 1) * 1000, 3),
              "sqlite_mb": round(db_mb, 1),
              "kb_per_iter_10": round(short_bytes / done / 1024, 2),
              "kb_per_iter_200": round(long_bytes / max(long_iters, 1) / 1024, 2),
              "stock_over_compact_db": round(stock / ours, 1)}
    text = table([("runs x iterations", f"{done // PER_RUN} x {PER_RUN}"),
                  ("overhead per iteration", f"{per_iter:.2f} ms (target <= 5)"),
                  ("RSS growth", f"{growth:.1f} MB (target < 50)"),
                  ("one run of 200 iterations", f"{result['long_run_ms_per_iter']:.2f} ms/iter"),
                  ("checkpoint database", f"{db_mb:.1f} MB (target < 20)"),
                  ("database per iteration, runs of 10", f"{result['kb_per_iter_10']:.2f} KB"),
                  ("database per iteration, one run of 200",
                   f"{result['kb_per_iter_200']:.2f} KB"),
                  (f"stock SqliteSaver / ours, {compare_runs} runs of {PER_RUN}",
                   f"{result['stock_over_compact_db']:.1f}x the bytes")], ("loop", "value"))
    return result, text
