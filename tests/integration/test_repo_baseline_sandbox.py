"""Baseline errors the host does not have (issue 16, item 5), in the real sandbox: pytest's
own deprecations under a project's ``filterwarnings = error`` (click 8.1's "1 errors"), and
a test that needs the network, reported as the environment's failure and never a target."""

from __future__ import annotations

import pytest
from codemend.agent.repo.baseline import run_baseline
from codemend.agent.repo.environment import REPO_DEFAULTS
from codemend.agent.repo.snapshot import load_repo
from codemend.sandbox.config import SandboxConfig
from codemend.sandbox.factory import make_sandbox
from repo_projects import commit, git

pytestmark = pytest.mark.docker

CLICK_LIKE = {
    "setup.cfg": "[tool:pytest]\ntestpaths = tests\nfilterwarnings =\n    error\n",
    "pkg/__init__.py": "def double(x):\n    return 2 * x\n",
    # a parametrize over an iterator: deprecated by pytest 9, fine in the pytest click pins
    "tests/test_pkg.py": "import itertools\n\nimport pytest\nfrom pkg import double\n\n\n"
                         "@pytest.mark.parametrize('x', itertools.chain([1], [2]))\n"
                         "def test_double(x):\n    assert double(x) == x + x\n\n\n"
                         "def test_sum():\n    assert double(2) == 5\n",
    "tests/test_net.py": "import socket\n\n\ndef test_resolves():\n"
                         "    assert socket.getaddrinfo('example.org', 443)\n",
}


@pytest.fixture(scope="module")
def cold(docker_client, sandbox_image):
    with make_sandbox("cold", SandboxConfig(**REPO_DEFAULTS), docker_client) as sb:
        yield sb


def test_the_checks_own_pytest_deprecations_and_the_network_are_not_targets(cold, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "a project whose warnings are errors", CLICK_LIKE)
    got = run_baseline(cold, load_repo(repo), 120)
    outcomes = {c.id: c.outcome for c in got.report.tests.cases}
    assert outcomes["tests/test_pkg.py::test_double[1]"] == "passed", got.report.output[-2000:]
    assert got.targets == ["tests/test_pkg.py::test_sum"]
    assert got.environment == {"tests/test_net.py::test_resolves":
                               "network (the sandbox has none)"}
