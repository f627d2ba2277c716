"""`codemend eval --ray` on a real Ray cluster started here with `ray start` on loopback: a
head with no CPU and no Docker (it runs no job), and two worker nodes, each checking in its
own Docker daemon: the shared one, and a second `dockerd` this module starts (its own
socket, data root, exec root, pid file, no bridge and no iptables rules) and stops.

The same suite run locally and on the cluster gives the same summary, the checks ran on
both daemons, and a job's worker process killed mid-run is retried, with no line lost or
doubled. A repository suite is shipped to the nodes as snapshots (its folder is moved away
while the jobs run), and a job that fails stops only the jobs not yet started: the running
one finishes and is written. A node whose daemon lacks the check image builds it there;
the driver names that node and gives up at its timeout (exit 4).

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
from test_eval_repos import BUGGY, GOOD, TESTS, UNUSABLE, make_repo

if os.environ.get("CI") != "true":  # CI installs the ray extra (Makefile): there it must run
    pytest.importorskip("ray")
pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "tasks" / "examples"
HOST = "127.0.0.2"
RAY = str(Path(sys.executable).parent / "ray")
CODEMEND = [sys.executable, "-m", "codemend.agent.cli"]
TASKS = "lru_cache,safe_stats,slugify,roman_numerals"


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


def start_node(args: list[str], log: Path, cpus: int = 1,
               docker_host: str | None = None, marker: str | None = None) -> subprocess.Popen:
    node_env = env()
    if docker_host:
        node_env["DOCKER_HOST"] = docker_host
    if marker:  # a custom resource no job asks for: it names the node in ray.nodes()
        args = [*args, f"--resources={json.dumps({marker: 1})}"]
    with open(log, "wb") as fh:
        return subprocess.Popen([RAY, "start", *args, f"--node-ip-address={HOST}",
                                 f"--num-cpus={cpus}", "--object-store-memory=100000000",
                                 f"--dashboard-agent-listen-port={free_port()}",
                                 "--disable-usage-stats", "--block"],
                                env=node_env, stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def wait_for_nodes(address: str, n: int, logs: Path, timeout: float = 300) -> None:
    probe = ("import ray, time, sys\n"
             f"ray.init(address={address!r}, _node_ip_address={HOST!r}, log_to_driver=False)\n"
             f"end = time.monotonic() + {timeout}\n"
             f"while sum(x['Alive'] for x in ray.nodes()) < {n}:\n"
             "    if time.monotonic() > end: sys.exit(1)\n"
             "    time.sleep(0.2)\n")
    res = subprocess.run([sys.executable, "-c", probe], env=env(), capture_output=True,
                         text=True, timeout=timeout + 60)
    tails = "\n".join(f"{f.name}: {f.read_text()[-1500:]}" for f in sorted(logs.glob("*.log")))
    assert res.returncode == 0, res.stderr[-2000:] + tails


def node_ids(address: str, markers: list[str]) -> list[str]:
    """The Ray node ID of the node started with each marker resource."""
    probe = ("import json, ray\n"
             f"ray.init(address={address!r}, _node_ip_address={HOST!r}, log_to_driver=False)\n"
             "print(json.dumps({k: n['NodeID'] for n in ray.nodes() if n['Alive']\n"
             "                  for k in n['Resources']}))\n")
    res = subprocess.run([sys.executable, "-c", probe], env=env(), capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    by_marker = json.loads(res.stdout.splitlines()[-1])
    return [by_marker[m] for m in markers]


def kill_session(sid: int) -> None:
    for pid in session_pids(sid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def answers(sock: Path) -> bool:
    """A daemon listens on ``sock`` and answers /_ping."""
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(sock))
            s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.0 200")
    except OSError:
        return False


def daemon_name(client) -> str:
    info = client.info()
    return f"{info['Name']}:{info['DockerRootDir']}"


@pytest.fixture(scope="module")
def second_daemon(docker_client, sandbox_image):
    """A second Docker daemon of this test's own, holding the check image (loaded from the
    shared daemon with `docker save | docker load`: there is no registry here)."""
    import docker
    from codemend.sandbox.image import current_base

    dockerd = shutil.which("dockerd")
    if dockerd is None or os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("the Ray test starts a second dockerd: run as root where dockerd is "
                        "installed (scripts/ensure-docker.sh installs it)")
        pytest.skip("a second dockerd needs root and the dockerd binary")
    root = Path(tempfile.mkdtemp(prefix="cmd2-", dir="/tmp"))  # short: the socket's path
    host = f"unix://{root}/docker.sock"
    (root / "daemon.json").write_text("{}")
    ns = f"codemend-test-{root.name}"
    with open(root / "dockerd.log", "wb") as log:
        proc = subprocess.Popen(
            [dockerd, "--config-file", str(root / "daemon.json"), "--host", host,
             "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
             "--pidfile", str(root / "docker.pid"), "--bridge", "none", "--iptables=false",
             "--ip-masq=false", "--containerd-namespace", ns,
             "--containerd-plugins-namespace", f"{ns}-plugins"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    client = None
    try:
        deadline = time.monotonic() + 300  # hang bound
        while not answers(root / "docker.sock"):
            assert proc.poll() is None, (root / "dockerd.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the second dockerd did not answer"
            time.sleep(0.2)
        client = docker.DockerClient(base_url=host, timeout=300)
        client.ping()
        names = [sandbox_image, current_base(docker_client)[0]]  # the tag hashes the base
        save = subprocess.Popen(["docker", "save", *names], stdout=subprocess.PIPE)
        load = subprocess.run(["docker", "-H", host, "load", "-q"], stdin=save.stdout,
                              capture_output=True, text=True, timeout=600)
        save.stdout.close()
        assert save.wait(600) == 0 and load.returncode == 0, load.stderr
        yield host, daemon_name(docker_client), daemon_name(client)
    finally:
        if client is not None:
            for c in client.containers.list(all=True):
                c.remove(force=True)
            client.close()
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            pass
        kill_session(proc.pid)  # dockerd and the containerd it started
        proc.wait(30)
        for line in reversed(Path("/proc/mounts").read_text().splitlines()):
            where = line.split()[1]
            if where.startswith(str(root)):
                subprocess.run(["umount", "-l", where], check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory, second_daemon):
    """A head with no CPU and no Docker, and two workers, one per daemon."""
    logs = tmp_path_factory.mktemp("ray-logs")
    temp = tempfile.mkdtemp(prefix="cmray", dir="/tmp")  # short: Ray's socket paths
    port = free_port()
    address = f"{HOST}:{port}"
    nodes = [start_node(["--head", f"--port={port}", "--include-dashboard=false",
                         f"--temp-dir={temp}"], logs / "head.log", cpus=0,
                        docker_host=f"unix://{temp}/no-docker-here.sock")]
    try:
        deadline = time.monotonic() + 300  # hang bound
        while True:
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                break
            except OSError:
                assert nodes[0].poll() is None, (logs / "head.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "the Ray head did not start"
                time.sleep(0.2)
        # one at a time: two raylets starting at once on a loaded machine can time out
        nodes.append(start_node([f"--address={address}"], logs / "shared.log",
                                marker="codemend_test_shared"))
        wait_for_nodes(address, 2, logs)
        nodes.append(start_node([f"--address={address}"], logs / "second.log",
                                docker_host=second_daemon[0], marker="codemend_test_second"))
        wait_for_nodes(address, 3, logs)
        ids = node_ids(address, ["codemend_test_shared", "codemend_test_second"])
        yield address, nodes[1].pid, nodes[2].pid, ids
    finally:
        for node in nodes:  # only the processes these `ray start` made
            kill_session(node.pid)
            node.wait(30)
        shutil.rmtree(temp, ignore_errors=True)


SHORT_TIMEOUT = (  # the real CLI, with the driver's wait for an image build cut to 1 s
    "import sys\n"
    "import codemend.agent.eval.ray_exec as ray_exec\n"
    "ray_exec.IMAGE_BUILD_TIMEOUT_S = 1.0\n"
    "from codemend.agent.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n")


@pytest.mark.timeout(900)
def test_ray_a_node_without_the_image_builds_it_and_the_driver_gives_up_in_time(
        tmp_path, ray_cluster, second_daemon, sandbox_image, leftover_containers):
    """The second daemon loses the check image's tag: its node builds the image there, the
    driver names that node and daemon, and stops at its timeout (exit 4) instead of waiting
    for the build. The tag comes back afterwards; the tests below are the honest runs on
    the same cluster, with the image on both daemons, that must still succeed."""
    import docker

    address, _, second_sid, _ = ray_cluster
    client = docker.DockerClient(base_url=second_daemon[0], timeout=300)
    repo, tag = sandbox_image.rsplit(":", 1)
    image = client.images.get(sandbox_image)
    image.tag("codemend-test-keep", tag)  # keeps the layers while the check tag is gone
    client.images.remove(sandbox_image)
    try:
        assert not [t for i in client.images.list() for t in i.tags if t == sandbox_image]
        res = subprocess.run([sys.executable, "-c", SHORT_TIMEOUT, "eval", str(EXAMPLES),
                              "--model", "scripted", "--tasks", "slugify", "--out",
                              str(tmp_path / "ev"), "--ray", address], cwd=tmp_path,
                             env=env(), capture_output=True, text=True, timeout=600)
        err = " ".join(res.stderr.split())  # the console may wrap a long line
        assert res.returncode == 4, err[-3000:]
        building = [line for line in res.stderr.splitlines() if "building it there" in line]
        assert len(building) == 1, err[-3000:]  # only the node whose daemon lacks it
        assert f"({second_daemon[2]}) has no check image {sandbox_image}" in err, err[-3000:]
        assert "building it there (up to 1 s)" in err
        assert (f"the check image was not built within 1 s on {second_daemon[2]}; build it "
                "there first") in err, err[-3000:]
    finally:
        # the killed pool actor ends its build; wait for it and the build's containers
        deadline = time.monotonic() + 300
        while (left := [cmdline(pid) for pid in session_pids(second_sid)
                        if cmdline(pid).startswith("ray::NodePool")]
               + [c.name for c in client.containers.list()]):
            assert time.monotonic() < deadline, f"the build did not stop: {left}"
            time.sleep(0.2)
        for c in client.containers.list(all=True):
            c.remove(force=True)
        client.images.get(f"codemend-test-keep:{tag}").tag(repo, tag)
        client.images.remove(f"codemend-test-keep:{tag}")
        client.images.prune(filters={"dangling": True})  # what the cut build left
        client.close()


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def complete_lines(path: Path) -> list[dict]:
    """The lines written so far (not one still being written)."""
    if not path.exists():
        return []
    text = path.read_text()
    return [json.loads(x) for x in text[:text.rfind("\n") + 1].splitlines()]


def in_a_job(pid: int) -> bool:
    """The worker ``pid`` is inside an eval job: it holds the job's run store open."""
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(fd).startswith(f"{tempfile.gettempdir()}/codemend-eval-"):
                return True
        except OSError:
            continue
    return False


