"""Shared e2e helpers: run the ``codemend`` CLI as a subprocess in a temp folder, watch a run
from outside (its SQLite checkpoints, its containers), and a local model server whose replies
depend on what is asked (so a run killed mid-call gets the same reply when resumed)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from openai_server import Behaviour, OpenAIServer, Request, ok

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
RLE = DATA / "rle"
"""The crash/fault task: generate -> check -> autofix -> check -> fix -> check -> hidden."""
LABEL = "codemend"
RLE_ATTEMPTS = [(1, "generate", "fail", 2, 1), (2, "autofix", "fail", 2, 1),
                (3, "fix", "pass", 3, 0)]
"""(n, node, verdict, passed, failed) of every uninterrupted run of the rle task."""

# Test modules import these helpers as ``e2e_helpers``: every tests/ folder has a
# conftest.py, so the plain name ``conftest`` would depend on collection order.
sys.modules.setdefault("e2e_helpers", sys.modules[__name__])


def _console_script() -> list[str]:
    script = Path(sys.executable).parent / "codemend"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "codemend.agent.cli"]


CODEMEND = _console_script()


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without CODEMEND_* settings (they would change the run), and
    wide enough that progress lines are never wrapped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEMEND_")}
    env["COLUMNS"] = "400"
    env.update(extra)
    return env


@dataclass
class Result:
    """A finished CLI call."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:
        return f"exit {self.code}\nstdout: {self.stdout[-2000:]}\nstderr: {self.stderr[-3000:]}"


class Proc:
    """A running CLI call; output goes to files (no pipe can fill up and stall it)."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str], tag: str) -> None:
        self._out = cwd / f".{tag}.{time.monotonic_ns()}.out"
        self._err = self._out.with_suffix(".err")
        with open(self._out, "wb") as out, open(self._err, "wb") as err:
            self.popen = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err,
                                          stdin=subprocess.DEVNULL)
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stderr_so_far(self) -> str:
        """What it has written to stderr up to now (while it runs)."""
        return self._err.read_text(errors="replace")

    def kill(self) -> bool:
        """SIGKILL it; False when it had already exited."""
        if not self.alive():
            return False
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            return False
        self.popen.wait()
        return True

    def wait(self, timeout: float = 240) -> Result:
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        return Result(code, self._out.read_text(errors="replace"),
                      self._err.read_text(errors="replace"))


class Cli:
    """``codemend`` in one folder (its cwd), with a clean environment."""

    def __init__(self, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.cwd = cwd
        self.env = env or clean_env()

    def run(self, *args: str, timeout: float = 240, argv: list[str] | None = None) -> Result:
        proc = subprocess.run([*(argv or CODEMEND), *args], cwd=self.cwd, env=self.env,
                              capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def spawn(self, *args: str, argv: list[str] | None = None) -> Proc:
        return Proc([*(argv or CODEMEND), *args], self.cwd, self.env, args[0])


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """Runs ``codemend`` as a subprocess with a fresh temp cwd."""
    work = tmp_path / "cwd"
    work.mkdir()
    return Cli(work)


# -- watching a run from outside --------------------------------------------------------
@dataclass
class DbCounts:
    """Rows of one run in its state dir's SQLite file (-1: not there yet)."""

    runs: int = -1
    checkpoints: int = -1
    writes: int = -1


class DbWatch:
    """Reads a run's rows while another process writes them (WAL lets readers in)."""

    def __init__(self, state_dir: Path, run_id: str) -> None:
        self.path = state_dir / "runs.sqlite"
        self.run_id = run_id
        self.conn: sqlite3.Connection | None = None

    def counts(self) -> DbCounts:
        out = DbCounts()
        if self.conn is None:
            if not self.path.exists():
                return out
            try:
                self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=0.2)
            except sqlite3.Error:
                return out  # being created
        for name, table in (("runs", "codemend_runs"),
                            ("checkpoints", "codemend_checkpoints"),
                            ("writes", "codemend_writes")):
            try:
                row = self.conn.execute(f"SELECT count(*) FROM {table} WHERE "  # noqa: S608
                                        f"{'run_id' if name == 'runs' else 'thread_id'} = ?",
                                        (self.run_id,)).fetchone()
                setattr(out, name, int(row[0]))
            except sqlite3.Error:
                pass  # the table is not created yet, or the writer holds a lock
        return out

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def __enter__(self) -> DbWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def containers_of(client, pids: list[int] | set[int], *, running: bool = False) -> list[dict]:
    """The codemend containers created by these processes (label ``codemend.pid``)."""
    found: list[dict] = []
    for pid in pids:
        found += client.api.containers(all=not running,
                                       filters={"label": [f"{LABEL}.pid={pid}"]})
    return found


def container_mode(client, cid: str) -> str | None:
    """``check`` or ``fix``: read from the runner's manifest (the container's last arg)."""
    try:
        args = client.api.inspect_container(cid)["Args"]
        return json.loads(args[-1]).get("mode")
    except Exception:  # noqa: BLE001 - gone already, or not ours
        return None


