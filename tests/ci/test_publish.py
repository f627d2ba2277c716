"""``codemend ci github publish`` against a bare origin and the fake GitHub API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from codemend.agent.cli import main
from ghstage import GOOD, REPOSITORY, TOKEN, Stage, fix_patch, git

BRANCH = "codemend/fix-feature-"


def publish(capsys, stage: Stage, art: Path, *flags: str) -> tuple[int, dict | None, str]:
    code = main(["ci", "github", "publish", str(art), "--repo", str(stage.checkout), "--json", *flags])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def host_pytest(stage: Stage, ref: str) -> subprocess.CompletedProcess[str]:
    """The project's own suite on the host, in a fresh clone of ``ref`` from origin."""
    clone = stage.tmp / f"verify-{ref.replace('/', '-')}"
    git(stage.tmp, "clone", "-q", "-b", ref, str(stage.origin), str(clone))
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=clone,
                          capture_output=True, text=True, check=False, env=env)


def test_fix_is_pushed_and_one_draft_pr_opened(capsys, stage, fake, actions_env):
    before = stage.refs()
    status_before = git(stage.checkout, "status", "--porcelain")
    code, out, err = publish(capsys, stage, stage.artifact())
    assert code == 0, err
    assert out["action"] == "opened"
    head = f"{BRANCH}{stage.failing[:7]}"
    refs = stage.refs()
    # main and the failing branch untouched; one new codemend/ branch whose parent is the failing commit
    assert {k: v for k, v in refs.items() if k != f"refs/heads/{head}"} == before
    assert git(stage.origin, "rev-parse", f"{head}^") == stage.failing
    assert "Codemend-Run: r-20261202-abc" in git(stage.origin, "log", "-1", "--format=%B", head)
    assert git(stage.checkout, "status", "--porcelain") == status_before
    assert git(stage.checkout, "rev-parse", "HEAD") == stage.failing
    # the project's suite fails on the failing branch and passes on the pushed fix
    assert host_pytest(stage, "feature").returncode == 1
    assert host_pytest(stage, head).returncode == 0
    # exactly one draft PR against the failing branch, with the fields GitHub needs
    posts = [c for c in fake.calls if c.method == "POST"]
    assert [c.path for c in posts] == [f"/repos/{REPOSITORY}/pulls"]
    pr = posts[0].payload
    assert pr["draft"] is True and pr["base"] == "feature" and pr["head"] == head
    assert "| passed | 0 | 2 |" in pr["body"] and "```diff" in pr["body"]
    assert "`tests/test_ops.py::test_mean`" in pr["body"] and "codemend fix --model" in pr["body"]
    assert fake.problems == []
    assert "opened draft #1" in actions_env.read_text()


def test_existing_codemend_pr_is_updated_not_duplicated(capsys, stage, fake, actions_env, monkeypatch):
    assert publish(capsys, stage, stage.artifact("first"))[0] == 0
    old_head = f"{BRANCH}{stage.failing[:7]}"
    old_sha = git(stage.origin, "rev-parse", old_head)
    # the developer pushes another commit to the failing branch; it still fails
    new = _new_failing_commit(stage, monkeypatch)
    code, out, err = publish(capsys, stage, stage.artifact("second", patch=fix_patch(stage)))
    assert code == 0, err
    assert out["action"] == "updated" and out["branch"] == old_head
    assert len(fake.pulls) == 1
    assert [c.path for c in fake.calls if c.method == "POST"] == [
        f"/repos/{REPOSITORY}/pulls", f"/repos/{REPOSITORY}/issues/1/comments"]
    # fast-forward from the old head, includes the new failing commit, holds the fix
    tip = git(stage.origin, "rev-parse", old_head)
    assert git(stage.origin, "rev-list", "--parents", "-n1", tip).split()[1:] == [old_sha, new]
    assert git(stage.origin, "show", f"{tip}:widget/ops.py") + "\n" == GOOD
    assert git(stage.origin, "show", f"{tip}:README.md") == "widget"
    # a re-run with the same fix changes nothing
    code, out, _ = publish(capsys, stage, stage.artifact("third", patch=fix_patch(stage)))
    assert (code, out["action"]) == (0, "nothing") and "already holds" in out["reason"]
    assert fake.problems == []


