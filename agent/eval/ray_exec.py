"""Run jobs on a Ray cluster (``--ray ADDRESS``): one Ray task per job, Ray schedules them.

- Jobs are spread over the nodes' CPUs: the i-th job prefers the node of the i-th CPU
  (nodes interleaved), and runs wherever a CPU is free when that node is busy or dead.

- Each node checks in its own Docker daemon, in its own pool: the driver starts one
  ``NodePool`` actor per live node that has CPUs (pinned there, no CPU reserved; a head
  started with ``--num-cpus 0`` runs no job and needs no Docker); a job's task finds the
  actor of the node it landed on by name. A node that joined later and has none gets a
  pool of the task's own. A node whose daemon lacks the check image builds it (the driver
  says so, and gives up after ``IMAGE_BUILD_TIMEOUT_S``).
- A job's loop runs in the task with a run store in a temporary folder of that node. A
  repository task gets the work tree as the driver read it (a snapshot in Ray's object
  store): no node needs the driver's folders. Each record names the daemon that checked
  it (``daemon``: host name and Docker root dir).
- Results stream back to the driver (``ray.wait``), which alone writes the output. A task
  whose worker dies is retried by Ray (``max_retries``) from the start; so a dead worker
  loses at most its jobs in flight, and those run again.
- ``stop`` closes a gate: a job that has not started yet ends at once without running, a
  running one finishes and reports (nothing is cancelled inside a running task).
- The actors belong to the driver: they end with it, and ``close`` removes their containers.

Needs the optional extra: ``pip install 'codemend[ray]'``.
"""

from __future__ import annotations

import secrets
import socket
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import ray
import ray.exceptions
from codemend.agent.eval.job import run_job
from codemend.agent.eval.jobspec import Job, ModelSpec
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
IMAGE_BUILD_TIMEOUT_S = 1800.0
"""How long the driver waits for the nodes' pools when one has to build the check image."""


def daemon_id(client: Any) -> str:
    """Which Docker daemon a client talks to: its host name and root dir (the engine ID
    comes from a key file that daemons of one machine share)."""
    info = client.info()
    return f"{info.get('Name', '?')}:{info.get('DockerRootDir', '?')}"


# Ray types actor options and remote calls by overloads that do not cover these (checked at
# run time by Ray itself and by tests/eval/test_eval_ray.py).
@ray.remote(num_cpus=0, max_concurrency=POOL_CONCURRENCY)  # pyright: ignore[reportCallIssue]
class NodePool:
    """The pooled sandbox of one node, shared by every job that runs there."""

    def __init__(self, config: SandboxConfig, size: int) -> None:
        self.config, self.size = config, size
        self.pool: Any = None
        self.daemon = ""

    def probe(self) -> dict[str, Any]:
        """This node's daemon, and whether it holds the check image (quick: builds nothing)."""
        from codemend.sandbox.docker_io import connect
        from codemend.sandbox.image import image_exists, image_tag

        client = connect()
        try:
            tag = self.config.image or image_tag(client)
            return {"node": ray.get_runtime_context().get_node_id(),
                    "daemon": daemon_id(client), "image": tag,
                    "has_image": image_exists(client, tag)}
        finally:
            client.close()

    def start(self) -> str:
        """Start the pool (building the image first when the daemon lacks it)."""
        from codemend.sandbox.pool import PooledSandbox

        self.pool = PooledSandbox(self.config, size=self.size, max_parallel=self.size)
        self.daemon = daemon_id(self.pool.client)
        return self.daemon

    def daemon_name(self) -> str:
        return self.daemon

    def check(self, workspace: Workspace, timeout_s: float | None) -> CheckReport:
        return self.pool.check(workspace, timeout_s=timeout_s)

    def autofix(self, workspace: Workspace) -> FixResult:
        return self.pool.autofix(workspace)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()


