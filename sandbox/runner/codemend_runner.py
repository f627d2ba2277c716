"""The in-container check runner.

Runs as PID 1 (cold sandbox) or via ``docker exec`` (pooled sandbox), as root with
only CAP_SETUID, CAP_SETGID, CAP_KILL and CAP_CHOWN. It:

1. takes its manifest (JSON) as argv[1] and the workspace as one tar stream on stdin;
2. writes the files root-owned and read-only under the work dir, and inventories them
   (test ids, solution sources) before any sandboxed code runs;
3. runs ``ruff check --output-format json`` and pytest (JUnit XML, plus the witness
   plugin reporting on a pipe) concurrently, each as the sandbox uid with no
   capabilities left, under ``timeout -s KILL``;
4. kills every process of the sandbox uid, then prints exactly one JSON document.
   See docs/SECURITY.md for what the inventory and the witness are for.

Only the standard library is used: this file runs with the image's system Python.
Code under test never shares this process's stdout: its output goes to pipes that this
runner reads with a byte cap.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import stat
import subprocess
import sys
import tarfile
import threading
import time
import xml.etree.ElementTree as ET

SANDBOX_UID = 10001
SANDBOX_GID = 10001
VENV_BIN = "/opt/venv/bin"
PYTEST_INI = "/opt/codemend/pytest.ini"
MAX_INPUT_BYTES = 64 * 1024 * 1024
TRIM_TEXT_CHARS = 65536
RAW_REPORT_CAP = 96 * 1024 * 1024  # read this much of a JUnit file before trimming it
RUNNER_FILE = os.path.abspath(__file__)


def _read_capped(stream, cap: int, sink: dict, on_overflow) -> None:
    """Read ``stream`` to EOF, keeping at most ``cap`` bytes; call ``on_overflow`` once."""
    kept = bytearray()
    total = 0
    while True:
        chunk = stream.read(65536)
        if not chunk:
            break
        total += len(chunk)
        room = cap - len(kept)
        if room > 0:
            kept += chunk[:room]
        if total > cap and not sink.get("overflow"):
            sink["overflow"] = True
            on_overflow()
    sink["data"] = bytes(kept).decode("utf-8", errors="replace")
    sink["bytes"] = total


class Step:
    """One sandboxed subprocess (ruff or pytest) with capped, concurrently read output."""

    def __init__(self, name: str, argv: list[str], env: dict, cwd: str, timeout_s: float,
                 output_cap: int, proc=None, pass_fds: tuple = ()) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self.output_cap = output_cap
        self.out: dict = {}
        self.err: dict = {}
        self.output_limit = False
        self.rc: int | None = None
        self.elapsed = 0.0
        # a forked pytest started (and its timer with it) before this Step was made
        self.started = getattr(proc, "started", None) or time.monotonic()
        # ``proc``: an already started process with stdout/stderr/wait() (pooled use)
        self.proc = proc or subprocess.Popen(
            ["timeout", "-s", "KILL", f"{timeout_s:.3f}", *argv],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env, cwd=cwd, start_new_session=True, close_fds=True, pass_fds=pass_fds,
            # setuid away from 0 clears the permitted and effective capability sets
            user=SANDBOX_UID, group=SANDBOX_GID, extra_groups=[], umask=0o022,
        )
        self.threads = [
            threading.Thread(target=_read_capped,
                             args=(self.proc.stdout, output_cap, self.out, self._overflow)),
            threading.Thread(target=_read_capped,
                             args=(self.proc.stderr, output_cap, self.err, self._overflow)),
        ]
        for t in self.threads:
            t.daemon = True
            t.start()

    def _overflow(self) -> None:
        self.output_limit = True
        _kill_sandbox_processes()

    def exited(self) -> int:
        """Wait for the process itself, not for its output pipes to close (idempotent)."""
        if self.rc is None:
            self.rc = self.proc.wait()
            self.elapsed = time.monotonic() - self.started
        return self.rc

    def wait(self) -> dict:
        rc = self.exited()
        elapsed = self.elapsed
        for t in self.threads:
            t.join(timeout=2.0)
        return {
            "rc": rc,
            "duration_s": round(elapsed, 4),
            "timed_out": (rc in (124, 137, -9)) and elapsed >= self.timeout_s - 0.05,
            "output_limit": self.output_limit,
            "stdout": self.out.get("data", ""),
            "stderr": self.err.get("data", ""),
            "stdout_bytes": self.out.get("bytes", 0),
            "stderr_bytes": self.err.get("bytes", 0),
        }


def _kill_sandbox_processes() -> None:
    """SIGKILL every process that runs as the sandbox uid (detached ones included)."""
    for _ in range(5):
        found = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                st = os.stat(f"/proc/{entry}")
            except OSError:
                continue
            if st.st_uid == SANDBOX_UID:
                found = True
                try:
                    os.kill(int(entry), signal.SIGKILL)
                except OSError:
                    pass
        if not found:
            return
        time.sleep(0.02)


def _oom_kills() -> int:
    """The cgroup's OOM-kill counter (v1 memory.oom_control or v2 memory.events)."""
    for path in ("/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events"):
        try:
            with open(path) as fh:
                for line in fh:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            continue
    return -1


