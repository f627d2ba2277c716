"""A quick check in the real sandbox (Workspace.select, agent/repo/select.py): only the
chosen test files run, with the project's own settings, and no tamper sign comes of it."""

from __future__ import annotations

import pytest
from codemend.agent.repo.environment import REPO_DEFAULTS
from codemend.agent.repo.snapshot import load_repo
from codemend.sandbox.config import SandboxConfig
from codemend.sandbox.factory import make_sandbox
from repo_projects import PROJECTS, make_repo

pytestmark = pytest.mark.docker


def test_a_quick_check_runs_only_the_chosen_test_files(docker_client, sandbox_image, tmp_path):
    snap = load_repo(make_repo(PROJECTS["toolz"], tmp_path))
    chosen = ["toolz/tests/test_itertoolz.py", "toolz/tests/test_recipes.py"]
    with make_sandbox("cold", SandboxConfig(**REPO_DEFAULTS), docker_client) as sb:
        whole = sb.check(snap.workspace())
        quick = sb.check(snap.workspace().model_copy(update={"select": chosen}))
    files = {c.id.split("::")[0] for c in quick.tests.cases}
    assert files == set(chosen), quick.output
    assert quick.tests.ok and quick.tamper == [] and quick.lint.error is None
    assert len(quick.tests.cases) < len(whole.tests.cases)
    # each case keeps its JUnit time: the quick selection's budget is counted in them
    assert sum(c.duration_s for c in whole.tests.cases) > 0
    assert {c.id for c in quick.tests.cases} == {c.id for c in whole.tests.cases
                                                  if c.id.split("::")[0] in files}
