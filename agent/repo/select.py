"""Fast iterations on big suites: which test files a candidate's check runs while healing.

A candidate changes a few source files. Only the tests that can reach them through the
import graph (a test module importing, directly or through other modules of the
repository, a changed file), and the files of the targets, can change outcome; so while
healing, a candidate of a big suite is first checked on those alone. The whole suite runs
only to verify a candidate that passes them (``RepoKind.judge``), so ``fixed`` still means
the whole suite ran on the final candidate.

The budget is a share (``BUDGET``) of the baseline check's time. The check runs whole test
files (pytest collects a file whole, and the check passes file paths), so a file costs
its cases' JUnit durations plus, per case, an equal share of the time those durations do
not account for (start-up, collection, reporting): the files' costs add up to the whole
check. The targets' files come first, always; then the reachable test files, nearest
first and cheapest first within a distance, while the total stays within the budget. A
baseline without durations counts cases instead. No selection (the whole suite) when the
suite is small, when a target stands for the whole suite, when the change touches a test
file or configuration, or when the selection would cost most of the suite anyway.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

from codemend.agent.repo.layout import words
from codemend.agent.repo.repomap import imported_modules, module_index, resolve
from codemend.agent.repo.snapshot import RepoSnapshot
from codemend.agent.repotask import SUITE_TARGET
from codemend.sandbox.report import CheckReport

MIN_CASES = 500
"""Below this many collected tests the whole suite is cheap enough to run every time."""
BUDGET = 0.25
"""The share of the baseline check's time a quick check may cost, the targets' files
included (they are chosen even when they alone cost more)."""
MOST = 0.6
"""A selection costing this share of the suite or more is not worth a second run."""


def importers(files: Mapping[str, str]) -> dict[str, set[str]]:
    """For each Python file of the repository, the repository files that import it."""
    index = module_index(dict(files))
    out: dict[str, set[str]] = {}
    for path, text in files.items():
        if not path.endswith(".py"):
            continue
        for module, names in imported_modules(path, text):
            for dep in resolve(module, names, index):
                if dep != path:
                    out.setdefault(dep, set()).add(path)
    return out


def reachable(files: Mapping[str, str], changed: list[str]) -> dict[str, int]:
    """Files that import a changed file, directly or not, with their distance from it."""
    back = importers(files)
    dist = {p: 0 for p in changed}
    queue = deque(changed)
    while queue:
        cur = queue.popleft()
        for nxt in sorted(back.get(cur, ())):
            if nxt not in dist:
                dist[nxt] = dist[cur] + 1
                queue.append(nxt)
    return dist


def file_of(case_id: str) -> str:
    return case_id.split("::", 1)[0]


def costs(baseline: CheckReport) -> dict[str, float]:
    """Each test file's cost in seconds of the baseline's check (see the module's
    docstring); they add up to the check's time, or to its number of cases when the report
    has no times."""
    cases = baseline.tests.cases
    timed = sum(c.duration_s for c in cases)
    whole = max(baseline.duration_s, timed)
    overhead = (whole - timed) / len(cases) if whole > 0 else 1.0
    out: dict[str, float] = {}
    for c in cases:
        out[file_of(c.id)] = out.get(file_of(c.id), 0.0) + c.duration_s + overhead
    return out


def selection(snap: RepoSnapshot, overlay: Mapping[str, str], targets: list[str],
              baseline: CheckReport) -> list[str] | None:
    """The test files a quick check runs, or None for the whole suite."""
    if len(baseline.tests.cases) < MIN_CASES or SUITE_TARGET in targets or not overlay:
        return None
    if any(snap.is_protected(p) or not p.endswith(".py") for p in overlay):
        return None
    cost = costs(baseline)
    doctests = "--doctest-modules" in words(snap.pytest.options.get("addopts"))
    tests = set(snap.test_modules) | (set(cost) if doctests else set())
    chosen = sorted({file_of(t) for t in targets})
    if not chosen or any(f not in tests or f not in cost for f in chosen):
        return None  # a target's file is not a test module: JUnit named a decorator's file
    near = reachable({**snap.files, **overlay}, sorted(overlay))
    whole = sum(cost.values())
    used = sum(cost[f] for f in chosen)
    for path in sorted((p for p in near if p in tests and p in cost and p not in chosen),
                       key=lambda p: (near[p], cost[p], p)):
        if used + cost[path] > BUDGET * whole:
            continue  # a cheaper file further on may still fit
        chosen.append(path)
        used += cost[path]
    return None if used >= MOST * whole else sorted(chosen)


def restrict(report: CheckReport, paths: list[str]) -> CheckReport:
    """``report`` with only the cases of ``paths`` (the baseline a quick check is judged
    against)."""
    keep = set(paths)
    cases = [c for c in report.tests.cases if file_of(c.id) in keep]
    return report.model_copy(update={"tests": report.tests.model_copy(update={"cases": cases})})
