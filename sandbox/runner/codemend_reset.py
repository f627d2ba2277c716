"""The provable reset of a pooled container: before a worker serves a check it kills
every sandbox-uid process, empties every scratch place and proves it, so a reused
container is as clean as a fresh one (and a fresh one costs little to prove).
"""

from __future__ import annotations

import os
import signal
import stat
import time
from collections.abc import Set

from codemend_core import SANDBOX_GID, SANDBOX_UID, _kill_sandbox_processes

# Every place a check can write to. A reset empties them all and proves it.
SCRATCH_DIRS = ("/work", "/tmp", "/report", "/dev/shm", "/dev/mqueue")
IPC_RMID = 0


def _capabilities() -> tuple[int, int]:
    with open("/proc/self/status") as fh:
        caps = dict(line.split(":", 1) for line in fh if line.startswith("Cap"))
    return int(caps["CapEff"], 16), int(caps["CapPrm"], 16)


def _drop_privileges() -> None:
    os.setgroups([])
    os.setresgid(SANDBOX_GID, SANDBOX_GID, SANDBOX_GID)
    os.setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
    if 0 in os.getresuid() or 0 in os.getresgid() or _capabilities() != (0, 0):
        raise PermissionError("privileges were not dropped")


def reset(allowed: Set[int] = frozenset()) -> list[str]:
    """Kill every sandbox-uid process, empty every scratch place, and prove it: returns
    what is not clean (nothing on success). ``allowed``: pids that may run besides PID 1
    and this one (the zygote and the client exec)."""
    _kill_sandbox_processes()
    _as_sandbox_user(_wipe_own)  # kill(-1) as that uid; its files; its IPC objects
    for top in SCRATCH_DIRS:
        _wipe(top)  # as root: the read-only workspace
    problems = _leftovers(allowed)
    for _ in range(50):  # killed processes linger until PID 1 has reaped them
        if not problems:
            break
        time.sleep(0.02)
        problems = _leftovers(allowed)
    return problems[:10]


def _as_sandbox_user(fn) -> None:
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            _drop_privileges()
            fn()
            code = 0
        finally:
            os._exit(code)
    os.waitpid(pid, 0)


def _wipe_own() -> None:
    try:
        os.kill(-1, signal.SIGKILL)  # every process this uid may signal, but this one
    except OSError:
        pass
    for top in SCRATCH_DIRS:
        _wipe(top)
    import ctypes
    libc = ctypes.CDLL(None)
    for kind in ("shm", "msg", "sem"):
        for ident in _ipc_ids(kind):
            if kind == "sem":
                libc.semctl(ident, 0, IPC_RMID)
            else:
                getattr(libc, f"{kind}ctl")(ident, IPC_RMID, None)


def _wipe(top: str) -> None:
    try:
        names = os.listdir(top)
    except OSError:
        return
    for name in names:
        try:
            _remove(os.path.join(top, name))
        except (OSError, RecursionError):
            pass  # what stays is found by _leftovers


def _remove(path: str) -> None:
    """Remove a file or tree without following symlinks (nothing else runs meanwhile)."""
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return
    if st.st_uid == os.geteuid():
        os.chmod(path, 0o700)
    for name in os.listdir(path):
        try:
            _remove(os.path.join(path, name))
        except OSError:
            pass
    os.rmdir(path)


def _ipc_ids(kind: str) -> list[int]:
    try:
        with open(f"/proc/sysvipc/{kind}") as fh:
            rows = fh.read().splitlines()[1:]
    except OSError:
        return []
    return [int(row.split()[1]) for row in rows if row.strip()]


def _leftovers(allowed: Set[int]) -> list[str]:
    problems = []
    for top in SCRATCH_DIRS:
        try:
            left = os.listdir(top)
        except OSError as exc:
            problems.append(f"{top}: {exc.strerror}")
            continue
        if left:
            problems.append(f"{top} is not empty: {sorted(left)[:5]}")
    problems += [f"System V {kind} objects remain" for kind in ("shm", "msg", "sem")
                 if _ipc_ids(kind)]
    others = [pid for pid in os.listdir("/proc") if pid.isdigit()
              and int(pid) not in (1, os.getpid(), *allowed)]
    if others:
        problems.append(f"processes remain: {sorted(others)[:10]}")
    return problems