def _safe_relpath(name: str) -> str | None:
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    return "/".join(parts)


def _unpack(workdir: str, writable: bool = False) -> list[str]:
    """Read the workspace tar from stdin; write its files root-owned and read-only.

    With ``writable`` (fix mode) the files and folders belong to the sandbox uid instead,
    so ruff can rewrite them. Returns the relative paths written.
    """
    written = []
    with tarfile.open(fileobj=sys.stdin.buffer, mode="r|") as tar:
        total = 0
        for member in tar:
            if not member.isfile():
                continue  # links, devices, dirs: ignored (dirs are made as needed)
            total += member.size
            if total > MAX_INPUT_BYTES:
                raise ValueError("workspace larger than the sandbox accepts")
            data = tar.extractfile(member).read()
            rel = _safe_relpath(member.name)
            if rel is None or not rel.startswith("files/"):
                continue
            target = os.path.join(workdir, rel[len("files/"):])
            os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o444)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            written.append(rel[len("files/"):])
    for root, dirs, files in os.walk(workdir):
        for name in [*dirs, *files] if writable else dirs:
            path = os.path.join(root, name)
            if writable:  # chmod first: after chown root no longer owns it
                os.chmod(path, 0o755 if name in dirs else 0o644)
                os.chown(path, SANDBOX_UID, SANDBOX_GID)
            else:
                os.chmod(path, 0o555)
    if writable:
        os.chown(workdir, SANDBOX_UID, SANDBOX_GID)
    else:
        os.chmod(workdir, 0o555)
    return written


def _read_report_file(path: str, cap: int) -> dict:
    """Read a file written by sandboxed code: no symlinks, regular files only, size-capped."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        return {"present": False, "error": f"{type(exc).__name__}: {exc.strerror}"}
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            return {"present": False, "error": "not a regular file"}
        data = fh.read(cap + 1)
    return {"present": True, "size": st.st_size, "truncated": len(data) > cap,
            "data": data[:cap]}


def _trim_junit(data: bytes) -> tuple[str, bool]:
    """Shorten huge texts inside a JUnit document so it can be shipped; keep it JUnit XML."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return data.decode("utf-8", errors="replace"), False
    trimmed = False
    for el in root.iter():
        if el.text and len(el.text) > TRIM_TEXT_CHARS:
            el.text = _cut(el.text)
            trimmed = True
        for key, value in list(el.attrib.items()):
            if len(value) > TRIM_TEXT_CHARS:
                el.attrib[key] = _cut(value)
                trimmed = True
    if not trimmed:
        return data.decode("utf-8", errors="replace"), False
    return ET.tostring(root, encoding="unicode"), True


def _cut(text: str) -> str:
    half = TRIM_TEXT_CHARS // 2
    return f"{text[:half]}\n... [{len(text) - 2 * half} characters cut] ...\n{text[-half:]}"


