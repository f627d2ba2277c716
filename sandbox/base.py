"""The Sandbox interface. Every implementation (cold, pooled) passes tests/contract."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from codemend.sandbox.report import CheckReport
from codemend.sandbox.workspace import Workspace
from pydantic import BaseModel, Field


class FixResult(BaseModel):
    """What ``ruff check --fix`` and ``ruff format`` made of the solution files."""

    files: dict[str, str] = Field(default_factory=dict)
    """Fixed text of files that were sent, by the names they were sent under; nothing else."""
    ok: bool = True
    message: str = ""
    dropped: list[str] = Field(default_factory=list)
    """Names the container sent back that were never sent to it: dropped, never written
    (a sound runner sends none; see docs/SECURITY.md)."""


@runtime_checkable
class Sandbox(Protocol):
    """Runs untrusted code. Checks return data; they never raise for what the code does."""

    def check(self, workspace: Workspace, *, timeout_s: float | None = None) -> CheckReport:
        """Run ruff and pytest on the workspace in a fresh, hardened environment."""
        ...

    def autofix(self, workspace: Workspace) -> FixResult:
        """Apply ruff's safe fixes and formatter to ``workspace.files`` (no model)."""
        ...

    def close(self) -> None:
        """Release every container this sandbox holds."""
        ...
