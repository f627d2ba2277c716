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
    """Records the most checks in flight at once."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.lock, self.now, self.peak = threading.Lock(), 0, 0

    def check(self, workspace, *, timeout_s=None):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            return super().check(workspace, timeout_s=timeout_s)
        finally:
            with self.lock:
                self.now -= 1


def test_runs_share_one_pool(tmp_path, docker_client, sandbox_image):
    names = ["lru_cache", "safe_stats", "roman_numerals", "slugify"]
    with RunStore(tmp_path) as store, CountingPool(client=docker_client, size=2,
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
    assert peak >= 2  # checks of different runs overlapped