@ray.remote(num_cpus=0)
class Gate:
    """Open until the driver stops the eval; a job that finds it closed does not start."""

    def __init__(self) -> None:
        self.open = True

    def enter(self) -> bool:
        return self.open

    def close(self) -> None:
        self.open = False


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


def spread(nodes: list[tuple[str, int]]) -> list[str]:
    """Node IDs, one per CPU, interleaved: [(a, 2), (b, 1)] gives [a, b, a]."""
    most = max((cpus for _, cpus in nodes), default=0)
    return [node for i in range(most) for node, cpus in nodes if cpus > i]


def pool_name(node_id: str, tag: str) -> str:
    return f"codemend-pool-{tag}-{node_id}"


@ray.remote(max_retries=MAX_RETRIES, retry_exceptions=False)
def codemend_eval_job(job: Job, spec: ModelSpec, config: SandboxConfig, tag: str,
                      size: int, gate: Any, snapshot: Any = None) -> dict[str, Any] | None:
    """One job on whichever node Ray picked; None when the eval stopped before it began."""
    if not ray.get(gate.enter.remote()):
        return None
    node = ray.get_runtime_context().get_node_id()
    try:
        actor = ray.get_actor(pool_name(node, tag))
        sandbox: Any = ActorSandbox(actor)
        daemon = ray.get(actor.daemon_name.remote())
        own = None
    except ValueError:  # a node without a pool actor (it joined after the eval started)
        from codemend.sandbox.pool import PooledSandbox

        own = sandbox = PooledSandbox(config, size=size, max_parallel=size)
        daemon = daemon_id(own.client)
    try:
        with tempfile.TemporaryDirectory(prefix="codemend-eval-") as tmp, \
                RunStore(Path(tmp)) as store:
            return {**run_job(job, store, sandbox, spec, snapshot), "daemon": daemon,
                    "node": node}
    finally:
        if own is not None:
            own.close()


