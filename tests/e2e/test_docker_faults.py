"""Docker and disk faults during a real run (CLI subprocess, scripted model, cold sandbox):
the daemon stops, the image vanishes, a check's container is killed from outside, the disk
fills up. Each fault ends in a clear exit-4 pause or is healed; nothing is lost."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
import docker.errors
import pytest
from codemend.sandbox.image import image_tag
from e2e_helpers import (
    RLE_ATTEMPTS,
    Cli,
    ContainerWatch,
    attempts_of,
    containers_of,
    docker_info_ok,
    no_traceback,
    rle_solution,
    rle_solve_args,
    wait_for,
)

pytestmark = [pytest.mark.docker, pytest.mark.destructive]  # stops dockerd, mounts tmpfs

DOCKERD_LOG = "/var/log/codemend-dockerd.log"
IMAGE_REPO_SHIM = ("import sys\nimport codemend.sandbox.image as image\nimage.REPO = sys.argv.pop(1)\n"
                   "from codemend.agent.cli import main\nsys.exit(main())\n")
"""Runs the CLI with the sandbox image under another repository name, so the test can
delete "the" image without touching the one every other test uses."""


def one_line_error(res) -> str:
    """The CLI's error: exactly one line on stderr starting with ``codemend:``."""
    no_traceback(res)
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("codemend:")]
    assert len(errors) == 1, str(res)
    return errors[0]


def finish_and_compare(cli: Cli, state: Path, run_id: str) -> dict:
    """Resume the run to its end; it must equal an uninterrupted one."""
    proc = cli.spawn("resume", run_id, "--state-dir", str(state), "--sandbox", "cold", "--json")
    res = proc.wait()
    assert res.code == 0, str(res)
    assert res.json()["status"] == "solved"
    shown = cli.run("show", run_id, "--json", "--state-dir", str(state))
    assert shown.code == 0, str(shown)
    assert attempts_of(shown.json()) == RLE_ATTEMPTS
    assert (state / "out" / run_id / "rle.py").read_text() == rle_solution()
    return {"resume_pid": proc.pid}


def assert_no_containers(pids: list[int]) -> None:
    client = docker.from_env(timeout=60)
    try:
        left = containers_of(client, pids)
    finally:
        client.close()
    assert not left, f"containers left: {[c['Id'][:12] for c in left]}"


# -- (1) the daemon stops mid-run ---------------------------------------------------------
def _dockerd_pid() -> int | None:
    proc = subprocess.run(["pidof", "dockerd"], capture_output=True, text=True)
    pids = proc.stdout.split()
    return int(pids[0]) if len(pids) == 1 else None


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def start_dockerd() -> None:
    """Start the daemon the way this machine started it, unless it runs; wait until ready."""
    if docker_info_ok():
        return
    if _dockerd_pid() is None:
        subprocess.run(["bash", "-c", f"nohup dockerd >{DOCKERD_LOG} 2>&1 &"], check=True)
    assert wait_for(docker_info_ok, timeout=90, every=0.5), f"dockerd did not come back; see {DOCKERD_LOG}"


@contextmanager
def daemon_can_be_stopped() -> Iterator[Callable[[], None]]:
    """Yields ``stop()`` (SIGTERM to dockerd); the daemon is ALWAYS running again when the
    block ends."""
    pid = _dockerd_pid()
    if pid is None or os.geteuid() != 0 or shutil.which("dockerd") is None:
        pytest.skip("needs root and a dockerd started as a plain process (pidof dockerd)")
    stopped = False

    def stop() -> None:
        nonlocal stopped
        stopped = True
        os.kill(pid, signal.SIGTERM)
    try:
        yield stop
    finally:
        if stopped:
            wait_for(lambda: not _alive(pid), timeout=60, every=0.2)
        start_dockerd()


@pytest.mark.slow
def test_daemon_stops_mid_run_pauses_then_resume_finishes(cli, tmp_path, docker_client,
                                                          sandbox_image):
    state = tmp_path / "state"
    with daemon_can_be_stopped() as stop_dockerd:
        proc = cli.spawn(*rle_solve_args(state, "daemon"))
        watch = ContainerWatch(docker_client, proc.pid)
        # the second check (after autofix) is running when the daemon goes away
        hit = wait_for(lambda: watch.running("check", 2) is not None, timeout=120,
                       every=0.02, proc=proc)
        assert hit, f"no second check seen: {proc.wait()}"
        stop_dockerd()
        res = proc.wait(timeout=120)
    line = one_line_error(res)
    assert res.code == 4, str(res)
    assert "Docker daemon" in line and f"codemend resume daemon --state-dir {state}" in line
    paused = cli.run("show", "daemon", "--json", "--state-dir", str(state))
    assert paused.code == 0, str(paused)
    assert paused.json()["status"] == "running"
    kept = attempts_of(paused.json())  # the checks done before the daemon went away
    assert 1 <= len(kept) < len(RLE_ATTEMPTS) and kept == RLE_ATTEMPTS[:len(kept)]
    done = finish_and_compare(cli, state, "daemon")
    assert_no_containers([proc.pid, done["resume_pid"]])


