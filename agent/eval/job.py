"""One eval job (a task and a sample index) run through the ordinary loop, and its record.

A job is a run of ``RunStore``: registered, started (or resumed from its checkpoint when an
earlier eval was killed while it ran) and driven by the same graph ``codemend solve`` uses.
An escalation ends the job: no person is asked, the run stays paused in the state dir (it
can still be looked at, or continued, with ``codemend show|resume --state-dir``).
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from codemend.agent.eval.jobspec import Job, ModelSpec
from codemend.agent.eval.repos import start_repo_job
from codemend.agent.nodes import Deps
from codemend.agent.repo.snapshot import RepoSnapshot
from codemend.agent.runs import Outcome, RunStore
from codemend.sandbox.base import Sandbox
from codemend.sandbox.errors import InfraError

SPANS = ("CREATE TABLE IF NOT EXISTS codemend_eval_spans (run_id TEXT NOT NULL, start REAL "
         "NOT NULL, end REAL NOT NULL, PRIMARY KEY (run_id, start)) WITHOUT ROWID")


class Spans:
    """When a run was driven, kept in its run database as it goes (one span per driver,
    extended at each checked attempt): a run resumed after a kill counts the time its earlier
    checks took, not only the time since the resume."""

    def __init__(self, store: RunStore, run_id: str, start: float) -> None:
        """``start``: when this driver took the job (its span covers all of its wall time)."""
        self.store, self.run_id, self.start = store, run_id, start
        with store.writing():
            store.conn.execute(SPANS)
            self.earlier = [[a, b] for a, b in store.conn.execute(
                "SELECT start, end FROM codemend_eval_spans WHERE run_id = ? ORDER BY start",
                (run_id,))]

    def tick(self, *_: Any) -> None:
        with self.store.writing():
            self.store.conn.execute("INSERT OR REPLACE INTO codemend_eval_spans (run_id, start, "
                                    "end) VALUES (?, ?, ?)", (self.run_id, self.start, time.time()))

    def all(self, end: float) -> list[list[float]]:
        return [*self.earlier, [self.start, end]]


def run_job(job: Job, store: RunStore, sandbox: Sandbox, spec: ModelSpec,
            snapshot: RepoSnapshot | None = None) -> dict[str, Any]:
    """Run (or finish) one job and return its result line. Raises what the loop raises
    (``InfraError`` when the model server or Docker is gone: the run stays resumable).
    ``snapshot``: a repository task's work tree as the driver read it (on a Ray node,
    which may not see the driver's folders); None reads ``job.task.repo`` here."""
    started_at, started = time.time(), time.monotonic()
    model = spec.build(job.task, job.sample)
    spans = Spans(store, job.run_id, started_at)
    try:
        deps = Deps(model=model, sandbox=sandbox)
        if store.exists(job.run_id):
            owner = store.meta(job.run_id)["task"]
            if owner != job.task.id:
                raise InfraError(f"run {job.run_id} of {store.path} belongs to task {owner!r}, "
                                 f"not {job.task.id!r}; move that state folder away")
            out = store.outcome(job.run_id)
            if out.status == "running":
                out = store.resume(job.run_id, deps, on_attempt=spans.tick)
        elif job.task.repo is not None:
            out = start_repo_job(job, store, deps, spec.model, on_attempt=spans.tick,
                                 snapshot=snapshot)
            if out is None:  # nothing fails at baseline: not a bug to heal
                return clean_record(job, started_at, time.monotonic() - started)
        else:
            info = job.task.info
            if info is None:
                raise ValueError(f"task {job.task.id} is neither a spec task nor a repository")
            name = "scripted" if job.task.replies_for(job.sample) is not None else spec.model
            store.register(job.run_id, job.task.id, name, "", info=info,
                           max_iterations=job.task.max_iterations)
            out = store.start(job.run_id, info, name, job.task.max_iterations, deps,
                              on_attempt=spans.tick)
    finally:
        model.close()
    wall_s = time.monotonic() - started
    return record(job, out, started_at=started_at, wall_s=wall_s,
                  spans=spans.all(started_at + wall_s))


def record(job: Job, out: Outcome, *, started_at: float, wall_s: float,
           spans: list[list[float]] | None = None) -> dict[str, Any]:
    """The JSONL line of a finished job. ``spans``: when the run was driven, by this eval
    and by the ones killed before (default: this one)."""
    spans = spans or [[started_at, started_at + wall_s]]
    s = out.state
    final = out.final
    solved = out.status == "solved"
    hidden = s.hidden.verdict if s.hidden is not None else None
    # every attempt but an unusable reply was checked in the sandbox; so were the hidden tests
    checks = sum(a.verdict != "format_error" for a in s.attempts) + (hidden is not None)
    return {
        "id": job.id, "task": job.task.id, "sample": job.sample, "run_id": job.run_id,
        "status": out.status, "verdict": final.verdict if final else None, "hidden": hidden,
        "pass_first": solved and s.iteration == 1, "pass_healed": solved,
        "iterations": s.iteration, "max_iterations": s.max_iterations,
        "model_calls": s.model_calls, "prompt_tokens": s.prompt_tokens,
        "completion_tokens": s.completion_tokens,
        "tokens": s.prompt_tokens + s.completion_tokens, "checks": checks,
        "format_errors": sum(a.verdict == "format_error" for a in s.attempts),
        "attempts": [[a.node, a.verdict] for a in s.attempts], "reason": out.reason,
        "started": round(started_at, 3), "wall_s": round(wall_s, 3),
        "busy_s": round(sum(b - a for a, b in spans), 3),
        "spans": [[round(a, 3), round(b, 3)] for a, b in spans],
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }


def clean_record(job: Job, started_at: float, wall_s: float) -> dict[str, Any]:
    """A repository whose tests all pass at baseline: counted as neither first nor healed."""
    return {"id": job.id, "task": job.task.id, "sample": job.sample, "run_id": job.run_id,
            "status": "clean", "verdict": None, "hidden": None, "pass_first": False,
            "pass_healed": False, "iterations": 0, "max_iterations": job.task.max_iterations,
            "model_calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "tokens": 0,
            "checks": 0, "format_errors": 0, "attempts": [],
            "reason": "every test passes at baseline: no committed bug to heal",
            "started": round(started_at, 3), "wall_s": round(wall_s, 3),
            "busy_s": round(wall_s, 3),
            "spans": [[round(started_at, 3), round(started_at + wall_s, 3)]],
            "worker": f"{socket.gethostname()}:{os.getpid()}"}
