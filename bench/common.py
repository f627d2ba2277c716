"""Shared pieces of the benchmarks: statistics, tables, the small task, the bare baseline."""

from __future__ import annotations

import importlib.util
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from codemend.sandbox.image import HERE as SANDBOX_DIR
from codemend.sandbox.image import cache_dir, pins
from codemend.sandbox.parse import parse_junit, parse_ruff
from codemend.sandbox.workspace import Workspace


class BenchError(Exception):
    """A benchmark cannot run here; the message says why and what to do."""


def project_modules(bench: str):
    """tests/breadth.py and tests/repo_projects.py (the real projects' set and its judge)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    try:
        import breadth
        import repo_projects
    except ImportError as exc:  # pytest is a dev dependency
        raise BenchError(f"bench {bench} needs the dev install (make install): {exc}") from exc
    return breadth, repo_projects


def say(text: str) -> None:
    """Progress for people: always on stderr, so ``--json`` keeps stdout to one line."""
    print(text, file=sys.stderr, flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values)


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("nan")


def table(rows: list[tuple], head: tuple) -> str:
    """A plain aligned text table."""
    cells = [tuple(str(c) for c in head)] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                       enumerate(zip(r, widths, strict=True))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


SMALL_SOLUTION = '''def slugify(text: str) -> str:
    """Lower-case words joined by single dashes."""
    words = "".join(c if c.isalnum() else " " for c in text.lower()).split()
    return "-".join(words)
'''

SMALL_TESTS = '''import pytest
from slug import slugify


def test_simple():
    assert slugify("Hello World") == "hello-world"


def test_punctuation():
    assert slugify("  a, b;  c!") == "a-b-c"


@pytest.mark.parametrize("text", ["", "   ", "!!"])
def test_empty(text):
    assert slugify(text) == ""
'''


HEAVY_TEST = """

def test_busy():
    assert sum(i * i for i in range(2_000_000)) > 0
"""


def small_task(variant: int = 0, heavy: bool = False) -> Workspace:
    """The small task every latency/concurrency benchmark checks (5 passing cases);
    ``heavy`` adds a test that computes for a few hundred milliseconds."""
    solution = SMALL_SOLUTION + f"\n\nVARIANT = {variant}\n"
    tests = SMALL_TESTS + (HEAVY_TEST if heavy else "")
    return Workspace(files={"slug.py": solution}, tests={"tests/test_slug.py": tests})


def _runner_module():
    """The in-container runner's core, loaded by path (for its exact pytest arguments)."""
    runner_dir = str(SANDBOX_DIR / "runner")
    if runner_dir not in sys.path:
        sys.path.insert(0, runner_dir)  # its sibling modules (codemend_inventory, ...)
    spec = importlib.util.spec_from_file_location(
        "_codemend_core_for_bench", SANDBOX_DIR / "runner" / "codemend_core.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BareChecker:
    """The same ruff + pytest check as the runner's, as plain subprocesses on the host,
    in a minimal venv that holds only the pinned ruff and pytest: no container at all."""

    def __init__(self) -> None:
        p = pins()
        self.reqs = [f"ruff=={p['RUFF_VERSION']}", f"pytest=={p['PYTEST_VERSION']}"]
        self.venv = cache_dir() / "bench" / f"bare-{'-'.join(self.reqs)}".replace("==", "-")
        self._ensure_venv()
        runner = _runner_module()
        self.pytest_args = runner.pytest_args
        self.ini = str(SANDBOX_DIR / "runner" / "pytest.ini")
        self.env = {**runner._env(), "PATH": f"{self.venv}/bin:/usr/bin:/bin"}

    def _ensure_venv(self) -> None:
        bin_dir = self.venv / "bin"
        if (bin_dir / "ruff").exists() and (bin_dir / "pytest").exists():
            return
        say(f"bench: creating the bare baseline venv {self.venv} ({', '.join(self.reqs)})")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(self.venv)], check=True)
        proc = subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet",
                               *self.reqs], capture_output=True, text=True)
        if proc.returncode != 0:
            raise BenchError(f"pip could not install {self.reqs}: {proc.stderr[-400:]}")

    def check(self, ws: Workspace) -> bool:
        """Write the workspace, run ruff and pytest concurrently, parse both reports."""
        with tempfile.TemporaryDirectory(prefix="codemend-bare-") as tmp:
            work = Path(tmp, "work")
            for rel, text in {**ws.files, **ws.tests}.items():
                (work / rel).parent.mkdir(parents=True, exist_ok=True)
                (work / rel).write_text(text)
            junit = Path(tmp, "junit.xml")
            args = self.pytest_args(str(work), str(junit), ws.test_paths)
            args[1] = self.ini
            common = {"cwd": work, "env": self.env, "stdin": subprocess.DEVNULL}
            ruff = subprocess.Popen([str(self.venv / "bin" / "ruff"), "check", "--isolated",
                                     "--no-cache", "--select", "E4,E7,E9,F,I",
                                     "--output-format", "json", "--exit-zero",
                                     *ws.lint_paths], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, **common)
            pytest = subprocess.run([str(self.venv / "bin" / "python"), "-m", "pytest", *args],
                                    capture_output=True, **common)
            out, _ = ruff.communicate()
            lint = parse_ruff(out.decode(), str(work))
            tests = parse_junit(junit.read_text() if junit.exists() else "")
            return lint.ok and tests.ok and pytest.returncode == 0


def timed(fn, *args) -> tuple[float, object]:
    """(milliseconds, result) of one call."""
    started = time.perf_counter()
    result = fn(*args)
    return (time.perf_counter() - started) * 1000, result


def machine() -> str:
    load = os.getloadavg()[0]
    return f"{os.cpu_count()} cores, load {load:.1f}"


def interleaved(contenders: dict, rounds: int, before, label: str) -> dict[str, float]:
    """Median ms of each contender (a call returning success), run interleaved with the
    order rotating each round; ``before()`` runs ahead of every call (untimed); round 0
    warms caches and is not counted. A failed call is a ``BenchError``."""
    times: dict[str, list[float]] = {k: [] for k in contenders}
    names = list(contenders)
    for n in range(rounds + 1):
        k = n % len(names)
        for key in names[k:] + names[:k]:
            before()
            ms, ok = timed(contenders[key])
            if not ok:
                raise BenchError(f"{label}: the {key} run of its suite failed")
            if n:
                times[key].append(ms)
        say(f"{label} round {n}/{rounds}")
    return {k: round(median(v), 1) for k, v in times.items()}
