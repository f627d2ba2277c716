"""The baseline: the repository's own suite and lint, run before any model call.

Failing tests are the targets. A failing run is repeated once: a test whose outcome
changed between the two runs is flaky, and neither a target nor a regression later. A
collection error is a failing case of its own (pytest reports it as one); a suite that
cannot start or finish is the target ``SUITE_TARGET``. A test that fails for the sandbox's
environment (no network, a missing locale or time zone, a console script not on PATH:
agent/repo/envfail.py) is reported in ``environment``, never a target.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from codemend.agent.repo.envfail import cause
from codemend.agent.repo.snapshot import RepoSnapshot
from codemend.agent.repotask import SUITE_TARGET, Counts
from codemend.sandbox.base import Sandbox
from codemend.sandbox.errors import BadInput, InfraError
from codemend.sandbox.report import CheckReport
from codemend.sandbox.retry import checked

FAILING = ("failed", "error")
STOPPED = ("timeout", "oom", "output_limit")


@dataclass
class Baseline:
    report: CheckReport
    """The report kept (the second run's when the suite was run twice)."""
    targets: list[str] = field(default_factory=list)
    flaky: list[str] = field(default_factory=list)
    runs: int = 1
    environment: dict[str, str] = field(default_factory=dict)
    """Tests failing for the sandbox's environment (network, locale, time zone, a console
    script): id -> cause; neither targets nor regressions (agent/repo/envfail.py)."""

    @property
    def clean(self) -> bool:
        return not self.targets


def counts(report: CheckReport) -> Counts:
    t = report.tests
    return Counts(passed=t.passed, failed=t.failed, errors=t.errors, skipped=t.skipped,
                  collected=len(t.cases), lint=len(report.lint.findings))


def outcomes(report: CheckReport) -> dict[str, str]:
    return {c.id: c.outcome for c in report.tests.cases}


def suite_broken(report: CheckReport) -> bool:
    """The suite did not start or finish: no trustworthy list of cases."""
    return report.verdict in STOPPED or report.tests.error is not None and not any(
        c.outcome in FAILING for c in report.tests.cases)


def _failing(report: CheckReport) -> set[str]:
    ids = {c.id for c in report.tests.cases if c.outcome in FAILING}
    return ids | ({SUITE_TARGET} if suite_broken(report) else set())


def run_baseline(sandbox: Sandbox, snap: RepoSnapshot, timeout_s: float) -> Baseline:
    """Check the base snapshot (twice when something fails)."""
    where = str(snap.root)
    first = checked(sandbox, snap.workspace(), timeout_s)
    _usable(first, where)
    if not _failing(first):
        return Baseline(report=first)
    second = checked(sandbox, snap.workspace(), timeout_s)
    _usable(second, where)
    a, b = outcomes(first), outcomes(second)
    flaky = sorted(i for i in set(a) | set(b) if (a.get(i) in FAILING) != (b.get(i) in FAILING)
                   and a.get(i) is not None and b.get(i) is not None)
    env = {c.id: why for c in second.tests.cases
           if c.outcome in FAILING and (why := cause(c)) is not None}
    targets = sorted((_failing(first) & _failing(second)) - set(env))
    return Baseline(report=second, targets=targets, flaky=flaky, runs=2, environment=env)


def _usable(report: CheckReport, where: str) -> None:
    if report.verdict == "infra_error":
        raise InfraError(f"the baseline check of {where} failed in the sandbox: "
                         f"{report.message[:300]}")
    if not report.tests.cases and report.tests.error == "pytest collected no tests":
        raise BadInput(f"{where}: no tests found (pytest collected none)")
