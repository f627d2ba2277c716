"""A repository run below the command modules: its sandbox (the environment image),
``resume --edit`` of a work tree, and settling it: report.json, fix.patch, summary.md,
``--apply`` and ``--branch``, and the result line. ``fix``, ``resume`` and ``repair`` use it."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codemend.agent.config import OutputOptions, Settings
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
from codemend.agent.repo.snapshot import RepoSnapshot, load_repo
from codemend.agent.repotask import RepoTask
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



def inside(root: Path, other: Path) -> str | None:
    """``other`` relative to ``root`` as a folder prefix ("x/"), if it lies inside."""
    try:
        rel = other.resolve().relative_to(root)
    except ValueError:
        return None
    return f"{rel.as_posix()}/" if rel.parts else None



def repo_sandbox(settings: Settings, stack: ExitStack, console: Console, snap: RepoSnapshot,
                 timeout_s: float | None = None) -> tuple[Any, float]:
    """The sandbox for a repository: its environment image (dependencies installed, built
    once per set of declarations) and room for its files; one warm container is enough,
    since a repository run checks one candidate at a time. Returns it and its timeout
    (``timeout_s``, else ``settings.check_timeout``, else the repository default)."""
    from codemend.agent.repo.environment import repo_defaults, sandbox_config
    from codemend.sandbox.docker_io import connect
    from codemend.sandbox.factory import make_sandbox

    def say(message: str) -> None:
        console.print(f"[dim]{escape(message)}[/]")

    client = connect()
    cfg = sandbox_config(snap, client, progress=say,
                         base=repo_defaults(timeout_s or settings.check_timeout))
    sb = make_sandbox(settings.sandbox, cfg, client, progress=say, size=1)
    stack.callback(sb.close)
    return sb, cfg.timeout_s


def resume_sandbox(settings: Settings, stack: ExitStack, console: Console, store: RunStore,
                   task: Any) -> Any:
    """``codemend resume`` of a repository run: the same sandbox as its start (its check
    time limit too)."""
    return repo_sandbox(settings, stack, console, store.bases().snapshot(task.repo.base_id),
                        task.check_timeout_s)[0]


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


def clean_result(opts: OutputOptions, run_id: str, task: RepoTask, out_dir: Path) -> int:
    report = report_json(run_id=run_id, status="clean", task=task, final=None, attempts=[],
                         tokens={"prompt": 0, "completion": 0}, files=[], patch=None,
                         reason="every test passes at baseline: nothing to fix" + (
                             f" (besides {len(task.environment)} failing only for the "
                             "sandbox's environment: see `environment`)"
                             if task.environment else ""))
    dump(out_dir / "report.json", report)
    write_text(out_dir / "summary.md", summary_md(report, ""))
    _print(opts, report, out_dir)
    return 0


def _attempts(out: Outcome) -> list[dict[str, Any]]:
    return [{**a.model_dump(exclude={"files", "report"}),
             "files": sorted(a.files),
             "reason": a.report.message if a.report else FORMAT_ERROR}
            for a in out.state.attempts]


def finish_repo(opts: OutputOptions, store: RunStore, out: Outcome, out_dir: Path) -> int:
    """Write the outputs of a settled repository run (from `fix` or `resume`)."""
    from codemend.agent.runs import ensure_writable

    task = out.state.task.repo
    assert task is not None
    base = store.bases().snapshot(task.base_id).files
    status = repo_status(out.status)
    final = out.final
    overlay = final.files if status == "fixed" and final is not None else {}
    patch = patch_text(base, overlay, root=Path(task.root), head=task.head) if overlay else ""
    ensure_writable(out_dir, OUTPUTS, out.run_id, force=opts.force)
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
    _print(opts, data, out_dir)
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


def _print(opts: OutputOptions, report: dict[str, Any], out_dir: Path) -> None:
    if opts.json:
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
