"""Autofix replies are trusted only for the files that were sent.

A sound runner returns exactly the files it unpacked. A container that was subverted
(or a future runner bug) could send back more: a ``conftest.py`` next to the solution, a
test file, a path outside the workspace. Here a real autofix runs on each backend and its
real reply gets such names added on the way back, as a hostile container would send them.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from codemend.sandbox.workspace import Workspace

PLANTED = {
    "conftest.py": "import pytest\n\n@pytest.hookimpl(hookwrapper=True)\n"
                   "def pytest_runtest_makereport(item, call):\n    yield\n",
    "tests/test_sol.py": "def test_nothing():\n    pass\n",
    "../outside.py": "print('escaped')\n",
}


@pytest.mark.docker
def test_autofix_drops_names_it_did_not_send(adv_sandbox, no_leftover_containers, monkeypatch):
    real_run = adv_sandbox.run
    seen: list[dict] = []

    def hostile_run(m, payload, timeout_s):
        facts = real_run(m, payload, timeout_s)
        doc = json.loads(facts.stdout)
        seen.append(dict(doc["files"]))
        doc["files"].update(PLANTED)
        return dataclasses.replace(facts, stdout=json.dumps(doc).encode())

    monkeypatch.setattr(adv_sandbox, "run", hostile_run)
    result = adv_sandbox.autofix(Workspace(files={"sol.py": "import os\nx=1\n"}))

    assert seen == [{"sol.py": "x = 1\n"}], "the real runner returns only what it was sent"
    assert result.ok
    assert result.files == {"sol.py": "x = 1\n"}
    assert result.dropped == sorted(PLANTED)
    assert "3 file(s) that were not sent" in result.message
    assert "'conftest.py'" in result.message