def _env() -> dict:
    return {
        "PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "COLUMNS": "200",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }


def fix(manifest: dict, workdir: str, files: list[str], started: float) -> dict:
    """Apply ``ruff check --fix`` and ``ruff format`` to the files; send them back."""
    timeout_s = float(manifest.get("timeout_s", 60))
    cap = int(manifest.get("output_limit_bytes", 1 << 20))
    py = [f for f in files if f.endswith(".py")] or ["."]
    steps = {}
    for name, argv in (
        ("check", ["check", "--fix", "--isolated", "--no-cache", "--exit-zero", "--quiet",
                   "--select", str(manifest.get("lint_select") or "E4,E7,E9,F")]),
        ("format", ["format", "--isolated", "--no-cache", "--quiet"]),
    ):
        res = Step(name, [f"{VENV_BIN}/ruff", *argv, *py], _env(), workdir, timeout_s,
                   cap).wait()
        steps[name] = {k: res[k] for k in ("rc", "timed_out", "output_limit", "stderr")}
    _kill_sandbox_processes()
    out = {}
    for rel in files:
        got = _read_report_file(os.path.join(workdir, rel), cap)
        if got.get("present") and not got["truncated"]:
            out[rel] = got["data"].decode("utf-8", errors="surrogateescape")
    return {"runner": 1, "mode": "fix", "duration_s": round(time.monotonic() - started, 4),
            "steps": steps, "files": out}


def _begin(manifest_text: str | bytes) -> tuple[dict, str, str, list[str]]:
    """Parse the manifest, unpack the workspace from stdin: (manifest, token, workdir, files)."""
    manifest = json.loads(manifest_text) if manifest_text else {}
    token = "".join(c for c in str(manifest.get("token", "x")) if c.isalnum())[:32] or "x"
    workdir = f"/work/{token}"
    os.makedirs(workdir, mode=0o755)
    files = _unpack(workdir, writable=(manifest.get("mode", "check") == "fix"))
    return manifest, token, workdir, files


def main() -> int:
    started = time.monotonic()
    try:
        manifest, token, workdir, files = _begin(sys.argv[1] if len(sys.argv) > 1 else "")
    except Exception as exc:  # report, never crash: the host turns this into infra_error
        print(json.dumps({"runner_error": f"unpacking the workspace failed: {exc}"}))
        return 0
    if manifest.get("mode", "check") == "fix":
        sys.stdout.write(json.dumps(fix(manifest, workdir, files, started)))
        sys.stdout.flush()
        return 0
    report = check(manifest, workdir, token, started)
    sys.stdout.write(json.dumps(report))
    sys.stdout.flush()
    return 0


def pytest_args(workdir: str, junit_path: str, test_paths: list[str]) -> list[str]:
    """pytest's arguments, the same for a pytest subprocess and a forked pytest."""
    return ["-c", PYTEST_INI, "--rootdir", workdir, "-p", "no:cacheprovider",
            f"--junitxml={junit_path}", "-o", "junit_family=xunit1",
            "--tb=short", "-q", "--no-summary", "--color=no", "-s", *test_paths]


def check(manifest: dict, workdir: str, token: str, started: float,
          forked_pytest=None) -> dict:
    """Run ruff and pytest concurrently as the sandbox uid; collect their reports.

    ``forked_pytest(args, env, workdir, timeout_s)`` (pooled use) starts pytest in a
    forked child of an interpreter that imported it already, instead of a subprocess.
    """
    timeout_s = float(manifest.get("timeout_s", 60))
    output_cap = int(manifest.get("output_limit_bytes", 1 << 20))
    report_cap = int(manifest.get("report_limit_bytes", 8 << 20))
    lint_paths = manifest.get("lint_paths") or ["."]
    test_paths = manifest.get("test_paths") or ["."]
    # the report gets its own tmpfs, so code that fills /tmp cannot make pytest lose it
    junit_path = f"/report/{token}/junit.xml"
    env = _env()
    oom_before = _oom_kills()
    select = str(manifest.get("lint_select") or "E4,E7,E9,F")
    args = pytest_args(workdir, junit_path, test_paths)
    inv = inventory(workdir, _workspace_files(workdir), test_paths)  # before any sandboxed code
    witness = WitnessPipe()
    # a fork comes first, while this process has no other thread
    forked = forked_pytest(args, env, workdir, timeout_s, witness.w) if forked_pytest else None
    ruff = Step("ruff", [f"{VENV_BIN}/ruff", "check", "--isolated", "--no-cache",
                         "--select", select, "--output-format", "json", "--exit-zero",
                         *lint_paths],
                env, workdir, timeout_s, output_cap)
    # -s: no user site-packages (HOME is the writable /tmp); the witness rides along
    pytest = Step("pytest", [f"{VENV_BIN}/python", "-s", "-c", WITNESS_BOOT % RUNNER_FILE,
                             str(witness.w), *args],
                  env, workdir, timeout_s, output_cap, proc=forked, pass_fds=(witness.w,))
    witness.start()
    pytest.exited()
    ruff.exited()
    # detached children may hold the output pipes open: end them before reading to EOF
    _kill_sandbox_processes()
    pytest_res = pytest.wait()
    ruff_res = ruff.wait()
    witness_res = witness.result()
    junit = _read_report_file(junit_path, RAW_REPORT_CAP)
    if junit.get("present"):
        text, trimmed = _trim_junit(junit.pop("data"))
        junit["data"] = text[:report_cap]
        junit["trimmed"] = trimmed
        junit["truncated"] = junit["truncated"] or len(text) > report_cap
    ruff_json = ruff_res.pop("stdout")
    return {
        "runner": 1,
        "mode": "check",
        "duration_s": round(time.monotonic() - started, 4),
        "oom_kills_before": oom_before,
        "oom_kills_after": _oom_kills(),
        "ruff": {**ruff_res, "json": ruff_json},
        "pytest": pytest_res,
        "junit": junit,
        "inventory": inv,
        "witness": witness_res,
    }


# -- tamper evidence (docs/SECURITY.md) -----------------------------------------------------
# Before any sandboxed code runs, the runner (root, trusted) inventories the read-only test
# files with ``ast`` and notes the solution files. pytest then runs with a tiny plugin, the
# witness, that reports collection, every test phase and the session's end on a pipe only
# this runner reads. Code under test shares pytest's process and *could* write to that pipe
# too: the host cross-checks witness, JUnit report, exit code and inventory, so tampering
# that turns failures into a pass has to forge all of them consistently, and is evident.

WITNESS_CAP = 4 << 20
SOURCE_CAP = 2 << 20
INVENTORY_CAP = 1 << 20  # test files larger than this are not inventoried (a lower bound)
MAX_IDS = 5000
RUNNER_DIR = os.path.dirname(RUNNER_FILE)
# `python -c WITNESS_BOOT FD ARGS...`: pytest with the witness; the runner file is loaded by
# path, so no file in the workspace can stand in for it.
WITNESS_BOOT = (
    "import sys, importlib.util as u\n"
    "s = u.spec_from_file_location('_codemend_witness', %r)\n"
    "m = u.module_from_spec(s)\n"
    "s.loader.exec_module(m)\n"
    "fd = int(sys.argv.pop(1))\n"
    "sys.exit(m.witnessed_pytest(sys.argv[1:], fd))\n"
)
# pytest internals whose replacement would let code under test rewrite outcomes
WATCHED = (
    ("_pytest.runner", "call_and_report"), ("_pytest.runner", "runtestprotocol"),
    ("_pytest.runner", "pytest_runtest_makereport"), ("_pytest.runner", "CallInfo.from_call"),
    ("_pytest.reports", "TestReport.from_item_and_call"), ("_pytest.reports", "BaseReport.passed"),
    ("_pytest.reports", "BaseReport.failed"), ("_pytest.reports", "BaseReport.skipped"),
    ("_pytest.python", "Function.runtest"), ("_pytest.python", "pytest_pyfunc_call"),
    ("_pytest.skipping", "pytest_runtest_makereport"), ("_pytest.skipping", "pytest_runtest_setup"),
    ("_pytest.junitxml", "LogXML.pytest_runtest_logreport"),
    ("_pytest.junitxml", "LogXML.pytest_sessionfinish"), ("_pytest.junitxml", "LogXML.finalize"),
    ("_pytest.junitxml", "_NodeReporter.append_failure"), ("_pytest.junitxml", "_NodeReporter.to_xml"),
    ("_pytest.main", "pytest_runtestloop"), ("_pytest.main", "Session.perform_collect"),
    ("_pytest.main", "Session.pytest_runtest_logreport"), ("_pytest.main", "wrap_session"),
    ("_pytest.outcomes", "fail"), ("_pytest.outcomes", "skip"), ("_pytest.outcomes", "xfail"),
    ("_pytest.assertion.rewrite", "AssertionRewritingHook.exec_module"),
    ("pluggy._callers", "_multicall"), ("pluggy._manager", "_multicall"),
    ("pluggy._hooks", "HookCaller.__call__"), ("pluggy._manager", "PluginManager._hookexec"),
    ("builtins", "AssertionError"), ("builtins", "__import__"), ("builtins", "isinstance"),
    ("os", "_exit"), ("sys", "exit"),
)


def _resolve(module: str, dotted: str):
    """The object at ``module.dotted``, looked up in ``__dict__``s (no descriptors run)."""
    obj = sys.modules.get(module)
    for part in dotted.split("."):
        if obj is None:
            return None
        obj = vars(obj).get(part) if hasattr(obj, "__dict__") else None
    return obj


def _snapshot() -> dict:
    """Identities of the watched objects and of their modules."""
    import importlib
    snap = {}
    for module, dotted in WATCHED:
        try:
            importlib.import_module(module)
        except Exception:
            continue
        obj = _resolve(module, dotted)
        if obj is not None:
            snap[f"{module}.{dotted}"] = (id(obj), id(sys.modules[module]))
    return snap


def witness_plugin(fd: int):
    """The witness: a pytest plugin object that reports to ``fd`` (JSON, one per line)."""
    import builtins

    import pytest

    class Witness:
        def __init__(self) -> None:
            self.fd = fd
            self.pm, self.hookexec = None, id(None)
            self.snap = _snapshot()
            self.builtins = {k: id(v) for k, v in vars(builtins).items()}
            try:
                st = os.fstat(fd)
                self.ident = (st.st_dev, st.st_ino)
            except OSError:
                self.ident = None
            self.emit({"e": "start"})

        def emit(self, record: dict) -> None:
            data = (json.dumps(record) + "\n").encode()
            try:
                while data:
                    data = data[os.write(self.fd, data):]
            except Exception:
                pass  # a lost record is itself evidence: the runner sees it missing

        @pytest.hookimpl(tryfirst=True)
        def pytest_configure(self, config) -> None:
            self.hookexec = id(getattr(config.pluginmanager, "_inner_hookexec", None))
            self.pm = config.pluginmanager

        @pytest.hookimpl(trylast=True)
        def pytest_collectreport(self, report) -> None:
            if not report.passed:
                self.emit({"e": "collect", "outcome": str(report.outcome)})

        @pytest.hookimpl(trylast=True)
        def pytest_collection_finish(self, session) -> None:
            self.emit({"e": "collected", "n": len(session.items)})

        @pytest.hookimpl(tryfirst=True)
        def pytest_runtest_logreport(self, report) -> None:
            self.emit({"e": "test", "id": str(report.nodeid)[:300], "when": str(report.when),
                       "outcome": str(report.outcome)})

        @pytest.hookimpl(trylast=True)
        def pytest_sessionfinish(self, session, exitstatus) -> None:
            self.emit({"e": "end", "status": int(exitstatus), "integrity": self.integrity(),
                       "notes": self.notes(), "plugins": _plugin_files(session.config)})

        def integrity(self) -> list[str]:
            now = _snapshot()
            bad = [f"{name} was replaced" for name, ident in self.snap.items()
                   if now.get(name) != ident]
            if id(getattr(self.pm, "_inner_hookexec", None)) != self.hookexec:
                bad.append("pluggy's hook executor was replaced")
            if sys.gettrace() is not None or sys.getprofile() is not None:
                bad.append("a trace or profile function is set")
            if getattr(threading, "_trace_hook", None) or getattr(threading, "_profile_hook", None):
                bad.append("a thread trace or profile hook is set")
            try:
                st = os.fstat(self.fd)
                ident = (st.st_dev, st.st_ino)
            except OSError:
                ident = None
            if ident != self.ident:
                bad.append("the witness channel was closed or replaced")
            return bad[:20]

        def notes(self) -> list[str]:
            now = {k: id(v) for k, v in vars(builtins).items()}
            changed = sorted(k for k in {*now, *self.builtins}
                             if now.get(k) != self.builtins.get(k) and k != "_")
            return [f"builtins changed: {', '.join(changed[:10])}"] if changed else []

    return Witness()


def _plugin_files(config) -> list[str]:
    """Files of registered plugins that are not part of Python, pytest or this runner."""
    prefixes = tuple({os.path.realpath(p) + "/" for p in (sys.prefix, sys.base_prefix,
                                                           sys.exec_prefix, RUNNER_DIR)})
    out = []
    for _, plugin in config.pluginmanager.list_name_plugin():
        module = plugin if hasattr(plugin, "__file__") else sys.modules.get(
            getattr(type(plugin), "__module__", ""))
        path = str(getattr(module, "__file__", "") or "")
        if path and not os.path.realpath(path).startswith(prefixes):
            out.append(path[:300])
    return sorted(set(out))[:20]


def witnessed_pytest(args: list[str], fd: int) -> int:
    """``pytest.main(args)`` with the witness reporting to ``fd``."""
    import pytest
    return int(pytest.main(args, plugins=[witness_plugin(fd)]))


def _merge_outcome(prev: str, when: str, outcome: str) -> str:
    """A test's outcome as JUnit gives it: its first phase that did not pass decides."""
    if prev != "passed":
        return prev
    if outcome == "failed":
        return "failed" if when == "call" else "error"
    return "skipped" if outcome == "skipped" else "passed"


def summarize_witness(raw: bytes, overflow: bool) -> dict:
    """Check the witness's records (hostile bytes: code under test could write them too)."""
    out = {"started": False, "ended": False, "exitstatus": None, "collected": None,
           "outcomes": {"passed": 0, "failed": 0, "error": 0, "skipped": 0},
           "collect": {"failed": 0, "skipped": 0}, "ran": 0, "integrity": [], "notes": [],
           "plugins": [], "problems": ["more witness records than the runner reads"]
           if overflow else []}
    tests: dict = {}
    for n, line in enumerate(raw.split(b"\n")):
        if not line:
            continue
        try:
            rec = json.loads(line)
            kind = rec["e"]
        except Exception:
            out["problems"].append(f"unreadable witness record {n + 1}")
            continue
        expected = "start" if not out["started"] else None
        if out["ended"] or (expected and kind != expected) or (kind == "start" and n):
            out["problems"].append(f"witness record {n + 1} ({str(kind)[:20]}) out of order")
        if kind == "start":
            out["started"] = True
        elif kind == "collect" and rec.get("outcome") in ("failed", "skipped"):
            out["collect"][rec["outcome"]] += 1
        elif kind == "collected" and out["collected"] is None and isinstance(rec.get("n"), int):
            out["collected"] = rec["n"]
        elif kind == "test" and isinstance(rec.get("id"), str) and len(tests) < 200000:
            tests[rec["id"]] = _merge_outcome(tests.get(rec["id"], "passed"),
                                              str(rec.get("when")), str(rec.get("outcome")))
        elif kind == "end" and isinstance(rec.get("status"), int):
            out["ended"], out["exitstatus"] = True, rec["status"]
            for key in ("integrity", "notes", "plugins"):
                out[key] = [str(x)[:300] for x in (rec.get(key) or [])
                            if isinstance(x, str)][:20]
        else:
            out["problems"].append(f"unexpected witness record {n + 1}")
        if len(out["problems"]) > 20:
            break
    for outcome in tests.values():
        out["outcomes"][outcome] += 1
    out["ran"] = len(tests)
    return out


def _read_source(path: str, cap: int) -> str | None:
    got = _read_report_file(path, cap)
    if not got.get("present") or got["truncated"]:
        return None
    return got["data"].decode("utf-8", errors="replace")


def _is_fixture(node) -> bool:
    for deco in node.decorator_list:
        target = deco.func if isinstance(deco, ast.Call) else deco
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name == "fixture":
            return True
    return False


def _bases(node) -> list[str]:
    return [b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "?") for b in node.bases]


