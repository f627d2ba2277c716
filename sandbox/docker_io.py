"""The Docker boundary: connecting, hardened container settings, streaming, reaping.

``docker.errors`` and socket errors are translated here; nothing above sees them.
"""

from __future__ import annotations

import os
import select
import socket
import socket as _socket
import struct
import time
from dataclasses import dataclass, field

import docker
import docker.errors
import requests
from codemend.sandbox.config import SandboxConfig
from codemend.sandbox.errors import DockerUnavailable, InfraError
from docker.types import LogConfig, Ulimit

LABEL = "codemend"
RUNNER = ["python3", "-I", "/opt/codemend/codemend_runner.py"]
# The runner starts as root with only what it needs to unpack and drop to the sandbox uid.
RUNNER_CAPS = ["SETUID", "SETGID", "KILL", "CHOWN"]


def docker_hint() -> str:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    return (f"Cannot reach the Docker daemon at {host}. Start it (`sudo systemctl start "
            "docker`, or `sudo dockerd &`), or point DOCKER_HOST at a running daemon; "
            "`codemend sandbox doctor` diagnoses.")


def connect(client: docker.DockerClient | None = None) -> docker.DockerClient:
    """Return a live client or raise DockerUnavailable with what to do next."""
    try:
        client = client or docker.from_env(timeout=120)
        client.ping()
    except (docker.errors.DockerException, OSError) as exc:
        raise DockerUnavailable(f"{docker_hint()} ({type(exc).__name__})") from exc
    return client


def hardened_host_config(api: docker.APIClient, cfg: SandboxConfig) -> dict:
    mem = f"{cfg.memory_mb}m"
    tmp_opts = "rw,noexec,nosuid,nodev"
    return api.create_host_config(
        network_mode=cfg.network,
        read_only=cfg.read_only_root,
        tmpfs={
            "/tmp": f"{tmp_opts},size={cfg.tmpfs_mb}m,mode=1777",
            "/work": f"{tmp_opts},size={cfg.work_tmpfs_mb}m,mode=755",
            "/report": f"{tmp_opts},size={cfg.report_tmpfs_mb}m,mode=1777",
        },
        cap_drop=["ALL"],
        cap_add=RUNNER_CAPS,
        security_opt=["no-new-privileges"],
        pids_limit=cfg.pids_limit,
        mem_limit=mem,
        memswap_limit=mem,
        nano_cpus=int(cfg.cpus * 1e9),
        ulimits=[
            Ulimit(name="nofile", soft=cfg.nofile, hard=cfg.nofile),
            Ulimit(name="fsize", soft=cfg.fsize_mb << 20, hard=cfg.fsize_mb << 20),
            Ulimit(name="core", soft=0, hard=0),
        ],
        log_config=LogConfig(type=LogConfig.types.NONE),
        init=False,
    )


def labels(cfg: SandboxConfig, role: str) -> dict[str, str]:
    return {cfg.label: "1", f"{cfg.label}.role": role, f"{cfg.label}.pid": str(os.getpid()),
            f"{cfg.label}.parents": " ".join(map(str, _ancestors())),
            f"{cfg.label}.host": _socket.gethostname()}


def _ancestors(limit: int = 32) -> list[int]:
    """This process's ancestors' pids, nearest first (from /proc; the parent alone elsewhere)."""
    pids, pid = [], os.getppid()
    while pid > 1 and len(pids) < limit:
        pids.append(pid)
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            break
        pid = int(stat.rsplit(b")", 1)[1].split()[1])
    return pids


@dataclass
class Stream:
    """What came back on a container's (or exec's) attached stdout/stderr."""

    stdout: bytes = b""
    stderr: bytes = b""
    truncated: bool = False
    deadline_hit: bool = False
    error: str = ""
    chunks: list[bytes] = field(default_factory=list, repr=False)


def raw_socket(sock) -> socket.socket:
    return getattr(sock, "_sock", sock)


def exchange(sock, payload: bytes, deadline: float, cap: int) -> Stream:
    """Send ``payload`` on stdin, half-close, then read multiplexed frames until EOF,
    the byte ``cap`` or the ``deadline`` (monotonic). Never raises."""
    s = raw_socket(sock)
    res = Stream()
    out, err = bytearray(), bytearray()
    try:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        s.setblocking(False)
        buf = bytearray()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                res.deadline_hit = True
                break
            ready, _, _ = select.select([s], [], [], min(left, 1.0))
            if not ready:
                continue
            try:
                chunk = s.recv(1 << 16)
            except (BlockingIOError, InterruptedError):
                continue
            if not chunk:
                break
            buf += chunk
            while len(buf) >= 8:
                kind, size = struct.unpack(">BxxxL", bytes(buf[:8]))
                if len(buf) < 8 + size:
                    break
                data = bytes(buf[8:8 + size])
                del buf[:8 + size]
                target = err if kind == 2 else out
                target += data
            if len(out) + len(err) > cap:
                res.truncated = True
                break
    except OSError as exc:
        res.error = f"{type(exc).__name__}: {exc}"
    res.stdout, res.stderr = bytes(out[:cap]), bytes(err[:cap])
    return res


def close_socket(sock) -> None:
    """Close a hijacked Docker socket and the raw socket under it (None: nothing)."""
    if sock is None:
        return
    raw = raw_socket(sock)
    try:
        sock.close()
    finally:
        raw.close()


def oom_killed(api: docker.APIClient, cid: str) -> bool:
    """Did the running container's cgroup OOM-kill anything? Docker only says so once the
    container has exited; its cgroup counter says so at once (read as nobody)."""
    if api.inspect_container(cid)["State"].get("OOMKilled"):
        return True
    exec_id = api.exec_create(cid, ["cat", "/sys/fs/cgroup/memory/memory.oom_control",
                                    "/sys/fs/cgroup/memory.events"],
                              user="65534:65534", stdin=True)["Id"]
    sock = api.exec_start(exec_id, socket=True)
    try:
        got = exchange(sock, b"", time.monotonic() + 10, 1 << 16)
    finally:
        close_socket(sock)
    for line in got.stdout.decode(errors="replace").splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill" and value.strip().isdigit() and int(value) > 0:
            return True
    return False


def remove_quietly(api: docker.APIClient, cid: str) -> None:
    try:
        api.remove_container(cid, force=True, v=True)
    except docker.errors.NotFound:
        pass
    except requests.exceptions.ConnectionError:
        pass  # the daemon is gone; the next codemend start reaps the container (by pid)
    except docker.errors.APIError as exc:
        if "already in progress" not in str(exc):
            raise InfraError(f"could not remove container {cid[:12]}: {exc}") from exc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_orphans(client: docker.DockerClient, label: str = LABEL) -> int:
    """Remove containers left by codemend processes on this host that no longer run."""
    api = client.api
    host = _socket.gethostname()
    removed = 0
    try:
        found = api.containers(all=True, filters={"label": f"{label}=1"})
    except docker.errors.APIError as exc:
        raise InfraError(f"listing containers failed: {exc}") from exc
    for c in found:
        lab = c.get("Labels") or {}
        if lab.get(f"{label}.host") not in (None, host):
            continue
        try:
            pid = int(lab.get(f"{label}.pid", "0"))
        except ValueError:
            pid = 0
        if pid and pid != os.getpid() and _pid_alive(pid):
            continue
        if pid == os.getpid():
            continue
        remove_quietly(api, c["Id"])
        removed += 1
    return removed


def list_ours(client: docker.DockerClient, label: str = LABEL) -> list[dict]:
    return client.api.containers(all=True, filters={"label": f"{label}=1"})
