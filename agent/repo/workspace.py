"""The pristine harness: every check of a candidate runs with the base snapshot's tests,
conftests and test configuration, whatever the candidate holds (protected.py is the one
list of them). A candidate that changes one is refused before the check (``RepoKind``) and
again by verification; this keeps such a change out of the sandbox even when a person's
edit or a resumed run carries it."""

from __future__ import annotations

from codemend.agent.repo.snapshot import RepoSnapshot


def protected_reason(snap: RepoSnapshot, path: str, allow_test_edits: bool = False
                     ) -> str | None:
    """Why a change to ``path`` would change the tests or their harness rather than the code
    (None: it would not)."""
    return snap.protected(path, allow_test_edits)


def pristine(snap: RepoSnapshot, overlay: dict[str, str], allow_test_edits: bool = False
             ) -> dict[str, str]:
    """The overlay the sandbox gets: every protected path as the snapshot holds it."""
    return {p: t for p, t in overlay.items()
            if protected_reason(snap, p, allow_test_edits) is None}
