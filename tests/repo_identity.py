"""Every check is the same as the baseline: a candidate whose files are identical to the
base snapshot must collect exactly the same test ids with the same outcomes.

API (import from tests: ``from repo_identity import differences, outcomes``)::

    differences(sandbox, snap, path=None, baseline=None) -> list[str]
        # checks the base snapshot (or takes ``baseline``, its report), then a candidate
        # that "changes" ``path`` (default: the first source file a fix may change) to its own
        # text, built as the fix loop builds the workspace of its verifying check
        # (agent/repo/kind.py ``harness``); one line per test id whose outcome differs
        # (empty: the same)
    outcomes(report) -> {test id: outcome}

The breadth set (tests/breadth.py ``judge``) runs it on each project; so does
tests/e2e/test_fix_identity.py, on a small project whose ids name the work folder.
"""

from __future__ import annotations

from codemend.agent.repo.kind import harness
from codemend.agent.repo.snapshot import RepoSnapshot
from codemend.agent.repotask import RepoTask
from codemend.sandbox.report import CheckReport


def outcomes(report: CheckReport) -> dict[str, str]:
    return {c.id: c.outcome for c in report.tests.cases}


def source_file(snap: RepoSnapshot) -> str:
    """A source file a fix would change: the first .py file a fix may change."""
    return next(p for p in sorted(snap.files) if p.endswith(".py")
                and snap.protected(p) is None and not p.startswith(("docs/", "doc/")))


def differences(sandbox, snap: RepoSnapshot, path: str | None = None,
                baseline: CheckReport | None = None) -> list[str]:
    path = path or source_file(snap)
    assert snap.protected(path) is None, f"{path}: a fix may not change it ({snap.protected(path)})"
    base = baseline or sandbox.check(snap.workspace())
    task = RepoTask(root=str(snap.root), base_id="identity")
    cand = sandbox.check(harness(snap, task, {path: snap.files[path]}))
    a, b = outcomes(base), outcomes(cand)
    out = [f"{i}: {a.get(i, 'missing')} at baseline, {b.get(i, 'missing')} in the candidate"
           for i in sorted(set(a) | set(b)) if a.get(i) != b.get(i)]
    if not a:
        out.insert(0, f"the baseline collected no test ({base.tests.error or base.message})")
    return out