def _init_free(node, plain: set) -> bool:
    """A class pytest can instantiate: no own __init__/__new__, no decorator, and bases
    that are ``object`` or such classes of the same file (``plain``)."""
    names = {s.name for s in node.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return not ({"__init__", "__new__"} & names or node.decorator_list
                or not set(_bases(node)) <= {"object", *plain})


def _class_ids(node, prefix: str, plain: set) -> list[str]:
    """Test ids in a class pytest collects (lower bound: unknown bases collect nothing)."""
    unit = any(b.endswith("TestCase") for b in _bases(node))
    off = any(isinstance(s, ast.Assign) and any(getattr(t, "id", "") == "__test__"
                                                for t in s.targets) for s in node.body)
    if off or not (unit or node.name.startswith("Test")):
        return []
    if not unit and not _init_free(node, plain):
        return []
    out = []
    for stmt in node.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if stmt.name.startswith("test") and not _is_fixture(stmt):
                out.append(f"{prefix}::{node.name}::{stmt.name}")
        elif isinstance(stmt, ast.ClassDef) and not unit:
            out += _class_ids(stmt, f"{prefix}::{node.name}", plain)
    return out


def test_ids(rel: str, source: str) -> list[str]:
    """The test ids pytest must report for ``rel``: top-level test functions and the test
    methods of collectable classes. A lower bound; parametrized ids start with these."""
    tree = ast.parse(source)
    ids: list[str] = []
    plain: set = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__test__"
                                                for t in node.targets):
            return []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name.startswith("test") and not _is_fixture(node):
                ids.append(f"{rel}::{node.name}")
        elif isinstance(node, ast.ClassDef):
            ids += _class_ids(node, rel, plain)
            if _init_free(node, plain):
                plain.add(node.name)
    return list(dict.fromkeys(ids))[:MAX_IDS]


