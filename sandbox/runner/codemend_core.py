"""The runner's core: unpack the workspace, run ruff and pytest as the sandbox uid, collect
the reports (the cold sandbox's whole job; the pooled zygote reuses it). See
codemend_runner.py (the entry point) for the overview.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from codemend_inventory import WitnessPipe, _read_report_file, _workspace_files, inventory
from codemend_witness import REPO_BOOT, WITNESS_BOOT, WITNESS_FILE

SANDBOX_UID = 10001
SANDBOX_GID = 10001
VENV_BIN = "/opt/venv/bin"
PYTEST_INI = "/opt/codemend/pytest.ini"
PROJECT_ENV = "/opt/project/codemend-env.json"  # an environment image's (sandbox/envimage.py)
REPO_WORKDIR = "/work/repo"  # where a repository's editable install points
MAX_INPUT_BYTES = 64 * 1024 * 1024
TRIM_TEXT_CHARS = 65536
RAW_REPORT_CAP = 96 * 1024 * 1024  # read this much of a JUnit file before trimming it
COVERAGE_CAP = 1 << 20  # the diff-coverage result (codemend_coverage.py; host: sandbox/coverage.py)


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


def _unpack(workdir: str, writable: bool = False, meta: dict | None = None,
            generated: dict[str, str] | None = None) -> list[str]:
    """Read the workspace tar from stdin; write its files root-owned and read-only.

    With ``writable`` (fix mode) the files and folders belong to the sandbox uid instead,
    so ruff can rewrite them. A repository's settings (``meta/repo.json``) go to ``meta``;
    ``generated`` ({relative path: image file}) adds what the project's install generated
    where the workspace has no such file. Returns the relative paths written.
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
            stream = tar.extractfile(member)
            if stream is None:
                continue
            data = stream.read()
            rel = _safe_relpath(member.name)
            if rel == "meta/repo.json" and meta is not None:
                meta.update(json.loads(data))
                continue
            if rel is None or not rel.startswith("files/"):
                continue
            target = os.path.join(workdir, rel[len("files/"):])
            os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o444)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            written.append(rel[len("files/"):])
    for rel, source in (generated or {}).items():
        target = os.path.join(workdir, rel)
        if _safe_relpath(rel) == rel and not os.path.lexists(target):
            os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
            with open(source, "rb") as src, os.fdopen(os.open(
                    target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o444),
                    "wb") as fh:
                fh.write(src.read())
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


