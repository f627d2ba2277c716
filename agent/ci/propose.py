"""``codemend ci github propose [PATH] --out DIR``: repository mode on the failing commit, with
no GitHub token and no prompt, written as an artifact folder for ``publish``.

The model server's URL and key reach this process as environment variables of the job; they
go to the model client only, never into the sandbox (which has no network and gets only the
repository's files).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, cast

from codemend.agent.ci.artifact import Meta, Status, write_meta
from codemend.agent.ci.errors import BadInput, InfraError
from codemend.agent.ci.gitops import BRANCH_PREFIX, Git
from codemend.agent.ci.summary import append_step_summary

FIX_EXIT = {"fixed": 0, "clean": 0, "failed": 1, "escalated": 3}
ARTIFACT_FILES = ("fix.patch", "report.json", "summary.md", "meta.json")


def github_context(repo: Path, head_sha: str | None = None, head_branch: str | None = None
                   ) -> dict[str, str]:
    """Repository, commit and branch: flags, then the ``GITHUB_*`` variables, then git.
    (Under ``workflow_run``, GITHUB_SHA/GITHUB_REF_NAME name the default branch, not the
    failing one, so the workflow passes ``--head-sha``/``--head-branch``.)"""
    git = Git(repo)
    head = git.head()
    sha = head_sha or os.environ.get("GITHUB_SHA") or head
    if sha != head:
        what = "--head-sha" if head_sha else "GITHUB_SHA"
        raise BadInput(f"{what} is {sha[:12]} but {repo} is at {head[:12]}; check out the "
                       "failing commit (workflow_run.head_sha) before propose, or pass --head-sha")
    branch = (head_branch or os.environ.get("GITHUB_HEAD_REF") or os.environ.get("GITHUB_REF_NAME")
              or git.out("rev-parse", "--abbrev-ref", "HEAD", check=False))
    if not branch or branch == "HEAD":
        raise BadInput("no branch: set GITHUB_HEAD_REF or GITHUB_REF_NAME (a detached checkout "
                       "does not say which branch failed)")
    repository = os.environ.get("GITHUB_REPOSITORY") or f"local/{repo.resolve().name}"
    return {"commit": sha, "branch": branch, "repository": repository}


def run_fix(path: Path, args: argparse.Namespace, out: Path) -> tuple[int, dict[str, Any]]:
    """The one call into repository mode: ``codemend fix PATH --out OUT --no-interactive``
    with propose's flags; returns fix's exit code and its report.json."""
    try:
        from codemend.agent.command_support import settings_from
        from codemend.agent.config import OutputOptions
        from codemend.agent.repo_fix import FixOptions, fix_repository
    except ImportError as exc:
        raise InfraError("repository mode (`codemend fix`) is not part of this build") from exc
    flags = {**vars(args), "path": str(path), "out": str(out), "interactive": False,
             "apply": False, "branch": None}
    code = fix_repository(settings_from(flags), FixOptions.from_flags(flags),
                          OutputOptions.from_flags(flags))
    report_path = out / "report.json"
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.is_file() else {}
    return code, report


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out}: exists and is not a folder")
    clashes = [n for n in ARTIFACT_FILES if (out / n).exists()]
    if clashes and not force:
        raise BadInput(f"--out {out}: would overwrite {', '.join(clashes)}; choose an empty "
                       "folder or pass --force")
    out.mkdir(parents=True, exist_ok=True)


def _model_name(args: argparse.Namespace) -> str | None:
    model = getattr(args, "model", None) or os.environ.get("CODEMEND_MODEL")
    return model if model and "://" not in model else None


def propose(args: argparse.Namespace) -> int:
    repo = Path(args.path)
    if not repo.is_dir():
        raise BadInput(f"{repo}: not a folder; give the repository's checkout")
    ctx = github_context(repo, args.head_sha, args.head_branch)
    out = Path(args.out)
    _check_out(out, bool(getattr(args, "force", False)))
    if getattr(args, "state_dir", None) is None:
        args.state_dir = str(out / "state")  # in the artifact, so a person can `resume` it
    common = {"repository": ctx["repository"], "base_branch": ctx["branch"], "commit": ctx["commit"],
              "workflow_run_id": os.environ.get("GITHUB_RUN_ID"), "model": _model_name(args)}
    skipped = None
    if ctx["branch"].startswith(BRANCH_PREFIX):
        skipped = f"{ctx['branch']} is a codemend branch"
    elif Git(repo).made_by_codemend(ctx["commit"]):
        skipped = f"{ctx['commit'][:12]} was made by codemend"
    if skipped:
        write_meta(out, Meta(**common, run_id="none", status="skipped", skipped_reason=skipped))
        msg = f"loop guard: {skipped}; nothing to do"
        print(json.dumps({"status": "skipped", "reason": msg}) if args.json else f"codemend: {msg}")
        return 0
    code, report = run_fix(repo, args, out)
    reported = report.get("status")
    status = cast(Status, reported) if reported in FIX_EXIT else ("failed" if code else "clean")
    run_id = str(report.get("run_id") or "unknown")
    write_meta(out, Meta(**common, run_id=run_id, status=status, exit_code=code))
    summary = out / "summary.md"
    if summary.is_file():
        append_step_summary(_step_summary(), summary.read_text(encoding="utf-8", errors="replace"))
    elif status == "clean":
        append_step_summary(_step_summary(), "codemend: the tests and lint pass; nothing to fix.")
    return code


def _step_summary() -> Path | None:
    value = os.environ.get("GITHUB_STEP_SUMMARY")
    return Path(value) if value else None
