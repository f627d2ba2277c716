"""One driver per run: an exclusive OS file lock per run, and per eval folder, held by the
process that drives it (solve, resume, fix, repair, repair --resume, eval, eval --resume).

The lock is ``fcntl.flock`` on a file beside the state (``STATE_DIR/locks/<run>.lock``,
``EVAL_DIR/eval.lock``). The kernel drops it when the process ends, however it ends (a
``kill -9`` included), so a stale lock never blocks a resume, and the file is never removed
(removing it would let two processes lock two different files). The holder writes its pid
and command line into the file; a second process finds the lock taken and stops with one
line naming them (``RunInUse``, exit 2) before it reads or writes anything of the run.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from codemend.sandbox.errors import BadInput


class RunInUse(BadInput):
    """Another process drives the run (or the eval folder) now."""


def run_lock_path(state_dir: Path, run_id: str) -> Path:
    """The lock file of ``run_id``: its id made safe as a file name, plus a short hash so
    two ids that read alike never share a lock."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", run_id)[:80]
    digest = hashlib.sha256(run_id.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    return state_dir / "locks" / f"{safe}.{digest}.lock"


def lock_run(state_dir: Path, run_id: str):
    """Hold the lock of ``run_id`` (a context manager)."""
    return hold(run_lock_path(state_dir, run_id), f"run {run_id}")


def lock_eval(folder: Path):
    """Hold the lock of the eval folder ``folder`` (a context manager)."""
    return hold(folder / "eval.lock", f"the eval in {folder}")


@contextmanager
def hold(path: Path, what: str) -> Iterator[None]:
    """Take the exclusive lock on ``path`` for the time of the block, or raise
    ``RunInUse`` at once when another process holds it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise BadInput(f"cannot create the lock file {path}: {exc.strerror}; check that the "
                       "folder is writable") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunInUse(f"{what} is in use by {holder(fd)}; wait for it to finish, or stop "
                           "that process") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "command": command_line()}).encode(), 0)
        yield
    finally:
        os.close(fd)  # the lock goes with the last descriptor of the open file


def holder(fd: int) -> str:
    """Who holds the lock, as its file says (it may not have written it yet)."""
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
        pid, command = int(data["pid"]), str(data["command"])
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
    return f"process {pid} ({command})"


def command_line() -> str:
    """This process's command line as a person typed it, without URLs (a server address
    may carry a key) and cut to a readable length."""
    args = ["URL" if "://" in a else a for a in sys.argv[1:]]
    text = shlex.join(["codemend", *args])
    return text if len(text) <= 300 else text[:297] + "..."
