"""`codemend eval --ray` on a real Ray cluster: a head and one worker node started here with
`ray start` on loopback. The same suite run locally and on the cluster gives the same
summary; a job's worker process killed mid-run is retried, and no line is lost or doubled.

Ray turns 127.0.0.1 into the machine's outward address, so the cluster lives on 127.0.0.2
(loopback too, which Ray leaves alone): no packet leaves the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from codemend.agent.eval.results import TIMING_KEYS

if os.environ.get("CI") != "true":  # CI installs the ray extra (Makefile): there it must run
    pytest.importorskip("ray")
pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "tasks" / "examples"
HOST = "127.0.0.2"
RAY = str(Path(sys.executable).parent / "ray")
CODEMEND = [sys.executable, "-m", "codemend.agent.cli"]
TASKS = "lru_cache,safe_stats,slugify"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("CODEMEND_")}
    out.update(RAY_USAGE_STATS_ENABLED="0", COLUMNS="200")
    return out


def session_pids(sid: int) -> list[int]:
    """Every live process of the session ``sid`` (a `ray start` and all it started)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                pids.append(int(entry.name))
    return pids


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def start_node(args: list[str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as fh:
        return subprocess.Popen([RAY, "start", *args, f"--node-ip-address={HOST}",
                                 "--num-cpus=1", "--object-store-memory=100000000",
                                 f"--dashboard-agent-listen-port={free_port()}",
                                 "--disable-usage-stats", "--block"],
                                env=env(), stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def wait_for_nodes(address: str, n: int, timeout: float = 120) -> None:
    probe = ("import ray, time, sys\n"
             f"ray.init(address={address!r}, _node_ip_address={HOST!r}, log_to_driver=False)\n"
             f"end = time.monotonic() + {timeout}\n"
             f"while sum(x['Alive'] for x in ray.nodes()) < {n}:\n"
             "    if time.monotonic() > end: sys.exit(1)\n"
             "    time.sleep(0.2)\n")
    res = subprocess.run([sys.executable, "-c", probe], env=env(), capture_output=True,
                         text=True, timeout=timeout + 60)
    assert res.returncode == 0, res.stderr[-2000:]


@pytest.fixture
def ray_cluster(tmp_path):
    temp = tempfile.mkdtemp(prefix="cmray", dir="/tmp")  # short: Ray's socket paths
    port = free_port()
    address = f"{HOST}:{port}"
    nodes = [start_node(["--head", f"--port={port}", "--include-dashboard=false",
                         f"--temp-dir={temp}"], tmp_path / "head.log")]
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                break
            except OSError:
                assert nodes[0].poll() is None, (tmp_path / "head.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "the Ray head did not start"
                time.sleep(0.2)
        nodes.append(start_node([f"--address={address}"], tmp_path / "worker.log"))
        wait_for_nodes(address, 2)
        yield address, nodes[1].pid
    finally:
        for node in nodes:  # only the processes these two `ray start` made
            for pid in session_pids(node.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            node.wait(30)
        shutil.rmtree(temp, ignore_errors=True)


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.timeout(900)  # a loaded 2-core machine starts Ray nodes slowly
def test_ray_gives_the_local_summary_and_retries_a_killed_worker(
        tmp_path, ray_cluster, docker_client, sandbox_image, leftover_containers):
    address, worker_sid = ray_cluster
    base = ["eval", str(EXAMPLES), "--model", "scripted", "--tasks", TASKS]
    local = subprocess.run([*CODEMEND, *base, "--out", str(tmp_path / "local"), "--workers",
                            "2"], cwd=tmp_path, env=env(), capture_output=True, text=True,
                           timeout=600)
    assert local.returncode == 0, local.stderr

    with open(tmp_path / "ray.err", "wb") as err:
        proc = subprocess.Popen([*CODEMEND, *base, "--out", str(tmp_path / "ray"), "--ray",
                                 address], cwd=tmp_path, env=env(), stdout=subprocess.DEVNULL,
                                stderr=err, stdin=subprocess.DEVNULL)
    killed = None
    deadline = time.monotonic() + 600
    while killed is None and proc.poll() is None and time.monotonic() < deadline:
        for pid in session_pids(worker_sid):  # a job running on the worker node
            if cmdline(pid).startswith("ray::codemend_eval_job"):
                os.kill(pid, signal.SIGKILL)
                killed = pid
                break
        time.sleep(0.02)
    code = proc.wait(600)
    stderr = (tmp_path / "ray.err").read_text()
    assert code == 0, stderr[-3000:]
    assert killed is not None, "no job ran on the worker node"

    records = lines(tmp_path / "ray" / "results.jsonl")
    ids = [r["id"] for r in records]
    assert sorted(ids) == sorted(f"{t}#0" for t in TASKS.split(","))  # none lost, none twice
    assert all(not r["worker"].endswith(f":{killed}") for r in records)  # it ran again
    summaries = [json.loads((tmp_path / d / "summary.json").read_text()) for d in ("local", "ray")]
    for s in summaries:
        for key in TIMING_KEYS:
            s.pop(key)
    assert summaries[0] == summaries[1]
    assert summaries[1]["pass_healed"] == 1.0 and summaries[1]["jobs"] == 3
