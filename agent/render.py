"""Human output (rich). Machines use --json instead."""

from __future__ import annotations

from codemend.agent.runs import Outcome
from codemend.agent.state import Attempt
from codemend.sandbox.report import CheckReport
from rich.console import Console
from rich.markup import escape

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


NODE_NOTE = {"generate": "model writes the code", "autofix": "ruff --fix/format, no model",
             "fix": "model repairs from the failures", "edit": "a person's edit"}


def attempt_line(console: Console, a: Attempt, details: int = 3) -> None:
    """One line per checked attempt, then up to ``details`` lines of what failed."""
    pad = " " * (12 - len(a.verdict))
    console.print(f"  #{a.n:<3} {a.node:<8} {verdict(a.verdict)}{pad}{a.passed:>3} passed "
                  f"{a.failed:>3} failed  lint {a.lint:<3} {a.duration_s:5.2f}s  "
                  f"[dim]({NODE_NOTE.get(a.node, '')})[/]", highlight=False, soft_wrap=True)
    lines: list[str] = []
    if a.verdict == "format_error":
        lines.append("reply held no usable code block; the fixer is told so")
    elif a.report is not None:
        r = a.report
        if r.verdict in ("timeout", "oom", "output_limit", "infra_error"):
            lines.append(r.message)
        lines += [f"lint {f.path}:{f.line} {f.code or 'syntax'} {f.message}"
                  for f in r.lint.findings]
        lines += [f"test {c.id}: {(c.message.splitlines() or [''])[0][:120]}"
                  for c in r.tests.cases if c.outcome in ("failed", "error")]
    for text in lines[:details]:
        console.print(f"        [dim]{escape(text)}[/]", highlight=False, soft_wrap=True)
    if details and len(lines) > details:
        console.print(f"        [dim]... {len(lines) - details} more[/]", highlight=False)


def outcome(console: Console, out: Outcome, out_dir: str, elapsed_s: float | None = None
            ) -> None:
    colour = {"solved": "green", "escalated": "yellow"}.get(out.status, "red")
    s = out.state
    took = f" in {elapsed_s:.1f}s" if elapsed_s is not None else ""
    console.print(f"[{colour}]{out.status}[/] after {out.iterations} iteration(s), "
                  f"{len(s.attempts)} check(s), {s.prompt_tokens + s.completion_tokens} "
                  f"tokens{took}; run {out.run_id}")
    if out.reason:
        console.print(f"  {escape(out.reason)}")
    if out.status == "escalated":
        console.print(f"  resume with: codemend resume {out.run_id} --hint TEXT | --more N | "
                      "--accept | --abort")
    hidden = out.state.hidden
    if hidden is not None and hidden.verdict == "pass":
        console.print(f"  visible + hidden tests: {hidden.tests.passed} passed (the hidden ones "
                      "were never shown to the model)")
    if hidden is not None and hidden.verdict != "pass":
        console.print("  hidden tests (not shown to the model):")
        check_report(console, hidden, tracebacks=False)
    console.print(f"  output: {out_dir}")
