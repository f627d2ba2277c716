"""`codemend fix` on a real project whose declared dependency cannot be had: exit 4, one
message naming it, before any model call, and the work tree untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from repo_projects import PROJECTS, commit, git, make_repo

pytestmark = pytest.mark.docker


def test_an_uninstallable_dependency_is_exit_4_naming_it(tmp_path, docker_client, sandbox_image,
                                                        leftover_containers):
    repo = make_repo(PROJECTS["isodate"], tmp_path)
    commit(repo, "pin a version that does not exist", {"requirements.txt": "six==0.0.0.dev999\n"})
    head = git(repo, "rev-parse", "HEAD")
    model = tmp_path / "replies.json"
    model.write_text(json.dumps({"replies": ["never read"]}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEMEND_")}
    env["CODEMEND_STATE_DIR"] = str(tmp_path / "state")
    res = subprocess.run([sys.executable, "-m", "codemend.agent.cli", "fix", str(repo), "--model",
                          f"scripted:{model}", "--sandbox", "cold", "--json"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 4, res.stderr
    assert "six==0.0.0.dev999" in res.stderr and "cannot be installed" in res.stderr
    assert git(repo, "rev-parse", "HEAD") == head and git(repo, "status", "--porcelain") == ""