def test_clean_repository_does_nothing(capsys, stage, fake, actions_env):
    code, out, _ = publish(capsys, stage, stage.artifact(status="clean"))
    assert (code, out["action"]) == (0, "nothing")
    assert fake.calls == [] and "nothing to fix" in actions_env.read_text()


def test_healing_failed_comments_once_on_the_branch_pr(capsys, stage, fake, actions_env):
    fake.add_pull(head="feature", base="main")
    for name in ("a", "b"):  # twice: the comment is edited, not repeated
        code, out, err = publish(capsys, stage, stage.artifact(name, status="escalated"))
        assert (code, out["action"]) == (0, "commented"), err
    assert len(fake.pulls) == 1  # no PR opened
    [comment] = fake.comments[1]
    assert "could not heal" in comment["body"] and "codemend resume r-20261202-abc" in comment["body"]
    assert [c.method for c in fake.calls if c.path.endswith("/comments/5001")] == ["PATCH"]
    assert fake.calls[0].query["head"] == "acme:feature"
    assert not any(k.startswith("refs/heads/codemend/") for k in stage.refs())


def test_healing_failed_without_pr_writes_only_the_summary(capsys, stage, fake, actions_env):
    code, out, _ = publish(capsys, stage, stage.artifact(status="failed"))
    assert (code, out["action"]) == (0, "summary")
    assert [c.method for c in fake.calls] == ["GET"]
    assert "could not heal" in actions_env.read_text()


@pytest.mark.parametrize("path", [".github/workflows/ci.yml", "tests/test_ops.py", "conftest.py",
                                  "pyproject.toml", "widget/tests/test_x.py", "tox.ini",
                                  "requirements-dev.txt", "pytest.toml", ".pytest.toml",
                                  "widget-1.0.dist-info/entry_points.txt", "widget/evil.pth",
                                  "sitecustomize.py", "widget/conftest.py"])
def test_forged_patch_touching_protected_paths_is_refused(capsys, stage, fake, actions_env, path):
    before = stage.refs()
    art = stage.artifact(patch=fix_patch(stage, "x = 1\n", path))
    code, out, err = publish(capsys, stage, art)
    assert code == 4 and out is None
    assert f"touches {path}" in err
    assert fake.calls == [] and stage.refs() == before


def test_protected_path_hidden_in_a_rename_is_refused(capsys, stage, fake, actions_env):
    patch = ("diff --git a/widget/ops.py b/.github/workflows/x.yml\nsimilarity index 100%\n"
             "rename from widget/ops.py\nrename to .github/workflows/x.yml\n")
    code, _, err = publish(capsys, stage, stage.artifact(patch=patch))
    assert code == 4 and "touches .github/workflows/x.yml" in err and fake.calls == []


def test_size_caps_refuse(capsys, stage, fake, actions_env):
    art = stage.artifact()
    code, _, err = publish(capsys, stage, art, "--max-patch-bytes", "50")
    assert code == 4 and "over the cap of 50" in err
    code, _, err = publish(capsys, stage, art, "--max-files", "0")
    assert code == 4 and "changes 1 files, over the cap of 0" in err
    assert fake.calls == []


def test_patch_that_does_not_apply_is_refused(capsys, stage, fake, actions_env):
    patch = fix_patch(stage).replace("(len(xs) + 1)", "(len(xs) + 2)")
    code, _, err = publish(capsys, stage, stage.artifact(patch=patch))
    assert code == 4 and "does not apply" in err and fake.calls == []


def test_recorded_commit_must_be_the_checkout(capsys, stage, fake, actions_env):
    code, _, err = publish(capsys, stage, stage.artifact(commit=stage.main))
    assert code == 4 and "the checkout is at" in err and fake.calls == []


