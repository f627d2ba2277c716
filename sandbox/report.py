"""The check report: data, never exceptions. Shapes follow docs/ARCHITECTURE.md's ``--json``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

Verdict = Literal["pass", "fail", "timeout", "oom", "output_limit", "infra_error"]
Outcome = Literal["passed", "failed", "error", "skipped"]


def clean_text(value: Any) -> Any:
    """Lone surrogates (from hostile output) cannot be written as UTF-8 JSON: replace them."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "replace").decode("utf-8")
    elif isinstance(value, list):
        return [clean_text(v) for v in value]
    return value


class Clean(BaseModel):
    """A model whose text fields always serialise, whatever the sandbox sent."""

    @field_validator("*", mode="before")
    @classmethod
    def _clean(cls, value: Any) -> Any:
        return clean_text(value)


class Finding(Clean):
    """One ruff finding. ``code`` is None for syntax errors."""

    code: str | None
    message: str
    path: str
    line: int
    column: int
    fixable: bool = False


class LintReport(Clean):
    ok: bool
    findings: list[Finding] = Field(default_factory=list)
    error: str | None = None
    """Set when the ruff report was missing or malformed (then ok is False)."""


class TestCase(Clean):
    """One pytest case from the JUnit report."""

    __test__ = False  # not a pytest class

    id: str
    outcome: Outcome
    message: str = ""
    traceback: str = ""
    duration_s: float = 0.0
    """The case's setup, call and teardown (JUnit ``time``); 0 when the report had none.
    Written inside the sandbox, so it only steers which tests a quick check runs
    (agent/repo/select.py), never a verdict."""


class TestReport(Clean):
    __test__ = False

    ok: bool
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    cases: list[TestCase] = Field(default_factory=list)
    error: str | None = None
    """Set when the JUnit report was missing or malformed, or pytest did not finish."""


class CheckReport(Clean):
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
    tamper: list[str] = Field(default_factory=list)
    """Signs that the checked code tried to influence its own verdict (see docs/SECURITY.md).
    Each entry starts with a code (``T1xx`` static scan, ``T2xx`` cross-checks); entries
    marked ``[fail]`` made the verdict ``fail``, the others are evidence for people."""
    coverage: dict[str, Any] | None = None
    """Diff coverage, on a run that asked for it (sandbox/coverage.py ``read``); on a
    repository fix's verified attempt, the summary ``agent/repo/coverage.py`` made of it."""

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    def signature(self) -> str:
        """A stable fingerprint of what fails, for stuck detection."""
        lint = sorted(f"{f.code}:{f.path}:{f.line}" for f in self.lint.findings)
        tests = sorted(f"{c.id}:{c.outcome}" for c in self.tests.cases if c.outcome in
                       ("failed", "error"))
        return "|".join([self.verdict, *lint, *tests, self.tests.error or ""])
