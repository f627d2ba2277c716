"""Several runs share one pool through the Python API; their checks go in parallel up to
the pool's limit, and each run gets its own correct result."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from codemend.agent.models.scripted import ScriptedModel
from codemend.agent.nodes import Deps
from codemend.agent.runs import RunStore
from codemend.agent.spec import load_task
from codemend.agent.state import TaskInfo
from codemend.sandbox.pool import PooledSandbox

EXAMPLES = Path(__file__).resolve().parents[2] / "tasks" / "examples"
pytestmark = pytest.mark.docker


class CountingPool(PooledSandbox):
    """Records the most checks in flight at once, counted inside the pool's semaphore
    (``max_parallel``), where a check holds a container: counting in ``check()`` would
    also count checks still waiting for their turn."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.lock, self.now, self.peak = threading.Lock(), 0, 0
        self._parallel = _Counted(self._parallel, self)


class _Counted:
    """The pool's semaphore, counting its holders."""

    def __init__(self, inner, pool: CountingPool) -> None:
        self.inner, self.pool = inner, pool

    def __enter__(self):
        self.inner.acquire()
        with self.pool.lock:
            self.pool.now += 1
            self.pool.peak = max(self.pool.peak, self.pool.now)
        return self

    def __exit__(self, *exc) -> None:
        with self.pool.lock:
            self.pool.now -= 1
        self.inner.release()


def test_runs_share_one_pool(tmp_path, docker_client, sandbox_image):
    names = ["lru_cache", "safe_stats", "roman_numerals", "slugify"]
    # three warm containers but two checks at a time: the semaphore, not the pool's
    # size, is what must hold the third run back
    with RunStore(tmp_path) as store, CountingPool(client=docker_client, size=3,
                                                   max_parallel=2) as pool:
        def solve(name: str):
            task = load_task(EXAMPLES / name / "spec.toml")
            info = TaskInfo.from_task(task)
            store.register(name, name, "scripted", "")
            model = ScriptedModel(EXAMPLES / name / "replies.toml")
            return store.start(name, info, "scripted", 6, Deps(model=model, sandbox=pool))

        with ThreadPoolExecutor(4) as ex:
            outcomes = list(ex.map(solve, names))
        peak = pool.peak
    assert [o.status for o in outcomes] == ["solved"] * 4
    assert [o.iterations for o in outcomes] == [2, 2, 2, 2]
    assert peak == 2  # checks of different runs overlapped, never more than max_parallel
