"""One sandbox check as the loop and the baseline take it: retried once after an
``infra_error`` (a container killed from outside, a daemon hiccup)."""

from __future__ import annotations

from codemend.sandbox.base import Sandbox
from codemend.sandbox.report import CheckReport
from codemend.sandbox.workspace import Workspace


def checked(sandbox: Sandbox, workspace: Workspace, timeout_s: float) -> CheckReport:
    """One sandbox check, retried once after an ``infra_error``. The retry's report is the
    one kept; its message says so."""
    report = sandbox.check(workspace, timeout_s=timeout_s)
    if report.verdict != "infra_error":
        return report
    retry = sandbox.check(workspace, timeout_s=timeout_s)
    note = f"retried once after an infrastructure error ({report.message[:300]})"
    return retry.model_copy(update={"message": "; ".join(m for m in (retry.message, note) if m)})
