"""What a repository run leaves behind: ``fix.patch``, ``report.json``, ``summary.md`` in
the output folder, and, when asked, the change in the work tree (``--apply``) or on a new
branch (``--branch``). Spec runs end ``solved``; a repository run reports that as ``fixed``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from codemend.agent.repo.coverage import shown
from codemend.agent.repo.patch import git_patch, modes_at
from codemend.agent.repo.paths import UnsafePath, check_writable
from codemend.agent.repotask import Counts, RepoTask
from codemend.sandbox.errors import BadInput, InfraError
from codemend.sandbox.report import CheckReport

STATUS = {"solved": "fixed"}


def repo_status(status: str) -> str:
    return STATUS.get(status, status)


def patch_text(base: dict[str, str], overlay: dict[str, str], *, root: Path | None = None,
               head: str | None = None) -> str:
    """The overlay against the base as a git patch, made by git (agent/repo/patch.py), so
    ``git apply`` on the starting commit takes it; ``root``/``head`` give file modes."""
    return git_patch(base, overlay, modes_at(root, head, sorted(overlay)))


def counts_of(report: CheckReport | None) -> Counts | None:
    if report is None:
        return None
    t = report.tests
    return Counts(passed=t.passed, failed=t.failed, errors=t.errors, skipped=t.skipped,
                  collected=len(t.cases), lint=len(report.lint.findings))


def report_json(*, run_id: str, status: str, task: RepoTask, final: CheckReport | None,
                attempts: list[dict[str, Any]], tokens: dict[str, int], files: list[str],
                patch: str | None, reason: str = "", iterations: int = 0, model_calls: int = 0,
                applied: bool = False, branch_commit: str | None = None,
                findings: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """``findings``: the final candidate's advisory tamper signs and removed definitions
    (``verify.findings``)."""
    final_counts = counts_of(final)
    cov = (final.coverage if final is not None else None) or {}
    return {"run_id": run_id, "status": status, "reason": reason, "repo": task.root,
            "commit": task.head, "iterations": iterations, "model_calls": model_calls,
            "baseline": task.baseline.model_dump(),
            "final": final_counts.model_dump() if final_counts else None,
            "targets": task.targets, "flaky": task.flaky, "files_changed": files,
            "patch": patch, "applied": applied, "branch": task.branch if branch_commit else None,
            "branch_commit": branch_commit, "attempts": attempts, "tokens": tokens,
            "advisory": (findings or {}).get("advisory", []),
            "removed": (findings or {}).get("removed", []),
            "dependencies": {"source": task.deps_source, "added": task.deps_added},
            "environment": task.environment,
            "changed_lines_executed": cov.get("files"), "coverage_error": cov.get("error")}


def coverage_lines(report: dict[str, Any]) -> list[str]:
    """summary.md's diff coverage: per changed file, executed / executable changed lines."""
    files, error = report.get("changed_lines_executed"), report.get("coverage_error")
    if error:
        return [f"Diff coverage: not measured ({error}).", ""]
    if not files:
        return []
    rows = ["Changed executable lines the suite ran (coverage.py, on the verifying run):", "",
            "| file | executed | not executed | no target test ran |", "|---|---:|---|---|"]
    for path, f in files.items():
        rows.append(f"| `{path}` | {f['executed']}/{f['total']} | "
                    f"{shown(f['not_executed']) or '-'} | {shown(f['not_by_targets']) or '-'} |")
    return [*rows, ""]


def summary_md(report: dict[str, Any], patch: str) -> str:
    b, f = report["baseline"], report["final"] or {}
    rows = ["| | passed | failed | errors | skipped | collected |", "|---|---|---|---|---|---|",
            "| baseline | " + " | ".join(str(b[k]) for k in ("passed", "failed", "errors",
                                                            "skipped", "collected")) + " |"]
    if f:
        rows.append("| after | " + " | ".join(str(f[k]) for k in (
            "passed", "failed", "errors", "skipped", "collected")) + " |")
    parts = [f"# codemend fix: {report['status']}", "",
             f"Repository `{report['repo']}` at `{report['commit'][:12] or '(no commit)'}`, run "
             f"`{report['run_id']}`: {report['iterations']} iteration(s), "
             f"{report['model_calls']} model call(s).", ""]
    if report["reason"]:
        parts += [report["reason"], ""]
    parts += rows + [""] + coverage_lines(report)
    if report["targets"]:
        parts += ["Targets (failing at baseline):", *(f"- `{t}`" for t in report["targets"]), ""]
    if report["flaky"]:
        parts += ["Flaky (not targeted):", *(f"- `{t}`" for t in report["flaky"]), ""]
    if report.get("removed"):
        parts += ["Definitions the change removes:",
                  *(f"- `{n}`" for n in report["removed"]), ""]
    if report.get("advisory"):
        parts += ["Advisory tamper signs on changed lines (not refused):",
                  *(f"- `{n}`" for n in report["advisory"]), ""]
    if patch:
        parts += ["```diff", patch.rstrip("\n"), "```", ""]
    return "\n".join(parts)


def write_text(path: Path, text: str) -> None:
    from codemend.agent.atomic import replace_file

    try:
        replace_file(path, text.encode("utf-8", errors="surrogateescape"))
    except OSError as exc:
        raise InfraError(f"cannot write {path}: {exc.strerror or exc}") from exc


def apply_to_worktree(root: Path, base: dict[str, str], overlay: dict[str, str]) -> None:
    """Write the change into the work tree; a file changed since the snapshot is never
    overwritten (--force only allows a dirty tree), and no path through a symbolic link or
    into a submodule is written (paths.py)."""
    try:
        check_writable(root, sorted(overlay))
    except UnsafePath as exc:
        raise BadInput(f"--apply: {exc}; nothing was written (the patch is in the output "
                       "folder)") from None
    changed = []
    for rel in sorted(overlay):
        p = root / rel
        now = p.read_bytes().decode("utf-8", errors="surrogateescape") if p.is_file() else None
        if now != base.get(rel):
            changed.append(rel)
    if changed:
        raise BadInput(f"--apply: {', '.join(changed[:5])} changed since the run started; "
                       "nothing was written (the patch is in the output folder)")
    for rel, text in sorted(overlay.items()):
        write_text(root / rel, text)


def dump(path: Path, data: dict[str, Any]) -> None:
    write_text(path, json.dumps(data, indent=2))
