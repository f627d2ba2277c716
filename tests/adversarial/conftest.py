"""Fixtures for the adversarial corpus: one sandbox per backend, shared by every case
(so each case also proves the next check on the same sandbox still works)."""

from __future__ import annotations

import importlib.util
import os

import pytest
from codemend.sandbox.config import SandboxConfig
from codemend.sandbox.docker_io import list_ours

# the cases are hostile data for the sandbox: never collect anything below cases/
collect_ignore = ["cases"]


def kind_params() -> list:
    """Both backends; the pool is skipped only while its module does not exist yet."""
    missing = importlib.util.find_spec("codemend.sandbox.pool") is None
    return ["cold", pytest.param("pool", marks=pytest.mark.skipif(
        missing, reason="sandbox/pool.py is not there yet"))]


@pytest.fixture(scope="module", params=kind_params())
def adv_sandbox(request, docker_client, sandbox_image):
    """A sandbox of each kind with the default hardened settings users get."""
    from codemend.sandbox.factory import make_sandbox

    config = SandboxConfig()
    kw = {"size": 2} if request.param == "pool" else {}
    sb = make_sandbox(request.param, config, docker_client, **kw)
    try:
        yield sb
    finally:
        sb.close()
    stray = _mine(docker_client)
    assert not stray, f"containers left after closing the {request.param} sandbox: {stray}"


def _mine(client) -> list[str]:
    return sorted(c["Id"][:12] for c in list_ours(client)
                  if (c.get("Labels") or {}).get("codemend.pid") == str(os.getpid()))


@pytest.fixture
def no_leftover_containers(docker_client, adv_sandbox):
    """After a case: every container this process made is one the sandbox still holds
    (none at all for the cold sandbox). Like the shared ``leftover_containers``, but only
    this process's containers count: other engineers' runs may share the daemon."""
    before = set(_mine(docker_client))
    yield
    held: set[str] = set()
    if adv_sandbox.name != "cold":
        assert adv_sandbox.wait_ready(300), adv_sandbox.stats()  # hang bound
        held = {c[:12] for c in adv_sandbox.containers()}
    stray = set(_mine(docker_client)) - before - held
    assert not stray, f"containers left behind: {sorted(stray)}"
