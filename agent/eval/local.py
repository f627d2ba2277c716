"""Run jobs on this machine: W at once in threads, all on one shared (thread-safe) pool."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any

from codemend.agent.eval.job import run_job
from codemend.agent.eval.jobspec import Job, ModelSpec
from codemend.agent.runs import RunStore
from codemend.sandbox.base import Sandbox

Finished = tuple[Job, dict[str, Any] | BaseException]


class LocalExecutor:
    """``run`` yields each job as it finishes, with its record or the error it raised.
    After ``stop`` no further job starts; the ones already running still report."""

    def __init__(self, workers: int, store: RunStore, sandbox: Sandbox, spec: ModelSpec) -> None:
        self.workers, self.store, self.sandbox, self.spec = workers, store, sandbox, spec
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="codemend-eval")
        self._futures: dict[Future, Job] = {}
        self._reported: set[Future] = set()

    def run(self, jobs: Iterable[Job]) -> Iterator[Finished]:
        for job in jobs:
            fut = self._pool.submit(run_job, job, self.store, self.sandbox, self.spec)
            self._futures[fut] = job
        yield from self.finished()

    def finished(self) -> Iterator[Finished]:
        """The jobs still out, as they finish (again after an interruption)."""
        for fut in as_completed([f for f in self._futures if f not in self._reported]):
            self._reported.add(fut)
            if fut.cancelled():
                continue
            exc = fut.exception()
            yield self._futures[fut], exc if exc is not None else fut.result()

    def stop(self) -> None:
        for fut in self._futures:
            fut.cancel()

    def close(self) -> None:
        self.stop()
        self._pool.shutdown(wait=True, cancel_futures=True)
