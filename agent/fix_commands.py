"""`codemend fix [PATH]`: heal a git repository whose tests fail, with the same loop as
`solve` (agent/kinds.py says what differs). Parse, snapshot, baseline, run, write."""

from __future__ import annotations

import argparse
import json
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codemend.agent.config import Settings, load_settings
from codemend.agent.repo import git
from codemend.agent.repo.output import (
    apply_to_worktree,
    dump,
    patch_text,
    repo_status,
    report_json,
    summary_md,
    write_text,
)
from codemend.agent.repo.snapshot import RepoSnapshot, from_files, load_repo
from codemend.agent.repotask import DEFAULT_CONTEXT_TOKENS, RepoTask
from codemend.sandbox.errors import BadInput
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from codemend.agent.runs import Outcome, RunStore

EXIT = {"fixed": 0, "clean": 0, "escalated": 3, "failed": 1, "running": 4}
OUTPUTS = ["fix.patch", "report.json", "summary.md"]
DEFAULT_MAX_ITERATIONS = 4
FORMAT_ERROR = ("a format error: the reply held no usable edit, or edited a path a fix may not "
                "change (tests, their configuration, start-up files, a symbolic link); it was "
                "never checked, and the model was told why")


def _validate(args: argparse.Namespace) -> None:
    if args.max_iterations is not None and not 1 <= args.max_iterations <= 100:
        raise BadInput(f"--max-iterations {args.max_iterations}: give 1 to 100")
    if args.context_tokens is not None and not 500 <= args.context_tokens <= 1_000_000:
        raise BadInput(f"--context-tokens {args.context_tokens}: give 500 to 1000000")
    path = Path(args.path)
    if not path.is_dir():
        raise BadInput(f"{path}: not a folder; give the work tree of a git repository")


