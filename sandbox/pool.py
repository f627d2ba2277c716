"""PooledSandbox: hardened containers started ahead of need, served over one channel each.

Each pooled container runs the runner's zygote as its PID 1 (``--zygote``: root with the
runner's four capabilities, under the same hardened host config as the cold sandbox). It
imports pytest and warms it up once, never sees a workspace, and forks a worker per
check that resets the container, proves it clean and says "ready". The host keeps the
container's attach stream open for the container's whole life: that is the channel
(sandbox/channel.py). A check only writes its request (manifest and workspace tar) and
reads one report: no ``docker exec``, no interpreter start, no pytest start-up beyond
the run itself. pytest runs in a fork of the worker that drops privileges exactly like
the runner's subprocesses.

By default (``max_reuses=0``) every check gets a fresh container: its request says it is
the last, so the zygote ends after the report and the container is removed while the
pool refills. With ``max_reuses=N`` a container serves up to N more checks, but only if
its check did not time out, run out of memory, flood its output or fail for
infrastructure reasons, and only after the next worker reset it and proved it clean (no
process but PID 1 and itself; every scratch directory empty; no System V IPC object): it
says "ready" only then. Anything else removes the container.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

import docker
import docker.errors
import requests
from codemend.sandbox.channel import Channel, ChannelError, Overflow, WorkerEnded
from codemend.sandbox.cold import ENV, RunnerChecks, stream_cap
from codemend.sandbox.config import SandboxConfig
from codemend.sandbox.docker_io import (
    RUNNER,
    connect,
    docker_hint,
    hardened_host_config,
    labels,
    list_ours,
    oom_killed,
    reap_orphans,
    remove_quietly,
)
from codemend.sandbox.errors import BadInput, DockerUnavailable, InfraError
from codemend.sandbox.image import ensure_image
from codemend.sandbox.verdict import RunFacts, runner_doc

# Not -I: the zygote must see PYTHONHASHSEED, as the pytest of a cold check does.
# -s and -P keep user site-packages and the script's folder out of sys.path instead.
ZYGOTE = ["/opt/venv/bin/python", "-s", "-P", RUNNER[-1], "--zygote"]
ZYGOTE_ENV = {**ENV, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"}
READY_TIMEOUT_S = 60.0
TAKE_TIMEOUT_S = 120.0


@dataclass(eq=False)
class Slot:
    """One pooled container and the channel to its zygote."""

    cid: str
    checks: int = 0
    channel: Channel | None = None


class NoSlot(Exception):
    """No warm container could be had; ``fatal`` errors are raised, others reported."""

    def __init__(self, error: Exception, fatal: bool) -> None:
        super().__init__(str(error))
        self.error, self.fatal = error, fatal


class PooledSandbox(RunnerChecks):
    """Warm hardened containers: fast checks, each one as isolated as a cold check."""

    name = "pool"

    def __init__(self, config: SandboxConfig | None = None,
                 client: docker.DockerClient | None = None, *, size: int = 2,
                 max_reuses: int = 0, max_parallel: int | None = None, progress=None) -> None:
        if size < 1 or max_reuses < 0 or (max_parallel is not None and max_parallel < 1):
            raise BadInput("pool: size and max_parallel must be at least 1, max_reuses at least 0")
        self.config = config or SandboxConfig()
        self._own_client = client is None
        self.client = connect(client)
        self.image = self.config.image or ensure_image(self.client, progress=progress)
        reap_orphans(self.client, self.config.label)
        self.size, self.max_reuses = size, max_reuses
        self.max_parallel = max_parallel or size
        self._parallel = threading.BoundedSemaphore(self.max_parallel)
        self._cond = threading.Condition()
        self._ready: deque[Slot] = deque()
        self._rewarm: deque[Slot] = deque()
        self._trash: deque[Slot] = deque()
        self._in_use: set[Slot] = set()
        self._live: dict[str, Slot] = {}
        self.pool_id = secrets.token_hex(6)
        """Carried by this pool's containers as the label ``<label>.pool``."""
        self._labels = {**labels(self.config, "pool"), f"{self.config.label}.pool": self.pool_id}
        self._warming = 0
        self._removing = 0
        self._error: NoSlot | None = None
        self._closed = False
        self._threads = [threading.Thread(target=self._refill_loop, daemon=True,
                                          name=f"codemend-pool-{i}")
                         for i in range(min(size, 4))]
        for thread in self._threads:
            thread.start()

    # -- the Sandbox protocol ----------------------------------------------------------
    def close(self) -> None:
        """Remove every container of this pool (idle, in use or awaiting removal)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=60)
        with self._cond:
            slots = list(self._live.values())
        for slot in slots:
            self._remove(slot)
        try:  # belt and braces: a container of this pool that slipped through
            for c in list_ours(self.client, self.config.label):
                if (c.get("Labels") or {}).get(f"{self.config.label}.pool") == self.pool_id:
                    remove_quietly(self.client.api, c["Id"])
        finally:
            if self._own_client:
                self.client.close()

    def stats(self) -> dict[str, int]:
        """Containers by state, for benchmarks and diagnostics."""
        with self._cond:
            return {"ready": len(self._ready), "warming": self._warming + len(self._rewarm),
                    "in_use": len(self._in_use), "removing": len(self._trash) + self._removing,
                    "live": len(self._live)}

    def containers(self) -> set[str]:
        """Ids of every container this pool holds right now."""
        with self._cond:
            return set(self._live)

    def wait_ready(self, timeout_s: float = 60.0) -> bool:
        """Wait until the pool is full and idle (``size`` warm containers, nothing else
        under way): for benchmarks and tests. False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not (len(self._ready) >= self.size and not self._warming
                       and not self._rewarm and not self._trash and not self._removing
                       and not self._in_use):
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    return False
                self._cond.wait(min(left, 0.5))
            return True

    # -- one check ---------------------------------------------------------------------
    def run(self, m: dict, payload: bytes, timeout_s: float) -> RunFacts:
        """Run one manifest on a warm container; remove or (if proven clean) reuse it."""
        started = time.monotonic()
        with self._parallel:
            slot = None
            try:
                slot = self._take()
                last = slot.checks + 1 > self.max_reuses
                facts, doc = self._exchange(slot, {**m, "last": last}, payload, timeout_s)
            except NoSlot as exc:
                if exc.fatal:
                    raise exc.error from exc
                return RunFacts(stdout=b"", stderr=b"", duration_s=time.monotonic() - started,
                                error=f"no pooled container: {exc}")
            except BaseException:
                if slot is not None:
                    self._release(slot, reuse=False, now=True)
                raise
            reuse = slot.checks + 1 <= self.max_reuses and _reusable(facts, doc)
            self._release(slot, reuse=reuse, now=facts.host_killed or facts.truncated)
            return facts

    def _exchange(self, slot: Slot, m: dict, payload: bytes,
                  timeout_s: float) -> tuple[RunFacts, dict | None]:
        """One request and its report over the slot's channel. Never raises for what the
        checked code does; a runaway check gets its container killed."""
        api = self.client.api
        started = time.monotonic()
        deadline = started + timeout_s + self.config.host_grace_s
        channel = slot.channel
        if channel is None:
            raise InfraError("a pooled container has no channel (it was never started)")
        channel.take_stderr()  # what came before this check is not its business
        facts = RunFacts(stdout=b"", stderr=b"", duration_s=0.0)
        try:
            channel.send(json.dumps(m).encode(), payload, deadline)
            kind, body = channel.receive(deadline, stream_cap(self.config))
            if kind == "report":
                facts.stdout = body
            else:
                facts.error = f"the container sent {kind!r} instead of a report"
        except TimeoutError:
            facts.host_killed = True
        except Overflow:
            facts.truncated = True
        except WorkerEnded as exc:
            facts.exit_code, facts.error = exc.code, str(exc)
        except ChannelError as exc:
            facts.error = str(exc)
        facts.stderr = channel.take_stderr()
        facts.duration_s = time.monotonic() - started
        doc = runner_doc(facts)
        try:
            if facts.host_killed or facts.truncated:
                # closing the channel does not stop what runs inside: stop it all
                _kill(api, slot.cid)
            elif doc is None:
                facts.oom_killed = oom_killed(api, slot.cid)
        except requests.exceptions.ConnectionError as exc:
            raise DockerUnavailable(docker_hint()) from exc
        except docker.errors.DockerException as exc:
            facts.error = facts.error or f"docker: {exc}"
        return facts, doc

    # -- the pool ----------------------------------------------------------------------
    def _take(self) -> Slot:
        deadline = time.monotonic() + TAKE_TIMEOUT_S
        with self._cond:
            while not self._ready:
                if self._closed:
                    raise NoSlot(InfraError("the sandbox pool is closed"), fatal=True)
                if self._error is not None:
                    raise self._error
                left = deadline - time.monotonic()
                if left <= 0:
                    raise NoSlot(InfraError(f"no pooled container was ready within "
                                            f"{TAKE_TIMEOUT_S:g} s"), fatal=False)
                self._cond.wait(left)
            slot = self._ready.popleft()
            self._in_use.add(slot)
            self._cond.notify_all()
            return slot

    def _release(self, slot: Slot, *, reuse: bool, now: bool) -> None:
        """Queue ``slot`` for a new exec (reuse), for removal in the background, or
        remove it right away (``now``: a runaway check, an exception, a closed pool)."""
        with self._cond:
            self._in_use.discard(slot)
            slot.checks += 1
            keep = reuse and not self._closed
            later = not keep and not now and not self._closed
            if keep:
                self._rewarm.append(slot)
            elif later:
                self._trash.append(slot)
            self._cond.notify_all()
        if not (keep or later):
            self._remove(slot)

    def _need_new(self) -> bool:
        coming_back = sum(1 for s in self._in_use if s.checks + 1 <= self.max_reuses)
        return (len(self._ready) + self._warming + len(self._rewarm) + coming_back
                < self.size)

    def _refill_loop(self) -> None:
        failures = 0
        while True:
            with self._cond:
                while not (self._closed or self._trash or self._rewarm or self._need_new()):
                    self._cond.wait()
                if self._closed:
                    return
                if self._trash:
                    slot, warm = self._trash.popleft(), False
                    self._removing += 1
                else:
                    slot, warm = (self._rewarm.popleft() if self._rewarm else None), True
                    self._warming += 1
            if not warm:
                if slot is not None:
                    self._remove(slot)
                with self._cond:
                    self._removing -= 1
                    self._cond.notify_all()
                continue
            reused = slot is not None
            try:
                slot = self._warm(slot)
            except NoSlot as exc:
                with self._cond:
                    self._warming -= 1
                    if not reused or exc.fatal:  # a reused one that is not clean: just gone
                        self._error = exc
                    self._cond.notify_all()
                if not reused or exc.fatal:
                    failures += 1
                    time.sleep(min(5.0, 0.1 * 2 ** failures))
                continue
            failures = 0
            with self._cond:
                self._warming -= 1
                self._error = None
                if not self._closed:
                    self._ready.append(slot)
                    self._cond.notify_all()
                    continue
            self._remove(slot)

    def _warm(self, slot: Slot | None) -> Slot:
        """Create and start a container with its channel attached (unless reusing
        ``slot``); wait until its worker says the container is proven clean."""
        api = self.client.api
        try:
            if slot is None:
                cid = api.create_container(
                    self.image, command=ZYGOTE, user="0", environment=ZYGOTE_ENV,
                    stdin_open=True, tty=False, network_disabled=True,
                    use_config_proxy=False, working_dir="/work", labels=self._labels,
                    host_config=hardened_host_config(api, self.config))["Id"]
                slot = Slot(cid)
                with self._cond:
                    self._live[cid] = slot
                slot.channel = Channel(api.attach_socket(
                    cid, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}))
                api.start(cid)
            if slot.channel is None:
                raise InfraError("a pooled container has no channel")
            _await_ready(slot.channel)
            return slot
        except Exception as exc:
            if slot is not None:
                self._remove(slot)
            if isinstance(exc, requests.exceptions.ConnectionError):
                raise NoSlot(DockerUnavailable(docker_hint()), fatal=True) from exc
            if isinstance(exc, docker.errors.ImageNotFound):
                raise NoSlot(InfraError(f"sandbox image {self.image} is missing: run "
                                        "`codemend sandbox build`"), fatal=True) from exc
            raise NoSlot(InfraError(f"could not start a pooled container: {exc}"),
                         fatal=False) from exc

    def _remove(self, slot: Slot) -> None:
        if slot.channel is not None:
            slot.channel.close()
            slot.channel = None
        with self._cond:
            self._live.pop(slot.cid, None)
        try:
            remove_quietly(self.client.api, slot.cid)
        except (InfraError, requests.exceptions.ConnectionError):
            pass  # reap_orphans removes it on the next start


def _await_ready(channel: Channel) -> None:
    """Wait for the worker to say that the container is proven clean."""
    kind, body = channel.receive(time.monotonic() + READY_TIMEOUT_S, 1 << 20)
    if kind == "unclean":
        raise OSError(f"the container could not be proven clean: {body[:500]!r}")
    if kind != "ready":
        raise OSError(f"the container sent {kind!r} instead of ready")
    channel.take_stderr()


def _reusable(facts: RunFacts, doc: dict | None) -> bool:
    """True only for a run that ended normally (the next worker still proves it clean)."""
    if doc is None or facts.truncated or facts.host_killed or facts.oom_killed or facts.error:
        return False
    if doc.get("oom_kills_after", 0) > doc.get("oom_kills_before", 0):
        return False
    steps = [doc.get("ruff") or {}, doc.get("pytest") or {}, *(doc.get("steps") or {}).values()]
    return not any(s.get("timed_out") or s.get("output_limit") for s in steps)


def _kill(api: docker.APIClient, cid: str) -> None:
    try:
        api.kill(cid)
    except docker.errors.APIError:
        pass  # already stopped: it is removed next either way
