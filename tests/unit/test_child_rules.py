"""tests/child_rules.py: a test that leaves a child process running fails itself, and the
child is stopped, instead of the garbage collector failing a later, innocent test."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

SAMPLE = '''
import gc, subprocess, sys

# reads its stdin to the end: it runs until the test closes the pipe or kills it, and
# never outlives this pytest run
CHILD = [sys.executable, "-c", "import sys; sys.stdin.read()"]
KEPT = []


def start():
    return subprocess.Popen(CHILD, stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def test_a_timed_out_wait():
    proc = start()
    proc.wait(timeout=0.01)  # TimeoutExpired: its traceback holds the running child


def test_innocent():
    gc.collect()  # any collection here finalizes what the test before left behind


def test_keeps_its_child_somewhere():
    KEPT.append(start())


def test_innocent_too():
    KEPT.clear()
    gc.collect()


def test_stops_its_child():
    with start() as proc:
        proc.communicate(b"")
    assert proc.returncode == 0
'''


def run(tmp_path: Path, *, rules: bool) -> str:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    plugins = "['child_rules']" if rules else "[]"
    (tmp_path / "conftest.py").write_text(f"import sys\nsys.path.insert(0, {str(TESTS)!r})\n"
                                          f"pytest_plugins = {plugins}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:randomly",
                           "-p", "no:cacheprovider", "-W", "error", "--rootdir", str(tmp_path),
                           str(tmp_path / "test_sample.py")],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return proc.stdout


def test_the_test_that_leaves_a_child_running_fails_and_the_child_is_stopped(tmp_path):
    out = run(tmp_path, rules=True)
    assert "FAILED test_sample.py::test_a_timed_out_wait - subprocess.TimeoutExpired" in out
    for name in ("test_a_timed_out_wait", "test_keeps_its_child_somewhere"):
        assert f"ERROR test_sample.py::{name} - Failed: the test left" in out, out
    # by pid: the short summary repeats each message (in full where pytest sees CI set)
    killed = dict(re.findall(r"the test left process (\d+) running \(killed now\): \[(.*?)\]",
                             out))
    assert len(killed) == 2, out
    assert all("'import sys; sys.stdin.read()'" in k for k in killed.values()), out
    for name in ("test_innocent", "test_innocent_too", "test_stops_its_child"):
        assert f"PASSED test_sample.py::{name}\n" in out, out
    assert "1 failed, 4 passed, 2 errors" in out, out


def test_without_the_rules_the_garbage_collector_fails_an_innocent_test(tmp_path):
    """What the rules prevent: the leaked child's warnings fail the tests that collect it."""
    out = run(tmp_path, rules=False)
    assert "FAILED test_sample.py::test_innocent - " in out, out
    assert "FAILED test_sample.py::test_innocent_too - " in out, out
    assert "subprocess" in out and "is still running" in out
