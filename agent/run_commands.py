"""`codemend solve | demo | resume | runs | show`: wire settings, model, sandbox, graph."""

from __future__ import annotations

import argparse
import json
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from codemend.agent import render
from codemend.agent.command_support import (
    build_model,
    build_sandbox,
    console_for,
    finish_run,
    model_changes,
    note_printer,
    settings_from,
)
from codemend.agent.config import OutputOptions, Settings
from codemend.agent.interactive import ask_person, interactive_allowed
from codemend.agent.nodes import Deps
from codemend.agent.repo_outcome import edited_overlay, resume_sandbox
from codemend.agent.runlock import lock_run
from codemend.agent.runs import (
    RunStore,
    ensure_writable,
    new_run_id,
    paused_on_infra_error,
)
from codemend.agent.spec import load_task
from codemend.agent.state import TaskInfo
from codemend.sandbox.errors import BadInput
from rich.console import Console

RECORDED_SETTINGS = {"model", "base_url", "temperature", "seed", "sandbox", "pool_size"}
"""The settings a run records with its input (``codemend_runs.start``), for the record."""
DEMO_TASK = "safe_stats"


def _solve(args: argparse.Namespace, spec: Path, settings: Settings) -> int:
    task = load_task(spec)
    opts = OutputOptions.from_flags(vars(args))
    console = console_for(opts)
    run_id = args.run_id or new_run_id(task.name)
    out_dir = Path(args.out) if args.out else settings.state_dir / "out" / run_id
    with ExitStack() as stack:
        store = stack.enter_context(RunStore(settings.state_dir))
        stack.enter_context(lock_run(settings.state_dir, run_id))
        ensure_writable(out_dir, [*task.solution_files, "report.json"], run_id,
                        force=bool(getattr(args, "force", False)))
        # a bad --model fails here, before anything is recorded
        model = build_model(settings, stack)
        second = build_model(settings, stack, settings.fallback_model) if settings.fallback_model \
            else None
        info = TaskInfo.from_task(task)
        max_iterations = settings.max_iterations or task.max_iterations
        # recorded (and committed) before the id is shown, the pool starts or the model is
        # called: from here on a kill at any moment leaves a run `resume` can start over
        store.register(run_id, task.name, settings.model, str(out_dir), info=info,
                       max_iterations=max_iterations,
                       extra={"fallback_model": settings.fallback_model} if settings.fallback_model
                       else None,
                       settings=settings.model_dump(mode="json", include=RECORDED_SETTINGS))
        console.print(f"solving [bold]{task.name}[/] with {settings.model} "
                      f"(run {run_id}, sandbox {settings.sandbox})")
        with paused_on_infra_error(store.resume_command(run_id)):
            deps = Deps(model=model, sandbox=build_sandbox(settings, stack, console), fallback=second)
        started = time.monotonic()
        with console.status("[dim]model and sandbox at work...[/]"):
            out = store.start(run_id, info, settings.model, max_iterations, deps,
                              on_attempt=lambda a, _: render.attempt_line(console, a),
                              on_note=note_printer(console),
                              fallback_model=settings.fallback_model)
        return finish_run(opts, store, out, console, deps, started)


def cmd_solve(args: argparse.Namespace) -> int:
    if args.max_iterations is not None and not 1 <= args.max_iterations <= 100:
        raise BadInput(f"--max-iterations {args.max_iterations}: give 1 to 100")
    return _solve(args, Path(args.spec), settings_from(vars(args)))


def bundled_tasks() -> Path:
    here = Path(__file__).resolve().parent
    for cand in (here.parent / "tasks" / "examples", here / "_tasks" / "examples"):
        if cand.is_dir():
            return cand
    raise BadInput("the bundled example tasks are missing from this installation")


def cmd_demo(args: argparse.Namespace) -> int:
    folder = bundled_tasks() / (args.task or DEMO_TASK)
    replies = folder / "replies.toml"
    if not replies.is_file():
        names = sorted(p.parent.name for p in bundled_tasks().glob("*/replies.toml"))
        raise BadInput(f"--task {args.task}: no scripted demo; choose one of {', '.join(names)}")
    demo = argparse.Namespace(spec=str(folder / "spec.toml"), model=f"scripted:{replies}",
                              fallback_model=None,
                              base_url=None, temperature=None, seed=None, max_iterations=None,
                              out=None, run_id=None, json=args.json, interactive=False,
                              force=False, state_dir=args.state_dir, sandbox=args.sandbox)
    if not args.json:
        Console(soft_wrap=True).print(f"[bold]codemend demo[/]: task [bold]{folder.name}[/], replies "
                        f"replayed from {replies.name}, every attempt checked in the real "
                        "sandbox.")
    return _solve(demo, Path(demo.spec), settings_from(vars(demo)))


def _decision(args: argparse.Namespace) -> dict[str, Any] | None:
    chosen = [n for n in ("accept", "abort") if getattr(args, n)]
    if len(chosen) > 1 or (chosen and (args.hint or args.more or args.edit)):
        raise BadInput("--accept and --abort go alone (not with --hint/--more/--edit)")
    if args.more is not None and not 1 <= args.more <= 100:
        raise BadInput(f"--more {args.more}: give 1 to 100")
    if chosen:
        return {"action": chosen[0]}
    if args.edit:
        return {"action": "edit", "files": None, "hint": args.hint, "more": args.more}
    if args.hint:
        return {"action": "hint", "hint": args.hint, "more": args.more}
    if args.more:
        return {"action": "more", "more": args.more}
    return None


