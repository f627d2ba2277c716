"""`codemend fix` heals committed bugs in real projects no one here wrote (their PyPI sdists,
tests/repo_projects.py), in the real sandbox with their dependencies installed: the fix is
verified, `fix.patch` applies with `git apply` on a fresh clone of the buggy commit, and the
project's own suite then passes on the host."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from repo_projects import PROJECTS, cache_dir, commit_bug, git, make_repo

pytestmark = pytest.mark.docker


def codemend(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEMEND_")}
    env["CODEMEND_STATE_DIR"] = str(cwd / "state")
    return subprocess.run([sys.executable, "-m", "codemend.agent.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def host_deps(deps: tuple[str, ...]) -> str:
    """A folder holding the project's runtime dependencies for the host run (pip's own
    client, cached next to the sdists)."""
    if not deps:
        return ""
    target = cache_dir().parent / "host-deps" / "-".join(sorted(deps))
    if not target.is_dir():  # filled beside it, then renamed: pytest workers share the cache
        tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target",
                        str(tmp), *deps], check=True, capture_output=True)
        try:
            tmp.rename(target)
        except OSError:  # another worker's copy is in place
            shutil.rmtree(tmp, ignore_errors=True)
    return str(target)


def revert_reply(path: str, bad: str, good: str) -> str:
    return (f"The change in `{path}` broke it; restore the original line.\n\n{path}\n"
            f"<<<<<<< SEARCH\n{bad}\n=======\n{good}\n>>>>>>> REPLACE\n")


@pytest.mark.parametrize("name", ["toolz", "inflection", "isodate"])
def test_fix_heals_a_committed_bug_in_a_real_project(name, tmp_path, docker_client,
                                                     sandbox_image, leftover_containers):
    project = PROJECTS[name]
    repo = make_repo(project, tmp_path / "src")
    buggy = commit_bug(repo, project)
    replies = tmp_path / "replies.json"
    replies.write_text(json.dumps({"replies": [revert_reply(project.bug.path, project.bug.new,
                                                            project.bug.old)]}))
    res = codemend("fix", str(repo), "--model", f"scripted:{replies}", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout)
    assert out["status"] == "fixed" and out["files_changed"] == [project.bug.path]
    assert out["targets"] and out["model_calls"] == 1
    report = json.loads(Path(out["out"], "report.json").read_text())
    final = report["final"]
    assert final["failed"] == final["errors"] == 0
    assert final["passed"] + final["skipped"] == project.tests
    assert report["baseline"]["failed"] + report["baseline"]["errors"] >= 1
    # diff coverage: the restored line is executable and a target test ran it
    line = Path(repo, project.bug.path).read_text().splitlines().index(project.bug.new) + 1
    assert report["changed_lines_executed"] == {project.bug.path: {
        "executed": 1, "total": 1, "not_executed": [], "not_by_targets": []}}
    assert git(repo, "status", "--porcelain") == "" and git(repo, "rev-parse", "HEAD") == buggy
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    git(clone, "checkout", "-q", buggy)
    git(clone, "apply", out["patch"])
    paths = [p for p in (host_deps(project.deps), "src" if project.layout == "src" else "") if p]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    host = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=clone, capture_output=True, text=True, env=env)
    assert host.returncode == 0, host.stdout[-3000:]
    # the host's truth for the figures: the target tests alone run the restored line
    data = clone / "cov.json"
    cov = [sys.executable, "-m", "coverage"]
    rc = tmp_path / "empty.rc"  # not the project's coverage settings
    rc.write_text("")
    subprocess.run([*cov, "run", f"--rcfile={rc}", "--data-file", str(clone / ".cov"),
                    f"--include={project.bug.path}",
                    "-m", "pytest", "-q", "-p", "no:cacheprovider", *report["targets"]],
                   cwd=clone, capture_output=True, text=True, env=env, check=True)
    subprocess.run([*cov, "json", f"--rcfile={rc}", "--data-file", str(clone / ".cov"), "-o",
                    str(data)],
                   cwd=clone, capture_output=True, check=True)
    executed = json.loads(data.read_text())["files"][project.bug.path]["executed_lines"]
    assert line in executed
