"""Repository mode below the commands: heal a git repository whose tests fail, with the
same loop as `solve` (agent/kinds.py says what differs). Snapshot, baseline, run, write.
``codemend fix`` and ``codemend ci github propose`` both call ``fix_repository`` with their
flags typed once (``FixOptions``, ``OutputOptions``, ``Settings``)."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codemend.agent.config import OutputOptions, Settings
from codemend.agent.repo import git
from codemend.agent.repo.snapshot import RepoSnapshot, from_files, load_repo
from codemend.agent.repo_outcome import (
    DEFAULT_MAX_ITERATIONS,
    OUTPUTS,
    clean_result,
    inside,
    repo_sandbox,
)
from codemend.agent.repotask import DEFAULT_CONTEXT_TOKENS, RepoTask
from codemend.sandbox.errors import BadInput
from rich.markup import escape


@dataclass(frozen=True)
class FixOptions:
    """What ``codemend fix`` is asked to do, typed once from its flags."""

    path: Path
    """The repository's work tree."""
    out: Path | None = None
    """The output folder (None: ``STATE_DIR/out/RUN_ID``)."""
    run_id: str | None = None
    apply: bool = False
    """Write the fix into the work tree."""
    branch: str | None = None
    """Commit the fix on this new branch (work tree untouched)."""
    force: bool = False
    """--apply/--branch over uncommitted changes; replace an earlier run's outputs."""
    allow_test_edits: bool = False
    allow_deletions: bool = False
    require_coverage: bool = False
    context_tokens: int | None = None
    max_iterations: int | None = None

    @classmethod
    def from_flags(cls, flags: Mapping[str, Any]) -> FixOptions:
        """From ``vars(args)`` of ``fix`` (or ``propose``); bad values are ``BadInput``."""
        max_iterations, tokens = flags.get("max_iterations"), flags.get("context_tokens")
        if max_iterations is not None and not 1 <= max_iterations <= 100:
            raise BadInput(f"--max-iterations {max_iterations}: give 1 to 100")
        if tokens is not None and not 500 <= tokens <= 1_000_000:
            raise BadInput(f"--context-tokens {tokens}: give 500 to 1000000")
        path = Path(flags.get("path") or ".")
        if not path.is_dir():
            raise BadInput(f"{path}: not a folder; give the work tree of a git repository")
        out = flags.get("out")
        return cls(path=path, out=Path(out) if out else None, run_id=flags.get("run_id"),
                   apply=bool(flags.get("apply")), branch=flags.get("branch") or None,
                   force=bool(flags.get("force")),
                   allow_test_edits=bool(flags.get("allow_test_edits")),
                   allow_deletions=bool(flags.get("allow_deletions")),
                   require_coverage=bool(flags.get("require_coverage")),
                   context_tokens=tokens, max_iterations=max_iterations)


def fix_repository(settings: Settings, fix: FixOptions, opts: OutputOptions) -> int:
    """Check everything the user gave before anything slow starts (exit 2 on bad input),
    then heal the repository; returns fix's exit code."""
    snap = load_repo(fix.path)
    root = snap.root
    out_dir = fix.out
    own = tuple(p for p in (inside(root, settings.state_dir),
                            inside(root, out_dir or settings.state_dir)) if p)
    if own:  # codemend's own state or output folder inside the repository is not part of it
        snap = from_files(root, {p: t for p, t in snap.files.items() if not p.startswith(own)},
                          {p: b for p, b in snap.binary.items() if not p.startswith(own)},
                          head=snap.head, branch=snap.branch, dirty=snap.dirty,
                          skipped=snap.skipped)
    if (fix.apply or fix.branch) and not fix.force:
        changes = git.dirty(root, (*own, ".codemend/"))
        if changes:
            flag = "--apply" if fix.apply else "--branch"
            raise BadInput(f"{flag}: the work tree has uncommitted changes ({changes[0]}"
                           f"{' ...' if len(changes) > 1 else ''}); commit or stash them, or "
                           "pass --force")
    if fix.branch:
        if snap.head is None:
            raise BadInput("--branch: the repository has no commit to branch from yet")
        git.check_new_branch(root, fix.branch, snap.head)
    return _run(settings, fix, opts, snap)


