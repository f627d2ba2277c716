"""Turn facts about one container run into a CheckReport.

Verdicts come from facts only: the host's kill at the deadline, the runner's
``timeout -s KILL``, the cgroup's OOM counter / Docker's OOMKilled, byte caps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sandbox.parse import parse_junit, parse_ruff, trim
from sandbox.report import CheckReport, LintReport, TestReport

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
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and "runner" in doc else None


def _infra_message(facts: RunFacts, doc: dict | None) -> str:
    if doc is not None and doc.get("runner_error"):
        return str(doc["runner_error"])
    tail = facts.stderr.decode("utf-8", errors="replace")[-800:]
    why = facts.error or f"exit code {facts.exit_code}"
    return f"the sandbox runner sent no report ({why}). {tail}".strip()


def build_report(facts: RunFacts, workdir: str, timeout_s: float) -> CheckReport:
    raw = facts.stdout.decode("utf-8", errors="replace")
    doc = runner_doc(facts)
    lint = LintReport(ok=False, error="no lint report")
    tests = TestReport(ok=False, error="no test report")
    output = ""
    ruff: dict = {}
    pytest: dict = {}
    if doc is not None and doc.get("mode") == "check":
        ruff, pytest = doc.get("ruff") or {}, doc.get("pytest") or {}
        lint = parse_ruff(str(ruff.get("json", "")), workdir)
        junit = doc.get("junit") or {}
        if junit.get("present"):
            tests = parse_junit(str(junit.get("data", "")))
            if junit.get("truncated"):
                tests.ok = False
                tests.error = "the JUnit report was larger than the sandbox reads"
        else:
            tests.error = ("pytest wrote no JUnit report (did the code exit the test "
                           f"process early?): {junit.get('error', 'missing')}")
        rc = pytest.get("rc")
        if tests.error is None and rc == 1 and not (tests.failed or tests.errors):
            tests.ok = False
            tests.error = "pytest reported failures that are missing from its JUnit report"
        elif tests.error is None and rc not in (0, 1):
            tests.ok = False
            tests.error = PYTEST_EXIT.get(rc, f"pytest exited with code {rc}")
        output = trim(str(pytest.get("stdout", "")), 1000, 3000)
    oom = facts.oom_killed or (doc is not None and
                               doc.get("oom_kills_after", 0) > doc.get("oom_kills_before", 0))
    timed_out = facts.host_killed or bool(pytest.get("timed_out") or ruff.get("timed_out"))
    flood = facts.truncated or bool(pytest.get("output_limit") or ruff.get("output_limit"))
    message = ""
    if oom:
        verdict, message = "oom", "the check ran out of memory and was killed"
    elif timed_out:
        verdict, message = "timeout", f"the check ran past its {timeout_s:g} s limit and was killed"
    elif flood:
        verdict, message = "output_limit", "the check wrote more output than allowed and was stopped"
    elif doc is None or doc.get("mode") != "check":
        verdict, message = "infra_error", _infra_message(facts, doc)
    else:
        verdict = "pass" if lint.ok and tests.ok else "fail"
        message = "; ".join(e for e in (lint.error, tests.error) if e)
    truncated = facts.truncated or bool(pytest.get("output_limit") or ruff.get("output_limit"))
    return CheckReport(verdict=verdict, duration_s=round(facts.duration_s, 3),
                       truncated=truncated, lint=lint, tests=tests, message=message,
                       output=output if raw else "")
