"""``codemend fix`` on a project whose ``requires-python`` the sandbox's Python does not
satisfy: exit 2, one line naming the Python it needs, before any model call."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.docker


def test_a_python_the_project_excludes_is_exit_2_in_one_line(tmp_path, docker_client,
                                                             sandbox_image):
    repo = tmp_path / "future"
    (repo / "future").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "pyproject.toml").write_text('[project]\nname = "future"\nversion = "1"\n'
                                         'requires-python = ">=3.99"\n')
    (repo / "future" / "__init__.py").write_text("X = 1\n")
    (repo / "tests" / "test_x.py").write_text("from future import X\n\n\ndef test_x():\n"
                                              "    assert X == 2\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "i"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True)
    (tmp_path / "r.json").write_text(json.dumps({"replies": ["never asked"]}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEMEND_")}
    env["CODEMEND_STATE_DIR"] = str(tmp_path / "state")
    res = subprocess.run([sys.executable, "-m", "codemend.agent.cli", "fix", str(repo),
                          "--model", f"scripted:{tmp_path / 'r.json'}", "--json"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs Python >=3.99 (requires-python)" in lines[0], res.stderr
