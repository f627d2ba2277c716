"""`codemend repair [PATH | SPEC.toml] | --resume RUN_ID`: wire settings, models, sandbox and
the terminal, then hand over to ``Session``. The heavy imports wait until the input is
checked, so a refusal (no terminal, bad flags) is immediate."""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path

from codemend.agent.runlock import lock_run
from codemend.sandbox.errors import BadInput

EXIT_INTERRUPTED = 130
NO_TTY = ("repair is a session at a terminal and needs one (stdin and stdout); for unattended "
          "runs use `codemend solve SPEC.toml` or `codemend fix PATH`")


def cmd_repair(args: argparse.Namespace) -> int:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise BadInput(NO_TTY)
    if bool(args.target) == bool(args.resume):
        raise BadInput("give PATH or SPEC.toml to start a session, or --resume RUN_ID to "
                       "continue one (not both)")
    if args.max_iterations is not None and not 1 <= args.max_iterations <= 100:
        raise BadInput(f"--max-iterations {args.max_iterations}: give 1 to 100")
    from codemend.agent.command_support import settings_from
    from codemend.agent.runs import RunStore
    from codemend.agent.terminal import Terminal
    from rich.console import Console

    settings = settings_from(vars(args))
    console = Console(soft_wrap=True, emoji=False)  # "openai-compat:m:" is no emoji
    term = Terminal(console, history_file=settings.state_dir / "repair_history")
    with ExitStack() as stack:
        store = stack.enter_context(RunStore(settings.state_dir, resume_verb="repair --resume"))
        try:
            if args.resume:
                return _resume(args, settings, store, stack, term)
            return _start(args, settings, store, stack, term)
        except KeyboardInterrupt:
            run_id = args.resume or args.run_id
            where = (f"; continue with `{store.resume_command(run_id)}`" if run_id and
                     store.exists(run_id) else "")
            print(f"\ncodemend: interrupted{where}", file=sys.stderr)
            return EXIT_INTERRUPTED


def _spec_path(target: Path) -> Path | None:
    """The spec to repair, or None for a repository (a folder without spec.toml)."""
    if target.is_dir():
        return target / "spec.toml" if (target / "spec.toml").is_file() else None
    return target


def _models(settings, stack: ExitStack, fallback: str | None):
    from codemend.agent.models import resolve_model

    def one(name: str):
        model = resolve_model(name, base_url=settings.base_url,
                              temperature=settings.temperature, seed=settings.seed)
        stack.callback(model.close)
        return model
    return one(settings.model), (one(fallback) if fallback else None)


def _start(args, settings, store, stack: ExitStack, term) -> int:
    from codemend.agent.command_support import build_sandbox
    from codemend.agent.nodes import Deps
    from codemend.agent.repair.session import Session
    from codemend.agent.repair.target import WorkTree
    from codemend.agent.runs import new_run_id
    from codemend.agent.spec import load_task
    from codemend.agent.state import RunState, TaskInfo
    from rich.markup import escape

    spec = _spec_path(Path(args.target))
    if spec is None:
        return _start_repo(args, settings, store, stack, term)
    task = load_task(spec)
    target = WorkTree(Path(task.spec_path).parent)
    origin = target.read(task.solution_files)
    run_id = args.run_id or new_run_id(task.name)
    stack.enter_context(lock_run(settings.state_dir, run_id))
    model, fallback = _models(settings, stack, settings.fallback_model)
    info = TaskInfo.from_task(task)
    max_iterations = settings.max_iterations or task.max_iterations
    extra = {"interactive": True, "files": origin, "source": "baseline" if origin else "generate",
             "fallback_model": settings.fallback_model}
    out_dir = settings.state_dir / "out" / run_id
    store.register(run_id, task.name, settings.model, str(out_dir), info=info,
                   max_iterations=max_iterations, extra=extra)
    args.run_id = run_id  # from here on the session is resumable
    backup = f", fallback {settings.fallback_model}" if settings.fallback_model else ""
    term.say(f"repair session [bold]{run_id}[/]: task {escape(task.name)} with "
             f"{escape(settings.model)}{escape(backup)}; work tree {escape(str(target.root))}")
    term.say(f"[dim]q or Ctrl-C leaves it resumable: "
             f"{escape(store.resume_command(run_id))}[/]")
    deps = Deps(model=model, fallback=fallback, sandbox=build_sandbox(settings, stack, term.console))
    first = RunState(run_id=run_id, task=info, model=settings.model,
                     max_iterations=max_iterations, **extra)
    session = Session(store, run_id, deps, term, target, commit=args.commit, out_dir=out_dir)
    return session.run(first)