class ContainerWatch:
    """Every container one process creates, in order of appearance (even once removed)."""

    def __init__(self, client, pid: int) -> None:
        self.client = client
        self.pid = pid
        self.seen: dict[str, str | None] = {}
        """container id -> mode (check | fix)"""

    def poll(self) -> list[str]:
        for c in sorted(containers_of(self.client, [self.pid]), key=lambda c: c["Created"]):
            if c["Id"] not in self.seen:
                self.seen[c["Id"]] = container_mode(self.client, c["Id"])
        return list(self.seen)

    def running(self, mode: str, k: int = 1) -> str | None:
        """The k-th container of ``mode`` while it runs (None before, or once it ended)."""
        self.poll()
        ids = [cid for cid, m in self.seen.items() if m == mode]
        if len(ids) < k:
            return None
        try:
            state = self.client.api.inspect_container(ids[k - 1])["State"]
        except Exception:  # noqa: BLE001 - removed already
            return None
        return ids[k - 1] if state.get("Running") else None


def wait_for(cond: Callable[[], bool], *, timeout: float, every: float = 0.005,
             proc: Proc | None = None) -> bool:
    """Poll ``cond`` until true (True), the timeout or ``proc``'s exit (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        if proc is not None and not proc.alive():
            return cond()
        time.sleep(every)
    return False


def docker_info_ok() -> bool:
    proc = subprocess.run(["docker", "info"], capture_output=True, timeout=30)
    return proc.returncode == 0


def load_replies(path: Path) -> list[str]:
    return tomllib.loads(path.read_text())["replies"]


# -- a model server that answers by what is asked ---------------------------------------
class ScriptServer(OpenAIServer):
    """The test OpenAI server (tests/openai_server.py), answering by what is asked: the
    generator's request (no current code in it) gets ``replies[0]``; a fixer's request gets
    ``replies[1 + k]`` for the k-th distinct code it shows. Each answer waits ``stall_s``
    first, so a test can kill the client mid-call."""

    def __init__(self, replies: list[str], stall_s: float = 0.0) -> None:
        super().__init__()
        self.replies, self.stall_s = list(replies), stall_s
        self.arrivals: list[float] = []
        self._seen_code: list[str] = []

    def record(self, request: Request) -> None:
        super().record(request)
        with self._lock:
            self.arrivals.append(time.monotonic())

    def next_behaviour(self) -> Behaviour:
        with self._lock:
            body = self.requests[-1].json
        return replace(ok(self.pick(body)), stall_s=self.stall_s)

    def pick(self, body: Any) -> str:
        content = str(body["messages"][-1]["content"])
        marker = "## Your current code"
        if marker not in content:
            return self.replies[0]
        code = content.split(marker, 1)[1].split("## ", 1)[0]
        with self._lock:
            if code not in self._seen_code:
                self._seen_code.append(code)
            return self.replies[1 + self._seen_code.index(code)]


@pytest.fixture
def script_server() -> Iterator[Callable[..., ScriptServer]]:
    """Factory: ``script_server(replies, stall_s=...)`` started now, stopped after the test."""
    started: list[ScriptServer] = []

    def make(replies: list[str], stall_s: float = 0.0) -> ScriptServer:
        server = ScriptServer(replies, stall_s).__enter__()
        started.append(server)
        return server

    yield make
    for server in started:
        server.__exit__(None, None, None)


def read_outputs(out_dir: Path, solution: str = "rle.py") -> dict[str, Any]:
    """What a run wrote, without what differs between two runs (times, paths)."""
    report = json.loads((out_dir / "report.json").read_text())
    return {"solution": (out_dir / solution).read_text(),
            "status": report["status"], "iterations": report["iterations"],
            "verdict": report["verdict"], "accepted": report["accepted"],
            "hidden": (report["hidden"] or {}).get("verdict"),
            "attempts": [(a["n"], a["node"], a["verdict"], a["passed"], a["failed"], a["lint"],
                          a["signature"]) for a in report["attempts"]]}


def attempts_of(shown: dict[str, Any]) -> list[tuple]:
    return [(a["n"], a["node"], a["verdict"], a["passed"], a["failed"])
            for a in shown["attempts"]]


def no_traceback(res: Result) -> None:
    assert "Traceback" not in res.stderr, str(res)


def rle_solution() -> str:
    """The file a solved rle run writes: the code of the fixer's reply."""
    from codemend.agent.extract import extract_files

    return extract_files(load_replies(RLE / "replies.toml")[1], ["rle.py"])["rle.py"]


def rle_solve_args(state: Path, run_id: str, *extra: str) -> list[str]:
    return ["solve", str(RLE / "spec.toml"), "--model", f"scripted:{RLE / 'replies.toml'}",
            "--run-id", run_id, "--state-dir", str(state), "--sandbox", "cold", *extra]
