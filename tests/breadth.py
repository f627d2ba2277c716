"""The breadth set: is `codemend fix` right on real projects no one here wrote?

For one project of ``repo_projects.BREADTH`` (its sdist committed to a fresh git repository,
tagged with its version, as upstream does), ``judge(project, workdir)``:

1. as released: ``codemend fix`` must say ``clean`` without a model call;
2. with its one-line bug committed on top: the truth is the project's own suite in a host
   venv (pytest, the project's test needs as its CI installs them, the project itself
   installed editable): the ids it fails with the bug and passes as released (a test the
   host fails either way is the host's own environment, and listed apart); ``codemend
   fix`` with an oracle reply (a scripted model restoring the line) must say ``fixed``,
   with exactly those ids as targets;
3. the candidate that restores the line is the released tree, so its final check must
   count what the as-released baseline counted (passed, failed, errors, skipped,
   collected): an identical candidate is checked as the baseline was;
4. by ids (tests/repo_identity.py): a candidate identical to the buggy commit, built as
   the fix loop builds one, collects exactly the ids of that commit's baseline, with the
   same outcomes (one pooled container for both, as the fix loop has).

``Row.right`` holds when all four do. Used by tests/e2e/test_breadth.py (a CI subset, and
the whole set on demand) and ``bench/run.py breadth`` (the table in bench/RESULTS.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import docker
from codemend.agent.repo.environment import sandbox_config
from codemend.agent.repo.snapshot import load_repo
from codemend.sandbox.factory import make_sandbox
from repo_identity import differences
from repo_projects import Project, cache_dir, commit_bug, git, make_repo

HOST_TIMEOUT_S = 1800
KNOWN: dict[str, str] = {}
"""Projects the breadth set gets wrong today, and why (kept honest: the e2e test expects
them to fail, strictly)."""
COUNTS = ("passed", "failed", "errors", "skipped", "collected")


@dataclass
class Row:
    project: str
    expected: str
    got: str
    right: bool
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    host_failing: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    dependencies: dict = field(default_factory=dict)
    host_released: list[str] = field(default_factory=list)
    """Failing on the host as released: the host's own environment (not the truth)."""

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("project", "expected", "got", "right", "notes",
                                              "seconds", "host_failing", "targets",
                                              "dependencies", "host_released")}


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("CODEMEND_", "PYTHONPATH", "VIRTUAL_ENV", "PYTEST_"))}


def host_venv(project: Project) -> Path:
    """A venv with pytest and the project's test needs (cached by name and version)."""
    venv = cache_dir().parent / "venvs" / f"{project.name}-{project.version}"
    py = venv / "bin" / "python"
    if (venv / ".ready").is_file():
        return py
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
    return py


def _pip(py: Path, repo: Path, *args: str) -> None:
    proc = subprocess.run([str(py), "-m", "pip", "install", "--quiet",
                           "--disable-pip-version-check", *args], cwd=repo, env=_env(),
                          capture_output=True, text=True, timeout=HOST_TIMEOUT_S)
    if proc.returncode:
        raise RuntimeError(f"host pip install {' '.join(args)}: {proc.stderr.strip()[-600:]}")


def host_failing(project: Project, repo: Path) -> list[str]:
    """The ids the project's own suite fails in a host venv where it is installed."""
    py = host_venv(project)
    ready = py.parent.parent / ".ready"
    if not ready.is_file():  # test needs once (they may name files of the repository)
        _pip(py, repo, "pytest", *project.host)
        ready.write_text("")
    _pip(py, repo, "-e", ".")  # this work tree, editable, version from its tag
    proc = subprocess.run([str(py), "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfE", "--color=no",
                           "--no-header"], cwd=repo, env=_env(), capture_output=True,
                          text=True, timeout=HOST_TIMEOUT_S)
    out = []
    for line in proc.stdout.splitlines():
        for word in ("FAILED ", "ERROR "):
            if line.startswith(word):
                out.append(line[len(word):].split(" - ", 1)[0].strip())
        if line.startswith("SUBFAILED("):  # pytest 9's subtests: SUBFAILED(params) id - ...
            out.append(line.split(" - ", 1)[0].split()[-1])
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and not out):
        raise RuntimeError(f"host pytest exit {proc.returncode}: {proc.stdout[-600:]}")
    return sorted(set(out))