def _resume(args, settings, store, stack: ExitStack, term) -> int:
    from codemend.agent.command_support import build_sandbox
    from codemend.agent.nodes import Deps
    from codemend.agent.repair import view
    from codemend.agent.repair.session import Session
    from codemend.agent.repair.steps import steps
    from codemend.agent.repair.target import WorkTree
    from rich.markup import escape

    run_id = args.resume
    meta = store.meta(run_id)
    stack.enter_context(lock_run(settings.state_dir, run_id))
    current = store.outcome(run_id)
    state = current.state
    if not state.interactive:
        raise BadInput(f"run {run_id} is not a repair session; continue it with "
                       f"`codemend resume {run_id}`")
    from codemend.agent.command_support import model_changes

    update = model_changes(args.model, args.fallback_model, state)
    settings = settings.model_copy(update={"model": args.model or state.model or meta["model"]})
    model, fallback = _models(settings, stack, args.fallback_model or state.fallback_model)
    baseline = None
    if state.task.kind == "repo":
        bases = store.bases()
        assert state.task.repo is not None
        target = WorkTree(Path(state.task.repo.root),
                          bases.snapshot(state.task.repo.base_id).files)
        baseline = bases.baseline(run_id)
    else:
        target = WorkTree(Path(state.task.spec_path).parent)
    branch = steps(state)
    term.say(f"resuming repair session [bold]{run_id}[/] (task {escape(state.task.name)}) at "
             f"step {branch[-1].number if branch else 0}")
    view.history(term.console, state, branch)
    if state.task.kind == "repo":
        from codemend.agent.repo_outcome import resume_sandbox

        sandbox = resume_sandbox(settings, stack, term.console, store, state.task)
    else:
        sandbox = build_sandbox(settings, stack, term.console)
    deps = Deps(model=model, fallback=fallback, sandbox=sandbox)
    session = Session(store, run_id, deps, term, target, commit=args.commit,
                      out_dir=Path(meta["out"]), baseline=baseline, update=update)
    has_checkpoint = bool(store.graph.get_state(store.config(run_id)).values)
    return session.run(None if has_checkpoint else state)


def _start_repo(args, settings, store, stack: ExitStack, term) -> int:
    """A repository: snapshot and baseline as `codemend fix` does; the candidate is an
    overlay of changed files, and nothing reaches the work tree unless the person says so."""
    from codemend.agent.nodes import Deps
    from codemend.agent.repair.session import Session
    from codemend.agent.repair.target import WorkTree
    from codemend.agent.repo.baseline import counts, run_baseline
    from codemend.agent.repo.snapshot import from_files, load_repo
    from codemend.agent.repo_outcome import DEFAULT_MAX_ITERATIONS, inside, repo_sandbox
    from codemend.agent.repotask import DEFAULT_CONTEXT_TOKENS, RepoTask
    from codemend.agent.runs import new_run_id
    from codemend.agent.state import Attempt, RunState, TaskInfo
    from rich.markup import escape

    snap = load_repo(Path(args.target))
    root = snap.root
    own = inside(root, settings.state_dir)
    if own:  # codemend's own state folder inside the repository is not part of it
        snap = from_files(root, {p: t for p, t in snap.files.items() if not p.startswith(own)},
                          {p: b for p, b in snap.binary.items() if not p.startswith(own)},
                          head=snap.head, branch=snap.branch, dirty=snap.dirty,
                          skipped=snap.skipped)
    model, fallback = _models(settings, stack, settings.fallback_model)
    sandbox, timeout_s = repo_sandbox(settings, stack, term.console, snap)
    bases = store.bases()
    base_id = bases.put_snapshot(snap)
    term.say(f"baseline: running the tests of [bold]{escape(str(root))}[/] in the sandbox")
    baseline = run_baseline(sandbox, snap, timeout_s)
    if baseline.clean:
        term.say("[green]every test passes at baseline: nothing to repair[/]")
        return 0
    task = RepoTask(root=str(root), head=snap.head or "", base_id=base_id,
                    targets=baseline.targets, flaky=baseline.flaky,
                    environment=baseline.environment,
                    baseline=counts(baseline.report), allow_test_edits=False,
                    allow_deletions=bool(getattr(args, "allow_deletions", False)),
                    context_tokens=DEFAULT_CONTEXT_TOKENS, apply=False, branch=None)
    info = TaskInfo(name=root.name or "repo", prompt="", solution_files=[], tests={},
                    check_timeout_s=timeout_s, spec_path=str(root), kind="repo", repo=task)
    run_id = args.run_id or new_run_id(info.name)
    stack.enter_context(lock_run(settings.state_dir, run_id))
    max_iterations = settings.max_iterations or DEFAULT_MAX_ITERATIONS
    r = baseline.report  # step 0: checked already, so the graph goes straight to instruct
    step0 = Attempt(n=1, node="baseline", files={}, verdict=r.verdict, passed=r.tests.passed,
                    failed=r.tests.failed + r.tests.errors, lint=len(r.lint.findings),
                    signature=r.signature(), duration_s=r.duration_s, report=r)
    extra = {"interactive": True, "fallback_model": settings.fallback_model,
             "source": "baseline", "attempts": [step0]}
    out_dir = settings.state_dir / "out" / run_id
    bases.put_baseline(run_id, baseline.report)
    store.register(run_id, info.name, settings.model, str(out_dir), info=info,
                   max_iterations=max_iterations,
                   extra={**extra, "attempts": [step0.model_dump(mode="json")]})
    args.run_id = run_id  # from here on the session is resumable
    term.say(f"repair session [bold]{run_id}[/]: {escape(str(root))} with "
             f"{escape(settings.model)}; {len(task.targets)} failing test(s) to fix")
    term.say(f"[dim]q or Ctrl-C leaves it resumable: "
             f"{escape(store.resume_command(run_id))}[/]")
    deps = Deps(model=model, fallback=fallback, sandbox=sandbox, repo_bases=bases)
    first = RunState(run_id=run_id, task=info, model=settings.model,
                     max_iterations=max_iterations, **extra)
    session = Session(store, run_id, deps, term, WorkTree(root, snap.files),
                      commit=args.commit, out_dir=out_dir, baseline=baseline.report)
    return session.run(first)
