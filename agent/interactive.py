"""Asking a person what to do with an escalated run (only on a terminal)."""

from __future__ import annotations

import sys
from typing import Any

from codemend.agent import render
from codemend.agent.config import OutputOptions
from codemend.agent.edit_copy import ask_and_edit
from codemend.agent.runs import Outcome, RunStore
from codemend.agent.terminal import ESCALATION, Terminal
from rich.console import Console
from rich.markup import escape


def interactive_allowed(opts: OutputOptions) -> bool:
    """--interactive forces it (still needs a terminal); default: on a terminal, not --json."""
    if opts.json or not sys.stdin.isatty():
        return False
    return True if opts.interactive is None else opts.interactive


def ask_person(console: Console, out: Outcome, store: RunStore | None = None
               ) -> dict[str, Any] | None:
    """Show the blocker and the best attempt; return a resume decision or None (stay paused).
    ``store``: where a repository run's base snapshot is (for an edit of the work tree)."""
    if not sys.stdin.isatty():
        return None
    s = out.state
    term = Terminal(console)
    console.print(f"[yellow]paused[/]: {escape(out.reason)}")
    if s.best is not None:
        best = s.attempts[s.best]
        console.print(f"best attempt: #{best.n} ({best.verdict}, {best.passed} passed)")
        if best.report is not None:
            render.check_report(console, best.report)
    choice, _ = term.choose(ESCALATION)
    if choice == "h":
        return {"action": "hint", "hint": term.line("hint for the fixer")}
    if choice == "m":
        n = term.line("how many more iterations", default="2")
        return {"action": "more", "more": max(1, int(n)) if n.isdigit() else 2}
    if choice == "e":
        base = store.bases().snapshot(s.task.repo.base_id).files if (
            store is not None and s.task.repo is not None) else {}
        files = ask_and_edit(s.task, s.applied, base, term.line,
                             lambda text: console.print(escape(text), highlight=False))
        if files is None:
            console.print("[yellow]staying paused[/]")
            return None
        return {"action": "edit", "files": files}
    if choice == "a":
        return {"action": "accept"}
    if choice == "b":
        return {"action": "abort"}
    return None
