"""breakdown: where the time of one check goes, step by step (medians over ``rounds``).

cold: the Docker calls of ColdSandbox.run timed one by one (create, attach, start +
runner, wait, remove). pooled: the steps of a warm container done ahead of need
(create, attach + start with the zygote as PID 1, its imports and warm-up until the first
"ready", a worker's fork and reset for a reused container) and of the check itself (send
the request over the channel, runner, report). Inside the runner: its own duration and pytest's. On the
host: building the tar and parsing the report. Plus single ``docker exec`` round trips
that price the start-up pieces (exec itself, python, importing pytest, ruff).
"""

from __future__ import annotations

import json
import time

import docker
from codemend.sandbox.channel import Channel
from codemend.sandbox.cold import ENV, manifest, stream_cap
from codemend.sandbox.config import SandboxConfig
from codemend.sandbox.docker_io import (
    RUNNER,
    close_socket,
    exchange,
    hardened_host_config,
    labels,
    remove_quietly,
)
from codemend.sandbox.image import ensure_image
from codemend.sandbox.pool import ZYGOTE, ZYGOTE_ENV
from codemend.sandbox.verdict import RunFacts, build_report, runner_doc

from bench.common import machine, median, say, small_task, table

MICRO = {
    "exec `true`": ["true"],
    "exec python3 -I -c pass": ["python3", "-I", "-c", "pass"],
    "exec python -c 'import pytest'": ["/opt/venv/bin/python", "-c", "import pytest"],
    "exec ruff --version": ["/opt/venv/bin/ruff", "--version"],
}


class Clock:
    """Collects named step durations (ms) over rounds."""

    def __init__(self) -> None:
        self.steps: dict[str, list[float]] = {}
        self.t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.add(name, (now - self.t) * 1000)
        self.t = now

    def add(self, name: str, ms: float) -> None:
        self.steps.setdefault(name, []).append(ms)


def _doc_steps(clock: Clock, prefix: str, doc: dict | None) -> None:
    if doc:
        clock.add(f"{prefix} runner (inside, reported)", 1000 * doc.get("duration_s", 0))
        clock.add(f"{prefix} pytest (inside, reported)",
                  1000 * (doc.get("pytest") or {}).get("duration_s", 0))


def _cold(api, image: str, cfg: SandboxConfig, clock: Clock) -> None:
    ws = small_task()
    clock.t = time.perf_counter()
    payload = ws.tar_bytes()
    clock.lap("host: build tar")
    m = manifest(ws, cfg, 60, "check")
    cid = api.create_container(image, command=[*RUNNER, json.dumps(m)], user="0",
                               environment=ENV, stdin_open=True, network_disabled=True,
                               labels=labels(cfg, "bench"), working_dir="/work",
                               host_config=hardened_host_config(api, cfg))["Id"]
    clock.lap("cold: create container")
    sock = api.attach_socket(cid, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
    clock.lap("cold: attach")
    api.start(cid)
    clock.lap("cold: start")
    got = exchange(sock, payload, time.monotonic() + 60, stream_cap(cfg))
    close_socket(sock)
    clock.lap("cold: send tar, runner, EOF")
    api.wait(cid, timeout=60)
    clock.lap("cold: wait exit")
    remove_quietly(api, cid)
    clock.lap("cold: remove container")
    facts = RunFacts(stdout=got.stdout, stderr=got.stderr, duration_s=0)
    build_report(facts, f"/work/{m['token']}", 60)
    clock.lap("host: parse report")
    _doc_steps(clock, "cold:", runner_doc(facts))


def _pooled(api, image: str, cfg: SandboxConfig, clock: Clock) -> None:
    ws = small_task()
    clock.t = time.perf_counter()
    cid = api.create_container(image, command=ZYGOTE, user="0", environment=ZYGOTE_ENV,
                               stdin_open=True, network_disabled=True,
                               labels=labels(cfg, "bench"), working_dir="/work",
                               host_config=hardened_host_config(api, cfg))["Id"]
    channel = None
    try:
        clock.lap("pool, ahead: create container")
        channel = Channel(api.attach_socket(cid, params={"stdin": 1, "stdout": 1,
                                                         "stderr": 1, "stream": 1}))
        api.start(cid)
        clock.lap("pool, ahead: attach + start (zygote as PID 1)")
        for n in range(3):  # the first waits for the zygote's imports and warm-up
            kind, _ = channel.receive(time.monotonic() + 60, 1 << 20)
            assert kind == "ready", kind
            clock.lap("pool, ahead: " + ("zygote imports + warms pytest, worker resets"
                                         if n == 0 else "reuse: worker forks, resets"))
            if n < 2:
                time.sleep(0.2)  # what the pool has between checks
                clock.t = time.perf_counter()
                m = manifest(ws, cfg, 60, "check")
                channel.send(json.dumps(m).encode(), ws.tar_bytes(), time.monotonic() + 60)
                _, body = channel.receive(time.monotonic() + 60, stream_cap(cfg))
                clock.lap("pool: send request, runner runs, report" + (" (reused)" if n else ""))
                facts = RunFacts(stdout=body, stderr=b"", duration_s=0)
                build_report(facts, f"/work/{m['token']}", 60)
                _doc_steps(clock, "pool:" if n == 0 else "pool (reused):", runner_doc(facts))
        for name, cmd in MICRO.items():
            clock.t = time.perf_counter()
            ex = api.exec_create(cid, cmd, stdin=True, user="0", environment=ZYGOTE_ENV)["Id"]
            s = api.exec_start(ex, socket=True)
            exchange(s, b"", time.monotonic() + 60, 1 << 20)
            close_socket(s)
            clock.lap(f"micro: {name}")
    finally:
        if channel is not None:
            channel.close()
        clock.t = time.perf_counter()
        remove_quietly(api, cid)
        clock.lap("pool, after: remove container")


def run(rounds: int = 20) -> tuple[dict, str]:
    cfg = SandboxConfig()
    client = docker.from_env(timeout=120)
    clock = Clock()
    try:
        image = ensure_image(client)
        for n in range(rounds + 1):
            probe = Clock()
            _cold(client.api, image, cfg, probe)
            _pooled(client.api, image, cfg, probe)
            if n:  # round 0 warms caches
                for name, values in probe.steps.items():
                    clock.steps.setdefault(name, []).extend(values)
            say(f"breakdown: round {n}/{rounds}")
    finally:
        client.close()
    steps = {name: round(median(v), 1) for name, v in clock.steps.items()}
    result = {"bench": "breakdown", "rounds": rounds, "steps_ms": steps, "machine": machine()}
    return result, table(list(steps.items()), ("step", "median ms"))
