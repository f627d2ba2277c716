"""Verified means all of these; a candidate short of any is fed back with the reasons.

1. every target passes (a collection-error target: its module now collects cleanly; the
   suite target: the suite runs);
2. no test that passed at baseline fails, errors, is skipped or disappears; no test that ran
   at baseline (flaky ones too) is skipped, xfailed or missing, whoever raised the skip;
   the number of collected tests does not drop; no other test fails (flaky ones excepted);
   when the baseline suite could not start, every test id of the pristine test files runs
   (floor.py);
3. no new lint finding on changed lines;
4. no change to tests, conftest, pytest/ruff/tox configuration or CI files, unless the run
   allows test edits, and never to files Python reads at start-up (protected.py; such a
   reply is refused before its check, and the check runs the base's tests anyway);
5. no fatal tamper evidence on changed lines (the sandbox's static scan, limited to those
   lines, so ordinary library code is not flagged; signs.py says which are advisory);
   skips and dropped assertions in test files;
6. no top-level function, class or method of the base removed, unless the run allows
   deletions (deletions.py).
"""

from __future__ import annotations

import ast
from collections import Counter

from codemend.agent.repo import deletions, floor, signs
from codemend.agent.repo.baseline import FAILING, STOPPED, outcomes, suite_broken
from codemend.agent.repo.floor import RAN, SKIP_WORDS
from codemend.agent.repo.snapshot import RepoSnapshot
from codemend.agent.repotask import SUITE_TARGET, RepoTask
from codemend.sandbox.report import CheckReport, Finding, LintReport
from codemend.sandbox.source import changed_lines, split_lines


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
    """Why the change of one file is not acceptable (empty: it is; tamper signs on its
    changed lines are ``changed_signs``)."""
    refused = snap.protected(path, allow_test_edits)
    if refused:
        return [f"{path} is {refused}: a fix changes the code, never the tests, their "
                "configuration or files Python reads at start-up"]
    out: list[str] = []
    if snap.protected(path):  # allowed, but no weakening
        old = snap.files.get(path)
        text = split_lines(new)
        for n in sorted(changed_lines(old, new)):
            if SKIP_WORDS.search(text[n - 1]):
                out.append(f"{path}:{n} skips or expects failure of tests (tamper evidence)")
                break
        if _assertions(new) < _assertions(old):
            out.append(f"{path} has fewer assertions than before (weakened tests)")
    return out


def changed_signs(snap: RepoSnapshot, overlay: dict[str, str]) -> signs.Signs:
    """Tamper signs on the changed lines of the candidate's code (not its test files)."""
    return signs.split([(p, overlay[p], changed_lines(snap.files.get(p), overlay[p]))
                        for p in sorted(overlay) if not snap.protected(p)])


def findings(snap: RepoSnapshot, overlay: dict[str, str]) -> dict[str, list[str]]:
    """What ``report.json`` shows of a candidate beyond its counts: the advisory tamper
    signs on its changed lines and the definitions it removes."""
    return {"advisory": [str(s) for s in changed_signs(snap, overlay).advisory],
            "removed": deletions.removed(snap.files, overlay)}


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


def test_problems(raw: CheckReport, baseline: CheckReport, task: RepoTask,
                  snap: RepoSnapshot) -> list[str]:
    now, was = outcomes(raw), outcomes(baseline)
    flaky = set(task.flaky) | set(task.environment)  # neither counts against a candidate
    out: list[str] = []
    for t in task.targets:
        if t == SUITE_TARGET:
            if suite_broken(raw):
                out.append(f"the test suite still does not run ({raw.tests.error or raw.message})")
        elif now.get(t) != "passed" and not (was.get(t) == "error" and t not in now
                                             and "::" not in t):
            out.append(f"target {t} is {now.get(t, 'missing')}, not passed")
    lost = [i for i, o in was.items() if (o == "passed" and i not in flaky
                                          and now.get(i) != "passed")
            or (o in RAN and now.get(i) not in RAN)]
    out += [f"{i} {'passed' if was[i] == 'passed' else 'ran'} at baseline and is now "
            f"{now.get(i, 'missing')}" for i in lost[:8]]
    if len(lost) > 8:
        out.append(f"... and {len(lost) - 8} more tests that ran at baseline")
    if SUITE_TARGET in task.targets:
        gone = floor.not_run(floor.must_run(snap), now)
        out += [f"{i} (in the test files) did not run: {what}" for i, what in gone[:8]]
        if len(gone) > 8:
            out.append(f"... and {len(gone) - 8} more tests of the test files did not run")
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
    problems += [f"tamper evidence on a changed line: {s.code} {s.where} {s.what}"
                 for s in changed_signs(snap, overlay).fatal]
    removed = deletions.removed(snap.files, overlay)
    if removed and not task.allow_deletions:
        problems.append(f"the change removes {', '.join(removed[:8])}"
                        f"{' ...' if len(removed) > 8 else ''}, which the code had: keep "
                        "existing definitions (a person may allow it with --allow-deletions)")
    problems += test_problems(raw, baseline, task, snap)
    known = set(baseline.tamper)
    problems += [f"tamper evidence from the run: {s}" for s in raw.tamper
                 if "[fail]" in s and s.startswith("T2") and s not in known]
    problems += [f"new lint finding {f.path}:{f.line} {f.code}: {f.message}" for f in new_lint]
    verdict = "fail" if problems else "pass"
    tests = raw.tests.model_copy(update={"ok": not problems})
    return raw.model_copy(update={"verdict": verdict, "lint": lint, "tests": tests,
                                  "message": "; ".join(problems)})
