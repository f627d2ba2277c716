"""A compact SQLite checkpointer: the run database stays small however long a run is.

LangGraph's ``SqliteSaver`` stores the whole state in every checkpoint and one row per write;
a run's history then grows with the square of its length (a 10,000-iteration benchmark made a
187 MB database). ``CompactSaver`` keeps the same contract (``get_tuple``, ``list``, ``put``,
``put_writes``) but stores:

- ``codemend_checkpoints(thread_id, checkpoint_ns, checkpoint_id, parent_id, data)``: one row
  per checkpoint holding only what changed since its parent: the channel versions and
  ``versions_seen`` entries that moved, the values of the channels that got a new version,
  and for ``attempts`` only the attempts appended since the parent. The task is stored once,
  in the first checkpoint. A checkpoint is rebuilt by applying its ancestors' rows from the
  root (the rows of one thread are read in one query, and rebuilt states are cached).
- ``codemend_writes(thread_id, checkpoint_ns, checkpoint_id, task_id, data)``: the pending
  writes of one task, packed in one row.
- ``codemend_payloads(id, data)``: each attempt's files and full report, and the hidden
  tests' report, content-addressed (sha256) and zlib'd JSON. A checkpoint's attempt is a short
  summary (number, node, verdict, counts, signature, ...) plus the ids of its payloads.

Readers see full ``Attempt`` objects, exactly as before: the saver puts the payloads back when
a checkpoint is loaded. A thread written by the stock saver (a state dir from an earlier
codemend) is read and continued by it, unchanged.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from codemend.agent.state import Attempt
from codemend.sandbox.report import CheckReport
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.sqlite import SqliteSaver

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS codemend_checkpoints (thread_id TEXT NOT NULL, checkpoint_ns "
    "TEXT NOT NULL, checkpoint_id TEXT NOT NULL, parent_id TEXT, data BLOB NOT NULL, "
    "PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS codemend_writes (thread_id TEXT NOT NULL, checkpoint_ns TEXT "
    "NOT NULL, checkpoint_id TEXT NOT NULL, task_id TEXT NOT NULL, data BLOB NOT NULL, "
    "PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS codemend_payloads (id TEXT PRIMARY KEY, data BLOB NOT NULL) "
    "WITHOUT ROWID",
)
REF = "codemend-ref"
"""Marks a value that lives in ``codemend_payloads`` (``[REF, id]``; a real value of these
channels is never a list)."""
PAYLOAD_CHANNELS = ("files", "hidden")
ATTEMPTS = "attempts"
CACHE = 512
FORMAT = b"\x01"
"""The first byte of every row: format 1 is zlib with ``ZDICT`` as its preset dictionary."""
ZDICT = (
    # frozen: rows written with it can only be read with it (a new one needs a new FORMAT)
    b"codemend.agent.statecodemend.agent.repo.taskcodemend.sandbox.reportRunStateTaskInfo"
    b"AttemptEscalationRepoTaskCountsCheckReportLintReportTestReportTestCaseFinding"
    b"__start____input____interrupt____resume__~__pregel_pull, branch:to:generate"
    b"branch:to:checkbranch:to:autofixbranch:to:fixbranch:to:verify_hiddenbranch:to:escalate"
    b"branch:to:donebranch:to:instructbranch:to:reviewbranch:to:fallbackrun_idtaskmodel"
    b"max_iterationsiterationmodel_callsprompt_tokenscompletion_tokensfilessourceformat_error"
    b"hintattemptsbesthiddenescalationdecisionstatusacceptedinteractivesummaryfeedback"
    b"fallback_modelfallback_reasonfallback_atfallback_callsnodeverdictpassedfailedlint"
    b"signatureduration_sreportmodel_callscriptedgeneratecheckautofixfixverify_hidden"
    b"escalatedoneinstructreviewfallbackfailpasserrorformat_errorrunningsolvedescalated"
    b"versionsversions_goneseenseen_goneappendgonevaluesmetadatarestupdated_channelsts"
    b"parentssteploopinputupdatepathwritescodemend-ref+00:00"
)


@dataclass
class _Built:
    """A rebuilt checkpoint: what a child's row is a diff against."""

    checkpoint: dict[str, Any]
    """Everything but the three keys below (``v``, ``ts``, ``id``, ``updated_channels``)."""
    values: dict[str, Any]
    versions: dict[str, Any]
    seen: dict[str, dict[str, Any]]
    metadata: CheckpointMetadata
    parent_id: str | None
    writes: list[Any] | None = field(default=None)

    def as_checkpoint(self) -> Checkpoint:
        values = {k: (list(v) if isinstance(v, list) else v) for k, v in self.values.items()}
        return {**self.checkpoint, "channel_values": values,  # type: ignore[typeddict-item]
                "channel_versions": dict(self.versions),
                "versions_seen": {k: dict(v) for k, v in self.seen.items()}}


