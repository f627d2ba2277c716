"""Pooled use: PID 1's idle loop, the zygote that imports pytest once and forks a worker
per check, the per-check client exec, and the provable reset of a reused container.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
import threading
import time

from codemend_core import PYTEST_INI, SANDBOX_GID, SANDBOX_UID, _begin, _kill_sandbox_processes, check, fix
from codemend_witness import preload_pytest, witness_plugin

# Every place a check can write to. A reset empties them all and proves it.
SCRATCH_DIRS = ("/work", "/tmp", "/report", "/dev/shm", "/dev/mqueue")
MAX_MANIFEST_BYTES = 1 << 20
# abstract: no file to wipe or protect; both ends check that the other is root
ZYGOTE_ADDRESS = "\0codemend-zygote"
CONNECT_TIMEOUT_S = 60.0
IPC_RMID = 0
NOBODY = 65534


def idle() -> int:
    """Reap the orphans reparented to PID 1 and do nothing else; end on SIGTERM.

    Docker gives a ``docker exec`` as root the capabilities of the container's user, so
    the container starts as root and PID 1 drops to nobody (no capability) first.
    """
    if os.getuid() == 0:
        os.setgroups([])
        os.setresgid(NOBODY, NOBODY, NOBODY)
        os.setresuid(NOBODY, NOBODY, NOBODY)
    waited = {signal.SIGCHLD, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, waited)
    while True:
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass
        info = signal.sigtimedwait(waited, 60)
        if info is not None and info.si_signo == signal.SIGTERM:
            return 0


def zygote() -> int:
    """Once per pooled container (a detached ``docker exec`` as root): import pytest, then
    for every root ``--client`` that connects fork a worker that serves its one check on
    the client's stdin/stdout/stderr. This process never sees a workspace."""
    import socket
    _preload()
    signal.signal(signal.SIGCHLD, lambda *_: _reap())
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(ZYGOTE_ADDRESS)
    server.listen(8)
    while True:
        conn, _ = server.accept()
        fds: list[int] = []
        try:
            uid, pid = _peer(conn)
            if uid != 0:
                continue  # the sandbox uid may connect too: it gets nothing
            _, fds, _, _ = socket.recv_fds(conn, 64, 3)
            if len(fds) == 3 and os.fork() == 0:
                try:  # the worker: never back into this loop
                    server.close()
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    for target, fd in enumerate(fds):
                        os.dup2(fd, target)
                    for fd in fds:  # conn stays open: its end tells the client we are done
                        os.close(fd)
                    _serve_one(allowed={os.getppid(), pid})
                finally:
                    os._exit(70)
        except OSError:
            pass  # a client that went away: the next one is served
        finally:
            for fd in fds:
                os.close(fd)
            conn.close()


def client() -> int:
    """The per-check ``docker exec``: hand this exec's stdin, stdout and stderr to the
    zygote (which must be root) and end when its worker has served the check."""
    import socket
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while True:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(ZYGOTE_ADDRESS)
            break
        except OSError as exc:
            conn.close()
            if time.monotonic() > deadline:
                sys.stderr.write(f"unclean: no zygote ({exc})\n")
                return 3
            time.sleep(0.02)
    with conn:
        if _peer(conn)[0] != 0:
            sys.stderr.write("unclean: the zygote is not root\n")
            return 3
        socket.send_fds(conn, [b"serve"], [0, 1, 2])
        while conn.recv(4096):
            pass
    return 0


def _peer(conn) -> tuple[int, int]:
    """(uid, pid) of the process at the other end of a unix socket."""
    import socket
    import struct
    cred = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _ = struct.unpack("3i", cred)
    return uid, pid


def _reap() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _preload() -> None:
    import gc

    preload_pytest()  # ahead of need (the point of the zygote), before any workspace path
    with open(PYTEST_INI, "rb") as fh:  # warm the file lookups a fresh container has not made
        fh.read()
    gc.freeze()  # the forked pytest's collections then skip everything imported here