def test_meta_naming_another_repository_is_refused(capsys, stage, fake, actions_env):
    code, _, err = publish(capsys, stage, stage.artifact(repository="evil/other"))
    assert code == 4 and "evil/other" in err and fake.calls == []


def test_symlink_patch_is_refused(capsys, stage, fake, actions_env):
    patch = ("diff --git a/widget/link b/widget/link\nnew file mode 120000\n"
             "index 0000000..1111111\n--- /dev/null\n+++ b/widget/link\n@@ -0,0 +1 @@\n"
             "+/etc/passwd\n\\ No newline at end of file\n")
    code, _, err = publish(capsys, stage, stage.artifact(patch=patch))
    assert code == 4 and "symlink" in err and fake.calls == []


def test_server_error_then_success(capsys, stage, fake, actions_env):
    fake.fail("POST", "create_pull", 500, "boom")
    fake.fail("GET", "list_pulls", 429, "slow down", headers={"Retry-After": "1"})
    code, out, err = publish(capsys, stage, stage.artifact())
    assert (code, out["action"]) == (0, "opened"), err
    assert [c.status for c in fake.calls] == [429, 200, 500, 201]
    assert len(fake.pulls) == 1


def test_missing_permission_names_it(capsys, stage, fake, actions_env):
    fake.fail("POST", "create_pull", 403, "Resource not accessible by integration")
    code, _, err = publish(capsys, stage, stage.artifact())
    assert code == 4
    assert "pull-requests: write" in err and "Resource not accessible by integration" in err
    assert len([c for c in fake.calls if c.method == "POST"]) == 1  # a 403 is not retried
    # the branch was pushed before the PR failed; once the permission is given, a re-run
    # opens the PR for that same branch instead of giving up on it
    head = f"{BRANCH}{stage.failing[:7]}"
    pushed = git(stage.origin, "rev-parse", head)
    code, out, err = publish(capsys, stage, stage.artifact("again"))
    assert (code, out["action"], out["commit"]) == (0, "opened", pushed), err
    assert len(fake.pulls) == 1 and git(stage.origin, "rev-parse", head) == pushed


def test_push_denied_names_contents_write(capsys, stage, fake, actions_env):
    """git push over HTTP answered 403 (the token may not write contents)."""
    git(stage.checkout, "remote", "set-url", "--push", "origin", f"{fake.url}/acme/widget.git")
    code, _, err = publish(capsys, stage, stage.artifact())
    assert code == 4 and "contents: write" in err and "403" in err
    assert not [c for c in fake.calls if c.method == "POST"]  # no PR for a branch not pushed
    assert not any(k.startswith("refs/heads/codemend/") for k in stage.refs())


def test_a_closed_codemend_pr_is_not_reopened(capsys, stage, fake, actions_env):
    assert publish(capsys, stage, stage.artifact("first"))[0] == 0
    fake.pulls[0]["state"] = "closed"  # a person closed it
    code, out, _ = publish(capsys, stage, stage.artifact("second"))
    assert (code, out["action"]) == (0, "nothing") and "closed" in out["reason"]
    assert len(fake.pulls) == 1


@pytest.mark.parametrize("case", ["codemend-branch", "codemend-commit"])
def test_loop_guard_does_nothing(capsys, stage, fake, actions_env, case):
    if case == "codemend-branch":
        art = stage.artifact(branch="codemend/fix-feature-1234567")
    else:
        git(stage.checkout, "commit", "-q", "--allow-empty", "-m", "fix\n\nCodemend-Run: r-1")
        art = stage.artifact(commit=git(stage.checkout, "rev-parse", "HEAD"))
    before = stage.refs()
    code, out, _ = publish(capsys, stage, art)
    assert (code, out["action"]) == (0, "nothing") and "loop guard" in out["reason"]
    assert fake.calls == [] and stage.refs() == before


