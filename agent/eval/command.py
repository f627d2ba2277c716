"""`codemend eval SUITE`: run a suite through the loop, stream results, write the report.

An eval folder (``--out``, default ``.codemend/eval/<suite>-<time>``) holds ``eval.json``
(what was asked, so ``--resume DIR`` needs nothing else), ``results.jsonl``, ``state/``
(the runs' checkpoints, local mode), and once every job finished ``summary.json``,
``report.md`` and ``healing.png``.
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from codemend.agent.config import Settings, load_settings
from codemend.agent.eval.jobspec import Job, ModelSpec
from codemend.agent.eval.report import healing_png, markdown
from codemend.agent.eval.results import ResultsFile, summarize
from codemend.agent.eval.suite import Suite, load_suite
from codemend.agent.runlock import lock_eval
from codemend.sandbox.errors import BadInput, CodemendError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

EXIT_INTERRUPTED = 130
ASKED = ("suite", "model", "samples", "max_iterations", "limit", "tasks", "temperature", "seed")
"""What an eval folder was made for; ``--resume`` may not change these (the base URL may
change: the same server can move)."""


def _asked(args: argparse.Namespace) -> dict[str, Any]:
    """The flags that define the eval, normalised (None: not given)."""
    suite = args.suite
    if suite is not None and suite != "humaneval":
        suite = str(Path(suite).absolute())
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    return {"suite": suite, "model": args.model, "samples": args.samples,
            "max_iterations": args.max_iterations, "limit": args.limit, "tasks": tasks,
            "temperature": args.temperature, "seed": args.seed}


def _validate(args: argparse.Namespace) -> None:
    for flag, value, low, high in (("--samples", args.samples, 1, 1000),
                                   ("--max-iterations", args.max_iterations, 1, 100),
                                   ("--workers", args.workers, 1, 64),
                                   ("--limit", args.limit, 1, 1_000_000)):
        if value is not None and not low <= value <= high:
            raise BadInput(f"{flag} {value}: give a whole number from {low} to {high}")
    if args.resume and args.out:
        raise BadInput("--resume DIR continues the eval in DIR; drop --out")
    if not args.resume and not args.suite:
        raise BadInput("give a SUITE (humaneval or a folder of tasks), or --resume DIR")
    if args.ray and args.workers != 1:
        raise BadInput("--workers is for local runs; on Ray every node runs as many jobs as "
                       "it has CPUs")


def _open_folder(args: argparse.Namespace, settings: Settings) -> tuple[Path, dict[str, Any]]:
    asked = _asked(args)
    if args.resume:
        folder = Path(args.resume)
        try:
            meta = json.loads((folder / "eval.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise BadInput(f"--resume {folder}: not an eval folder (no readable eval.json); "
                           "give the --out folder of an earlier eval") from None
        clashes = [k for k in ASKED if asked[k] is not None and asked[k] != meta.get(k)]
        if clashes:
            shown = ", ".join(f"{k} {meta.get(k)!r}" for k in clashes)
            raise BadInput(f"--resume {folder}: that eval was made with {shown}; drop those "
                           "flags, or start a new eval with --out")
        return folder, meta
    # the model and how it samples: flags > CODEMEND_* > [tool.codemend] > defaults
    asked.update(model=settings.model, temperature=settings.temperature, seed=settings.seed)
    asked["samples"] = asked["samples"] or 1
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = "humaneval" if args.suite == "humaneval" else Path(args.suite).name or "suite"
    folder = Path(args.out) if args.out else settings.state_dir / "eval" / f"{name}-{stamp}"
    if (folder / "eval.json").exists() or (folder / "results.jsonl").exists():
        raise BadInput(f"--out {folder}: holds an eval already; continue it with --resume "
                       f"{folder}, or choose another folder")
    return folder, {**asked, "base_url": settings.base_url, "created": time.time()}


def cmd_eval(args: argparse.Namespace) -> int:
    _validate(args)
    settings = load_settings({k: getattr(args, k) for k in ("model", "base_url", "temperature",
                                                            "seed", "state_dir", "sandbox")})
    folder, meta = _open_folder(args, settings)
    suite = load_suite(meta["suite"], meta["model"], max_iterations=meta["max_iterations"],
                       limit=meta["limit"], only=meta["tasks"])
    _make_folder(folder, meta)
    with lock_eval(folder):  # one driver per eval folder (agent/runlock.py)
        return _run(args, settings, folder, meta, suite)


def _run(args: argparse.Namespace, settings: Settings, folder: Path, meta: dict[str, Any],
         suite: Suite) -> int:
    jobs = [Job(t, k) for t in suite.tasks for k in range(meta["samples"])]
    _unique_run_ids(jobs)
    spec = ModelSpec(meta["model"], base_url=args.base_url or meta.get("base_url"),
                     temperature=meta.get("temperature"), seed=meta.get("seed"))
    console = Console(stderr=True, soft_wrap=True)
    with ExitStack() as stack:
        results = ResultsFile(folder / "results.jsonl")
        stack.callback(results.close)
        todo = [j for j in jobs if j.id not in results.records]
        console.print(f"eval [bold]{meta['suite']}[/] with {meta['model']}: {len(jobs)} runs "
                      f"({len(jobs) - len(todo)} done before), results in {folder}")
        if todo:
            executor = _executor(args, settings, suite, spec, folder, stack, console)
            try:
                error = _drive(executor, todo, jobs, results, console)
            except KeyboardInterrupt:
                error = _Interrupted("interrupted")
            if error is not None:
                raise _resumable(error, folder, results, jobs)
    return _finish(args, folder, meta, jobs, results, console)


def _unique_run_ids(jobs: list[Job]) -> None:
    seen: dict[str, Job] = {}
    for job in jobs:
        other = seen.setdefault(job.run_id, job)
        if other is not job:
            raise BadInput(f"tasks {other.task.id!r} and {job.task.id!r} would share the run "
                           f"id {job.run_id}; rename one of them")


def _make_folder(folder: Path, meta: dict[str, Any]) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "eval.json").exists():
            (folder / "eval.json").write_text(json.dumps(meta, indent=2) + "\n")
    except OSError as exc:
        raise BadInput(f"--out {folder}: cannot write there ({exc.strerror}); choose another "
                       "folder") from None


def _executor(args: argparse.Namespace, settings: Settings, suite: Suite, spec: ModelSpec,
              folder: Path, stack: ExitStack, console: Console):
    if args.ray:
        try:
            from codemend.agent.eval.ray_exec import RayExecutor
        except ImportError:
            raise BadInput("--ray needs Ray: pip install 'codemend[ray]'") from None
        executor = RayExecutor(args.ray, spec, suite.sandbox_config(), settings.pool_size,
                               progress=lambda m: console.print(f"[dim]{m}[/]",
                                                                highlight=False))
        stack.callback(executor.close)
        return executor
    from codemend.agent.eval.local import LocalExecutor
    from codemend.agent.runs import RunStore
    from codemend.sandbox.factory import make_sandbox

    store = stack.enter_context(RunStore(folder / "state"))
    extra = {"size": max(args.workers, settings.pool_size), "max_parallel": args.workers}
    sandbox = make_sandbox(settings.sandbox, suite.sandbox_config(), **(
        extra if settings.sandbox == "pool" else {}))
    stack.callback(sandbox.close)
    executor = LocalExecutor(args.workers, store, sandbox, spec)
    stack.callback(executor.close)
    return executor


def _drive(executor, todo: list[Job], jobs: list[Job], results: ResultsFile,
           console: Console) -> BaseException | None:
    """Write each finished job; after the first error start nothing new, keep what finishes."""
    error: BaseException | None = None
    done = lambda: sum(j.id in results.records for j in jobs)  # noqa: E731
    solved = lambda: sum(results.records[j.id]["pass_healed"] for j in jobs  # noqa: E731
                         if j.id in results.records)
    columns = (TextColumn("eval"), BarColumn(), MofNCompleteColumn(),
               TextColumn("pass {task.fields[rate]}"), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task("eval", total=len(jobs), completed=done(), rate=_rate(solved(),
                                                                                      done()))
        def write(finished) -> None:
            nonlocal error
            for _job, outcome in finished:
                if isinstance(outcome, BaseException):
                    if error is None:
                        error = outcome
                        executor.stop()
                    continue
                results.append(outcome)
                progress.update(bar, completed=done(), rate=_rate(solved(), done()))

        try:
            write(executor.run(todo))
        except KeyboardInterrupt:
            executor.stop()
            console.print("stopping: the runs in flight finish and are written (Ctrl-C again "
                          "to quit at once; `--resume` continues the rest)")
            write(executor.finished())
            raise
    return error


def _rate(solved: int, done: int) -> str:
    return f"{100 * solved / done:.1f}%" if done else "-"


class _Interrupted(CodemendError):
    exit_code = EXIT_INTERRUPTED


def _resumable(error: BaseException, folder: Path, results: ResultsFile, jobs: list[Job]
               ) -> BaseException:
    if not isinstance(error, CodemendError):
        return error
    text = str(error).split(". The run is paused")[0].rstrip(". ")
    done = sum(j.id in results.records for j in jobs)
    out = CodemendError(f"{text}. {done} of {len(jobs)} runs are done and kept in {folder}; "
                        f"once that is fixed, continue with `codemend eval --resume {folder}`")
    out.exit_code = error.exit_code
    return out


def _finish(args: argparse.Namespace, folder: Path, meta: dict[str, Any], jobs: list[Job],
            results: ResultsFile, console: Console) -> int:
    records = [results.records[j.id] for j in jobs]
    limit = max((r["max_iterations"] for r in records), default=1)
    summary = {"suite": meta["suite"], "model": meta["model"],
               **summarize(records, meta["samples"], limit)}
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    drawn = healing_png(summary, f"{Path(meta['suite']).name} with {meta['model']}",
                        folder / "healing.png")
    if not drawn:
        console.print("[yellow]healing.png needs matplotlib: pip install 'codemend[eval]'[/]")
    (folder / "report.md").write_text(markdown(meta, summary, records,
                                               "healing.png" if drawn else None))
    if args.json:
        print(json.dumps(summary))
    else:
        Console(soft_wrap=True).print(
            f"pass@1 first try {_pct(summary['pass_first'])}, after healing "
            f"{_pct(summary['pass_healed'])} ({summary['solved']}/{summary['scored']} runs"
            f"{_clean(summary['clean'])}); report: {folder / 'report.md'}", highlight=False)
    return 0


def _clean(n: int) -> str:
    return f", and {n} clean with no bug to heal" if n else ""


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"