def project_env() -> dict | None:
    """The environment image's record of the project's environment (image-owned, read
    only), or None in the check image itself."""
    try:
        with open(PROJECT_ENV) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def _env(first_bin: str = VENV_BIN) -> dict:
    return {
        "PATH": f"{first_bin}:/usr/local/bin:/usr/bin:/bin",
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
    py = ["--", *([f for f in files if f.endswith(".py")] or ["."])]  # -p_x.py is a file
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
    repo = manifest.get("workspace") == "repo"
    workdir = REPO_WORKDIR if repo else f"/work/{token}"
    os.makedirs(workdir, mode=0o755)
    meta: dict = {}
    env = project_env() if repo else None
    generated = {rel: f"/opt/project/generated/{rel}" for rel in (env or {}).get("generated", [])}
    files = _unpack(workdir, writable=(manifest.get("mode", "check") == "fix"), meta=meta,
                    generated=generated)
    if repo:
        manifest["repo"] = meta
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
    """pytest's arguments, the same for a pytest subprocess and a forked pytest.

    A path is never an option: ``--`` ends them, and a path that starts with a dash gets
    ``./`` too, because pytest looks for ``-p`` plugins in every argument, even after ``--``.
    """
    paths = [f"./{p}" if p.startswith("-") else p for p in test_paths]
    return ["-c", PYTEST_INI, "--rootdir", workdir, "-p", "no:cacheprovider",
            f"--junitxml={junit_path}", "-o", "junit_family=xunit1",
            "--tb=short", "-q", "--no-summary", "--color=no", "-s", "--", *paths]


SEEDED_PLUGINS = {"randomly": ("--randomly-seed=1",), "hypothesispytest": ("--hypothesis-seed=1",)}
"""Plugins that draw a new random seed for every run (pytest-randomly shuffles the tests and
seeds ``random`` before each; hypothesis draws each test's examples), and the option that
fixes it: every check of a repository, baseline and candidates, runs its tests in the same
order with the same draws."""


def enabled_plugins(own: dict | None, repo: dict) -> list[str]:
    """The environment's plugins less those the project turns off: ``-p no:NAME`` blocks
    NAME and ``pytest_NAME``, and a later ``-p NAME`` would unblock it."""
    off = {str(n) for n in repo.get("disabled_plugins") or []}
    return [p for p in (own or {}).get("plugins", [])
            if p not in off and not (p.startswith("pytest_") and p[7:] in off)]


def repo_pytest_args(workdir: str, junit_path: str, python_paths: list[str],
                     select: list[str] | None = None, plugins: Sequence[str] = ()) -> list[str]:
    """Repository mode: the project's own settings and test paths (no ``-c``, no paths),
    with the report options the runner needs, ``src/`` on sys.path through pytest's
    ``pythonpath`` setting (applied after pytest has loaded, before the first conftest)
    and its environment's plugins, named with ``-p`` (plugin autoload is off), with a
    fixed seed for those that would draw one per run (``SEEDED_PLUGINS``).
    ``select``: a quick check of only these test files (after ``--``). pytest's own
    deprecation warnings are ignored: they concern the check's pytest, which may be newer
    than the one the project pins, and a project's ``filterwarnings = error`` would turn
    them into errors its own CI never sees (after the project's filters, so this wins).
    Output is captured as pytest does by default (no ``-s``): a suite may rely on it
    (structlog's closes ``sys.stdout``)."""
    extra = ["-o", "pythonpath=" + " ".join(python_paths)] if python_paths else []
    extra += ["-W", "ignore::pytest.PytestDeprecationWarning"]
    for name in plugins:
        extra += ["-p", name, *SEEDED_PLUGINS.get(name, ())]
    paths = ["--", *(f"./{p}" if p.startswith("-") else p for p in select)] if select else []
    return ["--rootdir", workdir, "-p", "no:cacheprovider", f"--junitxml={junit_path}",
            "-o", "junit_family=xunit1", *extra, "--tb=short", "-q", "--no-summary",
            "--color=no", *paths]


def ruff_args(manifest: dict, lint_paths: list[str]) -> list[str]:
    """``ruff check`` with codemend's rules, or a repository's own settings if it has any."""
    repo = manifest.get("repo") if manifest.get("workspace") == "repo" else None
    if repo is not None and repo.get("ruff_settings"):
        return ["check", "--no-cache", "--output-format", "json", "--exit-zero", "--", *lint_paths]
    select = str(manifest.get("lint_select") or "E4,E7,E9,F")
    return ["check", "--isolated", "--no-cache", "--select", select, "--output-format", "json",
            "--exit-zero", "--", *lint_paths]  # --: a file named -p_x.py is a file


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
    repo = manifest.get("repo") if manifest.get("workspace") == "repo" else None
    python, boot = f"{VENV_BIN}/python", WITNESS_BOOT
    if repo is None:
        args = pytest_args(workdir, junit_path, test_paths)
    else:
        test_paths = [str(p) for p in repo.get("tests") or []]
        own = project_env()
        args = repo_pytest_args(workdir, junit_path, [str(p) for p in repo.get("python_paths")
                                                      or []], [str(p) for p in repo.get("select")
                                                               or []],
                                 enabled_plugins(own, repo))
        # plugins only by name (-p), never from a *.dist-info or egg-info in the work tree
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        if own is not None:  # the project's own environment: a fresh interpreter of it
            python, boot, forked_pytest = own["python"], REPO_BOOT, None
            env = {**env, "PATH": f"{os.path.dirname(own['python'])}:{env['PATH']}"}
    # before any sandboxed code; a repository's sources are scanned by the host (changed
    # lines only), so they are not sent back
    inv = inventory(workdir, _workspace_files(workdir), test_paths, sources=repo is None)
    witness = WitnessPipe()
    coverage_path = f"/report/{token}/coverage.json"
    test_env = coverage_env(manifest, env, workdir, coverage_path)
    # a fork comes first, while this process has no other thread
    forked = (forked_pytest(args, test_env, workdir, timeout_s, witness.w) if forked_pytest
              else None)
    ruff = Step("ruff", [f"{VENV_BIN}/ruff", *ruff_args(manifest, lint_paths)],
                env, workdir, timeout_s, output_cap)
    # -s: no user site-packages (HOME is the writable /tmp); -P: the workspace is not on
    # sys.path until pytest has loaded (see witnessed_pytest); the witness rides along
    pytest = Step("pytest", [python, "-s", "-P", "-c", boot % WITNESS_FILE,
                             str(witness.w), workdir, *args],
                  test_env, workdir, timeout_s, output_cap, proc=forked, pass_fds=(witness.w,))
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
    extra = {}
    if test_env is not env:  # diff coverage was asked for: its result, or why there is none
        got = _read_report_file(coverage_path, COVERAGE_CAP)
        if got.get("present"):
            got["data"] = got["data"].decode("utf-8", errors="replace")
        extra["coverage"] = got
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
        **extra,
    }


def _span(span) -> bool:
    return (isinstance(span, list) and len(span) == 2
            and all(isinstance(n, int) and n > 0 for n in span) and span[0] <= span[1])


def coverage_env(manifest: dict, env: dict, workdir: str, out: str) -> dict:
    """pytest's environment: ``env``, plus the diff-coverage request (codemend_coverage.py)
    when a repository check's manifest names changed files and their changed lines
    (``"coverage": {path: [[first, last], ...]}``)."""
    asked = manifest.get("coverage") if manifest.get("workspace") == "repo" else None
    if not isinstance(asked, dict) or not asked:
        return env
    files = {}
    for rel, spans in list(asked.items())[:200]:  # {path: [[first, last], ...]}
        rel = _safe_relpath(str(rel))
        if not (rel and rel.endswith(".py") and isinstance(spans, list)):
            continue
        files[rel] = [span for span in spans[:2000] if _span(span)]
    if not files:
        return env
    request = {"workdir": workdir, "out": out, "files": files}
    return {**env, "CODEMEND_COVERAGE": json.dumps(request)}


# -- tamper evidence (docs/SECURITY.md) -----------------------------------------------------
# Before any sandboxed code runs, the runner (root, trusted) inventories the read-only test
# files with ``ast`` and notes the solution files. pytest then runs with a tiny plugin, the
# witness, that reports collection, every test phase and the session's end on a pipe only
# this runner reads. Code under test shares pytest's process and *could* write to that pipe
# too: the host cross-checks witness, JUnit report, exit code and inventory, so tampering
# that turns failures into a pass has to forge all of them consistently, and is evident.
