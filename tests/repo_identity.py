"""Every check is the same as the baseline: a candidate whose files are identical to the
base snapshot must collect exactly the same test ids with the same outcomes.

API (import from tests: ``from repo_identity import differences``)::

    differences(sandbox, snap, path=None) -> list[str]
        # checks the base snapshot, then a candidate that "changes" ``path`` (default:
        # the first non-test source file) to its own text, as a fix loop's candidate is
        # built; returns one line per test id whose outcome differs (empty: the same)

For the breadth suite: run it on each project (one extra check per project).
"""

from __future__ import annotations

from codemend.agent.repo.snapshot import RepoSnapshot
from codemend.sandbox.report import CheckReport


def _outcomes(report: CheckReport) -> dict[str, str]:
    return {c.id: c.outcome for c in report.tests.cases}


def source_file(snap: RepoSnapshot) -> str:
    """A source file a fix would change: the first .py file that is not a test file."""
    return next(p for p in sorted(snap.files) if p.endswith(".py")
                and not snap.is_test_file(p) and not p.startswith(("docs/", "doc/")))


def differences(sandbox, snap: RepoSnapshot, path: str | None = None,
                baseline: CheckReport | None = None) -> list[str]:
    path = path or source_file(snap)
    base = baseline or sandbox.check(snap.workspace())
    cand = sandbox.check(snap.workspace({path: snap.files[path]}))
    a, b = _outcomes(base), _outcomes(cand)
    out = [f"{i}: {a.get(i, 'missing')} at baseline, {b.get(i, 'missing')} in the candidate"
           for i in sorted(set(a) | set(b)) if a.get(i) != b.get(i)]
    if not a:
        out.insert(0, f"the baseline collected no test ({base.tests.error or base.message})")
    return out
