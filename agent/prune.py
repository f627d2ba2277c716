"""`codemend runs --prune`: delete finished runs and give their space back to the disk.

A run's rows are spread over the run database: its row in ``codemend_runs``, its checkpoints
and writes (the saver's tables), the payloads (files, reports) and repository snapshots it
refers to, its repository baseline, and an eval's time spans. Payloads and snapshots are
content-addressed and shared between runs: one goes only when no run left uses it. Then
``VACUUM`` shrinks the file, and the bytes freed are reported.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from codemend.agent.runs import RunStore
from codemend.sandbox.errors import BadInput

FINISHED = ("solved", "failed")
"""Runs prune removes; an escalated or unfinished run can still be continued, and stays."""
RUN_TABLES = ("codemend_repo_baselines", "codemend_eval_spans")
"""Tables with rows per run (``run_id``), made on first use."""


@dataclass
class Pruned:
    runs: list[str]
    kept: int
    """Runs old enough that stay because they can still be continued."""
    payloads: int
    snapshots: int
    before: int
    after: int
    """Bytes of the run database (with its write-ahead log) before and after."""


def prune(store: RunStore, older_than_days: float | None) -> Pruned:
    if older_than_days is not None and older_than_days < 0:
        raise BadInput(f"--older-than {older_than_days:g}: give a number of days, 0 or more")
    cutoff = time.time() - 86400 * (older_than_days or 0)
    old = [r for r in store.summaries() if r["created"] <= cutoff]
    chosen = [r["run_id"] for r in old if _status(store, r) in FINISHED]
    before = _size(store.path)
    payloads = snapshots = 0
    if chosen:
        bases = {r: _base_id(store, r) for r in chosen}
        payloads = store.saver.delete_threads(chosen)
        with store.writing():
            tables = _tables(store)
            for table in ("codemend_runs", *(t for t in RUN_TABLES if t in tables)):
                store.conn.executemany(f"DELETE FROM {table} WHERE run_id = ?",
                                       [(r,) for r in chosen])
        snapshots = _drop_snapshots(store, {b for b in bases.values() if b})
    with store.saver.lock:
        store.conn.commit()
        store.conn.execute("VACUUM")
        store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return Pruned(chosen, len(old) - len(chosen), payloads, snapshots, before,
                  _size(store.path))


def _status(store: RunStore, row: dict) -> str:
    if row["summary"] is not None:
        return row["summary"]["status"]
    try:  # recorded by an earlier codemend: read its state
        return store.outcome(row["run_id"]).status
    except BadInput:
        return "new"


def _base_id(store: RunStore, run_id: str) -> str | None:
    """The repository snapshot a run works on (None: a spec task)."""
    with store.saver.lock:
        row = store.conn.execute("SELECT start FROM codemend_runs WHERE run_id = ?",
                                 (run_id,)).fetchone()
    if row and row[0]:
        repo = json.loads(row[0])["task"].get("repo")
        return repo["base_id"] if repo else None
    try:
        repo = store.outcome(run_id).state.task.repo
    except BadInput:
        return None
    return repo.base_id if repo else None


def _drop_snapshots(store: RunStore, candidates: set[str]) -> int:
    """Remove the snapshots of the pruned runs that no run left works on."""
    if not candidates:
        return 0
    used = {_base_id(store, r["run_id"]) for r in store.summaries()}
    unused = [(b,) for b in candidates - used]
    with store.writing():
        store.conn.executemany("DELETE FROM codemend_repo_files WHERE id = ?", unused)
    return len(unused)


def _tables(store: RunStore) -> set[str]:
    return {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = "
                                             "'table'")}


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal"))
               if p.exists())
