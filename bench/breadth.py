"""breadth: is `codemend fix` right on real projects no one here wrote? (issue 16)

For each project of tests/repo_projects.py's ``BREADTH`` set (sdists from the package
index, committed to a fresh git repository and tagged with their version), tests/breadth.py
``judge`` checks: as released ``clean`` with no model call; with a one-line bug and an
oracle reply ``fixed``, with targets equal to the failing tests of the project's own suite
in a host venv where it is installed; the identical candidate counted as the baseline was.
Prints the table (project, expected, got, right?) and, with ``--record FILE``, writes it
into FILE between the breadth markers. ``--projects a,b`` runs a subset.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import BenchError, machine, project_modules, say
from bench.targets import replace_block

BEGIN = "<!-- bench: breadth table, written by `bench/run.py breadth --record` -->"
END = "<!-- bench: end of breadth table -->"


def _modules():
    return project_modules("breadth")


def run(projects: list[str] | None = None) -> tuple[dict, str]:
    breadth, repo_projects = _modules()
    names = projects or sorted(repo_projects.BREADTH)
    unknown = [n for n in names if n not in repo_projects.BREADTH]
    if unknown:
        raise BenchError(f"no such project in the breadth set: {', '.join(unknown)}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="codemend-breadth-") as tmp:
        for name in names:
            say(f"breadth: {name} ...")
            try:
                row = breadth.judge(repo_projects.BREADTH[name], Path(tmp) / name)
            except Exception as exc:  # one project's crash is its row, not the run's end
                row = breadth.Row(project=name, expected="clean; fixed", got="crashed",
                                  right=False, notes=[f"{type(exc).__name__}: {exc}"[:400]])
            say(f"breadth: {name}: {'right' if row.right else 'WRONG'} ({row.seconds} s)")
            rows.append(row)
    right = sum(r.right for r in rows)
    result = {"bench": "breadth", "projects": len(rows), "right": right,
              "right_share": round(right / len(rows), 3) if rows else 0.0,
              "machine": machine(), "rows": [r.as_dict() for r in rows]}
    return result, table(rows, breadth.KNOWN)


def table(rows: list, known: dict[str, str]) -> str:
    lines = ["| project | expected | got | right? | notes |", "|---|---|---|---|---|"]
    for r in rows:
        name = r.project.split()[0]
        why = "; ".join(r.notes) or ("" if r.right else "?")
        if not r.right and name in known:
            why = f"known: {known[name]}. {why}"
        why = why.replace("|", "\\|").replace("\n", " ")[:600]
        lines.append(f"| {r.project} | {r.expected} | {r.got} | "
                     f"{'yes' if r.right else '**no**'} | {why} |")
    right = sum(r.right for r in rows)
    lines.append(f"\n{right} of {len(rows)} right ({100 * right / max(len(rows), 1):.0f}%).")
    return "\n".join(lines)


def record(path: Path, text: str, command: str) -> None:
    """Replace the breadth block of ``path`` (append it if missing)."""
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    block = "\n".join([BEGIN, "", f"## Breadth: real projects ({stamp}, `{command}`)", "",
                       text, "", END])
    replace_block(path, BEGIN, END, block)
