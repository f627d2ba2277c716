"""Runner-side evidence: the test inventory taken before any sandboxed code runs, the
witness pipe and its summary, and size-capped, link-refusing reads of sandbox-written files.
"""

from __future__ import annotations

import ast
import json
import os
import stat
import threading

WITNESS_CAP = 32 << 20
"""About 100,000 tests' records (one per test, ids up to 300 characters)."""
SOURCE_CAP = 2 << 20
INVENTORY_CAP = 1 << 20  # test files larger than this are not inventoried (a lower bound)
MAX_IDS = 5000

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


def inventory(workdir: str, files: list[str], test_paths: list[str],
              sources: bool = True) -> dict:
    """What the host needs to cross-check the run, taken before any sandboxed code runs.
    ``sources``: also send the solution files' texts back for the static scan."""
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
    texts, used, truncated = {}, 0, False
    for rel in solution if sources else []:
        text = _read_source(os.path.join(workdir, rel), SOURCE_CAP) if rel.endswith(".py") \
            else None
        if text is None or used + len(text) > SOURCE_CAP:
            truncated = truncated or rel.endswith(".py")
            continue
        texts[rel], used = text, used + len(text)
    return {"tests": tests, "solution_files": solution, "sources": texts,
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
