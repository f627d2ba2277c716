"""``codemend ci github propose``: the checks it makes before repository mode runs."""

from __future__ import annotations

import json

from codemend.agent.cli import main
from ghstage import git


def propose(capsys, stage, out, *flags: str) -> tuple[int, str, str]:
    code = main(["ci", "github", "propose", str(stage.checkout), "--out", str(out),
                 "--model", "scripted:none.toml", *flags])
    o, e = capsys.readouterr()
    return code, o, e


def test_loop_guard_on_a_codemend_branch_writes_skipped_meta(capsys, stage, actions_env, monkeypatch):
    monkeypatch.setenv("GITHUB_REF_NAME", "codemend/fix-feature-1234567")
    out = stage.tmp / "art"
    code, o, _ = propose(capsys, stage, out)
    assert code == 0 and "loop guard" in o
    meta = json.loads((out / "meta.json").read_text())
    assert meta["status"] == "skipped" and meta["commit"] == stage.failing
    assert not (out / "fix.patch").exists()


def test_loop_guard_on_a_codemend_commit(capsys, stage, actions_env, monkeypatch):
    git(stage.checkout, "commit", "-q", "--allow-empty", "-m", "fix\n\nCodemend-Run: r-1")
    monkeypatch.setenv("GITHUB_SHA", git(stage.checkout, "rev-parse", "HEAD"))
    code, o, _ = propose(capsys, stage, stage.tmp / "art")
    assert code == 0 and "made by codemend" in o


def test_head_sha_must_be_the_checkout(capsys, stage, actions_env, monkeypatch):
    code, _, err = propose(capsys, stage, stage.tmp / "art", "--head-sha", stage.main)
    assert code == 2 and "--head-sha" in err and "check out the failing commit" in err
    monkeypatch.setenv("GITHUB_SHA", stage.main)
    code, _, err = propose(capsys, stage, stage.tmp / "art")
    assert code == 2 and "GITHUB_SHA" in err


def test_flags_win_over_the_workflow_run_variables(capsys, stage, actions_env, monkeypatch):
    """Under workflow_run GITHUB_SHA/GITHUB_REF_NAME name the default branch."""
    monkeypatch.setenv("GITHUB_SHA", stage.main)
    monkeypatch.setenv("GITHUB_REF_NAME", "main")
    out = stage.tmp / "art"
    code, _, _ = propose(capsys, stage, out, "--head-sha", stage.failing,
                         "--head-branch", "codemend/x")  # the loop guard ends it before any fix
    meta = json.loads((out / "meta.json").read_text())
    assert code == 0 and (meta["commit"], meta["base_branch"]) == (stage.failing, "codemend/x")


def test_out_folder_is_never_overwritten(capsys, stage, actions_env):
    out = stage.tmp / "art"
    out.mkdir()
    (out / "meta.json").write_text("mine")
    code, _, err = propose(capsys, stage, out)
    assert code == 2 and "would overwrite meta.json" in err
    assert (out / "meta.json").read_text() == "mine"