def _serve_one(allowed: set[int]) -> None:
    """In a worker: prove the container clean, then run one check (or fix) like ``main``
    with the manifest read from stdin's first line. Never returns.

    The reset makes a reused container as clean as a fresh one (and is cheap on a fresh
    one). Only when it is proven does the host get "ready" (on stderr) and offer the
    container; otherwise it gets "unclean" and removes it.
    """
    problems = reset(allowed)
    if problems:
        sys.stderr.write(f"unclean: {json.dumps(problems)}\n")
        sys.stderr.flush()
        os._exit(3)
    sys.stderr.write("ready\n")
    sys.stderr.flush()
    try:
        text = sys.stdin.buffer.readline(MAX_MANIFEST_BYTES)
        started = time.monotonic()
        manifest, token, workdir, files = _begin(text)
    except Exception as exc:  # report, never crash: the host turns this into infra_error
        print(json.dumps({"runner_error": f"unpacking the workspace failed: {exc}"}))
        sys.stdout.flush()
        os._exit(0)
    if manifest.get("mode", "check") == "fix":
        doc = fix(manifest, workdir, files, started)
    else:
        doc = check(manifest, workdir, token, started, forked_pytest=ForkedPytest)
    sys.stdout.write(json.dumps(doc))
    sys.stdout.flush()
    os._exit(0)  # the report is out; tearing down the interpreter would only delay EOF


class ForkedPytest:
    """pytest in a forked child of this warm interpreter, shaped like a Popen for Step.

    The child drops privileges exactly as Step's subprocess does (new session, no
    supplementary groups, sandbox gid and uid, which clears every capability, umask 022,
    the clean environment), keeps no descriptor of this process (stdin is /dev/null,
    stdout/stderr are capped pipes) and proves it is unprivileged before running pytest.
    ``timeout -s KILL`` becomes a timer that SIGKILLs the child's session.
    """

    def __init__(self, args: list[str], env: dict, cwd: str, timeout_s: float,
                 witness_fd: int | None = None) -> None:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        self.started = time.monotonic()
        self.pid = os.fork()
        if self.pid == 0:
            _pytest_child(args, env, cwd, out_w, err_w, witness_fd)
        os.close(out_w)
        os.close(err_w)
        self.stdout = os.fdopen(out_r, "rb")
        self.stderr = os.fdopen(err_r, "rb")
        self.timer = threading.Timer(timeout_s, self.kill)
        self.timer.daemon = True
        self.timer.start()

    def kill(self) -> None:
        for send in (os.killpg, os.kill):
            try:
                send(self.pid, signal.SIGKILL)
            except OSError:
                pass

    def wait(self) -> int:
        os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)  # the pid stays ours
        self.timer.cancel()
        self.timer.join()
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)


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


def _pytest_child(args: list[str], env: dict, cwd: str, out_w: int, err_w: int,
                  witness_fd: int | None = None) -> None:
    """The forked child: become the sandbox user, run pytest.main, exit. Never returns."""
    code = 70
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        for fd, target in ((0, null), (1, out_w), (2, err_w)):
            os.dup2(target, fd)
        if witness_fd is not None:  # the witness's pipe becomes fd 3
            os.dup2(witness_fd, 3)
        os.closerange(3 if witness_fd is None else 4, os.sysconf("SC_OPEN_MAX"))
        _drop_privileges()
        import ctypes  # an exec'd process is dumpable again; a setuid fork is not
        ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE
        os.umask(0o022)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        code = _pytest_main(args, cwd, None if witness_fd is None else 3)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)


def _pytest_main(args: list[str], cwd: str, witness_fd: int | None = None) -> int:
    """What ``python -m pytest ARGS`` does in ``cwd``, then the interpreter's exit steps."""
    import atexit
    import types

    import pytest
    main_file = os.path.join(os.path.dirname(pytest.__file__), "__main__.py")
    main_mod = types.ModuleType("__main__")
    main_mod.__file__ = main_file
    sys.modules["__main__"] = main_mod
    sys.argv = [main_file, *args]
    sys.stdin = sys.__stdin__ = open(0, encoding="utf-8", closefd=False)
    plugins = [] if witness_fd is None else [witness_plugin(witness_fd)]
    sys.path.insert(0, cwd)  # last: everything pytest needs is loaded (see _preload)
    code = int(pytest.main(args, plugins=plugins))
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    return code


def reset(allowed: set[int] = frozenset()) -> list[str]:
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


def _leftovers(allowed: set[int]) -> list[str]:
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
