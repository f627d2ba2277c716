"""Tamper evidence: signs that checked code tried to influence its own verdict.

Two sources, both documented in docs/SECURITY.md:

- a static scan (tamper_scan.py: ``scan_sources``, codes ``T1xx``) of the solution files as the
  runner unpacked them, for the test framework, skip machinery, the sandbox's report
  paths, process exits, tracing, ``atexit``, ``builtins``/``sys.modules`` patching, ...;
- cross-checks (``cross_check``, codes ``T2xx``) of the run: the runner's inventory of
  the test files (taken before any sandboxed code ran), the witness plugin's records, the
  JUnit report and pytest's exit code.

A ``Sign`` with ``fatal=True`` makes the verdict ``fail``: either the pattern has no
legitimate use in a solution, or the run's own records contradict each other. The rest
are evidence for people and do not change the verdict.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from codemend.sandbox.report import TestReport
from codemend.sandbox.tamper_scan import (  # noqa: F401  (the static scan's names, re-exported)
    Sign,
    config_signs,
    scan_changed,
    scan_source,
    scan_sources,
)

MAX_SIGNS = 30


# -- cross-checks ----------------------------------------------------------------------------
_LOCATION = (re.compile(r"^\((['\"])(?P<p>.*?)\1, \d+,"), re.compile(r"^(?P<p>[^\n]+?):\d+: "))


def _skip_origin(text: str, workdir: str) -> str | None:
    """Where a skip was raised, from the JUnit text (workspace-relative when inside)."""
    for pattern in _LOCATION:
        m = pattern.match(text)
        if m:
            return _rel(m.group("p"), workdir)
    return None


def _rel(path: str, workdir: str) -> str:
    prefix = workdir.rstrip("/") + "/"
    return path[len(prefix):] if path.startswith(prefix) else path


def _norm(case_id: str) -> str:
    return case_id.replace("::", ".")


def _skip_signs(tests: TestReport, inv_tests: dict, workdir: str,
                solution: set[str] | None = None) -> list[Sign]:
    """``solution`` (repository mode): only a skip raised from a non-test file of the
    workspace is fatal; one from a plugin or the standard library is evidence."""
    signs = []
    # an xfail marker may come from the test file or from a conftest.py among the tests
    conftest_xfail = any(e.get("xfail") for path, e in inv_tests.items()
                         if posixpath.basename(path) == "conftest.py")
    for case in tests.cases:
        if case.outcome != "skipped":
            continue
        file = case.id.split("::", 1)[0]
        if case.traceback:
            origin = _skip_origin(case.traceback, workdir)
            if origin not in inv_tests:
                fatal = solution is None or origin in solution
                signs.append(Sign("T202", f"{case.id} was skipped from outside the test files "
                                  f"({(origin or 'unknown place')[:120]})", fatal=fatal))
        elif not ((inv_tests.get(file) or {}).get("xfail") or conftest_xfail):
            signs.append(Sign("T203", f"{case.id} was marked xfail, but its test file never "
                              "uses xfail", fatal=True))
    return signs


def _module_skips(tests: TestReport, inv_tests: dict, workdir: str) -> set[str]:
    """Test files that skipped themselves at import (a collection skip raised in the file
    itself, reported as ``('path', line, 'Skipped: ...')``): their tests are not missing."""
    out = set()
    for case in tests.cases:
        if case.outcome == "skipped" and case.traceback.startswith("("):
            origin = _skip_origin(case.traceback, workdir)
            if origin in inv_tests and origin == case.id.split("::", 1)[0]:
                out.add(origin)
    return out


def _missing_signs(tests: TestReport, inv_tests: dict, workdir: str,
                   repo: bool = False) -> list[Sign]:
    """Repository mode: the project's own settings may deselect tests, so only files pytest
    reported on count and the sign is evidence; the fix loop compares with its baseline."""
    reported = [_norm(c.id) for c in tests.cases]
    skipped_files = _module_skips(tests, inv_tests, workdir)
    seen_files = {c.id.split("::", 1)[0] for c in tests.cases}
    missing = []
    for path, entry in inv_tests.items():
        if path in skipped_files or (repo and path not in seen_files):
            continue
        for tid in (entry or {}).get("ids") or []:
            key = _norm(str(tid))
            if not any(r == key or r.startswith(key + "[") for r in reported):
                missing.append(str(tid))
    if not missing:
        return []
    return [Sign("T201", f"{len(missing)} test(s) in the test files are missing from the "
                 f"report (deselected, skipped at import or removed): {', '.join(missing[:5])}",
                 fatal=not repo)]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    return _is_int(value) and value >= 0


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def well_formed_witness(w: Any) -> bool:
    """The shape the runner's witness summary always has; anything else is not evidence."""
    return (isinstance(w, dict) and all(isinstance(w.get(k), bool) for k in ("started", "ended"))
            and all(w.get(k) is None or _is_int(w.get(k)) for k in ("exitstatus", "collected"))
            and _is_count(w.get("ran"))
            and isinstance(w.get("outcomes"), dict) and isinstance(w.get("collect"), dict)
            and all(_is_count(w["outcomes"].get(k)) for k in ("passed", "failed", "error",
                                                              "skipped"))
            and all(_is_count(w["collect"].get(k)) for k in ("failed", "skipped"))
            and all(_str_list(w.get(k)) for k in ("integrity", "notes", "plugins", "problems")))