def inventory(workdir: str, files: list[str], test_paths: list[str]) -> dict:
    """What the host needs to cross-check the run, taken before any sandboxed code runs."""
    tests = {}
    for rel in test_paths:
        entry = {"ids": [], "xfail": False, "parsed": False}
        text = _read_source(os.path.join(workdir, rel), INVENTORY_CAP)
        if text is not None and rel.endswith(".py"):
            entry["xfail"] = "xfail" in text
            if os.path.basename(rel) != "conftest.py":
                try:
                    entry["ids"], entry["parsed"] = test_ids(rel, text), True
                except Exception:  # SyntaxError, RecursionError: pytest reports it
                    pass
        tests[rel] = entry
    solution = sorted(set(files) - set(test_paths))
    sources, used, truncated = {}, 0, False
    for rel in solution:
        text = _read_source(os.path.join(workdir, rel), SOURCE_CAP) if rel.endswith(".py") \
            else None
        if text is None or used + len(text) > SOURCE_CAP:
            truncated = truncated or rel.endswith(".py")
            continue
        sources[rel], used = text, used + len(text)
    return {"tests": tests, "solution_files": solution, "sources": sources,
            "sources_truncated": truncated}


class WitnessPipe:
    """The pipe the witness writes to and a thread that reads it with a byte cap."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        self.sink: dict = {}
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        """Close this process's write end (the child has its own) and read to EOF."""
        os.close(self.w)
        stream = os.fdopen(self.r, "rb")
        self.thread = threading.Thread(target=_read_bytes, args=(stream, WITNESS_CAP, self.sink),
                                       daemon=True)
        self.thread.start()

    def result(self) -> dict:
        if self.thread is not None:
            self.thread.join(timeout=5.0)
        return summarize_witness(self.sink.get("data", b""), bool(self.sink.get("overflow")))