class RayExecutor:
    """Same interface as ``LocalExecutor``: ``run`` yields (job, record | error)."""

    def __init__(self, address: str, spec: ModelSpec, config: SandboxConfig, size: int, *,
                 progress: Callable[[str], None] | None = None,
                 image_timeout_s: float | None = None) -> None:
        """``image_timeout_s``: how long to wait for a node that builds the check image
        (``IMAGE_BUILD_TIMEOUT_S`` as it is when the executor starts, by default)."""
        _reachable(address)
        self.spec, self.config, self.size = spec, config, size
        self.say = progress or (lambda _: None)
        self.tag = secrets.token_hex(4)
        host = address.rpartition(":")[0]
        try:
            ray.init(address=address, namespace=f"codemend-eval-{self.tag}", log_to_driver=False,
                     configure_logging=False, _node_ip_address=_local_ip(host))
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise InfraError(f"--ray {address}: cannot join the Ray cluster ({exc}); start it "
                             "(`ray start --head` on one node, `ray start --address ...` on "
                             "the others) or fix the address") from None
        self._pending: dict[Any, Job] = {}
        self.gate = Gate.remote()
        # a node runs as many jobs at once as it has CPUs: its pool checks as many at once;
        # a node without CPUs runs no job and gets no pool
        workers = [n for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU", 0) > 0]
        self.actors = [self._pool_actor(n["NodeID"], max(size, int(n["Resources"]["CPU"])))
                       for n in workers]
        self.slots = spread([(n["NodeID"], int(n["Resources"]["CPU"])) for n in workers])
        if not self.actors:
            self.close()
            raise InfraError(f"--ray {address}: no node of the cluster has a CPU to run jobs "
                             "on; add one with `ray start --address ...`")
        self._start_pools(address, IMAGE_BUILD_TIMEOUT_S if image_timeout_s is None
                          else image_timeout_s)

    def _start_pools(self, address: str, timeout_s: float) -> None:
        """Every node's Docker daemon and image, before the first job."""
        try:
            probes = ray.get([a.probe.remote() for a in self.actors])
            building = [p for p in probes if not p["has_image"]]
            for p in building:
                self.say(f"node {p['node'][:12]} ({p['daemon']}) has no check image "
                         f"{p['image']}: building it there (up to {timeout_s:.0f} s)")
            ray.get([a.start.remote() for a in self.actors],
                    timeout=timeout_s if building else None)
        except ray.exceptions.GetTimeoutError:
            self.close()
            raise InfraError(f"--ray {address}: the check image was not built within "
                             f"{timeout_s:.0f} s on {', '.join(p['daemon'] for p in building)}"
                             "; build it there first (`codemend sandbox build`)") from None
        except ray.exceptions.RayError as exc:
            self.close()
            cause = getattr(exc, "cause", None) or exc
            raise InfraError(f"--ray {address}: a node could not start its sandbox pool "
                             f"({str(cause)[:500]}); check Docker on every node with "
                             "`codemend sandbox doctor`") from None

    def _pool_actor(self, node_id: str, size: int) -> Any:
        return NodePool.options(  # pyright: ignore[reportAttributeAccessIssue]
            name=pool_name(node_id, self.tag),
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node_id, soft=False),
        ).remote(self.config, size)

    def run(self, jobs: Iterable[Job]) -> Iterator[tuple[Job, dict[str, Any] | BaseException]]:
        jobs = list(jobs)
        snapshots = self._snapshots(jobs)
        for i, job in enumerate(jobs):
            # the i-th job prefers the i-th CPU slot's node; busy, it goes where a CPU is
            # free, and a dead node's jobs run elsewhere (so every daemon takes a share)
            prefer = NodeAffinitySchedulingStrategy(
                node_id=self.slots[i % len(self.slots)], soft=True, _spill_on_unavailable=True)
            ref = codemend_eval_job.options(  # pyright: ignore[reportFunctionMemberAccess]
                scheduling_strategy=prefer,
            ).remote(job, self.spec, self.config, self.tag, self.size, self.gate,
                     snapshots.get(job.task.id))  # pyright: ignore[reportCallIssue]
            self._pending[ref] = job
        yield from self.finished()

    def _snapshots(self, jobs: list[Job]) -> dict[str, Any]:
        """Each repository's work tree, read here once and put in Ray's object store."""
        from codemend.agent.repo.snapshot import load_repo

        repos = {j.task.id: j.task.repo for j in jobs if j.task.repo is not None}
        out = {tid: ray.put(load_repo(Path(root))) for tid, root in repos.items()}
        if out:
            self.say(f"shipping {len(out)} repository snapshots to the nodes")
        return out

    def finished(self) -> Iterator[tuple[Job, dict[str, Any] | BaseException]]:
        """The jobs still out, as they finish (again after an interruption)."""
        while self._pending:
            ready, _ = ray.wait(list(self._pending), num_returns=1)
            job = self._pending[ready[0]]
            try:
                rec = ray.get(ready[0])
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause if isinstance(exc.cause, BaseException) else exc
                rec = cause if isinstance(cause, CodemendError) else exc
            except ray.exceptions.RayError as exc:  # the worker died more than MAX_RETRIES
                rec = InfraError(f"job {job.id}: Ray could not run it ({type(exc).__name__}"
                                 f", after {MAX_RETRIES} retries): {str(exc)[:300]}")
            del self._pending[ready[0]]
            if rec is not None:  # None: stopped before it began
                yield job, rec

    def stop(self) -> None:
        """Start no further job; the running ones finish and report."""
        ray.get(self.gate.close.remote())

    def close(self) -> None:
        try:
            ray.get(self.gate.close.remote(), timeout=60)
            ray.get([a.close.remote() for a in self.actors], timeout=120)
        except ray.exceptions.RayError:
            pass  # a node is gone; its containers go when its Docker daemon reaps them
        finally:
            for actor in [*self.actors, self.gate]:
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