@pytest.mark.timeout(900)  # a loaded 2-core machine starts Ray nodes slowly
def test_ray_gives_the_local_summary_on_two_daemons_and_retries_a_killed_worker(
        tmp_path, ray_cluster, second_daemon, docker_client, sandbox_image,
        leftover_containers):
    """Four jobs on two one-CPU nodes: each node takes the jobs that prefer it. Once a node
    has written its first run, the worker running its next job is killed: Ray runs that
    job again, and both daemons checked runs (the other node's first job is never hit)."""
    address, shared_sid, second_sid, nodes = ray_cluster
    session = dict(zip(nodes, (shared_sid, second_sid), strict=True))
    base = ["eval", str(EXAMPLES), "--model", "scripted", "--tasks", TASKS]
    local = subprocess.run([*CODEMEND, *base, "--out", str(tmp_path / "local"), "--workers",
                            "2"], cwd=tmp_path, env=env(), capture_output=True, text=True,
                           timeout=600)
    assert local.returncode == 0, local.stderr

    with open(tmp_path / "ray.err", "wb") as err:
        proc = subprocess.Popen([*CODEMEND, *base, "--out", str(tmp_path / "ray"), "--ray",
                                 address], cwd=tmp_path, env=env(), stdout=subprocess.DEVNULL,
                                stderr=err, stdin=subprocess.DEVNULL)
    killed, before = None, []
    deadline = time.monotonic() + 600  # hang bound
    while killed is None and proc.poll() is None and time.monotonic() < deadline:
        done = complete_lines(tmp_path / "ray" / "results.jsonl")
        if done:  # the first node done with a job: its worker in the next job
            for pid in session_pids(session[done[0]["node"]]):
                if cmdline(pid).startswith("ray::") and in_a_job(pid):
                    os.kill(pid, signal.SIGKILL)
                    killed, before = pid, complete_lines(tmp_path / "ray" / "results.jsonl")
                    break
        time.sleep(0.02)
    code = proc.wait(600)
    stderr = (tmp_path / "ray.err").read_text()
    assert code == 0, stderr[-3000:]
    assert killed is not None, "no second job ran on the node that finished first"

    records = lines(tmp_path / "ray" / "results.jsonl")
    ids = [r["id"] for r in records]
    assert sorted(ids) == sorted(f"{t}#0" for t in TASKS.split(","))  # none lost, none twice
    # the killed worker's job ran again elsewhere: the dead worker wrote nothing more
    mine = [r["id"] for r in records if r["worker"].endswith(f":{killed}")]
    assert mine == [r["id"] for r in before if r["worker"].endswith(f":{killed}")]
    assert len(records) > len(before)
    # every node checked in its own daemon, and both daemons checked runs
    own = dict(zip(nodes, second_daemon[1:], strict=True))
    assert all(own[r["node"]] == r["daemon"] for r in records), records
    assert {r["daemon"] for r in records} == set(second_daemon[1:]), records
    summaries = [json.loads((tmp_path / d / "summary.json").read_text()) for d in ("local", "ray")]
    for s in summaries:
        for key in TIMING_KEYS:
            s.pop(key)
    assert summaries[0] == summaries[1]
    assert summaries[1]["pass_healed"] == 1.0 and summaries[1]["jobs"] == 4


