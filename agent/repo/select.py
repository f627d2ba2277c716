"""Fast iterations on big suites: which test files a candidate's check runs while healing.

A candidate changes a few source files. Only the tests that can reach them through the
import graph (a test module importing, directly or through other modules of the
repository, a changed file), and the files of the targets, can change outcome; so while
healing, a candidate of a big suite is first checked on those alone. The whole suite runs
only to verify a candidate that passes them (``RepoKind.judge``), so ``fixed`` still means
the whole suite ran on the final candidate.

The budget is counted in the baseline's test cases (the report has no durations): the
targets' files always, then reachable test files, nearest first, while the cases stay
within ``BUDGET`` of the suite. No selection (the whole suite) when the suite is small,
when a target stands for the whole suite, when the change touches a test file or
configuration, or when the selection would hold most of the suite anyway.
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
"""The share of the suite's test cases a quick check may run (besides the targets' files)."""
MOST = 0.6
"""A selection holding this share of the suite or more is not worth a second run."""


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


def selection(snap: RepoSnapshot, overlay: Mapping[str, str], targets: list[str],
              baseline: CheckReport) -> list[str] | None:
    """The test files a quick check runs, or None for the whole suite."""
    cases = baseline.tests.cases
    if len(cases) < MIN_CASES or SUITE_TARGET in targets or not overlay:
        return None
    if any(snap.is_protected(p) or not p.endswith(".py") for p in overlay):
        return None
    per_file: dict[str, int] = {}
    for c in cases:
        per_file[file_of(c.id)] = per_file.get(file_of(c.id), 0) + 1
    files = {**snap.files, **overlay}
    chosen = sorted({file_of(t) for t in targets if file_of(t) in per_file})
    if not chosen:
        return None
    doctests = "--doctest-modules" in words(snap.pytest.options.get("addopts"))
    near = reachable(files, sorted(overlay))
    tests = set(snap.test_modules) | (set(per_file) if doctests else set())
    budget = BUDGET * len(cases) + sum(per_file[f] for f in chosen)
    used = sum(per_file[f] for f in chosen)
    for path in sorted((p for p in near if p in tests and p in per_file and p not in chosen),
                       key=lambda p: (near[p], p)):
        if used + per_file[path] > budget:
            continue  # a smaller file further on may still fit
        chosen.append(path)
        used += per_file[path]
    return None if used >= MOST * len(cases) else sorted(chosen)


def restrict(report: CheckReport, paths: list[str]) -> CheckReport:
    """``report`` with only the cases of ``paths`` (the baseline a quick check is judged
    against)."""
    keep = set(paths)
    cases = [c for c in report.tests.cases if file_of(c.id) in keep]
    return report.model_copy(update={"tests": report.tests.model_copy(update={"cases": cases})})
