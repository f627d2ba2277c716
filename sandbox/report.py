"""The check report: data, never exceptions. Shapes follow DESIGN.md's ``--json``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Verdict = Literal["pass", "fail", "timeout", "oom", "output_limit", "infra_error"]
Outcome = Literal["passed", "failed", "error", "skipped"]


class Finding(BaseModel):
    """One ruff finding. ``code`` is None for syntax errors."""

    code: str | None
    message: str
    path: str
    line: int
    column: int
    fixable: bool = False


class LintReport(BaseModel):
    ok: bool
    findings: list[Finding] = Field(default_factory=list)
    error: str | None = None
    """Set when the ruff report was missing or malformed (then ok is False)."""


class TestCase(BaseModel):
    """One pytest case from the JUnit report."""

    __test__ = False  # not a pytest class

    id: str
    outcome: Outcome
    message: str = ""
    traceback: str = ""


class TestReport(BaseModel):
    __test__ = False

    ok: bool
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    cases: list[TestCase] = Field(default_factory=list)
    error: str | None = None
    """Set when the JUnit report was missing or malformed, or pytest did not finish."""


class CheckReport(BaseModel):
    """The outcome of one sandbox check."""

    verdict: Verdict
    duration_s: float
    truncated: bool = False
    lint: LintReport
    tests: TestReport
    message: str = ""
    """A human explanation for verdicts other than pass/fail (and report problems)."""
    output: str = ""
    """Tail of pytest's console output (capped), for people; never parsed."""

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def signature(self) -> str:
        """A stable fingerprint of what fails, for stuck detection."""
        lint = sorted(f"{f.code}:{f.path}:{f.line}" for f in self.lint.findings)
        tests = sorted(f"{c.id}:{c.outcome}" for c in self.tests.cases if c.outcome in
                       ("failed", "error"))
        return "|".join([self.verdict, *lint, *tests, self.tests.error or ""])
