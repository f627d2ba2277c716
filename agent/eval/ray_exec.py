"""Run jobs on a Ray cluster (``--ray ADDRESS``): one Ray task per job, Ray schedules them.

- Each node checks in its own Docker daemon, in its own pool: the driver starts one
  ``NodePool`` actor per live node (pinned there, no CPU reserved); a job's task finds the
  actor of the node it landed on by name. A node that joined later and has none gets a
  pool of the task's own.
- A job's loop runs in the task with a run store in a temporary folder of that node.
- Results stream back to the driver (``ray.wait``), which alone writes the output. A task
  whose worker dies is retried by Ray (``max_retries``) from the start; so a dead worker
  loses at most its jobs in flight, and those run again.
- The actors belong to the driver: they end with it, and ``close`` removes their containers.

Needs the optional extra: ``pip install 'codemend[ray]'``.
"""

from __future__ import annotations

import secrets
import socket
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import ray
import ray.exceptions
from codemend.agent.eval.job import Job, ModelSpec, run_job
from codemend.agent.runs import RunStore
from codemend.sandbox.base import FixResult
from codemend.sandbox.config import SandboxConfig
from codemend.sandbox.errors import CodemendError, InfraError
from codemend.sandbox.report import CheckReport
from codemend.sandbox.workspace import Workspace
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

MAX_RETRIES = 3
"""Times Ray reruns a job whose worker process died (not when the job raised)."""
POOL_CONCURRENCY = 32


@ray.remote(num_cpus=0, max_concurrency=POOL_CONCURRENCY)
class NodePool:
    """The pooled sandbox of one node, shared by every job that runs there."""

    def __init__(self, config: SandboxConfig, size: int) -> None:
        from codemend.sandbox.pool import PooledSandbox

        self.pool = PooledSandbox(config, size=size, max_parallel=size)

    def ready(self) -> str:
        return ray.get_runtime_context().get_node_id()

    def check(self, workspace: Workspace, timeout_s: float | None) -> CheckReport:
        return self.pool.check(workspace, timeout_s=timeout_s)

    def autofix(self, workspace: Workspace) -> FixResult:
        return self.pool.autofix(workspace)

    def close(self) -> None:
        self.pool.close()


class ActorSandbox:
    """The ``Sandbox`` protocol over a node's ``NodePool`` actor."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    def check(self, workspace: Workspace, *, timeout_s: float | None = None) -> CheckReport:
        return ray.get(self.actor.check.remote(workspace, timeout_s))

    def autofix(self, workspace: Workspace) -> FixResult:
        return ray.get(self.actor.autofix.remote(workspace))

    def close(self) -> None:
        """The actor outlives the job; the driver closes it."""


def pool_name(node_id: str, tag: str) -> str:
    return f"codemend-pool-{tag}-{node_id}"


@ray.remote(max_retries=MAX_RETRIES, retry_exceptions=False)
def codemend_eval_job(job: Job, spec: ModelSpec, config: SandboxConfig, tag: str,
                      size: int) -> dict[str, Any]:
    """One job on whichever node Ray picked."""
    node = ray.get_runtime_context().get_node_id()
    try:
        sandbox: Any = ActorSandbox(ray.get_actor(pool_name(node, tag)))
        own = None
    except ValueError:  # a node without a pool actor (it joined after the eval started)
        from codemend.sandbox.pool import PooledSandbox

        own = sandbox = PooledSandbox(config, size=size, max_parallel=size)
    try:
        with tempfile.TemporaryDirectory(prefix="codemend-eval-") as tmp, \
                RunStore(Path(tmp)) as store:
            return run_job(job, store, sandbox, spec)
    finally:
        if own is not None:
            own.close()


class RayExecutor:
    """Same interface as ``LocalExecutor``: ``run`` yields (job, record | error)."""

    def __init__(self, address: str, spec: ModelSpec, config: SandboxConfig, size: int) -> None:
        _reachable(address)
        self.spec, self.config, self.size = spec, config, size
        self.tag = secrets.token_hex(4)
        host = address.rpartition(":")[0]
        try:
            ray.init(address=address, namespace=f"codemend-eval-{self.tag}", log_to_driver=False,
                     configure_logging=False, _node_ip_address=_local_ip(host))
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise InfraError(f"--ray {address}: cannot join the Ray cluster ({exc}); start it "
                             "(`ray start --head` on one node, `ray start --address ...` on "
                             "the others) or fix the address") from None
        # a node runs as many jobs at once as it has CPUs: its pool checks as many at once
        self.actors = [self._pool_actor(n["NodeID"], max(size, int(n["Resources"].get("CPU", 1))))
                       for n in ray.nodes() if n["Alive"]]
        self._pending: dict[Any, Job] = {}
        try:  # every node's Docker daemon and image, before the first job
            ray.get([a.ready.remote() for a in self.actors])
        except ray.exceptions.RayError as exc:
            self.close()
            cause = getattr(exc, "cause", None) or exc
            raise InfraError(f"--ray {address}: a node could not start its sandbox pool "
                             f"({str(cause)[:500]}); check Docker on every node with "
                             "`codemend sandbox doctor`") from None

    def _pool_actor(self, node_id: str, size: int) -> Any:
        return NodePool.options(
            name=pool_name(node_id, self.tag),
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node_id, soft=False),
        ).remote(self.config, size)

    def run(self, jobs: Iterable[Job]) -> Iterator[tuple[Job, dict[str, Any] | BaseException]]:
        for job in jobs:
            ref = codemend_eval_job.remote(job, self.spec, self.config, self.tag, self.size)
            self._pending[ref] = job
        while self._pending:
            ready, _ = ray.wait(list(self._pending), num_returns=1)
            job = self._pending.pop(ready[0])
            try:
                yield job, ray.get(ready[0])
            except ray.exceptions.TaskCancelledError:
                continue
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause if isinstance(exc.cause, BaseException) else exc
                yield job, cause if isinstance(cause, CodemendError) else exc
            except ray.exceptions.RayError as exc:  # the worker died more than MAX_RETRIES
                yield job, InfraError(f"job {job.id}: Ray could not run it ({type(exc).__name__}"
                                      f", after {MAX_RETRIES} retries): {str(exc)[:300]}")

    def stop(self) -> None:
        for ref in list(self._pending):
            ray.cancel(ref)

    def close(self) -> None:
        self.stop()
        try:
            ray.get([a.close.remote() for a in self.actors], timeout=120)
        except ray.exceptions.RayError:
            pass  # a node is gone; its containers go when its Docker daemon reaps them
        finally:
            for actor in self.actors:
                ray.kill(actor)
            ray.shutdown()


def _reachable(address: str) -> None:
    """Fail fast (exit 4) when nothing listens at host:port, instead of Ray's long wait."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        return  # "auto" and the like: Ray resolves them
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            pass
    except OSError as exc:
        raise InfraError(f"--ray {address}: no Ray cluster answers there ({exc.strerror or exc}); "
                         "start its head with `ray start --head --port PORT`") from None


def _local_ip(host: str) -> str | None:
    """The driver's node address: a loopback head (a one-machine cluster) keeps the driver
    on loopback too; otherwise Ray picks the address it reaches the head from."""
    return host if host.startswith("127.") else None
