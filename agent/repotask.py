"""What a repository run freezes into its task (``TaskInfo.repo``): small data only.

The repository's files and the full baseline report live once in their own tables
(agent/repo/store.py), never in a checkpoint; the candidate in the state is an overlay of
changed files over that base.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

SUITE_TARGET = "<test suite>"
"""The target that stands for a suite that could not start (no JUnit report, pytest error)."""
DEFAULT_CONTEXT_TOKENS = 5000
"""Prompt budget: an 8k-context local model keeps ~3k tokens for its reply."""


class Counts(BaseModel):
    """Test and lint counts of one check, for reports and the before/after table."""

    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    collected: int = 0
    lint: int = 0


class RepoTask(BaseModel):
    """The repository half of a ``TaskInfo`` whose ``kind`` is ``repo``."""

    root: str
    """Absolute path of the work tree."""
    head: str = ""
    """The commit checked out when the run started (empty in a repository without commits)."""
    base_id: str
    """Content hash of the base snapshot (key into the snapshot table)."""
    targets: list[str] = Field(default_factory=list)
    """Test ids failing at baseline (twice), collection errors, or SUITE_TARGET."""
    flaky: list[str] = Field(default_factory=list)
    """Tests whose outcome changed between the two baseline runs: neither targets nor
    regressions."""
    baseline: Counts = Field(default_factory=Counts)
    deps_source: str = ""
    """The test dependency set installed (agent/repo/deps.py), e.g. ``tox test env (...)``."""
    deps_added: list[str] = Field(default_factory=list)
    """Undeclared needs that were added (pytest, plugins the pytest settings use)."""
    environment: dict[str, str] = Field(default_factory=dict)
    """Baseline failures caused by the sandbox's environment, not the code: id -> cause
    (neither targets nor regressions)."""
    allow_test_edits: bool = False
    allow_deletions: bool = False
    """A fix may remove top-level functions, classes or methods (``--allow-deletions``)."""
    coverage: bool = True
    """Measure the verified candidate's diff coverage (agent/repo/coverage.py); eval runs,
    whose results do not show it, leave it off."""
    require_coverage: bool = False
    """Refuse a candidate whose changed executable lines no target test runs
    (``--require-coverage``; agent/repo/coverage.py)."""
    context_tokens: int = DEFAULT_CONTEXT_TOKENS
    apply: bool = False
    """Write a verified fix into the work tree (``--apply``)."""
    branch: str | None = None
    """Commit a verified fix on this new local branch (``--branch``)."""
