"""Repository repair sessions at a real pseudo-terminal: resumed from the first-instruction
prompt with another model (the repository's base snapshot must come back with it, and the
new model's attempts are recorded under its name), and no proposal that changes nothing (a
baseline lint finding ruff could fix outside the changed lines)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from test_fix import GOOD, PRICES, git, shop
from wordtools import write_replies

pytestmark = pytest.mark.docker
SANDBOX = ("--sandbox", "cold")
MENU = "[y] apply+check  [n] reject  [e] edit  [h] hint  [d] full diff/output"
UNUSED = "import os\n" + PRICES
"""An unused import: a fixable lint finding at baseline, on a line no fix touches."""


def test_resume_from_the_first_prompt_then_retest_and_no_empty_proposal(term_factory,
                                                                         tmp_path):
    repo = shop(tmp_path / "shop", prices=UNUSED)
    write_replies(tmp_path / "first.json", ["never asked: the person quits first"])
    write_replies(tmp_path / "r.json", [GOOD])
    t = term_factory("repair", "shop", "--model", "scripted:first.json", "--state-dir", "state",
                     *SANDBOX, "--run-id", "repo-run")
    t.wait("F401")  # the baseline shows the fixable finding
    t.answer("first instruction for the model", "q")
    t.wait("continue it with: codemend repair --resume repo-run --state-dir state")
    assert t.finish() == 3

    t = term_factory("repair", "--resume", "repo-run", "--state-dir", "state", *SANDBOX,
                     "--model", "scripted:r.json")  # another model from here on
    t.wait("resuming repair session repo-run (task shop) at step 0")
    t.wait("sent to scripted:r.json")  # the request preview reads the base snapshot
    t.answer("first instruction for the model", "")
    line = t.wait("proposal from ")
    assert "no change" not in line and "ruff" not in line, line
    assert "proposal from scripted:r.json: The discount must be subtracted." in line
    t.answer(MENU, "t")  # re-test the current code: the base snapshot, in the sandbox
    t.wait("re-test of the current code (not a new step): fail, 2 passed, 1 failed")
    t.answer(MENU, "y")
    t.wait("step 1 (fix) checked: pass  3 passed, 0 failed")
    t.answer("[w] write to the work tree", "n")
    t.wait("nothing written")
    assert t.finish() == 0
    assert "no change" not in t.text()
    assert git(repo, "status", "--porcelain") == ""
    shown = subprocess.run([sys.executable, "-m", "codemend.agent.cli", "show", "repo-run",
                            "--json", "--state-dir", "state"], cwd=tmp_path,
                           capture_output=True, text=True, check=True)
    models = [a["model"] for a in json.loads(shown.stdout)["attempts"]]
    assert models == [None, "scripted:r.json"]  # recorded under the model that wrote it
