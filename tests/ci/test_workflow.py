"""examples/github/codemend-fix.yml: valid YAML, least privilege, the right triggers, and no
secret or write token anywhere the repository's or the model's code runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

WORKFLOW = Path(__file__).resolve().parents[2] / "examples/github/codemend-fix.yml"
SECRET = re.compile(r"\$\{\{\s*(secrets\.|github\.token)")


@pytest.fixture(scope="module")
def wf() -> dict:
    data = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def _strings(node) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


def test_triggers(wf):
    assert wf["on"]["workflow_run"]["types"] == ["completed"]
    assert "workflow_dispatch" in wf["on"]
    cond = wf["jobs"]["propose"]["if"]
    assert "conclusion == 'failure'" in cond
    assert "!startsWith(github.event.workflow_run.head_branch, 'codemend/')" in cond
    assert "head_repository.full_name == github.repository" in cond  # no fork PRs


def test_permissions_are_least_privilege(wf):
    assert wf["permissions"] == {}
    assert wf["jobs"]["propose"]["permissions"] == {"contents": "read"}
    assert wf["jobs"]["publish"]["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert wf["jobs"]["publish"]["needs"] == "propose"


def test_no_secret_reaches_the_sandbox_job_except_the_model_servers(wf):
    steps = wf["jobs"]["propose"]["steps"]
    [prop] = [s for s in steps if "ci github propose" in s.get("run", "")]
    secrets = {k: v for k, v in prop["env"].items() if SECRET.search(str(v))}
    assert secrets == {"CODEMEND_BASE_URL": "${{ secrets.CODEMEND_MODEL_URL }}",
                       "CODEMEND_API_KEY": "${{ secrets.CODEMEND_MODEL_KEY }}"}
    others = [s for s in steps if s is not prop]
    assert not [x for s in others for x in _strings(s) if SECRET.search(x)]
    # never on a command line (visible in logs and process lists), never a GitHub token
    assert not SECRET.search(prop["run"])
    assert not [x for x in _strings(wf["jobs"]["propose"]) if "GITHUB_TOKEN" in x or "github.token" in x]
    [checkout] = [s for s in steps if s.get("uses", "").startswith("actions/checkout")]
    assert checkout["with"]["persist-credentials"] is False
    assert checkout["with"]["ref"].startswith("${{ github.event.workflow_run.head_sha")


def test_publish_job_runs_no_repository_code_and_uses_an_app_token(wf):
    steps = wf["jobs"]["publish"]["steps"]
    runs = " ".join(s.get("run", "") for s in steps)
    for forbidden in ("pytest", "pip install .", "pip install -e", "make ", "tox", "nox", "propose"):
        assert forbidden not in runs
    [pub] = [s for s in steps if "ci github publish" in s.get("run", "")]
    assert pub["env"] == {"CODEMEND_GITHUB_TOKEN": "${{ steps.app.outputs.token }}"}
    assert any(s.get("uses", "").startswith("actions/create-github-app-token") for s in steps)
    assert any(s.get("uses", "").startswith("actions/download-artifact") for s in steps)
    upload = [s for s in wf["jobs"]["propose"]["steps"] if s.get("uses", "").startswith(
        "actions/upload-artifact")]
    assert upload and upload[0]["if"] == "always()"


def test_actions_are_pinned_by_full_commit_sha(wf):
    """A tag can be moved to other code; a full commit SHA cannot. Each pin names the
    release it is, in a comment, for the person who updates it."""
    uses = [s["uses"] for j in wf["jobs"].values() for s in j["steps"] if "uses" in s]
    assert len(uses) == 7 and all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u) for u in uses)
    lines = [ln for ln in WORKFLOW.read_text().splitlines() if re.search(r"\buses:", ln)]
    assert len(lines) == 7 and all(re.search(r"@[0-9a-f]{40}\s+# v\d+\.\d+\.\d+$", ln)
                                   for ln in lines)
    runs = [s.get("run", "") for j in wf["jobs"].values() for s in j["steps"]]
    installs = [r for r in runs if "pip install" in r]
    assert installs and all(re.search(r"codemend(\[github\])?==\d", r) for r in installs)
