"""How a candidate is judged as a file: tests and their configuration are protected
(``layout.is_protected``, the one list of them), the rest is code."""

from __future__ import annotations

from codemend.agent.repo.snapshot import RepoSnapshot


def protected_reason(snap: RepoSnapshot, path: str) -> str | None:
    """Why a change to ``path`` would change the tests rather than the code (None: it would
    not)."""
    if snap.is_test_file(path):
        return "a test file"
    if snap.is_protected(path):
        return "build, test, lint or CI configuration"
    return None
