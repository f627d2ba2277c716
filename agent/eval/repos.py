"""Repository jobs: a repository with a committed bug, healed as `codemend fix` heals it.

The job takes the snapshot of the work tree, runs the baseline (its failing tests are the
targets), stores both in the run's database and starts the ordinary loop on a ``repo``
task. Nothing is applied to the work tree and no branch is made: eval only measures.
"""

from __future__ import annotations

from pathlib import Path

from codemend.agent.eval.jobspec import Job
from codemend.agent.nodes import Deps
from codemend.agent.repo.baseline import counts, run_baseline
from codemend.agent.repo.snapshot import RepoSnapshot, load_repo
from codemend.agent.repotask import RepoTask
from codemend.agent.runs import OnAttempt, Outcome, RunStore
from codemend.agent.state import TaskInfo

CHECK_TIMEOUT_S = 120.0
"""As `codemend fix`."""


def start_repo_job(job: Job, store: RunStore, deps: Deps, model: str,
                   on_attempt: OnAttempt | None = None,
                   snapshot: RepoSnapshot | None = None) -> Outcome | None:
    """Baseline and run; None when nothing fails at baseline. ``snapshot``: the work tree
    as read by the driver (default: read ``job.task.repo`` here)."""
    snap = snapshot or load_repo(Path(job.task.repo or ""))
    bases = store.bases()
    deps.repo_bases = bases
    base_id = bases.put_snapshot(snap)
    baseline = run_baseline(deps.sandbox, snap, CHECK_TIMEOUT_S)
    if baseline.clean:
        return None
    task = RepoTask(root=str(snap.root), head=snap.head or "", base_id=base_id,
                    targets=baseline.targets, flaky=baseline.flaky,
                    environment=baseline.environment, baseline=counts(baseline.report),
                    coverage=False)
    info = TaskInfo(name=job.task.id, prompt="", solution_files=[], tests={},
                    check_timeout_s=CHECK_TIMEOUT_S, spec_path=str(snap.root), kind="repo",
                    repo=task)
    name = "scripted" if job.task.replies_for(job.sample) is not None else model
    bases.put_baseline(job.run_id, baseline.report)
    store.register(job.run_id, job.task.id, name, "", info=info,
                   max_iterations=job.task.max_iterations)
    return store.start(job.run_id, info, name, job.task.max_iterations, deps,
                       on_attempt=on_attempt)