def _inside(root: Path, other: Path) -> str | None:
    """``other`` relative to ``root`` as a folder prefix ("x/"), if it lies inside."""
    try:
        rel = other.resolve().relative_to(root)
    except ValueError:
        return None
    return f"{rel.as_posix()}/" if rel.parts else None


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
    own = tuple(p for p in (_inside(root, settings.state_dir),
                            _inside(root, out_dir or settings.state_dir)) if p)
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
    from codemend.agent.nodes import Deps
    from codemend.agent.repo.baseline import counts, run_baseline
    from codemend.agent.repo.deps import deps_fields
    from codemend.agent.run_commands import _console, _finish, _model, note_printer
    from codemend.agent.runlock import lock_run
    from codemend.agent.runs import RunStore, ensure_writable, new_run_id
    from codemend.agent.state import TaskInfo

    console = _console(args)
    root = snap.root
    run_id = getattr(args, "run_id", None) or new_run_id(root.name or "repo")
    out_dir = Path(args.out) if args.out else settings.state_dir / "out" / run_id
    with ExitStack() as stack:
        store = stack.enter_context(RunStore(settings.state_dir))
        stack.enter_context(lock_run(settings.state_dir, run_id))
        ensure_writable(out_dir, OUTPUTS, run_id, force=bool(args.force))
        model = _model(settings, stack)
        fallback = _model(settings, stack, settings.fallback_model) if (
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
            return _clean(args, run_id, task, out_dir)
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
        return _finish(args, store, out, console, deps)


def repo_sandbox(settings: Settings, stack: ExitStack, console: Console, snap: RepoSnapshot
                 ) -> tuple[Any, float]:
    """The sandbox for a repository: its environment image (dependencies installed, built
    once per set of declarations) and room for its files; one warm container is enough,
    since a repository run checks one candidate at a time. Returns it and its timeout."""
    from codemend.agent.repo.environment import sandbox_config
    from codemend.sandbox.docker_io import connect
    from codemend.sandbox.factory import make_sandbox

    def say(message: str) -> None:
        console.print(f"[dim]{escape(message)}[/]")

    client = connect()
    cfg = sandbox_config(snap, client, progress=say)
    sb = make_sandbox(settings.sandbox, cfg, client, progress=say, size=1)
    stack.callback(sb.close)
    return sb, cfg.timeout_s


def resume_sandbox(settings: Settings, stack: ExitStack, console: Console, store: RunStore,
                   task: Any) -> Any:
    """``codemend resume`` of a repository run: the same sandbox as its start."""
    return repo_sandbox(settings, stack, console,
                        store.bases().snapshot(task.repo.base_id))[0]


def edited_overlay(path: Path, task: Any, store: RunStore) -> dict[str, str]:
    """``resume --edit PATH`` of a repository run: PATH is a work tree (the repository
    itself after a person edited it, or a copy); the next candidate is every text file
    there that differs from the run's base snapshot."""
    base = store.bases().snapshot(task.repo.base_id)
    edited = load_repo(path)
    overlay = {p: t for p, t in edited.files.items() if base.files.get(p) != t}
    if not overlay:
        raise BadInput(f"--edit {path}: no file differs from the run's start; edit the work "
                       "tree first")
    return overlay


def _clean(args: argparse.Namespace, run_id: str, task: RepoTask, out_dir: Path) -> int:
    report = report_json(run_id=run_id, status="clean", task=task, final=None, attempts=[],
                         tokens={"prompt": 0, "completion": 0}, files=[], patch=None,
                         reason="every test passes at baseline: nothing to fix" + (
                             f" (besides {len(task.environment)} failing only for the "
                             "sandbox's environment: see `environment`)"
                             if task.environment else ""))
    dump(out_dir / "report.json", report)
    write_text(out_dir / "summary.md", summary_md(report, ""))
    _print(args, report, out_dir)
    return 0


def _attempts(out: Outcome) -> list[dict[str, Any]]:
    return [{**a.model_dump(exclude={"files", "report"}),
             "files": sorted(a.files),
             "reason": a.report.message if a.report else FORMAT_ERROR}
            for a in out.state.attempts]


def finish_repo(args: argparse.Namespace, store: RunStore, out: Outcome, out_dir: Path) -> int:
    """Write the outputs of a settled repository run (from `fix` or `resume`)."""
    from codemend.agent.runs import ensure_writable

    task = out.state.task.repo
    assert task is not None
    base = store.bases().snapshot(task.base_id).files
    status = repo_status(out.status)
    final = out.final
    overlay = final.files if status == "fixed" and final is not None else {}
    patch = patch_text(base, overlay, root=Path(task.root), head=task.head) if overlay else ""
    ensure_writable(out_dir, OUTPUTS, out.run_id, force=bool(getattr(args, "force", False)))
    s = out.state

    from codemend.agent.repo.verify import findings

    seen = findings(store.bases().snapshot(task.base_id), final.files) if final else {}

    def report(applied: bool = False, commit: str | None = None) -> dict[str, Any]:
        return report_json(findings=seen, run_id=out.run_id, status=status, task=task,
                           final=final.report if final else None, attempts=_attempts(out),
                           tokens={"prompt": s.prompt_tokens, "completion": s.completion_tokens},
                           files=sorted(overlay), patch=str(out_dir / "fix.patch") if patch
                           else None, reason=out.reason, iterations=s.iteration,
                           model_calls=s.model_calls, applied=applied, branch_commit=commit)

    data = report()
    dump(out_dir / "report.json", data)  # first: it marks the folder as this run's
    if patch:
        write_text(out_dir / "fix.patch", patch)
    root = Path(task.root)
    applied, commit = False, None
    if overlay and task.apply:
        if all((root / p).is_file() and (root / p).read_bytes().decode(
                "utf-8", errors="surrogateescape") == t for p, t in overlay.items()):
            applied = True  # a resumed run that was applied already
        else:
            apply_to_worktree(root, base, overlay)
            applied = True
    if overlay and task.branch:
        commit = _branch(root, task, overlay, out.run_id)
    data = report(applied, commit)
    dump(out_dir / "report.json", data)
    write_text(out_dir / "summary.md", summary_md(data, patch))
    _print(args, data, out_dir)
    return EXIT.get(status, 1)


def _branch(root: Path, task: RepoTask, overlay: dict[str, str], run_id: str) -> str:
    name = task.branch or ""
    have = git.git(root, "rev-parse", "--verify", "--quiet", f"refs/heads/{name}",
                   check=False).strip()
    if have:
        if run_id in git.git(root, "log", "-1", "--format=%B", have):
            return have  # made by this run before it was resumed
        raise BadInput(f"--branch {name}: was created meanwhile by someone else; the fix is "
                       "in fix.patch")
    files = ", ".join(sorted(overlay))[:200]
    message = f"codemend fix: {files}\n\nVerified by codemend run {run_id}."
    return git.commit_on_branch(root, task.head, overlay, name, message)


def _print(args: argparse.Namespace, report: dict[str, Any], out_dir: Path) -> None:
    if args.json:
        keys = ("status", "run_id", "iterations", "model_calls", "targets", "flaky",
                "files_changed", "patch", "tokens", "reason", "applied", "branch",
                "changed_lines_executed")
        print(json.dumps({**{k: report[k] for k in keys}, "out": str(out_dir)}))
        return
    console = Console(soft_wrap=True, highlight=False)
    colour = {"fixed": "green", "clean": "green", "escalated": "yellow"}.get(report["status"],
                                                                              "red")
    b, f = report["baseline"], report["final"]
    console.print(f"[{colour}]{report['status']}[/] after {report['iterations']} iteration(s), "
                  f"{report['model_calls']} model call(s); run {report['run_id']}")
    if report["reason"]:
        console.print(f"  {escape(report['reason'])}")
    after = f" -> after: {f['passed']} passed, {f['failed'] + f['errors']} failing" if f else ""
    console.print(f"  baseline: {b['passed']} passed, {b['failed'] + b['errors']} failing{after}")
    if report["files_changed"]:
        console.print(f"  changed: {escape(', '.join(report['files_changed']))}")
    from codemend.agent.repo.coverage import shown

    for path, f in (report.get("changed_lines_executed") or {}).items():
        unreached = f" · no target test ran line(s) {shown(f['not_by_targets'])}" if f[
            "not_by_targets"] else ""
        console.print(f"  diff coverage: {escape(path)} {f['executed']}/{f['total']} changed "
                      f"executable lines ran{unreached}")
    if report["patch"]:
        console.print(f"  patch: {escape(report['patch'])} (git apply it, or rerun with --apply "
                      "or --branch NAME)")
    if report["applied"]:
        console.print("  applied to the work tree")
    if report["branch"]:
        console.print(f"  committed on branch {escape(report['branch'])}")
    if report["status"] == "escalated":
        console.print(f"  resume with: codemend resume {report['run_id']} --hint TEXT | --more N "
                      "| --accept | --abort")
    console.print(f"  output: {escape(str(out_dir))}")
