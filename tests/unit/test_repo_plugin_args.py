"""The pytest plugins a repository check names: the environment's, less those the project's
addopts turn off (``-p no:NAME``, which a later ``-p NAME`` would undo), and a fixed seed
for those that draw one per run. The sandbox side: tests/e2e/test_fix_identity.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from codemend.agent.repo.snapshot import load_repo
from repo_projects import commit

RUNNER_DIR = Path(__file__).resolve().parents[2] / "sandbox" / "runner"


@pytest.fixture
def core(monkeypatch):
    monkeypatch.syspath_prepend(str(RUNNER_DIR))
    import codemend_core
    return codemend_core


@pytest.mark.parametrize(("addopts", "off"), [
    ("-p no:randomly --strict-markers", ["randomly"]),
    ("-pno:xdist -p pytest_cov -p no:pytest_hypothesispytest",
     ["pytest_hypothesispytest", "xdist"]),
    ("-p", []),
    ("--doctest-modules", []),
])
def test_the_plugins_a_project_turns_off_are_read_from_its_addopts(tmp_path, addopts, off):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    commit(tmp_path, "a project", {"pytest.ini": f"[pytest]\naddopts = {addopts}\n",
                                   "test_it.py": "def test_it():\n    pass\n"})
    snap = load_repo(tmp_path)
    assert snap.disabled_plugins == off
    meta = snap.workspace().repo_meta()
    assert meta.get("disabled_plugins", []) == off


def test_a_plugin_turned_off_is_never_named_and_a_seeded_one_gets_its_seed(core):
    own = {"plugins": ["hypothesispytest", "randomly", "xdist", "cov"]}
    names = core.enabled_plugins(own, {"disabled_plugins": ["randomly", "pytest_cov"]})
    assert names == ["hypothesispytest", "xdist", "cov"]
    assert core.enabled_plugins(None, {"disabled_plugins": ["x"]}) == []
    args = core.repo_pytest_args("/work/repo", "/report/t/junit.xml", [], None,
                                 ["randomly", "hypothesispytest", "xdist"])
    i = args.index("randomly")
    assert args[i - 1:i + 2] == ["-p", "randomly", "--randomly-seed=1"]
    j = args.index("hypothesispytest")
    assert args[j - 1:j + 2] == ["-p", "hypothesispytest", "--hypothesis-seed=1"]
    k = args.index("xdist")
    assert args[k - 1] == "-p" and not args[k + 1].startswith("--xdist")
