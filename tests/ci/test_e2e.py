"""Done-when for the CI bot: in a GitHub-Actions-like environment (the GITHUB_* variables, the
fake API, a bare origin), ``propose`` then ``publish`` -- both through the real CLI, with the
scripted model and the real sandbox -- turn a failing branch of a real project (inflection's
sdist, with a committed bug) into a pushed ``codemend/`` branch whose tests pass on the host
and one draft PR against the failing branch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ghstage import REPOSITORY, TOKEN, Stage, git, make_stage
from repo_projects import PROJECTS, make_repo

pytestmark = pytest.mark.docker
PROJECT = PROJECTS["inflection"]
FIX = f"""The separator must stay a dash.

{PROJECT.bug.path}
<<<<<<< SEARCH
{PROJECT.bug.new}
=======
{PROJECT.bug.old}
>>>>>>> REPLACE
"""


@pytest.fixture
def stage(tmp_path: Path) -> Stage:
    """origin: the project's sdist on ``main``; ``feature`` = main + its known bug."""
    def populate(dev: Path) -> None:
        src = make_repo(PROJECT, tmp_path / "sdist")
        shutil.copytree(src, dev, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".git"))

    def bug(dev: Path) -> None:
        path = dev / PROJECT.bug.path
        path.write_text(path.read_text().replace(PROJECT.bug.old, PROJECT.bug.new))

    return make_stage(tmp_path, populate, bug)


def cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "codemend.agent.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def job_env(stage: Stage, api: str, summary: Path, **extra: str) -> dict[str, str]:
    """What a job of the workflow sees; never a GitHub token unless given in ``extra``."""
    drop = ("CODEMEND_", "GITHUB_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update({"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": REPOSITORY, "GITHUB_API_URL": api,
                "GITHUB_SHA": stage.failing, "GITHUB_REF_NAME": "feature", "GITHUB_RUN_ID": "77",
                "GITHUB_STEP_SUMMARY": str(summary), "COLUMNS": "300", **extra})
    return env


@pytest.fixture
def docker_ready(docker_client, sandbox_image, leftover_containers):
    return True


def test_propose_then_publish_heals_the_failing_branch(stage, fake, docker_ready):
    summary = stage.tmp / "summary.md"
    replies = stage.tmp / "replies.json"
    replies.write_text(json.dumps({"replies": [FIX]}))
    art = stage.tmp / "artifact"
    before = stage.refs()

    job1 = job_env(stage, fake.url, summary, CODEMEND_API_KEY="model-key-never-in-the-sandbox")
    res = cli("ci", "github", "propose", str(stage.checkout), "--out", str(art),
              "--model", f"scripted:{replies}", "--no-interactive", "--sandbox", "cold",
              env=job1, cwd=stage.tmp)
    assert res.returncode == 0, res.stderr + res.stdout
    meta = json.loads((art / "meta.json").read_text())
    assert (meta["status"], meta["commit"], meta["base_branch"]) == ("fixed", stage.failing, "feature")
    assert meta["repository"] == REPOSITORY and meta["model"].startswith("scripted:")
    # the model key never lands in the artifact (which anyone with read access can download)
    assert not [f for f in art.rglob("*") if f.is_file() and b"model-key" in f.read_bytes()]
    assert (art / "fix.patch").is_file() and (art / "report.json").is_file()
    assert "codemend fix" in summary.read_text()  # summary.md went to the job summary
    assert fake.calls == []  # propose never talks to GitHub

    job2 = job_env(stage, fake.url, summary, CODEMEND_GITHUB_TOKEN=TOKEN)
    res = cli("ci", "github", "publish", str(art), "--repo", str(stage.checkout), "--json",
              env=job2, cwd=stage.tmp)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    head = f"codemend/fix-feature-{stage.failing[:7]}"
    assert (out["action"], out["branch"]) == ("opened", head)

    # one draft PR against the failing branch; main and the failing branch untouched
    [pr] = fake.pulls
    assert (pr["draft"], pr["base"]["ref"], pr["head"]["ref"]) == (True, "feature", head)
    # the body shows the fix's diff coverage: the restored line ran, under a target test
    assert f"- `{PROJECT.bug.path}`: 1/1 changed executable lines ran" in pr["body"]
    assert "[!WARNING]" not in pr["body"]
    refs = stage.refs()
    assert refs.pop(f"refs/heads/{head}") and refs == before
    assert fake.problems == []
    # the pushed branch's tests pass on the host; the failing branch's still fail
    for ref, want in ((head, 0), ("feature", 1)):
        clone = stage.tmp / f"verify-{want}"
        git(stage.tmp, "clone", "-q", "-b", ref, str(stage.origin), str(clone))
        host = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                              cwd=clone, capture_output=True, text=True,
                              env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
        assert host.returncode == want, host.stdout
        if want == 0:
            assert f"{PROJECT.tests} passed" in host.stdout


