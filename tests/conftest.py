"""Shared fixtures. Docker tests use the real daemon: under CI=true a missing daemon is a
failure, never a skip. A guard makes any request to a non-local host an error."""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from pathlib import Path

import httpx
import pytest

# tests/ holds shared helpers (contract suite, local OpenAI server): make them importable
sys.path.insert(0, str(Path(__file__).resolve().parent))

pytest_plugins = ["ci_rules", "child_rules"]

LOCAL_NAMES = {"localhost", "testserver"}


def _is_local(host: str) -> bool:
    if host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _no_remote_models(monkeypatch):
    """Refuse any HTTP request (httpx) or TCP connection to a non-loopback address."""
    real_handle = httpx.HTTPTransport.handle_request
    real_connect = socket.socket.connect

    def guarded_handle(self, request):
        if not _is_local(request.url.host):
            raise RuntimeError(f"test tried to reach a non-local model at {request.url}")
        return real_handle(self, request)

    def guarded_connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
            raise RuntimeError(f"test tried to connect to non-local {address}")
        return real_connect(self, address)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", guarded_handle)
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OLLAMA_HOST"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def docker_client():
    """The real Docker daemon. Fails under CI=true when unreachable; skips elsewhere."""
    import docker
    from codemend.sandbox.docker_io import docker_hint

    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means no daemon
        if os.environ.get("CI") == "true":
            pytest.fail(f"Docker is required under CI=true: {docker_hint()} ({exc})")
        pytest.skip(f"no Docker daemon: {exc}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def sandbox_image(docker_client):
    from codemend.sandbox.image import ensure_image

    return ensure_image(docker_client, progress=print)


@pytest.fixture
def leftover_containers(docker_client):
    """Asserts after the test that it left no codemend container behind."""
    from codemend.sandbox.docker_io import list_ours

    me = str(os.getpid())

    def ours() -> set[str]:
        # containers made by this process or by any process it started (CLI children, their
        # Ray workers, orphans of a SIGKILLed child): the `codemend.parents` label lists the
        # maker's ancestors. Another pytest worker's or engineer's containers are not ours.
        found = set()
        for c in list_ours(docker_client):
            labels = c.get("Labels") or {}
            if labels.get("codemend.pid") == me or me in labels.get("codemend.parents", "").split():
                found.add(c["Id"])
        return found

    before = ours()
    yield
    after = ours() - before
    assert not after, f"containers left behind: {sorted(a[:12] for a in after)}"