def _run(settings: Settings, fix: FixOptions, opts: OutputOptions, snap: RepoSnapshot) -> int:
    """Baseline, then (with targets) the loop; the heavy imports wait until here."""
    from codemend.agent import render
    from codemend.agent.command_support import build_model, console_for, finish_run, note_printer
    from codemend.agent.nodes import Deps
    from codemend.agent.repo.baseline import counts, run_baseline
    from codemend.agent.repo.deps import deps_fields
    from codemend.agent.runlock import lock_run
    from codemend.agent.runs import RunStore, ensure_writable, new_run_id
    from codemend.agent.state import TaskInfo

    console = console_for(opts)
    root = snap.root
    run_id = fix.run_id or new_run_id(root.name or "repo")
    out_dir = fix.out or settings.state_dir / "out" / run_id
    with ExitStack() as stack:
        store = stack.enter_context(RunStore(settings.state_dir))
        stack.enter_context(lock_run(settings.state_dir, run_id))
        ensure_writable(out_dir, OUTPUTS, run_id, force=fix.force)
        model = build_model(settings, stack)
        fallback = build_model(settings, stack, settings.fallback_model) if (
            settings.fallback_model) else None
        sandbox, timeout_s = repo_sandbox(settings, stack, console, snap)
        bases = store.bases()
        base_id = bases.put_snapshot(snap)
        console.print(f"baseline: running the tests of [bold]{escape(str(root))}[/] in the "
                      "sandbox", highlight=False)
        baseline = run_baseline(sandbox, snap, timeout_s)
        task = RepoTask(root=str(root), head=snap.head or "", base_id=base_id,
                        targets=baseline.targets, flaky=baseline.flaky,
                        environment=baseline.environment,
                        baseline=counts(baseline.report), **deps_fields(snap),
                        allow_test_edits=fix.allow_test_edits,
                        allow_deletions=fix.allow_deletions,
                        require_coverage=fix.require_coverage,
                        context_tokens=fix.context_tokens or DEFAULT_CONTEXT_TOKENS,
                        apply=fix.apply, branch=fix.branch)
        b = task.baseline
        console.print(f"baseline: {b.passed} passed, {b.failed} failed, {b.errors} errors; "
                      f"{len(task.targets)} target(s), {len(task.flaky)} flaky"
                      + (f", {len(task.environment)} failing for the sandbox's environment "
                         f"({', '.join(sorted(set(task.environment.values())))})"
                         if task.environment else ""), highlight=False)
        if baseline.clean:
            return clean_result(opts, run_id, task, out_dir)
        info = TaskInfo(name=root.name or "repo", prompt="", solution_files=[], tests={},
                        check_timeout_s=timeout_s, spec_path=str(root), kind="repo",
                        repo=task)
        max_iterations = settings.max_iterations or DEFAULT_MAX_ITERATIONS
        bases.put_baseline(run_id, baseline.report)
        store.register(run_id, info.name, settings.model, str(out_dir), info=info,
                       max_iterations=max_iterations)
        console.print(f"fixing [bold]{escape(info.name)}[/] with {escape(settings.model)} "
                      f"(run {run_id})", highlight=False)
        deps = Deps(model=model, sandbox=sandbox, repo_bases=bases, fallback=fallback)
        with console.status("[dim]model and sandbox at work...[/]"):
            out = store.start(run_id, info, settings.model, max_iterations, deps,
                              on_attempt=lambda a, _: render.attempt_line(console, a),
                              on_note=note_printer(console),
                              fallback_model=settings.fallback_model)
        return finish_run(opts, store, out, console, deps)


