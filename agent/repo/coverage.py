"""Diff coverage of a repository fix: which of the verified candidate's changed executable
lines the suite ran, and which no target test ran. Measured once per verified candidate
(``RepoKind.judge``, after ``verify`` passed: the run that verifies the final candidate),
by a second check of the same workspace with coverage.py on (sandbox/runner/
codemend_coverage.py); every other check runs without it. ``--require-coverage`` turns
changed lines that no target test runs into a refusal the model is told about.

The summary (``CheckReport.coverage`` of that attempt, ``changed_lines_executed`` in
report.json): ``{"files": {path: {"executed", "total", "not_executed": [n],
"not_by_targets": [n]}} | None, "error": text | None}``. Executable lines are coverage.py's
own analysis of the file (statements, no exclusion pragma honoured) intersected with the
changed lines; lines run while modules load (``def`` lines, module constants) count as
reached by the targets.
"""

from __future__ import annotations

from typing import Any

from codemend.agent.repo.snapshot import RepoSnapshot
from codemend.agent.repo.verify import changed_lines
from codemend.agent.repo.workspace import protected_reason
from codemend.agent.repotask import SUITE_TARGET, RepoTask
from codemend.sandbox.report import CheckReport
from codemend.sandbox.retry import checked
from codemend.sandbox.workspace import Workspace

MAX_SHOWN = 12


def spans(lines: set[int]) -> list[list[int]]:
    """Sorted line numbers as ``[[first, last], ...]`` runs."""
    out: list[list[int]] = []
    for n in sorted(lines):
        if out and out[-1][1] == n - 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return out


def request(snap: RepoSnapshot, overlay: dict[str, str]) -> dict[str, list[list[int]]]:
    """The changed lines of the candidate's changed code files (tests are not measured)."""
    out = {}
    for path, text in sorted(overlay.items()):
        if path.endswith(".py") and protected_reason(snap, path) is None:
            out[path] = spans(changed_lines(snap.files.get(path), text))
    return out


def _key(test_id: str) -> str:
    """A test id in one form whether it came from JUnit (``a.py::A.B::t``) or pytest's
    node ids (``a.py::A::B::t``)."""
    file, _, rest = test_id.partition("::")
    return f"{file}::{rest.replace('::', '.')}"


def _reached(ids: list[str], targets: list[str]) -> bool:
    """Did a target test (or a module's loading) run a line run by the tests ``ids``?"""
    if "" in ids:  # run while a module loaded
        return True
    if SUITE_TARGET in targets:
        return bool(ids)
    keys = {_key(t) for t in targets if "::" in t}
    modules = tuple(f"{t}::" for t in targets if "::" not in t)
    return any(_key(i) in keys or i.startswith(modules) for i in ids)  # (): never


def summarize(raw: dict[str, Any] | None, targets: list[str]) -> dict[str, Any]:
    if raw is None or raw.get("files") is None:
        return {"files": None, "error": (raw or {}).get("error") or "no coverage result"}
    files: dict[str, Any] = {}
    for path, entry in sorted(raw["files"].items()):
        if "error" in entry:
            return {"files": None, "error": f"{path}: {entry['error']}"}
        statements, executed = entry["statements"], set(entry["executed"])
        tests = entry["tests"]
        files[path] = {"executed": len(executed), "total": len(statements),
                       "not_executed": [n for n in statements if n not in executed],
                       "not_by_targets": [n for n in statements
                                          if not _reached(tests.get(str(n), []), targets)]}
    return {"files": files, "error": None}


def shown(lines: list[int]) -> str:
    more = f" (+{len(lines) - MAX_SHOWN} more)" if len(lines) > MAX_SHOWN else ""
    return ", ".join(str(n) for n in lines[:MAX_SHOWN]) + more


def refusal(summary: dict[str, Any]) -> str | None:
    """Why ``--require-coverage`` refuses the candidate (None: it does not)."""
    if summary["files"] is None:
        return (f"--require-coverage: the changed lines' coverage could not be measured "
                f"({summary['error']})")
    missed = [f"{p}:{shown(f['not_by_targets'])}" for p, f in summary["files"].items()
              if f["not_by_targets"]]
    if not missed:
        return None
    return ("--require-coverage: changed lines that no target test runs: " + "; ".join(missed)
            + ". Change only code the failing tests exercise")


def covered(judged: CheckReport, sandbox: Any, task: RepoTask, snap: RepoSnapshot,
            overlay: dict[str, str], workspace: Workspace, timeout_s: float) -> CheckReport:
    """The verified report with its diff coverage (``workspace``, the harness the verdict
    came from, checked again with coverage.py on, on the whole suite); under
    ``--require-coverage`` a candidate whose changed lines no target test runs fails."""
    asked = request(snap, overlay)
    if asked:
        ws = workspace.model_copy(update={"coverage": asked, "select": []})
        run = checked(sandbox, ws, timeout_s)
        raw = run.coverage if run.coverage is not None else {
            "files": None, "error": f"the coverage run ended {run.verdict}: {run.message[:200]}"}
        summary = summarize(raw, task.targets)
    else:
        summary = {"files": {}, "error": None}
    why = refusal(summary) if task.require_coverage else None
    if why is None:
        return judged.model_copy(update={"coverage": summary})
    return judged.model_copy(update={
        "verdict": "fail", "coverage": summary, "message": why,
        "tests": judged.tests.model_copy(update={"ok": False})})
