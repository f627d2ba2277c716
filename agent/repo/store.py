"""The base snapshot and baseline report of repository runs, stored once per run.

A checkpoint holds only the overlay of changed files; these tables hold the rest, in the
run database (``runs.sqlite``) next to the checkpoints:

- ``codemend_repo_files(id, data)``: a snapshot's files, content-addressed (zlib'd JSON);
- ``codemend_repo_baselines(run_id, data)``: the baseline CheckReport of a run.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import threading
import zlib
from pathlib import Path

from codemend.agent.repo.snapshot import RepoSnapshot, from_files
from codemend.sandbox.report import CheckReport

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS codemend_repo_files (id TEXT PRIMARY KEY, data BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS codemend_repo_baselines (run_id TEXT PRIMARY KEY, "
    "data BLOB NOT NULL)",
)


def snapshot_id(snap: RepoSnapshot) -> str:
    """A content hash of the snapshot's files (text and binary) and where it came from."""
    h = hashlib.sha256(f"{snap.root}\0{snap.head}\0{snap.branch}\0".encode(
        "utf-8", errors="surrogateescape"))
    members = {**{p: t.encode("utf-8", errors="surrogateescape") for p, t in snap.files.items()},
               **snap.binary}
    for path in sorted(members):
        h.update(f"{path}\0{len(members[path])}\0".encode("utf-8", errors="surrogateescape"))
        h.update(members[path])
    return h.hexdigest()[:32]


def _pack(value: object) -> bytes:
    # lone surrogates (bytes that are not UTF-8, kept by surrogateescape) survive as \udcxx
    # escapes with ensure_ascii, and json.loads gives them back unchanged
    return zlib.compress(json.dumps(value, ensure_ascii=True).encode("ascii"), 6)


def _unpack(blob: bytes) -> object:
    return json.loads(zlib.decompress(blob).decode("ascii"))


class RepoBases:
    """Snapshots and baselines on a SQLite connection (the RunStore's)."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.Lock | None = None) -> None:
        """``lock``: held while writing; threads that share ``conn`` must share it (the
        RunStore's is its checkpointer's, ``RunStore.bases()``)."""
        self.conn = conn
        self.lock = lock or threading.Lock()
        self._ready = False
        self._snaps: dict[str, RepoSnapshot] = {}
        self._baselines: dict[str, CheckReport] = {}

    def _ensure(self) -> None:
        """Create the tables on first use (a spec-only database never gets them)."""
        if not self._ready:
            with self.lock:
                for sql in SCHEMA:
                    self.conn.execute(sql)
                self.conn.commit()
            self._ready = True

    def put_snapshot(self, snap: RepoSnapshot) -> str:
        """Store the snapshot once (content-addressed); return its id."""
        self._ensure()
        key = snapshot_id(snap)
        doc = {"root": str(snap.root), "head": snap.head, "branch": snap.branch,
               "files": snap.files,
               "binary": {p: base64.b64encode(b).decode("ascii") for p, b in snap.binary.items()}}
        with self.lock:
            self.conn.execute("INSERT OR IGNORE INTO codemend_repo_files (id, data) VALUES "
                              "(?, ?)", (key, _pack(doc)))
            self.conn.commit()
        self._snaps[key] = snap
        return key

    def snapshot(self, key: str) -> RepoSnapshot:
        if key not in self._snaps:
            self._ensure()
            with self.lock:
                row = self.conn.execute("SELECT data FROM codemend_repo_files WHERE id = ?",
                                        (key,)).fetchone()
            if row is None:
                raise KeyError(f"repository snapshot {key} is missing from the run database")
            doc = _unpack(row[0])
            assert isinstance(doc, dict)
            self._snaps[key] = from_files(
                Path(doc["root"]), dict(doc["files"]),
                {p: base64.b64decode(b) for p, b in doc["binary"].items()},
                head=doc["head"], branch=doc["branch"])
        return self._snaps[key]

    def put_baseline(self, run_id: str, report: CheckReport) -> None:
        self._ensure()
        with self.lock:
            self.conn.execute("INSERT OR REPLACE INTO codemend_repo_baselines (run_id, data) "
                              "VALUES (?, ?)", (run_id, _pack(report.model_dump(mode="json"))))
            self.conn.commit()
        self._baselines[run_id] = report

    def baseline(self, run_id: str) -> CheckReport:
        if run_id not in self._baselines:
            self._ensure()
            with self.lock:
                row = self.conn.execute("SELECT data FROM codemend_repo_baselines WHERE run_id = ?",
                                        (run_id,)).fetchone()
            if row is None:
                raise KeyError(f"the baseline of run {run_id} is missing from the run database")
            self._baselines[run_id] = CheckReport.model_validate(_unpack(row[0]))
        return self._baselines[run_id]