def _dict_diff(new: dict[str, Any], old: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    changed = {k: v for k, v in new.items() if k not in old or old[k] != v}
    return changed, [k for k in old if k not in new]


class CompactSaver(SqliteSaver):
    """``SqliteSaver`` with diffs per checkpoint and payloads stored once (module docstring)."""

    def __init__(self, conn: sqlite3.Connection, *, serde: Any) -> None:
        super().__init__(conn, serde=serde)
        self._mine = threading.RLock()
        self._built: OrderedDict[tuple[str, str, str], _Built] = OrderedDict()
        self._legacy: dict[str, bool] = {}
        self._payloads: OrderedDict[str, Any] = OrderedDict()
        self._summaries: dict[int, tuple[Attempt, dict[str, Any]]] = {}
        for sql in SCHEMA:
            conn.execute(sql)
        conn.commit()

    # -- versions ---------------------------------------------------------------------
    def get_next_version(self, current: str | None, channel: None = None) -> str:
        """``0000000007.3fa2c1``: ordered as text, and unique across the branches of a thread
        (a fork off an earlier checkpoint gets versions of its own)."""
        if isinstance(current, str) and len(current.split(".")[0]) != 10:
            return super().get_next_version(current, channel)  # a stock saver's thread
        n = 0 if current is None else int(str(current).split(".")[0])
        return f"{n + 1:010d}.{secrets.token_hex(3)}"

    # -- which threads are ours ------------------------------------------------------
    def _is_legacy(self, thread_id: str) -> bool:
        """A thread the stock saver wrote: read and continued by it."""
        known = self._legacy.get(thread_id)
        if known is None:
            with self.cursor(transaction=False) as cur:
                cur.execute("SELECT 1 FROM checkpoints WHERE thread_id = ? LIMIT 1", (thread_id,))
                known = cur.fetchone() is not None
            self._legacy[thread_id] = known
        return known

    # -- payloads ---------------------------------------------------------------------
    def _put_payload(self, cur: sqlite3.Cursor, value: Any) -> str:
        raw = json.dumps(value, ensure_ascii=True, sort_keys=True).encode("ascii")
        key = hashlib.sha256(raw).hexdigest()[:32]
        # a cached id is checked still to be there: `runs --prune` in another process may
        # have removed a payload this process last used
        if key not in self._payloads or cur.execute(
                "SELECT 1 FROM codemend_payloads WHERE id = ?", (key,)).fetchone() is None:
            cur.execute("INSERT OR IGNORE INTO codemend_payloads (id, data) VALUES (?, ?)",
                        (key, zlib.compress(raw, 6)))
            self._remember(self._payloads, key, value)
        return key

    def _payload(self, cur: sqlite3.Cursor, key: str) -> Any:
        if key in self._payloads:
            self._payloads.move_to_end(key)
            return self._payloads[key]
        row = cur.execute("SELECT data FROM codemend_payloads WHERE id = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(f"payload {key} is missing from the run database")
        value = json.loads(zlib.decompress(row[0]).decode("ascii"))
        self._remember(self._payloads, key, value)
        return value

    @staticmethod
    def _remember(cache: OrderedDict, key: Any, value: Any) -> None:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > CACHE:
            cache.popitem(last=False)

    def _summary(self, cur: sqlite3.Cursor, a: Attempt) -> dict[str, Any]:
        """An attempt as stored in a checkpoint: its fields, with files and report by id."""
        hit = self._summaries.get(id(a))
        if hit is not None and hit[0] is a:
            return hit[1]
        out = a.model_dump(mode="json", exclude={"files", "report"})
        out["files"] = [REF, self._put_payload(cur, a.files)]
        out["report"] = None if a.report is None else [
            REF, self._put_payload(cur, a.report.model_dump(mode="json"))]
        if len(self._summaries) > 4 * CACHE:
            self._summaries.clear()
        self._summaries[id(a)] = (a, out)
        return out

    def _attempt(self, cur: sqlite3.Cursor, d: Any) -> Any:
        if isinstance(d, Attempt) or not isinstance(d, dict):
            return d
        files, report = d.get("files"), d.get("report")
        full = {**d, "files": self._payload(cur, files[1]) if _is_ref(files) and files else files,
                "report": (CheckReport.model_validate(self._payload(cur, report[1]))
                           if _is_ref(report) and report else report)}
        a = Attempt.model_validate(full)
        self._summaries[id(a)] = (a, d)
        return a

    def _encode(self, cur: sqlite3.Cursor, channel: str, value: Any) -> Any:
        """A channel value (or a write to it) as stored: payloads replaced by their ids."""
        if channel == ATTEMPTS and isinstance(value, list):
            return [self._summary(cur, a) if isinstance(a, Attempt) else a for a in value]
        if channel == "files" and isinstance(value, dict):
            return [REF, self._put_payload(cur, value)]
        if channel == "hidden" and isinstance(value, CheckReport):
            return [REF, self._put_payload(cur, value.model_dump(mode="json"))]
        return value

    def _decode(self, cur: sqlite3.Cursor, channel: str, value: Any) -> Any:
        if channel == ATTEMPTS and isinstance(value, list):
            return [self._attempt(cur, a) for a in value]
        if channel in PAYLOAD_CHANNELS and _is_ref(value):
            data = self._payload(cur, value[1])
            return dict(data) if channel == "files" else CheckReport.model_validate(data)
        return value

    # -- rows ---------------------------------------------------------------------------
    def _pack(self, doc: Any) -> bytes:
        type_, data = self.serde.dumps_typed(doc)
        z = zlib.compressobj(6, zdict=ZDICT)
        return FORMAT + z.compress(type_.encode() + b"\0" + data) + z.flush()

    def _unpack(self, blob: bytes) -> Any:
        if blob[:1] != FORMAT:
            raise ValueError(f"a checkpoint row of unknown format {blob[:1]!r} (written by a "
                             "newer codemend?)")
        z = zlib.decompressobj(zdict=ZDICT)
        raw = z.decompress(blob[1:]) + z.flush()
        type_, _, data = raw.partition(b"\0")
        return self.serde.loads_typed((type_.decode(), data))

    def _rows(self, cur: sqlite3.Cursor, thread_id: str, ns: str) -> dict[str, tuple[str | None,
                                                                                  bytes]]:
        cur.execute("SELECT checkpoint_id, parent_id, data FROM codemend_checkpoints WHERE "
                    "thread_id = ? AND checkpoint_ns = ?", (thread_id, ns))
        return {cid: (parent, data) for cid, parent, data in cur.fetchall()}

    def _build(self, cur: sqlite3.Cursor, thread_id: str, ns: str, checkpoint_id: str,
               rows: dict[str, tuple[str | None, bytes]] | None = None) -> _Built | None:
        """Rebuild one checkpoint from its ancestors' rows (cached)."""
        key = (thread_id, ns, checkpoint_id)
        if key in self._built:
            self._built.move_to_end(key)
            return self._built[key]
        if rows is None:
            rows = self._rows(cur, thread_id, ns)
        if checkpoint_id not in rows:
            return None
        path: list[str] = []
        base: _Built | None = None
        cid: str | None = checkpoint_id
        while cid is not None:
            if (thread_id, ns, cid) in self._built:
                base = self._built[(thread_id, ns, cid)]
                break
            path.append(cid)
            cid = rows[cid][0] if cid in rows else None
        built = base
        for cid in reversed(path):
            parent, data = rows[cid]
            built = self._apply(cur, built, cid, parent, self._unpack(data))
            self._remember(self._built, (thread_id, ns, cid), built)
        return built

    def _apply(self, cur: sqlite3.Cursor, base: _Built | None, cid: str, parent: str | None,
               doc: dict[str, Any]) -> _Built:
        values = dict(base.values) if base else {}
        versions = dict(base.versions) if base else {}
        seen = dict(base.seen) if base else {}
        for ch, enc in doc["values"].items():
            if ch == ATTEMPTS and doc.get("append"):
                values[ch] = [*values.get(ch, []), *self._decode(cur, ch, enc)]
            else:
                values[ch] = self._decode(cur, ch, enc)
        for ch in doc["gone"]:
            values.pop(ch, None)
        versions.update(_ungroup(doc["versions"]))
        for ch in doc["versions_gone"]:
            versions.pop(ch, None)
        seen.update(doc["seen"])
        for node in doc["seen_gone"]:
            seen.pop(node, None)
        return _Built({**doc["rest"], "id": cid}, values, versions, seen, doc["metadata"], parent)

    # -- the saver contract ---------------------------------------------------------------
    def put(self, config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata,
            new_versions: ChannelVersions) -> RunnableConfig:
        thread_id = str(_configurable(config)["thread_id"])
        ns = _configurable(config).get("checkpoint_ns", "")
        if self._is_legacy(thread_id):
            return super().put(config, checkpoint, metadata, new_versions)
        parent_id = _configurable(config).get("checkpoint_id")
        with self._mine, self.cursor() as cur:
            base = self._build(cur, thread_id, ns, parent_id) if parent_id else None
            values = checkpoint["channel_values"]
            old_values = base.values if base else {}
            old_versions = base.versions if base else {}
            stored: dict[str, Any] = {}
            append = False
            for ch, value in values.items():
                if ch in old_values and ch not in new_versions and \
                        old_versions.get(ch) == checkpoint["channel_versions"].get(ch):
                    continue  # unchanged since the parent
                if ch == ATTEMPTS and isinstance(value, list):
                    prior = old_values.get(ATTEMPTS)
                    if isinstance(prior, list) and len(prior) <= len(value) and all(
                            x is y for x, y in zip(prior, value, strict=False)):
                        append = True
                        value = value[len(prior):]
                stored[ch] = self._encode(cur, ch, value)
            versions, versions_gone = _dict_diff(dict(checkpoint["channel_versions"]),
                                                 old_versions)
            seen, seen_gone = _dict_diff(dict(checkpoint["versions_seen"]),
                                         base.seen if base else {})
            rest = {k: v for k, v in checkpoint.items()
                    if k not in ("id", "channel_values", "channel_versions", "versions_seen")}
            md = get_checkpoint_metadata(config, metadata)
            doc = {"rest": rest, "metadata": md, "values": stored, "append": append,
                   "gone": [ch for ch in old_values if ch not in values],
                   "versions": _group(versions), "versions_gone": versions_gone,
                   "seen": seen, "seen_gone": seen_gone}
            cur.execute("INSERT OR REPLACE INTO codemend_checkpoints (thread_id, checkpoint_ns, "
                        "checkpoint_id, parent_id, data) VALUES (?, ?, ?, ?, ?)",
                        (thread_id, ns, checkpoint["id"], parent_id, self._pack(doc)))
            built = _Built({**rest, "id": checkpoint["id"]},
                           dict(values), dict(checkpoint["channel_versions"]),
                           {k: dict(v) for k, v in checkpoint["versions_seen"].items()},
                           md, parent_id)
            self._remember(self._built, (thread_id, ns, checkpoint["id"]), built)
        return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns,
                                 "checkpoint_id": checkpoint["id"]}}

    def put_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]], task_id: str,
                   task_path: str = "") -> None:
        thread_id = str(_configurable(config)["thread_id"])
        if self._is_legacy(thread_id):
            return super().put_writes(config, writes, task_id, task_path)
        ns = str(_configurable(config).get("checkpoint_ns", ""))
        cid = str(_configurable(config)["checkpoint_id"])
        replace = all(ch in WRITES_IDX_MAP for ch, _ in writes)
        with self._mine, self.cursor() as cur:
            row = cur.execute("SELECT data FROM codemend_writes WHERE thread_id = ? AND "
                              "checkpoint_ns = ? AND checkpoint_id = ? AND task_id = ?",
                              (thread_id, ns, cid, task_id)).fetchone()
            doc = self._unpack(row[0]) if row else {"path": task_path, "writes": []}
            have = {w[0]: i for i, w in enumerate(doc["writes"])}
            for idx, (ch, value) in enumerate(writes):
                idx = WRITES_IDX_MAP.get(ch, idx)
                entry = [idx, ch, self._encode(cur, ch, value)]
                if idx in have:
                    if replace:
                        doc["writes"][have[idx]] = entry
                    continue
                have[idx] = len(doc["writes"])
                doc["writes"].append(entry)
            cur.execute("INSERT OR REPLACE INTO codemend_writes (thread_id, checkpoint_ns, "
                        "checkpoint_id, task_id, data) VALUES (?, ?, ?, ?, ?)",
                        (thread_id, ns, cid, task_id, self._pack(doc)))
            key = (thread_id, ns, cid)
            if key in self._built:
                self._built[key].writes = None

    def _pending(self, cur: sqlite3.Cursor, thread_id: str, ns: str, cid: str) -> list[Any]:
        cur.execute("SELECT task_id, data FROM codemend_writes WHERE thread_id = ? AND "
                    "checkpoint_ns = ? AND checkpoint_id = ?", (thread_id, ns, cid))
        flat = []
        for task_id, data in cur.fetchall():
            doc = self._unpack(data)
            for idx, ch, value in doc["writes"]:
                flat.append((writes_sort_key(doc["path"], task_id, idx), task_id, ch, value))
        flat.sort(key=lambda w: w[0])
        return [(task_id, ch, self._decode(cur, ch, v)) for _, task_id, ch, v in flat]

    def _tuple(self, cur: sqlite3.Cursor, thread_id: str, ns: str, built: _Built
               ) -> CheckpointTuple:
        cid = built.checkpoint["id"]
        if built.writes is None:
            built.writes = self._pending(cur, thread_id, ns, cid)
        parent: RunnableConfig | None = None if built.parent_id is None else {"configurable": {
            "thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": built.parent_id}}
        return CheckpointTuple(
            {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns,
                              "checkpoint_id": cid}},
            built.as_checkpoint(), cast(CheckpointMetadata, dict(built.metadata)), parent,
            list(built.writes))

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        thread_id = str(_configurable(config)["thread_id"])
        if self._is_legacy(thread_id):
            return super().get_tuple(config)
        ns = _configurable(config).get("checkpoint_ns", "")
        with self._mine, self.cursor(transaction=False) as cur:
            cid = get_checkpoint_id(config)
            if not cid:
                row = cur.execute("SELECT max(checkpoint_id) FROM codemend_checkpoints WHERE "
                                  "thread_id = ? AND checkpoint_ns = ?",
                                  (thread_id, ns)).fetchone()
                cid = row[0] if row else None
                if cid is None:
                    return None
            built = self._build(cur, thread_id, ns, cid)
            return None if built is None else self._tuple(cur, thread_id, ns, built)

    def list(self, config: RunnableConfig | None, *, filter: dict[str, Any] | None = None,
             before: RunnableConfig | None = None, limit: int | None = None
             ) -> Iterator[CheckpointTuple]:
        if config is None:
            raise ValueError("CompactSaver.list needs a thread_id")
        thread_id = str(_configurable(config)["thread_id"])
        if self._is_legacy(thread_id):
            yield from super().list(config, filter=filter, before=before, limit=limit)
            return
        ns = _configurable(config).get("checkpoint_ns", "")
        only = get_checkpoint_id(config)
        below = get_checkpoint_id(before) if before else None
        with self._mine, self.cursor(transaction=False) as cur:
            rows = self._rows(cur, thread_id, ns)
            out = []
            for cid in sorted(rows, reverse=True):
                if (only and cid != only) or (below and cid >= below):
                    continue
                built = self._build(cur, thread_id, ns, cid, rows)
                assert built is not None
                if filter and any(built.metadata.get(k) != v for k, v in filter.items()):
                    continue
                out.append(self._tuple(cur, thread_id, ns, built))
                if limit is not None and len(out) >= limit:
                    break
        yield from out

    def get_delta_channel_history(self, *, config: RunnableConfig, channels: Sequence[str]
                                  ) -> Mapping[str, Any]:
        """LangGraph's own walk up the parent chain, through this saver's ``get_tuple``
        (whose pending writes come in ``writes_sort_key`` order, as the walk needs); the
        stock saver's fast path reads only its own tables."""
        if self._is_legacy(str(_configurable(config)["thread_id"])):
            return super().get_delta_channel_history(config=config, channels=channels)
        return BaseCheckpointSaver.get_delta_channel_history(self, config=config,
                                                             channels=channels)

    def delete_thread(self, thread_id: str) -> None:
        """Delete a thread: its checkpoints, writes, and the payloads no other thread uses."""
        self.delete_threads([thread_id])

    def delete_threads(self, thread_ids: Iterable[str]) -> int:
        """Delete threads in one transaction; return how many payloads went with them.
        Payloads are shared (content-addressed): one stays while any checkpoint or write
        left in the database refers to it."""
        ids = [str(t) for t in thread_ids]
        with self._mine, self.cursor() as cur:
            # the deletes come first: they take the write lock, so no other process can
            # commit a reference to a payload between the sweep's reads and its deletes
            for table in ("checkpoints", "writes", "codemend_checkpoints", "codemend_writes"):
                cur.executemany(f"DELETE FROM {table} WHERE thread_id = ?", [(t,) for t in ids])
            for t in ids:
                self._legacy.pop(t, None)
            for key in [k for k in self._built if k[0] in set(ids)]:
                del self._built[key]
            return self._sweep(cur)

    def _sweep(self, cur: sqlite3.Cursor) -> int:
        used: set[str] = set()
        for table in ("codemend_checkpoints", "codemend_writes"):
            for (blob,) in cur.execute(f"SELECT data FROM {table}").fetchall():
                _refs(self._unpack(blob), used)
        unused = [k for (k,) in cur.execute("SELECT id FROM codemend_payloads").fetchall()
                  if k not in used]
        cur.executemany("DELETE FROM codemend_payloads WHERE id = ?", [(k,) for k in unused])
        for key in unused:
            self._payloads.pop(key, None)
        self._summaries.clear()
        return len(unused)


def _group(versions: dict[str, Any]) -> dict[str, list[str]]:
    """{channel: version} as {version: [channels]}: one step gives its channels one version."""
    out: dict[str, list[str]] = {}
    for ch, v in versions.items():
        out.setdefault(v, []).append(ch)
    return out


def _ungroup(grouped: dict[str, list[str]]) -> dict[str, Any]:
    return {ch: v for v, chs in grouped.items() for ch in chs}


def _configurable(config: RunnableConfig) -> dict[str, Any]:
    """A config's ``configurable`` part (a KeyError without one, as LangGraph's savers)."""
    found = config.get("configurable")
    if found is None:
        raise KeyError("configurable")
    return found


def _is_ref(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and value[0] == REF


def _refs(doc: Any, out: set[str]) -> None:
    """Add the payload ids ``doc`` (a stored row) refers to."""
    stack = [doc]
    while stack:
        x = stack.pop()
        if isinstance(x, dict):
            stack.extend(x.values())
        elif isinstance(x, list | tuple):
            if _is_ref(x):
                out.add(x[1])
            else:
                stack.extend(x)
