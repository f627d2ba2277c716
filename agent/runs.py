"""Runs: start, resume, list and inspect checkpointed runs (SQLite under the state dir)."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codemend.agent.atomic import replace_file
from codemend.agent.graph import build_graph
from codemend.agent.nodes import Deps
from codemend.agent.repo.store import RepoBases
from codemend.agent.saver import CompactSaver
from codemend.agent.state import Attempt, RunState, TaskInfo
from codemend.agent.taskkinds import task_kinds
from codemend.sandbox.errors import BadInput, InfraError
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.constants import START
from langgraph.types import Command

# The only classes a checkpoint may hold besides plain data (strict msgpack allowlist).
CHECKPOINT_TYPES = [
    *(("codemend.agent.state", n) for n in ("RunState", "TaskInfo", "Attempt", "Escalation")),
    *(("codemend.agent.repotask", n) for n in ("RepoTask", "Counts")),
    *(("codemend.sandbox.report", n) for n in ("CheckReport", "LintReport", "TestReport", "TestCase",
                                               "Finding"))]

OnAttempt = Callable[[Attempt, RunState | None], None]
OnNote = Callable[[str], None]


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


def db_error(path: Path, exc: sqlite3.Error, resume: str = "") -> InfraError:
    """A SQLite failure as an InfraError that says what to do (the data is not lost)."""
    text = str(exc)
    low = text.lower()
    then = f", then continue with `{resume}`" if resume else ", then try again"
    if "full" in low or "i/o" in low:
        what = (f"free some disk space (or use --state-dir on another disk){then}; nothing "
                "written before is lost")
    elif "locked" in low or "busy" in low:
        what = f"another codemend process is writing to it: wait for it{then}"
    elif "readonly" in low or "read-only" in low or "unable to open" in low:
        what = f"make its folder writable (or use another --state-dir){then}"
    else:
        what = f"if the file is damaged, move it away and start again{then}"
    return InfraError(f"the run database {path} failed ({text}): {what}")


@contextmanager
def db_errors(path: Path, resume: str = "") -> Iterator[None]:
    """Translate sqlite3 errors into InfraError at the boundary."""
    try:
        yield
    except sqlite3.Error as exc:
        raise db_error(path, exc, resume) from exc


@contextmanager
def paused_on_infra_error(resume: str) -> Iterator[None]:
    """An InfraError (Docker down, model server gone, ...) while a run is under way: what is
    recorded stands, so the message ends with the command that continues the run."""
    try:
        yield
    except InfraError as exc:
        if resume in str(exc):
            raise
        raise type(exc)(f"{str(exc).rstrip('. ')}. The run is paused; once that is "
                        f"fixed, continue it with `{resume}`") from exc


def new_run_id(task_name: str) -> str:
    return f"{task_name[:24]}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


class RunStore:
    """The checkpoint database of one state dir: ``runs.sqlite``."""

    def __init__(self, state_dir: Path, *, resume_verb: str = "resume") -> None:
        """``resume_verb``: how error messages say to continue a run (``repair --resume``)."""
        self.resume_verb = resume_verb
        self.path = state_dir / "runs.sqlite"
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InfraError(f"cannot create the state dir {state_dir}: {exc.strerror}; "
                             "pick another with --state-dir") from exc
        self.conn = sqlite3.connect(str(self.path), check_same_thread=False)
        try:
            with db_errors(self.path):
                self.conn.execute("PRAGMA journal_mode=WAL")
                # WAL + NORMAL: a killed process loses nothing committed; only a power cut
                # can drop the last transactions, and a resume then repeats those steps
                self.conn.execute("PRAGMA synchronous=NORMAL")
                self.conn.execute("CREATE TABLE IF NOT EXISTS codemend_runs (run_id TEXT "
                                  "PRIMARY KEY, task TEXT, model TEXT, created REAL, out TEXT, "
                                  "start TEXT)")
                columns = {r[1] for r in self.conn.execute("PRAGMA table_info(codemend_runs)")}
                if "start" not in columns:  # a state dir from before runs kept their input
                    self.conn.execute("ALTER TABLE codemend_runs ADD COLUMN start TEXT")
                if "summary" not in columns:  # ... or a summary for `codemend runs`
                    self.conn.execute("ALTER TABLE codemend_runs ADD COLUMN summary TEXT")
                self.conn.commit()
        except InfraError:
            self.conn.close()
            raise
        self.saver = CompactSaver(self.conn, serde=JsonPlusSerializer(
            allowed_msgpack_modules=CHECKPOINT_TYPES))
        with db_errors(self.path):
            self.saver.setup()  # now, not on a first use that threads could race to
        self.graph = build_graph(self.saver)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """One write transaction on the shared connection, committed at the end. Threads
        that drive runs on one store (``eval --workers``) and LangGraph's background
        checkpoint writes take turns on the checkpointer's lock, for reads too: two
        transactions begun at once on one connection fail ("cannot start a transaction
        within a transaction"), and a statement run during another's script can crash."""
        with self.saver.lock:
            try:
                yield
            except BaseException:
                self.conn.rollback()
                raise
            self.conn.commit()

    def bases(self) -> RepoBases:
        """Repository snapshots and baselines in this database, writing under its lock."""
        return RepoBases(self.conn, self.saver.lock)

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def config(self, run_id: str) -> RunnableConfig:
        """The LangGraph config of a run's thread (its latest checkpoint)."""
        return {"configurable": {"thread_id": run_id}, "recursion_limit": 10_000}

    _config = config

    def resume_command(self, run_id: str, verb: str | None = None) -> str:
        """The command line that continues ``run_id`` (naming a non-default state dir)."""
        state_dir = self.path.parent
        flag = "" if state_dir == Path(".codemend") else f" --state-dir {state_dir}"
        return f"codemend {verb or self.resume_verb} {run_id}{flag}"

    def register(self, run_id: str, task: str, model: str, out: str, *,
                 info: TaskInfo | None = None, max_iterations: int | None = None,
                 extra: dict[str, Any] | None = None,
                 settings: dict[str, Any] | None = None) -> None:
        """Record a new run (committed at once). With ``info``, a run killed before its
        first checkpoint can still be resumed: it starts over from this input (``extra``:
        further ``RunState`` fields). ``settings`` are kept with it for the record."""
        if self.exists(run_id):
            raise BadInput(f"run id {run_id!r} already exists; pick another --run-id or use "
                           f"`codemend resume {run_id}`")
        start = None if info is None else json.dumps(
            {"task": info.model_dump(mode="json"), "max_iterations": max_iterations,
             "extra": extra or {}, "settings": settings or {}})
        with db_errors(self.path), self.writing():
            self.conn.execute("INSERT INTO codemend_runs (run_id, task, model, created, out, "
                              "start) VALUES (?, ?, ?, ?, ?, ?)",
                              (run_id, task, model, time.time(), out, start))

    def exists(self, run_id: str) -> bool:
        with db_errors(self.path), self.saver.lock:
            row = self.conn.execute("SELECT 1 FROM codemend_runs WHERE run_id = ?", (run_id,))
            return row.fetchone() is not None

    def meta(self, run_id: str) -> dict[str, Any]:
        with db_errors(self.path), self.saver.lock:
            row = self.conn.execute("SELECT run_id, task, model, created, out FROM "
                                    "codemend_runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise BadInput(f"no run {run_id!r} in {self.path}; `codemend runs` lists them")
        return dict(zip(("run_id", "task", "model", "created", "out"), row, strict=True))

    def set_summary(self, run_id: str, status: str, iterations: int, kind: str) -> None:
        """What `codemend runs` shows of a run, kept beside it (the state is not read)."""
        with db_errors(self.path), self.writing():
            self.conn.execute("UPDATE codemend_runs SET summary = ? WHERE run_id = ?",
                              (json.dumps({"status": status, "iterations": iterations,
                                           "kind": kind}), run_id))

    def summaries(self) -> list[dict[str, Any]]:
        """Every run, oldest first: its row and summary (``None`` for a run recorded by an
        earlier codemend, or one that has not been driven yet)."""
        with db_errors(self.path), self.saver.lock:
            rows = self.conn.execute("SELECT run_id, task, model, created, out, summary FROM "
                                     "codemend_runs ORDER BY created").fetchall()
        return [{"run_id": r[0], "task": r[1], "model": r[2], "created": r[3], "out": r[4],
                 "summary": json.loads(r[5]) if r[5] else None} for r in rows]

    def _first_state(self, run_id: str, snap: Any) -> RunState | None:
        """The state a run starts from, for a run killed before its first node ran:
        LangGraph's input checkpoint holds it, else the input recorded by ``register``."""
        if snap.values:
            saved = self.saver.get_tuple(snap.config)
            first = saved.checkpoint["channel_values"].get(START) if saved else None
            return RunState.model_validate(first) if first is not None else None
        with db_errors(self.path), self.saver.lock:
            row = self.conn.execute("SELECT model, start FROM codemend_runs WHERE run_id = ?",
                                    (run_id,)).fetchone()
        if row is None or row[1] is None:
            return None
        start = json.loads(row[1])
        return RunState(run_id=run_id, task=TaskInfo.model_validate(start["task"]),
                        model=row[0], max_iterations=start["max_iterations"],
                        **start.get("extra", {}))

    # -- driving ---------------------------------------------------------------------
    def start(self, run_id: str, task: TaskInfo, model: str, max_iterations: int, deps: Deps,
              on_attempt: OnAttempt | None = None, on_note: OnNote | None = None,
              **extra: Any) -> Outcome:
        """Run a new run; ``extra`` sets further ``RunState`` fields (a repair session's)."""
        state = RunState(run_id=run_id, task=task, model=model, max_iterations=max_iterations,
                         **extra)
        return self.drive(run_id, state, deps, on_attempt, on_note)

    def resume(self, run_id: str, deps: Deps, decision: dict[str, Any] | None = None,
               on_attempt: OnAttempt | None = None, on_note: OnNote | None = None,
               update: dict[str, Any] | None = None) -> Outcome:
        """Continue a paused run with a decision, or a killed one from its last checkpoint.
        ``update``: state fields the resume changes first (``model``, ``fallback_model``)."""
        with db_errors(self.path, self.resume_command(run_id)):
            snap = self.graph.get_state(self._config(run_id))
            if update and update.get("model"):  # `runs` names the model that drives it now
                with self.writing():
                    self.conn.execute("UPDATE codemend_runs SET model = ? WHERE run_id = ?",
                                      (update["model"], run_id))
        if not snap.values:  # killed before its first checkpoint: start it over
            first = self._first_state(run_id, snap)
            if first is None:
                raise BadInput(f"run {run_id!r} has no checkpoint yet; start it again with "
                               "solve")
            return self.drive(run_id, with_update(first, update), deps, on_attempt, on_note)
        if snap.interrupts:
            payload: Any = Command(resume=decision or {"action": "more"})
        elif snap.next or snap.values.get("status", "running") == "running":
            # killed mid-run: continue from the last checkpoint. (``next`` is empty when the
            # killed step's writes were saved but its checkpoint was not: LangGraph applies
            # those writes and goes on.)
            payload = None
        else:
            return self.outcome(run_id)
        return self.drive(run_id, with_update(payload, update), deps, on_attempt, on_note)

    def drive(self, run_id: str, payload: Any, deps: Deps, on_attempt: OnAttempt | None = None,
              on_note: OnNote | None = None) -> Outcome:
        """Stream the graph from ``payload`` (a first state, a ``Command`` or None) until it
        stops; each checked attempt goes to ``on_attempt``, a model switch to ``on_note``."""
        config = self._config(run_id)
        resume = self.resume_command(run_id)
        if deps.repo_bases is None:
            deps.repo_bases = self.bases()
        deps.kinds = task_kinds()
        with paused_on_infra_error(resume), db_errors(self.path, resume):
            if isinstance(payload, RunState):
                self.set_summary(run_id, "running", payload.iteration, payload.task.kind)
            else:
                with self.writing():
                    self.conn.execute("UPDATE codemend_runs SET summary = json_set(summary, "
                                      "'$.status', 'running') WHERE run_id = ?", (run_id,))
            for update in self.graph.stream(payload, config, context=deps,
                                            stream_mode="updates"):
                for node, delta in update.items():
                    if node == "fallback" and on_note is not None and delta:
                        on_note(fallback_note(delta))
                    if node == "check" and isinstance(delta, dict) and on_attempt:
                        for attempt in delta.get("attempts") or []:
                            on_attempt(attempt, None)
        out = self.outcome(run_id)
        self.set_summary(run_id, out.status, out.iterations, out.state.task.kind)
        return out

    def outcome(self, run_id: str) -> Outcome:
        with db_errors(self.path, self.resume_command(run_id)):
            snap = self.graph.get_state(self._config(run_id))
            first = None if "run_id" in snap.values else self._first_state(run_id, snap)
        if first is not None:  # killed before its first node ran
            return Outcome(run_id, "running", first, "stopped before its first step; resume it")
        if not snap.values:
            raise BadInput(f"run {run_id!r} has no checkpoint yet")
        state = RunState.model_validate(snap.values)
        if snap.interrupts:
            reason = (snap.interrupts[0].value or {}).get("reason", "")
            return Outcome(run_id, "escalated", state, reason)
        if snap.next or state.status == "running":
            return Outcome(run_id, "running", state, "stopped before it finished; resume it")
        return Outcome(run_id, state.status, state)

    def attempts_json(self, run_id: str) -> dict[str, Any]:
        out = self.outcome(run_id)
        return {"run_id": run_id, "status": out.status, "reason": out.reason,
                "attempts": [{"n": a.n, "node": a.node, "verdict": a.verdict,
                              "passed": a.passed, "failed": a.failed, "lint": a.lint,
                              "duration_s": a.duration_s, "model": a.model}
                             for a in out.state.attempts]}


def with_update(payload: Any, update: dict[str, Any] | None) -> Any:
    """``payload`` (a first state, a resume ``Command`` or None) that also sets ``update``'s
    state fields: LangGraph applies a Command's update before the resumed node runs."""
    if not update:
        return payload
    if isinstance(payload, RunState):
        return payload.model_copy(update=update)
    if isinstance(payload, Command):
        return Command(resume=payload.resume, update=update)
    return Command(update=update)


def fallback_note(delta: dict[str, Any]) -> str:
    """The line that shows a switch to the fallback model."""
    return f"switching models: {delta.get('fallback_reason', '')}"


def result_json(out: Outcome, out_dir: str) -> dict[str, Any]:
    final = out.final
    return {"run_id": out.run_id, "status": out.status, "iterations": out.iterations,
            "verdict": final.verdict if final else None, "out": out_dir,
            "tokens": {"prompt": out.state.prompt_tokens,
                       "completion": out.state.completion_tokens}}


def write_outputs(out: Outcome, out_dir: Path, *, force: bool, resume: str = "") -> None:
    """Write the final (or best) files and report.json; refuse to overwrite others' files."""
    final = out.final
    files = final.files if final else {}
    ensure_writable(out_dir, [*files, "report.json"], out.run_id, force=force)
    report = {**result_json(out, str(out_dir)), "reason": out.reason,
              "accepted": out.state.accepted,
              "attempts": [a.model_dump(exclude={"files"}) for a in out.state.attempts],
              "hidden": out.state.hidden.model_dump() if out.state.hidden else None}
    # report.json first: it marks the folder as this run's, so a run killed while writing
    # may write again on resume; each file is replaced whole (never left half written)
    todo = {"report.json": json.dumps(report, indent=2), **files}
    for rel, text in todo.items():
        target = out_dir / rel
        try:
            replace_file(target, text.encode("utf-8", errors="surrogateescape"))
        except OSError as exc:
            raise InfraError(f"cannot write {target}: {exc.strerror or exc}; free some space "
                             "(or fix the folder's permissions), then "
                             f"`{resume or 'codemend resume ' + out.run_id}` writes the files "
                             "again") from exc


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