def well_formed_inventory(inv: Any) -> bool:
    """The shape the runner's inventory always has."""
    if not (isinstance(inv, dict) and isinstance(inv.get("tests"), dict)
            and _str_list(inv.get("solution_files")) and isinstance(inv.get("sources"), dict)):
        return False
    return all(isinstance(v, str) for v in inv["sources"].values()) and all(
        isinstance(e, dict) and _str_list(e.get("ids")) and isinstance(e.get("xfail"), bool)
        for e in inv["tests"].values())


def _witness_signs(w: dict, tests: TestReport, rc: Any) -> list[Sign]:
    out, col = w["outcomes"], w["collect"]
    num = {k: _count(out.get(k)) for k in ("passed", "failed", "error", "skipped")}
    signs = []
    if not w.get("started") or not w.get("ended"):
        signs.append(Sign("T206", "the pytest session did not finish normally, yet a JUnit "
                          "report exists", fatal=True))
    problems = _strs(w.get("problems"))
    if problems:
        more = f" (and {len(problems) - 2} more)" if len(problems) > 2 else ""
        signs.append(Sign("T207", "the witness channel holds records pytest did not write: "
                          f"{'; '.join(problems[:2])}{more}", fatal=True))
    for problem in _strs(w.get("integrity")):
        signs.append(Sign("T208", f"pytest was tampered with: {problem}", fatal=True))
    if not w.get("ended"):
        return signs
    failing = num["failed"] + num["error"] + _count(col.get("failed"))
    if tests.failed + tests.errors < failing or tests.passed > num["passed"]:
        signs.append(Sign("T204", f"the JUnit report ({tests.passed} passed, "
                          f"{tests.failed + tests.errors} failing) contradicts what pytest ran "
                          f"({num['passed']} passed, {failing} failing)", fatal=True))
    status = w.get("exitstatus")
    if rc == 0 and status != 0:
        signs.append(Sign("T205", f"pytest's session ended with status {status}, but the "
                          "process exited 0", fatal=True))
    collected, ran = w.get("collected"), _count(w.get("ran"))
    if isinstance(collected, int) and collected > ran and tests.ok:
        signs.append(Sign("T210", f"pytest collected {collected} tests but only {ran} ran",
                          fatal=True))
    return signs


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _strs(value: Any) -> list[str]:
    return [str(v)[:300] for v in value[:20]] if isinstance(value, list) else []


def cross_check(doc: dict, tests: TestReport, workdir: str, junit_present: bool,
                repo: bool = False) -> list[Sign]:
    """Compare inventory, witness, JUnit report and exit code of one run. ``repo``: the
    repository-mode rules (T201 is evidence, T202 and T209 are fatal only for what is
    neither the project's tests nor outside the workspace: see docs/SECURITY.md)."""
    inv, w = doc.get("inventory"), doc.get("witness")
    if (not isinstance(inv, dict) or not isinstance(w, dict) or not well_formed_inventory(inv)
            or not well_formed_witness(w)):
        return [Sign("T200", "the runner's tamper evidence (inventory, witness) is missing "
                     "or malformed", fatal=True)]
    inv_tests = inv["tests"]
    rc = doc["pytest"].get("rc") if isinstance(doc.get("pytest"), dict) else None
    signs: list[Sign] = []
    solution = set(inv["solution_files"]) if repo else None
    if junit_present:
        signs += _witness_signs(w, tests, rc)
        signs += _skip_signs(tests, inv_tests, workdir, solution)
        if tests.ok:
            signs += _missing_signs(tests, inv_tests, workdir, repo)
    for path in _strs(w.get("plugins")):
        rel = _rel(path, workdir)
        if rel not in inv_tests:
            # a repository may register its own package as a plugin; code outside it may not
            fatal = solution is None or rel not in solution
            signs.append(Sign("T209", f"a pytest plugin was registered from {rel[:120]}, which "
                              "is not a test file", fatal=fatal))
    signs += [Sign("T211", note) for note in _strs(w.get("notes"))]
    return signs


def evaluate(doc: dict, tests: TestReport, workdir: str, junit_present: bool,
             repo: bool = False) -> list[Sign]:
    """All tamper signs for one runner document: static scan, config files, cross-checks.
    ``repo``: a repository's files are not scanned here (the caller scans changed lines
    with ``scan_changed``), and its configuration files belong to it."""
    inv = doc.get("inventory")
    signs = []
    if isinstance(inv, dict) and well_formed_inventory(inv) and not repo:
        signs += config_signs(inv["solution_files"]) + scan_sources(inv["sources"])
    if isinstance(inv, dict) and inv.get("sources_truncated") and not repo:
        signs.append(Sign("T199", "some solution files were too large to scan"))
    signs += cross_check(doc, tests, workdir, junit_present, repo)
    fatal = [s for s in signs if s.fatal]
    return (fatal + [s for s in signs if not s.fatal])[:MAX_SIGNS]