# -- (2) the sandbox image is deleted ------------------------------------------------------
def test_missing_image_is_rebuilt_at_start_and_mid_run(cli, tmp_path, docker_client,
                                                       sandbox_image):
    repo = f"codemend-sandbox-e2e-{secrets.token_hex(4)}"
    tag = f"{repo}:{image_tag(docker_client).split(':')[1]}"
    shim = [sys.executable, "-c", IMAGE_REPO_SHIM, repo]
    state = tmp_path / "state"
    built_id = None
    try:
        proc = cli.spawn(*rle_solve_args(state, "image"), argv=shim)
        watch = ContainerWatch(docker_client, proc.pid)
        # once the first check runs, the image is deleted under it (the container keeps
        # its layers); the next container must find the image rebuilt
        assert wait_for(lambda: watch.running("check") is not None, timeout=180, every=0.02,
                        proc=proc), str(proc.wait())
        built_id = docker_client.api.inspect_image(tag)["Id"]
        docker_client.api.remove_image(tag, force=True)
        res = proc.wait()
        assert res.code == 0, str(res)
        no_traceback(res)
        assert f"sandbox image {tag} is missing: building it" in res.stderr
        assert f"sandbox image {tag} disappeared: rebuilding it" in res.stderr
        shown = cli.run("show", "image", "--json", "--state-dir", str(state))
        assert attempts_of(shown.json()) == RLE_ATTEMPTS
        assert docker_client.api.inspect_image(tag)["Id"]
        assert_no_containers([proc.pid])
    finally:
        for ref in (tag, built_id):
            if ref is None:
                continue
            try:  # an id other tags still use stays (no force)
                docker_client.api.remove_image(ref, force=ref == tag)
            except docker.errors.APIError:
                pass


# -- (3) a check's container is killed from outside ---------------------------------------
def test_container_killed_during_check_is_retried_once(cli, tmp_path, docker_client,
                                                       sandbox_image):
    state = tmp_path / "state"
    proc = cli.spawn(*rle_solve_args(state, "killed", "--json"))
    watch = ContainerWatch(docker_client, proc.pid)
    killed: list[str] = []

    def kill_first_check() -> bool:
        cid = watch.running("check")
        if cid is None:
            return False
        docker_client.api.kill(cid)
        killed.append(cid)
        return True
    assert wait_for(kill_first_check, timeout=120, every=0.01, proc=proc), str(proc.wait())
    res = proc.wait()
    assert res.code == 0, str(res)
    assert res.json()["status"] == "solved"
    shown = cli.run("show", "killed", "--json", "--state-dir", str(state))
    assert attempts_of(shown.json()) == RLE_ATTEMPTS  # the retry's result, not infra_error
    report = json.loads((state / "out" / "killed" / "report.json").read_text())
    first = report["attempts"][0]["report"]["message"]
    assert "retried once after an infrastructure error" in first
    assert all("retried" not in a["report"]["message"] for a in report["attempts"][1:])
    assert_no_containers([proc.pid])


# -- (4) the disk is full ------------------------------------------------------------------
@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                   check=True)
    try:
        yield path
    finally:
        for _ in range(20):
            if subprocess.run(["umount", str(path)], capture_output=True).returncode == 0:
                break
            time.sleep(0.25)


def fill(folder: Path, leave: int) -> Path:
    """Fill ``folder``'s filesystem up to ``leave`` free bytes."""
    st = os.statvfs(folder)
    filler = folder / "filler"
    filler.write_bytes(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))
    return filler


@pytest.mark.slow
def test_disk_full_is_a_clear_exit_4_and_loses_nothing(cli, tmp_path, docker_client,
                                                      sandbox_image):
    with tmpfs(tmp_path / "state", "4m") as state:
        first = cli.run(*rle_solve_args(state, "earlier", "--json"))
        assert first.code == 0, str(first)
        before = cli.run("show", "earlier", "--json", "--state-dir", str(state))
        filler = fill(state, 128 * 1024)
        proc = cli.spawn(*rle_solve_args(state, "full", "--json"))
        res = proc.wait()
        line = one_line_error(res)
        assert res.code == 4, str(res)
        assert "database or disk is full" in line and "free some disk space" in line
        assert f"codemend resume full --state-dir {state}" in line
        # the run that finished earlier is untouched
        after = cli.run("show", "earlier", "--json", "--state-dir", str(state))
        assert after.code == 0 and after.json() == before.json(), str(after)
        assert (state / "out" / "earlier" / "rle.py").read_text() == rle_solution()
        listed = cli.run("runs", "--json", "--state-dir", str(state))
        assert [r["run_id"] for r in listed.json()["runs"]] == ["earlier", "full"]
        # with space again the paused run finishes like any other
        filler.unlink()
        done = finish_and_compare(cli, state, "full")
        assert_no_containers([proc.pid, done["resume_pid"]])


def test_full_output_folder_is_a_clear_exit_4_then_resume_writes(cli, tmp_path,
                                                                 docker_client,
                                                                 sandbox_image):
    state, out = tmp_path / "state", tmp_path / "out"
    with tmpfs(out, "4k"):
        res = cli.run(*rle_solve_args(state, "outfull", "--out", str(out)))
        line = one_line_error(res)
        assert res.code == 4, str(res)
        assert f"cannot write {out}" in line and "codemend resume outfull" in line
        assert not (out / "rle.py").exists()
    resumed = cli.run("resume", "outfull", "--state-dir", str(state), "--json")
    assert resumed.code == 0, str(resumed)
    assert (out / "rle.py").read_text() == rle_solution()
    assert json.loads((out / "report.json").read_text())["run_id"] == "outfull"
