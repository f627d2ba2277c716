"""Pooled use: the zygote, PID 1 of a pooled container, and its worker per check.

The zygote (root, with only the runner's four capabilities) imports pytest and warms it
up once (codemend_warm), then serves checks one after another over its stdin/stdout: the
container's attach stream, the host's channel to it. It never reads that channel nor
holds a check's data: for every check it forks a worker, which resets the container and
proves it clean (codemend_reset), says so, reads one request, runs the check (pytest
forked from it, dropping privileges like the runner's subprocesses), writes the report
and exits. The zygote reaps it (and every orphan), says how it ended, and forks the next.

The channel (see docs/SECURITY.md), host to container on stdin:
    ``<manifest bytes> <payload bytes>\n`` then the manifest JSON, then the workspace tar;
container to host on stdout, from the worker only:
    ``<kind> <bytes>\n`` then that many bytes; kind ``ready`` (proven clean, body empty),
    ``unclean`` (JSON list of what is not clean; the worker ends) or ``report`` (the
    runner's JSON document);
and on stderr, from the zygote, one line per worker: ``codemend-zygote: ended <code>``.
A manifest with ``"last": true`` ends the zygote (and so the container) after its report.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

from codemend_core import PYTEST_INI, _begin, check, fix, pytest_args
from codemend_reset import _drop_privileges, reset
from codemend_warm import prebuild, prebuilt, warm_up
from codemend_witness import extra_plugins, preload_pytest, witness_plugin

MAX_HEADER_BYTES = 64
MAX_MANIFEST_BYTES = 1 << 20
MAX_PAYLOAD_BYTES = 65 * 1024 * 1024  # the runner refuses more than 64 MiB of files anyway
EXIT_EOF = 75  # the host closed the channel: the zygote ends
EXIT_LAST = 76  # the check asked to be the container's last: the zygote ends
ENDED = "codemend-zygote: ended"


def zygote() -> int:
    """PID 1 of a pooled container: warm pytest up, then fork one worker per check, wait
    for it (reaping every orphan meanwhile) and say how it ended. This process never
    sees a workspace."""
    _preload()
    while True:
        pid = _fork()
        if pid == 0:
            try:  # the worker: never back into this loop
                _serve_one()
            finally:
                os._exit(70)
        code = _wait_for(pid)
        if code in (EXIT_EOF, EXIT_LAST):
            return 0
        os.write(2, f"{ENDED} {code}\n".encode())


def _fork() -> int:
    for _ in range(50):  # a fork bomb's processes may linger for a moment after the kill
        try:
            return os.fork()
        except BlockingIOError:
            time.sleep(0.02)
    return os.fork()


def _wait_for(pid: int) -> int:
    """Reap children (orphans reparent to PID 1) until ``pid`` has ended; its exit code."""
    while True:
        try:
            got, status = os.wait()
        except ChildProcessError:
            return 70
        if got == pid:
            return os.waitstatus_to_exitcode(status)


def _preload() -> None:
    import gc

    preload_pytest()  # ahead of need (the point of the zygote), before any workspace path
    with open(PYTEST_INI, "rb") as fh:  # warm the file lookups a fresh container has not made
        fh.read()
    warm_up(pytest_args)
    gc.freeze()  # the forked pytest's collections then skip everything made here
    # after the freeze: the config stays as visible to gc as a fresh pytest's (the corpus
    # has code that looks for it there)
    prebuild(pytest_args("/work/x", "/report/x/junit.xml", ["."]))


def _send(kind: str, body: bytes = b"") -> None:
    """One message to the host on stdout (fd 1), written whole."""
    data = f"{kind} {len(body)}\n".encode() + body
    while data:
        data = data[os.write(1, data):]


def _read_exactly(n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(0, min(n - len(buf), 1 << 20))
        if not chunk:
            os._exit(EXIT_EOF)
        buf += chunk
    return bytes(buf)


def _read_request() -> tuple[bytes, bytes]:
    """One request from stdin, read to its exact end (the next may follow right away)."""
    header = bytearray()
    while not header.endswith(b"\n"):
        if len(header) > MAX_HEADER_BYTES:
            raise ValueError("the request header is too long")
        header += _read_exactly(1)
    sizes = header.split()
    if len(sizes) != 2 or not all(s.isdigit() for s in sizes):
        raise ValueError("the request header is malformed")
    m_size, p_size = int(sizes[0]), int(sizes[1])
    if m_size > MAX_MANIFEST_BYTES or p_size > MAX_PAYLOAD_BYTES:
        raise ValueError("the request is larger than the sandbox accepts")
    return _read_exactly(m_size), _read_exactly(p_size)


def _serve_one() -> None:
    """In a worker: prove the container clean, say "ready", then serve one request like
    the runner's ``main``. Never returns.

    The reset makes a reused container as clean as a fresh one (and is cheap on a fresh
    one). Only when it is proven does the host get "ready" and offer the container;
    otherwise it gets "unclean" and removes it.
    """
    import io

    problems = reset()
    if problems:
        _send("unclean", json.dumps(problems).encode())
        os._exit(3)
    _send("ready")
    manifest = {}
    try:
        m_text, payload = _read_request()
        started = time.monotonic()
        sys.stdin = io.TextIOWrapper(io.BytesIO(payload))  # _begin unpacks from stdin
        manifest, token, workdir, files = _begin(m_text)
    except Exception as exc:  # report, never crash: the host turns this into infra_error
        _send("report", json.dumps({"runner_error": f"unpacking the workspace failed: {exc}"})
              .encode())
        os._exit(EXIT_LAST if manifest.get("last") else 0)
    if manifest.get("mode", "check") == "fix":
        doc = fix(manifest, workdir, files, started)
    else:
        doc = check(manifest, workdir, token, started, forked_pytest=ForkedPytest)
    _send("report", json.dumps(doc).encode())
    os._exit(EXIT_LAST if manifest.get("last") else 0)  # no interpreter teardown: faster


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
    plugins = [*([] if witness_fd is None else [witness_plugin(witness_fd)]), *extra_plugins()]
    sys.path.insert(0, cwd)  # last: everything pytest needs is loaded (see _preload)
    with prebuilt(args):  # the plugin manager the zygote built (codemend_warm)
        code = int(pytest.main(args, plugins=plugins))
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    return code