def test_branch_moved_on_publishes_nothing(capsys, stage, fake, actions_env):
    (stage.dev / "NOTES").write_text("n\n")
    git(stage.dev, "add", "NOTES")
    git(stage.dev, "commit", "-qm", "notes")
    git(stage.dev, "push", "-q", "origin", "feature")
    code, out, _ = publish(capsys, stage, stage.artifact())
    assert (code, out["action"]) == (0, "nothing") and "moved on" in out["reason"]
    assert fake.calls == []


def test_no_token_is_bad_input(capsys, stage, fake, actions_env, monkeypatch):
    monkeypatch.delenv("CODEMEND_GITHUB_TOKEN")
    code, _, err = publish(capsys, stage, stage.artifact())
    assert code == 2 and "CODEMEND_GITHUB_TOKEN" in err


def test_github_token_is_the_fallback_and_sent_as_auth(capsys, stage, fake, actions_env, monkeypatch):
    monkeypatch.delenv("CODEMEND_GITHUB_TOKEN")
    monkeypatch.setenv("GITHUB_TOKEN", "wrong")
    code, _, err = publish(capsys, stage, stage.artifact())
    assert code == 4 and "401" in err
    assert fake.problems and "Authorization" in fake.problems[0]
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    assert publish(capsys, stage, stage.artifact("again"))[0] == 0


def test_fake_rejects_a_wrong_payload(stage, fake):
    """The fake must be able to fail: GitHub's required fields are checked."""
    import httpx

    r = httpx.post(f"{fake.url}/repos/{REPOSITORY}/pulls", json={"title": "t", "head": "feature"},
                   headers={"Authorization": f"token {TOKEN}"})
    assert r.status_code == 422 and fake.problems
    r = httpx.get(f"{fake.url}/repos/{REPOSITORY}/pulls", params={"head": "feature"},
                  headers={"Authorization": f"token {TOKEN}"})
    assert r.status_code == 422