def codemend_fix(repo: Path, work: Path, replies: list[str], tag: str) -> dict:
    """``codemend fix REPO --json`` with a scripted model; its report.json (or the error)."""
    model = work / f"{tag}-replies.json"
    model.write_text(json.dumps({"replies": replies}))
    env = _env()
    env["CODEMEND_STATE_DIR"] = str(work / f"{tag}-state")
    proc = subprocess.run([sys.executable, "-m", "codemend.agent.cli", "fix", str(repo),
                           "--model", f"scripted:{model}", "--json", "--out",
                           str(work / f"{tag}-out")], cwd=work, env=env, capture_output=True,
                          text=True, timeout=HOST_TIMEOUT_S)
    try:
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        return {**json.loads(Path(out["out"], "report.json").read_text()),
                "exit": proc.returncode}
    except (IndexError, ValueError, KeyError, OSError):
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"status": f"exit {proc.returncode}", "reason": last[:300], "exit": proc.returncode}


def oracle(project: Project) -> str:
    bug = project.bug
    return (f"The change in `{bug.path}` broke it; restore the original line.\n\n{bug.path}\n"
            f"<<<<<<< SEARCH\n{bug.new}\n=======\n{bug.old}\n>>>>>>> REPLACE\n")


def same_ids(repo: Path, project: Project) -> list[str]:
    """Check 4 on the buggy commit of ``repo``: a note per way it fails (none: it holds)."""
    client = docker.from_env(timeout=120)
    try:
        snap = load_repo(repo)
        with make_sandbox("pool", sandbox_config(snap, client), client, size=1) as sb:
            diff = differences(sb, snap, project.bug.path)
    except Exception as exc:  # noqa: BLE001 - the row says why, the table goes on
        return [f"identity by ids not checked: {type(exc).__name__}: {str(exc)[:200]}"]
    finally:
        client.close()
    return [f"identical candidate checked differently ({len(diff)} id(s)): "
            + "; ".join(diff[:3])] if diff else []


def judge(project: Project, work: Path) -> Row:
    """Run the four checks on one project (see the module's docstring)."""
    start = time.monotonic()
    work.mkdir(parents=True, exist_ok=True)
    repo = make_repo(project, work / "src")
    notes: list[str] = []
    clean = codemend_fix(repo, work, ["(never asked: the released tree is clean)"], "clean")
    if clean["status"] != "clean" or clean.get("model_calls"):
        notes.append(f"as released: {clean['status']} ({clean.get('reason', '')[:200]}; "
                     f"targets {clean.get('targets', [])[:3]})")
    released: list[str] = []
    truth: list[str] = []
    try:
        released = host_failing(project, repo)
        commit_bug(repo, project)
        truth = sorted(set(host_failing(project, repo)) - set(released))
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        notes.append(f"no host truth: {str(exc)[:300]}")
    if git(repo, "log", "-1", "--format=%s") != "introduce a bug":
        commit_bug(repo, project)
    if not truth and not notes:
        notes.append("the bug fails no test on the host: choose another")
    fixed = codemend_fix(repo, work, [oracle(project)], "fix")
    targets = fixed.get("targets") or []
    if fixed["status"] != "fixed":
        notes.append(f"with the bug: {fixed['status']} ({fixed.get('reason', '')[:200]})")
    if truth and sorted(targets) != truth:
        only_host = sorted(set(truth) - set(targets))[:3]
        only_ours = sorted(set(targets) - set(truth))[:3]
        notes.append(f"targets differ from the host's: host only {only_host}, "
                     f"codemend only {only_ours}")
    if clean.get("baseline") and fixed.get("final"):
        a = {k: clean["baseline"][k] for k in COUNTS}
        b = {k: fixed["final"][k] for k in COUNTS}
        if a != b:
            notes.append(f"identical candidate counted differently: baseline {a}, final {b}")
    notes += same_ids(repo, project)
    got = f"{clean['status']}; {fixed['status']}, {len(targets)} target(s)"
    return Row(project=f"{project.name} {project.version}",
               expected=f"clean; fixed, {len(truth)} target(s)", got=got, right=not notes,
               notes=notes, seconds=round(time.monotonic() - start, 1), host_failing=truth,
               targets=sorted(targets), dependencies=fixed.get("dependencies") or {},
               host_released=released)


def repo_at(work: Path) -> Path:
    """The work tree judge() made in ``work`` (for a caller that looks further)."""
    return next(p for p in (work / "src").iterdir() if (p / ".git").is_dir())


__all__ = ["Row", "judge", "same_ids", "host_failing", "codemend_fix", "repo_at", "git"]
