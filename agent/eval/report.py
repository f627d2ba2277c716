"""``report.md`` (figures and a per-task table) and ``healing.png`` (pass rate against the
iteration limit, drawn with matplotlib)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def markdown(meta: dict[str, Any], summary: dict[str, Any], records: list[dict[str, Any]],
             plot: str | None) -> str:
    s = summary
    lines = [f"# codemend eval: {meta['suite']} with {meta['model']}", "",
             f"{s['tasks']} tasks x {s['samples']} samples = {s['jobs']} runs, at most "
             f"{s['max_iterations']} iterations each. Rates and iterations are over the "
             f"{s['scored']} runs that had a bug to heal (clean ones are counted apart).", "",
             "| figure | value |", "|---|---|",
             f"| pass@1, first attempt | {_pct(s['pass_first'])} |",
             f"| pass@1, after healing | {_pct(s['pass_healed'])} |"]
    for k, v in (s["pass_at_k"] or {}).items():
        if k != "1":
            first = (s["pass_at_k_first"] or {}).get(k)
            lines.append(f"| pass@{k} (first / healed) | {_pct(first)} / {_pct(v)} |")
    lines += [f"| solved / escalated / failed | {s['solved']} / {s['escalated']} / "
              f"{s['failed']} |",
              f"| clean (every test passes at baseline) | {s['clean']} |",
              f"| mean iterations (p95) | {_num(s['mean_iterations'])} "
              f"({_num(s['p95_iterations'], 0)}) |",
              f"| tokens per solved run | {_num(s['tokens_per_solved'], 0)} |",
              f"| model calls / checks | {s['model_calls']} / {s['checks']} |",
              f"| checks per second | {_num(s['checks_per_s'])} |", "",
              "## Pass rate by iteration limit", "", "| limit | pass rate |", "|---|---|"]
    lines += [f"| {p['limit']} | {_pct(p['pass_rate'])} |" for p in s["healing"]]
    if plot:
        lines += ["", f"![pass rate against the iteration limit]({plot})"]
    lines += ["", "## Tasks", "", "| task | runs | first | healed | mean iterations | verdicts |",
              "|---|---|---|---|---|---|"]
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_task[r["task"]].append(r)
    for task, rs in by_task.items():
        verdicts = ", ".join(sorted({r["status"] for r in rs}))
        lines.append(f"| {task} | {len(rs)} | {sum(r['pass_first'] for r in rs)} | "
                     f"{sum(r['pass_healed'] for r in rs)} | "
                     f"{sum(r['iterations'] for r in rs) / len(rs):.2f} | {verdicts} |")
    return "\n".join(lines) + "\n"


def healing_png(summary: dict[str, Any], title: str, path: Path) -> bool:
    """Draw the curve; False (and no file) when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure
    except ImportError:
        return False
    limits = [p["limit"] for p in summary["healing"]]
    rates = [100 * (p["pass_rate"] or 0) for p in summary["healing"]]
    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.subplots()
    ax.plot(limits, rates, marker="o", label="after healing")
    if summary["pass_first"] is not None:
        ax.axhline(100 * summary["pass_first"], linestyle="--", color="grey",
                   label="first attempt")
    ax.set_xlabel("iteration limit")
    ax.set_ylabel("pass rate (%)")
    ax.set_ylim(0, 105)
    ax.set_xticks(limits)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    return True
