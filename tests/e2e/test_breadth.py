"""The breadth set (tests/breadth.py): on real projects no one here wrote, `codemend fix` says
`clean` as released without a model call, and `fixed` with a one-line bug and an oracle
reply, with exactly the failing tests of the project's own suite in a host venv where it
is installed; the candidate identical to the release is counted as its baseline was, and
(tests/repo_identity.py) a candidate identical to the buggy commit collects the same ids
with the same outcomes.

`make test` runs a small CI subset (``CI_SUBSET``: a single module with its test module at
the root, a flat package, and pluggy, which pytest itself depends on: the shadowing case);
``CODEMEND_BREADTH=all`` runs every project of ``repo_projects.BREADTH`` (about an hour on a
loaded machine), as does ``bench/run.py breadth``, which records the table in
bench/RESULTS.md; ``CODEMEND_BREADTH=parso,jsonschema`` runs the projects named. A project
in ``breadth.KNOWN`` is expected wrong for the reason given there (strict: it fails loudly
once it is right)."""

from __future__ import annotations

import os

import pytest
from breadth import KNOWN, judge
from repo_projects import BREADTH

pytestmark = pytest.mark.docker

CI_SUBSET = ("six", "inflection", "pluggy")
CHOSEN = os.environ.get("CODEMEND_BREADTH", "")
NAMES = sorted(BREADTH) if CHOSEN == "all" else tuple(
    n.strip() for n in CHOSEN.split(",") if n.strip()) or CI_SUBSET


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.xfail(
    reason=KNOWN[n], strict=True)) if n in KNOWN else n for n in NAMES])
def test_the_verdict_is_right_on_a_real_project(name, tmp_path, docker_client, sandbox_image,
                                                leftover_containers):
    project = BREADTH[name]
    row = judge(project, tmp_path)
    assert row.host_failing, f"{name}: the bug must fail some test on the host: {row.notes}"
    # right: the verdicts, the targets, and every check the same as the baseline (by
    # counts, and by ids and outcomes: breadth.same_ids)
    assert row.right, f"{name}: expected {row.expected}, got {row.got}: {row.notes}"
