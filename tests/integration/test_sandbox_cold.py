"""The cold sandbox runs the whole Sandbox contract."""

from __future__ import annotations

import pytest
from contract.sandbox_contract import SandboxContract

from sandbox.cold import ColdSandbox


@pytest.fixture(scope="module")
def sandbox(docker_client, sandbox_image):
    with ColdSandbox(client=docker_client) as sb:
        yield sb


class TestColdSandbox(SandboxContract):
    pass