def cmd_resume(args: argparse.Namespace) -> int:
    settings = settings_from(vars(args))
    opts = OutputOptions.from_flags(vars(args))
    console = console_for(opts)
    with ExitStack() as stack:
        store = stack.enter_context(RunStore(settings.state_dir))
        meta = store.meta(args.run_id)
        stack.enter_context(lock_run(settings.state_dir, args.run_id))
        current = store.outcome(args.run_id)
        if current.state.interactive:
            raise BadInput(f"run {args.run_id} is a repair session; continue it with "
                           f"`{store.resume_command(args.run_id, 'repair --resume')}`")
        decision = _decision(args)
        if decision and decision["action"] == "edit":
            decision["files"] = _edited_files(Path(args.edit), current.state.task, store)
        if current.status == "escalated" and decision is None and not interactive_allowed(opts):
            raise BadInput(f"run {args.run_id} is paused ({current.reason}); say how to go on: "
                           "--hint TEXT, --more N, --edit PATH, --accept or --abort")
        if current.status in ("solved", "failed"):
            return finish_run(opts, store, current, console, None)
        update = model_changes(args.model, args.fallback_model, current.state)
        model_name = args.model or current.state.model or meta["model"]
        settings = settings.model_copy(update={"model": model_name})
        fallback = args.fallback_model or current.state.fallback_model
        with paused_on_infra_error(store.resume_command(args.run_id)):
            model = build_model(settings, stack)
            second = build_model(settings, stack, fallback) if fallback else None
            if current.state.task.kind == "repo":
                        sandbox = resume_sandbox(settings, stack, console, store, current.state.task)
            else:
                sandbox = build_sandbox(settings, stack, console)
            deps = Deps(model=model, sandbox=sandbox, fallback=second)
        console.print(f"resuming run {args.run_id} ({current.status}) with {model_name}")
        if current.status == "escalated" and decision is None:
            decision = ask_person(console, current, store)
            if decision is None:
                return finish_run(opts, store, current, console, deps)
        with console.status("[dim]model and sandbox at work...[/]"):
            out = store.resume(args.run_id, deps, decision,
                               on_attempt=lambda a, _: render.attempt_line(console, a),
                               on_note=note_printer(console), update=update)
        return finish_run(opts, store, out, console, deps)


def _edited_files(path: Path, task: TaskInfo, store: RunStore) -> dict[str, str]:
    if task.kind == "repo":
        return edited_overlay(path, task, store)
    if path.is_file() and len(task.solution_files) == 1:
        return {task.solution_files[0]: path.read_text(encoding="utf-8")}
    if path.is_dir():
        missing = [f for f in task.solution_files if not (path / f).is_file()]
        if missing:
            raise BadInput(f"--edit {path}: missing {', '.join(missing)}")
        return {f: (path / f).read_text(encoding="utf-8") for f in task.solution_files}
    raise BadInput(f"--edit {path}: give the solution file (or a folder holding "
                   f"{', '.join(task.solution_files)})")


def cmd_runs(args: argparse.Namespace) -> int:
    settings = settings_from(vars(args))
    if getattr(args, "older_than", None) is not None and not getattr(args, "prune", False):
        raise BadInput("--older-than goes with --prune")
    if getattr(args, "prune", False):
        return _prune(args, settings)
    with RunStore(settings.state_dir) as store:
        rows = []
        for row in store.summaries():
            summary = row["summary"]
            if summary is None:  # recorded by an earlier codemend, or never driven
                try:
                    out = store.outcome(row["run_id"])
                    summary = {"status": out.status, "iterations": out.iterations,
                               "kind": out.state.task.kind}
                except BadInput:
                    summary = {"status": "new", "iterations": 0, "kind": "spec"}
            status = summary["status"]
            if summary.get("kind") == "repo" and status == "solved":
                status = "fixed"  # repository runs speak of fixes (as `fix --json` does)
            rows.append({"run_id": row["run_id"], "task": row["task"], "model": row["model"],
                         "status": status, "iterations": summary["iterations"],
                         "out": row["out"]})
    if args.json:
        print(json.dumps({"runs": rows}))
        return 0
    console = Console()
    if not rows:
        console.print(f"no runs in {settings.state_dir}")
    for r in rows:
        console.print(f"{r['run_id']}  {r['task']}  {r['status']}  {r['iterations']} it.  "
                      f"{r['model']}", highlight=False)
    return 0


def _prune(args: argparse.Namespace, settings: Settings) -> int:
    from codemend.agent.prune import prune

    if not (settings.state_dir / "runs.sqlite").exists():
        raise BadInput(f"no run database in {settings.state_dir}; give --state-dir")
    with RunStore(settings.state_dir) as store:
        done = prune(store, args.older_than)
    freed = max(0, done.before - done.after)
    if args.json:
        print(json.dumps({"pruned": done.runs, "kept": done.kept, "payloads": done.payloads,
                          "snapshots": done.snapshots, "bytes_before": done.before,
                          "bytes_after": done.after, "bytes_freed": freed}))
        return 0
    kept = (f"; kept {done.kept} that can still be continued (escalated or unfinished)"
            if done.kept else "")
    Console(soft_wrap=True).print(
        f"pruned {len(done.runs)} runs{kept}; freed {freed} bytes ({done.before} -> "
        f"{done.after} bytes in {settings.state_dir / 'runs.sqlite'})", highlight=False)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    settings = settings_from(vars(args))
    with RunStore(settings.state_dir) as store:
        store.meta(args.run_id)
        data = store.attempts_json(args.run_id)
        out = store.outcome(args.run_id)
    if args.json:
        print(json.dumps(data))
        return 0
    console = Console()
    console.print(f"run {args.run_id}: {data['status']} {data['reason']}")
    for a in out.state.attempts:
        render.attempt_line(console, a)
    return 0