def _read_bytes(stream, cap: int, sink: dict) -> None:
    kept = bytearray()
    with stream:
        while True:
            chunk = stream.read(65536)
            if not chunk:
                break
            if len(kept) + len(chunk) > cap:
                sink["overflow"] = True
            kept += chunk[:max(0, cap - len(kept))]
    sink["data"] = bytes(kept)


def _workspace_files(workdir: str) -> list[str]:
    """Relative paths of the files unpacked into ``workdir`` (root-owned, read-only)."""
    out = []
    for root, _, names in os.walk(workdir):
        out += [os.path.relpath(os.path.join(root, name), workdir) for name in names]
    return sorted(out)


# -- pooled use (sandbox/pool.py) ---------------------------------------------------------
# ``--idle`` is PID 1 of a pooled container. ``--zygote`` (root, started once per container)
# imports pytest ahead of need. ``--client`` is the ``docker exec`` of one check, started
# ahead of need too: it hands its stdin/stdout/stderr to the zygote, whose forked worker
# resets the container, says "ready", then serves the check whose manifest (one JSON line)
# and workspace (tar) arrive on stdin. pytest runs in a fork of that worker.

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
    import importlib

    import pytest  # noqa: F401  (imported ahead of need: the point of the zygote)
    from _pytest.config import default_plugins
    for name in (*(f"_pytest.{n}" for n in default_plugins), "_pytest._argcomplete", "pdb"):
        importlib.import_module(name)  # pdb: what pytest.main imports late (with readline)
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
    sys.path.insert(0, cwd)
    sys.stdin = sys.__stdin__ = open(0, encoding="utf-8", closefd=False)
    plugins = [] if witness_fd is None else [witness_plugin(witness_fd)]
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


if __name__ == "__main__":
    MODES = {"--idle": idle, "--zygote": zygote, "--client": client}
    sys.exit(MODES.get(sys.argv[1] if len(sys.argv) > 1 else "", main)())
