"""The base snapshot and baseline report of repository runs, stored once per run.

A checkpoint holds only the overlay of changed files; these tables hold the rest, in the
run database (``runs.sqlite``) next to the checkpoints:

- ``codemend_repo_files(id, data)``: a snapshot's files, content-addressed (zlib'd JSON);
- ``codemend_repo_baselines(run_id, data)``: the baseline CheckReport of a run.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import zlib

from codemend.sandbox.report import CheckReport

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS codemend_repo_files (id TEXT PRIMARY KEY, data BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS codemend_repo_baselines (run_id TEXT PRIMARY KEY, "
    "data BLOB NOT NULL)",
)


def snapshot_id(files: dict[str, str]) -> str:
    """A content hash of ``{path: text}`` (text as the sandbox sees it)."""
    h = hashlib.sha256()
    for path in sorted(files):
        data = files[path].encode("utf-8", errors="surrogateescape")
        h.update(f"{path}\0{len(data)}\0".encode("utf-8", errors="surrogateescape"))
        h.update(data)
    return h.hexdigest()[:32]


def _pack(value: object) -> bytes:
    # lone surrogates (bytes that are not UTF-8, kept by surrogateescape) survive as \udcxx
    # escapes with ensure_ascii, and json.loads gives them back unchanged
    return zlib.compress(json.dumps(value, ensure_ascii=True).encode("ascii"), 6)


def _unpack(blob: bytes) -> object:
    return json.loads(zlib.decompress(blob).decode("ascii"))


class RepoBases:
    """Snapshots and baselines on a SQLite connection (the RunStore's)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._ready = False
        self._files: dict[str, dict[str, str]] = {}
        self._baselines: dict[str, CheckReport] = {}

    def _ensure(self) -> None:
        """Create the tables on first use (a spec-only database never gets them)."""
        if not self._ready:
            for sql in SCHEMA:
                self.conn.execute(sql)
            self.conn.commit()
            self._ready = True

    def put_files(self, files: dict[str, str]) -> str:
        self._ensure()
        key = snapshot_id(files)
        self.conn.execute("INSERT OR IGNORE INTO codemend_repo_files (id, data) VALUES (?, ?)",
                          (key, _pack(files)))
        self.conn.commit()
        self._files[key] = dict(files)
        return key

    def files(self, key: str) -> dict[str, str]:
        if key not in self._files:
            self._ensure()
            row = self.conn.execute("SELECT data FROM codemend_repo_files WHERE id = ?",
                                    (key,)).fetchone()
            if row is None:
                raise KeyError(f"repository snapshot {key} is missing from the run database")
            self._files[key] = dict(_unpack(row[0]))  # type: ignore[arg-type]
        return self._files[key]

    def put_baseline(self, run_id: str, report: CheckReport) -> None:
        self._ensure()
        self.conn.execute("INSERT OR REPLACE INTO codemend_repo_baselines (run_id, data) "
                          "VALUES (?, ?)", (run_id, _pack(report.model_dump(mode="json"))))
        self.conn.commit()
        self._baselines[run_id] = report

    def baseline(self, run_id: str) -> CheckReport:
        if run_id not in self._baselines:
            self._ensure()
            row = self.conn.execute("SELECT data FROM codemend_repo_baselines WHERE run_id = ?",
                                    (run_id,)).fetchone()
            if row is None:
                raise KeyError(f"the baseline of run {run_id} is missing from the run database")
            self._baselines[run_id] = CheckReport.model_validate(_unpack(row[0]))
        return self._baselines[run_id]
