"""Diff coverage through `codemend fix` in the real sandbox: the run that verifies the final
candidate measures which changed executable lines the suite ran (report.json, summary.md, the
PR body's warning), and `--require-coverage` refuses a fix whose changed lines no target test
runs, then takes an honest fix that only changes what the failing test exercises."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_fix import codemend, replies, shop

pytestmark = pytest.mark.docker

# total() gets a guard no test reaches (line 7, whose pragma must not hide it) and cheapest()
# a change only a test that is not a target runs (line 12); the target test runs 6 and 8
PARTIAL = '''The discount must be subtracted; guard against discounts above 100%.

shop/prices.py
<<<<<<< SEARCH
    return sum(prices) * (1 + discount)
=======
    if discount > 1:
        raise ValueError("discount above 100%")  # pragma: no cover
    return sum(prices) * (1 - discount)
>>>>>>> REPLACE
shop/prices.py
<<<<<<< SEARCH
    return min(prices)
=======
    return min(prices, default=None)
>>>>>>> REPLACE
'''
# against that candidate: keep only the subtraction, the line the failing test runs
HONEST = '''Only the subtraction is needed.

shop/prices.py
<<<<<<< SEARCH
    if discount > 1:
        raise ValueError("discount above 100%")  # pragma: no cover
    return sum(prices) * (1 - discount)
=======
    return sum(prices) * (1 - discount)
>>>>>>> REPLACE
shop/prices.py
<<<<<<< SEARCH
    return min(prices, default=None)
=======
    return min(prices)
>>>>>>> REPLACE
'''
TARGET = "tests/test_prices.py::test_total_with_discount"


@pytest.fixture
def work(tmp_path, docker_client, sandbox_image, leftover_containers):
    return tmp_path


def test_changed_lines_executed_in_report_summary_and_pr_body(work):
    from codemend.agent.ci.artifact import Meta
    from codemend.agent.ci.body import pr_body

    repo = shop(work / "repo")
    res = codemend("fix", str(repo), "--model", replies(work / "r.json", PARTIAL), "--json",
                   cwd=work)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["status"] == "fixed" and out["targets"] == [TARGET]
    expected = {"shop/prices.py": {"executed": 3, "total": 4, "not_executed": [7],
                                   "not_by_targets": [7, 12]}}
    assert out["changed_lines_executed"] == expected
    report = json.loads(Path(out["out"], "report.json").read_text())
    assert report["changed_lines_executed"] == expected and report["coverage_error"] is None
    summary = Path(out["out"], "summary.md").read_text()
    assert "| `shop/prices.py` | 3/4 | 7 | 7, 12 |" in summary
    meta = Meta(repository="o/shop", base_branch="main", commit="a" * 40, run_id=out["run_id"],
                status="fixed", model="scripted:x")
    body = pr_body(meta, report, Path(report["patch"]).read_text(), "codemend/fix-main")
    assert "- `shop/prices.py`: 3/4 changed executable lines ran; not run: 7" in body
    assert "> [!WARNING]\n> Changed lines that no target test runs: `shop/prices.py` 7, 12." in body


def test_require_coverage_refuses_then_takes_an_honest_fix(work):
    repo = shop(work / "repo")
    model = replies(work / "r.json", PARTIAL, HONEST)
    res = codemend("fix", str(repo), "--model", model, "--json", "--require-coverage",
                   "--max-iterations", "1", cwd=work)
    assert res.returncode == 3, res.stderr
    out = json.loads(res.stdout)
    report = json.loads(Path(out["out"], "report.json").read_text())
    assert out["status"] == "escalated" and report["patch"] is None
    refused = report["attempts"][-1]
    assert refused["verdict"] == "fail" and refused["passed"] == 3 and refused["failed"] == 0
    assert refused["reason"].startswith("--require-coverage: changed lines that no target test "
                                        "runs: shop/prices.py:7, 12.")
    # the person gives it one more iteration: the honest reply changes one line, run by the target
    res = codemend("resume", out["run_id"], "--more", "1", "--json", cwd=work)
    assert res.returncode == 0, res.stderr
    report = json.loads(Path(out["out"], "report.json").read_text())
    assert report["status"] == "fixed"
    assert report["changed_lines_executed"] == {
        "shop/prices.py": {"executed": 1, "total": 1, "not_executed": [], "not_by_targets": []}}
    assert [a["verdict"] for a in report["attempts"]] == ["fail", "pass"]
