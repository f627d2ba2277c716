"""The cold sandbox runs the whole Sandbox contract."""

from __future__ import annotations

import pytest
from codemend.sandbox.cold import ColdSandbox
from contract.sandbox_contract import SandboxContract


@pytest.fixture(scope="module")
def sandbox(docker_client, sandbox_image):
    with ColdSandbox(client=docker_client) as sb:
        yield sb


class TestColdSandbox(SandboxContract):
    pass
