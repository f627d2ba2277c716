"""One driver per run (agent/runlock.py) between real processes: the second finds the lock
taken and is told who holds it; the lock goes with its process, even after kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from codemend.agent.runlock import RunInUse, lock_run, run_lock_path

HOLD = """
import sys
from pathlib import Path
from codemend.agent.runlock import lock_run
with lock_run(Path(sys.argv[1]), sys.argv[2]):
    print("held", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


def holder(state: Path, run_id: str) -> subprocess.Popen:
    """A process that takes the lock, says ``held`` and keeps it until its stdin gets a
    line. Returns once the lock is held (its ``held`` line is the event)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(state), run_id, "--base-url",
                             "http://key@host/v1"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "held\n"
    return proc


def test_a_second_process_is_refused_while_the_first_holds_the_run(tmp_path):
    first = holder(tmp_path, "run-1")
    try:
        with pytest.raises(RunInUse) as caught, lock_run(tmp_path, "run-1"):
            pass
        text = str(caught.value)
        assert text.startswith(f"run run-1 is in use by process {first.pid} (codemend ")
        assert "run-1 --base-url URL)" in text and "key@" not in text  # no address, no key
        assert "\n" not in text and caught.value.exit_code == 2
        with lock_run(tmp_path, "run-2"):  # another run is free
            pass
    finally:
        out, _ = first.communicate("\n", timeout=60)
    assert out == "released\n" and first.returncode == 0
    with lock_run(tmp_path, "run-1"):  # free once its holder let go
        pass


def test_the_lock_dies_with_its_process(tmp_path):
    first = holder(tmp_path, "run-1")
    os.kill(first.pid, signal.SIGKILL)
    first.communicate(timeout=60)  # reaped, its pipes closed
    with lock_run(tmp_path, "run-1"):
        assert run_lock_path(tmp_path, "run-1").is_file()


def test_ids_that_read_alike_have_their_own_locks(tmp_path):
    assert run_lock_path(tmp_path, "a b") != run_lock_path(tmp_path, "a_b")
    assert run_lock_path(tmp_path, "../x").parent == tmp_path / "locks"