SLOW_TESTS = TESTS + """

def test_takes_its_time():
    import time

    time.sleep(4)
"""


@pytest.mark.timeout(900)
def test_ray_ships_repositories_and_a_failed_job_lets_the_running_one_finish(
        tmp_path, ray_cluster, leftover_containers):
    """"1-broken" fails (its scripted model runs out of replies) while "2-slow" (tests that
    take seconds) runs on the other node: the eval stops, the slow run finishes and is
    written; with Ray cancelling it, it was lost. The repositories' folder is moved away as
    soon as the driver has read them: the nodes work on the snapshots it shipped."""
    address, _, _, _ = ray_cluster
    suite = tmp_path / "repos"
    make_repo(suite / "1-broken", BUGGY)
    make_repo(suite / "2-slow", BUGGY, tests=SLOW_TESTS)
    make_repo(suite / "3-later", BUGGY)
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"1-broken": [UNUSABLE], "2-slow": [GOOD], "3-later": [GOOD]}))
    out = tmp_path / "ev"
    with open(tmp_path / "ray.err", "wb") as err:
        proc = subprocess.Popen([*CODEMEND, "eval", str(suite), "--model", f"scripted:{script}",
                                 "--out", str(out), "--ray", address], cwd=tmp_path,
                                env=env(), stdout=subprocess.DEVNULL, stderr=err,
                                stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while "shipping 3 repository snapshots" not in (tmp_path / "ray.err").read_text():
        assert proc.poll() is None, (tmp_path / "ray.err").read_text()[-3000:]
        assert time.monotonic() < deadline, "the driver never shipped the repositories"
        time.sleep(0.02)
    suite.rename(tmp_path / "moved")  # from here on no node can read the work trees
    code = proc.wait(600)
    stderr = (tmp_path / "ray.err").read_text()
    assert code == 2 and "has 1 replies" in stderr, stderr[-3000:]
    first = {r["task"]: r for r in lines(out / "results.jsonl")}
    assert "1-broken" not in first
    assert first["2-slow"]["status"] == "solved", first  # it ran on, and was written
    assert f"{len(first)} of 3 runs are done and kept" in stderr


def test_spread_interleaves_the_nodes_one_slot_per_cpu():
    from codemend.agent.eval.ray_exec import spread

    assert spread([("a", 2), ("b", 1), ("c", 3)]) == ["a", "b", "c", "a", "c", "c"]
    assert spread([("a", 1)]) == ["a"]