def test_rate_limit_403_waits_for_the_reset_and_is_not_a_permission_error(capsys, stage, fake,
                                                                          actions_env):
    import time

    reset = str(int(time.time()) + 1)
    fake.fail("GET", "list_pulls", 403, "API rate limit exceeded",
              headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": reset})
    code, out, err = publish(capsys, stage, stage.artifact())
    assert (code, out["action"]) == (0, "opened"), err
    assert [c.status for c in fake.calls][:2] == [403, 200]


def test_rate_limit_longer_than_max_wait_fails_clearly(capsys, stage, fake, actions_env):
    fake.fail("GET", "list_pulls", 429, "slow down", headers={"Retry-After": "3600"})
    code, _, err = publish(capsys, stage, stage.artifact(), "--max-wait", "5")
    assert code == 4 and "rate limit" in err and "re-run the job later" in err
    assert len(fake.calls) == 1 and stage.refs().keys() == {"refs/heads/main", "refs/heads/feature"}


def test_allow_test_edits_lets_tests_through_but_never_ci_files(capsys, stage, fake, actions_env):
    art = stage.artifact("ci", patch=fix_patch(stage, "on: push\n", ".github/workflows/ci.yml"))
    code, _, err = publish(capsys, stage, art, "--allow-test-edits")
    assert code == 4 and "CI or repository configuration" in err
    art = stage.artifact("tests", patch=fix_patch(stage, "def test_x():\n    pass\n", "tests/test_x.py"))
    code, out, err = publish(capsys, stage, art, "--allow-test-edits")
    assert (code, out["action"]) == (0, "opened"), err


def _maintainer_commit(stage: Stage, branch: str, env: dict[str, str] | None = None,
                       message: str = "docs: a note from the maintainer") -> str:
    """A person pushes a commit of their own onto the codemend PR branch."""
    git(stage.dev, "fetch", "-q", "origin")
    git(stage.dev, "checkout", "-q", "-B", "pr", f"origin/{branch}")
    (stage.dev / "NOTES.md").write_text("keep this\n")
    git(stage.dev, "add", "NOTES.md")
    git(stage.dev, "commit", "-qm", message, env=env)
    git(stage.dev, "push", "-q", "origin", f"HEAD:refs/heads/{branch}")
    return git(stage.dev, "rev-parse", "HEAD")


def _new_failing_commit(stage: Stage, monkeypatch) -> str:
    """The developer pushes another commit to the failing branch (it still fails); the
    checkout and GITHUB_SHA move to it."""
    (stage.dev / "README.md").write_text("widget\n")
    git(stage.dev, "checkout", "-q", "feature")
    git(stage.dev, "add", "README.md")
    git(stage.dev, "commit", "-qm", "docs")
    git(stage.dev, "push", "-q", "origin", "feature")
    new = git(stage.dev, "rev-parse", "HEAD")
    git(stage.checkout, "fetch", "-q", "origin")
    git(stage.checkout, "checkout", "-q", "--detach", new)
    stage.failing = new
    monkeypatch.setenv("GITHUB_SHA", new)
    return new


@pytest.mark.parametrize("who", ["no-trailer", "trailer-other-committer"])
def test_a_maintainers_commit_on_the_pr_branch_is_never_pushed_over(capsys, stage, fake,
                                                                  actions_env, monkeypatch, who):
    """Updating the PR would fast-forward over (and silently revert) the maintainer's
    commit: publish comments with the new fix instead and pushes nothing. A codemend trailer
    copied into a person's commit does not make it codemend's."""
    assert publish(capsys, stage, stage.artifact("first"))[0] == 0
    head = f"{BRANCH}{stage.failing[:7]}"
    message = "docs: a note" + ("\n\nCodemend-Run: r-1" if who != "no-trailer" else "")
    mine = _maintainer_commit(stage, head, message=message)
    _new_failing_commit(stage, monkeypatch)
    code, out, err = publish(capsys, stage, stage.artifact("second", patch=fix_patch(stage)))
    assert code == 0, err
    assert out["action"] == "commented" and "did not make" in out["reason"]
    assert git(stage.origin, "rev-parse", head) == mine  # nothing pushed over it
    comments = fake.comments[1]
    assert len(comments) == 1 and mine[:12] in comments[0]["body"]
    assert "```diff" in comments[0]["body"] and "pushed nothing" in comments[0]["body"]
    assert fake.problems == []
    # honest: codemend's own branch, untouched by a person, is still updated
    # (test_existing_codemend_pr_is_updated_not_duplicated)


def test_the_pr_body_names_removed_definitions_and_advisory_signs(capsys, stage, fake,
                                                                  actions_env):
    report = json.loads((stage.artifact("plain") / "report.json").read_text())
    report.update(removed=["widget/ops.py::old_mean"],
                  advisory=["T112 widget/ops.py:3: registers code to run at interpreter exit "
                            "(atexit) @here"])
    code, out, err = publish(capsys, stage, stage.artifact("notes", report=report))
    assert code == 0 and out["action"] == "opened", err
    body = fake.pulls[0]["body"]
    assert "**Removed** (1; the run allowed deletions): `widget/ops.py::old_mean`" in body
    assert "**Advisory signs**" in body and "`T112 widget/ops.py:3: registers" in body
    assert "(atexit) @here`" in body  # inside a code span: no mention


@pytest.mark.parametrize("trailer", ["", "\n\nCodemend-Run: r-1"])
def test_a_left_branch_holding_a_persons_commit_is_not_reused(capsys, stage, fake, actions_env,
                                                              trailer):
    """A branch left by a run whose PR could not be opened, onto which a person pushed a
    commit (with a copied trailer too): publish refuses rather than push over it (the
    reuse without such a commit is test_missing_permission_names_it)."""
    fake.fail("POST", "create_pull", 403, "Resource not accessible by integration")
    assert publish(capsys, stage, stage.artifact())[0] == 4
    head = f"{BRANCH}{stage.failing[:7]}"
    mine = _maintainer_commit(stage, head, message="docs: a note" + trailer)
    code, out, err = publish(capsys, stage, stage.artifact("again"))
    assert code == 4 and out is None and "holds commits codemend did not make" in err
    assert git(stage.origin, "rev-parse", head) == mine and fake.pulls == []
