"""The speed targets (issue 12, item 4) checked against one run's figures, and the block
of bench/RESULTS.md that ``make bench`` rewrites with them.

A target is (bench, key, comparison, bound). ``judge`` turns the JSON lines of one run
into rows; ``record`` puts those rows and the raw lines between two markers in a file,
leaving the rest of it (the history, the analysis) as it is.
"""

from __future__ import annotations

import json
import operator
import time
from pathlib import Path

TARGETS = (
    ("humaneval", "sandbox_over_reference_all", "<=", 2.0),
    ("humaneval", "verdicts_right", "==", 328),
    ("latency", "pooled_over_bare", "<=", 0.2),
    ("latency", "wrong_verdicts", "==", 0),
    ("concurrency", "speedup_2", ">=", 1.5),
    ("concurrency", "wrong_verdicts", "==", 0),
    ("repo", "worst_pooled_over_bare", "<=", 1.5),
    ("loop", "sqlite_mb", "<=", 20.0),  # issue 8, item 5: 10,000 iterations' database
    ("breadth", "right_share", ">=", 0.9),  # issue 16: right on real projects
    ("quick", "quick_over_whole", "<=", 0.3),  # issue 16, item 7: a healing iteration
)
OPS = {"<=": operator.le, ">=": operator.ge, "==": operator.eq}
BEGIN = "<!-- bench: latest run, written by `make bench` (bench/run.py --record) -->"
END = "<!-- bench: end of latest run -->"


def judge(results: list[dict]) -> list[dict]:
    """One row per target whose bench ran: key, target, measured, met."""
    by_bench = {r.get("bench"): r for r in results}
    rows = []
    for bench, key, op, bound in TARGETS:
        if bench not in by_bench:
            continue
        value = by_bench[bench].get(key)
        met = isinstance(value, (int, float)) and OPS[op](value, bound)
        rows.append({"bench": bench, "key": key, "target": f"{op} {bound:g}",
                     "measured": value, "met": met,
                     "machine": by_bench[bench].get("machine", "")})
    return rows


def _name(row: dict) -> str:
    return row["key"] if row["key"] != "wrong_verdicts" else f"{row['bench']}_wrong_verdicts"


def summary(rows: list[dict]) -> dict:
    """The JSON line: each target key with its measured value, and which were met."""
    doc: dict = {"bench": "targets", **{_name(r): r["measured"] for r in rows}}
    doc["met"] = [_name(r) for r in rows if r["met"]]
    doc["not_met"] = [_name(r) for r in rows if not r["met"]]
    return doc


def text(rows: list[dict]) -> str:
    lines = ["| bench | key | target | measured | met | machine |", "|---|---|---|---:|---|---|"]
    lines += [f"| {r['bench']} | `{r['key']}` | {r['target']} | {r['measured']} | "
              f"{'yes' if r['met'] else '**no**'} | {r['machine']} |" for r in rows]
    return "\n".join(lines)


def record(path: Path, results: list[dict], command: str) -> None:
    """Replace the block between BEGIN and END in ``path`` (append it if missing)."""
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    block = "\n".join([
        BEGIN, "", f"## Latest run ({stamp}, `{command}`)", "",
        text(judge(results)), "", "```", *(json.dumps(r) for r in results), "```", "", END])
    replace_block(path, BEGIN, END, block)


def replace_block(path: Path, begin: str, end: str, block: str) -> None:
    """Put ``block`` (which starts with ``begin`` and ends with ``end``) in place of the one
    between those markers in ``path``, or append it when there is none."""
    old = path.read_text() if path.exists() else ""
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + block + rest.split(end, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(new)
