"""Parse what the container sends back. Everything here is hostile input.

The runner ships ruff's JSON and pytest's JUnit XML verbatim (size-capped); the host
parses them into the report models. Nothing is scraped from human-readable text. A
missing, empty or malformed report is a failure with a clear message, never a pass.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Collection
from typing import Any

from codemend.sandbox.report import Finding, LintReport, Outcome, TestCase, TestReport

OUTCOMES: dict[str, Outcome] = {"failure": "failed", "error": "error", "skipped": "skipped"}

MESSAGE_CHARS = 2000
TRACEBACK_HEAD = 1500
TRACEBACK_TAIL = 2500


def trim(text: str, head: int, tail: int) -> str:
    """Keep the head and tail of ``text`` and say how much was cut in between."""
    if len(text) <= head + tail:
        return text
    cut = len(text) - head - tail
    return f"{text[:head]}\n[... {cut} characters cut ...]\n{text[-tail:]}"


def _rel(path: str, workdir: str) -> str:
    prefix = workdir.rstrip("/") + "/"
    return path[len(prefix):] if path.startswith(prefix) else path


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # None, "x", 1e999 (JSON Infinity)
        return 0


def _seconds(value: Any) -> float:
    """A JUnit ``time`` attribute as seconds; anything else (missing, negative, not a
    number, infinite) is 0: the times only steer which tests a quick check runs."""
    try:
        got = float(value)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return round(got, 4) if 0 <= got < 1e7 else 0.0


def parse_ruff(raw: str, workdir: str) -> LintReport:
    """Parse ``ruff check --output-format json``."""
    if not raw.strip():
        return LintReport(ok=False, error="ruff produced no report")
    try:
        items = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        return LintReport(ok=False, error=f"ruff report is not valid JSON: {str(exc)[:200]}")
    if not isinstance(items, list):
        return LintReport(ok=False, error="ruff report is not a JSON list")
    findings = []
    for item in items:
        if not isinstance(item, dict):
            return LintReport(ok=False, error="ruff report holds a non-object entry")
        loc = item.get("location")
        loc = loc if isinstance(loc, dict) else {}
        code = item.get("code")
        findings.append(Finding(
            code=str(code)[:32] if code is not None else None,
            message=trim(str(item.get("message", "")), MESSAGE_CHARS, 0),
            path=_rel(str(item.get("filename", "")), workdir)[:500],
            line=_int(loc.get("row")),
            column=_int(loc.get("column")),
            fixable=isinstance(item.get("fix"), dict),
        ))
    return LintReport(ok=not findings, findings=findings)


def _case_id(el: ET.Element, files: Collection[str] = ()) -> str:
    """pytest's node id of a ``<testcase>``. ``file`` names where the test function is
    defined, which is not always the module that collected it (jsonschema's suite builds
    its test classes in one module from functions of another): then the module comes from
    ``classname``, the longest dotted prefix that is one of ``files``."""
    name = el.get("name", "")
    file = el.get("file", "")
    classname = el.get("classname", "")
    if file:
        module = file[:-3].replace("/", ".") if file.endswith(".py") else file
        if classname.startswith(module + ".") or classname == module or not files:
            cls = classname[len(module) + 1:] if classname.startswith(module + ".") else ""
            return "::".join(p for p in (file, cls, name) if p)
        parts = classname.split(".")
        for cut in range(len(parts), 0, -1):
            path = "/".join(parts[:cut]) + ".py"
            if path in files:
                return "::".join([path, *parts[cut:], name])
        return f"{file}::{name}"
    if classname:
        return f"{classname.replace('.', '/')}.py::{name}"
    return name


def parse_junit(raw: str, files: Collection[str] = ()) -> TestReport:
    """Parse a pytest JUnit XML report (xunit1 or xunit2). ``files``: the work tree's
    files, to name a test collected in another module than the one defining it."""
    if not raw.strip():
        return TestReport(ok=False, error="pytest wrote an empty JUnit report")
    try:
        root = ET.fromstring(raw)  # expat: no external entities, entity amplification capped
    except (ET.ParseError, ValueError, RecursionError) as exc:
        return TestReport(ok=False, error=f"the JUnit report is not valid XML: {str(exc)[:200]}")
    if root.tag not in ("testsuites", "testsuite"):
        return TestReport(ok=False, error="the JUnit report has an unexpected root "
                                          f"<{str(root.tag)[:100]}>")
    cases: list[TestCase] = []
    for el in root.iter("testcase"):
        outcome: Outcome = "passed"
        message, tb = "", ""
        for child in el:
            if child.tag in ("failure", "error", "skipped"):
                outcome = OUTCOMES[child.tag]
                message = child.get("message", "") or ""
                tb = child.text or ""
                break
        cases.append(TestCase(
            id=_case_id(el, files)[:500],
            outcome=outcome,
            message=trim(message, MESSAGE_CHARS, 0),
            traceback=trim(tb, TRACEBACK_HEAD, TRACEBACK_TAIL),
            duration_s=_seconds(el.get("time")),
        ))
    counts = {k: sum(c.outcome == k for c in cases) for k in ("passed", "failed", "error",
                                                             "skipped")}
    report = TestReport(ok=False, passed=counts["passed"], failed=counts["failed"],
                        errors=counts["error"], skipped=counts["skipped"], cases=cases)
    if not cases:
        report.error = "pytest collected no tests"
    elif counts["failed"] == 0 and counts["error"] == 0 and counts["passed"] == 0:
        report.error = "no test passed: every test was skipped, so nothing was verified"
    else:
        report.ok = counts["failed"] == 0 and counts["error"] == 0
    return report
