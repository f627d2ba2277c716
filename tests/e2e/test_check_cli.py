"""`codemend check` and `codemend sandbox` through the CLI, against the real daemon."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from codemend.sandbox.docker_io import list_ours

pytestmark = pytest.mark.docker
ADD = "def add(a, b):\n    return a + b\n"
HANG = 240  # seconds: a bound that only a hang reaches, never a slow machine
TEST = "from sol import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n"


def cli(*args: str, env: dict | None = None, cwd: Path | None = None
        ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "codemend.agent.cli", *args], capture_output=True,
                          text=True, timeout=HANG, env=env, cwd=cwd)


def folder(tmp_path: Path, solution: str, test: str = TEST) -> Path:
    d = tmp_path / "code"
    d.mkdir()
    (d / "sol.py").write_text(solution)
    (d / "test_sol.py").write_text(test)
    return d


@pytest.fixture
def ready(docker_client, sandbox_image, leftover_containers):
    return docker_client


def test_pass_and_fail_exit_codes_and_json_keys(tmp_path, ready):
    good = folder(tmp_path, ADD)
    res = cli("check", str(good), "--json")
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert {"verdict", "duration_s", "truncated", "lint", "tests"} <= set(report)
    assert report["verdict"] == "pass" and report["tests"]["passed"] == 1
    (good / "sol.py").write_text("import os\n\n\ndef add(a, b):\n    return a - b\n")
    res = cli("check", str(good))
    assert res.returncode == 1
    assert "F401" in res.stdout and "test_sol.py::test_add" in res.stdout
    assert "assert -1 == 3" in res.stdout  # a short traceback is shown


def test_separate_tests_folder_and_timeout_flag(tmp_path, ready):
    code = tmp_path / "src"
    code.mkdir()
    (code / "sol.py").write_text("import time\n\n\ndef add(a, b):\n    time.sleep(3600)\n"
                                 "    return a + b\n")
    tests = tmp_path / "t"
    tests.mkdir()
    (tests / "test_sol.py").write_text(TEST)
    # killed at --timeout: the hour's sleep would outlast cli()'s HANG bound
    res = cli("check", str(code), "--tests", str(tests), "--timeout", "2", "--json")
    assert res.returncode == 1 and json.loads(res.stdout)["verdict"] == "timeout"


def test_bad_paths_and_flags_exit_2(tmp_path):
    assert cli("check", str(tmp_path / "missing")).returncode == 2
    assert cli("check", str(tmp_path), "--timeout", "-1").returncode == 2
    assert cli("check", str(tmp_path), "--timeout", "soon").returncode == 2
    res = cli("check", str(tmp_path))  # an empty folder: nothing to check
    assert res.returncode == 2 and "no Python files" in res.stderr


def test_symlinks_in_the_folder_are_never_followed(tmp_path, ready):
    d = folder(tmp_path, ADD)
    secret = tmp_path / "secret.py"
    secret.write_text("SECRET = 'host-only'\n")
    (d / "leak.py").symlink_to(secret)
    (d / "test_leak.py").write_text("import os\n\n\ndef test_no_leak():\n"
                                    "    assert not os.path.exists('leak.py')\n")
    res = cli("check", str(d), "--json")
    assert res.returncode == 0, res.stdout + res.stderr


def test_docker_unreachable_exit_4(tmp_path):
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no.sock"}
    res = cli("check", str(folder(tmp_path, ADD)), env=env)
    assert res.returncode == 4
    assert "DOCKER_HOST" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.mark.timeout(900)  # HANG bounds each wait; a loaded machine is only slow
def test_ctrl_c_removes_the_container_and_kill_9_is_reaped(tmp_path, ready):
    d = folder(tmp_path, "import time\n\n\ndef add(a, b):\n    time.sleep(3600)\n")
    for sig in (signal.SIGINT, signal.SIGKILL):
        with _stopped(_start_check_and_wait_for_its_container(ready, d)) as proc:
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=HANG)
        if sig == signal.SIGINT:
            assert proc.returncode == 130, err.decode()[-2000:]
            assert not _containers_of(ready, proc.pid)
        else:
            assert _containers_of(ready, proc.pid)  # orphaned ...
            res = cli("check", str(d),
                      "--timeout", "1")
            assert res.returncode == 1
            assert not _containers_of(ready, proc.pid)  # ... and reaped at the next start


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def _stopped(proc: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """``proc``, killed if it still runs at the end, reaped and its pipes closed: a failed wait
    must not leave it to the garbage collector, whose ResourceWarnings would fail a later test."""
    with proc:  # closes the pipes and waits
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()


def _start_check_and_wait_for_its_container(client, d: Path) -> subprocess.Popen:
    """Start `codemend check d` and return once the daemon reports its container started.

    Waits on Docker's event stream (opened before the child starts, so no event is missed)
    and on the child's exit; HANG only catches a hang, never a slow machine."""
    events = client.events(decode=True, filters={"type": "container", "event": "start",
                                                 "label": "codemend.pid"})
    # Ctrl-C as at a terminal: a suite run in the background of a shell without job control
    # has SIGINT ignored, the child would inherit that and never see KeyboardInterrupt
    proc = subprocess.Popen([sys.executable, "-m", "codemend.agent.cli", "check", str(d)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_default_sigint)

    def stop_waiting() -> None:
        try:
            proc.wait(timeout=HANG)
        except subprocess.TimeoutExpired:
            pass
        events.close()

    threading.Thread(target=stop_waiting, daemon=True).start()
    try:
        for event in events:
            attrs = (event.get("Actor") or {}).get("Attributes") or {}
            if attrs.get("codemend.pid") == str(proc.pid):
                return proc
    except Exception:  # noqa: BLE001 - the stream was closed under us: the child exited
        pass
    finally:
        events.close()
    proc.kill()
    out, err = proc.communicate()
    raise AssertionError(f"the check never started a container (exit {proc.returncode}): "
                         f"{err.decode()[-2000:]}")


def _containers_of(client, pid: int) -> list[dict]:
    return [c for c in list_ours(client)
            if (c.get("Labels") or {}).get("codemend.pid") == str(pid)]


def test_doctor_proves_the_hardening(ready):
    res = cli("sandbox", "doctor")
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    for needle in ("uid 10001", "effective capabilities 0000000000000000",
                   "network interfaces: lo", "pids limit 128", "memory limit 512 MiB",
                   "no Docker socket inside"):
        assert needle in out
    assert "FAIL" not in out


def test_sandbox_build_reuses_an_up_to_date_image(ready):
    res = cli("sandbox", "build")
    assert res.returncode == 0 and "up to date" in res.stderr
