"""What a repair session shows: coloured diffs, check results against the previous step,
the baseline, what goes to the model, and the steps so far. Everything a model or a test
wrote is escaped before rich sees it."""

from __future__ import annotations

from typing import Any

from codemend.agent import render
from codemend.agent.repair.steps import Step
from codemend.agent.repair.target import unified
from codemend.agent.state import Attempt, RunState
from codemend.sandbox.report import CheckReport
from rich.console import Console
from rich.markup import escape
from rich.text import Text

DIFF_LINES = 60
PREVIEW_LINES = 24


def diff(console: Console, old: dict[str, str], new: dict[str, str], *, full: bool = False
         ) -> int:
    """Print the unified diff ``old`` -> ``new`` in colour; return its number of lines."""
    lines = unified(old, new).splitlines()
    if not lines:
        console.print("  [dim](no change)[/]")
        return 0
    shown = lines if full else lines[:DIFF_LINES]
    for line in shown:
        style = ("bold" if line.startswith(("+++", "---")) else "green" if line.startswith("+")
                 else "red" if line.startswith("-") else "cyan" if line.startswith("@@") else "")
        console.print(Text(line, style=style), soft_wrap=True)
    if len(lines) > len(shown):
        console.print(f"  [dim]... {len(lines) - len(shown)} more lines ([bold]d[/] shows all)[/]")
    return len(lines)


def changed_stat(old: dict[str, str], new: dict[str, str]) -> str:
    """``safestats.py +4 -1`` for every changed file."""
    parts = []
    for rel in sorted(set(old) | set(new)):
        if old.get(rel) == new.get(rel):
            continue
        plus = minus = 0
        for line in unified({rel: old.get(rel, "")}, {rel: new.get(rel, "")}).splitlines()[2:]:
            plus += line.startswith("+")
            minus += line.startswith("-")
        parts.append(f"{rel} +{plus} -{minus}")
    return ", ".join(parts) or "no change"


def failing(a: Attempt | None) -> set[str]:
    if a is None or a.report is None:
        return set()
    return {c.id for c in a.report.tests.cases if c.outcome in ("failed", "error")}


def comparison(console: Console, prev: Attempt | None, new: Attempt) -> None:
    """fixed / still failing / newly failing, against the step before."""
    if new.verdict == "format_error":
        console.print("  [magenta]the reply held no usable change; the model is asked "
                      "again[/]")
        return
    before, after = failing(prev), failing(new)
    rows = [("green", "fixed", sorted(before - after)),
            ("yellow", "still failing", sorted(before & after)),
            ("red", "newly failing", sorted(after - before))]
    for colour, label, ids in rows:
        if ids:
            console.print(f"  [{colour}]{label}[/]: {escape(', '.join(ids))}", soft_wrap=True)
    old_lint = prev.lint if prev is not None else 0
    if old_lint or new.lint:
        console.print(f"  lint: {old_lint} -> {new.lint} finding(s)")
    if new.report is not None and new.report.verdict not in ("pass", "fail"):
        console.print(f"  [yellow]{escape(new.report.message)}[/]")


def check_result(console: Console, step: int, prev: Attempt | None, new: Attempt) -> None:
    """The line for a finished check (step ``step``), then what changed."""
    console.print(f"step {step} ({new.node}) checked: {render.verdict(new.verdict)}  "
                  f"{new.passed} passed, {new.failed} failed, lint {new.lint}  "
                  f"[dim]{new.duration_s:.1f}s[/]", highlight=False, soft_wrap=True)
    comparison(console, prev, new)


def baseline(console: Console, state: RunState, report: CheckReport | None = None) -> None:
    """The state the session starts from: failing tests with messages and lint findings
    (``report``: a repository's baseline, checked before the run)."""
    first = state.attempts[0] if state.attempts else None
    if report is not None:
        console.print(f"[bold]baseline[/]: the tests of {escape(state.task.spec_path)}")
        render.check_report(console, report, tracebacks=False)
        return
    if first is None or first.node != "baseline":
        console.print(f"[bold]baseline[/]: no {', '.join(state.task.solution_files)} yet; the "
                      "model writes it from the task and its tests")
        return
    console.print(f"[bold]baseline[/]: {escape(', '.join(sorted(first.files)))} as found")
    if first.report is not None:
        render.check_report(console, first.report, tracebacks=False)


def next_request(state: RunState, deps: Any) -> list[dict[str, str]]:
    """The chat the next model call sends (the person's instruction comes on top)."""
    return deps.kind(state.task).messages(state, deps, "generate" if state.last is None
                                        else "fix")


def request_preview(console: Console, state: RunState, deps: Any, *, full: bool = False
                    ) -> None:
    user = next_request(state, deps)[-1]["content"].splitlines()
    shown = user if full else user[:PREVIEW_LINES]
    console.print(f"[bold]sent to {escape(state.current_model)}[/] (a system prompt and this "
                  f"message, {len(user)} lines):")
    for line in shown:
        console.print(Text("  | " + line, style="dim"), soft_wrap=True)
    if len(user) > len(shown):
        console.print(f"  [dim]| ... {len(user) - len(shown)} more lines[/]")


def history(console: Console, state: RunState, branch: list[Step]) -> None:
    for s in branch:
        a = s.attempt
        who = a.model or {"baseline": "as found", "autofix": "ruff", "edit": "you"}.get(a.node, "")
        mark = "  [bold]<- now[/]" if s is branch[-1] else ""
        console.print(f"  step {s.number:<3} {a.node:<8} {render.verdict(a.verdict)}  "
                      f"{a.passed} passed {a.failed} failed lint {a.lint}  "
                      f"[dim]{escape(who)}[/]{mark}", highlight=False, soft_wrap=True)
    if state.fallback_reason:
        console.print(f"  [dim]{escape(state.fallback_reason)}[/]", soft_wrap=True)


def full_output(console: Console, a: Attempt | None) -> None:
    """The last check's whole report: every finding and traceback, and pytest's output."""
    if a is None or a.report is None:
        console.print("  [dim]no check has run yet[/]")
        return
    render.check_report(console, a.report, tracebacks=True)
    if a.report.output.strip():
        console.print("[bold]pytest output[/]:")
        console.print(Text(a.report.output.rstrip()), soft_wrap=True)
