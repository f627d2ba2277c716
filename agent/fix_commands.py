"""`codemend fix [PATH]`: heal a git repository whose tests fail, with the same loop as
`solve` (agent/kinds.py says what differs). Parse, snapshot, baseline, run, write."""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from pathlib import Path

from codemend.agent.config import OutputOptions, Settings, load_settings
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


def _validate(args: argparse.Namespace) -> None:
    if args.max_iterations is not None and not 1 <= args.max_iterations <= 100:
        raise BadInput(f"--max-iterations {args.max_iterations}: give 1 to 100")
    if args.context_tokens is not None and not 500 <= args.context_tokens <= 1_000_000:
        raise BadInput(f"--context-tokens {args.context_tokens}: give 500 to 1000000")
    path = Path(args.path)
    if not path.is_dir():
        raise BadInput(f"{path}: not a folder; give the work tree of a git repository")


def cmd_fix(args: argparse.Namespace) -> int:
    """Check everything the user gave before anything slow starts (exit 2 on bad input)."""
    _validate(args)
    flags = {k: getattr(args, k, None) for k in ("model", "fallback_model", "base_url",
                                                  "temperature", "seed", "max_iterations",
                                                  "state_dir", "sandbox")}
    settings = load_settings(flags)
    snap = load_repo(Path(args.path))
    root = snap.root
    out_dir = Path(args.out) if args.out else None
    own = tuple(p for p in (inside(root, settings.state_dir),
                            inside(root, out_dir or settings.state_dir)) if p)
    if own:  # codemend's own state or output folder inside the repository is not part of it
        snap = from_files(root, {p: t for p, t in snap.files.items() if not p.startswith(own)},
                          {p: b for p, b in snap.binary.items() if not p.startswith(own)},
                          head=snap.head, branch=snap.branch, dirty=snap.dirty,
                          skipped=snap.skipped)
    if (args.apply or args.branch) and not args.force:
        changes = git.dirty(root, (*own, ".codemend/"))
        if changes:
            flag = "--apply" if args.apply else "--branch"
            raise BadInput(f"{flag}: the work tree has uncommitted changes ({changes[0]}"
                           f"{' ...' if len(changes) > 1 else ''}); commit or stash them, or "
                           "pass --force")
    if args.branch:
        if snap.head is None:
            raise BadInput("--branch: the repository has no commit to branch from yet")
        git.check_new_branch(root, args.branch, snap.head)
    return _run(args, settings, snap)


def _run(args: argparse.Namespace, settings: Settings, snap: RepoSnapshot) -> int:
    """Baseline, then (with targets) the loop; the heavy imports wait until here."""
    from codemend.agent import render
    from codemend.agent.command_support import build_model, console_for, finish_run, note_printer
    from codemend.agent.nodes import Deps
    from codemend.agent.repo.baseline import counts, run_baseline
    from codemend.agent.repo.deps import deps_fields
    from codemend.agent.runlock import lock_run
    from codemend.agent.runs import RunStore, ensure_writable, new_run_id
    from codemend.agent.state import TaskInfo

    opts = OutputOptions.from_flags(vars(args))
    console = console_for(opts)
    root = snap.root
    run_id = getattr(args, "run_id", None) or new_run_id(root.name or "repo")
    out_dir = Path(args.out) if args.out else settings.state_dir / "out" / run_id
    with ExitStack() as stack:
        store = stack.enter_context(RunStore(settings.state_dir))
        stack.enter_context(lock_run(settings.state_dir, run_id))
        ensure_writable(out_dir, OUTPUTS, run_id, force=bool(args.force))
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
                        allow_test_edits=bool(args.allow_test_edits),
                        allow_deletions=bool(getattr(args, "allow_deletions", False)),
                        require_coverage=bool(getattr(args, "require_coverage", False)),
                        context_tokens=args.context_tokens or DEFAULT_CONTEXT_TOKENS,
                        apply=bool(args.apply), branch=args.branch)
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