def test_propose_on_a_clean_repository(tmp_path, docker_ready):
    """The small hand-made project's main branch: nothing fails, so no model call, no patch."""
    stage = make_stage(tmp_path)
    git(stage.checkout, "checkout", "-q", "--detach", stage.main)
    replies = stage.tmp / "none.json"
    replies.write_text(json.dumps({"replies": ["not code"]}))  # a call would show in model_calls
    art = stage.tmp / "artifact"
    env = job_env(stage, "http://127.0.0.1:9", stage.tmp / "s.md", GITHUB_SHA=stage.main,
                  GITHUB_REF_NAME="main")
    res = cli("ci", "github", "propose", str(stage.checkout), "--out", str(art),
              "--model", f"scripted:{replies}", "--sandbox", "cold", env=env, cwd=stage.tmp)
    assert res.returncode == 0, res.stderr
    assert json.loads((art / "meta.json").read_text())["status"] == "clean"
    assert not (art / "fix.patch").exists()
    report = json.loads((art / "report.json").read_text())
    assert report["status"] == "clean" and report["model_calls"] == 0


def test_escalated_run_comments_on_the_branch_pr_and_opens_none(tmp_path, docker_ready):
    """Healing fails for real (a reply that does not fix it, one iteration): propose exits 3
    and publish leaves one comment on the failing branch's PR, built from fix's own report."""
    from fake_github import FakeGitHub

    stage = make_stage(tmp_path)
    replies = stage.tmp / "wrong.json"
    wrong = "widget/ops.py\n<<<<<<< SEARCH\n    return sum(xs) / (len(xs) + 1)\n=======\n" \
            "    return sum(xs) / (len(xs) + 2)\n>>>>>>> REPLACE\n"
    replies.write_text(json.dumps({"replies": [wrong]}))
    art = stage.tmp / "artifact"
    with FakeGitHub(REPOSITORY, TOKEN, stage.origin) as fake:
        fake.add_pull(head="feature", base="main")
        env = job_env(stage, fake.url, stage.tmp / "s.md")
        res = cli("ci", "github", "propose", str(stage.checkout), "--out", str(art), "--model",
                  f"scripted:{replies}", "--max-iterations", "1", "--sandbox", "cold", env=env,
                  cwd=stage.tmp)
        assert res.returncode == 3, res.stderr + res.stdout
        assert json.loads((art / "meta.json").read_text())["status"] == "escalated"
        res = cli("ci", "github", "publish", str(art), "--repo", str(stage.checkout), "--json",
                  env={**env, "CODEMEND_GITHUB_TOKEN": TOKEN}, cwd=stage.tmp)
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout)["action"] == "commented"
        [comment] = fake.comments[1]
        assert "could not heal" in comment["body"] and "| failed | 2 |" in comment["body"]
        assert len(fake.pulls) == 1 and fake.problems == []
        assert not any(k.startswith("refs/heads/codemend/") for k in stage.refs())
