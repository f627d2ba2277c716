"""``codemend ci github publish DIR``: vet an artifact, push a ``codemend/`` branch, open or
update one draft PR; or, when healing failed, leave one comment. Never merges, never pushes
to the failing or default branch, never touches the checkout's work tree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codemend.agent.ci import body
from codemend.agent.ci.artifact import Meta, load_meta, read_json
from codemend.agent.ci.errors import BadInput, Refused
from codemend.agent.ci.gitops import BRANCH_PREFIX, TRAILER, Git
from codemend.agent.ci.policy import Limits, vet_patch
from codemend.agent.ci.summary import append_step_summary


@dataclass
class PublishConfig:
    """Everything publish needs; built by the CLI from flags and the ``GITHUB_*`` variables."""

    folder: Path
    repo_dir: Path = Path(".")
    token: str | None = None
    api_url: str | None = None
    """GITHUB_API_URL; None means api.github.com."""
    expected_repository: str | None = None
    """GITHUB_REPOSITORY of the job: meta.json must name the same repository."""
    limits: Limits = field(default_factory=Limits)
    step_summary: Path | None = None
    max_wait_s: float = 120.0
    artifact_name: str = "codemend-fix"


@dataclass
class Published:
    """What publish did: ``opened``, ``updated``, ``commented``, ``summary`` or ``nothing``."""

    action: str
    reason: str
    pull_request: str | None = None
    branch: str | None = None
    commit: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"action": self.action, "reason": self.reason, "pull_request": self.pull_request,
                "branch": self.branch, "commit": self.commit}


def branch_slug(branch: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", branch).strip("-.")[:60] or "branch"


def fix_branch(meta: Meta) -> str:
    return f"{BRANCH_PREFIX}fix-{branch_slug(meta.base_branch)}-{meta.commit[:7]}"


def _client(cfg: PublishConfig, meta: Meta):
    from codemend.agent.ci.github import GitHubClient

    if not cfg.token:
        raise BadInput("publish needs a token: set CODEMEND_GITHUB_TOKEN (a GitHub App or "
                       "fine-grained PAT with contents: write and pull-requests: write), or GITHUB_TOKEN")
    return GitHubClient(meta.repository, cfg.token, cfg.api_url, cfg.max_wait_s)


def _message(meta: Meta, report: dict[str, Any]) -> str:
    n = len(body.targets(report))
    return (f"codemend: fix {n} failing test(s) on {meta.base_branch}\n\n"
            f"Verified in codemend's sandbox on {meta.commit[:12]}: the targets pass, no test\n"
            "that passed before fails, and no test or configuration file changed.\n\n"
            f"{TRAILER}: {meta.run_id}\n")


def _guard(cfg: PublishConfig, meta: Meta, git: Git) -> Published | None:
    """Checks before anything is read further: forged origin, loop guard, stale checkout."""
    if cfg.expected_repository and cfg.expected_repository != meta.repository:
        raise Refused(f"meta.json names {meta.repository}, but this job runs for "
                      f"{cfg.expected_repository}")
    if meta.base_branch.startswith(BRANCH_PREFIX):
        return Published("nothing", f"loop guard: {meta.base_branch} is a codemend branch")
    head = git.head()
    if head != meta.commit:
        raise Refused(f"meta.json records commit {meta.commit[:12]}, but the checkout is at "
                      f"{head[:12]}; check out the failing commit (workflow_run.head_sha)")
    if git.made_by_codemend(head):
        return Published("nothing", f"loop guard: {head[:12]} was made by codemend")
    if meta.status == "skipped":
        return Published("nothing", f"propose skipped: {meta.skipped_reason or 'no reason given'}")
    if meta.status == "clean":
        return Published("nothing", "the repository's tests and lint pass; nothing to fix")
    return None


def _escalated(cfg: PublishConfig, meta: Meta, report: dict[str, Any]) -> Published:
    text = body.escalation(meta, report, cfg.artifact_name)
    gh = _client(cfg, meta)
    owner = meta.repository.split("/")[0]
    prs = gh.open_pulls(head=f"{owner}:{meta.base_branch}")
    append_step_summary(cfg.step_summary, text)
    if not prs:
        return Published("summary", f"healing {meta.status}; {meta.base_branch} has no open pull "
                         "request, so only the job summary says so")
    pr = prs[0]
    gh.sticky_comment(pr["number"], text)
    return Published("commented", f"healing {meta.status}; commented on #{pr['number']}",
                     pull_request=pr.get("html_url"))


def _existing(gh, meta: Meta) -> dict[str, Any] | None:
    prefix = f"{BRANCH_PREFIX}fix-{branch_slug(meta.base_branch)}-"
    for pr in gh.open_pulls(base=meta.base_branch):
        head = pr.get("head") or {}
        repo = (head.get("repo") or {}).get("full_name")
        if str(head.get("ref", "")).startswith(prefix) and repo == meta.repository:
            return pr
    return None


def _fixed(cfg: PublishConfig, meta: Meta, report: dict[str, Any], git: Git) -> Published:
    patch = cfg.folder / "fix.patch"
    if not patch.is_file():
        raise Refused("status is fixed but the artifact has no fix.patch")
    vet_patch(patch, git.repo, cfg.limits)
    git.apply_check(meta.commit, patch)
    tip = git.remote_sha(meta.base_branch)
    if tip is None:
        raise Refused(f"{meta.base_branch} is not a branch on origin (pull requests from forks "
                      "are not supported)")
    if tip != meta.commit:
        return Published("nothing", f"{meta.base_branch} moved on to {tip[:12]} since the failing "
                         "commit; that commit gets its own run")
    gh = _client(cfg, meta)
    pr = _existing(gh, meta)
    result = _update(gh, git, meta, report, patch, pr) if pr else _open(gh, git, meta, report, patch)
    if result.action != "nothing":
        append_step_summary(cfg.step_summary, f"codemend: {result.reason} ({result.pull_request})"
                            "\n\n" + body.results_table(report))
    return result


def _tree(git: Git, sha: str) -> str:
    return git.out("rev-parse", f"{sha}^{{tree}}")


def _update(gh, git: Git, meta: Meta, report: dict[str, Any], patch: Path,
            pr: dict[str, Any]) -> Published:
    """Fast-forward the open codemend PR's branch to the new fix and say so in a comment;
    when the branch holds a commit codemend did not make, only comment with the new fix."""
    head = pr["head"]["ref"]
    old = git.remote_sha(head) or pr["head"]["sha"]
    git.fetch(head)
    foreign = git.foreign_commits(old, meta.commit)
    if foreign:  # a person's commit on the branch: never pushed over, even by a merge
        diff = patch.read_text(encoding="utf-8", errors="replace")
        gh.comment(pr["number"], body.foreign_comment(meta, report, diff, head, foreign))
        return Published("commented", f"{head} holds {len(foreign)} commit(s) codemend did not "
                         f"make; the new fix is a comment on #{pr['number']}, nothing was pushed",
                         pull_request=pr.get("html_url"), branch=head)
    parents = [old] if meta.commit in git.direct_parents(old) else [old, meta.commit]
    new = git.commit_patch(meta.commit, patch, parents, _message(meta, report))
    if _tree(git, new) == _tree(git, old):
        return Published("nothing", f"#{pr['number']} already holds this fix",
                         pull_request=pr.get("html_url"), branch=head)
    git.push(new, head, {meta.base_branch})
    diff = patch.read_text(encoding="utf-8", errors="replace")
    gh.comment(pr["number"], body.update_comment(meta, report, diff, head))
    return Published("updated", f"pushed to {head} and commented on #{pr['number']}",
                     pull_request=pr.get("html_url"), branch=head, commit=new)


def _open(gh, git: Git, meta: Meta, report: dict[str, Any], patch: Path) -> Published:
    """Push ``codemend/fix-<branch>-<sha>`` and open a draft PR. A branch left by an earlier
    run whose PR could not be opened (a missing permission, say) is reused; one whose PR a
    person closed is left alone."""
    head = fix_branch(meta)
    new = git.commit_patch(meta.commit, patch, [meta.commit], _message(meta, report))
    left = git.remote_sha(head)
    if left is not None:
        owner = meta.repository.split("/")[0]
        if gh.open_pulls(head=f"{owner}:{head}", state="all"):
            return Published("nothing", f"{head} had a pull request that was closed; delete "
                             "the branch to propose again", branch=head)
        git.fetch(head)
        if git.foreign_commits(left, meta.commit) or not git.made_by_codemend(left):
            raise Refused(f"{head} exists on origin and holds commits codemend did not make")
        same = _tree(git, left) == _tree(git, new)
        new = left if same else git.commit_patch(meta.commit, patch, [left], _message(meta, report))
    if new != left:
        git.push(new, head, {meta.base_branch})
    n = len(body.targets(report))
    diff = patch.read_text(encoding="utf-8", errors="replace")
    made = gh.create_pull(title=f"codemend: fix {n} failing test(s) on {meta.base_branch}",
                          head=head, base=meta.base_branch, body=body.pr_body(meta, report, diff, head))
    return Published("opened", f"opened draft #{made.get('number')}",
                     pull_request=made.get("html_url"), branch=head, commit=new)


def publish(cfg: PublishConfig) -> Published:
    meta = load_meta(cfg.folder)
    git = Git(cfg.repo_dir, cfg.token)
    done = _guard(cfg, meta, git)
    if done is not None:
        append_step_summary(cfg.step_summary, f"codemend: {done.reason}")
        return done
    report = read_json(cfg.folder / "report.json")
    if meta.status in ("escalated", "failed"):
        return _escalated(cfg, meta, report)
    return _fixed(cfg, meta, report, git)
