"""Human output (rich). Machines use --json instead."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from agent.runs import Outcome
from agent.state import Attempt
from sandbox.report import CheckReport

STYLE = {"pass": "green", "fail": "red", "format_error": "magenta", "timeout": "yellow",
         "oom": "yellow", "output_limit": "yellow", "infra_error": "bold red"}


def verdict(v: str) -> str:
    return f"[{STYLE.get(v, 'white')}]{v}[/]"


def check_report(console: Console, r: CheckReport, *, tracebacks: bool = True) -> None:
    t = r.tests
    console.print(f"{verdict(r.verdict)}  tests: {t.passed} passed, {t.failed} failed, "
                  f"{t.errors} errors, {t.skipped} skipped  lint: {len(r.lint.findings)} "
                  f"finding(s)  {r.duration_s:.2f}s" + ("  (output truncated)" if r.truncated
                                                         else ""))
    if r.message:
        console.print(f"  {escape(r.message)}")
    for f in r.lint.findings:
        console.print(f"  [cyan]{escape(f.path)}:{f.line}:{f.column}[/] "
                      f"{escape(f.code or 'syntax')} {escape(f.message)}")
    for c in t.cases:
        if c.outcome not in ("failed", "error"):
            continue
        console.print(f"  [red]{c.outcome.upper()}[/] {escape(c.id)}: "
                      f"{escape(c.message.splitlines()[0] if c.message else '')}")
        if tracebacks and c.traceback:
            tb = c.traceback if len(c.traceback) < 1500 else "..." + c.traceback[-1500:]
            console.print("    " + escape(tb).replace("\n", "\n    "), highlight=False)


def attempt_line(console: Console, a: Attempt, iteration_limit: int | None = None) -> None:
    console.print(f"  #{a.n:<3} {a.node:<8} {verdict(a.verdict):<24} "
                  f"{a.passed} passed  {a.failed} failed  lint {a.lint}  {a.duration_s:.2f}s",
                  highlight=False)


def outcome(console: Console, out: Outcome, out_dir: str) -> None:
    colour = {"solved": "green", "escalated": "yellow"}.get(out.status, "red")
    console.print(f"[{colour}]{out.status}[/] after {out.iterations} iteration(s), "
                  f"{len(out.state.attempts)} check(s); run {out.run_id}")
    if out.reason:
        console.print(f"  {escape(out.reason)}")
    if out.status == "escalated":
        console.print(f"  resume with: codemend resume {out.run_id} --hint TEXT | --more N | "
                      "--accept | --abort")
    if out.state.hidden is not None and out.state.hidden.verdict != "pass":
        console.print("  hidden tests (not shown to the model):")
        check_report(console, out.state.hidden, tracebacks=False)
    console.print(f"  output: {out_dir}")
