"""Runs: start, resume, list and inspect checkpointed runs (SQLite under the state dir)."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command

from agent.graph import build_graph
from agent.nodes import Deps
from agent.state import Attempt, RunState, TaskInfo
from sandbox.errors import BadInput

# The only classes a checkpoint may hold besides plain data (strict msgpack allowlist).
CHECKPOINT_TYPES = [("agent.state", n) for n in ("RunState", "TaskInfo", "Attempt", "Escalation")] + [
    ("sandbox.report", n) for n in ("CheckReport", "LintReport", "TestReport", "TestCase", "Finding")]

OnAttempt = Callable[[Attempt, RunState | None], None]


@dataclass
class Outcome:
    """Where a run stands after the graph stopped (finished or paused)."""

    run_id: str
    status: str
    """solved | escalated | failed (| running when it stopped without finishing)."""
    state: RunState
    reason: str = ""

    @property
    def iterations(self) -> int:
        return self.state.iteration

    @property
    def final(self) -> Attempt | None:
        s = self.state
        if self.status == "solved" or s.accepted:
            return s.attempts[s.best] if s.accepted and s.best is not None else s.last
        return s.attempts[s.best] if s.best is not None else s.last


def new_run_id(task_name: str) -> str:
    return f"{task_name[:24]}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


class RunStore:
    """The checkpoint database of one state dir: ``runs.sqlite``."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / "runs.sqlite"
        self.conn = sqlite3.connect(str(self.path), check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS codemend_runs (run_id TEXT PRIMARY KEY, "
                          "task TEXT, model TEXT, created REAL, out TEXT)")
        self.conn.commit()
        self.saver = SqliteSaver(self.conn, serde=JsonPlusSerializer(
            allowed_msgpack_modules=CHECKPOINT_TYPES))
        self.graph = build_graph(self.saver)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _config(self, run_id: str) -> dict:
        return {"configurable": {"thread_id": run_id}, "recursion_limit": 10_000}

    def register(self, run_id: str, task: str, model: str, out: str) -> None:
        if self.exists(run_id):
            raise BadInput(f"run id {run_id!r} already exists; pick another --run-id or use "
                           f"`codemend resume {run_id}`")
        self.conn.execute("INSERT INTO codemend_runs VALUES (?, ?, ?, ?, ?)",
                          (run_id, task, model, time.time(), out))
        self.conn.commit()

    def exists(self, run_id: str) -> bool:
        row = self.conn.execute("SELECT 1 FROM codemend_runs WHERE run_id = ?", (run_id,))
        return row.fetchone() is not None

    def meta(self, run_id: str) -> dict[str, Any]:
        row = self.conn.execute("SELECT run_id, task, model, created, out FROM codemend_runs "
                                "WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise BadInput(f"no run {run_id!r} in {self.path}; `codemend runs` lists them")
        return dict(zip(("run_id", "task", "model", "created", "out"), row, strict=True))

    def run_ids(self) -> list[str]:
        rows = self.conn.execute("SELECT run_id FROM codemend_runs ORDER BY created")
        return [r[0] for r in rows]

    # -- driving ---------------------------------------------------------------------
    def start(self, run_id: str, task: TaskInfo, model: str, max_iterations: int, deps: Deps,
              on_attempt: OnAttempt | None = None) -> Outcome:
        state = RunState(run_id=run_id, task=task, model=model, max_iterations=max_iterations)
        return self._drive(run_id, state, deps, on_attempt)

    def resume(self, run_id: str, deps: Deps, decision: dict[str, Any] | None = None,
               on_attempt: OnAttempt | None = None) -> Outcome:
        """Continue a paused run with a decision, or a killed one from its last checkpoint."""
        snap = self.graph.get_state(self._config(run_id))
        if not snap.values:
            raise BadInput(f"run {run_id!r} has no checkpoint yet; start it again with solve")
        if snap.interrupts:
            payload: Any = Command(resume=decision or {"action": "more"})
        elif snap.next:
            payload = None  # killed mid-run: continue from the last finished node
        else:
            return self.outcome(run_id)
        return self._drive(run_id, payload, deps, on_attempt)

    def _drive(self, run_id: str, payload: Any, deps: Deps, on_attempt: OnAttempt | None
               ) -> Outcome:
        config = self._config(run_id)
        for update in self.graph.stream(payload, config, context=deps, stream_mode="updates"):
            if on_attempt is None:
                continue
            for node, delta in update.items():
                if node == "check" and isinstance(delta, dict):
                    for attempt in delta.get("attempts") or []:
                        on_attempt(attempt, None)
        return self.outcome(run_id)

    def outcome(self, run_id: str) -> Outcome:
        snap = self.graph.get_state(self._config(run_id))
        if not snap.values:
            raise BadInput(f"run {run_id!r} has no checkpoint yet")
        state = RunState.model_validate(snap.values)
        if snap.interrupts:
            reason = (snap.interrupts[0].value or {}).get("reason", "")
            return Outcome(run_id, "escalated", state, reason)
        if snap.next:
            return Outcome(run_id, "running", state, "stopped before it finished; resume it")
        return Outcome(run_id, state.status, state)

    def attempts_json(self, run_id: str) -> dict[str, Any]:
        out = self.outcome(run_id)
        return {"run_id": run_id, "status": out.status, "reason": out.reason,
                "attempts": [{"n": a.n, "node": a.node, "verdict": a.verdict,
                              "passed": a.passed, "failed": a.failed, "lint": a.lint,
                              "duration_s": a.duration_s} for a in out.state.attempts]}


def result_json(out: Outcome, out_dir: str) -> dict[str, Any]:
    final = out.final
    return {"run_id": out.run_id, "status": out.status, "iterations": out.iterations,
            "verdict": final.verdict if final else None, "out": out_dir,
            "tokens": {"prompt": out.state.prompt_tokens,
                       "completion": out.state.completion_tokens}}


def write_outputs(out: Outcome, out_dir: Path, *, force: bool) -> list[Path]:
    """Write the final (or best) files and report.json; refuse to overwrite others' files."""
    final = out.final
    files = final.files if final else {}
    ensure_writable(out_dir, [*files, "report.json"], out.run_id, force=force)
    written = []
    for rel, text in files.items():
        target = out_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8", errors="surrogateescape")
        written.append(target)
    report = {**result_json(out, str(out_dir)), "reason": out.reason,
              "accepted": out.state.accepted,
              "attempts": [a.model_dump(exclude={"files"}) for a in out.state.attempts],
              "hidden": out.state.hidden.model_dump() if out.state.hidden else None}
    (out_dir / "report.json").write_text(json.dumps(report, indent=2))
    written.append(out_dir / "report.json")
    return written


def ensure_writable(out_dir: Path, names: list[str], run_id: str, *, force: bool) -> None:
    """Files already in ``out_dir`` may only be replaced by the same run, or with --force."""
    if force or not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise BadInput(f"--out {out_dir}: exists and is not a folder")
    try:
        owner = json.loads((out_dir / "report.json").read_text()).get("run_id")
    except (OSError, ValueError, AttributeError):
        owner = None
    clashes = [n for n in names if (out_dir / n).exists()]
    if clashes and owner != run_id:
        raise BadInput(f"--out {out_dir}: would overwrite {', '.join(clashes)}; choose another "
                       "folder or pass --force")
