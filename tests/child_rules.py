"""Every child process a test starts is over when the test ends (loaded by tests/conftest.py).

A test that fails while its child still runs (a ``communicate`` that timed out, an assert
between ``Popen`` and ``wait``) keeps the ``Popen`` and its pipes alive in its traceback. The
garbage collector finalizes them later, during whichever test happens to trigger a collection,
and ``filterwarnings = error`` turns their ResourceWarnings ("subprocess N is still running",
"unclosed file") into an unraisable-exception failure of that innocent test.

So the test that started a child owns it: after the test's teardown, every child started in
its body that is still running is killed and reaped, every pipe of it still open is closed,
and the test fails with the child's command line. Children started by fixtures are the
fixtures' to stop (a module fixture's server outlives one test).
"""

from __future__ import annotations

import subprocess
import weakref
from collections.abc import Iterator

import pytest

_real_init = subprocess.Popen.__init__
_started: weakref.WeakSet[subprocess.Popen] | None = None  # set while a test body runs
_children = pytest.StashKey[weakref.WeakSet]()  # the children a test's body started


def _tracking_init(self: subprocess.Popen, *args, **kwargs) -> None:
    _real_init(self, *args, **kwargs)
    if _started is not None:
        _started.add(self)


def pytest_configure(config: pytest.Config) -> None:
    subprocess.Popen.__init__ = _tracking_init  # type: ignore[method-assign]


def pytest_unconfigure(config: pytest.Config) -> None:
    subprocess.Popen.__init__ = _real_init  # type: ignore[method-assign]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    global _started
    _started = weakref.WeakSet()
    item.stash[_children] = _started
    try:
        return (yield)
    finally:
        _started = None


def left_over(proc: subprocess.Popen) -> str | None:
    """Kill and reap ``proc`` if it still runs, close its open pipes; say what was left."""
    problem = None
    if proc.poll() is None:
        proc.kill()
        proc.wait()
        problem = f"left process {proc.pid} running (killed now): {proc.args!r}"
    pipes = [p for p in (proc.stdin, proc.stdout, proc.stderr) if p is not None and not p.closed]
    for pipe in pipes:
        pipe.close()
    if pipes and problem is None:
        problem = f"left the pipes of process {proc.pid} open (closed now): {proc.args!r}"
    return problem


def _stop_children(item: pytest.Item) -> str | None:
    """Stop what the test's body left running; the failure message, if it left anything."""
    children = item.stash.get(_children, None)
    problems = [p for p in map(left_over, list(children or ())) if p]
    if not problems:
        return None
    return ("the test " + "; ".join(problems) + ". Stop every child it starts, even when it "
            "fails (try/finally or a fixture), or the garbage collector finalizes it during a "
            "later test")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    """After the fixtures' teardown, even when one of them failed."""
    try:
        result = yield
    except BaseException as exc:
        if message := _stop_children(item):
            exc.add_note(message)
        raise
    if message := _stop_children(item):
        pytest.fail(message, pytrace=False)
    return result
