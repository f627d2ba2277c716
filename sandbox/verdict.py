"""Turn facts about one container run into a CheckReport.

Verdicts come from facts only: the host's kill at the deadline, the runner's
``timeout -s KILL``, the cgroup's OOM counter / Docker's OOMKilled, byte caps, and the
tamper evidence of sandbox/tamper.py. Whatever the container sent, the result is a
report, never an exception.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from codemend.sandbox import coverage, tamper
from codemend.sandbox.parse import parse_junit, parse_ruff, trim
from codemend.sandbox.report import CheckReport, LintReport, TestReport

PYTEST_EXIT = {2: "pytest was interrupted (often a collection error: see the cases)",
               3: "pytest hit an internal error", 4: "pytest was called wrongly",
               5: "pytest collected no tests"}


@dataclass
class RunFacts:
    """Host-side facts of one run."""

    stdout: bytes
    stderr: bytes
    duration_s: float
    truncated: bool = False
    host_killed: bool = False
    oom_killed: bool = False
    exit_code: int | None = None
    error: str = ""


def runner_doc(facts: RunFacts) -> dict | None:
    try:
        doc = json.loads(facts.stdout.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) and "runner" in doc else None


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _num(value: Any) -> float:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _infra_message(facts: RunFacts, doc: dict | None) -> str:
    if doc is not None and doc.get("runner_error"):
        return str(doc["runner_error"])[:2000]
    tail = facts.stderr.decode("utf-8", errors="replace")[-800:]
    why = facts.error or f"exit code {facts.exit_code}"
    return f"the sandbox runner sent no report ({why}). {tail}".strip()


def _files(doc: dict) -> frozenset[str]:
    """The work tree's files, as the runner's inventory lists them before the tests run."""
    inv = _dict(doc.get("inventory"))
    tests, solution = inv.get("tests"), inv.get("solution_files")
    names = [*(tests if isinstance(tests, dict) else ()),
             *(solution if isinstance(solution, list) else ())]
    return frozenset(n for n in names if isinstance(n, str))


def _tests(doc: dict) -> tuple[TestReport, bool]:
    """The test report from the JUnit XML, checked against pytest's exit code."""
    junit, pytest = _dict(doc.get("junit")), _dict(doc.get("pytest"))
    present = bool(junit.get("present"))
    if present:
        data = junit.get("data")
        tests = parse_junit(data if isinstance(data, str) else "", _files(doc))
        if junit.get("truncated"):
            tests.ok = False
            tests.error = "the JUnit report was larger than the sandbox reads"
    else:
        tests = TestReport(ok=False, error="pytest wrote no JUnit report (did the code exit "
                           f"the test process early?): {str(junit.get('error', 'missing'))[:200]}")
    rc = pytest.get("rc")
    if tests.error is None and rc == 1 and not (tests.failed or tests.errors):
        tests.ok = False
        tests.error = "pytest reported failures that are missing from its JUnit report"
    elif tests.error is None and rc not in (0, 1):
        tests.ok = False
        known = PYTEST_EXIT.get(rc) if isinstance(rc, int) else None
        tests.error = known or f"pytest exited with code {str(rc)[:20]}"
    return tests, present


def build_report(facts: RunFacts, workdir: str, timeout_s: float,
                 repo: bool = False) -> CheckReport:
    """The report for one run. Never raises: a report nobody can read is infra_error.
    ``repo``: a repository-mode workspace (tamper.evaluate's repository rules)."""
    try:
        return _build(facts, workdir, timeout_s, repo)
    except Exception as exc:  # noqa: BLE001 - the report is data, never an exception
        return CheckReport(verdict="infra_error", duration_s=round(_num(facts.duration_s), 3),
                           lint=LintReport(ok=False, error="no lint report"),
                           tests=TestReport(ok=False, error="no test report"),
                           message=f"the sandbox's report could not be read "
                                   f"({type(exc).__name__}: {str(exc)[:200]})")


def _build(facts: RunFacts, workdir: str, timeout_s: float, repo: bool) -> CheckReport:
    raw = facts.stdout.decode("utf-8", errors="replace")
    doc = runner_doc(facts)
    lint = LintReport(ok=False, error="no lint report")
    tests = TestReport(ok=False, error="no test report")
    output = ""
    ruff: dict = {}
    pytest: dict = {}
    signs: list[tamper.Sign] = []
    checked = doc is not None and doc.get("mode") == "check"
    if doc is not None and checked:
        ruff, pytest = _dict(doc.get("ruff")), _dict(doc.get("pytest"))
        raw_lint = ruff.get("json")
        lint = parse_ruff(raw_lint if isinstance(raw_lint, str) else "", workdir)
        tests, present = _tests(doc)
        signs = tamper.evaluate(doc, tests, workdir, present, repo=repo)
        output = trim(str(pytest.get("stdout", "")), 1000, 3000)
    oom = facts.oom_killed or (doc is not None and
                               _num(doc.get("oom_kills_after")) > _num(doc.get("oom_kills_before")))
    timed_out = facts.host_killed or bool(pytest.get("timed_out") or ruff.get("timed_out"))
    flood = facts.truncated or bool(pytest.get("output_limit") or ruff.get("output_limit"))
    fatal = [str(s) for s in signs if s.fatal]
    message = ""
    if oom:
        verdict, message = "oom", "the check ran out of memory and was killed"
    elif timed_out:
        verdict, message = "timeout", f"the check ran past its {timeout_s:g} s limit and was killed"
    elif flood:
        verdict, message = "output_limit", "the check wrote more output than allowed and was stopped"
    elif not checked:
        verdict, message = "infra_error", _infra_message(facts, doc)
    else:
        verdict = "pass" if lint.ok and tests.ok and not fatal else "fail"
        found = [e for e in (lint.error, tests.error) if e]
        if fatal:
            found.insert(0, "tampering evident: " + "; ".join(fatal[:3]))
        message = "; ".join(found)
    return CheckReport(verdict=verdict, duration_s=round(_num(facts.duration_s), 3),
                       truncated=flood, lint=lint, tests=tests, message=message,
                       output=output if raw else "", tamper=[str(s) for s in signs],
                       coverage=coverage.read(doc) if doc is not None and checked else None)
