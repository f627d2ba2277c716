"""The bundled example tasks, checked in the real sandbox.

Every reference solution passes its visible and hidden tests; every scripted demo starts
with a reply that does NOT pass (when it holds code at all) and ends with one that does.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from codemend.agent.extract import FormatError, extract_files
from codemend.agent.spec import Task, load_task
from codemend.sandbox.cold import ColdSandbox
from codemend.sandbox.report import CheckReport

pytestmark = pytest.mark.docker

EXAMPLES = Path(__file__).parents[2] / "tasks" / "examples"
SPECS = sorted(EXAMPLES.glob("*/spec.toml"))
SCRIPTS = sorted(EXAMPLES.glob("*/replies.toml"))


@pytest.fixture(scope="module")
def sandbox(docker_client):
    with ColdSandbox(client=docker_client) as sb:
        yield sb


def replies(script: Path) -> list[str]:
    return tomllib.loads(script.read_text(encoding="utf-8"))["replies"]


def check(sandbox: ColdSandbox, task: Task, files: dict[str, str], *,
          hidden: bool) -> CheckReport:
    return sandbox.check(task.workspace(files, hidden=hidden), timeout_s=task.check_timeout_s)


def explain(report: CheckReport) -> str:
    bad = [c for c in report.tests.cases if c.outcome in ("failed", "error")]
    return (f"{report.verdict}: {report.message} lint={report.lint.findings} "
            f"tests={[(c.id, c.message) for c in bad]} output={report.output[-2000:]}")


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.parent.name)
def test_reference_solution_passes_visible_and_hidden_tests(sandbox, spec: Path):
    task = load_task(spec)
    files = {rel: (spec.parent / "reference" / rel).read_text(encoding="utf-8")
             for rel in task.solution_files}
    report = check(sandbox, task, files, hidden=True)
    assert report.verdict == "pass", explain(report)
    assert report.tests.passed == len(report.tests.cases) >= 7


FORMAT_ERROR_FIRST = {"slugify"}
"""Scripts whose first reply holds no usable code (see test_slugify_script_starts_with...)."""


def test_there_are_at_least_three_scripts():
    assert len(SCRIPTS) >= 3


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.parent.name)
def test_first_scripted_reply_does_not_pass(sandbox, script: Path):
    task = load_task(script.parent / "spec.toml")
    first = replies(script)[0]
    if script.parent.name in FORMAT_ERROR_FIRST:
        # a reply with no usable code: the loop never even runs a check
        with pytest.raises(FormatError):
            extract_files(first, task.solution_files)
        return
    files = extract_files(first, task.solution_files)
    report = check(sandbox, task, files, hidden=False)
    assert report.verdict == "fail", explain(report)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.parent.name)
def test_last_scripted_reply_passes_everything(sandbox, script: Path):
    task = load_task(script.parent / "spec.toml")
    files = extract_files(replies(script)[-1], task.solution_files)
    report = check(sandbox, task, files, hidden=True)
    assert report.verdict == "pass", explain(report)


# What each script's first reply reproduces (see the comment at the top of each file).

def first_report(sandbox, name: str) -> tuple[Task, dict[str, str], CheckReport]:
    task = load_task(EXAMPLES / name / "spec.toml")
    files = extract_files(replies(EXAMPLES / name / "replies.toml")[0], task.solution_files)
    return task, files, check(sandbox, task, files, hidden=False)


def test_slugify_script_starts_with_a_format_error():
    task = load_task(EXAMPLES / "slugify" / "spec.toml")
    with pytest.raises(FormatError, match="slugify.py"):
        extract_files(replies(EXAMPLES / "slugify" / "replies.toml")[0], task.solution_files)


def test_safe_stats_script_needs_autofix_then_one_fix(sandbox):
    task, files, report = first_report(sandbox, "safe_stats")
    assert [(f.code, f.fixable) for f in report.lint.findings] == [("F401", True)]
    assert report.tests.failed >= 1
    fixed = sandbox.autofix(task.workspace(files))
    assert fixed.ok, fixed.message
    assert "import statistics" not in fixed.files["safestats.py"]
    again = check(sandbox, task, fixed.files, hidden=False)
    assert again.lint.ok and not again.tests.ok, explain(again)
    assert {c.id.rsplit("::", 1)[-1] for c in again.tests.cases if c.outcome == "failed"} == {
        "test_empty_input_gives_none"}


def test_roman_script_starts_with_a_syntax_error(sandbox):
    _, _, report = first_report(sandbox, "roman_numerals")
    assert any(f.code in (None, "invalid-syntax") for f in report.lint.findings), explain(report)
    assert not any(f.fixable for f in report.lint.findings)
    assert report.tests.errors >= 1


def test_lru_script_starts_with_a_wrong_name(sandbox):
    _, _, report = first_report(sandbox, "lru_cache")
    assert report.lint.ok
    assert report.tests.errors >= 1 and report.tests.passed == 0
    assert "LRUCache" in report.output or any("LRUCache" in c.message + c.traceback
                                              for c in report.tests.cases), explain(report)


def test_textstats_script_starts_with_a_wrong_tie_break(sandbox):
    _, files, report = first_report(sandbox, "textstats")
    assert set(files) == {"textstats/tokenize.py", "textstats/stats.py"}
    assert report.lint.ok and report.tests.failed == 1, explain(report)
