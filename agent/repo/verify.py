"""Verified means all of these; a candidate short of any is fed back with the reasons.

1. every target passes (a collection-error target: its module now collects cleanly; the
   suite target: the suite runs);
2. no test that passed at baseline fails, errors, is skipped or disappears, and the number
   of collected tests does not drop; no other test fails (flaky ones excepted);
3. no new lint finding on changed lines;
4. no change to tests, conftest, pytest/ruff/tox configuration or CI files, unless the run
   allows test edits;
5. no tamper evidence on changed lines (the sandbox's static scan, limited to those lines,
   so ordinary library code is not flagged; skips and dropped assertions in test files).
"""

from __future__ import annotations

import ast
import re
from collections import Counter

from codemend.agent.repo.baseline import FAILING, STOPPED, outcomes, suite_broken
from codemend.agent.repo.snapshot import RepoSnapshot
from codemend.agent.repo.task import SUITE_TARGET, RepoTask
from codemend.agent.repo.workspace import protected_reason
from codemend.sandbox import tamper
from codemend.sandbox.report import CheckReport, Finding, LintReport
from codemend.sandbox.source import changed_lines, split_lines

SKIP_WORDS = re.compile(r"\b(skip|skipif|xfail|importorskip|SkipTest|skipTest|skipUnless|"
                        r"skipIf|expectedFailure)\b|def\s+pytest_\w+")


def _assertions(source: str | None) -> int:
    try:
        tree = ast.parse(source or "")
    except (SyntaxError, ValueError, RecursionError):
        return 0
    return sum(isinstance(n, ast.Assert) or (isinstance(n, ast.Attribute) and n.attr in (
        "raises", "assertEqual", "assertTrue", "assertRaises", "warns", "approx"))
        for n in ast.walk(tree))


def file_problems(snap: RepoSnapshot, path: str, new: str, allow_test_edits: bool
                  ) -> list[str]:
    """Why the change of one file is not acceptable (empty: it is)."""
    old = snap.files.get(path)
    lines = changed_lines(old, new)
    protected = protected_reason(snap, path)
    if protected and not allow_test_edits:
        return [f"{path} is {protected}: a fix changes the code, never the tests or their "
                "configuration"]
    out: list[str] = []
    if protected:  # allowed, but no weakening
        text = split_lines(new)
        for n in sorted(lines):
            if SKIP_WORDS.search(text[n - 1]):
                out.append(f"{path}:{n} skips or expects failure of tests (tamper evidence)")
                break
        if _assertions(new) < _assertions(old):
            out.append(f"{path} has fewer assertions than before (weakened tests)")
        return out
    for sign in tamper.scan_changed([(path, new, lines)]):
        out.append(f"tamper evidence on a changed line: {sign.code} {sign.where} {sign.what}")
    return out


def _new_findings(raw: CheckReport, baseline: CheckReport, base: dict[str, str],
                  overlay: dict[str, str]) -> list[Finding]:
    before = Counter((f.path, f.code) for f in baseline.lint.findings)
    new: list[Finding] = []
    for f in sorted(raw.lint.findings, key=lambda f: (f.path, f.line)):
        if f.path not in overlay or f.line not in changed_lines(base.get(f.path),
                                                                 overlay[f.path]):
            continue
        if before[(f.path, f.code)] > 0:
            before[(f.path, f.code)] -= 1
            continue
        new.append(f)
    return new


def test_problems(raw: CheckReport, baseline: CheckReport, task: RepoTask) -> list[str]:
    now, was = outcomes(raw), outcomes(baseline)
    flaky = set(task.flaky)
    out: list[str] = []
    for t in task.targets:
        if t == SUITE_TARGET:
            if suite_broken(raw):
                out.append(f"the test suite still does not run ({raw.tests.error or raw.message})")
        elif now.get(t) != "passed" and not (was.get(t) == "error" and t not in now
                                             and "::" not in t):
            out.append(f"target {t} is {now.get(t, 'missing')}, not passed")
    lost = [i for i, o in was.items() if o == "passed" and i not in flaky and now.get(i) != "passed"]
    out += [f"{i} passed at baseline and is now {now.get(i, 'missing')}" for i in lost[:8]]
    if len(lost) > 8:
        out.append(f"... and {len(lost) - 8} more tests that passed at baseline")
    broken = [i for i, o in now.items() if o in FAILING and i not in flaky and i not in task.targets]
    out += [f"{i} now {now[i]}" for i in broken[:8] if was.get(i) != "passed"]
    if len(now) < len(was):
        out.append(f"{len(now)} tests collected, {len(was)} at baseline (tests disappeared)")
    return out


def verify(raw: CheckReport, baseline: CheckReport, task: RepoTask, snap: RepoSnapshot,
           overlay: dict[str, str]) -> CheckReport:
    """The candidate's report as the loop sees it: verdict pass only when verified; lint is
    the new findings on changed lines; ``message`` lists every reason it falls short."""
    new_lint = _new_findings(raw, baseline, snap.files, overlay)
    lint = LintReport(ok=not new_lint, findings=new_lint)
    if raw.verdict in STOPPED or raw.verdict == "infra_error":
        return raw.model_copy(update={"lint": lint})
    problems: list[str] = []
    for path in sorted(overlay):
        problems += file_problems(snap, path, overlay[path], task.allow_test_edits)
    if not overlay:
        problems.append("no file was changed")
    problems += test_problems(raw, baseline, task)
    known = set(baseline.tamper)
    problems += [f"tamper evidence from the run: {s}" for s in raw.tamper
                 if "[fail]" in s and s.startswith("T2") and s not in known]
    problems += [f"new lint finding {f.path}:{f.line} {f.code}: {f.message}" for f in new_lint]
    verdict = "fail" if problems else "pass"
    tests = raw.tests.model_copy(update={"ok": not problems})
    return raw.model_copy(update={"verdict": verdict, "lint": lint, "tests": tests,
                                  "message": "; ".join(problems)})
