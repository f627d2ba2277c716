"""The repository kind reads a reply with the edit parser (agent/repo/edits.py) on the
candidate: a unified diff on top of the overlay, a format error for what does not apply."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from codemend.agent.extract import FormatError
from codemend.agent.repo.kind import RepoKind
from codemend.agent.repo.snapshot import from_files
from codemend.agent.repotask import RepoTask
from codemend.agent.state import RunState, TaskInfo

FILES = {"pkg/__init__.py": "", "pkg/geo.py": "def area(w, h):\n    return w + h\n",
         "tests/test_geo.py": "from pkg.geo import area\n\n\ndef test_area():\n"
                              "    assert area(2, 3) == 6\n"}
SNAP = from_files(Path("/repo"), FILES, {})


def apply(reply: str, overlay: dict[str, str]) -> dict[str, str]:
    task = RepoTask(root="/repo", base_id="b", targets=["tests/test_geo.py::test_area"])
    info = TaskInfo(name="r", prompt="", solution_files=[], tests={}, kind="repo", repo=task)
    state = RunState(run_id="r1", task=info, model="m", files=overlay)
    deps = SimpleNamespace(repo_bases=SimpleNamespace(snapshot=lambda _: SNAP,
                                                      baseline=lambda _: None))
    return RepoKind().apply_reply(state, deps, reply)


def test_a_diff_applies_on_top_of_the_candidate():
    overlay = {"pkg/geo.py": "def area(w, h):\n    return w - h\n"}
    diff = ("```diff\n--- a/pkg/geo.py\n+++ b/pkg/geo.py\n@@ -1,2 +1,2 @@\n def area(w, h):\n"
            "-    return w - h\n+    return w * h\n```\n")
    assert apply(diff, overlay) == {"pkg/geo.py": "def area(w, h):\n    return w * h\n"}


def test_a_search_for_the_base_text_is_refused_once_the_candidate_changed_it():
    overlay = {"pkg/geo.py": "def area(w, h):\n    return w - h\n"}
    reply = "pkg/geo.py\n<<<<<<< SEARCH\n    return w + h\n=======\n    return w * h\n>>>>>>> REPLACE\n"
    with pytest.raises(FormatError) as err:
        apply(reply, overlay)
    assert "is not in the file" in err.value.message and "return w - h" in err.value.message
