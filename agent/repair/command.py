"""`codemend repair [PATH | SPEC.toml] | --resume RUN_ID`: wire settings, models, sandbox and
the terminal, then hand over to ``Session``."""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path

from codemend.agent.models import resolve_model
from codemend.agent.nodes import Deps
from codemend.agent.repair import view
from codemend.agent.repair.session import Session
from codemend.agent.repair.steps import steps
from codemend.agent.repair.target import SpecTarget
from codemend.agent.run_commands import _sandbox, _settings
from codemend.agent.runs import RunStore, new_run_id
from codemend.agent.spec import load_task
from codemend.agent.state import RunState, TaskInfo
from codemend.agent.terminal import Terminal
from codemend.sandbox.errors import BadInput
from rich.console import Console
from rich.markup import escape

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
    settings = _settings(args)
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


def _spec_path(target: Path) -> Path:
    if target.is_dir():
        if (target / "spec.toml").is_file():
            return target / "spec.toml"
        raise BadInput(f"{target}: no spec.toml in it; give a task spec (repository mode "
                       "comes with `codemend fix`)")
    return target


def _models(settings, stack: ExitStack, fallback: str | None):
    def one(name: str):
        model = resolve_model(name, base_url=settings.base_url,
                              temperature=settings.temperature, seed=settings.seed)
        stack.callback(model.close)
        return model
    return one(settings.model), (one(fallback) if fallback else None)


def _start(args, settings, store: RunStore, stack: ExitStack, term: Terminal) -> int:
    task = load_task(_spec_path(Path(args.target)))
    target = SpecTarget(Path(task.spec_path).parent, tuple(task.solution_files))
    origin = target.read()
    run_id = args.run_id or new_run_id(task.name)
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
    deps = Deps(model=model, fallback=fallback, sandbox=_sandbox(settings, stack, term.console))
    first = RunState(run_id=run_id, task=info, model=settings.model,
                     max_iterations=max_iterations, **extra)
    session = Session(store, run_id, deps, term, target, commit=args.commit, out_dir=out_dir)
    return session.run(first)


def _resume(args, settings, store: RunStore, stack: ExitStack, term: Terminal) -> int:
    run_id = args.resume
    meta = store.meta(run_id)
    current = store.outcome(run_id)
    state = current.state
    if not state.interactive:
        raise BadInput(f"run {run_id} is not a repair session; continue it with "
                       f"`codemend resume {run_id}`")
    settings = settings.model_copy(update={"model": args.model or meta["model"]})
    model, fallback = _models(settings, stack, args.fallback_model or state.fallback_model)
    target = SpecTarget(Path(state.task.spec_path).parent, tuple(state.task.solution_files))
    branch = steps(state)
    term.say(f"resuming repair session [bold]{run_id}[/] (task {escape(state.task.name)}) at "
             f"step {branch[-1].number if branch else 0}")
    view.history(term.console, state, branch)
    deps = Deps(model=model, fallback=fallback, sandbox=_sandbox(settings, stack, term.console))
    session = Session(store, run_id, deps, term, target, commit=args.commit,
                      out_dir=Path(meta["out"]))
    has_checkpoint = bool(store.graph.get_state(store.config(run_id)).values)
    return session.run(None if has_checkpoint else state)
