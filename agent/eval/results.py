"""The results of an eval: ``results.jsonl`` (one line per finished job) and its summary.

Only the driver writes the file; each line is appended and flushed to disk as its job
finishes, so a killed eval keeps every finished job and ``--resume`` skips them. A line cut
short by a kill is dropped when the file is opened again (its job runs again).
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from codemend.sandbox.errors import InfraError

TIMING_KEYS = ("checks_per_s", "busy_s")
"""Summary keys that depend on the machine and the moment, not on the model's answers."""
PASS_AT = (1, 2, 5, 10, 20, 50, 100)


class ResultsFile:
    """``results.jsonl`` of one eval folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, dict[str, Any]] = {}
        self._repair_and_read()
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def _repair_and_read(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        complete = data[:data.rfind(b"\n") + 1]
        if len(complete) != len(data):  # a kill cut the last line short: its job reruns
            with open(self.path, "r+b") as fh:
                fh.truncate(len(complete))
        for n, line in enumerate(complete.decode("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                self.records.setdefault(rec["id"], rec)
            except (ValueError, KeyError, TypeError) as exc:
                raise InfraError(f"{self.path}:{n}: not a result line ({exc}); move the file "
                                 "away to start the eval over") from None

    def append(self, rec: dict[str, Any]) -> bool:
        """Write ``rec`` unless its job is already there; True when written."""
        if rec["id"] in self.records:
            return False
        try:
            self._fh.write(json.dumps(rec, sort_keys=True) + "\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:
            raise InfraError(f"cannot write {self.path}: {exc.strerror or exc}; free some "
                             "space, then continue with --resume") from exc
        self.records[rec["id"]] = rec
        return True

    def close(self) -> None:
        self._fh.close()


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased estimator of pass@k from n samples of which c passed (Chen et al. 2021):
    1 - C(n-c, k) / C(n, k)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def busy_seconds(records: list[dict[str, Any]]) -> float:
    """Wall time during which at least one job ran (the union of the jobs' spans), so an
    eval killed and resumed an hour later is not charged for the hour in between, and a run
    resumed from its checkpoint is charged for the checks it made before the kill."""
    spans = sorted((a, b) for r in records
                   for a, b in r.get("spans") or [(r["started"], r["started"] + r["wall_s"])])
    total, end = 0.0, -math.inf
    for a, b in spans:
        if a > end:
            total += b - a
        elif b > end:
            total += b - end
        end = max(end, b)
    return total


def summarize(records: list[dict[str, Any]], samples: int, max_iterations: int) -> dict[str, Any]:
    """The figures of ``summary.json``. A ``clean`` job (a repository whose tests all pass at
    baseline: no bug to heal) is counted apart; the rates and iteration figures are over the
    other jobs (``scored``), and solved + escalated + failed + clean = jobs."""
    scored = [r for r in records if r["status"] != "clean"]
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in scored:
        by_task[r["task"]].append(r)
    n = len(scored)
    solved = [r for r in scored if r["pass_healed"]]
    escalated = sum(r["status"] == "escalated" for r in scored)
    iterations = [r["iterations"] for r in scored]
    tokens = sum(r["tokens"] for r in records)
    checks = sum(r["checks"] for r in records)
    calls = sum(r["model_calls"] for r in records)
    format_errors = sum(r.get("format_errors", 0) for r in records)  # older lines lack it
    busy = busy_seconds(records) if records else 0.0
    ks = sorted({k for k in PASS_AT if k <= samples} | {samples})
    out = {
        "tasks": len({r["task"] for r in records}), "samples": samples, "jobs": len(records),
        "scored": n, "clean": len(records) - n,
        "pass_first": _frac(sum(r["pass_first"] for r in scored), n),
        "pass_healed": _frac(len(solved), n),
        "pass_at_k": None, "pass_at_k_first": None,
        "mean_iterations": sum(iterations) / n if n else None,
        "p95_iterations": nearest_rank(iterations, 0.95) if n else None,
        "tokens_per_solved": tokens / len(solved) if solved else None,
        "checks_per_s": checks / busy if busy > 0 else None,
        "solved": len(solved), "escalated": escalated,
        "failed": n - len(solved) - escalated,
        "model_calls": calls, "tokens": tokens, "format_errors": format_errors,
        "format_errors_per_call": format_errors / calls if calls else None,
        "checks": checks, "busy_s": round(busy, 3), "max_iterations": max_iterations,
        "healing": healing_curve(scored, max_iterations),
    }
    if samples > 1 and by_task:
        for key, field in (("pass_at_k", "pass_healed"), ("pass_at_k_first", "pass_first")):
            out[key] = {str(k): _mean_pass_at(by_task.values(), field, k) for k in ks}
    return out


def _mean_pass_at(tasks: Iterable[list[dict[str, Any]]], field: str, k: int) -> float | None:
    """pass@k averaged over the tasks with at least k scored samples (a task with a clean
    sample has fewer; pass@k of fewer than k samples is not defined)."""
    values = [pass_at_k(len(rs), sum(r[field] for r in rs), k) for rs in tasks if len(rs) >= k]
    return sum(values) / len(values) if values else None


def healing_curve(records: list[dict[str, Any]], max_iterations: int) -> list[dict[str, Any]]:
    """Pass rate had the iteration limit been L, for L = 1..max: a run solved at iteration i
    is solved under any limit >= i, and the loop is the same up to the limit (``records``:
    the scored jobs)."""
    jobs = len(records)
    return [{"limit": limit,
             "pass_rate": _frac(sum(r["pass_healed"] and r["iterations"] <= limit
                                    for r in records), jobs)}
            for limit in range(1, max_iterations + 1)]


def _frac(part: int, whole: int) -> float | None:
    return part / whole if whole else None
